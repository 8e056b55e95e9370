package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

func newReleaseCmd(g *globals) *cobra.Command {
	var image, from, check, output string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "release NAME (--image IMAGE | --from CONTAINER)",
		Short: "replace a running container under its name: same IP, MAC, host keys and hostname, volumes moved, a gap under a second",
		Long: `release hands NAME to a new container without clients seeing a new address or host key.

A candidate is created from --image as NAME-next with NAME's limits, labels, owner,
authorized keys, hostname and SSH host keys (or --from names a prepared container of the
same pool, which takes that identity and is booted again with it), on a temporary address.
Its health check (--check) must pass there; if it does not, the candidate goes and NAME is
left as it was, serving. Then, in one recorded switch, NAME's container leaves the network
(stopping first when it has volumes, so its app lets go of them), the volumes are mounted
into the candidate, the candidate's eth0 takes NAME's address and MAC in place (its
processes keep running), a gratuitous ARP announces it, and the records move: the
candidate is NAME, the old container NAME-last (stopped, holding no address; a previous
NAME-last is removed). ` + "`fatbox rollback NAME`" + ` swaps back the same way.

A daemon killed at any step finishes the release (once the switch began) or undoes it
(before) at its next start. Every step is in ` + "`fatbox events NAME`" + `.

--check: tcp:PORT (default tcp:22), http:PORT/PATH (2xx or 3xx), or cmd:COMMAND (run by
/bin/sh -c inside the candidate, exit 0), retried until --check-timeout.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRelease(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], image, from, check, timeout, output)
		},
	}
	cmd.Flags().StringVar(&image, "image", "", "the new container's image")
	cmd.Flags().StringVar(&from, "from", "", "a prepared container (same pool) to take the name instead")
	addCheckFlags(cmd, &check, &timeout)
	addOutputFlag(cmd, &output)
	return cmd
}

func addCheckFlags(cmd *cobra.Command, check *string, timeout *time.Duration) {
	cmd.Flags().StringVar(check, "check", "", "health check on the temporary address: tcp:PORT, http:PORT/PATH or cmd:COMMAND (default tcp:22)")
	cmd.Flags().DurationVar(timeout, "check-timeout", 60*time.Second, "how long the health check may take to pass")
}

func runRelease(ctx context.Context, w io.Writer, c *api.Client, name, image, from, check string, timeout time.Duration, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	if (image == "") == (from == "") {
		return fmt.Errorf("release %s: give --image IMAGE (a new container) or --from CONTAINER (a prepared one), one of them", name)
	}
	hc, err := api.ParseCheck(check, timeout)
	if err != nil {
		return err
	}
	res, err := c.ReleaseContainer(ctx, name, api.ReleaseRequest{Image: image, From: from, Check: hc})
	if err != nil {
		return err
	}
	return printRelease(w, output, res)
}

func printRelease(w io.Writer, output string, r api.ReleaseResult) error {
	if output == "json" {
		return writeJSON(w, r)
	}
	if _, err := fmt.Fprintf(w, "%s %s: %s passed its check (%s) on %s in %.1f s\n", r.Kind, r.Name, r.Candidate, r.Check, r.CandidateIP, r.CheckSeconds); err != nil {
		return err
	}
	last := fmt.Sprintf("the old one is %s (stopped, no address)", r.Last)
	if r.Discarded != "" {
		last += fmt.Sprintf("; the previous %s was removed", r.Discarded)
	}
	steps := ""
	if len(r.SwitchSteps) > 0 {
		steps = " (" + strings.Join(r.SwitchSteps, ", ") + ")"
	}
	_, err := fmt.Fprintf(w, "switched in %d ms%s: %s on %s is now the container that was %s (same MAC and host keys); %s\n",
		time.Duration(r.SwitchSeconds*float64(time.Second)).Milliseconds(), steps, r.Name, r.IP, r.Candidate, last)
	return err
}
