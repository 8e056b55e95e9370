package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Readdress moves a running container's eth0 to another address of its
// subnet, with the MAC derived from it, without taking the link down: the
// host veth's port security is rewritten for the new address first (frames
// from the old one are dropped from then on), then the MAC is changed in
// place (veth allows it while up), the old address is replaced by the new
// one and the default route through gw put back (removing the last address
// of a link flushes its routes). The caller then announces it (Announce: the
// burst's 100 ms gaps need not hold it up).
// The container's processes keep running; connections to the old address
// break, as on a VM whose address an admin changed. Idempotent: a container
// that has addr already only gets its route checked.
// container is what Attach was given (the instance), netnsPath its netns.
func Readdress(ctx context.Context, container, netnsPath string, addr netip.Prefix, gw netip.Addr) error {
	mac := MACFromIP(addr.Addr())
	if err := applyPortSecurity(HostVethName(container), addr.Addr(), mac); err != nil {
		return fmt.Errorf("readdress %s: %w", container, err)
	}
	ns, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return fmt.Errorf("readdress %s: open netns %q: %w", container, netnsPath, err)
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("readdress %s: netlink in %q: %w", container, netnsPath, err)
	}
	defer nh.Close()
	l, err := nh.LinkByName(ContainerIfname)
	if err != nil {
		return fmt.Errorf("readdress %s: look up %s: %w", container, ContainerIfname, err)
	}
	if l.Attrs().HardwareAddr.String() != mac.String() {
		if err := nh.LinkSetHardwareAddr(l, mac); err != nil {
			return fmt.Errorf("readdress %s: set MAC %s on %s: %w", container, mac, ContainerIfname, err)
		}
	}
	addrs, err := nh.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("readdress %s: list addresses: %w", container, err)
	}
	have := false
	for _, a := range addrs {
		p, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		if p.Unmap() == addr.Addr() && ones == addr.Bits() {
			have = true
			continue
		}
		a := a
		if err := nh.AddrDel(l, &a); err != nil {
			return fmt.Errorf("readdress %s: remove %s: %w", container, a.IPNet, err)
		}
	}
	if !have {
		ipn := &net.IPNet{IP: net.IP(addr.Addr().AsSlice()), Mask: net.CIDRMask(addr.Bits(), 32)}
		if err := nh.AddrAdd(l, &netlink.Addr{IPNet: ipn}); err != nil {
			return fmt.Errorf("readdress %s: add %s: %w", container, addr, err)
		}
	}
	if gw.IsValid() {
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.IP(gw.AsSlice())}
		if err := nh.RouteReplace(r); err != nil {
			return fmt.Errorf("readdress %s: default route via %s: %w", container, gw, err)
		}
	}
	return nil
}

// DialInNetns connects to addr ("ip:port", TCP) from inside the network
// namespace at netnsPath (a container's health check on its own address,
// which the host may not reach: a bridge without a host address). The
// socket belongs to that namespace for its life; the calling goroutine's
// thread is not moved.
func DialInNetns(ctx context.Context, netnsPath, addr string) (net.Conn, error) {
	ns, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return nil, fmt.Errorf("dial %s: open netns %q: %w", addr, netnsPath, err)
	}
	defer ns.Close()
	var c net.Conn
	err = inNetns(ns, func() error {
		var d net.Dialer
		var derr error
		c, derr = d.DialContext(ctx, "tcp", addr)
		return derr
	})
	return c, err
}
