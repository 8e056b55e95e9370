package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/limits"
)

func newStatusCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "ask the fatbox daemon how it is: store backend and health",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.Context(), cmd.OutOrStdout(), g.client(), output)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func runStatus(ctx context.Context, w io.Writer, c *api.Client, output string) error {
	if output == "text" { // its name before every command took -o table
		output = "table"
	}
	if err := checkOutput(output); err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	health := "healthy"
	if !st.Store.Healthy {
		health = "UNHEALTHY: " + st.Store.Error
	}
	fmt.Fprintf(w, "daemon:    fatbox %s, pid %d, node %s, up %s (start #%d)\n", st.Version, st.PID, st.Node,
		time.Since(st.StartedAt).Round(time.Second), st.Starts)
	fmt.Fprintf(w, "socket:    %s\n", st.Socket)
	fmt.Fprintf(w, "state dir: %s\n", st.StateDir)
	fmt.Fprintf(w, "store:     %s (%s), %s\n", st.Store.Backend, st.Store.URL, health)
	for _, c := range st.CMDB {
		state := "in step"
		switch {
		case c.Failures > 0:
			state = fmt.Sprintf("FAILING (%d in a row, next try %s)", c.Failures, c.NextRetry.Local().Format("15:04:05"))
		case !c.Checked:
			state = "not checked yet"
		case c.Lag > 0:
			state = fmt.Sprintf("%d events behind", c.Lag)
		}
		fmt.Fprintf(w, "cmdb:      %s → %s table %s: %s (position %d)\n", c.Target, c.Database, c.Table, state, c.Position)
		if c.Failures > 0 && c.LastError != "" {
			for _, l := range strings.Split(strings.TrimSpace(c.LastError), "\n") {
				fmt.Fprintf(w, "           %s\n", l)
			}
		}
	}
	if b := st.Billing; b != nil {
		state := "in step"
		switch {
		case b.Failures > 0:
			state = fmt.Sprintf("FAILING (%d in a row, next try %s)", b.Failures, b.NextRetry.Local().Format("15:04:05"))
		case b.Due > 0:
			state = fmt.Sprintf("%d periods due", b.Due)
		}
		until := "nothing yet"
		if !b.BilledUntil.IsZero() {
			until = b.BilledUntil.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "billing:   %s → %s, periods of %s: %s (billed until %s)\n", b.Target, b.Database, time.Duration(b.PeriodSeconds)*time.Second, state, until)
		if b.Failures > 0 && b.LastError != "" {
			for _, l := range strings.Split(strings.TrimSpace(b.LastError), "\n") {
				fmt.Fprintf(w, "           %s\n", l)
			}
		}
	}
	if c := st.Catalog; c != nil {
		state := "ok"
		if c.Failures > 0 {
			state = fmt.Sprintf("failing (%d in a row): %s", c.Failures, c.LastError)
		} else if !c.Running {
			state = "not running"
		}
		fmt.Fprintf(w, "consul:    catalog at %s, %d nodes, event %d: %s\n", c.Address, c.Nodes, c.Position, state)
		if len(c.Foreign) > 0 {
			fmt.Fprintf(w, "           not registered (the node name is someone else's): %s\n", strings.Join(c.Foreign, ", "))
		}
	}
	for _, h := range st.Hooks {
		state := "ok"
		if h.Failures > 0 {
			state = fmt.Sprintf("failing (%d in a row, later events wait): %s", h.Failures, h.LastError)
		} else if !h.Running {
			state = "not running"
		}
		if h.Delivering != 0 {
			state += fmt.Sprintf("; delivering event %d for %s", h.Delivering, time.Since(h.DeliveringSince).Round(time.Second))
		}
		fmt.Fprintf(w, "hook:      %s → %s, event %d, %d behind: %s\n", h.Name, h.Target, h.Position, h.Lag, state)
	}
	if gw := st.Gateway; gw != nil {
		fmt.Fprintf(w, "gateway:   ssh on %s, host key %s, %d users, %d rules (%s)\n", gw.Listen, gw.Fingerprint, gw.Users, gw.Rules, gw.AccessFile)
		switch {
		case gw.ConfigError != "" && gw.LoadedAt.IsZero():
			fmt.Fprintf(w, "           ACCESS FILE NOT LOADED, every login is refused: %s\n", gw.ConfigError)
		case gw.ConfigError != "":
			fmt.Fprintf(w, "           ACCESS FILE NOT RELOADED, the rules of %s stay in force: %s\n", gw.LoadedAt.Local().Format(time.RFC3339), gw.ConfigError)
		}
	}
	for _, r := range st.Releases {
		fmt.Fprintf(w, "%-10s %s → %s: %s since %s\n", r.Kind+":", r.Name, r.Candidate, r.Phase, r.StartedAt.Local().Format(time.RFC3339))
	}
	if st.CapacityError != "" {
		fmt.Fprintf(w, "capacity:  unknown: %s\n", st.CapacityError)
	}
	for _, f := range st.Capacity {
		pct := 0.0
		if f.Ceiling > 0 {
			pct = 100 * f.Used / f.Ceiling
		}
		host := f.Ceiling
		if f.Ratio > 0 {
			host = f.Ceiling / f.Ratio
		}
		fmt.Fprintf(w, "%-10s %s of %s allowed (%.0f%%; %gx the host's %s)\n", f.Name+":", figure(f.Used, f.Unit), figure(f.Ceiling, f.Unit), pct, f.Ratio, figure(host, f.Unit))
	}
	if !st.Store.Healthy {
		return fmt.Errorf("store is unhealthy: %s", st.Store.Error)
	}
	return nil
}

// figure prints a capacity figure in its unit.
func figure(v float64, unit string) string {
	switch unit {
	case "bytes":
		if int64(v)%(1<<20) == 0 && v < 1<<30 {
			return limits.FormatSize(int64(v))
		}
		return strconv.FormatFloat(v/(1<<30), 'f', 1, 64) + " GiB"
	case "":
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) + " " + unit
}
