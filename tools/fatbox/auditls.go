package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

type auditLsFlags struct {
	user, container, session, kind, since, output string
	limit                                         int
}

func newAuditLsCmd(g *globals) *cobra.Command {
	var f auditLsFlags
	cmd := &cobra.Command{
		Use:   "ls [--user U] [--container C] [--session S] [--kind K] [--since 1h] [-o json]",
		Short: "list the gateway's audit lines, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAuditLs(ctxOf(cmd), cmd.OutOrStdout(), g.client(), f, time.Now())
		},
	}
	cmd.Flags().StringVar(&f.user, "user", "", "only this gateway user's lines")
	cmd.Flags().StringVar(&f.container, "container", "", "only lines about this container")
	cmd.Flags().StringVar(&f.session, "session", "", "only this session's lines")
	cmd.Flags().StringVar(&f.kind, "kind", "", "only lines of this kind: login, refused, session, exec, file, forward")
	cmd.Flags().StringVar(&f.since, "since", "", "only lines since a time: a duration back (1h, 30m) or an RFC 3339 time")
	cmd.Flags().IntVar(&f.limit, "limit", 0, "at most this many lines, the newest (default 1000)")
	addOutputFlag(cmd, &f.output)
	return cmd
}

var auditKinds = []string{"login", "refused", "session", "exec", "file", "forward"}

func runAuditLs(ctx context.Context, w io.Writer, c *api.Client, f auditLsFlags, now time.Time) error {
	if err := checkOutput(f.output); err != nil {
		return err
	}
	since, err := parseSince(f.since, now)
	if err != nil {
		return err
	}
	if f.kind != "" && !slices.Contains(auditKinds, f.kind) {
		return fmt.Errorf("--kind %q: use one of %s", f.kind, strings.Join(auditKinds, ", "))
	}
	if f.limit < 0 {
		return fmt.Errorf("--limit %d: give a count of lines, 1 or more", f.limit)
	}
	res, err := c.Audit(ctx, api.AuditQuery{User: f.user, Container: f.container, Session: f.session, Kind: f.kind, Since: since, Limit: f.limit})
	if err != nil {
		return err
	}
	if f.output == "json" {
		return writeJSON(w, res)
	}
	if err := printAudit(w, res.Entries, true); err != nil {
		return err
	}
	if res.Skipped > 0 {
		fmt.Fprintf(w, "(%d lines of the log did not parse and were skipped)\n", res.Skipped)
	}
	return nil
}

// printAudit prints entries as a table.
func printAudit(w io.Writer, es []api.AuditEntry, header bool) error {
	tw := table(w)
	if header {
		fmt.Fprintln(tw, "TIME\tKIND\tUSER\tFROM\tCONTAINER\tLOGIN\tSESSION\tDETAIL")
	}
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), e.Kind, dash(e.User), dash(e.From),
			dash(e.Container), dash(e.Login), dash(e.Session), auditDetail(e))
	}
	return tw.Flush()
}

// auditDetail is what an entry says beyond who and where.
func auditDetail(e api.AuditEntry) string {
	var d []string
	if e.Channel != "" && e.Kind != "file" {
		d = append(d, e.Channel)
	}
	if e.Command != "" {
		d = append(d, fmt.Sprintf("%q", e.Command))
	}
	if e.Path != "" {
		d = append(d, e.Direction+" "+e.Path)
	}
	if e.Bytes > 0 || e.Kind == "file" {
		d = append(d, fmt.Sprintf("%d bytes", e.Bytes))
	}
	if !e.End.IsZero() {
		d = append(d, "for "+e.End.Sub(e.Time).Round(time.Millisecond).String())
	}
	if e.Exit != nil {
		d = append(d, fmt.Sprintf("exit %d", *e.Exit))
	}
	if e.Reason != "" {
		d = append(d, e.Reason)
	}
	return strings.Join(d, ", ")
}
