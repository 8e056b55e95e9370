package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/harness"
)

// Port security through the real create path: two containers made by
// `fatbox create`, and from inside one of them frames forged by hand and sent
// with python3 on an AF_PACKET socket (a container has CAP_NET_RAW, not
// CAP_NET_ADMIN: it cannot change its addresses, but it can write any frame).
// The other container's eth0 is watched from the host with an AF_PACKET
// socket opened in its network namespace; the host's neighbour table shows
// ARP poisoning. Every frame carries a marker ("FBPS" + run id + kind) in its
// UDP payload or ARP padding.
//
// The forged frames are sent first and an allowed fence frame last, from a
// sender pinned to one CPU: veth and bridge hand frames on through that
// CPU's backlog in order, so once the fence has arrived every earlier frame
// that was let through has arrived (and been seen by the host's ARP) too.
// Absence is never checked after a sleep.

// Addresses: 198.19.46.0/24.

// psSendScript sends the hex-encoded frames in argv on eth0, in order, from
// one CPU, and prints its effective capabilities.
const psSendScript = `import os, socket, sys
cpu = min(os.sched_getaffinity(0))
os.sched_setaffinity(0, {cpu})
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for h in sys.argv[1:]:
    s.send(bytes.fromhex(h))
capeff = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff:")][0]
print("sent", len(sys.argv) - 1, "cpu", cpu, "capeff", capeff)
`

const psMarkerLen = 12 // "FBPS" + 6 hex digits of run id + 2-letter kind

type psFrame struct {
	kind   string
	what   string
	forged bool
	toB    bool // addressed so that it reaches b if let through
	data   []byte
}

type psPeer struct {
	MAC net.HardwareAddr
	IP  netip.Addr
}

func psEth(dst, src net.HardwareAddr, etype uint16) []byte {
	b := append(append([]byte{}, dst...), src...)
	return binary.BigEndian.AppendUint16(b, etype)
}

func psChecksum(b []byte) uint16 {
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

func psUDP(payload []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, 40000)
	b = binary.BigEndian.AppendUint16(b, 9) // discard
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
	return append(append(b, 0, 0), payload...)
}

func psIPv4(src, dst netip.Addr, payload []byte) []byte {
	u := psUDP(payload)
	h := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, unix.IPPROTO_UDP, 0, 0}
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(u)))
	s, d := src.As4(), dst.As4()
	h = append(append(h, s[:]...), d[:]...)
	binary.BigEndian.PutUint16(h[10:], psChecksum(h))
	return append(h, u...)
}

func psIPv6(src, dst netip.Addr, payload []byte) []byte {
	u := psUDP(payload)
	s, d := src.As16(), dst.As16()
	pseudo := append(append(append([]byte{}, s[:]...), d[:]...), 0, 0, byte(len(u)>>8), byte(len(u)), 0, 0, 0, unix.IPPROTO_UDP)
	binary.BigEndian.PutUint16(u[6:], psChecksum(append(pseudo, u...)))
	h := []byte{0x60, 0, 0, 0, byte(len(u) >> 8), byte(len(u)), unix.IPPROTO_UDP, 64}
	return append(append(append(h, s[:]...), d[:]...), u...)
}

func psLinkLocal(mac net.HardwareAddr) netip.Addr {
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	copy(a[8:], []byte{mac[0] ^ 2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]})
	return netip.AddrFrom16(a)
}

func psARP(dst, src net.HardwareAddr, op uint16, sha net.HardwareAddr, spa netip.Addr, tha net.HardwareAddr, tpa netip.Addr, marker []byte) []byte {
	f := append(psEth(dst, src, unix.ETH_P_ARP), 0, 1, 8, 0, 6, 4)
	f = binary.BigEndian.AppendUint16(f, op)
	s, d := spa.As4(), tpa.As4()
	f = append(append(append(append(append(f, sha...), s[:]...), tha...), d[:]...), marker...)
	for len(f) < 60 {
		f = append(f, 0)
	}
	return f
}

func psVLAN(dst, src net.HardwareAddr, vid uint16, inner []byte) []byte {
	f := psEth(dst, src, unix.ETH_P_8021Q)
	f = binary.BigEndian.AppendUint16(f, vid)
	f = binary.BigEndian.AppendUint16(f, unix.ETH_P_IP)
	return append(f, inner...)
}

