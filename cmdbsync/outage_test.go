package cmdbsync

import (
	"context"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory"
)

// The database stopped while containers change, then started again: Run
// retries with a growing, capped backoff (Status shows it down, the lag
// grows), then catches up; no change is missed.
func TestDatabaseOutage(t *testing.T) {
	srv := startServer(t)
	dsn, db := srv.database(t, "outage")
	f := newFleet(t)
	var logs logBuf
	s := newSyncer(t, Config{Source: f.inv, DSN: dsn, Logger: logs.logger(),
		PollInterval: 50 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: 400 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	web := f.create("web-01", "10.3.0.1")
	old := f.create("old-01", "10.3.0.2")
	s.Notify()
	waitFor(t, 10*time.Second, "the first sync", func() bool { st := s.Status(); return st.Position == f.lastSeq() && st.Lag == 0 })

	srv.m.Stop()
	f.put("web-01", func(r *inventory.Record) { r.MemoryMiB, r.Owner = 8192, "pay" })
	f.remove("old-01")
	neu := f.create("new-01", "10.3.0.3")
	s.Notify()
	waitFor(t, 10*time.Second, "5 failures in a row", func() bool { return s.Status().Failures >= 5 })
	st := s.Status()
	if st.Connected || st.LastError == "" || st.Lag == 0 || st.NextRetry.IsZero() || st.Position >= f.lastSeq() {
		t.Fatalf("status while the database is down: %+v", st)
	}
	t.Logf("down: %s (lag %d)", st.LastError, st.Lag)
	// The waits double from 50 ms and stop at 400 ms (give or take 10%).
	var waits []time.Duration
	for _, m := range regexp.MustCompile(`retry_in=(\S+)`).FindAllStringSubmatch(logs.String(), -1) {
		d, err := time.ParseDuration(m[1])
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, d)
	}
	if len(waits) < 5 || waits[0] > 60*time.Millisecond || waits[1] < 90*time.Millisecond || waits[3] < 360*time.Millisecond {
		t.Fatalf("backoff waits %v", waits)
	}
	for _, w := range waits {
		if w > 440*time.Millisecond {
			t.Fatalf("a wait of %v passes the cap: %v", w, waits)
		}
	}

	restart(t, srv)
	waitFor(t, 15*time.Second, "catching up after the restart", func() bool {
		st := s.Status()
		return st.Failures == 0 && st.Position == f.lastSeq() && st.Connected
	})
	expect(t, row(t, db, "fatbox_vm", "id", web), map[string]string{"memory_mib": "8192", "owner": "pay", "status": "running"})
	expect(t, row(t, db, "fatbox_vm", "id", old), map[string]string{"status": "decommissioned", "decommissioned_at": dbTime(f.lastEvent(old).Time)})
	expect(t, row(t, db, "fatbox_vm", "id", neu), map[string]string{"name": "new-01", "status": "running"})
	if dry, err := s.DryRun(context.Background()); err != nil || !dry.Empty() {
		t.Fatalf("after catching up: %v\n%s", err, dry)
	}
	if !strings.Contains(logs.String(), "cmdb sync works again") {
		t.Fatalf("no recovery line in the log:\n%s", logs.String())
	}
}

// restart starts the harness's stopped mariadbd again on its data dir and
// port.
func restart(t *testing.T, srv *server) {
	t.Helper()
	old := srv.m.Cmd
	cmd := exec.Command(old.Path, old.Args[1:]...)
	cmd.Stdout, cmd.Stderr = srv.m.Log, srv.m.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	waitFor(t, 30*time.Second, "mariadbd listening again", func() bool {
		c, err := net.DialTimeout("tcp", srv.m.Addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}
