package lxcfs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/test/harness"
	"golang.org/x/sys/unix"
)

// newManager gates the test and returns a Manager on a fresh mount point.
// Cleanup kills only the lxcfs serving that mount point and detaches it.
func newManager(t *testing.T) *Manager {
	t.Helper()
	harness.RequireRoot(t)
	_, err := exec.LookPath("lxcfs")
	harness.Require(t, err == nil, "lxcfs (tools/setup-host.sh installs it)")
	dir := filepath.Join(t.TempDir(), "lxcfs")
	m := &Manager{Dir: dir}
	t.Cleanup(func() {
		if pid := pidOf(dir); pid != 0 {
			_ = unix.Kill(pid, unix.SIGKILL)
			waitGone(t, pid)
		}
		if err := detach(dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return m
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for i := 0; i < 250; i++ {
		if exited(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pid %d did not die", pid)
}

func ensure(t *testing.T, m *Manager) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Healthy(); err != nil {
		t.Fatalf("healthy after Ensure: %v", err)
	}
	pid := pidOf(m.Dir)
	if pid == 0 {
		t.Fatalf("no lxcfs pid for %q after Ensure", m.Dir)
	}
	return pid
}

// killLXCFS kills the lxcfs on m.Dir with SIGKILL, as a crash or OOM kill would.
func killLXCFS(t *testing.T, m *Manager) {
	t.Helper()
	pid := pidOf(m.Dir)
	if pid == 0 {
		t.Fatal("no lxcfs to kill")
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
}

// cgroup makes /sys/fs/cgroup/<ctrl>/<name> for each controller and removes
// them at cleanup. cpuset gets the root's cpus and mems so tasks may join.
func cgroup(t *testing.T, name string, ctrls ...string) {
	t.Helper()
	for _, c := range ctrls {
		p := filepath.Join("/sys/fs/cgroup", c, name)
		if _, err := os.Stat(filepath.Dir(p)); err != nil {
			harness.Require(t, false, "cgroup v1 hierarchy %q", filepath.Dir(p))
		}
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			var err error
			for i := 0; i < 100; i++ { // tasks that just exited may linger a moment
				if err = os.Remove(p); err == nil || errors.Is(err, os.ErrNotExist) {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Errorf("cleanup: remove cgroup %q: %v", p, err)
		})
		if c == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(filepath.Dir(p), f))
				if err != nil {
					t.Fatal(err)
				}
				write(t, filepath.Join(p, f), strings.TrimSpace(string(b)))
			}
		}
	}
}

func write(t *testing.T, path, v string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
		t.Fatalf("write %q to %q: %v", v, path, err)
	}
}

// readIn runs cat on files from a shell that first joins name in each
// controller: lxcfs answers according to the reader's cgroups.
func readIn(t *testing.T, name string, ctrls []string, files ...string) string {
	t.Helper()
	var sb strings.Builder
	for _, c := range ctrls {
		fmt.Fprintf(&sb, "echo $$ > /sys/fs/cgroup/%s/%s/cgroup.procs && ", c, name)
	}
	sb.WriteString("exec cat")
	for _, f := range files {
		sb.WriteString(" '" + f + "'")
	}
	out, err := exec.Command("sh", "-c", sb.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", sb.String(), err, out)
	}
	return string(out)
}

func count(s, prefix string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func TestEnsureShowsCgroupLimits(t *testing.T) {
	m := newManager(t)
	pid := ensure(t, m)

	// Idempotent, also for a second Manager (a later daemon) on the same Dir.
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := (&Manager{Dir: m.Dir}).Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := pidOf(m.Dir); got != pid {
		t.Fatalf("Ensure on a healthy lxcfs restarted it: pid %d, then %d", pid, got)
	}
	// Detached: its own session, stdio not a pipe.
	if sid, _ := unix.Getsid(pid); sid != pid {
		t.Errorf("lxcfs (pid %d) is in session %d, want its own", pid, sid)
	}
	for fd, want := range map[int]string{0: "/dev/null", 1: m.Dir + ".log", 2: m.Dir + ".log"} {
		if got, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd)); got != want {
			t.Errorf("lxcfs fd %d is %q, want %q", fd, got, want)
		}
	}

	name := fmt.Sprintf("fatbox-test-%d", rand.Uint32())
	cgroup(t, name, "memory")
	write(t, "/sys/fs/cgroup/memory/"+name+"/memory.limit_in_bytes", fmt.Sprint(256<<20))
	meminfo := readIn(t, name, []string{"memory"}, filepath.Join(m.Dir, "proc/meminfo"))
	if !regexpLine(meminfo, "MemTotal:", "262144 kB") {
		t.Fatalf("meminfo through lxcfs in a 256 MiB memory cgroup:\n%s", meminfo)
	}

	// CPUs: a CFS quota of 1 CPU (100000/100000). lxcfs 5.0.3 with
	// --enable-cfs on cgroup v1 reads cpu.cfs_quota_us in the cpu hierarchy at
	// the path of the reader's *cpuset* cgroup. With the same path in cpu and
	// cpuset (as runc makes it) cpuinfo shows 1 processor and the sysfs online
	// file "0"; a reader whose cpuset cgroup is the root still sees every CPU.
	hostCPUs := count(mustRead(t, "/proc/cpuinfo"), "processor")
	cpuName := name + "-cpu"
	cgroup(t, cpuName, "cpu", "cpuacct", "cpuset")
	write(t, "/sys/fs/cgroup/cpu/"+cpuName+"/cpu.cfs_period_us", "100000")
	write(t, "/sys/fs/cgroup/cpu/"+cpuName+"/cpu.cfs_quota_us", "100000")
	all := []string{"cpu", "cpuacct", "cpuset"}
	if got := count(readIn(t, cpuName, all, filepath.Join(m.Dir, "proc/cpuinfo")), "processor"); got != 1 {
		t.Errorf("cpuinfo through lxcfs with a CFS quota of 1 CPU: %d processors, want 1", got)
	}
	if got := strings.TrimSpace(readIn(t, cpuName, all, filepath.Join(m.Dir, cpuOnline))); got != "0" {
		t.Errorf("cpu/online through lxcfs with a CFS quota of 1 CPU: %q, want \"0\"", got)
	}
	if got := count(readIn(t, cpuName, []string{"cpu", "cpuacct"}, filepath.Join(m.Dir, "proc/cpuinfo")), "processor"); got != hostCPUs {
		t.Errorf("cpuinfo through lxcfs, quota only in cpu (cpuset at the root): %d processors, want the host's %d", got, hostCPUs)
	}
}

