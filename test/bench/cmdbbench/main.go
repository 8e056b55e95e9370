// Command cmdbbench is the Go half of test/bench/cmdb.sh: against a MariaDB
// at -addr (root, no password) it times cmdbsync's full sync of -n records
// and an incremental sync of -changes changes among them, each beside a
// plain loop over the same rows in the same run: INSERT ... ON DUPLICATE KEY
// UPDATE, one statement per row, -batch rows per transaction (and, for
// reference, the same with -batch rows in one multi-row statement).
//
// The inventory is a real inventory.Inventory on memstore, filled through
// its own Create and Put (so every container has its "created" event), so
// the sync's time includes reading records and events from it. Each figure
// is the median of -rounds rounds; both sides write into empty tables of the
// default schema in their own databases.
//
//	cmdbbench -addr 127.0.0.1:3306 [-n 10000] [-changes 10] [-batch 500] [-rounds 3]
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fatbox/fatbox/cmdbsync"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store/memstore"
)

func main() {
	addr := flag.String("addr", "", "MariaDB address host:port (root, no password)")
	n := flag.Int("n", 10000, "records")
	changes := flag.Int("changes", 10, "changes for the incremental sync")
	batch := flag.Int("batch", 500, "rows per transaction in the plain loop")
	rounds := flag.Int("rounds", 3, "rounds per figure (the median is printed)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run here")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cmdbbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *addr == "" {
		fmt.Fprintln(os.Stderr, "cmdbbench: -addr is required")
		os.Exit(2)
	}
	if err := run(*addr, *n, *changes, *batch, *rounds); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "cmdbbench:", err)
		os.Exit(1)
	}
}

func dsn(addr, db string) string { return fmt.Sprintf("root@tcp(%s)/%s", addr, db) }

