package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/test/harness"
)

// shimEnv is a test root with a real supervisord (ochinchina v0.7.3, as in
// containers) whose include dir is the root's /run/vmshim/supervisor, and
// the vmshim binary built from this package.
type shimEnv struct {
	t    *testing.T
	root string
	bin  string
	env  []string
}

func supervisordBinary() string {
	if p := os.Getenv("FATBOX_SUPERVISORD"); p != "" {
		return p
	}
	p, _ := filepath.Abs("../../bin/supervisord")
	return p
}

func newShimEnv(t *testing.T) *shimEnv { return newShimEnvWith(t, nil) }

// newShimEnvWith calls prepare on the root before supervisord starts.
func newShimEnvWith(t *testing.T, prepare func(root, bin string)) *shimEnv {
	t.Helper()
	harness.RequireRoot(t)
	sup := supervisordBinary()
	_, err := os.Stat(sup)
	harness.Require(t, err == nil, "supervisord binary %s (make supervisord, or FATBOX_SUPERVISORD)", sup)
	// Unix socket paths must stay short: a short root under /tmp.
	root, err := os.MkdirTemp("/tmp", "vmshim")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	bin := filepath.Join(root, "vmshim")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building vmshim: %v\n%s", err, out)
	}
	for _, d := range []string{"etc/systemd/system", "lib/systemd/system", "etc/init.d", "etc/security", "run/vmshim/supervisor", "var/log/supervisor"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	for _, f := range []string{"passwd", "group"} {
		b, err := os.ReadFile("/etc/" + f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(root, "etc", f), b, 0o644)
	}
	sock := filepath.Join(root, "run/supervisord.sock")
	conf := fmt.Sprintf(`[supervisord]
logfile=%[1]s/var/log/supervisor/supervisord.log
pidfile=%[1]s/run/supervisord.pid
[unix_http_server]
file=%[2]s
[supervisorctl]
serverurl=unix://%[2]s
[program:sleeper]
command=/bin/sleep 100000
autostart=true
autorestart=true
stdout_logfile=%[1]s/var/log/supervisor/sleeper.log
[include]
files = %[1]s/run/vmshim/supervisor/*.conf
`, root, sock)
	os.WriteFile(filepath.Join(root, "supervisord.conf"), []byte(conf), 0o644)
	if prepare != nil {
		prepare(root, bin)
	}
	e := &shimEnv{t: t, root: root, bin: bin, env: append(os.Environ(), "VMSHIM_ROOT="+root, "VMSHIM_SUPERVISORD_SOCK="+sock, "VMSHIM_BIN="+bin)}
	cmd := exec.Command(sup, "-c", filepath.Join(root, "supervisord.conf"))
	cmd.Env = e.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Stop every unit through vmshim first (run-unit kills its
		// processes), then supervisord, then anything left below it.
		ents, _ := os.ReadDir(filepath.Join(root, "run/vmshim/units"))
		for _, en := range ents {
			e.run("systemctl", "stop", strings.TrimSuffix(en.Name(), ".json"))
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("supervisord did not create its socket")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return e
}

func (e *shimEnv) unit(name, text string) {
	if err := os.WriteFile(filepath.Join(e.root, "lib/systemd/system", name), []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// run runs vmshim VERB ARGS and returns stdout, stderr and the exit code.
func (e *shimEnv) run(args ...string) (string, string, int) {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("vmshim %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func (e *shimEnv) must(args ...string) string {
	e.t.Helper()
	out, errs, code := e.run(args...)
	if code != 0 {
		e.t.Fatalf("vmshim %v: exit %d\nstdout: %s\nstderr: %s\nlog:\n%s", args, code, out, errs, e.log(args[len(args)-1]))
	}
	return out
}

func (e *shimEnv) prop(unit, p string) string {
	return strings.TrimSpace(e.must("systemctl", "show", "-p", p, "--value", unit))
}

func (e *shimEnv) log(unit string) string {
	b, _ := os.ReadFile(filepath.Join(e.root, "var/log/supervisor", programOf(unitName(unit))+".log"))
	return string(b)
}

// waitProp waits until a property has a value none of not.
func (e *shimEnv) waitProp(unit, p string, within time.Duration, not ...string) string {
	e.t.Helper()
	end := time.Now().Add(within)
	for {
		v := e.prop(unit, p)
		ok := true
		for _, n := range not {
			ok = ok && v != n
		}
		if ok || time.Now().After(end) {
			return v
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func procCmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.ReplaceAll(string(b), "\x00", " ")
}

func ppidOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	p, _ := parseStat(string(b))
	return p.PPID
}

func TestRunUnitUnderSupervisord(t *testing.T) {
	t.Parallel()
	e := newShimEnv(t)
	marker := filepath.Join(e.root, "stopped-with")

	// A forking daemon without PIDFile=: its real process (a grandchild
	// whose parents exit) is found and tracked, and Restart=on-failure
	// brings it back after kill -9.
	e.unit("forker.service", `[Unit]
Description=forking daemon without a PID file
[Service]
Type=forking
ExecStart=/bin/sh -c '( ( exec sleep 3000 ) & ) ; exit 0'
ExecStop=/bin/sh -c 'echo "$MAINPID" > `+marker+`; kill $MAINPID'
Restart=on-failure
RestartSec=200ms
`)
	e.must("systemctl", "start", "forker")
	if got := e.prop("forker", "ActiveState"); got != "active" {
		t.Fatalf("forker ActiveState=%s\n%s", got, e.log("forker"))
	}
	main, _ := strconv.Atoi(e.prop("forker", "MainPID"))
	if main <= 0 || procComm(main) != "sleep" {
		t.Fatalf("forker MainPID=%d (%s), want the sleep daemon\n%s", main, procComm(main), e.log("forker"))
	}
	syscall.Kill(main, syscall.SIGKILL)
	newMain := e.waitProp("forker", "MainPID", 5*time.Second, strconv.Itoa(main), "0")
	if n := e.prop("forker", "NRestarts"); n != "1" || newMain == "0" || newMain == strconv.Itoa(main) {
		t.Fatalf("after kill -9: NRestarts=%s MainPID=%s (was %d)\n%s", n, newMain, main, e.log("forker"))
	}
	if _, _, code := e.run("systemctl", "is-active", "forker"); code != 0 {
		t.Fatalf("is-active after the restart: %d", code)
	}
	e.must("systemctl", "stop", "forker")
	if b, _ := os.ReadFile(marker); strings.TrimSpace(string(b)) != newMain {
		t.Errorf("ExecStop saw MAINPID=%q, want %s", b, newMain)
	}
	if _, _, code := e.run("systemctl", "is-active", "forker"); code != 3 {
		t.Errorf("is-active after stop: exit %d, want 3", code)
	}
	if n, _ := strconv.Atoi(newMain); alive(n) {
		t.Errorf("daemon %s still alive after stop", newMain)
	}

	// A failing oneshot: systemd's message and exit 1; status exits 3.
	e.unit("bad.service", "[Service]\nType=oneshot\nExecStart=/bin/false\n")
	_, errs, code := e.run("systemctl", "start", "bad")
	if code != 1 || !strings.Contains(errs, "Job for bad.service failed because the control process exited with error code.") {
		t.Errorf("start bad: exit %d, stderr %q", code, errs)
	}
	if out, _, code := e.run("systemctl", "status", "bad"); code != 3 || !strings.Contains(out, "failed (Result: exit-code)") {
		t.Errorf("status bad: exit %d\n%s", code, out)
	}
	if _, errs, code := e.run("systemctl", "start", "nope"); code != 5 || !strings.Contains(errs, "Unit nope.service not found.") {
		t.Errorf("start nope: exit %d, %q", code, errs)
	}

	// A simple service as User=nobody gets Environment=, WorkingDirectory=
	// and the nofile of limits.conf (capped at this host's hard limit).
	var hard syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &hard)
	want := hard.Max
	if want > 4096 {
		want = 4096
	}
	os.WriteFile(filepath.Join(e.root, "etc/security/limits.conf"), []byte(fmt.Sprintf("nobody soft nofile %d\nnobody hard nofile %d\n", want, want)), 0o644)
	e.unit("env.service", `[Service]
User=nobody
Environment=GREETING=hello
WorkingDirectory=/tmp
ExecStart=/bin/sh -c 'echo "$(id -un) $GREETING $(pwd) $(ulimit -n)"; exec sleep 3000'
`)
	e.must("systemctl", "start", "env")
	end := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.log("env"), "nobody hello /tmp") && time.Now().Before(end) {
		time.Sleep(100 * time.Millisecond)
	}
	if line := fmt.Sprintf("nobody hello /tmp %d", want); !strings.Contains(e.log("env"), line) {
		t.Errorf("env.service log lacks %q:\n%s", line, e.log("env"))
	}
	out, _, _ := e.run("journalctl", "-u", "env", "-n", "5")
	if !strings.Contains(out, "nobody hello") {
		t.Errorf("journalctl -u env:\n%s", out)
	}

	// run-unit killed -9: supervisord sees it exit (it alone holds
	// supervisord's pipe) and runs it again, which ends the unsupervised
	// old main process before starting the unit afresh: never twice.
	old, _ := strconv.Atoi(e.prop("env", "MainPID"))
	runner := ppidOf(old)
	if !strings.Contains(procCmdline(runner), "run-unit") {
		t.Fatalf("env's main %d has parent %d (%q), not its run-unit", old, runner, procCmdline(runner))
	}
	syscall.Kill(runner, syscall.SIGKILL)
	newMain = e.waitProp("env", "MainPID", 15*time.Second, strconv.Itoa(old), "0")
	if newMain == strconv.Itoa(old) || newMain == "0" || alive(old) {
		t.Errorf("after kill -9 of run-unit: MainPID %s (was %d, alive %v)\n%s", newMain, old, alive(old), e.log("env"))
	}
	if got := e.prop("env", "ActiveState"); got != "active" {
		t.Errorf("env after its run-unit was killed: %s", got)
	}
	e.must("systemctl", "restart", "env")
	if got := e.prop("env", "ActiveState"); got != "active" {
		t.Errorf("env after restart: %s", got)
	}

	// KillMode=process leaves a child running after stop; it must not keep
	// supervisord from seeing run-unit exit (the next start would hang).
	e.unit("left.service", "[Service]\nExecStart=/bin/sh -c 'sleep 2999 & exec sleep 3001'\nKillMode=process\n")
	e.must("systemctl", "start", "left")
	leftMain, _ := strconv.Atoi(e.prop("left", "MainPID"))
	var stray int
	table, _ := readProcTable()
	for _, p := range descendants(table, ppidOf(leftMain)) {
		if strings.TrimSpace(procCmdline(p)) == "sleep 2999" {
			stray = p
		}
	}
	if stray == 0 {
		t.Fatalf("no stray sleep 2999 below left.service's run-unit")
	}
	t.Cleanup(func() { syscall.Kill(stray, syscall.SIGKILL) })
	e.must("systemctl", "stop", "left")
	if !alive(stray) {
		t.Fatalf("KillMode=process killed the stray %d too", stray)
	}
	start := time.Now()
	e.must("systemctl", "start", "left")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("start after a stop that left a process took %s", d)
	}
	if got := e.prop("left", "ActiveState"); got != "active" {
		t.Errorf("left after restart: %s", got)
	}

	// A supervisord program is driven directly (once past its startsecs).
	if got := e.waitProp("sleeper", "ActiveState", 5*time.Second, "activating"); got != "active" {
		b, _ := os.ReadFile(filepath.Join(e.root, "var/log/supervisor/supervisord.log"))
		t.Fatalf("sleeper ActiveState=%s\n%s", got, b)
	}
	e.must("systemctl", "stop", "sleeper")
	if out, _, code := e.run("systemctl", "is-active", "sleeper"); code != 3 || strings.TrimSpace(out) != "inactive" {
		t.Errorf("sleeper after stop: %q %d", out, code)
	}
	// A unit's first start reloads supervisord, which v0.7.3 answers by
	// starting every stopped autostart program: sleeper must stay stopped.
	e.unit("late.service", "[Service]\nExecStart=/bin/sleep 3003\n")
	e.must("systemctl", "start", "late")
	if out, _, code := e.run("systemctl", "is-active", "sleeper"); code != 3 {
		t.Errorf("sleeper after another unit's first start (a reload): %q %d, want inactive", out, code)
	}
	if out, _ := exec.Command("pgrep", "-fx", "/bin/sleep 100000").Output(); len(out) > 0 {
		// (other tests' supervisords run their own sleeper: only flag ours)
		for _, f := range strings.Fields(string(out)) {
			if pid, _ := strconv.Atoi(f); strings.Contains(procCmdline(ppidOf(pid)), e.root) {
				t.Errorf("sleeper runs again (pid %d) after the reload", pid)
			}
		}
	}
	e.must("systemctl", "start", "sleeper")
}

func TestRunUnitNotify(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	harness.Require(t, err == nil, "python3 for the Type=notify test program")
	e := newShimEnv(t)
	script := filepath.Join(e.root, "notifier.py")
	os.WriteFile(script, []byte(`import os, socket, time
time.sleep(0.4)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1\nSTATUS=serving", os.environ["NOTIFY_SOCKET"])
while True: time.sleep(1)
`), 0o644)
	e.unit("notifier.service", fmt.Sprintf("[Service]\nType=notify\nExecStart=%s %s\nRestart=on-failure\nRestartSec=100ms\n", py, script))
	start := time.Now()
	e.must("systemctl", "start", "notifier")
	if time.Since(start) < 400*time.Millisecond {
		t.Errorf("start returned after %s, before READY=1", time.Since(start))
	}
	if got := e.prop("notifier", "StatusText"); got != "serving" {
		t.Errorf("StatusText=%q", got)
	}
	main, _ := strconv.Atoi(e.prop("notifier", "MainPID"))
	if !strings.Contains(procComm(main), "python") {
		t.Fatalf("MainPID %d is %q", main, procComm(main))
	}
	syscall.Kill(main, syscall.SIGKILL)
	e.waitProp("notifier", "MainPID", 5*time.Second, strconv.Itoa(main), "0")
	if got := e.waitProp("notifier", "ActiveState", 5*time.Second, "activating"); got != "active" {
		t.Fatalf("after kill -9: %s\n%s", got, e.log("notifier"))
	}
	if n := e.prop("notifier", "NRestarts"); n != "1" {
		t.Errorf("NRestarts=%s", n)
	}

	// The notify socket is open to every user; MAINPID= naming a process
	// outside the unit from a non-root sender is ignored (else `systemctl
	// stop` would signal it as root).
	cur := e.prop("notifier", "MainPID")
	if err := os.Chmod(e.root, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(e.root, notifyDir, "notifier.service")
	sender := "/usr/bin/python3" // a user's python (pyenv's shims under /root are not nobody's)
	_, err = os.Stat(sender)
	harness.Require(t, err == nil, "%s (runnable by nobody) for the notify sender", sender)
	// The victim: a root process outside the unit (not PID 1, should this
	// regress and the cleanup's stop signal it).
	victim := exec.Command("/bin/sleep", "3000")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	vpid := strconv.Itoa(victim.Process.Pid)
	send := exec.Command(sender, "-c", `import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(("MAINPID=" + sys.argv[2] + "\nSTATUS=hijacked").encode(), sys.argv[1])`, sock, vpid)
	send.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := send.CombinedOutput(); err != nil {
		t.Fatalf("sending as nobody: %v\n%s", err, out)
	}
	if got := e.waitProp("notifier", "StatusText", 3*time.Second, "serving"); got != "hijacked" {
		t.Fatalf("the datagram did not arrive: StatusText=%q", got)
	}
	if got := e.prop("notifier", "MainPID"); got != cur {
		t.Errorf("MAINPID=%s from nobody accepted: MainPID %s, was %s", vpid, got, cur)
	}
	if !strings.Contains(e.log("notifier"), "ignoring MAINPID="+vpid) {
		t.Errorf("no log line for the refused MAINPID=\n%s", e.log("notifier"))
	}
}

// TestInitBoot: vmshim init, as the supervisord program fatbox-init,
// starts the enabled units and runs the enabled timers.
func TestInitBoot(t *testing.T) {
	t.Parallel()
	ticks := ""
	e := newShimEnvWith(t, func(root, bin string) {
		ticks = filepath.Join(root, "ticks")
		files := map[string]string{
			"lib/systemd/system/app.service":         "[Service]\nExecStart=/bin/sleep 3000\n[Install]\nWantedBy=multi-user.target\n",
			"lib/systemd/system/off.service":         "[Service]\nExecStart=/bin/sleep 3000\n[Install]\nWantedBy=multi-user.target\n",
			"lib/systemd/system/tick.timer":          "[Timer]\nOnCalendar=*:*:0/2\n[Install]\nWantedBy=timers.target\n",
			"lib/systemd/system/tick.service":        "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo tick >> " + ticks + "'\n",
			"run/vmshim/supervisor/fatbox-init.conf": fmt.Sprintf("[program:fatbox-init]\ncommand=%s init\nautostart=true\nautorestart=true\npriority=1\nstdout_logfile=%s/var/log/supervisor/fatbox-init.log\n", bin, root),
		}
		for f, text := range files {
			os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755)
			os.WriteFile(filepath.Join(root, f), []byte(text), 0o644)
		}
		for link, target := range map[string]string{
			"etc/systemd/system/multi-user.target.wants/app.service": "/lib/systemd/system/app.service",
			"etc/systemd/system/timers.target.wants/tick.timer":      "/lib/systemd/system/tick.timer",
		} {
			os.MkdirAll(filepath.Dir(filepath.Join(root, link)), 0o755)
			os.Symlink(target, filepath.Join(root, link))
		}
	})
	// supervisord runs fatbox-init with the test's environment.
	if got := e.waitProp("app", "ActiveState", 10*time.Second, "inactive", "activating"); got != "active" {
		b, _ := os.ReadFile(filepath.Join(e.root, "var/log/supervisor/fatbox-init.log"))
		t.Fatalf("enabled app.service is %s after boot\n%s", got, b)
	}
	if got := e.prop("off", "ActiveState"); got != "inactive" {
		t.Errorf("off.service (not enabled) is %s", got)
	}
	if _, err := os.Stat(filepath.Join(e.root, "run/systemd/system")); err != nil {
		t.Errorf("init did not create /run/systemd/system: %v", err)
	}
	end := time.Now().Add(8 * time.Second)
	for time.Now().Before(end) {
		if b, _ := os.ReadFile(ticks); strings.Count(string(b), "tick") >= 2 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if b, _ := os.ReadFile(ticks); strings.Count(string(b), "tick") < 2 {
		log, _ := os.ReadFile(filepath.Join(e.root, "var/log/supervisor/fatbox-init.log"))
		t.Fatalf("tick.timer (every 2 s) fired %d times in 8 s\n%s", strings.Count(string(b), "tick"), log)
	}
	out := e.must("systemctl", "list-timers", "--no-legend")
	if !strings.Contains(out, "tick.timer") || !strings.Contains(out, "tick.service") {
		t.Errorf("list-timers:\n%s", out)
	}
	e.must("systemctl", "stop", "tick.timer")
	time.Sleep(500 * time.Millisecond) // a run already started may finish
	b, _ := os.ReadFile(ticks)
	time.Sleep(3 * time.Second)
	if b2, _ := os.ReadFile(ticks); len(b2) != len(b) {
		t.Errorf("tick.timer fired after systemctl stop")
	}
}

// TestConcurrentStarts: six units started at once (each start writes a
// conf and reloads supervisord) all end up running, and so does the
// autostart program the reloads must not disturb.
func TestConcurrentStarts(t *testing.T) {
	t.Parallel()
	e := newShimEnv(t)
	e.waitProp("sleeper", "ActiveState", 5*time.Second, "activating")
	const n = 6
	for i := 0; i < n; i++ {
		e.unit(fmt.Sprintf("c%d.service", i), fmt.Sprintf("[Service]\nExecStart=/bin/sleep %d\n", 3000+i))
	}
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			out, errOut, code := e.run("systemctl", "start", fmt.Sprintf("c%d", i))
			if code != 0 {
				errs <- fmt.Sprintf("start c%d: exit %d %s%s", i, code, out, errOut)
				return
			}
			errs <- ""
		}(i)
	}
	for i := 0; i < n; i++ {
		if m := <-errs; m != "" {
			t.Error(m)
		}
	}
	for i := 0; i < n; i++ {
		if got := e.prop(fmt.Sprintf("c%d", i), "ActiveState"); got != "active" {
			t.Errorf("c%d is %s after concurrent starts", i, got)
		}
	}
	if got := e.prop("sleeper", "ActiveState"); got != "active" {
		t.Errorf("sleeper is %s after the reloads", got)
	}
}

// TestStopTimeoutLeavesFailed: a main process that ignores SIGTERM is
// killed at TimeoutStopSec=; systemctl stop succeeds (the job is done) and
// the unit is failed with Result=timeout, as with systemd, so a script or
// monitor can see the unclean stop.
func TestStopTimeoutLeavesFailed(t *testing.T) {
	t.Parallel()
	e := newShimEnv(t)
	e.unit("stubborn.service", `[Service]
ExecStart=/bin/sh -c 'trap "" TERM; while :; do sleep 0.2; done'
TimeoutStopSec=1
`)
	e.must("systemctl", "start", "stubborn")
	main, _ := strconv.Atoi(e.prop("stubborn", "MainPID"))
	if main <= 0 {
		t.Fatalf("MainPID=%d\n%s", main, e.log("stubborn"))
	}
	start := time.Now()
	e.must("systemctl", "stop", "stubborn")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stop took %s with TimeoutStopSec=1", d)
	}
	if alive(main) {
		t.Errorf("main %d still alive after stop", main)
	}
	if got := e.prop("stubborn", "ActiveState") + "/" + e.prop("stubborn", "Result"); got != "failed/timeout" {
		t.Errorf("after a stop that needed SIGKILL: %s, want failed/timeout\n%s", got, e.log("stubborn"))
	}
	if _, _, code := e.run("systemctl", "is-failed", "--quiet", "stubborn"); code != 0 {
		t.Errorf("is-failed: %d, want 0", code)
	}
	// A clean stop stays inactive/success, and a start clears the failure.
	e.unit("polite.service", "[Service]\nExecStart=/bin/sleep 3000\n")
	e.must("systemctl", "start", "polite")
	e.must("systemctl", "stop", "polite")
	if got := e.prop("polite", "ActiveState") + "/" + e.prop("polite", "Result"); got != "inactive/success" {
		t.Errorf("clean stop: %s, want inactive/success", got)
	}
	e.must("systemctl", "start", "stubborn")
	if got := e.prop("stubborn", "ActiveState"); got != "active" {
		t.Errorf("start after a failed stop: %s", got)
	}
}

// TestPIDFileOfUserService: a PID file not owned by root naming a process
// outside the unit is refused (as systemd does), so a service running as
// User= cannot make `systemctl stop` signal another process as root.
func TestPIDFileOfUserService(t *testing.T) {
	t.Parallel()
	e := newShimEnv(t)
	if err := os.Chmod(e.root, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.root, "piddir")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	victim := exec.Command("/bin/sleep", "3000")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	pidFile := filepath.Join(dir, "evil.pid")
	e.unit("evil.service", fmt.Sprintf(`[Service]
Type=forking
User=nobody
PIDFile=%s
TimeoutStartSec=2
ExecStart=/bin/sh -c '( exec sleep 3001 ) & echo %d > %s'
`, pidFile, victim.Process.Pid, pidFile))
	if _, _, code := e.run("systemctl", "start", "evil"); code == 0 {
		t.Errorf("start succeeded with MainPID %s (victim %d)", e.prop("evil", "MainPID"), victim.Process.Pid)
	}
	e.run("systemctl", "stop", "evil")
	if err := victim.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the victim (pid %d) was killed through a user's PID file", victim.Process.Pid)
	}
	if !strings.Contains(e.log("evil"), "not owned by root") {
		t.Errorf("no log line naming the refused PID file\n%s", e.log("evil"))
	}

	// The same unit whose PID file names its own daemon is tracked.
	e.unit("good.service", fmt.Sprintf(`[Service]
Type=forking
User=nobody
PIDFile=%[1]s/good.pid
ExecStart=/bin/sh -c '( exec sleep 3002 ) & echo $! > %[1]s/good.pid'
`, dir))
	e.must("systemctl", "start", "good")
	main, _ := strconv.Atoi(e.prop("good", "MainPID"))
	if !strings.Contains(procCmdline(main), "sleep 3002") {
		t.Errorf("good MainPID %d is %q\n%s", main, procCmdline(main), e.log("good"))
	}
}

