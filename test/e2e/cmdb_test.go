package e2e

// The CMDB sync end to end (issue 13's "must show"): the real fatbox binary
// (daemon and CLI), real containers, and a real MariaDB from the harness.
// Each subtest has its own daemon, state dir, pool (its own /24 and bridge)
// and database(s); those that do not stop their MariaDB share one.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/fatbox/fatbox/cmdbsync"
	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
	"github.com/fatbox/fatbox/test/harness"
)

// The /24s of this file's pools (no other test uses them).
const (
	cmdbNetLifecycle = "198.19.131.0/24"
	cmdbNetBad       = "198.19.132.0/24"
	cmdbNetOutage    = "198.19.133.0/24"
	cmdbNetCrash     = "198.19.134.0/24"
)

// TestCMDB: every container is a VM row of a MySQL CMDB, kept true through
// its life, through a bad mapping, a database outage and a daemon killed in
// the middle of a sync.
func TestCMDB(t *testing.T) {
	srv := startCMDBServer(t)
	t.Run("Lifecycle", func(t *testing.T) { testCMDBLifecycle(t, srv) })
	t.Run("BadMapping", func(t *testing.T) { testCMDBBadMapping(t, srv) })
	t.Run("Outage", testCMDBOutage) // stops its own MariaDB
	t.Run("Kill9MidSync", func(t *testing.T) { testCMDBKill9(t, srv) })
}

// vmInventoryDDL is a company's own asset table, shaped unlike fatbox's
// default schema: its own column names, a surrogate primary key, the asset
// number as a unique text key, memory and disk in GiB, a status ENUM with
// its own words, a UNIQUE ip column, times of other precisions, and a
// column fatbox does not fill.
const vmInventoryDDL = `CREATE TABLE vm_inventory (
  asset_pk         INT AUTO_INCREMENT PRIMARY KEY,
  asset_tag        VARCHAR(64)  NOT NULL,
  host_name        VARCHAR(120) NOT NULL,
  primary_ip       VARCHAR(15)  NULL,
  mem_gb           DECIMAL(7,1) NOT NULL,
  cpu_count        SMALLINT UNSIGNED NOT NULL,
  disk_gb          DECIMAL(9,2) NOT NULL,
  lifecycle        ENUM('live','halted','scrapped') NOT NULL,
  responsible      VARCHAR(128) NULL,
  team             VARCHAR(255) NULL,
  environment      VARCHAR(16)  NOT NULL DEFAULT 'OTHER',
  source_system    VARCHAR(16)  NOT NULL,
  in_service_since DATETIME     NOT NULL,
  last_change      DATETIME(3)  NOT NULL,
  scrapped_at      DATETIME     NULL,
  notes            TEXT         NULL,
  UNIQUE KEY vm_inventory_tag (asset_tag),
  UNIQUE KEY vm_inventory_ip (primary_ip)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

// realVMRow is a VM fatbox did not make: never to be touched.
const realVMRow = `INSERT INTO vm_inventory (asset_tag, host_name, primary_ip, mem_gb, cpu_count, disk_gb, lifecycle,
  responsible, team, environment, source_system, in_service_since, last_change, notes)
  VALUES ('VM-0001', 'erp.lab.example.com', '10.9.9.9', 16.0, 8, 100.00, 'live', 'finance', 'erp', 'PRODUCTION',
  'vmware', '2019-03-01 00:00:00', '2024-01-01 00:00:00.000', 'a real VMware VM')`

// vmInventoryMapping maps the inventory onto vm_inventory by configuration only.
const vmInventoryMapping = `# vm_inventory: the company's own asset table
table: vm_inventory
key: {column: asset_tag, format: "FBX-%s"}
columns:
  host_name: {field: hostname, format: "%s.lab.example.com"}
  primary_ip: ip
  mem_gb: {field: memory_mib, divide: 1024, round: 1}
  cpu_count: vcpus
  disk_gb: {field: disk_mib, divide: 1024, round: 2}
  lifecycle: {field: status, map: {running: live, stopped: halted}}
  responsible: owner
  team: label:team
  environment: {field: env, map: {prod: PRODUCTION, test: TEST}, default: OTHER}
  source_system: {const: fatbox}
  in_service_since: {time: created}
  last_change: {time: changed}
decommission:
  column: lifecycle
  value: scrapped
  time_column: scrapped_at
on_unique_conflict: release_decommissioned
`

// badMapping has a wrong column (primary_ipaddr), a wrong type (a name
// into DECIMAL mem_gb) and leaves a required column (cpu_count: NOT NULL,
// no default) unmapped.
const badMapping = `table: vm_inventory
key: {column: asset_tag, format: "FBX-%s"}
columns:
  host_name: {field: hostname, format: "%s.lab.example.com"}
  primary_ipaddr: ip
  mem_gb: name
  disk_gb: {field: disk_mib, divide: 1024, round: 2}
  lifecycle: {field: status, map: {running: live, stopped: halted}}
  source_system: {const: fatbox}
  in_service_since: {time: created}
  last_change: {time: changed}
decommission: {column: lifecycle, value: scrapped, time_column: scrapped_at}
`

// ---------------------------------------------------------------------------
// 1. Create, update, resize, rename, stop, start, remove: rows follow in two
// differently shaped tables of two databases, synced by one daemon.

func testCMDBLifecycle(t *testing.T, srv *cmdbServer) {
	t.Parallel()
	a := srv.database(t, "cmdb_a") // empty: the daemon creates the default schema
	b := srv.database(t, "cmdb_b")
	b.exec(t, vmInventoryDDL)
	b.exec(t, realVMRow)
	realBefore := b.dump(t, "vm_inventory", "asset_tag = 'VM-0001'")

	dir := t.TempDir()
	mapping := filepath.Join(dir, "vm_inventory.yaml")
	dsnFile := filepath.Join(dir, "cmdb_b.dsn")
	writeFile(t, mapping, vmInventoryMapping)
	writeFile(t, dsnFile, b.dsn+"\n")
	e := newCMDBEnv(t, cmdbNetLifecycle, fmt.Sprintf(`cmdb:
  - name: vm-default
    dsn: %q
    poll_interval: 1s
  - name: assets
    dsn_file: %s
    mapping: %s
    poll_interval: 1s
