package ipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/fatbox/fatbox/inventory/store"
)

// poolsGuardKey is rewritten by every CreatePool in the same transaction as
// the new pool, at the version read before the overlap check: two creates
// that race conflict on it, and the loser checks again against the winner.
const poolsGuardKey = "ipam/pools-guard"

// CreatePool validates a pool and stores it. It refuses a pool that
// clashes with an existing one (ErrPoolConflict): the same name, a shared
// address, the same bridge, or the same VLAN on the same uplink. Those
// checks and the write are atomic (poolsGuardKey), across processes and
// hosts. With LinkKind set, a bridge name that is an existing link of
// another kind on this host is refused; a missing bridge is not (it may be
// made later, or exist only on other hosts).
func (a *Allocator) CreatePool(ctx context.Context, p Pool) (Pool, error) {
	p.Deleting = false
	var taken []netip.Prefix
	if p.CIDR.IsValid() && p.CIDR.Addr().Is4() && p.CIDR.Bits() < MinPrefixBits {
		// Only for the suggestion of a /16 that is free; an unreadable
		// list leaves the suggestion blind, and the create fails anyway.
		if pools, err := a.ListPools(ctx); err == nil {
			for _, o := range pools {
				taken = append(taken, o.CIDR)
			}
		}
	}
	if err := p.validate(taken); err != nil {
		return p, err
	}
	if err := a.checkBridgeLink(&p); err != nil {
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
			if err := p.conflict(&o); err != nil {
				return err
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

// conflict says why new pool p cannot live beside existing pool o, or nil.
func (p *Pool) conflict(o *Pool) error {
	switch {
	case o.Name == p.Name && o.Deleting:
		return fmt.Errorf("pool %q already exists and is being removed: finish with `fatbox pool rm %s --force`, then create it again: %w", p.Name, p.Name, ErrPoolConflict)
	case o.Name == p.Name:
		return fmt.Errorf("pool %q already exists: pick another name, or `fatbox pool rm %s` first: %w", p.Name, p.Name, ErrPoolConflict)
	case p.Overlaps(o):
		return fmt.Errorf("pool %q: cidr %s overlaps pool %q (%s): pools must not share addresses: give a network outside %s (--cidr): %w",
			p.Name, p.CIDR, o.Name, o.CIDR, o.CIDR, ErrPoolConflict)
	case o.Bridge == p.Bridge:
		return fmt.Errorf("pool %q: bridge %q is already the bridge of pool %q (%s): sharing it would make one layer-2 segment carry two subnets, "+
			"and pool %q's gateway %s would never be put on the bridge (fatbox adds a gateway only to a bridge it creates): "+
			"give pool %q a bridge of its own (--bridge NAME --create-bridge): %w",
			p.Name, p.Bridge, o.Name, o.CIDR, p.Name, p.Gateway, p.Name, ErrPoolConflict)
	case p.VLAN != 0 && o.VLAN == p.VLAN && o.Uplink == p.Uplink:
		return fmt.Errorf("pool %q: vlan %d on uplink %q already carries pool %q (bridge %q): one VLAN is one layer-2 segment, and its link on %s can be a port of one bridge only: "+
			"give pool %q another VLAN (--vlan): %w", p.Name, p.VLAN, p.Uplink, o.Name, o.Bridge, p.Uplink, p.Name, ErrPoolConflict)
	}
	return nil
}

// checkBridgeLink refuses a bridge name that is an existing link of
// another kind on this host (LinkKind; nil skips it).
func (a *Allocator) checkBridgeLink(p *Pool) error {
	if a.LinkKind == nil {
		return nil
	}
	kind, exists, err := a.LinkKind(p.Bridge)
	if err != nil {
		return fmt.Errorf("pool %q: cannot look up bridge %q on this host, so the pool was not created: %w", p.Name, p.Bridge, err)
	}
	if !exists || kind == "bridge" {
		return nil
	}
	rule := fmt.Sprintf("is a link of kind %q, not a bridge: fatbox attaches containers to bridges only", kind)
	fix := "give a bridge name (--bridge, with --create-bridge to make one)"
	if kind == "device" || kind == "" {
		rule = "is a device, not a bridge: fatbox never attaches containers to a NIC directly"
		fix += fmt.Sprintf("; to reach %s's network, give a bridge that has %s as a port", p.Bridge, p.Bridge)
	}
	return &FieldError{Pool: p.Name, Field: "bridge", Value: p.Bridge, Rule: rule, Fix: fix}
}

// bridgeHere says whether the pool's bridge exists on this host, so an ARP
// probe can run on it: BridgeExists if set, else LinkKind, else true.
func (a *Allocator) bridgeHere(name string) bool {
	if a.BridgeExists != nil {
		return a.BridgeExists(name)
	}
	if a.LinkKind != nil {
		kind, exists, err := a.LinkKind(name)
		return err != nil || (exists && kind == "bridge")
	}
	return true
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
	p.version = kv.Version
	return p, kv.Version, nil
}

// ListPools lists every pool, by name.
func (a *Allocator) ListPools(ctx context.Context) ([]Pool, error) {
	return listJSON(ctx, a.Store, "ipam/pools/", "pool", func(p *Pool, v uint64) { p.version = v })
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
