package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/rootfs"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/inventory/store/memstore"
	"github.com/fatbox/fatbox/test/harness"
)

// TestOtherNodesContainerRefused: start, stop, restart, rm, rename, exec
// (CheckRunning, which the daemon's exec route calls first) and prog
// (Programs) refuse a container whose record names another node, say which
// node to ask, and change nothing: not the record, not the state dir, and
// runc is never run (its root is never made). No root needed: the refusal
// comes before any of it.
func TestOtherNodesContainerRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	inv := &inventory.Inventory{Store: memstore.New()}
	e := &Engine{Inventory: inv, Runtime: &runtime.Runtime{Root: filepath.Join(dir, "runc")},
		StateDir: filepath.Join(dir, "state"), Node: "here"}
	if err := inv.Create(ctx, inventory.Record{Name: "web-01", Hostname: "web-01", Pool: "p", IP: "198.19.152.7",
		Node: "other", Image: "debian12-fat", Status: inventory.StatusRunning, Autostart: true}); err != nil {
		t.Fatal(err)
	}
	before, err := inv.Store.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"start":   func() error { _, err := e.Start(ctx, "web-01"); return err },
		"stop":    func() error { return e.Stop(ctx, "web-01") },
		"restart": func() error { _, err := e.Restart(ctx, "web-01"); return err },
		"rm":      func() error { return e.Remove(ctx, "web-01", true) },
		"rename":  func() error { _, err := e.Rename(ctx, "web-01", "web-02"); return err },
		"exec":    func() error { return e.CheckRunning(ctx, "web-01") },
		"prog":    func() error { _, err := e.Programs(ctx, "web-01"); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("%s of another node's container: %v, want ErrConflict", name, err)
			}
			for _, part := range []string{`"web-01"`, `node "other"`, `not here ("here")`, "ask that node's daemon"} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("%s: %q lacks %q", name, err, part)
				}
			}
			after, err := inv.Store.List(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(before, after, func(a, b store.KV) bool {
				return a.Key == b.Key && a.Version == b.Version && string(a.Value) == string(b.Value)
			}) {
				t.Fatalf("%s changed the store:\nbefore %v\nafter  %v", name, before, after)
			}
			for _, p := range []string{e.Runtime.Root, e.StateDir} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s made %s (%v): it must not act on another node's container", name, p, err)
				}
			}
		})
	}
	// The container is still listed and inspected as it is: another node's.
	if in, err := e.Inspect(ctx, "web-01"); err != nil || in.Node != "other" || in.State != "" {
		t.Fatalf("inspect another node's container: %+v %v", in, err)
	}
}

// renameTxnOnly does what Rename does up to and including its store
// transaction, and stops there: record and lease are the new name's, the
// state dir is still the old one's, as a daemon that died between the two
// leaves them.
func renameTxnOnly(t *testing.T, env *testEnv, old, new string) {
	t.Helper()
	ctx := context.Background()
	if _, err := env.al.Rename(ctx, "p", old, new, func() ([]store.Op, error) { return env.e.Inventory.RenameOps(ctx, old, new) }); err != nil {
		t.Fatal(err)
	}
	rec, err := env.e.Inventory.Get(ctx, new)
	if err != nil || rec.RenamedFrom != old || rec.Instance != old {
		t.Fatalf("after the rename transaction: %+v %v", rec, err)
	}
	// As a fatbox from before instances wrote it: no instance, so the state
	// dir was to follow the name (fixStateDir still finishes such a move).
	rec.Instance = ""
	if err := env.e.Inventory.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(env.e.dir(old)); err != nil {
		t.Fatalf("the old state dir: %v", err)
	}
	if _, err := os.Stat(env.e.dir(new)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the new state dir exists before the move: %v", err)
	}
}

