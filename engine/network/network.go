package network

import (
	"github.com/fatbox/fatbox/engine/revert"

	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/ipam/arp"
)

// AliasPrefix starts the link alias ("fatbox:<container>") of every host veth
// fatbox creates; Owned finds its links by it.
const AliasPrefix = "fatbox:"

// ContainerIfname is the name of the container's interface inside its netns.
const ContainerIfname = "eth0"

// DefaultMTU is the MTU used when Config.MTU is 0.
const DefaultMTU = 1500

// Config says how to attach one container to its pool's bridge.
type Config struct {
	// Container is the container's name. It names the host veth
	// (HostVethName) and is kept in that veth's alias. Required.
	Container string
	// Netns is the path of the container's network namespace, e.g.
	// /var/run/netns/web-01 or /proc/PID/ns/net. Required; the caller's own
	// namespace is refused.
	Netns string
	// Bridge is the pool's Linux bridge. Required (1-15 bytes).
	Bridge string
	// CreateBridge: create Bridge (and bring it up) when it is missing.
	// False: a missing bridge is an error. An existing bridge is used as is
	// either way.
	CreateBridge bool
	// BridgeAddr is put on a bridge this Attach creates, e.g. the gateway
	// 198.18.0.1/24 when the host routes for the pool. Zero: none. Never
	// added to an existing bridge.
	BridgeAddr netip.Prefix
	// VLAN is an 802.1Q id (1-4094) carried on Uplink through a
	// sub-interface on the bridge. 0: no VLAN.
	VLAN int
	// Uplink is the host interface carrying the VLAN. Only used when VLAN
	// != 0 (then required). Attach never enslaves, reconfigures, or brings
	// up the uplink itself; an untagged uplink is the operator's business.
	Uplink string
	// MTU of the veth pair. 0 means DefaultMTU (1500).
	MTU int
	// Addr is the container's IPv4 address with the pool's prefix length,
	// e.g. 198.18.0.7/24. Required.
	Addr netip.Prefix
	// Gateway is the container's default route. Zero: no default route.
	Gateway netip.Addr
	// EgressBits is the rate limit in bits/s of traffic from the
	// container, IngressBits of traffic to it. 0: unlimited.
	EgressBits, IngressBits uint64
	// Announce sends a gratuitous-ARP burst from the container after the
	// attach, so neighbours update caches that hold the address's previous
	// owner. False: none (callers normally set true).
	Announce bool
}

// Attachment describes a finished Attach.
type Attachment struct {
	Container string
	Netns     string
	Bridge    string
	// HostVeth is the host side of the pair, a port of Bridge.
	HostVeth string
	// VLANLink is the VLAN sub-interface on Bridge ("" without VLAN).
	VLANLink string
	// MAC of the container's eth0 (MACFromIP of Addr).
	MAC     net.HardwareAddr
	Addr    netip.Prefix
	Gateway netip.Addr
	// CreatedBridge and CreatedVLAN say whether this Attach created the
	// bridge or the VLAN link (both are shared and outlive Detach).
	CreatedBridge, CreatedVLAN bool
}

// MACFromIP is the container MAC of an IPv4 address: 02:fb followed by the
// four address bytes (locally administered, unicast, stable, so a container
// keeps its MAC across re-attaches and hosts). It returns nil for an address
// that is not IPv4.
func MACFromIP(ip netip.Addr) net.HardwareAddr {
	ip = ip.Unmap()
	if !ip.Is4() {
		return nil
	}
	b := ip.As4()
	return net.HardwareAddr{0x02, 0xfb, b[0], b[1], b[2], b[3]}
}

// HostVethName is the name of a container's host-side veth: "fb" and 12 hex
// digits of the SHA-256 of the name (14 bytes, stable, collision-safe).
func HostVethName(container string) string {
	return "fb" + hashHex(container)[:12]
}

// peerTempName is the container side's name while it is still in the host
// namespace, before it is moved and renamed eth0.
func peerTempName(container string) string {
	return "fp" + hashHex(container)[:12]
}

