package inventory

import (
	"context"
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory/store/memstore"
)

// TestUsagePeriods: each sample keeps the totals as of the period's last
// sample, under the period it was taken in; an older sample never
// overwrites a newer one.
func TestUsagePeriods(t *testing.T) {
	ctx := context.Background()
	inv := &Inventory{Store: memstore.New(), UsagePeriod: time.Hour}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rec := func(v uint64, at time.Time) {
		t.Helper()
		if _, err := inv.RecordUsage(ctx, "c1", "web-01", map[string]Reading{UsageCPUNanos: {Value: v, Epoch: "e1"}}, at); err != nil {
			t.Fatal(err)
		}
	}
	rec(10, t0.Add(5*time.Minute))
	rec(20, t0.Add(59*time.Minute))
	rec(35, t0.Add(61*time.Minute))
	// A sample older than the kept one (written late) changes nothing.
	if err := inv.RecordPeriod(ctx, Usage{ContainerID: "c1", Name: "web-01", SampledAt: t0.Add(10 * time.Minute),
		Counters: map[string]UsageCounter{UsageCPUNanos: {Last: 12}}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	all, err := inv.UsagePeriods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps := all["c1"]
	if len(ps) != 2 {
		t.Fatalf("snapshots = %+v, want 2", ps)
	}
	if !ps[0].Start.Equal(t0) || ps[0].Total(UsageCPUNanos) != 20 || !ps[0].FirstAt.Equal(t0.Add(5*time.Minute)) || !ps[0].LastAt.Equal(t0.Add(59*time.Minute)) {
		t.Errorf("first period = %+v", ps[0])
	}
	if !ps[1].Start.Equal(t0.Add(time.Hour)) || ps[1].Total(UsageCPUNanos) != 35 || ps[1].PeriodSeconds != 3600 {
		t.Errorf("second period = %+v", ps[1])
	}
	if n, err := inv.PruneUsagePeriods(ctx, "c1"); err != nil || n != 2 {
		t.Errorf("prune = %d, %v; want 2", n, err)
	}
	// Without UsagePeriod nothing is kept per period.
	inv.UsagePeriod = 0
	rec(40, t0.Add(2*time.Hour))
	if all, _ := inv.UsagePeriods(ctx); len(all) != 0 {
		t.Errorf("snapshots without a period: %+v", all)
	}
}

// Periods are aligned on the Unix epoch, whatever their length.
func TestPeriodStart(t *testing.T) {
	for _, c := range []struct {
		t      int64
		period time.Duration
		want   int64
	}{{3601, time.Hour, 3600}, {20, 7 * time.Second, 14}, {1764640000, 7 * time.Second, 1764640000 - 1764640000%7}, {-1, 7 * time.Second, -7}} {
		if got := PeriodStart(time.Unix(c.t, 5), c.period); got.Unix() != c.want || got.Location() != time.UTC {
			t.Errorf("PeriodStart(%d, %v) = %v, want %d", c.t, c.period, got.Unix(), c.want)
		}
	}
}

// A removed container's period snapshots go with its events.
func TestPrunePeriodsWithEvents(t *testing.T) {
	ctx := context.Background()
	inv := &Inventory{Store: memstore.New(), UsagePeriod: time.Hour}
	if err := inv.Create(ctx, Record{Name: "p-01", Status: StatusCreating}); err != nil {
		t.Fatal(err)
	}
	r, err := inv.Get(ctx, "p-01")
	if err != nil {
		t.Fatal(err)
	}
	r.Status = StatusRunning
	if err := inv.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.RecordUsage(ctx, r.ID, r.Name, map[string]Reading{UsageCPUNanos: {Value: 5}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := inv.Delete(ctx, "p-01"); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.PruneEvents(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if all, err := inv.UsagePeriods(ctx); err != nil || len(all) != 0 {
		t.Fatalf("snapshots after the prune: %v, %v", all, err)
	}
}
