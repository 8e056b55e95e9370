package ipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/fatbox/fatbox/inventory/store"
)

// Release puts name's address in quarantine (the pool's, default 24 h): only
// name can have it back until then. With a zero quarantine it is freed at
// once. Releasing a released lease does nothing.
func (a *Allocator) Release(ctx context.Context, pool, name string) (Lease, error) {
	var out Lease
	err := retry(ctx, func() error {
		p, _, err := a.GetPool(ctx, pool)
		if err != nil {
			return err
		}
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
	return retry(ctx, func() error {
		p, _, err := a.GetPool(ctx, pool)
		if err != nil {
			return err
		}
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
			p.check(),
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
	var out Lease
	err := retry(ctx, func() error {
		p, _, err := a.GetPool(ctx, pool)
		if err != nil {
			return err
		}
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
			p.check(),
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
