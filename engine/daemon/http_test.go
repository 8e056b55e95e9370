package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/inventory"
)

// logBuffer collects a JSON slog log; safe for the server's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records returns the log's records with message msg.
func (l *logBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// testDaemon is a daemon with only what the HTTP layer needs: a log and
// its access rule (root, uid 4242 as its own, no group).
func testDaemon() (*Daemon, *logBuffer) {
	var lb logBuffer
	return &Daemon{log: slog.New(slog.NewJSONHandler(&lb, nil)), access: access{gid: -1, selfID: 4242}}, &lb
}

var rootPeer = peer{ok: true, pid: 77, uid: 0, gid: 0}

func withPeer(r *http.Request, p peer) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), peerKey, p))
}

// answer decodes an error answer.
func answer(t *testing.T, rec *httptest.ResponseRecorder) api.Error {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("answer %d %q is not an API error: %v", rec.Code, rec.Body, err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error answer with Content-Type %q", ct)
	}
	return e
}

var requestIDRE = regexp.MustCompile(`^[0-9a-f]{12}$`)

func TestDecodeBody(t *testing.T) {
	type req struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	big := strings.Repeat("a", 2<<20)
	for _, c := range []struct {
		name   string
		body   string
		status int // 0: accepted
		want   string
	}{
		{"object", `{"name":"web-01","n":2}`, 0, ""},
		{"empty object", `{}`, 0, ""},
		{"trailing white space", "{\"name\":\"a\"}\n \t\r\n", 0, ""},
		{"empty", "", 400, "request body is empty"},
		{"only white space", " \n", 400, "request body is empty"},
		{"two objects", `{"name":"a"}{"name":"b"}`, 400, "data after the JSON object"},
		{"trailing word", `{"name":"a"} x`, 400, "data after the JSON object"},
		{"unknown field", `{"nmae":"a"}`, 400, `unknown field "nmae"`},
		{"wrong type", `{"n":"two"}`, 400, "cannot unmarshal"},
		{"array", `[{"name":"a"}]`, 400, "bad request body"},
		{"cut short", `{"name":"a"`, 400, "bad request body"},
		{"over the cap inside the object", `{"name":"` + big + `"}`, 413, "over 1048576 bytes"},
		{"over the cap after the object", `{"name":"a"}` + strings.Repeat(" ", 2<<20), 413, "over 1048576 bytes"},
		{"at the cap", `{"name":"` + strings.Repeat("a", maxBody-len(`{"name":""}`)) + `"}`, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(c.body)), maxBody)
			var v req
			err := decodeBody(body, &v)
			if c.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			status, code := classify(err)
			wantCode := api.CodeInvalid
			if c.status == 413 {
				wantCode = api.CodeTooLarge
			}
			if err == nil || status != c.status || code != wantCode || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %d %s %v; want %d %s with %q", status, code, err, c.status, wantCode, c.want)
			}
		})
	}
	var v req
	if err := decodeBody(strings.NewReader(`{"name":"web-01","n":3}`), &v); err != nil || v.Name != "web-01" || v.N != 3 {
		t.Fatalf("decoded %+v, %v", v, err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// A body that stops arriving hits the read deadline: 408, the fix named.
func TestDecodeBodyDeadline(t *testing.T) {
	for _, e := range []error{os.ErrDeadlineExceeded, &net.OpError{Op: "read", Err: timeoutErr{}}} {
		err := decodeBody(io.MultiReader(strings.NewReader(`{"name":`), errReader{e}), &struct {
			Name string `json:"name"`
		}{})
		status, code := classify(err)
		if status != http.StatusRequestTimeout || code != api.CodeInvalid || !strings.Contains(fmt.Sprint(err), "not received within 30s") {
			t.Errorf("%v: got %d %s %v", e, status, code, err)
		}
	}
	// Any other read error is a bad body, not a timeout.
	err := decodeBody(errReader{errors.New("connection reset")}, &struct{}{})
	if status, _ := classify(err); status != 400 || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("reset: %d %v", status, err)
	}
}

func TestFlag(t *testing.T) {
	for _, c := range []struct {
		query    string
		val, ok  bool
		refusal  string
		paramFor string
	}{
		{"", false, true, "", ""},
		{"other=1", false, true, "", ""},
		{"force=1", true, true, "", ""},
		{"force=true", true, true, "", ""},
		{"force=0", false, true, "", ""},
		{"force=false", false, true, "", ""},
		{"force=", false, true, "", ""},
		{"force", false, true, "", ""},
		{"force=yes", false, false, "force=yes is not a boolean", ""},
		{"force=TRUE", false, false, "force=TRUE is not a boolean", ""},
		{"force=2", false, false, "force=2 is not a boolean", ""},
		{"force=1&force=0", true, true, "", ""}, // the first one counts
	} {
		rec := httptest.NewRecorder()
		val, ok := flag(rec, httptest.NewRequest("DELETE", "/v1/pools/p?"+c.query, nil), "force")
		if val != c.val || ok != c.ok {
			t.Errorf("%q: %v %v, want %v %v", c.query, val, ok, c.val, c.ok)
		}
		if !c.ok {
			if e := answer(t, rec); rec.Code != 400 || e.Code != api.CodeInvalid || !strings.Contains(e.Error, c.refusal) {
				t.Errorf("%q: answered %d %+v", c.query, rec.Code, e)
			}
		} else if rec.Body.Len() != 0 || rec.Code != 200 {
			t.Errorf("%q: wrote an answer %d %q", c.query, rec.Code, rec.Body)
		}
	}
}

// A panic in a handler is a 500 "internal" with the request id, and the
// log has the panic, its stack and the same id.
func TestServeRecoversPanic(t *testing.T) {
	d, lb := testDaemon()
	h := d.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]int
		m["boom"]++ // a nil map: a real bug's panic
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, withPeer(httptest.NewRequest("GET", "/v1/status", nil), rootPeer))
	e := answer(t, rec)
	if rec.Code != 500 || e.Code != api.CodeInternal || !requestIDRE.MatchString(e.RequestID) || !strings.Contains(e.Error, "see its log") {
		t.Fatalf("answer %d %+v", rec.Code, e)
	}
	ps := lb.records(t, "panic serving a request")
	if len(ps) != 1 {
		t.Fatalf("%d panic records in the log", len(ps))
	}
	p := ps[0]
	if p["request_id"] != e.RequestID || p["level"] != "ERROR" || !strings.Contains(fmt.Sprint(p["panic"]), "nil map") || p["path"] != "/v1/status" {
		t.Errorf("panic record %v", p)
	}
	if stack := fmt.Sprint(p["stack"]); !strings.Contains(stack, "TestServeRecoversPanic") || !strings.Contains(stack, "http_test.go") {
		t.Errorf("the stack does not lead to the handler: %s", stack)
	}
	rs := lb.records(t, "request")
	if len(rs) != 1 || rs[0]["request_id"] != e.RequestID || rs[0]["status"] != 500.0 || rs[0]["level"] != "ERROR" {
		t.Errorf("request records %v", rs)
	}
}

