package cmdbsync

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fatbox/fatbox/inventory"
)

// TestCMDB runs against one real MariaDB (the harness's; a failure, not a
// skip, under FATBOX_STRICT=1 when mariadbd is missing); each subtest has
// its own database.
func TestCMDB(t *testing.T) {
	srv := startServer(t)
	t.Run("DefaultSchema", func(t *testing.T) { testDefaultSchema(t, srv) })
	t.Run("Migrations", func(t *testing.T) { testMigrations(t, srv) })
	t.Run("OtherTable", func(t *testing.T) { testOtherTable(t, srv) })
	t.Run("ReusedIP", func(t *testing.T) { testReusedIP(t, srv) })
	t.Run("UniqueOrder", func(t *testing.T) { testUniqueOrder(t, srv) })
	t.Run("BadMapping", func(t *testing.T) { testBadMapping(t, srv) })
	t.Run("Repairs", func(t *testing.T) { testRepairs(t, srv) })
	t.Run("DryRun", func(t *testing.T) { testDryRun(t, srv) })
	t.Run("CrashAfterCommit", func(t *testing.T) { testCrashAfterCommit(t, srv) })
}

// The default schema and mapping: every step of a container's life,
// through a real inventory's events, shows in its row.
func testDefaultSchema(t *testing.T, srv *server) {
	dsn, db := srv.database(t, "dflt")
	f := newFleet(t)
	s := newSyncer(t, Config{Source: f.inv, DSN: dsn})
	ctx := context.Background()

	web := f.create("web-01", "10.1.0.5", func(r *inventory.Record) { r.CPUs, r.VCPUs = 1.5, 2 })
	db2 := f.create("db-01", "10.1.0.6")
	p := syncOnce(t, s)
	if len(p.Inserts) != 2 || p.FromSeq != 0 || p.ToSeq != f.lastSeq() {
		t.Fatalf("first pass: %s", p)
	}
	r := f.get("web-01")
	expect(t, row(t, db, "fatbox_vm", "id", web), map[string]string{
		"name": "web-01", "hostname": "web-01", "ip": "10.1.0.5", "mac": "02:fb:0a:01:00:05", "node": "host-1", "pool": "prod",
		"image": "debian12-fat", "vcpus": "2", "cpus": "1.50", "memory_mib": "1024", "disk_mib": "10240", "swap_mib": "0",
		"owner": "ops", "app": "web", "env": "prod", "labels": "NULL", "status": "running",
		"created_at": dbTime(r.CreatedAt), "changed_at": dbTime(f.lastEvent(web).Time), "decommissioned_at": "NULL",
	})

	// labels and owner
	f.put("web-01", func(r *inventory.Record) {
		r.Owner, r.Labels = "pay-team", map[string]string{"team": "pay&<ops>", "cost-center": "4711"}
	})
	syncOnce(t, s)
	expect(t, row(t, db, "fatbox_vm", "id", web), map[string]string{
		"owner": "pay-team", "labels": `{"cost-center":"4711","team":"pay&<ops>"}`, "changed_at": dbTime(f.lastEvent(web).Time)})

	// resize all three
	f.put("web-01", func(r *inventory.Record) { r.CPUs, r.VCPUs, r.MemoryMiB, r.DiskMiB = 4, 4, 4096, 20480 })
	p = syncOnce(t, s)
	if len(p.Updates) != 1 || len(p.Inserts) != 0 {
		t.Fatalf("resize: %s", p)
	}
	expect(t, row(t, db, "fatbox_vm", "id", web), map[string]string{"cpus": "4.00", "vcpus": "4", "memory_mib": "4096", "disk_mib": "20480"})

	// stop, rename (the row follows by id), start
	f.stop("web-01")
	syncOnce(t, s)
	expect(t, row(t, db, "fatbox_vm", "id", web), map[string]string{"status": "stopped"})
	f.rename("web-01", "app-01")
	syncOnce(t, s)
	expect(t, row(t, db, "fatbox_vm", "id", web), map[string]string{"name": "app-01", "hostname": "app-01", "status": "stopped"})
	f.start("app-01")
	syncOnce(t, s)
	expect(t, row(t, db, "fatbox_vm", "id", web), map[string]string{"name": "app-01", "status": "running", "memory_mib": "4096"})

	// remove: decommissioned with its time, never deleted
	f.remove("db-01")
	p = syncOnce(t, s)
	if len(p.Decommissions) != 1 || p.Decommissions[0].Key != db2 {
		t.Fatalf("remove: %s", p)
	}
	gone := f.lastEvent(db2)
	if gone.Kind != inventory.EventRemoved {
		t.Fatalf("last event of db-01 is %s", gone.Kind)
	}
	expect(t, row(t, db, "fatbox_vm", "id", db2), map[string]string{
		"name": "db-01", "status": "decommissioned", "decommissioned_at": dbTime(gone.Time), "changed_at": dbTime(gone.Time), "ip": "10.1.0.6"})
	if n := count(t, db, "SELECT COUNT(*) FROM fatbox_vm"); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}

	// Nothing new: a pass writes nothing; a full reconcile agrees with the
	// incremental passes (no repairs).
	if p = syncOnce(t, s); !p.Empty() || p.Events != 0 {
		t.Fatalf("idle pass: %s", p)
	}
	p, err := s.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() || p.Unchanged != 2 {
		t.Fatalf("reconcile after incremental passes:\n%s", p)
	}
	if n := count(t, db, "SELECT seq FROM fatbox_sync_position WHERE target = 'fatbox_vm'"); uint64(n) != f.lastSeq() {
		t.Fatalf("position %d, want %d", n, f.lastSeq())
	}
	st := s.Status()
	if st.Position != f.lastSeq() || !st.Checked {
		t.Fatalf("status %+v", st)
	}
}

