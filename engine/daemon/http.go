package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/inventory"
)

// Limits of the API's HTTP server. Request bodies are small JSON objects
// (a create request, a pool); image imports name a file on the host rather
// than streaming it, so one cap serves every route.
const (
	maxBody           = 1 << 20          // bytes of a request body; more is 413
	bodyTimeout       = 30 * time.Second // to send a request's body; exec streams clear it once taken over
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

type ctxKey int

const (
	peerKey ctxKey = iota
	reqIDKey
)

// peer is the process at the other end of the unix socket (SO_PEERCRED).
type peer struct {
	ok       bool
	pid      int32
	uid, gid uint32
}

// peerOf reads the credentials of a unix socket connection.
func peerOf(c net.Conn) peer {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peer{}
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return peer{}
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil || cerr != nil {
		return peer{}
	}
	return peer{ok: true, pid: cred.Pid, uid: cred.Uid, gid: cred.Gid}
}

// access decides which callers the daemon serves: root, the daemon's own
// uid, and members of the socket's group (by primary or supplementary
// group). The socket's owner and mode already keep others from connecting;
// this holds even if the socket's mode is loosened by hand.
type access struct {
	gid    int // the socket's group; -1: none (root only)
	selfID uint32
}

func (a access) allowed(p peer) (bool, string) {
	if !p.ok {
		return false, "the caller's credentials cannot be read"
	}
	if p.uid == 0 || p.uid == a.selfID {
		return true, ""
	}
	if a.gid >= 0 {
		if p.gid == uint32(a.gid) {
			return true, ""
		}
		if u, err := user.LookupId(strconv.Itoa(int(p.uid))); err == nil {
			if gids, err := u.GroupIds(); err == nil {
				for _, g := range gids {
					if g == strconv.Itoa(a.gid) {
						return true, ""
					}
				}
			}
		}
	}
	return false, fmt.Sprintf("uid %d may not drive the fatbox daemon: ask an admin to add the user to the socket's group (%s)", p.uid, a.groupName())
}

func (a access) groupName() string {
	if a.gid < 0 {
		return "none configured: root only"
	}
	if g, err := user.LookupGroupId(strconv.Itoa(a.gid)); err == nil {
		return g.Name
	}
	return "gid " + strconv.Itoa(a.gid)
}

// newRequestID names a request in the log and in error answers.
func newRequestID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(reqIDKey).(string)
	return id
}

// statusWriter remembers the answer's status for the audit log; Unwrap lets
// http.ResponseController reach Flush and Hijack.
type statusWriter struct {
	http.ResponseWriter
	status int
	err    string // the error answered, for the log
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// serve wraps the API: request id, caller check, body cap and read
// deadline, a recovered panic answered as a 500 with the request id, and a
// log line with the caller's uid for every mutating request and every
// read that runs a process inside a container (runsInside).
func (d *Daemon) serve(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		p, _ := r.Context().Value(peerKey).(peer)
		// Every record change this request makes is an event caused by
		// its caller.
		uid := p.uid
		ctx := inventory.WithCause(context.WithValue(r.Context(), reqIDKey, id), inventory.Cause{Kind: inventory.CauseAPI, UID: &uid, Detail: "request " + id})
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		mutating := r.Method != http.MethodGet && r.Method != http.MethodHead
		audit := mutating || runsInside(r)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				d.log.Error("panic serving a request", "request_id", id, "method", r.Method, "path", r.URL.Path, "uid", p.uid,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeError(sw, r, &errKind{http.StatusInternalServerError, api.CodeInternal,
						"the fatbox daemon failed serving this request (a bug): see its log"})
				}
			}
			switch {
			case sw.status >= 500:
				d.log.Error("request", "request_id", id, "uid", p.uid, "pid", p.pid, "method", r.Method, "path", r.URL.Path,
					"status", sw.status, "ms", time.Since(start).Milliseconds(), "error", sw.err)
			case audit:
				d.log.Info("request", "request_id", id, "uid", p.uid, "pid", p.pid, "method", r.Method, "path", r.URL.Path,
					"status", sw.status, "ms", time.Since(start).Milliseconds(), "error", sw.err)
			}
		}()
		if ok, why := d.access.allowed(p); !ok {
			d.log.Warn("refused a caller", "request_id", id, "uid", p.uid, "pid", p.pid, "method", r.Method, "path", r.URL.Path)
			writeError(sw, r, &errKind{http.StatusForbidden, api.CodeForbidden, why})
			return
		}
		r.Body = http.MaxBytesReader(sw, r.Body, maxBody)
		_ = http.NewResponseController(sw).SetReadDeadline(time.Now().Add(bodyTimeout))
		next.ServeHTTP(sw, r)
		if mutating && sw.status < 400 {
			d.notifyCMDB() // the sync loops apply the change's events soon
		}
	})
}

