package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/engine/rootfs"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/ipam"
)

// ReconcileReport says what Reconcile found and did, container by container.
type ReconcileReport struct {
	// Adopted are running under runc as their records say: left alone.
	Adopted []string `json:"adopted"`
	// Started were recorded running with autostart but were not running
	// (a host restart, a crash): booted again.
	Started []string `json:"started"`
	// Stopped were recorded running without autostart but were not running,
	// or were being stopped when their daemon died: their leftovers
	// (network, mounts) were taken down and they are marked stopped.
	Stopped []string `json:"stopped"`
	// Removed were being removed when their daemon died: the remove was
	// finished (their leases stay with their names).
	Removed []string `json:"removed"`
	// Aborted were half-made creates (status "creating") of a daemon that
	// died mid-create: undone like a failed create.
	Aborted []string `json:"aborted"`
	// Orphans are runc containers, veths, netns and mounts of this state dir
	// with no record: taken down. Their disks are kept (named in Kept).
	Orphans []string `json:"orphans"`
	// Kept are container dirs with no record, left for an operator to look at.
	Kept []string `json:"kept"`
	// Volumes are what Reconcile did or found about data volumes.
	Volumes []string `json:"volumes,omitempty"`
	// Released are names whose release or rollback a daemon that died left
	// under way: finished (its switch had begun) or undone ("(undone)").
	Released []string `json:"released,omitempty"`
	// Errors are what could not be fixed; the daemon runs on.
	Errors []string `json:"errors,omitempty"`
}

