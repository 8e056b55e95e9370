package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/fatbox/fatbox/inventory/store"
)

// Event kinds: what happened to a container.
const (
	EventCreated = "created" // its first boot finished: it exists as a VM would
	EventStarted = "started"
	EventStopped = "stopped"
	EventResized = "resized" // CPUs, memory or disk changed
	EventRenamed = "renamed"
	EventLabels  = "labels" // owner, app, env or labels changed
	// EventServices: the declared services changed.
	EventServices = "services"
	EventRemoved  = "removed"
	// EventRelease marks a step of a release or rollback (Event.Step says
	// which); the record is the container's as it is at that step.
	EventRelease = "release"
	// EventHook says a lifecycle hook failed to deliver an event, or
	// delivered it after failing (Step says which and why). It records no
	// change: its record is the one of the event it is about, and the sync
	// loops pass over it (Event.Changes).
	EventHook = "hook"
)

// Changes reports whether the event records a change of its container
// (every kind but EventHook): what the CMDB, billing and the catalog fold.
func (e Event) Changes() bool { return e.Kind != EventHook }

// Cause kinds: who or what made a change.
const (
	CauseAPI       = "api"       // a client of the daemon's API (the CLI); UID says who
	CauseAutostart = "autostart" // the daemon booted it again at start
	CauseReconcile = "reconcile" // the daemon's reconcile found it changed (dead, half-done)
	CauseInside    = "inside"    // the container itself (a shutdown from inside)
)

// Cause says who or what made a change.
type Cause struct {
	Kind string `json:"kind"`
	// UID is the API caller's uid (CauseAPI).
	UID *uint32 `json:"uid,omitempty"`
	// Detail is free text (e.g. the request id).
	Detail string `json:"detail,omitempty"`
}

func (c Cause) String() string {
	if c.UID != nil {
		return c.Kind + " uid " + strconv.FormatUint(uint64(*c.UID), 10)
	}
	return c.Kind
}

type causeKey struct{}

// WithCause returns a context whose record changes are recorded as made by c.
func WithCause(ctx context.Context, c Cause) context.Context {
	return context.WithValue(ctx, causeKey{}, c)
}

// CauseOf is the cause a context carries; none means the daemon's
// reconcile (the only writer with no request behind it).
func CauseOf(ctx context.Context) Cause {
	if c, ok := ctx.Value(causeKey{}).(Cause); ok {
		return c
	}
	return Cause{Kind: CauseReconcile}
}

// Event is one entry of the append-only event log. Record is the
// container's record after the change (for "removed": as it was), so the
// resource sizes in force after each event are in it.
type Event struct {
	Seq         uint64    `json:"seq"` // global order, from 1, never reused
	Time        time.Time `json:"time"`
	Kind        string    `json:"kind"`
	ContainerID string    `json:"container_id"`
	Name        string    `json:"name"`
	// From is the old name of a rename.
	From string `json:"from,omitempty"`
	// Step, for a "release" event, is the release's step ("prepared",
	// "checked", "check failed", "switched", "undone", ...) and what it did.
	Step   string `json:"step,omitempty"`
	Cause  Cause  `json:"cause"`
	Record Record `json:"record"`
}

// The log lives at inventory/events/<bucket>/<seq>, 1024 events a bucket,
// so reading from a position lists only the buckets from there on; the last
// sequence number given out is at inventory/event-seq. Every event is
// written in the store transaction of the change it records.
const (
	eventSeqKey   = "inventory/event-seq"
	eventsPrefix  = "inventory/events/"
	eventsPerList = 1024
)

func eventBucket(seq uint64) string { return fmt.Sprintf("%s%012d/", eventsPrefix, seq/eventsPerList) }
func eventKey(seq uint64) string    { return fmt.Sprintf("%s%020d", eventBucket(seq), seq) }

type seqRecord struct {
	Seq uint64 `json:"seq"`
}

// eventOps are the ops that append evs, numbered from the counter on in
// order: the counter's CAS write and one create per event (none for no
// events). The caller puts them in the transaction of the change.
func (i *Inventory) eventOps(ctx context.Context, evs ...Event) ([]store.Op, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	kv, err := i.Store.Get(ctx, eventSeqKey)
	var cur seqRecord
	var version uint64
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(kv.Value, &cur); err != nil {
			return nil, fmt.Errorf("event counter %q is corrupt: %w", eventSeqKey, err)
		}
		version = kv.Version
	}
	ops := make([]store.Op, 0, len(evs)+1)
	for n, ev := range evs {
		ev.Seq = cur.Seq + uint64(n) + 1
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		ops = append(ops, store.Op{Kind: store.OpPut, Key: eventKey(ev.Seq), Value: b})
	}
	b, _ := json.Marshal(seqRecord{Seq: cur.Seq + uint64(len(evs))})
	return append(ops, store.Op{Kind: store.OpPut, Key: eventSeqKey, Value: b, Version: version}), nil
}

