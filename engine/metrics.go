package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/ipam"
)

// Metrics: the figures the daemon's Prometheus endpoint exposes, read on
// each scrape. The engine gives plain structs; the daemon (engine/daemon/
// metrics.go) names them as Prometheus series and knows nothing of cgroups.
//
// Cost: one List of the records, one ipam read per pool, and per running
// container of this node one stat of runc's state file, one usage record
// read and the same cgroup files and veth counters as a usage sample (plus
// cpu.stat, memory.limit_in_bytes and a statfs of its disk). No command is
// run: a scrape costs the same per container whatever their number.
//
// A scrape takes no lifecycle lock and records nothing: the counters are
// the kept totals (inventory/usage.go) with this reading folded in, in
// memory, so they are the figures billing gets, and a scrape never blocks a
// create or a stop. A container being stopped while it is read may show a
// counter at its last stored total (its cgroup went between two reads);
// the next scrape no longer lists it.

// MetricsSnapshot is one scrape's figures of this node.
type MetricsSnapshot struct {
	Node string
	// Containers are this node's running containers (record running and
	// known to runc), by name.
	Containers []ContainerMetrics
	// States counts this node's containers by record status (every
	// inventory.Status* present, 0 included).
	States map[string]int
	// Pools are every address pool's figures (pools are the cluster's, so
	// every node reports the same).
	Pools []PoolMetrics
	// LXCFS is "healthy", "unhealthy" or "absent" (not installed).
	LXCFS string
	// Errors are what could not be read; the rest is still answered.
	Errors []error
}

// ContainerMetrics are one running container's figures.
type ContainerMetrics struct {
	Name, ID, IP, Pool, App, Owner, Env, Node string
	// Counters are the kept running totals by the inventory's Usage*
	// names, this reading included (what Stats answers).
	Counters map[string]uint64
	// Gauges are the values of now.
	Gauges Gauges
	// MemoryLimitBytes is memory.limit_in_bytes (0: unread).
	MemoryLimitBytes uint64
	// CPU is the CFS bandwidth figures of this boot (cpu.stat): they start
	// again at 0 when the container boots.
	CPU CPUStat
	// DiskUsedBytes and DiskSizeBytes are the statfs of its mounted disk
	// (DiskMounted false: not mounted, both 0).
	DiskMounted                  bool
	DiskUsedBytes, DiskSizeBytes uint64
}

// CPUStat is cgroup v1 cpu.stat: CFS periods, those throttled, and the
// time throttled.
type CPUStat struct {
	Periods, ThrottledPeriods, ThrottledNanos uint64
}

// PoolMetrics are one address pool's figures.
type PoolMetrics struct {
	Name string
	// Capacity is every address the pool can lease; Active are leased,
	// Quarantined released but not yet free; Free the rest.
	Capacity, Active, Quarantined, Free int
}

// Metrics reads the figures of this node's containers and of its host
// for one scrape. It fails only when the records cannot be listed; any
// other failure is in the snapshot's Errors.
func (e *Engine) Metrics(ctx context.Context) (MetricsSnapshot, error) {
	recs, err := e.Inventory.List(ctx)
	if err != nil {
		return MetricsSnapshot{}, fmt.Errorf("metrics: list the containers: %w", err)
	}
	s := MetricsSnapshot{Node: e.Node, States: map[string]int{}}
	for _, st := range []string{inventory.StatusCreating, inventory.StatusRunning, inventory.StatusStopping,
		inventory.StatusStopped, inventory.StatusRemoving} {
		s.States[st] = 0
	}
	mounts := cgroupMounts()
	boot := e.bootID()
	// Every container's kept counters in one store read: a read per
	// container (a bolt open each) was most of a scrape's cost.
	usages, err := e.Inventory.Usages(ctx)
	if err != nil {
		return MetricsSnapshot{}, fmt.Errorf("metrics: read the usage counters: %w", err)
	}
	// Every host veth's counters in one dump.
	all, lerr := network.AllCounters()
	if lerr != nil {
		s.Errors = append(s.Errors, fmt.Errorf("metrics: %w", lerr))
	}
	links := func(name string) (network.LinkCounters, error) {
		if lerr != nil {
			return network.LinkCounters{}, network.ErrNoLink // said once above
		}
		lc, ok := all[name]
		if !ok {
			return lc, fmt.Errorf("counters of %q: %w", name, network.ErrNoLink)
		}
		return lc, nil
	}
	var running []inventory.Record
	for _, rec := range recs {
		if rec.Node != e.Node {
			continue
		}
		s.States[rec.Status]++
		if rec.Status == inventory.StatusRunning && e.Runtime.Known(rec.InstanceKey()) {
			running = append(running, rec)
		}
	}
	// The reads are syscalls on cgroup files (the kernel's work, mostly):
	// one worker per CPU, each filling its own slots.
	out := make([]ContainerMetrics, len(running))
	errs := make([]error, len(running))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(running)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				rec := running[i]
				u, ok := usages[rec.ID]
				if !ok {
					u = inventory.Usage{ContainerID: rec.ID}
				}
				out[i], errs[i] = e.containerMetrics(mounts, boot, rec, u, links)
			}
		}()
	}
	for i := range running {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return s, err
	}
	for i, c := range out {
		if errs[i] != nil {
			s.Errors = append(s.Errors, errs[i])
		}
		if c.Counters != nil {
			s.Containers = append(s.Containers, c)
		}
	}
	sort.Slice(s.Containers, func(i, j int) bool { return s.Containers[i].Name < s.Containers[j].Name })
	pools, err := e.poolMetrics(ctx)
	if err != nil {
		s.Errors = append(s.Errors, err)
	}
	s.Pools = pools
	switch {
	case e.LXCFS == nil:
		s.LXCFS = "absent"
	case e.LXCFS.Healthy() != nil:
		s.LXCFS = "unhealthy"
	default:
		s.LXCFS = "healthy"
	}
	return s, nil
}

