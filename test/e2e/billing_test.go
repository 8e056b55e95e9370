package e2e

// Billing end to end (issue 14's second and third bullets): the real
// daemon writes one row per container per period into a real MariaDB while
// real containers are created, resized, stopped and removed across four
// and more short "simulated hours" (periods of 6 s); the daemon is killed
// -9 at the billing failpoint (after a commit) and started again. Every
// container-period is in the table exactly once with the figures this test
// computes on its own from the event log, and `fatbox usage -o csv` prints
// the table's rows to the character.

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/cmdbsync"
	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
)

const (
	billingNet       = "198.19.135.0/24"
	billingOutageNet = "198.19.136.0/24"
	billingPeriod    = 6 * time.Second
)

func TestBilling(t *testing.T) {
	if os.Getenv(cmdbsync.BillingFailpointEnv) != "" {
		t.Fatalf("%s is set in the test's environment: unset it", cmdbsync.BillingFailpointEnv)
	}
	t.Run("Lifecycle", testBillingLifecycle)
	t.Run("Outage", testBillingOutage)
}

// newBillingEnv is a daemon billing into a fresh database of srv, in
// periods of billingPeriod, with every insert into the billing table
// recorded by a trigger in its transaction.
func newBillingEnv(t *testing.T, srv *cmdbServer, cidr, db string) (*cmdbEnv, *cmdbDB) {
	d := srv.database(t, db)
	e := newCMDBEnv(t, cidr, fmt.Sprintf(`billing:
  dsn: %q
  target: e2e
  period: %s
  grace: 1s
  late_gap: 1m
  sample_interval: 1s
`, d.dsn, billingPeriod))
	// The table is made by the daemon's first pass.
	e2ekit.WaitFor(t, 30*time.Second, "the billing table", func() bool {
		return d.count(t, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'fatbox_billing'") == 1
	})
	d.exec(t, "CREATE TABLE billing_inserts (n INT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(128) NOT NULL)")
	d.exec(t, "CREATE TRIGGER billing_inserts AFTER INSERT ON fatbox_billing FOR EACH ROW INSERT INTO billing_inserts (k) VALUES (CONCAT(NEW.container_id, '@', NEW.period_start))")
	return e, d
}

// nextPeriod sleeps into the next period (a second after its start).
func nextPeriod() {
	now := time.Now()
	time.Sleep(now.Truncate(billingPeriod).Add(billingPeriod + time.Second).Sub(now))
}

// billingWatermark is the billed-until time stored with the rows.
func billingWatermark(t *testing.T, d *cmdbDB) time.Time {
	t.Helper()
	var s string
	if err := d.db.QueryRow("SELECT period_end FROM fatbox_billing_watermark WHERE target = 'e2e'").Scan(&s); err != nil {
		t.Fatal(err)
	}
	w, _ := time.ParseInLocation("2006-01-02 15:04:05", s, time.UTC)
	return w
}

// waitBilled waits until the daemon has billed every period before until.
func waitBilled(t *testing.T, e *cmdbEnv, until time.Time, within time.Duration) api.BillingStatus {
	t.Helper()
	var st api.Status
	e2ekit.WaitFor(t, within, "billing past "+until.Format(time.RFC3339), func() bool {
		s, err := e.c.Status(t.Context())
		st = s
		return err == nil && s.Billing != nil && !s.Billing.BilledUntil.Before(until) && s.Billing.Failures == 0
	})
	return *st.Billing
}

func testBillingLifecycle(t *testing.T) {
	t.Parallel()
	srv := startCMDBServer(t)
	e, d := newBillingEnv(t, srv, billingNet, "billing")
	a := e.create("bill-a", "--cpus", "1")
	b := e.create("bill-b", "--cpus", "0.5")
	nextPeriod()
	e.ok("update", "bill-a", "--cpus", "2", "--memory", "192M")
	nextPeriod()
	e.ok("stop", "bill-b")
	nextPeriod()
	e.ok("rm", "bill-a")
	c := e.create("bill-c")
	// A process in bill-c spins for 2 s: its CPU time is in bill-c's rows.
	r := fatbox(t, "exec", "bill-c", "--socket", e.sock, "--", "bash", "-c", `timeout 2 sh -c "while :; do :; done"; times`)
	if r.Code != 0 {
		t.Fatalf("spin: exit %d: %s%s", r.Code, r.Stdout, r.Stderr)
	}
	var spun time.Duration
	if lines := strings.Split(strings.TrimSpace(r.Stdout), "\n"); len(lines) == 2 {
		for _, f := range strings.Fields(lines[1]) { // children: "0m1.953s 0m0.004s"
			d, err := time.ParseDuration(f)
			if err != nil {
				t.Fatalf("spin: times printed %q: %v", lines[1], err)
			}
			spun += d
		}
	}
	if spun < 100*time.Millisecond {
		t.Fatalf("spin: the spinner got %s of CPU (%q): the host is too loaded to tell", spun, r.Stdout)
	}
	nextPeriod()
	e.ok("start", "bill-b")
	e.ok("update", "bill-c", "--memory", "256M")

	// The daemon stops dead after the commit of a period still to come,
	// and is killed -9 there; another takes over.
	from := time.Now().Truncate(billingPeriod).Add(billingPeriod)
	mark := filepath.Join(e.dir, "billing-failpoint.mark")
	e.restart([]string{fmt.Sprintf("%s=after-commit:%d", cmdbsync.BillingFailpointEnv, from.Unix()), cmdbsync.FailpointMarkEnv + "=" + mark})
	var got []byte
	e2ekit.WaitFor(t, 40*time.Second, "the billing failpoint's marker", func() bool {
		bs, err := os.ReadFile(mark)
		got = bs
		return err == nil
	})
	var at uint64
	var pid int
	if _, err := fmt.Sscanf(string(got), "after-commit %d %d\n", &at, &pid); err != nil || pid != e.d.Cmd.Process.Pid || at < uint64(from.Unix()) {
		t.Fatalf("marker %q: want \"after-commit <period start >= %d> %d\" (%v)", got, from.Unix(), e.d.Cmd.Process.Pid, err)
	}
	if w := billingWatermark(t, d); w.Unix() != int64(at)+int64(billingPeriod/time.Second) {
		t.Fatalf("watermark %s at the failpoint; the commit was of the period at %d", w, at)
	}
	e.d.Kill9(t)
	t.Logf("killed -9 after billing the period of %s", time.Unix(int64(at), 0).UTC())
	e.restart(nil)
	// Two more periods billed by the new daemon.
	st := waitBilled(t, e, time.Unix(int64(at), 0).UTC().Add(3*billingPeriod), 60*time.Second)
	if out := e.ok("status").Stdout; !strings.Contains(out, "billing:   e2e → ") {
		t.Errorf("fatbox status shows no billing line:\n%s", out)
	}
	w := billingWatermark(t, d)
	t.Logf("billed until %s; status %+v", w, st)
	table := checkBilling(t, e, d, w)

	perID := map[string]int{}
	cpu := map[string]float64{}
	for _, r := range table {
		perID[r.Name]++
		cpu[r.Name] += r.CPUSeconds
	}
	if cpu["bill-c"] < spun.Seconds() {
		t.Errorf("bill-c billed %.3f CPU seconds; a process in it spun for %s of CPU", cpu["bill-c"], spun)
	}
	t.Logf("CPU seconds billed: %v (bill-c's spinner: %s)", cpu, spun)
	t.Logf("%d rows: %v (a %s, b %s, c %s)", len(table), perID, a.ID, b.ID, c.ID)
	if perID["bill-a"] < 4 || perID["bill-b"] < 4 {
		t.Errorf("bill-a and bill-b should span at least four periods each: %v", perID)
	}

	// And one container's, by name (a removed one: from the event log).
	first := w
	for _, r := range table {
		if r.PeriodStart.Before(first) {
			first = r.PeriodStart
		}
	}
	var u api.Usage
	if err := json.Unmarshal([]byte(e.ok("usage", "bill-a", "--from", first.Format(time.RFC3339), "--to", w.Format(time.RFC3339), "-o", "json").Stdout), &u); err != nil {
		t.Fatal(err)
	}
	if len(u.Rows) != perID["bill-a"] {
		t.Errorf("fatbox usage bill-a: %d rows, the table has %d", len(u.Rows), perID["bill-a"])
	}
}

// checkBilling checks the table up to the watermark w: every insert
// happened once; every container-period the event log says exists has its
// row with the figures worked out independently, and no other; and
// `fatbox usage -o csv` prints exactly the table's rows.
func checkBilling(t *testing.T, e *cmdbEnv, d *cmdbDB, w time.Time) map[string]billRow {
	t.Helper()
	// Every insert happened once (one statement: one snapshot, while the
	// daemon goes on billing).
	var n, k, rows int
	if err := d.db.QueryRow("SELECT (SELECT COUNT(*) FROM billing_inserts), (SELECT COUNT(DISTINCT k) FROM billing_inserts), (SELECT COUNT(*) FROM fatbox_billing)").Scan(&n, &k, &rows); err != nil {
		t.Fatal(err)
	}
	if n != k || n != rows {
		t.Fatalf("%d inserts of %d keys for %d rows: a row was written twice", n, k, rows)
	}
	// Every container-period the event log says exists, with its figures;
	// none else.
	want := independentBilling(e.events(), w)
	table := billingTable(t, d, w)
	for k, wr := range want {
		g, ok := table[k]
		if !ok {
			t.Errorf("no row for %s (a gap): want %+v", k, wr)
			continue
		}
		near := func(x, y float64) bool { return math.Abs(x-y) < 2e-6 }
		if !near(g.VCPUHours, wr.VCPUHours) || !near(g.MemoryGiBHours, wr.MemoryGiBHours) || !near(g.DiskGiBHours, wr.DiskGiBHours) || g.Late {
			t.Errorf("row %s:\n got %+v\nwant %+v", k, g, wr)
		}
	}
	for k := range table {
		if _, ok := want[k]; !ok {
			t.Errorf("row %s in the table; the event log has no such container-period", k)
		}
	}
	// fatbox usage prints the table's rows, as the table keeps them.
	first := time.Unix(1<<62, 0)
	for _, r := range table {
		if r.PeriodStart.Before(first) {
			first = r.PeriodStart
		}
	}
	out := e.ok("usage", "--from", first.Format(time.RFC3339), "--to", w.Format(time.RFC3339), "-o", "csv").Stdout
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("fatbox usage -o csv: %v\n%s", err, out)
	}
	dump := tableCSV(t, d, w)
	sort.Slice(recs[1:], func(i, j int) bool { return strings.Join(recs[1+i], ",") < strings.Join(recs[1+j], ",") })
	if got := strings.Join(flatten(recs[1:]), "\n"); got != strings.Join(dump, "\n") {
		t.Errorf("fatbox usage -o csv differs from the table:\n%s\ntable:\n%s", got, strings.Join(dump, "\n"))
	}
	return table
}

