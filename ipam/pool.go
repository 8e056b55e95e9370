package ipam

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fatbox/fatbox/inventory/logfwd"
	"github.com/fatbox/fatbox/inventory/store"
)

// BlockSize is how many addresses one block holds (Calico's default /26).
// A host claims a block and allocates inside it, so hosts rarely write the
// same key.
const BlockSize = 64

// MinPrefixBits is the largest pool accepted (/16, 65,536 addresses).
const MinPrefixBits = 16

// DefaultQuarantine is how long a released address waits before another
// name may get it.
const DefaultQuarantine = 24 * time.Hour

// Range is an inclusive range of usable addresses.
type Range struct {
	Start netip.Addr `json:"start"`
	End   netip.Addr `json:"end"`
}

func (r Range) String() string { return r.Start.String() + "-" + r.End.String() }

func (r Range) contains(a netip.Addr) bool { return r.Start.Compare(a) <= 0 && a.Compare(r.End) <= 0 }

// Pool is a set of IPv4 addresses on one layer-2 bridge.
type Pool struct {
	Name    string       `json:"name"`
	CIDR    netip.Prefix `json:"cidr"`
	Gateway netip.Addr   `json:"gateway"`
	// Ranges are the usable addresses; empty means the whole CIDR except
	// its network and broadcast addresses.
	Ranges []Range `json:"ranges,omitempty"`
	// Reserved addresses are never handed out (the gateway always is).
	Reserved []netip.Addr `json:"reserved,omitempty"`
	// Bridge is the Linux bridge containers of this pool attach to.
	Bridge string `json:"bridge"`
	// CreateBridge: the engine creates Bridge if missing; false means it
	// must exist and is used as is.
	CreateBridge bool `json:"create_bridge,omitempty"`
	// VLAN is an 802.1Q id (0: none); it needs Uplink.
	VLAN int `json:"vlan,omitempty"`
	// Uplink is the host interface the bridge is uplinked to ("" none).
	Uplink string `json:"uplink,omitempty"`
	// MTU of container interfaces; 0 means 1500.
	MTU int `json:"mtu,omitempty"`
	// Quarantine is how long a released address is held for its old owner;
	// nil means DefaultQuarantine, 0 means none.
	Quarantine *Duration `json:"quarantine,omitempty"`
	// Deleting is set while `pool rm` removes the pool's leases and blocks:
	// no allocation commits once it is set, and CreatePool clears it.
	Deleting bool `json:"deleting,omitempty"`
	// Syslog is the collector its containers' syslog is forwarded to
	// (logfwd.Parse's URL, e.g. tcp://10.0.0.5:514; "" none); a
	// container's own setting wins over it.
	Syslog string `json:"syslog,omitempty"`

	// version is the store version the pool was read at. Every transaction
	// that writes a lease or block checks it, so none commits once the pool
	// was marked deleting (or removed and created again).
	version uint64
}

// Duration is a time.Duration that reads and writes as "24h0m0s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// QuarantineDuration is the pool's effective quarantine.
func (p *Pool) QuarantineDuration() time.Duration {
	if p.Quarantine == nil {
		return DefaultQuarantine
	}
	return time.Duration(*p.Quarantine)
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidName checks a pool or owner name.
func ValidName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return invalidf("bad %s name %q: use 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", kind, name)
	}
	return nil
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func (p *Pool) network() uint32   { return u32(p.CIDR.Addr()) }
func (p *Pool) size() uint32      { return 1 << (32 - p.CIDR.Bits()) }
func (p *Pool) broadcast() uint32 { return p.network() + p.size() - 1 }

// FieldError is a pool field that breaks a rule: which field (its JSON name),
// its value, the rule it breaks, and the fix (naming the CLI flag). It wraps
// ErrInvalidPool.
type FieldError struct {
	Pool  string `json:"pool"`
	Field string `json:"field"` // "cidr", "gateway", "range" (one of ranges), "ranges", "reserved", "bridge", "uplink", "vlan", "mtu", "quarantine", "syslog"
	Value string `json:"value"` // as given; "" when missing
	Rule  string `json:"rule"`  // what is wrong, e.g. "is too small: ..."
	Fix   string `json:"fix"`   // what to do instead
}

func (e *FieldError) Error() string {
	v := e.Value
	switch {
	case v == "":
	case e.Field == "bridge" || e.Field == "uplink":
		v = fmt.Sprintf(" %q", v)
	default:
		v = " " + v
	}
	return fmt.Sprintf("pool %q: %s%s %s: %s", e.Pool, e.Field, v, e.Rule, e.Fix)
}

func (e *FieldError) Unwrap() error { return ErrInvalidPool }

