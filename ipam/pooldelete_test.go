package ipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory/store"
)

// hookStore runs hook before every Txn; an error from it fails the Txn.
type hookStore struct {
	store.Store
	mu   sync.Mutex
	hook func(ops []store.Op) error
}

func (h *hookStore) Txn(ctx context.Context, ops []store.Op) ([]uint64, error) {
	h.mu.Lock()
	hook := h.hook
	h.mu.Unlock()
	if hook != nil {
		if err := hook(ops); err != nil {
			return nil, err
		}
	}
	return h.Store.Txn(ctx, ops)
}

func (h *hookStore) setHook(f func(ops []store.Op) error) { h.mu.Lock(); h.hook = f; h.mu.Unlock() }

// runPoolRemovalTests: the rules of DeletePool, on one backend.
func runPoolRemovalTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	setup := func(t *testing.T, containers map[string]string) (*Allocator, *clock) {
		c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		a := &Allocator{Store: newStore(t), Host: "h1", Now: c.now}
		if containers != nil {
			a.Containers = func(context.Context) (map[string]string, error) { return containers, nil }
		}
		return a, c
	}
	// intact checks that a refused removal left the pool usable.
	intact := func(t *testing.T, a *Allocator, pool string) {
		t.Helper()
		p, _, err := a.GetPool(ctx, pool)
		if err != nil || p.Deleting {
			t.Fatalf("pool after a refused removal: %+v %v", p, err)
		}
		if _, err := a.Allocate(ctx, pool, "probe-after-refusal"); err != nil {
			t.Fatalf("allocate after a refused removal: %v", err)
		}
		if err := a.Free(ctx, pool, "probe-after-refusal"); err != nil {
			t.Fatal(err)
		}
	}
	gone := func(t *testing.T, a *Allocator) {
		t.Helper()
		for _, prefix := range []string{"ipam/pools/", "ipam/leases/", "ipam/blocks/"} {
			if kvs, _ := a.Store.List(ctx, prefix); len(kvs) != 0 {
				t.Fatalf("pool removal left %d records: %v", len(kvs), kvs[0].Key)
			}
		}
	}
	want := func(t *testing.T, err error, sentinel error, parts ...string) {
		t.Helper()
		if !errors.Is(err, sentinel) {
			t.Fatalf("error %v, want %v", err, sentinel)
		}
		msg, at := err.Error(), 0
		for _, w := range parts {
			i := strings.Index(msg[at:], w)
			if i < 0 {
				t.Fatalf("error %q\nwant (after byte %d) %q", msg, at, w)
			}
			at += i + len(w)
		}
		t.Logf("%s", msg)
	}

	t.Run("ContainersBlockWithAndWithoutForce", func(t *testing.T) {
		users := map[string]string{"web-04": "prod", "web-02": "prod", "web-01": "prod", "web-03": "prod", "db": "other"}
		a, _ := setup(t, users)
		newPool(t, a, "prod", "198.18.70.0/24")
		for n := range users {
			a.Allocate(ctx, "prod", n)
		}
		for _, force := range []bool{false, true} {
			err := a.DeletePool(ctx, "prod", force)
			want(t, err, ErrPoolInUse, `pool "prod" was not removed: 4 containers use it ("web-01", "web-02", "web-03" and 1 more), and --force never removes containers: `,
				"remove each with `fatbox rm NAME` (`fatbox rm web-01`)", "then run `fatbox pool rm prod --force`")
			intact(t, a, "prod")
		}
		users1 := map[string]string{"solo": "prod"}
		a.Containers = func(context.Context) (map[string]string, error) { return users1, nil }
		want(t, a.DeletePool(ctx, "prod", true), ErrPoolInUse, `1 container uses it ("solo")`, "`fatbox rm solo`")
	})
	t.Run("InventoryUnreadableFailsClosed", func(t *testing.T) {
		a, _ := setup(t, nil)
		newPool(t, a, "prod", "198.18.71.0/24")
		boom := errors.New("consul: no leader")
		a.Containers = func(context.Context) (map[string]string, error) { return nil, boom }
		for _, force := range []bool{false, true} {
			want(t, a.DeletePool(ctx, "prod", force), boom, `cannot read the inventory, so pool "prod" was not removed`)
			intact(t, a, "prod")
		}
	})
	t.Run("NonContainerLeases", func(t *testing.T) {
		// web-01 is a container of another pool: its lease here is not a container's.
		a, c := setup(t, map[string]string{"web-01": "other"})
		newPool(t, a, "prod", "198.18.72.0/24", func(p *Pool) { p.Quarantine = dur(time.Hour) })
		l1, _ := a.AllocateExact(ctx, "prod", "legacy-db", ip("198.18.72.23"))
		l2, _ := a.Allocate(ctx, "prod", "web-01")
		a.Allocate(ctx, "prod", "gone")
		a.Release(ctx, "prod", "gone")
		c.add(time.Minute)
		err := a.DeletePool(ctx, "prod", false)
		want(t, err, ErrPoolInUse, `pool "prod" was not removed: it has 2 active leases of owners that are not containers: `,
			fmt.Sprintf(`"legacy-db" (%s), "web-01" (%s)`, l1.IP, l2.IP),
			"; and 1 address is quarantined until 2026-01-01T01:00:00Z",
			"release each with `fatbox ip release NAME --pool prod` (`fatbox ip release legacy-db --pool prod`;",
			"or drop them all now with `fatbox pool rm prod --force`")
		intact(t, a, "prod")
		res, err := a.DeletePoolWithResult(ctx, "prod", true)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Dropped) != 3 || res.Pool.Name != "prod" {
			t.Fatalf("result: %+v", res)
		}
		gone(t, a)
		if _, err := a.Allocate(ctx, "prod", "x"); !errors.Is(err, ErrPoolNotFound) {
			t.Fatalf("allocate in a removed pool: %v", err)
		}
	})
	t.Run("QuarantineOnly", func(t *testing.T) {
		a, c := setup(t, map[string]string{})
		newPool(t, a, "prod", "198.18.73.0/24", func(p *Pool) { p.Quarantine = dur(24 * time.Hour) })
		for i := range 5 {
			n := fmt.Sprintf("old-%d", i)
			a.Allocate(ctx, "prod", n)
			a.Release(ctx, "prod", n)
			c.add(time.Hour)
		}
		err := a.DeletePool(ctx, "prod", false)
		want(t, err, ErrPoolInUse, `pool "prod" was not removed: 5 addresses are quarantined until 2026-01-02T04:00:00Z (`,
			`198.18.73.2 released by "old-0" at 2026-01-01T00:00:00Z, 198.18.73.3 released by "old-1" at 2026-01-01T01:00:00Z, 198.18.73.4 released by "old-2" at 2026-01-01T02:00:00Z and 2 more), held for their old owners`,
			"`fatbox pool rm prod --force` drops quarantined leases and leases of owners that are not containers")
		intact(t, a, "prod")
		res, err := a.DeletePoolWithResult(ctx, "prod", true)
		if err != nil || len(res.Dropped) != 5 {
			t.Fatalf("force: %+v %v", res, err)
		}
		gone(t, a)
	})
	t.Run("QuarantineOverHoldsNothingBack", func(t *testing.T) {
		a, c := setup(t, map[string]string{})
		newPool(t, a, "prod", "198.18.80.0/24", func(p *Pool) { p.Quarantine = dur(time.Hour) })
		a.Allocate(ctx, "prod", "old")
		a.Release(ctx, "prod", "old")
		c.add(time.Hour + time.Second)
		res, err := a.DeletePoolWithResult(ctx, "prod", false)
		if err != nil || len(res.Dropped) != 1 || res.Dropped[0].Name != "old" {
			t.Fatalf("remove with a quarantine that is over: %+v %v", res, err)
		}
		gone(t, a)
	})
	t.Run("EmptyPoolAndCreateBridgeResult", func(t *testing.T) {
		a, _ := setup(t, map[string]string{"web-01": "other"})
		newPool(t, a, "prod", "198.18.74.0/24", func(p *Pool) { p.CreateBridge = true; p.Bridge = "fbprod" })
		res, err := a.DeletePoolWithResult(ctx, "prod", false)
		if err != nil || !res.Pool.CreateBridge || res.Pool.Bridge != "fbprod" || len(res.Dropped) != 0 {
			t.Fatalf("remove an empty pool: %+v %v", res, err)
		}
		gone(t, a)
		if err := a.DeletePool(ctx, "prod", true); !errors.Is(err, ErrPoolNotFound) {
			t.Fatalf("remove twice: %v", err)
		}
		// The name and the network are free again, and the old cursor is not reused.
		newPool(t, a, "prod", "198.18.75.0/24")
		if l, err := a.Allocate(ctx, "prod", "x"); err != nil || l.IP != ip("198.18.75.2") {
			t.Fatalf("allocate in the new pool: %v %v", l, err)
		}
	})
	t.Run("ContainerAppearsBeforeTheMark", func(t *testing.T) {
		// The first look finds no container; one created meanwhile is seen
		// by the second look, after the mark: refused, and the mark undone.
		a, _ := setup(t, nil)
		newPool(t, a, "prod", "198.18.76.0/24")
		calls := 0
		a.Containers = func(context.Context) (map[string]string, error) {
			calls++
			if calls == 1 {
				return map[string]string{}, nil
			}
			return map[string]string{"late": "prod"}, nil
		}
		want(t, a.DeletePool(ctx, "prod", true), ErrPoolInUse, `1 container uses it ("late")`)
		a.Containers = nil
		intact(t, a, "prod")
	})
	t.Run("CutShortThenFinished", func(t *testing.T) {
		a, _ := setup(t, map[string]string{})
		hs := &hookStore{Store: a.Store}
		a.Store = hs
		newPool(t, a, "prod", "198.18.77.0/24")
		for i := range 70 { // 70 leases and 2 blocks: 3 transactions
			if _, err := a.Allocate(ctx, "prod", fmt.Sprintf("n-%02d", i)); err != nil {
				t.Fatal(err)
			}
		}
		deletes := 0
		crash := errors.New("lost the store")
		hs.setHook(func(ops []store.Op) error {
			if ops[0].Kind == store.OpDelete {
				if deletes++; deletes == 2 {
					return crash
				}
			}
			return nil
		})
		if err := a.DeletePool(ctx, "prod", true); !errors.Is(err, crash) || !strings.Contains(err.Error(), "run `fatbox pool rm prod --force` again to finish") {
			t.Fatalf("cut short: %v", err)
		}
		hs.setHook(nil)
		// Half removed: unusable, and says how to finish.
		p, _, err := a.GetPool(ctx, "prod")
		if err != nil || !p.Deleting {
			t.Fatalf("pool after a removal cut short: %+v %v", p, err)
		}
		if _, err := a.Allocate(ctx, "prod", "new"); !errors.Is(err, ErrPoolNotFound) || !strings.Contains(err.Error(), "is being deleted") {
			t.Fatalf("allocate in a half removed pool: %v", err)
		}
		if _, err := a.Allocate(ctx, "prod", "n-69"); !errors.Is(err, ErrPoolNotFound) {
			t.Fatalf("old owner in a half removed pool: %v", err)
		}
		if _, err := a.CreatePool(ctx, Pool{Name: "prod", CIDR: p.CIDR, Gateway: p.Gateway, Bridge: "fbother"}); !errors.Is(err, ErrPoolConflict) ||
			!strings.Contains(err.Error(), "is being removed: finish with `fatbox pool rm prod --force`") {
			t.Fatalf("create over a half removed pool: %v", err)
		}
		res, err := a.DeletePoolWithResult(ctx, "prod", true)
		if err != nil || len(res.Dropped) != 70-31 {
			t.Fatalf("finish: %d dropped, %v", len(res.Dropped), err)
		}
		gone(t, a)
	})
	t.Run("NoAllocationCommitsAfterTheMark", func(t *testing.T) {
		// An allocation that read the pool before it was marked deleting
		// does not commit after the mark.
		a, _ := setup(t, map[string]string{})
		hs := &hookStore{Store: a.Store}
		a.Store = hs
		newPool(t, a, "prod", "198.18.78.0/24")
		b := &Allocator{Store: hs.Store, Host: "h2"} // removes the pool, unhooked
		var once sync.Once
		var rmErr error
		hs.setHook(func(ops []store.Op) error {
			for _, op := range ops {
				if op.Key == leaseKey("prod", "racer") {
					once.Do(func() { rmErr = b.DeletePool(ctx, "prod", true) })
				}
			}
			return nil
		})
		_, err := a.Allocate(ctx, "prod", "racer")
		if rmErr != nil {
			t.Fatal(rmErr)
		}
		if !errors.Is(err, ErrPoolNotFound) {
			t.Fatalf("allocation racing a removal: %v", err)
		}
		gone(t, a)
	})
	t.Run("ReleaseDuringRemovalRetries", func(t *testing.T) {
		// A release that read the pool before the mark conflicts and tries
		// again against the marked pool; the removal then finishes.
		a, _ := setup(t, map[string]string{})
		hs := &hookStore{Store: a.Store}
		a.Store = hs
		newPool(t, a, "prod", "198.18.79.0/24")
		a.Allocate(ctx, "prod", "x")
		b := &Allocator{Store: hs.Store, Host: "h2"}
		var once sync.Once
		hs.setHook(func(ops []store.Op) error {
			once.Do(func() {
				p, v, _ := b.GetPool(ctx, "prod")
				p.Deleting = true
				b2, _ := json.Marshal(p)
				if _, err := hs.Store.Put(ctx, poolKey("prod"), b2, v); err != nil {
					t.Error(err)
				}
			})
			return nil
		})
		l, err := a.Release(ctx, "prod", "x")
		if err != nil || l.State != Released {
			t.Fatalf("release in a pool being removed: %+v %v", l, err)
		}
		hs.setHook(nil)
		if err := a.DeletePool(ctx, "prod", true); err != nil {
			t.Fatal(err)
		}
		gone(t, a)
	})
}
