package cmdbsync

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory"
)

// A table of another shape: other names, vCPU-hours in DECIMAL(10,2),
// memory in MiB-hours, a prefixed container key, the late flag as a word.
const usageHourlyDDL = `CREATE TABLE usage_hourly (
  id            BIGINT AUTO_INCREMENT PRIMARY KEY,
  vm_ref        VARCHAR(40)     NOT NULL,
  hour_start    DATETIME        NOT NULL,
  hour_end      DATETIME        NOT NULL,
  vm_name       VARCHAR(63)     NOT NULL,
  cpu           DECIMAL(10,2)   NOT NULL,
  mem_mib_hours DECIMAL(16,3)   NOT NULL,
  disk_gib_h    DOUBLE          NOT NULL,
  cpu_sec       DECIMAL(20,6)   NOT NULL,
  rx            BIGINT UNSIGNED NOT NULL,
  tx            BIGINT UNSIGNED NOT NULL,
  flag          ENUM('ok','late') NOT NULL,
  origin        VARCHAR(16)     NOT NULL,
  written       DATETIME(6)     NOT NULL,
  note          VARCHAR(64)     NULL,
  UNIQUE KEY usage_hourly_key (vm_ref, hour_start)
) ENGINE=InnoDB`

const usageHourlyMapping = `table: usage_hourly
key: {column: vm_ref, format: "FB-%s", period: hour_start}
columns:
  hour_end: period_end
  vm_name: name
  cpu: {field: vcpu_hours, round: 2}
  mem_mib_hours: {field: memory_gib_hours, multiply: 1024}
  disk_gib_h: disk_gib_hours
  cpu_sec: cpu_seconds
  rx: net_bytes_in
  tx: net_bytes_out
  flag: {field: late, map: {"0": ok, "1": late}}
  origin: {const: fatbox}
  written: billed_at
`

// billingInventory is four hours of two containers (as in ExactlyOnce).
func billingInventory() *billSource {
	const R, S = inventory.StatusRunning, inventory.StatusStopped
	src := &billSource{}
	src.add(at(0, 15), inventory.EventCreated, "a", R, 2, 2048, 10240)
	src.add(at(0, 30), inventory.EventCreated, "b", R, 1, 1024, 1024)
	src.add(at(0, 45), inventory.EventResized, "a", R, 4, 4096, 10240)
	src.add(at(1, 30), inventory.EventStopped, "a", S, 4, 4096, 10240)
	src.add(at(2, 20), inventory.EventRemoved, "a", S, 4, 4096, 10240)
	src.add(at(3, 10), inventory.EventStopped, "b", S, 1, 1024, 1024)
	src.sample("a", at(0, 59), time.Hour, 30, 1000, 10)
	src.sample("a", at(1, 29), time.Hour, 90, 1500, 20)
	src.sample("b", at(2, 0), time.Hour, 5, 0, 0)
	return src
}

// The same inventory billed into the default table and, through a
// mapping, into a table of another shape: the same rows, converted.
func testBillingMapping(t *testing.T, srv *server) {
	src := billingInventory()
	clk := &clock{t: at(4, 5)}
	defDSN, defDB := srv.database(t, "billing_default")
	if n := billOnce(t, newBiller(t, BillingConfig{Source: src, DSN: defDSN, Now: clk.Now, Grace: time.Minute})); n != 7 {
		t.Fatalf("default table: billed %d rows, want 7", n)
	}
	dsn, db := srv.database(t, "billing_mapped")
	mustExec(t, db, usageHourlyDDL)
	m, err := ParseBillingMapping([]byte(usageHourlyMapping))
	if err != nil {
		t.Fatal(err)
	}
	b := newBiller(t, BillingConfig{Source: src, DSN: dsn, Mapping: m, Now: clk.Now, Grace: time.Minute})
	if n := billOnce(t, b); n != 7 {
		t.Fatalf("mapped table: billed %d rows, want 7", n)
	}
	if n := billOnce(t, b); n != 0 {
		t.Fatalf("billed %d rows again", n)
	}
	want := billedRows(t, defDB)
	rows, err := db.Query("SELECT vm_ref, hour_start, hour_end, vm_name, cpu, mem_mib_hours, disk_gib_h, cpu_sec, rx, tx, flag, origin, written FROM usage_hourly")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var ref, ps, pe, name, cpu, mem, cpuSec, flag, origin, written string
		var disk float64
		var rx, tx uint64
		if err := rows.Scan(&ref, &ps, &pe, &name, &cpu, &mem, &disk, &cpuSec, &rx, &tx, &flag, &origin, &written); err != nil {
			t.Fatal(err)
		}
		n++
		id, ok := strings.CutPrefix(ref, "FB-")
		start, _ := time.ParseInLocation("2006-01-02 15:04:05", ps, time.UTC)
		w, found := want[id+"@"+start.Format(time.RFC3339)]
		if !ok || !found {
			t.Errorf("row %s@%s: not in the default table", ref, ps)
			continue
		}
		late := map[bool]string{false: "ok", true: "late"}[w.Late]
		if pe != sqlTime(w.PeriodEnd) || name != w.Name || cpu != strconv.FormatFloat(roundTo(w.VCPUHours, 2), 'f', 2, 64) ||
			mem != strconv.FormatFloat(w.MemoryGiBHours*1024, 'f', 3, 64) || disk != w.DiskGiBHours ||
			cpuSec != strconv.FormatFloat(w.CPUSeconds, 'f', 6, 64) || rx != w.NetBytesIn || tx != w.NetBytesOut || flag != late ||
			origin != "fatbox" || written == "" {
			t.Errorf("row %s@%s: %s %s %s %s %v %s %d %d %s %s, want %+v", ref, ps, pe, name, cpu, mem, disk, cpuSec, rx, tx, flag, origin, w)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Fatalf("%d rows in the mapped table, %d in the default one", n, len(want))
	}
	if c, d := count(t, db, "SELECT COUNT(*) FROM usage_hourly WHERE flag = 'late'"), count(t, defDB, "SELECT COUNT(*) FROM fatbox_billing WHERE late"); c != d || c == 0 {
		t.Fatalf("%d late rows, %d in the default table", c, d)
	}
	// A period billed again (the watermark lost) is refused by the unique
	// key, never overwritten: nothing of the transaction is written.
	sum := checksum(t, db, "usage_hourly", "1=1")
	mustExec(t, db, "DELETE FROM fatbox_billing_watermark")
	b2 := newBiller(t, BillingConfig{Source: src, DSN: dsn, Mapping: m, Now: clk.Now, Grace: time.Minute})
	if _, err := b2.BillOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "Duplicate") {
		t.Fatalf("billing again without the watermark: %v, want a duplicate-key error", err)
	}
	if checksum(t, db, "usage_hourly", "1=1") != sum || count(t, db, "SELECT COUNT(*) FROM fatbox_billing_watermark") != 0 {
		t.Fatal("the refused pass changed the table or the watermark")
	}
}

