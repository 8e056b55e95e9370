package cmdbsync

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store/memstore"
	"github.com/fatbox/fatbox/test/harness"
)

// fleet drives a real inventory on memstore the way the engine does, so
// the events are the inventory's own.
type fleet struct {
	t   *testing.T
	ctx context.Context
	inv *inventory.Inventory
}

func newFleet(t *testing.T) *fleet {
	return &fleet{t: t, ctx: context.Background(), inv: &inventory.Inventory{Store: memstore.New()}}
}

func macOf(ip string) string {
	p := net.ParseIP(ip).To4()
	if p == nil {
		return ""
	}
	return fmt.Sprintf("02:fb:%02x:%02x:%02x:%02x", p[0], p[1], p[2], p[3])
}

// create makes a running container (its first boot: the "created" event).
func (f *fleet) create(name, ip string, mut ...func(*inventory.Record)) string {
	f.t.Helper()
	r := inventory.Record{Name: name, Hostname: name, Pool: "prod", IP: ip, MAC: macOf(ip), Node: "host-1",
		Image: "debian12-fat", ImageID: "sha256:0123", VCPUs: 1, CPUs: 1, MemoryMiB: 1024, DiskMiB: 10240,
		Owner: "ops", App: "web", Env: "prod", Status: inventory.StatusCreating}
	for _, m := range mut {
		m(&r)
	}
	if err := f.inv.Create(f.ctx, r); err != nil {
		f.t.Fatal(err)
	}
	f.put(name, func(r *inventory.Record) { r.Status = inventory.StatusRunning })
	return f.get(name).ID
}

func (f *fleet) get(name string) inventory.Record {
	f.t.Helper()
	r, err := f.inv.Get(f.ctx, name)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fleet) put(name string, fn func(*inventory.Record)) {
	f.t.Helper()
	r := f.get(name)
	fn(&r)
	if err := f.inv.Put(f.ctx, r); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fleet) stop(name string) {
	f.put(name, func(r *inventory.Record) { r.Status = inventory.StatusStopping })
	f.put(name, func(r *inventory.Record) { r.Status = inventory.StatusStopped })
}

func (f *fleet) start(name string) {
	f.put(name, func(r *inventory.Record) { r.Status = inventory.StatusRunning })
}

func (f *fleet) rename(name, to string) {
	f.t.Helper()
	ops, err := f.inv.RenameOps(f.ctx, name, to)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.inv.Store.Txn(f.ctx, ops); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fleet) remove(name string) {
	f.t.Helper()
	f.put(name, func(r *inventory.Record) { r.Status = inventory.StatusRemoving })
	if err := f.inv.Delete(f.ctx, name); err != nil {
		f.t.Fatal(err)
	}
}

// lastEvent is the newest event of a container.
func (f *fleet) lastEvent(id string) inventory.Event {
	f.t.Helper()
	evs, err := f.inv.Events(f.ctx, 0, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].ContainerID == id {
			return evs[i]
		}
	}
	f.t.Fatalf("no event of %s", id)
	return inventory.Event{}
}

func (f *fleet) lastSeq() uint64 {
	s, err := f.inv.LastSeq(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// server is a MariaDB the tests make databases in.
type server struct {
	m    *harness.MariaDB
	root *sql.DB
	n    int
}

func startServer(t *testing.T) *server {
	m := harness.StartMariaDB(t)
	root, err := Open(fmt.Sprintf("root@tcp(%s)/mysql", m.Addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return &server{m: m, root: root}
}

// database makes a fresh database and returns its DSN and a connection.
func (s *server) database(t *testing.T, name string) (string, *sql.DB) {
	t.Helper()
	s.n++
	name = fmt.Sprintf("%s_%d", name, s.n)
	if _, err := s.root.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	dsn := s.m.DSN(name)
	db, err := Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return dsn, db
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// row reads one row as column -> text (nil: NULL).
func row(t *testing.T, db *sql.DB, table, keyCol, key string) map[string]*string {
	t.Helper()
	rows, err := db.Query("SELECT * FROM "+table+" WHERE "+keyCol+" = ?", key)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		return nil
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	out := map[string]*string{}
	for i, c := range cols {
		if vals[i].Valid {
			v := vals[i].String
			out[c] = &v
		} else {
			out[c] = nil
		}
	}
	return out
}

// expect checks columns of a row; "NULL" means NULL.
func expect(t *testing.T, r map[string]*string, want map[string]string) {
	t.Helper()
	if r == nil {
		t.Fatalf("no row; want %v", want)
	}
	for c, w := range want {
		v, ok := r[c]
		if !ok {
			t.Errorf("no column %s", c)
			continue
		}
		got := "NULL"
		if v != nil {
			got = *v
		}
		if got != w {
			t.Errorf("column %s = %q, want %q", c, got, w)
		}
	}
}

func count(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// checksum is a digest of a table's rows (those WHERE cond).
func checksum(t *testing.T, db *sql.DB, table, cond string) string {
	t.Helper()
	rows, err := db.Query("SELECT * FROM " + table + " WHERE " + cond + " ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, vals)
	}
	return b.String()
}

func dbTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000") }

func newSyncer(t *testing.T, cfg Config) *Syncer {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func syncOnce(t *testing.T, s *Syncer) *Plan {
	t.Helper()
	p, err := s.SyncOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// logBuf is a slog handler's output that tests read.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
