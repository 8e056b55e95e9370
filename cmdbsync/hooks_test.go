package cmdbsync

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory"
)

// receiver is a webhook receiver that records each call and fails the
// first failFirst of them (or all, failFirst < 0) with a 500.
type receiver struct {
	t         *testing.T
	secret    []byte
	failFirst int
	mu        sync.Mutex
	calls     []call
	srv       *httptest.Server
}

type call struct {
	key, kind, name string
	seq             uint64
	signed          bool
	status          int
}

func newReceiver(t *testing.T, secret string, failFirst int) *receiver {
	r := &receiver{t: t, secret: []byte(secret), failFirst: failFirst}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var d HookDelivery
	if err := json.Unmarshal(body, &d); err != nil {
		r.t.Errorf("body is not a delivery: %v: %s", err, body)
	}
	c := call{key: req.Header.Get(HeaderDelivery), kind: d.Kind, name: d.Name, seq: d.Seq,
		signed: req.Header.Get(HeaderSignature) == Sign(r.secret, body)}
	if c.key != d.Delivery || req.Header.Get(HeaderEvent) != d.Kind || d.Record.ID == "" {
		r.t.Errorf("headers %v do not match the body %s", req.Header, body)
	}
	r.mu.Lock()
	c.status = http.StatusOK
	if r.failFirst < 0 || len(r.calls) < r.failFirst {
		c.status = http.StatusInternalServerError
	}
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	w.WriteHeader(c.status)
	fmt.Fprintln(w, "receiver says", c.status)
}

// delivered are the calls answered 2xx, in order.
func (r *receiver) delivered() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if c.status == http.StatusOK {
			out = append(out, c)
		}
	}
	return out
}

func (r *receiver) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func fastHook(f *fleet, cfg HookConfig) HookConfig {
	cfg.Source, cfg.Positions = f.inv, f.inv
	cfg.PollInterval, cfg.RetryMin, cfg.RetryMax = 20*time.Millisecond, 10*time.Millisecond, 40*time.Millisecond
	return cfg
}

// runHook runs a hook until the test ends (or stop is called).
func runHook(t *testing.T, cfg HookConfig) (*Hook, func()) {
	t.Helper()
	h, err := NewHook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return h, stop
}

