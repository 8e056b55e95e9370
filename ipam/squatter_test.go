package ipam

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/inventory/store/boltstore"
	"github.com/fatbox/fatbox/ipam/arp"
	"github.com/fatbox/fatbox/test/harness"
)

// TestAllocateExactFindsSquatter: a namespace on a test bridge holding
// 198.18.60.23 makes AllocateExact of that address fail; a free one passes.
func TestAllocateExactFindsSquatter(t *testing.T) {
	harness.RequireRoot(t)
	br := harness.Bridge(t)
	harness.IP(t, "addr", "add", "198.18.60.1/24", "dev", br)
	ns := harness.Netns(t)
	host, peer := harness.Name("fbv"), harness.Name("fbp")
	harness.IP(t, "link", "add", host, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { harness.IPQuiet("link", "del", host) })
	harness.IP(t, "link", "set", host, "master", br, "up")
	harness.IP(t, "link", "set", peer, "netns", ns)
	harness.IP(t, "-n", ns, "addr", "add", "198.18.60.23/24", "dev", peer)
	harness.IP(t, "-n", ns, "link", "set", peer, "up")
	macOut := harness.IP(t, "-n", ns, "-br", "link", "show", peer)

	s, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := &Allocator{Store: s, Host: "h", Prober: arp.Prober{}}
	pf := netip.MustParsePrefix("198.18.60.0/24")
	if _, err := a.CreatePool(ctx, Pool{Name: "lan", CIDR: pf, Gateway: netip.MustParseAddr("198.18.60.1"), Bridge: br}); err != nil {
		t.Fatal(err)
	}
	_, err = a.AllocateExact(ctx, "lan", "legacy-app", netip.MustParseAddr("198.18.60.23"))
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "198.18.60.23 is answered by ") ||
		!strings.Contains(err.Error(), ": a live host still uses it") {
		t.Fatalf("AllocateExact of a squatted address: %v", err)
	}
	mac := strings.TrimSuffix(strings.Fields(err.Error())[4], ":")
	if !strings.Contains(macOut, mac) {
		t.Fatalf("error names MAC %s; the squatter's link is %q", mac, macOut)
	}
	if _, err := a.Get(ctx, "lan", "legacy-app"); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("refused allocation left a lease: %v", err)
	}
	l, err := a.AllocateExact(ctx, "lan", "legacy-app", netip.MustParseAddr("198.18.60.24"))
	if err != nil || l.IP.String() != "198.18.60.24" {
		t.Fatalf("free address: %v %v", l, err)
	}
	t.Logf("squatter refused: %s", "198.18.60.23 is answered by "+mac)
}
