package network

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/test/harness"
)

// Fixtures of this file: every name starts with "fbn", every address is in
// 198.19.10.0/24-198.19.13.0/24, and no real NIC is ever used as an uplink
// (VLAN tests use a veth). Each root test plays "the host" in a network
// namespace of its own (privateNetns): the bridge, the host veths, the
// bridge's address and route, qdiscs and the nftables table are that
// namespace's and start from nothing. Everything is removed by t.Cleanup.

// nwNetns creates a throwaway named netns and returns its name and path.
func nwNetns(t *testing.T) (name, path string) {
	t.Helper()
	harness.RequireRoot(t)
	name = harness.Name("fbn-")
	harness.IP(t, "netns", "add", name)
	t.Cleanup(func() { harness.IPQuiet("netns", "del", name) })
	return name, "/var/run/netns/" + name
}

// nwBridgeName returns a fresh bridge name (not created) deleted at cleanup
// if something created it.
func nwBridgeName(t *testing.T) string {
	t.Helper()
	br := harness.Name("fbnb") // 12 bytes
	t.Cleanup(func() { harness.IPQuiet("link", "del", br) })
	return br
}

// nwUplink creates a veth pair standing in for a NIC: the returned end in
// the host (up), the other end's name for the caller to place.
func nwUplink(t *testing.T) (uplink, far string) {
	t.Helper()
	uplink, far = harness.Name("fbnu"), harness.Name("fbnv")
	harness.IP(t, "link", "add", uplink, "type", "veth", "peer", "name", far)
	t.Cleanup(func() { harness.IPQuiet("link", "del", uplink) })
	harness.IP(t, "link", "set", uplink, "up")
	return uplink, far
}

// nwNo8021Q names what this kernel lacks when it cannot make 802.1Q links
// ("" when it can). It tries one on a throwaway veth: EOPNOTSUPP is the
// kernel's answer for a link type it has no driver for (CONFIG_VLAN_8021Q
// off, module 8021q missing); any other failure is the test's and fails it.
func nwNo8021Q(t *testing.T) string {
	t.Helper()
	uplink, _ := nwUplink(t)
	up, err := netlink.LinkByName(uplink)
	if err != nil {
		t.Fatal(err)
	}
	v := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: harness.Name("fbnq"), ParentIndex: up.Attrs().Index}, VlanId: 2}
	switch err := netlink.LinkAdd(v); {
	case err == nil:
		if err := netlink.LinkDel(v); err != nil {
			t.Fatalf("delete the probe VLAN link %s: %v", v.Name, err)
		}
		return ""
	case errors.Is(err, unix.EOPNOTSUPP):
		return "this kernel has no 802.1Q VLAN support (CONFIG_VLAN_8021Q / module 8021q: creating a vlan link answers EOPNOTSUPP)"
	default:
		t.Fatalf("probe for 802.1Q support: create a vlan link on %s: %v", uplink, err)
		return ""
	}
}

func nwAttach(t *testing.T, cfg Config) Attachment {
	t.Helper()
	a, err := Attach(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Detach(context.Background(), cfg.Container) })
	return a
}

func nwExists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

func nwPing(ns, ip string) error {
	args := []string{"ping", "-c1", "-W1", ip}
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	var out []byte
	var err error
	for range 3 {
		if out, err = exec.Command(args[0], args[1:]...).CombinedOutput(); err == nil {
			return nil
		}
	}
	return errors.New(strings.TrimSpace(string(out)))
}

// nwNsLinks lists the links inside netns ns by name.
func nwNsLinks(t *testing.T, ns string) []netlink.Link {
	t.Helper()
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	links, err := nh.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	return links
}

func nwEth0(t *testing.T, ns string) netlink.Link {
	t.Helper()
	for _, l := range nwNsLinks(t, ns) {
		if l.Attrs().Name == ContainerIfname {
			return l
		}
	}
	t.Fatalf("netns %s has no %s", ns, ContainerIfname)
	return nil
}