// psFrames: what a sends, forged kinds first, the controls (a's own MAC and
// address) after them, the fence last. gw is the host's end (the bridge).
func psFrames(run string, a, b, gw psPeer, spoof netip.Addr) []psFrame {
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	zero := make(net.HardwareAddr, 6)
	other := net.HardwareAddr{0x02, 0xfb, 0xde, 0xad, 0xbe, 0xef}
	m := func(kind string) []byte { return []byte("FBPS" + run + kind) }
	ip4 := func(kind string, mac net.HardwareAddr, ip netip.Addr) []byte {
		return append(psEth(b.MAC, mac, unix.ETH_P_IP), psIPv4(ip, b.IP, m(kind))...)
	}
	return []psFrame{
		{"ip", "(a) IPv4 from a forged source address " + spoof.String(), true, true, ip4("ip", a.MAC, spoof)},
		{"ib", "(a) IPv4 from b's own address", true, true, ip4("ib", a.MAC, b.IP)},
		{"mc", "(b) IPv4 from a forged source MAC " + other.String(), true, true, ip4("mc", other, a.IP)},
		{"ag", "(c) gratuitous ARP claiming b's address", true, true, psARP(bcast, a.MAC, 1, a.MAC, b.IP, zero, b.IP, m("ag"))},
		{"aq", "(c) ARP request for the gateway from b's address", true, true, psARP(bcast, a.MAC, 1, a.MAC, b.IP, zero, gw.IP, m("aq"))},
		{"ar", "(c) ARP reply to the host claiming b's address", true, false, psARP(gw.MAC, a.MAC, 2, a.MAC, b.IP, gw.MAC, gw.IP, m("ar"))},
		{"v6", "(d) IPv6 from a's own MAC", true, true,
			append(psEth(b.MAC, a.MAC, unix.ETH_P_IPV6), psIPv6(psLinkLocal(a.MAC), psLinkLocal(b.MAC), m("v6"))...)},
		{"vl", "(e) 802.1Q-tagged IPv4 (VLAN 12) from a's own MAC and address", true, true,
			psVLAN(b.MAC, a.MAC, 12, psIPv4(a.IP, b.IP, m("vl")))},
		{"c4", "IPv4 from a's own MAC and address", false, true, ip4("c4", a.MAC, a.IP)},
		{"ca", "gratuitous ARP for a's own address", false, true, psARP(bcast, a.MAC, 1, a.MAC, a.IP, zero, a.IP, m("ca"))},
		{"cq", "ARP request for the gateway from a's own address", false, true, psARP(bcast, a.MAC, 1, a.MAC, a.IP, zero, gw.IP, m("cq"))},
		{"fe", "IPv4 from a's own addresses, sent last (the fence)", false, true, ip4("fe", a.MAC, a.IP)},
	}
}

// psSocket opens an AF_PACKET socket on ifname in the network namespace at
// nsPath ("" for the test's own), on a thread of its own that goes back to
// the host's namespace after. With recv it receives every protocol, else it
// only sends.
func psSocket(t *testing.T, nsPath, ifname string, recv bool) int {
	t.Helper()
	type res struct {
		fd  int
		err error
	}
	c := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		back := func() bool { return true }
		if nsPath != "" {
			orig, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				runtime.UnlockOSThread()
				c <- res{-1, err}
				return
			}
			defer orig.Close()
			target, err := os.Open(nsPath)
			if err != nil {
				runtime.UnlockOSThread()
				c <- res{-1, err}
				return
			}
			defer target.Close()
			if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
				runtime.UnlockOSThread()
				c <- res{-1, fmt.Errorf("enter %s: %w", nsPath, err)}
				return
			}
			back = func() bool { return unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil }
		}
		fd, err := func() (int, error) {
			ifi, err := net.InterfaceByName(ifname)
			if err != nil {
				return -1, err
			}
			proto := uint16(0)
			if recv {
				proto = uint16(unix.ETH_P_ALL)<<8 | uint16(unix.ETH_P_ALL)>>8 // network byte order
			}
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
			if err != nil {
				return -1, err
			}
			if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
				unix.Close(fd)
				return -1, err
			}
			return fd, nil
		}()
		if back() {
			runtime.UnlockOSThread()
		} // else the thread stays locked and is discarded with the goroutine
		c <- res{fd, err}
	}()
	r := <-c
	if r.err != nil {
		t.Fatalf("AF_PACKET socket on %s in %q: %v", ifname, nsPath, r.err)
	}
	t.Cleanup(func() { unix.Close(r.fd) })
	return r.fd
}

// psReceiver records the markers of the frames arriving on a socket.
type psReceiver struct {
	mu   sync.Mutex
	seen map[string]bool
	stop chan struct{}
	done chan struct{}
}