func (f *fleet) events() []inventory.Event {
	f.t.Helper()
	evs, err := f.inv.Events(f.ctx, 0, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

// A webhook that fails its first calls gets every event of create, rename,
// stop, remove, in order, signed, each with the same key on its retries.
func TestHookWebhookOrderRetriesSignature(t *testing.T) {
	f := newFleet(t)
	f.create("web-01", "10.0.0.2")
	f.rename("web-01", "web-02")
	f.stop("web-02")
	f.remove("web-02")
	want := f.events()
	rcv := newReceiver(t, "s3cret", 2)
	h, _ := runHook(t, fastHook(f, HookConfig{Name: "nginx", URL: rcv.srv.URL + "/hook", Secret: []byte("s3cret"), FromBeginning: true}))
	waitFor(t, 10*time.Second, "every event delivered", func() bool { return len(rcv.delivered()) == len(want) })

	var kinds []string
	for i, c := range rcv.delivered() {
		kinds = append(kinds, c.kind)
		if c.seq != want[i].Seq || c.key != DeliveryKey("nginx", want[i].Seq) || !c.signed {
			t.Errorf("delivery %d: %+v, want event %d signed", i, c, want[i].Seq)
		}
	}
	if !slices.Contains(kinds, "created") || !slices.Contains(kinds, "renamed") || !slices.Contains(kinds, "stopped") || kinds[len(kinds)-1] != "removed" {
		t.Errorf("kinds %v", kinds)
	}
	// The two failed calls were the first event, with its key each time.
	all := rcv.all()
	for _, c := range all[:3] {
		if c.key != DeliveryKey("nginx", want[0].Seq) {
			t.Errorf("a retry changed the key: %+v", all[:3])
		}
	}
	// The failure and the late delivery are in the event log, about the
	// first event; the hook passes its own notes over (never delivered).
	var notes []inventory.Event
	waitFor(t, 10*time.Second, "two hook notes in the event log", func() bool {
		notes = notes[:0]
		for _, ev := range f.events() {
			if ev.Kind == inventory.EventHook {
				notes = append(notes, ev)
			}
		}
		return len(notes) == 2
	})
	for i, w := range []string{fmt.Sprintf(`hook "nginx" failed to deliver event %d (created): `, want[0].Seq),
		fmt.Sprintf(`hook "nginx" delivered event %d (created) after 2 failed attempts`, want[0].Seq)} {
		if n := notes[i]; !strings.Contains(n.Step, w) || n.Name != "web-01" || n.ContainerID != want[0].ContainerID || n.Changes() {
			t.Errorf("note %d: %+v, want about web-01 with %q", i, n, w)
		}
	}
	if !strings.Contains(notes[0].Step, "500") {
		t.Errorf("the failure's note does not say why: %q", notes[0].Step)
	}
	waitFor(t, 10*time.Second, "the position stored past the notes", func() bool {
		pos, _, _ := f.inv.HookPosition(f.ctx, "nginx")
		evs := f.events()
		return pos == evs[len(evs)-1].Seq
	})
	waitFor(t, 10*time.Second, "status caught up", func() bool { s := h.Status(); return s.Lag == 0 && s.Failures == 0 })
	if s := h.Status(); s.Delivered != uint64(len(want)) || !s.Running || s.LastError != "" {
		t.Errorf("status %+v", s)
	}
}

// A new hook starts at the log's end; its position survives a restart; a
// filter passes the other kinds over.
func TestHookStartsAtEndFilterAndRestart(t *testing.T) {
	f := newFleet(t)
	f.create("web-01", "10.0.0.2")
	rcv := newReceiver(t, "", 0)
	_, stop := runHook(t, fastHook(f, HookConfig{Name: "zk", URL: rcv.srv.URL, Events: []string{"stopped", "removed"}}))
	waitFor(t, 10*time.Second, "the position set", func() bool { _, ok, _ := f.inv.HookPosition(f.ctx, "zk"); return ok })
	f.stop("web-01")
	waitFor(t, 10*time.Second, "stopped delivered", func() bool { return len(rcv.delivered()) == 1 })
	waitFor(t, 10*time.Second, "its position stored", func() bool {
		pos, _, _ := f.inv.HookPosition(f.ctx, "zk")
		return pos == f.lastSeq()
	})
	stop()
	f.start("web-01")
	f.remove("web-01")
	h, _ := runHook(t, fastHook(f, HookConfig{Name: "zk", URL: rcv.srv.URL, Events: []string{"stopped", "removed"}}))
	waitFor(t, 10*time.Second, "removed delivered", func() bool { return len(rcv.delivered()) == 2 })
	waitFor(t, 10*time.Second, "position at the end", func() bool { return h.Status().Position == f.lastSeq() })
	time.Sleep(100 * time.Millisecond)
	var kinds []string
	for _, c := range rcv.all() {
		kinds = append(kinds, c.kind)
		if c.signed && c.key == "" {
			t.Errorf("call %+v", c)
		}
	}
	if !slices.Equal(kinds, []string{"stopped", "removed"}) {
		t.Fatalf("got %v, want [stopped removed] (created came before the hook; started is filtered)", kinds)
	}
}

// A command hook gets the JSON on stdin and the event in its environment.
func TestHookCommand(t *testing.T) {
	f := newFleet(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	script := `cat > "$OUT.$FATBOX_SEQ.json"; echo "$FATBOX_EVENT $FATBOX_CONTAINER $FATBOX_FROM $FATBOX_DELIVERY" >> "$OUT"`
	t.Setenv("OUT", out)
	runHook(t, fastHook(f, HookConfig{Name: "cmd", Command: []string{"/bin/sh", "-c", script}, FromBeginning: true}))
	f.create("db-01", "10.0.0.3")
	f.rename("db-01", "db-02")
	waitFor(t, 10*time.Second, "two lines", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Count(string(b), "\n") == len(f.events())
	})
	b, _ := os.ReadFile(out)
	evs := f.events()
	last := evs[len(evs)-1]
	if !strings.HasSuffix(string(b), fmt.Sprintf("renamed db-02 db-01 cmd-%d\n", last.Seq)) {
		t.Fatalf("lines %q", b)
	}
	j, err := os.ReadFile(fmt.Sprintf("%s.%d.json", out, last.Seq))
	if err != nil {
		t.Fatal(err)
	}
	var d HookDelivery
	if err := json.Unmarshal(j, &d); err != nil || d.Kind != "renamed" || d.Record.Name != "db-02" || d.From != "db-01" {
		t.Fatalf("stdin %s: %v", j, err)
	}
}

// A command that fails, or outlives its timeout, is retried; its error is
// in the status.
func TestHookCommandFailsAndTimesOut(t *testing.T) {
	f := newFleet(t)
	f.create("db-01", "10.0.0.3")
	fail, _ := runHook(t, fastHook(f, HookConfig{Name: "fail", Command: []string{"/bin/sh", "-c", "echo nope >&2; exit 3"}, FromBeginning: true}))
	slow, _ := runHook(t, fastHook(f, HookConfig{Name: "slow", Command: []string{"/bin/sleep", "30"}, Timeout: 50 * time.Millisecond, FromBeginning: true}))
	waitFor(t, 10*time.Second, "failures", func() bool { return fail.Status().Failures >= 2 && slow.Status().Failures >= 2 })
	if s := fail.Status(); !strings.Contains(s.LastError, "exit status 3") || !strings.Contains(s.LastError, "nope") || s.Position != 0 {
		t.Errorf("status %+v", s)
	}
	if s := slow.Status(); !strings.Contains(s.LastError, "killed") || s.Position != 0 {
		t.Errorf("status %+v", s)
	}
}

// A failing hook blocks only its own later events.
func TestHookFailingDoesNotBlockAnother(t *testing.T) {
	f := newFleet(t)
	bad := newReceiver(t, "", -1)
	good := newReceiver(t, "", 0)
	hb, _ := runHook(t, fastHook(f, HookConfig{Name: "bad", URL: bad.srv.URL, FromBeginning: true}))
	hg, _ := runHook(t, fastHook(f, HookConfig{Name: "good", URL: good.srv.URL, FromBeginning: true}))
	f.create("web-01", "10.0.0.2")
	f.stop("web-01")
	n := len(f.events())
	waitFor(t, 10*time.Second, "the good hook has everything", func() bool { return len(good.delivered()) == n })
	waitFor(t, 10*time.Second, "the bad hook failing", func() bool { return hb.Status().Failures >= 3 })
	s := hb.Status()
	// The lag counts the log's events after its position: the two of the
	// containers and the note of its own failure (noted once, not per retry).
	if s.Position != 0 || s.Lag != uint64(n)+1 || f.lastSeq() != uint64(n)+1 || !strings.Contains(s.LastError, "500") {
		t.Errorf("bad hook status %+v (log ends at %d)", s, f.lastSeq())
	}
	for _, c := range bad.all() {
		if c.seq != 1 {
			t.Fatalf("the bad hook got event %d before event 1 was delivered", c.seq)
		}
	}
	if s := hg.Status(); s.Failures != 0 || s.Position != f.lastSeq() {
		t.Errorf("good hook status %+v", s)
	}
}

// A receiver that redirects is a failure saying so; a password in the URL
// is never shown.
func TestHookRedirectAndRedaction(t *testing.T) {
	f := newFleet(t)
	srv := httptest.NewServer(http.RedirectHandler("/elsewhere", http.StatusFound))
	t.Cleanup(srv.Close)
	u := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1)
	h, _ := runHook(t, fastHook(f, HookConfig{Name: "r", URL: u, FromBeginning: true}))
	f.create("web-01", "10.0.0.2")
	waitFor(t, 10*time.Second, "a failure", func() bool { return h.Status().Failures > 0 })
	s := h.Status()
	if !strings.Contains(s.LastError, "redirects") || strings.Contains(s.LastError+s.Target, "hunter2") {
		t.Fatalf("status %+v", s)
	}
}

func TestHookConfigCheck(t *testing.T) {
	inv := newFleet(t).inv
	for _, c := range []struct {
		cfg  HookConfig
		want string
	}{
		{HookConfig{URL: "http://x"}, "no name"},
		{HookConfig{Name: "a/b", URL: "http://x"}, "letters, digits"},
		{HookConfig{Name: "a"}, "exactly one of url"},
		{HookConfig{Name: "a", URL: "http://x", Command: []string{"/bin/true"}}, "exactly one of url"},
		{HookConfig{Name: "a", URL: "ftp://x"}, "http:// or https://"},
		{HookConfig{Name: "a", Command: []string{"/bin/true"}, Secret: []byte("s")}, "remove secret"},
		{HookConfig{Name: "a", URL: "http://x", Events: []string{"stoped"}}, `unknown kind "stoped"`},
	} {
		c.cfg.Source, c.cfg.Positions = inv, inv
		if _, err := NewHook(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.cfg, err, c.want)
		}
	}
}