func regexpLine(s, key, want string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, key) {
			return strings.Join(strings.Fields(strings.TrimPrefix(l, key)), " ") == want
		}
	}
	return false
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestKillAndEnsureAgain(t *testing.T) {
	m := newManager(t)
	old := ensure(t, m)
	killLXCFS(t, m)

	err := m.Healthy()
	if !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("Healthy after lxcfs was killed: %v, want ENOTCONN", err)
	}
	if got := Mounts(m.Dir); len(got) != 0 {
		t.Errorf("Mounts of a dead lxcfs: %v, want none", got)
	}
	if pid := ensure(t, m); pid == old {
		t.Fatalf("same pid %d after a restart", pid)
	}
	if n := mountCount(t, "/proc/thread-self/mountinfo", m.Dir); n != 1 {
		t.Errorf("%d mounts on %q after the restart, want 1 (the stale one detached)", n, m.Dir)
	}

	// Not mounted at all: ErrNotMounted.
	if err := (&Manager{Dir: t.TempDir()}).Healthy(); !errors.Is(err, ErrNotMounted) {
		t.Errorf("Healthy of an empty dir: %v, want ErrNotMounted", err)
	}
}

// mountCount counts the mounts on target in a mountinfo file.
func mountCount(t *testing.T, mountinfo, target string) int {
	t.Helper()
	f, err := os.Open(mountinfo)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 4 && unescape(fs[4]) == target {
			n++
		}
	}
	return n
}

