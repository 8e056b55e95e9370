package ipam

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestPoolValidate(t *testing.T) {
	ok := func() Pool {
		return Pool{Name: "prod", CIDR: netip.MustParsePrefix("198.18.0.0/24"), Gateway: netip.MustParseAddr("198.18.0.1"), Bridge: "fbbr0"}
	}
	rng := func(a, b string) []Range {
		return []Range{{Start: netip.MustParseAddr(a), End: netip.MustParseAddr(b)}}
	}
	cidr := func(s string) func(p *Pool) {
		return func(p *Pool) { p.CIDR = netip.MustParsePrefix(s); p.Gateway = p.CIDR.Masked().Addr().Next() }
	}
	for _, tc := range []struct {
		name  string
		mod   func(p *Pool)
		field string   // FieldError.Field; "" for no FieldError
		want  []string // substrings of the message, in order
	}{
		{"ok", func(p *Pool) {}, "", nil},
		{"ok /30", cidr("198.18.0.0/30"), "", nil},
		{"ok /16", cidr("198.18.0.0/16"), "", nil},
		{"ok uplink", func(p *Pool) { p.VLAN = 100; p.Uplink = "eth1.x-y_z" }, "", nil},
		{"bad name", func(p *Pool) { p.Name = "Prod!" }, "", []string{`bad pool name "Prod!"`, "use 1-63 lower-case letters"}},
		{"no CIDR", func(p *Pool) { p.CIDR = netip.Prefix{} }, "cidr", []string{`pool "prod": cidr is missing`, "like 198.18.0.0/24 (--cidr)"}},
		{"IPv6", func(p *Pool) { p.CIDR = netip.MustParsePrefix("2001:db8::/64") }, "cidr",
			[]string{"cidr 2001:db8::/64 is IPv6: fatbox pools are IPv4 only", "give an IPv4 network, like 198.18.0.0/24 (--cidr)"}},
		{"IPv4 as IPv6", func(p *Pool) { p.CIDR = netip.MustParsePrefix("::ffff:198.18.0.0/120") }, "cidr",
			[]string{"is an IPv4 network written as IPv6", "write it as IPv4: --cidr 198.18.0.0/24"}},
		{"/31", cidr("198.18.0.0/31"), "cidr", []string{"cidr 198.18.0.0/31 is too small: a /31 holds only a network and a broadcast address",
			"so no address is left for a container", "use a /30 or larger: --cidr 198.18.0.0/29 gives 5 containers"}},
		{"/32", cidr("198.18.0.7/32"), "cidr", []string{"cidr 198.18.0.7/32 is too small: a /32 is a single address",
			"network, broadcast and gateway addresses", "use a /30 or larger: --cidr 198.18.0.0/29 gives 5 containers"}},
		{"/8", cidr("198.0.0.0/8"), "cidr", []string{"cidr 198.0.0.0/8 is too large: pools are at most /16 (65,536 addresses)",
			"use a /16 inside it, such as --cidr 198.0.0.0/16, and create more pools"}},
		{"/12 gateway in a later /16", func(p *Pool) {
			p.CIDR = netip.MustParsePrefix("172.16.0.0/12")
			p.Gateway = netip.MustParseAddr("172.20.0.1")
		}, "cidr",
			[]string{"cidr 172.16.0.0/12 is too large", "such as --cidr 172.20.0.0/16"}},
		{"/0", cidr("0.0.0.0/0"), "cidr", []string{"cidr 0.0.0.0/0 is too large", "such as --cidr 0.0.0.0/16"}},
		{"host bits", func(p *Pool) { p.CIDR = netip.MustParsePrefix("198.18.0.5/24") }, "cidr",
			[]string{"cidr 198.18.0.5/24 is not a network address (its host bits are set)", "use its network address: --cidr 198.18.0.0/24 (and --gateway 198.18.0.5 if that address is the gateway)"}},
		{"no gateway", func(p *Pool) { p.Gateway = netip.Addr{} }, "gateway", []string{"gateway is missing", "usually its first: 198.18.0.1 (--gateway)"}},
		{"gateway outside", func(p *Pool) { p.Gateway = netip.MustParseAddr("198.19.0.1") }, "gateway",
			[]string{"gateway 198.19.0.1 is outside 198.18.0.0/24: the gateway must be on the pool's network", "such as 198.18.0.1 (--gateway)"}},
		{"gateway IPv6", func(p *Pool) { p.Gateway = netip.MustParseAddr("2001:db8::1") }, "gateway", []string{"gateway 2001:db8::1 is outside 198.18.0.0/24"}},
		{"gateway network", func(p *Pool) { p.Gateway = netip.MustParseAddr("198.18.0.0") }, "gateway",
			[]string{"gateway 198.18.0.0 is the network address of 198.18.0.0/24, which no host can have", "use a host address, such as 198.18.0.1 (--gateway)"}},
		{"gateway broadcast", func(p *Pool) { p.Gateway = netip.MustParseAddr("198.18.0.255") }, "gateway",
			[]string{"gateway 198.18.0.255 is the broadcast address of 198.18.0.0/24", "such as 198.18.0.1 (--gateway)"}},
		{"range outside", func(p *Pool) { p.Ranges = rng("198.18.0.10", "198.18.1.10") }, "range",
			[]string{"range 198.18.0.10-198.18.1.10 is outside 198.18.0.0/24 (its end 198.18.1.10 is not in it)", "198.18.0.1-198.18.0.254 at most (--range)"}},
		{"range wholly outside", func(p *Pool) { p.Ranges = rng("10.0.0.1", "10.0.0.9") }, "range", []string{"(neither end is in it)"}},
		{"range reversed", func(p *Pool) { p.Ranges = rng("198.18.0.20", "198.18.0.10") }, "range",
			[]string{"range 198.18.0.20-198.18.0.10 is reversed: its start is after its end", "write it as 198.18.0.10-198.18.0.20 (--range)"}},
		{"range IPv6", func(p *Pool) {
			p.Ranges = []Range{{Start: netip.MustParseAddr("::1"), End: netip.MustParseAddr("::2")}}
		}, "range",
			[]string{"is not an IPv4 range"}},
		{"range has network", func(p *Pool) { p.Ranges = rng("198.18.0.0", "198.18.0.10") }, "range",
			[]string{"holds the network address 198.18.0.0, which no host can have", "start at 198.18.0.1 and end at 198.18.0.254 at most"}},
		{"range has broadcast", func(p *Pool) { p.Ranges = rng("198.18.0.200", "198.18.0.255") }, "range", []string{"holds the broadcast address 198.18.0.255"}},
		{"ranges overlap", func(p *Pool) {
			p.Ranges = append(rng("198.18.0.10", "198.18.0.20"), rng("198.18.0.15", "198.18.0.30")...)
		}, "ranges", []string{"ranges 198.18.0.10-198.18.0.20 and 198.18.0.15-198.18.0.30 overlap", "e.g. the one range 198.18.0.10-198.18.0.30 (--range)"}},
		{"range only the gateway", func(p *Pool) { p.Ranges = rng("198.18.0.1", "198.18.0.1") }, "ranges",
			[]string{"ranges 198.18.0.1-198.18.0.1 hold no address that can be leased", "(--range, --reserve)"}},
		{"reserved outside", func(p *Pool) { p.Reserved = []netip.Addr{netip.MustParseAddr("10.0.0.1")} }, "reserved",
			[]string{"reserved 10.0.0.1 is outside 198.18.0.0/24: only addresses of the pool's network can be reserved", "drop it, or give an address inside 198.18.0.0/24 (--reserve)"}},
		{"no bridge", func(p *Pool) { p.Bridge = "" }, "bridge", []string{"bridge is missing", "(--bridge; add --create-bridge to let fatbox make it)"}},
		{"long bridge", func(p *Pool) { p.Bridge = "abcdefghijklmnop" }, "bridge",
			[]string{`bridge "abcdefghijklmnop" is 16 bytes long: Linux interface names are 1-15 bytes`, "give a name like fbbr0 (--bridge)"}},
		{"bridge slash", func(p *Pool) { p.Bridge = "br/0" }, "bridge", []string{`bridge "br/0" contains '/' at byte 2`, "no '/', ':', '%', NUL or whitespace"}},
		{"bridge colon", func(p *Pool) { p.Bridge = "br:0" }, "bridge", []string{`contains ':' at byte 2`}},
		{"bridge space", func(p *Pool) { p.Bridge = "br 0" }, "bridge", []string{`contains ' ' at byte 2`}},
		{"bridge tab", func(p *Pool) { p.Bridge = "br\t0" }, "bridge", []string{`contains '\t' at byte 2`}},
		{"bridge percent", func(p *Pool) { p.Bridge = "br%d" }, "bridge", []string{`contains '%' at byte 2`}},
		{"bridge nbsp", func(p *Pool) { p.Bridge = "br\u00a0" }, "bridge", []string{"contains the byte 0xa0 at byte 3", "the kernel counts as whitespace"}},
		{"bridge dot", func(p *Pool) { p.Bridge = "." }, "bridge", []string{`bridge "." is not a usable interface name`}},
		{"bridge dotdot", func(p *Pool) { p.Bridge = ".." }, "bridge", []string{`bridge ".." is not a usable interface name`}},
		{"bad uplink", func(p *Pool) { p.VLAN = 100; p.Uplink = "eth 1" }, "uplink", []string{`uplink "eth 1" contains ' '`, "like eth1 (--uplink)"}},
		{"long uplink", func(p *Pool) { p.Uplink = "enp0s31f6abcdefgh" }, "uplink", []string{`uplink "enp0s31f6abcdefgh" is 17 bytes long`}},
		{"uplink is bridge", func(p *Pool) { p.VLAN = 100; p.Uplink = "fbbr0" }, "uplink", []string{`uplink "fbbr0" is the pool's bridge itself`, "(--uplink)"}},
		{"vlan without uplink", func(p *Pool) { p.VLAN = 100 }, "vlan", []string{"vlan 100 needs an uplink", "--uplink eth1"}},
		{"vlan range", func(p *Pool) { p.VLAN = 5000; p.Uplink = "eth1" }, "vlan", []string{"vlan 5000 is out of range: 802.1Q ids are 1-4094", "(--vlan)"}},
		{"mtu", func(p *Pool) { p.MTU = 100 }, "mtu", []string{"mtu 100 is out of range", "(--mtu)"}},
		{"quarantine", func(p *Pool) { p.Quarantine = dur(-time.Hour) }, "quarantine", []string{"quarantine -1h0m0s is negative", "(--quarantine)"}},
		{"syslog scheme", func(p *Pool) { p.Syslog = "http://10.0.0.5:514" }, "syslog", []string{"syslog http://10.0.0.5:514 is not a syslog collector URL", `scheme "http" is not tcp or udp`, "(--syslog)"}},
		{"syslog port", func(p *Pool) { p.Syslog = "udp://logs" }, "syslog", []string{"the port is required", "(--syslog)"}},
		{"syslog ok", func(p *Pool) { p.Syslog = "udp://Logs.Example:514" }, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ok()
			tc.mod(&p)
			err := p.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", p)
			}
			msg, at := err.Error(), 0
			for _, w := range tc.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("Validate = %q\nwant (after byte %d) %q", msg, at, w)
				}
				at += i + len(w)
			}
			var fe *FieldError
			if tc.field == "" {
				if errors.As(err, &fe) {
					t.Fatalf("unexpected FieldError %+v", fe)
				}
				return
			}
			if !errors.As(err, &fe) || fe.Field != tc.field || fe.Pool != "prod" || !errors.Is(err, ErrInvalidPool) {
				t.Fatalf("error %q: FieldError %+v, want field %q wrapping ErrInvalidPool", msg, fe, tc.field)
			}
			t.Logf("%s", msg)
		})
	}
}