`, a.dsn, dsnFile, mapping))
	tA := cmdbTable{db: a, target: "vm-default", name: "fatbox_vm", key: "id", row: defaultRow}
	tB := cmdbTable{db: b, target: "assets", name: "vm_inventory", key: "asset_tag", row: assetRow, fatboxRows: "asset_tag LIKE 'FBX-%'"}
	key := func(id string) string { return "FBX-" + id }
	// step waits until both tables hold what the event log says and the
	// step's own expectations, spelled out here, hold too.
	step := func(what string, wantA, wantB map[string]map[string]string) {
		t.Helper()
		start := time.Now()
		e.waitRows(what, 45*time.Second, []cmdbTable{tA, tB}, []map[string]map[string]string{wantA, wantB})
		t.Logf("%s: rows followed in %s", what, time.Since(start).Round(time.Millisecond))
	}

	web := e.create("web", "--owner", "ops", "--app", "shop", "--env", "prod", "-l", "team=pay")
	step("create web", map[string]map[string]string{
		web.ID: {"name": "web", "hostname": "web", "ip": web.IP, "mac": web.MAC, "pool": "cmdb", "image": "debian12-fat", "status": "running",
			"owner": "ops", "app": "shop", "env": "prod", "labels": `{"team":"pay"}`, "cpus": "1.00", "vcpus": "1", "memory_mib": "128",
			"disk_mib": "256", "swap_mib": "0", "decommissioned_at": "NULL", "created_at": micros(web.CreatedAt)},
	}, map[string]map[string]string{
		key(web.ID): {"host_name": "web.lab.example.com", "primary_ip": web.IP, "mem_gb": "0.1", "cpu_count": "1", "disk_gb": "0.25",
			"lifecycle": "live", "responsible": "ops", "team": "pay", "environment": "PRODUCTION", "source_system": "fatbox",
			"in_service_since": seconds(web.CreatedAt), "scrapped_at": "NULL", "notes": "NULL"},
	})
	db := e.create("db", "--owner", "dba", "--app", "pg", "--env", "test")
	step("create db", map[string]map[string]string{
		db.ID: {"name": "db", "status": "running", "owner": "dba", "labels": "NULL", "ip": db.IP},
	}, map[string]map[string]string{
		key(db.ID): {"host_name": "db.lab.example.com", "environment": "TEST", "team": "NULL", "lifecycle": "live"},
	})
	tmp := e.create("tmp", "--owner", "ops", "--app", "scratch", "--env", "dev")
	step("create tmp", map[string]map[string]string{
		tmp.ID: {"name": "tmp", "status": "running", "env": "dev", "ip": tmp.IP},
	}, map[string]map[string]string{
		key(tmp.ID): {"host_name": "tmp.lab.example.com", "environment": "OTHER", "lifecycle": "live"},
	})

	e.ok("update", "web", "--owner", "alice", "-l", "team=core", "-l", "tier=gold")
	step("update web's owner and labels", map[string]map[string]string{
		web.ID: {"owner": "alice", "labels": `{"team":"core","tier":"gold"}`},
	}, map[string]map[string]string{
		key(web.ID): {"responsible": "alice", "team": "core"},
	})
	e.ok("update", "web", "-l", "tier-", "--env", "test")
	step("remove a label, change env", map[string]map[string]string{
		web.ID: {"labels": `{"team":"core"}`, "env": "test"},
	}, map[string]map[string]string{
		key(web.ID): {"environment": "TEST"},
	})

	// Resize all three while it runs: CPU and memory at once; the disk at
	// once where the kernel grows a mounted ext4, else at the next start
	// (the record keeps it pending, and the row shows the size in force).
	e.ok("update", "web", "--cpus", "1.5", "--memory", "192M", "--disk", "384M")
	in := e.inspect("web")
	if in.CPUs != 1.5 || in.VCPUs != 2 || in.MemoryMiB != 192 {
		t.Fatalf("after update --cpus 1.5 --memory 192M: %+v", in.Container)
	}
	diskNow, diskGB := "384", "0.38" // 384 MiB = 0.375 GiB: half away from zero
	switch {
	case in.DiskMiB == 384 && in.PendingDiskMiB == 0:
		t.Logf("this host grew the mounted disk online")
	case in.DiskMiB == 256 && in.PendingDiskMiB == 384:
		diskNow, diskGB = "256", "0.25"
		t.Logf("this host does not grow a mounted disk: 384 MiB pending until the next start, 256 MiB in force")
	default:
		t.Fatalf("after update --disk 384M: disk_mib %d, pending_disk_mib %d", in.DiskMiB, in.PendingDiskMiB)
	}
	step("resize web (cpus, memory, disk)", map[string]map[string]string{
		web.ID: {"cpus": "1.50", "vcpus": "2", "memory_mib": "192", "disk_mib": diskNow},
	}, map[string]map[string]string{
		key(web.ID): {"cpu_count": "2", "mem_gb": "0.2", "disk_gb": diskGB}, // 192 MiB = 0.1875 GiB
	})

	e.ok("stop", "web")
	step("stop web", map[string]map[string]string{
		web.ID: {"status": "stopped", "disk_mib": diskNow},
	}, map[string]map[string]string{
		key(web.ID): {"lifecycle": "halted"},
	})

	e.ok("rename", "web", "web2")
	e.cleanupRm("web2")
	step("rename web to web2", map[string]map[string]string{
		web.ID: {"name": "web2", "hostname": "web2", "status": "stopped", "ip": web.IP, "created_at": micros(web.CreatedAt)},
	}, map[string]map[string]string{
		key(web.ID): {"host_name": "web2.lab.example.com", "lifecycle": "halted", "primary_ip": web.IP},
	})

	e.ok("start", "web2")
	if in := e.inspect("web2"); in.ID != web.ID || in.DiskMiB != 384 || in.PendingDiskMiB != 0 || in.State != "running" {
		t.Fatalf("web2 after start: id %s (was %s), disk %d MiB, pending %d, state %s", in.ID, web.ID, in.DiskMiB, in.PendingDiskMiB, in.State)
	}
	step("start web2 (the disk grown)", map[string]map[string]string{
		web.ID: {"name": "web2", "status": "running", "disk_mib": "384", "memory_mib": "192"},
	}, map[string]map[string]string{
		key(web.ID): {"lifecycle": "live", "disk_gb": "0.38", "mem_gb": "0.2"},
	})

	e.ok("rm", "tmp")
	gone := e.lastEvent(tmp.ID)
	if gone.Kind != "removed" {
		t.Fatalf("tmp's last event is %q, want removed", gone.Kind)
	}
	step("remove tmp", map[string]map[string]string{
		tmp.ID: {"name": "tmp", "status": "decommissioned", "decommissioned_at": micros(gone.Time), "changed_at": micros(gone.Time), "ip": tmp.IP},
	}, map[string]map[string]string{
		key(tmp.ID): {"lifecycle": "scrapped", "scrapped_at": seconds(gone.Time), "primary_ip": tmp.IP, "host_name": "tmp.lab.example.com"},
	})

	// The name gets its address back (ipam keeps it for the name): the
	// UNIQUE primary_ip of the scrapped row is released for the new row,
	// as the mapping's policy says; the default table (ip not unique)
	// keeps it on both.
	tmp2 := e.create("tmp", "--env", "prod")
	if tmp2.IP != tmp.IP || tmp2.ID == tmp.ID {
		t.Fatalf("tmp created again: ip %s id %s; the first had ip %s id %s (want the same ip, a new id)", tmp2.IP, tmp2.ID, tmp.IP, tmp.ID)
	}
	step("create tmp again (same ip, new id)", map[string]map[string]string{
		tmp.ID:  {"status": "decommissioned", "ip": tmp.IP},
		tmp2.ID: {"status": "running", "ip": tmp.IP, "name": "tmp"},
	}, map[string]map[string]string{
		key(tmp.ID):  {"lifecycle": "scrapped", "primary_ip": "NULL", "scrapped_at": seconds(gone.Time)},
		key(tmp2.ID): {"lifecycle": "live", "primary_ip": tmp.IP, "environment": "PRODUCTION"},
	})

	// Rows are never deleted: one per container that ever was, and the real
	// VM's row is untouched.
	if n := a.count(t, "SELECT COUNT(*) FROM fatbox_vm"); n != 4 {
		t.Errorf("fatbox_vm has %d rows, want 4 (web, db, tmp, tmp again)", n)
	}
	if n := b.count(t, "SELECT COUNT(*) FROM vm_inventory"); n != 5 {
		t.Errorf("vm_inventory has %d rows, want 5 (4 of fatbox, 1 real VM)", n)
	}
	if got := b.dump(t, "vm_inventory", "asset_tag = 'VM-0001'"); got != realBefore {
		t.Errorf("the real VM's row changed:\n%s\nwas\n%s", got, realBefore)
	}
	e.checkRecordsMatchEvents()
	last := e.lastSeq()
	st := e.waitStatus("both targets in step", func(c api.CMDBStatus) bool { return c.Position == last && c.Lag == 0 }, "vm-default", "assets")
	for _, c := range st.CMDB {
		if !c.Checked || !c.Connected || c.Failures != 0 || c.LastReconcile.IsZero() || c.LastReconcileRepairs != 0 {
			t.Errorf("status of %s: %+v", c.Target, c)
		}
	}
	if out := e.ok("status").Stdout; strings.Count(out, ": in step (position "+strconv.FormatUint(last, 10)+")") != 2 {
		t.Errorf("fatbox status does not show both targets in step at %d:\n%s", last, out)
	}
	// The position stored with the rows is the last event; nothing is
	// left to do: a dry run plans nothing, and a real reconcile writes
	// nothing.
	for _, tb := range []cmdbTable{tA, tB} {
		if pos := tb.db.count(t, "SELECT seq FROM "+cmdbsync.PositionTable+" WHERE target = ?", tb.target); uint64(pos) != last {
			t.Errorf("%s: stored position %d, want %d", tb.target, pos, last)
		}
		if p := e.cmdbSync("--target", tb.target, "--dry-run"); !planEmpty(p) || p.Unchanged != 4 {
			t.Errorf("dry run of %s after the steps:\n%s", tb.target, p.Text)
		}
		if p := e.cmdbSync("--target", tb.target); !planEmpty(p) {
			t.Errorf("reconcile of %s after the steps wrote:\n%s", tb.target, p.Text)
		}
	}
}

// ---------------------------------------------------------------------------
// 2. A mapping with a wrong column, a wrong type and a missing required
// column: three errors at once, each naming its column and fix; nothing
// written, by the CLI's dry run nor by a daemon configured with it.

func testCMDBBadMapping(t *testing.T, srv *cmdbServer) {
	t.Parallel()
	bad := srv.database(t, "cmdb_bad")
	bad.exec(t, vmInventoryDDL)
	bad.exec(t, realVMRow)
	before := bad.dumpAll(t)
	dir := t.TempDir()
	mapping := filepath.Join(dir, "bad.yaml")
	writeFile(t, mapping, badMapping)
	e := newCMDBEnv(t, cmdbNetBad, fmt.Sprintf(`cmdb:
  - name: badmap
    dsn: %q
    mapping: %s
    poll_interval: 1s
