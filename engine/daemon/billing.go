package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/fatbox/fatbox/cmdbsync"
	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/inventory"
	"github.com/go-sql-driver/mysql"
)

// BillingConfig is the billing table the daemon writes (config key
// `billing:`): one row per container per period, exactly once (see
// cmdbsync/billing.go and billing_db.go).
type BillingConfig struct {
	// DSN is a go-sql-driver/mysql DSN naming the billing database;
	// DSNFile reads it from a file instead.
	DSN     string `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`
	// Target names the watermark (default "fatbox_billing"): daemons that
	// share a store share it, so each period is billed once in all.
	Target string `yaml:"target"`
	// Period is the billing period (a Go duration; default 1h). The usage
	// snapshots are kept per period of this length too.
	Period string `yaml:"period"`
	// Grace is how long after a period's end it is billed (default 2m,
	// at most the period).
	Grace string `yaml:"grace"`
	// LateGap: a container that ran unsampled for longer has the usage
	// first observed after it flagged late (default 5m).
	LateGap string `yaml:"late_gap"`
	// SampleInterval: extra usage samples of every running container this
	// often, for periods too short for the minute sampler (default: a fifth
	// of the period when that is under a minute).
	SampleInterval string `yaml:"sample_interval"`
	// Start (RFC 3339): when no period was billed yet, bill none before
	// this time's period ("": from the first event in the log).
	Start string `yaml:"start"`
	// Mapping is a billing mapping file: the rows go into an existing
	// table of the billing database, in the CMDB mapping's format with the
	// billing row's fields (see the cmdbsync package documentation,
	// "Billing"). "": fatbox's default table fatbox_billing.
	Mapping string `yaml:"mapping"`
}

// billing is the configured billing loop.
type billing struct {
	rules  cmdbsync.BillingRules
	sample time.Duration // 0: the minute sampler only
	b      *cmdbsync.Biller
}

// newBilling reads the billing config (also without one: the usage
// periods are kept for `fatbox usage`, hourly) and makes the biller (it
// connects in its loop).
func (d *Daemon) newBilling() error {
	d.billing = &billing{rules: cmdbsync.BillingRules{Period: time.Hour}}
	c := d.cfg.Billing
	if c == nil {
		d.inv.UsagePeriod = d.billing.rules.Period
		return nil
	}
	const where = "config: billing"
	period, err := optDuration(where+": period", c.Period)
	if err != nil {
		return err
	}
	if period > 0 {
		if period%time.Second != 0 {
			return fmt.Errorf("%s: period %q: give whole seconds (e.g. 1h)", where, c.Period)
		}
		d.billing.rules.Period = period
	}
	d.inv.UsagePeriod = d.billing.rules.Period
	if d.billing.rules.LateGap, err = optDuration(where+": late_gap", c.LateGap); err != nil {
		return err
	}
	grace, err := optDuration(where+": grace", c.Grace)
	if err != nil {
		return err
	}
	if d.billing.sample, err = optDuration(where+": sample_interval", c.SampleInterval); err != nil {
		return err
	}
	if d.billing.sample == 0 && d.billing.rules.Period/5 < usageInterval {
		d.billing.sample = max(d.billing.rules.Period/5, time.Second)
	}
	dsn, err := readDSN(where, c.DSN, c.DSNFile, "billing")
	if err != nil {
		return err
	}
	var start time.Time
	if c.Start != "" {
		if start, err = time.Parse(time.RFC3339, c.Start); err != nil {
			return fmt.Errorf("%s: start %q: give an RFC 3339 time, e.g. 2026-12-01T00:00:00Z", where, c.Start)
		}
	}
	var m *cmdbsync.Mapping
	if c.Mapping != "" {
		if m, err = cmdbsync.LoadBillingMapping(c.Mapping); err != nil {
			return fmt.Errorf("%s: mapping: %w", where, err)
		}
	}
	hook, err := cmdbsync.BillingAfterCommitFailpoint(os.Getenv(cmdbsync.BillingFailpointEnv), os.Getenv(cmdbsync.FailpointMarkEnv), d.log)
	if err != nil {
		return fmt.Errorf("%s: %w", cmdbsync.BillingFailpointEnv, err)
	}
	_ = mysql.SetLogger(mysqlLog{d.log})
	if d.billing.b, err = cmdbsync.NewBiller(cmdbsync.BillingConfig{Source: d.inv, DSN: dsn, Target: c.Target, Mapping: m, Rules: d.billing.rules,
		Grace: grace, Start: start, AfterCommit: hook, Logger: d.log.With("billing", c.Target)}); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	return nil
}

