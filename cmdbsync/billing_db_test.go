package cmdbsync

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory"
)

// billSource is a BillingSource a test writes events and snapshots into.
type billSource struct {
	mu     sync.Mutex
	events []inventory.Event
	snaps  map[string][]inventory.PeriodSnapshot
}

func (s *billSource) Events(ctx context.Context, after uint64, limit int) ([]inventory.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]inventory.Event(nil), s.events...), nil
}

func (s *billSource) UsagePeriods(ctx context.Context) (map[string][]inventory.PeriodSnapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]inventory.PeriodSnapshot{}
	for k, v := range s.snaps {
		out[k] = append([]inventory.PeriodSnapshot(nil), v...)
	}
	return out, nil
}

func (s *billSource) add(t time.Time, kind, id, status string, cpus float64, mem, disk int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev(uint64(len(s.events)+1), t, kind, id, status, cpus, mem, disk))
}

func (s *billSource) sample(id string, at time.Time, period time.Duration, cpuSec float64, in, out uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snaps == nil {
		s.snaps = map[string][]inventory.PeriodSnapshot{}
	}
	p := snap(id, inventory.PeriodStart(at, period), at, at, cpuSec, in, out)
	ps := s.snaps[id]
	if n := len(ps); n > 0 && ps[n-1].Start.Equal(p.Start) {
		p.FirstAt = ps[n-1].FirstAt
		ps[n-1] = p
	} else {
		ps = append(ps, p)
	}
	s.snaps[id] = ps
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// billedRows reads the billing table, by container and period.
func billedRows(t *testing.T, db *sql.DB) map[string]BillingRow {
	t.Helper()
	rows, err := db.Query("SELECT container_id, name, period_start, period_end, vcpu_hours, memory_gib_hours, disk_gib_hours, cpu_seconds, net_bytes_in, net_bytes_out, late FROM fatbox_billing")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]BillingRow{}
	for rows.Next() {
		var r BillingRow
		var ps, pe string
		if err := rows.Scan(&r.ContainerID, &r.Name, &ps, &pe, &r.VCPUHours, &r.MemoryGiBHours, &r.DiskGiBHours, &r.CPUSeconds, &r.NetBytesIn, &r.NetBytesOut, &r.Late); err != nil {
			t.Fatal(err)
		}
		r.PeriodStart, _ = time.ParseInLocation("2006-01-02 15:04:05", ps, time.UTC)
		r.PeriodEnd, _ = time.ParseInLocation("2006-01-02 15:04:05", pe, time.UTC)
		out[rowKey(r)] = r
	}
	return out
}

func rowKey(r BillingRow) string { return r.ContainerID + "@" + r.PeriodStart.Format(time.RFC3339) }

// sameRows checks the table holds exactly want.
func sameRows(t *testing.T, db *sql.DB, want []BillingRow) {
	t.Helper()
	got := billedRows(t, db)
	if n := count(t, db, "SELECT COUNT(*) FROM fatbox_billing"); n != len(want) || len(got) != len(want) {
		t.Fatalf("%d rows in the table, want %d", n, len(want))
	}
	for _, w := range want {
		g, ok := got[rowKey(w)]
		near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
		if !ok || g.Name != w.Name || !g.PeriodEnd.Equal(w.PeriodEnd) || !near(g.VCPUHours, w.VCPUHours) || !near(g.MemoryGiBHours, w.MemoryGiBHours) ||
			!near(g.DiskGiBHours, w.DiskGiBHours) || !near(g.CPUSeconds, w.CPUSeconds) || g.NetBytesIn != w.NetBytesIn || g.NetBytesOut != w.NetBytesOut || g.Late != w.Late {
			t.Errorf("row %s:\n got %+v\nwant %+v", rowKey(w), g, w)
		}
	}
}

// auditInserts logs every insert into the billing table, to prove none is
// repeated (the primary key would refuse one, and the trigger sees only
// committed ones).
func auditInserts(t *testing.T, db *sql.DB) {
	t.Helper()
	if _, err := MigrateBilling(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "CREATE TABLE billing_audit (n INT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(128) NOT NULL)")
	mustExec(t, db, "CREATE TRIGGER billing_audit_ins AFTER INSERT ON fatbox_billing FOR EACH ROW INSERT INTO billing_audit (k) VALUES (CONCAT(NEW.container_id, '@', NEW.period_start))")
}

