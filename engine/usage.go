package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/engine/rootfs"
	"github.com/fatbox/fatbox/inventory"
)

// Usage: a container's counters, read from its cgroups (cgroup v1, at
// /sys/fs/cgroup/<controller>/fatbox/<name>: runtime.Spec's CgroupsPath)
// and from the host end of its veth (engine/network.Counters), kept as
// running totals across restarts by the inventory's rules (see
// inventory/usage.go: base + last raw reading, a new epoch or a smaller
// value is a reset). Readings of one container are taken and recorded
// under its lifecycle lock, so they land in the store in the order they
// were taken; halt's final reading already holds it.
//
//	counter             source
//	cpu_ns              cpuacct.usage
//	disk_{read,write}_bytes  blkio.throttle.io_service_bytes_recursive (Read, Write of its disk)
//	disk_{read,write}_ops    blkio.throttle.io_serviced_recursive
//	memory_limit_hits   memory.failcnt
//	oom_kills           memory.oom_control oom_kill
//	net_*_{in,out}      host veth tx (in) and rx (out): bytes, packets, drops
//
// Gauges (only while running): memory.usage_in_bytes,
// memory.max_usage_in_bytes (the peak of this boot), memory.stat's
// total_cache, total_rss and total_swap, pids.current.
//
// Disk counters are the IO on the container's own disk (its loop device;
// reads of the shared image, mostly from the page cache, are the host's)
// that cgroup v1 charges to the container: reads and direct writes;
// buffered writes are written back by kernel threads outside its cgroup
// and are not counted (as the blkio throttles do not limit them). The
// kernel counts a device's IO only once blk-throttle is on for it
// (countDiskIO), which boot sees to before the container runs.

// cgroupBase is where a container's cgroup lives in each hierarchy: the
// CgroupsPath of runtime.Spec is "/fatbox/<name>" (a test holds them equal).
const cgroupBase = "fatbox"

// Stats is a container's usage: its kept counters and its gauges of now.
type Stats struct {
	Name, ID, Node string
	// State is runc's now ("running", "stopped", ...); "" when runc does
	// not know the container or it is another node's.
	State string
	// ReadAt is when the kernel's counters were read; zero when nothing
	// could be read (not running, another node's): the counters are then
	// the stored totals as of SampledAt.
	ReadAt time.Time
	// SampledAt is the time of the last reading the totals include; zero
	// when the container was never read.
	SampledAt time.Time
	// Counters are the running totals, by the inventory's Usage* names.
	Counters map[string]uint64
	// Gauges are values of now, zero unless running.
	Gauges Gauges
}

// Gauges are a running container's values of now.
type Gauges struct {
	MemoryUsageBytes    uint64
	MemoryMaxUsageBytes uint64
	MemoryCacheBytes    uint64
	MemoryRSSBytes      uint64
	MemorySwapBytes     uint64
	Pids                uint64
}

// Stats reads a container's usage. On this node it reads the kernel's
// counters now and records them (a stats request is a sample too); a
// container of another node answers its stored totals.
func (e *Engine) Stats(ctx context.Context, name string) (Stats, error) {
	rec, err := e.Inventory.Get(ctx, name)
	if err != nil {
		return Stats{}, err
	}
	if rec.Node != e.Node {
		u, err := e.Inventory.Usage(ctx, rec.ID)
		return statsOf(rec, u, "", usageReading{}), err
	}
	unlock := e.lock(name)
	defer unlock()
	if rec, err = e.Inventory.Get(ctx, name); err != nil { // it may have changed while we waited
		return Stats{}, err
	}
	state, _, err := e.Runtime.State(ctx, rec.InstanceKey())
	if err != nil {
		return Stats{}, err
	}
	u, r, err := e.sampleLocked(ctx, rec, state != "")
	if err != nil {
		return Stats{}, err
	}
	return statsOf(rec, u, state, r), nil
}

func statsOf(rec inventory.Record, u inventory.Usage, state string, r usageReading) Stats {
	s := Stats{Name: rec.Name, ID: rec.ID, Node: rec.Node, State: state, ReadAt: r.at, SampledAt: u.SampledAt, Counters: map[string]uint64{}}
	for _, n := range usageCounterNames {
		s.Counters[n] = u.Total(n)
	}
	if state == "running" {
		s.Gauges = r.gauges
	}
	return s
}

