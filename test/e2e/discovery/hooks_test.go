package discovery

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
)

// hookReceiver is a webhook receiver on loopback: it checks each call's
// HMAC, fails the first failFirst calls with a 500, and keeps the calls.
type hookReceiver struct {
	t         *testing.T
	secret    string
	failFirst int
	mu        sync.Mutex
	calls     []hookCall
	srv       *httptest.Server
}

type hookCall struct {
	Key, Kind, Name, From string
	Seq                   uint64
	Status                int
}

func newHookReceiver(t *testing.T, secret string, failFirst int) *hookReceiver {
	r := &hookReceiver{t: t, secret: secret, failFirst: failFirst}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		m := hmac.New(sha256.New, []byte(r.secret))
		m.Write(body)
		if got, want := req.Header.Get("X-Fatbox-Signature"), "sha256="+hex.EncodeToString(m.Sum(nil)); got != want {
			r.t.Errorf("signature %q, want %q for %s", got, want, body)
		}
		var d struct {
			Delivery, Kind, Name, From string
			Seq                        uint64
			Record                     struct{ Name, IP string }
		}
		if err := json.Unmarshal(body, &d); err != nil || d.Delivery != req.Header.Get("X-Fatbox-Delivery") || d.Record.Name == "" {
			r.t.Errorf("delivery %s (%v) does not match its header %q", body, err, req.Header.Get("X-Fatbox-Delivery"))
		}
		r.mu.Lock()
		c := hookCall{Key: d.Delivery, Kind: d.Kind, Name: d.Name, From: d.From, Seq: d.Seq, Status: http.StatusOK}
		if len(r.calls) < r.failFirst {
			c.Status = http.StatusInternalServerError
		}
		r.calls = append(r.calls, c)
		r.mu.Unlock()
		w.WriteHeader(c.Status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// got is what a receiver that drops repeats (by idempotency key) keeps.
func (r *hookReceiver) got() []hookCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var out []hookCall
	for _, c := range r.calls {
		if c.Status == http.StatusOK && !seen[c.Key] {
			seen[c.Key] = true
			out = append(out, c)
		}
	}
	return out
}

func kindsOf(cs []hookCall) []string {
	var k []string
	for _, c := range cs {
		k = append(k, c.Kind)
	}
	return k
}

// TestLifecycleHooks: webhooks on loopback get a container's created,
// stopped, renamed and removed events in order with a valid HMAC, across a
// daemon killed and restarted; one failing its first two calls still gets
// each event, its key the same on every retry; a hook whose receiver hangs
// slows neither create nor stop; a failing hook shows in `fatbox status`,
// the daemon's log and the event log (`fatbox events`).
func TestLifecycleHooks(t *testing.T) {
	t.Parallel()
	e := e2ekit.NewEnv(t, "198.19.174.0/24")
	ok := newHookReceiver(t, "ok-secret", 0)
	flaky := newHookReceiver(t, "flaky-secret", 2)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-req.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // before hang.Close, which waits for its handlers

	secretFile := filepath.Join(e.Dir, "ok.secret")
	if err := os.WriteFile(secretFile, []byte("ok-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(e.Dir, "hooks.yaml")
	if err := os.WriteFile(cfg, []byte(`hooks:
  - name: ok
    url: `+ok.srv.URL+`/fatbox
    secret_file: `+secretFile+`
  - name: flaky
    url: `+flaky.srv.URL+`/fatbox
    secret: flaky-secret
  - name: hang
    url: `+hang.URL+`/fatbox
    timeout: 60s
  - name: down
    url: http://127.0.0.1:1/fatbox
    events: [created]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	e.Args = append(e.Args, "--config", cfg)
	e.D.Stop()
	e.D = e2ekit.SpawnDaemon(t, e.State, e.Sock, e.Args...)

	// The lifecycle does not wait on the hooks (the hang hook's one
	// delivery alone would take 60 s).
	t0 := time.Now()
	e.Create("hook-01", "--memory", "256M", "--disk", "1G")
	e.RemoveAtEnd(t, "hook-01", "hook-02")
	tCreate := time.Since(t0)
	t0 = time.Now()
	e.OK("stop", "hook-01")
	tStop := time.Since(t0)
	t.Logf("create %s, stop %s with a hook whose receiver hangs", tCreate.Round(time.Millisecond), tStop.Round(time.Millisecond))
	if tCreate > 40*time.Second || tStop > 20*time.Second {
		t.Fatalf("create took %s, stop %s: the lifecycle waited on a hook", tCreate, tStop)
	}
	e2ekit.WaitFor(t, 15*time.Second, "created and stopped at the ok hook", func() bool {
		return slices.Contains(kindsOf(ok.got()), "stopped")
	})

	// A failing hook: in `fatbox status`, and in the daemon's log.
	e2ekit.WaitFor(t, 10*time.Second, "the down hook failing in status", func() bool {
		for _, h := range e2ekit.StatusJSON(t, e.Sock).Hooks {
			if h.Name == "down" && h.Failures > 0 && strings.Contains(h.LastError, "connection refused") && h.Position == 0 {
				return true
			}
		}
		return false
	})
	st := e2ekit.StatusJSON(t, e.Sock)
	for _, h := range st.Hooks {
		if h.Name == "hang" && (h.Position != 0 || h.Delivering != 1) {
			t.Errorf("the hang hook moved past an event it never delivered: %+v", h)
		}
	}
	text := e.OK("status").Stdout
	t.Logf("fatbox status:\n%s", text)
	if !strings.Contains(text, "hook:      down → http://127.0.0.1:1/fatbox") || !strings.Contains(text, "failing (") ||
		!strings.Contains(text, "delivering event 1 for") {
		t.Fatalf("fatbox status does not show the failing hook:\n%s", text)
	}
	e.D.Kill9(t)
	if log := e.D.Log.String(); !strings.Contains(log, "hook: delivery failed") || !strings.Contains(log, "down") {
		t.Fatalf("the daemon's log does not say the hook failed:\n%s", log)
	}

	// Restarted: each hook goes on from its stored position.
	e.D = e2ekit.SpawnDaemon(t, e.State, e.Sock, e.Args...)
	e.OK("rename", "hook-01", "hook-02")
	e.OK("rm", "hook-02")
	for _, r := range []*hookReceiver{ok, flaky} {
		e2ekit.WaitFor(t, 20*time.Second, "removed delivered", func() bool { return slices.Contains(kindsOf(r.got()), "removed") })
	}
	got := ok.got()
	t.Logf("ok hook got %v", kindsOf(got))
	same := func(a, b hookCall) bool { a.Key, b.Key = "", ""; return a == b }
	if !slices.EqualFunc(got, flaky.got(), same) {
		t.Fatalf("the flaky hook got %v, the ok one %v", flaky.got(), got)
	}
	// The event log: the hooks' own notes (a failure, once per run of
	// failures, and the late delivery after it), which no hook is sent.
	notes := map[uint64]string{}
	sc := bufio.NewScanner(strings.NewReader(e.OK("events", "-o", "json").Stdout))
	for sc.Scan() {
		var ev api.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("fatbox events: %v: %q", err, sc.Text())
		}
		if ev.Kind == "hook" {
			notes[ev.Seq] = ev.Step
		}
	}
	var steps []string
	for _, seq := range slices.Sorted(maps.Keys(notes)) {
		steps = append(steps, notes[seq])
	}
	t.Logf("hook notes in the event log: %q", steps)
	for _, w := range []string{`hook "down" failed to deliver event ` + strconv.FormatUint(got[0].Seq, 10) + ` (created): `,
		`hook "flaky" failed to deliver event ` + strconv.FormatUint(got[0].Seq, 10) + ` (created): `,
		`hook "flaky" delivered event ` + strconv.FormatUint(got[0].Seq, 10) + ` (created) after 2 failed attempts`} {
		if !slices.ContainsFunc(steps, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("no hook note %q in the event log", w)
		}
	}
	if n := len(steps); n != 4 {
		t.Errorf("%d hook notes, want 4 (down failing, before and after the restart; flaky failing and delivering): %q", n, steps)
	}
	want := []string{"created", "stopped", "renamed", "removed"}
	i := 0
	for n, c := range got {
		if c.Kind == "hook" {
			t.Errorf("a hook was sent a hook note: %+v", c)
		}
		for seq := got[max(n, 1)-1].Seq + 1; n > 0 && seq < c.Seq; seq++ {
			if _, ok := notes[seq]; !ok {
				t.Errorf("event %d came after %d: a gap (event %d is no hook note) or out of order: %v", c.Seq, got[n-1].Seq, seq, got)
			}
		}
		if n > 0 && c.Seq <= got[n-1].Seq {
			t.Errorf("event %d came after %d: out of order: %v", c.Seq, got[n-1].Seq, got)
		}
		if i < len(want) && c.Kind == want[i] {
			i++
		}
	}
	if i != len(want) || got[len(got)-1].Kind != "removed" || got[len(got)-1].Name != "hook-02" {
		t.Fatalf("got %v, want %v in this order", kindsOf(got), want)
	}
	// The flaky hook's first three calls were one event, one key.
	flaky.mu.Lock()
	calls := slices.Clone(flaky.calls)
	flaky.mu.Unlock()
	if len(calls) < 3 || calls[0].Key != calls[1].Key || calls[1].Key != calls[2].Key || calls[0].Key != "flaky-"+strconv.FormatUint(got[0].Seq, 10) {
		t.Fatalf("the retries of the first event changed its key: %+v", calls[:min(3, len(calls))])
	}
	e2ekit.WaitFor(t, 10*time.Second, "the ok hook caught up", func() bool {
		for _, h := range e2ekit.StatusJSON(t, e.Sock).Hooks {
			if h.Name == "ok" {
				return h.Lag == 0 && h.Failures == 0 && h.Running
			}
		}
		return false
	})
}