// A panic after the answer began cannot change its status; it is still logged.
func TestServePanicAfterAnswer(t *testing.T) {
	d, lb := testDaemon()
	h := d.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "partial")
		panic("late")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, withPeer(httptest.NewRequest("POST", "/x", nil), rootPeer))
	if rec.Code != http.StatusAccepted || rec.Body.String() != "partial" {
		t.Fatalf("answer %d %q", rec.Code, rec.Body)
	}
	if ps := lb.records(t, "panic serving a request"); len(ps) != 1 || ps[0]["panic"] != "late" {
		t.Fatalf("panic records %v", ps)
	}
}

// http.ErrAbortHandler is net/http's way to drop a connection: passed on.
func TestServeAbortHandlerPassesThrough(t *testing.T) {
	d, lb := testDaemon()
	h := d.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) }))
	got := func() (v any) {
		defer func() { v = recover() }()
		h.ServeHTTP(httptest.NewRecorder(), withPeer(httptest.NewRequest("GET", "/x", nil), rootPeer))
		return nil
	}()
	if got != http.ErrAbortHandler {
		t.Fatalf("recovered %v, want http.ErrAbortHandler re-panicked", got)
	}
	if ps := lb.records(t, "panic serving a request"); len(ps) != 0 {
		t.Fatalf("an abort logged as a panic: %v", ps)
	}
}

