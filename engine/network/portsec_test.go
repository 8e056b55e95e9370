package network

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/test/harness"
)

// psFixture: a bridge with a protected container a (.3 — port security on) and
// two unprotected neighbours b (.2) and c (.4), in 198.19.<subnet>.0/24.
func psFixture(t *testing.T, subnet int) (a, b, c *fbqCtr) {
	t.Helper()
	harness.RequireRoot(t)
	br := fbqBridge(t)
	pfx := fmt.Sprintf("198.19.%d.", subnet)
	b = fbqContainer(t, br, pfx+"2")
	a = fbqContainer(t, br, pfx+"3")
	c = fbqContainer(t, br, pfx+"4")
	t.Cleanup(func() {
		if err := removePortSecurity(a.HostVeth); err != nil {
			t.Error(err)
		}
		if rs := nftRuleset(t); strings.Contains(rs, a.HostVeth) {
			t.Errorf("nft ruleset still mentions %s after cleanup:\n%s", a.HostVeth, rs)
		}
	})
	if err := applyPortSecurity(a.HostVeth, a.IP, a.MAC); err != nil {
		t.Fatal(err)
	}
	return a, b, c
}

func nftRuleset(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset: %v: %s", err, out)
	}
	return string(out)
}

// canPing reports whether from can ping to (2 tries, 1 s each).
func canPing(from *fbqCtr, to netip.Addr) bool {
	return harness.InNetns(from.NS, "ping", "-n", "-q", "-c", "2", "-i", "0.2", "-W", "1", to.String()).Run() == nil
}

// requirePing checks that from reaches to (want true: pinged again until
// an answer comes, for up to 10 s, so a loaded machine is no failure) or
// gets no answer (want false: one round of 2 pings; the frame-level proof
// that spoofed frames are dropped is TestPortSecDropsFrames, which orders
// its check after an allowed fence frame instead of waiting).
func requirePing(t *testing.T, from *fbqCtr, to *fbqCtr, want bool, what string) {
	t.Helper()
	if !want {
		if canPing(from, to.IP) {
			t.Errorf("%s: ping %s -> %s answered, want no answer", what, from.NS, to.IP)
		}
		return
	}
	for deadline := time.Now().Add(10 * time.Second); !canPing(from, to.IP); {
		if time.Now().After(deadline) {
			t.Errorf("%s: ping %s -> %s got no answer within 10 s", what, from.NS, to.IP)
			return
		}
	}
}

// setIP replaces ctr's eth0 address (and flushes its neighbour cache).
func setIP(t *testing.T, ctr *fbqCtr, addr string) {
	t.Helper()
	harness.IP(t, "-n", ctr.NS, "addr", "flush", "dev", "eth0")
	harness.IP(t, "-n", ctr.NS, "addr", "add", addr+"/24", "dev", "eth0")
	harness.IP(t, "-n", ctr.NS, "neigh", "flush", "dev", "eth0")
}

func TestPortSecAllowsOwnAddresses(t *testing.T) {
	a, b, c := psFixture(t, 24)
	rs := nftRuleset(t)
	t.Logf("nft ruleset:\n%s", rs)
	requirePing(t, a, b, true, "own IP and MAC")
	requirePing(t, b, a, true, "neighbour to protected")
	requirePing(t, a, c, true, "own IP and MAC")

	// Re-applying replaces rather than duplicates.
	if err := applyPortSecurity(a.HostVeth, a.IP, a.MAC); err != nil {
		t.Fatal(err)
	}
	rs = nftRuleset(t)
	if n := strings.Count(rs, `iifname "`+a.HostVeth+`"`); n != 1 {
		t.Errorf("after re-apply: %d jump rules for %s, want 1:\n%s", n, a.HostVeth, rs)
	}
	if n := strings.Count(rs, "chain ps-"+a.HostVeth+" "); n != 1 {
		t.Errorf("after re-apply: %d chains for %s, want 1:\n%s", n, a.HostVeth, rs)
	}
	requirePing(t, a, b, true, "after re-apply")

	// Unprotected neighbours are unaffected by a's rules.
	setIP(t, b, "198.19.24.12")
	requirePing(t, b, c, true, "unprotected neighbour with a new IP")
}

func TestPortSecIPSpoof(t *testing.T) {
	a, b, c := psFixture(t, 25)
	requirePing(t, a, b, true, "before spoofing")

	setIP(t, a, "198.19.25.5") // another, unassigned address
	requirePing(t, a, b, false, "a spoofing 198.19.25.5")
	requirePing(t, a, c, false, "a spoofing 198.19.25.5")

	setIP(t, a, c.IP.String()) // the neighbour's address
	requirePing(t, a, b, false, "a spoofing c's IP")

	if err := removePortSecurity(a.HostVeth); err != nil {
		t.Fatal(err)
	}
	if rs := nftRuleset(t); strings.Contains(rs, a.HostVeth) {
		t.Errorf("after removePortSecurity the ruleset still mentions %s:\n%s", a.HostVeth, rs)
	}
	if err := removePortSecurity(a.HostVeth); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	setIP(t, a, "198.19.25.5")
	requirePing(t, a, b, true, "changed IP after removePortSecurity")
}

