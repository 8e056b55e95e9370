package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/sshgw"
	"github.com/fatbox/fatbox/sshgw/record"
)

// DefaultGatewayConfigDir holds the gateway's access file unless the config names another.
const DefaultGatewayConfigDir = "/etc/fatbox/gateway"

// GatewayConfig turns the SSH gateway on.
type GatewayConfig struct {
	// Listen is host:port, e.g. 0.0.0.0:2222 ("" means 127.0.0.1:2222).
	Listen string `yaml:"listen"`
	// ConfigDir holds access.yaml (users, groups, rules); "" means
	// /etc/fatbox/gateway. It is read again when it changes.
	ConfigDir string `yaml:"config_dir"`
	// IdleTimeout closes a connection with no traffic, e.g. 30m; "": none.
	IdleTimeout string `yaml:"idle_timeout"`
	// Recordings bound the session recordings in <state>/gateway/recordings:
	// per session and in total (sizes, e.g. 64MiB, 4GiB) and by age (e.g.
	// 2160h); "" takes record's defaults.
	RecordSessionMax string `yaml:"record_session_max"`
	RecordTotalMax   string `yaml:"record_total_max"`
	RecordMaxAge     string `yaml:"record_max_age"`
}

// recordLimits parses the recordings' bounds.
func (g GatewayConfig) recordLimits() (record.Limits, error) {
	var l record.Limits
	var err error
	if g.RecordSessionMax != "" {
		if l.SessionBytes, err = limits.ParseSize("gateway.record_session_max", g.RecordSessionMax); err != nil {
			return l, fmt.Errorf("config: %w", err)
		}
	}
	if g.RecordTotalMax != "" {
		if l.TotalBytes, err = limits.ParseSize("gateway.record_total_max", g.RecordTotalMax); err != nil {
			return l, fmt.Errorf("config: %w", err)
		}
	}
	if g.RecordMaxAge != "" {
		if l.MaxAge, err = time.ParseDuration(g.RecordMaxAge); err != nil || l.MaxAge < time.Hour {
			return l, fmt.Errorf("config: gateway.record_max_age %q: give a duration of an hour or more, e.g. 2160h (90 days)", g.RecordMaxAge)
		}
	}
	if err := l.Check(); err != nil {
		return l, fmt.Errorf("config: gateway recordings: %w", err)
	}
	return l, nil
}

// newGateway makes the gateway (its keys kept in the state dir) when
// configured; the engine authorizes its client key in every container.
func (d *Daemon) newGateway() error {
	if d.cfg.Gateway == nil {
		return nil
	}
	g := *d.cfg.Gateway
	defer func() { d.cfg.Gateway = &g }()
	if g.Listen == "" {
		g.Listen = "127.0.0.1:2222"
	}
	if _, _, err := net.SplitHostPort(g.Listen); err != nil {
		return fmt.Errorf("config: gateway.listen %q is not host:port: give e.g. 0.0.0.0:2222", g.Listen)
	}
	if g.ConfigDir == "" {
		g.ConfigDir = DefaultGatewayConfigDir
	}
	if !filepath.IsAbs(g.ConfigDir) {
		return fmt.Errorf("config: gateway.config_dir %q is relative: give an absolute path", g.ConfigDir)
	}
	var idle time.Duration
	if g.IdleTimeout != "" {
		var err error
		if idle, err = time.ParseDuration(g.IdleTimeout); err != nil || idle < time.Second {
			return fmt.Errorf("config: gateway.idle_timeout %q: give a duration of a second or more, e.g. 30m", g.IdleTimeout)
		}
	}
	lim, err := g.recordLimits()
	if err != nil {
		return err
	}
	hostFile, clientFile := sshgw.KeyFiles(d.cfg.StateDir)
	hk, err := sshgw.LoadOrCreateKey(hostFile, "fatbox-gateway@"+d.cfg.Node)
	if err != nil {
		return err
	}
	ck, err := sshgw.LoadOrCreateKey(clientFile, "fatbox-gateway-client@"+d.cfg.Node)
	if err != nil {
		return err
	}
	d.SetGatewayKey(strings.TrimSpace(string(gossh.MarshalAuthorizedKey(ck.PublicKey()))))
	d.gwrec.recorder.Limits = lim
	d.gw = &sshgw.Server{
		Listen: g.Listen, AccessFile: filepath.Join(g.ConfigDir, sshgw.AccessFile),
		HostKey: hk, ClientKey: ck, IdleTimeout: idle, Log: d.log.With("part", "gateway"),
		Audit: d.gwrec.audit, Recorder: d.gwrec.recorder,
		Fleet: &gatewayFleet{api: &api.Client{Socket: d.cfg.Socket, Timeout: 10 * time.Second}, hostKeys: d.HostKeys},
	}
	return nil
}

