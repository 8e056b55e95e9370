package network

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/test/harness"
	"golang.org/x/sys/unix"
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

func requirePing(t *testing.T, from *fbqCtr, to *fbqCtr, want bool, what string) {
	t.Helper()
	if got := canPing(from, to.IP); got != want {
		t.Errorf("%s: ping %s -> %s = %v, want %v", what, from.NS, to.IP, got, want)
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
func TestPortSecARPSpoof(t *testing.T) {
	a, b, c := psFixture(t, 27)
	requirePing(t, b, c, true, "b -> c")
	requirePing(t, a, b, true, "a -> b")
	// Linux ignores ARP updates within locktime (1 s) of the last update.
	time.Sleep(1500 * time.Millisecond)

	spoof := func() {
		t.Helper()
		// Unicast reply to b, a broadcast gratuitous request, and a request
		// for b's own address (which b answers, learning the sender).
		for _, env := range [][]string{
			{"FBQ_OP=2", "FBQ_ETHDST=" + b.MAC.String(), "FBQ_THA=" + b.MAC.String(), "FBQ_TPA=" + b.IP.String()},
			{"FBQ_OP=1", "FBQ_ETHDST=ff:ff:ff:ff:ff:ff", "FBQ_THA=00:00:00:00:00:00", "FBQ_TPA=" + c.IP.String()},
			{"FBQ_OP=1", "FBQ_ETHDST=" + b.MAC.String(), "FBQ_THA=00:00:00:00:00:00", "FBQ_TPA=" + b.IP.String()},
		} {
			cmd := fbqHelper(t, a.NS, append([]string{"FBQ_MODE=arp", "FBQ_IFACE=eth0",
				"FBQ_SHA=" + a.MAC.String(), "FBQ_SPA=" + c.IP.String()}, env...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("arp helper: %v: %s", err, out)
			}
		}
		time.Sleep(300 * time.Millisecond)
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
	// The ping above refreshed b's entry for c; a refreshed entry ignores
	// ARP within locktime, which made this control flaky under load. With
	// no entry, b learns c's address from whoever asks for b's.
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
			t.Logf("%s neighbour %s: %s %v", ctr.NS, ip, n.LLAddr, n.State)
			return n.LLAddr
		}
	}
	return ""
}

// helperARP sends a forged ARP frame (run in a netns by TestRateLimitHelperProcess).
func helperARP() error {
	ifi, err := net.InterfaceByName(os.Getenv("FBQ_IFACE"))
	if err != nil {
		return err
	}
	mac := func(k string) (net.HardwareAddr, error) { return net.ParseMAC(os.Getenv(k)) }
	ip4 := func(k string) ([4]byte, error) {
		a, err := netip.ParseAddr(os.Getenv(k))
		return a.As4(), err
	}
	dst, err := mac("FBQ_ETHDST")
	if err != nil {
		return err
	}
	sha, err := mac("FBQ_SHA")
	if err != nil {
		return err
	}
	tha, err := mac("FBQ_THA")
	if err != nil {
		return err
	}
	spa, err := ip4("FBQ_SPA")
	if err != nil {
		return err
	}
	tpa, err := ip4("FBQ_TPA")
	if err != nil {
		return err
	}
	op := uint16(1)
	if os.Getenv("FBQ_OP") == "2" {
		op = 2
	}
	f := make([]byte, 0, 60)
	f = append(f, dst...)
	f = append(f, ifi.HardwareAddr...)
	f = binary.BigEndian.AppendUint16(f, unix.ETH_P_ARP)
	f = append(f, 0, 1, 8, 0, 6, 4)
	f = binary.BigEndian.AppendUint16(f, op)
	f = append(f, sha...)
	f = append(f, spa[:]...)
	f = append(f, tha...)
	f = append(f, tpa[:]...)
	for len(f) < 60 {
		f = append(f, 0)
	}
	proto := int(htons(unix.ETH_P_ARP))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, proto)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifi.Index, Halen: 6}
	copy(sa.Addr[:], dst)
	for range 3 {
		if err := unix.Sendto(fd, f, 0, sa); err != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