func TestServeAccess(t *testing.T) {
	for _, c := range []struct {
		name   string
		access access
		peer   peer
		ok     bool
		why    string
	}{
		{"root", access{gid: -1, selfID: 4242}, rootPeer, true, ""},
		{"the daemon's own uid", access{gid: -1, selfID: 4242}, peer{ok: true, uid: 4242, gid: 4242}, true, ""},
		{"the socket group, primary", access{gid: 5000, selfID: 4242}, peer{ok: true, uid: 4243, gid: 5000}, true, ""},
		{"no credentials", access{gid: -1, selfID: 4242}, peer{}, false, "credentials cannot be read"},
		{"no credentials, even uid 0", access{gid: -1, selfID: 4242}, peer{ok: false, uid: 0}, false, "credentials cannot be read"},
		{"no group configured", access{gid: -1, selfID: 4242}, peer{ok: true, pid: 9, uid: 4243, gid: 4243}, false, "uid 4243 may not drive the fatbox daemon: ask an admin to add the user to the socket's group (none configured: root only)"},
		{"another group", access{gid: 4999999, selfID: 4242}, peer{ok: true, uid: 4243, gid: 5001}, false, "socket's group (gid 4999999)"},
		{"group named", access{gid: 0, selfID: 4242}, peer{ok: true, uid: 4243, gid: 5001}, false, "socket's group (root)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, lb := testDaemon()
			d.access = c.access
			called := false
			h := d.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				w.WriteHeader(http.StatusCreated)
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, withPeer(httptest.NewRequest("POST", "/v1/containers/web-01/stop", strings.NewReader("{}")), c.peer))
			if called != c.ok {
				t.Fatalf("handler called %v, want %v", called, c.ok)
			}
			if c.ok {
				if rec.Code != http.StatusCreated {
					t.Fatalf("status %d", rec.Code)
				}
				return
			}
			e := answer(t, rec)
			if rec.Code != 403 || e.Code != api.CodeForbidden || !strings.Contains(e.Error, c.why) || !requestIDRE.MatchString(e.RequestID) {
				t.Fatalf("answer %d %+v, want 403 forbidden with %q", rec.Code, e, c.why)
			}
			ws := lb.records(t, "refused a caller")
			if len(ws) != 1 || ws[0]["uid"] != float64(c.peer.uid) || ws[0]["request_id"] != e.RequestID || ws[0]["level"] != "WARN" {
				t.Fatalf("refusal log %v", ws)
			}
			// A refused mutating request is in the audit log too.
			if rs := lb.records(t, "request"); len(rs) != 1 || rs[0]["status"] != 403.0 || !strings.Contains(fmt.Sprint(rs[0]["error"]), c.why) {
				t.Fatalf("audit log %v", rs)
			}
		})
	}
}