func TestPortSecMACSpoof(t *testing.T) {
	a, b, c := psFixture(t, 26)
	requirePing(t, a, b, true, "before spoofing")

	harness.IP(t, "-n", a.NS, "link", "set", "eth0", "address", "02:fb:9e:00:00:26")
	// Forget a's old MAC everywhere, so only the filter can stop the pings.
	flushNeigh := func() {
		for _, x := range []*fbqCtr{a, b, c} {
			harness.IP(t, "-n", x.NS, "neigh", "flush", "dev", "eth0")
		}
	}
	flushNeigh()
	requirePing(t, a, b, false, "a with a new MAC")
	requirePing(t, a, c, false, "a with a new MAC")

	if err := removePortSecurity(a.HostVeth); err != nil {
		t.Fatal(err)
	}
	flushNeigh()
	requirePing(t, a, b, true, "new MAC after removePortSecurity")
}

// TestPortSecARPSpoof: a sends ARP replies and gratuitous ARP claiming c's IP
// with its own (permitted) MAC; b's neighbour entry for c must stay c's MAC.
// Without port security the same frames poison b's cache, which shows the
// check can see poisoning at all.
//
// The check is ordered, not timed: the forged frames go out from one thread
// pinned to one CPU followed by an allowed fence (a's own request for b's
// address, from which b learns a's address), and b's cache is read once b
// has learnt a.
func TestPortSecARPSpoof(t *testing.T) {
	a, b, c := psFixture(t, 27)
	requirePing(t, b, c, true, "b -> c")
	requirePing(t, a, b, true, "a -> b")
	// Linux ignores ARP replies within locktime (1 s) of an entry's last
	// update: this makes sure the unicast reply below could overwrite c's.
	time.Sleep(1500 * time.Millisecond)

	send := psSocket(t, NetnsDir+"/"+a.NS, "eth0", false)
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	zero := make(net.HardwareAddr, 6)
	spoof := func() {
		t.Helper()
		harness.IPQuiet("-n", b.NS, "neigh", "del", a.IP.String(), "dev", "eth0")
		frames := [][]byte{
			// a unicast reply to b, a broadcast gratuitous request, and a
			// request for b's own address (which b answers, learning the sender)
			arpFrame(b.MAC, a.MAC, 2, a.MAC, c.IP, b.MAC, b.IP, nil),
			arpFrame(bcast, a.MAC, 1, a.MAC, c.IP, zero, c.IP, nil),
			arpFrame(b.MAC, a.MAC, 1, a.MAC, c.IP, zero, b.IP, nil),
			// the fence
			arpFrame(b.MAC, a.MAC, 1, a.MAC, a.IP, zero, b.IP, nil),
		}
		if err := psSend(send, frames); err != nil {
			t.Fatalf("send the ARP frames: %v", err)
		}
		for deadline := time.Now().Add(10 * time.Second); neighMAC(t, b, a.IP) != a.MAC.String(); {
			if time.Now().After(deadline) {
				t.Fatalf("b never learnt a's address from the fence frame")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	spoof()
	if got := neighMAC(t, b, c.IP); got != c.MAC.String() {
		t.Errorf("with port security, b's neighbour entry for %s = %q, want c's MAC %s (a is %s)", c.IP, got, c.MAC, a.MAC)
	}
	requirePing(t, b, c, true, "b -> c after the spoofing attempt")

	// Control: without port security the same frames do poison b's cache.
	if err := removePortSecurity(a.HostVeth); err != nil {
		t.Fatal(err)
	}
	// With no entry for c, b learns c's address from whoever asks for b's,
	// whatever its locktime.
	harness.IP(t, "-n", b.NS, "neigh", "del", c.IP.String(), "dev", "eth0")
	spoof()
	if got := neighMAC(t, b, c.IP); got != a.MAC.String() {
		t.Errorf("control without port security: b's neighbour entry for %s = %q, want a's MAC %s (poisoned)", c.IP, got, a.MAC)
	}
}

// neighMAC is ctr's neighbour-cache MAC for ip ("" if none).
func neighMAC(t *testing.T, ctr *fbqCtr, ip netip.Addr) string {
	t.Helper()
	var ns []struct {
		Dst    string   `json:"dst"`
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	out := harness.IP(t, "-n", ctr.NS, "-j", "neigh", "show", "dev", "eth0")
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		t.Fatalf("ip -j neigh: %v: %s", err, out)
	}
	for _, n := range ns {
		if n.Dst == ip.String() {
			return n.LLAddr
		}
	}
	return ""
}

// htons converts a 16-bit value to network byte order.
func htons(v uint16) uint16 { return v<<8 | v>>8 }
