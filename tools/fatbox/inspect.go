package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/limits"
)

func newInspectCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use: "inspect NAME", Short: "show a container's record and live state (runc state, init PID, disk use)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "json", "output format: json or table")
	return cmd
}

func runInspect(ctx context.Context, w io.Writer, c *api.Client, name, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	in, err := c.Inspect(ctx, name)
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(w, in)
	}
	tw := table(w)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	row("name", in.Name)
	row("status", in.Status)
	row("runc state", in.State)
	row("pid", in.PID)
	row("node", in.Node)
	row("pool", in.Pool)
	row("ip", in.IP)
	row("mac", in.MAC)
	row("image", in.Image+" ("+in.ImageID+")")
	row("cpus", fmt.Sprintf("%g (vCPUs %d, cpuset %s)", in.CPUs, in.VCPUs, in.Cpuset))
	row("memory", limits.FormatSize(in.MemoryMiB<<20))
	row("disk", fmt.Sprintf("%s (%s used)", limits.FormatSize(in.DiskMiB<<20), limits.FormatSize(in.DiskUsedBytes)))
	if len(in.Ulimits) > 0 {
		us := ulimitsText(in.Ulimits)
		if in.PendingUlimits {
			us += " (at the next start)"
		}
		row("ulimits", us)
	}
	if len(in.Volumes) > 0 {
		vs := ""
		for i, v := range in.Volumes {
			if i > 0 {
				vs += ", "
			}
			vs += v.Name + ":" + v.Path
		}
		row("volumes", vs)
	}
	row("autostart", in.Autostart)
	row("created", in.CreatedAt.Format("2006-01-02 15:04:05 MST"))
	row("updated", in.UpdatedAt.Format("2006-01-02 15:04:05 MST"))
	return tw.Flush()
}