// TestStartWait: systemctl start --wait returns when the unit ends, 1 when
// it failed (it returned at once).
func TestStartWait(t *testing.T) {
	t.Parallel()
	e := newShimEnv(t)
	e.unit("ok.service", "[Service]\nExecStart=/bin/sleep 1\n")
	e.unit("bad.service", "[Service]\nExecStart=/bin/sh -c 'sleep 1; exit 4'\n")
	start := time.Now()
	e.must("systemctl", "start", "--wait", "ok")
	if d := time.Since(start); d < time.Second {
		t.Errorf("start --wait returned after %s, before the unit ended", d)
	}
	if _, errs, code := e.run("systemctl", "--wait", "start", "bad"); code != 1 || !strings.Contains(errs, "failed") {
		t.Errorf("start --wait of a failing unit: %d %q", code, errs)
	}
}

// TestOneshotLeftoversKilled: a oneshot without RemainAfterExit= that
// leaves a process behind is stopped when it finishes, as systemd does:
// ExecStop= runs and the leftover is killed (it leaked below supervisord).
func TestOneshotLeftoversKilled(t *testing.T) {
	t.Parallel()
	e := newShimEnv(t)
	marker := filepath.Join(e.root, "oneshot-stopped")
	e.unit("spawner.service", `[Service]
Type=oneshot
ExecStart=/bin/sh -c '/bin/sleep 3004 >/dev/null 2>&1 & echo $! > `+marker+`.pid'
ExecStop=/bin/touch `+marker+`
`)
	e.must("systemctl", "start", "spawner")
	b, err := os.ReadFile(marker + ".pid")
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if alive(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the oneshot's leftover %d (%s) still runs after the unit finished", pid, procCmdline(pid))
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("ExecStop= did not run after the oneshot finished: %v", err)
	}
	if got := e.prop("spawner", "ActiveState") + "/" + e.prop("spawner", "Result"); got != "inactive/success" {
		t.Errorf("spawner: %s, want inactive/success", got)
	}
}

