// Package runtime turns a fat container's settings into an OCI runtime spec
// and drives runc (Debian's runc 1.1) through github.com/containerd/go-runc.
//
// Hazards:
//   - runc is given /dev/null for the container's stdio, never a pipe: a
//     pipe someone waits on hangs until the container exits.
//   - Rlimits stay within the daemon's own hard limits (RLIMIT_NOFILE 20000
//     on the test machines) unless it holds CAP_SYS_RESOURCE, or runc
//     refuses to start: engine/limits.HostUlimits checks them first.
//   - Containers run detached under runc's state dir (Root); they keep running
//     when fatbox exits. The daemon finds them again with List.
//   - Capabilities are Docker's default 14, without NoNewPrivileges, because
//     sshd must switch users and set up privilege separation; CAP_SYS_ADMIN
//     is never granted. runc's masked and read-only /proc paths stay on.
//   - A default-allow seccomp filter denies the dangerous calls (seccomp.go).
//   - Disk IO limits are blkio throttles on the writable disk's loop device.
//     cgroup v1 throttles reads and direct writes, not buffered writes: their
//     writeback runs in kernel threads outside the container's cgroup.
package runtime

import (
	"cmp"
	"fmt"
	"math"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Init is where the injected supervisord binary appears inside the container
// (what `supervisord ctl` is run as). PID 1 runs the same binary from
// InitAs, so its name (/proc/1/comm) is "init", as on a VM without systemd:
// tools that ask PID 1's name (Ansible's service_mgr fact) then look for
// /run/systemd/system, which vmshim provides, and find systemctl.
const (
	Init   = "/.fatbox/supervisord"
	InitAs = "/.fatbox/init"
)

// VMShim is where the injected vmshim binary (systemctl, service, reboot, ...)
// appears inside the container; PowerDir is the directory it writes power
// requests (reboot, poweroff) to for the daemon.
const (
	VMShim   = "/.fatbox/vmshim"
	PowerDir = "/.fatbox/power"
)

// Limits are a container's VM-shaped limits; zero fields mean unlimited.
type Limits struct {
	CPUs        float64 // vCPUs as CFS quota
	Cpuset      string  // e.g. "0-1"; "" means all (nproc follows the cpuset)
	MemoryBytes int64
	SwapBytes   int64 // memory+swap total = MemoryBytes + SwapBytes; 0 means no swap
	Pids        int64

	// Disk is the block device (the writable disk's loop device) the IO
	// limits below apply to; it must be set when any of them is.
	Disk      *BlockDevice
	ReadBps   uint64 // bytes per second
	WriteBps  uint64
	ReadIOPS  uint64 // operations per second
	WriteIOPS uint64
}

// BlockDevice is a block device by number, e.g. a loop device (7:N).
type BlockDevice struct {
	Major, Minor int64
}

// SpecConfig is what Spec needs.
type SpecConfig struct {
	Name string
	// Hostname is the UTS hostname; "" means Name.
	Hostname   string
	Rootfs     string // mounted overlay
	Netns      string // path of the container's network namespace
	Supervisor string // host path of the static supervisord binary
	// VMShim is the host path of the static vmshim binary; "" injects none.
	// PowerDir (required with it) is the host directory bound read-write at
	// PowerDir inside, where the shim leaves its power requests.
	VMShim, PowerDir string
	Limits           Limits
	// ExtraMounts are appended after the default mounts, e.g. engine/lxcfs's
	// binds over /proc files so free, uptime and top show the container's
	// limits.
	ExtraMounts []specs.Mount
	// Rlimits are the container's resource limits (engine/limits checks
	// them against what the daemon may give); nil means RLIMIT_NOFILE
	// 16384 alone, the rest inherited from the daemon.
	Rlimits []specs.POSIXRlimit
}

// Capabilities are the ones granted (Docker's default set).
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// Spec builds the OCI spec for a fat container.
func Spec(c SpecConfig) (*specs.Spec, error) {
	if c.Name == "" || c.Rootfs == "" || c.Netns == "" || c.Supervisor == "" {
		return nil, fmt.Errorf("runtime spec needs a name, a rootfs, a netns and the supervisord binary")
	}
	res, err := resources(c.Limits)
	if err != nil {
		return nil, fmt.Errorf("runtime spec of %q: %w", c.Name, err)
	}
	caps := append([]string(nil), defaultCaps...)
	s := &specs.Spec{
		Version:  specs.Version,
		Hostname: cmp.Or(c.Hostname, c.Name),
		Root:     &specs.Root{Path: c.Rootfs},
		Process: &specs.Process{
			Args: []string{InitAs, "-c", "/etc/supervisor/supervisord.conf"},
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "container=fatbox"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         rlimits(c.Rlimits),
			NoNewPrivileges: false,
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
			{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=755", "size=65536k"}},
			{Destination: Init, Type: "bind", Source: c.Supervisor, Options: []string{"rbind", "ro"}},
			{Destination: InitAs, Type: "bind", Source: c.Supervisor, Options: []string{"rbind", "ro"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: "/fatbox/" + c.Name,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace, Path: c.Netns},
			},
			Resources: res,
			Seccomp:   Seccomp(),
			MaskedPaths: []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	if c.VMShim != "" {
		if c.PowerDir == "" {
			return nil, fmt.Errorf("runtime spec of %q: the vmshim needs a power dir", c.Name)
		}
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: VMShim, Type: "bind", Source: c.VMShim, Options: []string{"rbind", "ro"}},
			specs.Mount{Destination: PowerDir, Type: "bind", Source: c.PowerDir, Options: []string{"rbind", "rw", "nosuid", "nodev", "noexec"}})
	}
	s.Mounts = append(s.Mounts, c.ExtraMounts...)
	return s, nil
}

// rlimits is rs, or the default RLIMIT_NOFILE 16384 when rs is nil.
func rlimits(rs []specs.POSIXRlimit) []specs.POSIXRlimit {
	if rs == nil {
		return []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 16384, Soft: 16384}}
	}
	return append([]specs.POSIXRlimit(nil), rs...)
}

