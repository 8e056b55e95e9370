package inventory

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory/store/memstore"
)

func kinds(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

// Each change appends its events in the same transaction, with the cause
// the context carries and the record after the change; a create that never
// finished records nothing.
func TestEventLog(t *testing.T) {
	ctx := context.Background()
	inv := &Inventory{Store: memstore.New()}
	uid := uint32(1000)
	api := WithCause(ctx, Cause{Kind: CauseAPI, UID: &uid})

	if err := inv.Create(ctx, Record{Name: "gone", Status: StatusCreating}); err != nil {
		t.Fatal(err)
	}
	if err := inv.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if evs, err := inv.Events(ctx, 0, 0); err != nil || len(evs) != 0 {
		t.Fatalf("a create that never finished recorded %v, %v", kinds(evs), err)
	}

	r := Record{Name: "web-01", Status: StatusCreating, CPUs: 1, MemoryMiB: 512, DiskMiB: 1024}
	if err := inv.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	r, _ = inv.Get(ctx, "web-01")
	id := r.ID
	step := func(c context.Context, f func(*Record)) {
		t.Helper()
		r, err := inv.Get(ctx, "web-01")
		if err != nil {
			t.Fatal(err)
		}
		f(&r)
		if err := inv.Put(c, r); err != nil {
			t.Fatal(err)
		}
	}
	step(api, func(r *Record) { r.Status = StatusRunning })
	step(api, func(r *Record) { r.Status = StatusStopping })
	step(api, func(r *Record) { r.Status = StatusStopped })
	step(ctx, func(r *Record) { r.Status = StatusRunning })
	step(api, func(r *Record) { r.MemoryMiB, r.Owner = 2048, "alice" }) // two events, one change
	step(api, func(r *Record) { r.Labels = map[string]string{"team": "pay"} })
	ops, err := inv.RenameOps(api, "web-01", "web-02")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Store.Txn(ctx, ops); err != nil {
		t.Fatal(err)
	}
	if err := inv.Delete(api, "web-02"); err != nil {
		t.Fatal(err)
	}
	evs, err := inv.Events(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{EventCreated, EventStopped, EventStarted, EventResized, EventLabels, EventLabels, EventRenamed, EventRemoved}
	if fmt.Sprint(kinds(evs)) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", kinds(evs), want)
	}
	for n, e := range evs {
		if e.Seq != uint64(n+1) || e.ContainerID != id || e.Time.IsZero() {
			t.Errorf("event %d: seq %d id %q (want %q) time %v", n, e.Seq, e.ContainerID, id, e.Time)
		}
	}
	if evs[0].Cause.Kind != CauseAPI || evs[0].Cause.UID == nil || *evs[0].Cause.UID != 1000 {
		t.Errorf("created: cause %+v, want the API's uid 1000", evs[0].Cause)
	}
	if evs[2].Cause.Kind != CauseReconcile {
		t.Errorf("a change without a request: cause %+v, want reconcile", evs[2].Cause)
	}
	if evs[3].Record.MemoryMiB != 2048 || evs[5].Record.Labels["team"] != "pay" {
		t.Errorf("events do not carry the sizes and labels after the change: %+v / %+v", evs[3].Record, evs[5].Record)
	}
	if evs[6].From != "web-01" || evs[6].Name != "web-02" || evs[7].Record.Name != "web-02" {
		t.Errorf("rename/remove: %+v / %+v", evs[6], evs[7])
	}
	if tail, err := inv.Events(ctx, 6, 0); err != nil || len(tail) != 2 || tail[0].Seq != 7 {
		t.Errorf("Events after 6: %v, %v", kinds(tail), err)
	}
	if two, err := inv.Events(ctx, 0, 2); err != nil || len(two) != 2 {
		t.Errorf("Events limit 2: %v, %v", kinds(two), err)
	}

	// Retention: a removed container's events go once past the cutoff;
	// the counter never goes back.
	if n, err := inv.PruneEvents(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("prune before the cutoff: %d, %v", n, err)
	}
	if n, err := inv.PruneEvents(ctx, time.Now().Add(time.Hour)); err != nil || n != len(evs) {
		t.Fatalf("prune after: %d, %v; want %d", n, err, len(evs))
	}
	if last, err := inv.LastSeq(ctx); err != nil || last != uint64(len(evs)) {
		t.Fatalf("LastSeq after prune: %d, %v", last, err)
	}
}

// Concurrent writers of different records share the counter: every event
// gets its own number, none is lost, none is reused.
func TestEventSeqConcurrent(t *testing.T) {
	ctx := context.Background()
	inv := &Inventory{Store: memstore.New()}
	const n = 16
	for k := 0; k < n; k++ {
		if err := inv.Create(ctx, Record{Name: fmt.Sprintf("c%d", k), Status: StatusStopped}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for k := 0; k < n; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			r, err := inv.Get(ctx, fmt.Sprintf("c%d", k))
			if err == nil {
				r.Status = StatusRunning
				err = inv.Put(ctx, r)
			}
			errs <- err
		}(k)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	evs, err := inv.Events(ctx, 0, 0)
	if err != nil || len(evs) != n {
		t.Fatalf("%d events, %v; want %d", len(evs), err, n)
	}
	seen := map[uint64]bool{}
	for _, e := range evs {
		if seen[e.Seq] || e.Seq < 1 || e.Seq > n {
			t.Fatalf("sequence %d duplicated or out of range", e.Seq)
		}
		seen[e.Seq] = true
	}
}

// A change of the ulimits in force is a resize: set on a stopped
// container, or applied by the start after an update left them pending.
// Limits left pending on a running container are not in force yet.
func TestChangeEventsUlimits(t *testing.T) {
	lo := map[string]Ulimit{"nofile": {Soft: 1024, Hard: 1024}}
	hi := map[string]Ulimit{"nofile": {Soft: 65536, Hard: 65536}}
	run := Record{Name: "a", Status: StatusRunning, Ulimits: lo}
	stopped := Record{Name: "a", Status: StatusStopped, Ulimits: lo}
	with := func(r Record, f func(*Record)) Record { f(&r); return r }
	for _, c := range []struct {
		what     string
		old, new Record
		want     string
	}{
		{"set on a stopped container", stopped, with(stopped, func(r *Record) { r.Ulimits = hi }), "[resized]"},
		{"left pending on a running one", run, with(run, func(r *Record) { r.Ulimits, r.PendingUlimits = hi, true }), "[]"},
		{"applied by the start", with(stopped, func(r *Record) { r.Ulimits, r.PendingUlimits = hi, true }),
			with(run, func(r *Record) { r.Ulimits = hi }), "[started resized]"},
		{"a start with nothing pending", stopped, run, "[started]"},
		{"the defaults given to a record from before ulimits", with(stopped, func(r *Record) { r.Ulimits = nil }), run, "[started]"},
		{"set at create", Record{Name: "a", Status: StatusCreating}, run, "[created]"},
	} {
		if got := fmt.Sprint(changeEvents(c.old, c.new)); got != c.want {
			t.Errorf("%s: %s, want %s", c.what, got, c.want)
		}
	}
}
