package network

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/test/harness"
)

// Frames forged by hand and sent from inside a container with an AF_PACKET
// socket, and a receiver on the neighbour's eth0 that records which of them
// arrived. Every frame carries a marker ("FBPS" + run id + kind) in its
// payload (UDP data, or the padding of an ARP frame), so the receiver knows
// each one whatever the bridge did to its headers.
//
// Absence is never checked after a sleep: the frames are sent from one
// thread pinned to one CPU, forged ones first and a fence (an allowed frame)
// last. Veth and bridge hand frames on through that CPU's backlog in order,
// so once the fence has arrived every earlier frame that was let through has
// arrived too.

// psMarkerLen is len("FBPS") + 6 hex digits of run id + a 2-letter kind.
const psMarkerLen = 12

// psFrame is one test frame: what it is, whether port security must drop it.
type psFrame struct {
	kind   string // 2 letters, part of the marker
	what   string
	forged bool
	data   []byte
}

func psRunID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func psMarker(run, kind string) []byte { return []byte("FBPS" + run + kind) }

func ethHeader(dst, src net.HardwareAddr, etype uint16) []byte {
	b := make([]byte, 0, 14)
	b = append(b, dst...)
	b = append(b, src...)
	return binary.BigEndian.AppendUint16(b, etype)
}

func inetChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func udp(srcPort, dstPort uint16, payload []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, srcPort)
	b = binary.BigEndian.AppendUint16(b, dstPort)
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
	b = append(b, 0, 0) // checksum: none (allowed for IPv4; filled in for IPv6)
	return append(b, payload...)
}

// ipv4UDP is an IPv4 packet from src to dst carrying a UDP datagram to the
// discard port.
func ipv4UDP(src, dst netip.Addr, payload []byte) []byte {
	u := udp(40000, 9, payload)
	h := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, unix.IPPROTO_UDP, 0, 0}
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(u)))
	s, d := src.As4(), dst.As4()
	h = append(append(h, s[:]...), d[:]...)
	binary.BigEndian.PutUint16(h[10:], inetChecksum(h))
	return append(h, u...)
}

// ipv6UDP is an IPv6 packet from src to dst carrying a UDP datagram.
func ipv6UDP(src, dst netip.Addr, payload []byte) []byte {
	u := udp(40000, 9, payload)
	s, d := src.As16(), dst.As16()
	pseudo := append(append(append([]byte{}, s[:]...), d[:]...), 0, 0, byte(len(u)>>8), byte(len(u)), 0, 0, 0, unix.IPPROTO_UDP)
	binary.BigEndian.PutUint16(u[6:], inetChecksum(append(pseudo, u...)))
	h := []byte{0x60, 0, 0, 0, byte(len(u) >> 8), byte(len(u)), unix.IPPROTO_UDP, 64}
	h = append(append(h, s[:]...), d[:]...)
	return append(h, u...)
}

// arpFrame is a whole Ethernet/IPv4 ARP frame, padded to 60 bytes with the
// marker in the padding.
func arpFrame(dst, src net.HardwareAddr, op uint16, sha net.HardwareAddr, spa netip.Addr, tha net.HardwareAddr, tpa netip.Addr, marker []byte) []byte {
	f := ethHeader(dst, src, unix.ETH_P_ARP)
	f = append(f, 0, 1, 8, 0, 6, 4)
	f = binary.BigEndian.AppendUint16(f, op)
	s, d := spa.As4(), tpa.As4()
	f = append(f, sha...)
	f = append(f, s[:]...)
	f = append(f, tha...)
	f = append(f, d[:]...)
	f = append(f, marker...)
	for len(f) < 60 {
		f = append(f, 0)
	}
	return f
}

// linkLocal6 is the EUI-64 link-local IPv6 address of mac.
func linkLocal6(mac net.HardwareAddr) netip.Addr {
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	copy(a[8:], []byte{mac[0] ^ 2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]})
	return netip.AddrFrom16(a)
}

// psPeer is one end of the exchange: a container's MAC and IPv4 address.
type psPeer struct {
	MAC net.HardwareAddr
	IP  netip.Addr
}

