package ipam

import (
	"net/netip"
	"strings"
	"testing"
)

func TestPoolValidate(t *testing.T) {
	ok := func() Pool {
		return Pool{Name: "prod", CIDR: netip.MustParsePrefix("198.18.0.0/24"), Gateway: netip.MustParseAddr("198.18.0.1"), Bridge: "fbbr0"}
	}
	rng := func(a, b string) []Range {
		return []Range{{Start: netip.MustParseAddr(a), End: netip.MustParseAddr(b)}}
	}
	for _, tc := range []struct {
		name string
		mod  func(p *Pool)
		want string
	}{
		{"ok", func(p *Pool) {}, ""},
		{"bad name", func(p *Pool) { p.Name = "Prod!" }, "bad pool name"},
		{"no CIDR", func(p *Pool) { p.CIDR = netip.Prefix{} }, "bad CIDR"},
		{"IPv6", func(p *Pool) { p.CIDR = netip.MustParsePrefix("2001:db8::/64") }, "bad CIDR"},
		{"host bits", func(p *Pool) { p.CIDR = netip.MustParsePrefix("198.18.0.5/24") }, "did you mean 198.18.0.0/24"},
		{"too big", func(p *Pool) { p.CIDR = netip.MustParsePrefix("198.0.0.0/8") }, "/16 to /30"},
		{"gateway outside", func(p *Pool) { p.Gateway = netip.MustParseAddr("198.19.0.1") }, "gateway 198.19.0.1 is outside"},
		{"gateway network", func(p *Pool) { p.Gateway = netip.MustParseAddr("198.18.0.0") }, "network address"},
		{"range outside", func(p *Pool) { p.Ranges = rng("198.18.0.10", "198.18.1.10") }, "outside 198.18.0.0/24"},
		{"range has network", func(p *Pool) { p.Ranges = rng("198.18.0.0", "198.18.0.10") }, "network address 198.18.0.0"},
		{"range has broadcast", func(p *Pool) { p.Ranges = rng("198.18.0.200", "198.18.0.255") }, "broadcast address 198.18.0.255"},
		{"range reversed", func(p *Pool) { p.Ranges = rng("198.18.0.20", "198.18.0.10") }, "start ≤ end"},
		{"ranges overlap", func(p *Pool) {
			p.Ranges = append(rng("198.18.0.10", "198.18.0.20"), rng("198.18.0.15", "198.18.0.30")...)
		}, "overlap"},
		{"reserved outside", func(p *Pool) { p.Reserved = []netip.Addr{netip.MustParseAddr("10.0.0.1")} }, "reserved address 10.0.0.1 is outside"},
		{"no bridge", func(p *Pool) { p.Bridge = "" }, "bridge name"},
		{"long bridge", func(p *Pool) { p.Bridge = "abcdefghijklmnop" }, "bridge name"},
		{"vlan without uplink", func(p *Pool) { p.VLAN = 100 }, "needs an uplink"},
		{"vlan range", func(p *Pool) { p.VLAN = 5000; p.Uplink = "eth1" }, "1-4094"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ok()
			tc.mod(&p)
			err := p.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestPoolUsableAndBlocks(t *testing.T) {
	p := Pool{Name: "p", CIDR: netip.MustParsePrefix("198.18.0.0/24"), Gateway: netip.MustParseAddr("198.18.0.1"), Bridge: "b",
		Reserved: []netip.Addr{netip.MustParseAddr("198.18.0.7")}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]bool{"198.18.0.0": false, "198.18.0.1": false, "198.18.0.2": true, "198.18.0.7": false, "198.18.0.254": true, "198.18.0.255": false, "198.18.1.1": false} {
		if got := p.Usable(netip.MustParseAddr(a)); got != want {
			t.Errorf("Usable(%s) = %v", a, got)
		}
	}
	if c := p.Capacity(); c != 252 {
		t.Errorf("Capacity = %d, want 252", c)
	}
	if b := p.blocks(); len(b) != 4 {
		t.Errorf("blocks = %v", b)
	}
	p.Ranges = []Range{{Start: netip.MustParseAddr("198.18.0.130"), End: netip.MustParseAddr("198.18.0.140")}}
	if b := p.blocks(); len(b) != 1 || b[0] != 2 {
		t.Errorf("blocks with a range = %v, want [2]", b)
	}
}
