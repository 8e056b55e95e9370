package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/inventory/logfwd"
)

func newPoolCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "pool", Short: "manage IP pools (create, ls, show, rm)"}
	var output string
	cmd.PersistentFlags().StringVarP(&output, "output", "o", "table", "output format: table or json")

	var f poolFlags
	create := &cobra.Command{
		Use:   "create NAME --cidr CIDR --bridge BRIDGE",
		Short: "create a pool",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPoolCreate(cmd.Context(), cmd.OutOrStdout(), g.client(), args[0], f, cmd.Flags().Changed("quarantine"), output)
		},
	}
	create.Flags().StringVar(&f.cidr, "cidr", "", "the pool's IPv4 network, e.g. 198.18.0.0/24 (required)")
	create.Flags().StringVar(&f.gateway, "gateway", "", "gateway address (default: the network's first address)")
	create.Flags().StringSliceVar(&f.ranges, "range", nil, "usable range START-END, repeatable (default: the whole network)")
	create.Flags().StringSliceVar(&f.reserved, "reserve", nil, "address never to hand out (e.g. a legacy VM), repeatable")
	create.Flags().StringVar(&f.bridge, "bridge", "", "Linux bridge the pool's containers attach to (required)")
	create.Flags().BoolVar(&f.createBridge, "create-bridge", false, "let fatbox create the bridge if it is missing")
	create.Flags().IntVar(&f.vlan, "vlan", 0, "802.1Q VLAN id (needs --uplink)")
	create.Flags().StringVar(&f.uplink, "uplink", "", "host interface the bridge is uplinked to")
	create.Flags().IntVar(&f.mtu, "mtu", 0, "MTU of container interfaces (default 1500)")
	create.Flags().StringVar(&f.syslog, "syslog", "", "syslog collector its containers forward to, `tcp://HOST:PORT` or udp://HOST:PORT (RFC 5424; a container's --syslog wins)")
	create.Flags().DurationVar(&f.quarantine, "quarantine", 24*time.Hour, "how long a released address is kept for its old owner")

	ls := &cobra.Command{
		Use: "ls", Short: "list pools", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPoolLs(cmd.Context(), cmd.OutOrStdout(), g.client(), output)
		},
	}
	show := &cobra.Command{
		Use: "show NAME", Short: "show a pool", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPoolShow(cmd.Context(), cmd.OutOrStdout(), g.client(), args[0], output)
		},
	}
	var force bool
	rm := &cobra.Command{
		Use: "rm NAME", Short: "remove a pool (refused while a container uses it, or while it has leases unless --force)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPoolRm(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], force, output)
		},
	}
	rm.Flags().BoolVar(&force, "force", false, "also drop leases of owners that are not containers, and quarantined addresses")
	cmd.AddCommand(create, ls, show, rm)
	return cmd
}

type poolFlags struct {
	cidr, gateway, bridge, uplink string
	syslog                        string
	ranges, reserved              []string
	createBridge                  bool
	vlan, mtu                     int
	quarantine                    time.Duration
}

func ctxOf(cmd *cobra.Command) context.Context {
	if cmd.Context() != nil {
		return cmd.Context()
	}
	return context.Background()
}

