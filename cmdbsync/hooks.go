package cmdbsync

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fatbox/fatbox/inventory"
)

// Lifecycle hooks: each event of the inventory's log (created, started,
// stopped, renamed, removed, resized, ...) delivered to a webhook (an HTTP
// POST of the event and its record as JSON, HMAC-SHA256-signed) or to a
// command run on the host (the same JSON on its stdin). Each hook has its
// own position in the log, kept in the store: delivery is at least once and
// in log order (so in order per container). The position moves past an
// event only after a 2xx answer or exit status 0; a failed delivery is
// retried with backoff and blocks that hook's later events (never another
// hook's, never the lifecycle: the loop runs beside it and reads only the
// log). Every delivery carries an idempotency key, <hook>-<event seq>, the
// same on every retry, so a receiver drops repeats.

// HookEventKinds returns the event kinds a hook's filter may name.
func HookEventKinds() []string {
	return []string{inventory.EventCreated, inventory.EventStarted, inventory.EventStopped, inventory.EventRenamed,
		inventory.EventRemoved, inventory.EventResized, inventory.EventLabels, inventory.EventServices, inventory.EventRelease}
}

// Header names of a webhook delivery.
const (
	HeaderSignature = "X-Fatbox-Signature" // sha256=<hex of HMAC-SHA256(secret, body)>
	HeaderDelivery  = "X-Fatbox-Delivery"  // <hook>-<event seq>: the idempotency key
	HeaderEvent     = "X-Fatbox-Event"     // the event's kind
)

// HookPositions keeps each hook's position durably, and notes in the event
// log a delivery that failed or went through after failing;
// *inventory.Inventory is one.
type HookPositions interface {
	HookPosition(ctx context.Context, hook string) (seq uint64, ok bool, err error)
	SetHookPosition(ctx context.Context, hook string, seq uint64) error
	NoteHook(ctx context.Context, about inventory.Event, step string) error
}

var _ HookPositions = (*inventory.Inventory)(nil)

// HookConfig is one hook: exactly one of URL and Command.
type HookConfig struct {
	// Name names the hook: its position, its idempotency keys, its status.
	Name string
	// URL is the webhook's address (http or https); Secret, when set, signs
	// each body (HeaderSignature).
	URL    string
	Secret []byte
	// Command is the argv run on the host for each event.
	Command []string
	// Events are the kinds delivered (nil: every kind); the others are
	// passed over.
	Events []string
	// Timeout bounds one delivery (default 10s).
	Timeout time.Duration
	// FromBeginning: a hook with no stored position starts at the first
	// event of the log instead of its current end.
	FromBeginning bool
	// PollInterval (default 2s) is how often the log is read without a
	// Notify; RetryMin and RetryMax (default 1s and 1m) bound the backoff
	// between attempts at a failing event.
	PollInterval, RetryMin, RetryMax time.Duration
	Source                           Source
	Positions                        HookPositions
	Logger                           *slog.Logger
}