// psFrames builds the frames container a sends towards b in run: the forged
// kinds port security must drop, then the allowed controls, the fence last.
// spoofIP is an address of the subnet nobody has.
func psFrames(run string, a, b psPeer, spoofIP netip.Addr) []psFrame {
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	zero := net.HardwareAddr{0, 0, 0, 0, 0, 0}
	otherMAC := net.HardwareAddr{0x02, 0xfb, 0xde, 0xad, 0xbe, 0xef}
	m := func(kind string) []byte { return psMarker(run, kind) }
	ip4 := func(kind string, srcMAC net.HardwareAddr, srcIP netip.Addr) []byte {
		return append(ethHeader(b.MAC, srcMAC, unix.ETH_P_IP), ipv4UDP(srcIP, b.IP, m(kind))...)
	}
	vlan := ethHeader(b.MAC, a.MAC, unix.ETH_P_8021Q)
	vlan = binary.BigEndian.AppendUint16(vlan, 12) // PCP 0, VID 12
	vlan = binary.BigEndian.AppendUint16(vlan, unix.ETH_P_IP)
	vlan = append(vlan, ipv4UDP(a.IP, b.IP, m("vl"))...)
	return []psFrame{
		{"ip", "IPv4 from a forged source address " + spoofIP.String(), true, ip4("ip", a.MAC, spoofIP)},
		{"ib", "IPv4 from b's address", true, ip4("ib", a.MAC, b.IP)},
		{"mc", "IPv4 from a forged source MAC " + otherMAC.String(), true, ip4("mc", otherMAC, a.IP)},
		{"ar", "ARP reply to b claiming " + spoofIP.String(), true,
			arpFrame(b.MAC, a.MAC, 2, a.MAC, spoofIP, b.MAC, b.IP, m("ar"))},
		{"ag", "gratuitous ARP claiming b's address", true,
			arpFrame(bcast, a.MAC, 1, a.MAC, b.IP, zero, b.IP, m("ag"))},
		{"am", "ARP whose sender MAC is not the frame's", true,
			arpFrame(bcast, a.MAC, 1, otherMAC, a.IP, zero, a.IP, m("am"))},
		{"v6", "IPv6 from the container's own MAC", true,
			append(ethHeader(b.MAC, a.MAC, unix.ETH_P_IPV6), ipv6UDP(linkLocal6(a.MAC), linkLocal6(b.MAC), m("v6"))...)},
		{"vl", "802.1Q-tagged IPv4 (VLAN 12) from the container's own MAC and address", true, vlan},
		// Controls: the same kinds of frame with the container's own addresses.
		{"c4", "IPv4 from its own MAC and address", false, ip4("c4", a.MAC, a.IP)},
		{"ca", "gratuitous ARP for its own address", false,
			arpFrame(bcast, a.MAC, 1, a.MAC, a.IP, zero, a.IP, m("ca"))},
		{"cr", "ARP reply to b from its own address", false,
			arpFrame(b.MAC, a.MAC, 2, a.MAC, a.IP, b.MAC, b.IP, m("cr"))},
		{"fe", "IPv4 from its own addresses, sent last (the fence)", false, ip4("fe", a.MAC, a.IP)},
	}
}

// psSocket opens an AF_PACKET socket on ifname inside the network
// namespace at nsPath (the socket stays in that namespace), bound for
// receiving every protocol when recv, else for sending only.
func psSocket(t *testing.T, nsPath, ifname string, recv bool) int {
	t.Helper()
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	fd := -1
	err = inNetns(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		proto := uint16(0)
		if recv {
			proto = htons(unix.ETH_P_ALL)
		}
		s, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return err
		}
		if err := unix.Bind(s, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
			unix.Close(s)
			return err
		}
		fd = s
		return nil
	})
	if err != nil {
		t.Fatalf("AF_PACKET socket on %s in %s: %v", ifname, nsPath, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// psSend writes frames in order on fd from one OS thread pinned to one CPU
// (see the top of this file), then gives the thread its CPUs back.
func psSend(fd int, frames [][]byte) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var old unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		var one unix.CPUSet
		for c := 0; c < 1024; c++ {
			if old.IsSet(c) {
				one.Set(c)
				break
			}
		}
		if err := unix.SchedSetaffinity(0, &one); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		var err error
		for _, f := range frames {
			if err = unix.Send(fd, f, 0); err != nil {
				break
			}
		}
		if rerr := unix.SchedSetaffinity(0, &old); rerr == nil {
			runtime.UnlockOSThread()
		} // else the thread stays locked and is discarded with the goroutine
		errc <- err
	}()
	return <-errc
}

