package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// AuditEntry is one line of the SSH gateway's audit log: a login, a
// refusal, a session, an exec, a file moved over sftp/scp or a forward.
type AuditEntry struct {
	Time      time.Time `json:"time"`
	End       time.Time `json:"end,omitzero"`
	Kind      string    `json:"kind"`
	Session   string    `json:"session,omitempty"`
	User      string    `json:"user,omitempty"`
	From      string    `json:"from,omitempty"`
	Container string    `json:"container,omitempty"`
	Login     string    `json:"login,omitempty"`
	Channel   string    `json:"channel,omitempty"`
	Command   string    `json:"command,omitempty"`
	Path      string    `json:"path,omitempty"`
	Direction string    `json:"direction,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Bytes     int64     `json:"bytes,omitempty"`
	Exit      *int      `json:"exit,omitempty"`
}

// AuditQuery selects audit entries; zero fields select all.
type AuditQuery struct {
	User, Container, Session, Kind string
	// Since: entries that started or ended at or after it.
	Since time.Time
	// Limit keeps the newest Limit entries (0: the daemon's default, 1000).
	Limit int
}

// AuditList is the answer of GET /v1/audit: entries oldest first.
type AuditList struct {
	Entries []AuditEntry `json:"entries"`
	// Skipped counts lines that did not parse (a line torn by a crash).
	Skipped int `json:"skipped,omitempty"`
}

// AuditSession is one session's entries and its recording, if any.
type AuditSession struct {
	Session   string         `json:"session"`
	Entries   []AuditEntry   `json:"entries"`
	Recording *RecordingInfo `json:"recording,omitempty"`
}

// RecordingInfo describes a session's recording file (compressed).
type RecordingInfo struct {
	Bytes    int64     `json:"bytes"`
	Modified time.Time `json:"modified"`
}

// Audit lists audit entries (GET /v1/audit).
func (c *Client) Audit(ctx context.Context, q AuditQuery) (AuditList, error) {
	var out AuditList
	v := url.Values{}
	for k, s := range map[string]string{"user": q.User, "container": q.Container, "session": q.Session, "kind": q.Kind} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	p := "/v1/audit"
	if e := v.Encode(); e != "" {
		p += "?" + e
	}
	err := c.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// AuditSession returns a session's entries and recording (GET
// /v1/audit/sessions/{id}).
func (c *Client) AuditSession(ctx context.Context, id string) (AuditSession, error) {
	var out AuditSession
	p, err := path("session", "/v1/audit/sessions/%s", id)
	if err != nil {
		return out, err
	}
	err = c.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// Recording copies a session's recording, decompressed (asciicast v2), to
// w. A recording cut short (a crash, or a session still running) gives its
// readable part.
func (c *Client) Recording(ctx context.Context, id string, w io.Writer) error {
	p, err := path("session", "/v1/audit/sessions/%s/recording", id)
	if err != nil {
		return err
	}
	var cerr error
	err = c.untimed().DoRaw(ctx, http.MethodGet, p, nil, func(r io.Reader) {
		if _, err := io.Copy(w, r); err != nil {
			cerr = fmt.Errorf("recording of session %q: %w", id, err)
		}
	})
	if err != nil {
		return err
	}
	return cerr
}
