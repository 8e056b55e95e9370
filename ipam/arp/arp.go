package arp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults used for zero option fields.
const (
	DefaultCount    = 3
	DefaultInterval = 100 * time.Millisecond
	DefaultWait     = 300 * time.Millisecond
)

// ErrInterfaceNotFound is wrapped by the error Probe and Announce return when
// the interface does not exist in the calling thread's network namespace.
var ErrInterfaceNotFound = errors.New("interface not found")

// ProbeOptions tunes Probe. The zero value is ready to use: 3 probes 100 ms
// apart, then 300 ms of listening, about 0.5 s in all. Negative values are
// rejected.
type ProbeOptions struct {
	// Count is how many ARP probes to send. Zero means DefaultCount (3).
	Count int
	// Interval is the gap between consecutive probes; Probe listens during it.
	// Zero means DefaultInterval (100 ms).
	Interval time.Duration
	// Wait is how long Probe keeps listening after the last probe. Zero means
	// DefaultWait (300 ms).
	Wait time.Duration
}

// AnnounceOptions tunes Announce. The zero value is ready to use: 3
// announcements 100 ms apart (about 0.2 s). Negative values are rejected.
type AnnounceOptions struct {
	// Count is how many gratuitous ARPs to send. Zero means DefaultCount (3).
	Count int
	// Interval is the gap between consecutive announcements. Zero means
	// DefaultInterval (100 ms).
	Interval time.Duration
}

// Result is the outcome of a Probe.
type Result struct {
	// InUse reports that some host on the link claimed the address: it
	// answered a probe, sent an ARP request or reply with the address as its
	// sender, or probed for the address itself at the same time (RFC 5227
	// section 2.1.1); or the address is configured on an interface of the
	// calling network namespace. False only means nobody answered.
	InUse bool
	// MAC is the claimant's hardware address: the sender hardware address of
	// the first conflicting ARP packet, or the hardware address of the local
	// interface holding the address (empty for one without, e.g. lo). Nil when
	// InUse is false.
	MAC net.HardwareAddr
}