// TestReconcileRenameAndOrphans covers what a daemon finds at start besides
// half-made creates: a rename by a fatbox from before instances cut short
// between its store transaction and the state dir's move (finished by the next start, or by Reconcile, which
// must not take the old dir for an orphan), and orphans — a running
// container whose record is gone is taken down (runc, cgroups, veth, ifb,
// nftables rules, netns, mounts, loop device) while its disk is kept and
// listed, as is a disk with no record and nothing running.
func TestReconcileRenameAndOrphans(t *testing.T) {
	env := newTestEnv(t, "198.19.152.0/24")
	e := env.e
	ctx := context.Background()
	req := func(name string) CreateRequest {
		return CreateRequest{Name: name, Image: "debian12-fat", Pool: "p", CPUs: 1, MemoryBytes: 128 << 20, DiskBytes: 128 << 20, NetRateBits: 10_000_000}
	}
	// Whatever a failed subtest leaves is taken down by name.
	var names []string
	t.Cleanup(func() {
		for _, n := range names {
			e.Remove(context.Background(), n, false)
			e.destroy(context.Background(), n)
			env.al.Free(context.Background(), "p", n)
		}
	})
	// createStopped creates name, writes a file in its state dir and stops it.
	createStopped := func(t *testing.T, name string) inventory.Record {
		t.Helper()
		names = append(names, name)
		rec, err := e.Create(ctx, req(name))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Stop(ctx, name); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e.dir(name), "marker"), []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	// moved checks that old's state dir (with its marker) is new's now
	// and that the record no longer names the old name.
	moved := func(t *testing.T, old, new string) {
		t.Helper()
		if b, err := os.ReadFile(filepath.Join(e.dir(new), "marker")); err != nil || string(b) != old {
			t.Errorf("the state dir did not move to %s: %q %v", e.dir(new), b, err)
		}
		if _, err := os.Stat(e.dir(old)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the old state dir %s is still there: %v", e.dir(old), err)
		}
		if rec, err := e.Inventory.Get(ctx, new); err != nil || rec.RenamedFrom != "" {
			t.Errorf("record after the move: RenamedFrom %q %v, want it cleared", rec.RenamedFrom, err)
		}
	}
	finish := func(t *testing.T, name string) {
		t.Helper()
		if err := e.Remove(ctx, name, false); err != nil {
			t.Fatal(err)
		}
		if err := env.al.Free(ctx, "p", name); err != nil {
			t.Fatal(err)
		}
		if l := env.leftovers(t, name); len(l) > 0 {
			t.Fatalf("left behind: %v", l)
		}
	}

	t.Run("rename-cut-short-then-start", func(t *testing.T) {
		old, new := harness.Name("fbro-"), harness.Name("fbrn-")
		names = append(names, new)
		rec := createStopped(t, old)
		renameTxnOnly(t, env, old, new)
		got, err := e.Start(ctx, new)
		if err != nil {
			t.Fatalf("start after a rename cut short: %v", err)
		}
		if got.Status != inventory.StatusRunning || got.IP != rec.IP || got.MAC != rec.MAC || got.Hostname != new {
			t.Errorf("started: %+v; want running with %s %s, hostname %s", got, rec.IP, rec.MAC, new)
		}
		moved(t, old, new)
		if b, err := os.ReadFile(filepath.Join(e.dir(new), "rootfs", "etc", "hostname")); err != nil || strings.TrimSpace(string(b)) != new {
			t.Errorf("hostname inside: %q %v, want %s", b, err, new)
		}
		finish(t, new)
		if l := env.leftovers(t, old); len(l) > 0 {
			t.Fatalf("left behind of the old name: %v", l)
		}
	})

	t.Run("rename-cut-short-then-reconcile", func(t *testing.T) {
		old, new := harness.Name("fbro-"), harness.Name("fbrn-")
		names = append(names, new)
		createStopped(t, old)
		renameTxnOnly(t, env, old, new)
		// Meanwhile the old name cannot be created over the dir in flight.
		if _, err := e.Create(ctx, req(old)); !errors.Is(err, ErrConflict) {
			t.Fatalf("create of the old name while its dir is in flight: %v, want a conflict", err)
		}
		rep, err := env.next().Reconcile(ctx)
		if err != nil || len(rep.Errors) > 0 {
			t.Fatalf("reconcile: %v %v", err, rep.Errors)
		}
		if len(rep.Kept) > 0 || len(rep.Orphans) > 0 || len(rep.Started) > 0 {
			t.Errorf("reconcile took the dir of a rename in flight for an orphan, or started a stopped container: %+v", rep)
		}
		moved(t, old, new)
		if rec, _ := e.Inventory.Get(ctx, new); rec.Status != inventory.StatusStopped {
			t.Errorf("status after reconcile: %q, want stopped", rec.Status)
		}
		finish(t, new)
	})

	t.Run("orphans-and-kept", func(t *testing.T) {
		orphan, disk := harness.Name("fbor-"), harness.Name("fbok-")
		names = append(names, orphan, disk)
		if _, err := e.Create(ctx, req(orphan)); err != nil {
			t.Fatal(err)
		}
		// Its record goes (a store restored from a backup, a record deleted
		// by hand): runc, the kernel and the disk still have it.
		if err := e.Inventory.Delete(ctx, orphan); err != nil {
			t.Fatal(err)
		}
		left := env.leftovers(t, orphan)
		checkHalfMade(t, []string{"disk", "mount", "netns", "attach", "start"}, "start", left)
		// A disk with no record and nothing running.
		if err := rootfs.CreateDisk(ctx, rootfs.Layout{Dir: e.dir(disk)}, 64<<20); err != nil {
			t.Fatal(err)
		}

		rep, err := env.next().Reconcile(ctx)
		if err != nil || len(rep.Errors) > 0 {
			t.Fatalf("reconcile: %v %v", err, rep.Errors)
		}
		if !slices.Contains(rep.Orphans, "runc container "+orphan) {
			t.Errorf("orphans %v lack runc container %s", rep.Orphans, orphan)
		}
		slices.Sort(rep.Kept)
		want := []string{e.dir(orphan), e.dir(disk)}
		slices.Sort(want)
		if !slices.Equal(rep.Kept, want) {
			t.Errorf("kept %v, want %v", rep.Kept, want)
		}
		if len(rep.Aborted)+len(rep.Adopted)+len(rep.Started)+len(rep.Removed) > 0 {
			t.Errorf("reconcile acted on records it should not have: %+v", rep)
		}
		// Taken down: everything but the state dir, whose disk is kept.
		for _, n := range []string{orphan, disk} {
			for _, l := range env.leftovers(t, n) {
				if l != "lease" && !strings.HasPrefix(l, "state dir: ") {
					t.Errorf("%s: left behind: %s", n, l)
				}
			}
			if _, err := os.Stat(rootfs.Layout{Dir: e.dir(n)}.DiskImage()); err != nil {
				t.Errorf("the disk of %s was not kept: %v", n, err)
			}
		}
		// A second reconcile finds nothing new to take down and keeps both.
		rep, err = env.next().Reconcile(ctx)
		if err != nil || len(rep.Errors) > 0 || len(rep.Kept) != 2 {
			t.Fatalf("second reconcile: %+v %v", rep, err)
		}
		for _, n := range []string{orphan, disk} {
			if err := rootfs.Remove(ctx, rootfs.Layout{Dir: e.dir(n)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := env.al.Free(ctx, "p", orphan); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{orphan, disk} {
			if l := env.leftovers(t, n); len(l) > 0 {
				t.Errorf("%s: left behind: %v", n, l)
			}
		}
	})
}
