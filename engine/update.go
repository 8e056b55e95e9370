package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"

	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/engine/rootfs"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/inventory"
)

// UpdateRequest changes a container's sizes and its owner, app, env and
// labels; nil fields stay as they are.
type UpdateRequest struct {
	CPUs        *float64
	MemoryBytes *int64
	SwapBytes   *int64
	DiskBytes   *int64
	Owner       *string
	App         *string
	Env         *string
	// SetLabels are added or replaced; RemoveLabels are dropped.
	SetLabels    map[string]string
	RemoveLabels []string
	// Ulimits are set or replaced by name; the others stay. They take
	// effect at the next start (ulimit.go says why).
	Ulimits map[string]inventory.Ulimit
	// SetServices are declared (replacing one of the same name);
	// RemoveServices are dropped by name.
	SetServices    []inventory.Service
	RemoveServices []string
	// Syslog sets its own syslog collector (logfwd.Parse's URL);
	// "none" clears it. A running container forwards at once (logfwd.go).
	Syslog *string
}

// Update changes a container in place. CPU, memory and swap take effect at
// once in a running container (runc update: the processes keep running)
// and at the next start in a stopped one. A disk grows at once (online if
// the kernel allows it, else at the next start: the answer's notes say
// which), and shrinks only when stopped and never below its files. The
// record and its events (resized, labels) say what is in force.
func (e *Engine) Update(ctx context.Context, name string, u UpdateRequest) (inventory.Record, []string, error) {
	unlock := e.lock(name)
	defer unlock()
	rec, err := e.local(ctx, name)
	if err != nil {
		return rec, nil, err
	}
	if rec.Status != inventory.StatusRunning && rec.Status != inventory.StatusStopped {
		return rec, nil, conflictf("container %q is %s: wait until it is running or stopped, then update it", name, rec.Status)
	}
	next, err := e.checkUpdate(rec, u)
	if err != nil {
		return rec, nil, err
	}
	if err := e.admitUpdate(ctx, rec, next); err != nil {
		return rec, nil, err
	}
	st, _, err := e.Runtime.State(ctx, rec.InstanceKey())
	if err != nil {
		return rec, nil, err
	}
	running := st == "running"
	var notes []string

	// CPU and memory first: they are undone by writing the old values
	// back if the disk step below fails.
	limitsChanged := next.CPUs != rec.CPUs || next.MemoryMiB != rec.MemoryMiB || next.SwapMiB != rec.SwapMiB
	if running && limitsChanged {
		if int(math.Ceil(next.CPUs)) != int(math.Ceil(rec.CPUs)) || !hostHasCPUs(next.Cpuset) {
			if next.Cpuset, err = e.cpusetFor(ctx, name, next.CPUs); err != nil {
				return rec, nil, err
			}
		}
		if err := e.Runtime.Update(ctx, rec.InstanceKey(), limitsOf(next)); err != nil {
			return rec, nil, err
		}
		if !sameCPUs(next, rec) {
			// nproc follows the new cpuset; cpuinfo and cpu/online follow
			// here, also when the count stays but the cpuset moved.
			if err := e.writeCPUView(next); err != nil {
				return rec, nil, errors.Join(err, e.Runtime.Update(context.Background(), rec.InstanceKey(), limitsOf(rec)))
			}
		}
	} else if limitsChanged {
		next.Cpuset = "" // picked again at start for the new vCPUs
		notes = append(notes, "CPU and memory take effect when it starts")
	}
	if running && !maps.Equal(next.Ulimits, rec.Ulimits) {
		next.PendingUlimits = true
	}
	if next.PendingUlimits && running {
		notes = append(notes, fmt.Sprintf("ulimits take effect at the next start: `fatbox restart %s`", name))
	} else if !running && !maps.Equal(next.Ulimits, rec.Ulimits) {
		notes = append(notes, "ulimits take effect when it starts")
	}
	if u.DiskBytes != nil && next.DiskMiB == rec.DiskMiB {
		next.PendingDiskMiB = 0 // the size in force was asked for again: a pending grow is cancelled
	}
	if next.DiskMiB != rec.DiskMiB {
		note, err := e.resizeDisk(ctx, &next, rec.DiskMiB, running)
		if err != nil {
			if running && limitsChanged {
				err = errors.Join(err, e.Runtime.Update(context.Background(), rec.InstanceKey(), limitsOf(rec)))
			}
			return rec, nil, err
		}
		if note != "" {
			notes = append(notes, note)
		}
	}
	if err := e.Inventory.Put(ctx, next); err != nil {
		return rec, notes, err
	}
	if next.Syslog != rec.Syslog {
		if running {
			notes = append(notes, e.applySyslog(ctx, next))
		} else {
			notes = append(notes, "syslog forwarding takes effect when it starts")
		}
	}
	got, err := e.Inventory.Get(ctx, name)
	return got, notes, err
}

