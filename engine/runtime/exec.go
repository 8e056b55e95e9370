package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"

	"github.com/containerd/console"
	runc "github.com/containerd/go-runc"
)

// ExecConfig is a process to run in a running container. It inherits the
// container's capabilities, rlimits and cgroup (runc exec uses the
// container's own process as the template).
type ExecConfig struct {
	Args []string
	Env  []string // added to the container's environment
	Cwd  string   // "" means /
	// TTY gives the process a pseudo-terminal (a login shell for `fatbox
	// console`); its output then arrives on Stdout only.
	TTY        bool
	Cols, Rows uint16 // initial terminal size; 0 means 80x24
}

// Streams are an exec'd process's stdio. Nil Stdin means /dev/null; nil
// Stdout or Stderr discards.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Resize, with TTY, carries terminal size changes (cols, rows); nil means none.
	Resize <-chan [2]uint16
}

// Exec runs a process in container id and returns its exit code once it
// exits. Cancelling ctx kills it.
func (r *Runtime) Exec(ctx context.Context, id string, c ExecConfig, s Streams) (int, error) {
	if len(c.Args) == 0 {
		return -1, errors.New("exec needs a command: fatbox exec NAME -- CMD [ARGS]")
	}
	rc := r.runc()
	args := []string{"--root", rc.Root, "exec"}
	cwd := c.Cwd
	if cwd == "" {
		cwd = "/"
	}
	args = append(args, "--cwd", cwd)
	for _, e := range c.Env {
		args = append(args, "--env", e)
	}
	var sock *runc.Socket
	if c.TTY {
		var err error
		if sock, err = runc.NewTempConsoleSocket(); err != nil {
			return -1, fmt.Errorf("exec in %q: console socket: %w", id, err)
		}
		defer sock.Close()
		args = append(args, "--tty", "--console-socket", sock.Path())
	}
	args = append(args, id)
	args = append(args, c.Args...)
	cmd := exec.CommandContext(ctx, rc.Command, args...)
	cmd.WaitDelay = 2 * time.Second
	if !c.TTY {
		cmd.Stdout, cmd.Stderr = orDiscard(s.Stdout), orDiscard(s.Stderr)
		// Stdin is copied by us, not by exec.Cmd, so the exit of the
		// process ends Exec even while stdin stays open.
		var in io.WriteCloser
		if s.Stdin != nil {
			var err error
			if in, err = cmd.StdinPipe(); err != nil {
				return -1, err
			}
		}
		if err := cmd.Start(); err != nil {
			return -1, fmt.Errorf("exec in %q: %w", id, err)
		}
		if in != nil {
			go func() { _, _ = io.Copy(in, s.Stdin); in.Close() }()
		}
		return exitCode(cmd.Wait(), id)
	}

	// TTY: runc hands the pty master over the console socket; runc's own
	// stdio is /dev/null and only carries its error messages (to Stderr).
	cmd.Stdout, cmd.Stderr = io.Discard, orDiscard(s.Stderr)
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("exec in %q: %w", id, err)
	}
	type recv struct {
		c   console.Console
		err error
	}
	got := make(chan recv, 1)
	go func() { m, err := sock.ReceiveMaster(); got <- recv{m, err} }()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var master console.Console
	select {
	case g := <-got:
		if g.err != nil {
			_ = cmd.Process.Kill()
			<-waited
			return -1, fmt.Errorf("exec in %q: receive the terminal: %w", id, g.err)
		}
		master = g.c
	case err := <-waited:
		// runc failed before handing over a terminal (no such container, no such command).
		return exitCode(err, id)
	}
	defer master.Close()
	cols, rows := c.Cols, c.Rows
	if cols == 0 || rows == 0 {
		cols, rows = 80, 24
	}
	_ = master.Resize(console.WinSize{Width: cols, Height: rows})
	if s.Resize != nil {
		go func() {
			for sz := range s.Resize {
				_ = master.Resize(console.WinSize{Width: sz[0], Height: sz[1]})
			}
		}()
	}
	if s.Stdin != nil {
		go func() { _, _ = io.Copy(master, s.Stdin) }()
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Ends with EIO once the last holder of the terminal's other side exits.
		_, _ = io.Copy(orDiscard(s.Stdout), master)
	}()
	err := <-waited
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second): // a background child still holds the terminal
	}
	return exitCode(err, id)
}

func exitCode(err error, id string) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() >= 0 {
		return ee.ExitCode(), nil
	}
	return -1, fmt.Errorf("exec in %q: %w", id, err)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