// VLANLinkName is the name of the VLAN sub-interface of uplink:
// "<uplink>.<vlan>", or, when that is longer than 15 bytes, the uplink's
// first letters and 4 hex digits of its hash, e.g. "enp1s0f2a3c.100".
func VLANLinkName(uplink string, vlan int) string {
	suffix := fmt.Sprintf(".%d", vlan)
	if n := uplink + suffix; len(n) <= unix.IFNAMSIZ-1 {
		return n
	}
	keep := unix.IFNAMSIZ - 1 - len(suffix) - 4
	return uplink[:keep] + hashHex(uplink)[:4] + suffix
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("attach %q: "+format, append([]any{c.Container}, args...)...)
	}
	switch {
	case c.Container == "" || len(AliasPrefix)+len(c.Container) > 255 || strings.ContainsAny(c.Container, "\x00\n"):
		return bad("bad container name: give 1-%d bytes", 255-len(AliasPrefix))
	case c.Netns == "":
		return bad("no network namespace path")
	case ValidLinkName(c.Bridge) != nil:
		return bad("bridge: %w", ValidLinkName(c.Bridge))
	case !c.Addr.IsValid() || !c.Addr.Addr().Is4():
		return bad("address %q: give an IPv4 address with the pool's prefix length, like 198.18.0.7/24", c.Addr)
	case c.Gateway.IsValid() && (!c.Gateway.Is4() || !c.Addr.Masked().Contains(c.Gateway) || c.Gateway == c.Addr.Addr()):
		return bad("gateway %s must be another IPv4 address inside %s", c.Gateway, c.Addr.Masked())
	case c.BridgeAddr.IsValid() && !c.BridgeAddr.Addr().Is4():
		return bad("bridge address %s is not IPv4", c.BridgeAddr)
	case c.VLAN < 0 || c.VLAN > 4094:
		return bad("VLAN %d: use 1-4094, or 0 for none", c.VLAN)
	case c.VLAN != 0 && c.Uplink == "":
		return bad("VLAN %d needs an uplink interface: set the pool's uplink", c.VLAN)
	case c.VLAN != 0 && ValidLinkName(c.Uplink) != nil:
		return bad("VLAN %d uplink: %w", c.VLAN, ValidLinkName(c.Uplink))
	case c.VLAN != 0 && c.Uplink == c.Bridge:
		return bad("uplink %q is the bridge itself", c.Uplink)
	case c.MTU != 0 && (c.MTU < 576 || c.MTU > 9216):
		return bad("MTU %d: use 576-9216, or 0 for %d", c.MTU, DefaultMTU)
	}
	return nil
}

// faultFn is a test hook: called with each step's name right after the step
// succeeded; an error makes Attach fail there and roll back.
type faultFn func(step string) error

// attachOpts carries test-only options (no package globals).
type attachOpts struct {
	fault faultFn
}

// The steps of Attach, in order (the names faultFn receives).
var attachSteps = []string{"bridge", "vlan", "veth", "move", "addr", "route", "enslave", "ratelimit", "portsec", "announce"}

// Attach connects the container's network namespace to the bridge: see the
// package doc. On error nothing Attach created is left behind.
func Attach(ctx context.Context, cfg Config) (Attachment, error) {
	return attach(ctx, cfg, attachOpts{})
}

