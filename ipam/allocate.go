package ipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/fatbox/fatbox/inventory/store"
)

func (a *Allocator) livePool(ctx context.Context, pool string) (Pool, error) {
	p, _, err := a.GetPool(ctx, pool)
	if err != nil {
		return p, err
	}
	if p.Deleting {
		return p, fmt.Errorf("pool %q is being deleted: finish with `fatbox pool rm --force %s`: %w", pool, pool, ErrPoolNotFound)
	}
	return p, nil
}

// Allocate returns name's lease in pool: the one it has (taking it back out
// of quarantine if it was released), or a new one on a free address.
func (a *Allocator) Allocate(ctx context.Context, pool, name string) (Lease, error) {
	l, _, err := a.AllocateOrigin(ctx, pool, name)
	return l, err
}

// Origin says where an allocation's lease came from, so a caller can undo
// exactly what it did: Free a new lease, Release a revived one back into
// quarantine, leave an existing one alone.
type Origin string

const (
	OriginExisting Origin = "existing" // the name held it, active
	OriginRevived  Origin = "revived"  // the name held it in quarantine; now active again
	OriginNew      Origin = "new"      // a free address, leased now
)

// AllocateOrigin is Allocate that also says where the lease came from.
func (a *Allocator) AllocateOrigin(ctx context.Context, pool, name string) (Lease, Origin, error) {
	if err := ValidName("owner", name); err != nil {
		return Lease{}, "", err
	}
	var out Lease
	var origin Origin
	err := retry(ctx, func() error {
		p, err := a.livePool(ctx, pool)
		if err != nil {
			return err
		}
		l, ok, err := a.getLease(ctx, pool, name)
		if err != nil {
			return err
		}
		if ok {
			origin = OriginExisting
			if l.State != Active {
				origin = OriginRevived
			}
			out, err = a.revive(ctx, &p, l)
			return err
		}
		origin = OriginNew
		out, err = a.allocateNew(ctx, &p, name)
		return err
	})
	return out, origin, err
}

// UndoAllocation undoes an AllocateOrigin of name that had origin: a new
// lease is freed at once, a revived one goes back into quarantine, an
// existing one (or an unknown origin) is left alone. A missing lease is fine.
func (a *Allocator) UndoAllocation(ctx context.Context, pool, name string, origin Origin) error {
	var err error
	switch origin {
	case OriginNew:
		err = a.Free(ctx, pool, name)
	case OriginRevived:
		_, err = a.Release(ctx, pool, name)
	}
	if errors.Is(err, ErrLeaseNotFound) || errors.Is(err, ErrPoolNotFound) {
		return nil
	}
	return err
}

// revive returns an existing lease, reactivating it if released.
func (a *Allocator) revive(ctx context.Context, p *Pool, l Lease) (Lease, error) {
	if l.State == Active {
		return l, nil
	}
	b, bi, bver, err := a.readBlock(ctx, p, l.IP)
	if err != nil {
		return l, err
	}
	_, off := p.blockOf(l.IP)
	e, ok := b.Used[strconv.Itoa(off)]
	if !ok || e.Name != l.Name {
		// The address went to someone else after its quarantine; the
		// reuser deletes this lease in its transaction, so this is a stale read.
		return l, fmt.Errorf("lease %q moved: %w", l.Name, store.ErrConflict)
	}
	b.Used[strconv.Itoa(off)] = entry{Name: l.Name}
	l.State, l.QuarantineUntil = Active, time.Time{}
	return a.commit(ctx, p, bi, b, bver, l, nil)
}

// commit writes a block and a lease in one transaction, plus extra ops,
// if the pool is still the one read (poolCheck).
func (a *Allocator) commit(ctx context.Context, p *Pool, bi int, b block, bver uint64, l Lease, extra []store.Op) (Lease, error) {
	bb, _ := json.Marshal(b)
	lb, _ := json.Marshal(l)
	ops := append([]store.Op{
		{Kind: store.OpPut, Key: blockKey(p.Name, bi), Value: bb, Version: bver},
		{Kind: store.OpPut, Key: leaseKey(p.Name, l.Name), Value: lb, Version: l.Version},
		p.check(),
	}, extra...)
	vs, err := a.Store.Txn(ctx, ops)
	if err != nil {
		return l, err
	}
	l.Version = vs[1]
	return l, nil
}

// cursor returns this process's cursor of pool p; one of an older pool of
// the same name (removed and created again, perhaps by another host) is
// dropped.
func (a *Allocator) cursor(p *Pool) *cursor {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cursors == nil {
		a.cursors = map[string]*cursor{}
	}
	c := a.cursors[p.Name]
	if c == nil || c.pool < p.version {
		c = &cursor{pool: p.version, claimed: map[int]bool{}, full: map[int]bool{}}
		a.cursors[p.Name] = c
	}
	return c
}

