package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/inventory"
)

type eventsFlags struct {
	since  string
	follow bool
	output string
}

func newEventsCmd(g *globals) *cobra.Command {
	var f eventsFlags
	cmd := &cobra.Command{
		Use:   "events [NAME] [--since 1h|2026-12-01T00:00:00Z] [-f]",
		Short: "the inventory's event log: created, started, stopped, resized, labels, renamed, removed, with cause and sizes",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return runEvents(ctxOf(cmd), cmd.OutOrStdout(), g.client(), name, f, time.Now())
		},
	}
	cmd.Flags().StringVar(&f.since, "since", "", "only events since a time: a duration back (1h, 30m) or an RFC 3339 time")
	cmd.Flags().BoolVarP(&f.follow, "follow", "f", false, "keep printing new events as they happen")
	addOutputFlag(cmd, &f.output)
	return cmd
}

// parseSince reads --since: a duration back from now, or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: give a duration back (1h, 30m) or an RFC 3339 time (2026-12-01T00:00:00Z)", s)
}

func runEvents(ctx context.Context, w io.Writer, c *api.Client, name string, f eventsFlags, now time.Time) error {
	if err := checkOutput(f.output); err != nil {
		return err
	}
	since, err := parseSince(f.since, now)
	if err != nil {
		return err
	}
	q := api.EventQuery{Name: name, Since: since}
	header := f.output == "table"
	for {
		res, err := c.Events(ctx, q)
		if err != nil {
			if f.follow && ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := printEvents(w, res.Events, f.output, header); err != nil {
			return err
		}
		header = false
		if !f.follow {
			return nil
		}
		q.After, q.Since, q.Wait = res.Last, time.Time{}, 30*time.Second
		if name != "" && len(res.Events) > 0 && res.Events[len(res.Events)-1].Kind == "renamed" {
			q.Name = res.Events[len(res.Events)-1].ContainerID // follow it under its new name
		}
	}
}

func printEvents(w io.Writer, evs []api.Event, output string, header bool) error {
	if output == "json" {
		for _, e := range evs {
			if err := writeJSONLine(w, e); err != nil {
				return err
			}
		}
		return nil
	}
	tw := table(w)
	if header {
		fmt.Fprintln(tw, "SEQ\tTIME\tNAME\tEVENT\tCAUSE\tSTATUS\tCPUS\tMEMORY\tDISK\tDETAIL")
	}
	for _, e := range evs {
		cause := e.Cause
		if e.CauseUID != nil {
			cause = fmt.Sprintf("%s uid %d", e.Cause, *e.CauseUID)
		} else if e.CauseDetail != "" {
			cause += " (" + e.CauseDetail + ")" // e.g. inside (reboot)
		}
		var detail []string
		if e.From != "" {
			detail = append(detail, "from "+e.From)
		}
		if e.Step != "" {
			detail = append(detail, e.Step)
		}
		if e.Kind == "labels" {
			detail = append(detail, fmt.Sprintf("owner=%s app=%s env=%s %s", e.Container.Owner, e.Container.App, e.Container.Env, inventory.LabelString(e.Container.Labels)))
		}
		c := e.Container
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%g\t%s\t%s\t%s\n", e.Seq, e.Time.Local().Format("2006-01-02 15:04:05"), e.Name, e.Kind, cause,
			c.Status, c.CPUs, limits.FormatSize(c.MemoryMiB<<20), limits.FormatSize(c.DiskMiB<<20), strings.Join(detail, "; "))
	}
	return tw.Flush()
}
