package network

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/test/harness"
	"github.com/vishvananda/netlink"
)

// Test fixtures for ratelimit_test.go and portsec_test.go: a throwaway bridge
// (never attached to a real NIC) and, per "container", a netns plus a veth
// pair whose host end is a port of that bridge. All names start with "fbq",
// all addresses are in 198.19.2x.0/24, and the host gets no address or route.
// The bridge and host veths (with their qdiscs, ifb devices and nftables
// rules) live in a namespace of the test's own (privateNetns), which starts
// with no nftables table at all.

// fbqBridge moves the test into a private network namespace and creates a
// bridge there, brought up and deleted at cleanup. Call it before any other
// fixture.
func fbqBridge(t *testing.T) string {
	t.Helper()
	privateNetns(t)
	br := harness.Name("fbqbr") // 13 bytes
	harness.IP(t, "link", "add", br, "type", "bridge")
	t.Cleanup(func() { harness.IPQuiet("link", "del", br) })
	harness.IP(t, "link", "set", br, "up")
	return br
}

type fbqCtr struct {
	NS       string // network namespace
	HostVeth string // host end, a port of the bridge
	IP       netip.Addr
	MAC      net.HardwareAddr // of eth0 in NS
}

// fbqContainer creates a netns with eth0 (addr/24) whose veth peer is a port of br.
func fbqContainer(t *testing.T, br, addr string) *fbqCtr {
	t.Helper()
	c := &fbqCtr{NS: harness.Name("fbqns-"), HostVeth: harness.Name("fbqh"), IP: netip.MustParseAddr(addr)}
	peer := harness.Name("fbqp")
	harness.IP(t, "netns", "add", c.NS)
	t.Cleanup(func() { harness.IPQuiet("netns", "del", c.NS) })
	harness.IP(t, "link", "add", c.HostVeth, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { harness.IPQuiet("link", "del", c.HostVeth) })
	harness.IP(t, "link", "set", peer, "netns", c.NS)
	harness.IP(t, "-n", c.NS, "link", "set", peer, "name", "eth0")
	harness.IP(t, "-n", c.NS, "addr", "add", addr+"/24", "dev", "eth0")
	harness.IP(t, "-n", c.NS, "link", "set", "lo", "up")
	harness.IP(t, "-n", c.NS, "link", "set", "eth0", "up")
	harness.IP(t, "link", "set", c.HostVeth, "master", br)
	harness.IP(t, "link", "set", c.HostVeth, "up")
	c.MAC = fbqMAC(t, c.NS, "eth0")
	return c
}