// usageCounterNames are every counter Stats answers (0 until read).
var usageCounterNames = []string{inventory.UsageCPUNanos, inventory.UsageDiskReadBytes, inventory.UsageDiskWriteBytes,
	inventory.UsageDiskReadOps, inventory.UsageDiskWriteOps, inventory.UsageNetBytesIn, inventory.UsageNetBytesOut,
	inventory.UsageNetPacketsIn, inventory.UsageNetPacketsOut, inventory.UsageNetDropsIn, inventory.UsageNetDropsOut,
	inventory.UsageOOMKills, inventory.UsageMemoryLimitHits}

// sampleLocked reads rec's counters (when known: runc has the container,
// so its cgroups and veth are this state dir's and not another daemon's
// container of the same name) and records them. The caller holds rec's
// lock. A source that is gone (the container stopped) is left out; a
// source that cannot be read for another reason is an error, and what
// could be read is recorded first.
func (e *Engine) sampleLocked(ctx context.Context, rec inventory.Record, known bool) (inventory.Usage, usageReading, error) {
	if !known {
		u, err := e.Inventory.Usage(ctx, rec.ID)
		return u, usageReading{}, err
	}
	mounts := cgroupMounts()
	dev := diskDevice(e.dir(rec.InstanceKey()))
	_ = countDiskIO(mounts, dev) // a container booted before fatbox did this at boot
	r, rerr := readUsage(mounts, e.bootID(), rec.InstanceKey(), dev, network.Counters)
	u, err := e.Inventory.RecordUsage(ctx, rec.ID, rec.Name, r.counters, r.at)
	if err != nil {
		return u, r, err
	}
	if rerr != nil {
		return u, r, fmt.Errorf("read the usage of %q: %w", rec.Name, rerr)
	}
	return u, r, nil
}

// finalUsage is halt's last reading of a container before its cgroups and
// veth go: best effort (a failure loses the usage since the last sample,
// like a container found dead; see inventory/usage.go). The caller holds
// the container's lock. A container with no record (an orphan) is not
// counted. inst is its instance.
func (e *Engine) finalUsage(ctx context.Context, inst string) {
	if !e.Runtime.Known(inst) {
		return
	}
	rec, err := e.recordOfInstance(ctx, inst)
	// A create that never finished has no events, so nothing would ever
	// prune its usage: it is not counted.
	if err != nil || rec.Node != e.Node || rec.Status == inventory.StatusCreating {
		return
	}
	_, _, _ = e.sampleLocked(ctx, rec, true)
}

