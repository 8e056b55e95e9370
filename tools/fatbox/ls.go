package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/limits"
)

func newLsCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use: "ls", Short: "list containers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLs(ctxOf(cmd), cmd.OutOrStdout(), g.client(), output)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func runLs(ctx context.Context, w io.Writer, c *api.Client, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	cs, err := c.ListContainers(ctx)
	if err != nil {
		return err
	}
	return printContainers(w, cs, output)
}

// printContainers prints records as a table (sizes exact, never rounded
// away) or JSON.
func printContainers(w io.Writer, cs []api.Container, output string) error {
	if output == "json" {
		return writeJSON(w, cs)
	}
	tw := table(w)
	fmt.Fprintln(tw, "NAME\tSTATUS\tIP\tMAC\tIMAGE\tVCPUS\tMEMORY\tDISK\tNODE")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", c.Name, c.Status, c.IP, c.MAC, c.Image, c.VCPUs,
			limits.FormatSize(c.MemoryMiB<<20), limits.FormatSize(c.DiskMiB<<20), c.Node)
	}
	return tw.Flush()
}
