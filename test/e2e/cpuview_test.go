package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/test/e2e/e2ekit"
)

// cpuViewScript prints, one "key=value" a line, every count of CPUs a
// program inside can read.
const cpuViewScript = `echo nproc=$(nproc)
echo processors=$(grep -c '^processor' /proc/cpuinfo)
echo cores=$(grep '^cpu cores' /proc/cpuinfo | cut -d: -f2 | sort -u | tr -d ' ' | paste -sd,)
echo siblings=$(grep '^siblings' /proc/cpuinfo | cut -d: -f2 | sort -u | tr -d ' ' | paste -sd,)
echo sockets=$(grep '^physical id' /proc/cpuinfo | sort -u | wc -l)
echo coreids=$(grep '^core id' /proc/cpuinfo | cut -d: -f2 | tr -d ' ' | paste -sd,)
echo online=$(cat /sys/devices/system/cpu/online)
echo possible=$(cat /sys/devices/system/cpu/possible)
echo present=$(cat /sys/devices/system/cpu/present)
echo lscpu=$(lscpu | sed -n 's/^CPU(s): *//p')
echo statcpus=$(grep -c '^cpu[0-9]' /proc/stat)
echo memtotal=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
`

// cpuView runs cpuViewScript in the container over ssh.
func (e *vmEnv) cpuView(ip string) map[string]string {
	e.T.Helper()
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(e.SSH(ip, cpuViewScript)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		out[k] = v
	}
	return out
}

// wantCPUView fails t unless every count in the container says n vCPUs.
func (e *vmEnv) wantCPUView(t *testing.T, name, ip string, n int) {
	t.Helper()
	got := e.cpuView(ip)
	list := "0"
	var ids []string
	for i := 0; i < n; i++ {
		ids = append(ids, fmt.Sprint(i))
	}
	if n > 1 {
		list = fmt.Sprintf("0-%d", n-1)
	}
	ns := fmt.Sprint(n)
	for k, want := range map[string]string{"nproc": ns, "processors": ns, "cores": ns, "siblings": ns, "sockets": "1",
		"coreids": strings.Join(ids, ","), "online": list, "possible": list, "present": list, "lscpu": ns, "statcpus": ns} {
		if got[k] != want {
			t.Errorf("%s (%d vCPUs): %s = %q, want %q (all: %v)", name, n, k, got[k], want, got)
		}
	}
}

// TestCPUView: nproc, /proc/cpuinfo (processors, cpu cores, siblings),
// /sys/devices/system/cpu/{online,possible,present}, lscpu and /proc/stat
// all say the container's vCPUs, ceil(--cpus), for 1, 2 and 0.5 CPUs; they
// follow a live `fatbox update --cpus`, and an lxcfs restart (its files
// re-mounted) leaves the view alone.
func TestCPUView(t *testing.T) {
	t.Parallel()
	e := newVMEnv(t, "198.19.217.0/24")
	cs := []struct {
		name, cpus string
		n          int
	}{{"cpuv-one", "1", 1}, {"cpuv-two", "2", 2}, {"cpuv-half", "0.5", 1}}
	ips := map[string]string{}
	for _, c := range cs {
		ips[c.name] = e.Create(c.name, "--cpus", c.cpus, "--memory", "256M", "--disk", "1G").IP
	}
	e.RemoveAtEnd(t, "cpuv-one", "cpuv-two", "cpuv-half")
	for _, c := range cs {
		e.wantCPUView(t, c.name, ips[c.name], c.n)
	}
	// The quota is the fraction: 0.5 CPU is 50 ms per 100 ms.
	if got := strings.TrimSpace(e.SSH(ips["cpuv-half"], "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us")); got != "50000" {
		t.Errorf("cpuv-half's CFS quota = %q µs, want 50000", got)
	}

	// Live updates: the view follows the vCPU count at once.
	e.OK("update", "cpuv-half", "--cpus", "1.5")
	e.wantCPUView(t, "cpuv-half after update --cpus 1.5", ips["cpuv-half"], 2)
	e.OK("update", "cpuv-two", "--cpus", "1")
	e.wantCPUView(t, "cpuv-two after update --cpus 1", ips["cpuv-two"], 1)
	e.OK("update", "cpuv-one", "--cpus", "0.5") // same vCPU count: nothing to rewrite
	e.wantCPUView(t, "cpuv-one after update --cpus 0.5", ips["cpuv-one"], 1)

	// lxcfs dies; the daemon's watch restarts it and re-mounts its files,
	// not over the CPU view.
	pid := lxcfsPid(e.State)
	if pid == 0 {
		t.Fatal("no lxcfs runs for the test daemon")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e2ekit.WaitFor(t, 30*time.Second, "meminfo answers again in cpuv-two after lxcfs was killed", func() bool {
		return strings.TrimSpace(e.SSH(ips["cpuv-two"], "head -c 9 /proc/meminfo 2>/dev/null || true")) == "MemTotal:"
	})
	e.wantCPUView(t, "cpuv-two after an lxcfs restart", ips["cpuv-two"], 1)
	if n := strings.TrimSpace(e.SSH(ips["cpuv-two"], "grep -c ' /proc/cpuinfo ' /proc/self/mountinfo")); n != "1" {
		t.Errorf("%s mounts on /proc/cpuinfo after the lxcfs restart, want 1 (the CPU view's)", n)
	}

	// A restart keeps the view (written again at each start).
	e.OK("restart", "cpuv-half")
	e.wantCPUView(t, "cpuv-half after a restart", ips["cpuv-half"], 2)
}
