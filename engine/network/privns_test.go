package network

import (
	"runtime"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/fatbox/fatbox/test/harness"
)

// Root tests own the kernel state they touch: privateNetns puts the test's
// OS thread into a fresh network namespace, so the links, qdiscs and
// nftables tables the code under test makes (netlink and nftables open their
// sockets in the calling thread's namespace, and commands the test runs
// inherit it) are that namespace's, start from nothing, and vanish with it.

// privateNetns locks the calling test goroutine to its OS thread and moves
// the thread into a new, empty network namespace (lo up) until the test
// ends. It returns handles to the new namespace and to the one the thread
// came from (the host's). Call it before registering any cleanup that must
// run inside the namespace: cleanups run last-in first-out, and this one
// switches back. Each t.Run runs on a goroutine of its own and needs its own
// call; a test that uses it must not call t.Parallel.
func privateNetns(t *testing.T) (priv, host netns.NsHandle) {
	t.Helper()
	harness.RequireRoot(t)
	runtime.LockOSThread()
	host, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("read this thread's network namespace: %v", err)
	}
	priv, err = netns.New()
	if err != nil {
		// unshare may have worked and the handle failed: go back first.
		if serr := netns.Set(host); serr == nil {
			runtime.UnlockOSThread()
		}
		host.Close()
		t.Fatalf("create a network namespace: %v", err)
	}
	t.Cleanup(func() {
		priv.Close()
		if err := netns.Set(host); err != nil {
			// Stay locked: the goroutine ends with the test and the
			// runtime discards the thread instead of reusing it.
			t.Errorf("return to the host network namespace: %v", err)
			return
		}
		host.Close()
		runtime.UnlockOSThread()
	})
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	return priv, host
}

// nftIn is an nftables connection to network namespace ns, whatever the
// calling thread's.
func nftIn(t *testing.T, ns netns.NsHandle) *nftables.Conn {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// psTableExists reports whether table bridge fatbox exists in c's namespace.
func psTableExists(t *testing.T, c *nftables.Conn) bool {
	t.Helper()
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyBridge)
	if err != nil {
		t.Fatalf("list bridge tables: %v", err)
	}
	for _, tb := range tables {
		if tb.Name == psTable {
			return true
		}
	}
	return false
}