func fbqMAC(t *testing.T, ns, dev string) net.HardwareAddr {
	t.Helper()
	var links []struct {
		Address string `json:"address"`
	}
	out := harness.IP(t, "-n", ns, "-j", "link", "show", "dev", dev)
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show %s in %s: %v: %s", dev, ns, err, out)
	}
	mac, err := net.ParseMAC(links[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// fbqHelper runs this test binary's TestRateLimitHelperProcess inside ns.
func fbqHelper(t *testing.T, ns string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := harness.InNetns(ns, exe, "-test.run=^TestRateLimitHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), append([]string{"FBQ_HELPER=1"}, env...)...)
	return cmd
}

// TestRateLimitHelperProcess is not a test: it is the TCP sender and
// receiver that the rate-limit tests run in a netns.
func TestRateLimitHelperProcess(t *testing.T) {
	if os.Getenv("FBQ_HELPER") != "1" {
		return
	}
	var err error
	switch os.Getenv("FBQ_MODE") {
	case "recv":
		err = helperRecv(os.Getenv("FBQ_ADDR"))
	case "send":
		var d time.Duration
		if d, err = time.ParseDuration(os.Getenv("FBQ_DUR")); err == nil {
			err = helperSend(os.Getenv("FBQ_ADDR"), d)
		}
	default:
		err = fmt.Errorf("unknown FBQ_MODE %q", os.Getenv("FBQ_MODE"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "FBQ helper:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// helperRecv accepts one connection, reads to EOF and prints the rate in
// bit/s measured after a warm-up (slow start, initial tbf burst).
func helperRecv(addr string) error {
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	fmt.Println("FBQ ready")
	_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
	c, err := l.Accept()
	l.Close()
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	const warmup = 500 * time.Millisecond
	buf := make([]byte, 256<<10)
	var total, b0 int64
	var first, t0 time.Time
	for {
		n, err := c.Read(buf)
		if n > 0 {
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			if t0.IsZero() && now.Sub(first) >= warmup {
				t0, b0 = now, total
			}
			total += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if t0.IsZero() {
		return fmt.Errorf("transfer too short: %d bytes", total)
	}
	el := time.Since(t0).Seconds()
	fmt.Printf("FBQ rate=%.0f bytes=%d seconds=%.3f\n", float64(total-b0)*8/el, total-b0, el)
	return nil
}

func helperSend(addr string, d time.Duration) error {
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 128<<10)
	end := time.Now().Add(d)
	_ = c.SetWriteDeadline(end.Add(20 * time.Second))
	for time.Now().Before(end) {
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
	return c.(*net.TCPConn).CloseWrite()
}

// measureTCP transfers from src to dst for d and returns the goodput in
// bit/s the receiver measured after its 0.5 s warm-up. It returns once the
// receiver has exited, so the next measurement can listen on the port again.
func measureTCP(t *testing.T, src, dst *fbqCtr, d time.Duration) float64 {
	t.Helper()
	addr := netip.AddrPortFrom(dst.IP, 5201).String()
	recv := fbqHelper(t, dst.NS, "FBQ_MODE=recv", "FBQ_ADDR="+addr)
	recv.Stderr = os.Stderr
	out, err := recv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			_ = recv.Process.Kill()
			_ = recv.Wait()
		}
	}()
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "FBQ ready" {
		t.Fatalf("receiver did not start: %q", sc.Text())
	}
	send := fbqHelper(t, src.NS, "FBQ_MODE=send", "FBQ_ADDR="+addr, "FBQ_DUR="+d.String())
	if b, err := send.CombinedOutput(); err != nil {
		t.Fatalf("sender: %v: %s", err, b)
	}
	rate := -1.0
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "FBQ rate="); ok {
			f, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s -> %s: %.1f Mbit/s (%s)", src.IP, dst.IP, f/1e6, line)
			rate = f
		}
	}
	waited = true
	if err := recv.Wait(); err != nil {
		t.Fatalf("receiver: %v", err)
	}
	if rate < 0 {
		t.Fatalf("receiver printed no rate")
	}
	return rate
}

// A shaper can only hold traffic back, and a loaded machine may fall short
// of a rate, so limits are judged against an unlimited transfer measured in
// the same test (the limited one must be well below it) and within a
// generous band of the configured rate; the speed itself is the
// benchmarks' business (test/bench/net.sh).

// requireLimited checks a transfer limited to want bit/s: at most half of
// the unlimited one, and between half and 1.2 times want.
func requireLimited(t *testing.T, what string, got, unlimited, want float64) {
	t.Helper()
	if got > unlimited/2 {
		t.Errorf("%s: %.1f Mbit/s is not well below the unlimited %.1f Mbit/s measured in this test", what, got/1e6, unlimited/1e6)
	}
	if got < want*0.5 || got > want*1.2 {
		t.Errorf("%s: %.1f Mbit/s, want %.0f Mbit/s (between 0.5 and 1.2 times)", what, got/1e6, want/1e6)
	}
}

// requireUnlimited checks a transfer that must not be limited: at least
// twice a limited one measured in the same test.
func requireUnlimited(t *testing.T, what string, got, limited float64) {
	t.Helper()
	if got < 2*limited {
		t.Errorf("%s: %.1f Mbit/s, want at least twice the limited %.1f Mbit/s measured in this test", what, got/1e6, limited/1e6)
	}
}

// tcQdiscs returns `tc qdisc show dev dev` (and fails if tc fails).
func tcQdiscs(t *testing.T, dev string) string {
	t.Helper()
	out, err := exec.Command("tc", "qdisc", "show", "dev", dev).CombinedOutput()
	if err != nil {
		t.Fatalf("tc qdisc show dev %s: %v: %s", dev, err, out)
	}
	return string(out)
}

// requireDefaultQdisc checks dev has only its default qdisc (noqueue for a veth).
func requireDefaultQdisc(t *testing.T, dev string) {
	t.Helper()
	out := strings.TrimSpace(tcQdiscs(t, dev))
	if lines := strings.Split(out, "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "qdisc noqueue 0: root") {
		t.Errorf("tc qdisc show dev %s: want only the default noqueue, got:\n%s", dev, out)
	}
}

func requireNoIfb(t *testing.T, hostVeth string) {
	t.Helper()
	if _, err := netlink.LinkByName(ifbName(hostVeth)); !isLinkNotFound(err) {
		t.Errorf("ifb %s for %s still exists (err=%v)", ifbName(hostVeth), hostVeth, err)
	}
}

// rlFixture: a bridge with two containers, a (198.19.2x.2) and b (.3).
func rlFixture(t *testing.T, subnet int) (a, b *fbqCtr) {
	br := fbqBridge(t)
	pfx := fmt.Sprintf("198.19.%d.", subnet)
	a = fbqContainer(t, br, pfx+"2")
	b = fbqContainer(t, br, pfx+"3")
	t.Cleanup(func() {
		if err := removeRateLimit(a.HostVeth); err != nil {
			t.Error(err)
		}
		if err := removeRateLimit(b.HostVeth); err != nil {
			t.Error(err)
		}
	})
	return a, b
}

const mbit = 1_000_000

// How long limited transfers run (2 s measured), and unlimited ones: those
// are hundreds of times the limits, so a short one says enough.
const (
	limitedFor   = 2500 * time.Millisecond
	unlimitedFor = time.Second
)

func TestRateLimitEgress(t *testing.T) {
	harness.RequireRoot(t)
	a, b := rlFixture(t, 20)
	unlimited := measureTCP(t, a, b, unlimitedFor)
	if err := applyRateLimit(a.HostVeth, 100*mbit, 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("tc qdisc show dev %s:\n%s", a.HostVeth, tcQdiscs(t, a.HostVeth))
	limited := measureTCP(t, a, b, limitedFor)
	requireLimited(t, "from a (egress 100mbit)", limited, unlimited, 100*mbit)
	// The other direction (ingress 0) is not limited.
	requireUnlimited(t, "to a (ingress unlimited)", measureTCP(t, b, a, unlimitedFor), limited)
}

func TestRateLimitIngress(t *testing.T) {
	harness.RequireRoot(t)
	a, b := rlFixture(t, 21)
	unlimited := measureTCP(t, b, a, unlimitedFor)
	if err := applyRateLimit(a.HostVeth, 0, 50*mbit); err != nil {
		t.Fatal(err)
	}
	t.Logf("tc qdisc show dev %s:\n%s", a.HostVeth, tcQdiscs(t, a.HostVeth))
	requireLimited(t, "to a (ingress 50mbit)", measureTCP(t, b, a, limitedFor), unlimited, 50*mbit)
	requireNoIfb(t, a.HostVeth) // egress 0: nothing installed
}

// TestRateLimitUnlimited: applying 0, 0 over a limit removes it: default
// qdisc, no ifb, and a transfer far above the old limit.
func TestRateLimitUnlimited(t *testing.T) {
	harness.RequireRoot(t)
	a, b := rlFixture(t, 22)
	if err := applyRateLimit(a.HostVeth, 10*mbit, 0); err != nil {
		t.Fatal(err)
	}
	limited := measureTCP(t, a, b, limitedFor)
	if err := applyRateLimit(a.HostVeth, 0, 0); err != nil {
		t.Fatal(err)
	}
	requireDefaultQdisc(t, a.HostVeth)
	requireNoIfb(t, a.HostVeth)
	unlimited := measureTCP(t, a, b, unlimitedFor)
	requireLimited(t, "from a (egress 10mbit, before)", limited, unlimited, 10*mbit)
	requireUnlimited(t, "from a after applying 0, 0", unlimited, limited)
}

func TestRateLimitReapplyAndRemove(t *testing.T) {
	harness.RequireRoot(t)
	a, b := rlFixture(t, 23)
	if err := applyRateLimit(a.HostVeth, 100*mbit, 100*mbit); err != nil {
		t.Fatal(err)
	}
	// Re-apply replaces both directions.
	if err := applyRateLimit(a.HostVeth, 50*mbit, 0); err != nil {
		t.Fatal(err)
	}
	q := tcQdiscs(t, a.HostVeth)
	t.Logf("after re-apply, tc qdisc show dev %s:\n%s", a.HostVeth, q)
	if strings.Contains(q, "tbf") || !strings.Contains(q, "ingress") {
		t.Errorf("after re-apply (50mbit, 0): want ingress qdisc and no tbf, got:\n%s", q)
	}
	limited := measureTCP(t, a, b, limitedFor)

	if err := removeRateLimit(a.HostVeth); err != nil {
		t.Fatal(err)
	}
	requireDefaultQdisc(t, a.HostVeth)
	requireNoIfb(t, a.HostVeth)
	if err := removeRateLimit(a.HostVeth); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	unlimited := measureTCP(t, a, b, unlimitedFor)
	requireLimited(t, "from a (egress re-applied to 50mbit)", limited, unlimited, 50*mbit)
	requireUnlimited(t, "after remove", unlimited, limited)

	// The ifb outlives a deleted veth; removal by name still cleans it up.
	if err := applyRateLimit(a.HostVeth, 10*mbit, 10*mbit); err != nil {
		t.Fatal(err)
	}
	harness.IP(t, "link", "del", a.HostVeth)
	if err := removeRateLimit(a.HostVeth); err != nil {
		t.Fatalf("remove after the veth is gone: %v", err)
	}
	requireNoIfb(t, a.HostVeth)
}

// TestRateLimitWithPortSec: Attach installs both; frames from the container
// pass the ifb first and must still hit the port-security chain of their veth.
func TestRateLimitWithPortSec(t *testing.T) {
	harness.RequireRoot(t)
	a, b := rlFixture(t, 28)
	t.Cleanup(func() {
		if err := removePortSecurity(a.HostVeth); err != nil {
			t.Error(err)
		}
	})
	if err := applyPortSecurity(a.HostVeth, a.IP, a.MAC); err != nil {
		t.Fatal(err)
	}
	unlimited := measureTCP(t, a, b, unlimitedFor)
	if err := applyRateLimit(a.HostVeth, 100*mbit, 50*mbit); err != nil {
		t.Fatal(err)
	}
	requirePing(t, a, b, true, "own addresses through the ifb")
	requireLimited(t, "from a (egress 100mbit, port security on)", measureTCP(t, a, b, limitedFor), unlimited, 100*mbit)
	setIP(t, a, "198.19.28.9")
	requirePing(t, a, b, false, "spoofed IP through the ifb")
}
