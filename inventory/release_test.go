package inventory

import (
	"context"
	"errors"
	"testing"
)

// The switch of a release in one transaction: web-01 becomes web-01-last
// (stopped), web-01-next becomes web-01, the old web-01-last goes; the
// events say so, and a record changed meanwhile fails the whole of it.
func TestMoveOpsSwap(t *testing.T) {
	ctx := context.Background()
	inv, _ := newInv()
	mk := func(name, status string) Record {
		r := Record{Name: name, Hostname: "web-01", Status: status, Image: "i", Instance: name + "-i"}
		if err := inv.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		r, _ = inv.Get(ctx, name)
		return r
	}
	old, cand, prev := mk("web-01", StatusRunning), mk("web-01-next", StatusRunning), mk("web-01-last", StatusStopped)
	o, c := old, cand
	o.Name, o.Status, o.IP = "web-01-last", StatusStopped, ""
	c.Name, c.IP = "web-01", "198.18.0.5"
	ops, err := inv.MoveOps(ctx, "switched", Move{From: "web-01-last", Delete: true}, Move{From: "web-01", Rec: o}, Move{From: "web-01-next", Rec: c})
	if err != nil {
		t.Fatal(err)
	}
	// A concurrent change to one record fails the transaction.
	stale := cand
	stale.Owner = "x"
	if err := inv.Put(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Store.Txn(ctx, ops); err == nil {
		t.Fatal("the move applied over a record changed since it was read")
	}
	before, _ := inv.LastSeq(ctx)
	c.Owner = "x" // as it is now
	if ops, err = inv.MoveOps(ctx, "switched", Move{From: "web-01-last", Delete: true}, Move{From: "web-01", Rec: o}, Move{From: "web-01-next", Rec: c}); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Store.Txn(ctx, ops); err != nil {
		t.Fatal(err)
	}
	got, _ := inv.Get(ctx, "web-01")
	last, _ := inv.Get(ctx, "web-01-last")
	if got.ID != cand.ID || got.Instance != "web-01-next-i" || got.IP != "198.18.0.5" {
		t.Fatalf("web-01 is %+v, want the candidate", got)
	}
	if last.ID != old.ID || last.Status != StatusStopped {
		t.Fatalf("web-01-last is %+v, want the old web-01 stopped", last)
	}
	if _, err := inv.Get(ctx, "web-01-next"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("web-01-next still exists: %v", err)
	}
	evs, _ := inv.Events(ctx, before, 100)
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind+":"+ev.Name+":"+ev.Step)
	}
	want := []string{"removed:web-01-last:", "renamed:web-01-last:", "stopped:web-01-last:", "release:web-01-last:switched", "renamed:web-01:", "release:web-01:switched"}
	if len(kinds) != len(want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("events %v, want %v", kinds, want)
		}
	}
	if evs[0].ContainerID != prev.ID {
		t.Fatalf("removed event is of %s, want the discarded %s", evs[0].ContainerID, prev.ID)
	}
	// A destination nobody frees is refused.
	x := got
	x.Name = "web-01-last"
	if _, err := inv.MoveOps(ctx, "", Move{From: "web-01", Rec: x}); !errors.Is(err, ErrExists) {
		t.Fatalf("move onto an existing name: %v, want ErrExists", err)
	}
}