// holder starts a process in its own private mount namespace that binds
// lxcfs's meminfo and uptime over /proc/meminfo and /proc/uptime (as a
// container has them) and a file of its own over /proc/swaps and hides /sys/devices/system/cpu under a tmpfs (a
// target that does not exist there). With chroot it then chroots into a
// bind of / (as a container's root differs from its namespace's root mount)
// and the binds are made there. It returns its pid.
func holder(t *testing.T, m *Manager, chroot bool) int {
	t.Helper()
	root, run := "", "exec sleep 1000"
	// Something other than lxcfs over one of its targets (as the engine's
	// CPU view is over /proc/cpuinfo): Remount must leave it alone.
	ours := filepath.Join(t.TempDir(), "ours")
	if err := os.WriteFile(ours, []byte("ours\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if chroot {
		root = filepath.Join(t.TempDir(), "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		run = fmt.Sprintf("exec chroot '%s' sleep 1000", root)
	}
	script := fmt.Sprintf(`set -e
R='%[2]s'
[ -z "$R" ] || mount --rbind / "$R"
mount -t tmpfs none "$R/sys/devices/system/cpu"
mount --bind '%[1]s/proc/meminfo' "$R/proc/meminfo"
mount --bind '%[1]s/proc/uptime' "$R/proc/uptime"
mount --bind '%[4]s' "$R/proc/swaps"
%[3]s`, m.Dir, root, run, ours)
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	for i := 0; ; i++ {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.HasPrefix(string(b), "sleep\x00") {
			break
		}
		if i == 250 {
			t.Fatal("the mount namespace holder did not get ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return pid
}

// readInNS reads a file inside pid's mount namespace, from pid's root.
func readInNS(pid int, file string) (string, error) {
	out, err := exec.Command("nsenter", "-t", fmt.Sprint(pid), "-m", "-r", "cat", file).CombinedOutput()
	return string(out), err
}

func assertStale(t *testing.T, pid int) {
	t.Helper()
	out, err := readInNS(pid, "/proc/meminfo")
	if err == nil || !strings.Contains(out, "Transport endpoint is not connected") {
		t.Fatalf("reading /proc/meminfo in the namespace after lxcfs died: %v: %s; want ENOTCONN", err, out)
	}
}

func assertFresh(t *testing.T, pid int) {
	t.Helper()
	mi := fmt.Sprintf("/proc/%d/mountinfo", pid)
	for _, f := range []string{"/proc/meminfo", "/proc/uptime", "/proc/cpuinfo"} {
		out, err := readInNS(pid, f)
		if err != nil || out == "" {
			t.Fatalf("reading %s in the namespace after the remount: %v: %s", f, err, out)
		}
		if n := mountCount(t, mi, f); n != 1 {
			t.Errorf("%d mounts on %s in the namespace, want 1", n, f)
		}
	}
	if out, _ := readInNS(pid, "/proc/meminfo"); !strings.HasPrefix(out, "MemTotal:") {
		t.Errorf("/proc/meminfo in the namespace:\n%s", out)
	}
	// A target covered by something other than lxcfs stays as it is.
	if out, err := readInNS(pid, "/proc/swaps"); err != nil || out != "ours\n" {
		t.Errorf("/proc/swaps (bound to a file not lxcfs's) after the remount: %q %v, want it kept", out, err)
	}
	if n := mountCount(t, mi, "/proc/swaps"); n != 1 {
		t.Errorf("%d mounts on /proc/swaps in the namespace, want 1 (ours)", n)
	}
	// A target missing in the namespace is skipped, not created.
	if out, err := readInNS(pid, "/sys/devices/system/cpu/online"); err == nil {
		t.Errorf("/sys/devices/system/cpu/online appeared in the namespace: %q", out)
	}
	// The host's own /proc is untouched.
	for _, f := range []string{"/proc/meminfo", "/proc/uptime", "/proc/cpuinfo"} {
		if n := mountCount(t, "/proc/thread-self/mountinfo", f); n != 0 {
			t.Errorf("%d mounts on the host's %s, want 0", n, f)
		}
	}
}

func TestRemount(t *testing.T) {
	for _, chroot := range []bool{false, true} {
		t.Run(fmt.Sprintf("chroot=%v", chroot), func(t *testing.T) { testRemount(t, chroot) })
	}
}

func testRemount(t *testing.T, chroot bool) {
	m := newManager(t)
	ensure(t, m)
	pid := holder(t, m, chroot)
	if out, err := readInNS(pid, "/proc/meminfo"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	killLXCFS(t, m)
	assertStale(t, pid)
	if err := m.Remount(pid); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("Remount with lxcfs dead: %v, want an error wrapping ENOTCONN", err)
	}

	ensure(t, m)
	assertStale(t, pid) // a new lxcfs alone does not heal existing binds
	if err := m.Remount(pid); err != nil {
		t.Fatal(err)
	}
	assertFresh(t, pid)
	if err := m.Remount(pid); err != nil { // idempotent: still one mount each
		t.Fatal(err)
	}
	assertFresh(t, pid)

	// The main thread never entered the namespace.
	if self, _ := os.Readlink("/proc/self/ns/mnt"); self == mustReadlink(t, fmt.Sprintf("/proc/%d/ns/mnt", pid)) {
		t.Error("the main thread is in the holder's mount namespace")
	}

	// Refuses the host's own mount namespace.
	if err := m.Remount(os.Getpid()); err == nil || !strings.Contains(err.Error(), "host's mount namespace") {
		t.Errorf("Remount of our own pid: %v, want a refusal", err)
	}
}

func TestWatchRestartsAndRemounts(t *testing.T) {
	m := newManager(t)
	old := ensure(t, m)
	pid := holder(t, m, true)

	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var errs []error
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Watch(ctx, 100*time.Millisecond,
			func(context.Context) ([]int, error) { return []int{pid, 999999999}, nil }, // the second one is gone
			func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() })
	}()
	t.Cleanup(func() { cancel(); <-done })

	killLXCFS(t, m)
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := readInNS(pid, "/proc/meminfo")
		if err == nil && strings.HasPrefix(out, "MemTotal:") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Watch did not heal the namespace within 15 s: %v: %s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := m.Healthy(); err != nil {
		t.Fatal(err)
	}
	if p := pidOf(m.Dir); p == old || p == 0 {
		t.Errorf("lxcfs pid %d after Watch, old %d", p, old)
	}
	assertFresh(t, pid)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 0 {
		t.Errorf("Watch reported: %v", errors.Join(errs...))
	}
}

func TestMountsListsPresentFiles(t *testing.T) {
	m := newManager(t)
	ensure(t, m)

	var want []string
	for _, r := range []string{"proc/cpuinfo", "proc/diskstats", "proc/loadavg", "proc/meminfo", "proc/stat", "proc/swaps", "proc/uptime", cpuOnline} {
		if _, err := os.Stat(filepath.Join(m.Dir, r)); err == nil {
			want = append(want, r)
		}
	}
	var got []string
	for _, mt := range Mounts(m.Dir) {
		rel := strings.TrimPrefix(mt.Destination, "/")
		if mt.Source != filepath.Join(m.Dir, rel) || mt.Type != "bind" {
			t.Errorf("mount %+v: source is not Dir/<destination> or not a bind", mt)
		}
		got = append(got, rel)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Mounts = %v, want the present files %v", got, want)
	}
	// lxcfs 5.0.3 provides all eight.
	if len(got) != 8 {
		t.Errorf("lxcfs provides %d of the 8 files: %v", len(got), got)
	}

	// A directory holding only some of them lists only those.
	fake := t.TempDir()
	if err := os.MkdirAll(filepath.Join(fake, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"proc/meminfo", "proc/uptime"} {
		write(t, filepath.Join(fake, f), "x")
	}
	got = nil
	for _, mt := range Mounts(fake) {
		got = append(got, mt.Destination)
	}
	if !reflect.DeepEqual(got, []string{"/proc/meminfo", "/proc/uptime"}) {
		t.Errorf("Mounts of a dir with meminfo and uptime = %v", got)
	}
	if got := Mounts(t.TempDir()); len(got) != 0 {
		t.Errorf("Mounts of an empty dir = %v", got)
	}
}

// TestSpareThreadIsNeverMain runs many setns-style jobs at once: none may run
// on the main thread, and the process's mount namespace (as /proc/self shows
// it) stays the host's.
func TestSpareThreadIsNeverMain(t *testing.T) {
	harness.RequireRoot(t)
	before, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := onSpareThread(func() error {
				if unix.Gettid() == unix.Getpid() {
					return errors.New("ran on the main thread")
				}
				return unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS) // taints this thread only
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if after, _ := os.Readlink("/proc/self/ns/mnt"); after != before {
		t.Fatalf("the main thread's mount namespace changed from %s to %s", before, after)
	}
}

func mustReadlink(t *testing.T, p string) string {
	t.Helper()
	s, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEnsureFailureNamesTheLog: an lxcfs that dies at once gives an error
// naming the log file with its last lines, and leaves no mount behind.
func TestEnsureFailureNamesTheLog(t *testing.T) {
	harness.RequireRoot(t)
	tmp := t.TempDir()
	fake := filepath.Join(tmp, "lxcfs")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'fuse: device not found, try modprobe fuse first' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := &Manager{Binary: fake, Dir: filepath.Join(tmp, "mnt")}
	err := m.Ensure(context.Background())
	if err == nil {
		t.Fatal("Ensure with an lxcfs that exits succeeded")
	}
	for _, want := range []string{m.Dir + ".log", "fuse: device not found", "lxcfs exited", "by hand"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if n := mountCount(t, "/proc/thread-self/mountinfo", m.Dir); n != 0 {
		t.Errorf("%d mounts left on %q", n, m.Dir)
	}
	err = (&Manager{Binary: filepath.Join(tmp, "missing"), Dir: m.Dir}).Ensure(context.Background())
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y lxcfs") {
		t.Errorf("Ensure with a missing binary: %v", err)
	}
	if err := (&Manager{}).Ensure(context.Background()); err == nil {
		t.Error("Ensure without Dir succeeded")
	}
}

// TestEnsureReplacesHungLXCFS: a stopped lxcfs (its pid file still locked)
// is reported as ETIMEDOUT, and Ensure kills it and starts a new one.
func TestEnsureReplacesHungLXCFS(t *testing.T) {
	m := newManager(t)
	m.hungAfter = 500 * time.Millisecond
	old := ensure(t, m)
	if err := unix.Kill(old, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// SIGSTOP lands asynchronously: a thread still running could answer
	// the statfs below. Wait until every thread of lxcfs is stopped.
	waitStopped(t, old)
	if err := m.Healthy(); !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("Healthy with lxcfs stopped: %v, want ETIMEDOUT", err)
	}
	if pid := ensure(t, m); pid == old {
		t.Fatalf("Ensure kept the stopped lxcfs %d", pid)
	}
	if !exited(old) {
		t.Errorf("the stopped lxcfs %d still runs", old)
	}
}

// TestLXCFSOutlivesItsStarter: a daemon that ran Ensure is killed -9; lxcfs
// keeps serving, and a later Manager finds it healthy and keeps it.
func TestLXCFSOutlivesItsStarter(t *testing.T) {
	if dir := os.Getenv("FATBOX_LXCFS_TEST_STARTER"); dir != "" {
		// The "daemon": start lxcfs, say so, then wait to be killed.
		if err := (&Manager{Dir: dir}).Ensure(context.Background()); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("ready")
		time.Sleep(time.Hour)
		return
	}
	m := newManager(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLXCFSOutlivesItsStarter$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FATBOX_LXCFS_TEST_STARTER="+m.Dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("starter: %q %v", line, err)
	}
	pid := pidOf(m.Dir)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// The starter is reaped, so its exit is complete: whatever that exit
	// sends its children (a parent-death signal, a SIGHUP to its process
	// group) has been sent, and a fatal signal is marked pending on every
	// thread at once. No waiting for lxcfs to die: it must be alive with
	// nothing pending now.
	if why := doomed(pid); why != "" {
		t.Fatalf("lxcfs %d dies with the process that started it: %s", pid, why)
	}
	if err := m.Healthy(); err != nil {
		t.Fatalf("lxcfs after its starter was killed: %v", err)
	}
	if got := ensure(t, m); got != pid {
		t.Errorf("a later Ensure replaced the healthy lxcfs %d with %d", pid, got)
	}
}

// waitStopped waits until every thread of pid is in state T (stopped).
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	for i := 0; i < 200; i++ {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		stopped := len(tasks) > 0
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			// The state follows the ")" that ends the command name.
			if i := strings.LastIndexByte(string(b), ')'); err != nil || i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
				stopped = false
			}
		}
		if stopped {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("lxcfs %d did not stop", pid)
}

// doomed says why pid is dead or about to die ("" when neither): it exited,
// or one of its threads has a signal pending (lxcfs blocks none, so a
// pending one is on its way in).
func doomed(pid int) string {
	if exited(pid) {
		return "it exited"
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that just ended
		}
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(l, ":")
			if v = strings.TrimSpace(v); ok && (k == "SigPnd" || k == "ShdPnd") && strings.Trim(v, "0") != "" {
				return fmt.Sprintf("%s has %s %s", filepath.Dir(f), k, v)
			}
		}
	}
	return ""
}