func attach(ctx context.Context, cfg Config, opts attachOpts) (Attachment, error) {
	if err := cfg.validate(); err != nil {
		return Attachment{}, err
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	ns, err := netns.GetFromPath(cfg.Netns)
	if err != nil {
		return Attachment{}, fmt.Errorf("attach %q: open network namespace %q: %w", cfg.Container, cfg.Netns, err)
	}
	defer ns.Close()
	self, err := netns.Get()
	if err != nil {
		return Attachment{}, fmt.Errorf("attach %q: get own network namespace: %w", cfg.Container, err)
	}
	defer self.Close()
	if ns.Equal(self) {
		return Attachment{}, fmt.Errorf("attach %q: %s is the host's own network namespace: give the container's", cfg.Container, cfg.Netns)
	}
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return Attachment{}, fmt.Errorf("attach %q: netlink in namespace %s: %w", cfg.Container, cfg.Netns, err)
	}
	defer nh.Close()

	a := Attachment{
		Container: cfg.Container, Netns: cfg.Netns, Bridge: cfg.Bridge,
		HostVeth: HostVethName(cfg.Container), MAC: MACFromIP(cfg.Addr.Addr()),
		Addr: cfg.Addr, Gateway: cfg.Gateway,
	}
	peerTmp := peerTempName(cfg.Container)
	var (
		rv       revert.Reverter
		br, host netlink.Link
		peer     netlink.Link // in the container's namespace
	)
	steps := map[string]func() error{
		"bridge": func() (err error) {
			br, a.CreatedBridge, err = ensureBridge(&rv, cfg)
			return err
		},
		"vlan": func() (err error) {
			if cfg.VLAN == 0 {
				return nil
			}
			a.VLANLink, a.CreatedVLAN, err = ensureVLAN(&rv, cfg, br)
			return err
		},
		"veth": func() error {
			if _, err := netlink.LinkByName(a.HostVeth); err == nil {
				return fmt.Errorf("link %s already exists: the container is attached already, or an old attach was not cleaned up (Detach it first)", a.HostVeth)
			} else if !isNotFound(err) {
				return fmt.Errorf("look up %s: %w", a.HostVeth, err)
			}
			if _, err := nh.LinkByName(ContainerIfname); err == nil {
				return fmt.Errorf("network namespace %s already has an %s", cfg.Netns, ContainerIfname)
			}
			v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a.HostVeth, MTU: cfg.MTU}, PeerName: peerTmp, PeerMTU: uint32(cfg.MTU)}
			if err := netlink.LinkAdd(v); err != nil {
				return fmt.Errorf("create veth pair %s/%s: %w", a.HostVeth, peerTmp, err)
			}
			rv.Add(func() error { return deleteLink(a.HostVeth) })
			var err error
			if host, err = netlink.LinkByName(a.HostVeth); err != nil {
				return fmt.Errorf("look up new veth %s: %w", a.HostVeth, err)
			}
			if err := netlink.LinkSetAlias(host, AliasPrefix+cfg.Container); err != nil {
				return fmt.Errorf("set alias of %s: %w", a.HostVeth, err)
			}
			return nil
		},
		"move": func() error {
			p, err := netlink.LinkByName(peerTmp)
			if err != nil {
				return fmt.Errorf("look up veth peer %s: %w", peerTmp, err)
			}
			if err := netlink.LinkSetNsFd(p, int(ns)); err != nil {
				return fmt.Errorf("move %s into %s: %w", peerTmp, cfg.Netns, err)
			}
			return nil
		},
		"addr": func() error {
			p, err := nh.LinkByName(peerTmp)
			if err != nil {
				return fmt.Errorf("look up %s in %s: %w", peerTmp, cfg.Netns, err)
			}
			if err := nh.LinkSetName(p, ContainerIfname); err != nil {
				return fmt.Errorf("rename %s to %s: %w", peerTmp, ContainerIfname, err)
			}
			if err := nh.LinkSetHardwareAddr(p, a.MAC); err != nil {
				return fmt.Errorf("set MAC %s on %s: %w", a.MAC, ContainerIfname, err)
			}
			ipn := &net.IPNet{IP: net.IP(cfg.Addr.Addr().AsSlice()), Mask: net.CIDRMask(cfg.Addr.Bits(), 32)}
			if err := nh.AddrAdd(p, &netlink.Addr{IPNet: ipn}); err != nil {
				return fmt.Errorf("add %s to %s: %w", cfg.Addr, ContainerIfname, err)
			}
			lo, err := nh.LinkByName("lo")
			if err != nil {
				return fmt.Errorf("look up lo: %w", err)
			}
			if err := nh.LinkSetUp(lo); err != nil {
				return fmt.Errorf("bring lo up: %w", err)
			}
			if err := nh.LinkSetUp(p); err != nil {
				return fmt.Errorf("bring %s up: %w", ContainerIfname, err)
			}
			peer = p
			return nil
		},
		"route": func() error {
			if !cfg.Gateway.IsValid() {
				return nil
			}
			r := &netlink.Route{LinkIndex: peer.Attrs().Index, Gw: net.IP(cfg.Gateway.AsSlice())}
			if err := nh.RouteAdd(r); err != nil {
				return fmt.Errorf("add default route via %s: %w", cfg.Gateway, err)
			}
			return nil
		},
		"enslave": func() error {
			if err := netlink.LinkSetMaster(host, br); err != nil {
				return fmt.Errorf("add %s to bridge %s: %w", a.HostVeth, cfg.Bridge, err)
			}
			if err := netlink.LinkSetUp(host); err != nil {
				return fmt.Errorf("bring %s up: %w", a.HostVeth, err)
			}
			return nil
		},
		"ratelimit": func() error {
			rv.Add(func() error { return removeRateLimit(a.HostVeth) })
			return applyRateLimit(a.HostVeth, cfg.EgressBits, cfg.IngressBits)
		},
		"portsec": func() error {
			rv.Add(func() error { return removePortSecurity(a.HostVeth) })
			return applyPortSecurity(a.HostVeth, cfg.Addr.Addr(), a.MAC)
		},
		"announce": func() error {
			if !cfg.Announce {
				return nil
			}
			host := func() bool {
				l, err := netlink.LinkByName(a.HostVeth)
				return err == nil && l.Attrs().OperState == netlink.OperUp
			}
			if err := waitOperUp(ctx, host); err != nil {
				return err
			}
			return inNetns(ns, func() error {
				if err := waitOperUp(ctx, eth0Up); err != nil {
					return err
				}
				return arp.Announce(ctx, ContainerIfname, cfg.Addr.Addr(), a.MAC, arp.AnnounceOptions{})
			})
		},
	}
	for _, name := range attachSteps {
		err := ctx.Err()
		if err == nil {
			err = steps[name]()
		}
		if err == nil && opts.fault != nil {
			err = opts.fault(name)
		}
		if err != nil {
			err = fmt.Errorf("attach %q: %s: %w", cfg.Container, name, err)
			if rerr := rv.Revert(); rerr != nil {
				err = fmt.Errorf("%w; undoing the earlier steps also failed: %v", err, rerr)
			}
			return Attachment{}, err
		}
	}
	rv.Release()
	return a, nil
}

