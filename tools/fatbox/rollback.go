package main

import (
	"context"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

func newRollbackCmd(g *globals) *cobra.Command {
	var check, output string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "rollback NAME",
		Short: "give NAME back to NAME-last, the container the last release replaced, the same way a release switches",
		Long: `rollback boots NAME-last (the container a release replaced) with NAME's identity on a
temporary address, checks it (--check, default tcp:22), and switches: it takes NAME's
address, MAC and volumes, and the current container becomes NAME-last (stopped, no
address), so a second rollback swaps back again. A failed check leaves NAME serving.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRollback(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], check, timeout, output)
		},
	}
	addCheckFlags(cmd, &check, &timeout)
	addOutputFlag(cmd, &output)
	return cmd
}

func runRollback(ctx context.Context, w io.Writer, c *api.Client, name, check string, timeout time.Duration, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	hc, err := api.ParseCheck(check, timeout)
	if err != nil {
		return err
	}
	res, err := c.RollbackContainer(ctx, name, api.RollbackRequest{Check: hc})
	if err != nil {
		return err
	}
	return printRelease(w, output, res)
}
