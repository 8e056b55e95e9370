package network

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"testing"

	"github.com/fatbox/fatbox/test/harness"
)

// TestCounters: Counters names traffic from the container's point of view
// (In is what the container received, Out what it sent), counts from the
// veth's creation, and a veth made again has another index; a detached
// container is ErrNoLink. 198.19.14.0/24, in a private netns.
func TestCounters(t *testing.T) {
	privateNetns(t)
	ctx := context.Background()
	br := nwBridgeName(t)
	ns, path := nwNetns(t)
	cfg := Config{Container: harness.Name("fbn-cnt-"), Netns: path, Bridge: br, CreateBridge: true,
		BridgeAddr: netip.MustParsePrefix("198.19.14.1/24"), Addr: netip.MustParsePrefix("198.19.14.2/24"),
		Gateway: netip.MustParseAddr("198.19.14.1")}
	if _, err := Counters(cfg.Container); !errors.Is(err, ErrNoLink) {
		t.Fatalf("before attach: %v, want ErrNoLink", err)
	}
	a := nwAttach(t, cfg)
	// Resolve the neighbours both ways first, so no datagram waits on ARP.
	if err := nwPing(ns, "198.19.14.1"); err != nil {
		t.Fatal(err)
	}
	c0, err := Counters(cfg.Container)
	if err != nil {
		t.Fatal(err)
	}
	if c0.HostVeth != a.HostVeth || c0.Index == 0 || c0.PacketsIn == 0 || c0.PacketsOut == 0 {
		t.Fatalf("after a ping: %+v", c0)
	}
	const n, size = 1000, 1000
	// The host (this test, in its namespace) sends n datagrams to the
	// container: they are the container's In. An unconnected socket, so
	// the container's port-unreachable answers do not stop the sending.
	host, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP("198.19.14.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	buf := make([]byte, size)
	for range n {
		if _, err := host.WriteToUDP(buf, &net.UDPAddr{IP: net.ParseIP("198.19.14.2"), Port: 9}); err != nil {
			t.Fatal(err)
		}
	}
	c1, err := Counters(cfg.Container)
	if err != nil {
		t.Fatal(err)
	}
	in, out := c1.BytesIn-c0.BytesIn, c1.BytesOut-c0.BytesOut
	if c1.PacketsIn-c0.PacketsIn < n || in < n*size || out > in/4 {
		t.Fatalf("after the host sent %d × %d bytes to the container: in %d bytes (%d packets), out %d bytes", n, size, in, c1.PacketsIn-c0.PacketsIn, out)
	}
	// The container sends n datagrams to the host (which listens, so no
	// ICMP comes back): they are its Out.
	cmd := exec.Command("ip", "netns", "exec", ns, "bash", "-c", "dd if=/dev/zero bs=1000 count=1000 status=none > /dev/udp/198.19.14.1/"+
		strconv.Itoa(host.LocalAddr().(*net.UDPAddr).Port))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("send from the container: %v %s", err, b)
	}
	c2, err := Counters(cfg.Container)
	if err != nil {
		t.Fatal(err)
	}
	in, out = c2.BytesIn-c1.BytesIn, c2.BytesOut-c1.BytesOut
	if c2.PacketsOut-c1.PacketsOut < n || out < n*size || in > out/4 {
		t.Fatalf("after the container sent %d × %d bytes to the host: out %d bytes (%d packets), in %d bytes", n, size, out, c2.PacketsOut-c1.PacketsOut, in)
	}
	// One dump of them all (a scrape) reads the same link and figures.
	all, err := AllCounters()
	if err != nil {
		t.Fatal(err)
	}
	if got := all[cfg.Container]; got.Index != c2.Index || got.HostVeth != c2.HostVeth || got.BytesOut < c2.BytesOut || got.BytesOut > c2.BytesOut+4096 {
		t.Fatalf("AllCounters has %+v for %q, Counters %+v", got, cfg.Container, c2)
	}
	// Attached again (a restart): a new veth, counting from zero.
	if err := Detach(ctx, cfg.Container); err != nil {
		t.Fatal(err)
	}
	if _, err := Counters(cfg.Container); !errors.Is(err, ErrNoLink) {
		t.Fatalf("after detach: %v, want ErrNoLink", err)
	}
	nwAttach(t, cfg)
	c3, err := Counters(cfg.Container)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Index == c2.Index || c3.BytesOut >= c2.BytesOut || c3.BytesIn >= c2.BytesIn {
		t.Fatalf("a new veth: %+v, the old one ended at %+v", c3, c2)
	}
	// A veth of that name that is not the container's (no alias) is refused.
	if err := Detach(ctx, cfg.Container); err != nil {
		t.Fatal(err)
	}
	harness.IP(t, "link", "add", HostVethName(cfg.Container), "type", "veth", "peer", "name", harness.Name("fbnp"))
	if _, err := Counters(cfg.Container); err == nil || errors.Is(err, ErrNoLink) {
		t.Fatalf("a veth of the name without the container's alias: %v", err)
	}
	if all, err := AllCounters(); err != nil || all[cfg.Container] != (LinkCounters{}) {
		t.Fatalf("AllCounters takes a veth of the name without the container's alias: %+v (%v)", all[cfg.Container], err)
	}
}
