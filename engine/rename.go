package engine

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/ipam"
)

// Rename gives a stopped container a new name. Its lease (so its IP and
// MAC) and record go with it in one store transaction; its state dir (disk,
// host keys) stays where it is, under its instance; the hostname follows at
// the next start. (A release, release.go, renames running containers and
// keeps the identity with the name instead.)
func (e *Engine) Rename(ctx context.Context, name, newName string) (inventory.Record, error) {
	if err := inventory.ValidName(newName); err != nil {
		return inventory.Record{}, err
	}
	if name == newName {
		return inventory.Record{}, invalidf("rename %q: the new name is the same: give another name", name)
	}
	first, second := name, newName
	if second < first {
		first, second = second, first
	}
	defer e.lock(first)()
	defer e.lock(second)()
	rec, err := e.local(ctx, name)
	if err != nil {
		return rec, err
	}
	if st, _, err := e.Runtime.State(ctx, rec.InstanceKey()); err != nil {
		return rec, err
	} else if st == "running" || rec.Status != inventory.StatusStopped {
		// A record not yet stopped whose init is gone ended on its own a
		// moment ago: the power watcher records it first.
		return rec, conflictf("container %q is %s: stop it first (`fatbox stop %s`), then rename", name, firstNonEmpty(st, rec.Status), name)
	}
	if _, err := e.Inventory.Get(ctx, newName); err == nil {
		return rec, inventory.ExistsError(newName)
	}
	// Leftovers (a dead runc state) go first.
	if err := e.halt(ctx, rec.InstanceKey()); err != nil {
		return rec, err
	}
	moveRecord := func() ([]store.Op, error) { return e.Inventory.RenameOps(ctx, name, newName) }
	_, err = e.IPAM.Rename(ctx, rec.Pool, name, newName, moveRecord)
	if errors.Is(err, ipam.ErrLeaseNotFound) || errors.Is(err, ipam.ErrPoolNotFound) {
		// No lease to carry (it was released): move the record alone.
		var ops []store.Op
		if ops, err = moveRecord(); err == nil {
			_, err = e.Inventory.Store.Txn(ctx, ops)
		}
	}
	if err != nil {
		return rec, fmt.Errorf("rename %q to %q: %w", name, newName, err)
	}
	moved, err := e.Inventory.Get(ctx, newName)
	if err != nil {
		return moved, err
	}
	if err := e.fixStateDir(ctx, &moved); err != nil {
		return moved, err
	}
	return moved, nil
}

// fixStateDir finishes a rename made by a fatbox from before instances
// (rec.Instance ""), whose state dir moved with the name: it moves the dir
// from its old name when it is still there, then clears RenamedFrom so the
// move is never tried again. A dir of the old name is left alone while a
// record of that name exists. A record with an instance only has
// RenamedFrom cleared: its dir never moves.
func (e *Engine) fixStateDir(ctx context.Context, rec *inventory.Record) error {
	from := rec.RenamedFrom
	if from == "" {
		return nil
	}
	if rec.Instance != "" {
		rec.RenamedFrom = ""
		return e.Inventory.Put(ctx, *rec)
	}
	if _, err := os.Stat(e.dir(rec.Name)); errors.Is(err, os.ErrNotExist) {
		if _, err := e.Inventory.Get(ctx, from); err == nil {
			return fmt.Errorf("container %q was renamed from %q, but its state dir is missing and %q belongs to a new container %q: restore %q by hand", rec.Name, from, e.dir(from), from, e.dir(rec.Name))
		} else if !errors.Is(err, inventory.ErrNotFound) {
			return err
		}
		if err := os.Rename(e.dir(from), e.dir(rec.Name)); err != nil {
			return fmt.Errorf("move the state dir of %q from %q: %w", rec.Name, e.dir(from), err)
		}
	}
	rec.RenamedFrom = ""
	return e.Inventory.Put(ctx, *rec)
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
