package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

type cmdbFlags struct {
	target, mapping, dsn, output string
	dryRun, once                 bool
}

func newCMDBCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "cmdb", Short: "the CMDB tables the daemon keeps true to the inventory"}
	var f cmdbFlags
	sync := &cobra.Command{
		Use:   "sync [--target T] [--dry-run] [--mapping FILE] [--once]",
		Short: "reconcile a CMDB table with the inventory now, or with --dry-run print the exact rows it would write",
		Long: "Run a full reconcile of a CMDB target now: missing rows inserted, differing rows repaired (each reported), " +
			"rows of removed containers decommissioned; rows fatbox never made are never touched. The daemon's loop " +
			"keeps the table in step on its own; this is one pass (--once is the default and accepted for scripts). " +
			"--dry-run writes nothing and prints the exact rows; --mapping FILE (and --dsn) try another mapping, dry run only.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCMDBSync(ctxOf(cmd), cmd.OutOrStdout(), g.client(), f)
		},
	}
	sync.Flags().StringVar(&f.target, "target", "", "the CMDB target (needed when several are configured)")
	sync.Flags().BoolVar(&f.dryRun, "dry-run", false, "write nothing: print the rows a reconcile would insert, update and decommission")
	sync.Flags().StringVar(&f.mapping, "mapping", "", "a mapping file to try instead of the configured one (with --dry-run)")
	sync.Flags().StringVar(&f.dsn, "dsn", "", "a database to try instead of the configured one (with --dry-run)")
	sync.Flags().BoolVar(&f.once, "once", true, "one pass, then exit (the default)")
	addOutputFlag(sync, &f.output)
	cmd.AddCommand(sync)
	return cmd
}

func runCMDBSync(ctx context.Context, w io.Writer, c *api.Client, f cmdbFlags) error {
	if err := checkOutput(f.output); err != nil {
		return err
	}
	req := api.CMDBSyncRequest{Target: f.target, DryRun: f.dryRun, DSN: f.dsn}
	if f.mapping != "" {
		b, err := os.ReadFile(f.mapping)
		if err != nil {
			return fmt.Errorf("--mapping: %w", err)
		}
		req.Mapping = string(b)
	}
	p, err := c.CMDBSync(ctx, req)
	if err != nil {
		return err
	}
	if f.output == "json" {
		return writeJSON(w, p)
	}
	_, err = io.WriteString(w, p.Text)
	return err
}