type billRow struct {
	Name                                    string
	PeriodStart                             time.Time
	VCPUHours, MemoryGiBHours, DiskGiBHours float64
	CPUSeconds                              float64
	Late                                    bool
}

// independentBilling works out the rows of every period that ends by w
// from the events alone, its own way: each period is cut at the events
// inside it, and each piece takes the state of the last event at or
// before its middle.
func independentBilling(evs []api.Event, w time.Time) map[string]billRow {
	byID := map[string][]api.Event{}
	for _, ev := range evs {
		byID[ev.ContainerID] = append(byID[ev.ContainerID], ev)
	}
	out := map[string]billRow{}
	for id, es := range byID {
		for p := es[0].Time.Truncate(billingPeriod); p.Add(billingPeriod).Compare(w) <= 0; p = p.Add(billingPeriod) {
			end := p.Add(billingPeriod)
			cuts := []time.Time{p, end}
			for _, ev := range es {
				if ev.Time.After(p) && ev.Time.Before(end) {
					cuts = append(cuts, ev.Time)
				}
			}
			sort.Slice(cuts, func(i, j int) bool { return cuts[i].Before(cuts[j]) })
			r := billRow{PeriodStart: p}
			existed := false
			for i := 0; i+1 < len(cuts); i++ {
				mid := cuts[i].Add(cuts[i+1].Sub(cuts[i]) / 2)
				var st *api.Event
				for j := range es {
					if !es[j].Time.After(mid) {
						st = &es[j]
					}
				}
				if st == nil || st.Kind == "removed" {
					continue
				}
				h := cuts[i+1].Sub(cuts[i]).Hours()
				existed = existed || h > 0
				r.Name = st.Name
				r.DiskGiBHours += float64(st.Container.DiskMiB) / 1024 * h
				if st.Container.Status == "running" {
					r.VCPUHours += st.Container.CPUs * h
					r.MemoryGiBHours += float64(st.Container.MemoryMiB) / 1024 * h
				}
			}
			if existed {
				out[id+"@"+seconds(p)] = r
			}
		}
	}
	return out
}

