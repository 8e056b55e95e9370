package e2ekit

import (
	"cmp"
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/daemon"
)

// Daemon is a fatbox daemon a test started.
type Daemon struct {
	Cmd    *exec.Cmd
	Log    *SyncBuffer // its stdout and stderr
	Socket string
	State  string
	done   chan struct{}
}

// StartDaemon is SpawnDaemon with Stop at the test's cleanup.
func StartDaemon(t testing.TB, stateDir, socket string, extra ...string) *Daemon {
	t.Helper()
	d := SpawnDaemon(t, stateDir, socket, extra...)
	t.Cleanup(d.Stop)
	return d
}

// SpawnDaemon starts a daemon (`--config /dev/null` and no metrics
// endpoint unless extra, which comes later and wins, says otherwise: test
// daemons would all want the default port) and waits until it answers;
// stopping it is the caller's job.
func SpawnDaemon(t testing.TB, stateDir, socket string, extra ...string) *Daemon {
	t.Helper()
	return SpawnDaemonWith(t, DaemonOptions{State: stateDir, Socket: socket,
		Args: append([]string{"--config", "/dev/null", "--metrics-listen", "off"}, extra...)})
}

// DaemonOptions is how SpawnDaemonWith starts a daemon.
type DaemonOptions struct {
	State, Socket string
	Args          []string    // after `daemon --state-dir S --socket S`
	Env           []string    // added to the test's environment (FATBOX_FAILPOINT=...)
	Log           *SyncBuffer // where its output goes; a new buffer if nil
	What          string      // how a failure names it ("daemon" if empty)
}

// SpawnDaemonWith starts a daemon as o says and waits until it answers.
func SpawnDaemonWith(t testing.TB, o DaemonOptions) *Daemon {
	t.Helper()
	args := append([]string{"daemon", "--state-dir", o.State, "--socket", o.Socket}, o.Args...)
	cmd := exec.Command(Bin(), args...)
	if o.Env != nil {
		cmd.Env = append(os.Environ(), o.Env...)
	}
	if o.Log == nil {
		o.Log = &SyncBuffer{}
	}
	what := cmp.Or(o.What, "daemon")
	d := &Daemon{Cmd: cmd, Log: o.Log, Socket: o.Socket, State: o.State, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.Log, d.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(d.done) }()
	c := &api.Client{Socket: o.Socket, Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := c.Status(context.Background()); err == nil {
			return d
		}
		select {
		case <-d.done:
			t.Fatalf("%s exited: %s", what, d.Log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not answering on %s: %s", what, o.Socket, d.Log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the daemon (if it still runs), waits for it, and removes its
// runc root if no container is left in it.
func (d *Daemon) Stop() {
	d.Cmd.Process.Kill()
	<-d.done
	os.Remove(daemon.RuncRoot(d.State))
}

// Kill9 kills the daemon with SIGKILL and waits until it is gone.
func (d *Daemon) Kill9(t testing.TB) {
	t.Helper()
	if err := d.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.done
}

// Done is closed when the daemon has exited.
func (d *Daemon) Done() <-chan struct{} { return d.done }

// WaitStatus waits until a daemon answers on socket and returns its status.
func WaitStatus(t testing.TB, socket string) api.Status {
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
