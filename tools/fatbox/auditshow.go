package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

func newAuditShowCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show SESSION [-o json]",
		Short: "one session's audit lines and its recording",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAuditShow(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], output)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func runAuditShow(ctx context.Context, w io.Writer, c *api.Client, id, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	s, err := c.AuditSession(ctx, id)
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(w, s)
	}
	if err := printAudit(w, s.Entries, true); err != nil {
		return err
	}
	if s.Recording != nil {
		_, err = fmt.Fprintf(w, "\nrecording: %d bytes (compressed), last written %s: replay it with `fatbox audit play %s`\n",
			s.Recording.Bytes, s.Recording.Modified.Local().Format("2006-01-02 15:04:05"), id)
	} else {
		_, err = fmt.Fprintln(w, "\nrecording: none (only interactive sessions are recorded; old ones are deleted by age and by the total cap)")
	}
	return err
}
