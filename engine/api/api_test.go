package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// dialHelperEnv makes the test binary a helper that calls the daemon at
// the socket it names as uid 65534 and prints what the client said.
const dialHelperEnv = "FATBOX_API_TEST_DIAL_AS_NOBODY"

type dialResult struct {
	EUID int    `json:"euid"`
	Err  string `json:"err"`
	Down bool   `json:"down"`
}

func TestMain(m *testing.M) {
	if sock := os.Getenv(dialHelperEnv); sock != "" {
		os.Exit(dialAsNobody(sock))
	}
	os.Exit(m.Run())
}

func dialAsNobody(sock string) int {
	if os.Geteuid() == 0 {
		if err := syscall.Setgroups(nil); err != nil {
			fmt.Fprintln(os.Stderr, "setgroups:", err)
			return 2
		}
		if err := syscall.Setgid(65534); err != nil {
			fmt.Fprintln(os.Stderr, "setgid:", err)
			return 2
		}
		if err := syscall.Setuid(65534); err != nil {
			fmt.Fprintln(os.Stderr, "setuid:", err)
			return 2
		}
	}
	r := dialResult{EUID: os.Geteuid()}
	_, err := (&Client{Socket: sock}).Status(context.Background())
	if err != nil {
		r.Err, r.Down = err.Error(), errors.Is(err, ErrDaemonDown)
	}
	_ = json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

// serveUnix serves h on a unix socket in a short temp dir.
func serveUnix(t *testing.T, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(shortDir(t), "d.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestDecodeError(t *testing.T) {
	for _, c := range []struct {
		name                      string
		status                    int
		body                      string
		code, msg, reqID, inError string
	}{
		{"daemon's error", 404, `{"error":"no container \"web-01\"","code":"not_found","request_id":"ab12"}`, CodeNotFound, `no container "web-01"`, "ab12", ""},
		{"conflict", 409, `{"error":"in use","code":"conflict"}`, CodeConflict, "in use", "", ""},
		{"internal names its request", 500, `{"error":"boom","code":"internal","request_id":"cd34"}`, CodeInternal, "boom", "cd34", "request cd34 in the daemon's log"},
		{"not JSON", 502, "<html>bad gateway</html>", CodeInternal, "", "", "502 Bad Gateway"},
		{"empty body", 500, "", CodeInternal, "", "", "without an error message"},
		{"JSON without error text", 400, `{"code":"invalid"}`, CodeInternal, "", "", "see its log"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			rec.WriteHeader(c.status)
			io.WriteString(rec, c.body)
			err := decodeError(rec.Result())
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("%T %v is not a *StatusError", err, err)
			}
			if se.HTTPStatus != c.status || se.Code != c.code || se.RequestID != c.reqID {
				t.Errorf("got %+v", se)
			}
			if c.msg != "" && se.Msg != c.msg {
				t.Errorf("message %q, want %q", se.Msg, c.msg)
			}
			if c.inError != "" && !strings.Contains(err.Error(), c.inError) {
				t.Errorf("error text %q lacks %q", err, c.inError)
			}
			if ErrorCode(err) != c.code {
				t.Errorf("ErrorCode %q, want %q", ErrorCode(err), c.code)
			}
		})
	}
	// Only an internal error points at the log: others' text is the fix.
	if e := (&StatusError{Code: CodeInvalid, Msg: "bad", RequestID: "x"}); e.Error() != "bad" {
		t.Errorf("invalid error text %q", e.Error())
	}
}

