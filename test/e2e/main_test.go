// Package e2e drives the real fatbox binary (tier 3).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/daemon"
)

var fatboxBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fatbox-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // other users (nobody) run it too
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fatboxBin = filepath.Join(dir, "fatbox")
	out, err := exec.Command("go", "build", "-o", fatboxBin, "github.com/fatbox/fatbox/tools/fatbox").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build fatbox: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// fatbox runs the CLI and returns its output and exit code; a run that
// does not end in time fails the test. `image build` gets longer: on an
// empty image cache it runs mmdebstrap (about 75 s on 2 cores, more loaded).
func fatbox(t *testing.T, args ...string) result {
	t.Helper()
	timeout := 60 * time.Second
	if len(args) >= 2 && args[0] == "image" && args[1] == "build" {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, fatboxBin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := result{stdout: o.String(), stderr: e.String()}
	if ctx.Err() != nil {
		t.Fatalf("fatbox %v did not end within %s: stdout %q stderr %q", args, timeout, r.stdout, r.stderr)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run fatbox %v: %v", args, err)
	}
	return r
}

// daemonProc is a fatbox daemon started by a test.
type daemonProc struct {
	cmd    *exec.Cmd
	log    *bytes.Buffer
	socket string
	state  string
	done   chan struct{}
}

func startDaemon(t *testing.T, stateDir, socket string, extra ...string) *daemonProc {
	t.Helper()
	d := spawnDaemon(t, stateDir, socket, extra...)
	t.Cleanup(d.stop)
	return d
}

// stop kills the daemon (if it still runs), waits for it, and removes its
// runc root if no container is left in it.
func (d *daemonProc) stop() {
	d.cmd.Process.Kill()
	<-d.done
	os.Remove(daemon.RuncRoot(d.state))
}

// spawnDaemon starts a daemon and waits until it answers; stopping it is the caller's job.
func spawnDaemon(t *testing.T, stateDir, socket string, extra ...string) *daemonProc {
	t.Helper()
	// No metrics endpoint unless a test asks for one (extra comes later
	// and wins): test daemons would all want the default port.
	args := append([]string{"daemon", "--config", "/dev/null", "--state-dir", stateDir, "--socket", socket, "--metrics-listen", "off"}, extra...)
	cmd := exec.Command(fatboxBin, args...)
	d := &daemonProc{cmd: cmd, log: &bytes.Buffer{}, socket: socket, state: stateDir, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.log, d.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(d.done) }()
	c := &api.Client{Socket: socket, Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := c.Status(context.Background()); err == nil {
			return d
		}
		select {
		case <-d.done:
			t.Fatalf("daemon exited: %s", d.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not answering on %s: %s", socket, d.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *daemonProc) kill9(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.done
}

func statusJSON(t *testing.T, socket string) api.Status {
	t.Helper()
	r := fatbox(t, "status", "--socket", socket, "-o", "json")
	if r.code != 0 {
		t.Fatalf("fatbox status: exit %d: %s", r.code, r.stderr)
	}
	var st api.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status JSON: %v: %s", err, r.stdout)
	}
	return st
}

// oneLine checks a failed command printed exactly one line on stderr holding every part.
func oneLine(t *testing.T, r result, parts ...string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("exit code 0, want non-zero; stdout=%q", r.stdout)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("stderr has %d lines, want 1: %q", len(lines), r.stderr)
	}
	for _, p := range parts {
		if !strings.Contains(lines[0], p) {
			t.Fatalf("stderr %q lacks %q", lines[0], p)
		}
	}
}

func waitStatus(t *testing.T, socket string) api.Status {
	t.Helper()
	c := &api.Client{Socket: socket, Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.Status(context.Background())
		if err == nil {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("no daemon on %s: %v", socket, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