// SampleUsage reads and records the counters of every running container
// of this node (the daemon calls it once a minute, which bounds what a
// container found dead loses). It goes on past errors and returns them.
func (e *Engine) SampleUsage(ctx context.Context) error {
	recs, err := e.Inventory.List(ctx)
	if err != nil {
		return fmt.Errorf("sample usage: %w", err)
	}
	var errs []error
	for _, rec := range recs {
		if rec.Node != e.Node || rec.Status != inventory.StatusRunning {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := e.sampleOne(ctx, rec.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) sampleOne(ctx context.Context, name string) error {
	unlock := e.lock(name)
	defer unlock()
	rec, err := e.Inventory.Get(ctx, name)
	if errors.Is(err, inventory.ErrNotFound) {
		return nil // removed meanwhile: its remove took the final reading
	}
	if err != nil {
		return err
	}
	_, _, err = e.sampleLocked(ctx, rec, e.Runtime.Known(rec.InstanceKey()))
	return err
}

// usageReading is one read of a container's kernel counters.
type usageReading struct {
	at       time.Time
	counters map[string]inventory.Reading
	gauges   Gauges
	// memLimit (memory.limit_in_bytes) and cpu (cpu.stat) are read in the
	// same pass, for a scrape.
	memLimit uint64
	cpu      CPUStat
}

// linkCounters reads a container's host veth counters: network.Counters,
// or a lookup in one dump of them all (a scrape).
type linkCounters func(container string) (network.LinkCounters, error)

// readUsage reads container name's cgroups under mounts (controller →
// mount point) and its host veth; epochs start with boot. The disk
// counters are those of device dev ("MAJ:MIN", the container's own disk;
// "": none). Sources that are not there (a stopped container) are left
// out silently; other failures are returned joined, with what could be
// read.
func readUsage(mounts map[string]string, boot, name, dev string, links linkCounters) (usageReading, error) {
	r := usageReading{at: time.Now().UTC(), counters: map[string]inventory.Reading{}}
	var errs []error
	gone := func(err error) bool { return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV) }
	read := func(controller string, fn func(d *os.Root, epoch string) error) {
		mnt, ok := mounts[controller]
		if !ok {
			errs = append(errs, fmt.Errorf("no cgroup v1 %s hierarchy is mounted: usage needs it", controller))
			return
		}
		err := readCgroup(filepath.Join(mnt, cgroupBase, name), boot, fn)
		if err != nil && !gone(err) {
			errs = append(errs, fmt.Errorf("cgroup %s: %w", controller, err))
		}
	}
	cpuStat := func(d *os.Root) error {
		st, err := readKeyed(d, "cpu.stat")
		r.cpu = CPUStat{Periods: st["nr_periods"], ThrottledPeriods: st["nr_throttled"], ThrottledNanos: st["throttled_time"]}
		return err
	}
	// cpu and cpuacct are one hierarchy where mounted together (the usual
	// "cpu,cpuacct"): one directory opened for both.
	together := mounts["cpu"] != "" && mounts["cpu"] == mounts["cpuacct"]
	read("cpuacct", func(d *os.Root, epoch string) error {
		v, err := readUint(d, "cpuacct.usage")
		if err != nil {
			return err
		}
		r.counters[inventory.UsageCPUNanos] = inventory.Reading{Value: v, Epoch: epoch}
		if together {
			return cpuStat(d)
		}
		return nil
	})
	if _, ok := mounts["cpu"]; ok && !together {
		read("cpu", func(d *os.Root, _ string) error { return cpuStat(d) })
	}
	read("blkio", func(d *os.Root, epoch string) error {
		if dev == "" {
			return nil
		}
		bytes, err := readBlkio(d, "blkio.throttle.io_service_bytes_recursive", dev)
		if err != nil {
			return err
		}
		ops, err := readBlkio(d, "blkio.throttle.io_serviced_recursive", dev)
		if err != nil {
			return err
		}
		r.counters[inventory.UsageDiskReadBytes] = inventory.Reading{Value: bytes["Read"], Epoch: epoch}
		r.counters[inventory.UsageDiskWriteBytes] = inventory.Reading{Value: bytes["Write"], Epoch: epoch}
		r.counters[inventory.UsageDiskReadOps] = inventory.Reading{Value: ops["Read"], Epoch: epoch}
		r.counters[inventory.UsageDiskWriteOps] = inventory.Reading{Value: ops["Write"], Epoch: epoch}
		return nil
	})
	read("memory", func(d *os.Root, epoch string) error {
		fail, err := readUint(d, "memory.failcnt")
		if err != nil {
			return err
		}
		oom, err := readKeyed(d, "memory.oom_control")
		if err != nil {
			return err
		}
		st, err := readKeyed(d, "memory.stat")
		if err != nil {
			return err
		}
		use, err := readUint(d, "memory.usage_in_bytes")
		if err != nil {
			return err
		}
		peak, err := readUint(d, "memory.max_usage_in_bytes")
		if err != nil {
			return err
		}
		if r.memLimit, err = readUint(d, "memory.limit_in_bytes"); err != nil {
			return err
		}
		r.counters[inventory.UsageMemoryLimitHits] = inventory.Reading{Value: fail, Epoch: epoch}
		if v, ok := oom["oom_kill"]; ok { // since Linux 4.13
			r.counters[inventory.UsageOOMKills] = inventory.Reading{Value: v, Epoch: epoch}
		}
		pick := func(k string) uint64 {
			if v, ok := st["total_"+k]; ok {
				return v
			}
			return st[k]
		}
		r.gauges.MemoryUsageBytes, r.gauges.MemoryMaxUsageBytes = use, peak
		r.gauges.MemoryCacheBytes, r.gauges.MemoryRSSBytes, r.gauges.MemorySwapBytes = pick("cache"), pick("rss"), pick("swap")
		return nil
	})
	read("pids", func(d *os.Root, _ string) error {
		v, err := readUint(d, "pids.current")
		r.gauges.Pids = v
		return err
	})
	lc, err := links(name)
	switch {
	case errors.Is(err, network.ErrNoLink):
	case err != nil:
		errs = append(errs, err)
	default:
		epoch := boot + ":if" + strconv.Itoa(lc.Index)
		for n, v := range map[string]uint64{inventory.UsageNetBytesIn: lc.BytesIn, inventory.UsageNetBytesOut: lc.BytesOut,
			inventory.UsageNetPacketsIn: lc.PacketsIn, inventory.UsageNetPacketsOut: lc.PacketsOut,
			inventory.UsageNetDropsIn: lc.DropsIn, inventory.UsageNetDropsOut: lc.DropsOut} {
			r.counters[n] = inventory.Reading{Value: v, Epoch: epoch}
		}
	}
	return r, errors.Join(errs...)
}

// readCgroup opens cgroup directory dir and calls fn with it and its
// epoch (boot id and the directory's inode: a cgroup made anew has a new
// one). Files are opened relative to the open directory, so a cgroup
// removed and made again meanwhile is never read under the old epoch.
func readCgroup(dir, boot string, fn func(d *os.Root, epoch string) error) error {
	d, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	fi, err := d.Stat(".")
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("stat %s: no inode", dir)
	}
	return fn(d, boot+":ino"+strconv.FormatUint(st.Ino, 10))
}

func readFile(d *os.Root, name string) ([]byte, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

// readUint reads a file holding one number.
func readUint(d *os.Root, name string) (uint64, error) {
	b, err := readFile(d, name)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
}

// readKeyed reads "key value" lines (memory.stat, memory.oom_control).
func readKeyed(d *os.Root, name string) (map[string]uint64, error) {
	b, err := readFile(d, name)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			out[f[0]] = v
		}
	}
	return out, nil
}