`, bad.dsn, mapping))
	// The daemon started (newCMDBEnv waited for its answer) and serves:
	// a container is made and changed, so there is something to write.
	e.create("bad-01", "--owner", "ops", "--env", "prod")
	e.ok("update", "bad-01", "-l", "team=x")
	last := e.lastSeq()

	// The problems, as each way of meeting them shows them.
	wantProblems := func(where, text string) {
		t.Helper()
		if !strings.Contains(text, "(3 problem(s), nothing written)") {
			t.Errorf("%s: no \"3 problem(s), nothing written\":\n%s", where, text)
		}
		var lines []string
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "- ") {
				lines = append(lines, l)
			}
		}
		if len(lines) != 3 {
			t.Errorf("%s: %d problem lines, want 3:\n%s", where, len(lines), text)
		}
		for _, w := range []struct{ col, problem, fix string }{
			{"primary_ipaddr", "no such column", "did you mean primary_ip?"},
			{"mem_gb", "cannot hold the container name", "MODIFY `mem_gb` VARCHAR(63)"},
			{"cpu_count", "is required", "`cpu_count`"},
		} {
			i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "column "+w.col+": ") })
			if i < 0 {
				t.Errorf("%s: no problem names column %s:\n%s", where, w.col, text)
				continue
			}
			if l := lines[i]; !strings.Contains(l, w.problem) || !strings.Contains(l, "; fix: ") || !strings.Contains(l[strings.Index(l, "; fix: "):], w.fix) {
				t.Errorf("%s: the problem of %s does not say %q with a fix holding %q: %s", where, w.col, w.problem, w.fix, l)
			}
		}
	}

	// The CLI's dry run with the file and the database given.
	r := fatbox(t, "cmdb", "sync", "--dry-run", "--mapping", mapping, "--dsn", bad.dsn, "--socket", e.sock)
	if r.Code == 0 {
		t.Fatalf("cmdb sync --dry-run with a bad mapping: exit 0:\n%s", r.Stdout)
	}
	t.Logf("fatbox cmdb sync --dry-run --mapping bad.yaml --dsn ...: exit %d\n%s", r.Code, r.Stderr)
	wantProblems("cmdb sync --dry-run --mapping", r.Stderr)
	// A reconcile of the configured target, asked now, is refused alike.
	r = fatbox(t, "cmdb", "sync", "--socket", e.sock)
	if r.Code == 0 {
		t.Fatalf("cmdb sync of the badly mapped target: exit 0:\n%s", r.Stdout)
	}
	wantProblems("cmdb sync (configured target)", r.Stderr)

	// A daemon started with the events already there: its loop's first
	// pass meets them and the mapping at once.
	e.restart(nil)
	st := e.waitStatus("the target fails after a pass over the events", func(c api.CMDBStatus) bool {
		return c.SourceSeq >= last && c.Failures >= 1
	}, "badmap")
	c := st.CMDB[0]
	if c.Checked || c.Position != 0 || c.NextRetry.IsZero() || c.LastError == "" {
		t.Errorf("status of the badly mapped target: %+v", c)
	}
	wantProblems("fatbox status -o json", c.LastError)
	out := e.ok("status").Stdout
	if !strings.Contains(out, "badmap → ") || !strings.Contains(out, ": FAILING (") || !strings.Contains(out, "next try ") {
		t.Errorf("fatbox status does not show the target failing with its next try:\n%s", out)
	}
	wantProblems("fatbox status", out)
	t.Logf("fatbox status:\n%s", out)
	if !strings.Contains(e.log.String(), "the mapping does not fit the table") {
		t.Errorf("the daemon's log does not report the mapping at start:\n%s", e.log)
	}

	if after := bad.dumpAll(t); after != before {
		t.Errorf("the database changed under a bad mapping:\n%s\nwas\n%s", after, before)
	}
	if n := bad.count(t, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", cmdbsync.PositionTable); n != 0 {
		t.Errorf("%s was made under a bad mapping", cmdbsync.PositionTable)
	}
}

// ---------------------------------------------------------------------------
// 3. MariaDB stopped while containers change, then started again: status
// shows the target failing with its next try; the rows catch up, no change
// missed.

func testCMDBOutage(t *testing.T) {
	t.Parallel()
	srv := startCMDBServer(t) // its own: this test stops it
	d := srv.database(t, "cmdb_outage")
	e := newCMDBEnv(t, cmdbNetOutage, fmt.Sprintf(`cmdb:
  - name: outage
    dsn: %q
    poll_interval: 1s