// Migrations: applied once, recorded, a second run is a no-op; a newer
// migration applies alone.
func testMigrations(t *testing.T, srv *server) {
	_, db := srv.database(t, "mig")
	ctx := context.Background()
	got, err := Migrate(ctx, db)
	if err != nil || len(got) != 1 || got[0] != "0001_fatbox_vm" {
		t.Fatalf("first Migrate: %v, %v", got, err)
	}
	got, err = Migrate(ctx, db)
	if err != nil || len(got) != 0 {
		t.Fatalf("second Migrate applied %v, %v", got, err)
	}
	fsys := fstest.MapFS{
		"s/0001_fatbox_vm.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS never_run (a INT);\n")},
		"s/0002_more.sql":      {Data: []byte("-- a comment\nALTER TABLE fatbox_vm\n  ADD COLUMN IF NOT EXISTS rack VARCHAR(20) NULL;\nCREATE INDEX IF NOT EXISTS fatbox_vm_rack ON fatbox_vm (rack);\n")},
		"s/README.txt":         {Data: []byte("not a migration")},
	}
	got, err = migrate(ctx, db, fsys, "s")
	if err != nil || len(got) != 1 || got[0] != "0002_more" {
		t.Fatalf("newer migration: %v, %v", got, err)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fatbox_vm' AND COLUMN_NAME = 'rack'"); n != 1 {
		t.Fatal("0002 did not run")
	}
	if n := count(t, db, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'never_run'"); n != 0 {
		t.Fatal("0001 ran twice")
	}
	if n := count(t, db, "SELECT COUNT(*) FROM fatbox_schema_migrations"); n != 2 {
		t.Fatalf("%d migrations recorded", n)
	}
	// The default mapping fits the default schema (a column added by a
	// company, nullable, still fits).
	var name string
	if err := db.QueryRow("SELECT DATABASE()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	s := newSyncer(t, Config{Source: newFleet(t).inv, DSN: srv.m.DSN(name)})
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// assetsDDL is a company's own asset table, shaped unlike the default
// schema, with real VMs in it.
const assetsDDL = `CREATE TABLE assets (
  asset_id     INT AUTO_INCREMENT PRIMARY KEY,
  asset_no     VARCHAR(64)  NOT NULL,
  fqdn         VARCHAR(100) NOT NULL,
  ip_address   VARCHAR(15)  NULL,
  ram_gb       DECIMAL(6,1) NOT NULL,
  cores        SMALLINT     NOT NULL,
  state        ENUM('online','offline','retired') NOT NULL,
  asset_class  VARCHAR(20)  NOT NULL,
  cost_center  VARCHAR(32)  NULL,
  commissioned DATETIME     NOT NULL,
  retired_on   DATETIME     NULL,
  notes        TEXT         NULL,
  UNIQUE KEY asset_no (asset_no),
  UNIQUE KEY ip_address (ip_address)
) ENGINE=InnoDB`

const assetsMapping = `
table: assets
key: {column: asset_no, format: "FB-%s"}
columns:
  fqdn: {field: hostname, format: "%s.dc1.example.com"}
  ip_address: ip
  ram_gb: {field: memory_mib, divide: 1024, round: 1}
  cores: vcpus
  state: {field: status, map: {running: online, stopped: offline}}
  asset_class: {const: vm}
  cost_center: label:cost-center
  commissioned: {time: created}
decommission:
  column: state
  value: retired
  time_column: retired_on
on_unique_conflict: POLICY
`

func assets(t *testing.T, srv *server, policy string) (string, *sql.DB, *Mapping) {
	dsn, db := srv.database(t, "assets")
	mustExec(t, db, assetsDDL)
	mustExec(t, db, `INSERT INTO assets (asset_no, fqdn, ip_address, ram_gb, cores, state, asset_class, commissioned, notes) VALUES
		('VM-0001', 'erp.dc1.example.com', '10.1.0.99', 16.0, 8, 'online', 'vm', '2019-03-01 00:00:00', 'a real VMware VM'),
		('VM-0002', 'old.dc1.example.com', '10.1.0.98', 4.0, 2, 'retired', 'vm', '2015-01-01 00:00:00', NULL)`)
	m, err := ParseMapping([]byte(strings.Replace(assetsMapping, "POLICY", policy, 1)))
	if err != nil {
		t.Fatal(err)
	}
	return dsn, db, m
}

// A differently shaped table, mapped by configuration only: the same life
// shows in it; real VMs' rows are never touched.
func testOtherTable(t *testing.T, srv *server) {
	dsn, db, m := assets(t, srv, "error")
	real := checksum(t, db, "assets", "asset_no LIKE 'VM-%'")
	f := newFleet(t)
	s := newSyncer(t, Config{Source: f.inv, DSN: dsn, Mapping: m})

	web := f.create("web-01", "10.1.0.5", func(r *inventory.Record) { r.MemoryMiB, r.VCPUs = 1536, 2 })
	syncOnce(t, s)
	created := f.get("web-01").CreatedAt
	expect(t, row(t, db, "assets", "asset_no", "FB-"+web), map[string]string{
		"fqdn": "web-01.dc1.example.com", "ip_address": "10.1.0.5", "ram_gb": "1.5", "cores": "2", "state": "online",
		"asset_class": "vm", "cost_center": "NULL", "commissioned": created.UTC().Format("2006-01-02 15:04:05"), "retired_on": "NULL", "notes": "NULL"})

	f.put("web-01", func(r *inventory.Record) { r.Labels = map[string]string{"cost-center": "CC-4711"} })
	f.put("web-01", func(r *inventory.Record) { r.MemoryMiB, r.VCPUs = 1000, 4 }) // 0.977 GiB: 1.0
	syncOnce(t, s)
	expect(t, row(t, db, "assets", "asset_no", "FB-"+web), map[string]string{"cost_center": "CC-4711", "ram_gb": "1.0", "cores": "4"})
	f.put("web-01", func(r *inventory.Record) { r.MemoryMiB = 4147 }) // 4.0498: 4.0
	f.stop("web-01")
	syncOnce(t, s)
	expect(t, row(t, db, "assets", "asset_no", "FB-"+web), map[string]string{"ram_gb": "4.0", "state": "offline"})
	f.rename("web-01", "shop-01")
	f.start("shop-01")
	syncOnce(t, s)
	expect(t, row(t, db, "assets", "asset_no", "FB-"+web), map[string]string{"fqdn": "shop-01.dc1.example.com", "state": "online"})
	f.remove("shop-01")
	syncOnce(t, s)
	gone := f.lastEvent(web)
	expect(t, row(t, db, "assets", "asset_no", "FB-"+web), map[string]string{
		"state": "retired", "retired_on": gone.Time.UTC().Format("2006-01-02 15:04:05"), "fqdn": "shop-01.dc1.example.com", "ip_address": "10.1.0.5"})
	if n := count(t, db, "SELECT COUNT(*) FROM assets WHERE asset_no LIKE 'FB-%'"); n != 1 {
		t.Fatalf("%d fatbox rows, want 1", n)
	}
	if p, err := s.Reconcile(context.Background()); err != nil || !p.Empty() {
		t.Fatalf("reconcile: %v\n%s", err, p)
	}
	if got := checksum(t, db, "assets", "asset_no LIKE 'VM-%'"); got != real {
		t.Fatalf("real VMs' rows changed:\n%s\nwas\n%s", got, real)
	}
	// A column shorter than a free-text field may be is a warning, not an
	// error: the check says so and the sync runs.
	if w := s.Warnings(); len(w) != 1 || w[0].Column != "cost_center" || !strings.Contains(w[0].Problem, "VARCHAR(32) is shorter than label cost-center") {
		t.Fatalf("warnings: %v", w)
	}
}

// A reused IP (remove, then create the same name: ipam gives the address
// back) meets the decommissioned row's UNIQUE ip_address: under "error"
// a clear error naming both rows and nothing written; under
// "release_decommissioned" the old row's IP is cleared and the new row
// written. A real VM's IP is never taken from it.
func testReusedIP(t *testing.T, srv *server) {
	dsn, db, m := assets(t, srv, "error")
	f := newFleet(t)
	s := newSyncer(t, Config{Source: f.inv, DSN: dsn, Mapping: m})
	old := f.create("web-01", "10.1.0.5")
	syncOnce(t, s)
	f.remove("web-01")
	syncOnce(t, s)
	pos := s.Status().Position
	before := checksum(t, db, "assets", "1")
	neu := f.create("web-01", "10.1.0.5")

	_, err := s.SyncOnce(context.Background())
	var ce *ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, ErrConflict) {
		t.Fatalf("want a ConflictError, got %v", err)
	}
	for _, want := range []string{"FB-" + old, "FB-" + neu, "ip_address", "10.1.0.5", "decommissioned", "release_decommissioned"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("conflict error lacks %q: %v", want, err)
		}
	}
	if checksum(t, db, "assets", "1") != before || count(t, db, "SELECT seq FROM fatbox_sync_position WHERE target = 'assets'") != int(pos) {
		t.Fatal("a refused pass wrote something")
	}

	m2, err := ParseMapping([]byte(strings.Replace(assetsMapping, "POLICY", "release_decommissioned", 1)))
	if err != nil {
		t.Fatal(err)
	}
	s2 := newSyncer(t, Config{Source: f.inv, DSN: dsn, Mapping: m2})
	p := syncOnce(t, s2)
	if len(p.Releases) != 1 || p.Releases[0].Key != "FB-"+old || p.Releases[0].For != "FB-"+neu || p.Releases[0].Column != "ip_address" {
		t.Fatalf("releases: %s", p)
	}
	if !strings.Contains(p.String(), "release asset_no=FB-"+old+": ip_address 10.1.0.5 -> NULL") {
		t.Fatalf("plan text:\n%s", p)
	}
	expect(t, row(t, db, "assets", "asset_no", "FB-"+old), map[string]string{"ip_address": "NULL", "state": "retired"})
	expect(t, row(t, db, "assets", "asset_no", "FB-"+neu), map[string]string{"ip_address": "10.1.0.5", "state": "online"})
	// The released value is not given back to the old row.
	if p, err := s2.Reconcile(context.Background()); err != nil || !p.Empty() {
		t.Fatalf("reconcile after release: %v\n%s", err, p)
	}

	// Removed and created again within one batch: the removed one's row
	// is inserted decommissioned without the IP.
	f.remove("web-01")
	newer := f.create("web-01", "10.1.0.5")
	p = syncOnce(t, s2)
	expect(t, row(t, db, "assets", "asset_no", "FB-"+neu), map[string]string{"ip_address": "NULL", "state": "retired"})
	expect(t, row(t, db, "assets", "asset_no", "FB-"+newer), map[string]string{"ip_address": "10.1.0.5", "state": "online"})

	// A real VM's address (VM-0001 holds 10.1.0.99) is never released.
	f.create("web-02", "10.1.0.99")
	_, err = s2.SyncOnce(context.Background())
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "VM-0001 (not a fatbox row: never touched)") {
		t.Fatalf("real VM's IP: %v", err)
	}
	expect(t, row(t, db, "assets", "asset_no", "VM-0001"), map[string]string{"ip_address": "10.1.0.99"})
}