func run(addr string, n, changes, batch, rounds int) error {
	ctx := context.Background()
	root, err := cmdbsync.Open(dsn(addr, "mysql"))
	if err != nil {
		return err
	}
	defer root.Close()

	inv := &inventory.Inventory{Store: memstore.New()}
	t0 := time.Now()
	for i := range n {
		name := fmt.Sprintf("vm-%05d", i)
		ip := fmt.Sprintf("10.%d.%d.%d", 20+i/65536, i/256%256, i%256)
		r := inventory.Record{Name: name, Hostname: name, Pool: "prod", IP: ip, MAC: "02:fb:00:00:00:00", Node: "host-1",
			Image: "debian12-fat", ImageID: "sha256:0123", VCPUs: 2, CPUs: 1.5, MemoryMiB: 2048, DiskMiB: 20480,
			Owner: "ops", App: "app" + strconv.Itoa(i%50), Env: "prod", Status: inventory.StatusCreating}
		if err := inv.Create(ctx, r); err != nil {
			return err
		}
		r, _ = inv.Get(ctx, name)
		r.Status = inventory.StatusRunning
		if err := inv.Put(ctx, r); err != nil {
			return err
		}
	}
	fmt.Printf("inventory: %d records, %d events on memstore (filled in %s, not timed)\n", n, mustSeq(inv), time.Since(t0).Round(time.Millisecond))

	sdb, err := fresh(ctx, root, addr, "bench_sync")
	if err != nil {
		return err
	}
	defer sdb.Close()
	pdb, err := fresh(ctx, root, addr, "bench_plain")
	if err != nil {
		return err
	}
	defer pdb.Close()
	syncer, err := cmdbsync.New(cmdbsync.Config{Source: inv, DSN: dsn(addr, "bench_sync")})
	if err != nil {
		return err
	}
	defer syncer.Close()
	if err := syncer.Check(ctx); err != nil {
		return err
	}

	// Full sync: an empty table each round, both sides.
	var full, plain, multi []time.Duration
	for r := range rounds {
		for _, db := range []*sql.DB{sdb, pdb} {
			if _, err := db.ExecContext(ctx, "TRUNCATE TABLE fatbox_vm"); err != nil {
				return err
			}
		}
		if _, err := sdb.ExecContext(ctx, "DELETE FROM fatbox_sync_position"); err != nil {
			return err
		}
		order := []func() error{
			func() error {
				t := time.Now()
				p, err := syncer.Reconcile(ctx)
				if err != nil {
					return err
				}
				full = append(full, time.Since(t))
				if len(p.Inserts) != n {
					return fmt.Errorf("full sync inserted %d rows, want %d", len(p.Inserts), n)
				}
				return nil
			},
			func() error {
				rows, err := rowsOf(ctx, inv, nil)
				if err != nil {
					return err
				}
				t := time.Now()
				if err := upsertLoop(ctx, pdb, rows, batch); err != nil {
					return err
				}
				plain = append(plain, time.Since(t))
				return nil
			},
		}
		if r%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, f := range order {
			if err := f(); err != nil {
				return err
			}
		}
		if _, err := pdb.ExecContext(ctx, "TRUNCATE TABLE fatbox_vm"); err != nil {
			return err
		}
		rows, err := rowsOf(ctx, inv, nil)
		if err != nil {
			return err
		}
		t := time.Now()
		if err := upsertMulti(ctx, pdb, rows, batch); err != nil {
			return err
		}
		multi = append(multi, time.Since(t))
	}
	if err := same(ctx, sdb, pdb); err != nil {
		return err
	}
	fmt.Printf("\n== full sync of %d records into an empty table (median of %d)\n", n, rounds)
	fmt.Printf("%-62s %10s\n", "cmdbsync Reconcile (read inventory+events, read rows, insert)", ms(median(full)))
	fmt.Printf("%-62s %10s\n", fmt.Sprintf("plain loop: upsert per row, %d rows/txn", batch), ms(median(plain)))
	fmt.Printf("%-62s %10s\n", fmt.Sprintf("plain loop: one %d-row upsert statement/txn (reference)", batch), ms(median(multi)))
	fmt.Printf("ratio cmdbsync / plain loop: %.2f   (goal <= 1.5)\n", float64(median(full))/float64(median(plain)))
	fmt.Printf("ratio cmdbsync / multi-row loop: %.2f\n", float64(median(full))/float64(median(multi)))

	// A full reconcile with nothing to do (the timer's steady cost).
	t := time.Now()
	p, err := syncer.Reconcile(ctx)
	if err != nil {
		return err
	}
	if !p.Empty() {
		return fmt.Errorf("an idle reconcile wrote:\n%s", p.Summary())
	}
	fmt.Printf("%-62s %10s\n", "cmdbsync Reconcile, nothing to change", ms(time.Since(t)))
	if _, err := syncer.SyncOnce(ctx); err != nil {
		return err
	}

	// Incremental: changes among the records, then one pass.
	var inc, incPlain []time.Duration
	for range max(rounds, 5) {
		var changed []string
		seen := map[int]bool{}
		for len(changed) < changes {
			i := rand.IntN(n)
			if seen[i] {
				continue
			}
			seen[i] = true
			name := fmt.Sprintf("vm-%05d", i)
			r, err := inv.Get(ctx, name)
			if err != nil {
				return err
			}
			r.MemoryMiB += 1024
			if err := inv.Put(ctx, r); err != nil {
				return err
			}
			changed = append(changed, name)
		}
		t := time.Now()
		p, err := syncer.SyncOnce(ctx)
		if err != nil {
			return err
		}
		inc = append(inc, time.Since(t))
		if len(p.Updates) != changes {
			return fmt.Errorf("incremental pass updated %d rows, want %d", len(p.Updates), changes)
		}
		rows, err := rowsOf(ctx, inv, changed)
		if err != nil {
			return err
		}
		t = time.Now()
		if err := upsertLoop(ctx, pdb, rows, batch); err != nil {
			return err
		}
		incPlain = append(incPlain, time.Since(t))
	}
	if err := same(ctx, sdb, pdb); err != nil {
		return err
	}
	fmt.Printf("\n== incremental sync of %d changes among %d records (median of %d)\n", changes, n, len(inc))
	fmt.Printf("%-62s %10s   (goal <= 50 ms)\n", "cmdbsync SyncOnce (events after the position, one txn)", ms(median(inc)))
	fmt.Printf("%-62s %10s\n", "plain loop: upsert the changed rows, one txn", ms(median(incPlain)))
	fmt.Printf("ratio cmdbsync / plain loop: %.2f\n", float64(median(inc))/float64(median(incPlain)))
	return nil
}