func psReceive(t *testing.T, fd int) *psReceiver {
	t.Helper()
	tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	r := &psReceiver{seen: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
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
				continue // the timeout: look at stop again
			}
			for b := buf[:n]; ; {
				i := bytes.Index(b, []byte("FBPS"))
				if i < 0 || i+psMarkerLen > len(b) {
					break
				}
				r.mu.Lock()
				r.seen[string(b[i+4:i+psMarkerLen])] = true
				r.mu.Unlock()
				b = b[i+psMarkerLen:]
			}
		}
	}()
	t.Cleanup(func() { close(r.stop); <-r.done })
	return r
}

func (r *psReceiver) has(run, kind string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[run+kind]
}

// waitFor polls until the frame of run and kind has arrived (a positive
// condition), for up to d.
func (r *psReceiver) waitFor(run, kind string, d time.Duration) bool {
	for deadline := time.Now().Add(d); !r.has(run, kind); {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func psRun(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// hostNeigh is the host's neighbour-table MAC for ip on dev ("" if none).
func hostNeigh(t *testing.T, dev string, ip netip.Addr) string {
	t.Helper()
	out, err := exec.Command("ip", "-j", "neigh", "show", "dev", dev, "to", ip.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ip neigh show dev %s: %v: %s", dev, err, out)
	}
	var ns []struct {
		Dst    string `json:"dst"`
		LLAddr string `json:"lladdr"`
	}
	if err := json.Unmarshal(out, &ns); err != nil {
		t.Fatalf("ip -j neigh: %v: %s", err, out)
	}
	for _, n := range ns {
		if n.Dst == ip.String() {
			return n.LLAddr
		}
	}
	return ""
}

func psPeerOf(t *testing.T, in api.ContainerInfo) psPeer {
	t.Helper()
	mac, err := net.ParseMAC(in.MAC)
	if err != nil {
		t.Fatalf("MAC of %s: %v", in.Name, err)
	}
	ip, err := netip.ParseAddr(in.IP)
	if err != nil {
		t.Fatalf("IP of %s: %v", in.Name, err)
	}
	return psPeer{mac, ip}
}

// TestPortSecurityFromCreate: from inside container a, made by `fatbox
// create`, frames with (a) a forged source IP, (b) a forged source MAC, (c)
// forged ARP claiming b's address, (d) IPv6 and (e) an 802.1Q tag are sent
// towards container b and the host: none reaches b, and the host's
// neighbour entry for b stays b's MAC. The controls, frames of the same
// kinds with a's own MAC and address, arrive (and the host learns a from
// a's own ARP); IPv6 and tagged frames the host itself puts on the bridge
// reach b, so b's socket would see them. Without Attach's port-security step
// the forged frames arrive and this test fails.
func TestPortSecurityFromCreate(t *testing.T) {
	e := newVMEnv(t, "198.19.46.0/24")
	var pool api.Pool
	if err := json.Unmarshal([]byte(e.OK("pool", "show", "vm", "-o", "json").Stdout), &pool); err != nil {
		t.Fatalf("pool show: %v", err)
	}
	nameA, nameB := harness.Name("psa-"), harness.Name("psb-")
	inA := e.Create(nameA, "--cpus", "1", "--memory", "256M", "--disk", "1G")
	inB := e.Create(nameB, "--cpus", "1", "--memory", "256M", "--disk", "1G")
	brIfi, err := net.InterfaceByName(pool.Bridge) // the first create made it
	if err != nil {
		t.Fatalf("the pool's bridge %s: %v", pool.Bridge, err)
	}
	gw := psPeer{brIfi.HardwareAddr, pool.Gateway}
	a, b := psPeerOf(t, inA), psPeerOf(t, inB)
	spoof := netip.MustParseAddr("198.19.46.250")
	if spoof == a.IP || spoof == b.IP || !pool.CIDR.Contains(spoof) {
		t.Fatalf("pick another unused address than %s (a %s, b %s, pool %s)", spoof, a.IP, b.IP, pool.CIDR)
	}

	if inB.PID == 0 {
		t.Fatalf("%s has no init pid: %+v", nameB, inB)
	}
	r := psReceive(t, psSocket(t, fmt.Sprintf("/proc/%d/ns/net", inB.PID), "eth0", true))
	send := func(frames []psFrame) {
		t.Helper()
		args := []string{"exec", nameA, "--socket", e.Sock, "--", "python3", "-c", psSendScript}
		for _, f := range frames {
			args = append(args, hex.EncodeToString(f.data))
		}
		res := fatbox(t, args...)
		if res.Code != 0 {
			t.Fatalf("python3 in %s: exit %d: %s%s", nameA, res.Code, res.Stdout, res.Stderr)
		}
		// The container could write these frames with CAP_NET_RAW, and
		// could not simply change its address: no CAP_NET_ADMIN.
		f := strings.Fields(res.Stdout)
		if len(f) != 6 || f[1] != fmt.Sprint(len(frames)) {
			t.Fatalf("python3 in %s printed %q", nameA, res.Stdout)
		}
		capEff, err := strconv.ParseUint(f[5], 16, 64)
		if err != nil || capEff&(1<<unix.CAP_NET_RAW) == 0 || capEff&(1<<unix.CAP_NET_ADMIN) != 0 {
			t.Fatalf("container capabilities %q (%v): want CAP_NET_RAW and no CAP_NET_ADMIN", f[5], err)
		}
	}

	// The path is up: a's own frame reaches b (sshd may still be starting;
	// eth0 and the bridge port are up once create returned).
	up := psRun(t)
	upFrame := psFrame{"up", "path check", false, true,
		append(psEth(b.MAC, a.MAC, unix.ETH_P_IP), psIPv4(a.IP, b.IP, []byte("FBPS"+up+"up"))...)}
	for deadline := time.Now().Add(20 * time.Second); ; {
		send([]psFrame{upFrame})
		if r.waitFor(up, "up", time.Second) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no frame from a reached b")
		}
	}

	// The host's neighbour table: b's entry holds b's MAC (the host pings
	// b), a's is gone until a's own ARP control brings it back.
	if out, err := exec.Command("ping", "-c", "1", "-W", "5", b.IP.String()).CombinedOutput(); err != nil {
		t.Fatalf("ping %s from the host: %v: %s", b.IP, err, out)
	}
	if got := hostNeigh(t, pool.Bridge, b.IP); got != b.MAC.String() {
		t.Fatalf("host's neighbour entry for b %s: %q, want %s", b.IP, got, b.MAC)
	}
	harness.IPQuiet("neigh", "del", a.IP.String(), "dev", pool.Bridge)

	run := psRun(t)
	frames := psFrames(run, a, b, gw, spoof)
	send(frames)
	if !r.waitFor(run, "fe", 10*time.Second) {
		t.Fatal("the fence frame (a's own IPv4, sent last) never reached b")
	}
	var arrived []string
	for _, f := range frames {
		if !f.toB { // its mark is the host's neighbour table, checked below
			continue
		}
		if r.has(run, f.kind) {
			arrived = append(arrived, f.kind)
		}
		switch got := r.has(run, f.kind); {
		case f.forged && got:
			t.Errorf("port security let through to b: %s", f.what)
		case !f.forged && !got:
			t.Errorf("port security dropped an allowed frame: %s", f.what)
		}
	}
	t.Logf("frames of a that reached b: %v", arrived)
	if got := hostNeigh(t, pool.Bridge, b.IP); got != b.MAC.String() {
		t.Errorf("host's neighbour entry for b %s: %q after the forged ARP, want b's MAC %s (a is %s)", b.IP, got, b.MAC, a.MAC)
	}
	if got := hostNeigh(t, pool.Bridge, a.IP); got != a.MAC.String() {
		t.Errorf("host's neighbour entry for a %s: %q, want %s from a's own ARP request (the control)", a.IP, got, a.MAC)
	}

	// Positive controls for the kinds a may never send: IPv6 and tagged
	// frames the host itself puts on the bridge (no port security on that
	// path) do reach b's socket.
	hrun := psRun(t)
	hostFrames := [][]byte{
		append(psEth(b.MAC, gw.MAC, unix.ETH_P_IPV6), psIPv6(psLinkLocal(gw.MAC), psLinkLocal(b.MAC), []byte("FBPS"+hrun+"h6"))...),
		psVLAN(b.MAC, gw.MAC, 12, psIPv4(gw.IP, b.IP, []byte("FBPS"+hrun+"hv"))),
	}
	hs := psSocket(t, "", pool.Bridge, false)
	for _, f := range hostFrames {
		if err := unix.Send(hs, f, 0); err != nil {
			t.Fatalf("send on %s: %v", pool.Bridge, err)
		}
	}
	for _, k := range []string{"h6", "hv"} {
		if !r.waitFor(hrun, k, 10*time.Second) {
			t.Errorf("a frame (%s) the host put on the bridge never reached b: b's socket cannot see that kind", k)
		}
	}
}