// Validate checks the pool on its own (overlaps and shared bridges are
// checked against the other pools when it is created). It fills in the
// default range. A broken rule is a *FieldError.
func (p *Pool) Validate() error { return p.validate(nil) }

// validate is Validate; a too large CIDR's suggestion avoids taken networks.
func (p *Pool) validate(taken []netip.Prefix) error {
	if err := ValidName("pool", p.Name); err != nil {
		return err
	}
	bad := func(field, value, rule, fix string, args ...any) error {
		return &FieldError{Pool: p.Name, Field: field, Value: value, Rule: rule, Fix: fmt.Sprintf(fix, args...)}
	}
	if err := p.validateCIDR(taken); err != nil {
		return err
	}
	net, bc := addr(p.network()), addr(p.broadcast())
	first := addr(p.network() + 1)
	switch g := p.Gateway; {
	case !g.IsValid():
		return bad("gateway", "", "is missing", "give an address inside %s, usually its first: %s (--gateway)", p.CIDR, first)
	case !g.Is4() || !p.CIDR.Contains(g):
		return bad("gateway", g.String(), "is outside "+p.CIDR.String()+": the gateway must be on the pool's network",
			"give an address inside it, such as %s (--gateway)", first)
	case g == net || g == bc:
		which := map[bool]string{true: "network", false: "broadcast"}[g == net]
		return bad("gateway", g.String(), "is the "+which+" address of "+p.CIDR.String()+", which no host can have",
			"use a host address, such as %s (--gateway)", first)
	}
	if len(p.Ranges) == 0 {
		p.Ranges = []Range{{Start: first, End: addr(p.broadcast() - 1)}}
	}
	for _, r := range p.Ranges {
		if err := p.validateRange(r); err != nil {
			return err
		}
	}
	rs := append([]Range(nil), p.Ranges...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].Start.Less(rs[j].Start) })
	for i := 1; i < len(rs); i++ {
		if rs[i].Start.Compare(rs[i-1].End) <= 0 {
			end := rs[i].End
			if rs[i-1].End.Compare(end) > 0 {
				end = rs[i-1].End
			}
			return bad("ranges", rs[i-1].String()+" and "+rs[i].String(), "overlap",
				"give ranges that share no address, e.g. the one range %s (--range)", Range{Start: rs[i-1].Start, End: end})
		}
	}
	for _, a := range p.Reserved {
		if !a.Is4() || !p.CIDR.Contains(a) {
			return bad("reserved", a.String(), "is outside "+p.CIDR.String()+": only addresses of the pool's network can be reserved",
				"drop it, or give an address inside %s (--reserve)", p.CIDR)
		}
	}
	if p.Capacity() == 0 {
		return bad("ranges", rangesString(p.Ranges), "hold no address that can be leased (the gateway "+p.Gateway.String()+" and reserved addresses never are)",
			"widen a range or reserve fewer addresses (--range, --reserve)")
	}
	if err := p.validateLinks(); err != nil {
		return err
	}
	if p.VLAN < 0 || p.VLAN > 4094 {
		return bad("vlan", strconv.Itoa(p.VLAN), "is out of range: 802.1Q ids are 1-4094", "use 1-4094, or 0 for none (--vlan)")
	}
	if p.VLAN != 0 && p.Uplink == "" {
		return bad("vlan", strconv.Itoa(p.VLAN), "needs an uplink: tagged frames leave through a host interface",
			"name it with --uplink, e.g. --uplink eth1")
	}
	if p.MTU != 0 && (p.MTU < 576 || p.MTU > 9216) {
		return bad("mtu", strconv.Itoa(p.MTU), "is out of range: container interfaces take 576-9216", "use 576-9216, or 0 for 1500 (--mtu)")
	}
	if p.Syslog != "" {
		s, err := logfwd.Check(p.Syslog)
		if err != nil {
			return bad("syslog", p.Syslog, "is not a syslog collector URL ("+err.Error()+")", "write tcp://HOST:PORT or udp://HOST:PORT, e.g. tcp://10.0.0.5:514 (--syslog)")
		}
		p.Syslog = s
	}
	if p.Quarantine != nil && *p.Quarantine < 0 {
		return bad("quarantine", time.Duration(*p.Quarantine).String(), "is negative", "use 0 for none, or a duration like 24h (--quarantine)")
	}
	return nil
}

func rangesString(rs []Range) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}

