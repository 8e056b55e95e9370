package cmdbsync

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fatbox/fatbox/inventory"
	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
)

// Config says what a Syncer syncs where.
type Config struct {
	// Source is the inventory. Required.
	Source Source
	// DSN is the target database, a go-sql-driver/mysql DSN that names
	// the database ("user:pass@tcp(cmdb.example:3306)/cmdb"). Required.
	DSN string
	// Mapping says the table and its columns. nil: DefaultMapping, and the
	// default schema is created (Migrate) before the first pass.
	Mapping *Mapping
	// Target names this sync in PositionTable ("": the mapped table), so
	// two mappings into one database keep their own positions.
	Target string
	// Logger gets Run's lines (nil: discarded).
	Logger *slog.Logger
	// BatchSize is the most events one incremental transaction applies
	// (default 1000).
	BatchSize int
	// PollInterval: Run looks for new events this often even when not
	// notified (default 5 s).
	PollInterval time.Duration
	// ReconcileInterval: Run does a full reconcile at start and then this
	// often (default 1 h; negative: only at start).
	ReconcileInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed pass; it
	// doubles with each failure in a row (defaults 1 s and 2 min).
	MinBackoff, MaxBackoff time.Duration
	// AfterCommit, when set, is called right after each transaction that
	// wrote rows and the position commits, with the new position, before
	// the pass goes on or returns. A test hook: a crash test stops the
	// process there (AfterCommitFailpoint makes one from the environment).
	AfterCommit func(seq uint64)
}

// Syncer keeps the CMDB table true to the inventory. Its methods are safe
// to call from several goroutines: passes run one at a time.
type Syncer struct {
	cfg      Config
	m        *Mapping
	src      Source
	db       *sql.DB
	where    string // host:port/database, for messages (never the password)
	log      *slog.Logger
	target   string
	pre, suf string // around the id in a key
	defaults bool   // the default mapping: migrate the default schema

	passMu        sync.Mutex
	migrated      bool
	positionReady bool
	table         *tableInfo // the checked table; nil: check before the next pass
	outs          []outCol
	keyCol        *colInfo
	warnings      []Problem

	mu     sync.Mutex
	status Status
	poke   chan struct{}
}

// outCol is a column the sync writes besides the key.
type outCol struct {
	ci      *colInfo
	col     *Column // nil: the decommission time column
	dec     bool    // Decommission.Column
	timeCol bool    // Decommission.TimeColumn
	unique  bool    // it alone has a unique index
}

