package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/console"
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
	// Signal carries signals for the process (runc, in the foreground,
	// passes what it gets on to it); nil means none. Closed by the sender.
	Signal <-chan syscall.Signal
}

// Exec runs a process in container id and returns its exit code once it
// exits. Cancelling ctx sends it SIGTERM (SIGKILL to runc 5 s later).
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
	if c.TTY {
		args = append(args, "--tty")
	}
	args = append(args, id)
	args = append(args, c.Args...)
	cmd := exec.CommandContext(ctx, rc.Command, args...)
	// Cancelling sends runc SIGTERM, which it forwards to the process, so
	// the process can finish cleanly; SIGKILL follows after WaitDelay.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if c.TTY {
		return execTTY(cmd, id, c, s)
	}
	return execPipes(cmd, id, s)
}

// forwardSignals sends what s.Signal carries to runc until it is closed;
// called once the process started.
func forwardSignals(cmd *exec.Cmd, s Streams) {
	if s.Signal == nil {
		return
	}
	go func() {
		for sig := range s.Signal {
			_ = cmd.Process.Signal(sig) // an exited process: nothing to do
		}
	}()
}

// execPipes runs runc exec with the process's stdio on pipes of ours.
func execPipes(cmd *exec.Cmd, id string, s Streams) (int, error) {
	cmd.Stdout, cmd.Stderr = orDiscard(s.Stdout), orDiscard(s.Stderr)
	// Stdin is copied by us, not by exec.Cmd, so the exit of the process
	// ends Exec even while stdin stays open.
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
	forwardSignals(cmd, s)
	return exitCode(cmd.Wait(), id)
}

// execTTY runs runc exec -t. runc runs in the foreground with its stdio on
// a terminal of ours; it makes the process's pty inside the container,
// copies between the two, and on SIGWINCH gives the inner one our size.
// (runc takes a console socket only when it detaches, and then its exit
// code is lost.)
func execTTY(cmd *exec.Cmd, id string, c ExecConfig, s Streams) (int, error) {
	master, slavePath, err := console.NewPty()
	if err != nil {
		return -1, fmt.Errorf("exec in %q: open a terminal: %w", id, err)
	}
	defer master.Close()
	slave, err := os.OpenFile(slavePath, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return -1, fmt.Errorf("exec in %q: open %s: %w", id, slavePath, err)
	}
	cols, rows := c.Cols, c.Rows
	if cols == 0 || rows == 0 {
		cols, rows = 80, 24
	}
	_ = master.Resize(console.WinSize{Width: cols, Height: rows})
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	slave.Close()
	if err != nil {
		return -1, fmt.Errorf("exec in %q: %w", id, err)
	}
	forwardSignals(cmd, s)
	if s.Resize != nil {
		go func() {
			for sz := range s.Resize {
				if master.Resize(console.WinSize{Width: sz[0], Height: sz[1]}) == nil {
					_ = cmd.Process.Signal(syscall.SIGWINCH)
				}
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
		// Ends with EIO once runc, the last holder of the other side, exits.
		_, _ = io.Copy(orDiscard(s.Stdout), master)
	}()
	werr := cmd.Wait()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	return exitCode(werr, id)
}

func exitCode(err error, id string) (int, error) {
	if err == nil {
		return 0, nil
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		// The process exited, but a background child of it still holds
		// its output: that is not a failure of the process.
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
