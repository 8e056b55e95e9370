package ipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/fatbox/fatbox/inventory/store"
)

// Sentinel errors; check with errors.Is.
var (
	ErrPoolNotFound  = errors.New("pool not found")
	ErrLeaseNotFound = errors.New("lease not found")
	ErrPoolFull      = errors.New("pool is full")
	ErrInUse         = errors.New("address in use")
	ErrPoolInUse     = errors.New("pool has leases")
)

// Lease states.
const (
	Active   = "active"
	Released = "released" // in quarantine; only its old owner can have it back
)

// Lease is one name's address in one pool.
type Lease struct {
	Pool      string     `json:"pool"`
	Name      string     `json:"name"`
	IP        netip.Addr `json:"ip"`
	State     string     `json:"state"`
	Host      string     `json:"host,omitempty"` // host that allocated it
	CreatedAt time.Time  `json:"created_at"`
	// QuarantineUntil is when a released address may go to another name.
	QuarantineUntil time.Time `json:"quarantine_until,omitzero"`
	Version         uint64    `json:"-"`
}

// block is the stored record of one block of BlockSize addresses: who claimed
// it, and which offsets are taken by which name.
type block struct {
	Host string           `json:"host,omitempty"` // the host with affinity to this block
	Used map[string]entry `json:"used,omitempty"` // offset (decimal) -> entry
}

type entry struct {
	Name string `json:"n"`
	// Until is set while the address is released: the unix second its
	// quarantine ends. 0 means leased.
	Until int64 `json:"u,omitempty"`
}

// Prober answers whether something on a bridge answers ARP for an address.
// ipam/arp provides one; nil on an Allocator means no probe.
type Prober interface {
	Probe(ctx context.Context, bridge string, ip netip.Addr) (inUse bool, mac net.HardwareAddr, err error)
}

// Allocator hands out addresses. The zero value is not usable: Store must be set.
type Allocator struct {
	// Store holds pools, leases and blocks. Required.
	Store store.Store
	// Host names this host for block affinity; "" means "local".
	Host string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Prober checks AllocateExact's address on the pool's bridge; nil means no probe.
	Prober Prober
	// BridgeExists says whether a bridge exists on this host (probes run only
	// then); nil means probe whenever Prober is set.
	BridgeExists func(name string) bool

	mu      sync.Mutex
	cursors map[string]*cursor
}

// cursor is this process's memory of a pool's blocks, so an allocation does
// not look at every block: the blocks this host claimed, and how far it got.
type cursor struct {
	mu      sync.Mutex // one allocation of a new address at a time per pool in this process
	loaded  bool
	mine    []int        // blocks with affinity to this host, in claim order
	claimed map[int]bool // blocks known to be claimed by anyone
	full    map[int]bool // blocks of mine seen full
	skip    int          // mine[:skip] are all full: not looked at again
	blocks  []int        // the pool's blocks with usable addresses (pools do not change)
	next    int          // index into blocks for the next claim
}

func (a *Allocator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Allocator) host() string {
	if a.Host == "" {
		return "local"
	}
	return a.Host
}

func poolKey(p string) string         { return "ipam/pools/" + p }
func leaseKey(p, n string) string     { return "ipam/leases/" + p + "/" + n }
func leasePrefix(p string) string     { return "ipam/leases/" + p + "/" }
func blockKey(p string, b int) string { return fmt.Sprintf("ipam/blocks/%s/%05d", p, b) }
func blockPrefix(p string) string     { return "ipam/blocks/" + p + "/" }

// ---- pools ----

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

// listJSON decodes every record under prefix; set receives each record's version.
func listJSON[T any](ctx context.Context, s store.Store, prefix, kind string, set func(*T, uint64)) ([]T, error) {
	kvs, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(kvs))
	for _, kv := range kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("%s record %q is corrupt: %w", kind, kv.Key, err)
		}
		set(&v, kv.Version)
		out = append(out, v)
	}
	return out, nil
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

