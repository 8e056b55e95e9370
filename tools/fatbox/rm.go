package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

func newRmCmd(g *globals) *cobra.Command {
	var release bool
	var output string
	cmd := &cobra.Command{
		Use: "rm NAME [--release-ip]", Short: "stop and remove a container (the name keeps its IP unless --release-ip)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRm(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], release, output)
		},
	}
	cmd.Flags().BoolVar(&release, "release-ip", false, "give the name's address back (into quarantine)")
	addOutputFlag(cmd, &output)
	return cmd
}

func runRm(ctx context.Context, w io.Writer, c *api.Client, name string, release bool, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	if err := c.Remove(ctx, name, release); err != nil {
		return err
	}
	return printDone(w, output, done{Name: name, Action: "removed"}, "container %s removed\n", name)
}
