package harness

import (
	"bytes"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Restart starts a MariaDB that was stopped (Stop) or killed (Kill) again
// with the same command: the same data dir, port and socket, so a client's
// DSN works again unchanged. It is for outage tests; the server must be
// down when it is called. The new server's output is appended to Log; it
// is stopped by t.Cleanup like the first.
func (m *MariaDB) Restart(t testing.TB) {
	t.Helper()
	select {
	case <-m.done:
	default:
		t.Fatalf("mariadbd on %s still runs: Stop or Kill it before Restart", m.Addr)
	}
	old := m.Cmd
	cmd := exec.Command(old.Path, old.Args[1:]...)
	log := m.Log
	if log == nil {
		log = &bytes.Buffer{}
	}
	mark := log.Len() // where the new server's lines begin
	p := &Process{Cmd: cmd, Dir: m.Dir, Log: log, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("restart mariadbd: %v", err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Stop)
	m.Process = p
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", m.Addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			out := log.String()[mark:]
			if strings.Contains(out, "Address already in use") || strings.Contains(out, "Can't start server: Bind on TCP/IP port") {
				t.Fatalf("mariadbd cannot listen on %s again: another process took the port while it was down: %s", m.Addr, out)
			}
			t.Fatalf("restarted mariadbd exited: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted mariadbd not listening on %s after 60s: %s", m.Addr, log.String()[mark:])
		}
		time.Sleep(100 * time.Millisecond)
	}
}
