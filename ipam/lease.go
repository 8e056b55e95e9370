package ipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/fatbox/fatbox/inventory/store"
)

func (a *Allocator) getLease(ctx context.Context, pool, name string) (Lease, bool, error) {
	kv, err := a.Store.Get(ctx, leaseKey(pool, name))
	if errors.Is(err, store.ErrNotFound) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, err
	}
	var l Lease
	if err := json.Unmarshal(kv.Value, &l); err != nil {
		return Lease{}, false, fmt.Errorf("lease record %q is corrupt: %w", kv.Key, err)
	}
	l.Version = kv.Version
	return l, true, nil
}

// Get returns name's lease in pool.
func (a *Allocator) Get(ctx context.Context, pool, name string) (Lease, error) {
	l, ok, err := a.getLease(ctx, pool, name)
	if err != nil {
		return l, err
	}
	if !ok {
		return l, fmt.Errorf("%q has no lease in pool %q: %w", name, pool, ErrLeaseNotFound)
	}
	return l, nil
}

// List returns every lease of a pool, by name.
func (a *Allocator) List(ctx context.Context, pool string) ([]Lease, error) {
	return listJSON(ctx, a.Store, leasePrefix(pool), "lease", func(l *Lease, v uint64) { l.Version = v })
}

// Owner returns the lease holding ip in any pool.
func (a *Allocator) Owner(ctx context.Context, ip netip.Addr) (Lease, error) {
	pools, err := a.ListPools(ctx)
	if err != nil {
		return Lease{}, err
	}
	for _, p := range pools {
		if !p.CIDR.Contains(ip) {
			continue
		}
		b, _, _, err := a.readBlock(ctx, &p, ip)
		if err != nil {
			return Lease{}, err
		}
		_, off := p.blockOf(ip)
		e, ok := b.Used[strconv.Itoa(off)]
		if !ok {
			break
		}
		return a.Get(ctx, p.Name, e.Name)
	}
	return Lease{}, fmt.Errorf("nobody holds %s: %w", ip, ErrLeaseNotFound)
}

func (a *Allocator) readBlock(ctx context.Context, p *Pool, ip netip.Addr) (block, int, uint64, error) {
	bi, _ := p.blockOf(ip)
	b, ver, err := a.readBlockIdx(ctx, p.Name, bi)
	return b, bi, ver, err
}

func (a *Allocator) readBlockIdx(ctx context.Context, pool string, bi int) (block, uint64, error) {
	kv, err := a.Store.Get(ctx, blockKey(pool, bi))
	if errors.Is(err, store.ErrNotFound) {
		return block{}, 0, nil
	}
	if err != nil {
		return block{}, 0, err
	}
	var b block
	if err := json.Unmarshal(kv.Value, &b); err != nil {
		return block{}, 0, fmt.Errorf("block record %q is corrupt: %w", kv.Key, err)
	}
	return b, kv.Version, nil
}
