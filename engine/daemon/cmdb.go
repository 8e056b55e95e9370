package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/fatbox/fatbox/cmdbsync"
	"github.com/fatbox/fatbox/engine/api"
	"github.com/go-sql-driver/mysql"
)

// CMDBTarget is one CMDB table the daemon keeps true to the inventory
// (config key `cmdb:`, a list).
type CMDBTarget struct {
	// Name names the target in status and in the database's position
	// table; "" means the mapped table's name.
	Name string `yaml:"name"`
	// DSN is a go-sql-driver/mysql DSN naming the database, e.g.
	// "fatbox:secret@tcp(cmdb.example:3306)/cmdb". DSNFile reads it from
	// a file instead (keeps the password out of the config).
	DSN     string `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`
	// Mapping is the mapping file; "" means the default schema (created
	// and migrated by fatbox) with its default mapping.
	Mapping string `yaml:"mapping"`
	// PollInterval and ReconcileInterval (Go durations): how often the
	// loop looks for events unasked (default 5s) and does a full
	// reconcile (default 1h).
	PollInterval      string `yaml:"poll_interval"`
	ReconcileInterval string `yaml:"reconcile_interval"`
}

// cmdbSyncer is a configured target and its loop.
type cmdbSyncer struct {
	name, dsn string
	s         *cmdbsync.Syncer
}

// newCMDB makes the configured targets' syncers (they connect in their
// loops, so a database that is down does not stop the daemon).
func (d *Daemon) newCMDB() error {
	hook, err := cmdbsync.AfterCommitFailpoint(os.Getenv(cmdbsync.FailpointEnv), os.Getenv(cmdbsync.FailpointMarkEnv), d.log)
	if err != nil {
		return fmt.Errorf("%s: %w", cmdbsync.FailpointEnv, err)
	}
	if hook != nil {
		d.log.Warn("CMDB test failpoint set: a commit will block until the daemon is killed", "env", os.Getenv(cmdbsync.FailpointEnv))
	}
	if len(d.cfg.CMDB) > 0 {
		// The driver's own lines ("closing bad idle connection") go to
		// the daemon's log, not bare to stderr.
		_ = mysql.SetLogger(mysqlLog{d.log})
	}
	seen := map[string]bool{}
	for i, t := range d.cfg.CMDB {
		where := fmt.Sprintf("config: cmdb[%d]", i)
		dsn, err := readDSN(where, t.DSN, t.DSNFile, "cmdb")
		if err != nil {
			return err
		}
		var m *cmdbsync.Mapping
		if t.Mapping != "" {
			if m, err = cmdbsync.LoadMapping(t.Mapping); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		}
		poll, err := optDuration(where+": poll_interval", t.PollInterval)
		if err != nil {
			return err
		}
		rec, err := optDuration(where+": reconcile_interval", t.ReconcileInterval)
		if err != nil {
			return err
		}
		s, err := cmdbsync.New(cmdbsync.Config{Source: d.inv, DSN: dsn, Mapping: m, Target: t.Name, PollInterval: poll,
			ReconcileInterval: rec, AfterCommit: hook, Logger: d.log.With("cmdb", t.Name)})
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		name := s.Status().Target
		if seen[name] {
			s.Close()
			return fmt.Errorf("%s: a second target named %q: give each a name of its own", where, name)
		}
		seen[name] = true
		d.cmdb = append(d.cmdb, cmdbSyncer{name: name, dsn: dsn, s: s})
	}
	return nil
}

func optDuration(what, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%s %q: give a duration like 5s or 1h", what, s)
	}
	return v, nil
}

// runCMDB checks each target's mapping against its table (problems are
// logged, all at once; the loop keeps retrying and writes nothing until
// the mapping fits) and runs its loop until ctx ends.
func (d *Daemon) runCMDB(ctx context.Context) {
	for _, c := range d.cmdb {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if err := c.s.Check(cctx); err != nil {
				d.log.Error("cmdb: the mapping does not fit the table, or the database cannot be reached: nothing is written until it does", "cmdb", c.name, "error", err)
			}
			cancel()
			if err := c.s.Run(ctx); err != nil && ctx.Err() == nil {
				d.log.Error("cmdb loop ended", "cmdb", c.name, "error", err)
			}
		}()
	}
}

// notifyCMDB tells every loop the inventory changed.
func (d *Daemon) notifyCMDB() {
	for _, c := range d.cmdb {
		c.s.Notify()
	}
	if d.catalog != nil {
		d.catalog.Notify()
	}
	for _, h := range d.hooks {
		h.Notify()
	}
}