// ensureBridge finds the bridge, or creates it and brings it up when cfg
// allows; a bridge it creates gets an undo in rv.
func ensureBridge(rv *revert.Reverter, cfg Config) (netlink.Link, bool, error) {
	br, err := netlink.LinkByName(cfg.Bridge)
	if err == nil {
		if br.Type() != "bridge" {
			return nil, false, fmt.Errorf("%q is a %s link, not a bridge", cfg.Bridge, br.Type())
		}
		return br, false, nil
	}
	if !isNotFound(err) {
		return nil, false, fmt.Errorf("look up bridge %q: %w", cfg.Bridge, err)
	}
	if !cfg.CreateBridge {
		return nil, false, fmt.Errorf("bridge %q does not exist: create it or set create_bridge on the pool", cfg.Bridge)
	}
	// A bridge's MAC follows its lowest port's unless set: give it a fixed
	// random one so the gateway's MAC does not change as containers come and go.
	mac := make(net.HardwareAddr, 6)
	if _, err := rand.Read(mac); err != nil {
		return nil, false, err
	}
	mac[0] = mac[0]&^1 | 2
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: cfg.Bridge, HardwareAddr: mac}}); err != nil {
		if errors.Is(err, unix.EEXIST) { // created meanwhile by someone else: use it
			return ensureBridge(rv, Config{Bridge: cfg.Bridge})
		}
		return nil, false, fmt.Errorf("create bridge %q: %w", cfg.Bridge, err)
	}
	br, err = netlink.LinkByName(cfg.Bridge)
	if err != nil {
		return nil, false, fmt.Errorf("look up new bridge %q: %w", cfg.Bridge, err)
	}
	index := br.Attrs().Index
	rv.Add(func() error { return deleteBridgeIfUnused(cfg.Bridge, index) })
	if cfg.BridgeAddr.IsValid() {
		ipn := &net.IPNet{IP: net.IP(cfg.BridgeAddr.Addr().AsSlice()), Mask: net.CIDRMask(cfg.BridgeAddr.Bits(), 32)}
		if err := netlink.AddrAdd(br, &netlink.Addr{IPNet: ipn}); err != nil {
			return nil, false, fmt.Errorf("add %s to bridge %q: %w", cfg.BridgeAddr, cfg.Bridge, err)
		}
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return nil, false, fmt.Errorf("bring bridge %q up: %w", cfg.Bridge, err)
	}
	return br, true, nil
}