// load learns, once per process and pool, which blocks exist and which are this host's.
func (a *Allocator) load(ctx context.Context, p *Pool, c *cursor) error {
	if c.loaded {
		return nil
	}
	kvs, err := a.Store.List(ctx, blockPrefix(p.Name))
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		bi, err := strconv.Atoi(kv.Key[len(blockPrefix(p.Name)):])
		if err != nil {
			continue
		}
		var b block
		if json.Unmarshal(kv.Value, &b) != nil {
			continue
		}
		c.claimed[bi] = true
		if b.Host == a.host() {
			c.mine = append(c.mine, bi)
		}
	}
	sort.Ints(c.mine)
	c.blocks = p.blocks()
	c.loaded = true
	return nil
}

// free finds a free offset in block b of pool p (usable, and not leased or
// still in quarantine). It returns the offset and, when the offset was
// released by another name whose quarantine is over, that name.
func (a *Allocator) free(p *Pool, bi int, b block, now int64) (int, string, bool) {
	for off := 0; off < BlockSize; off++ {
		if uint32(bi*BlockSize+off) >= p.size() || !p.Usable(p.blockAddr(bi, off)) {
			continue
		}
		e, used := b.Used[strconv.Itoa(off)]
		if !used {
			return off, "", true
		}
		if e.Until != 0 && e.Until <= now {
			return off, e.Name, true
		}
	}
	return 0, "", false
}

// allocateNew takes a free address for name: first in this host's blocks,
// then in a newly claimed block, then borrowed from other hosts' blocks.
func (a *Allocator) allocateNew(ctx context.Context, p *Pool, name string) (Lease, error) {
	c := a.cursor(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := a.load(ctx, p, c); err != nil {
		return Lease{}, err
	}
	t := taker{a: a, p: p, name: name, now: a.now()}
	for _, step := range []func(*taker, context.Context, *cursor) (Lease, bool, error){(*taker).fromMine, (*taker).fromUnclaimed, (*taker).borrow} {
		if l, ok, err := step(&t, ctx, c); ok || err != nil {
			return l, err
		}
	}
	return Lease{}, fmt.Errorf("pool %q has no free address for %q (%d usable, all leased or in quarantine): release addresses or add a range: %w",
		p.Name, name, p.Capacity(), ErrPoolFull)
}

// taker is one allocateNew of a new address for name in pool p.
type taker struct {
	a    *Allocator
	p    *Pool
	name string
	now  time.Time
}

// try takes a free address of block bi (read at bver) for t.name; false
// when the block has none.
func (t *taker) try(ctx context.Context, bi int, b block, bver uint64) (Lease, bool, error) {
	a, p := t.a, t.p
	off, prev, ok := a.free(p, bi, b, t.now.Unix())
	if !ok {
		return Lease{}, false, nil
	}
	var extra []store.Op
	if prev != "" {
		old, had, err := a.getLease(ctx, p.Name, prev)
		if err != nil {
			return Lease{}, false, err
		}
		if had && old.IP == p.blockAddr(bi, off) {
			extra = append(extra, store.Op{Kind: store.OpDelete, Key: leaseKey(p.Name, prev), Version: old.Version})
		}
	}
	if b.Used == nil {
		b.Used = map[string]entry{}
	}
	if b.Host == "" {
		b.Host = a.host()
	}
	b.Used[strconv.Itoa(off)] = entry{Name: t.name}
	l := Lease{Pool: p.Name, Name: t.name, IP: p.blockAddr(bi, off), State: Active, Host: a.host(), CreatedAt: t.now.UTC()}
	l, err := a.commit(ctx, p, bi, b, bver, l, extra)
	return l, true, err
}

// fromMine is step 1: blocks with affinity to this host.
func (t *taker) fromMine(ctx context.Context, c *cursor) (Lease, bool, error) {
	for i := c.skip; i < len(c.mine); i++ {
		bi := c.mine[i]
		if c.full[bi] {
			if i == c.skip {
				c.skip++
			}
			continue
		}
		b, bver, err := t.a.readBlockIdx(ctx, t.p.Name, bi)
		if err != nil {
			return Lease{}, false, err
		}
		l, ok, err := t.try(ctx, bi, b, bver)
		if ok || err != nil {
			return l, true, err
		}
		c.full[bi] = true
		if i == c.skip {
			c.skip++
		}
	}
	return Lease{}, false, nil
}

// fromUnclaimed is step 2: claim an unclaimed block.
func (t *taker) fromUnclaimed(ctx context.Context, c *cursor) (Lease, bool, error) {
	blocks := c.blocks
	for ; c.next < len(blocks); c.next++ {
		bi := blocks[c.next]
		if c.claimed[bi] {
			continue
		}
		b, bver, err := t.a.readBlockIdx(ctx, t.p.Name, bi)
		if err != nil {
			return Lease{}, false, err
		}
		if bver != 0 { // claimed by another process or host since we loaded
			c.claimed[bi] = true
			if b.Host == t.a.host() {
				c.mine = append(c.mine, bi)
			}
			continue
		}
		l, ok, err := t.try(ctx, bi, block{Host: t.a.host()}, 0)
		if err != nil {
			if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists) {
				c.claimed[bi] = true // lost the race for it; move on
			}
			return l, true, err
		}
		if ok {
			c.claimed[bi] = true
			c.mine = append(c.mine, bi)
			return l, true, nil
		}
	}
	return Lease{}, false, nil
}

