package daemon

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/fatbox/fatbox/cmdbsync"
	"github.com/fatbox/fatbox/engine/api"
)

// CatalogConfig is the Consul catalog sync (config key `consul_catalog:`):
// every container an external node of that Consul, with its services.
type CatalogConfig struct {
	// Address is Consul's HTTP API, host:port (a local agent: 127.0.0.1:8500).
	Address string `yaml:"address"`
	// Token (or TokenFile) is an ACL token with node and service write.
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// Datacenter "" is the agent's.
	Datacenter string `yaml:"datacenter"`
	// Owner marks this fatbox's nodes (node meta fatbox-owner); "" is "fatbox".
	Owner string `yaml:"owner"`
	// PollInterval (default 5s) and ReconcileInterval (default 1m).
	PollInterval      string `yaml:"poll_interval"`
	ReconcileInterval string `yaml:"reconcile_interval"`
}

// newCatalog makes the catalog sync when configured (it talks to Consul
// only in its loop, so a Consul that is down does not stop the daemon).
func (d *Daemon) newCatalog() error {
	c := d.cfg.ConsulCatalog
	if c == nil {
		return nil
	}
	where := "config: consul_catalog"
	if c.Address == "" {
		return fmt.Errorf("%s: no address: give Consul's HTTP API, e.g. address: 127.0.0.1:8500", where)
	}
	token := c.Token
	if c.TokenFile != "" {
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return fmt.Errorf("%s: token_file: %w", where, err)
		}
		token = strings.TrimSpace(string(b))
	}
	poll, err := optDuration(where+": poll_interval", c.PollInterval)
	if err != nil {
		return err
	}
	rec, err := optDuration(where+": reconcile_interval", c.ReconcileInterval)
	if err != nil {
		return err
	}
	cat, err := cmdbsync.NewCatalog(cmdbsync.CatalogConfig{Source: d.inv, Address: c.Address, Token: token, Datacenter: c.Datacenter,
		Owner: c.Owner, PollInterval: poll, ReconcileInterval: rec, Logger: d.log.With("loop", "consul_catalog")})
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	d.catalog = cat
	return nil
}

func (d *Daemon) runCatalog(ctx context.Context) {
	if d.catalog == nil {
		return
	}
	go func() {
		if err := d.catalog.Run(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("consul catalog loop ended", "error", err)
		}
	}()
}

func (d *Daemon) catalogStatus() *api.CatalogStatus {
	if d.catalog == nil {
		return nil
	}
	s := d.catalog.Status()
	return &api.CatalogStatus{Address: s.Address, Running: s.Running, Position: s.Position, LastSuccess: s.LastSuccess,
		LastReconcile: s.LastReconcile, Nodes: s.Nodes, Foreign: s.Foreign, LastError: s.LastError, Failures: s.Failures}
}