// deleteBridgeIfUnused removes a bridge an Attach created, unless another
// Attach has meanwhile added a port to it.
func deleteBridgeIfUnused(name string, index int) error {
	br, err := netlink.LinkByIndex(index)
	if isNotFound(err) || (err == nil && br.Attrs().Name != name) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up bridge %q: %w", name, err)
	}
	_, err = deleteUnusedBridge(br) // ports: in use by another Attach, kept
	return err
}

// ensureVLAN finds or creates the VLAN sub-interface of cfg.Uplink and makes
// it an up port of br. What it changes gets an undo in rv.
func ensureVLAN(rv *revert.Reverter, cfg Config, br netlink.Link) (string, bool, error) {
	up, err := netlink.LinkByName(cfg.Uplink)
	if isNotFound(err) {
		return "", false, fmt.Errorf("uplink %q of VLAN %d does not exist", cfg.Uplink, cfg.VLAN)
	}
	if err != nil {
		return "", false, fmt.Errorf("look up uplink %q: %w", cfg.Uplink, err)
	}
	name := VLANLinkName(cfg.Uplink, cfg.VLAN)
	created := false
	l, err := netlink.LinkByName(name)
	if isNotFound(err) {
		v := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: up.Attrs().Index}, VlanId: cfg.VLAN}
		switch err = netlink.LinkAdd(v); {
		case err == nil:
			created = true
			rv.Add(func() error { return deleteLink(name) })
		case errors.Is(err, unix.EEXIST): // created meanwhile: check it below
		case errors.Is(err, unix.EOPNOTSUPP):
			return "", false, fmt.Errorf("create VLAN %d link %s on %s: this kernel has no 802.1Q VLAN support (CONFIG_VLAN_8021Q, module 8021q): %w", cfg.VLAN, name, cfg.Uplink, err)
		default:
			return "", false, fmt.Errorf("create VLAN %d link %s on %s: %w", cfg.VLAN, name, cfg.Uplink, err)
		}
		l, err = netlink.LinkByName(name)
	}
	if err != nil {
		return "", false, fmt.Errorf("look up VLAN link %s: %w", name, err)
	}
	v, ok := l.(*netlink.Vlan)
	if !ok || v.VlanId != cfg.VLAN || v.ParentIndex != up.Attrs().Index {
		return "", false, fmt.Errorf("link %s exists but is not VLAN %d on %s: rename or remove it", name, cfg.VLAN, cfg.Uplink)
	}
	switch m := l.Attrs().MasterIndex; {
	case m == br.Attrs().Index:
	case m != 0:
		return "", false, fmt.Errorf("VLAN link %s is a port of another device (index %d), not of bridge %s", name, m, cfg.Bridge)
	default:
		if err := netlink.LinkSetMaster(l, br); err != nil {
			return "", false, fmt.Errorf("add %s to bridge %s: %w", name, cfg.Bridge, err)
		}
		if !created {
			rv.Add(func() error { return netlink.LinkSetNoMaster(l) })
		}
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(l); err != nil {
			return "", false, fmt.Errorf("bring %s up: %w", name, err)
		}
		if !created {
			rv.Add(func() error { return netlink.LinkSetDown(l) })
		}
	}
	return name, created, nil
}

// Detach removes the container's veth pair (deleting the host side deletes
// both ends), its rate limits and its port-security rules. It is idempotent,
// cleans up after a partial Attach, and never removes the bridge or a VLAN
// link (they are shared).
func Detach(ctx context.Context, container string) error {
	if container == "" {
		return errors.New("detach: no container name")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("detach %q: %w", container, err)
	}
	return detachLink(HostVethName(container), container)
}