// psReceiver records the markers of run-id-tagged frames arriving on a socket.
type psReceiver struct {
	mu   sync.Mutex
	seen map[string]int // run+kind → count
	cond *sync.Cond
	stop chan struct{}
	done chan struct{}
}

func psReceive(t *testing.T, fd int) *psReceiver {
	t.Helper()
	tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	r := &psReceiver{seen: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	r.cond = sync.NewCond(&r.mu)
	go func() {
		defer close(r.done)
		buf := make([]byte, 4096)
		for {
			select {
			case <-r.stop:
				return
			default:
			}
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				continue // timeout (EAGAIN) or EINTR: look at stop again
			}
			for b := buf[:n]; ; {
				i := bytes.Index(b, []byte("FBPS"))
				if i < 0 || i+psMarkerLen > len(b) {
					break
				}
				r.mu.Lock()
				r.seen[string(b[i+4:i+psMarkerLen])]++
				r.cond.Broadcast()
				r.mu.Unlock()
				b = b[i+psMarkerLen:]
			}
		}
	}()
	t.Cleanup(func() { close(r.stop); <-r.done })
	return r
}

// wait waits until the frame of run and kind has arrived, or d has passed.
func (r *psReceiver) wait(run, kind string, d time.Duration) bool {
	timer := time.AfterFunc(d, func() { r.mu.Lock(); r.cond.Broadcast(); r.mu.Unlock() })
	defer timer.Stop()
	deadline := time.Now().Add(d)
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.seen[run+kind] == 0 {
		if !time.Now().Before(deadline) {
			return false
		}
		r.cond.Wait()
	}
	return true
}

func (r *psReceiver) count(run, kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[run+kind]
}

// psExchange sends frames from sendFD and, once the fence has arrived at r,
// returns which frames arrived and which did not.
func psExchange(t *testing.T, sendFD int, r *psReceiver, run string, frames []psFrame) (arrived, missing []psFrame) {
	t.Helper()
	var raw [][]byte
	for _, f := range frames {
		raw = append(raw, f.data)
	}
	if err := psSend(sendFD, raw); err != nil {
		t.Fatalf("send the frames: %v", err)
	}
	if !r.wait(run, frames[len(frames)-1].kind, 10*time.Second) {
		t.Fatalf("the fence frame (%s) never arrived", frames[len(frames)-1].what)
	}
	for _, f := range frames {
		if r.count(run, f.kind) > 0 {
			arrived = append(arrived, f)
		} else {
			missing = append(missing, f)
		}
	}
	return arrived, missing
}

// psWaitPath sends an allowed frame until one arrives: links finish coming
// up asynchronously after Attach.
func psWaitPath(t *testing.T, sendFD int, r *psReceiver, a, b psPeer) {
	t.Helper()
	run := psRunID(t)
	f := append(ethHeader(b.MAC, a.MAC, unix.ETH_P_IP), ipv4UDP(a.IP, b.IP, psMarker(run, "up"))...)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err := psSend(sendFD, [][]byte{f}); err != nil && !errors.Is(err, unix.ENETDOWN) {
			t.Fatal(err)
		}
		if r.wait(run, "up", 100*time.Millisecond) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no frame from a reached b within 10 s")
		}
	}
}

func psKinds(fs []psFrame) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.kind+" ("+f.what+")")
	}
	sort.Strings(s)
	return strings.Join(s, "; ")
}

