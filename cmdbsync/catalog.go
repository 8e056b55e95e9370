package cmdbsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/fatbox/fatbox/inventory"
)

// The Consul catalog sync registers every container of the inventory as an
// external node (the way VMs without an agent are registered), named after
// it, its IP as the address, node meta shaped like a VM's, a node check that
// follows its state (passing when running, critical otherwise), and the
// services declared for it. It marks what it registers with node meta
// fatbox-owner=<owner> and only ever changes or removes nodes carrying that
// mark: a node someone else registered under a container's name is left
// alone (and reported). Driven by the event log (incremental passes on a
// notification or a poll) with a full reconcile at start and on a timer,
// which also repairs whatever a daemon killed mid-change left.

// CatalogConfig configures the Consul catalog sync.
type CatalogConfig struct {
	Source Source
	// Address is Consul's HTTP API, host:port; Token an ACL token ("" none);
	// Datacenter "" for the agent's.
	Address, Token, Datacenter string
	// Owner marks the nodes this fatbox registers (node meta fatbox-owner);
	// "" means "fatbox". Two fatbox clusters on one Consul need two owners.
	Owner string
	// PollInterval (default 5s) and ReconcileInterval (default 1m).
	PollInterval, ReconcileInterval time.Duration
	Logger                          *slog.Logger
}

// CatalogStatus is the catalog sync's state, for `fatbox status`.
type CatalogStatus struct {
	Address       string    `json:"address"`
	Running       bool      `json:"running"`
	Position      uint64    `json:"position"`
	LastSuccess   time.Time `json:"last_success,omitzero"`
	LastReconcile time.Time `json:"last_reconcile,omitzero"`
	Nodes         int       `json:"nodes"`
	// Foreign names containers whose node name someone else registered.
	Foreign   []string `json:"foreign,omitempty"`
	LastError string   `json:"last_error,omitempty"`
	Failures  int      `json:"failures"`
}

// Catalog keeps Consul's catalog true to the inventory.
type Catalog struct {
	cfg    CatalogConfig
	client *consul.Client
	poke   chan struct{}
	mu     sync.Mutex
	status CatalogStatus
	pos    uint64
}

// MetaOwner is the node meta key that marks fatbox's registrations.
const MetaOwner = "fatbox-owner"

