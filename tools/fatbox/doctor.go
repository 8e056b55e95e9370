package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

func newDoctorCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "doctor NAME",
		Short: "check that a running container looks like the VM it stands for, with the fix of each failure",
		Long: `doctor runs a VM-parity checklist on a running container, on the host (runc, lxcfs,
the veth, the lease) and inside it (hostname and /etc/hosts, the address on eth0, the
default route and the gateway, free/nproc/cpuinfo/df/uptime against its limits, lxcfs's
views, sshd/cron/syslog running and answering, host keys against those fatbox keeps,
clock and time zone, ulimits, DNS settings, the systemctl shim), and prints each check
with what it found and, for a failure, the command that mends it.

It changes nothing. It exits 0 when every check passed and 1 when one failed (also with
-o json), so a script or a monitoring probe can run it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDoctor(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], output)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func runDoctor(ctx context.Context, w io.Writer, c *api.Client, name, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	rep, err := c.Doctor(ctx, name)
	if err != nil {
		return err
	}
	if output == "json" {
		err = writeJSON(w, rep)
	} else {
		err = printDoctor(w, rep)
	}
	if err != nil {
		return err
	}
	if !rep.OK {
		return exitCode(1) // the report said it all
	}
	return nil
}

// printDoctor writes CHECK RESULT DETAIL FIX, then a line that counts the
// failures.
func printDoctor(w io.Writer, rep api.DoctorReport) error {
	tw := table(w)
	fmt.Fprintln(tw, "CHECK\tRESULT\tDETAIL\tFIX")
	failed := 0
	for _, c := range rep.Checks {
		result, fix := "ok", "-"
		if !c.OK {
			result, fix = "FAIL", c.Fix
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Check, result, oneLine(c.Detail), oneLine(fix))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed == 0 {
		_, err := fmt.Fprintf(w, "%s: all %d checks passed\n", rep.Name, len(rep.Checks))
		return err
	}
	_, err := fmt.Fprintf(w, "%s: %d of %d checks failed\n", rep.Name, failed, len(rep.Checks))
	return err
}

// oneLine keeps a table row on one line whatever a detail holds, without
// control or format runes (the daemon cleans what comes from inside a
// container; an older one may not).
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
	if s = strings.Join(strings.Fields(s), " "); s == "" {
		return "-"
	}
	return s
}
