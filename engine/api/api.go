// Package api holds the wire types of the fatbox daemon's REST/JSON API and a
// client for it. The API is served on a unix socket (default
// /run/fatbox/fatbox.sock, mode 0660); every CLI subcommand except
// `fatbox daemon` and `fatbox version` is a client of it.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// DefaultSocket is where the daemon listens unless told otherwise.
const DefaultSocket = "/run/fatbox/fatbox.sock"

// ErrDaemonDown: the daemon's socket cannot be reached.
var ErrDaemonDown = errors.New("fatbox daemon not reachable")

// Status is GET /v1/status.
type Status struct {
	Version   string      `json:"version"`
	Node      string      `json:"node"`
	PID       int         `json:"pid"`
	StartedAt time.Time   `json:"started_at"`
	Starts    int         `json:"starts"` // how many times a daemon for this node has started on this store
	StateDir  string      `json:"state_dir"`
	Socket    string      `json:"socket"`
	Store     StoreStatus `json:"store"`
	// Capacity: this node's containers' vCPUs, memory limits and disk
	// sizes against the overcommit ceilings of the daemon's config.
	Capacity []Figure `json:"capacity,omitempty"`
	// CapacityError says why Capacity is missing (the store cannot be read).
	CapacityError string `json:"capacity_error,omitempty"`
	// CMDB is each configured CMDB target's sync.
	CMDB []CMDBStatus `json:"cmdb,omitempty"`
	// Billing is the billing loop, when configured.
	Billing *BillingStatus `json:"billing,omitempty"`
	// Catalog is the Consul catalog sync, when configured.
	Catalog *CatalogStatus `json:"consul_catalog,omitempty"`
	// Hooks are the lifecycle hooks' deliveries.
	Hooks []HookStatus `json:"hooks,omitempty"`
	// Releases are the releases and rollbacks under way (one that stays
	// here ended badly: the daemon's log says why, its next start ends it).
	Releases []ReleaseStatus `json:"releases,omitempty"`
	// Gateway is the SSH gateway, when configured.
	Gateway *GatewayStatus `json:"gateway,omitempty"`
}

// CatalogStatus is the Consul catalog sync's state.
type CatalogStatus struct {
	Address       string    `json:"address"`
	Running       bool      `json:"running"`
	Position      uint64    `json:"position"`
	LastSuccess   time.Time `json:"last_success,omitzero"`
	LastReconcile time.Time `json:"last_reconcile,omitzero"`
	Nodes         int       `json:"nodes"`
	// Foreign names containers whose node name someone else registered.
	Foreign   []string `json:"foreign,omitempty"`
	LastError string   `json:"last_error,omitempty"`
	Failures  int      `json:"failures"`
}

// HookStatus is a lifecycle hook's delivery state.
type HookStatus struct {
	Name    string `json:"name"`
	Target  string `json:"target"` // its URL (password redacted) or command
	Running bool   `json:"running"`
	// Position is the last event delivered or passed over; Lag how many
	// events of the log come after it.
	Position  uint64 `json:"position"`
	Lag       uint64 `json:"lag"`
	Delivered uint64 `json:"delivered"`
	// Failures counts failed attempts in a row at the next event.
	Failures    int       `json:"failures"`
	LastError   string    `json:"last_error,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	// Delivering is the event being delivered now (0: none), since DeliveringSince.
	Delivering      uint64    `json:"delivering,omitempty"`
	DeliveringSince time.Time `json:"delivering_since,omitzero"`
}

// ReleaseStatus is a release or rollback under way.
type ReleaseStatus struct {
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	Candidate string    `json:"candidate"`
	Phase     string    `json:"phase"`
	Step      string    `json:"step,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// StoreStatus describes the state backend.
type StoreStatus struct {
	Backend string `json:"backend"`
	URL     string `json:"url"` // secrets removed
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
}

// Figure is one capacity figure of this host against its overcommit
// ceiling (vCPUs, memory limits, disk sizes).
type Figure struct {
	Name    string  `json:"name"`
	Used    float64 `json:"used"`
	Ceiling float64 `json:"ceiling"`
	Unit    string  `json:"unit"` // "CPUs" or "bytes"
	// Ratio is the overcommit ratio of the daemon's config: Ceiling is
	// Ratio times what the host has.
	Ratio float64 `json:"ratio"`
}

// Error is the body of every non-2xx answer. Clients branch on Code, never
// on the message's text.
type Error struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// RequestID names the request in the daemon's log.
	RequestID string `json:"request_id,omitempty"`
}

