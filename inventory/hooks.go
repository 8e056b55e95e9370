package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fatbox/fatbox/inventory/store"
)

// A lifecycle hook's position in the event log (the last event it has
// delivered or skipped) lives at inventory/hooks/<hook>/position, so a
// daemon that restarts goes on from there (at least once: an event whose
// delivery succeeded but whose position was not written yet is sent again).
const hooksPrefix = "inventory/hooks/"

func hookPositionKey(hook string) string { return hooksPrefix + hook + "/position" }

// HookPosition returns a hook's stored position; ok is false when the hook
// has none yet (a hook new to this store).
func (i *Inventory) HookPosition(ctx context.Context, hook string) (seq uint64, ok bool, err error) {
	kv, err := i.Store.Get(ctx, hookPositionKey(hook))
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("hook %q: read its position: %w", hook, err)
	}
	var p seqRecord
	if err := json.Unmarshal(kv.Value, &p); err != nil {
		return 0, false, fmt.Errorf("hook %q: its position at %q is not JSON (%w): delete the key and the hook starts at the end of the log", hook, kv.Key, err)
	}
	return p.Seq, true, nil
}

// SetHookPosition stores a hook's position.
func (i *Inventory) SetHookPosition(ctx context.Context, hook string, seq uint64) error {
	b, err := json.Marshal(seqRecord{Seq: seq})
	if err != nil {
		return err
	}
	if _, err := store.Update(ctx, i.Store, hookPositionKey(hook), func([]byte, bool) ([]byte, error) { return b, nil }); err != nil {
		return fmt.Errorf("hook %q: write its position: %w", hook, err)
	}
	return nil
}

// NoteHook appends an EventHook about about (the event a hook's delivery
// of failed or went through again) with step saying what happened.
func (i *Inventory) NoteHook(ctx context.Context, about Event, step string) error {
	return i.retry(ctx, func() error {
		ops, err := i.eventOps(ctx, Event{Time: time.Now().UTC(), Kind: EventHook, ContainerID: about.ContainerID, Name: about.Name,
			Step: step, Cause: CauseOf(ctx), Record: about.Record})
		if err != nil {
			return err
		}
		_, err = i.Store.Txn(ctx, ops)
		return err
	})
}