// New makes a Syncer; it connects at the first pass.
func New(cfg Config) (*Syncer, error) {
	if cfg.Source == nil {
		return nil, errors.New("cmdbsync: no Source")
	}
	s := &Syncer{cfg: cfg, src: cfg.Source, m: cfg.Mapping, log: cfg.Logger, poke: make(chan struct{}, 1)}
	if s.m == nil {
		s.m, s.defaults = DefaultMapping(), true
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.cfg.BatchSize <= 0 {
		s.cfg.BatchSize = 1000
	}
	if s.cfg.PollInterval <= 0 {
		s.cfg.PollInterval = 5 * time.Second
	}
	if s.cfg.ReconcileInterval == 0 {
		s.cfg.ReconcileInterval = time.Hour
	}
	if s.cfg.MinBackoff <= 0 {
		s.cfg.MinBackoff = time.Second
	}
	if s.cfg.MaxBackoff < s.cfg.MinBackoff {
		s.cfg.MaxBackoff = max(2*time.Minute, s.cfg.MinBackoff)
	}
	s.target = cfg.Target
	if s.target == "" {
		s.target = s.m.Table
	}
	if len(s.target) > 64 {
		return nil, fmt.Errorf("cmdbsync: target name %q is longer than 64 characters", s.target)
	}
	var err error
	if s.pre, s.suf, err = splitFormat(s.m.Key.Format); err != nil {
		return nil, fmt.Errorf("cmdbsync: key format: %w", err)
	}
	if mc, err := mysql.ParseDSN(cfg.DSN); err == nil {
		s.where = mc.Addr + "/" + mc.DBName
	}
	if s.db, err = Open(cfg.DSN); err != nil {
		return nil, err
	}
	s.status = Status{Target: s.target, Table: s.m.Table, Database: s.where}
	return s, nil
}

// Close closes the database connections.
func (s *Syncer) Close() error { return s.db.Close() }

// Mapping is the mapping in use.
func (s *Syncer) Mapping() *Mapping { return s.m }

func (s *Syncer) key(id string) string { return s.pre + id + s.suf }

// fatboxKey reports whether key is one fatbox issues: the key format around
// a fatbox container id (a UUID of version 7, or 5 for records older than
// ids).
func (s *Syncer) fatboxKey(key string, known map[string]bool) bool {
	if known[key] {
		return true
	}
	id, ok := strings.CutPrefix(key, s.pre)
	if !ok {
		return false
	}
	if id, ok = strings.CutSuffix(id, s.suf); !ok {
		return false
	}
	u, err := uuid.Parse(id)
	return err == nil && len(id) == 36 && (u.Version() == 7 || u.Version() == 5)
}

// dbErr says which database an error came from.
func (s *Syncer) dbErr(what string, err error) error {
	if err == nil {
		return nil
	}
	var me *MappingError
	var ce *ConflictError
	if errors.As(err, &me) || errors.As(err, &ce) || errors.Is(err, context.Canceled) {
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) {
		return fmt.Errorf("cmdb %s: %s: cannot reach the database (is it up, and the DSN's address right?): %w", s.where, what, err)
	}
	return fmt.Errorf("cmdb %s: %s: %w", s.where, what, err)
}

// Check connects, prepares the database (the default schema when the
// mapping is the default, PositionTable) and checks the mapping against
// the live table: a *MappingError lists every problem, each with its fix.
// The passes call it themselves; the daemon calls it at start to fail
// early.
func (s *Syncer) Check(ctx context.Context) error {
	s.passMu.Lock()
	defer s.passMu.Unlock()
	s.table = nil
	return s.prepare(ctx, false)
}

func (s *Syncer) prepare(ctx context.Context, dry bool) error {
	if !dry {
		if s.defaults && !s.migrated {
			applied, err := Migrate(ctx, s.db)
			if err != nil {
				return s.dbErr("default schema", err)
			}
			for _, a := range applied {
				s.log.Info("cmdb: default schema migration applied", "migration", a, "database", s.where)
			}
			s.migrated = true
		}
	}
	if s.table != nil {
		return nil
	}
	t, schema, err := loadTable(ctx, s.db, s.m.Table)
	if err != nil {
		return s.dbErr("read table "+s.m.Table, err)
	}
	probs, warns := check(s.m, t, schema)
	if s.defaults && t == nil && dry {
		probs = []Problem{{Problem: fmt.Sprintf("the default schema is not in database %s yet", quote(schema)), Fix: "run the sync once (not dry): it creates " + DefaultTable}}
	}
	if pt, _, err := loadTable(ctx, s.db, PositionTable); err != nil {
		return s.dbErr("read table "+PositionTable, err)
	} else if pt != nil && !pt.TxOK {
		probs = append(probs, Problem{Problem: fmt.Sprintf("%s uses engine %s, which has no transactions: the position and the rows would not commit together", PositionTable, pt.Engine),
			Fix: "ALTER TABLE " + PositionTable + " ENGINE=InnoDB"})
	}
	if len(probs) > 0 {
		s.setStatus(func(st *Status) { st.Checked = false })
		name := quote(schema) + "." + quote(s.m.Table)
		return &MappingError{File: s.m.File, Table: name, Problems: probs}
	}
	// Only a mapping that fits writes anything, this table included.
	if !dry && !s.positionReady {
		if _, err := s.db.ExecContext(ctx, PositionTableDDL); err != nil {
			return s.dbErr("create "+PositionTable+" (or have a DBA run cmdbsync.PositionTableDDL)", err)
		}
		s.positionReady = true
	}
	s.outs = s.outs[:0]
	for i := range s.m.Columns {
		c := &s.m.Columns[i]
		ci := t.col(c.Name)
		s.outs = append(s.outs, outCol{ci: ci, col: c, dec: strings.EqualFold(c.Name, s.m.Decommission.Column), unique: t.uniqueAlone(ci.Name)})
	}
	if tc := s.m.Decommission.TimeColumn; tc != "" {
		ci := t.col(tc)
		s.outs = append(s.outs, outCol{ci: ci, timeCol: true, unique: t.uniqueAlone(ci.Name)})
	}
	s.keyCol = t.col(s.m.Key.Column)
	s.table = t
	s.warnings = warns
	s.setStatus(func(st *Status) { st.Checked = true })
	return nil
}

// Warnings are what the last check found that works but may stop the
// sync one day (a column shorter than a free-text field may be).
func (s *Syncer) Warnings() []Problem {
	s.passMu.Lock()
	defer s.passMu.Unlock()
	return slices.Clone(s.warnings)
}

// position reads the position; for writing, it locks the row (creating it
// at 0), so that two syncers of one target take turns.
func (s *Syncer) position(ctx context.Context, tx *sql.Tx, lock bool) (uint64, error) {
	q := "SELECT seq FROM " + PositionTable + " WHERE target = ?"
	if lock {
		q += " FOR UPDATE"
	}
	var seq uint64
	err := tx.QueryRowContext(ctx, q, s.target).Scan(&seq)
	switch {
	case err == sql.ErrNoRows && lock:
		_, err = tx.ExecContext(ctx, "INSERT INTO "+PositionTable+" (target, seq, updated_at) VALUES (?, 0, UTC_TIMESTAMP(6))", s.target)
		return 0, err
	case err == sql.ErrNoRows:
		return 0, nil
	case err != nil && !lock && isMySQL(err, 1146): // dry run before the first sync: no table yet
		return 0, nil
	}
	return seq, err
}

func (s *Syncer) savePosition(ctx context.Context, tx *sql.Tx, seq uint64) error {
	_, err := tx.ExecContext(ctx, "UPDATE "+PositionTable+" SET seq = ?, updated_at = UTC_TIMESTAMP(6) WHERE target = ?", seq, s.target)
	return err
}

func isMySQL(err error, numbers ...uint16) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	for _, n := range numbers {
		if me.Number == n {
			return true
		}
	}
	return false
}