// billingTable reads the rows of the periods that end by w.
func billingTable(t *testing.T, d *cmdbDB, w time.Time) map[string]billRow {
	t.Helper()
	rs, err := d.db.Query("SELECT container_id, name, period_start, vcpu_hours, memory_gib_hours, disk_gib_hours, cpu_seconds, late FROM fatbox_billing WHERE period_end <= ?", seconds(w))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	out := map[string]billRow{}
	for rs.Next() {
		var id, ps string
		var r billRow
		if err := rs.Scan(&id, &r.Name, &ps, &r.VCPUHours, &r.MemoryGiBHours, &r.DiskGiBHours, &r.CPUSeconds, &r.Late); err != nil {
			t.Fatal(err)
		}
		r.PeriodStart, _ = time.ParseInLocation("2006-01-02 15:04:05", ps, time.UTC)
		out[id+"@"+ps] = r
	}
	return out
}

// tableCSV is the table's rows that end by w as fatbox usage -o csv
// writes them (sorted lines, without the header).
func tableCSV(t *testing.T, d *cmdbDB, w time.Time) []string {
	t.Helper()
	rs, err := d.db.Query("SELECT container_id, name, period_start, period_end, vcpu_hours, memory_gib_hours, disk_gib_hours, cpu_seconds, net_bytes_in, net_bytes_out, late FROM fatbox_billing WHERE period_end <= ?", seconds(w))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var recs [][]string
	for rs.Next() {
		v := make([]string, 11)
		p := make([]any, 11)
		for i := range v {
			p[i] = &v[i]
		}
		if err := rs.Scan(p...); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, v)
	}
	lines := flatten(recs)
	sort.Strings(lines)
	return lines
}