func TestErrorCode(t *testing.T) {
	se := &StatusError{HTTPStatus: 503, Code: CodeBusy, Msg: "retry"}
	for _, c := range []struct {
		err  error
		want string
	}{
		{se, CodeBusy},
		{fmt.Errorf("create web-01: %w", se), CodeBusy},
		{fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", se)), CodeBusy},
		{errors.Join(errors.New("other"), se), CodeBusy},
		{errors.New("busy"), ""},
		{ErrDaemonDown, ""},
		{nil, ""},
	} {
		if got := ErrorCode(c.err); got != c.want {
			t.Errorf("ErrorCode(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestPath(t *testing.T) {
	for _, c := range []struct {
		format string
		names  []string
		want   string
	}{
		{"/v1/containers/%s", []string{"web-01"}, "/v1/containers/web-01"},
		{"/v1/containers/%s", []string{"a/b"}, "/v1/containers/a%2Fb"},
		{"/v1/containers/%s", []string{".."}, "/v1/containers/.."},
		{"/v1/containers/%s", []string{"a b?c#d"}, "/v1/containers/a%20b%3Fc%23d"},
		{"/v1/pools/%s/leases/%s", []string{"prod", "web-01"}, "/v1/pools/prod/leases/web-01"},
	} {
		got, err := path("x", c.format, c.names...)
		if err != nil || got != c.want {
			t.Errorf("path(%q, %q) = %q, %v; want %q", c.format, c.names, got, err, c.want)
		}
	}
	for _, names := range [][]string{{""}, {"prod", ""}, {"", "web-01"}} {
		_, err := path("pool or lease", "/v1/pools/%s/leases/%s", names...)
		if ErrorCode(err) != CodeInvalid || !strings.Contains(err.Error(), "no pool or lease name given") {
			t.Errorf("path with names %q: %v, want an invalid error naming what is missing", names, err)
		}
	}
}

// An empty name never reaches the daemon (it would be another route): every
// call that names something refuses it before dialling.
func TestEmptyNamesRefusedBeforeDialling(t *testing.T) {
	// Dialling this socket would give ErrDaemonDown.
	c := &Client{Socket: filepath.Join(shortDir(t), "absent.sock")}
	ctx := context.Background()
	for _, call := range []struct {
		name string
		what string
		err  func() error
	}{
		{"Inspect", "container", func() error { _, err := c.Inspect(ctx, ""); return err }},
		{"Remove", "container", func() error { return c.Remove(ctx, "", true) }},
		{"Stop", "container", func() error { return c.Stop(ctx, "") }},
		{"Start", "container", func() error { _, err := c.Start(ctx, ""); return err }},
		{"Restart", "container", func() error { _, err := c.Restart(ctx, ""); return err }},
		{"Rename", "container", func() error { _, err := c.Rename(ctx, "", "new"); return err }},
		{"Exec", "container", func() error {
			_, err := c.Exec(ctx, "", ExecRequest{Args: []string{"x"}}, ExecStreams{})
			return err
		}},
		{"Logs", "container", func() error { _, err := c.Logs(ctx, "", "", 1, false, io.Discard, io.Discard); return err }},
		{"Programs", "container", func() error { _, err := c.Programs(ctx, ""); return err }},
		{"Program", "container", func() error { _, err := c.Program(ctx, "", "status", "", io.Discard, io.Discard); return err }},
		{"InspectImage", "image", func() error { _, err := c.InspectImage(ctx, ""); return err }},
		{"RemoveImage", "image", func() error { return c.RemoveImage(ctx, "") }},
		{"GetPool", "pool", func() error { _, err := c.GetPool(ctx, ""); return err }},
		{"DeletePool", "pool", func() error { _, err := c.DeletePool(ctx, "", true); return err }},
		{"ListLeases", "pool", func() error { _, err := c.ListLeases(ctx, ""); return err }},
		{"GetLease", "pool or lease", func() error { _, err := c.GetLease(ctx, "prod", ""); return err }},
		{"Allocate", "pool", func() error { _, err := c.Allocate(ctx, "", AllocateRequest{Name: "a"}); return err }},
		{"Release", "pool or lease", func() error { _, err := c.Release(ctx, "", "a"); return err }},
		{"GC", "pool", func() error { _, err := c.GC(ctx, "", GCRequest{}); return err }},
	} {
		err := call.err()
		if ErrorCode(err) != CodeInvalid || errors.Is(err, ErrDaemonDown) || !strings.Contains(err.Error(), "no "+call.what+" name given") {
			t.Errorf("%s with an empty name: %v; want invalid, naming the %s, without dialling", call.name, err, call.what)
		}
	}
	// The control: a call with a name does dial, and finds no daemon.
	if _, err := c.Inspect(ctx, "web-01"); !errors.Is(err, ErrDaemonDown) {
		t.Fatalf("Inspect(web-01) on an absent socket: %v, want ErrDaemonDown", err)
	}
}

// Names are escaped into one path segment; the daemon sees them whole.
func TestClientRoutes(t *testing.T) {
	seen := make(chan string, 1)
	sock := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen <- r.Method + " " + r.URL.EscapedPath() + "?" + r.URL.RawQuery + " " + strings.TrimSpace(string(body))
		io.WriteString(w, "{}")
	}))
	c := &Client{Socket: sock}
	ctx := context.Background()
	steps := []struct {
		call func() error
		want string
	}{
		{func() error { _, err := c.Inspect(ctx, "a/b"); return err }, "GET /v1/containers/a%2Fb? "},
		{func() error { return c.Remove(ctx, "web-01", true) }, "DELETE /v1/containers/web-01?release_ip=1 "},
		{func() error { return c.Remove(ctx, "web-01", false) }, "DELETE /v1/containers/web-01? "},
		{func() error { return c.Stop(ctx, "web-01") }, "POST /v1/containers/web-01/stop? {}"},
		{func() error { _, err := c.Rename(ctx, "web-01", "web-02"); return err }, `POST /v1/containers/web-01/rename? {"name":"web-02"}`},
		{func() error { _, err := c.DeletePool(ctx, "prod", true); return err }, "DELETE /v1/pools/prod?force=1 "},
		{func() error { _, err := c.GetLease(ctx, "prod", "web-01"); return err }, "GET /v1/pools/prod/leases/web-01? "},
		{func() error { _, err := c.Owner(ctx, netip.MustParseAddr("198.18.0.9")); return err }, "GET /v1/ips/198.18.0.9? "},
	}
	for i, s := range steps {
		if err := s.call(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := <-seen; got != s.want {
			t.Errorf("step %d: daemon saw %q, want %q", i, got, s.want)
		}
	}
}

func TestDoAnswers(t *testing.T) {
	sock := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/status":
			io.WriteString(w, `{"version":"v9","node":"n1","store":{"backend":"memory","healthy":true}}`)
		case "/v1/containers":
			io.WriteString(w, `[{"name":"web-01"`) // cut short
		default:
			w.WriteHeader(http.StatusTeapot)
			io.WriteString(w, `{"error":"no route","code":"not_found","request_id":"q"}`)
		}
	}))
	c := &Client{Socket: sock}
	st, err := c.Status(context.Background())
	if err != nil || st.Version != "v9" || st.Node != "n1" || !st.Store.Healthy || st.Store.Backend != "memory" {
		t.Fatalf("status %+v, %v", st, err)
	}
	if _, err := c.ListContainers(context.Background()); err == nil || !strings.Contains(err.Error(), "bad answer to GET /v1/containers") {
		t.Fatalf("a cut answer: %v", err)
	}
	err = c.Do(context.Background(), http.MethodGet, "/v1/nope", nil, nil)
	var se *StatusError
	if !errors.As(err, &se) || se.HTTPStatus != http.StatusTeapot || se.Code != CodeNotFound || se.RequestID != "q" {
		t.Fatalf("error answer: %#v", err)
	}
}

