package main

import (
	"github.com/spf13/cobra"
)

func newProgCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prog",
		Short: "list and control a container's supervisord programs (sshd, cron, rsyslog, the app)",
	}
	run := func(action string) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			prog := ""
			if len(args) == 2 {
				prog = args[1]
			}
			return codeErr(g.client().Program(ctxOf(cmd), args[0], action, prog, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		}
	}
	cmd.AddCommand(
		&cobra.Command{Use: "ls NAME [PROGRAM]", Short: "programs and their states", Args: cobra.RangeArgs(1, 2), RunE: run("status")},
		&cobra.Command{Use: "start NAME PROGRAM", Short: "start a program", Args: cobra.ExactArgs(2), RunE: run("start")},
		&cobra.Command{Use: "stop NAME PROGRAM", Short: "stop a program", Args: cobra.ExactArgs(2), RunE: run("stop")},
		&cobra.Command{Use: "restart NAME PROGRAM", Short: "restart a program", Args: cobra.ExactArgs(2), RunE: run("restart")},
	)
	return cmd
}
