package main

import (
	"context"
	"fmt"
	"io"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

func newStatsCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "stats NAME",
		Short: "a container's usage: CPU, disk and network totals kept across restarts; memory and processes now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStats(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], output)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func runStats(ctx context.Context, w io.Writer, c *api.Client, name, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	s, err := c.Stats(ctx, name)
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(w, s)
	}
	return printStats(w, s)
}

// printStats writes the table form: sizes rounded for people (-o json has
// the exact counts).
func printStats(w io.Writer, s api.Stats) error {
	tw := table(w)
	row := func(k, format string, args ...any) {
		fmt.Fprintf(tw, "%s:\t"+format+"\n", append([]any{k}, args...)...)
	}
	size := func(b uint64) string { return units.BytesSize(float64(b)) }
	when := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format("2006-01-02 15:04:05 MST")
	}
	state := s.State
	if state == "" {
		state = "not running"
	}
	c, g := s.Counters, s.Gauges
	row("name", "%s", s.Name)
	row("state", "%s", state)
	row("read at", "%s", when(s.ReadAt))
	row("totals as of", "%s", when(s.SampledAt))
	row("cpu", "%.2f s", c.CPUSeconds)
	row("disk read", "%s (%d ops)", size(c.DiskReadBytes), c.DiskReadOps)
	row("disk written", "%s (%d ops)", size(c.DiskWriteBytes), c.DiskWriteOps)
	row("net in", "%s (%d packets, %d dropped)", size(c.NetBytesIn), c.NetPacketsIn, c.NetDropsIn)
	row("net out", "%s (%d packets, %d dropped)", size(c.NetBytesOut), c.NetPacketsOut, c.NetDropsOut)
	row("oom kills", "%d", c.OOMKills)
	row("memory limit hits", "%d", c.MemoryLimitHits)
	row("memory", "%s (peak %s; rss %s, cache %s, swap %s)", size(g.MemoryUsageBytes), size(g.MemoryMaxUsageBytes),
		size(g.MemoryRSSBytes), size(g.MemoryCacheBytes), size(g.MemorySwapBytes))
	row("processes", "%d", g.Pids)
	return tw.Flush()
}
