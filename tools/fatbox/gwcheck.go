package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

func newGwCheckCmd(g *globals) *cobra.Command {
	var (
		output string
		q      api.GatewayCheck
	)
	cmd := &cobra.Command{
		Use:   "check USER CONTAINER",
		Short: "explain which gateway rule lets USER reach CONTAINER (name or IP), or why none does",
		Long: `check asks the daemon's SSH gateway whether USER may reach CONTAINER as --login over
--channel (shell, exec, sftp, or forward with --port), and prints the rule that allows it
with its line in the access file, or each rule and why it does not. It exits 0 when
allowed and 1 when denied (also with -o json).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			q.User, q.Container = args[0], args[1]
			return runGwCheck(ctxOf(cmd), cmd.OutOrStdout(), g.client(), q, output)
		},
	}
	cmd.Flags().StringVar(&q.Login, "login", "", "the login in the container (default: the first the allowing rule lists)")
	cmd.Flags().StringVar(&q.Channel, "channel", "shell", "shell, exec, sftp or forward")
	cmd.Flags().IntVar(&q.Port, "port", 0, "the port of a forward")
	addOutputFlag(cmd, &output)
	return cmd
}

func runGwCheck(ctx context.Context, w io.Writer, c *api.Client, q api.GatewayCheck, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	switch q.Channel {
	case "shell", "exec", "sftp":
	case "forward":
		if q.Port < 1 || q.Port > 65535 {
			return fmt.Errorf("--channel forward needs --port: give the port (1-65535)")
		}
	default:
		return fmt.Errorf("--channel %q: give shell, exec, sftp or forward", q.Channel)
	}
	d, err := c.GatewayCheck(ctx, q)
	if err != nil {
		return err
	}
	if output == "json" {
		err = writeJSON(w, d)
	} else {
		err = printGwCheck(w, d)
	}
	if err != nil {
		return err
	}
	if !d.Allowed {
		return exitCode(1)
	}
	return nil
}

func printGwCheck(w io.Writer, d api.GatewayDecision) error {
	verdict := "DENIED"
	if d.Allowed {
		verdict = "ALLOWED"
	}
	if _, err := fmt.Fprintf(w, "%s: %s\n", verdict, d.Reason); err != nil {
		return err
	}
	if d.Allowed {
		agent := "off"
		if d.Agent {
			agent = "on"
		}
		_, err := fmt.Fprintf(w, "path: %s, agent forwarding: %s\n", d.Path, agent)
		return err
	}
	t := table(w)
	fmt.Fprintln(t, "RULE\tLINE\tWHY NOT")
	for _, m := range d.Misses {
		fmt.Fprintf(t, "%s\t%d\t%s\n", m.Rule, m.Line, m.Reason)
	}
	return t.Flush()
}
