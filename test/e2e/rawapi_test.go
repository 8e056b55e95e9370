package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
)

// Raw HTTP on the daemon's unix socket, for what the CLI cannot send, and
// checks of the daemon's error answers.

// rawAnswer is one answer of the daemon, as sent.
type rawAnswer struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
	CType  string `json:"content_type"`
	Err    string `json:"err,omitempty"` // the request itself failed (no answer)
}

// rawDo sends one request on a fresh connection to sock; body nil sends none.
func rawDo(sock, method, path string, body []byte) rawAnswer {
	c := &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
		},
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://fatbox"+path, rd)
	if err != nil {
		return rawAnswer{Err: err.Error()}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return rawAnswer{Err: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return rawAnswer{Status: resp.StatusCode, Body: string(b), CType: resp.Header.Get("Content-Type")}
}

// codeStatus is the HTTP status each API code goes with (engine/api).
var codeStatus = map[string][]int{
	api.CodeNotFound:    {http.StatusNotFound},
	api.CodeExists:      {http.StatusConflict},
	api.CodeInvalid:     {http.StatusBadRequest, http.StatusRequestTimeout},
	api.CodeConflict:    {http.StatusConflict},
	api.CodeBusy:        {http.StatusServiceUnavailable},
	api.CodeUnavailable: {http.StatusServiceUnavailable},
	api.CodeTooLarge:    {http.StatusRequestEntityTooLarge},
	api.CodeForbidden:   {http.StatusForbidden},
	api.CodeInternal:    {http.StatusInternalServerError},
}

// apiError checks that a is an error answer of the API — JSON with a
// known code that fits the status, a message and a request id — and
// returns it. Every problem is reported with where.
func apiError(t *testing.T, where string, a rawAnswer) (api.Error, bool) {
	t.Helper()
	var e api.Error
	if a.Err != "" {
		t.Errorf("%s: no answer: %s", where, a.Err)
		return e, false
	}
	if a.Status < 400 {
		t.Errorf("%s: HTTP %d, want an error answer; body %q", where, a.Status, trim(a.Body))
		return e, false
	}
	if err := json.Unmarshal([]byte(a.Body), &e); err != nil {
		t.Errorf("%s: HTTP %d answered without a JSON error body (%v): %q", where, a.Status, err, trim(a.Body))
		return e, false
	}
	ok := true
	if !strings.HasPrefix(a.CType, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", where, a.CType)
		ok = false
	}
	if e.Code == "" {
		t.Errorf("%s: HTTP %d error without a code: %q", where, a.Status, trim(a.Body))
		return e, false
	}
	if e.Error == "" {
		t.Errorf("%s: HTTP %d error %q without a message: %q", where, a.Status, e.Code, trim(a.Body))
		ok = false
	}
	if e.RequestID == "" {
		t.Errorf("%s: error answer without a request_id: %q", where, trim(a.Body))
		ok = false
	}
	if sts, known := codeStatus[e.Code]; !known {
		t.Errorf("%s: unknown code %q (not one of engine/api's codes): %q", where, e.Code, trim(a.Body))
		ok = false
	} else if !containsInt(sts, a.Status) {
		t.Errorf("%s: code %q came with HTTP %d, want %v", where, e.Code, a.Status, sts)
		ok = false
	}
	return e, ok
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func trim(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

// Requests as another user. The test binary doubles as a tiny client: run
// with rawRequestEnv set, it sends that one request and prints the answer
// as JSON, before TestMain runs.

const rawRequestEnv = "FATBOX_E2E_RAW_REQUEST"

type rawRequest struct {
	Socket string `json:"socket"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Body   string `json:"body,omitempty"`
}

func init() {
	spec := os.Getenv(rawRequestEnv)
	if spec == "" {
		return
	}
	var r rawRequest
	var a rawAnswer
	if err := json.Unmarshal([]byte(spec), &r); err != nil {
		a.Err = err.Error()
	} else {
		var body []byte
		if r.Body != "" {
			body = []byte(r.Body)
		}
		a = rawDo(r.Socket, r.Method, r.Path, body)
	}
	json.NewEncoder(os.Stdout).Encode(a)
	os.Exit(0)
}

// asUser runs requests as another uid through a copy of the test binary
// that every user may run.
type asUser struct {
	bin  string
	cred *syscall.Credential
}

// newRawClient copies the test binary into a directory every user can
// read (go test keeps it in a private one).
func newRawClient(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "fatbox-e2e-raw-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin := filepath.Join(dir, "rawclient")
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

func (u asUser) do(t *testing.T, sock, method, path, body string) rawAnswer {
	t.Helper()
	spec, _ := json.Marshal(rawRequest{Socket: sock, Method: method, Path: path, Body: body})
	cmd := exec.Command(u.bin)
	cmd.Env = []string{rawRequestEnv + "=" + string(spec), "PATH=/usr/bin:/bin"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.cred}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("raw client as uid %d: %v: %s", u.cred.Uid, err, out)
	}
	var a rawAnswer
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("raw client as uid %d printed %q: %v", u.cred.Uid, out, err)
	}
	return a
}

// runAs runs the fatbox CLI with cred.
func runAs(t *testing.T, cred *syscall.Credential, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e2ekit.Bin(), args...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := result{Stdout: o.String(), Stderr: e.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run fatbox %v as uid %d: %v", args, cred.Uid, err)
	}
	return r
}

// cliLine checks that a failed CLI run exited non-zero with exactly one
// line on stderr, "fatbox: ...", holding every part. Errors, not fatal.
func cliLine(t *testing.T, where string, r result, parts ...string) {
	t.Helper()
	if r.Code == 0 {
		t.Errorf("%s: exit 0, want non-zero; stdout %q stderr %q", where, trim(r.Stdout), trim(r.Stderr))
		return
	}
	lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n")
	if len(lines) != 1 || lines[0] == "" {
		t.Errorf("%s: stderr has %d lines, want 1: %q", where, len(lines), trim(r.Stderr))
		return
	}
	if !strings.HasPrefix(lines[0], "fatbox: ") {
		t.Errorf("%s: stderr %q does not start with \"fatbox: \"", where, lines[0])
	}
	for _, p := range parts {
		if !strings.Contains(lines[0], p) {
			t.Errorf("%s: stderr %q lacks %q", where, lines[0], p)
		}
	}
}
