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
	"github.com/fatbox/fatbox/test/harness"
)

// vmEnv is a daemon with a pool, the fat image and an SSH key, for tests
// that work on containers.
type vmEnv struct {
	t         *testing.T
	dir, sock string
	state     string
	args      []string
	key       string
	d         *daemonProc
}

func newVMEnv(t *testing.T, cidr string) *vmEnv {
	harness.RequireRoot(t)
	sup := os.Getenv("FATBOX_SUPERVISORD")
	harness.Require(t, sup != "", "FATBOX_SUPERVISORD (the binary `make supervisord` builds)")
	_, err := exec.LookPath("lxcfs")
	harness.Require(t, err == nil, "lxcfs (tools/setup-host.sh installs it)")
	dir := t.TempDir()
	e := &vmEnv{t: t, dir: dir, sock: filepath.Join(dir, "fatbox.sock"), state: filepath.Join(dir, "state"),
		args: []string{"--supervisord", sup, "--image-cache", filepath.Join(harness.CacheDir(), "images")}}
	t.Cleanup(func() { stopLXCFS(e.state) })
	// One cleanup for whichever daemon is current, registered before any
	// container's, so every `fatbox rm` runs while a daemon answers.
	t.Cleanup(func() {
		if e.d != nil {
			e.d.stop()
		}
	})
	e.d = spawnDaemon(t, e.state, e.sock, e.args...)
	br := harness.Name("fbvbr")
	t.Cleanup(func() { harness.IPQuiet("link", "del", br) })
	e.ok("pool", "create", "vm", "--cidr", cidr, "--bridge", br, "--create-bridge")
	e.ok("image", "build", "debian12-fat")
	keyDir := t.TempDir()
	e.key = filepath.Join(keyDir, "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", e.key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	return e
}

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// stopLXCFS stops the lxcfs a test daemon started (it outlives daemons on
// purpose) and unmounts it, and removes the daemon's (empty) runc root.
func stopLXCFS(state string) {
	defer os.Remove(daemon.RuncRoot(state))
	mnt := filepath.Join(state, "lxcfs")
	if b, err := os.ReadFile(mnt + ".pid"); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	syscall.Unmount(mnt, syscall.MNT_DETACH)
}

func (e *vmEnv) ok(args ...string) result {
	e.t.Helper()
	r := fatbox(e.t, append(args, "--socket", e.sock)...)
	if r.code != 0 {
		e.t.Fatalf("fatbox %v: exit %d: %s", args, r.code, r.stderr)
	}
	return r
}

func (e *vmEnv) create(name string, extra ...string) api.ContainerInfo {
	e.t.Helper()
	e.ok(append([]string{"create", name, "--image", "debian12-fat", "--pool", "vm", "--ssh-key", e.key + ".pub"}, extra...)...)
	e.t.Cleanup(func() { fatbox(e.t, "rm", name, "--socket", e.sock) })
	return e.inspect(name)
}

func (e *vmEnv) inspect(name string) api.ContainerInfo {
	e.t.Helper()
	var in api.ContainerInfo
	if err := json.Unmarshal([]byte(e.ok("inspect", name).stdout), &in); err != nil {
		e.t.Fatalf("inspect %s: %v", name, err)
	}
	return in
}

// ssh runs cmd as root in the container over the real OpenSSH client,
// retrying while sshd comes up.
func (e *vmEnv) ssh(ip, cmd string) string {
	e.t.Helper()
	var out []byte
	var err error
	for i := 0; i < 60; i++ {
		out, err = exec.Command("ssh", "-i", e.key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "BatchMode=yes", "-o", "ConnectTimeout=2", "-o", "LogLevel=ERROR", "root@"+ip, cmd).CombinedOutput()
		if err == nil {
			return string(out)
		}
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() != 255 {
			break // the command ran and failed: no point retrying
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("ssh root@%s %q: %v\n%s", ip, cmd, err, out)
	return ""
}

// TestLooksLikeAVM: inside, hostname, free, nproc, df, PID 1, cron and
// syslog look like the VM that was asked for.
func TestLooksLikeAVM(t *testing.T) {
	e := newVMEnv(t, "198.19.41.0/24")
	in := e.create("vm-01", "--cpus", "1", "--memory", "512M", "--disk", "2G")
	ip := in.IP
	// A cron job that fires every minute; checked at the end, after the rest.
	e.ssh(ip, `echo '* * * * * root echo fired > /root/cron.out' > /etc/cron.d/fbtest && chmod 644 /etc/cron.d/fbtest`)
	start := time.Now()
	var err error

	if got := strings.TrimSpace(e.ssh(ip, "hostname")); got != "vm-01" {
		t.Errorf("hostname = %q, want vm-01", got)
	}
	if got := strings.TrimSpace(e.ssh(ip, "cat /proc/1/comm")); got != "supervisord" {
		t.Errorf("PID 1 is %q, want supervisord", got)
	}
	if got := strings.TrimSpace(e.ssh(ip, "nproc")); got != "1" {
		t.Errorf("nproc = %q, want 1", got)
	}
	free := strings.Fields(e.ssh(ip, "free -m | awk '/^Mem:/ {print $2}'"))
	if len(free) != 1 || free[0] != "512" {
		t.Errorf("free -m total = %v, want 512", free)
	}
	size := strings.Fields(e.ssh(ip, "df -B1 --output=size / | tail -1"))
	if len(size) != 1 {
		t.Fatalf("df: %v", size)
	}
	if n, _ := strconv.ParseInt(size[0], 10, 64); n < 1800<<20 || n > 2<<30 {
		t.Errorf("df / size = %d bytes, want about 2 GiB", n)
	}
	if up := strings.Fields(e.ssh(ip, "cat /proc/uptime")); len(up) < 1 {
		t.Errorf("uptime: %v", up)
	} else if s, _ := strconv.ParseFloat(up[0], 64); s > 120 {
		t.Errorf("/proc/uptime says %v s: the host's, not the container's", s)
	}
	e.ssh(ip, "logger fatbox-e2e-marker")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.ssh(ip, "cat /var/log/syslog || true"), "fatbox-e2e-marker") {
		if time.Now().After(deadline) {
			t.Fatal("logger's line never reached /var/log/syslog")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// exec: stdout, stderr and the exit code come back apart.
	r := fatbox(t, "exec", "vm-01", "--socket", e.sock, "--", "sh", "-c", "echo out; echo err >&2; exit 7")
	if r.code != 7 || r.stdout != "out\n" || r.stderr != "err\n" {
		t.Errorf("exec: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	// exec -i passes stdin.
	cmd := exec.Command(fatboxBin, "exec", "-i", "vm-01", "--socket", e.sock, "--", "tr", "a-z", "A-Z")
	cmd.Stdin = strings.NewReader("hello\n")
	if out, err := cmd.Output(); err != nil || string(out) != "HELLO\n" {
		t.Errorf("exec -i: %v %q", err, out)
	}
	// Stdin beyond the daemon's credit window flows through whole.
	big := exec.Command(fatboxBin, "exec", "-i", "vm-01", "--socket", e.sock, "--", "wc", "-c")
	big.Stdin = io.LimitReader(zeros{}, 5<<20)
	if out, err := big.Output(); err != nil || strings.TrimSpace(string(out)) != "5242880" {
		t.Errorf("exec -i of 5 MiB: %v %q", err, out)
	}
	// A client that goes away stops the process, even one that never reads
	// the stdin the client keeps sending.
	hog := exec.Command(fatboxBin, "exec", "-i", "vm-01", "--socket", e.sock, "--", "sleep", "300")
	hog.Stdin = zeros{}
	if err := hog.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	hog.Process.Kill()
	hog.Wait()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if r := fatbox(t, "exec", "vm-01", "--socket", e.sock, "--", "pgrep", "-x", "sleep"); r.code == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the process of a client that went away still runs")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// console: a login shell on a terminal, no sshd involved (script(1) gives fatbox a terminal).
	cons := exec.Command("script", "-qec", fatboxBin+" console vm-01 --socket "+e.sock, "/dev/null")
	cons.Stdin = strings.NewReader("tty; echo console-$((6*7)); exit 3\n")
	var cout bytes.Buffer
	cons.Stdout, cons.Stderr = &cout, &cout
	err = cons.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || !strings.Contains(cout.String(), "/dev/pts/") || !strings.Contains(cout.String(), "console-42") {
		t.Errorf("console: %v %q", err, cout.String())
	}
	// A terminal's size, and a resize, reach the process (stty reads them).
	{
		resize := make(chan [2]uint16, 1)
		inR, inW := io.Pipe()
		var out bytes.Buffer
		c := &api.Client{Socket: e.sock}
		done := make(chan error, 1)
		go func() {
			code, err := c.Exec(context.Background(), "vm-01", api.ExecRequest{Args: []string{"sh"}, TTY: true, Cols: 101, Rows: 33},
				api.ExecStreams{Stdin: inR, Stdout: &out, Resize: resize})
			if err == nil && code != 0 {
				err = fmt.Errorf("exit %d", code)
			}
			done <- err
		}()
		io.WriteString(inW, "stty size\n")
		time.Sleep(500 * time.Millisecond)
		resize <- [2]uint16{120, 40}
		time.Sleep(500 * time.Millisecond)
		io.WriteString(inW, "stty size; exit\n")
		select {
		case err := <-done:
			if err != nil || !strings.Contains(out.String(), "33 101") || !strings.Contains(out.String(), "40 120") {
				t.Errorf("tty sizes: %v %q", err, out.String())
			}
		case <-time.After(20 * time.Second):
			t.Errorf("exec -t with resize did not end: %q", out.String())
		}
		inW.Close()
	}
	// prog and logs: supervisord's programs, controlled and read.
	if out := e.ok("prog", "ls", "vm-01").stdout; !strings.Contains(out, "sshd") || !strings.Contains(out, "Running") {
		t.Errorf("prog ls: %q", out)
	}
	e.ok("prog", "stop", "vm-01", "cron")
	if out := e.ok("prog", "ls", "vm-01", "cron").stdout; strings.Contains(out, "Running") {
		t.Errorf("prog ls after stop: %q", out)
	}
	e.ok("prog", "start", "vm-01", "cron")
	if out := e.ok("logs", "vm-01", "sshd").stdout; !strings.Contains(out, "Server listening") {
		t.Errorf("logs sshd: %q", out)
	}
	oneLine(t, fatbox(t, "exec", "nope-01", "--socket", e.sock, "--", "true"), `no container "nope-01"`)
	// logs -f follows until the client goes; then the tail inside goes too.
	follow := exec.Command(fatboxBin, "logs", "-f", "vm-01", "sshd", "--socket", e.sock)
	var fout bytes.Buffer
	follow.Stdout = &fout
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	follow.Process.Kill()
	follow.Wait()
	if !strings.Contains(fout.String(), "Server listening") {
		t.Errorf("logs -f printed %q", fout.String())
	}
	gone := time.Now().Add(10 * time.Second)
	for {
		r := fatbox(t, "exec", "vm-01", "--socket", e.sock, "--", "pgrep", "-x", "tail")
		if r.code == 1 {
			break
		}
		if time.Now().After(gone) {
			t.Fatalf("the tail of an interrupted logs -f still runs: %q", r.stdout)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// lxcfs dies: the daemon restarts it and re-mounts its files in the
	// running container, so free works again without a restart.
	b, err := os.ReadFile(filepath.Join(e.state, "lxcfs.pid"))
	if err != nil {
		t.Fatalf("lxcfs pid file: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill lxcfs %d: %v", pid, err)
	}
	healed := time.Now().Add(15 * time.Second)
	for {
		out, _ := exec.Command(fatboxBin, "exec", "vm-01", "--socket", e.sock, "--", "sh", "-c", "free -m | awk '/^Mem:/ {print $2}'").CombinedOutput()
		if strings.TrimSpace(string(out)) == "512" {
			break
		}
		if time.Now().After(healed) {
			t.Fatalf("free after lxcfs was killed: %q", out)
		}
		time.Sleep(250 * time.Millisecond)
	}

	// The cron job fires within its minute.
	for !strings.Contains(e.ssh(ip, "cat /root/cron.out 2>/dev/null || true"), "fired") {
		if time.Since(start) > 75*time.Second {
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
	a := e.create("auto-01", "--memory", "256M", "--disk", "1G")
	b := e.create("manual-01", "--memory", "256M", "--disk", "1G", "--autostart=false")
	e.ssh(a.IP, "echo kept > /root/note")
	e.ssh(b.IP, "true")

	e.ok("restart", "auto-01")
	if got := strings.TrimSpace(e.ssh(a.IP, "cat /root/note")); got != "kept" {
		t.Fatalf("after restart: %q", got)
	}
	// The stop before it stopped the programs in order: cron, then sshd, then syslog.
	stops := e.ssh(a.IP, `grep -o 'stop the program" program=[a-z]*' /var/log/supervisor/supervisord.log | cut -d= -f2 | tr '\n' ' '`)
	if !strings.HasPrefix(stops, "cron sshd rsyslog") {
		t.Fatalf("stop order in supervisord's log: %q", stops)
	}

	e.d.kill9(t)
	// The "host restart": runc's containers killed, their state, mounts,
	// loop devices, links and netns gone.
	root := daemon.RuncRoot(e.state)
	for _, name := range []string{"auto-01", "manual-01"} {
		exec.Command("runc", "--root", root, "kill", "--all", name, "KILL").Run()
		time.Sleep(200 * time.Millisecond)
		exec.Command("runc", "--root", root, "delete", "-f", name).Run()
		cdir := filepath.Join(e.state, "containers", name)
		syscall.Unmount(filepath.Join(cdir, "rootfs"), syscall.MNT_DETACH)
		syscall.Unmount(filepath.Join(cdir, "disk"), syscall.MNT_DETACH)
		harness.IPQuiet("netns", "del", "fatbox-"+name)
	}
	stopLXCFS(e.state)
	e.d = spawnDaemon(t, e.state, e.sock, e.args...)
	if in := e.inspect("auto-01"); in.State != "running" || in.IP != a.IP || in.MAC != a.MAC {
		t.Fatalf("auto-01 after host restart: %+v", in)
	}
	if got := strings.TrimSpace(e.ssh(a.IP, "cat /root/note")); got != "kept" {
		t.Fatalf("auto-01's file after host restart: %q", got)
	}
	if in := e.inspect("manual-01"); in.State == "running" || in.Status != "stopped" {
		t.Fatalf("manual-01 after host restart: state %q status %q", in.State, in.Status)
	}
	e.ok("start", "manual-01")
	e.ssh(b.IP, "echo kept > /root/note")

	// rename carries the lease, disk and host keys; the hostname follows.
	oneLine(t, fatbox(t, "rename", "manual-01", "manual-02", "--socket", e.sock), "stop it first")
	e.ok("stop", "manual-01")
	e.ok("rename", "manual-01", "manual-02")
	t.Cleanup(func() { fatbox(t, "rm", "manual-02", "--socket", e.sock) })
	e.ok("start", "manual-02")
	if in := e.inspect("manual-02"); in.IP != b.IP || in.MAC != b.MAC || in.RenamedFrom != "" /* the dir moved: done */ {
		t.Fatalf("manual-02 after rename: %+v", in)
	}
	if got := e.ssh(b.IP, "hostname; cat /root/note"); got != "manual-02\nkept\n" {
		t.Fatalf("inside after rename: %q", got)
	}
	oneLine(t, fatbox(t, "inspect", "manual-01", "--socket", e.sock), `no container "manual-01"`)
	// ip gc counts the inventory's containers as alive: nothing to free here.
	if out := e.ok("ip", "gc", "--pool", "vm").stdout; !strings.Contains(out, "0 orphaned") {
		t.Fatalf("ip gc with two live containers: %s", out)
	}
}