func flatten(recs [][]string) []string {
	var out []string
	for _, r := range recs {
		out = append(out, strings.Join(r, ","))
	}
	return out
}

// The billing database stopped across two periods while a container
// changes size: the daemon's status says it fails; once the database is
// back every period is billed once, with the sizes in force in each part
// of it, and fatbox usage agrees with the table.
func testBillingOutage(t *testing.T) {
	t.Parallel()
	srv := startCMDBServer(t) // its own: this test stops it
	e, d := newBillingEnv(t, srv, billingOutageNet, "billing_outage")
	o := e.create("bill-o", "--cpus", "1")
	nextPeriod()
	waitBilled(t, e, time.Now().Truncate(billingPeriod), 30*time.Second)

	srv.m.Stop()
	down := time.Now().Truncate(billingPeriod)
	e.ok("update", "bill-o", "--cpus", "2")
	nextPeriod()
	e.ok("update", "bill-o", "--memory", "256M")
	nextPeriod()
	// Two periods have ended while it is down.
	e2ekit.WaitFor(t, 30*time.Second, "the billing loop failing", func() bool {
		s, err := e.c.Status(t.Context())
		return err == nil && s.Billing != nil && s.Billing.Failures >= 2 && !s.Billing.Connected
	})
	if out := e.ok("status").Stdout; !strings.Contains(out, "FAILING") {
		t.Errorf("fatbox status does not show billing failing:\n%s", out)
	}
	if w := time.Now().Truncate(billingPeriod); w.Sub(down) < 2*billingPeriod {
		t.Fatalf("only %s passed while the database was down", w.Sub(down))
	}
	srv.m.Restart(t)
	st := waitBilled(t, e, time.Now().Truncate(billingPeriod), 60*time.Second)
	w := billingWatermark(t, d)
	t.Logf("caught up to %s after the outage from %s; status %+v", w, down, st)
	table := checkBilling(t, e, d, w)
	// The period before the outage, the two during it (one at each size
	// change), and any the daemon billed since.
	if n := len(table); n < 3 {
		t.Errorf("%d rows of bill-o (%s); want at least 3 periods", n, o.ID)
	}
}
