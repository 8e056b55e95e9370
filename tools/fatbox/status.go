package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
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
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func runStatus(ctx context.Context, w io.Writer, c *api.Client, output string) error {
	if output != "text" && output != "json" {
		return fmt.Errorf("unknown output format %q: use -o text or -o json", output)
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
	if !st.Store.Healthy {
		return fmt.Errorf("store is unhealthy: %s", st.Store.Error)
	}
	return nil
}
