package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

func newUsageCmd(g *globals) *cobra.Command {
	var output, from, to string
	cmd := &cobra.Command{
		Use:   "usage [NAME]",
		Short: "billing usage per container and period (the billing table's figures, computed from the store)",
		Long: `usage prints one row per container per ended billing period that starts in
[--from, --to): vCPU-hours and memory GiB-hours while running, disk GiB-hours
while it existed, CPU seconds, network bytes in and out, and whether the row
holds usage first observed late (the daemon was down). The figures are those
the billing table gets, to reconcile it against fatbox. Times are RFC 3339
(2026-12-01T10:00:00Z) or a UTC date (2026-12-01); the default is the last
24 hours.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return runUsage(ctxOf(cmd), cmd.OutOrStdout(), g.client(), name, from, to, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or csv")
	cmd.Flags().StringVar(&from, "from", "", "the first period's start (RFC 3339 or a UTC date)")
	cmd.Flags().StringVar(&to, "to", "", "the end: periods starting before it (RFC 3339 or a UTC date)")
	return cmd
}

func parseUsageTime(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: give an RFC 3339 time (2026-12-01T10:00:00Z) or a UTC date (2026-12-01)", flag, s)
}

func runUsage(ctx context.Context, w io.Writer, c *api.Client, name, from, to, output string) error {
	if output != "table" && output != "json" && output != "csv" {
		return fmt.Errorf("unknown output format %q: use -o table, -o json or -o csv", output)
	}
	f, err := parseUsageTime("from", from)
	if err != nil {
		return err
	}
	t, err := parseUsageTime("to", to)
	if err != nil {
		return err
	}
	u, err := c.Usage(ctx, name, f, t)
	if err != nil {
		return err
	}
	switch output {
	case "json":
		return writeJSON(w, u)
	case "csv":
		return writeUsageCSV(w, u)
	}
	return printUsage(w, u)
}

// usageColumns are the CSV's columns: the billing table's, in its units.
var usageColumns = []string{"container_id", "name", "period_start", "period_end", "vcpu_hours", "memory_gib_hours",
	"disk_gib_hours", "cpu_seconds", "net_bytes_in", "net_bytes_out", "late"}

// usageFields are a row's values as the billing table keeps them (UTC
// times, 6 decimals), so the two compare as text.
func usageFields(r api.UsageRow) []string {
	dec := func(x float64) string { return strconv.FormatFloat(x, 'f', 6, 64) }
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }
	late := "0"
	if r.Late {
		late = "1"
	}
	return []string{r.ContainerID, r.Name, ts(r.PeriodStart), ts(r.PeriodEnd), dec(r.VCPUHours), dec(r.MemoryGiBHours),
		dec(r.DiskGiBHours), dec(r.CPUSeconds), strconv.FormatUint(r.NetBytesIn, 10), strconv.FormatUint(r.NetBytesOut, 10), late}
}

func writeUsageCSV(w io.Writer, u api.Usage) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(usageColumns); err != nil {
		return err
	}
	for _, r := range u.Rows {
		if err := cw.Write(usageFields(r)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func printUsage(w io.Writer, u api.Usage) error {
	tw := table(w)
	fmt.Fprintln(tw, "NAME\tPERIOD (UTC)\tVCPU-H\tMEM GIB-H\tDISK GIB-H\tCPU S\tNET IN\tNET OUT\tLATE")
	for _, r := range u.Rows {
		late := ""
		if r.Late {
			late = "late"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.4f\t%.4f\t%.4f\t%.2f\t%d\t%d\t%s\n", r.Name, r.PeriodStart.UTC().Format("2006-01-02 15:04:05"),
			r.VCPUHours, r.MemoryGiBHours, r.DiskGiBHours, r.CPUSeconds, r.NetBytesIn, r.NetBytesOut, late)
	}
	if len(u.Rows) == 0 {
		fmt.Fprintf(tw, "(no usage in %s .. %s)\n", u.From.UTC().Format(time.RFC3339), u.To.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}
