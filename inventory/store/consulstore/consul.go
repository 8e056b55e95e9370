// Package consulstore is the multi-host store.Store backend on Consul's KV
// store (github.com/hashicorp/consul/api). A key's version is its ModifyIndex;
// every write is a Consul transaction whose conditions are checked on the
// Consul servers, so CAS holds across hosts.
//
// All keys live under a root prefix (default "fatbox/"), so several fatbox
// clusters, or test runs, can share one Consul.
package consulstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/hashicorp/consul/api"

	"github.com/fatbox/fatbox/inventory/store"
)

var _ store.Store = (*Store)(nil)

// MaxConsulTxnOps is Consul's default limit on operations per transaction
// (maxTxnOps in its txn endpoint). A delete costs two operations here.
const MaxConsulTxnOps = 64

// Config says where Consul is and which prefix fatbox owns.
type Config struct {
	// Address is host:port of a Consul agent's HTTP API; "" means 127.0.0.1:8500.
	Address string
	// Scheme is "http" or "https"; "" means http.
	Scheme string
	// Token is an ACL token; "" means none (or CONSUL_HTTP_TOKEN).
	Token string
	// Prefix is the root of fatbox's keys, without slashes at the ends; "" means "fatbox".
	Prefix string
}

// Store is the Consul backend. Create it with Open.
type Store struct {
	cfg    Config
	client *api.Client
	root   string // Prefix + "/"
}

// ParseURL turns consul://host:port/prefix?token=...&scheme=https into a Config.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("bad Consul store URL %q: %v: use consul://127.0.0.1:8500/fatbox", raw, err)
	}
	if u.Scheme != "consul" {
		return Config{}, fmt.Errorf("bad Consul store URL %q: scheme is %q: use consul://127.0.0.1:8500/fatbox", raw, u.Scheme)
	}
	cfg := Config{Address: u.Host, Prefix: strings.Trim(u.Path, "/")}
	q := u.Query()
	cfg.Token = q.Get("token")
	cfg.Scheme = q.Get("scheme")
	for k := range q {
		if k != "token" && k != "scheme" {
			return Config{}, fmt.Errorf("bad Consul store URL %q: unknown parameter %q: only token and scheme are understood", raw, k)
		}
	}
	if cfg.Scheme != "" && cfg.Scheme != "http" && cfg.Scheme != "https" {
		return Config{}, fmt.Errorf("bad Consul store URL %q: scheme=%q: use http or https", raw, cfg.Scheme)
	}
	return cfg, nil
}

// Open connects to Consul and checks that the KV store answers. It does not
// keep a connection open; each call is an HTTP request to the agent.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1:8500"
	}
	if cfg.Scheme == "" {
		cfg.Scheme = "http"
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "fatbox"
	}
	if err := store.ValidateKey(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("bad Consul prefix: %w", err)
	}
	ac := api.DefaultConfig()
	ac.Address = cfg.Address
	ac.Scheme = cfg.Scheme
	if cfg.Token != "" {
		ac.Token = cfg.Token
	}
	c, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("consul client for %q: %w", cfg.Address, err)
	}
	s := &Store{cfg: cfg, client: c, root: cfg.Prefix + "/"}
	if err := s.Health(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) Backend() string { return "consul" }

// Address is the Consul agent this store talks to.
func (s *Store) Address() string { return s.cfg.Address }

// Client is the underlying Consul client, for callers that also use the catalog.
func (s *Store) Client() *api.Client { return s.client }

func (s *Store) Close() error { return nil }

func (s *Store) opts(ctx context.Context) *api.QueryOptions {
	return (&api.QueryOptions{}).WithContext(ctx)
}

// wrap turns transport errors into one line that says what to do.
func (s *Store) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) {
		return store.Unavailablef("cannot reach Consul at %s (%s): %v: start the Consul agent or fix the store URL (--store consul://host:port/prefix)",
			s.cfg.Address, what, rootCause(err))
	}
	return store.Unavailablef("consul %s: %v", what, err)
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func (s *Store) Health(ctx context.Context) error {
	// A read of a key that need not exist proves the agent and a leader answer.
	_, _, err := s.client.KV().Get(s.root+"_health", s.opts(ctx))
	if err != nil {
		return s.wrap("health check", err)
	}
	return nil
}