`, d.dsn))
	tb := cmdbTable{db: d, target: "outage", name: "fatbox_vm", key: "id", row: defaultRow}
	o1 := e.create("o-01", "--owner", "ops", "--env", "prod")
	o2 := e.create("o-02", "--owner", "dba")
	e.waitRows("before the outage", 45*time.Second, []cmdbTable{tb}, nil)
	before := e.lastSeq()
	// The rows can match before the position does (a full reconcile pass
	// writes rows from the records; the position moves with the next
	// incremental pass): the outage starts once the target has caught up.
	e.waitStatus("the target caught up before the outage", func(c api.CMDBStatus) bool { return c.Position == before }, "outage")

	srv.m.Stop()
	down := time.Now()
	e.ok("update", "o-01", "--memory", "192M", "-l", "team=night")
	e.ok("stop", "o-02")
	o3 := e.create("o-03", "--owner", "new")
	e.ok("rm", "o-01")
	e.ok("start", "o-02")
	e.ok("update", "o-02", "--owner", "dba2")
	last := e.lastSeq()
	st := e.waitStatus("the target fails while the database is down", func(c api.CMDBStatus) bool {
		return c.Failures >= 1 && !c.Connected && !c.NextRetry.IsZero() && c.LastErrorAt.After(down) && c.SourceSeq == last
	}, "outage")
	c := st.CMDB[0]
	if c.Position != before || c.Lag != last-before || !strings.Contains(c.LastError, "cannot reach the database") {
		t.Errorf("status while down (position %d before the outage, %d events since): %+v", before, last-before, c)
	}
	out := e.ok("status").Stdout
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "outage → ") {
			line = l
		}
	}
	if !strings.Contains(line, ": FAILING (") || !strings.Contains(line, "next try ") || !strings.Contains(line, fmt.Sprintf("(position %d)", before)) {
		t.Errorf("fatbox status while the database is down:\n%s", out)
	}
	t.Logf("while down: %s", line)

	srv.m.Restart(t)
	up := time.Now()
	// The loop tries again when its backoff (doubling from 1 s while the
	// database was down) is over.
	e.waitRows("after the database is back", 90*time.Second, []cmdbTable{tb}, []map[string]map[string]string{{
		o1.ID: {"status": "decommissioned", "memory_mib": "192", "labels": `{"team":"night"}`},
		o2.ID: {"status": "running", "owner": "dba2"},
		o3.ID: {"status": "running", "owner": "new", "name": "o-03"},
	}})
	t.Logf("caught up %s after the restart", time.Since(up).Round(time.Millisecond))
	st = e.waitStatus("in step again", func(c api.CMDBStatus) bool {
		return c.Failures == 0 && c.Connected && c.Position == last && c.Lag == 0
	}, "outage")
	if c := st.CMDB[0]; !c.LastSuccess.After(up) {
		t.Errorf("status after the outage: %+v", c)
	}
	if n := d.count(t, "SELECT seq FROM "+cmdbsync.PositionTable+" WHERE target = ?", tb.target); uint64(n) != last {
		t.Errorf("stored position %d, want %d", n, last)
	}
	if p := e.cmdbSync("--dry-run"); !planEmpty(p) || p.Unchanged != 3 {
		t.Errorf("dry run after catching up:\n%s", p.Text)
	}
}

// ---------------------------------------------------------------------------
// 4. The daemon killed -9 between a sync's commit and what follows it: no
// row written twice, the position never going back, and no change missed.

func testCMDBKill9(t *testing.T, srv *cmdbServer) {
	t.Parallel()
	d := srv.database(t, "cmdb_crash")
	e := newCMDBEnv(t, cmdbNetCrash, fmt.Sprintf(`cmdb:
  - name: crash
    dsn: %q
    poll_interval: 1s