// validateCIDR checks the pool's network: IPv4, /16 to /30, a network address.
func (p *Pool) validateCIDR(taken []netip.Prefix) error {
	c := p.CIDR
	bad := func(rule, fix string, args ...any) error {
		v := ""
		if c.IsValid() {
			v = c.String()
		}
		return &FieldError{Pool: p.Name, Field: "cidr", Value: v, Rule: rule, Fix: fmt.Sprintf(fix, args...)}
	}
	switch {
	case !c.IsValid():
		return bad("is missing", "give the pool's IPv4 network, like 198.18.0.0/24 (--cidr)")
	case c.Addr().Is4In6() && c.Bits() >= 96:
		return bad("is an IPv4 network written as IPv6", "write it as IPv4: --cidr %s", netip.PrefixFrom(c.Addr().Unmap(), c.Bits()-96))
	case !c.Addr().Is4():
		return bad("is IPv6: fatbox pools are IPv4 only", "give an IPv4 network, like 198.18.0.0/24 (--cidr)")
	case c.Bits() > 30:
		rule := "is too small: a /31 holds only a network and a broadcast address, and fatbox also keeps one for the gateway, so no address is left for a container"
		if c.Bits() == 32 {
			rule = "is too small: a /32 is a single address, and fatbox keeps a pool's network, broadcast and gateway addresses, so no address is left for a container"
		}
		return bad(rule, "use a /30 or larger: --cidr %s gives 5 containers (a /30 gives 1, a /28 13)", netip.PrefixFrom(c.Addr(), 29).Masked())
	case c.Bits() < MinPrefixBits:
		s, ok := p.suggest16(taken)
		if !ok {
			return bad(fmt.Sprintf("is too large: pools are at most /%d (65,536 addresses)", MinPrefixBits),
				"every /%d inside it overlaps an existing pool: give another network (--cidr)", MinPrefixBits)
		}
		return bad(fmt.Sprintf("is too large: pools are at most /%d (65,536 addresses)", MinPrefixBits),
			"use a /%d inside it, such as --cidr %s, and create more pools for more addresses", MinPrefixBits, s)
	case c.Masked() != c:
		fix := "use its network address: --cidr %s"
		if p.Gateway != c.Addr() {
			fix += fmt.Sprintf(" (and --gateway %s if that address is the gateway)", c.Addr())
		}
		return bad("is not a network address (its host bits are set)", fix, c.Masked())
	}
	return nil
}

// suggest16 picks a /16 inside a too large CIDR that no taken network
// overlaps: the one holding the gateway if it can, else the first.
func (p *Pool) suggest16(taken []netip.Prefix) (netip.Prefix, bool) {
	c := p.CIDR.Masked()
	free := func(s netip.Prefix) bool {
		for _, t := range taken {
			if s.Overlaps(t) {
				return false
			}
		}
		return true
	}
	if g := p.Gateway; g.Is4() && c.Contains(g) {
		s := netip.PrefixFrom(g, MinPrefixBits).Masked()
		q := Pool{CIDR: s}
		if g != addr(q.network()) && g != addr(q.broadcast()) && free(s) {
			return s, true
		}
	}
	base := u32(c.Addr())
	for i := uint64(0); i < uint64(1)<<(MinPrefixBits-c.Bits()); i++ {
		s := netip.PrefixFrom(addr(base+uint32(i<<(32-MinPrefixBits))), MinPrefixBits)
		if free(s) {
			return s, true
		}
	}
	return netip.Prefix{}, false
}

// validateRange checks one range: IPv4, start ≤ end, inside the network,
// without its network or broadcast address.
func (p *Pool) validateRange(r Range) error {
	bad := func(rule, fix string, args ...any) error {
		return &FieldError{Pool: p.Name, Field: "range", Value: r.String(), Rule: rule, Fix: fmt.Sprintf(fix, args...)}
	}
	net, bc := addr(p.network()), addr(p.broadcast())
	widest := Range{Start: addr(p.network() + 1), End: addr(p.broadcast() - 1)}
	switch {
	case !r.Start.Is4() || !r.End.Is4():
		return bad("is not an IPv4 range", "write START-END with IPv4 addresses inside %s, like %s (--range)", p.CIDR, widest)
	case r.Start.Compare(r.End) > 0:
		return bad("is reversed: its start is after its end", "write it as %s (--range)", Range{Start: r.End, End: r.Start})
	case !p.CIDR.Contains(r.Start) || !p.CIDR.Contains(r.End):
		which := "neither end is"
		switch {
		case p.CIDR.Contains(r.Start):
			which = "its end " + r.End.String() + " is not"
		case p.CIDR.Contains(r.End):
			which = "its start " + r.Start.String() + " is not"
		}
		return bad("is outside "+p.CIDR.String()+" ("+which+" in it)", "give a range inside the pool's network: %s at most (--range)", widest)
	case r.contains(net) || r.contains(bc):
		var held []string
		if r.contains(net) {
			held = append(held, "the network address "+net.String())
		}
		if r.contains(bc) {
			held = append(held, "the broadcast address "+bc.String())
		}
		return bad("holds "+strings.Join(held, " and ")+", which no host can have",
			"start at %s and end at %s at most (--range)", widest.Start, widest.End)
	}
	return nil
}

