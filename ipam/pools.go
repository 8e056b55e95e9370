package ipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

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
		return fmt.Errorf("pool %q already exists and is being removed: finish with `fatbox pool rm %s --force`, then create it again: %w", p.Name, p.Name, ErrPoolExists)
	case o.Name == p.Name:
		return fmt.Errorf("pool %q already exists: pick another name, or `fatbox pool rm %s` first: %w", p.Name, p.Name, ErrPoolExists)
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

// DeletePoolResult is what DeletePoolWithResult removed.
type DeletePoolResult struct {
	// Pool is the removed pool. When Pool.CreateBridge is set, fatbox may
	// have made Pool.Bridge on the hosts that ran its containers: the caller
	// removes it there (when it has no ports left).
	Pool Pool `json:"pool"`
	// Dropped are the leases force dropped: active leases of owners that
	// are not containers, and leases in quarantine.
	Dropped []Lease `json:"dropped,omitempty"`
}

// DeletePool is DeletePoolWithResult without the result.
func (a *Allocator) DeletePool(ctx context.Context, name string, force bool) error {
	_, err := a.DeletePoolWithResult(ctx, name, force)
	return err
}

// DeletePoolWithResult removes a pool, its leases and its blocks.
//
// It is refused (ErrPoolInUse) while a container record (Containers) uses
// the pool, with or without force, and fails closed when the records cannot
// be read. Without force it is also refused while the pool has leases:
// active ones of owners that are not containers (names given to `fatbox ip
// allocate`), or released ones in quarantine. Force drops those.
//
// The pool is first marked deleting: from then on no allocation commits
// (every lease transaction checks the pool record's version), and the
// leases and blocks go in transactions of up to store.MaxTxnOps ops, the
// last one with the pool record. A removal cut short leaves the pool marked
// deleting and unusable; running it again finishes it.
func (a *Allocator) DeletePoolWithResult(ctx context.Context, name string, force bool) (DeletePoolResult, error) {
	var res DeletePoolResult
	err := retry(ctx, func() error {
		p, _, err := a.GetPool(ctx, name)
		if err != nil {
			return err
		}
		res.Pool = p
		if err := a.refuseContainers(ctx, &p); err != nil {
			return err
		}
		leases, err := a.List(ctx, name)
		if err != nil {
			return err
		}
		if !force {
			if err := refuseLeases(&p, leases, a.now()); err != nil {
				return err
			}
		}
		marked := !p.Deleting
		if marked {
			q := p
			q.Deleting = true
			b, _ := json.Marshal(q)
			v, err := a.Store.Put(ctx, poolKey(name), b, p.version)
			if err != nil {
				return fmt.Errorf("mark pool %q deleting: %w", name, err)
			}
			p.Deleting, p.version = true, v
		}
		// A container created since the first look may have leased an
		// address before the mark: look again now that none can.
		if err := a.refuseContainers(ctx, &p); err != nil {
			if marked {
				p.Deleting = false
				b, _ := json.Marshal(p)
				if _, uerr := a.Store.Put(ctx, poolKey(name), b, p.version); uerr != nil {
					// uerr is shown, not wrapped: a conflict here must not retry the removal.
					return fmt.Errorf("%w; and pool %q stays marked deleting (no allocations) because unmarking it failed (%v): remove its containers, then finish with `fatbox pool rm %s --force`",
						err, name, uerr, name)
				}
			}
			return err
		}
		dropped, err := a.dropRecords(ctx, &p)
		res.Dropped = append(res.Dropped, dropped...)
		if err != nil {
			return fmt.Errorf("remove pool %q's records (it stays marked deleting; run `fatbox pool rm %s --force` again to finish): %w", name, name, err)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	a.mu.Lock()
	delete(a.cursors, name)
	a.mu.Unlock()
	return res, nil
}

// refuseContainers fails while a container record uses pool p.
func (a *Allocator) refuseContainers(ctx context.Context, p *Pool) error {
	if a.Containers == nil {
		return nil
	}
	all, err := a.Containers(ctx)
	if err != nil {
		return fmt.Errorf("cannot read the inventory, so pool %q was not removed: %w", p.Name, err)
	}
	var users []string
	for c, pool := range all {
		if pool == p.Name {
			users = append(users, c)
		}
	}
	if len(users) == 0 {
		return nil
	}
	sort.Strings(users)
	return fmt.Errorf("pool %q was not removed: %s it (%s), and --force never removes containers: remove each with `fatbox rm NAME` (`fatbox rm %s`), "+
		"then run `fatbox pool rm %s --force`, which drops the addresses their names keep: %w",
		p.Name, countOf(len(users), "container uses", "containers use"), firstFew(users, strconv.Quote), users[0], p.Name, ErrPoolInUse)
}

// refuseLeases fails while the pool has leases: active ones (of owners that
// are not containers: refuseContainers ran first) or in quarantine at now.
// A released lease whose quarantine is over holds nothing back.
func refuseLeases(p *Pool, leases []Lease, now time.Time) error {
	var active, held []Lease
	for _, l := range leases {
		switch {
		case l.State == Active:
			active = append(active, l)
		case l.QuarantineUntil.After(now):
			held = append(held, l)
		}
	}
	var quarantine string
	if len(held) > 0 {
		sort.Slice(held, func(i, j int) bool { return held[i].QuarantineUntil.Before(held[j].QuarantineUntil) })
		last := held[len(held)-1].QuarantineUntil
		quarantine = fmt.Sprintf("%s quarantined until %s (%s), held for their old owners", countOf(len(held), "address is", "addresses are"),
			last.UTC().Format(time.RFC3339), firstFew(held, func(l Lease) string {
				return fmt.Sprintf("%s released by %q at %s", l.IP, l.Name, l.QuarantineUntil.Add(-p.QuarantineDuration()).UTC().Format(time.RFC3339))
			}))
	}
	switch {
	case len(active) > 0:
		msg := fmt.Sprintf("pool %q was not removed: it has %s of owners that are not containers: %s", p.Name, countOf(len(active), "active lease", "active leases"),
			firstFew(active, func(l Lease) string { return fmt.Sprintf("%q (%s)", l.Name, l.IP) }))
		if quarantine != "" {
			msg += "; and " + quarantine
		}
		return fmt.Errorf("%s: release each with `fatbox ip release NAME --pool %s` (`fatbox ip release %s --pool %s`; the address then waits in quarantine), "+
			"or drop them all now with `fatbox pool rm %s --force`: %w", msg, p.Name, active[0].Name, p.Name, p.Name, ErrPoolInUse)
	case len(held) > 0:
		return fmt.Errorf("pool %q was not removed: %s: `fatbox pool rm %s --force` drops quarantined leases and leases of owners that are not containers: %w",
			p.Name, quarantine, p.Name, ErrPoolInUse)
	}
	return nil
}

// countOf writes "1 thing" or "n things".
func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// firstFew lists up to three items and how many more there are.
func firstFew[T any](items []T, show func(T) string) string {
	var s []string
	for _, it := range items[:min(3, len(items))] {
		s = append(s, show(it))
	}
	out := strings.Join(s, ", ")
	if len(items) > 3 {
		out += fmt.Sprintf(" and %d more", len(items)-3)
	}
	return out
}

// dropRecords deletes the leases and blocks of pool p, which is marked
// deleting at p.version, and then the pool record: every transaction checks
// the pool's version, the last one deletes it. It returns the leases it
// deleted. A conflict (a lease released since the list) is returned, and
// the caller starts over.
func (a *Allocator) dropRecords(ctx context.Context, p *Pool) ([]Lease, error) {
	var kvs []store.KV
	for _, prefix := range []string{leasePrefix(p.Name), blockPrefix(p.Name)} {
		l, err := a.Store.List(ctx, prefix)
		if err != nil {
			return nil, err
		}
		kvs = append(kvs, l...)
	}
	var dropped []Lease
	for {
		n := min(len(kvs), store.MaxTxnOps-1)
		ops := make([]store.Op, 0, n+1)
		for _, kv := range kvs[:n] {
			ops = append(ops, store.Op{Kind: store.OpDelete, Key: kv.Key, Version: kv.Version})
		}
		last := n == len(kvs)
		if last {
			ops = append(ops, store.Op{Kind: store.OpDelete, Key: poolKey(p.Name), Version: p.version})
		} else {
			ops = append(ops, p.check())
		}
		if _, err := a.Store.Txn(ctx, ops); err != nil {
			return dropped, err
		}
		for _, kv := range kvs[:n] {
			var l Lease
			if strings.HasPrefix(kv.Key, leasePrefix(p.Name)) && json.Unmarshal(kv.Value, &l) == nil {
				dropped = append(dropped, l)
			}
		}
		if last {
			return dropped, nil
		}
		kvs = kvs[n:]
	}
}
