package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

func newIPCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "ip", Short: "manage IP leases (ls, show, allocate, release, gc)"}
	var output, pool string
	cmd.PersistentFlags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.PersistentFlags().StringVar(&pool, "pool", "", "the pool")
	needPool := func() error {
		if pool == "" {
			return fmt.Errorf("which pool? pass --pool (see `fatbox pool ls`)")
		}
		return checkOutput(output)
	}

	ls := &cobra.Command{
		Use: "ls --pool POOL", Short: "list a pool's leases", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needPool(); err != nil {
				return err
			}
			ls, err := g.client().ListLeases(ctxOf(cmd), pool)
			if err != nil {
				return err
			}
			return printLeases(cmd.OutOrStdout(), ls, output)
		},
	}
	show := &cobra.Command{
		Use: "show NAME --pool POOL | show IP", Short: "show a name's lease, or who holds an address", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			var l api.Lease
			var err error
			if a, perr := netip.ParseAddr(args[0]); perr == nil {
				l, err = g.client().Owner(ctxOf(cmd), a)
			} else {
				if err := needPool(); err != nil {
					return err
				}
				l, err = g.client().GetLease(ctxOf(cmd), pool, args[0])
			}
			if err != nil {
				return err
			}
			return printLeases(cmd.OutOrStdout(), []api.Lease{l}, output)
		},
	}
	var exact string
	allocate := &cobra.Command{
		Use: "allocate NAME --pool POOL [--ip IP]", Short: "give NAME an address (its old one if it has one)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needPool(); err != nil {
				return err
			}
			req := api.AllocateRequest{Name: args[0]}
			if exact != "" {
				a, err := netip.ParseAddr(exact)
				if err != nil {
					return fmt.Errorf("bad --ip %q: give an IPv4 address", exact)
				}
				req.IP = a
			}
			l, err := g.client().Allocate(ctxOf(cmd), pool, req)
			if err != nil {
				return err
			}
			return printLeases(cmd.OutOrStdout(), []api.Lease{l}, output)
		},
	}
	allocate.Flags().StringVar(&exact, "ip", "", "take exactly this address (e.g. a retired VM's); probed with ARP first")
	release := &cobra.Command{
		Use: "release NAME --pool POOL", Short: "release NAME's address into quarantine", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needPool(); err != nil {
				return err
			}
			l, err := g.client().Release(ctxOf(cmd), pool, args[0])
			if err != nil {
				return err
			}
			return printLeases(cmd.OutOrStdout(), []api.Lease{l}, output)
		},
	}
	var alive []string
	var aliveFile string
	var dryRun bool
	gc := &cobra.Command{
		Use:   "gc --pool POOL [--alive a,b,... | --alive-file FILE] [--dry-run]",
		Short: "release leases whose owner no longer exists",
		Long: `Release (into quarantine) the active leases of a pool whose owner is neither a
container in the inventory nor named with --alive or --alive-file. Leases taken with
` + "`fatbox ip allocate`" + ` for things that are not containers (legacy VMs) must be named
with --alive, or gc releases them: run it with --dry-run first. If the inventory
cannot be read nothing is freed (fail closed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needPool(); err != nil {
				return err
			}
			return runIPGC(ctxOf(cmd), cmd.OutOrStdout(), g.client(), pool, alive, aliveFile, dryRun, output)
		},
	}
	gc.Flags().StringSliceVar(&alive, "alive", nil, "owners that exist besides the inventory's containers (comma-separated)")
	gc.Flags().StringVar(&aliveFile, "alive-file", "", "file with one existing owner per line")
	gc.Flags().BoolVar(&dryRun, "dry-run", false, "only list what would be released")
	cmd.AddCommand(ls, show, allocate, release, gc)
	return cmd
}

func runIPGC(ctx context.Context, w io.Writer, c *api.Client, pool string, alive []string, aliveFile string, dryRun bool, output string) error {
	req := api.GCRequest{Alive: append([]string{}, alive...), DryRun: dryRun}
	if aliveFile != "" {
		f, err := os.Open(aliveFile)
		if err != nil {
			return fmt.Errorf("--alive-file: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if n := strings.TrimSpace(sc.Text()); n != "" && !strings.HasPrefix(n, "#") {
				req.Alive = append(req.Alive, n)
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("--alive-file: %w", err)
		}
	}
	res, err := c.GC(ctx, pool, req)
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(w, res)
	}
	verb := "released"
	list := res.Released
	if dryRun {
		verb, list = "would release", res.Orphans
	}
	for _, l := range list {
		fmt.Fprintf(w, "%s %s (%s)\n", verb, l.Name, l.IP)
	}
	_, err = fmt.Fprintf(w, "%d orphaned leases in pool %s; %d %s\n", len(res.Orphans), pool, len(list), verb)
	return err
}

func printLeases(w io.Writer, ls []api.Lease, output string) error {
	if output == "json" {
		return writeJSON(w, ls)
	}
	tw := table(w)
	fmt.Fprintln(tw, "POOL\tNAME\tIP\tSTATE\tHOST\tQUARANTINE UNTIL")
	for _, l := range ls {
		q := ""
		if !l.QuarantineUntil.IsZero() {
			q = l.QuarantineUntil.Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", l.Pool, l.Name, l.IP, l.State, l.Host, q)
	}
	return tw.Flush()
}