// validateLinks checks the bridge and uplink names.
func (p *Pool) validateLinks() error {
	if p.Bridge == "" {
		return &FieldError{Pool: p.Name, Field: "bridge", Rule: "is missing: every pool needs the Linux bridge its containers attach to",
			Fix: "give one, like fbbr0 (--bridge; add --create-bridge to let fatbox make it)"}
	}
	if rule := ifNameRule(p.Bridge); rule != "" {
		return &FieldError{Pool: p.Name, Field: "bridge", Value: p.Bridge, Rule: rule, Fix: "give a name like fbbr0 (--bridge)"}
	}
	if p.Uplink == "" {
		return nil
	}
	if rule := ifNameRule(p.Uplink); rule != "" {
		return &FieldError{Pool: p.Name, Field: "uplink", Value: p.Uplink, Rule: rule, Fix: "give the host interface's name, like eth1 (--uplink)"}
	}
	if p.Uplink == p.Bridge {
		return &FieldError{Pool: p.Name, Field: "uplink", Value: p.Uplink,
			Rule: "is the pool's bridge itself: the uplink is the host interface the bridge is connected to",
			Fix:  "give the NIC or bond that carries the pool's network, like eth1 (--uplink)"}
	}
	return nil
}

// ifNameRule returns the rule a Linux interface name breaks, or "" (the
// kernel's dev_valid_name, plus '%', which the kernel replaces by a number
// when it creates a link).
func ifNameRule(name string) string {
	switch {
	case len(name) > 15:
		return fmt.Sprintf("is %d bytes long: Linux interface names are 1-15 bytes", len(name))
	case name == "." || name == "..":
		return "is not a usable interface name: \".\" and \"..\" are directory names in /sys/class/net"
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case '/', ':', '%', 0, ' ', '\t', '\n', '\v', '\f', '\r':
			return fmt.Sprintf("contains %q at byte %d: Linux interface names hold no '/', ':', '%%', NUL or whitespace", rune(c), i)
		case 0xa0:
			return fmt.Sprintf("contains the byte 0xa0 at byte %d (part of a non-ASCII character), which the kernel counts as whitespace: Linux interface names hold no '/', ':', '%%', NUL or whitespace", i)
		}
	}
	return ""
}

// Overlaps reports whether two pools' networks share an address.
func (p *Pool) Overlaps(o *Pool) bool { return p.CIDR.Overlaps(o.CIDR) }

// Usable reports whether a can be leased from the pool: inside a range, not
// the gateway, not reserved.
func (p *Pool) Usable(a netip.Addr) bool {
	if !a.Is4() || !p.CIDR.Contains(a) || a == p.Gateway {
		return false
	}
	in := false
	for _, r := range p.Ranges {
		if r.contains(a) {
			in = true
			break
		}
	}
	if !in {
		return false
	}
	for _, r := range p.Reserved {
		if r == a {
			return false
		}
	}
	return true
}

// blockOf returns the index of a's block and a's offset in it.
func (p *Pool) blockOf(a netip.Addr) (int, int) {
	off := u32(a) - p.network()
	return int(off / BlockSize), int(off % BlockSize)
}

// blockAddr returns the address at offset off of block b.
func (p *Pool) blockAddr(b, off int) netip.Addr {
	return addr(p.network() + uint32(b*BlockSize+off))
}

// blocks lists the indexes of blocks that hold at least one usable address.
func (p *Pool) blocks() []int {
	n := int((p.size() + BlockSize - 1) / BlockSize)
	var out []int
	for b := 0; b < n; b++ {
		for off := 0; off < BlockSize && uint32(b*BlockSize+off) < p.size(); off++ {
			if p.Usable(p.blockAddr(b, off)) {
				out = append(out, b)
				break
			}
		}
	}
	return out
}

// Capacity is how many addresses the pool can lease.
func (p *Pool) Capacity() int {
	n := 0
	for _, r := range p.Ranges {
		for v := u32(r.Start); ; v++ {
			if p.Usable(addr(v)) {
				n++
			}
			if v == u32(r.End) {
				break
			}
		}
	}
	return n
}

// check is the transaction op that holds only while the pool record is
// still the one p was read from.
func (p *Pool) check() store.Op {
	return store.Op{Kind: store.OpCheck, Key: poolKey(p.Name), Version: p.version}
}
