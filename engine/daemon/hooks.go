package daemon

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/fatbox/fatbox/cmdbsync"
	"github.com/fatbox/fatbox/engine/api"
)

// HookConfig is one lifecycle hook (config key `hooks:`, a list): each
// event of the inventory's log delivered, in order and at least once, to a
// webhook (url) or a command run on the host (see cmdbsync/hooks.go).
type HookConfig struct {
	// Name names the hook (its position in the store, its idempotency keys).
	Name string `yaml:"name"`
	// URL is the webhook: each event POSTed as JSON.
	URL string `yaml:"url"`
	// Secret (or SecretFile) signs each body: X-Fatbox-Signature: sha256=<HMAC>.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// Command is an argv run for each event, the JSON on its stdin.
	Command []string `yaml:"command"`
	// Events filters the kinds delivered (none: every kind).
	Events []string `yaml:"events"`
	// Timeout bounds one delivery (default 10s).
	Timeout string `yaml:"timeout"`
	// From is where a hook new to the store starts: "end" (default, the
	// log's current end) or "beginning".
	From string `yaml:"from"`
}

// newHooks makes the configured hooks, refusing the config with the key at
// fault and its fix; they deliver only once Serve runs them.
func (d *Daemon) newHooks() error {
	hooks, err := hookConfigs(d.cfg.Hooks, d.inv, d.inv)
	if err != nil {
		return err
	}
	for i := range hooks {
		hooks[i].Logger = d.log.With("loop", "hooks")
		h, err := cmdbsync.NewHook(hooks[i])
		if err != nil {
			return fmt.Errorf("config: hooks[%d]: %w", i, err)
		}
		d.hooks = append(d.hooks, h)
	}
	return nil
}

// hookConfigs checks the `hooks:` entries and turns them into the loop's.
func hookConfigs(cfgs []HookConfig, src cmdbsync.Source, pos cmdbsync.HookPositions) ([]cmdbsync.HookConfig, error) {
	var out []cmdbsync.HookConfig
	seen := map[string]bool{}
	for i, c := range cfgs {
		where := fmt.Sprintf("config: hooks[%d]", i)
		if c.Name != "" {
			where = fmt.Sprintf("config: hooks[%d] (%q)", i, c.Name)
		}
		if seen[c.Name] && c.Name != "" {
			return nil, fmt.Errorf("%s: name: another hook has this name: give each hook its own (it keys the hook's position)", where)
		}
		seen[c.Name] = true
		secret := c.Secret
		if c.SecretFile != "" {
			if c.Secret != "" {
				return nil, fmt.Errorf("%s: both secret and secret_file: keep one", where)
			}
			b, err := os.ReadFile(c.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("%s: secret_file: %w", where, err)
			}
			if secret = strings.TrimSpace(string(b)); secret == "" {
				return nil, fmt.Errorf("%s: secret_file %q is empty: put the shared secret in it", where, c.SecretFile)
			}
		}
		timeout, err := optDuration(where+": timeout", c.Timeout)
		if err != nil {
			return nil, err
		}
		var begin bool
		switch c.From {
		case "", "end":
		case "beginning":
			begin = true
		default:
			return nil, fmt.Errorf("%s: from %q: give end (the default: events from now on) or beginning (the whole log)", where, c.From)
		}
		hc := cmdbsync.HookConfig{Name: c.Name, URL: c.URL, Command: c.Command, Events: c.Events, Timeout: timeout,
			FromBeginning: begin, Source: src, Positions: pos}
		if secret != "" {
			hc.Secret = []byte(secret)
		}
		if _, err := cmdbsync.NewHook(hc); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		out = append(out, hc)
	}
	return out, nil
}

func (d *Daemon) runHooks(ctx context.Context) {
	for _, h := range d.hooks {
		go func() {
			if err := h.Run(ctx); err != nil && ctx.Err() == nil {
				d.log.Error("hook loop ended", "hook", h.Name(), "error", err)
			}
		}()
	}
}

func (d *Daemon) hookStatus() []api.HookStatus {
	var out []api.HookStatus
	for _, h := range d.hooks {
		s := h.Status()
		out = append(out, api.HookStatus{Name: s.Name, Target: s.Target, Running: s.Running, Position: s.Position, Lag: s.Lag,
			Delivered: s.Delivered, Failures: s.Failures, LastError: s.LastError, LastSuccess: s.LastSuccess,
			Delivering: s.Delivering, DeliveringSince: s.DeliveringSince})
	}
	return out
}