// changeEvents are the events that turning old into new records (in the
// order a reader expects them). Intermediate statuses (creating,
// stopping, removing) record nothing: only what an asset list would show.
func changeEvents(old, new Record) []string {
	var out []string
	switch {
	case old.Status == StatusCreating && new.Status == StatusRunning:
		out = append(out, EventCreated)
	case old.Status != StatusRunning && new.Status == StatusRunning:
		out = append(out, EventStarted)
	case old.Status != StatusStopped && old.Status != StatusCreating && new.Status == StatusStopped:
		out = append(out, EventStopped)
	}
	if old.Status != StatusCreating && (old.CPUs != new.CPUs || old.MemoryMiB != new.MemoryMiB || old.DiskMiB != new.DiskMiB || old.SwapMiB != new.SwapMiB ||
		ulimitsChanged(old, new)) {
		out = append(out, EventResized)
	}
	if old.Status != StatusCreating && (old.Owner != new.Owner || old.App != new.App || old.Env != new.Env || !maps.Equal(old.Labels, new.Labels)) {
		out = append(out, EventLabels)
	}
	if old.Status != StatusCreating && !slices.Equal(old.Services, new.Services) {
		out = append(out, EventServices)
	}
	return out
}

// ulimitsChanged reports whether the ulimits in force changed: set on a
// stopped container (they are what its next start applies), or applied
// by a start after an update left them pending. Limits changed on a
// running container are pending, not in force, and record nothing until
// that start (as a disk grow left pending). A record from before ulimits
// (nil) getting its defaults at a start is no change.
func ulimitsChanged(old, new Record) bool {
	if new.PendingUlimits {
		return false
	}
	return old.PendingUlimits || (old.Ulimits != nil && !maps.Equal(old.Ulimits, new.Ulimits))
}

// Events returns up to limit events with Seq > after, in order (limit <= 0:
// all of them).
func (i *Inventory) Events(ctx context.Context, after uint64, limit int) ([]Event, error) {
	last, err := i.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	var out []Event
	for b := (after + 1) / eventsPerList; b <= last/eventsPerList; b++ {
		kvs, err := i.Store.List(ctx, eventBucket(b*eventsPerList))
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			var ev Event
			if err := json.Unmarshal(kv.Value, &ev); err != nil {
				return nil, fmt.Errorf("event %q is corrupt: %w", kv.Key, err)
			}
			if ev.Seq <= after {
				continue
			}
			ev.Record = upgrade(ev.Record)
			out = append(out, ev)
			if limit > 0 && len(out) >= limit {
				return out, nil
			}
		}
	}
	return out, nil
}

// LastSeq is the sequence number of the newest event (0: none yet).
func (i *Inventory) LastSeq(ctx context.Context) (uint64, error) {
	kv, err := i.Store.Get(ctx, eventSeqKey)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var cur seqRecord
	if err := json.Unmarshal(kv.Value, &cur); err != nil {
		return 0, fmt.Errorf("event counter %q is corrupt: %w", eventSeqKey, err)
	}
	return cur.Seq, nil
}

// DefaultEventRetention is how long the events of a removed container are
// kept after its removal: 13 months, so a year of bills can be reconciled
// against them. The events of containers that exist are never pruned.
const DefaultEventRetention = 396 * 24 * time.Hour

// PruneEvents deletes the events (and usage totals) of containers removed
// before cutoff and returns how many keys it deleted. The counter is never lowered, so sequence
// numbers are never reused.
func (i *Inventory) PruneEvents(ctx context.Context, cutoff time.Time) (int, error) {
	all, err := i.Events(ctx, 0, 0)
	if err != nil {
		return 0, err
	}
	gone := map[string]bool{}
	for _, ev := range all {
		if ev.Kind == EventRemoved && ev.Time.Before(cutoff) {
			gone[ev.ContainerID] = true
		}
	}
	var ops []store.Op
	n := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		if _, err := i.Store.Txn(ctx, ops); err != nil {
			return err
		}
		n += len(ops)
		ops = ops[:0]
		return nil
	}
	for b := uint64(0); ; b++ {
		if len(all) == 0 {
			break
		}
		kvs, err := i.Store.List(ctx, eventBucket(b*eventsPerList))
		if err != nil {
			return n, err
		}
		for _, kv := range kvs {
			var ev Event
			if json.Unmarshal(kv.Value, &ev) != nil || !gone[ev.ContainerID] {
				continue
			}
			ops = append(ops, store.Op{Kind: store.OpDelete, Key: kv.Key, Version: kv.Version})
			if len(ops) == store.MaxTxnOps {
				if err := flush(); err != nil {
					return n, err
				}
			}
		}
		if b >= all[len(all)-1].Seq/eventsPerList {
			break
		}
	}
	if err := flush(); err != nil {
		return n, err
	}
	// The usage totals of those containers go with their events, and
	// their period snapshots (periods.go).
	for id := range gone {
		m, err := i.PruneUsagePeriods(ctx, id)
		n += m
		if err != nil {
			return n, err
		}
		k, err := usageKey(id)
		if err != nil {
			continue
		}
		kv, err := i.Store.Get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		if err := i.Store.Delete(ctx, k, kv.Version); err != nil && !errors.Is(err, store.ErrConflict) {
			return n, err
		}
		n++
	}
	return n, nil
}