func checkAudit(t *testing.T, db *sql.DB, want int) {
	t.Helper()
	if n, d := count(t, db, "SELECT COUNT(*) FROM billing_audit"), count(t, db, "SELECT COUNT(DISTINCT k) FROM billing_audit"); n != want || d != want {
		t.Fatalf("%d inserts of %d keys, want %d of %d", n, d, want, want)
	}
}

func newBiller(t *testing.T, cfg BillingConfig) *Biller {
	t.Helper()
	b, err := NewBiller(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func billOnce(t *testing.T, b *Biller) int {
	t.Helper()
	n, err := b.BillOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBilling(t *testing.T) {
	srv := startServer(t)
	t.Run("ExactlyOnce", func(t *testing.T) { testBillingExactlyOnce(t, srv) })
	t.Run("CrashAfterCommit", func(t *testing.T) { testBillingCrashAfterCommit(t, srv) })
	t.Run("Kill9", func(t *testing.T) { testBillingKill9(t, srv) })
	t.Run("Mapping", func(t *testing.T) { testBillingMapping(t, srv) })
	t.Run("BadMapping", func(t *testing.T) { testBillingBadMapping(t, srv) })
	t.Run("Outage", func(t *testing.T) { testBillingOutage(t, srv) }) // last: it stops the server
}

// Four periods of one hour; each is billed once it has ended plus the
// grace, exactly once, whatever the repeats, clock steps and restarts.
func testBillingExactlyOnce(t *testing.T, srv *server) {
	dsn, db := srv.database(t, "billing")
	auditInserts(t, db)
	const R, S = inventory.StatusRunning, inventory.StatusStopped
	src := &billSource{}
	src.add(at(0, 15), inventory.EventCreated, "a", R, 2, 2048, 10240)
	src.add(at(0, 30), inventory.EventCreated, "b", R, 1, 1024, 1024)
	src.add(at(0, 45), inventory.EventResized, "a", R, 4, 4096, 10240)
	src.add(at(1, 30), inventory.EventStopped, "a", S, 4, 4096, 10240)
	src.add(at(2, 20), inventory.EventRemoved, "a", S, 4, 4096, 10240)
	src.add(at(3, 10), inventory.EventStopped, "b", S, 1, 1024, 1024)
	src.sample("a", at(0, 59), time.Hour, 30, 1000, 10)
	src.sample("a", at(1, 0), time.Hour, 30, 1000, 10) // the minute sampler
	src.sample("a", at(1, 29), time.Hour, 90, 1500, 20)
	src.sample("b", at(2, 0), time.Hour, 5, 0, 0)
	clk := &clock{t: at(0, 50)}
	b := newBiller(t, BillingConfig{Source: src, DSN: dsn, Now: clk.Now, Grace: time.Minute})

	if n := billOnce(t, b); n != 0 || count(t, db, "SELECT COUNT(*) FROM fatbox_billing_watermark") != 0 {
		t.Fatalf("billed %d rows before the first period ended", n)
	}
	clk.set(at(1, 0).Add(30 * time.Second)) // ended, within the grace
	if n := billOnce(t, b); n != 0 {
		t.Fatalf("billed %d rows within the grace", n)
	}
	clk.set(at(1, 1))
	if n := billOnce(t, b); n != 2 {
		t.Fatalf("billed %d rows for 10h, want 2", n)
	}
	// 10h, worked by hand: a: 0.5h*2 + 0.25h*4 = 2 vCPU-h, 2 GiB-h, 7.5 disk GiB-h, 30 s;
	// b: 0.5h: 0.5, 0.5, 0.5 (1 GiB disk), no sample.
	want := []BillingRow{
		{ContainerID: "a", Name: "c-a", PeriodStart: at(0, 0), PeriodEnd: at(1, 0), VCPUHours: 2, MemoryGiBHours: 2, DiskGiBHours: 7.5, CPUSeconds: 30, NetBytesIn: 1000, NetBytesOut: 10},
		{ContainerID: "b", Name: "c-b", PeriodStart: at(0, 0), PeriodEnd: at(1, 0), VCPUHours: 0.5, MemoryGiBHours: 0.5, DiskGiBHours: 0.5},
	}
	sameRows(t, db, want)
	// Again, and the clock stepped back: nothing.
	if n := billOnce(t, b); n != 0 {
		t.Fatalf("billed %d rows again", n)
	}
	clk.set(at(-5, 0))
	if n := billOnce(t, b); n != 0 {
		t.Fatalf("billed %d rows with the clock stepped back", n)
	}
	// The clock steps forward past the other three: a new biller (a
	// restarted daemon) bills 11h, 12h and 13h, once.
	clk.set(at(4, 5))
	b2 := newBiller(t, BillingConfig{Source: src, DSN: dsn, Now: clk.Now, Grace: time.Minute})
	if n := billOnce(t, b2); n != 5 {
		t.Fatalf("billed %d rows for 11h..13h, want 5", n)
	}
	// 11h a: 0.5h*4 = 2, 2, 10, 60 s; b: 1, 1, 1.
	// 12h a: stopped 20 min: disk 10/3; b: 1, 1, 1, 5 s (its first sample).
	// 13h b: running 10 min: 1/6, 1/6, disk 1.
	want = append(want,
		BillingRow{ContainerID: "a", Name: "c-a", PeriodStart: at(1, 0), PeriodEnd: at(2, 0), VCPUHours: 2, MemoryGiBHours: 2, DiskGiBHours: 10, CPUSeconds: 60, NetBytesIn: 500, NetBytesOut: 10},
		BillingRow{ContainerID: "b", Name: "c-b", PeriodStart: at(1, 0), PeriodEnd: at(2, 0), VCPUHours: 1, MemoryGiBHours: 1, DiskGiBHours: 1},
		BillingRow{ContainerID: "a", Name: "c-a", PeriodStart: at(2, 0), PeriodEnd: at(3, 0), DiskGiBHours: 3.333333},
		// (b's first sample came 90 min after it was created, running:
		// by the rule its usage is first observed in 12h, flagged late.)
		BillingRow{ContainerID: "b", Name: "c-b", PeriodStart: at(2, 0), PeriodEnd: at(3, 0), VCPUHours: 1, MemoryGiBHours: 1, DiskGiBHours: 1, CPUSeconds: 5, Late: true},
		BillingRow{ContainerID: "b", Name: "c-b", PeriodStart: at(3, 0), PeriodEnd: at(4, 0), VCPUHours: 0.166667, MemoryGiBHours: 0.166667, DiskGiBHours: 1},
	)
	sameRows(t, db, want)
	if n := billOnce(t, b); n != 0 {
		t.Fatalf("the first biller billed %d rows again", n)
	}
	checkAudit(t, db, len(want))
	if st := b2.Status(); !st.BilledUntil.Equal(at(4, 0)) || st.Due != 0 || st.Rows != 5 {
		t.Fatalf("status %+v", st)
	}
	// Billing switched on with Start (another database) bills nothing
	// before Start's period: 12h and 13h only.
	dsn2, db2 := srv.database(t, "billstart")
	b4 := newBiller(t, BillingConfig{Source: src, DSN: dsn2, Now: clk.Now, Start: at(2, 30)})
	if n := billOnce(t, b4); n != 3 {
		t.Fatalf("billed %d rows from 12h, want 3 (a and b at 12h, b at 13h)", n)
	}
	sameRows(t, db2, want[4:])
	// Another period length on the same target is refused, saying how.
	b3 := newBiller(t, BillingConfig{Source: src, DSN: dsn, Now: clk.Now, Rules: BillingRules{Period: 30 * time.Minute}})
	if _, err := b3.BillOnce(context.Background()); err == nil {
		t.Fatal("a changed period was accepted")
	} else {
		t.Log(err)
	}
}

// fleetSource is a deterministic history of n containers over periods
// periods of length period from start: created, resized, stopped, started,
// removed at pseudo-random times, with samples.
func fleetSource(n, periods, removeOneIn int, start time.Time, period time.Duration) *billSource {
	r := rand.New(rand.NewPCG(uint64(n), uint64(periods)))
	src := &billSource{}
	type ev struct {
		t    time.Time
		kind string
		id   string
	}
	end := start.Add(time.Duration(periods) * period)
	for i := range n {
		id := fmt.Sprintf("c%03d", i)
		t := start.Add(time.Duration(r.Int64N(int64(end.Sub(start)) / 4)))
		cpus, mem := float64(1+r.IntN(4)), int64(512*(1+r.IntN(8)))
		src.add(t, inventory.EventCreated, id, inventory.StatusRunning, cpus, mem, 4096)
		running := true
		var cpu float64
		for {
			t = t.Add(time.Duration(r.Int64N(int64(period) * 3)))
			if !t.Before(end) {
				break
			}
			switch r.IntN(4) {
			case 0:
				cpus = float64(1 + r.IntN(4))
				src.add(t, inventory.EventResized, id, statusOf(running), cpus, mem, 4096)
			case 1:
				running = !running
				kind := inventory.EventStopped
				if running {
					kind = inventory.EventStarted
				}
				src.add(t, kind, id, statusOf(running), cpus, mem, 4096)
			case 2:
				if running {
					cpu += float64(r.IntN(100))
					src.sample(id, t, period, cpu, uint64(cpu)*1000, uint64(cpu)*10)
				}
			case 3:
				if r.IntN(removeOneIn) == 0 {
					src.add(t, inventory.EventRemoved, id, statusOf(running), cpus, mem, 4096)
					t = end
				}
			}
		}
	}
	// The log is in time order, as the inventory writes it.
	src.mu.Lock()
	evs := src.events
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0 && evs[j].Time.Before(evs[j-1].Time); j-- {
			evs[j], evs[j-1] = evs[j-1], evs[j]
		}
	}
	for i := range evs {
		evs[i].Seq = uint64(i + 1)
	}
	src.mu.Unlock()
	return src
}

func statusOf(running bool) string {
	if running {
		return inventory.StatusRunning
	}
	return inventory.StatusStopped
}

// A crash right after a commit (the AfterCommit hook: the biller stops
// dead there): a new biller goes on from the stored watermark; every
// container-period is in the table once, none twice.
func testBillingCrashAfterCommit(t *testing.T, srv *server) {
	dsn, db := srv.database(t, "billcrash")
	auditInserts(t, db)
	start := at(0, 0)
	src := fleetSource(6, 8, 3, start, time.Hour)
	clk := &clock{t: at(8, 5)}
	crashed := make(chan uint64, 1)
	hang := make(chan struct{})
	var once sync.Once
	a := newBiller(t, BillingConfig{Source: src, DSN: dsn, Now: clk.Now, AfterCommit: func(p uint64) {
		if p >= uint64(at(2, 0).Unix()) {
			once.Do(func() { crashed <- p; <-hang })
		}
	}})
	doneA := make(chan struct{})
	go func() { defer close(doneA); _, _ = a.BillOnce(context.Background()) }()
	t.Cleanup(func() { close(hang); <-doneA })
	select {
	case p := <-crashed:
		t.Logf("crashed after billing the period of %s", time.Unix(int64(p), 0).UTC())
	case <-time.After(10 * time.Second):
		t.Fatal("the failpoint was never reached")
	}
	b := newBiller(t, BillingConfig{Source: src, DSN: dsn, Now: clk.Now})
	billOnce(t, b)
	want := ComputeBilling(src.events, src.snaps, start, at(8, 0), BillingRules{})
	sameRows(t, db, want)
	checkAudit(t, db, len(want))
	t.Logf("%d rows for 6 containers over 8 periods", len(want))
}

// The writer killed with SIGKILL at a random moment, 20 times: a child
// process (this test binary, TestBillingChild) bills a long history and is
// killed; the next child goes on. Then one runs to the end: every
// container-period once, none twice.
func testBillingKill9(t *testing.T, srv *server) {
	dsn, db := srv.database(t, "billkill")
	auditInserts(t, db)
	for i := range 20 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBillingChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "FATBOX_BILLING_CHILD_DSN="+dsn)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rand.IntN(400)) * time.Millisecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Logf("kill %d: %d rows", i+1, count(t, db, "SELECT COUNT(*) FROM fatbox_billing"))
	}
	src, now := childSource()
	b := newBiller(t, BillingConfig{Source: src, DSN: dsn, Now: func() time.Time { return now }, Rules: BillingRules{Period: time.Minute}, Grace: time.Second})
	billOnce(t, b)
	want := ComputeBilling(src.events, src.snaps, at(0, 0), now.Truncate(time.Minute), BillingRules{Period: time.Minute})
	sameRows(t, db, want)
	checkAudit(t, db, len(want))
	t.Logf("%d rows", len(want))
}