`, d.dsn))
	tb := cmdbTable{db: d, target: "crash", name: "fatbox_vm", key: "id", row: defaultRow}
	k1 := e.create("k-01", "--owner", "ops")
	k2 := e.create("k-02", "--owner", "ops")
	e.waitRows("before the crash", 45*time.Second, []cmdbTable{tb}, nil)

	// Every write of a row and of the position, recorded by triggers in
	// the rows' own transactions.
	d.exec(t, "CREATE TABLE row_writes (n INT AUTO_INCREMENT PRIMARY KEY, id CHAR(36) NOT NULL, changed_at DATETIME(6) NOT NULL, content TEXT NOT NULL)")
	content := "CONCAT_WS('|', NEW.name, NEW.status, NEW.vcpus, NEW.cpus, NEW.memory_mib, NEW.disk_mib, IFNULL(NEW.owner, '-'), IFNULL(NEW.labels, '-'), NEW.changed_at, IFNULL(NEW.decommissioned_at, '-'))"
	for _, ev := range []string{"INSERT", "UPDATE"} {
		d.exec(t, "CREATE TRIGGER row_writes_"+strings.ToLower(ev)+" AFTER "+ev+" ON fatbox_vm FOR EACH ROW INSERT INTO row_writes (id, changed_at, content) VALUES (NEW.id, NEW.changed_at, "+content+")")
	}
	// The rows as they are count as their first writes: a write of the
	// same state again is caught too.
	d.exec(t, "INSERT INTO row_writes (id, changed_at, content) SELECT NEW.id, NEW.changed_at, "+content+" FROM fatbox_vm NEW ORDER BY NEW.changed_at")
	d.exec(t, "CREATE TABLE position_writes (n INT AUTO_INCREMENT PRIMARY KEY, old_seq BIGINT UNSIGNED NOT NULL, new_seq BIGINT UNSIGNED NOT NULL)")
	d.exec(t, "CREATE TRIGGER position_writes AFTER UPDATE ON "+cmdbsync.PositionTable+" FOR EACH ROW INSERT INTO position_writes (old_seq, new_seq) VALUES (OLD.seq, NEW.seq)")

	// A daemon that stops dead right after the first commit at the next
	// event or later.
	s0 := e.lastSeq()
	mark := filepath.Join(e.dir, "cmdb-failpoint.mark")
	e.restart([]string{fmt.Sprintf("%s=after-commit:%d", cmdbsync.FailpointEnv, s0+1), cmdbsync.FailpointMarkEnv + "=" + mark})
	// Its full reconcile at start (at s0: the failpoint lets it by) done
	// first, the changes below are applied by incremental passes.
	e.waitStatus("the first reconcile of the daemon with the failpoint", func(c api.CMDBStatus) bool {
		return !c.LastReconcile.IsZero() && c.Position == s0
	}, "crash")
	if _, err := os.Stat(mark); err == nil {
		t.Fatalf("the failpoint fired before any change (at the reconcile of %d)", s0)
	}
	e.ok("update", "k-01", "--owner", "alice", "-l", "phase=one")
	e.ok("stop", "k-02")
	var got []byte
	e2ekit.WaitFor(t, 30*time.Second, "the failpoint's marker", func() bool {
		b, err := os.ReadFile(mark)
		got = b
		return err == nil
	})
	var seq uint64
	var pid int
	if _, err := fmt.Sscanf(string(got), "after-commit %d %d\n", &seq, &pid); err != nil || pid != e.d.Cmd.Process.Pid || seq <= s0 {
		t.Fatalf("marker %q: want \"after-commit <seq > %d> %d\" (%v)", got, s0, e.d.Cmd.Process.Pid, err)
	}
	// Stuck after its commit: rows and position are exactly the events up
	// to seq. The API still takes changes the loop cannot apply now.
	if pos := d.count(t, "SELECT seq FROM "+cmdbsync.PositionTable+" WHERE target = ?", tb.target); uint64(pos) != seq {
		t.Fatalf("position %d at the failpoint, the marker says %d", pos, seq)
	}
	evs := e.events()
	if diff := tb.diff(t, fold(evs, seq), nil); diff != "" {
		t.Fatalf("rows at the commit of position %d are not the events up to it:\n%s", seq, diff)
	}
	e.ok("update", "k-01", "--memory", "192M", "-l", "phase-")
	k3 := e.create("k-03", "--owner", "late")
	e.ok("rm", "k-02")
	e.d.Kill9(t)
	t.Logf("killed -9 after the commit of position %d", seq)
	if pos := d.count(t, "SELECT seq FROM "+cmdbsync.PositionTable+" WHERE target = ?", tb.target); uint64(pos) != seq {
		t.Fatalf("position %d after the kill, the commit was %d", pos, seq)
	}
	atKill := d.dump(t, "fatbox_vm", "1")

	e.restart(nil)
	last := e.lastSeq()
	if last <= seq {
		t.Fatalf("no events after the failpoint's %d (last %d): the test made none", seq, last)
	}
	e.waitRows("after the restart", 45*time.Second, []cmdbTable{tb}, []map[string]map[string]string{{
		k1.ID: {"owner": "alice", "labels": "NULL", "memory_mib": "192", "status": "running"},
		k2.ID: {"status": "decommissioned"},
		k3.ID: {"status": "running", "owner": "late"},
	}})
	e.waitStatus("in step after the restart", func(c api.CMDBStatus) bool { return c.Position == last && c.Lag == 0 && c.Failures == 0 }, "crash")
	e.checkRecordsMatchEvents()

	// No row written twice: each write of a row is newer than the one
	// before it (a replayed event would write an older or the same state).
	rows, err := d.db.Query("SELECT id, changed_at, content FROM row_writes ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	lastWrite := map[string][2]string{}
	writes := 0
	for rows.Next() {
		var id, changed, c string
		if err := rows.Scan(&id, &changed, &c); err != nil {
			t.Fatal(err)
		}
		writes++
		if prev, ok := lastWrite[id]; ok && changed <= prev[0] {
			t.Errorf("row %s written again with a state no newer than before:\n  %s\nafter\n  %s", id, c, prev[1])
		}
		lastWrite[id] = [2]string{changed, c}
	}
	rows.Close()
	if writes == 0 {
		t.Fatal("no row writes recorded: the triggers saw nothing")
	}
	// The position only ever moved forward, through the failpoint's.
	var moves []string
	sawSeq := false
	prev := uint64(0)
	rows, err = d.db.Query("SELECT old_seq, new_seq FROM position_writes ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var o, n uint64
		if err := rows.Scan(&o, &n); err != nil {
			t.Fatal(err)
		}
		moves = append(moves, fmt.Sprintf("%d→%d", o, n))
		if n < o || o < prev {
			t.Errorf("the position went back: %v", moves)
		}
		prev = n
		sawSeq = sawSeq || n == seq
	}
	rows.Close()
	if !sawSeq || prev != last {
		t.Errorf("position writes %v: want one to %d (the failpoint's) and the last to %d", moves, seq, last)
	}
	t.Logf("%d row writes for %d events; position moves %v; rows at the kill:\n%s", writes, last-s0, moves, atKill)
	if p := e.cmdbSync("--dry-run"); !planEmpty(p) || p.Unchanged != 3 {
		t.Errorf("dry run after the restart:\n%s", p.Text)
	}
}

// ---------------------------------------------------------------------------
// Helpers.

// cmdbServer is a throwaway MariaDB the subtests make databases in.
type cmdbServer struct {
	m    *harness.MariaDB
	root *sql.DB
}

func startCMDBServer(t *testing.T) *cmdbServer {
	t.Helper()
	m := harness.StartMariaDB(t)
	root, err := sql.Open("mysql", "root@tcp("+m.Addr+")/mysql")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return &cmdbServer{m: m, root: root}
}

// cmdbDB is one database: the DSN the daemon gets, and the test's own
// connection (times read as text, exactly as stored).
type cmdbDB struct {
	name, dsn string
	db        *sql.DB
}

func (s *cmdbServer) database(t *testing.T, name string) *cmdbDB {
	t.Helper()
	if _, err := s.root.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", "root@tcp("+s.m.Addr+")/"+name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &cmdbDB{name: name, dsn: s.m.DSN(name), db: db}
}

func (d *cmdbDB) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := d.db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %s: %v", d.name, q, err)
	}
}

func (d *cmdbDB) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := d.db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %s: %v", d.name, q, err)
	}
	return n
}

// rows reads a table's rows (those WHERE cond) by key column: column ->
// value as text, "NULL" for NULL.
func (d *cmdbDB) rows(table, key, cond string) (map[string]map[string]string, error) {
	rs, err := d.db.Query("SELECT * FROM " + table + " WHERE " + cond)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for rs.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, err
		}
		r := map[string]string{}
		for i, c := range cols {
			r[c] = "NULL"
			if vals[i].Valid {
				r[c] = vals[i].String
			}
		}
		out[r[key]] = r
	}
	return out, rs.Err()
}

// dump is a table's rows (WHERE cond) as text, in a stable order.
func (d *cmdbDB) dump(t *testing.T, table, cond string) string {
	t.Helper()
	rs, err := d.db.Query("SELECT * FROM " + table + " WHERE " + cond + " ORDER BY 1")
	if err != nil {
		t.Fatalf("%s: read %s: %v", d.name, table, err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var b strings.Builder
	for rs.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, c := range cols {
			v := "NULL"
			if vals[i].Valid {
				v = vals[i].String
			}
			fmt.Fprintf(&b, "%s=%s ", c, v)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// dumpAll is every table of the database and its rows.
func (d *cmdbDB) dumpAll(t *testing.T) string {
	t.Helper()
	rs, err := d.db.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rs.Next() {
		var n string
		if err := rs.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rs.Close()
	var b strings.Builder
	for _, tb := range tables {
		fmt.Fprintf(&b, "table %s:\n%s", tb, d.dump(t, tb, "1"))
	}
	return b.String()
}

// ctr is a container as the event log leaves it at some position: its
// record after its last event (for a removed one, as it was) and times.
type ctr struct {
	id        string
	rec       api.Container
	changed   time.Time
	removed   bool
	removedAt time.Time
}

// fold turns the events up to position upto (0: all) into each
// container's state.
func fold(evs []api.Event, upto uint64) map[string]*ctr {
	out := map[string]*ctr{}
	for _, ev := range evs {
		if upto > 0 && ev.Seq > upto {
			break
		}
		c := out[ev.ContainerID]
		if c == nil {
			c = &ctr{id: ev.ContainerID}
			out[ev.ContainerID] = c
		}
		c.rec, c.changed = ev.Container, ev.Time
		if ev.Kind == "removed" {
			c.removed, c.removedAt = true, ev.Time
		}
	}
	return out
}

// cmdbTable is a target's table and how a container's row must read in it.
type cmdbTable struct {
	db     *cmdbDB
	target string // the sync target's name (its row in the position table)
	name   string
	key    string
	// row is the key and columns a container's row must have.
	row func(c *ctr, all map[string]*ctr) (string, map[string]string)
	// fatboxRows selects fatbox's rows (""; all of them).
	fatboxRows string
}

// diff compares the table with the containers' states and the step's own
// expectations (key -> column -> value): "" when all hold. Every container
// must have exactly its row; no other fatbox row may exist.
func (tb cmdbTable) diff(t *testing.T, states map[string]*ctr, want map[string]map[string]string) string {
	t.Helper()
	cond := tb.fatboxRows
	if cond == "" {
		cond = "1"
	}
	got, err := tb.db.rows(tb.name, tb.key, cond)
	if err != nil {
		return fmt.Sprintf("%s.%s: %v", tb.db.name, tb.name, err)
	}
	var out []string
	expect := map[string]map[string]string{}
	for _, c := range states {
		k, r := tb.row(c, states)
		expect[k] = r
	}
	for k, cols := range want {
		if expect[k] == nil {
			out = append(out, fmt.Sprintf("the step expects row %s, which the event log does not know", k))
			continue
		}
		for c, v := range cols {
			if ev, ok := expect[k][c]; ok && ev != v {
				out = append(out, fmt.Sprintf("the step expects %s %s=%q, the event log says %q (the test's own mistake, or the inventory's)", k, c, v, ev))
			}
		}
	}
	check := func(k string, cols map[string]string, from string) {
		r := got[k]
		if r == nil {
			if from == "the event log" || expect[k] == nil {
				out = append(out, fmt.Sprintf("%s: no row %s=%s", tb.name, tb.key, k))
			}
			return
		}
		for _, c := range slices.Sorted(maps.Keys(cols)) {
			v, ok := r[c]
			if !ok {
				out = append(out, fmt.Sprintf("%s: no column %s", tb.name, c))
			} else if v != cols[c] {
				out = append(out, fmt.Sprintf("%s row %s: %s = %q, want %q (%s)", tb.name, k, c, v, cols[c], from))
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(expect)) {
		check(k, expect[k], "the event log")
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		check(k, want[k], "the step")
	}
	for k := range got {
		if expect[k] == nil {
			out = append(out, fmt.Sprintf("%s: row %s=%s of no container", tb.name, tb.key, k))
		}
	}
	return strings.Join(out, "\n")
}

// defaultRow is a container's row in the default schema (default_mapping.yaml).
func defaultRow(c *ctr, _ map[string]*ctr) (string, map[string]string) {
	r := c.rec
	status, dec := "stopped", "NULL"
	switch {
	case c.removed:
		status, dec = "decommissioned", micros(c.removedAt)
	case r.Status == "running" || r.Status == "stopping":
		status = "running"
	}
	return c.id, map[string]string{
		"id": c.id, "name": r.Name, "hostname": r.Hostname, "ip": orNull(r.IP), "mac": orNull(r.MAC), "node": orNull(r.Node),
		"pool": orNull(r.Pool), "image": orNull(r.Image), "vcpus": strconv.Itoa(r.VCPUs), "cpus": fixed(r.CPUs, 2),
		"memory_mib": strconv.FormatInt(r.MemoryMiB, 10), "disk_mib": strconv.FormatInt(r.DiskMiB, 10), "swap_mib": strconv.FormatInt(r.SwapMiB, 10),
		"owner": orNull(r.Owner), "app": orNull(r.App), "env": orNull(r.Env), "labels": labelsJSON(r.Labels), "status": status,
		"created_at": micros(r.CreatedAt), "changed_at": micros(c.changed), "decommissioned_at": dec,
	}
}

// assetRow is a container's row in vm_inventory (vmInventoryMapping). A
// scrapped row's address is released (NULL) when a live container has it.
func assetRow(c *ctr, all map[string]*ctr) (string, map[string]string) {
	r := c.rec
	life, scrapped := "halted", "NULL"
	switch {
	case c.removed:
		life, scrapped = "scrapped", seconds(c.removedAt)
	case r.Status == "running" || r.Status == "stopping":
		life = "live"
	}
	ip := orNull(r.IP)
	if c.removed {
		for _, o := range all {
			if !o.removed && o.rec.IP == r.IP {
				ip = "NULL"
			}
		}
	}
	env := map[string]string{"prod": "PRODUCTION", "test": "TEST"}[r.Env]
	if env == "" {
		env = "OTHER"
	}
	return "FBX-" + c.id, map[string]string{
		"asset_tag": "FBX-" + c.id, "host_name": r.Hostname + ".lab.example.com", "primary_ip": ip,
		"mem_gb": fixed(float64(r.MemoryMiB)/1024, 1), "cpu_count": strconv.Itoa(r.VCPUs), "disk_gb": fixed(float64(r.DiskMiB)/1024, 2),
		"lifecycle": life, "responsible": orNull(r.Owner), "team": orNull(r.Labels["team"]), "environment": env,
		"source_system": "fatbox", "in_service_since": seconds(r.CreatedAt), "last_change": millis(c.changed),
		"scrapped_at": scrapped, "notes": "NULL",
	}
}

func orNull(s string) string {
	if s == "" {
		return "NULL"
	}
	return s
}

// fixed rounds half away from zero to d decimals, as DECIMAL(_, d) shows it.
func fixed(v float64, d int) string {
	p := math.Pow10(d)
	return strconv.FormatFloat(math.Round(v*p)/p, 'f', d, 64)
}

func labelsJSON(l map[string]string) string {
	if len(l) == 0 {
		return "NULL"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(l)
	return strings.TrimSuffix(b.String(), "\n")
}

// Times as DATETIME(6), DATETIME and DATETIME(3) columns hold them: UTC, cut.
func micros(t time.Time) string  { return t.UTC().Format("2006-01-02 15:04:05.000000") }
func seconds(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }
func millis(t time.Time) string  { return t.UTC().Format("2006-01-02 15:04:05.000") }

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// cmdbEnv is a daemon with CMDB targets in its config, a pool and the fat
// image, for tests that sync containers.
type cmdbEnv struct {
	t                     *testing.T
	dir, state, sock, cfg string
	args                  []string
	d                     *daemonProc
	c                     *api.Client
	// log is every daemon's output, one after the other.
	log *syncBuffer
}

func newCMDBEnv(t *testing.T, cidr, config string) *cmdbEnv {
	t.Helper()
	harness.RequireRoot(t)
	sup := os.Getenv("FATBOX_SUPERVISORD")
	harness.Require(t, sup != "", "FATBOX_SUPERVISORD (the binary `make supervisord` builds)")
	_, err := exec.LookPath("lxcfs")
	harness.Require(t, err == nil, "lxcfs (tools/setup-host.sh installs it)")
	for _, v := range []string{cmdbsync.FailpointEnv, "FATBOX_FAILPOINT"} {
		if fp := os.Getenv(v); fp != "" {
			t.Fatalf("%s=%s is set in the test's environment: every daemon would stop dead; unset it", v, fp)
		}
	}
	dir := t.TempDir()
	e := &cmdbEnv{t: t, dir: dir, state: filepath.Join(dir, "state"), sock: filepath.Join(dir, "fatbox.sock"), cfg: filepath.Join(dir, "fatbox.yaml"), log: &syncBuffer{}}
	writeFile(t, e.cfg, config)
	// --config after spawnDaemon's --config /dev/null: the last one counts.
	e.args = []string{"--config", e.cfg, "--supervisord", sup, "--image-cache", filepath.Join(harness.CacheDir(), "images")}
	e.c = &api.Client{Socket: e.sock, Timeout: 10 * time.Second}
	t.Cleanup(func() { e2ekit.StopLXCFS(e.state) })
	// One cleanup for whichever daemon is current, registered before any
	// container's, so every `fatbox rm` runs while a daemon answers.
	t.Cleanup(func() {
		if e.d != nil {
			e.d.Stop()
		}
		if t.Failed() {
			t.Logf("the daemons' log:\n%s", e.log)
		}
	})
	e.d = e.spawn(nil)
	br := harness.Name("fbcbr")
	t.Cleanup(func() { harness.IPQuiet("link", "del", br) })
	e.ok("pool", "create", "cmdb", "--cidr", cidr, "--bridge", br, "--create-bridge")
	e.ok("image", "build", "debian12-fat")
	return e
}

// spawn starts a daemon with env added to the test's environment and
// waits until it answers; its output goes to e.log.
func (e *cmdbEnv) spawn(env []string) *daemonProc {
	e.t.Helper()
	fmt.Fprintf(e.log, "=== fatbox daemon (env %v)\n", env)
	return e2ekit.SpawnDaemonWith(e.t, e2ekit.DaemonOptions{State: e.state, Socket: e.sock,
		Args: append([]string{"--config", "/dev/null"}, e.args...), Env: env, Log: e.log})
}

// restart kills the current daemon (-9, if it still runs) and starts
// another on the same state dir with env; its containers are adopted.
func (e *cmdbEnv) restart(env []string) {
	e.t.Helper()
	e.d.Stop()
	e.d = nil
	e.d = e.spawn(env)
}

func (e *cmdbEnv) ok(args ...string) result {
	e.t.Helper()
	r := fatbox(e.t, append(args, "--socket", e.sock)...)
	if r.Code != 0 {
		e.t.Fatalf("fatbox %v: exit %d: %s%s", args, r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// create makes a small container of the fat image on the pool.
func (e *cmdbEnv) create(name string, extra ...string) api.ContainerInfo {
	e.t.Helper()
	e.ok(append([]string{"create", name, "--image", "debian12-fat", "--pool", "cmdb", "--memory", "128M", "--disk", "256M"}, extra...)...)
	e.cleanupRm(name)
	return e.inspect(name)
}

// cleanupRm removes a container at the end of the test, if it is there.
func (e *cmdbEnv) cleanupRm(name string) {
	e.t.Cleanup(func() { fatbox(e.t, "rm", name, "--socket", e.sock) })
}

func (e *cmdbEnv) inspect(name string) api.ContainerInfo {
	e.t.Helper()
	var in api.ContainerInfo
	if err := json.Unmarshal([]byte(e.ok("inspect", name, "-o", "json").Stdout), &in); err != nil {
		e.t.Fatalf("inspect %s: %v", name, err)
	}
	return in
}

// events is the whole event log.
func (e *cmdbEnv) events() []api.Event {
	e.t.Helper()
	res, err := e.c.Events(context.Background(), api.EventQuery{})
	if err != nil {
		e.t.Fatalf("events: %v", err)
	}
	return res.Events
}

func (e *cmdbEnv) lastEvent(id string) api.Event {
	e.t.Helper()
	evs := e.events()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].ContainerID == id {
			return evs[i]
		}
	}
	e.t.Fatalf("no event of container %s", id)
	return api.Event{}
}

func (e *cmdbEnv) lastSeq() uint64 {
	e.t.Helper()
	res, err := e.c.Events(context.Background(), api.EventQuery{})
	if err != nil {
		e.t.Fatalf("events: %v", err)
	}
	return res.Last
}

// waitRows waits until every table holds exactly the rows the event log
// says (and want[i], the step's own expectations for tables[i]).
func (e *cmdbEnv) waitRows(what string, within time.Duration, tables []cmdbTable, want []map[string]map[string]string) {
	e.t.Helper()
	var diff string
	for deadline := time.Now().Add(within); ; time.Sleep(200 * time.Millisecond) {
		states := fold(e.events(), 0)
		var diffs []string
		for i, tb := range tables {
			var w map[string]map[string]string
			if i < len(want) {
				w = want[i]
			}
			if d := tb.diff(e.t, states, w); d != "" {
				diffs = append(diffs, d)
			}
		}
		if diff = strings.Join(diffs, "\n"); diff == "" {
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	st, _ := e.c.Status(context.Background())
	e.t.Fatalf("%s: the rows did not follow within %s:\n%s\nstatus: %+v", what, within, diff, st.CMDB)
}

// waitStatus waits until each named target's status satisfies ok, and
// returns the status with just those targets, in that order.
func (e *cmdbEnv) waitStatus(what string, ok func(api.CMDBStatus) bool, targets ...string) api.Status {
	e.t.Helper()
	var st api.Status
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		st = statusJSON(e.t, e.sock)
		var got []api.CMDBStatus
		for _, name := range targets {
			if i := slices.IndexFunc(st.CMDB, func(c api.CMDBStatus) bool { return c.Target == name }); i >= 0 && ok(st.CMDB[i]) {
				got = append(got, st.CMDB[i])
			}
		}
		if len(got) == len(targets) {
			st.CMDB = got
			return st
		}
		if time.Now().After(deadline) {
			break
		}
	}
	e.t.Fatalf("%s: not within 60s: %+v", what, st.CMDB)
	return st
}

// cmdbSync runs `fatbox cmdb sync ARGS -o json`, which must succeed.
func (e *cmdbEnv) cmdbSync(args ...string) api.CMDBPlan {
	e.t.Helper()
	var p api.CMDBPlan
	out := e.ok(append([]string{"cmdb", "sync", "-o", "json"}, args...)...).Stdout
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		e.t.Fatalf("cmdb sync %v: %v: %s", args, err, out)
	}
	return p
}

func planEmpty(p api.CMDBPlan) bool {
	return len(p.Inserts) == 0 && len(p.Updates) == 0 && len(p.Decommissions) == 0 && len(p.Releases) == 0
}

// checkRecordsMatchEvents: each live container's record (fatbox ls) maps
// to the same row as its last event's record, so rows that follow the
// events follow the inventory's records.
func (e *cmdbEnv) checkRecordsMatchEvents() {
	e.t.Helper()
	cs, err := e.c.ListContainers(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	states := fold(e.events(), 0)
	for _, c := range cs {
		st := states[c.ID]
		if st == nil || st.removed {
			e.t.Errorf("container %s (%s) has no live state in the event log", c.Name, c.ID)
			continue
		}
		live := *st
		live.rec = c
		for _, row := range []func(*ctr, map[string]*ctr) (string, map[string]string){defaultRow, assetRow} {
			_, fromEvent := row(st, states)
			_, fromRecord := row(&live, states)
			if !maps.Equal(fromEvent, fromRecord) {
				e.t.Errorf("container %s: its record maps to\n%v\nits last event's record to\n%v", c.Name, fromRecord, fromEvent)
			}
		}
	}
}
