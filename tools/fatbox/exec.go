package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fatbox/fatbox/engine/api"
)

func newExecCmd(g *globals) *cobra.Command {
	var tty, interactive bool
	var env []string
	var cwd string
	cmd := &cobra.Command{
		Use:   "exec NAME [-i] [-t] -- CMD [ARGS...]",
		Short: "run a command in a running container (no sshd needed); exits with its exit code",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.ExecRequest{Args: args[1:], Env: env, Cwd: cwd, TTY: tty}
			return codeErr(runExec(cmd, g.client(), args[0], req, interactive))
		},
	}
	cmd.Flags().BoolVarP(&tty, "tty", "t", false, "give the command a terminal")
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "pass stdin to the command")
	cmd.Flags().StringArrayVarP(&env, "env", "e", nil, "set an environment variable, KEY=VALUE; repeatable")
	cmd.Flags().StringVarP(&cwd, "workdir", "w", "", "working directory inside the container (default /)")
	return cmd
}

func termName() string {
	if t := os.Getenv("TERM"); t != "" {
		return t
	}
	return "xterm"
}

// runExec streams a process: with a terminal on our side and TTY asked,
// the local terminal goes raw for the session and follows window resizes
// (Ctrl-C is then a byte for the process's terminal). Otherwise SIGINT,
// SIGTERM, SIGHUP and SIGQUIT sent to fatbox are passed on to the process,
// which decides what they do; a third SIGINT gives up on it (the daemon
// then stops it with SIGTERM).
func runExec(cmd *cobra.Command, c *api.Client, name string, req api.ExecRequest, stdin bool) (int, error) {
	s := api.ExecStreams{Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr()}
	if stdin {
		s.Stdin = cmd.InOrStdin()
	}
	fd := int(os.Stdin.Fd())
	if req.TTY && term.IsTerminal(fd) {
		if w, h, err := term.GetSize(fd); err == nil {
			req.Cols, req.Rows = uint16(w), uint16(h)
		}
		if old, err := term.MakeRaw(fd); err == nil {
			defer term.Restore(fd, old)
		}
		resize := make(chan [2]uint16, 1)
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for range winch {
				if w, h, err := term.GetSize(fd); err == nil {
					select {
					case resize <- [2]uint16{uint16(w), uint16(h)}:
					default:
					}
				}
			}
		}()
		s.Resize = resize
	} else {
		ctx, stop := proxySignals(ctxOf(cmd), &s)
		defer stop()
		return c.Exec(ctx, name, req, s)
	}
	return c.Exec(ctxOf(cmd), name, req, s)
}

// proxySignals passes the signals fatbox gets on to the process, and
// cancels the returned context at the third SIGINT.
func proxySignals(parent context.Context, s *api.ExecStreams) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	fwd := make(chan string, 4)
	s.Signal = fwd
	done := make(chan struct{})
	go func() {
		ints := 0
		for {
			select {
			case <-done:
				return
			case sig := <-sigs:
				name := map[os.Signal]string{syscall.SIGINT: "INT", syscall.SIGTERM: "TERM", syscall.SIGHUP: "HUP", syscall.SIGQUIT: "QUIT"}[sig]
				if sig == syscall.SIGINT {
					if ints++; ints >= 3 {
						cancel()
						return
					}
				}
				select {
				case fwd <- name:
				default:
				}
			}
		}
	}()
	return ctx, func() { signal.Stop(sigs); close(done); cancel() }
}
