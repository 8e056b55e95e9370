package main

import (
	"github.com/spf13/cobra"
)

func newLogsCmd(g *globals) *cobra.Command {
	var lines int
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs NAME [PROGRAM]",
		Short: "show a program's log as supervisord keeps it (supervisord's own log without PROGRAM)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			prog := ""
			if len(args) == 2 {
				prog = args[1]
			}
			return codeErr(g.client().Logs(ctxOf(cmd), args[0], prog, lines, follow, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	cmd.Flags().IntVarP(&lines, "lines", "n", 100, "how many of the last lines to show")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until interrupted")
	return cmd
}
