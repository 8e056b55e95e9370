package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/daemon"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
)

// vmEnv is e2ekit's Env with this package's helpers.
type vmEnv struct{ *e2ekit.Env }

func newVMEnv(t *testing.T, cidr string) *vmEnv { return &vmEnv{e2ekit.NewEnv(t, cidr)} }

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type syncBuffer = e2ekit.SyncBuffer

// pgrep reports whether a process whose full command line matches the
// regular expression runs in the container (pgrep -f through fatbox exec);
// anything but pgrep's "found" (0) or "none" (1) fails the test.
func (e *vmEnv) pgrep(name, pattern string) bool {
	e.T.Helper()
	r := fatbox(e.T, "exec", name, "--socket", e.Sock, "--", "pgrep", "-f", pattern)
	switch r.Code {
	case 0:
		return true
	case 1:
		return false
	}
	e.T.Fatalf("pgrep -f %q in %s: exit %d: %s%s", pattern, name, r.Code, r.Stdout, r.Stderr)
	return false
}

// processGone reports whether pid has exited (gone, or a zombie nobody reaped yet).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command's closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// lxcfsPid is the pid in the lxcfs pid file of state, if that process is a
// live lxcfs; 0 otherwise.
func lxcfsPid(state string) int {
	b, err := os.ReadFile(filepath.Join(state, "lxcfs.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 || processGone(pid) {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || filepath.Base(strings.SplitN(string(cmdline), "\x00", 2)[0]) != "lxcfs" {
		return 0
	}
	return pid
}

// TestLooksLikeAVM: inside, hostname, free, nproc, df, PID 1, cron and
// syslog look like the VM that was asked for.
func TestLooksLikeAVM(t *testing.T) {
	testStart := time.Now()
	e := newVMEnv(t, "198.19.41.0/24")
	in := e.Create("vm-01", "--cpus", "1", "--memory", "512M", "--disk", "2G")
	ip := in.IP
	// A cron job that fires every minute; checked at the end, after the rest.
	e.SSH(ip, `echo '* * * * * root echo fired > /root/cron.out' > /etc/cron.d/fbtest && chmod 644 /etc/cron.d/fbtest`)
	start := time.Now()
	var err error

	if got := strings.TrimSpace(e.SSH(ip, "hostname")); got != "vm-01" {
		t.Errorf("hostname = %q, want vm-01", got)
	}
	// PID 1 is supervisord, named init (so Ansible's service_mgr fact goes
	// by /run/systemd/system, which the shim provides).
	if got := strings.TrimSpace(e.SSH(ip, "cat /proc/1/comm; readlink /proc/1/exe; cat /proc/1/cmdline | tr '\\0' ' '")); got != "init\n/.fatbox/init\n/.fatbox/init -c /etc/supervisor/supervisord.conf" {
		t.Errorf("PID 1 is %q, want supervisord run as /.fatbox/init", got)
	}
	if got := strings.TrimSpace(e.SSH(ip, "nproc")); got != "1" {
		t.Errorf("nproc = %q, want 1", got)
	}
	free := strings.Fields(e.SSH(ip, "free -m | awk '/^Mem:/ {print $2}'"))
	if len(free) != 1 || free[0] != "512" {
		t.Errorf("free -m total = %v, want 512", free)
	}
	size := strings.Fields(e.SSH(ip, "df -B1 --output=size / | tail -1"))
	if len(size) != 1 {
		t.Fatalf("df: %v", size)
	}
	if n, err := strconv.ParseInt(size[0], 10, 64); err != nil || n < 1800<<20 || n > 2<<30 {
		t.Errorf("df / size = %q (%v), want about 2 GiB", size[0], err)
	}
	// The container's uptime, not the host's: it is younger than this test.
	if up := strings.Fields(e.SSH(ip, "cat /proc/uptime")); len(up) < 1 {
		t.Errorf("uptime: %v", up)
	} else if s, err := strconv.ParseFloat(up[0], 64); err != nil || s > time.Since(testStart).Seconds()+1 {
		t.Errorf("/proc/uptime says %q (%v), the test began %.0f s ago: the host's, not the container's", up[0], err, time.Since(testStart).Seconds())
	}
	e.SSH(ip, "logger fatbox-e2e-marker")
	e2ekit.WaitFor(t, 30*time.Second, "logger's line reaches /var/log/syslog", func() bool {
		return strings.Contains(e.SSH(ip, "cat /var/log/syslog || true"), "fatbox-e2e-marker")
	})

	// exec: stdout, stderr and the exit code come back apart.
	r := fatbox(t, "exec", "vm-01", "--socket", e.Sock, "--", "sh", "-c", "echo out; echo err >&2; exit 7")
	if r.Code != 7 || r.Stdout != "out\n" || r.Stderr != "err\n" {
		t.Errorf("exec: code %d stdout %q stderr %q", r.Code, r.Stdout, r.Stderr)
	}
	// exec -i passes stdin.
	cmd := exec.Command(e2ekit.Bin(), "exec", "-i", "vm-01", "--socket", e.Sock, "--", "tr", "a-z", "A-Z")
	cmd.Stdin = strings.NewReader("hello\n")
	if out, err := cmd.Output(); err != nil || string(out) != "HELLO\n" {
		t.Errorf("exec -i: %v %q", err, out)
	}
	// Stdin beyond the daemon's credit window flows through whole.
	big := exec.Command(e2ekit.Bin(), "exec", "-i", "vm-01", "--socket", e.Sock, "--", "wc", "-c")
	big.Stdin = io.LimitReader(zeros{}, 5<<20)
	if out, err := big.Output(); err != nil || strings.TrimSpace(string(out)) != "5242880" {
		t.Errorf("exec -i of 5 MiB: %v %q", err, out)
	}
	// A client that goes away stops the process, even one that never reads
	// the stdin the client keeps sending: seen running (the client still
	// connected, past its stdin credit), the client killed, then seen gone.
	const hogPattern = "^sleep 301$"
	if e.pgrep("vm-01", hogPattern) {
		t.Fatalf("%q runs in vm-01 before the test started it", hogPattern)
	}
	hog := exec.Command(e2ekit.Bin(), "exec", "-i", "vm-01", "--socket", e.Sock, "--", "sleep", "301")
	hog.Stdin = zeros{}
	var hogErr syncBuffer
	hog.Stderr = &hogErr
	if err := hog.Start(); err != nil {
		t.Fatal(err)
	}
	hogDone := make(chan error, 1)
	go func() { hogDone <- hog.Wait() }()
	t.Cleanup(func() { hog.Process.Kill(); <-hogDone })
	e2ekit.WaitFor(t, 30*time.Second, "the exec -i client's process is seen running", func() bool {
		select {
		case err := <-hogDone:
			hogDone <- err
			t.Fatalf("the exec -i client ended before its process was seen running: %v: %s", err, hogErr.String())
		default:
		}
		return e.pgrep("vm-01", hogPattern)
	})
	// Still running a second later, the client still connected: it is
	// the disconnect below that stops it, not something on its own.
	time.Sleep(time.Second)
	if !e.pgrep("vm-01", hogPattern) {
		t.Fatalf("the exec -i client's process stopped before the test disconnected the client (client stderr: %q)", hogErr.String())
	}
	select {
	case err := <-hogDone:
		hogDone <- err
		t.Fatalf("the exec -i client ended while its process ran: %v: %s", err, hogErr.String())
	default:
	}
	if err := hog.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-hogDone
	hogDone <- nil // for the cleanup
	e2ekit.WaitFor(t, 30*time.Second, "the process of an exec client that went away is gone", func() bool {
		return !e.pgrep("vm-01", hogPattern)
	})
	// console: a login shell on a terminal, no sshd involved (script(1) gives fatbox a terminal).
	cons := exec.Command("script", "-qec", e2ekit.Bin()+" console vm-01 --socket "+e.Sock, "/dev/null")
	cons.Stdin = strings.NewReader("tty; echo console-$((6*7)); exit 3\n")
	var cout bytes.Buffer
	cons.Stdout, cons.Stderr = &cout, &cout
	err = cons.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || !strings.Contains(cout.String(), "/dev/pts/") || !strings.Contains(cout.String(), "console-42") {
		t.Errorf("console: %v %q", err, cout.String())
	}
	// A terminal's size, and a resize, reach the process (stty reads them).
	// The first size is seen before the resize is sent; the resize reaches
	// the inner terminal through runc asynchronously, so stty is asked
	// again until it says the new size.
	{
		resize := make(chan [2]uint16, 1)
		inR, inW := io.Pipe()
		var out syncBuffer
		c := &api.Client{Socket: e.Sock}
		done := make(chan error, 1)
		go func() {
			code, err := c.Exec(context.Background(), "vm-01", api.ExecRequest{Args: []string{"sh"}, TTY: true, Cols: 101, Rows: 33},
				api.ExecStreams{Stdin: inR, Stdout: &out, Resize: resize})
			if err == nil && code != 0 {
				err = fmt.Errorf("exit %d", code)
			}
			done <- err
		}()
		// Lines go to the process through a queue, so a stream that stops
		// reading fails a deadline below instead of blocking the test.
		lines := make(chan string, 256)
		go func() {
			for l := range lines {
				if _, err := io.WriteString(inW, l); err != nil {
					return
				}
			}
		}()
		defer close(lines)
		write := func(s string) {
			select {
			case lines <- s:
			default:
			}
		}
		// Asked again until answered: a line typed before the shell is up
		// may not reach it.
		e2ekit.WaitFor(t, 20*time.Second, "stty reports the starting size 33 101", func() bool {
			write("stty size\n")
			time.Sleep(100 * time.Millisecond)
			if strings.Contains(out.String(), "33 101") {
				return true
			}
			t.Logf("exec -t output so far: %q", out.String())
			return false
		})
		resize <- [2]uint16{120, 40}
		e2ekit.WaitFor(t, 20*time.Second, "stty reports the size after the resize, 40 120", func() bool {
			write("stty size\n")
			time.Sleep(100 * time.Millisecond)
			if strings.Contains(out.String(), "40 120") {
				return true
			}
			t.Logf("exec -t output so far: %q", out.String())
			return false
		})
		write("exit\n")
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("exec -t with resize: %v %q", err, out.String())
			}
		case <-time.After(20 * time.Second):
			t.Errorf("exec -t with resize did not end: %q", out.String())
		}
		inW.Close()
	}
	// prog and logs: supervisord's programs, controlled and read.
	if out := e.OK("prog", "ls", "vm-01").Stdout; !strings.Contains(out, "sshd") || !strings.Contains(out, "Running") {
		t.Errorf("prog ls: %q", out)
	}
	e.OK("prog", "stop", "vm-01", "cron")
	if out := e.OK("prog", "ls", "vm-01", "cron").Stdout; strings.Contains(out, "Running") {
		t.Errorf("prog ls after stop: %q", out)
	}
	e.OK("prog", "start", "vm-01", "cron")
	if out := e.OK("logs", "vm-01", "sshd").Stdout; !strings.Contains(out, "Server listening") {
		t.Errorf("logs sshd: %q", out)
	}
	oneLine(t, fatbox(t, "exec", "nope-01", "--socket", e.Sock, "--", "true"), `no container "nope-01"`)
	// logs -f follows until the client goes; then the tail inside goes too.
	const tailPattern = `^tail .*-F /var/log/supervisor/sshd\.log$`
	if e.pgrep("vm-01", tailPattern) {
		t.Fatalf("%q runs in vm-01 before logs -f", tailPattern)
	}
	follow := exec.Command(e2ekit.Bin(), "logs", "-f", "vm-01", "sshd", "--socket", e.Sock)
	var fout, ferr syncBuffer
	follow.Stdout, follow.Stderr = &fout, &ferr
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	followDone := make(chan error, 1)
	go func() { followDone <- follow.Wait() }()
	t.Cleanup(func() { follow.Process.Kill(); <-followDone })
	e2ekit.WaitFor(t, 30*time.Second, "logs -f prints the log and its tail is seen running", func() bool {
		select {
		case err := <-followDone:
			followDone <- err
			t.Fatalf("logs -f ended by itself: %v: %s", err, ferr.String())
		default:
		}
		return strings.Contains(fout.String(), "Server listening") && e.pgrep("vm-01", tailPattern)
	})
	if err := follow.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-followDone
	followDone <- nil // for the cleanup
	e2ekit.WaitFor(t, 30*time.Second, "the tail of an interrupted logs -f is gone", func() bool {
		return !e.pgrep("vm-01", tailPattern)
	})

	// lxcfs dies: the daemon restarts it and re-mounts its files in the
	// running container, so free works again without a restart. The daemon
	// is held (SIGSTOP) while lxcfs is killed, so its watch cannot heal
	// before the test has seen lxcfs gone and free failing inside.
	healthyFree := func() (string, error) {
		r := fatbox(t, "exec", "vm-01", "--socket", e.Sock, "--", "free", "-m")
		if r.Code != 0 {
			return "", fmt.Errorf("free -m: exit %d: %s", r.Code, r.Stderr)
		}
		for _, l := range strings.Split(r.Stdout, "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "Mem:" {
				return f[1], nil
			}
		}
		return "", fmt.Errorf("free -m printed no Mem: line: %q", r.Stdout)
	}
	if got, err := healthyFree(); err != nil || got != "512" {
		t.Fatalf("free before lxcfs is killed: %q %v", got, err)
	}
	// free inside the container without the daemon (runc exec): its exit
	// code and what it printed.
	runcFree := func() (string, error) {
		out, err := exec.Command("runc", "--root", daemon.RuncRoot(e.State), "exec", "vm-01", "free", "-m").CombinedOutput()
		return string(out), err
	}
	if out, err := runcFree(); err != nil || !strings.Contains(out, " 512 ") {
		t.Fatalf("free through runc exec before lxcfs is killed: %v %q", err, out)
	}
	oldLXCFS := lxcfsPid(e.State)
	if oldLXCFS == 0 {
		t.Fatalf("no live lxcfs in %s", filepath.Join(e.State, "lxcfs.pid"))
	}
	if err := e.D.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("hold the daemon: %v", err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			if err := e.D.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Errorf("resume the daemon: %v", err)
			}
		}
	}
	t.Cleanup(thaw) // before the containers' rm, which needs the daemon
	if err := syscall.Kill(oldLXCFS, syscall.SIGKILL); err != nil {
		t.Fatalf("kill lxcfs %d: %v", oldLXCFS, err)
	}
	e2ekit.WaitFor(t, 10*time.Second, fmt.Sprintf("lxcfs %d exits after SIGKILL", oldLXCFS), func() bool { return processGone(oldLXCFS) })
	if out, err := runcFree(); err == nil && strings.Contains(out, " 512 ") {
		t.Fatalf("free inside still reports 512 MiB with lxcfs dead: the figure does not come from lxcfs: %q", out)
	} else {
		t.Logf("with lxcfs dead, free inside: %v %q", err, strings.TrimSpace(out))
	}
	thaw()
	var newLXCFS int
	e2ekit.WaitFor(t, 30*time.Second, "the daemon starts a new lxcfs", func() bool {
		newLXCFS = lxcfsPid(e.State)
		return newLXCFS != 0 && newLXCFS != oldLXCFS
	})
	var lastFree string
	e2ekit.WaitFor(t, 30*time.Second, "free inside reports 512 MiB again", func() bool {
		got, err := healthyFree()
		lastFree = fmt.Sprint(got, err)
		return err == nil && got == "512"
	})
	t.Logf("lxcfs %d killed, %d started by the daemon; free says 512 again (%s)", oldLXCFS, newLXCFS, lastFree)

	// The cron job fires at a minute's start after cron sees the file: within
	// about a minute of being written; the deadline leaves room for a loaded host.
	for !strings.Contains(e.SSH(ip, "cat /root/cron.out 2>/dev/null || true"), "fired") {
		if time.Since(start) > 150*time.Second {
			t.Fatal("the cron job never fired")
		}
		time.Sleep(time.Second)
	}
}