// fold turns events into each container's newest state, in the order of
// each container's last event.
func fold(evs []inventory.Event) []*state {
	by := map[string]*state{}
	for _, ev := range evs {
		if !ev.Changes() {
			continue
		}
		id := ev.ContainerID
		if id == "" {
			id = ev.Record.ID
		}
		st := by[id]
		if st == nil {
			st = &state{id: id}
			by[id] = st
		}
		st.rec, st.seq, st.changedAt = ev.Record, ev.Seq, ev.Time
		if ev.Kind == inventory.EventRemoved {
			st.removed, st.removedAt = true, ev.Time
		}
	}
	out := make([]*state, 0, len(by))
	for _, st := range by {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// SyncOnce applies the events after the stored position, a transaction per
// batch (rows and the new position commit together), until it has caught
// up with the source. The plan says what it wrote.
func (s *Syncer) SyncOnce(ctx context.Context) (*Plan, error) {
	s.passMu.Lock()
	defer s.passMu.Unlock()
	var all *Plan
	for {
		p, err := s.incremental(ctx)
		if err != nil {
			s.table = nil // check the table again before the next pass
			return all, err
		}
		if all == nil {
			all = p
		} else {
			all.merge(p)
		}
		if p.Events < s.cfg.BatchSize {
			return all, nil
		}
	}
}

func (s *Syncer) newPlan(full, dry bool) *Plan {
	return &Plan{Target: s.target, Table: s.m.Table, KeyColumn: s.m.Key.Column, Full: full, DryRun: dry,
		Inserts: []RowChange{}, Updates: []RowChange{}, Decommissions: []RowChange{}, Releases: []Release{}}
}

func (s *Syncer) incremental(ctx context.Context) (*Plan, error) {
	if err := s.prepare(ctx, false); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.dbErr("begin", err)
	}
	defer tx.Rollback() //nolint:errcheck
	pos, err := s.position(ctx, tx, true)
	if err != nil {
		return nil, s.dbErr("read the position", err)
	}
	p := s.newPlan(false, false)
	p.FromSeq, p.ToSeq = pos, pos
	evs, err := s.src.Events(ctx, pos, s.cfg.BatchSize)
	if err != nil {
		return nil, fmt.Errorf("cmdb: read the inventory's events after %d: %w", pos, err)
	}
	if len(evs) == 0 {
		s.setStatus(func(st *Status) { st.Position = pos })
		return p, nil
	}
	p.Events = len(evs)
	p.ToSeq = evs[len(evs)-1].Seq
	pl, err := s.plan(ctx, tx, fold(evs), nil, nil, nil)
	if err != nil {
		return nil, err
	}
	pl.fill(p, s)
	if err := s.apply(ctx, tx, pl); err != nil {
		return nil, err
	}
	if err := s.savePosition(ctx, tx, p.ToSeq); err != nil {
		return nil, s.dbErr("store the position", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, s.dbErr("commit", err)
	}
	s.committed(p.ToSeq)
	return p, nil
}

// committed notes a commit and calls the AfterCommit hook.
func (s *Syncer) committed(seq uint64) {
	s.setStatus(func(st *Status) { st.Position = seq })
	if s.cfg.AfterCommit != nil {
		s.cfg.AfterCommit(seq)
	}
}

// Reconcile compares every record, and every removed container the event
// log knows, with the rows, and writes what differs: missing rows
// inserted, differing ones updated (each repair of a row the log does not
// explain, e.g. edited by hand, marked in the plan), rows of removed
// containers decommissioned. Rows whose key fatbox never issued are never
// written. The position moves to the newest event read.
func (s *Syncer) Reconcile(ctx context.Context) (*Plan, error) {
	s.passMu.Lock()
	defer s.passMu.Unlock()
	p, err := s.reconcile(ctx, false)
	if err != nil {
		s.table = nil
	}
	return p, err
}

// DryRun is Reconcile that writes nothing (its transaction is read-only):
// the plan lists the exact rows a reconcile would insert, update and
// decommission now.
func (s *Syncer) DryRun(ctx context.Context) (*Plan, error) {
	s.passMu.Lock()
	defer s.passMu.Unlock()
	p, err := s.reconcile(ctx, true)
	if err != nil {
		s.table = nil
	}
	return p, err
}

func (s *Syncer) reconcile(ctx context.Context, dry bool) (*Plan, error) {
	if err := s.prepare(ctx, dry); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: dry})
	if err != nil {
		return nil, s.dbErr("begin", err)
	}
	defer tx.Rollback() //nolint:errcheck
	pos, err := s.position(ctx, tx, !dry)
	if err != nil {
		return nil, s.dbErr("read the position", err)
	}
	// Records and events are read at once; for each container the newer
	// of its record and its last event's record is used, so every state is
	// at least as new as the newest event read, and moving the position
	// there skips nothing.
	// The rows are read meanwhile (the transaction is used by that
	// goroutine alone until Wait).
	var recs []inventory.Record
	var got map[string][]cell
	var listErr, rowsErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); recs, listErr = s.src.List(ctx) }()
	go func() { defer wg.Done(); got, rowsErr = s.readAll(ctx, tx) }()
	evs, err := s.src.Events(ctx, 0, 0)
	wg.Wait()
	if err != nil {
		return nil, fmt.Errorf("cmdb: read the inventory's events: %w", err)
	}
	if listErr != nil {
		return nil, fmt.Errorf("cmdb: read the inventory: %w", listErr)
	}
	if rowsErr != nil {
		return nil, rowsErr
	}
	newest := pos
	if len(evs) > 0 {
		newest = max(pos, evs[len(evs)-1].Seq)
	}
	byID := map[string]*state{}
	pending := map[string]bool{} // containers with events the rows have not seen yet
	for _, st := range fold(evs) {
		byID[st.id] = st
	}
	for _, ev := range evs {
		if ev.Seq > pos && ev.Changes() {
			pending[ev.ContainerID] = true
		}
	}
	var states []*state
	live := map[string]bool{}
	for _, r := range recs {
		es := byID[r.ID]
		if es != nil && es.removed {
			continue // removed since the list was read: removal is final
		}
		switch r.Status {
		case inventory.StatusCreating, inventory.StatusStopping, inventory.StatusRemoving:
			// Under way (or, creating, not a VM until its first boot): the
			// row keeps the last state the log has until the change's
			// event.
			if es == nil {
				continue
			}
			live[r.ID] = true
			states = append(states, es)
			continue
		}
		st := &state{id: r.ID, rec: r, changedAt: r.UpdatedAt}
		if es != nil {
			st.changedAt, st.seq = es.changedAt, es.seq
			if es.rec.UpdatedAt.After(r.UpdatedAt) {
				st.rec = es.rec // the list was read before this event
			}
		}
		live[r.ID] = true
		states = append(states, st)
	}
	for id, es := range byID {
		if es.removed && !live[id] {
			states = append(states, es)
		}
	}
	sort.Slice(states, func(i, j int) bool {
		if states[i].seq != states[j].seq {
			return states[i].seq < states[j].seq
		}
		return states[i].id < states[j].id
	})
	p := s.newPlan(true, dry)
	p.FromSeq, p.ToSeq, p.Events = pos, newest, len(evs)
	pl, err := s.plan(ctx, tx, states, pending, byID, got)
	if err != nil {
		return nil, err
	}
	pl.fill(p, s)
	if dry {
		return p, nil
	}
	if err := s.apply(ctx, tx, pl); err != nil {
		return nil, err
	}
	if err := s.savePosition(ctx, tx, newest); err != nil {
		return nil, s.dbErr("store the position", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, s.dbErr("commit", err)
	}
	s.committed(newest)
	return p, nil
}