func resources(l Limits) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
	}
	for _, d := range []struct {
		major, minor int64
		t            string
	}{{1, 3, "c"}, {1, 5, "c"}, {1, 7, "c"}, {1, 8, "c"}, {1, 9, "c"}, {5, 0, "c"}, {5, 1, "c"}, {5, 2, "c"}, {136, -1, "c"}} {
		maj, min := d.major, d.minor
		dc := specs.LinuxDeviceCgroup{Allow: true, Type: d.t, Major: &maj, Access: "rwm"}
		if min >= 0 {
			dc.Minor = &min
		}
		r.Devices = append(r.Devices, dc)
	}
	if l.CPUs > 0 {
		period := uint64(100000)
		quota := int64(math.Round(l.CPUs * float64(period)))
		r.CPU = &specs.LinuxCPU{Period: &period, Quota: &quota}
	}
	if l.Cpuset != "" {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		r.CPU.Cpus = l.Cpuset
	}
	if l.MemoryBytes > 0 {
		m := l.MemoryBytes
		sw := l.MemoryBytes + l.SwapBytes
		r.Memory = &specs.LinuxMemory{Limit: &m, Swap: &sw}
	}
	if l.Pids > 0 {
		p := l.Pids
		r.Pids = &specs.LinuxPids{Limit: &p}
	}
	io, err := blockIO(l)
	if err != nil {
		return nil, err
	}
	r.BlockIO = io
	return r, nil
}

// blockIO turns the disk IO limits into blkio throttles on l.Disk; nil when
// there are none.
func blockIO(l Limits) (*specs.LinuxBlockIO, error) {
	if l.ReadBps == 0 && l.WriteBps == 0 && l.ReadIOPS == 0 && l.WriteIOPS == 0 {
		return nil, nil
	}
	if l.Disk == nil {
		return nil, fmt.Errorf("disk IO limits without a disk device")
	}
	throttle := func(rate uint64) []specs.LinuxThrottleDevice {
		if rate == 0 {
			return nil
		}
		d := specs.LinuxThrottleDevice{Rate: rate}
		d.Major, d.Minor = l.Disk.Major, l.Disk.Minor
		return []specs.LinuxThrottleDevice{d}
	}
	return &specs.LinuxBlockIO{
		ThrottleReadBpsDevice:   throttle(l.ReadBps),
		ThrottleWriteBpsDevice:  throttle(l.WriteBps),
		ThrottleReadIOPSDevice:  throttle(l.ReadIOPS),
		ThrottleWriteIOPSDevice: throttle(l.WriteIOPS),
	}, nil
}