func TestBuildImageStream(t *testing.T) {
	for _, c := range []struct {
		name, answer, wantErr, wantProgress, wantID string
	}{
		{"ok", "step 1\nstep 2\nOK {\"id\":\"abc\",\"name\":\"debian12-fat\"}\n", "", "step 1\nstep 2\n", "abc"},
		{"error", "step 1\nERROR mmdebstrap failed: exit 1\n", "mmdebstrap failed: exit 1", "step 1\n", ""},
		{"no result", "step 1\n", "without a result", "step 1\n", ""},
		{"bad result", "OK {not json\n", "invalid character", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			sock := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var req BuildRequest
				if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Recipe != "debian12-fat" || r.URL.Path != "/v1/images/build" {
					t.Errorf("build request %s %+v %v", r.URL.Path, req, err)
				}
				io.WriteString(w, c.answer)
			}))
			var progress strings.Builder
			img, err := (&Client{Socket: sock}).BuildImage(context.Background(), "debian12-fat", &progress)
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("error %v, want %q", err, c.wantErr)
			}
			if progress.String() != c.wantProgress || img.ID != c.wantID {
				t.Fatalf("progress %q, image %+v", progress.String(), img)
			}
		})
	}
}

// A socket nobody listens on (absent, or left by a killed daemon) is
// "daemon down", with the fix.
func TestUnreachableDaemonDown(t *testing.T) {
	dir := shortDir(t)
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays, nobody answers: ECONNREFUSED
	for _, sock := range []string{filepath.Join(dir, "absent.sock"), stale} {
		c := &Client{Socket: sock}
		_, err := c.Status(context.Background())
		if !errors.Is(err, ErrDaemonDown) || !strings.Contains(err.Error(), "cannot reach fatbox daemon at "+sock) || !strings.Contains(err.Error(), "start it with `fatbox daemon`") {
			t.Errorf("%s: %v", sock, err)
		}
		if ErrorCode(err) != "" {
			t.Errorf("%s: a client-side error has code %q", sock, ErrorCode(err))
		}
		_, err = c.Exec(context.Background(), "web-01", ExecRequest{Args: []string{"x"}}, ExecStreams{})
		if !errors.Is(err, ErrDaemonDown) || !strings.Contains(err.Error(), sock) {
			t.Errorf("exec on %s: %v", sock, err)
		}
	}
}

