package e2e

import (
	"bufio"
	"encoding/json"
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

// hostKey is the container's ed25519 host key as the real ssh-keyscan sees it.
func hostKey(t *testing.T, ip string) string {
	t.Helper()
	var out []byte
	e2ekit.WaitFor(t, time.Minute, "ssh-keyscan "+ip, func() bool {
		var err error
		out, err = exec.Command("ssh-keyscan", "-T", "2", "-t", "ed25519", ip).Output()
		return err == nil && len(strings.Fields(string(out))) == 3
	})
	f := strings.Fields(string(out))
	return f[1] + " " + f[2]
}

// sshFireAndForget runs cmd over ssh and ignores how the session ends: a
// reboot or shutdown cuts it.
func (e *vmEnv) sshFireAndForget(ip, cmd string) {
	c := exec.Command("ssh", "-i", e.Key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=2", "-o", "LogLevel=ERROR", "-o", "ServerAliveInterval=1",
		"-o", "ServerAliveCountMax=3", "root@"+ip, cmd)
	_ = c.Run()
}

// eventsOf is the container's event log, oldest first.
func (e *vmEnv) eventsOf(name string) []api.Event {
	e.T.Helper()
	var evs []api.Event
	sc := bufio.NewScanner(strings.NewReader(e.OK("events", name, "-o", "json").Stdout))
	for sc.Scan() {
		var ev api.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			e.T.Fatalf("events of %s: %v: %q", name, err, sc.Text())
		}
		evs = append(evs, ev)
	}
	return evs
}

// lastEvents is "kind cause(detail)" of the last n events.
func lastEvents(evs []api.Event, n int) string {
	var s []string
	for _, ev := range evs[max(0, len(evs)-n):] {
		c := ev.Cause
		if ev.CauseDetail != "" && ev.Cause != "api" {
			c += "(" + ev.CauseDetail + ")"
		}
		s = append(s, ev.Kind+" "+c)
	}
	return strings.Join(s, ", ")
}

