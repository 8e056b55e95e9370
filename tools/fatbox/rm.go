package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

func newRmCmd(g *globals) *cobra.Command {
	var release bool
	cmd := &cobra.Command{
		Use: "rm NAME [--release-ip]", Short: "stop and remove a container (the name keeps its IP unless --release-ip)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRm(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], release)
		},
	}
	cmd.Flags().BoolVar(&release, "release-ip", false, "give the name's address back (into quarantine)")
	return cmd
}

func runRm(ctx context.Context, w io.Writer, c *api.Client, name string, release bool) error {
	if err := c.Remove(ctx, name, release); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "container %s removed\n", name)
	return err
}