// ---- leases ----

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

// retry runs fn until it does not return a conflict.
func retry(ctx context.Context, fn func() error) error {
	backoff := time.Millisecond
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || !(errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists)) {
			return err
		}
		if berr := store.Backoff(ctx, attempt, &backoff); berr != nil {
			return fmt.Errorf("gave up after %d conflicting writes: %w", attempt+1, err)
		}
	}
}

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
	p, err := a.livePool(ctx, pool)
	if err != nil {
		return Lease{}, "", err
	}
	var out Lease
	var origin Origin
	err = retry(ctx, func() error {
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

// commit writes a block and a lease in one transaction, plus extra ops.
func (a *Allocator) commit(ctx context.Context, p *Pool, bi int, b block, bver uint64, l Lease, extra []store.Op) (Lease, error) {
	bb, _ := json.Marshal(b)
	lb, _ := json.Marshal(l)
	ops := append([]store.Op{
		{Kind: store.OpPut, Key: blockKey(p.Name, bi), Value: bb, Version: bver},
		{Kind: store.OpPut, Key: leaseKey(p.Name, l.Name), Value: lb, Version: l.Version},
	}, extra...)
	vs, err := a.Store.Txn(ctx, ops)
	if err != nil {
		return l, err
	}
	l.Version = vs[1]
	return l, nil
}

func (a *Allocator) cursor(pool string) *cursor {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cursors == nil {
		a.cursors = map[string]*cursor{}
	}
	c := a.cursors[pool]
	if c == nil {
		c = &cursor{claimed: map[int]bool{}, full: map[int]bool{}}
		a.cursors[pool] = c
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
	c := a.cursor(p.Name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := a.load(ctx, p, c); err != nil {
		return Lease{}, err
	}
	now := a.now()
	try := func(bi int, b block, bver uint64) (Lease, bool, error) {
		off, prev, ok := a.free(p, bi, b, now.Unix())
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
		b.Used[strconv.Itoa(off)] = entry{Name: name}
		l := Lease{Pool: p.Name, Name: name, IP: p.blockAddr(bi, off), State: Active, Host: a.host(), CreatedAt: now.UTC()}
		l, err := a.commit(ctx, p, bi, b, bver, l, extra)
		return l, true, err
	}
	// 1. blocks with affinity to this host.
	for i := c.skip; i < len(c.mine); i++ {
		bi := c.mine[i]
		if c.full[bi] {
			if i == c.skip {
				c.skip++
			}
			continue
		}
		b, bver, err := a.readBlockIdx(ctx, p.Name, bi)
		if err != nil {
			return Lease{}, err
		}
		l, ok, err := try(bi, b, bver)
		if ok || err != nil {
			return l, err
		}
		c.full[bi] = true
		if i == c.skip {
			c.skip++
		}
	}
	// 2. claim an unclaimed block.
	blocks := c.blocks
	for ; c.next < len(blocks); c.next++ {
		bi := blocks[c.next]
		if c.claimed[bi] {
			continue
		}
		b, bver, err := a.readBlockIdx(ctx, p.Name, bi)
		if err != nil {
			return Lease{}, err
		}
		if bver != 0 { // claimed by another process or host since we loaded
			c.claimed[bi] = true
			if b.Host == a.host() {
				c.mine = append(c.mine, bi)
			}
			continue
		}
		l, ok, err := try(bi, block{Host: a.host()}, 0)
		if err != nil {
			if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists) {
				c.claimed[bi] = true // lost the race for it; move on
			}
			return l, err
		}
		if ok {
			c.claimed[bi] = true
			c.mine = append(c.mine, bi)
			return l, nil
		}
	}
	// 3. borrow: every block, including this host's (released addresses
	// whose quarantine ended free up space anywhere). Only a nearly full
	// pool gets here.
	kvs, err := a.Store.List(ctx, blockPrefix(p.Name))
	if err != nil {
		return Lease{}, err
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
		l, ok, err := try(bi, b, kv.Version)
		if ok || err != nil {
			if err == nil && b.Host == a.host() {
				delete(c.full, bi)
				c.skip = 0
			}
			return l, err
		}
	}
	return Lease{}, fmt.Errorf("pool %q has no free address for %q (%d usable, all leased or in quarantine): release addresses or add a range: %w",
		p.Name, name, p.Capacity(), ErrPoolFull)
}

// AllocateExact gives name exactly ip (taking over a retired VM's address).
// It refuses an address leased to another name, one that is not usable in
// the pool, and — when a Prober is set and the pool's bridge exists — one
// that something on the bridge answers ARP for.
func (a *Allocator) AllocateExact(ctx context.Context, pool, name string, ip netip.Addr) (Lease, error) {
	if err := ValidName("owner", name); err != nil {
		return Lease{}, err
	}
	p, err := a.livePool(ctx, pool)
	if err != nil {
		return Lease{}, err
	}
	if !p.CIDR.Contains(ip) {
		return Lease{}, fmt.Errorf("%s is outside pool %q (%s)", ip, pool, p.CIDR)
	}
	if !p.Usable(ip) {
		return Lease{}, fmt.Errorf("%s cannot be leased from pool %q: it is the gateway, reserved, or outside the pool's ranges", ip, pool)
	}
	probed := false
	var out Lease
	err = retry(ctx, func() error {
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
		if !probed && a.Prober != nil && (a.BridgeExists == nil || a.BridgeExists(p.Bridge)) {
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

// Release puts name's address in quarantine (the pool's, default 24 h): only
// name can have it back until then. With a zero quarantine it is freed at
// once. Releasing a released lease does nothing.
func (a *Allocator) Release(ctx context.Context, pool, name string) (Lease, error) {
	p, _, err := a.GetPool(ctx, pool)
	if err != nil {
		return Lease{}, err
	}
	var out Lease
	err = retry(ctx, func() error {
		l, err := a.Get(ctx, pool, name)
		if err != nil {
			return err
		}
		out, err = a.release(ctx, &p, l, 0)
		return err
	})
	return out, err
}

// Free deletes name's lease at once, without quarantine: the undo of an
// allocation that a failed create made. Use Release for addresses that were in use.
func (a *Allocator) Free(ctx context.Context, pool, name string) error {
	p, _, err := a.GetPool(ctx, pool)
	if err != nil {
		return err
	}
	return retry(ctx, func() error {
		l, ok, err := a.getLease(ctx, pool, name)
		if err != nil || !ok {
			return err
		}
		_, err = a.release(ctx, &p, l, -1)
		return err
	})
}

// release releases l, which was read at l.Version; a changed lease is a
// conflict. q < 0 frees at once whatever the pool's quarantine.
func (a *Allocator) release(ctx context.Context, p *Pool, l Lease, q time.Duration) (Lease, error) {
	if l.State == Released && q >= 0 {
		return l, nil
	}
	b, bi, bver, err := a.readBlock(ctx, p, l.IP)
	if err != nil {
		return l, err
	}
	_, off := p.blockOf(l.IP)
	if q == 0 {
		q = p.QuarantineDuration()
	}
	if q <= 0 {
		if e, ok := b.Used[strconv.Itoa(off)]; ok && e.Name == l.Name {
			delete(b.Used, strconv.Itoa(off))
		}
		bb, _ := json.Marshal(b)
		_, err := a.Store.Txn(ctx, []store.Op{
			{Kind: store.OpPut, Key: blockKey(p.Name, bi), Value: bb, Version: bver},
			{Kind: store.OpDelete, Key: leaseKey(p.Name, l.Name), Version: l.Version},
		})
		l.State = Released
		return l, err
	}
	until := a.now().Add(q)
	if e, ok := b.Used[strconv.Itoa(off)]; ok && e.Name == l.Name {
		b.Used[strconv.Itoa(off)] = entry{Name: l.Name, Until: until.Unix()}
	}
	l.State, l.QuarantineUntil = Released, until.UTC()
	return a.commit(ctx, p, bi, b, bver, l, nil)
}

// GCResult lists what GC found and, unless dry-run, released.
type GCResult struct {
	Orphans  []Lease `json:"orphans"`
	Released []Lease `json:"released"`
	DryRun   bool    `json:"dry_run"`
}

// GC finds active leases in pool whose owner is not in alive and, unless
// dryRun, releases them (into quarantine). It fails closed: a nil alive set
// (owners unknown) is refused, and a lease that changed since it was listed
// is left alone.
func (a *Allocator) GC(ctx context.Context, pool string, alive map[string]bool, dryRun bool) (GCResult, error) {
	res := GCResult{DryRun: dryRun}
	if alive == nil {
		return res, errors.New("ip gc needs the list of owners that exist (the inventory): refusing to guess, nothing was freed")
	}
	p, _, err := a.GetPool(ctx, pool)
	if err != nil {
		return res, err
	}
	leases, err := a.List(ctx, pool)
	if err != nil {
		return res, err
	}
	for _, l := range leases {
		if l.State != Active || alive[l.Name] {
			continue
		}
		res.Orphans = append(res.Orphans, l)
		if dryRun {
			continue
		}
		// Release at the version listed: if anything touched the lease since, skip it.
		r, err := a.release(ctx, &p, l, 0)
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists) {
			continue
		}
		if err != nil {
			return res, err
		}
		res.Released = append(res.Released, r)
	}
	return res, nil
}

// Rename moves name's lease in pool to newName, keeping its address, in one
// transaction with the ops extra returns (read afresh on each try, so a
// caller can move its own records in the same transaction). The new name
// must hold no lease in the pool. A missing lease is ErrLeaseNotFound.
func (a *Allocator) Rename(ctx context.Context, pool, name, newName string, extra func() ([]store.Op, error)) (Lease, error) {
	if err := ValidName("owner", newName); err != nil {
		return Lease{}, err
	}
	p, _, err := a.GetPool(ctx, pool)
	if err != nil {
		return Lease{}, err
	}
	var out Lease
	err = retry(ctx, func() error {
		l, err := a.Get(ctx, pool, name)
		if err != nil {
			return err
		}
		if o, taken, err := a.getLease(ctx, pool, newName); err != nil {
			return err
		} else if taken {
			return fmt.Errorf("%q already holds %s in pool %q: release it first (`fatbox ip release %s --pool %s`): %w", newName, o.IP, pool, newName, pool, ErrInUse)
		}
		b, bi, bver, err := a.readBlock(ctx, &p, l.IP)
		if err != nil {
			return err
		}
		_, off := p.blockOf(l.IP)
		e, ok := b.Used[strconv.Itoa(off)]
		if !ok || e.Name != name {
			return fmt.Errorf("lease %q moved: %w", name, store.ErrConflict)
		}
		b.Used[strconv.Itoa(off)] = entry{Name: newName, Until: e.Until}
		var ops []store.Op
		if extra != nil {
			if ops, err = extra(); err != nil {
				return err
			}
		}
		nl := l
		nl.Name, nl.Version = newName, 0
		bb, _ := json.Marshal(b)
		lb, _ := json.Marshal(nl)
		all := append([]store.Op{
			{Kind: store.OpPut, Key: blockKey(pool, bi), Value: bb, Version: bver},
			{Kind: store.OpDelete, Key: leaseKey(pool, name), Version: l.Version},
			{Kind: store.OpPut, Key: leaseKey(pool, newName), Value: lb},
		}, ops...)
		vs, err := a.Store.Txn(ctx, all)
		if err != nil {
			return err
		}
		nl.Version = vs[2]
		out = nl
		return nil
	})
	return out, err
}
