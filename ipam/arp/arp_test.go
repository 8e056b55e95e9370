package arp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Tier 1: no root needed.

func TestConflictRules(t *testing.T) {
	ip := netip.MustParseAddr("198.18.200.23")
	self := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	other := net.HardwareAddr{2, 0, 0, 0, 0, 2}
	zero := netip.IPv4Unspecified()
	someone := netip.MustParseAddr("198.18.200.7")
	for _, c := range []struct {
		name string
		p    packet
		want bool
	}{
		{"reply from owner", packet{op: opReply, sha: other, spa: ip, tha: self, tpa: zero}, true},
		{"announcement by owner", packet{op: opRequest, sha: other, spa: ip, tha: zeroMAC, tpa: ip}, true},
		{"owner resolving someone", packet{op: opRequest, sha: other, spa: ip, tha: zeroMAC, tpa: someone}, true},
		{"simultaneous probe from another host", packet{op: opRequest, sha: other, spa: zero, tha: zeroMAC, tpa: ip}, true},
		{"our own probe", packet{op: opRequest, sha: self, spa: zero, tha: zeroMAC, tpa: ip}, false},
		{"someone resolving ip", packet{op: opRequest, sha: other, spa: someone, tha: zeroMAC, tpa: ip}, false},
		{"probe for another address", packet{op: opRequest, sha: other, spa: zero, tha: zeroMAC, tpa: someone}, false},
		{"reply to a probe for another address", packet{op: opReply, sha: other, spa: someone, tha: self, tpa: zero}, false},
	} {
		if got := conflicts(c.p, ip, self); got != c.want {
			t.Errorf("%s: conflicts = %v, want %v", c.name, got, c.want)
		}
		// and the frame round-trips through the wire format
		p, ok := parseFrame(frame(broadcastMAC, c.p.sha, c.p))
		if !ok || p.op != c.p.op || !bytes.Equal(p.sha, c.p.sha) || p.spa != c.p.spa || !bytes.Equal(p.tha, c.p.tha) || p.tpa != c.p.tpa {
			t.Errorf("%s: round trip gave %+v, %v", c.name, p, ok)
		}
	}
	if _, ok := parseFrame(make([]byte, 41)); ok {
		t.Error("parsed a runt frame")
	}
}

func TestBadInterface(t *testing.T) {
	ctx := testCtx(t)
	ip := netip.MustParseAddr("198.18.200.99")
	_, err := Probe(ctx, "fbtanosuch0", ip, ProbeOptions{})
	if err == nil || !errors.Is(err, ErrInterfaceNotFound) ||
		!strings.Contains(err.Error(), `interface "fbtanosuch0" not found: create the pool's bridge first`) {
		t.Fatalf("Probe on a missing bridge: %v", err)
	}
	t.Log(err)
	err = Announce(ctx, "fbtanosuch0", ip, nil, AnnounceOptions{})
	if err == nil || !errors.Is(err, ErrInterfaceNotFound) ||
		!strings.Contains(err.Error(), `interface "fbtanosuch0" not found: check the name`) {
		t.Fatalf("Announce on a missing interface: %v", err)
	}
	t.Log(err)
	_, _, err = Prober{}.Probe(ctx, "fbtanosuch0", ip)
	if !errors.Is(err, ErrInterfaceNotFound) || strings.Contains(err.Error(), ip.String()) {
		t.Fatalf("Prober on a missing bridge should not repeat the address ipam adds: %v", err)
	}
	_, err = Probe(ctx, "lo", ip, ProbeOptions{})
	if err == nil || !strings.Contains(err.Error(), `interface "lo" has no Ethernet hardware address`) {
		t.Fatalf("Probe on lo: %v", err)
	}
	_, err = Probe(ctx, "a-name-way-too-long", ip, ProbeOptions{})
	if err == nil || !strings.Contains(err.Error(), "is invalid") {
		t.Fatalf("Probe on a too long name: %v", err)
	}
}