func TestNames(t *testing.T) {
	if got := MACFromIP(netip.MustParseAddr("198.19.10.7")).String(); got != "02:fb:c6:13:0a:07" {
		t.Errorf("MACFromIP = %s", got)
	}
	if MACFromIP(netip.MustParseAddr("::1")) != nil {
		t.Error("MACFromIP of IPv6 is not nil")
	}
	h := HostVethName("web-01")
	if len(h) != 14 || h != HostVethName("web-01") || h == HostVethName("web-02") || !strings.HasPrefix(h, "fb") {
		t.Errorf("HostVethName = %q", h)
	}
	long := strings.Repeat("x", 200)
	if len(HostVethName(long)) > 15 || len(peerTempName(long)) > 15 || HostVethName(long) == peerTempName(long) {
		t.Error("bad names for a long container name")
	}
	if got := VLANLinkName("eth0", 100); got != "eth0.100" {
		t.Errorf("VLANLinkName(eth0, 100) = %q", got)
	}
	a, b := VLANLinkName("enp129s0f1np1", 4094), VLANLinkName("enp129s0f1np2", 4094)
	if len(a) > 15 || len(b) > 15 || a == b || !strings.HasSuffix(a, ".4094") || !strings.HasPrefix(a, "enp129") {
		t.Errorf("VLANLinkName of long uplinks: %q %q", a, b)
	}
}