// HookStatus is a hook's state, for `fatbox status`.
type HookStatus struct {
	Name    string `json:"name"`
	Target  string `json:"target"` // the URL (password redacted) or the command
	Running bool   `json:"running"`
	// Position is the last event delivered or passed over; Lag how many
	// events of the log come after it.
	Position  uint64 `json:"position"`
	Lag       uint64 `json:"lag"`
	Delivered uint64 `json:"delivered"` // since the daemon started
	// Failures counts the failed attempts in a row at the event after
	// Position; LastError is the last one's reason.
	Failures    int       `json:"failures"`
	LastError   string    `json:"last_error,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	// Delivering is the event being delivered now (0: none), since
	// DeliveringSince: a receiver that hangs shows here until the timeout.
	Delivering      uint64    `json:"delivering,omitempty"`
	DeliveringSince time.Time `json:"delivering_since,omitzero"`
}

// Hook delivers the event log to one hook.
type Hook struct {
	cfg    HookConfig
	target string
	client *http.Client
	poke   chan struct{}
	mu     sync.Mutex
	status HookStatus
}

// NewHook checks cfg and makes the hook; it delivers nothing until Run.
func NewHook(cfg HookConfig) (*Hook, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(time.Minute, cfg.RetryMin)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	target := strings.Join(cfg.Command, " ")
	if cfg.URL != "" {
		u, _ := url.Parse(cfg.URL) // check parsed it
		target = u.Redacted()
	}
	h := &Hook{cfg: cfg, target: target, poke: make(chan struct{}, 1), status: HookStatus{Name: cfg.Name, Target: target}}
	h.client = &http.Client{Timeout: cfg.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return h, nil
}

func (c HookConfig) check() error {
	where := fmt.Sprintf("hook %q", c.Name)
	switch {
	case c.Source == nil || c.Positions == nil:
		return fmt.Errorf("%s: a source and a position store are required", where)
	case c.Name == "":
		return errors.New("hook: no name: give each hook a name (letters, digits, '-', '_'), e.g. name: nginx-upstreams")
	case strings.Trim(c.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" || len(c.Name) > 64:
		return fmt.Errorf("%s: a name is up to 64 letters, digits, '-' and '_' (it names the hook's position in the store)", where)
	case (c.URL == "") == (len(c.Command) == 0):
		return fmt.Errorf("%s: give exactly one of url (a webhook) and command (an argv run on the host)", where)
	case len(c.Command) > 0 && len(c.Secret) > 0:
		return fmt.Errorf("%s: a secret signs webhook bodies: a command hook has none, remove secret", where)
	case len(c.Command) > 0 && c.Command[0] == "":
		return fmt.Errorf("%s: command's first element is empty: give the program's path", where)
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil {
			return fmt.Errorf("%s: url: %w", where, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: url %q: give an http:// or https:// address with a host, e.g. https://hooks.example.com/fatbox", where, u.Redacted())
		}
	}
	for _, k := range c.Events {
		if !slices.Contains(HookEventKinds(), k) {
			return fmt.Errorf("%s: events: unknown kind %q: the kinds are %s", where, k, strings.Join(HookEventKinds(), ", "))
		}
	}
	return nil
}

// Name is the hook's name.
func (h *Hook) Name() string { return h.cfg.Name }

// Notify asks for a pass soon; it never blocks.
func (h *Hook) Notify() {
	select {
	case h.poke <- struct{}{}:
	default:
	}
}

// Status returns the hook's state now.
func (h *Hook) Status() HookStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status
}

func (h *Hook) set(f func(*HookStatus)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(&h.status)
}

// Run delivers the log's events from the hook's position until ctx ends.
func (h *Hook) Run(ctx context.Context) error {
	h.set(func(s *HookStatus) { s.Running = true })
	defer h.set(func(s *HookStatus) { s.Running = false })
	pos, fails := uint64(0), 0
	started := false
	// failing is the event whose delivery failed and is noted in the log
	// as such (once per run of failures of this process: a daemon that
	// restarts notes it again), so its success is noted too.
	var failing *inventory.Event
	for ctx.Err() == nil {
		var err error
		var failed *inventory.Event
		if !started {
			pos, err = h.start(ctx)
			started = err == nil
		}
		if started {
			pos, failed, err = h.pass(ctx, pos)
		}
		wait := h.cfg.PollInterval
		if err != nil && ctx.Err() == nil {
			if failing != nil && pos >= failing.Seq {
				// The failing event went through in this pass, before
				// another one failed: its delivery is noted, and the count
				// starts again for the new one.
				h.noteDelivered(ctx, *failing, fails)
				failing, fails = nil, 0
			}
			fails++
			wait = backoff(h.cfg.RetryMin, h.cfg.RetryMax, fails)
			h.set(func(s *HookStatus) { s.Failures, s.LastError = fails, err.Error() })
			h.cfg.Logger.Warn("hook: delivery failed: its later events wait for this one", "hook", h.cfg.Name, "error", err, "failures", fails, "retry_in", wait.Round(time.Millisecond))
			if failed != nil && (failing == nil || failing.Seq != failed.Seq) {
				step := fmt.Sprintf("hook %q failed to deliver event %d (%s): %v; retrying with backoff, its later events wait", h.cfg.Name, failed.Seq, failed.Kind, cmp.Or(errors.Unwrap(err), err))
				if nerr := h.cfg.Positions.NoteHook(ctx, *failed, step); nerr != nil {
					h.cfg.Logger.Warn("hook: could not note the failure in the event log", "hook", h.cfg.Name, "error", nerr)
				} else {
					failing = failed
				}
			}
		} else if err == nil {
			if fails > 0 {
				h.cfg.Logger.Info("hook: delivering again", "hook", h.cfg.Name, "after_failures", fails)
			}
			if failing != nil && pos >= failing.Seq {
				h.noteDelivered(ctx, *failing, fails)
				failing = nil
			}
			fails = 0
			h.set(func(s *HookStatus) { s.Failures, s.LastError = 0, "" })
		}
		select {
		case <-ctx.Done():
		case <-h.poke:
			if err != nil {
				// a failing hook waits out its backoff even when poked
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
			}
		case <-time.After(wait):
		}
	}
	return nil
}

// noteDelivered notes in the event log that ev, noted as failing, was
// delivered after fails failed attempts.
func (h *Hook) noteDelivered(ctx context.Context, ev inventory.Event, fails int) {
	step := fmt.Sprintf("hook %q delivered event %d (%s) after %d failed attempts", h.cfg.Name, ev.Seq, ev.Kind, fails)
	if err := h.cfg.Positions.NoteHook(ctx, ev, step); err != nil {
		h.cfg.Logger.Warn("hook: could not note the delivery in the event log", "hook", h.cfg.Name, "error", err)
	}
}

// start reads the stored position, or sets it: the log's current end (the
// beginning when configured so) for a hook new to this store.
func (h *Hook) start(ctx context.Context) (uint64, error) {
	pos, ok, err := h.cfg.Positions.HookPosition(ctx, h.cfg.Name)
	if err != nil || ok {
		h.set(func(s *HookStatus) { s.Position = pos })
		return pos, err
	}
	if !h.cfg.FromBeginning {
		if pos, err = h.cfg.Source.LastSeq(ctx); err != nil {
			return 0, err
		}
	}
	if err := h.cfg.Positions.SetHookPosition(ctx, h.cfg.Name, pos); err != nil {
		return 0, err
	}
	h.cfg.Logger.Info("hook: new, starting in the event log", "hook", h.cfg.Name, "after_event", pos)
	h.set(func(s *HookStatus) { s.Position = pos })
	return pos, nil
}

// pass delivers the events after pos in order until the log's end or the
// first failure, and returns the new position (already stored) and, when
// a delivery failed, the event it failed at.
func (h *Hook) pass(ctx context.Context, pos uint64) (uint64, *inventory.Event, error) {
	last, err := h.cfg.Source.LastSeq(ctx)
	if err != nil {
		return pos, nil, err
	}
	h.set(func(s *HookStatus) { s.Lag = last - min(last, pos) })
	for pos < last && ctx.Err() == nil {
		evs, err := h.cfg.Source.Events(ctx, pos, 100)
		if err != nil {
			return pos, nil, err
		}
		if len(evs) == 0 {
			break
		}
		skipped := pos
		for _, ev := range evs {
			// A hook's own notes are never delivered (a failing hook
			// would feed itself).
			if ev.Kind == inventory.EventHook || len(h.cfg.Events) > 0 && !slices.Contains(h.cfg.Events, ev.Kind) {
				skipped = ev.Seq
				continue
			}
			if skipped != pos {
				if err := h.save(ctx, skipped, last); err != nil {
					return pos, nil, err
				}
				pos = skipped
			}
			h.set(func(s *HookStatus) { s.Delivering, s.DeliveringSince = ev.Seq, time.Now() })
			err := h.deliver(ctx, ev)
			h.set(func(s *HookStatus) { s.Delivering, s.DeliveringSince = 0, time.Time{} })
			if err != nil {
				return pos, &ev, fmt.Errorf("event %d (%s %q): %w", ev.Seq, ev.Kind, ev.Name, err)
			}
			h.set(func(s *HookStatus) { s.Delivered++; s.LastSuccess = time.Now() })
			if err := h.save(ctx, ev.Seq, last); err != nil {
				return pos, nil, err
			}
			pos, skipped = ev.Seq, ev.Seq
		}
		if skipped != pos {
			if err := h.save(ctx, skipped, last); err != nil {
				return pos, nil, err
			}
			pos = skipped
		}
	}
	return pos, nil, nil
}

func (h *Hook) save(ctx context.Context, pos, last uint64) error {
	if err := h.cfg.Positions.SetHookPosition(ctx, h.cfg.Name, pos); err != nil {
		return err
	}
	h.set(func(s *HookStatus) { s.Position, s.Lag = pos, max(last, pos)-pos })
	return nil
}

// HookDelivery is the JSON a hook receives: the idempotency key and the
// hook's name, then the event with the container's record after it.
type HookDelivery struct {
	Delivery string `json:"delivery"`
	Hook     string `json:"hook"`
	inventory.Event
}

// DeliveryKey is the idempotency key of a hook's delivery of event seq.
func DeliveryKey(hook string, seq uint64) string { return hook + "-" + strconv.FormatUint(seq, 10) }

// Sign is the signature header's value for body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (h *Hook) deliver(ctx context.Context, ev inventory.Event) error {
	key := DeliveryKey(h.cfg.Name, ev.Seq)
	body, err := json.Marshal(HookDelivery{Delivery: key, Hook: h.cfg.Name, Event: ev})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	if h.cfg.URL != "" {
		return h.post(ctx, ev, key, body)
	}
	return h.run(ctx, ev, key, body)
}

func (h *Hook) post(ctx context.Context, ev inventory.Event, key string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "fatbox-hooks")
	req.Header.Set(HeaderDelivery, key)
	req.Header.Set(HeaderEvent, ev.Kind)
	if len(h.cfg.Secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(h.cfg.Secret, body))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL, which may hold a password
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("POST %s: no answer within %s (raise the hook's timeout, or make the receiver answer sooner): %w", h.target, h.cfg.Timeout, err)
		}
		return fmt.Errorf("POST %s: %w", h.target, err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(text))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		hint := "the receiver refused it; it is sent again"
		if resp.StatusCode/100 == 3 {
			hint = "hooks do not follow redirects: set url to the final address"
		}
		return fmt.Errorf("POST %s: answered %s %q: %s", h.target, resp.Status, msg, hint)
	}
	return nil
}

// run runs the command in its own process group (the whole group is killed
// when the delivery's time is up) with the JSON on stdin.
func (h *Hook) run(ctx context.Context, ev inventory.Event, key string, body []byte) error {
	cmd := exec.CommandContext(ctx, h.cfg.Command[0], h.cfg.Command[1:]...)
	cmd.Stdin = bytes.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	cmd.Env = append(os.Environ(), "FATBOX_HOOK="+h.cfg.Name, "FATBOX_DELIVERY="+key, "FATBOX_EVENT="+ev.Kind,
		"FATBOX_SEQ="+strconv.FormatUint(ev.Seq, 10), "FATBOX_CONTAINER="+ev.Name, "FATBOX_CONTAINER_ID="+ev.ContainerID,
		"FATBOX_FROM="+ev.From)
	err := cmd.Run()
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(out.String())
	if len(msg) > 300 {
		msg = "..." + msg[len(msg)-300:]
	}
	if ctx.Err() != nil {
		return fmt.Errorf("command %q: still running after %s, killed (raise the hook's timeout, or make it finish sooner): %w", h.cfg.Command[0], h.cfg.Timeout, err)
	}
	return fmt.Errorf("command %q: %w (output: %q): it runs again until it exits 0", h.cfg.Command[0], err, msg)
}