func TestInvalidArguments(t *testing.T) {
	ctx := testCtx(t)
	ip := netip.MustParseAddr("198.18.200.99")
	for name, err := range map[string]error{
		"IPv6":           second(Probe(ctx, "lo", netip.MustParseAddr("2001:db8::1"), ProbeOptions{})),
		"unspecified":    second(Probe(ctx, "lo", netip.IPv4Unspecified(), ProbeOptions{})),
		"zero Addr":      second(Probe(ctx, "lo", netip.Addr{}, ProbeOptions{})),
		"broadcast":      Announce(ctx, "lo", netip.MustParseAddr("255.255.255.255"), nil, AnnounceOptions{}),
		"negative count": second(Probe(ctx, "lo", ip, ProbeOptions{Count: -1})),
		"negative wait":  second(Probe(ctx, "lo", ip, ProbeOptions{Wait: -time.Second})),
		"negative ival":  Announce(ctx, "lo", ip, nil, AnnounceOptions{Interval: -1}),
		"short MAC":      Announce(ctx, "lo", ip, net.HardwareAddr{1, 2, 3}, AnnounceOptions{}),
		"multicast MAC":  Announce(ctx, "lo", ip, net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}, AnnounceOptions{}),
		"zero MAC":       Announce(ctx, "lo", ip, zeroMAC, AnnounceOptions{}),
	} {
		if err == nil || errors.Is(err, ErrInterfaceNotFound) || strings.Contains(err.Error(), "Ethernet hardware address") {
			t.Errorf("%s: want an argument error, got %v", name, err)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Probe(done, "lo", ip, ProbeOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Probe with a cancelled ctx: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

// Tier 2: root, throwaway namespaces joined by a bridge and a veth pair.
//
// Nothing here bounds how long a step may take on a loaded machine: lower
// bounds follow from the schedule (Probe and Announce wait at least their
// intervals), "returned early" is shown by the frames that did or did not go
// out (with schedules far longer than any scheduling delay), and frames that
// arrive through the kernel are waited for, not given a fixed window.

// isProbe matches an outgoing probe for ip.
func isProbe(ip netip.Addr) func(arpFrame) bool {
	return func(fr arpFrame) bool {
		return fr.outgoing && fr.op == opRequest && fr.tpa == ip && fr.spa.IsUnspecified()
	}
}

func countProbes(fs []arpFrame, ip netip.Addr) int {
	n := 0
	for _, fr := range fs {
		if isProbe(ip)(fr) {
			n++
		}
	}
	return n
}

func TestProbe(t *testing.T) {
	f := newFixture(t)
	probe := func(ctx context.Context, ip netip.Addr, opts ProbeOptions) (r Result, err error) {
		if herr := f.inHost(func() error { r, err = Probe(ctx, f.bridge, ip, opts); return nil }); herr != nil {
			t.Fatal(herr)
		}
		return r, err
	}

	t.Run("InUseByNetnsHost", func(t *testing.T) {
		// A schedule of 2 s gaps: Probe returns at the answer, so only the
		// first probe goes out.
		c := newCapture(t, f.host, f.bridge)
		start := time.Now()
		r, err := probe(testCtx(t), f.nsIP, ProbeOptions{Interval: 2 * time.Second, Wait: 2 * time.Second})
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if !r.InUse || !bytes.Equal(r.MAC, f.nsMAC) {
			t.Fatalf("Probe(%s) = %+v, want InUse with the netns eth0 MAC %s", f.nsIP, r, f.nsMAC)
		}
		if n := countProbes(c.drain(t), f.nsIP); n != 1 {
			t.Errorf("%d probes went out, want 1: Probe did not return at the first answer", n)
		}
		t.Logf("%s in use by %s, answered in %v", f.nsIP, r.MAC, took)
	})

	t.Run("FreeAddress", func(t *testing.T) {
		free := f.addr(99)
		c := newCapture(t, f.host, f.bridge)
		start := time.Now()
		r, err := probe(testCtx(t), free, ProbeOptions{})
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if r.InUse || r.MAC != nil {
			t.Fatalf("Probe(%s) = %+v, want free", free, r)
		}
		// 2 intervals, then the wait after the last probe
		if want := (DefaultCount-1)*DefaultInterval + DefaultWait; took < want {
			t.Errorf("Probe took %v, less than its schedule %v", took, want)
		}
		// the probes went out in RFC 5227 form (all queued before Probe returned)
		var probes int
		for _, fr := range c.drain(t) {
			if fr.tpa != free {
				continue
			}
			probes++
			if !fr.outgoing || fr.op != opRequest || !bytes.Equal(fr.dst, broadcastMAC) || !bytes.Equal(fr.src, f.bridgeMAC) ||
				!bytes.Equal(fr.sha, f.bridgeMAC) || !fr.spa.IsUnspecified() || !bytes.Equal(fr.tha, zeroMAC) {
				t.Errorf("not an RFC 5227 probe from the bridge: %+v", fr)
			}
		}
		if probes != DefaultCount {
			t.Errorf("saw %d probes for %s on the bridge, want %d", probes, free, DefaultCount)
		}
		t.Logf("%s free after %d probes in %v", free, probes, took)
	})

	t.Run("OwnBridgeAddress", func(t *testing.T) {
		r, err := probe(testCtx(t), f.bridgeIP, ProbeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !r.InUse || !bytes.Equal(r.MAC, f.bridgeMAC) {
			t.Fatalf("Probe(%s) = %+v, want InUse with the bridge MAC %s", f.bridgeIP, r, f.bridgeMAC)
		}
	})

	t.Run("SimultaneousProbe", func(t *testing.T) {
		// Another host probes for .77 from the netns, every 50 ms until
		// our Probe has returned; ours starts once its first probe is out.
		contested := f.addr(77)
		first, stop, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			done <- inNetns(f.ns, func() error {
				ifi, err := lookup("eth0", "")
				if err != nil {
					return err
				}
				c, err := listen(ifi)
				if err != nil {
					return err
				}
				defer c.Close()
				p := frame(broadcastMAC, ifi.HardwareAddr, packet{op: opRequest, sha: ifi.HardwareAddr, spa: netip.IPv4Unspecified(), tha: zeroMAC, tpa: contested})
				for i := 0; ; i++ {
					if err := c.send(p); err != nil {
						return err
					}
					if i == 0 {
						close(first)
					}
					select {
					case <-stop:
						return nil
					case <-time.After(50 * time.Millisecond):
					}
				}
			})
		}()
		select {
		case <-first:
		case err := <-done:
			t.Fatalf("the other prober: %v", err)
		}
		r, err := probe(testCtx(t), contested, ProbeOptions{Interval: time.Second, Wait: 2 * time.Second})
		close(stop)
		if serr := <-done; serr != nil {
			t.Fatal(serr)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !r.InUse || !bytes.Equal(r.MAC, f.nsMAC) {
			t.Fatalf("Probe(%s) = %+v, want InUse by the other prober %s", contested, r, f.nsMAC)
		}
	})

	t.Run("ContextDeadline", func(t *testing.T) {
		// A 50 ms deadline against a schedule of 5 s gaps: Probe returns on
		// the deadline, before a second probe would go out.
		c := newCapture(t, f.host, f.bridge)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		free := f.addr(98)
		_, err := probe(ctx, free, ProbeOptions{Interval: 5 * time.Second, Wait: 5 * time.Second})
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("want a deadline error, got %v", err)
		}
		if n := countProbes(c.drain(t), free); n > 1 || took >= 5*time.Second {
			t.Errorf("Probe returned after %v and %d probes: it did not stop at the deadline", took, n)
		}
		t.Log(err)
	})

	t.Run("ProberAdapter", func(t *testing.T) {
		var (
			inUse bool
			mac   net.HardwareAddr
			err   error
		)
		if herr := f.inHost(func() error {
			inUse, mac, err = Prober{Options: ProbeOptions{Interval: time.Second, Wait: time.Second}}.Probe(testCtx(t), f.bridge, f.nsIP)
			return nil
		}); herr != nil {
			t.Fatal(herr)
		}
		if err != nil || !inUse || !bytes.Equal(mac, f.nsMAC) {
			t.Fatalf("Prober.Probe = %v, %s, %v", inUse, mac, err)
		}
	})
}

func TestProbeInterfaceDown(t *testing.T) {
	requireRoot(t)
	ns := "fbta-d" + suffix()
	t.Cleanup(func() { checkGone(t, ns) })
	newNetns(t, ns)
	name := "fbta" + suffix() + "d"
	ipCmd(t, "-n", ns, "link", "add", name, "type", "bridge") // left down
	var err error
	if herr := inNetns(ns, func() error {
		_, err = Probe(testCtx(t), name, netip.MustParseAddr("198.18.200.99"), ProbeOptions{})
		return nil
	}); herr != nil {
		t.Fatal(herr)
	}
	if err == nil || !strings.Contains(err.Error(), `interface "`+name+`" is down: bring it up first`) {
		t.Fatalf("Probe on a down bridge: %v", err)
	}
	t.Log(err)
}

func TestAnnounce(t *testing.T) {
	f := newFixture(t)
	gratuitous := func(fr arpFrame) bool {
		return fr.op == opRequest && fr.spa == f.nsIP && fr.tpa == f.nsIP && bytes.Equal(fr.sha, f.nsMAC) &&
			bytes.Equal(fr.src, f.nsMAC) && bytes.Equal(fr.dst, broadcastMAC) && bytes.Equal(fr.tha, zeroMAC) && !fr.outgoing
	}

	for _, c := range []struct {
		name  string
		mac   bool // pass eth0's MAC explicitly; else nil (the default)
		opts  AnnounceOptions
		count int
	}{
		{"ExplicitMAC", true, AnnounceOptions{Count: 5, Interval: 20 * time.Millisecond}, 5},
		{"Defaults", false, AnnounceOptions{}, DefaultCount},
	} {
		t.Run(c.name, func(t *testing.T) {
			capt := newCapture(t, f.host, f.bridge) // bridge side, host netns
			var sawMAC net.HardwareAddr
			start := time.Now()
			err := inNetns(f.ns, func() error {
				var mac net.HardwareAddr
				if c.mac {
					ifi, err := net.InterfaceByName("eth0") // netns's eth0, read from inside
					if err != nil {
						return err
					}
					mac, sawMAC = ifi.HardwareAddr, ifi.HardwareAddr
				}
				return Announce(testCtx(t), "eth0", f.nsIP, mac, c.opts)
			})
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if c.mac && !bytes.Equal(sawMAC, f.nsMAC) {
				t.Fatalf("eth0 MAC read in the netns %s, ip says %s", sawMAC, f.nsMAC)
			}
			interval := c.opts.Interval
			if interval == 0 {
				interval = DefaultInterval
			}
			if want := time.Duration(c.count-1) * interval; took < want {
				t.Errorf("Announce took %v, less than its %d intervals of %v", took, c.count-1, interval)
			}
			var got int
			for _, fr := range capt.waitFor(t, c.count, 10*time.Second, gratuitous) {
				if gratuitous(fr) {
					got++
				}
			}
			if got < c.count {
				t.Fatalf("bridge saw %d gratuitous ARPs for %s from %s, want >= %d", got, f.nsIP, f.nsMAC, c.count)
			}
			t.Logf("bridge saw %d gratuitous ARPs for %s from %s (sent in %v)", got, f.nsIP, f.nsMAC, took)
		})
	}

	t.Run("ContextCancel", func(t *testing.T) {
		// Cancelled once the first announcement has reached the bridge,
		// 5 s before the second is due.
		capt := newCapture(t, f.host, f.bridge)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			done <- inNetns(f.ns, func() error {
				return Announce(ctx, "eth0", f.nsIP, nil, AnnounceOptions{Count: 10, Interval: 5 * time.Second})
			})
		}()
		seen := 0
		for _, fr := range capt.waitFor(t, 1, 10*time.Second, gratuitous) {
			if gratuitous(fr) {
				seen++
			}
		}
		cancel()
		err := <-done
		if seen != 1 {
			t.Fatalf("the bridge saw %d announcements before the cancel, want 1", seen)
		}
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "after 1 of 10 announcements") {
			t.Fatalf("want a cancellation error after the first announcement, got %v", err)
		}
		t.Log(err)
	})
}