// Each request gets its own id, seen by the handler and in the answer; a
// mutating request is logged with the caller, a read is not.
func TestServeRequestIDAndAudit(t *testing.T) {
	d, lb := testDaemon()
	var seen []string
	h := d.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, requestID(r))
		if r.Method == http.MethodGet {
			WriteJSON(w, 200, struct{}{})
			return
		}
		writeError(w, r, invalid("no such thing"))
	}))
	var ids []string
	for _, m := range []string{"POST", "DELETE", "GET"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, withPeer(httptest.NewRequest(m, "/v1/pools/p", nil), peer{ok: true, pid: 31, uid: 4242}))
		if m != "GET" {
			ids = append(ids, answer(t, rec).RequestID)
		}
	}
	if len(seen) != 3 || seen[0] == seen[1] || seen[1] == seen[2] || seen[0] == seen[2] || seen[0] != ids[0] || seen[1] != ids[1] {
		t.Fatalf("handler saw ids %q, answers had %q", seen, ids)
	}
	for _, id := range seen {
		if !requestIDRE.MatchString(id) {
			t.Fatalf("request id %q", id)
		}
	}
	rs := lb.records(t, "request")
	if len(rs) != 2 {
		t.Fatalf("%d audit records for 2 mutating requests and a read: %v", len(rs), rs)
	}
	for i, r := range rs {
		if r["request_id"] != ids[i] || r["uid"] != 4242.0 || r["pid"] != 31.0 || r["status"] != 400.0 || r["error"] != "no such thing" || r["level"] != "INFO" {
			t.Errorf("audit record %d: %v", i, r)
		}
	}
}

