package main

import (
	"github.com/spf13/cobra"
)

func newInspectCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "inspect NAME", Short: "show a container's record and live state (runc state, init PID, disk use) as JSON", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := g.client().Inspect(ctxOf(cmd), args[0])
			if err != nil {
				return err
			}
			return writeJSON(cmd.OutOrStdout(), in)
		},
	}
}
