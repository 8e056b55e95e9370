package arp

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Fixtures use 198.18.X.0/24 with X random in 200..250 (other engineers'
// tests use other 198.18.* subnets), a throwaway bridge that is never attached
// to a real NIC, and a throwaway netns joined to it by a veth pair. No routes
// beyond the connected /24 are added. Everything is deleted by t.Cleanup, and
// a last cleanup fails the test if any of it is still there.

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
	args := []string{"-j", "link", "show", "dev", name}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
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

// pickSubnet returns a random X in 200..250 with no 198.18.X.* address on the host.
func pickSubnet(t *testing.T) int {
	t.Helper()
	addrs := ipCmd(t, "-4", "-o", "addr", "show")
	for range 50 {
		n, _ := rand.Int(rand.Reader, big.NewInt(51))
		x := 200 + int(n.Int64())
		if !strings.Contains(addrs, fmt.Sprintf(" 198.18.%d.", x)) {
			return x
		}
	}
	t.Fatal("no free 198.18.200-250.0/24 subnet on this host")
	return 0
}

type fixture struct {
	x         int
	bridge    string // "fbta<6 hex>b", holds 198.18.X.1/24
	hostVeth  string // "fbta<6 hex>h", enslaved to bridge
	ns        string // "fbta-<6 hex>", holds eth0 with 198.18.X.23/24
	bridgeIP  netip.Addr
	nsIP      netip.Addr
	bridgeMAC net.HardwareAddr
	nsMAC     net.HardwareAddr // eth0 inside ns
}

func (f *fixture) addr(host int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(f.x), byte(host)})
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	requireRoot(t)
	s := suffix()
	f := &fixture{x: pickSubnet(t), bridge: "fbta" + s + "b", hostVeth: "fbta" + s + "h", ns: "fbta-" + s}
	f.bridgeIP, f.nsIP = f.addr(1), f.addr(23)
	peer := "fbta" + s + "p"
	t.Cleanup(func() { checkGone(t, []string{f.bridge, f.hostVeth, peer}, f.ns) }) // runs last

	ipCmd(t, "link", "add", f.bridge, "type", "bridge")
	t.Cleanup(func() { ipDel(t, "link", "del", f.bridge) })
	ipCmd(t, "addr", "add", f.bridgeIP.String()+"/24", "dev", f.bridge)
	ipCmd(t, "link", "set", f.bridge, "up")

	ipCmd(t, "netns", "add", f.ns)
	t.Cleanup(func() { ipDel(t, "netns", "del", f.ns) })
	ipCmd(t, "-n", f.ns, "link", "set", "lo", "up")

	ipCmd(t, "link", "add", f.hostVeth, "type", "veth", "peer", "name", peer, "netns", f.ns)
	t.Cleanup(func() { ipDel(t, "link", "del", f.hostVeth) }) // takes the peer with it
	ipCmd(t, "link", "set", f.hostVeth, "master", f.bridge)
	ipCmd(t, "link", "set", f.hostVeth, "up")
	ipCmd(t, "-n", f.ns, "link", "set", peer, "name", "eth0")
	ipCmd(t, "-n", f.ns, "addr", "add", f.nsIP.String()+"/24", "dev", "eth0")
	ipCmd(t, "-n", f.ns, "link", "set", "eth0", "up")

	waitUp(t, "", f.hostVeth)
	waitUp(t, f.ns, "eth0")
	waitUp(t, "", f.bridge)
	f.bridgeMAC = linkMAC(t, "", f.bridge) // after enslaving: the bridge may take its port's MAC
	f.nsMAC = linkMAC(t, f.ns, "eth0")
	return f
}

// checkGone fails the test if any of links or netns ns survived cleanup.
func checkGone(t *testing.T, links []string, ns string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		var left []string
		out, _ := exec.Command("ip", "-o", "link", "show").CombinedOutput()
		for _, l := range links {
			if strings.Contains(string(out), ": "+l+":") || strings.Contains(string(out), ": "+l+"@") {
				left = append(left, "link "+l)
			}
		}
		if ns != "" {
			out, _ := exec.Command("ip", "netns", "list").CombinedOutput()
			for _, line := range strings.Split(string(out), "\n") {
				if f := strings.Fields(line); len(f) > 0 && f[0] == ns {
					left = append(left, "netns "+ns)
				}
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

// capture is the tests' own ARP listener: a blocking AF_PACKET socket on one
// interface, independent of the package's conn, that also sees frames sent
// from this host.
type capture struct{ fd int }

func newCapture(t *testing.T, ifname string) *capture {
	t.Helper()
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	// ETH_P_ALL, not ETH_P_ARP: only ETH_P_ALL taps see outgoing frames too.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval((20 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	return &capture{fd: fd}
}

// arpFrame is a captured frame, decoded by hand (not with parseFrame).
type arpFrame struct {
	dst, src, sha, tha net.HardwareAddr
	op                 int
	spa, tpa           netip.Addr
	outgoing           bool
}

// frames returns the ARP frames received until d has passed.
func (c *capture) frames(t *testing.T, d time.Duration) []arpFrame {
	t.Helper()
	var fs []arpFrame
	buf := make([]byte, 2048)
	for end := time.Now().Add(d); time.Now().Before(end); {
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
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
	return fs
}