// runsInside reports whether a read runs a process inside a container:
// `GET /v1/containers/{name}/doctor` runs `vmshim doctor` as root through
// runc exec, so it is audited as exec is. The escaped path is what the
// mux matches {name} against.
func runsInside(r *http.Request) bool {
	parts := strings.Split(r.URL.EscapedPath(), "/")
	return r.Method == http.MethodGet && len(parts) == 5 && parts[0] == "" && parts[1] == "v1" && parts[2] == "containers" &&
		parts[3] != "" && parts[4] == "doctor"
}

// httpServer is the API's server with its limits.
func (d *Daemon) httpServer() *http.Server {
	return &http.Server{
		Handler:           d.serve(d.Handler()),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          nil,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, peerKey, peerOf(c))
		},
	}
}

// decode reads a request's JSON body into v: one object, no unknown
// fields, nothing after it. A false return means the answer was written.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := decodeBody(r.Body, v); err != nil {
		writeError(w, r, err)
		return false
	}
	return true
}

func decodeBody(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case err == nil:
	case errors.As(err, &mbe):
		return &errKind{http.StatusRequestEntityTooLarge, api.CodeTooLarge,
			fmt.Sprintf("request body is over %d bytes: requests are small JSON objects", mbe.Limit)}
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		return &errKind{http.StatusRequestTimeout, api.CodeInvalid,
			fmt.Sprintf("request body not received within %s: send the whole JSON object at once", bodyTimeout)}
	case errors.Is(err, io.EOF):
		return invalid("request body is empty: send a JSON object")
	default:
		return invalid(fmt.Sprintf("bad request body: %v: send one JSON object with the documented fields", err))
	}
	// Exactly one value: anything but white space after it is refused.
	rest, err := io.ReadAll(io.MultiReader(dec.Buffered(), body))
	if err != nil {
		if errors.As(err, &mbe) {
			return &errKind{http.StatusRequestEntityTooLarge, api.CodeTooLarge,
				fmt.Sprintf("request body is over %d bytes: requests are small JSON objects", mbe.Limit)}
		}
		return invalid(fmt.Sprintf("bad request body: %v", err))
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return invalid("bad request body: data after the JSON object: send exactly one JSON object")
	}
	return nil
}

// WriteJSON writes v as the JSON answer with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers err with its status and code (classify); the
// request id is in the answer and, for a fault of the daemon, in the log.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := classify(err)
	if sw, ok := w.(*statusWriter); ok {
		sw.err = err.Error()
	}
	WriteJSON(w, status, api.Error{Error: err.Error(), Code: code, RequestID: requestID(r)})
}

// reply answers v, or err with its status and code.
func reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		writeError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, v)
}

// notFound answers every request no route takes.
func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, &errKind{http.StatusNotFound, api.CodeNotFound,
		fmt.Sprintf("no API route %s %s: see the fatbox CLI, which uses only documented routes", r.Method, r.URL.Path)})
}