// TestHostRestart: every container and its mounts, links and netns die
// (as in a host restart) with the daemon; the next daemon brings back those
// marked autostart, on the same IP with their files, and leaves the others
// stopped. A restart keeps them too.
func TestHostRestart(t *testing.T) {
	e := newVMEnv(t, "198.19.42.0/24")
	a := e.Create("auto-01", "--memory", "256M", "--disk", "1G")
	b := e.Create("manual-01", "--memory", "256M", "--disk", "1G", "--autostart=false")
	e.SSH(a.IP, "echo kept > /root/note")
	e.SSH(b.IP, "true")

	e.OK("restart", "auto-01")
	if got := strings.TrimSpace(e.SSH(a.IP, "cat /root/note")); got != "kept" {
		t.Fatalf("after restart: %q", got)
	}
	// The stop before it stopped the programs in order: cron, then sshd, then syslog.
	// (fatbox-init, the shim's timers, goes with supervisord's own SIGTERM;
	// the shim's unit-* programs, apps, go first.)
	stops := e.SSH(a.IP, `grep -o 'stop the program" program=[a-z0-9_.@-]*' /var/log/supervisor/supervisord.log | cut -d= -f2 | grep -vx fatbox-init | grep -v '^unit-' | tr '\n' ' '`)
	if !strings.HasPrefix(stops, "cron sshd rsyslog") {
		t.Fatalf("stop order in supervisord's log: %q", stops)
	}

	autoInit := e.Inspect("auto-01").PID
	if autoInit == 0 {
		t.Fatal("auto-01 runs without an init PID")
	}
	e.D.Kill9(t)
	// The "host restart": runc's containers killed, their state, mounts,
	// loop devices, links and netns gone; each step checked, or a container
	// left running would be adopted and pass for one booted again.
	root := daemon.RuncRoot(e.State)
	for _, name := range []string{"auto-01", "manual-01"} {
		if out, err := exec.Command("runc", "--root", root, "kill", "--all", name, "KILL").CombinedOutput(); err != nil {
			t.Fatalf("runc kill %s: %v %s", name, err, out)
		}
		e2ekit.WaitFor(t, 20*time.Second, "runc says "+name+" stopped", func() bool {
			out, err := exec.Command("runc", "--root", root, "state", name).Output()
			var st struct{ Status string }
			return err == nil && json.Unmarshal(out, &st) == nil && st.Status == "stopped"
		})
		if out, err := exec.Command("runc", "--root", root, "delete", "-f", name).CombinedOutput(); err != nil {
			t.Fatalf("runc delete %s: %v %s", name, err, out)
		}
		if err := exec.Command("runc", "--root", root, "state", name).Run(); err == nil {
			t.Fatalf("runc still knows %s after delete", name)
		}
		cdir := filepath.Join(e.State, "containers", name)
		for _, m := range []string{filepath.Join(cdir, "rootfs"), filepath.Join(cdir, "disk")} {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
				t.Fatalf("unmount %s: %v", m, err)
			}
		}
		if out, err := exec.Command("ip", "netns", "del", "fatbox-"+name).CombinedOutput(); err != nil {
			t.Fatalf("ip netns del fatbox-%s: %v %s", name, err, out)
		}
	}
	if !processGone(autoInit) {
		t.Fatalf("auto-01's init %d still runs after the host restart", autoInit)
	}
	e2ekit.StopLXCFS(e.State)
	e.D = spawnDaemon(t, e.State, e.Sock, e.Args...)
	if in := e.Inspect("auto-01"); in.State != "running" || in.IP != a.IP || in.MAC != a.MAC || in.PID == 0 || in.PID == autoInit {
		t.Fatalf("auto-01 after host restart (its init was %d): %+v", autoInit, in)
	}
	if got := strings.TrimSpace(e.SSH(a.IP, "cat /root/note")); got != "kept" {
		t.Fatalf("auto-01's file after host restart: %q", got)
	}
	if in := e.Inspect("manual-01"); in.State == "running" || in.Status != "stopped" {
		t.Fatalf("manual-01 after host restart: state %q status %q", in.State, in.Status)
	}
	e.OK("start", "manual-01")
	e.SSH(b.IP, "echo kept > /root/note")

	// rename carries the lease, disk and host keys; the hostname follows.
	oneLine(t, fatbox(t, "rename", "manual-01", "manual-02", "--socket", e.Sock), "stop it first")
	e.OK("stop", "manual-01")
	e.OK("rename", "manual-01", "manual-02")
	t.Cleanup(func() { fatbox(t, "rm", "manual-02", "--socket", e.Sock) })
	e.OK("start", "manual-02")
	if in := e.Inspect("manual-02"); in.IP != b.IP || in.MAC != b.MAC || in.RenamedFrom != "" /* the dir moved: done */ {
		t.Fatalf("manual-02 after rename: %+v", in)
	}
	if got := e.SSH(b.IP, "hostname; cat /root/note"); got != "manual-02\nkept\n" {
		t.Fatalf("inside after rename: %q", got)
	}
	oneLine(t, fatbox(t, "inspect", "manual-01", "--socket", e.Sock), `no container "manual-01"`)
	// ip gc counts the inventory's containers as alive: nothing to free here.
	if out := e.OK("ip", "gc", "--pool", "vm").Stdout; !strings.Contains(out, "0 orphaned") {
		t.Fatalf("ip gc with two live containers: %s", out)
	}
}
