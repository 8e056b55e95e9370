package ipam

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"time"
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
	// Deleting is set while `pool rm --force` removes the pool's leases.
	Deleting bool `json:"deleting,omitempty"`
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
		return fmt.Errorf("bad %s name %q: use 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", kind, name)
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

// Validate checks the pool on its own (overlaps with other pools are checked
// when it is created). It fills in the default range.
func (p *Pool) Validate() error {
	if err := ValidName("pool", p.Name); err != nil {
		return err
	}
	if !p.CIDR.IsValid() || !p.CIDR.Addr().Is4() {
		return fmt.Errorf("pool %q: bad CIDR %q: give an IPv4 network like 198.18.0.0/24", p.Name, p.CIDR)
	}
	if p.CIDR.Masked() != p.CIDR {
		return fmt.Errorf("pool %q: %s is not a network address: did you mean %s?", p.Name, p.CIDR, p.CIDR.Masked())
	}
	if p.CIDR.Bits() < MinPrefixBits || p.CIDR.Bits() > 30 {
		return fmt.Errorf("pool %q: %s has a /%d prefix: pools are /%d to /30; split a larger network into several pools", p.Name, p.CIDR, p.CIDR.Bits(), MinPrefixBits)
	}
	net, bc := addr(p.network()), addr(p.broadcast())
	if !p.Gateway.IsValid() || !p.CIDR.Contains(p.Gateway) {
		return fmt.Errorf("pool %q: gateway %s is outside %s: give a gateway inside the pool's network", p.Name, p.Gateway, p.CIDR)
	}
	if p.Gateway == net || p.Gateway == bc {
		return fmt.Errorf("pool %q: gateway %s is the network's %s address", p.Name, p.Gateway, map[bool]string{true: "network", false: "broadcast"}[p.Gateway == net])
	}
	if len(p.Ranges) == 0 {
		p.Ranges = []Range{{Start: addr(p.network() + 1), End: addr(p.broadcast() - 1)}}
	}
	for _, r := range p.Ranges {
		if !r.Start.Is4() || !r.End.Is4() || r.Start.Compare(r.End) > 0 {
			return fmt.Errorf("pool %q: bad range %s: give start-end with start ≤ end", p.Name, r)
		}
		if !p.CIDR.Contains(r.Start) || !p.CIDR.Contains(r.End) {
			return fmt.Errorf("pool %q: range %s is outside %s", p.Name, r, p.CIDR)
		}
		if r.contains(net) || r.contains(bc) {
			return fmt.Errorf("pool %q: range %s holds the network address %s or broadcast address %s, which cannot be leased: start at %s and end at %s at most", p.Name, r, net, bc, addr(p.network()+1), addr(p.broadcast()-1))
		}
	}
	rs := append([]Range(nil), p.Ranges...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].Start.Less(rs[j].Start) })
	for i := 1; i < len(rs); i++ {
		if rs[i].Start.Compare(rs[i-1].End) <= 0 {
			return fmt.Errorf("pool %q: ranges %s and %s overlap", p.Name, rs[i-1], rs[i])
		}
	}
	for _, a := range p.Reserved {
		if !p.CIDR.Contains(a) {
			return fmt.Errorf("pool %q: reserved address %s is outside %s", p.Name, a, p.CIDR)
		}
	}
	if p.Bridge == "" || len(p.Bridge) > 15 {
		return fmt.Errorf("pool %q: bridge name %q: give a Linux interface name of 1-15 characters (--bridge)", p.Name, p.Bridge)
	}
	if p.VLAN < 0 || p.VLAN > 4094 {
		return fmt.Errorf("pool %q: VLAN %d: use 1-4094, or 0 for none", p.Name, p.VLAN)
	}
	if p.VLAN != 0 && p.Uplink == "" {
		return fmt.Errorf("pool %q: VLAN %d needs an uplink interface (--uplink)", p.Name, p.VLAN)
	}
	if p.MTU != 0 && (p.MTU < 576 || p.MTU > 9216) {
		return fmt.Errorf("pool %q: MTU %d: use 576-9216, or 0 for 1500", p.Name, p.MTU)
	}
	if p.Quarantine != nil && *p.Quarantine < 0 {
		return fmt.Errorf("pool %q: negative quarantine", p.Name)
	}
	return nil
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