// TestRebootAndShutdownFromInside: `reboot` inside keeps IP, MAC, host key
// and files; `shutdown -h now` leaves the container stopped, with why, also
// across daemon restarts and when the daemon was down at the time; an init
// that dies on its own right after boot is a crash loop, left stopped.
func TestRebootAndShutdownFromInside(t *testing.T) {
	t.Parallel()
	e := newVMEnv(t, "198.19.90.0/24")
	c := e.Create("pw-01", "--memory", "256M", "--disk", "1G")
	// cron, an image's program, disabled through systemctl: stays down at
	// the boot after (supervisord would start it from fatbox's config).
	e.SSH(c.IP, "echo kept > /root/note && systemctl disable cron")
	key := hostKey(t, c.IP)

	// reboot: a new init, same identity, files kept; two events from inside.
	e.sshFireAndForget(c.IP, "reboot")
	e2ekit.WaitFor(t, time.Minute, "pw-01 running again after reboot", func() bool {
		in := e.Inspect("pw-01")
		return in.State == "running" && in.PID != 0 && in.PID != c.PID
	})
	in := e.Inspect("pw-01")
	if in.IP != c.IP || in.MAC != c.MAC || in.Status != "running" || in.StopReason != "" {
		t.Fatalf("after reboot: %+v (was IP %s MAC %s)", in, c.IP, c.MAC)
	}
	if got := strings.TrimSpace(e.SSH(c.IP, "cat /root/note")); got != "kept" {
		t.Fatalf("file after reboot: %q", got)
	}
	if got := hostKey(t, c.IP); got != key {
		t.Fatalf("host key changed by reboot: %q, was %q", got, key)
	}
	if got := lastEvents(e.eventsOf("pw-01"), 2); got != "stopped inside(reboot), started inside(reboot)" {
		t.Fatalf("events after reboot: %s", got)
	}
	if got := e.SSH(c.IP, "systemctl is-enabled cron; systemctl is-active cron; pgrep -x cron || echo none"); got != "disabled\ninactive\nnone\n" {
		t.Fatalf("a disabled cron after reboot: %q", got)
	}
	e.SSH(c.IP, "systemctl enable --now cron")
	if got := e.SSH(c.IP, "systemctl is-enabled cron; systemctl is-active cron"); got != "enabled\nactive\n" {
		t.Fatalf("cron enabled again: %q", got)
	}

	// shutdown -h now: stopped, says why, and stays stopped across a
	// daemon restart (autostart is for crashes and host restarts).
	e.sshFireAndForget(c.IP, "shutdown -h now")
	e2ekit.WaitFor(t, time.Minute, "pw-01 stopped after shutdown", func() bool { return e.Inspect("pw-01").Status == "stopped" })
	if in := e.Inspect("pw-01"); in.StopReason != "poweroff from inside" || in.State == "running" {
		t.Fatalf("after shutdown: %+v", in)
	}
	if got := lastEvents(e.eventsOf("pw-01"), 1); got != "stopped inside(poweroff)" {
		t.Fatalf("events after shutdown: %s", got)
	}
	if ls := e.OK("ls").Stdout; !strings.Contains(ls, "stopped (poweroff from inside)") {
		t.Fatalf("ls does not say why pw-01 stopped:\n%s", ls)
	}
	e.D.Kill9(t)
	e.D = spawnDaemon(t, e.State, e.Sock, e.Args...)
	if in := e.Inspect("pw-01"); in.Status != "stopped" || in.State == "running" || in.StopReason != "poweroff from inside" {
		t.Fatalf("after a daemon restart, a container shut down from inside: %+v", in)
	}

	// A poweroff while the daemon is down is found by its next start.
	e.OK("start", "pw-01")
	if in := e.Inspect("pw-01"); in.StopReason != "" || in.State != "running" {
		t.Fatalf("after start: %+v", in)
	}
	e.SSH(c.IP, "true")
	e.D.Kill9(t)
	e.sshFireAndForget(c.IP, "poweroff")
	root := daemon.RuncRoot(e.State)
	e2ekit.WaitFor(t, 30*time.Second, "runc says pw-01 stopped", func() bool {
		out, err := exec.Command("runc", "--root", root, "state", "pw-01").Output()
		var st struct{ Status string }
		return err == nil && json.Unmarshal(out, &st) == nil && st.Status == "stopped"
	})
	e.D = spawnDaemon(t, e.State, e.Sock, e.Args...)
	if in := e.Inspect("pw-01"); in.Status != "stopped" || in.State == "running" || in.StopReason != "poweroff from inside" {
		t.Fatalf("a poweroff while the daemon was down: %+v", in)
	}

	// The same, and the host restarts before the daemon comes back (the
	// disk is no longer mounted): the autostart finds the poweroff and
	// leaves it down.
	e.OK("start", "pw-01")
	e.SSH(c.IP, "true")
	e.D.Kill9(t)
	e.sshFireAndForget(c.IP, "poweroff")
	e2ekit.WaitFor(t, 30*time.Second, "runc says pw-01 stopped", func() bool {
		out, err := exec.Command("runc", "--root", root, "state", "pw-01").Output()
		var st struct{ Status string }
		return err == nil && json.Unmarshal(out, &st) == nil && st.Status == "stopped"
	})
	simulateHostRestart(t, e, "pw-01")
	e.D = spawnDaemon(t, e.State, e.Sock, e.Args...)
	if in := e.Inspect("pw-01"); in.Status != "stopped" || in.State == "running" || in.StopReason != "poweroff from inside" {
		t.Fatalf("a poweroff while the daemon was down, then a host restart: %+v", in)
	}

	// An init killed from outside is a crash: autostart boots it again;
	// the third early crash in a row is a loop, left stopped.
	e.OK("start", "pw-01")
	for i := 1; i <= 3; i++ {
		pid := e.Inspect("pw-01").PID
		if out, err := exec.Command("kill", "-9", strconv.Itoa(pid)).CombinedOutput(); err != nil {
			t.Fatalf("kill -9 %d: %v %s", pid, err, out)
		}
		if i < 3 {
			e2ekit.WaitFor(t, 30*time.Second, "pw-01 booted again after crash "+strconv.Itoa(i), func() bool {
				in := e.Inspect("pw-01")
				return in.State == "running" && in.PID != 0 && in.PID != pid
			})
			if got := lastEvents(e.eventsOf("pw-01"), 2); got != "stopped reconcile(init exited), started autostart" {
				t.Fatalf("events after crash %d: %s", i, got)
			}
			continue
		}
		e2ekit.WaitFor(t, 30*time.Second, "pw-01 left stopped after its third early crash", func() bool { return e.Inspect("pw-01").Status == "stopped" })
	}
	if in := e.Inspect("pw-01"); in.StopReason != "crash loop" || in.State == "running" {
		t.Fatalf("after three early crashes: %+v", in)
	}
	if got := lastEvents(e.eventsOf("pw-01"), 1); got != "stopped reconcile(init exited)" {
		t.Fatalf("events after the crash loop: %s", got)
	}
	// Stopped through the API, it says no reason.
	e.OK("start", "pw-01")
	e.OK("stop", "pw-01")
	if in := e.Inspect("pw-01"); in.StopReason != "" {
		t.Fatalf("stopped through the API: reason %q", in.StopReason)
	}
}

// simulateHostRestart takes down what a host restart takes down of a
// stopped container: runc's state, its mounts and netns (its disk stays).
func simulateHostRestart(t *testing.T, e *vmEnv, name string) {
	t.Helper()
	root := daemon.RuncRoot(e.State)
	if out, err := exec.Command("runc", "--root", root, "delete", "-f", name).CombinedOutput(); err != nil {
		t.Fatalf("runc delete %s: %v %s", name, err, out)
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
