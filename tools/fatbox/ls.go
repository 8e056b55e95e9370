package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/limits"
)

func newLsCmd(g *globals) *cobra.Command {
	var output string
	var f api.ListFilter
	var labels []string
	cmd := &cobra.Command{
		Use: "ls [--app A] [--owner O] [--env E] [--status S] [-l KEY=VALUE]", Short: "list containers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if f.Labels, err = labelFilter(labels); err != nil {
				return err
			}
			return runLs(ctxOf(cmd), cmd.OutOrStdout(), g.client(), f, output)
		},
	}
	cmd.Flags().StringVar(&f.App, "app", "", "only containers of this app")
	cmd.Flags().StringVar(&f.Owner, "owner", "", "only containers of this owner")
	cmd.Flags().StringVar(&f.Env, "env", "", "only containers of this environment")
	cmd.Flags().StringVar(&f.Status, "status", "", "only containers in this status (running, stopped, ...)")
	cmd.Flags().StringArrayVarP(&labels, "label", "l", nil, "only containers with this label KEY=VALUE; repeatable (all must match)")
	addOutputFlag(cmd, &output)
	return cmd
}

func runLs(ctx context.Context, w io.Writer, c *api.Client, f api.ListFilter, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	cs, err := c.FindContainers(ctx, f)
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
	fmt.Fprintln(tw, "NAME\tSTATUS\tIP\tMAC\tIMAGE\tVCPUS\tMEMORY\tDISK\tNODE\tAPP\tOWNER\tENV")
	for _, c := range cs {
		disk := limits.FormatSize(c.DiskMiB << 20)
		if c.PendingDiskMiB > 0 {
			disk += " (" + limits.FormatSize(c.PendingDiskMiB<<20) + " at start)"
		}
		status := c.Status
		if c.StopReason != "" {
			status += " (" + c.StopReason + ")" // why it stopped on its own
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, status, c.IP, c.MAC, c.Image, c.VCPUs,
			limits.FormatSize(c.MemoryMiB<<20), disk, c.Node, dash(c.App), dash(c.Owner), dash(c.Env))
	}
	return tw.Flush()
}

// labelFilter reads the -l KEY=VALUE filters of ls and inventory ansible
// (nil when none).
func labelFilter(labels []string) (map[string]string, error) {
	var out map[string]string
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-l %q: filter with KEY=VALUE", l)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
