package cmdbsync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrConflict is matched (errors.Is) by a *ConflictError.
var ErrConflict = errors.New("cmdb unique conflict")

// ConflictError is a value of a unique column that two rows would hold
// (a reused IP on a decommissioned row, say) and the mapping's policy does
// not settle. Nothing is written; the sync retries until it is settled.
type ConflictError struct {
	Table  string
	Column string
	Value  string
	// Rows are the rows that would hold it: the key and what it is.
	Rows []ConflictRow
	Fix  string
}

// ConflictRow is one side of a conflict.
type ConflictRow struct {
	Key  string `json:"key"`
	What string `json:"what"`
}

func (e *ConflictError) Error() string {
	var parts []string
	for _, r := range e.Rows {
		parts = append(parts, fmt.Sprintf("%s (%s)", r.Key, r.What))
	}
	return fmt.Sprintf("cmdb table %s: unique column %s: value %q would be held by rows %s: nothing written; fix: %s",
		e.Table, e.Column, e.Value, strings.Join(parts, " and "), e.Fix)
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

const (
	rowInsert = iota
	rowUpdate
	rowDecommission
)

// rowPlan is one container's row: what it should hold and what it holds.
type rowPlan struct {
	st      *state
	key     string
	want    []cell // by s.outs
	got     []cell // nil: no row
	changed []bool
	kind    int
	repair  bool
	deps    []*rowPlan // rows to write first (they give up a unique value this one takes)
	// released marks columns cleared for another row (not a repair).
	released map[int]bool
}

// repairs reports whether the row differs in a column not released.
func (r *rowPlan) repairs() bool {
	for i, c := range r.changed {
		if c && !r.released[i] {
			return true
		}
	}
	return false
}

func (r *rowPlan) writes() bool {
	if r.got == nil {
		return true
	}
	for _, c := range r.changed {
		if c {
			return true
		}
	}
	return false
}

// release clears a unique column on a row before the rows are written.
type release struct {
	key    string
	out    int
	value  cell
	forKey string
	inPlan bool // the row is in the plan: its write clears it
}

type planned struct {
	rows      []*rowPlan // that write, in the order of their last event
	releases  []release
	unchanged int
}

// want is the row a container's state asks for, cast to the columns.
func (s *Syncer) want(st *state) ([]cell, error) {
	out := make([]cell, len(s.outs))
	for i, o := range s.outs {
		var v value
		switch {
		case o.timeCol:
			if st.removed {
				v = vtime(st.removedAt)
			}
		case o.dec && st.removed:
			v = vstr(s.m.Decommission.Value)
		default:
			v = o.col.eval(st)
		}
		c, err := o.ci.cast(v)
		if err != nil {
			return nil, fmt.Errorf("cmdb table %s: container %s (id %s, row %s=%s): %v: widen the column, or change the mapping (format, map, round) so the value fits; nothing written",
				s.m.Table, st.rec.Name, st.id, s.m.Key.Column, s.key(st.id), err)
		}
		out[i] = c
	}
	return out, nil
}

// decommissioned reports whether a row's cells say it is decommissioned.
func (s *Syncer) decommissioned(got []cell) bool {
	for i, o := range s.outs {
		switch {
		case o.timeCol && !got[i].null:
			return true
		case o.dec && !got[i].null:
			if want, err := o.ci.cast(vstr(s.m.Decommission.Value)); err == nil && o.ci.same(want, got[i]) {
				return true
			}
		}
	}
	return false
}

func (s *Syncer) selectCols() string {
	cols := make([]string, 0, len(s.outs)+1)
	cols = append(cols, quote(s.keyCol.Name))
	for _, o := range s.outs {
		cols = append(cols, quote(o.ci.Name))
	}
	return strings.Join(cols, ", ")
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

const inChunk = 1000

// readRows reads the rows of keys.
func (s *Syncer) readRows(ctx context.Context, q querier, keys []string) (map[string][]cell, error) {
	out := make(map[string][]cell, len(keys))
	for start := 0; start < len(keys); start += inChunk {
		part := keys[start:min(start+inChunk, len(keys))]
		args := make([]any, len(part))
		for i, k := range part {
			args[i] = k
		}
		rows, err := q.QueryContext(ctx, "SELECT "+s.selectCols()+" FROM "+quote(s.table.Name)+" WHERE "+quote(s.keyCol.Name)+" IN ("+placeholders(len(part))+")", args...)
		if err != nil {
			return nil, s.dbErr("read rows", err)
		}
		raw := make([]any, len(s.outs)+1)
		ptrs := make([]any, len(raw))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, s.dbErr("read rows", err)
			}
			key := s.keyCol.readCell(raw[0]).text
			cells := make([]cell, len(s.outs))
			for i, o := range s.outs {
				cells[i] = o.ci.readCell(raw[i+1])
			}
			out[key] = cells
		}
		if err := rows.Close(); err != nil {
			return nil, s.dbErr("read rows", err)
		}
		if err := rows.Err(); err != nil {
			return nil, s.dbErr("read rows", err)
		}
	}
	return out, nil
}