// poolFromFlags turns flags into a pool; the daemon validates the rest.
func poolFromFlags(name string, f poolFlags, quarantineSet bool) (api.Pool, error) {
	p := api.Pool{Name: name, Bridge: f.bridge, CreateBridge: f.createBridge, VLAN: f.vlan, Uplink: f.uplink, MTU: f.mtu}
	if f.syslog != "" {
		s, err := logfwd.Check(f.syslog)
		if err != nil {
			return p, fmt.Errorf("--syslog: %w", err)
		}
		p.Syslog = s
	}
	if f.cidr == "" {
		return p, fmt.Errorf("pool %q needs --cidr, e.g. --cidr 198.18.0.0/24", name)
	}
	pf, err := netip.ParsePrefix(f.cidr)
	if err != nil {
		return p, fmt.Errorf("bad --cidr %q: give an IPv4 network like 198.18.0.0/24", f.cidr)
	}
	p.CIDR = pf
	if f.gateway == "" {
		p.Gateway = pf.Masked().Addr().Next()
	} else if p.Gateway, err = netip.ParseAddr(f.gateway); err != nil {
		return p, fmt.Errorf("bad --gateway %q: give an IPv4 address", f.gateway)
	}
	for _, r := range f.ranges {
		a, b, ok := strings.Cut(r, "-")
		s, err1 := netip.ParseAddr(strings.TrimSpace(a))
		e, err2 := netip.ParseAddr(strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil {
			return p, fmt.Errorf("bad --range %q: write START-END, e.g. 198.18.0.10-198.18.0.200", r)
		}
		p.Ranges = append(p.Ranges, api.Range{Start: s, End: e})
	}
	for _, r := range f.reserved {
		a, err := netip.ParseAddr(r)
		if err != nil {
			return p, fmt.Errorf("bad --reserve %q: give an IPv4 address", r)
		}
		p.Reserved = append(p.Reserved, a)
	}
	if quarantineSet {
		q := api.Duration(f.quarantine)
		p.Quarantine = &q
	}
	return p, nil
}

func runPoolCreate(ctx context.Context, w io.Writer, c *api.Client, name string, f poolFlags, quarantineSet bool, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	p, err := poolFromFlags(name, f, quarantineSet)
	if err != nil {
		return err
	}
	p, err = c.CreatePool(ctx, p)
	if err != nil {
		return err
	}
	return printPools(w, []api.Pool{p}, output)
}

func runPoolLs(ctx context.Context, w io.Writer, c *api.Client, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	ps, err := c.ListPools(ctx)
	if err != nil {
		return err
	}
	return printPools(w, ps, output)
}

func runPoolShow(ctx context.Context, w io.Writer, c *api.Client, name, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	p, err := c.GetPool(ctx, name)
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(w, p)
	}
	leases, err := c.ListLeases(ctx, name)
	if err != nil {
		return err
	}
	active := 0
	for _, l := range leases {
		if l.State == api.LeaseActive {
			active++
		}
	}
	tw := table(w)
	var rs, res []string
	for _, r := range p.Ranges {
		rs = append(rs, r.String())
	}
	for _, a := range p.Reserved {
		res = append(res, a.String())
	}
	fmt.Fprintf(tw, "name:\t%s\ncidr:\t%s\ngateway:\t%s\nranges:\t%s\nreserved:\t%s\nbridge:\t%s (create: %v)\nvlan:\t%d %s\nmtu:\t%d\nquarantine:\t%s\nsyslog:\t%s\ncapacity:\t%d\nleases:\t%d active, %d released\n",
		p.Name, p.CIDR, p.Gateway, strings.Join(rs, ", "), strings.Join(res, ", "), p.Bridge, p.CreateBridge, p.VLAN, p.Uplink, p.MTU,
		p.QuarantineDuration(), syslogOrNone(p.Syslog), p.Capacity, active, len(leases)-active)
	return tw.Flush()
}

func printPools(w io.Writer, ps []api.Pool, output string) error {
	if output == "json" {
		return writeJSON(w, ps)
	}
	tw := table(w)
	fmt.Fprintln(tw, "NAME\tCIDR\tGATEWAY\tBRIDGE\tVLAN\tCAPACITY")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", p.Name, p.CIDR, p.Gateway, p.Bridge, p.VLAN, p.Capacity)
	}
	return tw.Flush()
}

func runPoolRm(ctx context.Context, w io.Writer, c *api.Client, name string, force bool, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	res, err := c.DeletePool(ctx, name, force)
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(w, res)
	}
	fmt.Fprintf(w, "pool %s removed", name)
	if len(res.Dropped) > 0 {
		fmt.Fprintf(w, ", %d leases dropped", len(res.Dropped))
	}
	if res.BridgeRemoved {
		fmt.Fprintf(w, ", bridge %s removed", res.Pool.Bridge)
	}
	fmt.Fprintln(w)
	if res.BridgeNote != "" {
		fmt.Fprintln(w, "note:", res.BridgeNote)
	}
	return nil
}

// syslogOrNone is a pool's or container's collector as shown: "none" when unset.
func syslogOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
