package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/sshgw/audit"
	"github.com/fatbox/fatbox/sshgw/record"
)

// GatewayDirs are the audit log's and the recordings' dirs in a state dir
// (the name and shape the gateway's wiring uses too: keep one when both
// meet).
func GatewayDirs(stateDir string) (auditDir, recordDir string) {
	return filepath.Join(stateDir, "gateway", "audit"), filepath.Join(stateDir, "gateway", "recordings")
}

// defaultAuditLimit bounds an audit listing that names no limit.
const defaultAuditLimit = 1000

// gatewayRecords are the one audit log and the one recorder of this
// daemon: the gateway writes through them and the API reads them.
type gatewayRecords struct {
	audit    *audit.Log
	recorder *record.Recorder
}

func newGatewayRecords(stateDir string) gatewayRecords {
	auditDir, recordDir := GatewayDirs(stateDir)
	return gatewayRecords{audit: &audit.Log{Dir: auditDir}, recorder: &record.Recorder{Dir: recordDir}}
}

// GatewayAudit is the daemon's audit log, for the gateway to write.
func (d *Daemon) GatewayAudit() *audit.Log { return d.gwrec.audit }

// GatewayRecorder is the daemon's session recorder, for the gateway; set
// its Limits before the first session.
func (d *Daemon) GatewayRecorder() *record.Recorder { return d.gwrec.recorder }

func (d *Daemon) auditRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/audit", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := audit.Filter{User: q.Get("user"), Container: q.Get("container"), Session: q.Get("session"), Limit: defaultAuditLimit}
		if k := q.Get("kind"); k != "" {
			f.Kinds = []string{k}
		}
		if s := q.Get("since"); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				writeError(w, r, invalid(fmt.Sprintf("since=%q is not an RFC 3339 time: give e.g. 2026-12-01T00:00:00Z", s)))
				return
			}
			f.Since = t
		}
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				writeError(w, r, invalid(fmt.Sprintf("limit=%q is not a count: give a whole number, 1 or more", s)))
				return
			}
			f.Limit = n
		}
		es, skipped, err := d.gwrec.audit.List(f)
		reply(w, r, api.AuditList{Entries: auditEntries(es), Skipped: skipped}, err)
	})
	mux.HandleFunc("GET /v1/audit/sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !audit.ValidSessionID(id) {
			writeError(w, r, invalid(fmt.Sprintf("%q is not a session id: take one from `fatbox audit ls`", id)))
			return
		}
		es, _, err := d.gwrec.audit.List(audit.Filter{Session: id})
		if err != nil {
			writeError(w, r, err)
			return
		}
		out := api.AuditSession{Session: id, Entries: auditEntries(es)}
		if p, err := d.gwrec.recorder.Path(id); err == nil {
			if fi, err := os.Stat(p); err == nil {
				out.Recording = &api.RecordingInfo{Bytes: fi.Size(), Modified: fi.ModTime().UTC()}
			}
		}
		if len(es) == 0 && out.Recording == nil {
			writeError(w, r, fmt.Errorf("session %q: %w: check the id with `fatbox audit ls` (old entries are pruned)", id, audit.ErrNotFound))
			return
		}
		reply(w, r, out, nil)
	})
	mux.HandleFunc("GET /v1/audit/sessions/{id}/recording", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !audit.ValidSessionID(id) {
			writeError(w, r, invalid(fmt.Sprintf("%q is not a session id: take one from `fatbox audit ls`", id)))
			return
		}
		f, err := d.gwrec.recorder.Open(id)
		if err != nil {
			if errors.Is(err, record.ErrNotFound) {
				err = fmt.Errorf("session %q has no recording (only interactive sessions are recorded; old ones are deleted by age and by the total cap): %w", id, err)
			}
			writeError(w, r, err)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/x-asciicast")
		// The body streams from here: an error past this point can only
		// cut it short (whole lines are written, the client gets a prefix).
		_, _ = record.Decompress(w, f)
	})
}

func auditEntries(es []audit.Entry) []api.AuditEntry {
	out := make([]api.AuditEntry, 0, len(es))
	for _, e := range es {
		out = append(out, api.AuditEntry{Time: e.Time, End: e.End, Kind: e.Kind, Session: e.Session, User: e.User, From: e.From,
			Container: e.Container, Login: e.Login, Channel: e.Channel, Command: e.Command, Path: e.Path, Direction: e.Direction,
			Reason: e.Reason, Bytes: e.Bytes, Exit: e.Exit})
	}
	return out
}
