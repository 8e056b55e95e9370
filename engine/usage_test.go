package engine

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store/memstore"
)

// testDisk is the fake container's disk device.
const testDisk = "7:3"

// fakeCgroups is a cgroup v1 tree in a temp dir: one hierarchy per
// controller, as on the test hosts (cpu and cpuacct apart).
type fakeCgroups struct {
	t      *testing.T
	root   string
	mounts map[string]string
}

func newFakeCgroups(t *testing.T) *fakeCgroups {
	f := &fakeCgroups{t: t, root: t.TempDir(), mounts: map[string]string{}}
	for _, c := range []string{"cpuacct", "blkio", "memory", "pids"} {
		f.mounts[c] = filepath.Join(f.root, c)
	}
	return f
}

// boot makes (or makes anew: a fresh directory renamed into place, so it
// never gets the old one's inode) container name's cgroups with these
// counter values.
func (f *fakeCgroups) boot(name string, cpu, readB, writeB, readOps, writeOps, failcnt, oomKills uint64) {
	f.t.Helper()
	files := map[string]map[string]string{
		"cpuacct": {"cpuacct.usage": u64(cpu) + "\n"},
		"blkio": {
			// Another device's IO (the host's disk, the image) is not the container's disk's.
			"blkio.throttle.io_service_bytes_recursive": "253:0 Read 999\n253:0 Write 7\n7:3 Read " + u64(readB) + "\n7:3 Write " + u64(writeB) +
				"\n7:3 Sync 0\n7:3 Total " + u64(readB+writeB) + "\nTotal " + u64(readB+writeB+1006) + "\n",
			"blkio.throttle.io_serviced_recursive": "7:3 Read " + u64(readOps) + "\n7:3 Write " + u64(writeOps) + "\n7:3 Total " + u64(readOps+writeOps) + "\nTotal " + u64(readOps+writeOps) + "\n",
		},
		"memory": {
			"memory.failcnt":              u64(failcnt) + "\n",
			"memory.oom_control":          "oom_kill_disable 0\nunder_oom 0\noom_kill " + u64(oomKills) + "\n",
			"memory.usage_in_bytes":       "67108864\n",
			"memory.max_usage_in_bytes":   "134217728\n",
			"memory.stat":                 "cache 1\nrss 2\nswap 3\ntotal_cache 4096\ntotal_rss 8192\ntotal_swap 0\n",
			"memory.limit_in_bytes":       "536870912\n",
			"memory.memsw.usage_in_bytes": "1\n",
		},
		"pids": {"pids.current": "12\n"},
	}
	for c, fs := range files {
		dir := filepath.Join(f.mounts[c], cgroupBase, name)
		tmp := dir + ".new"
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			f.t.Fatal(err)
		}
		for n, v := range fs {
			if err := os.WriteFile(filepath.Join(tmp, n), []byte(v), 0o644); err != nil {
				f.t.Fatal(err)
			}
		}
		old := dir + ".old"
		_ = os.Rename(dir, old)
		if err := os.Rename(tmp, dir); err != nil {
			f.t.Fatal(err)
		}
		if err := os.RemoveAll(old); err != nil {
			f.t.Fatal(err)
		}
	}
}