// A daemon that answers and hangs up is not "down": the message must not
// tell the user to start it.
func TestUnreachableAfterDial(t *testing.T) {
	sock := filepath.Join(shortDir(t), "d.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, err = (&Client{Socket: sock}).Status(context.Background())
	if err == nil || errors.Is(err, ErrDaemonDown) || !strings.Contains(err.Error(), "fatbox daemon at "+sock) || strings.Contains(err.Error(), "start it") {
		t.Fatalf("got %v", err)
	}
}

// A socket the caller may not open says so and how to get access; the
// daemon is running, so "start it" would be the wrong advice. As root the
// kernel lets every connect through, so the call runs in a helper process
// (this test binary) that drops to uid 65534 first.
func TestUnreachablePermissionDenied(t *testing.T) {
	dir := shortDir(t)
	if err := os.Chmod(dir, 0o755); err != nil { // others may reach the socket file
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "d.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Chmod(sock, 0); err != nil {
		t.Fatal(err)
	}
	var r dialResult
	if os.Geteuid() != 0 {
		// Mode 0 refuses its owner too.
		_, err := (&Client{Socket: sock}).Status(context.Background())
		r = dialResult{EUID: os.Geteuid(), Err: fmt.Sprint(err), Down: errors.Is(err, ErrDaemonDown)}
	} else {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), dialHelperEnv+"="+sock)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("helper: %v: %s", err, out)
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("helper said %q: %v", out, err)
		}
	}
	if r.EUID == 0 {
		t.Fatalf("the helper ran as root: the check proves nothing")
	}
	if !r.Down || !strings.Contains(r.Err, "permission denied") || !strings.Contains(r.Err, "usermod -aG fatbox") || strings.Contains(r.Err, "start it") {
		t.Fatalf("as uid %d: %q (ErrDaemonDown %v); want permission denied with the fix", r.EUID, r.Err, r.Down)
	}
}

func TestQuarantineDuration(t *testing.T) {
	var p Pool
	if p.QuarantineDuration().String() != "24h0m0s" {
		t.Fatalf("default %v", p.QuarantineDuration())
	}
	var zero Duration
	p.Quarantine = &zero
	if p.QuarantineDuration() != 0 {
		t.Fatalf("explicit 0 became %v", p.QuarantineDuration())
	}
	b, _ := json.Marshal(Pool{Quarantine: new(Duration(90 * 60 * 1e9))})
	var back Pool
	if err := json.Unmarshal(b, &back); err != nil || back.QuarantineDuration().String() != "1h30m0s" || !strings.Contains(string(b), `"quarantine":"1h30m0s"`) {
		t.Fatalf("%s -> %+v, %v", b, back, err)
	}
	for _, bad := range []string{`{"quarantine":3600}`, `{"quarantine":"soon"}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil || !strings.Contains(err.Error(), `like "24h"`) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