// A mapping with a wrong column, a wrong type and a required column left
// unmapped: three clear errors at once, each with its fix, and nothing
// written (not even the position table).
func testBadMapping(t *testing.T, srv *server) {
	dsn, db, _ := assets(t, srv, "error")
	before := checksum(t, db, "assets", "1")
	m, err := ParseMapping([]byte(`
table: assets
key: {column: asset_no, format: "FB-%s"}
columns:
  fqdn: hostname
  ip_addr: ip
  ram_gb: name
  cores: vcpus
  state: {field: status, map: {running: online, stopped: offline}}
  commissioned: {time: created}
decommission: {column: state, value: retired, time_column: retired_on}
`))
	if err != nil {
		t.Fatal(err)
	}
	f := newFleet(t)
	f.create("web-01", "10.1.0.5")
	s := newSyncer(t, Config{Source: f.inv, DSN: dsn, Mapping: m})
	err = s.Check(context.Background())
	var me *MappingError
	if !errors.As(err, &me) || !errors.Is(err, ErrMapping) {
		t.Fatalf("want a MappingError, got %v", err)
	}
	if len(me.Problems) != 3 {
		t.Fatalf("want 3 problems, got %d:\n%v", len(me.Problems), err)
	}
	want := []struct{ col, problem, fix string }{
		{"ip_addr", "the table has no such column", "did you mean ip_address?"},
		{"ram_gb", "DECIMAL(6,1) NOT NULL cannot hold the container name", "ALTER TABLE `assets` MODIFY `ram_gb` VARCHAR(63) NOT NULL"},
		{"asset_class", "is required (NOT NULL, no default) and the mapping gives it no value", "ALTER TABLE `assets` ALTER `asset_class` SET DEFAULT"},
	}
	for i, w := range want {
		p := me.Problems[i]
		if p.Column != w.col || !strings.Contains(p.Problem, w.problem) || !strings.Contains(p.Fix, w.fix) {
			t.Errorf("problem %d = %+v, want column %s, %q, fix %q", i, p, w.col, w.problem, w.fix)
		}
	}
	t.Logf("the error as ops see it:\n%v", err)
	if _, err2 := s.SyncOnce(context.Background()); !errors.Is(err2, ErrMapping) {
		t.Fatalf("SyncOnce with a bad mapping: %v", err2)
	}
	if _, err2 := s.Reconcile(context.Background()); !errors.Is(err2, ErrMapping) {
		t.Fatalf("Reconcile with a bad mapping: %v", err2)
	}
	if checksum(t, db, "assets", "1") != before {
		t.Fatal("rows written with a bad mapping")
	}
	if n := count(t, db, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fatbox_sync_position'"); n != 0 {
		t.Fatal("the position table was made with a bad mapping")
	}
}