// readBlkio reads a blkio file's "MAJ:MIN Op value" lines of device dev
// by Op.
func readBlkio(d *os.Root, name, dev string) (map[string]uint64, error) {
	b, err := readFile(d, name)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != dev {
			continue
		}
		v, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: line %q: %w", name, line, err)
		}
		out[f[1]] += v
	}
	return out, nil
}

// diskDevice is the container's own disk (its loop device) as "MAJ:MIN",
// "" when it is not mounted.
func diskDevice(dir string) string {
	maj, min, err := rootfs.DiskDevice(rootfs.Layout{Dir: dir})
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d:%d", maj, min)
}

// countDiskIO makes cgroup v1 count the IO on device dev ("MAJ:MIN"). The
// blkio.throttle.io_service* files count only bios that pass through
// blk-throttle, and newer kernels (this one: 6.18) switch blk-throttle on
// for a device only when a throttle rule is first written for it: until
// then a container with no IO limits reads 0. A rule of 0 (no limit) on
// fatbox's own parent cgroup switches it on without limiting anyone, and
// it stays on while the loop device exists. Idempotent.
func countDiskIO(mounts map[string]string, dev string) error {
	mnt, ok := mounts["blkio"]
	if dev == "" || !ok {
		return nil
	}
	parent := filepath.Join(mnt, cgroupBase)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(parent, "blkio.throttle.read_bps_device"), []byte(dev+" 0\n"), 0o644)
}

// countDiskIO switches IO counting on for the container's mounted disk
// before it runs (boot calls it; best effort: a failure leaves the disk
// counters at 0, nothing else).
func (e *Engine) countDiskIO(name string) {
	_ = countDiskIO(cgroupMounts(), diskDevice(e.dir(name)))
}

// cgroupMounts maps each cgroup v1 controller to the mount point of its
// hierarchy (from /proc/self/mountinfo; a hierarchy of several
// controllers, like cpu,cpuacct, is each one's). Hierarchies mounted from
// below their root (in a cgroup namespace) are left out.
func cgroupMounts() map[string]string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseCgroupMounts(f)
}

func parseCgroupMounts(r io.Reader) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 || g[0] != "cgroup" || f[3] != "/" {
			continue
		}
		for _, opt := range strings.Split(g[2], ",") {
			switch opt {
			case "cpu", "cpuacct", "blkio", "memory", "pids":
				if _, seen := out[opt]; !seen {
					out[opt] = rootfs.UnescapeOctal(f[4])
				}
			}
		}
	}
	return out
}

// bootID names this boot of the kernel: epochs carry it, because inodes
// and ifindexes start again after a reboot ("" if unreadable: epochs are
// then the inode or index alone). It is read once per engine: a boot id
// does not change while the process lives.
func (e *Engine) bootID() string {
	e.bootOnce.Do(func() {
		if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
			e.bootStr = strings.TrimSpace(string(b))
		}
	})
	return e.bootStr
}