// childSource is the kill test's history: 40 containers over 600 periods
// of a minute.
func childSource() (*billSource, time.Time) {
	return fleetSource(40, 600, 40, at(0, 0), time.Minute), at(10, 0).Add(2 * time.Second)
}

// TestBillingChild is the process testBillingKill9 kills (it does nothing
// unless started by it).
func TestBillingChild(t *testing.T) {
	dsn := os.Getenv("FATBOX_BILLING_CHILD_DSN")
	if dsn == "" {
		return
	}
	src, now := childSource()
	b := newBiller(t, BillingConfig{Source: src, DSN: dsn, Now: func() time.Time { return now }, Rules: BillingRules{Period: time.Minute}, Grace: time.Second})
	billOnce(t, b)
}

// The database stopped across two periods while containers change size:
// Run retries with backoff (Status shows it), then bills the missed
// periods in order, exactly once.
func testBillingOutage(t *testing.T, srv *server) {
	dsn, db := srv.database(t, "billoutage")
	auditInserts(t, db)
	const R = inventory.StatusRunning
	src := &billSource{}
	src.add(at(0, 0), inventory.EventCreated, "x", R, 1, 1024, 1024)
	src.add(at(0, 10), inventory.EventCreated, "y", R, 2, 2048, 2048)
	clk := &clock{t: at(1, 2)}
	b := newBiller(t, BillingConfig{Source: src, DSN: dsn, Now: clk.Now, PollInterval: 20 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 10*time.Second, "10h billed", func() bool { return b.Status().BilledUntil.Equal(at(1, 0)) })

	srv.m.Stop()
	src.add(at(1, 15), inventory.EventResized, "x", R, 3, 3072, 1024)
	src.add(at(2, 30), inventory.EventResized, "y", R, 1, 1024, 2048)
	src.sample("x", at(1, 50), time.Hour, 100, 0, 0)
	clk.set(at(3, 2)) // 11h and 12h end while it is down
	waitFor(t, 10*time.Second, "3 failures", func() bool { return b.Status().Failures >= 3 })
	if st := b.Status(); st.Connected || st.LastError == "" || !st.BilledUntil.Equal(at(1, 0)) {
		t.Fatalf("status while down: %+v", st)
	}
	srv.m.Restart(t)
	waitFor(t, 30*time.Second, "the catch-up", func() bool { st := b.Status(); return st.BilledUntil.Equal(at(3, 0)) && st.Failures == 0 })
	// Worked by hand: x 10h 1,1,1; 11h 0.25h*1 + 0.75h*3 = 2.5 vCPU-h,
	// 2.5 GiB-h, disk 1, 100 s (late: its first sample, 110 min after it
	// was created); 12h 3, 3, 1.
	// y 10h 50 min: 2*5/6, 2*5/6, 2*5/6; 11h 2, 2, 2; 12h 0.5*2 + 0.5*1 = 1.5, 1.5, 2.
	want := []BillingRow{
		{ContainerID: "x", Name: "c-x", PeriodStart: at(0, 0), PeriodEnd: at(1, 0), VCPUHours: 1, MemoryGiBHours: 1, DiskGiBHours: 1},
		{ContainerID: "y", Name: "c-y", PeriodStart: at(0, 0), PeriodEnd: at(1, 0), VCPUHours: 1.666667, MemoryGiBHours: 1.666667, DiskGiBHours: 1.666667},
		{ContainerID: "x", Name: "c-x", PeriodStart: at(1, 0), PeriodEnd: at(2, 0), VCPUHours: 2.5, MemoryGiBHours: 2.5, DiskGiBHours: 1, CPUSeconds: 100, Late: true},
		{ContainerID: "y", Name: "c-y", PeriodStart: at(1, 0), PeriodEnd: at(2, 0), VCPUHours: 2, MemoryGiBHours: 2, DiskGiBHours: 2},
		{ContainerID: "x", Name: "c-x", PeriodStart: at(2, 0), PeriodEnd: at(3, 0), VCPUHours: 3, MemoryGiBHours: 3, DiskGiBHours: 1},
		{ContainerID: "y", Name: "c-y", PeriodStart: at(2, 0), PeriodEnd: at(3, 0), VCPUHours: 1.5, MemoryGiBHours: 1.5, DiskGiBHours: 2},
	}
	sameRows(t, db, want)
	checkAudit(t, db, len(want))
}