// TestPortSecDropsFrames: two containers attached by the real Attach in a
// namespace of the test's own. From inside a, frames with a forged source
// IP, a forged source MAC, forged ARP (claiming b's address, or another),
// IPv6 and 802.1Q-tagged frames are sent to b; none arrives, while the same
// kinds of frame with a's own MAC and address do. Then, with a's port
// security removed, every forged frame arrives: the receiver would have
// seen them.
func TestPortSecDropsFrames(t *testing.T) {
	privateNetns(t)
	br := harness.Name("fbnb")
	cA, cB := psNetnsConfig(t, br, "198.19.34.2"), psNetnsConfig(t, br, "198.19.34.3")
	a, b := nwAttach(t, cA), nwAttach(t, cB)
	pa, pb := psPeer{a.MAC, a.Addr.Addr()}, psPeer{b.MAC, b.Addr.Addr()}
	spoof := netip.MustParseAddr("198.19.34.77")

	send := psSocket(t, cA.Netns, ContainerIfname, false)
	r := psReceive(t, psSocket(t, cB.Netns, ContainerIfname, true))
	psWaitPath(t, send, r, pa, pb)

	run := psRunID(t)
	frames := psFrames(run, pa, pb, spoof)
	arrived, missing := psExchange(t, send, r, run, frames)
	for _, f := range arrived {
		if f.forged {
			t.Errorf("port security let through: %s", f.what)
		}
	}
	for _, f := range missing {
		if !f.forged {
			t.Errorf("port security dropped an allowed frame: %s", f.what)
		}
	}
	t.Logf("with port security: arrived %s", psKinds(arrived))

	// Without a's port security the same frames all arrive.
	if err := removePortSecurity(a.HostVeth); err != nil {
		t.Fatal(err)
	}
	run = psRunID(t)
	_, missing = psExchange(t, send, r, run, psFrames(run, pa, pb, spoof))
	if len(missing) != 0 {
		t.Errorf("without port security these frames did not arrive either, so the check above cannot see them: %s", psKinds(missing))
	}
}

// The frames themselves: what the kernel and the receiver parse.
func TestPortSecFrameBuilders(t *testing.T) {
	a := psPeer{net.HardwareAddr{2, 0xfb, 198, 19, 34, 2}, netip.MustParseAddr("198.19.34.2")}
	b := psPeer{net.HardwareAddr{2, 0xfb, 198, 19, 34, 3}, netip.MustParseAddr("198.19.34.3")}
	frames := psFrames("abc123", a, b, netip.MustParseAddr("198.19.34.77"))
	kinds := map[string]bool{}
	for _, f := range frames {
		if kinds[f.kind] || len(f.kind) != 2 {
			t.Errorf("kind %q repeated or not 2 letters", f.kind)
		}
		kinds[f.kind] = true
		if !bytes.Contains(f.data, psMarker("abc123", f.kind)) || len(f.data) < 42 {
			t.Errorf("%s: %d bytes, marker %v", f.what, len(f.data), bytes.Contains(f.data, psMarker("abc123", f.kind)))
		}
	}
	if last := frames[len(frames)-1]; last.forged || last.kind != "fe" {
		t.Errorf("the last frame is not the fence: %+v", last.what)
	}
	ip := ipv4UDP(a.IP, b.IP, []byte("x"))
	if inetChecksum(ip[:20]) != 0 {
		t.Error("IPv4 header checksum does not verify")
	}
	if got := linkLocal6(a.MAC).String(); got != "fe80::fb:c6ff:fe13:2202" {
		t.Errorf("linkLocal6 = %s", got)
	}
	v6 := ipv6UDP(linkLocal6(a.MAC), linkLocal6(b.MAC), []byte("xyz"))
	s, d := linkLocal6(a.MAC).As16(), linkLocal6(b.MAC).As16()
	u := v6[40:]
	pseudo := append(append(append([]byte{}, s[:]...), d[:]...), 0, 0, byte(len(u)>>8), byte(len(u)), 0, 0, 0, unix.IPPROTO_UDP)
	if inetChecksum(append(pseudo, u...)) != 0 {
		t.Error("IPv6 UDP checksum does not verify")
	}
	if len(psMarker("abc123", "xx")) != psMarkerLen {
		t.Error("psMarkerLen is wrong")
	}
}
