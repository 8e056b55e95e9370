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

// Tier 2: root, a throwaway bridge and netns.

func TestProbe(t *testing.T) {
	f := newFixture(t)

	t.Run("InUseByNetnsHost", func(t *testing.T) {
		start := time.Now()
		r, err := Probe(testCtx(t), f.bridge, f.nsIP, ProbeOptions{})
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if !r.InUse || !bytes.Equal(r.MAC, f.nsMAC) {
			t.Fatalf("Probe(%s) = %+v, want InUse with the netns eth0 MAC %s", f.nsIP, r, f.nsMAC)
		}
		if took > time.Second {
			t.Errorf("took %v", took)
		}
		t.Logf("%s in use by %s, answered in %v", f.nsIP, r.MAC, took)
	})

	t.Run("FreeAddress", func(t *testing.T) {
		free := f.addr(99)
		c := newCapture(t, f.bridge)
		start := time.Now()
		r, err := Probe(testCtx(t), f.bridge, free, ProbeOptions{})
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if r.InUse || r.MAC != nil {
			t.Fatalf("Probe(%s) = %+v, want free", free, r)
		}
		// 2 intervals + the wait, give or take scheduling
		if took < 480*time.Millisecond || took > time.Second {
			t.Errorf("Probe took %v, want about 500ms", took)
		}
		// the probes went out in RFC 5227 form
		var probes int
		for _, fr := range c.frames(t, 50*time.Millisecond) {
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
		r, err := Probe(testCtx(t), f.bridge, f.bridgeIP, ProbeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !r.InUse || !bytes.Equal(r.MAC, f.bridgeMAC) {
			t.Fatalf("Probe(%s) = %+v, want InUse with the bridge MAC %s", f.bridgeIP, r, f.bridgeMAC)
		}
	})

	t.Run("SimultaneousProbe", func(t *testing.T) {
		// Another host probes for .77 from the netns while we probe for it.
		contested := f.addr(77)
		done := make(chan error, 1)
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
				for range 10 {
					if err := c.send(p); err != nil {
						return err
					}
					time.Sleep(50 * time.Millisecond)
				}
				return nil
			})
		}()
		time.Sleep(20 * time.Millisecond)
		r, err := Probe(testCtx(t), f.bridge, contested, ProbeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !r.InUse || !bytes.Equal(r.MAC, f.nsMAC) {
			t.Fatalf("Probe(%s) = %+v, want InUse by the other prober %s", contested, r, f.nsMAC)
		}
	})

	t.Run("ContextDeadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := Probe(ctx, f.bridge, f.addr(98), ProbeOptions{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("want a deadline error, got %v", err)
		}
		if took := time.Since(start); took > 200*time.Millisecond {
			t.Errorf("Probe returned %v after ctx expired at 50ms", took)
		}
		t.Log(err)
	})

	t.Run("ProberAdapter", func(t *testing.T) {
		inUse, mac, err := Prober{Options: ProbeOptions{Wait: 50 * time.Millisecond}}.Probe(testCtx(t), f.bridge, f.nsIP)
		if err != nil || !inUse || !bytes.Equal(mac, f.nsMAC) {
			t.Fatalf("Prober.Probe = %v, %s, %v", inUse, mac, err)
		}
	})
}

func TestProbeInterfaceDown(t *testing.T) {
	requireRoot(t)
	name := "fbta" + suffix() + "d"
	t.Cleanup(func() { checkGone(t, []string{name}, "") })
	ipCmd(t, "link", "add", name, "type", "bridge") // left down
	t.Cleanup(func() { ipDel(t, "link", "del", name) })
	_, err := Probe(testCtx(t), name, netip.MustParseAddr("198.18.200.99"), ProbeOptions{})
	if err == nil || !strings.Contains(err.Error(), `interface "`+name+`" is down: bring it up first`) {
		t.Fatalf("Probe on a down bridge: %v", err)
	}
	t.Log(err)
}

func TestAnnounce(t *testing.T) {
	f := newFixture(t)

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
			capt := newCapture(t, f.bridge) // bridge side, host netns
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
			if want := time.Duration(c.count-1) * interval; took < want || took > want+500*time.Millisecond {
				t.Errorf("Announce took %v, want about %v", took, want)
			}
			var got int
			for _, fr := range capt.frames(t, 200*time.Millisecond) {
				if fr.op == opRequest && fr.spa == f.nsIP && fr.tpa == f.nsIP && bytes.Equal(fr.sha, f.nsMAC) &&
					bytes.Equal(fr.src, f.nsMAC) && bytes.Equal(fr.dst, broadcastMAC) && bytes.Equal(fr.tha, zeroMAC) && !fr.outgoing {
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
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := inNetns(f.ns, func() error {
			return Announce(ctx, "eth0", f.nsIP, nil, AnnounceOptions{Count: 10})
		})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "after 1 of 10 announcements") {
			t.Fatalf("want a deadline error after the first announcement, got %v", err)
		}
	})
}
