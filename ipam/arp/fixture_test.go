package arp

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Fixtures own every piece of kernel state they touch: the "host" (the
// bridge, its address 198.18.200.1/24, the host end of a veth pair) is a
// throwaway network namespace, and so is the neighbour at the other end of
// the veth (198.18.200.23/24). Nothing is made in the test process's own
// namespace, so the subnet cannot clash with anything. Probe, Announce and
// the tests' capture sockets run inside those namespaces (inNetns).
// Everything is deleted by t.Cleanup, and a last cleanup fails the test if
// any of it is still there.

func strict() bool { return os.Getenv("CI") == "true" || os.Getenv("FATBOX_STRICT") == "1" }

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if strict() {
			t.Fatal("needs root (AF_PACKET sockets, bridges, network namespaces)")
		}
		t.Skip("needs root (AF_PACKET sockets, bridges, network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		if strict() {
			t.Fatal("needs iproute2's ip to build fixtures")
		}
		t.Skip("needs iproute2's ip to build fixtures")
	}
}

func suffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ipDel runs a deleting ip command at cleanup; "already gone" is fine.
func ipDel(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Cannot find device") && !strings.Contains(string(out), "No such file") {
		t.Errorf("cleanup: ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

type linkInfo struct {
	Address   string `json:"address"`
	Operstate string `json:"operstate"`
}

func link(t *testing.T, ns, name string) linkInfo {
	t.Helper()
	args := []string{"-n", ns, "-j", "link", "show", "dev", name}
	var ls []linkInfo
	if err := json.Unmarshal([]byte(ipCmd(t, args...)), &ls); err != nil || len(ls) != 1 {
		t.Fatalf("ip %v: %v %v", args, ls, err)
	}
	return ls[0]
}

func linkMAC(t *testing.T, ns, name string) net.HardwareAddr {
	t.Helper()
	mac, err := net.ParseMAC(link(t, ns, name).Address)
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

func waitUp(t *testing.T, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for link(t, ns, name).Operstate != "UP" {
		if time.Now().After(deadline) {
			t.Fatalf("link %s (netns %q) not UP after 5s: %+v", name, ns, link(t, ns, name))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newNetns makes a throwaway named netns with lo up, deleted at cleanup.
func newNetns(t *testing.T, name string) {
	t.Helper()
	ipCmd(t, "netns", "add", name)
	t.Cleanup(func() { ipDel(t, "netns", "del", name) })
	ipCmd(t, "-n", name, "link", "set", "lo", "up")
}

type fixture struct {
	host      string // netns "fbta-h<6 hex>": the bridge and the host veth
	bridge    string // "fbta<6 hex>b" in host, holds 198.18.200.1/24
	hostVeth  string // "fbta<6 hex>h" in host, enslaved to bridge
	ns        string // "fbta-<6 hex>", holds eth0 with 198.18.200.23/24
	bridgeIP  netip.Addr
	nsIP      netip.Addr
	bridgeMAC net.HardwareAddr
	nsMAC     net.HardwareAddr // eth0 inside ns
}

func (f *fixture) addr(host int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, 200, byte(host)})
}

// inHost runs fn inside the fixture's host namespace.
func (f *fixture) inHost(fn func() error) error { return inNetns(f.host, fn) }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	requireRoot(t)
	s := suffix()
	f := &fixture{host: "fbta-h" + s, bridge: "fbta" + s + "b", hostVeth: "fbta" + s + "h", ns: "fbta-" + s}
	f.bridgeIP, f.nsIP = f.addr(1), f.addr(23)
	peer := "fbta" + s + "p"
	t.Cleanup(func() { checkGone(t, f.host, f.ns) }) // runs last

	newNetns(t, f.host)
	newNetns(t, f.ns)
	h := func(args ...string) { ipCmd(t, append([]string{"-n", f.host}, args...)...) }
	h("link", "add", f.bridge, "type", "bridge")
	h("addr", "add", f.bridgeIP.String()+"/24", "dev", f.bridge)
	h("link", "set", f.bridge, "up")
	h("link", "add", f.hostVeth, "type", "veth", "peer", "name", peer, "netns", f.ns)
	h("link", "set", f.hostVeth, "master", f.bridge)
	h("link", "set", f.hostVeth, "up")
	ipCmd(t, "-n", f.ns, "link", "set", peer, "name", "eth0")
	ipCmd(t, "-n", f.ns, "addr", "add", f.nsIP.String()+"/24", "dev", "eth0")
	ipCmd(t, "-n", f.ns, "link", "set", "eth0", "up")

	waitUp(t, f.host, f.hostVeth)
	waitUp(t, f.ns, "eth0")
	waitUp(t, f.host, f.bridge)
	f.bridgeMAC = linkMAC(t, f.host, f.bridge) // after enslaving: the bridge may take its port's MAC
	f.nsMAC = linkMAC(t, f.ns, "eth0")
	return f
}

// checkGone fails the test if any of the namespaces survived cleanup (their
// links go with them).
func checkGone(t *testing.T, nss ...string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		var left []string
		out, _ := exec.Command("ip", "netns", "list").CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 && slices.Contains(nss, f[0]) {
				left = append(left, "netns "+f[0])
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("left behind after cleanup: %v", left)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// inNetns runs fn on a locked OS thread inside netns ns and switches back.
// If switching back fails the thread stays locked and dies with the goroutine.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("setns back: %w", err)) // thread stays locked: discarded
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// capture is the tests' own ARP listener: an AF_PACKET socket on one
// interface of a netns, independent of the package's conn, that also sees
// frames sent from that namespace. Frames a namespace sends are queued on
// it before the send returns (taps see outgoing frames synchronously), so
// draining it after a Probe returned sees every probe that Probe sent.
type capture struct{ fd int }

func newCapture(t *testing.T, ns, ifname string) *capture {
	t.Helper()
	fd := -1
	err := inNetns(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		s, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		// ETH_P_ALL, not ETH_P_ARP: only ETH_P_ALL taps see outgoing frames too.
		if err := unix.Bind(s, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(s)
			return err
		}
		fd = s
		return nil
	})
	if err != nil {
		t.Fatalf("capture on %s in %s: %v", ifname, ns, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return &capture{fd: fd}
}

// arpFrame is a captured frame, decoded by hand (not with parseFrame).
type arpFrame struct {
	dst, src, sha, tha net.HardwareAddr
	op                 int
	spa, tpa           netip.Addr
	outgoing           bool
}

// drain returns the ARP frames queued on the socket now, without waiting.
func (c *capture) drain(t *testing.T) []arpFrame {
	t.Helper()
	var fs []arpFrame
	buf := make([]byte, 2048)
	for {
		n, from, err := unix.Recvfrom(c.fd, buf, unix.MSG_DONTWAIT)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return fs
		}
		if err != nil {
			t.Fatal(err)
		}
		b := buf[:n]
		if n < 42 || b[12] != 0x08 || b[13] != 0x06 {
			continue
		}
		fs = append(fs, arpFrame{
			dst: append(net.HardwareAddr(nil), b[0:6]...), src: append(net.HardwareAddr(nil), b[6:12]...),
			op:  int(b[20])<<8 | int(b[21]),
			sha: append(net.HardwareAddr(nil), b[22:28]...), spa: netip.AddrFrom4([4]byte(b[28:32])),
			tha: append(net.HardwareAddr(nil), b[32:38]...), tpa: netip.AddrFrom4([4]byte(b[38:42])),
			outgoing: from.(*unix.SockaddrLinklayer).Pkttype == unix.PACKET_OUTGOING,
		})
	}
}

// waitFor collects frames until match has accepted n of them (frames that
// come in through the kernel's softirq may land after the sender returned)
// or d has passed, and returns all frames collected.
func (c *capture) waitFor(t *testing.T, n int, d time.Duration, match func(arpFrame) bool) []arpFrame {
	t.Helper()
	var fs []arpFrame
	for deadline := time.Now().Add(d); ; {
		fs = append(fs, c.drain(t)...)
		got := 0
		for _, f := range fs {
			if match(f) {
				got++
			}
		}
		if got >= n || time.Now().After(deadline) {
			return fs
		}
		time.Sleep(5 * time.Millisecond)
	}
}