func (o ProbeOptions) withDefaults() (ProbeOptions, error) {
	if o.Count < 0 || o.Interval < 0 || o.Wait < 0 {
		return o, fmt.Errorf("invalid ProbeOptions %+v: Count, Interval and Wait must not be negative (zero means the default)", o)
	}
	if o.Count == 0 {
		o.Count = DefaultCount
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Wait == 0 {
		o.Wait = DefaultWait
	}
	return o, nil
}

func (o AnnounceOptions) withDefaults() (AnnounceOptions, error) {
	if o.Count < 0 || o.Interval < 0 {
		return o, fmt.Errorf("invalid AnnounceOptions %+v: Count and Interval must not be negative (zero means the default)", o)
	}
	if o.Count == 0 {
		o.Count = DefaultCount
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	return o, nil
}

// Probe performs an RFC 5227 ARP probe for ip on interface ifname (typically a
// pool's bridge) in the calling thread's network namespace. It broadcasts
// opts.Count ARP requests with sender IP 0.0.0.0, sender MAC the interface's
// MAC and target IP ip, opts.Interval apart, and listens until opts.Wait after
// the last one. It returns as soon as a conflict is heard (see Result.InUse).
//
// A done ctx aborts the probe with an error wrapping ctx.Err(), unless a
// conflict was already heard. Probe needs CAP_NET_RAW; see the package
// documentation for the namespace rules and why InUse=false is advisory.
func Probe(ctx context.Context, ifname string, ip netip.Addr, opts ProbeOptions) (Result, error) {
	r, err := probe(ctx, ifname, ip.Unmap(), opts)
	if err != nil {
		return Result{}, fmt.Errorf("arp probe for %s: %w", ip.Unmap(), err)
	}
	return r, nil
}

// Prober adapts Probe to the ipam.Prober interface, for ipam.Allocator's
// Prober field. The zero value probes with the zero (default) ProbeOptions.
type Prober struct {
	Options ProbeOptions
}

// Probe runs Probe on bridge with p.Options. Its errors do not repeat the
// address, which ipam.Allocator already puts in front of them.
func (p Prober) Probe(ctx context.Context, bridge string, ip netip.Addr) (inUse bool, mac net.HardwareAddr, err error) {
	r, err := probe(ctx, bridge, ip.Unmap(), p.Options)
	return r.InUse, r.MAC, err
}

func probe(ctx context.Context, ifname string, ip netip.Addr, opts ProbeOptions) (Result, error) {
	if err := checkIP(ip); err != nil {
		return Result{}, err
	}
	o, err := opts.withDefaults()
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	ifi, err := lookup(ifname, "create the pool's bridge first")
	if err != nil {
		return Result{}, err
	}
	if mac, ok, err := localOwner(ip); err != nil {
		return Result{}, err
	} else if ok {
		return Result{InUse: true, MAC: mac}, nil
	}

	c, err := listen(ifi)
	if err != nil {
		return Result{}, err
	}
	defer c.Close()
	// Wake a blocked read as soon as ctx is done. listenUntil sets its own
	// deadline before checking ctx, so this one is never overwritten unseen.
	stop := context.AfterFunc(ctx, func() { _ = c.setReadDeadline(time.Unix(1, 0)) })
	defer stop()

	self := ifi.HardwareAddr
	req := frame(broadcastMAC, self, packet{op: opRequest, sha: self, spa: netip.IPv4Unspecified(), tha: zeroMAC, tpa: ip})
	buf := make([]byte, 2048)
	start := time.Now()
	for i := range o.Count {
		if err := c.send(req); err != nil {
			return Result{}, err
		}
		until := start.Add(time.Duration(i+1) * o.Interval)
		if i == o.Count-1 {
			until = time.Now().Add(o.Wait)
		}
		r, err := listenUntil(ctx, c, buf, until, ip, self)
		if err != nil {
			return Result{}, fmt.Errorf("interface %q, after %d of %d probes: %w", ifname, i+1, o.Count, err)
		}
		if r.InUse {
			return r, nil
		}
	}
	return Result{}, nil
}

// listenUntil reads ARP frames until one conflicts with ip, the deadline
// passes (zero Result, nil error) or ctx is done.
func listenUntil(ctx context.Context, c *conn, buf []byte, until time.Time, ip netip.Addr, self net.HardwareAddr) (Result, error) {
	for {
		if err := c.setReadDeadline(until); err != nil {
			return Result{}, err
		}
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		n, err := c.recv(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if err := ctx.Err(); err != nil {
				return Result{}, err
			}
			if !time.Now().Before(until) {
				return Result{}, nil
			}
			continue
		}
		if err != nil {
			return Result{}, fmt.Errorf("receive: %w", err)
		}
		if p, ok := parseFrame(buf[:n]); ok && conflicts(p, ip, self) {
			return Result{InUse: true, MAC: bytes.Clone(p.sha)}, nil
		}
	}
}

// Announce sends a burst of gratuitous ARPs for ip from mac on interface
// ifname in the calling thread's network namespace: opts.Count ARP requests
// with sender IP = target IP = ip, sender MAC = mac and target MAC zero, to
// the Ethernet broadcast address from mac, opts.Interval apart. A nil mac
// means the interface's own MAC.
//
// The engine calls it on eth0 inside a container's namespace; it works on any
// Ethernet interface. A done ctx stops the burst with an error wrapping
// ctx.Err(). Announce needs CAP_NET_RAW; see the package documentation.
func Announce(ctx context.Context, ifname string, ip netip.Addr, mac net.HardwareAddr, opts AnnounceOptions) error {
	ip = ip.Unmap()
	fail := func(err error) error { return fmt.Errorf("arp announce for %s: %w", ip, err) }
	if err := checkIP(ip); err != nil {
		return fail(err)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return fail(err)
	}
	if mac != nil {
		if len(mac) != 6 {
			return fail(fmt.Errorf("MAC %q is not a 6-byte Ethernet address", mac))
		}
		if mac[0]&1 != 0 || bytes.Equal(mac, zeroMAC) {
			return fail(fmt.Errorf("MAC %s is not a unicast Ethernet address", mac))
		}
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	ifi, err := lookup(ifname, "check the name, and that the caller locked its OS thread and entered the right network namespace")
	if err != nil {
		return fail(err)
	}
	if mac == nil {
		mac = ifi.HardwareAddr
	}
	c, err := listen(ifi)
	if err != nil {
		return fail(err)
	}
	defer c.Close()

	gratuitous := frame(broadcastMAC, mac, packet{op: opRequest, sha: mac, spa: ip, tha: zeroMAC, tpa: ip})
	var t *time.Timer
	for i := range o.Count {
		if i > 0 {
			if t == nil {
				t = time.NewTimer(o.Interval)
				defer t.Stop()
			} else {
				t.Reset(o.Interval)
			}
			select {
			case <-ctx.Done():
				return fail(fmt.Errorf("interface %q, after %d of %d announcements: %w", ifname, i, o.Count, ctx.Err()))
			case <-t.C:
			}
		}
		if err := c.send(gratuitous); err != nil {
			return fail(err)
		}
	}
	return nil
}

func checkIP(ip netip.Addr) error {
	if !ip.Is4() {
		return fmt.Errorf("%q is not an IPv4 address: ARP only covers IPv4", ip)
	}
	if ip.IsUnspecified() || ip.IsMulticast() || ip.IsLoopback() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return fmt.Errorf("%s is not a unicast address", ip)
	}
	return nil
}

type notFoundError struct{ name, hint string }

func (e *notFoundError) Error() string {
	return fmt.Sprintf("interface %q not found: %s", e.name, e.hint)
}
func (e *notFoundError) Unwrap() error { return ErrInterfaceNotFound }

// lookup finds an up Ethernet interface by name in the calling thread's
// network namespace. hint tells the user what to do when it does not exist.
func lookup(name, hint string) (*net.Interface, error) {
	if name == "" || len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("interface name %q is invalid: Linux names are 1 to %d bytes", name, unix.IFNAMSIZ-1)
	}
	idx, err := nameToIndex(name)
	if errors.Is(err, unix.ENODEV) {
		return nil, &notFoundError{name: name, hint: hint}
	}
	if err != nil {
		return nil, fmt.Errorf("look up interface %q: %w", name, err)
	}
	ifi, err := net.InterfaceByIndex(int(idx))
	if err != nil {
		return nil, fmt.Errorf("look up interface %q (index %d): %w", name, idx, err)
	}
	if ifi.Name != name { // renamed or replaced between the two calls
		return nil, &notFoundError{name: name, hint: hint}
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("interface %q has no Ethernet hardware address: ARP needs an Ethernet-like interface (bridge, veth, NIC)", name)
	}
	if ifi.Flags&net.FlagUp == 0 {
		return nil, fmt.Errorf("interface %q is down: bring it up first (ip link set dev %s up)", name, name)
	}
	return ifi, nil
}

// nameToIndex is if_nametoindex(3): ENODEV when the interface does not exist.
func nameToIndex(name string) (uint32, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, err
	}
	return ifr.Uint32(), nil
}