// Reconcile makes runc's view, the kernel's (links, netns, mounts) and the
// store agree for this node's containers. The daemon runs it at start, before
// it serves: a container running under runc is adopted as is; one recorded
// running but dead is booted again if it is marked autostart, else marked
// stopped; a half-made create is undone; runc containers, links and mounts of
// this state dir that no record owns are taken down. It goes on past errors
// and lists them in the report.
func (e *Engine) Reconcile(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	// Releases first: a switch that began is finished (it can leave a
	// record stopped whose container runs until its cleanup), one that had
	// not is undone.
	held := e.reconcileReleases(ctx, &rep)
	recs, err := e.Inventory.List(ctx)
	if err != nil {
		return rep, fmt.Errorf("reconcile: list records: %w", err)
	}
	mine := map[string]inventory.Record{}
	insts := map[string]bool{} // the instances records own
	for _, r := range recs {
		if r.Node == e.Node {
			if err := e.fixStateDir(ctx, &r); err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", r.Name, err))
			}
			mine[r.Name] = r
			insts[r.InstanceKey()] = true
		}
	}
	fail := func(name string, err error) { rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", name, err)) }

	names := make([]string, 0, len(mine))
	for n := range mine {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		rec := mine[name]
		if held[name] {
			continue // a release not finished: left as it is (see above)
		}
		if err := e.reconcileOne(ctx, rec, &rep); err != nil {
			fail(name, err)
		}
	}

	// Orphans: only what is demonstrably this state dir's — runc containers
	// under its runc root, and the links, netns and mounts of container dirs
	// in it — so two daemons on one host never take each other's down.
	ids, err := e.Runtime.List(ctx)
	if err != nil {
		fail("runc", err)
	}
	for _, id := range ids {
		if insts[id] {
			continue
		}
		// halt, not just a stop: its veth, ifb, nftables chain, netns and
		// mounts are named after it, whether or not its dir is left.
		if err := e.halt(ctx, id); err != nil {
			fail(id, err)
			continue
		}
		rep.Orphans = append(rep.Orphans, "runc container "+id)
	}
	dirs, err := os.ReadDir(filepath.Join(e.StateDir, "containers"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		fail("containers dir", err)
	}
	for _, d := range dirs {
		name := d.Name()
		if insts[name] || !d.IsDir() {
			continue
		}
		// Its network and mounts are taken down (idempotent); they count
		// as orphans only when there was something to take down.
		if mounted, disk, _ := rootfs.Mounted(rootfs.Layout{Dir: e.dir(name)}); mounted || disk || network.HasLinks(name) {
			rep.Orphans = append(rep.Orphans, "network and mounts of "+name)
		}
		if err := e.halt(ctx, name); err != nil {
			fail(name, err)
		}
		rep.Kept = append(rep.Kept, e.dir(name))
	}
	// Volume mounts no running container uses (a container that died
	// with the daemon down) go; dirs and records that do not match are told.
	did, err := e.reconcileVolumes(ctx)
	if err != nil {
		fail("volumes", err)
	}
	rep.Volumes = append(rep.Volumes, did...)
	return rep, nil
}

func (e *Engine) reconcileOne(ctx context.Context, rec inventory.Record, rep *ReconcileReport) error {
	name, inst := rec.Name, rec.InstanceKey()
	unlock := e.lock(name)
	defer unlock()
	// A snapshot or commit whose daemon died mid-freeze left the disks
	// frozen and runc's container paused: thaw and resume it first.
	if err := e.ThawInterrupted(ctx, rec); err != nil {
		return err
	}
	switch rec.Status {
	case inventory.StatusCreating:
		// The daemon died mid-create: undo it as a failed create would,
		// the lease as the record says the create took it.
		if err := errors.Join(e.destroy(ctx, inst), e.IPAM.UndoAllocation(ctx, rec.Pool, name, ipam.Origin(rec.LeaseOrigin))); err != nil {
			return fmt.Errorf("undo half-made create: %w", err)
		}
		if err := e.Inventory.Delete(ctx, name); err != nil {
			return err
		}
		rep.Aborted = append(rep.Aborted, name)
		return nil
	case inventory.StatusRemoving: // the daemon died mid-remove: finish it (the lease stays with the name)
		if err := e.destroy(ctx, inst); err != nil {
			return fmt.Errorf("finish remove: %w", err)
		}
		if err := e.releaseVolumeClaims(ctx, rec); err != nil {
			return fmt.Errorf("finish remove: %w", err)
		}
		if err := e.Inventory.Delete(ctx, name); err != nil {
			return err
		}
		rep.Removed = append(rep.Removed, name)
		return nil
	case inventory.StatusStopping:
		if rec.StopReason != "" {
			// It ended on its own and the daemon died recording it:
			// finish that (a reboot or an autostart crash boots again).
			booted, err := e.finishEnd(ctx, rec)
			if booted {
				rep.Started = append(rep.Started, name)
			} else if err == nil {
				rep.Stopped = append(rep.Stopped, name)
			}
			return err
		}
		// The daemon died mid-stop: finish it.
		if err := e.halt(ctx, inst); err != nil {
			return fmt.Errorf("finish stop: %w", err)
		}
		rec.Status = inventory.StatusStopped
		if err := e.Inventory.Put(ctx, rec); err != nil {
			return err
		}
		rep.Stopped = append(rep.Stopped, name)
		return nil
	}
	st, _, err := e.Runtime.State(ctx, inst)
	if err != nil {
		return err
	}
	if st == "running" {
		if rec.Status != inventory.StatusRunning {
			rec.Status = inventory.StatusRunning
			if err := e.Inventory.Put(ctx, rec); err != nil {
				return err
			}
		}
		rep.Adopted = append(rep.Adopted, name)
		// A grant recorded by a daemon that died before writing it, or
		// a gateway key changed since: written now.
		if _, _, err := e.applyGateway(ctx, inst); err != nil {
			return fmt.Errorf("write the gateway's keys: %w", err)
		}
		return nil
	}
	if rec.Status == inventory.StatusRunning {
		// Its disk may still be mounted (the daemon died, not the host):
		// a reboot or poweroff asked from inside is honoured.
		if req := powerRequest(rootfs.Layout{Dir: e.dir(inst)}); req != "" {
			if err := e.endedOnItsOwn(ctx, rec, req, false); err != nil {
				return err
			}
			if cur, err := e.Inventory.Get(ctx, name); err == nil && cur.Status == inventory.StatusRunning {
				rep.Started = append(rep.Started, name)
			} else {
				rep.Stopped = append(rep.Stopped, name)
			}
			return nil
		}
	}
	// Not running: take down whatever is left (a runc state of a dead
	// container, links, netns, mounts); idempotent on a clean host.
	if err := e.halt(ctx, inst); err != nil {
		return err
	}
	if rec.Status != inventory.StatusRunning {
		return nil
	}
	// Recorded running but dead (a host restart, a crash): it stopped
	// (found by reconcile) before anything boots it again (autostart), so
	// the event log and the bills see the gap.
	rec.Status = inventory.StatusStopped
	if err := e.Inventory.Put(inventory.WithCause(ctx, inventory.Cause{Kind: inventory.CauseReconcile, Detail: "found dead"}), rec); err != nil {
		return err
	}
	if rec.Autostart {
		_, err := e.start(inventory.WithCause(ctx, inventory.Cause{Kind: inventory.CauseAutostart}), name)
		if errors.Is(err, errPoweredOff) {
			// Shut down from inside while the daemon was down, and the
			// host restarted since: it stays down, as asked.
			if cur, gerr := e.Inventory.Get(ctx, name); gerr == nil {
				cur.StopReason = inventory.StopPoweroff
				if err := e.Inventory.Put(inventory.WithCause(ctx, inventory.Cause{Kind: inventory.CauseInside, Detail: powerPoweroff}), cur); err != nil {
					return err
				}
			}
			rep.Stopped = append(rep.Stopped, name)
			return nil
		}
		if err != nil {
			return fmt.Errorf("autostart: %w", err)
		}
		rep.Started = append(rep.Started, name)
		return nil
	}
	rep.Stopped = append(rep.Stopped, name)
	return nil
}

// RunningPIDs returns the host PIDs of the inits of this node's running
// containers (for re-mounting lxcfs into them).
func (e *Engine) RunningPIDs(ctx context.Context) ([]int, error) {
	ids, err := e.Runtime.List(ctx)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, id := range ids {
		if st, pid, err := e.Runtime.State(ctx, id); err == nil && st == "running" && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