// The body cap holds for every handler behind serve.
func TestServeBodyCap(t *testing.T) {
	d, _ := testDaemon()
	h := d.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if decode(w, r, &v) {
			WriteJSON(w, 200, v)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, withPeer(httptest.NewRequest("POST", "/v1/pools", strings.NewReader(`{"a":"`+strings.Repeat("x", maxBody)+`"}`)), rootPeer))
	if e := answer(t, rec); rec.Code != 413 || e.Code != api.CodeTooLarge {
		t.Fatalf("over the cap: %d %+v", rec.Code, e)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, withPeer(httptest.NewRequest("POST", "/v1/pools", strings.NewReader(`{"a":"b"}`)), rootPeer))
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"a":"b"}` {
		t.Fatalf("small body: %d %q", rec.Code, rec.Body)
	}
}

// serveOnSocket serves h behind d.serve with the daemon's own server
// settings (SO_PEERCRED through ConnContext) on a unix socket.
func serveOnSocket(t *testing.T, d *Daemon, h http.Handler) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fbd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "d.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := d.httpServer()
	srv.Handler = d.serve(h)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func unixClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

// On a real socket the daemon reads the caller's pid and uid (SO_PEERCRED).
func TestPeerOf(t *testing.T) {
	d, _ := testDaemon()
	got := make(chan peer, 1)
	sock := serveOnSocket(t, d, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := r.Context().Value(peerKey).(peer)
		got <- p
	}))
	resp, err := unixClient(sock).Get("http://fatbox/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	p := <-got
	if !p.ok || p.pid != int32(os.Getpid()) || p.uid != uint32(os.Getuid()) || p.gid != uint32(os.Getgid()) {
		t.Fatalf("peer %+v, want this process (pid %d uid %d gid %d)", p, os.Getpid(), os.Getuid(), os.Getgid())
	}
	// Not a unix socket: no credentials, so refused.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if p := peerOf(a); p.ok {
		t.Fatalf("peer of a pipe: %+v", p)
	}
}

// statusWriter passes Flush through (build progress streams line by line)
// and Hijack (exec streams take the connection over).
func TestStatusWriterFlush(t *testing.T) {
	d, lb := testDaemon()
	release := make(chan struct{})
	sock := serveOnSocket(t, d, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(*statusWriter); !ok {
			t.Errorf("handler got a %T, not the statusWriter", w)
		}
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "step 1\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
		<-release
		io.WriteString(w, "OK\n")
	}))
	resp, err := unixClient(sock).Post("http://fatbox/v1/images/build", "application/json", strings.NewReader("{}"))
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first := make(chan string, 1)
	go func() { l, _ := br.ReadString('\n'); first <- l }()
	select {
	case l := <-first:
		if l != "step 1\n" {
			t.Errorf("first line %q", l)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("the first line did not arrive before the handler finished: Flush did not reach the connection")
	}
	close(release)
	if rest, _ := io.ReadAll(br); string(rest) != "OK\n" {
		t.Fatalf("rest %q", rest)
	}
	// The audit log has the status the handler wrote.
	deadline := time.Now().Add(10 * time.Second)
	for len(lb.records(t, "request")) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if rs := lb.records(t, "request"); len(rs) != 1 || rs[0]["status"] != 200.0 || rs[0]["method"] != "POST" {
		t.Fatalf("audit %v", rs)
	}
}

func TestStatusWriterHijack(t *testing.T) {
	d, _ := testDaemon()
	sock := serveOnSocket(t, d, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack through statusWriter: %v", err)
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: fatbox-exec\r\n\r\n")
		line, _ := brw.ReadString('\n')
		io.WriteString(conn, "echo "+line)
	}))
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "POST /v1/containers/a/exec HTTP/1.1\r\nHost: fatbox\r\nConnection: Upgrade\r\nUpgrade: fatbox-exec\r\nContent-Length: 0\r\n\r\nping\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("%v %v", resp, err)
	}
	if l, err := br.ReadString('\n'); l != "echo ping\n" {
		t.Fatalf("after the upgrade: %q %v", l, err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"embedded":                                "embedded",
		"consul://10.0.0.1:8500/fatbox":           "consul://10.0.0.1:8500/fatbox",
		"consul://c:8500/fatbox?token=s3cret":     "consul://c:8500/fatbox?token=REDACTED",
		"consul://c:8500/p?dc=x&token=s3cret&a=b": "consul://c:8500/p?a=b&dc=x&token=REDACTED",
	} {
		if got := redact(in); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every record change a request makes is caused by its caller: serve puts
// the caller's uid and the request id in the context.
func TestServeCause(t *testing.T) {
	d, _ := testDaemon()
	var got inventory.Cause
	var id string
	h := d.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, id = inventory.CauseOf(r.Context()), requestID(r)
	}))
	h.ServeHTTP(httptest.NewRecorder(), withPeer(httptest.NewRequest("PATCH", "/v1/containers/a", nil), peer{ok: true, uid: 4242}))
	if got.Kind != inventory.CauseAPI || got.UID == nil || *got.UID != 4242 || got.Detail != "request "+id {
		t.Fatalf("cause %+v (uid %v), request %s", got, got.UID, id)
	}
}

// Doctor runs a root process inside the container (runc exec): its GET is
// audited as a mutating request is; other reads are not.
func TestServeAuditsDoctor(t *testing.T) {
	d, lb := testDaemon()
	h := d.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, struct{}{}) }))
	for _, c := range []struct {
		method, path string
		audited      bool
	}{
		{"GET", "/v1/containers/web-01/doctor", true},
		{"GET", "/v1/containers/web-01/doctor?x=1", true},
		{"GET", "/v1/containers/web-01", false},
		{"GET", "/v1/containers/doctor", false},
		{"GET", "/v1/containers//doctor", false},
		{"GET", "/v1/containers/web-01/doctor/x", false},
		{"HEAD", "/v1/containers/web-01/doctor", false},
		{"GET", "/v1/status", false},
	} {
		before := len(lb.records(t, "request"))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, withPeer(httptest.NewRequest(c.method, c.path, nil), peer{ok: true, pid: 31, uid: 4242}))
		rs := lb.records(t, "request")
		if got := len(rs) > before; got != c.audited {
			t.Errorf("%s %s: audited %v, want %v", c.method, c.path, got, c.audited)
			continue
		}
		if c.audited {
			r := rs[len(rs)-1]
			if r["uid"] != 4242.0 || r["pid"] != 31.0 || r["method"] != "GET" || r["path"] != "/v1/containers/web-01/doctor" || r["status"] != 200.0 || r["level"] != "INFO" {
				t.Errorf("%s: audit record %v", c.path, r)
			}
		}
	}
}