// localOwner reports whether ip is configured on an interface of the calling
// thread's network namespace, and that interface's hardware address. One
// netlink dump of the IPv4 addresses, however many interfaces there are.
func localOwner(ip netip.Addr) (net.HardwareAddr, bool, error) {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETADDR, syscall.AF_INET)
	if err != nil {
		return nil, false, fmt.Errorf("list local addresses: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return nil, false, fmt.Errorf("list local addresses: %w", err)
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != syscall.RTM_NEWADDR || len(m.Data) < syscall.SizeofIfAddrmsg {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			return nil, false, fmt.Errorf("list local addresses: %w", err)
		}
		var local, address []byte
		for _, a := range attrs {
			switch a.Attr.Type {
			case syscall.IFA_LOCAL:
				local = a.Value
			case syscall.IFA_ADDRESS:
				address = a.Value
			}
		}
		if local == nil { // IFA_ADDRESS is the peer on point-to-point links, else the same
			local = address
		}
		if addr, ok := netip.AddrFromSlice(local); !ok || addr.Unmap() != ip {
			continue
		}
		index := int(binary.NativeEndian.Uint32(m.Data[4:8])) // struct ifaddrmsg: family, prefixlen, flags, scope, index
		var mac net.HardwareAddr
		if ifi, err := net.InterfaceByIndex(index); err == nil {
			mac = ifi.HardwareAddr
		}
		return mac, true, nil
	}
	return nil, false, nil
}