// runBilling runs the billing loop and the extra sampler until ctx ends.
func (d *Daemon) runBilling(ctx context.Context) {
	if d.billing == nil {
		return
	}
	if iv := d.billing.sample; iv > 0 {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(iv):
				}
				if err := d.engine.SampleUsage(ctx); err != nil && ctx.Err() == nil {
					d.log.Error("sample usage for billing", "error", err)
				}
			}
		}()
	}
	if b := d.billing.b; b != nil {
		go func() {
			if err := b.Run(ctx); err != nil && ctx.Err() == nil {
				d.log.Error("billing loop ended", "error", err)
			}
		}()
	}
}

func (d *Daemon) closeBilling() {
	if d.billing != nil && d.billing.b != nil {
		d.billing.b.Close()
	}
}

func (d *Daemon) billingStatus() *api.BillingStatus {
	if d.billing == nil || d.billing.b == nil {
		return nil
	}
	s := d.billing.b.Status()
	return &api.BillingStatus{Target: s.Target, Database: s.Database, PeriodSeconds: s.PeriodSeconds, Running: s.Running,
		Connected: s.Connected, BilledUntil: s.BilledUntil, Due: s.Due, Rows: s.Rows, LastSuccess: s.LastSuccess,
		LastError: s.LastError, LastErrorAt: s.LastErrorAt, Failures: s.Failures, NextRetry: s.NextRetry}
}

func (d *Daemon) billingRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/usage", d.handleUsage)
}

// handleUsage computes the usage rows of the periods that start in
// [from, to) and have ended (to is cut at the current period's start),
// from the store: the billing table's figures, for reconciling it.
func (d *Daemon) handleUsage(w http.ResponseWriter, r *http.Request) {
	rules := cmdbsync.BillingRules{Period: time.Hour}
	if d.billing != nil {
		rules = d.billing.rules
	}
	q := r.URL.Query()
	now := time.Now().UTC()
	to := inventory.PeriodStart(now, rules.Period)
	from := to.Add(-24 * time.Hour)
	for _, p := range []struct {
		key string
		t   *time.Time
	}{{"from", &from}, {"to", &to}} {
		if s := q.Get(p.key); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				writeError(w, r, &errKind{http.StatusBadRequest, api.CodeInvalid, fmt.Sprintf("%s %q: give an RFC 3339 time, e.g. 2026-12-01T10:00:00Z", p.key, s)})
				return
			}
			*p.t = t.UTC()
		}
	}
	if !from.Before(to) {
		writeError(w, r, &errKind{http.StatusBadRequest, api.CodeInvalid, fmt.Sprintf("from %s is not before to %s: give a range that has at least one period", from.Format(time.RFC3339), to.Format(time.RFC3339))})
		return
	}
	if end := inventory.PeriodStart(now, rules.Period); to.After(end) {
		to = end // only periods that have ended
	}
	ctx := r.Context()
	events, err := d.inv.Events(ctx, 0, 0)
	if err != nil {
		reply(w, r, nil, err)
		return
	}
	name := q.Get("name")
	ids := map[string]bool{}
	if name != "" {
		if rec, err := d.inv.Get(ctx, name); err == nil {
			ids[rec.ID] = true
		} else if !errors.Is(err, inventory.ErrNotFound) {
			reply(w, r, nil, err)
			return
		}
		for _, ev := range events { // a removed container, or an old name
			if ev.Name == name || ev.From == name {
				ids[ev.ContainerID] = true
			}
		}
		if len(ids) == 0 {
			writeError(w, r, &errKind{http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("no container %q, now or in the event log: `fatbox ls` lists them", name)})
			return
		}
	}
	snaps, err := d.inv.UsagePeriods(ctx)
	if err != nil {
		reply(w, r, nil, err)
		return
	}
	out := api.Usage{From: inventory.PeriodStart(from, rules.Period), To: to, PeriodSeconds: int64(rules.Period / time.Second), Rows: []api.UsageRow{}}
	if out.From.Before(to) {
		for _, row := range cmdbsync.ComputeBilling(events, snaps, from, to, rules) {
			if name != "" && !ids[row.ContainerID] {
				continue
			}
			out.Rows = append(out.Rows, api.UsageRow{ContainerID: row.ContainerID, Name: row.Name, PeriodStart: row.PeriodStart,
				PeriodEnd: row.PeriodEnd, VCPUHours: row.VCPUHours, MemoryGiBHours: row.MemoryGiBHours, DiskGiBHours: row.DiskGiBHours,
				CPUSeconds: row.CPUSeconds, NetBytesIn: row.NetBytesIn, NetBytesOut: row.NetBytesOut, Late: row.Late})
		}
	}
	WriteJSON(w, http.StatusOK, out)
}