func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if err := store.ValidateKey(key); err != nil {
		return store.KV{}, err
	}
	p, _, err := s.client.KV().Get(s.root+key, s.opts(ctx))
	if err != nil {
		return store.KV{}, s.wrap("get "+key, err)
	}
	if p == nil {
		return store.KV{}, fmt.Errorf("get %q: %w", key, store.ErrNotFound)
	}
	return store.KV{Key: key, Value: p.Value, Version: p.ModifyIndex}, nil
}

func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, error) {
	ps, _, err := s.client.KV().List(s.root+prefix, s.opts(ctx))
	if err != nil {
		return nil, s.wrap("list "+prefix, err)
	}
	out := make([]store.KV, 0, len(ps))
	for _, p := range ps {
		k := strings.TrimPrefix(p.Key, s.root)
		if k == "" || strings.HasSuffix(k, "/") { // folder markers made by other tools
			continue
		}
		out = append(out, store.KV{Key: k, Value: p.Value, Version: p.ModifyIndex})
	}
	return out, nil
}

func (s *Store) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	return store.CreateVia(ctx, s.Txn, key, value)
}

func (s *Store) Put(ctx context.Context, key string, value []byte, version uint64) (uint64, error) {
	return store.PutVia(ctx, s.Txn, key, value, version)
}

func (s *Store) Delete(ctx context.Context, key string, version uint64) error {
	return store.DeleteVia(ctx, s.Txn, key, version)
}

func (s *Store) Txn(ctx context.Context, ops []store.Op) ([]uint64, error) {
	if err := store.ValidateTxn(ops); err != nil {
		return nil, err
	}
	tops := make(api.TxnOps, 0, len(ops)+4)
	opOf := make([]int, 0, len(ops)+4) // Consul op index -> our op index
	for i, op := range ops {
		kop := &api.KVTxnOp{Key: s.root + op.Key, Index: op.Version}
		switch op.Kind {
		case store.OpPut:
			kop.Verb = api.KVCAS // index 0: only if absent
			kop.Value = op.Value
			if kop.Value == nil {
				kop.Value = []byte{}
			}
		case store.OpDelete:
			// Consul's delete-cas succeeds on a missing key; check it exists
			// at that index first so a stale delete is a conflict.
			tops = append(tops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVCheckIndex, Key: kop.Key, Index: op.Version}})
			opOf = append(opOf, i)
			kop.Verb = api.KVDeleteCAS
		case store.OpCheck:
			if op.Version == 0 {
				kop.Verb = api.KVCheckNotExists
			} else {
				kop.Verb = api.KVCheckIndex
			}
		}
		tops = append(tops, &api.TxnOp{KV: kop})
		opOf = append(opOf, i)
	}
	if len(tops) > MaxConsulTxnOps {
		return nil, fmt.Errorf("transaction has %d deletes among %d ops: Consul allows %d operations including a check per delete, split it", len(tops)-len(ops), len(ops), MaxConsulTxnOps)
	}
	ok, resp, _, err := s.client.Txn().Txn(tops, s.opts(ctx))
	if err != nil {
		return nil, s.wrap("transaction", err)
	}
	if !ok {
		if resp == nil || len(resp.Errors) == 0 {
			return nil, fmt.Errorf("consul transaction rolled back without a reason: %w", store.ErrConflict)
		}
		te := resp.Errors[0]
		idx := -1
		if te.OpIndex >= 0 && te.OpIndex < len(opOf) {
			idx = opOf[te.OpIndex]
		}
		if idx < 0 {
			return nil, fmt.Errorf("consul transaction: %s: %w", te.What, store.ErrConflict)
		}
		e := store.ErrConflict
		if ops[idx].Version == 0 && ops[idx].Kind != store.OpDelete {
			e = store.ErrExists
		}
		return nil, &store.TxnError{Index: idx, Op: ops[idx], Err: e}
	}
	// Results carry the written entries (not deletes); match them by key.
	byKey := make(map[string]uint64, len(resp.Results))
	for _, r := range resp.Results {
		if r.KV != nil {
			byKey[strings.TrimPrefix(r.KV.Key, s.root)] = r.KV.ModifyIndex
		}
	}
	out := make([]uint64, len(ops))
	for i, op := range ops {
		if op.Kind == store.OpPut {
			v, ok := byKey[op.Key]
			if !ok || v == 0 {
				return nil, fmt.Errorf("consul transaction: no index returned for %q", op.Key)
			}
			out[i] = v
		}
	}
	return out, nil
}
