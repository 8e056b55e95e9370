package ipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fatbox/fatbox/inventory/store"
)

// poolsGuardKey is rewritten by every CreatePool in the same transaction as
// the new pool, at the version read before the overlap check: two creates
// that race conflict on it, and the loser checks again against the winner.
const poolsGuardKey = "ipam/pools-guard"

// CreatePool validates a pool, refuses overlaps with existing pools, and
// stores it. The overlap check and the write are atomic (poolsGuardKey),
// across processes and hosts.
func (a *Allocator) CreatePool(ctx context.Context, p Pool) (Pool, error) {
	if err := p.Validate(); err != nil {
		return p, err
	}
	err := retry(ctx, func() error {
		var guard uint64
		if kv, err := a.Store.Get(ctx, poolsGuardKey); err == nil {
			guard = kv.Version
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		pools, err := a.ListPools(ctx)
		if err != nil {
			return err
		}
		for _, o := range pools {
			if o.Name == p.Name {
				return fmt.Errorf("pool %q already exists: pick another name or `fatbox pool rm %s` first", p.Name, p.Name)
			}
			if p.Overlaps(&o) {
				return fmt.Errorf("pool %q (%s) overlaps pool %q (%s): pools must not share addresses", p.Name, p.CIDR, o.Name, o.CIDR)
			}
		}
		b, _ := json.Marshal(p)
		_, err = a.Store.Txn(ctx, []store.Op{
			{Kind: store.OpPut, Key: poolsGuardKey, Value: []byte(p.Name), Version: guard},
			{Kind: store.OpPut, Key: poolKey(p.Name), Value: b},
		})
		return err
	})
	return p, err
}

// GetPool reads a pool.
func (a *Allocator) GetPool(ctx context.Context, name string) (Pool, uint64, error) {
	kv, err := a.Store.Get(ctx, poolKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return Pool{}, 0, fmt.Errorf("pool %q does not exist: create it with `fatbox pool create %s --cidr ...`: %w", name, name, ErrPoolNotFound)
	}
	if err != nil {
		return Pool{}, 0, err
	}
	var p Pool
	if err := json.Unmarshal(kv.Value, &p); err != nil {
		return Pool{}, 0, fmt.Errorf("pool record %q is corrupt: %w", name, err)
	}
	return p, kv.Version, nil
}

// ListPools lists every pool, by name.
func (a *Allocator) ListPools(ctx context.Context) ([]Pool, error) {
	return listJSON(ctx, a.Store, "ipam/pools/", "pool", func(*Pool, uint64) {})
}

// DeletePool removes a pool. With leases (active or in quarantine) it is
// refused unless force, which first marks the pool deleting (no new
// allocations), then removes its leases and blocks, then the pool.
func (a *Allocator) DeletePool(ctx context.Context, name string, force bool) error {
	p, ver, err := a.GetPool(ctx, name)
	if err != nil {
		return err
	}
	leases, err := a.List(ctx, name)
	if err != nil {
		return err
	}
	if len(leases) > 0 && !force {
		return fmt.Errorf("pool %q still has %d leases (first: %s → %s): release them, or use --force to drop them all: %w",
			name, len(leases), leases[0].Name, leases[0].IP, ErrPoolInUse)
	}
	if !p.Deleting {
		p.Deleting = true
		b, _ := json.Marshal(p)
		if ver, err = a.Store.Put(ctx, poolKey(name), b, ver); err != nil {
			return fmt.Errorf("mark pool %q deleting: %w", name, err)
		}
	}
	for _, prefix := range []string{leasePrefix(name), blockPrefix(name)} {
		kvs, err := a.Store.List(ctx, prefix)
		if err != nil {
			return err
		}
		for i := 0; i < len(kvs); i += store.MaxTxnOps {
			var ops []store.Op
			for _, kv := range kvs[i:min(i+store.MaxTxnOps, len(kvs))] {
				ops = append(ops, store.Op{Kind: store.OpDelete, Key: kv.Key, Version: kv.Version})
			}
			if _, err := a.Store.Txn(ctx, ops); err != nil {
				return fmt.Errorf("drop pool %q's records (run the command again to finish): %w", name, err)
			}
		}
	}
	if err := a.Store.Delete(ctx, poolKey(name), ver); err != nil {
		return fmt.Errorf("delete pool %q: %w", name, err)
	}
	a.mu.Lock()
	delete(a.cursors, name)
	a.mu.Unlock()
	return nil
}