// detachLink removes host veth name of container: rate limits first (the
// container merely runs unlimited for a moment), then the pair, then the
// port-security rules, so a live container is never left without them.
func detachLink(name, container string) error {
	var errs []error
	if err := removeRateLimit(name); err != nil {
		errs = append(errs, fmt.Errorf("remove rate limits: %w", err))
	}
	l, err := netlink.LinkByName(name)
	switch {
	case isNotFound(err):
	case err != nil:
		errs = append(errs, fmt.Errorf("look up %s: %w", name, err))
	case l.Type() != "veth":
		errs = append(errs, fmt.Errorf("%s is a %s link, not fatbox's veth: left alone", name, l.Type()))
	case l.Attrs().Alias != "" && l.Attrs().Alias != AliasPrefix+container:
		errs = append(errs, fmt.Errorf("%s has alias %q, not %q: left alone", name, l.Attrs().Alias, AliasPrefix+container))
	default:
		if err := deleteLink(name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removePortSecurity(name); err != nil {
		errs = append(errs, fmt.Errorf("remove port security: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detach %q: %w", container, err)
	}
	return nil
}

// Link is a host veth fatbox owns.
type Link struct {
	// Name is the host veth's name.
	Name string
	// Container is the container named in its alias.
	Container string
	// Index is its interface index.
	Index int
	// Bridge is the bridge it is a port of ("" none).
	Bridge string
}

// Owned lists the host veths fatbox owns (alias "fatbox:<container>") in the
// caller's network namespace, so the engine can remove orphans after a crash.
func Owned() ([]Link, error) {
	links, err := linkList()
	if err != nil {
		return nil, err
	}
	names := make(map[int]string, len(links))
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	var out []Link
	for _, l := range links {
		at := l.Attrs()
		if l.Type() != "veth" || !strings.HasPrefix(at.Alias, AliasPrefix) {
			continue
		}
		out = append(out, Link{Name: at.Name, Container: strings.TrimPrefix(at.Alias, AliasPrefix), Index: at.Index, Bridge: names[at.MasterIndex]})
	}
	return out, nil
}

// RemoveOrphans detaches every owned veth whose container is not in alive
// and returns those containers' names. A nil alive is refused (fail closed:
// a caller that failed to list its containers must not wipe every network);
// an empty map means no container is alive.
func RemoveOrphans(ctx context.Context, alive map[string]bool) ([]string, error) {
	if alive == nil {
		return nil, errors.New("remove orphans: the set of live containers is nil: refusing to detach every container (pass an empty map to mean none is alive)")
	}
	return removeOrphans(ctx, func(c string) bool { return alive[c] })
}

func removeOrphans(ctx context.Context, alive func(container string) bool) ([]string, error) {
	owned, err := Owned()
	if err != nil {
		return nil, fmt.Errorf("remove orphans: %w", err)
	}
	var removed []string
	var errs []error
	for _, l := range owned {
		if alive(l.Container) {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if err := detachLink(l.Name, l.Container); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, l.Container)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("remove orphans: %w", err)
	}
	return removed, nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// deleteLink deletes a host link by name; a missing link is fine.
func deleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// linkList lists the host's links, retrying a dump the kernel interrupted.
func linkList() ([]netlink.Link, error) {
	var err error
	for range 5 {
		var links []netlink.Link
		if links, err = netlink.LinkList(); err == nil {
			return links, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return nil, fmt.Errorf("list links: %w", err)
}

// Announce sends the gratuitous-ARP burst for a container attached without
// Config.Announce: from its eth0 in the namespace at netnsPath, with its
// address and the MAC derived from it. The engine runs it in the background
// once the container runs, so the burst's gaps (100 ms) are not boot time.
func Announce(ctx context.Context, netnsPath string, addr netip.Addr) error {
	ns, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return fmt.Errorf("announce %s: open netns %q: %w", addr, netnsPath, err)
	}
	defer ns.Close()
	return inNetns(ns, func() error {
		if err := waitOperUp(ctx, eth0Up); err != nil {
			return fmt.Errorf("announce %s: %w", addr, err)
		}
		return arp.Announce(ctx, ContainerIfname, addr, MACFromIP(addr), arp.AnnounceOptions{})
	})
}

// operUpTimeout bounds waitOperUp.
const operUpTimeout = 3 * time.Second

// waitOperUp polls (every 5 ms, up to operUpTimeout) until up reports a link
// operationally up. The kernel finishes bringing a veth up asynchronously
// (linkwatch, a kernel worker): until it has, the container's eth0 has no
// transmit queue and drops what is sent, and the bridge has not enabled the
// host veth's port, so under load the first gratuitous ARP was lost. After
// the timeout it returns nil and the caller sends anyway (announcing is best
// effort); only a cancelled ctx is an error.
func waitOperUp(ctx context.Context, up func() bool) error {
	deadline := time.Now().Add(operUpTimeout)
	for !up() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the link to come up: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// eth0Up reports whether the calling thread's namespace has an operationally
// up ContainerIfname.
func eth0Up() bool {
	l, err := netlink.LinkByName(ContainerIfname)
	return err == nil && l.Attrs().OperState == netlink.OperUp
}