// NewCatalog makes the sync; it talks to Consul only in its passes.
func NewCatalog(cfg CatalogConfig) (*Catalog, error) {
	if cfg.Source == nil || cfg.Address == "" {
		return nil, errors.New("consul catalog: a source and Consul's address are required")
	}
	if cfg.Owner == "" {
		cfg.Owner = "fatbox"
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.ReconcileInterval <= 0 {
		cfg.ReconcileInterval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cc := consul.DefaultNonPooledConfig()
	cc.Address, cc.Token, cc.Datacenter = cfg.Address, cfg.Token, cfg.Datacenter
	cl, err := consul.NewClient(cc)
	if err != nil {
		return nil, fmt.Errorf("consul catalog at %q: %w", cfg.Address, err)
	}
	return &Catalog{cfg: cfg, client: cl, poke: make(chan struct{}, 1), status: CatalogStatus{Address: cfg.Address}}, nil
}

// Notify asks for an incremental pass soon; it never blocks.
func (c *Catalog) Notify() {
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

// Status returns the sync's state now.
func (c *Catalog) Status() CatalogStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Run reconciles fully, then applies the log's events as they come, with a
// full reconcile every ReconcileInterval, until ctx ends; a failed pass is
// retried with backoff.
func (c *Catalog) Run(ctx context.Context) error {
	c.set(func(s *CatalogStatus) { s.Running = true })
	defer c.set(func(s *CatalogStatus) { s.Running = false })
	full, fails := true, 0
	last := time.Now()
	for ctx.Err() == nil {
		var err error
		if full || time.Since(last) >= c.cfg.ReconcileInterval {
			if _, err = c.Reconcile(ctx); err == nil {
				full, last = false, time.Now()
			}
		} else {
			err = c.incremental(ctx)
		}
		wait := c.cfg.PollInterval
		if err != nil {
			fails++
			wait = backoff(time.Second, time.Minute, fails)
			c.set(func(s *CatalogStatus) { s.LastError, s.Failures = err.Error(), fails })
			c.cfg.Logger.Warn("consul catalog: pass failed", "error", err, "failures", fails)
		} else {
			fails = 0
			c.set(func(s *CatalogStatus) { s.Failures, s.LastSuccess = 0, time.Now() })
		}
		select {
		case <-ctx.Done():
		case <-c.poke:
		case <-time.After(wait):
		}
	}
	return nil
}

func (c *Catalog) set(f func(*CatalogStatus)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.status)
}

// CatalogReport says what a full reconcile changed.
type CatalogReport struct {
	Registered   []string `json:"registered"`
	Deregistered []string `json:"deregistered"`
	Foreign      []string `json:"foreign,omitempty"`
}

// Reconcile makes the catalog's fatbox nodes exactly the inventory's
// containers that have an address: every one registered (idempotent), every
// node fatbox registered and no longer owns deregistered. Nodes without
// fatbox's mark are never touched.
func (c *Catalog) Reconcile(ctx context.Context) (CatalogReport, error) {
	var rep CatalogReport
	seq, err := c.cfg.Source.LastSeq(ctx)
	if err != nil {
		return rep, err
	}
	recs, err := c.cfg.Source.List(ctx)
	if err != nil {
		return rep, err
	}
	nodes, err := c.nodes(ctx)
	if err != nil {
		return rep, err
	}
	want := map[string]inventory.Record{}
	for _, r := range recs {
		if r.IP != "" {
			want[r.Name] = r
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if meta, ok := nodes[name]; ok && meta[MetaOwner] != c.cfg.Owner {
			rep.Foreign = append(rep.Foreign, name)
			continue
		}
		if err := c.register(ctx, want[name]); err != nil {
			return rep, err
		}
		rep.Registered = append(rep.Registered, name)
	}
	for _, name := range slices.Sorted(maps.Keys(nodes)) {
		if _, ok := want[name]; ok || nodes[name][MetaOwner] != c.cfg.Owner {
			continue
		}
		if err := c.deregister(ctx, name); err != nil {
			return rep, err
		}
		rep.Deregistered = append(rep.Deregistered, name)
	}
	c.mu.Lock()
	c.pos = max(c.pos, seq)
	c.status.Position, c.status.LastReconcile, c.status.Nodes, c.status.Foreign = c.pos, time.Now(), len(rep.Registered), rep.Foreign
	c.mu.Unlock()
	if len(rep.Foreign) > 0 {
		c.cfg.Logger.Warn("consul catalog: nodes of these names were registered by someone else: left alone, the containers are not in the catalog", "names", rep.Foreign)
	}
	return rep, nil
}

// incremental applies the events after the position: every name an event
// touched (and a rename's old name) is registered again from its record now,
// or deregistered when no record with an address has it.
func (c *Catalog) incremental(ctx context.Context) error {
	c.mu.Lock()
	pos := c.pos
	c.mu.Unlock()
	evs, err := c.cfg.Source.Events(ctx, pos, 1000)
	if err != nil || len(evs) == 0 {
		return err
	}
	touched := map[string]bool{}
	for _, ev := range evs {
		touched[ev.Name] = true
		if ev.From != "" {
			touched[ev.From] = true
		}
	}
	recs, err := c.cfg.Source.List(ctx)
	if err != nil {
		return err
	}
	byName := map[string]inventory.Record{}
	for _, r := range recs {
		byName[r.Name] = r
	}
	for _, name := range slices.Sorted(maps.Keys(touched)) {
		meta, exists, err := c.node(ctx, name)
		if err != nil {
			return err
		}
		if exists && meta[MetaOwner] != c.cfg.Owner {
			continue // someone else's: never touched
		}
		r, ok := byName[name]
		switch {
		case ok && r.IP != "":
			err = c.register(ctx, r)
		case exists:
			err = c.deregister(ctx, name)
		}
		if err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.pos = evs[len(evs)-1].Seq
	c.status.Position = c.pos
	c.mu.Unlock()
	return nil
}

// nodes are the catalog's nodes and their meta.
func (c *Catalog) nodes(ctx context.Context) (map[string]map[string]string, error) {
	ns, _, err := c.client.Catalog().Nodes((&consul.QueryOptions{Datacenter: c.cfg.Datacenter}).WithContext(ctx))
	if err != nil {
		return nil, c.consulErr("list the catalog's nodes", err)
	}
	out := map[string]map[string]string{}
	for _, n := range ns {
		out[n.Node] = n.Meta
	}
	return out, nil
}

func (c *Catalog) node(ctx context.Context, name string) (map[string]string, bool, error) {
	n, _, err := c.client.Catalog().Node(name, (&consul.QueryOptions{Datacenter: c.cfg.Datacenter}).WithContext(ctx))
	if err != nil {
		return nil, false, c.consulErr("read node "+strconv.Quote(name), err)
	}
	if n == nil || n.Node == nil {
		return nil, false, nil
	}
	return n.Node.Meta, true, nil
}

// Registration is what the catalog holds for rec: the node (with its check)
// and one registration per declared service.
func (c *Catalog) Registration(rec inventory.Record) []*consul.CatalogRegistration {
	meta := map[string]string{"external-node": "true", "external-probe": "false", MetaOwner: c.cfg.Owner, "fatbox-id": rec.ID}
	for k, v := range map[string]string{"app": rec.App, "owner": rec.Owner, "env": rec.Env, "vcpu": strconv.Itoa(rec.VCPUs),
		"memory_mib": strconv.FormatInt(rec.MemoryMiB, 10), "host_node": rec.Node, "image": rec.Image} {
		if v != "" {
			meta[k] = v
		}
	}
	status, out := consul.HealthCritical, rec.Status
	if rec.Status == inventory.StatusRunning {
		status = consul.HealthPassing
	}
	if rec.StopReason != "" {
		out += " (" + rec.StopReason + ")"
	}
	check := &consul.AgentCheck{Node: rec.Name, CheckID: "fatbox:state", Name: "fatbox container state", Status: status, Output: "container " + out}
	base := consul.CatalogRegistration{Node: rec.Name, Address: rec.IP, Datacenter: c.cfg.Datacenter, NodeMeta: meta, Check: check}
	regs := []*consul.CatalogRegistration{&base}
	for _, s := range rec.Services {
		r := base
		r.Check = nil
		r.Service = &consul.AgentService{ID: "fatbox-" + s.Name, Service: s.Name, Port: s.Port, Address: rec.IP,
			Meta: map[string]string{MetaOwner: c.cfg.Owner}}
		regs = append(regs, &r)
	}
	return regs
}

func (c *Catalog) register(ctx context.Context, rec inventory.Record) error {
	regs := c.Registration(rec)
	for _, r := range regs {
		if _, err := c.client.Catalog().Register(r, (&consul.WriteOptions{Datacenter: c.cfg.Datacenter}).WithContext(ctx)); err != nil {
			return c.consulErr("register node "+strconv.Quote(rec.Name), err)
		}
	}
	// Services no longer declared go.
	svcs, _, err := c.client.Catalog().NodeServiceList(rec.Name, (&consul.QueryOptions{Datacenter: c.cfg.Datacenter}).WithContext(ctx))
	if err != nil {
		return c.consulErr("list the services of node "+strconv.Quote(rec.Name), err)
	}
	declared := map[string]bool{}
	for _, s := range rec.Services {
		declared["fatbox-"+s.Name] = true
	}
	if svcs != nil {
		for _, s := range svcs.Services {
			if strings.HasPrefix(s.ID, "fatbox-") && !declared[s.ID] {
				if _, err := c.client.Catalog().Deregister(&consul.CatalogDeregistration{Node: rec.Name, ServiceID: s.ID, Datacenter: c.cfg.Datacenter},
					(&consul.WriteOptions{Datacenter: c.cfg.Datacenter}).WithContext(ctx)); err != nil {
					return c.consulErr("deregister service "+strconv.Quote(s.ID), err)
				}
			}
		}
	}
	return nil
}

func (c *Catalog) deregister(ctx context.Context, name string) error {
	if _, err := c.client.Catalog().Deregister(&consul.CatalogDeregistration{Node: name, Datacenter: c.cfg.Datacenter},
		(&consul.WriteOptions{Datacenter: c.cfg.Datacenter}).WithContext(ctx)); err != nil {
		return c.consulErr("deregister node "+strconv.Quote(name), err)
	}
	return nil
}

// consulErr names what failed and, for an ACL refusal, the policy the
// token needs.
func (c *Catalog) consulErr(what string, err error) error {
	var se consul.StatusError
	if errors.As(err, &se) && se.Code == 403 || strings.Contains(err.Error(), "Permission denied") || strings.Contains(err.Error(), "ACL not found") {
		return fmt.Errorf("consul catalog at %s: %s: %w; the token (consul_catalog: token) needs a policy with `node_prefix \"\" { policy = \"write\" }` and `service_prefix \"\" { policy = \"write\" }`", c.cfg.Address, what, err)
	}
	return fmt.Errorf("consul catalog at %s: %s: %w", c.cfg.Address, what, err)
}