func mustSeq(inv *inventory.Inventory) uint64 {
	s, _ := inv.LastSeq(context.Background())
	return s
}

// fresh makes an empty database with the default schema.
func fresh(ctx context.Context, root *sql.DB, addr, name string) (*sql.DB, error) {
	if _, err := root.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
		return nil, err
	}
	if _, err := root.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, err
	}
	db, err := cmdbsync.Open(dsn(addr, name))
	if err != nil {
		return nil, err
	}
	if _, err := cmdbsync.Migrate(ctx, db); err != nil {
		return nil, err
	}
	return db, nil
}

var cols = []string{"id", "name", "hostname", "ip", "mac", "node", "pool", "image", "vcpus", "cpus", "memory_mib", "disk_mib",
	"swap_mib", "owner", "app", "env", "labels", "status", "created_at", "changed_at", "decommissioned_at"}

// rowsOf builds the default schema's rows straight from the records (only
// names, if given): what the plain loop writes.
func rowsOf(ctx context.Context, inv *inventory.Inventory, names []string) ([][]any, error) {
	recs, err := inv.List(ctx)
	if err != nil {
		return nil, err
	}
	evs, err := inv.Events(ctx, 0, 0)
	if err != nil {
		return nil, err
	}
	changed := map[string]time.Time{}
	for _, e := range evs {
		changed[e.ContainerID] = e.Time
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000") }
	nul := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	var out [][]any
	for _, r := range recs {
		if names != nil && !want[r.Name] {
			continue
		}
		out = append(out, []any{r.ID, r.Name, r.Hostname, nul(r.IP), nul(r.MAC), nul(r.Node), nul(r.Pool), nul(r.Image),
			r.VCPUs, strconv.FormatFloat(r.CPUs, 'f', 2, 64), r.MemoryMiB, r.DiskMiB, r.SwapMiB, nul(r.Owner), nul(r.App), nul(r.Env),
			nil, r.Status, ts(r.CreatedAt), ts(changed[r.ID]), nil})
	}
	return out, nil
}

func upsertSQL(rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	var upd []string
	for _, c := range cols[1:] {
		upd = append(upd, c+" = VALUES("+c+")")
	}
	return "INSERT INTO fatbox_vm (" + strings.Join(cols, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(one+",", rows), ",") + " ON DUPLICATE KEY UPDATE " + strings.Join(upd, ", ")
}

// upsertLoop is the plain loop: one INSERT ... ON DUPLICATE KEY UPDATE per
// row (a statement prepared once per transaction), batch rows per txn.
func upsertLoop(ctx context.Context, db *sql.DB, rows [][]any, batch int) error {
	for start := 0; start < len(rows); start += batch {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx, upsertSQL(1))
		if err != nil {
			tx.Rollback()
			return err
		}
		for _, r := range rows[start:min(start+batch, len(rows))] {
			if _, err := st.ExecContext(ctx, r...); err != nil {
				tx.Rollback()
				return err
			}
		}
		st.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// upsertMulti sends batch rows in one statement, one statement per txn.
func upsertMulti(ctx context.Context, db *sql.DB, rows [][]any, batch int) error {
	for start := 0; start < len(rows); start += batch {
		part := rows[start:min(start+batch, len(rows))]
		var args []any
		for _, r := range part {
			args = append(args, r...)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, upsertSQL(len(part)), args...); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// same checks that both sides hold the same rows.
func same(ctx context.Context, a, b *sql.DB) error {
	q := "SELECT " + strings.Join(cols, ", ") + " FROM fatbox_vm ORDER BY id"
	dump := func(db *sql.DB) ([]string, error) {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return nil, err
			}
			out = append(out, fmt.Sprint(vals))
		}
		return out, rows.Err()
	}
	x, err := dump(a)
	if err != nil {
		return err
	}
	y, err := dump(b)
	if err != nil {
		return err
	}
	if len(x) != len(y) {
		return fmt.Errorf("the sync holds %d rows, the plain loop %d", len(x), len(y))
	}
	for i := range x {
		if x[i] != y[i] {
			return fmt.Errorf("rows differ:\nsync  %s\nplain %s", x[i], y[i])
		}
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
