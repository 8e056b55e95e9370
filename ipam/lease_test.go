package ipam

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/inventory/store/boltstore"
	"github.com/fatbox/fatbox/inventory/store/consulstore"
	"github.com/fatbox/fatbox/inventory/store/memstore"
	"github.com/fatbox/fatbox/test/harness"
)

// The lease tests run on every backend: the fake, the embedded store and Consul.

func TestLeasesMemory(t *testing.T) {
	runLeaseTests(t, func(t *testing.T) store.Store { return memstore.New() })
}

func TestLeasesBolt(t *testing.T) {
	runLeaseTests(t, func(t *testing.T) store.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestLeasesConsul(t *testing.T) {
	c := harness.StartConsul(t)
	var n atomic.Int64
	runLeaseTests(t, func(t *testing.T) store.Store {
		cfg, _ := consulstore.ParseURL(c.URL(fmt.Sprintf("ipam%d", n.Add(1))))
		s, err := consulstore.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func ip(s string) netip.Addr         { return netip.MustParseAddr(s) }
func dur(d time.Duration) *Duration  { x := Duration(d); return &x }

func newPool(t *testing.T, a *Allocator, name, cidr string, mod ...func(*Pool)) Pool {
	t.Helper()
	pf := netip.MustParsePrefix(cidr)
	p := Pool{Name: name, CIDR: pf, Gateway: pf.Addr().Next(), Bridge: "fbt" + name}
	for _, m := range mod {
		m(&p)
	}
	p, err := a.CreatePool(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func runLeaseTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	setup := func(t *testing.T) (*Allocator, *clock) {
		c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		return &Allocator{Store: newStore(t), Host: "h1", Now: c.now}, c
	}
	t.Run("OverlappingPoolsRace", func(t *testing.T) {
		// Creates of overlapping pools under different names, at once, from
		// separate allocators (processes): exactly one wins.
		a, _ := setup(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []string
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				al := &Allocator{Store: a.Store, Host: fmt.Sprintf("h%d", i)}
				cidr := fmt.Sprintf("198.18.%d.0/23", 40+i%2*1) // /23s at .40 and .41 overlap each other
				if _, err := al.CreatePool(ctx, Pool{Name: fmt.Sprintf("p%d", i), CIDR: netip.MustParsePrefix(netip.MustParsePrefix(cidr).Masked().String()),
					Gateway: ip("198.18.40.1"), Bridge: fmt.Sprintf("br%d", i)}); err == nil {
					mu.Lock()
					won = append(won, fmt.Sprint(i))
					mu.Unlock()
				} else if !strings.Contains(err.Error(), "overlaps") {
					t.Errorf("create p%d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if len(won) != 1 {
			t.Fatalf("%d overlapping pools created (%v), want 1", len(won), won)
		}
	})
	t.Run("SharedBridgeRace", func(t *testing.T) {
		// Creates of pools with separate networks on one bridge, at once,
		// from separate allocators: exactly one wins; and, racing with
		// them, pools on a bridge of their own all win.
		a, _ := setup(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won, own []string
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				al := &Allocator{Store: a.Store, Host: fmt.Sprintf("h%d", i)}
				br := "fbshared"
				if i%2 == 1 {
					br = fmt.Sprintf("fbown%d", i)
				}
				pf := netip.MustParsePrefix(fmt.Sprintf("198.18.%d.0/24", 100+i))
				_, err := al.CreatePool(ctx, Pool{Name: fmt.Sprintf("s%d", i), CIDR: pf, Gateway: pf.Addr().Next(), Bridge: br})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && i%2 == 0:
					won = append(won, fmt.Sprint(i))
				case err == nil:
					own = append(own, fmt.Sprint(i))
				case i%2 == 1 || !errors.Is(err, ErrPoolConflict) || !strings.Contains(err.Error(), `bridge "fbshared" is already the bridge of pool`):
					t.Errorf("create s%d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if len(won) != 1 || len(own) != 8 {
			t.Fatalf("pools created on the shared bridge: %v (want 1); on their own: %v (want 8)", won, own)
		}
		pools, _ := a.ListPools(ctx)
		if len(pools) != 9 {
			t.Fatalf("%d pools stored, want 9", len(pools))
		}
	})
	t.Run("SharingRules", func(t *testing.T) {
		a, _ := setup(t)
		newPool(t, a, "one", "198.18.20.0/24", func(p *Pool) { p.Bridge = "fbbr1"; p.VLAN = 100; p.Uplink = "eth1" })
		pf := netip.MustParsePrefix("198.18.21.0/24")
		two := func(mod func(p *Pool)) error {
			p := Pool{Name: "two", CIDR: pf, Gateway: pf.Addr().Next(), Bridge: "fbbr2"}
			mod(&p)
			_, err := a.CreatePool(ctx, p)
			return err
		}
		for _, tc := range []struct {
			name string
			mod  func(p *Pool)
			want string
		}{
			{"bridge", func(p *Pool) { p.Bridge = "fbbr1" }, `pool "two": bridge "fbbr1" is already the bridge of pool "one" (198.18.20.0/24): ` +
				"sharing it would make one layer-2 segment carry two subnets, and pool \"two\"'s gateway 198.18.21.1 would never be put on the bridge " +
				"(fatbox adds a gateway only to a bridge it creates): give pool \"two\" a bridge of its own (--bridge NAME --create-bridge)"},
			{"vlan", func(p *Pool) { p.VLAN = 100; p.Uplink = "eth1" }, `pool "two": vlan 100 on uplink "eth1" already carries pool "one" (bridge "fbbr1")`},
			{"overlap", func(p *Pool) { p.CIDR = netip.MustParsePrefix("198.18.20.128/25"); p.Gateway = ip("198.18.20.129") },
				`pool "two": cidr 198.18.20.128/25 overlaps pool "one" (198.18.20.0/24): pools must not share addresses: give a network outside 198.18.20.0/24 (--cidr)`},
			{"name", func(p *Pool) { p.Name = "one" }, `pool "one" already exists: pick another name, or ` + "`fatbox pool rm one` first"},
		} {
			err := two(tc.mod)
			if !errors.Is(err, ErrPoolConflict) || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrPoolExists) != (tc.name == "name") {
				t.Errorf("%s: %v\nwant %s (ErrPoolExists only for the name)", tc.name, err, tc.want)
			}
		}
		// Another VLAN on the same uplink, or the same VLAN on another uplink, is fine.
		if err := two(func(p *Pool) { p.VLAN = 101; p.Uplink = "eth1" }); err != nil {
			t.Fatal(err)
		}
		pf = netip.MustParsePrefix("198.18.22.0/24")
		if err := two(func(p *Pool) { p.Name = "three"; p.Bridge = "fbbr3"; p.VLAN = 100; p.Uplink = "eth2" }); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("TooLargeSuggestsAFreeNetwork", func(t *testing.T) {
		a, _ := setup(t)
		newPool(t, a, "first", "10.0.0.0/16")
		newPool(t, a, "second", "10.1.0.0/16")
		p := Pool{Name: "big", CIDR: netip.MustParsePrefix("10.0.0.0/8"), Gateway: ip("10.0.0.1"), Bridge: "fbbig"}
		_, err := a.CreatePool(ctx, p)
		if !errors.Is(err, ErrInvalidPool) || !strings.Contains(err.Error(), "such as --cidr 10.2.0.0/16") {
			t.Fatalf("too large: %v", err)
		}
		p.CIDR, p.Gateway = netip.MustParsePrefix("10.2.0.0/16"), ip("10.2.0.1")
		if _, err := a.CreatePool(ctx, p); err != nil {
			t.Fatalf("the suggestion is refused: %v", err)
		}
		p.Name, p.Bridge, p.CIDR, p.Gateway = "full", "fbfull", netip.MustParsePrefix("10.0.0.0/15"), ip("10.0.0.1")
		if _, err := a.CreatePool(ctx, p); err == nil || !strings.Contains(err.Error(), "every /16 inside it overlaps an existing pool") {
			t.Fatalf("too large, nothing free: %v", err)
		}
	})
	t.Run("LinkKind", func(t *testing.T) {
		a, _ := setup(t)
		links := map[string]string{"eth0": "device", "fbbr0": "bridge", "veth1": "veth"}
		var fail error
		a.LinkKind = func(name string) (string, bool, error) {
			k, ok := links[name]
			return k, ok, fail
		}
		mk := func(name, cidr, br string, create bool) error {
			pf := netip.MustParsePrefix(cidr)
			_, err := a.CreatePool(ctx, Pool{Name: name, CIDR: pf, Gateway: pf.Addr().Next(), Bridge: br, CreateBridge: create})
			return err
		}
		err := mk("nic", "198.18.30.0/24", "eth0", true)
		want := `pool "nic": bridge "eth0" is a device, not a bridge: fatbox never attaches containers to a NIC directly: give a bridge name (--bridge, with --create-bridge to make one)`
		if !errors.Is(err, ErrInvalidPool) || !strings.Contains(err.Error(), want) {
			t.Fatalf("bridge on a NIC: %v\nwant %s", err, want)
		}
		if err := mk("veth", "198.18.30.0/24", "veth1", false); err == nil || !strings.Contains(err.Error(), `bridge "veth1" is a link of kind "veth", not a bridge`) {
			t.Fatalf("bridge on a veth: %v", err)
		}
		if err := mk("br", "198.18.30.0/24", "fbbr0", false); err != nil {
			t.Fatalf("existing bridge: %v", err)
		}
		// A missing bridge is accepted with or without create_bridge: it may
		// be made later, or exist on other hosts only (attach refuses it then).
		if err := mk("later", "198.18.31.0/24", "fbbr9", false); err != nil {
			t.Fatalf("missing bridge: %v", err)
		}
		if err := mk("made", "198.18.32.0/24", "fbbr8", true); err != nil {
			t.Fatalf("missing bridge with create_bridge: %v", err)
		}
		fail = errors.New("netlink: boom")
		if err := mk("blind", "198.18.33.0/24", "fbbr7", true); !errors.Is(err, fail) || !strings.Contains(err.Error(), "cannot look up bridge") {
			t.Fatalf("LinkKind failing: %v", err)
		}
		if _, _, err := a.GetPool(ctx, "nic"); !errors.Is(err, ErrPoolNotFound) {
			t.Fatalf("refused pool was stored: %v", err)
		}
	})
	t.Run("ProbeOnlyOnAnExistingBridge", func(t *testing.T) {
		a, _ := setup(t)
		newPool(t, a, "pb", "198.18.34.0/24")
		mac, _ := net.ParseMAC("0a:58:c6:12:05:17")
		a.Prober = fakeProber{ip("198.18.34.23"): mac}
		kind := ""
		a.LinkKind = func(string) (string, bool, error) { return kind, kind != "", nil }
		if _, err := a.AllocateExact(ctx, "pb", "x", ip("198.18.34.23")); err != nil {
			t.Fatalf("probe ran on a missing bridge: %v", err)
		}
		kind = "bridge"
		if _, err := a.AllocateExact(ctx, "pb", "y", ip("198.18.34.23")); !errors.Is(err, ErrInUse) {
			t.Fatalf("exact allocation of a leased address: %v", err)
		}
		a.Prober = fakeProber{ip("198.18.34.24"): mac}
		if _, err := a.AllocateExact(ctx, "pb", "y", ip("198.18.34.24")); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "is answered by") {
			t.Fatalf("probe did not run on an existing bridge: %v", err)
		}
		a.BridgeExists = func(string) bool { return false } // set, it wins over LinkKind
		if _, err := a.AllocateExact(ctx, "pb", "y", ip("198.18.34.24")); err != nil {
			t.Fatalf("BridgeExists false: %v", err)
		}
	})
	t.Run("AllocateOriginAndUndo", func(t *testing.T) {
		a, _ := setup(t)
		newPool(t, a, "prod", "198.18.0.0/24")
		l, o, err := a.AllocateOrigin(ctx, "prod", "web-01")
		if err != nil || o != OriginNew {
			t.Fatalf("first allocation: %v %v", o, err)
		}
		if _, o, _ := a.AllocateOrigin(ctx, "prod", "web-01"); o != OriginExisting {
			t.Fatalf("second allocation: %v", o)
		}
		if err := a.UndoAllocation(ctx, "prod", "web-01", OriginExisting); err != nil {
			t.Fatal(err)
		}
		if got, err := a.Get(ctx, "prod", "web-01"); err != nil || got.State != Active {
			t.Fatalf("undo of an existing lease touched it: %+v %v", got, err)
		}
		if _, err := a.Release(ctx, "prod", "web-01"); err != nil {
			t.Fatal(err)
		}
		if back, o, _ := a.AllocateOrigin(ctx, "prod", "web-01"); o != OriginRevived || back.IP != l.IP {
			t.Fatalf("allocation from quarantine: %v %v", o, back.IP)
		}
		if err := a.UndoAllocation(ctx, "prod", "web-01", OriginRevived); err != nil {
			t.Fatal(err)
		}
		if got, _ := a.Get(ctx, "prod", "web-01"); got.State != Released || got.IP != l.IP {
			t.Fatalf("undo of a revived lease: %+v, want it back in quarantine", got)
		}
		if _, o, _ := a.AllocateOrigin(ctx, "prod", "web-02"); o != OriginNew {
			t.Fatal("web-02 not new")
		}
		if err := a.UndoAllocation(ctx, "prod", "web-02", OriginNew); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Get(ctx, "prod", "web-02"); !errors.Is(err, ErrLeaseNotFound) {
			t.Fatalf("undo of a new lease: %v", err)
		}
		if err := a.UndoAllocation(ctx, "prod", "web-02", OriginNew); err != nil {
			t.Fatalf("undo twice: %v", err)
		}
	})
	t.Run("Rename", func(t *testing.T) {
		a, _ := setup(t)
		newPool(t, a, "prod", "198.18.0.0/24")
		l1, _ := a.Allocate(ctx, "prod", "web-01")
		other, _ := a.Allocate(ctx, "prod", "web-02")
		extraKey := "x/moved"
		nl, err := a.Rename(ctx, "prod", "web-01", "web-01-last", func() ([]store.Op, error) {
			return []store.Op{{Kind: store.OpPut, Key: extraKey, Value: []byte("1")}}, nil
		})
		if err != nil || nl.IP != l1.IP || nl.Name != "web-01-last" {
			t.Fatalf("rename: %+v %v", nl, err)
		}
		if _, err := a.Store.Get(ctx, extraKey); err != nil {
			t.Fatalf("extra op not in the transaction: %v", err)
		}
		if _, err := a.Get(ctx, "prod", "web-01"); !errors.Is(err, ErrLeaseNotFound) {
			t.Fatalf("old name still leased: %v", err)
		}
		if o, err := a.Owner(ctx, l1.IP); err != nil || o.Name != "web-01-last" {
			t.Fatalf("owner after rename: %+v %v", o, err)
		}
		// The old name now gets a new address; renaming onto a leased name is refused.
		if l, _ := a.Allocate(ctx, "prod", "web-01"); l.IP == l1.IP || l.IP == other.IP {
			t.Fatalf("old name got %s", l.IP)
		}
		if _, err := a.Rename(ctx, "prod", "web-01-last", "web-02", nil); !errors.Is(err, ErrInUse) {
			t.Fatalf("rename onto a leased name: %v", err)
		}
		if _, err := a.Rename(ctx, "prod", "nobody", "x", nil); !errors.Is(err, ErrLeaseNotFound) {
			t.Fatalf("rename of no lease: %v", err)
		}
		// A failing extra leaves everything as it was.
		boom := errors.New("boom")
		if _, err := a.Rename(ctx, "prod", "web-01-last", "web-09", func() ([]store.Op, error) { return nil, boom }); !errors.Is(err, boom) {
			t.Fatalf("extra error: %v", err)
		}
		if o, _ := a.Owner(ctx, l1.IP); o.Name != "web-01-last" {
			t.Fatalf("owner after a failed rename: %+v", o)
		}
	})
	t.Run("StickyByName", func(t *testing.T) {
		a, _ := setup(t)
		newPool(t, a, "prod", "198.18.0.0/24")
		l1, err := a.Allocate(ctx, "prod", "web-01")
		if err != nil {
			t.Fatal(err)
		}
		if l1.IP != ip("198.18.0.2") {
			t.Fatalf("first lease %s, want 198.18.0.2 (the gateway .1 is skipped)", l1.IP)
		}
		l2, _ := a.Allocate(ctx, "prod", "web-02")
		again, err := a.Allocate(ctx, "prod", "web-01")
		if err != nil || again.IP != l1.IP || l2.IP == l1.IP {
			t.Fatalf("web-01 again = %v %v; web-02 = %v", again.IP, err, l2.IP)
		}
		// A fresh allocator (another process) sees the same.
		b := &Allocator{Store: a.Store, Host: "h1"}
		if l, err := b.Allocate(ctx, "prod", "web-01"); err != nil || l.IP != l1.IP {
			t.Fatalf("other process: %v %v", l.IP, err)
		}
		if o, err := a.Owner(ctx, l2.IP); err != nil || o.Name != "web-02" {
			t.Fatalf("Owner(%s) = %+v, %v", l2.IP, o, err)
		}
		if _, err := a.Owner(ctx, ip("198.18.0.200")); !errors.Is(err, ErrLeaseNotFound) {
			t.Fatalf("Owner of a free address: %v", err)
		}
		ls, _ := a.List(ctx, "prod")
		if len(ls) != 2 {
			t.Fatalf("List = %v", ls)
		}
	})
	t.Run("QuarantineAndReuse", func(t *testing.T) {
		a, c := setup(t)
		newPool(t, a, "q", "198.18.1.0/29", func(p *Pool) { p.Quarantine = dur(time.Hour) }) // .2-.6 usable: 5
		var names []string
		for i := 0; i < 5; i++ {
			n := fmt.Sprintf("vm-%d", i)
			names = append(names, n)
			if _, err := a.Allocate(ctx, "q", n); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := a.Allocate(ctx, "q", "late"); !errors.Is(err, ErrPoolFull) {
			t.Fatalf("full pool: %v", err)
		}
		rel, err := a.Release(ctx, "q", "vm-0")
		if err != nil || rel.State != Released {
			t.Fatalf("Release: %+v %v", rel, err)
		}
		if _, err := a.Allocate(ctx, "q", "late"); !errors.Is(err, ErrPoolFull) {
			t.Fatalf("address in quarantine went to another name: %v", err)
		}
		back, err := a.Allocate(ctx, "q", "vm-0")
		if err != nil || back.IP != rel.IP || back.State != Active {
			t.Fatalf("owner asking again in quarantine: %+v %v", back, err)
		}
		a.Release(ctx, "q", "vm-0")
		c.add(time.Hour + time.Second)
		late, err := a.Allocate(ctx, "q", "late")
		if err != nil || late.IP != rel.IP {
			t.Fatalf("after quarantine: %+v %v, want %s", late, err, rel.IP)
		}
		if _, err := a.Get(ctx, "q", "vm-0"); !errors.Is(err, ErrLeaseNotFound) {
			t.Fatalf("old owner's lease survived the reuse: %v", err)
		}
		n, err := a.Allocate(ctx, "q", "vm-0")
		if !errors.Is(err, ErrPoolFull) {
			t.Fatalf("vm-0 after losing its address: %+v %v", n, err)
		}
	})
	t.Run("ZeroQuarantine", func(t *testing.T) {
		a, _ := setup(t)
		newPool(t, a, "z", "198.18.2.0/30", func(p *Pool) { p.Quarantine = dur(0) }) // only .2
		l, _ := a.Allocate(ctx, "z", "a")
		if _, err := a.Release(ctx, "z", "a"); err != nil {
			t.Fatal(err)
		}
		if l2, err := a.Allocate(ctx, "z", "b"); err != nil || l2.IP != l.IP {
			t.Fatalf("zero quarantine: %v %v", l2, err)
		}
	})
	t.Run("FreeUndoesAnAllocation", func(t *testing.T) {
		a, _ := setup(t)
		newPool(t, a, "f", "198.18.9.0/30") // only .2
		if _, err := a.Allocate(ctx, "f", "half-made"); err != nil {
			t.Fatal(err)
		}
		if err := a.Free(ctx, "f", "half-made"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Get(ctx, "f", "half-made"); !errors.Is(err, ErrLeaseNotFound) {
			t.Fatalf("lease after Free: %v", err)
		}
		if l, err := a.Allocate(ctx, "f", "other"); err != nil || l.IP != ip("198.18.9.2") {
			t.Fatalf("address not free after Free: %v %v", l, err)
		}
		if err := a.Free(ctx, "f", "never-had-one"); err != nil {
			t.Fatalf("Free of a missing lease: %v", err)
		}
	})
	t.Run("AllocateExact", func(t *testing.T) {
		a, _ := setup(t)
		newPool(t, a, "x", "198.18.3.0/24", func(p *Pool) { p.Reserved = []netip.Addr{ip("198.18.3.9")} })
		l, err := a.AllocateExact(ctx, "x", "legacy-db", ip("198.18.3.23"))
		if err != nil || l.IP != ip("198.18.3.23") {
			t.Fatalf("AllocateExact: %v %v", l, err)
		}
		if _, err := a.AllocateExact(ctx, "x", "other", ip("198.18.3.23")); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), `leased to "legacy-db"`) {
			t.Fatalf("exact on a leased address: %v", err)
		}
		if _, err := a.AllocateExact(ctx, "x", "legacy-db", ip("198.18.3.24")); !errors.Is(err, ErrInUse) {
			t.Fatalf("second exact address for one name: %v", err)
		}
		for _, bad := range []string{"198.18.3.1", "198.18.3.9", "198.18.3.255", "198.18.4.1"} {
			if _, err := a.AllocateExact(ctx, "x", "n", ip(bad)); err == nil {
				t.Errorf("AllocateExact(%s) succeeded", bad)
			}
		}
		// Allocate never hands out what AllocateExact took.
		for i := 0; i < 30; i++ {
			l, err := a.Allocate(ctx, "x", fmt.Sprintf("n%d", i))
			if err != nil || l.IP == ip("198.18.3.23") || l.IP == ip("198.18.3.9") {
				t.Fatalf("Allocate: %v %v", l, err)
			}
		}
	})
	t.Run("ProbeRefusesLiveAddress", func(t *testing.T) {
		a, _ := setup(t)
		newPool(t, a, "pr", "198.18.5.0/24")
		mac, _ := net.ParseMAC("0a:58:c6:12:05:17")
		a.Prober = fakeProber{ip("198.18.5.23"): mac}
		_, err := a.AllocateExact(ctx, "pr", "x", ip("198.18.5.23"))
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "198.18.5.23 is answered by 0a:58:c6:12:05:17: a live host still uses it") {
			t.Fatalf("probe: %v", err)
		}
		if _, err := a.Get(ctx, "pr", "x"); !errors.Is(err, ErrLeaseNotFound) {
			t.Fatalf("refused exact allocation left a lease: %v", err)
		}
		if _, err := a.AllocateExact(ctx, "pr", "x", ip("198.18.5.24")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("PoolRules", func(t *testing.T) {
		a, _ := setup(t)
		newPool(t, a, "one", "198.18.6.0/24")
		if _, err := a.CreatePool(ctx, Pool{Name: "two", CIDR: netip.MustParsePrefix("198.18.6.128/25"), Gateway: ip("198.18.6.129"), Bridge: "b"}); err == nil || !strings.Contains(err.Error(), "overlaps pool \"one\"") {
			t.Fatalf("overlap: %v", err)
		}
		if _, err := a.CreatePool(ctx, Pool{Name: "one", CIDR: netip.MustParsePrefix("198.18.7.0/24"), Gateway: ip("198.18.7.1"), Bridge: "b"}); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("duplicate: %v", err)
		}
		a.Allocate(ctx, "one", "vm")
		if err := a.DeletePool(ctx, "one", false); !errors.Is(err, ErrPoolInUse) {
			t.Fatalf("rm with leases: %v", err)
		}
		if err := a.DeletePool(ctx, "one", true); err != nil {
			t.Fatal(err)
		}
		// Nothing of the pool is left (the pools' guard key is shared by all pools).
		for _, prefix := range []string{"ipam/pools/", "ipam/leases/", "ipam/blocks/"} {
			if kvs, _ := a.Store.List(ctx, prefix); len(kvs) != 0 {
				t.Fatalf("pool rm --force left %d records: %v", len(kvs), kvs[0].Key)
			}
		}
		if _, err := a.Allocate(ctx, "one", "vm"); !errors.Is(err, ErrPoolNotFound) {
			t.Fatalf("allocate in a removed pool: %v", err)
		}
	})
	t.Run("PoolRemoval", func(t *testing.T) { runPoolRemovalTests(t, newStore) })
	t.Run("GCFailsClosed", func(t *testing.T) {
		a, _ := setup(t)
		newPool(t, a, "g", "198.18.8.0/24")
		for _, n := range []string{"alive", "dead-1", "dead-2"} {
			a.Allocate(ctx, "g", n)
		}
		if _, err := a.GC(ctx, "g", nil, false); err == nil {
			t.Fatal("GC without an owner list succeeded")
		}
		res, err := a.GC(ctx, "g", map[string]bool{"alive": true}, true)
		if err != nil || len(res.Orphans) != 2 || len(res.Released) != 0 {
			t.Fatalf("dry run: %+v %v", res, err)
		}
		ls, _ := a.List(ctx, "g")
		for _, l := range ls {
			if l.State != Active {
				t.Fatalf("dry run changed %s", l.Name)
			}
		}
		res, err = a.GC(ctx, "g", map[string]bool{"alive": true}, false)
		if err != nil || len(res.Released) != 2 {
			t.Fatalf("gc: %+v %v", res, err)
		}
		if l, _ := a.Get(ctx, "g", "alive"); l.State != Active {
			t.Fatalf("gc released a live owner: %+v", l)
		}
	})
	t.Run("ConcurrentGoroutinesNoDuplicates", func(t *testing.T) {
		a, _ := setup(t)
		newPool(t, a, "c", "198.18.16.0/22")
		b := &Allocator{Store: a.Store, Host: "h2"} // a second host on the same store
		// Failures are collected under the lock and reported after the
		// goroutines end: however many there are, nothing blocks.
		var mu sync.Mutex
		seen := map[netip.Addr]string{}
		var fails []string
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				al := a
				if g%2 == 1 {
					al = b
				}
				for i := 0; i < 15; i++ {
					n := fmt.Sprintf("g%d-%d", g, i)
					l, err := al.Allocate(ctx, "c", n)
					mu.Lock()
					if err != nil {
						fails = append(fails, fmt.Sprintf("allocate %s: %v", n, err))
						mu.Unlock()
						return
					}
					if o, dup := seen[l.IP]; dup {
						fails = append(fails, fmt.Sprintf("%s given to %s and %s", l.IP, o, n))
					} else {
						seen[l.IP] = n
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for i, f := range fails {
			if i == 10 {
				t.Errorf("... and %d more failures", len(fails)-i)
				break
			}
			t.Error(f)
		}
		if len(seen) != 240 {
			t.Fatalf("%d distinct addresses, want 240 (%d failures)", len(seen), len(fails))
		}
	})
}

type fakeProber map[netip.Addr]net.HardwareAddr

func (f fakeProber) Probe(ctx context.Context, bridge string, a netip.Addr) (bool, net.HardwareAddr, error) {
	m, ok := f[a]
	return ok, m, nil
}