// readAll reads every row whose key has the key format's prefix and
// suffix (all rows when the format is "%s"), in one query: a full
// reconcile's read.
func (s *Syncer) readAll(ctx context.Context, q querier) (map[string][]cell, error) {
	query := "SELECT " + s.selectCols() + " FROM " + quote(s.table.Name)
	var args []any
	if s.pre != "" || s.suf != "" {
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
		query += " WHERE " + quote(s.keyCol.Name) + " LIKE ?"
		args = append(args, esc.Replace(s.pre)+"%"+esc.Replace(s.suf))
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.dbErr("read rows", err)
	}
	defer rows.Close()
	out := map[string][]cell{}
	raw := make([]any, len(s.outs)+1)
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, s.dbErr("read rows", err)
		}
		cells := make([]cell, len(s.outs))
		for i, o := range s.outs {
			cells[i] = o.ci.readCell(raw[i+1])
		}
		out[s.keyCol.readCell(raw[0]).text] = cells
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr("read rows", err)
	}
	return out, nil
}

// plan works out the writes that make the rows of states true. pending
// (a full reconcile; nil for an incremental pass) names the containers with
// events after the position: their differences are not repairs. got, if
// not nil, holds the rows already read (readAll).
func (s *Syncer) plan(ctx context.Context, q querier, states []*state, pending map[string]bool, known map[string]*state, got map[string][]cell) (*planned, error) {
	full := pending != nil
	rows := make([]*rowPlan, 0, len(states))
	keys := make([]string, 0, len(states))
	knownKeys := make(map[string]bool, len(states)+len(known))
	for id := range known {
		knownKeys[s.key(id)] = true
	}
	for _, st := range states {
		w, err := s.want(st)
		if err != nil {
			return nil, err
		}
		rp := &rowPlan{st: st, key: s.key(st.id), want: w}
		rows = append(rows, rp)
		keys = append(keys, rp.key)
		knownKeys[rp.key] = true
	}
	if got == nil {
		var err error
		if got, err = s.readRows(ctx, q, keys); err != nil {
			return nil, err
		}
	}
	for _, rp := range rows {
		rp.got = got[rp.key]
		s.diff(rp)
	}
	pl := &planned{}
	if err := s.resolveUnique(ctx, q, rows, knownKeys, pl); err != nil {
		return nil, err
	}
	for _, rp := range rows {
		if !rp.writes() {
			pl.unchanged++
			continue
		}
		switch {
		case rp.got == nil:
			rp.kind = rowInsert
		case rp.st.removed && !s.decommissioned(rp.got):
			rp.kind = rowDecommission
		default:
			rp.kind = rowUpdate
		}
		rp.repair = full && rp.got != nil && !pending[rp.st.id] && rp.repairs()
		pl.rows = append(pl.rows, rp)
	}
	return pl, nil
}

// diff marks the columns whose row value differs from the wanted one. A
// unique value released on a decommissioned row is not given back to it.
func (s *Syncer) diff(rp *rowPlan) {
	rp.changed = make([]bool, len(s.outs))
	for i, o := range s.outs {
		switch {
		case rp.got == nil:
			rp.changed[i] = true
		case rp.st.removed && o.unique && s.m.OnUniqueConflict == PolicyReleaseDecommissioned && rp.got[i].null:
		default:
			rp.changed[i] = !o.ci.same(rp.want[i], rp.got[i])
		}
	}
}

type holder struct {
	key            string
	decommissioned bool
}