func TestAttachRefuses(t *testing.T) {
	privateNetns(t)
	_, nsPath := nwNetns(t)
	br := nwBridgeName(t)
	ok := Config{Container: harness.Name("fbn-c-"), Netns: nsPath, Bridge: br, Addr: netip.MustParsePrefix("198.19.13.9/24")}
	ctx := context.Background()

	_, err := Attach(ctx, ok)
	want := `bridge "` + br + `" does not exist: create it or set create_bridge on the pool`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("missing bridge: got %v, want %q", err, want)
	}
	host := ok
	// thread-self: this thread's namespace is the test's "host"
	// (/proc/self is the main thread's, the real host's).
	host.Netns, host.CreateBridge = "/proc/thread-self/ns/net", true
	if _, err := Attach(ctx, host); err == nil || !strings.Contains(err.Error(), "host's own network namespace") {
		t.Errorf("host netns: got %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"no container":    func(c *Config) { c.Container = "" },
		"no netns":        func(c *Config) { c.Netns = "" },
		"long bridge":     func(c *Config) { c.Bridge = "fbn0123456789abc" },
		"ipv6 addr":       func(c *Config) { c.Addr = netip.MustParsePrefix("fd00::2/64") },
		"gateway outside": func(c *Config) { c.Gateway = netip.MustParseAddr("198.19.12.1") },
		"gateway is addr": func(c *Config) { c.Gateway = c.Addr.Addr() },
		"vlan no uplink":  func(c *Config) { c.VLAN = 100 },
		"vlan too big":    func(c *Config) { c.VLAN, c.Uplink = 4095, "fbnx" },
		"mtu":             func(c *Config) { c.MTU = 100 },
	} {
		c := ok
		c.CreateBridge = true
		mut(&c)
		if _, err := Attach(ctx, c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if nwExists(br) || nwExists(HostVethName(ok.Container)) {
		t.Error("a refused Attach left a link behind")
	}
}

// Two containers on one created bridge reach each other and the host; MACs
// follow the IP; re-attach keeps the MAC; a third container sees the
// gratuitous ARPs of an attach.
func TestAttachTwoContainers(t *testing.T) {
	privateNetns(t)
	ctx := context.Background()
	br := nwBridgeName(t)
	nsA, pathA := nwNetns(t)
	nsB, pathB := nwNetns(t)
	cfg := func(path, ip string) Config {
		return Config{
			Container: harness.Name("fbn-c-"), Netns: path, Bridge: br, CreateBridge: true,
			BridgeAddr: netip.MustParsePrefix("198.19.10.1/24"),
			Addr:       netip.MustParsePrefix(ip + "/24"), Gateway: netip.MustParseAddr("198.19.10.1"),
			Announce: true,
		}
	}
	cA, cB := cfg(pathA, "198.19.10.2"), cfg(pathB, "198.19.10.3")
	a := nwAttach(t, cA)
	b := nwAttach(t, cB)
	if !a.CreatedBridge || b.CreatedBridge {
		t.Errorf("CreatedBridge: first %v, second %v", a.CreatedBridge, b.CreatedBridge)
	}

	for _, c := range []struct{ from, to string }{{nsA, "198.19.10.3"}, {nsB, "198.19.10.2"}, {nsA, "198.19.10.1"}, {"", "198.19.10.2"}, {"", "198.19.10.3"}} {
		if err := nwPing(c.from, c.to); err != nil {
			t.Errorf("ping %s from %q: %v", c.to, c.from, err)
		}
	}
	for _, c := range []struct {
		ns string
		a  Attachment
	}{{nsA, a}, {nsB, b}} {
		eth0 := nwEth0(t, c.ns)
		if got, want := eth0.Attrs().HardwareAddr.String(), MACFromIP(c.a.Addr.Addr()).String(); got != want || c.a.MAC.String() != want {
			t.Errorf("%s: MAC %s, Attachment.MAC %s, want %s", c.ns, got, c.a.MAC, want)
		}
		if eth0.Attrs().MTU != DefaultMTU {
			t.Errorf("%s: MTU %d", c.ns, eth0.Attrs().MTU)
		}
		if out := harness.IP(t, "-n", c.ns, "route", "show", "default"); !strings.Contains(out, "via 198.19.10.1 dev eth0") {
			t.Errorf("%s: default route %q", c.ns, out)
		}
		hl, err := netlink.LinkByName(c.a.HostVeth)
		if err != nil {
			t.Fatal(err)
		}
		brl, _ := netlink.LinkByName(br)
		if hl.Attrs().Alias != AliasPrefix+c.a.Container || brl == nil || hl.Attrs().MasterIndex != brl.Attrs().Index {
			t.Errorf("%s: alias %q, master %d", c.a.HostVeth, hl.Attrs().Alias, hl.Attrs().MasterIndex)
		}
	}

	// Detach and re-attach A: same MAC, reachable again, bridge kept.
	if err := Detach(ctx, cA.Container); err != nil {
		t.Fatal(err)
	}
	if nwExists(a.HostVeth) || len(nwNsLinks(t, nsA)) != 1 {
		t.Fatal("Detach left the veth behind")
	}
	if !nwExists(br) {
		t.Fatal("Detach removed the bridge")
	}
	a2, err := Attach(ctx, cA)
	if err != nil {
		t.Fatal(err)
	}
	if got := nwEth0(t, nsA).Attrs().HardwareAddr.String(); got != a.MAC.String() || a2.MAC.String() != a.MAC.String() {
		t.Errorf("re-attach MAC %s, was %s", got, a.MAC)
	}
	if err := nwPing(nsB, "198.19.10.2"); err != nil {
		t.Errorf("ping after re-attach: %v", err)
	}

	// B sniffs while D attaches: D's burst of gratuitous ARPs arrives.
	_, pathD := nwNetns(t)
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	dump := exec.CommandContext(tctx, "ip", "netns", "exec", nsB, "tcpdump", "-i", "eth0", "-n", "-e", "-l", "-c", "3", "arp and host 198.19.10.4")
	stdout, _ := dump.StdoutPipe()
	stderr, _ := dump.StderrPipe()
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				close(ready)
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-ready:
	case <-tctx.Done():
		t.Fatal("tcpdump did not start")
	}
	d := nwAttach(t, cfg(pathD, "198.19.10.4"))
	var lines []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	_ = dump.Wait()
	if len(lines) != 3 {
		t.Fatalf("tcpdump saw %d ARP packets, want 3: %q", len(lines), lines)
	}
	for _, l := range lines {
		if !strings.Contains(l, d.MAC.String()) || !strings.Contains(l, "Request who-has 198.19.10.4 tell 198.19.10.4") {
			t.Errorf("not a gratuitous ARP from %s: %s", d.MAC, l)
		}
	}
}

// A VLAN pool gets <uplink>.<vlan> (or its short form) on the bridge, and
// traffic leaves tagged through the uplink: only a router on VLAN 100 at the
// far end of the uplink answers. On a kernel without 802.1Q the test checks
// what a user gets there (a clear refusal, nothing left behind) and then
// ends as "not run on this host": the tagged path did not run, so it does
// not pass.
func TestAttachVLAN(t *testing.T) {
	privateNetns(t)
	ctx := context.Background()
	if missing := nwNo8021Q(t); missing != "" {
		_, path := nwNetns(t)
		br := nwBridgeName(t)
		uplink, _ := nwUplink(t)
		cfg := Config{Container: harness.Name("fbn-c-"), Netns: path, Bridge: br, CreateBridge: true, VLAN: 100, Uplink: uplink,
			Addr: netip.MustParsePrefix("198.19.11.2/24")}
		_, err := Attach(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "no 802.1Q VLAN support") {
			t.Errorf("VLAN attach on a kernel without 802.1Q: %v", err)
		}
		if nwExists(br) || nwExists(HostVethName(cfg.Container)) {
			t.Error("the failed VLAN attach left links behind")
		}
		harness.NotRun(t, "%s; the refusal was checked, the tagged path (VLAN link on the bridge, tagged frames through the uplink) did not run", missing)
	}
	br := nwBridgeName(t)
	uplink, far := nwUplink(t)
	// The far end of the "wire" sits in its own netns with a VLAN 100
	// interface: a stand-in for a router on the tagged segment.
	nsR, _ := nwNetns(t)
	harness.IP(t, "link", "set", far, "netns", nsR)
	harness.IP(t, "-n", nsR, "link", "set", far, "up")
	harness.IP(t, "-n", nsR, "link", "add", "link", far, "name", "v100", "type", "vlan", "id", "100")
	harness.IP(t, "-n", nsR, "addr", "add", "198.19.11.200/24", "dev", "v100")
	harness.IP(t, "-n", nsR, "link", "set", "v100", "up")

	nsA, pathA := nwNetns(t)
	_, pathB := nwNetns(t)
	cfg := func(path, ip string) Config {
		return Config{Container: harness.Name("fbn-c-"), Netns: path, Bridge: br, CreateBridge: true, VLAN: 100, Uplink: uplink,
			Addr: netip.MustParsePrefix(ip + "/24"), Gateway: netip.MustParseAddr("198.19.11.200"), Announce: true}
	}
	a := nwAttach(t, cfg(pathA, "198.19.11.2"))
	t.Cleanup(func() { harness.IPQuiet("link", "del", a.VLANLink) })
	if want := VLANLinkName(uplink, 100); a.VLANLink != want || !a.CreatedVLAN || len(want) > 15 {
		t.Fatalf("VLANLink %q (created %v), want %q", a.VLANLink, a.CreatedVLAN, want)
	}
	l, err := netlink.LinkByName(a.VLANLink)
	if err != nil {
		t.Fatal(err)
	}
	up, _ := netlink.LinkByName(uplink)
	brl, _ := netlink.LinkByName(br)
	v, ok := l.(*netlink.Vlan)
	if !ok || v.VlanId != 100 || v.ParentIndex != up.Attrs().Index || v.MasterIndex != brl.Attrs().Index || v.Flags&net.FlagUp == 0 {
		t.Fatalf("VLAN link %s: %#v", a.VLANLink, l)
	}
	if out := harness.IP(t, "-d", "link", "show", a.VLANLink); !strings.Contains(out, "vlan protocol 802.1Q id 100") || !strings.Contains(out, "master "+br) {
		t.Errorf("ip -d link show %s: %s", a.VLANLink, out)
	}
	if up.Attrs().MasterIndex != 0 {
		t.Error("the uplink itself was enslaved")
	}
	if err := nwPing(nsA, "198.19.11.200"); err != nil {
		t.Errorf("ping across VLAN 100: %v", err)
	}
	b := nwAttach(t, cfg(pathB, "198.19.11.3"))
	if b.VLANLink != a.VLANLink || b.CreatedVLAN {
		t.Errorf("second attach: VLANLink %q created %v", b.VLANLink, b.CreatedVLAN)
	}
	for _, c := range []string{a.Container, b.Container} {
		if err := Detach(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if !nwExists(a.VLANLink) || !nwExists(br) {
		t.Error("Detach removed the shared VLAN link or bridge")
	}
}

var errInjected = errors.New("injected fault")

// A failure after any step of Attach leaves nothing it created behind, and
// the same Attach then succeeds: for a pool without VLAN (the vlan step is
// then part of the path and does nothing) ...
func TestAttachFaultAtEachStep(t *testing.T) {
	testAttachFaults(t, 0)
}

// ... and for a VLAN pool, whose VLAN link Attach creates and must remove
// again. Without 802.1Q in the kernel this path cannot run: not run here.
func TestAttachFaultAtEachStepVLAN(t *testing.T) {
	privateNetns(t)
	if missing := nwNo8021Q(t); missing != "" {
		harness.NotRun(t, "%s; a failure at each step of a VLAN attach (its VLAN link undone) did not run", missing)
	}
	testAttachFaults(t, 12)
}

func testAttachFaults(t *testing.T, vlan int) {
	ctx := context.Background()
	for _, step := range attachSteps {
		t.Run(step, func(t *testing.T) {
			privateNetns(t)
			br := nwBridgeName(t)
			uplink, _ := nwUplink(t)
			ns, path := nwNetns(t)
			cfg := Config{Container: harness.Name("fbn-c-"), Netns: path, Bridge: br, CreateBridge: true,
				BridgeAddr: netip.MustParsePrefix("198.19.12.1/24"), VLAN: vlan, Uplink: uplink, MTU: 1400,
				Addr: netip.MustParsePrefix("198.19.12.2/24"), Gateway: netip.MustParseAddr("198.19.12.1"),
				EgressBits: 50_000_000, IngressBits: 60_000_000, Announce: true}
			var seen []string
			_, err := attach(ctx, cfg, attachOpts{fault: func(s string) error {
				seen = append(seen, s)
				if s == step {
					return errInjected
				}
				return nil
			}})
			if !errors.Is(err, errInjected) {
				t.Fatalf("attach: %v", err)
			}
			if want := attachSteps[:slices.Index(attachSteps, step)+1]; !slices.Equal(seen, want) {
				t.Errorf("steps run %v, want %v", seen, want)
			}
			nwRequireClean(t, cfg, ns, true)

			a, err := Attach(ctx, cfg)
			if err != nil {
				t.Fatalf("attach after the fault: %v", err)
			}
			if !a.CreatedBridge || a.CreatedVLAN != (vlan != 0) {
				t.Errorf("attach after the fault did not create bridge/VLAN: %+v", a)
			}
			if err := Detach(ctx, cfg.Container); err != nil {
				t.Fatal(err)
			}
			nwRequireClean(t, cfg, ns, false)
		})
	}
	// With a bridge (and VLAN link) that already exist, a late failure keeps them.
	t.Run("existing-bridge", func(t *testing.T) {
		privateNetns(t)
		br := nwBridgeName(t)
		harness.IP(t, "link", "add", br, "type", "bridge")
		uplink, far := nwUplink(t)
		vl := far // without VLAN, another port of the bridge
		if vlan != 0 {
			vl = VLANLinkName(uplink, vlan)
			harness.IP(t, "link", "add", "link", uplink, "name", vl, "type", "vlan", "id", fmt.Sprint(vlan))
		}
		harness.IP(t, "link", "set", vl, "master", br, "up")
		ns, path := nwNetns(t)
		cfg := Config{Container: harness.Name("fbn-c-"), Netns: path, Bridge: br, VLAN: vlan, Uplink: uplink,
			Addr: netip.MustParsePrefix("198.19.12.3/24"), EgressBits: 1_000_000, Announce: true}
		_, err := attach(ctx, cfg, attachOpts{fault: func(s string) error {
			if s == "announce" {
				return errInjected
			}
			return nil
		}})
		if !errors.Is(err, errInjected) {
			t.Fatalf("attach: %v", err)
		}
		if !nwExists(br) || !nwExists(vl) {
			t.Fatal("a failed Attach removed a bridge or VLAN link it did not create")
		}
		if out := harness.IP(t, "-o", "link", "show", "master", br); !strings.Contains(out, vl) || strings.Contains(out, HostVethName(cfg.Container)) {
			t.Errorf("ports of %s: %s", br, out)
		}
		nwRequireClean(t, cfg, ns, false)
	})
}

// nwRequireClean checks that nothing of cfg's attach is left: no veth (host
// or temporary peer), no ifb, no qdisc, no nftables rule, nothing but lo in
// the netns, and, when created, no bridge or VLAN link.
func nwRequireClean(t *testing.T, cfg Config, ns string, createdGone bool) {
	t.Helper()
	host := HostVethName(cfg.Container)
	for _, n := range []string{host, peerTempName(cfg.Container), ifbName(host)} {
		if nwExists(n) {
			t.Errorf("link %s left behind", n)
		}
	}
	if createdGone {
		for _, n := range []string{cfg.Bridge, VLANLinkName(cfg.Uplink, cfg.VLAN)} {
			if nwExists(n) {
				t.Errorf("created link %s left behind", n)
			}
		}
	}
	if out, err := exec.Command("tc", "qdisc", "show", "dev", host).CombinedOutput(); err == nil {
		t.Errorf("tc qdisc show dev %s: %s", host, out)
	}
	out, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset: %v: %s", err, out)
	}
	if strings.Contains(string(out), host) {
		t.Errorf("nftables still mentions %s:\n%s", host, out)
	}
	if links := nwNsLinks(t, ns); len(links) != 1 || links[0].Attrs().Name != "lo" {
		var names []string
		for _, l := range links {
			names = append(names, l.Attrs().Name)
		}
		t.Errorf("netns %s holds %v", ns, names)
	}
}

func TestDetachAndOrphans(t *testing.T) {
	privateNetns(t)
	ctx := context.Background()
	br := nwBridgeName(t)
	_, pathA := nwNetns(t)
	_, pathB := nwNetns(t)
	cfg := func(path, ip string) Config {
		return Config{Container: harness.Name("fbn-c-"), Netns: path, Bridge: br, CreateBridge: true,
			Addr: netip.MustParsePrefix(ip + "/24"), EgressBits: 10_000_000}
	}
	if err := Detach(ctx, harness.Name("fbn-never-")); err != nil {
		t.Errorf("Detach of a never-attached container: %v", err)
	}
	cA, cB := cfg(pathA, "198.19.13.2"), cfg(pathB, "198.19.13.3")
	nwAttach(t, cA)
	for i := range 2 {
		if err := Detach(ctx, cA.Container); err != nil {
			t.Fatalf("Detach #%d: %v", i+1, err)
		}
	}
	a := nwAttach(t, cA)
	b := nwAttach(t, cB)

	owned, err := Owned()
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, l := range owned {
		if (l.Container == cA.Container && l.Name == a.HostVeth) || (l.Container == cB.Container && l.Name == b.HostVeth) {
			found++
			if l.Bridge != br {
				t.Errorf("%s: bridge %q", l.Name, l.Bridge)
			}
		}
	}
	if found != 2 {
		t.Fatalf("Owned found %d of 2: %+v", found, owned)
	}

	if _, err := RemoveOrphans(ctx, nil); err == nil {
		t.Error("RemoveOrphans(nil) did not refuse")
	}
	if !nwExists(a.HostVeth) || !nwExists(b.HostVeth) {
		t.Fatal("RemoveOrphans(nil) removed something")
	}
	// B is the only container this run treats as dead.
	removed, err := removeOrphans(ctx, func(c string) bool { return c != cB.Container })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{cB.Container}) {
		t.Errorf("removed %v, want [%s]", removed, cB.Container)
	}
	if !nwExists(a.HostVeth) || nwExists(b.HostVeth) || nwExists(ifbName(b.HostVeth)) {
		t.Errorf("after RemoveOrphans: A exists %v, B exists %v", nwExists(a.HostVeth), nwExists(b.HostVeth))
	}

	// Leftovers of a crashed Attach: a veth with or without the alias.
	for _, alias := range []string{"", AliasPrefix} {
		c := harness.Name("fbn-crash-")
		h := HostVethName(c)
		harness.IP(t, "link", "add", h, "type", "veth", "peer", "name", peerTempName(c))
		t.Cleanup(func() { harness.IPQuiet("link", "del", h) })
		if alias != "" {
			harness.IP(t, "link", "set", h, "alias", alias+c)
		}
		if err := Detach(ctx, c); err != nil || nwExists(h) || nwExists(peerTempName(c)) {
			t.Errorf("Detach of a crashed attach (alias %q): %v", alias, err)
		}
	}
	// A link with our name but somebody else's alias is left alone.
	c := harness.Name("fbn-other-")
	h := HostVethName(c)
	harness.IP(t, "link", "add", h, "type", "veth", "peer", "name", peerTempName(c))
	t.Cleanup(func() { harness.IPQuiet("link", "del", h) })
	harness.IP(t, "link", "set", h, "alias", "someone-else")
	if err := Detach(ctx, c); err == nil || !nwExists(h) {
		t.Errorf("Detach of a foreign link: %v, exists %v", err, nwExists(h))
	}
}