// containerMetrics reads one running container. A container whose usage
// record cannot be read has no Counters (it is left out); a source that
// cannot be read leaves its figures at 0 and is returned.
func (e *Engine) containerMetrics(mounts map[string]string, boot string, rec inventory.Record, u inventory.Usage, links linkCounters) (ContainerMetrics, error) {
	c := ContainerMetrics{Name: rec.Name, ID: rec.ID, IP: rec.IP, Pool: rec.Pool, App: rec.App, Owner: rec.Owner, Env: rec.Env, Node: rec.Node}
	inst := rec.InstanceKey()
	dir := e.dir(inst)
	r, rerr := readUsage(mounts, boot, inst, mountedDevice(dir), links)
	u.Apply(r.counters) // in memory only: the sampler and stop record
	c.Counters = map[string]uint64{}
	for _, n := range usageCounterNames {
		c.Counters[n] = u.Total(n)
	}
	c.Gauges, c.MemoryLimitBytes, c.CPU = r.gauges, r.memLimit, r.cpu
	var errs []error
	if rerr != nil {
		errs = append(errs, rerr)
	}
	c.DiskMounted, c.DiskUsedBytes, c.DiskSizeBytes = diskFill(filepath.Join(dir, "disk"))
	if len(errs) > 0 {
		return c, fmt.Errorf("metrics of %q: %w", rec.Name, errors.Join(errs...))
	}
	return c, nil
}

// diskFill is the statfs of a container's disk dir when a file system is
// mounted there (its device differs from its parent's): two stats and a
// statfs, not a read of the mount table, so the cost stays flat per
// container.
func diskFill(diskDir string) (mounted bool, used, size uint64) {
	var in, parent unix.Stat_t
	if unix.Stat(diskDir, &in) != nil || unix.Stat(filepath.Dir(diskDir), &parent) != nil || in.Dev == parent.Dev {
		return false, 0, 0
	}
	var s unix.Statfs_t
	if unix.Statfs(diskDir, &s) != nil {
		return false, 0, 0
	}
	return true, (s.Blocks - s.Bfree) * uint64(s.Bsize), s.Blocks * uint64(s.Bsize)
}

// poolMetrics counts every pool's leases.
func (e *Engine) poolMetrics(ctx context.Context) ([]PoolMetrics, error) {
	pools, err := e.IPAM.ListPools(ctx)
	if err != nil {
		return nil, fmt.Errorf("metrics: list the pools: %w", err)
	}
	var out []PoolMetrics
	var errs []error
	now := time.Now()
	for _, p := range pools {
		leases, err := e.IPAM.List(ctx, p.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("metrics: leases of pool %q: %w", p.Name, err))
			continue
		}
		m := PoolMetrics{Name: p.Name, Capacity: p.Capacity()}
		for _, l := range leases {
			switch {
			case l.State != ipam.Released:
				m.Active++
			case l.QuarantineUntil.After(now): // a released lease past its quarantine is free
				m.Quarantined++
			}
		}
		m.Free = max(m.Capacity-m.Active-m.Quarantined, 0)
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}

// mountedDevice is the device ("MAJ:MIN") of the file system mounted on
// dir's disk dir — its loop device — or "" when none is: two stats, where
// diskDevice reads the whole mount table (a scrape would read it once per
// container, its cost growing with the square of their number).
func mountedDevice(dir string) string {
	var d, parent unix.Stat_t
	if unix.Stat(filepath.Join(dir, "disk"), &d) != nil || unix.Stat(dir, &parent) != nil || d.Dev == parent.Dev {
		return ""
	}
	return fmt.Sprintf("%d:%d", unix.Major(d.Dev), unix.Minor(d.Dev))
}
