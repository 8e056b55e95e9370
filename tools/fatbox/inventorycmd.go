package main

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/inventory"
)

func newInventoryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "inventory", Short: "the inventory as other systems take it"}
	var output string
	export := &cobra.Command{
		Use: "export [-o json|csv]", Short: "every container record, VM-shaped, as JSON or CSV", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInventoryExport(ctxOf(cmd), cmd.OutOrStdout(), g.client(), output)
		},
	}
	export.Flags().StringVarP(&output, "output", "o", "json", "output format: json or csv")
	cmd.AddCommand(export, newInventoryAnsibleCmd(g))
	return cmd
}

// exportColumns are the CSV's columns, in order.
var exportColumns = []string{"id", "name", "hostname", "status", "ip", "mac", "node", "pool", "image", "image_id", "vcpus", "cpus",
	"memory_mib", "disk_mib", "swap_mib", "owner", "app", "env", "labels", "autostart", "created_at", "updated_at"}

func runInventoryExport(ctx context.Context, w io.Writer, c *api.Client, output string) error {
	if output != "json" && output != "csv" {
		return errorf("unknown output format %q: use -o json or -o csv", output)
	}
	cs, err := c.ListContainers(ctx)
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(w, cs)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(exportColumns); err != nil {
		return err
	}
	for _, x := range cs {
		row := []string{x.ID, x.Name, x.Hostname, x.Status, x.IP, x.MAC, x.Node, x.Pool, x.Image, x.ImageID,
			strconv.Itoa(x.VCPUs), strconv.FormatFloat(x.CPUs, 'f', -1, 64), strconv.FormatInt(x.MemoryMiB, 10),
			strconv.FormatInt(x.DiskMiB, 10), strconv.FormatInt(x.SwapMiB, 10), x.Owner, x.App, x.Env, inventory.LabelString(x.Labels),
			strconv.FormatBool(x.Autostart), x.CreatedAt.UTC().Format(time.RFC3339), x.UpdatedAt.UTC().Format(time.RFC3339)}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