// Error codes: stable words a client may branch on.
const (
	CodeNotFound    = "not_found"   // 404: no such container, pool, lease, image or route
	CodeExists      = "exists"      // 409: the name is taken
	CodeInvalid     = "invalid"     // 400: the request is wrong; the message says what to change
	CodeConflict    = "conflict"    // 409: the request is fine but the state refuses it (in use, not running, over a ceiling)
	CodeBusy        = "busy"        // 503: another change raced this one; retry
	CodeUnavailable = "unavailable" // 503: the state store cannot be reached
	CodeTooLarge    = "too_large"   // 413: the body is over the route's cap
	CodeForbidden   = "forbidden"   // 403: the caller's uid is not served
	CodeInternal    = "internal"    // 500: a fault of the daemon; the request id is in its log
)

// ErrorCode is the daemon's code of err ("" when err is not an answer of the daemon).
func ErrorCode(err error) string {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}

// Client talks to the daemon. The zero value talks to DefaultSocket.
type Client struct {
	// Socket is the daemon's unix socket; "" means DefaultSocket.
	Socket string
	// Timeout bounds each request; 0 means 30 s, negative means none.
	Timeout time.Duration
}

// untimed is a copy of c without a request timeout, for calls that take
// as long as the work (builds, creates, stops).
func (c *Client) untimed() *Client {
	cl := *c
	cl.Timeout = -1
	return &cl
}

func (c *Client) socket() string {
	if c.Socket == "" {
		return DefaultSocket
	}
	return c.Socket
}

func (c *Client) http() *http.Client {
	to := c.Timeout
	if to == 0 {
		to = 30 * time.Second
	}
	if to < 0 {
		to = 0 // no limit
	}
	sock := c.socket()
	return &http.Client{
		Timeout: to,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
		},
	}
}

// Do sends a request with an optional JSON body and decodes a JSON answer into out.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var derr error
	err := c.DoRaw(ctx, method, path, in, func(body io.Reader) {
		if out == nil {
			return
		}
		if err := json.NewDecoder(body).Decode(out); err != nil {
			derr = fmt.Errorf("fatbox daemon sent a bad answer to %s %s: %w", method, path, err)
		}
	})
	if err != nil {
		return err
	}
	return derr
}

// DoRaw sends a request and hands a 2xx answer's body to read; other answers
// become errors.
func (c *Client) DoRaw(ctx context.Context, method, path string, in any, read func(io.Reader)) error {
	var body io.Reader
	if in != nil {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(json.NewEncoder(pw).Encode(in)) }()
		body = pr
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://fatbox"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return c.unreachable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return decodeError(resp)
	}
	read(resp.Body)
	return nil
}

// unreachable turns a failed request into the daemon-down message when the
// socket could not be dialled.
func (c *Client) unreachable(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" && errors.Is(oe.Err, os.ErrPermission) {
		return &downError{fmt.Sprintf("cannot connect to the fatbox daemon at %s: permission denied: the socket is for root and the members of its group (fatbox unless the daemon's socket_group says otherwise): ask an admin to add you (`usermod -aG fatbox $USER`, then log in again), or run fatbox as root",
			c.socket())}
	}
	if errors.As(err, &oe) && oe.Op == "dial" {
		return &downError{fmt.Sprintf("cannot reach fatbox daemon at %s: %v: start it with `fatbox daemon` or `systemctl start fatbox`",
			c.socket(), oe.Err)}
	}
	return fmt.Errorf("fatbox daemon at %s: %w", c.socket(), err)
}

// decodeError turns a non-2xx answer into a StatusError with the daemon's text.
func decodeError(resp *http.Response) error {
	var e Error
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e) == nil && e.Error != "" {
		return &StatusError{HTTPStatus: resp.StatusCode, Code: e.Code, Msg: e.Error, RequestID: e.RequestID}
	}
	return &StatusError{HTTPStatus: resp.StatusCode, Code: CodeInternal,
		Msg: fmt.Sprintf("fatbox daemon answered %s without an error message: see its log", resp.Status)}
}

// StatusError is a non-2xx answer from the daemon; Msg is its error text.
type StatusError struct {
	HTTPStatus int
	Code       string
	Msg        string
	RequestID  string
}

func (e *StatusError) Error() string {
	if e.Code == CodeInternal && e.RequestID != "" {
		return e.Msg + " (request " + e.RequestID + " in the daemon's log)"
	}
	return e.Msg
}

// Status asks the daemon how it is.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.Do(ctx, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

// downError matches ErrDaemonDown; its text is the whole message.
type downError struct{ msg string }

func (e *downError) Error() string { return e.msg }
func (e *downError) Unwrap() error { return ErrDaemonDown }

// CMDBSync runs (or, dry, plans) a full CMDB reconcile now.
func (c *Client) CMDBSync(ctx context.Context, req CMDBSyncRequest) (CMDBPlan, error) {
	var out CMDBPlan
	err := c.untimed().Do(ctx, http.MethodPost, "/v1/cmdb/sync", req, &out)
	return out, err
}
