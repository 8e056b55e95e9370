package cmdbsync

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Status is the sync's state, for `fatbox status`.
type Status struct {
	Target   string `json:"target"`
	Table    string `json:"table"`
	Database string `json:"database"` // host:port/database
	// Running: Run is looping.
	Running bool `json:"running"`
	// Connected: the last talk with the database worked.
	Connected bool `json:"connected"`
	// Checked: the mapping was found to fit the table.
	Checked bool `json:"checked"`
	// Position is the last event applied to the rows; SourceSeq the
	// inventory's newest event when last looked; Lag the difference.
	Position  uint64 `json:"position"`
	SourceSeq uint64 `json:"source_seq"`
	Lag       uint64 `json:"lag"`
	// LastSuccess is the end of the last pass that worked.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// LastError is the last failed pass's error (kept after a success;
	// Failures says whether it is current).
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Failures is the count of failed passes in a row (0: healthy).
	Failures int `json:"failures"`
	// NextRetry is when Run tries again after a failure.
	NextRetry time.Time `json:"next_retry,omitzero"`
	// LastReconcile is the end of the last full reconcile; its rows
	// written and, among them, repairs of rows the log did not explain.
	LastReconcile        time.Time `json:"last_reconcile,omitzero"`
	LastReconcileWrites  int       `json:"last_reconcile_writes"`
	LastReconcileRepairs int       `json:"last_reconcile_repairs"`
}

// Status returns the sync's state now.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Lag = 0
	if st.SourceSeq > st.Position {
		st.Lag = st.SourceSeq - st.Position
	}
	return st
}

func (s *Syncer) setStatus(f func(*Status)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.status)
}

// Notify tells Run that the inventory changed: it runs an incremental pass
// soon (several notifications before it gets to it make one pass). It
// never blocks; the daemon calls it after each write.
func (s *Syncer) Notify() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// backoff is the wait after the n-th failure in a row: lo doubling up to
// hi, give or take a tenth so that hosts spread out. The CMDB and billing
// loops share it.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	if tenth := int64(d / 10); tenth > 0 {
		d += time.Duration(rand.Int64N(2*tenth+1) - tenth)
	}
	return d
}

// Run syncs until ctx ends: a full reconcile at start and every
// ReconcileInterval, an incremental pass when notified or every
// PollInterval. A failed pass (the database down, a write refused, a
// mapping that no longer fits) is retried with backoff; nothing is lost,
// because the position moves only with the rows. Run logs what it writes
// and every repair; Status tells how it goes. It returns nil when ctx
// ends.
func (s *Syncer) Run(ctx context.Context) error {
	s.setStatus(func(st *Status) { st.Running = true })
	defer s.setStatus(func(st *Status) { st.Running = false; st.NextRetry = time.Time{} })
	poll := time.NewTicker(s.cfg.PollInterval)
	defer poll.Stop()
	full := true
	var nextFull time.Time
	failures := 0
	for {
		err := s.pass(ctx, full)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			failures++
			d := backoff(s.cfg.MinBackoff, s.cfg.MaxBackoff, failures)
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			connected := s.db.PingContext(pctx) == nil
			cancel()
			now := time.Now()
			s.setStatus(func(st *Status) {
				st.Connected, st.LastError, st.LastErrorAt, st.Failures, st.NextRetry = connected, err.Error(), now, failures, now.Add(d)
			})
			s.log.Warn("cmdb sync failed; retrying", "target", s.target, "database", s.where, "error", err, "failures", failures, "retry_in", d.Round(time.Millisecond))
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		if full {
			for _, w := range s.Warnings() {
				s.log.Warn("cmdb mapping: "+w.String(), "target", s.target)
			}
		}
		if failures > 0 {
			s.log.Info("cmdb sync works again", "target", s.target, "database", s.where, "after_failures", failures)
		}
		failures = 0
		s.setStatus(func(st *Status) { st.Failures, st.NextRetry = 0, time.Time{} })
		if full {
			full = false
			if s.cfg.ReconcileInterval > 0 {
				nextFull = time.Now().Add(s.cfg.ReconcileInterval)
			}
		}
		var fullC <-chan time.Time
		var ft *time.Timer
		if !nextFull.IsZero() {
			ft = time.NewTimer(time.Until(nextFull))
			fullC = ft.C
		}
		select {
		case <-ctx.Done():
		case <-s.poke:
		case <-poll.C:
		case <-fullC:
			full = true
		}
		if ft != nil {
			ft.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// pass is one round of Run: a full reconcile if due, then events.
func (s *Syncer) pass(ctx context.Context, full bool) error {
	seq, err := s.src.LastSeq(ctx)
	if err != nil {
		return errors.New("cmdb: read the inventory's newest event: " + err.Error())
	}
	s.setStatus(func(st *Status) { st.SourceSeq = seq })
	if full {
		p, err := s.Reconcile(ctx)
		if err != nil {
			return err
		}
		s.logPlan(p)
		now := time.Now()
		s.setStatus(func(st *Status) {
			st.LastReconcile, st.LastReconcileWrites, st.LastReconcileRepairs = now, len(p.Inserts)+len(p.Updates)+len(p.Decommissions), len(p.Repairs())
		})
	}
	p, err := s.SyncOnce(ctx)
	if err != nil {
		return err
	}
	s.logPlan(p)
	now := time.Now()
	s.setStatus(func(st *Status) {
		st.LastSuccess, st.Connected = now, true
		st.SourceSeq = max(st.SourceSeq, st.Position)
	})
	return nil
}

// logPlan logs a pass's writes: a line for the pass, one per repaired
// column and per released value.
func (s *Syncer) logPlan(p *Plan) {
	if p == nil || p.Empty() {
		return
	}
	kind := "incremental"
	if p.Full {
		kind = "full reconcile"
	}
	s.log.Info("cmdb sync wrote rows", "pass", kind, "target", s.target, "from_seq", p.FromSeq, "to_seq", p.ToSeq,
		"inserted", len(p.Inserts), "updated", len(p.Updates), "decommissioned", len(p.Decommissions), "released", len(p.Releases),
		"repaired", len(p.Repairs()), "unchanged", p.Unchanged)
	for _, r := range p.Repairs() {
		for _, c := range r.Changes {
			s.log.Warn("cmdb row repaired: it differed from the inventory (edited by hand?)", "target", s.target, "key", r.Key,
				"container", r.Name, "column", c.Column, "was", show(c.Was), "now", show(c.Now))
		}
	}
	for _, r := range p.Releases {
		s.log.Info("cmdb unique value released on a decommissioned row", "target", s.target, "key", r.Key, "column", r.Column, "value", r.Value, "for", r.For)
	}
}
