// Package memstore is an in-memory store.Store for unit tests of pure logic.
// It keeps nothing across processes; never use it where state must survive.
package memstore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/fatbox/fatbox/inventory/store"
)

var _ store.Store = (*Store)(nil)

// Store is an in-memory store. The zero value is not usable; call New.
type Store struct {
	mu      sync.Mutex
	data    map[string]store.KV
	version uint64
	closed  bool
}

// New returns an empty in-memory store.
func New() *Store { return &Store{data: map[string]store.KV{}} }

func (s *Store) Backend() string { return "memory" }

func (s *Store) Health(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.Unavailablef("memory store is closed")
	}
	return nil
}

func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if err := store.ValidateKey(key); err != nil {
		return store.KV{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kv, ok := s.data[key]
	if !ok {
		return store.KV{}, fmt.Errorf("get %q: %w", key, store.ErrNotFound)
	}
	kv.Value = append([]byte(nil), kv.Value...)
	return kv, nil
}

func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.KV
	for k, kv := range s.data {
		if strings.HasPrefix(k, prefix) {
			kv.Value = append([]byte(nil), kv.Value...)
			out = append(out, kv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.Unavailablef("memory store is closed")
	}
	for i, op := range ops {
		cur, ok := s.data[op.Key]
		var have uint64
		if ok {
			have = cur.Version
		}
		if have != op.Version {
			e := store.ErrConflict
			if op.Version == 0 {
				e = store.ErrExists
			}
			return nil, &store.TxnError{Index: i, Op: op, Err: e}
		}
	}
	out := make([]uint64, len(ops))
	for i, op := range ops {
		switch op.Kind {
		case store.OpPut:
			s.version++
			s.data[op.Key] = store.KV{Key: op.Key, Value: append([]byte(nil), op.Value...), Version: s.version}
			out[i] = s.version
		case store.OpDelete:
			delete(s.data, op.Key)
		}
	}
	return out, nil
}
