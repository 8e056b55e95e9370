package cmdbsync

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fatbox/fatbox/inventory"
	"github.com/go-sql-driver/mysql"
)

// The billing writer: ComputeBilling's rows into a MySQL/MariaDB table,
// exactly once per container-period.
//
//   - A period is billed only once it has ended plus Grace (the last
//     sample of a period may be written a little after its end).
//   - The watermark (BillingWatermarkTable: the end of the last period
//     billed, per target) is read under a row lock and moved in the
//     transaction that inserts the period's rows, so a crash before the
//     commit bills nothing and one after it has billed the period and moved
//     the watermark: restarting neither repeats nor skips a period. The
//     table's primary key (container_id, period_start) refuses a duplicate
//     should anything else go wrong; plain INSERTs, never upserts.
//   - Two writers of one target (two daemons on a shared store) serialise
//     on the watermark row: the second sees it moved and goes on from there.
//   - Missed periods (the database or the daemon down) are billed in order
//     when it comes back; the figures come from the store, not from memory.
//   - The clock: a clock stepped back bills nothing until the time catches
//     up; stepped forward, it bills the periods that have then ended.
//   - The period length is kept with the watermark: a configuration that
//     changes it is refused until the operator says how (see BillOnce).

// Billing tables and defaults.
const (
	BillingTable          = "fatbox_billing"
	BillingWatermarkTable = "fatbox_billing_watermark"
	// BillingFailpointEnv is the crash-test hook's variable for the billing
	// loop (see BillingAfterCommitFailpoint); the marker file is
	// FailpointMarkEnv's.
	BillingFailpointEnv = "FATBOX_BILLING_FAILPOINT"
)

//go:embed billing_schema/*.sql
var billingSchemaFS embed.FS

// MigrateBilling brings the billing tables up to date in db's database
// and returns the migrations it applied (versioned like Migrate's).
func MigrateBilling(ctx context.Context, db *sql.DB) ([]string, error) {
	return migrate(ctx, db, billingSchemaFS, "billing_schema")
}

// BillingAfterCommitFailpoint is AfterCommitFailpoint for the billing loop
// (BillingFailpointEnv): the hook gets the billed period's start (Unix
// seconds), so "after-commit:N" stops at the first commit of a period
// starting at N or later.
func BillingAfterCommitFailpoint(spec, mark string, log *slog.Logger) (func(periodStart uint64), error) {
	return afterCommitFailpoint(BillingFailpointEnv, "billing", spec, mark, log)
}

// BillingSource is what billing reads: the event log and the period
// snapshots. *inventory.Inventory is one.
type BillingSource interface {
	Events(ctx context.Context, after uint64, limit int) ([]inventory.Event, error)
	UsagePeriods(ctx context.Context) (map[string][]inventory.PeriodSnapshot, error)
}

var _ BillingSource = (*inventory.Inventory)(nil)

// BillingConfig configures a Biller.
type BillingConfig struct {
	Source BillingSource
	// DSN is the billing database (a go-sql-driver/mysql DSN naming it).
	DSN string
	// Target names this writer's watermark (default "fatbox_billing").
	Target string
	// Mapping, when set, writes the rows into an existing table of the
	// database instead of fatbox_billing (LoadBillingMapping; the
	// watermark stays in fatbox_billing_watermark). It is checked against
	// the table before anything is written; one that does not fit is a
	// *MappingError with every problem, and nothing is billed.
	Mapping *Mapping
	Rules   BillingRules
	// Grace is how long after a period's end it is billed (default 2 min;
	// at most the period).
	Grace time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Start: with no watermark yet, billing begins at the period of the
	// first event (all of the log's history), or at Start's period if that
	// is later (to switch billing on without back-billing the past).
	Start time.Time
	// PollInterval: how often Run looks for a period to bill (default
	// a tenth of the period, between 1 s and 30 s).
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound Run's wait after a failure
	// (defaults 1 s and 2 min).
	MinBackoff, MaxBackoff time.Duration
	// AfterCommit, when set, is called right after each commit with the
	// last billed period's start (Unix seconds): a crash-test hook.
	AfterCommit func(periodStart uint64)
	Logger      *slog.Logger
}

