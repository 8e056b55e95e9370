package main

import "github.com/spf13/cobra"

func newGwCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gw",
		Short: "the SSH gateway: check its access rules",
	}
	cmd.AddCommand(newGwCheckCmd(g))
	return cmd
}