// TestPoolCIDRSuggestionsAccepted: the network a too small or too large
// CIDR's message suggests is the expected one, and is accepted with its
// first address as the gateway, or (keep) with the pool's own gateway.
func TestPoolCIDRSuggestionsAccepted(t *testing.T) {
	for _, in := range []struct {
		cidr, gw, want string
		keep           bool
	}{
		{"198.18.0.0/31", "", "198.18.0.0/29", false},
		{"198.18.0.7/32", "", "198.18.0.0/29", false},
		{"198.18.255.254/31", "", "198.18.255.248/29", false},
		{"198.0.0.0/8", "", "198.0.0.0/16", false},
		{"10.0.0.0/8", "10.77.3.1", "10.77.0.0/16", true},
		{"172.16.0.0/12", "172.31.255.254", "172.31.0.0/16", true},
		{"172.16.0.0/12", "172.20.0.0", "172.16.0.0/16", false}, // the gateway is its /16's network address: the first /16
		{"0.0.0.0/0", "", "0.0.0.0/16", false},
		{"100.64.0.0/15", "", "100.64.0.0/16", false},
	} {
		pf := netip.MustParsePrefix(in.cidr)
		p := Pool{Name: "p", CIDR: pf, Gateway: pf.Masked().Addr().Next(), Bridge: "fbbr0"}
		if in.gw != "" {
			p.Gateway = netip.MustParseAddr(in.gw)
		}
		err := p.Validate()
		if err == nil {
			t.Fatalf("%s accepted", in.cidr)
		}
		i := strings.Index(err.Error(), "--cidr ")
		if i < 0 {
			t.Fatalf("%s: no suggestion in %q", in.cidr, err)
		}
		s, perr := netip.ParsePrefix(strings.TrimSuffix(strings.Fields(err.Error()[i:])[1], ","))
		if perr != nil || s.String() != in.want {
			t.Fatalf("%s: suggestion %v (%v) in %q, want %s", in.cidr, s, perr, err, in.want)
		}
		q := Pool{Name: "p", CIDR: s, Gateway: s.Addr().Next(), Bridge: "fbbr0"}
		if in.keep {
			q.Gateway = p.Gateway
		}
		if err := q.Validate(); err != nil {
			t.Fatalf("%s: suggestion %s is refused: %v", in.cidr, s, err)
		}
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

// A pool's collector is kept in its canonical form.
func TestPoolSyslogCanonical(t *testing.T) {
	p := Pool{Name: "p", CIDR: netip.MustParsePrefix("10.9.0.0/24"), Gateway: netip.MustParseAddr("10.9.0.1"), Bridge: "fbbr0", Syslog: "TCP://Logs.Example.:514"}
	if err := p.Validate(); err != nil || p.Syslog != "tcp://logs.example:514" {
		t.Fatalf("Validate = %v, syslog %q; want tcp://logs.example:514", err, p.Syslog)
	}
}