// BillingStatus is the billing loop's state, for `fatbox status`.
type BillingStatus struct {
	Target        string `json:"target"`
	Database      string `json:"database"`
	PeriodSeconds int64  `json:"period_seconds"`
	Running       bool   `json:"running"`
	Connected     bool   `json:"connected"`
	// BilledUntil is the watermark: every period before it is billed.
	BilledUntil time.Time `json:"billed_until,omitzero"`
	// Due is how many ended periods wait to be billed (when last looked).
	Due int `json:"due"`
	// Rows is how many rows this process wrote.
	Rows        int       `json:"rows"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Failures    int       `json:"failures"`
	NextRetry   time.Time `json:"next_retry,omitzero"`
}

// Biller writes billing rows.
type Biller struct {
	cfg    BillingConfig
	db     *sql.DB
	where  string
	log    *slog.Logger
	passMu sync.Mutex // one BillOnce at a time

	mu       sync.Mutex
	status   BillingStatus
	migrated bool
	table    *tableInfo // the mapping's table, once checked
}

// NewBiller checks cfg and opens the database (it connects when used).
func NewBiller(cfg BillingConfig) (*Biller, error) {
	if cfg.Source == nil {
		return nil, errors.New("billing: no Source")
	}
	if cfg.Mapping != nil && !cfg.Mapping.billing {
		return nil, errors.New("billing: the Mapping is a CMDB mapping: read it with LoadBillingMapping")
	}
	cfg.Rules = cfg.Rules.withDefaults()
	if cfg.Rules.Period%time.Second != 0 {
		return nil, fmt.Errorf("billing: period %v: give whole seconds (e.g. 1h, 15m)", cfg.Rules.Period)
	}
	if cfg.Target == "" {
		cfg.Target = BillingTable
	}
	if len(cfg.Target) > 64 {
		return nil, fmt.Errorf("billing: target name %q is longer than 64 characters", cfg.Target)
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 2 * time.Minute
	}
	cfg.Grace = min(cfg.Grace, cfg.Rules.Period)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = min(max(cfg.Rules.Period/10, time.Second), 30*time.Second)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(2*time.Minute, cfg.MinBackoff)
	}
	b := &Biller{cfg: cfg, log: cfg.Logger}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if mc, err := mysql.ParseDSN(cfg.DSN); err == nil {
		b.where = mc.Addr + "/" + mc.DBName
	}
	var err error
	if b.db, err = Open(cfg.DSN); err != nil {
		return nil, fmt.Errorf("billing: %w", err)
	}
	b.status = BillingStatus{Target: cfg.Target, Database: b.where, PeriodSeconds: int64(cfg.Rules.Period / time.Second)}
	return b, nil
}

// Close closes the database connections.
func (b *Biller) Close() error { return b.db.Close() }

// Status returns the loop's state now.
func (b *Biller) Status() BillingStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status
}

func (b *Biller) setStatus(f func(*BillingStatus)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.status)
}

func (b *Biller) dbErr(what string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) {
		return fmt.Errorf("billing %s: %s: cannot reach the database (is it up, and the DSN's address right?): %w", b.where, what, err)
	}
	return fmt.Errorf("billing %s: %s: %w", b.where, what, err)
}

// watermark reads the target's watermark (ok false: none yet); q is the
// database or a transaction (then the row is locked).
func (b *Biller) watermark(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, lock bool) (end time.Time, secs int64, ok bool, err error) {
	query := "SELECT period_end, period_seconds FROM fatbox_billing_watermark WHERE target = ?"
	if lock {
		query += " FOR UPDATE"
	}
	var s string
	err = q.QueryRowContext(ctx, query, b.cfg.Target).Scan(&s, &secs)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, 0, false, nil
	}
	if err != nil {
		return time.Time{}, 0, false, err
	}
	end, err = time.ParseInLocation("2006-01-02 15:04:05", s, time.UTC)
	if err != nil {
		return time.Time{}, 0, false, fmt.Errorf("watermark %q: %w", s, err)
	}
	return end, secs, true, nil
}

// BillOnce bills every period that has ended (plus Grace) since the
// watermark, oldest first, and returns the rows it wrote. With no
// watermark yet it starts at the period of the first event (or of
// BillingConfig.Start, if later). Empty periods
// move the watermark with the next period that has rows (up to 1000 at
// once). A watermark written with another period length is an error: bill
// with the old length until a period boundary both share, or start a new
// target (BillingConfig.Target).
func (b *Biller) BillOnce(ctx context.Context) (n int, err error) {
	b.passMu.Lock()
	defer b.passMu.Unlock()
	defer func() {
		if err != nil {
			b.table = nil // check the mapping again at the next pass: the table may have changed
		}
	}()
	period := b.cfg.Rules.Period
	secs := int64(period / time.Second)
	// A mapping is checked first: one that does not fit writes nothing,
	// the billing tables included.
	if err := b.checkMapping(ctx); err != nil {
		return 0, err
	}
	if !b.migrated {
		applied, err := MigrateBilling(ctx, b.db)
		if err != nil {
			return 0, b.dbErr("billing schema", err)
		}
		for _, m := range applied {
			b.log.Info("billing schema migrated", "migration", m, "database", b.where)
		}
		b.migrated = true
	}
	// The log and the snapshots are read once a period is due (or to find
	// the first period), not at every poll.
	var events []inventory.Event
	var snaps map[string][]inventory.PeriodSnapshot
	loaded := false
	var loadedAt time.Time
	load := func() error {
		if loaded {
			return nil
		}
		loadedAt = b.cfg.Now()
		var err error
		if events, err = b.cfg.Source.Events(ctx, 0, 0); err != nil {
			return fmt.Errorf("billing: read the event log: %w", err)
		}
		if snaps, err = b.cfg.Source.UsagePeriods(ctx); err != nil {
			return fmt.Errorf("billing: read the usage periods: %w", err)
		}
		loaded = true
		return nil
	}
	total := 0
	for {
		now := b.cfg.Now()
		if loaded && loadedAt.Before(now) {
			now = loadedAt // bill only what the data read covers
		}
		w, wsecs, ok, err := b.watermark(ctx, b.db, false)
		if err != nil {
			return total, b.dbErr("read the watermark", err)
		}
		if ok && wsecs != secs {
			return total, fmt.Errorf("billing: target %q was billed in periods of %ds up to %s, and the configuration says %ds: put the period back, or give billing a new target name", b.cfg.Target, wsecs, w.Format(time.RFC3339), secs)
		}
		if !ok {
			if err := load(); err != nil {
				return total, err
			}
			if len(events) == 0 {
				b.setStatus(func(st *BillingStatus) { st.Due = 0 })
				return total, nil
			}
			w = inventory.PeriodStart(events[0].Time, period)
			if s := inventory.PeriodStart(b.cfg.Start, period); !b.cfg.Start.IsZero() && w.Before(s) {
				w = s
			}
		}
		due := 0
		for p := w; !p.Add(period + b.cfg.Grace).After(now); p = p.Add(period) {
			due++
		}
		b.setStatus(func(st *BillingStatus) {
			st.Due, st.Connected = due, true
			if ok {
				st.BilledUntil = w
			}
		})
		if due == 0 {
			return total, nil
		}
		if err := load(); err != nil {
			return total, err
		}
		// The periods of this transaction: up to the first with rows.
		var rows []BillingRow
		end := w
		for n := 0; n < due && n < 1000 && len(rows) == 0; n++ {
			rows = ComputeBilling(events, snaps, end, end.Add(period), b.cfg.Rules)
			end = end.Add(period)
		}
		if err := b.commit(ctx, w, ok, end, rows); err != nil {
			if errors.Is(err, errWatermarkMoved) {
				continue // another writer billed it: go on from there
			}
			return total, err
		}
		total += len(rows)
		b.setStatus(func(st *BillingStatus) { st.Rows += len(rows); st.BilledUntil = end })
		if len(rows) > 0 {
			b.log.Info("billing rows written", "target", b.cfg.Target, "period_start", rows[0].PeriodStart, "rows", len(rows), "billed_until", end)
		}
		if b.cfg.AfterCommit != nil {
			b.cfg.AfterCommit(uint64(end.Add(-period).Unix()))
		}
	}
}

var errWatermarkMoved = errors.New("billing: the watermark moved")

// commit inserts rows and moves the watermark from w (none: !had) to end,
// in one transaction.
func (b *Biller) commit(ctx context.Context, w time.Time, had bool, end time.Time, rows []BillingRow) error {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return b.dbErr("begin", err)
	}
	defer tx.Rollback() //nolint:errcheck
	cur, _, ok, err := b.watermark(ctx, tx, true)
	if err != nil {
		return b.dbErr("lock the watermark", err)
	}
	if ok != had || (ok && !cur.Equal(w)) {
		return errWatermarkMoved
	}
	if b.table != nil {
		if err := b.insertMapped(ctx, tx, rows); err != nil {
			return err
		}
	}
	const cols = 12
	for i := 0; b.table == nil && i < len(rows); i += 100 {
		batch := rows[i:min(i+100, len(rows))]
		var q strings.Builder
		q.WriteString("INSERT INTO fatbox_billing (container_id, period_start, period_end, name, vcpu_hours, memory_gib_hours, disk_gib_hours, cpu_seconds, net_bytes_in, net_bytes_out, late, billed_at) VALUES ")
		args := make([]any, 0, cols*len(batch))
		for j, r := range batch {
			if j > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6))")
			args = append(args, r.ContainerID, sqlTime(r.PeriodStart), sqlTime(r.PeriodEnd), r.Name,
				decimal(r.VCPUHours), decimal(r.MemoryGiBHours), decimal(r.DiskGiBHours), decimal(r.CPUSeconds),
				r.NetBytesIn, r.NetBytesOut, r.Late)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return b.dbErr("insert the rows of "+sqlTime(batch[0].PeriodStart), err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO fatbox_billing_watermark (target, period_end, period_seconds, updated_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6))
ON DUPLICATE KEY UPDATE period_end = VALUES(period_end), period_seconds = VALUES(period_seconds), updated_at = VALUES(updated_at)`,
		b.cfg.Target, sqlTime(end), int64(b.cfg.Rules.Period/time.Second)); err != nil {
		return b.dbErr("move the watermark", err)
	}
	if err := tx.Commit(); err != nil {
		return b.dbErr("commit", err)
	}
	return nil
}