// stop removes the container's cgroups.
func (f *fakeCgroups) stop(name string) {
	f.t.Helper()
	for _, m := range f.mounts {
		if err := os.RemoveAll(filepath.Join(m, cgroupBase, name)); err != nil {
			f.t.Fatal(err)
		}
	}
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

// readUsage reads every counter and gauge from the files cgroup v1 has,
// summing blkio over devices without the Total lines; a container with no
// cgroups (stopped) is no error and reads nothing.
func TestReadUsageFromCgroupFiles(t *testing.T) {
	f := newFakeCgroups(t)
	name := "fbu-none-" + u64(uint64(time.Now().UnixNano()%1e6)) // no veth of this name exists
	r, err := readUsage(f.mounts, "boot1", name, testDisk, network.Counters)
	if err != nil || len(r.counters) != 0 || r.gauges != (Gauges{}) {
		t.Fatalf("a container without cgroups: %+v %v", r, err)
	}
	f.boot(name, 2_500_000_000, 64<<20, 32<<20, 500, 256, 3, 1)
	r, err = readUsage(f.mounts, "boot1", name, testDisk, network.Counters)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{inventory.UsageCPUNanos: 2_500_000_000, inventory.UsageDiskReadBytes: 64 << 20, inventory.UsageDiskWriteBytes: 32 << 20,
		inventory.UsageDiskReadOps: 500, inventory.UsageDiskWriteOps: 256, inventory.UsageMemoryLimitHits: 3, inventory.UsageOOMKills: 1}
	if len(r.counters) != len(want) {
		t.Errorf("read %d counters, want %d: %+v", len(r.counters), len(want), r.counters)
	}
	epochs := map[string]string{}
	for n, v := range want {
		got, ok := r.counters[n]
		if !ok || got.Value != v || !strings.HasPrefix(got.Epoch, "boot1:ino") {
			t.Errorf("%s: %+v, want %d with an epoch of boot1", n, got, v)
		}
		epochs[n] = got.Epoch
	}
	if g := r.gauges; g != (Gauges{MemoryUsageBytes: 64 << 20, MemoryMaxUsageBytes: 128 << 20, MemoryCacheBytes: 4096, MemoryRSSBytes: 8192, Pids: 12}) {
		t.Errorf("gauges %+v", g)
	}
	// A boot makes new cgroups: every epoch changes.
	f.boot(name, 1, 1000, 0, 0, 0, 0, 0)
	r, err = readUsage(f.mounts, "boot1", name, testDisk, network.Counters)
	if err != nil {
		t.Fatal(err)
	}
	for n, e := range epochs {
		if r.counters[n].Epoch == e {
			t.Errorf("%s: epoch %q unchanged across a new cgroup", n, e)
		}
	}
	// A cgroup file that cannot be parsed is an error, and the rest is
	// still read.
	if err := os.WriteFile(filepath.Join(f.mounts["cpuacct"], cgroupBase, name, "cpuacct.usage"), []byte("lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err = readUsage(f.mounts, "boot1", name, testDisk, network.Counters)
	if err == nil || !strings.Contains(err.Error(), "cpuacct.usage") {
		t.Errorf("a bad cpuacct.usage: %v", err)
	}
	if _, ok := r.counters[inventory.UsageCPUNanos]; ok || r.counters[inventory.UsageDiskReadBytes].Value != 1000 {
		t.Errorf("with a bad cpuacct.usage: %+v", r.counters)
	}
	// No disk mounted: no disk counters.
	if r, err := readUsage(f.mounts, "boot1", name, "", network.Counters); err == nil || r.counters[inventory.UsageDiskReadBytes] != (inventory.Reading{}) {
		t.Errorf("without a disk: %+v %v", r.counters, err) // err: the bad cpuacct.usage above
	}
	// A hierarchy that is not mounted is an error.
	delete(f.mounts, "blkio")
	if _, err := readUsage(f.mounts, "boot1", name, testDisk, network.Counters); err == nil || !strings.Contains(err.Error(), "blkio") {
		t.Errorf("no blkio hierarchy: %v", err)
	}
}

// A container's life with the store between readings (the reset logic
// end to end, without root): it runs, stops (its cgroups go), boots again
// with counters past the old ones, and its totals hold both boots.
func TestUsageAcrossFakeRestarts(t *testing.T) {
	ctx := context.Background()
	f := newFakeCgroups(t)
	inv := &inventory.Inventory{Store: memstore.New()}
	name := "fbu-life-" + u64(uint64(time.Now().UnixNano()%1e6))
	const id = "0192a8e4-0000-7000-8000-0000000000aa"
	sample := func() inventory.Usage {
		t.Helper()
		r, err := readUsage(f.mounts, "boot1", name, testDisk, network.Counters)
		if err != nil {
			t.Fatal(err)
		}
		u, err := inv.RecordUsage(ctx, id, name, r.counters, r.at)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	f.boot(name, 1_000, 5_000, 2_000, 10, 4, 0, 0)
	sample()
	// A restart between two samples whose new counters are all past the
	// old ones: only the new cgroups' epochs tell.
	f.boot(name, 3_000, 7_000, 2_000, 12, 4, 0, 0)
	u := sample()
	if got := u.Total(inventory.UsageCPUNanos); got != 4_000 {
		t.Fatalf("cpu after a restart the values alone would hide: %d, want 1000 + 3000", got)
	}
	f.stop(name)
	if u := sample(); u.Total(inventory.UsageCPUNanos) != 4_000 {
		t.Fatalf("a stopped container's totals: %+v", u.Counters)
	}
	f.boot(name, 500, 1_000, 0, 1, 0, 0, 2)
	u = sample()
	for n, want := range map[string]uint64{inventory.UsageCPUNanos: 4_500, inventory.UsageDiskReadBytes: 5_000 + 7_000 + 1_000,
		inventory.UsageDiskWriteBytes: 4_000, inventory.UsageDiskReadOps: 23, inventory.UsageOOMKills: 2} {
		if got := u.Total(n); got != want {
			t.Errorf("%s: %d, want %d", n, got, want)
		}
	}
}

func TestParseCgroupMounts(t *testing.T) {
	const mi = `25 30 0:22 / /sys/fs/cgroup rw,relatime shared:9 - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime shared:10 - cgroup cgroup rw,cpu
27 25 0:24 / /sys/fs/cgroup/cpuacct rw,relatime shared:11 - cgroup cgroup rw,cpuacct
28 25 0:25 / /sys/fs/cgroup/blkio rw,relatime shared:12 - cgroup cgroup rw,blkio
29 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:13 - cgroup cgroup rw,memory
30 25 0:27 / /sys/fs/cgroup/pids rw,relatime shared:14 - cgroup cgroup rw,pids
31 25 0:28 / /sys/fs/cgroup/unified rw,relatime shared:15 - cgroup2 cgroup2 rw
40 30 0:26 /fatbox/x /mnt/x\040y rw,relatime - cgroup cgroup rw,memory
41 30 0:29 / /mnt/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
`
	got := parseCgroupMounts(strings.NewReader(mi))
	want := map[string]string{"cpu": "/sys/fs/cgroup/cpu", "cpuacct": "/sys/fs/cgroup/cpuacct", "blkio": "/sys/fs/cgroup/blkio", "memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	got = parseCgroupMounts(strings.NewReader("41 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n42 30 0:30 / /a\\040b rw - cgroup cgroup rw,pids\n"))
	if got["cpuacct"] != "/sys/fs/cgroup/cpu,cpuacct" || got["cpu"] != "/sys/fs/cgroup/cpu,cpuacct" || got["pids"] != "/a b" {
		t.Errorf("a joint hierarchy and an escaped path: %v", got)
	}
}

// countDiskIO writes a rule of no limit for the disk on fatbox's parent
// cgroup (what switches blk-throttle, and so the counting, on).
func TestCountDiskIO(t *testing.T) {
	f := newFakeCgroups(t)
	if err := countDiskIO(f.mounts, ""); err != nil {
		t.Fatal(err)
	}
	if err := countDiskIO(f.mounts, testDisk); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(f.mounts["blkio"], cgroupBase, "blkio.throttle.read_bps_device"))
	if err != nil || string(b) != "7:3 0\n" {
		t.Fatalf("rule %q %v", b, err)
	}
}

// The usage code reads the cgroups where runtime.Spec puts them.
func TestCgroupPathMatchesSpec(t *testing.T) {
	s, err := runtime.Spec(runtime.SpecConfig{Name: "web-01", Rootfs: "/r", Netns: "/n", Supervisor: "/s"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "/" + cgroupBase + "/web-01"; s.Linux.CgroupsPath != want {
		t.Fatalf("runtime.Spec's CgroupsPath is %q; usage.go reads %q: make them agree", s.Linux.CgroupsPath, want)
	}
}