// TestRaisedTimeoutStopSecCapped: TimeoutStopSec= raised after the unit's
// first start in this boot (daemon-reload) cannot outlast the program's
// stopwaitsecs, which supervisord never re-reads: run-unit caps it and says
// so, instead of being SIGKILLed by supervisord mid-stop with the daemon
// left running.
func TestRaisedTimeoutStopSecCapped(t *testing.T) {
	t.Parallel()
	e := newShimEnv(t)
	e.unit("slow.service", "[Service]\nExecStart=/bin/sleep 3005\nTimeoutStopSec=1\n")
	e.must("systemctl", "start", "slow")
	e.must("systemctl", "stop", "slow")
	e.unit("slow.service", `[Service]
ExecStart=/bin/sh -c 'trap "" TERM; while :; do sleep 0.2; done'
TimeoutStopSec=5min
`)
	e.must("systemctl", "daemon-reload")
	e.must("systemctl", "start", "slow")
	main, _ := strconv.Atoi(e.prop("slow", "MainPID"))
	start := time.Now()
	e.must("systemctl", "stop", "slow")
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("stop took %s", d)
	}
	if alive(main) {
		syscall.Kill(main, syscall.SIGKILL)
		t.Errorf("main %d survived the stop", main)
	}
	if got := e.prop("slow", "ActiveState") + "/" + e.prop("slow", "Result"); got != "failed/timeout" {
		t.Errorf("after the capped stop: %s, want failed/timeout\n%s", got, e.log("slow"))
	}
	if !strings.Contains(e.log("slow"), "Restart the container") {
		t.Errorf("no warning naming the fix\n%s", e.log("slow"))
	}
}