// resolveUnique finds the values of unique columns that two rows would
// hold once the plan is written, and settles each by the mapping's policy:
// a decommissioned fatbox row gives the value up (release_decommissioned),
// anything else is a *ConflictError. It also orders writes so that a row
// giving a value up is written before the row taking it.
func (s *Syncer) resolveUnique(ctx context.Context, q querier, rows []*rowPlan, known map[string]bool, pl *planned) error {
	releasing := s.m.OnUniqueConflict == PolicyReleaseDecommissioned
	byKey := make(map[string]*rowPlan, len(rows))
	for _, rp := range rows {
		byKey[rp.key] = rp
	}
	for ui, o := range s.outs {
		if !o.unique {
			continue
		}
		claims := map[string][]*rowPlan{}
		var vals []string
		for _, rp := range rows {
			if w := rp.want[ui]; !w.null && (rp.got == nil || rp.changed[ui]) {
				if claims[w.text] == nil {
					vals = append(vals, w.text)
				}
				claims[w.text] = append(claims[w.text], rp)
			}
		}
		if len(vals) == 0 {
			continue
		}
		holders, err := s.holders(ctx, q, o, vals)
		if err != nil {
			return err
		}
		sort.Strings(vals)
		for _, v := range vals {
			type party struct {
				key       string
				rp        *rowPlan
				yieldable bool
				what      string
			}
			var parties []party
			for _, rp := range claims[v] {
				what := "container " + rp.st.rec.Name
				if rp.st.removed {
					what = "removed container " + rp.st.rec.Name + ", decommissioned"
				}
				parties = append(parties, party{rp.key, rp, releasing && rp.st.removed, what})
			}
			for _, h := range holders[v] {
				rp := byKey[h.key]
				switch {
				case rp != nil && rp.got != nil && rp.changed[ui]:
					// It moves off the value: write it first.
					for _, c := range claims[v] {
						if c != rp {
							c.deps = append(c.deps, rp)
						}
					}
					continue
				case rp != nil && (rp.got == nil || rp.changed[ui]):
					continue // a claimer already
				case rp != nil:
					what := "container " + rp.st.rec.Name
					if rp.st.removed {
						what = "removed container " + rp.st.rec.Name + ", decommissioned"
					}
					parties = append(parties, party{rp.key, rp, releasing && rp.st.removed, what})
				default:
					fb := s.fatboxKey(h.key, known)
					what := "not a fatbox row: never touched"
					switch {
					case fb && h.decommissioned:
						what = "a decommissioned fatbox row"
					case fb:
						what = "a fatbox row that is not decommissioned"
					}
					parties = append(parties, party{h.key, nil, releasing && fb && h.decommissioned, what})
				}
			}
			if len(parties) <= 1 {
				continue
			}
			var live []party
			for _, p := range parties {
				if !p.yieldable {
					live = append(live, p)
				}
			}
			if len(live) > 1 || !releasing {
				ce := &ConflictError{Table: s.m.Table, Column: o.ci.Name, Value: v}
				for _, p := range parties {
					ce.Rows = append(ce.Rows, ConflictRow{Key: p.key, What: p.what})
				}
				other := parties[len(parties)-1]
				switch {
				case !releasing && other.rp == nil && strings.HasPrefix(other.what, "a decommissioned"):
					ce.Fix = fmt.Sprintf("set on_unique_conflict: release_decommissioned in the mapping (the decommissioned row's %s is cleared), or clear it by hand: UPDATE %s SET %s = NULL WHERE %s = %s",
						o.ci.Name, quote(s.m.Table), quote(o.ci.Name), quote(s.m.Key.Column), sqlString(other.key))
				case !releasing:
					ce.Fix = "set on_unique_conflict: release_decommissioned in the mapping if the other row is a decommissioned fatbox row; otherwise fix the other row's " + o.ci.Name + " or the container's"
				default:
					ce.Fix = "only a decommissioned fatbox row gives a value up: fix the other row's " + o.ci.Name + " (or the container's) by hand"
				}
				return ce
			}
			keep := live
			if len(keep) == 0 {
				// All are removed containers: the one removed last keeps it.
				best := parties[0]
				for _, p := range parties[1:] {
					if p.rp != nil && (best.rp == nil || p.rp.st.seq > best.rp.st.seq) {
						best = p
					}
				}
				keep = []party{best}
			}
			for _, p := range parties {
				if p.key == keep[0].key {
					continue
				}
				pl.releases = append(pl.releases, release{key: p.key, out: ui, value: cell{text: v, arg: v}, forKey: keep[0].key, inPlan: p.rp != nil})
				if p.rp == nil {
					continue // released before every row write
				}
				if p.rp.got != nil && !p.rp.got[ui].null {
					// It holds the value now: its write (clearing it)
					// goes before the claimers'.
					for _, c := range claims[v] {
						if c != p.rp {
							c.deps = append(c.deps, p.rp)
						}
					}
				}
				if p.rp.released == nil {
					p.rp.released = map[int]bool{}
				}
				p.rp.released[ui] = true
				p.rp.want[ui] = nullCell
				p.rp.changed[ui] = p.rp.got == nil || !p.rp.got[ui].null
			}
		}
	}
	return nil
}