// An event that fails, then goes through in the same pass in which the
// next one fails: both the late delivery of the first and the failure of
// the second are noted, each with its own count.
func TestHookNotesEachFailingEvent(t *testing.T) {
	f := newFleet(t)
	f.create("web-01", "10.0.0.2")
	f.stop("web-01")
	evs := f.events()
	first, second := evs[0].Seq, evs[1].Seq
	var mu sync.Mutex
	calls := map[uint64]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var d struct{ Seq uint64 }
		body, _ := io.ReadAll(req.Body)
		json.Unmarshal(body, &d)
		mu.Lock()
		calls[d.Seq]++
		n := calls[d.Seq]
		mu.Unlock()
		if d.Seq == first && n <= 2 || d.Seq == second && n <= 1 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	runHook(t, fastHook(f, HookConfig{Name: "two", URL: srv.URL, FromBeginning: true}))
	var steps []string
	waitFor(t, 10*time.Second, "four notes", func() bool {
		steps = steps[:0]
		for _, ev := range f.events() {
			if ev.Kind == inventory.EventHook {
				steps = append(steps, ev.Step)
			}
		}
		return len(steps) == 4
	})
	want := []string{
		fmt.Sprintf(`hook "two" failed to deliver event %d (created)`, first),
		fmt.Sprintf(`hook "two" delivered event %d (created) after 2 failed attempts`, first),
		fmt.Sprintf(`hook "two" failed to deliver event %d (stopped)`, second),
		fmt.Sprintf(`hook "two" delivered event %d (stopped) after 1 failed attempts`, second),
	}
	for i, w := range want {
		if !strings.HasPrefix(steps[i], w) {
			t.Errorf("note %d: %q, want %q", i, steps[i], w)
		}
	}
}