// The full reconcile repairs rows edited by hand and reports each repaired
// column (what it was, what it became); a row deleted by hand comes back;
// a removed container's row made live by hand is decommissioned again;
// rows of real VMs are never touched.
func testRepairs(t *testing.T, srv *server) {
	dsn, db, m := assets(t, srv, "error")
	f := newFleet(t)
	var logs logBuf
	s := newSyncer(t, Config{Source: f.inv, DSN: dsn, Mapping: m, Logger: logs.logger()})
	a := f.create("a-01", "10.1.0.11")
	b := f.create("b-01", "10.1.0.12")
	c := f.create("c-01", "10.1.0.13")
	f.remove("c-01")
	syncOnce(t, s)
	cRow := row(t, db, "assets", "asset_no", "FB-"+c)

	mustExec(t, db, "UPDATE assets SET ram_gb = 64.0, state = 'offline' WHERE asset_no = ?", "FB-"+a)
	mustExec(t, db, "DELETE FROM assets WHERE asset_no = ?", "FB-"+b)
	mustExec(t, db, "UPDATE assets SET state = 'online', retired_on = NULL WHERE asset_no = ?", "FB-"+c)
	mustExec(t, db, "UPDATE assets SET ram_gb = 32.0 WHERE asset_no = 'VM-0001'")
	real := checksum(t, db, "assets", "asset_no LIKE 'VM-%'")

	p, err := s.Reconcile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Updates) != 1 || len(p.Inserts) != 1 || len(p.Decommissions) != 1 || len(p.Repairs()) != 2 {
		t.Fatalf("reconcile:\n%s", p)
	}
	rep := p.Updates[0]
	if rep.Key != "FB-"+a || !rep.Repair || len(rep.Changes) != 2 ||
		rep.Changes[0].Column != "ram_gb" || *rep.Changes[0].Was != "64.0" || *rep.Changes[0].Now != "1.0" ||
		rep.Changes[1].Column != "state" || *rep.Changes[1].Was != "offline" || *rep.Changes[1].Now != "online" {
		t.Fatalf("repair of a-01: %+v", rep)
	}
	if d := p.Decommissions[0]; d.Key != "FB-"+c || !d.Repair {
		t.Fatalf("decommission repair: %+v", d)
	}
	if p.Inserts[0].Key != "FB-"+b {
		t.Fatalf("re-insert: %+v", p.Inserts[0])
	}
	for _, w := range []string{"repair asset_no=FB-" + a + " (a-01, id " + a + "): ram_gb 64.0 -> 1.0, state offline -> online",
		"repair+decommission asset_no=FB-" + c, "state online -> retired"} {
		if !strings.Contains(p.String(), w) {
			t.Errorf("plan text lacks %q:\n%s", w, p)
		}
	}
	expect(t, row(t, db, "assets", "asset_no", "FB-"+a), map[string]string{"ram_gb": "1.0", "state": "online"})
	expect(t, row(t, db, "assets", "asset_no", "FB-"+b), map[string]string{"ip_address": "10.1.0.12", "state": "online"})
	expect(t, row(t, db, "assets", "asset_no", "FB-"+c), map[string]string{"state": "retired", "retired_on": *cRow["retired_on"]})
	if got := checksum(t, db, "assets", "asset_no LIKE 'VM-%'"); got != real {
		t.Fatal("a real VM's row was touched")
	}

	// Run's timer reconcile repairs and logs each column, and Status
	// counts the repairs.
	s2 := newSyncer(t, Config{Source: f.inv, DSN: dsn, Mapping: m, Logger: logs.logger(), ReconcileInterval: 200 * time.Millisecond, PollInterval: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s2.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 5*time.Second, "first reconcile", func() bool { return !s2.Status().LastReconcile.IsZero() })
	mustExec(t, db, "UPDATE assets SET cores = 99 WHERE asset_no = ?", "FB-"+a)
	waitFor(t, 5*time.Second, "a repair by the timer's reconcile", func() bool { return s2.Status().LastReconcileRepairs == 1 })
	if l := logs.String(); !strings.Contains(l, "cmdb row repaired") || !strings.Contains(l, "key=FB-"+a) || !strings.Contains(l, "column=cores was=99 now=1") {
		t.Fatalf("log lacks the repair:\n%s", l)
	}
	expect(t, row(t, db, "assets", "asset_no", "FB-"+a), map[string]string{"cores": "1"})
}