// checkUpdate is rec with u applied, every field checked by the one
// validation layer.
func (e *Engine) checkUpdate(rec inventory.Record, u UpdateRequest) (inventory.Record, error) {
	next := rec
	next.Labels = maps.Clone(rec.Labels)
	h, err := e.host()
	if err != nil {
		return rec, err
	}
	if u.CPUs != nil {
		if err := limits.CheckCPUs("cpus", *u.CPUs, h.CPUs); err != nil {
			return rec, err
		}
		next.CPUs, next.VCPUs = *u.CPUs, int(math.Ceil(*u.CPUs))
	}
	if u.MemoryBytes != nil {
		if err := limits.CheckMemory("memory_bytes", *u.MemoryBytes); err != nil {
			return rec, err
		}
		next.MemoryMiB = *u.MemoryBytes >> 20
	}
	if u.SwapBytes != nil {
		if err := limits.CheckSwap("swap_bytes", *u.SwapBytes); err != nil {
			return rec, err
		}
		next.SwapMiB = *u.SwapBytes >> 20
	}
	if u.DiskBytes != nil {
		if err := limits.CheckDisk("disk_bytes", *u.DiskBytes); err != nil {
			return rec, err
		}
		next.DiskMiB = *u.DiskBytes >> 20
	}
	for _, f := range []struct {
		name string
		v    *string
		dst  *string
	}{{"owner", u.Owner, &next.Owner}, {"app", u.App, &next.App}, {"env", u.Env, &next.Env}} {
		if f.v == nil {
			continue
		}
		if err := inventory.CheckField(f.name, *f.v); err != nil {
			return rec, err
		}
		*f.dst = *f.v
	}
	for _, k := range u.RemoveLabels {
		delete(next.Labels, k)
	}
	if len(u.SetLabels) > 0 && next.Labels == nil {
		next.Labels = map[string]string{}
	}
	maps.Copy(next.Labels, u.SetLabels)
	if len(next.Labels) == 0 {
		next.Labels = nil
	}
	if err := inventory.CheckLabels(next.Labels); err != nil {
		return rec, err
	}
	if err := checkSyslog(&next, u.Syslog); err != nil {
		return rec, err
	}
	if len(u.SetServices)+len(u.RemoveServices) > 0 {
		drop := map[string]bool{}
		for _, n := range u.RemoveServices {
			drop[n] = true
		}
		for _, s := range u.SetServices {
			drop[s.Name] = true
		}
		next.Services = nil
		for _, s := range rec.Services {
			if !drop[s.Name] {
				next.Services = append(next.Services, s)
			}
		}
		next.Services = append(next.Services, u.SetServices...)
		if err := inventory.CheckServices(next.Services); err != nil {
			return rec, err
		}
	}
	if len(u.Ulimits) > 0 {
		host, err := limits.ReadHostUlimits()
		if err != nil {
			return rec, err
		}
		if err := checkUlimits("ulimits", u.Ulimits, host); err != nil {
			return rec, err
		}
		if rec.Ulimits == nil { // a record from before ulimits: its limits are the defaults
			if next.Ulimits, err = createUlimits(nil); err != nil {
				return rec, err
			}
		} else {
			next.Ulimits = maps.Clone(rec.Ulimits)
		}
		maps.Copy(next.Ulimits, u.Ulimits)
	}
	return next, nil
}

// admitUpdate checks the new sizes against the overcommit ceilings, with
// the container's old sizes taken out of the node's sums.
func (e *Engine) admitUpdate(ctx context.Context, rec, next inventory.Record) error {
	if next.CPUs <= rec.CPUs && next.MemoryMiB <= rec.MemoryMiB && next.DiskMiB <= rec.DiskMiB {
		return nil
	}
	h, err := e.host()
	if err != nil {
		return err
	}
	u, err := e.usage(ctx)
	if err != nil {
		return err
	}
	u.Containers--
	u.CPUs -= rec.CPUs
	u.MemoryBytes -= rec.MemoryMiB << 20
	u.DiskBytes -= max(rec.DiskMiB, rec.PendingDiskMiB) << 20
	return e.overcommit().Admit(h, u, next.CPUs, next.MemoryMiB<<20, next.DiskMiB<<20)
}

// resizeDisk changes the disk to next.DiskMiB: grown at once (online when
// running and the kernel allows it; else recorded as pending and grown at
// the next start), shrunk only when stopped.
func (e *Engine) resizeDisk(ctx context.Context, next *inventory.Record, oldMiB int64, running bool) (string, error) {
	l := rootfs.Layout{Dir: e.dir(next.InstanceKey())}
	want := next.DiskMiB
	if want < oldMiB && running {
		return "", conflictf("container %q runs: a disk shrinks only when stopped (`fatbox stop %s`), and never below what its files use", next.Name, next.Name)
	}
	err := rootfs.Resize(ctx, l, want<<20)
	switch {
	case errors.Is(err, rootfs.ErrOnlineGrowDenied):
		next.DiskMiB, next.PendingDiskMiB = oldMiB, want
		return fmt.Sprintf("disk: %s at the next start (this host does not let fatbox grow a mounted disk); %s until then",
			limits.FormatSize(want<<20), limits.FormatSize(oldMiB<<20)), nil
	case errors.Is(err, rootfs.ErrTooSmall):
		return "", invalidf("disk of %q: %v", next.Name, err)
	case err != nil:
		return "", err
	}
	next.PendingDiskMiB = 0
	return "", nil
}

// applyPendingDisk grows a stopped container's disk to the size asked
// for while it ran (before its disk is mounted at start).
func (e *Engine) applyPendingDisk(ctx context.Context, rec *inventory.Record) error {
	if rec.PendingDiskMiB == 0 {
		return nil
	}
	if err := rootfs.Resize(ctx, rootfs.Layout{Dir: e.dir(rec.InstanceKey())}, rec.PendingDiskMiB<<20); err != nil {
		return fmt.Errorf("grow the disk of %q to %s, asked for while it ran: %w", rec.Name, limits.FormatSize(rec.PendingDiskMiB<<20), err)
	}
	rec.DiskMiB, rec.PendingDiskMiB = rec.PendingDiskMiB, 0
	return nil
}

// limitsOf is a record's CPU and memory limits as runc takes them.
func limitsOf(r inventory.Record) runtime.Limits {
	return runtime.Limits{CPUs: r.CPUs, Cpuset: r.Cpuset, MemoryBytes: r.MemoryMiB << 20, SwapBytes: r.SwapMiB << 20}
}