// runGateway serves the gateway until ctx ends; a gateway that cannot
// listen is logged and the daemon runs on without it.
func (d *Daemon) runGateway(ctx context.Context) {
	if d.gw == nil {
		return
	}
	go func() {
		if err := d.gw.Serve(ctx); err != nil {
			d.log.Error("SSH gateway stopped", "error", err)
		}
	}()
}

func (d *Daemon) gatewayStatus() *api.GatewayStatus {
	if d.gw == nil {
		return nil
	}
	s := d.gw.Status()
	return &api.GatewayStatus{Listen: s.Listen, Fingerprint: s.Fingerprint, ClientKey: strings.TrimSpace(s.ClientKey), AccessFile: s.AccessFile,
		Users: s.Users, Rules: s.Rules, LoadedAt: s.LoadedAt, ConfigError: s.ConfigError}
}

func (d *Daemon) gatewayRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/gateway/check", func(w http.ResponseWriter, r *http.Request) {
		if d.gw == nil {
			writeError(w, r, &errKind{http.StatusConflict, api.CodeConflict, "the SSH gateway is not configured: add a gateway: section to the daemon's config"})
			return
		}
		q := r.URL.Query()
		port := 0
		if p := q.Get("port"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				writeError(w, r, invalid(fmt.Sprintf("port=%q is not a TCP port: give 1-65535", p)))
				return
			}
			port = n
		}
		if q.Get("user") == "" || q.Get("container") == "" {
			writeError(w, r, invalid("give the gateway user and the container: fatbox gw check USER CONTAINER"))
			return
		}
		dec, err := d.gw.Check(r.Context(), q.Get("user"), q.Get("container"), q.Get("login"), q.Get("channel"), port)
		switch {
		case errors.Is(err, sshgw.ErrNoContainer):
			err = &errKind{http.StatusNotFound, api.CodeNotFound, err.Error() + ": check the name or IP with `fatbox ls`"}
		case errors.Is(err, sshgw.ErrNoAccess):
			err = &errKind{http.StatusConflict, api.CodeConflict, err.Error()}
		}
		out := api.GatewayDecision{Allowed: dec.Allowed, Container: dec.Container, Rule: dec.Rule, Line: dec.Line, Login: dec.Login, Path: dec.Path, Agent: dec.Agent, Reason: dec.Reason}
		for _, m := range dec.Misses {
			out.Misses = append(out.Misses, api.GatewayMiss{Rule: m.Rule, Line: m.Line, Reason: m.Reason})
		}
		reply(w, r, out, err)
	})
}

// gatewayFleet is what the gateway reads of the containers: the daemon's
// own API (records, exec) and, in process, the host keys fatbox keeps for
// each (they never go over the socket).
type gatewayFleet struct {
	api      *api.Client
	hostKeys func(ctx context.Context, name string) ([]gossh.Signer, error)
}

var _ sshgw.Fleet = (*gatewayFleet)(nil)

func (f *gatewayFleet) ListContainers(ctx context.Context) ([]api.Container, error) {
	return f.api.ListContainers(ctx)
}

func (f *gatewayFleet) Exec(ctx context.Context, name string, req api.ExecRequest, s api.ExecStreams) (int, error) {
	c := *f.api
	c.Timeout = -1
	return c.Exec(ctx, name, req, s)
}

func (f *gatewayFleet) HostKeys(ctx context.Context, name string) ([]gossh.Signer, error) {
	return f.hostKeys(ctx, name)
}
