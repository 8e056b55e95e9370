package e2ekit

import (
	"context"
	"encoding/json"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
)

// SSHOpts are the ssh/scp options for the test's key, no host key kept.
func (e *Env) SSHOpts() []string {
	return []string{"-i", e.Key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR"}
}

// Inside runs cmd as root in the container at ip over the real ssh client
// and returns its output and exit code; while ssh itself fails (255: sshd
// still coming up) it retries for a minute.
func (e *Env) Inside(t testing.TB, ip, cmd string) (string, int) {
	t.Helper()
	return e.InsideWithin(t, ip, cmd, time.Minute)
}

func (e *Env) InsideWithin(t testing.TB, ip, cmd string, timeout time.Duration) (string, int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		out, err := exec.CommandContext(ctx, "ssh", append(e.SSHOpts(), "root@"+ip, cmd)...).CombinedOutput()
		expired := ctx.Err() != nil
		cancel()
		if expired {
			t.Fatalf("ssh root@%s %q did not end within %s: %s", ip, cmd, timeout, out)
		}
		if err == nil {
			return string(out), 0
		}
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("ssh root@%s %q: %v", ip, cmd, err)
		}
		if ee.ExitCode() != 255 || time.Now().After(deadline) {
			return string(out), ee.ExitCode()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Must runs cmd inside and fails the test unless it exits 0.
func (e *Env) Must(t testing.TB, ip, cmd string) string {
	t.Helper()
	return e.MustWithin(t, ip, cmd, time.Minute)
}

func (e *Env) MustWithin(t testing.TB, ip, cmd string, timeout time.Duration) string {
	t.Helper()
	out, code := e.InsideWithin(t, ip, cmd, timeout)
	if code != 0 {
		t.Fatalf("inside %s: %q: exit %d:\n%s", ip, cmd, code, out)
	}
	return out
}

// RemoveAtEnd removes the named containers at the test's end all at once
// (each stop takes seconds; e.create's own cleanups then find them gone).
func (e *Env) RemoveAtEnd(t testing.TB, names ...string) {
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, n := range names {
			wg.Add(1)
			go func() { defer wg.Done(); Fatbox(t, "rm", n, "--socket", e.Sock) }()
		}
		wg.Wait()
	})
}

func StatusJSON(t testing.TB, socket string) api.Status {
	t.Helper()
	r := Fatbox(t, "status", "--socket", socket, "-o", "json")
	if r.Code != 0 {
		t.Fatalf("fatbox status: exit %d: %s", r.Code, r.Stderr)
	}
	var st api.Status
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatalf("status JSON: %v: %s", err, r.Stdout)
	}
	return st
}
