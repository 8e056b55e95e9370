package gwrec

import (
	"context"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
)

// TestExecStreamsResizeAndSignal: through the daemon's API (the path the
// gateway takes to a container without sshd), a terminal exec sees a
// window-size change in `stty size`, and a signal reaches the process (its
// trap sets the exit status), with and without a terminal, and from
// `fatbox exec` on a SIGINT. The gateway's
// grant routes answer for a daemon without a gateway key.
func TestExecStreamsResizeAndSignal(t *testing.T) {
	env := e2ekit.NewEnv(t, "198.19.199.0/24")
	env.Create("gr-sig")
	c := &api.Client{Socket: env.Sock, Timeout: -1}
	ctx := context.Background()

	inR, inW := io.Pipe()
	resize := make(chan [2]uint16, 1)
	out := &e2ekit.SyncBuffer{}
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := c.Exec(ctx, "gr-sig", api.ExecRequest{Args: []string{"sh", "-c", "stty size; read x; stty size"}, TTY: true, Cols: 80, Rows: 24},
			api.ExecStreams{Stdin: inR, Stdout: out, Resize: resize})
		done <- result{code, err}
	}()
	// The first size: 24 80 as asked, or, when the process runs before
	// runc gives its inner terminal our size (runc's foreground -t copies
	// the size only after it started the process: a known race, in the
	// architecture doc's hazards), 0 0. Either way the resize must arrive.
	firstSize := regexp.MustCompile(`(?m)^\d+ \d+\s*$`)
	e2ekit.WaitFor(t, time.Minute, "the first stty size (a loaded host is slow to exec)", func() bool {
		select {
		case r := <-done:
			t.Fatalf("the exec ended before the resize: %+v, output %q", r, out.String())
		default:
		}
		return firstSize.MatchString(out.String())
	})
	if first := strings.TrimSpace(out.String()); !strings.Contains(first, "24 80") {
		t.Logf("the first stty size was %q, not 24 80: runc had not sized the inner terminal yet", first)
	}
	resize <- [2]uint16{132, 43}
	time.Sleep(300 * time.Millisecond)
	inW.Write([]byte("\n"))
	r := <-done
	if r.err != nil || r.code != 0 || !strings.Contains(out.String(), "43 132") {
		t.Fatalf("resize: %+v, output %q: want 43 132 after the resize", r, out.String())
	}

	for _, tty := range []bool{false, true} {
		sig := make(chan string, 1)
		out := &e2ekit.SyncBuffer{}
		go func() {
			code, err := c.Exec(ctx, "gr-sig", api.ExecRequest{Args: []string{"sh", "-c", "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.1; done"}, TTY: tty},
				api.ExecStreams{Stdout: out, Signal: sig})
			done <- result{code, err}
		}()
		e2ekit.WaitFor(t, 30*time.Second, "the trap", func() bool { return strings.Contains(out.String(), "ready") })
		sig <- "NOPE" // not a signal: ignored
		sig <- "TERM"
		select {
		case r = <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("tty %v: TERM did not end the process; output %q", tty, out.String())
		}
		if r.err != nil || r.code != 7 || !strings.Contains(out.String(), "got-term") {
			t.Fatalf("tty %v: %+v, output %q: want the trap's exit 7", tty, r, out.String())
		}
	}

	// `fatbox exec` without a terminal passes the SIGINT it gets on to
	// the process, whose trap decides the exit status.
	cli := exec.Command(e2ekit.Bin(), "exec", "gr-sig", "--socket", env.Sock, "--", "sh", "-c", "trap 'echo got-int; exit 5' INT; echo ready; while :; do sleep 0.1; done")
	cliOut := &e2ekit.SyncBuffer{}
	cli.Stdout, cli.Stderr = cliOut, cliOut
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	e2ekit.WaitFor(t, time.Minute, "the CLI's process", func() bool { return strings.Contains(cliOut.String(), "ready") })
	_ = cli.Process.Signal(syscall.SIGINT)
	werr := make(chan error, 1)
	go func() { werr <- cli.Wait() }()
	select {
	case err := <-werr:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 || !strings.Contains(cliOut.String(), "got-int") {
			t.Fatalf("fatbox exec after SIGINT: %v, output %q: want the trap's exit 5", err, cliOut.String())
		}
	case <-time.After(20 * time.Second):
		_ = cli.Process.Kill()
		t.Fatalf("fatbox exec did not end after SIGINT; output %q", cliOut.String())
	}

	// No gateway key on this daemon: the grant says how to get one; the
	// list and a revoke work.
	if g, err := c.GatewayLogins(ctx, "gr-sig"); err != nil || len(g.Logins) != 0 {
		t.Fatalf("gateway logins: %+v %v", g, err)
	}
	if _, err := c.GrantGateway(ctx, "gr-sig", []string{"root"}); api.ErrorCode(err) != api.CodeConflict || !strings.Contains(err.Error(), "gateway:") {
		t.Fatalf("grant without a gateway: %v, want a conflict naming the config", err)
	}
	if _, err := c.RevokeGateway(ctx, "gr-sig", nil); err != nil {
		t.Fatalf("revoke all: %v", err)
	}
}