// A billing mapping that does not fit its table: every problem at once,
// with its fix, and nothing written (no row, no watermark).
func testBillingBadMapping(t *testing.T, srv *server) {
	dsn, db := srv.database(t, "billing_bad")
	mustExec(t, db, `CREATE TABLE usage_bad (
  vm_ref     VARCHAR(20)   NOT NULL,
  hour_start VARCHAR(10)   NOT NULL,
  cpu        DECIMAL(10,2) NOT NULL,
  owner      VARCHAR(32)   NOT NULL,
  UNIQUE KEY (vm_ref)
) ENGINE=InnoDB`)
	m, err := ParseBillingMapping([]byte(`table: usage_bad
key: {column: vm_ref, format: "FB-%s", period: hour_start}
columns:
  cpu: vcpu_hours
  hours_end: period_end
`))
	if err != nil {
		t.Fatal(err)
	}
	b := newBiller(t, BillingConfig{Source: billingInventory(), DSN: dsn, Mapping: m, Now: (&clock{t: at(4, 5)}).Now})
	_, err = b.BillOnce(context.Background())
	var me *MappingError
	if !errors.As(err, &me) || !errors.Is(err, ErrMapping) {
		t.Fatalf("got %v, want a *MappingError", err)
	}
	msg := err.Error()
	t.Log(msg)
	for _, w := range []string{
		"billing mapping",
		"column vm_ref: VARCHAR(20) NOT NULL cannot hold the key", // FB- + 36
		"column hour_start: VARCHAR(10) NOT NULL cannot hold the period's start",
		"no unique index (or primary key) over exactly the key's columns vm_ref and hour_start", "ADD UNIQUE (`vm_ref`, `hour_start`)",
		"column cpu: DECIMAL(10,2) NOT NULL cannot hold vCPU-hours (6 decimals): it keeps 2 decimal(s)",
		"column hours_end: mapped: the table has no such column",
		"column owner: is required",
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("the error lacks %q:\n%s", w, msg)
		}
	}
	if len(me.Problems) != 6 {
		t.Errorf("%d problems, want 6:\n%s", len(me.Problems), msg)
	}
	if count(t, db, "SELECT COUNT(*) FROM usage_bad") != 0 || count(t, db, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'fatbox%'") != 0 {
		t.Fatal("a mapping that does not fit wrote something")
	}
}

// The file's own problems, all at once: CMDB-only keys and fields, a key
// without its period.
func TestBillingMappingParse(t *testing.T) {
	_, err := ParseBillingMapping([]byte(`table: t
key: {column: vm}
columns:
  a: hostname
  b: {time: created}
  c: {field: vcpu_hours, map: {x: y}, multiply: 2}
  d: {field: name, divide: 2}
decommission: {column: a, value: x}
`))
	var me *MappingError
	if !errors.As(err, &me) {
		t.Fatalf("got %v", err)
	}
	msg := err.Error()
	for _, w := range []string{"billing mapping", `unknown key "decommission"`, "key has no period", `unknown field "hostname"`,
		`unknown key "time" in column b`, "multiply/divide need a number"} {
		if !strings.Contains(msg, w) {
			t.Errorf("the error lacks %q:\n%s", w, msg)
		}
	}
	if _, err := ParseMapping([]byte(usageHourlyMapping)); err == nil {
		t.Fatal("a billing mapping passed as a CMDB mapping")
	}
	m, err := ParseBillingMapping([]byte(usageHourlyMapping))
	if err != nil || !m.IsBilling() || m.Key.Period != "hour_start" || len(m.Columns) != 11 {
		t.Fatalf("%v %+v", err, m)
	}
	if _, err := NewBiller(BillingConfig{Source: &billSource{}, DSN: "u@tcp(127.0.0.1:1)/x", Mapping: DefaultMapping()}); err == nil {
		t.Fatal("a CMDB mapping was taken for billing")
	}
}
