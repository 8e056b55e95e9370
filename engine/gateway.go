package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/fatbox/fatbox/engine/firstboot"
	"github.com/fatbox/fatbox/engine/revert"
	"github.com/fatbox/fatbox/engine/rootfs"
	"github.com/fatbox/fatbox/engine/runtime"
)

// ErrNoGatewayKey: a grant was asked of an engine with no gateway key
// (the daemon sets one when its gateway is configured).
var ErrNoGatewayKey = errors.New("no SSH gateway key is configured")

// gatewayFile, in a container's state dir, lists the logins the gateway's
// key is granted (one per line): what each boot writes into the rootfs.
func (e *Engine) gatewayFile(inst string) string { return e.dir(inst) + "/gateway-logins" }

// gatewayLoginsOf reads an instance's grant; none when it has no file.
func (e *Engine) gatewayLoginsOf(inst string) ([]string, error) {
	b, err := os.ReadFile(e.gatewayFile(inst))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the gateway's logins of %q: %w", inst, err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && firstboot.CheckLogin(l) == nil {
			out = append(out, l)
		}
	}
	return out, nil
}

// writeGatewayLogins replaces an instance's grant (atomically: temp file,
// rename); no logins removes the file.
func (e *Engine) writeGatewayLogins(inst string, logins []string) error {
	p := e.gatewayFile(inst)
	if len(logins) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove the gateway's logins of %q: %w", inst, err)
		}
		return nil
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(logins, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("write the gateway's logins of %q: %w", inst, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write the gateway's logins of %q: %w", inst, err)
	}
	return nil
}

// gatewayOf is what firstboot writes for an instance at boot.
func (e *Engine) gatewayOf(inst string) (firstboot.Gateway, error) {
	logins, err := e.gatewayLoginsOf(inst)
	return firstboot.Gateway{Key: e.GatewayKey, Logins: logins}, err
}

// GatewayGrant is the logins a container grants the gateway's key.
type GatewayGrant struct {
	Logins []string
	// Applied: the container runs and its files were written now (else
	// they are written at its next boot).
	Applied bool
	// Note says what the caller may need to do (sshd not reloaded).
	Note string
}

// GatewayLogins lists the logins container name grants the gateway.
func (e *Engine) GatewayLogins(ctx context.Context, name string) ([]string, error) {
	rec, err := e.local(ctx, name)
	if err != nil {
		return nil, err
	}
	return e.gatewayLoginsOf(rec.InstanceKey())
}

// GrantGateway authorizes the gateway's key (Engine.GatewayKey) for logins
// (root or named users) in container name, and RevokeGateway takes logins
// back (none: all). Both are idempotent and kept in the container's state
// dir, so every boot writes them again (firstboot: a key file per login
// under /etc/ssh/fatbox-gateway and an sshd_config.d drop-in; the users'
// own authorized_keys are never touched). A running container gets them
// at once; when the drop-in is new its sshd is sent SIGHUP (through
// supervisord's program "sshd") to read it.
func (e *Engine) GrantGateway(ctx context.Context, name string, logins []string) (GatewayGrant, error) {
	if e.GatewayKey == "" {
		return GatewayGrant{}, conflictf("container %q: %w: turn the gateway on in the daemon's config (gateway:)", name, ErrNoGatewayKey)
	}
	if len(logins) == 0 {
		return GatewayGrant{}, invalidf("grant the gateway which login? give one or more, e.g. root")
	}
	return e.changeGateway(ctx, name, func(cur map[string]bool) error {
		for _, l := range logins {
			if err := firstboot.CheckLogin(l); err != nil {
				return invalidf("%w", err)
			}
			cur[l] = true
		}
		return nil
	})
}

// RevokeGateway: see GrantGateway.
func (e *Engine) RevokeGateway(ctx context.Context, name string, logins []string) (GatewayGrant, error) {
	return e.changeGateway(ctx, name, func(cur map[string]bool) error {
		if len(logins) == 0 {
			clear(cur)
		}
		for _, l := range logins {
			if err := firstboot.CheckLogin(l); err != nil {
				return invalidf("%w", err)
			}
			delete(cur, l)
		}
		return nil
	})
}

// changeGateway records the new grant (the intent: a boot or Reconcile
// writes it into the rootfs), then applies it to a running container; a
// failure to apply puts the old grant back.
func (e *Engine) changeGateway(ctx context.Context, name string, change func(map[string]bool) error) (_ GatewayGrant, err error) {
	unlock := e.lock(name)
	defer unlock()
	rec, err := e.local(ctx, name)
	if err != nil {
		return GatewayGrant{}, err
	}
	inst := rec.InstanceKey()
	old, err := e.gatewayLoginsOf(inst)
	if err != nil {
		return GatewayGrant{}, err
	}
	set := map[string]bool{}
	for _, l := range old {
		set[l] = true
	}
	if err := change(set); err != nil {
		return GatewayGrant{}, err
	}
	g := GatewayGrant{Logins: slices.Sorted(maps.Keys(set))}
	rev := &revert.Reverter{}
	defer func() { err = undo(rev, err) }()
	if !slices.Equal(g.Logins, old) {
		if err := e.writeGatewayLogins(inst, g.Logins); err != nil {
			return GatewayGrant{}, err
		}
		rev.Add(func() error { return e.writeGatewayLogins(inst, old) })
	}
	applied, note, err := e.applyGateway(ctx, inst)
	if err != nil {
		return GatewayGrant{}, fmt.Errorf("container %q: write the gateway's keys: %w", name, err)
	}
	g.Applied, g.Note = applied, note
	rev.Release()
	return g, nil
}

// applyGateway writes an instance's grant into its rootfs if it runs (and
// reloads its sshd when the drop-in changed); caller holds the lock.
func (e *Engine) applyGateway(ctx context.Context, inst string) (applied bool, note string, err error) {
	st, _, err := e.Runtime.State(ctx, inst)
	if err != nil || st != "running" {
		return false, "", nil // written at its next boot
	}
	gw, err := e.gatewayOf(inst)
	if err != nil {
		return false, "", err
	}
	changed, err := firstboot.WriteGateway(rootfs.Layout{Dir: e.dir(inst)}.RootfsDir(), gw)
	if err != nil {
		return false, "", err
	}
	if !changed {
		return true, "", nil
	}
	var out strings.Builder
	code, err := e.Runtime.Exec(ctx, inst, runtime.ExecConfig{Args: supervisorctl("signal", "HUP", "sshd")}, runtime.Streams{Stdout: &out, Stderr: &out})
	if err != nil || code != 0 {
		return true, fmt.Sprintf("sshd was not reloaded (%s): restart it with `fatbox prog restart NAME sshd` for the gateway's key to be read",
			cmp.Or(strings.TrimSpace(out.String()), fmt.Sprint(err))), nil
	}
	return true, "", nil
}

// HostKeys are container name's SSH host keys (ed25519, ECDSA, RSA), with
// their private halves, as fatbox generated and keeps them: for the
// gateway in the daemon's process (it presents them to -J clients and
// checks the container's sshd against them). Never send them over the API.
func (e *Engine) HostKeys(ctx context.Context, name string) ([]ssh.Signer, error) {
	rec, err := e.Inventory.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	keys, err := firstboot.LoadHostKeys(e.dir(rec.InstanceKey()))
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", name, err)
	}
	return keys, nil
}
