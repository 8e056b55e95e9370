package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fatbox/fatbox/engine/api"
)

// consoleArgs is the login shell `fatbox console` runs: bash if the image
// has it, else sh. No sshd is involved.
var consoleArgs = []string{"/bin/sh", "-c", "if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi"}

func newConsoleCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "console NAME",
		Short: "a login shell in a running container, on a terminal; works without sshd or network",
		Long: "A login shell in a running container, with a terminal when stdin is one. Without a terminal " +
			"(a pipe, a file, /dev/null) the shell reads its commands from stdin and ends at its end.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return codeErr(runConsole(cmd, g.client(), args[0]))
		},
	}
}

func runConsole(cmd *cobra.Command, c *api.Client, name string) (int, error) {
	req := api.ExecRequest{Args: consoleArgs, TTY: true, Env: []string{"TERM=" + termName()}}
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		// A terminal in the container with none on this side would wait
		// for input that never ends (a pty has no end of file): run the
		// shell on plain pipes instead.
		req.TTY, req.Env = false, nil
		fmt.Fprintln(cmd.ErrOrStderr(), "fatbox console: stdin is not a terminal: running the shell without one, reading commands from stdin")
	}
	return runExec(cmd, c, name, req, true)
}