// checkMapping checks the mapping (if any) against its table, once: a
// mapping that does not fit is a *MappingError with every problem.
func (b *Biller) checkMapping(ctx context.Context) error {
	m := b.cfg.Mapping
	if m == nil || b.table != nil {
		return nil
	}
	t, schema, err := loadTable(ctx, b.db, m.Table)
	if err != nil {
		return b.dbErr("read table "+m.Table, err)
	}
	if probs, _ := check(m, t, schema); len(probs) > 0 {
		return &MappingError{File: m.File, Table: quote(schema) + "." + quote(m.Table), Problems: probs, billing: true}
	}
	b.table = t
	return nil
}

// insertMapped inserts rows into the mapping's table: plain INSERTs, so
// a row already there (the same key) is an error, never overwritten.
func (b *Biller) insertMapped(ctx context.Context, tx *sql.Tx, rows []BillingRow) error {
	m, t := b.cfg.Mapping, b.table
	keyCol, periodCol := t.col(m.Key.Column), t.col(m.Key.Period)
	names := []string{quote(keyCol.Name), quote(periodCol.Name)}
	cols := make([]*colInfo, len(m.Columns))
	for i := range m.Columns {
		cols[i] = t.col(m.Columns[i].Name)
		names = append(names, quote(cols[i].Name))
	}
	pre, suf, _ := splitFormat(m.Key.Format)
	billedAt := b.cfg.Now().UTC()
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ") + ")"
	for i := 0; i < len(rows); i += 100 {
		batch := rows[i:min(i+100, len(rows))]
		var q strings.Builder
		q.WriteString("INSERT INTO " + t.qualified() + " (" + strings.Join(names, ", ") + ") VALUES ")
		args := make([]any, 0, len(names)*len(batch))
		for j := range batch {
			r := &batch[j]
			if j > 0 {
				q.WriteString(", ")
			}
			q.WriteString(one)
			st := &state{id: r.ContainerID, bill: r, billedAt: billedAt}
			cells := []struct {
				ci *colInfo
				v  value
			}{{keyCol, vstr(pre + r.ContainerID + suf)}, {periodCol, vtime(r.PeriodStart)}}
			for k := range m.Columns {
				cells = append(cells, struct {
					ci *colInfo
					v  value
				}{cols[k], m.Columns[k].eval(st)})
			}
			for _, c := range cells {
				cl, err := c.ci.cast(c.v)
				if err != nil {
					return fmt.Errorf("billing %s: the row of container %s for %s: %w (nothing written; fix the mapping or the column)", b.where, r.ContainerID, sqlTime(r.PeriodStart), err)
				}
				args = append(args, cl.arg)
			}
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return b.dbErr("insert the rows of "+sqlTime(batch[0].PeriodStart)+" into "+t.Name, err)
		}
	}
	return nil
}

func sqlTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// decimal writes x with 6 decimals, exactly as the table keeps it.
func decimal(x float64) string { return strconv.FormatFloat(x, 'f', 6, 64) }

// Run bills until ctx ends: every PollInterval (and at once) it bills the
// periods that have ended; a failure (the database down) is retried with
// backoff, and the periods missed meanwhile are billed when it works
// again. It returns nil when ctx ends.
func (b *Biller) Run(ctx context.Context) error {
	b.setStatus(func(st *BillingStatus) { st.Running = true })
	defer b.setStatus(func(st *BillingStatus) { st.Running = false; st.NextRetry = time.Time{} })
	failures := 0
	for {
		_, err := b.BillOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := b.cfg.PollInterval
		now := time.Now()
		if err != nil {
			failures++
			wait = backoff(b.cfg.MinBackoff, b.cfg.MaxBackoff, failures)
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			connected := b.db.PingContext(pctx) == nil
			cancel()
			b.setStatus(func(st *BillingStatus) {
				st.Connected, st.LastError, st.LastErrorAt, st.Failures, st.NextRetry = connected, err.Error(), now, failures, now.Add(wait)
			})
			b.log.Warn("billing failed; retrying", "target", b.cfg.Target, "database", b.where, "error", err, "failures", failures, "retry_in", wait.Round(time.Millisecond))
		} else {
			if failures > 0 {
				b.log.Info("billing works again", "target", b.cfg.Target, "database", b.where, "after_failures", failures)
			}
			failures = 0
			b.setStatus(func(st *BillingStatus) { st.Failures, st.NextRetry, st.LastSuccess = 0, time.Time{}, now })
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
