package inventory

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/inventory/store/memstore"
)

// The reset rules on one counter, step by step: a container boots (epoch
// a), is read, restarts (epoch b) and is read again, and so on.
func TestUsageApply(t *testing.T) {
	const n = UsageNetBytesOut
	var u Usage
	steps := []struct {
		what      string
		value     uint64
		epoch     string
		total     uint64
		base      uint64
		resets    uint64
		wantEpoch string
	}{
		{"first reading", 100, "a", 100, 0, 0, "a"},
		{"grows", 250, "a", 250, 0, 0, "a"},
		{"no change", 250, "a", 250, 0, 0, "a"},
		// A restart whose new counter is already past the old one when
		// first read: only the epoch tells; the value rule alone would
		// give 300 and lose 250.
		{"restart, new counter already larger", 300, "b", 550, 250, 1, "b"},
		{"grows again", 400, "b", 650, 250, 1, "b"},
		// A restart whose counter is below the last reading.
		{"restart, new counter smaller", 10, "c", 660, 650, 2, "c"},
		// No epoch (unreadable): the value rule alone.
		{"no epoch, smaller", 5, "", 665, 660, 3, ""},
		{"no epoch, larger", 50, "", 710, 660, 3, ""},
		{"epoch again after none, larger", 70, "d", 730, 660, 3, "d"},
	}
	for _, s := range steps {
		u.Apply(map[string]Reading{n: {Value: s.value, Epoch: s.epoch}})
		c := u.Counters[n]
		if u.Total(n) != s.total || c.Base != s.base || c.Resets != s.resets || c.Epoch != s.wantEpoch || c.Last != s.value {
			t.Fatalf("%s: %+v (total %d), want total %d base %d resets %d epoch %q", s.what, c, u.Total(n), s.total, s.base, s.resets, s.wantEpoch)
		}
	}
	// Counters are independent: one read alone leaves the others.
	u.Apply(map[string]Reading{UsageCPUNanos: {Value: 7, Epoch: "x"}})
	if u.Total(n) != 730 || u.Total(UsageCPUNanos) != 7 || u.Total(UsageOOMKills) != 0 {
		t.Fatalf("after reading another counter: %+v", u.Counters)
	}
}

// Totals never go down, whatever order of boots and readings, as long as
// readings of one container are applied in the order they were taken.
func TestUsageTotalsOnlyGrow(t *testing.T) {
	var u Usage
	var prev uint64
	value, epoch := uint64(0), 0
	for i := range 1000 {
		switch i % 7 {
		case 3: // a restart: a new epoch, the counter from 0
			epoch++
			value = 0
		default:
			value += uint64(i % 5)
		}
		u.Apply(map[string]Reading{UsageCPUNanos: {Value: value, Epoch: string(rune('a' + epoch%26))}})
		if got := u.Total(UsageCPUNanos); got < prev {
			t.Fatalf("step %d: total went down from %d to %d", i, prev, got)
		} else {
			prev = got
		}
	}
}

// RecordUsage keeps the counters in the store by container ID, through
// restarts, and a reading of nothing writes nothing.
func TestRecordUsage(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	inv := &Inventory{Store: st}
	const id = "0192a8e4-0000-7000-8000-000000000001"
	if u, err := inv.Usage(ctx, id); err != nil || !u.SampledAt.IsZero() || u.Total(UsageCPUNanos) != 0 || u.ContainerID != id {
		t.Fatalf("never read: %+v %v", u, err)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	read := func(at time.Duration, name string, cpu uint64, epoch string) Usage {
		t.Helper()
		u, err := inv.RecordUsage(ctx, id, name, map[string]Reading{UsageCPUNanos: {Value: cpu, Epoch: epoch}}, t0.Add(at))
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	read(0, "web-01", 1000, "a")
	read(time.Minute, "web-01", 5000, "a")        // the final reading of a stop
	u := read(2*time.Minute, "web-02", 9000, "b") // renamed, started again, ran past the old counter
	if u.Total(UsageCPUNanos) != 14000 || u.Name != "web-02" || !u.FirstAt.Equal(t0) || !u.SampledAt.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("after a restart: %+v", u)
	}
	kv, err := st.Get(ctx, UsagePrefix+id)
	if err != nil {
		t.Fatalf("not stored at %s%s: %v", UsagePrefix, id, err)
	}
	got, err := inv.Usage(ctx, id)
	if err != nil || got.Total(UsageCPUNanos) != 14000 {
		t.Fatalf("read back: %+v %v", got, err)
	}
	// Nothing read (a stopped container): nothing written.
	if u, err := inv.RecordUsage(ctx, id, "web-02", nil, t0.Add(time.Hour)); err != nil || u.Total(UsageCPUNanos) != 14000 {
		t.Fatalf("empty reading: %+v %v", u, err)
	}
	if kv2, _ := st.Get(ctx, UsagePrefix+id); kv2.Version != kv.Version {
		t.Fatalf("an empty reading wrote the key (version %d → %d)", kv.Version, kv2.Version)
	}
	for _, bad := range []string{"", "a/b", "x\x00"} {
		if _, err := inv.RecordUsage(ctx, bad, "n", map[string]Reading{UsageCPUNanos: {Value: 1}}, t0); !errors.Is(err, ErrInvalid) {
			t.Errorf("id %q: %v, want ErrInvalid", bad, err)
		}
		if _, err := inv.Usage(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Usage(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

// racingStore lets another writer change the usage key between a
// RecordUsage's read and its write, once.
type racingStore struct {
	store.Store
	once  sync.Once
	other func()
}

func (r *racingStore) Put(ctx context.Context, key string, value []byte, version uint64) (uint64, error) {
	r.once.Do(r.other)
	return r.Store.Put(ctx, key, value, version)
}

// A write that races another loses its CAS and is applied again on the
// value the other wrote: neither reading is lost or counted twice.
func TestRecordUsageCAS(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New()
	const id = "0192a8e4-0000-7000-8000-000000000002"
	plain := &Inventory{Store: mem}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if _, err := plain.RecordUsage(ctx, id, "db-01", map[string]Reading{UsageNetBytesIn: {Value: 100, Epoch: "a"}}, t0); err != nil {
		t.Fatal(err)
	}
	rs := &racingStore{Store: mem}
	rs.other = func() {
		// Another writer (say the daemon's sampler of a second process)
		// records the end of boot a.
		if _, err := plain.RecordUsage(ctx, id, "db-01", map[string]Reading{UsageNetBytesIn: {Value: 300, Epoch: "a"}}, t0.Add(time.Second)); err != nil {
			t.Error(err)
		}
	}
	racing := &Inventory{Store: rs}
	u, err := racing.RecordUsage(ctx, id, "db-01", map[string]Reading{UsageNetBytesIn: {Value: 50, Epoch: "b"}}, t0.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if u.Total(UsageNetBytesIn) != 350 || u.Counters[UsageNetBytesIn].Base != 300 {
		t.Fatalf("after a raced write: %+v, want 300 from boot a and 50 from boot b", u.Counters[UsageNetBytesIn])
	}
}
