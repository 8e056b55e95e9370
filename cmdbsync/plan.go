package cmdbsync

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Plan is what a pass writes (or, dry, would write): the exact rows it
// inserts, updates and decommissions, with each column's value before and
// after. It prints as text (WriteText) and JSON (its fields' tags).
type Plan struct {
	Target    string `json:"target"`
	Table     string `json:"table"`
	KeyColumn string `json:"key_column"`
	// Full: a full reconcile (every record and removed container against
	// the rows); else an incremental pass over events.
	Full   bool `json:"full"`
	DryRun bool `json:"dry_run"`
	// FromSeq is the position (last event applied) before, ToSeq after.
	FromSeq uint64 `json:"from_seq"`
	ToSeq   uint64 `json:"to_seq"`
	// Events read (an incremental pass).
	Events int `json:"events"`
	// Inserts are new rows (a removed container's row inserted already
	// decommissioned is marked so).
	Inserts []RowChange `json:"inserts"`
	// Updates are rows of existing containers that change; a full
	// reconcile marks Repair the ones the event log does not explain
	// (edited by hand, or changed without an event).
	Updates []RowChange `json:"updates"`
	// Decommissions are rows of removed containers that become
	// decommissioned (never deleted).
	Decommissions []RowChange `json:"decommissions"`
	// Releases are unique values cleared on decommissioned rows for
	// another row (on_unique_conflict: release_decommissioned).
	Releases []Release `json:"releases"`
	// Unchanged rows already held what they should.
	Unchanged int `json:"unchanged"`
}

// RowChange is one row written.
type RowChange struct {
	Key         string `json:"key"`
	ContainerID string `json:"container_id"`
	Name        string `json:"name"`
	// Decommissioned: an insert of a removed container's row.
	Decommissioned bool `json:"decommissioned,omitempty"`
	// Repair: the row differed from what the event log explains.
	Repair bool `json:"repair,omitempty"`
	// Changes are the columns written (an insert: every column, Was nil).
	Changes []Change `json:"changes"`
}

// Change is one column's value before (nil: NULL, or no row) and after
// (nil: NULL), as the column holds it.
type Change struct {
	Column string  `json:"column"`
	Was    *string `json:"was"`
	Now    *string `json:"now"`
}

// Release is a unique value cleared (set NULL) on a decommissioned row so
// that another row can take it.
type Release struct {
	Key    string `json:"key"`
	Column string `json:"column"`
	Value  string `json:"value"`
	For    string `json:"for"`
}

// Empty reports whether the plan writes no row.
func (p *Plan) Empty() bool {
	return len(p.Inserts)+len(p.Updates)+len(p.Decommissions)+len(p.Releases) == 0
}

// Repairs are the updates and decommissions marked Repair.
func (p *Plan) Repairs() []RowChange {
	var out []RowChange
	for _, l := range [][]RowChange{p.Updates, p.Decommissions} {
		for _, r := range l {
			if r.Repair {
				out = append(out, r)
			}
		}
	}
	return out
}

// merge adds q (the next batch) to p.
func (p *Plan) merge(q *Plan) {
	if q == nil {
		return
	}
	p.ToSeq = q.ToSeq
	p.Events += q.Events
	p.Inserts = append(p.Inserts, q.Inserts...)
	p.Updates = append(p.Updates, q.Updates...)
	p.Decommissions = append(p.Decommissions, q.Decommissions...)
	p.Releases = append(p.Releases, q.Releases...)
	p.Unchanged += q.Unchanged
}

func show(s *string) string {
	if s == nil {
		return "NULL"
	}
	if *s == "" || *s == "NULL" || strings.TrimSpace(*s) != *s || strings.ContainsAny(*s, "\t\n\"'=,") || strings.Contains(*s, " -> ") {
		return strconv.Quote(*s)
	}
	return *s
}

// Summary is one line: how many rows of each kind.
func (p *Plan) Summary() string {
	return fmt.Sprintf("%d insert(s), %d update(s), %d decommission(s), %d repair(s) among them, %d release(s), %d unchanged",
		len(p.Inserts), len(p.Updates), len(p.Decommissions), len(p.Repairs()), len(p.Releases), p.Unchanged)
}

// WriteText writes the plan for people: a line per row written.
func (p *Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	kind := "incremental pass"
	if p.Full {
		kind = "full reconcile"
	}
	fmt.Fprintf(&b, "cmdb %s of target %s into %s (key %s), position %d -> %d", kind, p.Target, p.Table, p.KeyColumn, p.FromSeq, p.ToSeq)
	if p.DryRun {
		b.WriteString(" [dry run: nothing written]")
	}
	b.WriteString("\n")
	row := func(verb string, r RowChange) {
		fmt.Fprintf(&b, "%s %s=%s (%s, id %s):", verb, p.KeyColumn, r.Key, r.Name, r.ContainerID)
		for i, c := range r.Changes {
			if i > 0 {
				b.WriteString(",")
			}
			if verb == "insert" {
				fmt.Fprintf(&b, " %s=%s", c.Column, show(c.Now))
			} else {
				fmt.Fprintf(&b, " %s %s -> %s", c.Column, show(c.Was), show(c.Now))
			}
		}
		b.WriteString("\n")
	}
	for _, r := range p.Releases {
		fmt.Fprintf(&b, "release %s=%s: %s %s -> NULL (decommissioned; %s=%s takes it)\n", p.KeyColumn, r.Key, r.Column, show(&r.Value), p.KeyColumn, r.For)
	}
	for _, r := range p.Decommissions {
		verb := "decommission"
		if r.Repair {
			verb = "repair+decommission"
		}
		row(verb, r)
	}
	for _, r := range p.Updates {
		verb := "update"
		if r.Repair {
			verb = "repair"
		}
		row(verb, r)
	}
	for _, r := range p.Inserts {
		if r.Decommissioned {
			b.WriteString("(decommissioned) ")
		}
		row("insert", r)
	}
	b.WriteString(p.Summary() + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func (p *Plan) String() string {
	var b strings.Builder
	_ = p.WriteText(&b)
	return b.String()
}
