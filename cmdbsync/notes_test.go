package cmdbsync

import (
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory"
)

// A hook's note carries the record of the event it is about, which may be
// older than the container's newest: the CMDB's fold and billing's
// timeline pass it over, so it never turns a running row back to stopped.
func TestSyncLoopsPassOverHookNotes(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	stopped := inventory.Record{ID: "c1", Name: "web-01", Status: inventory.StatusStopped, MemoryMiB: 512}
	running := stopped
	running.Status = inventory.StatusRunning
	evs := []inventory.Event{
		{Seq: 1, Time: t0, Kind: inventory.EventStopped, ContainerID: "c1", Name: "web-01", Record: stopped},
		{Seq: 2, Time: t0.Add(time.Minute), Kind: inventory.EventStarted, ContainerID: "c1", Name: "web-01", Record: running},
		{Seq: 3, Time: t0.Add(2 * time.Minute), Kind: inventory.EventHook, ContainerID: "c1", Name: "web-01", Record: stopped,
			Step: `hook "x" delivered event 1 (stopped) after 3 failed attempts`},
	}
	st := fold(evs)
	if len(st) != 1 || st[0].rec.Status != inventory.StatusRunning || st[0].seq != 2 {
		t.Fatalf("fold: %+v, want web-01 running as of event 2", st)
	}
	segs := timeline(evs)
	if len(segs) != 2 || !segs[1].running || !segs[1].to.IsZero() {
		t.Fatalf("timeline: %+v, want stopped then running (still)", segs)
	}
}