// borrow is step 3: every block, including this host's (released addresses
// whose quarantine ended free up space anywhere). Only a nearly full pool
// gets here.
func (t *taker) borrow(ctx context.Context, c *cursor) (Lease, bool, error) {
	prefix := blockPrefix(t.p.Name)
	kvs, err := t.a.Store.List(ctx, prefix)
	if err != nil {
		return Lease{}, false, err
	}
	for _, kv := range kvs {
		bi, err := strconv.Atoi(kv.Key[len(prefix):])
		if err != nil {
			continue
		}
		var b block
		if json.Unmarshal(kv.Value, &b) != nil {
			continue
		}
		l, ok, err := t.try(ctx, bi, b, kv.Version)
		if ok || err != nil {
			if err == nil && b.Host == t.a.host() {
				delete(c.full, bi)
				c.skip = 0
			}
			return l, true, err
		}
	}
	return Lease{}, false, nil
}

// AllocateExact gives name exactly ip (taking over a retired VM's address).
// It refuses an address leased to another name, one that is not usable in
// the pool, and — when a Prober is set and the pool's bridge exists — one
// that something on the bridge answers ARP for.
func (a *Allocator) AllocateExact(ctx context.Context, pool, name string, ip netip.Addr) (Lease, error) {
	if err := ValidName("owner", name); err != nil {
		return Lease{}, err
	}
	probed := false
	var out Lease
	err := retry(ctx, func() error {
		p, err := a.livePool(ctx, pool)
		if err != nil {
			return err
		}
		if !p.CIDR.Contains(ip) {
			return invalidf("%s is outside pool %q (%s): give an address inside it, or leave --ip out", ip, pool, p.CIDR)
		}
		if !p.Usable(ip) {
			return invalidf("%s cannot be leased from pool %q: it is the gateway, reserved, or outside the pool's ranges (`fatbox pool show %s`)", ip, pool, pool)
		}
		l, ok, err := a.getLease(ctx, pool, name)
		if err != nil {
			return err
		}
		if ok {
			if l.IP != ip {
				return fmt.Errorf("%q already holds %s in pool %q: release it first (`fatbox ip release %s --pool %s`): %w", name, l.IP, pool, name, pool, ErrInUse)
			}
			out, err = a.revive(ctx, &p, l)
			return err
		}
		b, bi, bver, err := a.readBlock(ctx, &p, ip)
		if err != nil {
			return err
		}
		_, off := p.blockOf(ip)
		var extra []store.Op
		if e, used := b.Used[strconv.Itoa(off)]; used {
			if e.Until == 0 || e.Until > a.now().Unix() {
				return fmt.Errorf("%s is leased to %q in pool %q: %w", ip, e.Name, pool, ErrInUse)
			}
			old, had, err := a.getLease(ctx, pool, e.Name)
			if err != nil {
				return err
			}
			if had && old.IP == ip {
				extra = append(extra, store.Op{Kind: store.OpDelete, Key: leaseKey(pool, e.Name), Version: old.Version})
			}
		}
		if !probed && a.Prober != nil && a.bridgeHere(p.Bridge) {
			inUse, mac, err := a.Prober.Probe(ctx, p.Bridge, ip)
			if err != nil {
				return fmt.Errorf("ARP probe for %s on %q: %w", ip, p.Bridge, err)
			}
			if inUse {
				who := "something"
				if len(mac) > 0 {
					who = mac.String()
				}
				return fmt.Errorf("%s is answered by %s: a live host still uses it: retire it first, or pick another address: %w", ip, who, ErrInUse)
			}
			probed = true
		}
		if b.Used == nil {
			b.Used = map[string]entry{}
		}
		if b.Host == "" {
			b.Host = a.host()
		}
		b.Used[strconv.Itoa(off)] = entry{Name: name}
		now := a.now()
		out, err = a.commit(ctx, &p, bi, b, bver, Lease{Pool: pool, Name: name, IP: ip, State: Active, Host: a.host(), CreatedAt: now.UTC()}, extra)
		return err
	})
	return out, err
}