// A dry run lists the exact rows a reconcile would insert, update and
// decommission, and writes nothing; the real reconcile then does exactly
// that.
func testDryRun(t *testing.T, srv *server) {
	dsn, db := srv.database(t, "dry")
	f := newFleet(t)
	s := newSyncer(t, Config{Source: f.inv, DSN: dsn})
	a := f.create("a-01", "10.2.0.1")
	b := f.create("b-01", "10.2.0.2")
	hand := f.create("h-01", "10.2.0.3")
	syncOnce(t, s)
	n := f.create("n-01", "10.2.0.4")
	f.put("a-01", func(r *inventory.Record) { r.MemoryMiB = 2048 })
	f.remove("b-01")
	mustExec(t, db, "UPDATE fatbox_vm SET owner = 'mallory' WHERE id = ?", hand)
	before := checksum(t, db, "fatbox_vm", "1") + checksum(t, db, "fatbox_sync_position", "1")

	dry, err := s.DryRun(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after := checksum(t, db, "fatbox_vm", "1") + checksum(t, db, "fatbox_sync_position", "1"); after != before {
		t.Fatal("the dry run wrote")
	}
	if !dry.DryRun || len(dry.Inserts) != 1 || dry.Inserts[0].Key != n || len(dry.Decommissions) != 1 || dry.Decommissions[0].Key != b ||
		len(dry.Updates) != 2 || dry.Unchanged != 0 {
		t.Fatalf("dry run:\n%s", dry)
	}
	text := dry.String()
	for _, w := range []string{"[dry run: nothing written]", "insert id=" + n + " (n-01, id " + n + "): id=" + n + ", name=n-01, hostname=n-01, ip=10.2.0.4",
		"update id=" + a + " (a-01, id " + a + "): memory_mib 1024 -> 2048, changed_at ",
		"repair id=" + hand + " (h-01, id " + hand + "): owner mallory -> ops",
		"decommission id=" + b + " (b-01, id " + b + "): status running -> decommissioned, changed_at ", "decommissioned_at NULL -> 20"} {
		if !strings.Contains(text, w) {
			t.Errorf("dry-run text lacks %q:\n%s", w, text)
		}
	}
	js, err := json.Marshal(dry)
	if err != nil || !strings.Contains(string(js), `"dry_run":true`) || !strings.Contains(string(js), `"column":"owner","was":"mallory","now":"ops"`) {
		t.Fatalf("JSON: %s %v", js, err)
	}
	done, err := s.Reconcile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dry.DryRun = false
	if a, b := dry.String(), done.String(); a != b {
		t.Fatalf("reconcile did other than its dry run:\n%s\nvs\n%s", b, a)
	}
}

// A crash right after a commit (the AfterCommit failpoint: the syncer
// stops dead there, as the daemon does under kill -9): a new syncer
// resumes exactly at the stored position, writes no row twice, misses no
// change. A trigger logs every row write to prove it.
func testCrashAfterCommit(t *testing.T, srv *server) {
	dsn, db := srv.database(t, "crash")
	if _, err := Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "CREATE TABLE audit (n INT AUTO_INCREMENT PRIMARY KEY, id CHAR(36) NOT NULL, content TEXT NOT NULL)")
	content := "CONCAT_WS('|', NEW.name, NEW.status, NEW.memory_mib, NEW.cpus, NEW.owner, NEW.changed_at, IFNULL(NEW.decommissioned_at, '-'))"
	mustExec(t, db, "CREATE TRIGGER audit_ins AFTER INSERT ON fatbox_vm FOR EACH ROW INSERT INTO audit (id, content) VALUES (NEW.id, "+content+")")
	mustExec(t, db, "CREATE TRIGGER audit_upd AFTER UPDATE ON fatbox_vm FOR EACH ROW INSERT INTO audit (id, content) VALUES (NEW.id, "+content+")")

	f := newFleet(t)
	for _, n := range []string{"a-01", "b-01", "c-01", "d-01"} {
		f.create(n, "")
		f.put(n, func(r *inventory.Record) { r.MemoryMiB = 2048 })
	}
	f.stop("a-01")
	f.put("b-01", func(r *inventory.Record) { r.Owner = "pay" })

	crashed := make(chan uint64, 1)
	hang := make(chan struct{})
	a := newSyncer(t, Config{Source: f.inv, DSN: dsn, BatchSize: 3, AfterCommit: func(seq uint64) {
		select {
		case crashed <- seq:
			<-hang // dead: nothing after the commit runs
		default:
		}
	}})
	doneA := make(chan struct{})
	go func() { defer close(doneA); _, _ = a.SyncOnce(context.Background()) }()
	t.Cleanup(func() { close(hang); <-doneA })
	var at uint64
	select {
	case at = <-crashed:
	case <-time.After(10 * time.Second):
		t.Fatal("the failpoint was never reached")
	}
	if at != 3 || count(t, db, "SELECT seq FROM fatbox_sync_position") != 3 {
		t.Fatalf("crashed at %d; position %d", at, count(t, db, "SELECT seq FROM fatbox_sync_position"))
	}
	// The rows at the crash are exactly events 1..3 applied.
	if n := count(t, db, "SELECT COUNT(*) FROM fatbox_vm"); n != 2 {
		t.Fatalf("%d rows after events 1..3, want 2 (a-01, b-01)", n)
	}

	// More changes while "dead", then a new syncer (a restarted daemon).
	f.put("c-01", func(r *inventory.Record) { r.MemoryMiB = 4096 })
	f.remove("d-01")
	b := newSyncer(t, Config{Source: f.inv, DSN: dsn, BatchSize: 3})
	p := syncOnce(t, b)
	if p.FromSeq != at || p.ToSeq != f.lastSeq() {
		t.Fatalf("restart resumed at %d..%d, want %d..%d", p.FromSeq, p.ToSeq, at, f.lastSeq())
	}
	// Nothing missed: a dry reconcile finds every row true.
	if dry, err := b.DryRun(context.Background()); err != nil || !dry.Empty() || dry.Unchanged != 4 {
		t.Fatalf("after the restart: %v\n%s", err, dry)
	}
	// No row written twice: each write of a row carries content it never
	// had before (a replayed event would write an older state again).
	rows, err := db.Query("SELECT id, content FROM audit ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	writes := 0
	for rows.Next() {
		var id, c string
		if err := rows.Scan(&id, &c); err != nil {
			t.Fatal(err)
		}
		if seen[id+c] {
			t.Errorf("row %s written twice with %s", id, c)
		}
		seen[id+c] = true
		writes++
	}
	t.Logf("%d row writes for %d events, crash after event %d", writes, f.lastSeq(), at)
}

// Containers trading addresses within one batch, under a UNIQUE ip column:
// the row giving an address up is written before the row taking it, and a
// swap is done through NULL.
func testUniqueOrder(t *testing.T, srv *server) {
	dsn, db, m := assets(t, srv, "error")
	f := newFleet(t)
	s := newSyncer(t, Config{Source: f.inv, DSN: dsn, Mapping: m})
	a := f.create("a-01", "10.4.0.1")
	b := f.create("b-01", "10.4.0.2")
	syncOnce(t, s)
	// b takes a's address (its event first), a moves to a free one.
	f.put("b-01", func(r *inventory.Record) { r.IP = "10.4.0.1" })
	f.put("a-01", func(r *inventory.Record) { r.IP = "10.4.0.3" })
	f.put("a-01", func(r *inventory.Record) { r.Owner = "x" }) // (an event: IP changes carry none)
	f.put("b-01", func(r *inventory.Record) { r.Owner = "x" })
	if _, err := s.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	expect(t, row(t, db, "assets", "asset_no", "FB-"+a), map[string]string{"ip_address": "10.4.0.3"})
	expect(t, row(t, db, "assets", "asset_no", "FB-"+b), map[string]string{"ip_address": "10.4.0.1"})
	// A swap.
	f.put("a-01", func(r *inventory.Record) { r.IP = "10.4.0.1" })
	f.put("b-01", func(r *inventory.Record) { r.IP = "10.4.0.3" })
	if _, err := s.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	expect(t, row(t, db, "assets", "asset_no", "FB-"+a), map[string]string{"ip_address": "10.4.0.1"})
	expect(t, row(t, db, "assets", "asset_no", "FB-"+b), map[string]string{"ip_address": "10.4.0.3"})
}