// holders reads which rows hold values of unique column o.
func (s *Syncer) holders(ctx context.Context, q querier, o outCol, vals []string) (map[string][]holder, error) {
	out := map[string][]holder{}
	extra := ""
	var decIdx, timeIdx = -1, -1
	n := 2
	for i, x := range s.outs {
		if x.dec || x.timeCol {
			extra += ", " + quote(x.ci.Name)
			if x.dec {
				decIdx = i
			} else {
				timeIdx = i
			}
			n++
		}
	}
	for start := 0; start < len(vals); start += inChunk {
		part := vals[start:min(start+inChunk, len(vals))]
		args := make([]any, len(part))
		for i, v := range part {
			args[i] = v
		}
		rows, err := q.QueryContext(ctx, "SELECT "+quote(s.keyCol.Name)+", "+quote(o.ci.Name)+extra+" FROM "+quote(s.table.Name)+
			" WHERE "+quote(o.ci.Name)+" IN ("+placeholders(len(part))+")", args...)
		if err != nil {
			return nil, s.dbErr("read unique values", err)
		}
		raw := make([]any, n)
		ptrs := make([]any, n)
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, s.dbErr("read unique values", err)
			}
			got := make([]cell, len(s.outs))
			for i := range got {
				got[i] = nullCell
			}
			j := 2
			for i, x := range s.outs {
				if i == decIdx || i == timeIdx {
					got[i] = x.ci.readCell(raw[j])
					j++
				}
			}
			v := o.ci.readCell(raw[1]).text
			out[v] = append(out[v], holder{key: s.keyCol.readCell(raw[0]).text, decommissioned: s.decommissioned(got)})
		}
		if err := rows.Close(); err != nil {
			return nil, s.dbErr("read unique values", err)
		}
	}
	return out, nil
}

// fill writes the plan's rows into p.
func (pl *planned) fill(p *Plan, s *Syncer) {
	for _, r := range pl.releases {
		p.Releases = append(p.Releases, Release{Key: r.key, Column: s.outs[r.out].ci.Name, Value: r.value.text, For: r.forKey})
	}
	for _, rp := range pl.rows {
		rc := RowChange{Key: rp.key, ContainerID: rp.st.id, Name: rp.st.rec.Name, Repair: rp.repair, Changes: []Change{}}
		if rp.kind == rowInsert {
			rc.Decommissioned = rp.st.removed
			rc.Changes = append(rc.Changes, Change{Column: s.keyCol.Name, Now: &rp.key})
		}
		for i, o := range s.outs {
			if !rp.changed[i] {
				continue
			}
			ch := Change{Column: o.ci.Name, Now: rp.want[i].ptr()}
			if rp.got != nil {
				ch.Was = rp.got[i].ptr()
			}
			rc.Changes = append(rc.Changes, ch)
		}
		switch rp.kind {
		case rowInsert:
			p.Inserts = append(p.Inserts, rc)
		case rowDecommission:
			p.Decommissions = append(p.Decommissions, rc)
		default:
			p.Updates = append(p.Updates, rc)
		}
	}
	p.Unchanged += pl.unchanged
}

// order puts the updates so that each comes after the rows it depends on;
// a cycle (two rows swapping a value) is broken by clearing the value first.
func (s *Syncer) order(pl *planned) ([]*rowPlan, []release, error) {
	var ups []*rowPlan
	for _, rp := range pl.rows {
		if rp.kind != rowInsert {
			ups = append(ups, rp)
		}
	}
	done := map[*rowPlan]bool{}
	var out []*rowPlan
	var vacate []release
	for len(ups) > 0 {
		var blocked []*rowPlan
		for _, rp := range ups {
			ready := true
			for _, d := range rp.deps {
				if d.kind != rowInsert && !done[d] {
					ready = false
				}
			}
			if ready {
				out = append(out, rp)
				done[rp] = true
			} else {
				blocked = append(blocked, rp)
			}
		}
		if len(blocked) == len(ups) {
			// A cycle: clear the unique values the first blocked row's
			// dependencies give up, then their order no longer matters.
			for _, d := range blocked[0].deps {
				for i, o := range s.outs {
					if o.unique && d.changed[i] && d.got != nil && !d.got[i].null {
						if !o.ci.Nullable {
							return nil, nil, fmt.Errorf("cmdb table %s: rows %s and %s swap the value of unique NOT NULL column %s: make it NULL-able, or change one by hand first", s.m.Table, d.key, blocked[0].key, o.ci.Name)
						}
						vacate = append(vacate, release{key: d.key, out: i, value: d.got[i]})
					}
				}
			}
			blocked[0].deps = nil
		}
		ups = blocked
	}
	return out, vacate, nil
}