func (d *Daemon) closeCMDB() {
	for _, c := range d.cmdb {
		c.s.Close()
	}
}

func (d *Daemon) cmdbStatus() []api.CMDBStatus {
	var out []api.CMDBStatus
	for _, c := range d.cmdb {
		var st api.CMDBStatus
		b, _ := json.Marshal(c.s.Status())
		_ = json.Unmarshal(b, &st)
		out = append(out, st)
	}
	return out
}

func (d *Daemon) cmdbRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/cmdb/sync", d.handleCMDBSync)
}

// handleCMDBSync runs a full reconcile of one target now (or, dry, plans
// it), with the configured mapping or one sent in the request.
func (d *Daemon) handleCMDBSync(w http.ResponseWriter, r *http.Request) {
	var req api.CMDBSyncRequest
	if !decode(w, r, &req) {
		return
	}
	if len(d.cmdb) == 0 && req.DSN == "" {
		writeError(w, r, &errKind{http.StatusConflict, api.CodeConflict, "no CMDB is configured: add a `cmdb:` target to the daemon's config (see README), or give a dsn to try one"})
		return
	}
	var target *cmdbSyncer
	for i := range d.cmdb {
		if req.Target == "" || d.cmdb[i].name == req.Target {
			target = &d.cmdb[i]
			break
		}
	}
	if req.Target != "" && target == nil {
		var names []string
		for _, c := range d.cmdb {
			names = append(names, c.name)
		}
		writeError(w, r, &errKind{http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("no CMDB target %q: configured are %s", req.Target, strings.Join(names, ", "))})
		return
	}
	trying := req.Mapping != "" || req.DSN != ""
	if len(d.cmdb) > 1 && req.Target == "" && !(trying && req.DSN != "") {
		writeError(w, r, invalid("several CMDB targets are configured: name one (--target)"))
		return
	}
	if trying && req.Target == "" && req.DSN != "" {
		target = nil // a trial against the given database: no configured target involved
	}
	s := (*cmdbsync.Syncer)(nil)
	if target != nil {
		s = target.s
	}
	if trying {
		// A mapping (or database) to try: a syncer of its own, dry run only.
		if !req.DryRun {
			writeError(w, r, invalid("a mapping or dsn given with the request is only tried: add --dry-run (configure it to have it applied)"))
			return
		}
		var m *cmdbsync.Mapping
		var err error
		if req.Mapping != "" {
			if m, err = cmdbsync.ParseMapping([]byte(req.Mapping)); err != nil {
				writeError(w, r, mappingErr(err))
				return
			}
		}
		dsn := req.DSN
		if dsn == "" && target != nil {
			dsn = target.dsn
		}
		trial, err := cmdbsync.New(cmdbsync.Config{Source: d.inv, DSN: dsn, Mapping: m, Target: req.Target, Logger: d.log})
		if err != nil {
			writeError(w, r, invalid(err.Error()))
			return
		}
		defer trial.Close()
		s = trial
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	var p *cmdbsync.Plan
	var err error
	if req.DryRun {
		p, err = s.DryRun(ctx)
	} else {
		p, err = s.Reconcile(ctx)
	}
	if err != nil {
		writeError(w, r, mappingErr(err))
		return
	}
	var out api.CMDBPlan
	b, _ := json.Marshal(p)
	_ = json.Unmarshal(b, &out)
	out.Text = p.String()
	WriteJSON(w, http.StatusOK, out)
}

// mappingErr answers a mapping that does not fit as invalid, with every
// problem; a database that cannot be reached as unavailable.
func mappingErr(err error) error {
	if errors.Is(err, cmdbsync.ErrMapping) {
		return invalid(err.Error())
	}
	return &errKind{http.StatusServiceUnavailable, api.CodeUnavailable, err.Error()}
}

// mysqlLog is the go-sql-driver's logger on the daemon's.
type mysqlLog struct{ log *slog.Logger }

func (l mysqlLog) Print(v ...any) {
	l.log.Warn("cmdb database driver", "msg", strings.TrimSpace(fmt.Sprint(v...)))
}

// readDSN is a target's DSN: dsn, or the contents of file (which keeps the
// password out of the config); example names the database in the fix.
func readDSN(where, dsn, file, example string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: dsn_file: %w", where, err)
		}
		dsn = strings.TrimSpace(string(b))
	}
	if dsn == "" {
		return "", fmt.Errorf("%s: no dsn: give dsn or dsn_file (e.g. fatbox:secret@tcp(%s.example:3306)/%s)", where, example, example)
	}
	return dsn, nil
}
