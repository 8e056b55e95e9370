package inventory

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fatbox/fatbox/inventory/store"
)

// A release (engine/release.go) hands a name, its address and identity from
// one container to another while clients keep using the name. Its progress
// is a record of its own, written before each phase, so a daemon that dies
// at any step finishes the release (once the switch began) or undoes it
// (before) at its next start.

// Release phases.
const (
	ReleasePreparing = "preparing" // the candidate is being made or booted on its temporary address
	ReleaseChecking  = "checking"  // the candidate runs; its health check runs
	ReleaseSwitching = "switching" // the switch began: it is finished, never undone
	// ReleasePuttingBack: the switch failed before the records moved; the
	// name goes back to its old container (run again after a crash).
	ReleasePuttingBack = "putting-back"
)

// Release is a release or rollback under way for Name.
type Release struct {
	Name string `json:"name"`
	// Kind is "release" or "rollback".
	Kind string `json:"kind"`
	// Candidate names the container that takes over (made by this release
	// when Made, else an existing one: --from, or <name>-last for a rollback).
	Candidate   string `json:"candidate"`
	CandidateID string `json:"candidate_id,omitempty"`
	Made        bool   `json:"made,omitempty"`
	// WasRunning: the candidate ran before the release took it (--from).
	WasRunning bool `json:"was_running,omitempty"`
	// HadLease: the candidate held a lease of its own name before.
	HadLease bool `json:"had_lease,omitempty"`
	// Hostname is the candidate's own before it took the name's (--from).
	Hostname string `json:"hostname,omitempty"`
	// OldID is the ID of the container that held Name when it began.
	OldID string `json:"old_id"`
	// Last is the name the old container gets (<name>-last); DiscardID the
	// ID of the container that had that name, removed by the switch.
	Last      string `json:"last"`
	DiscardID string `json:"discard_id,omitempty"`
	// DiscardInstance is its instance (its state dir is deleted after).
	DiscardInstance string `json:"discard_instance,omitempty"`
	Image           string `json:"image,omitempty"`
	Phase           string `json:"phase"`
	// Step is the last step done (for the events and `fatbox status`).
	Step      string    `json:"step,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

func releaseKey(name string) string { return "inventory/releases/" + name }

// ErrReleaseBusy: another release or rollback of the name is under way.
var ErrReleaseBusy = errors.New("a release of this name is under way")

// CreateRelease records a new release; one per name at a time.
func (i *Inventory) CreateRelease(ctx context.Context, r Release) error {
	b, _ := json.Marshal(r)
	if _, err := i.Store.Create(ctx, releaseKey(r.Name), b); err != nil {
		if errors.Is(err, store.ErrExists) {
			cur, _ := i.GetRelease(ctx, r.Name)
			return fmt.Errorf("%s of %q (%s, since %s): %w; wait for it to end; one that does not (its cleanup failed: the daemon's log says why) is finished or undone by the daemon's next start", cmp.Or(cur.Kind, "a release"), r.Name, cur.Phase, cur.StartedAt.Format(time.RFC3339), ErrReleaseBusy)
		}
		return err
	}
	return nil
}

// GetRelease reads the release under way for name.
func (i *Inventory) GetRelease(ctx context.Context, name string) (Release, error) {
	kv, err := i.Store.Get(ctx, releaseKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return Release{}, fmt.Errorf("no release of %q under way: %w", name, ErrNotFound)
	}
	if err != nil {
		return Release{}, err
	}
	var r Release
	if err := json.Unmarshal(kv.Value, &r); err != nil {
		return Release{}, fmt.Errorf("release record %q is corrupt: %w", kv.Key, err)
	}
	return r, nil
}

// PutRelease writes r (its phase or step moved on).
func (i *Inventory) PutRelease(ctx context.Context, r Release) error {
	b, _ := json.Marshal(r)
	_, err := store.Update(ctx, i.Store, releaseKey(r.Name), func(_ []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, fmt.Errorf("no release of %q under way: %w", r.Name, ErrNotFound)
		}
		return b, nil
	})
	return err
}

// ReleaseOps are the ops that end the release of name (in the switch's
// transaction).
func (i *Inventory) ReleaseOps(ctx context.Context, name string) ([]store.Op, error) {
	kv, err := i.Store.Get(ctx, releaseKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []store.Op{{Kind: store.OpDelete, Key: kv.Key, Version: kv.Version}}, nil
}

// DeleteRelease ends the release of name; a missing one is fine.
func (i *Inventory) DeleteRelease(ctx context.Context, name string) error {
	return i.retry(ctx, func() error {
		ops, err := i.ReleaseOps(ctx, name)
		if err != nil || len(ops) == 0 {
			return err
		}
		_, err = i.Store.Txn(ctx, ops)
		return err
	})
}

// Releases lists the releases under way.
func (i *Inventory) Releases(ctx context.Context) ([]Release, error) {
	kvs, err := i.Store.List(ctx, "inventory/releases/")
	if err != nil {
		return nil, err
	}
	out := make([]Release, 0, len(kvs))
	for _, kv := range kvs {
		var r Release
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("release record %q is corrupt: %w", kv.Key, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Move is one record of a MoveOps: the record stored as From becomes Rec
// (under Rec.Name, which may be From or a name another move frees), or is
// deleted when Delete.
type Move struct {
	From   string
	Rec    Record
	Delete bool
}

// MoveOps are the ops that apply moves in one transaction, each
// conditional on the record as it is now, with their events: "renamed" for
// a new name, what changeEvents derives from the change, "removed" for a
// delete, and a "release" event with step for every record kept when step
// is not "". A destination must be free or freed by another move.
func (i *Inventory) MoveOps(ctx context.Context, step string, moves ...Move) ([]store.Op, error) {
	var evs []Event
	now := time.Now().UTC()
	version := map[string]uint64{} // of each From, as read
	dest := map[string]bool{}      // names written
	for _, m := range moves {
		if !m.Delete {
			dest[m.Rec.Name] = true
		}
	}
	var puts []store.Op
	for _, m := range moves {
		kv, err := i.Store.Get(ctx, key(m.From))
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("no container %q: %w", m.From, ErrNotFound)
		}
		if err != nil {
			return nil, err
		}
		version[m.From] = kv.Version
		old, err := decode(kv.Key, kv.Value)
		if err != nil {
			return nil, err
		}
		if m.Delete {
			evs = append(evs, Event{Time: now, Kind: EventRemoved, ContainerID: old.ID, Name: m.From, Cause: CauseOf(ctx), Record: old})
			continue
		}
		r := m.Rec
		r.ID, r.CreatedAt, r.UpdatedAt, r.DiskGiB = old.ID, old.CreatedAt, now, 0
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		puts = append(puts, store.Op{Kind: store.OpPut, Key: key(r.Name), Value: b})
		if r.Name != m.From {
			evs = append(evs, Event{Time: now, Kind: EventRenamed, ContainerID: r.ID, Name: r.Name, From: m.From, Cause: CauseOf(ctx), Record: r})
		}
		for _, kind := range changeEvents(old, r) {
			evs = append(evs, Event{Time: now, Kind: kind, ContainerID: r.ID, Name: r.Name, Cause: CauseOf(ctx), Record: r})
		}
		if step != "" {
			evs = append(evs, Event{Time: now, Kind: EventRelease, ContainerID: r.ID, Name: r.Name, Step: step, Cause: CauseOf(ctx), Record: r})
		}
	}
	// One op per key: a From that another move writes is overwritten
	// (conditional on the version read), any other From is deleted, and a
	// name nobody moves away must not exist.
	var ops []store.Op
	for _, m := range moves {
		if !dest[m.From] {
			ops = append(ops, store.Op{Kind: store.OpDelete, Key: key(m.From), Version: version[m.From]})
		}
	}
	for _, p := range puts {
		name := p.Key[len(key("")):]
		if v, ok := version[name]; ok {
			p.Version = v
		} else if _, err := i.Store.Get(ctx, p.Key); err == nil {
			return nil, ExistsError(name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		ops = append(ops, p)
	}
	evOps, err := i.eventOps(ctx, evs...)
	if err != nil {
		return nil, err
	}
	return append(ops, evOps...), nil
}

// Note appends a "release" event with step for the record of name as it is.
func (i *Inventory) Note(ctx context.Context, name, step string) error {
	return i.retry(ctx, func() error {
		r, err := i.Get(ctx, name)
		if err != nil {
			return err
		}
		ops, err := i.eventOps(ctx, Event{Time: time.Now().UTC(), Kind: EventRelease, ContainerID: r.ID, Name: r.Name, Step: step, Cause: CauseOf(ctx), Record: r})
		if err != nil {
			return err
		}
		_, err = i.Store.Txn(ctx, ops)
		return err
	})
}