// apply writes a plan in tx: releases, then updates and decommissions
// (each setting only its changed columns), then inserts, many rows a
// statement.
func (s *Syncer) apply(ctx context.Context, tx *sql.Tx, pl *planned) error {
	table, keyq := quote(s.table.Name), quote(s.keyCol.Name)
	ups, vacate, err := s.order(pl)
	if err != nil {
		return err
	}
	var rels []release
	for _, r := range pl.releases {
		if !r.inPlan {
			rels = append(rels, r)
		}
	}
	for _, r := range append(rels, vacate...) {
		col := quote(s.outs[r.out].ci.Name)
		res, err := tx.ExecContext(ctx, "UPDATE "+table+" SET "+col+" = NULL WHERE "+keyq+" = ? AND "+col+" = ?", r.key, r.value.text)
		if err != nil {
			return s.writeErr("release "+s.outs[r.out].ci.Name+" on row "+r.key, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("cmdb table %s: row %s no longer holds %s %q (another writer changed it meanwhile): the next pass looks again", s.m.Table, r.key, s.outs[r.out].ci.Name, r.value.text)
		}
	}
	stmts := map[string]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	for _, rp := range ups {
		var sig strings.Builder
		var args []any
		for i, c := range rp.changed {
			if c {
				fmt.Fprintf(&sig, "%d,", i)
				args = append(args, rp.want[i].arg)
			}
		}
		if len(args) == 0 {
			continue
		}
		st := stmts[sig.String()]
		if st == nil {
			var set []string
			for i, c := range rp.changed {
				if c {
					set = append(set, quote(s.outs[i].ci.Name)+" = ?")
				}
			}
			if st, err = tx.PrepareContext(ctx, "UPDATE "+table+" SET "+strings.Join(set, ", ")+" WHERE "+keyq+" = ?"); err != nil {
				return s.writeErr("prepare an update", err)
			}
			stmts[sig.String()] = st
		}
		res, err := st.ExecContext(ctx, append(args, rp.key)...)
		if err != nil {
			return s.writeErr("update row "+rp.key+" (container "+rp.st.rec.Name+")", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("cmdb table %s: row %s (container %s) vanished while it was written (another writer deleted it): the next pass inserts it again", s.m.Table, rp.key, rp.st.rec.Name)
		}
	}
	var ins []*rowPlan
	for _, rp := range pl.rows {
		if rp.kind == rowInsert {
			ins = append(ins, rp)
		}
	}
	if len(ins) == 0 {
		return nil
	}
	cols := s.selectCols()
	// Many rows a statement; the statement of a full chunk is prepared
	// once and run for each.
	per := min(500, 60000/(len(s.outs)+1))
	one := "(" + placeholders(len(s.outs)+1) + ")"
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, per*(len(s.outs)+1))
	for start := 0; start < len(ins); start += per {
		part := ins[start:min(start+per, len(ins))]
		args = args[:0]
		for _, rp := range part {
			args = append(args, rp.key)
			for _, c := range rp.want {
				args = append(args, c.arg)
			}
		}
		q := "INSERT INTO " + table + " (" + cols + ") VALUES " + strings.TrimSuffix(strings.Repeat(one+",", len(part)), ",")
		var err error
		switch {
		case len(part) < per:
			_, err = tx.ExecContext(ctx, q, args...)
		case full == nil:
			if full, err = tx.PrepareContext(ctx, q); err == nil {
				_, err = full.ExecContext(ctx, args...)
			}
		default:
			_, err = full.ExecContext(ctx, args...)
		}
		if err != nil {
			return s.writeErr(fmt.Sprintf("insert %d row(s) from %s", len(part), part[0].key), err)
		}
	}
	return nil
}

// writeErr explains a refused write.
func (s *Syncer) writeErr(what string, err error) error {
	me := err
	switch {
	case isMySQL(err, 1062):
		return fmt.Errorf("cmdb table %s: %s: a unique index refused it (%v): another writer took the value meanwhile; the next pass looks again and reports the rows: %w", s.m.Table, what, me, ErrConflict)
	case isMySQL(err, 1054, 1146, 1406, 1264, 1265, 1366, 1364):
		return fmt.Errorf("cmdb table %s: %s: refused (%v): has the table changed? the mapping is checked again before the next pass", s.m.Table, what, me)
	}
	return s.dbErr(what, err)
}
