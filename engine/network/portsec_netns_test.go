package network

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/fatbox/fatbox/test/harness"
)

// These tests start from a network namespace with no nftables state at all
// (privateNetns), the state a freshly booted host is in, and run the real
// Attach and Detach there. Addresses: 198.19.30.0/24-198.19.33.0/24.

// psVeth is what the kernel holds for one veth's port security.
type psVeth struct {
	jumps []*nftables.Rule // rules of the base chain for the veth
	chain bool             // its chain ps-<veth> exists
	rules []*nftables.Rule // the rules of that chain
}

func psRead(t *testing.T, c *nftables.Conn, hostVeth string) psVeth {
	t.Helper()
	chains, err := psChains(c)
	if err != nil {
		t.Fatal(err)
	}
	var v psVeth
	if chains[psBaseChain] != nil {
		if v.jumps, err = jumpRules(c, hostVeth); err != nil {
			t.Fatal(err)
		}
	}
	if chains[psChainPfx+hostVeth] != nil {
		v.chain = true
		if v.rules, err = c.GetRules(psTableObj(), psChain(hostVeth)); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// requirePortSec checks the table, the base chain, and hostVeth's jump
// rule, chain and four rules (for mac) in c's namespace.
func requirePortSec(t *testing.T, c *nftables.Conn, hostVeth string, mac []byte) {
	t.Helper()
	if !psTableExists(t, c) {
		t.Fatalf("table bridge %s does not exist", psTable)
	}
	chains, err := psChains(c)
	if err != nil {
		t.Fatal(err)
	}
	base := chains[psBaseChain]
	switch {
	case base == nil:
		t.Fatalf("no chain %s in table bridge %s", psBaseChain, psTable)
	case base.Type != nftables.ChainTypeFilter:
		t.Errorf("base chain type %q, want filter", base.Type)
	case base.Hooknum == nil || *base.Hooknum != *nftables.ChainHookPrerouting:
		t.Errorf("base chain hook %v, want prerouting (0)", base.Hooknum)
	case base.Priority == nil || *base.Priority != -200:
		t.Errorf("base chain priority %v, want -200", base.Priority)
	case base.Policy == nil || *base.Policy != nftables.ChainPolicyAccept:
		t.Errorf("base chain policy %v, want accept", base.Policy)
	}
	v := psRead(t, c, hostVeth)
	if len(v.jumps) != 1 {
		t.Fatalf("%d jump rules for %s, want 1", len(v.jumps), hostVeth)
	}
	j := v.jumps[0]
	var iif, jump bool
	for _, e := range j.Exprs {
		switch e := e.(type) {
		case *expr.Cmp:
			iif = iif || bytes.Equal(e.Data, ifname(hostVeth))
		case *expr.Verdict:
			jump = jump || (e.Kind == expr.VerdictJump && e.Chain == psChainPfx+hostVeth)
		}
	}
	if !iif || !jump || string(j.UserData) != psUserData+hostVeth {
		t.Errorf("jump rule for %s: iifname match %v, jump to %s%s %v, userdata %q", hostVeth, iif, psChainPfx, hostVeth, jump, j.UserData)
	}
	if !v.chain {
		t.Fatalf("no chain %s%s", psChainPfx, hostVeth)
	}
	if len(v.rules) != 4 {
		t.Fatalf("chain %s%s has %d rules, want 4", psChainPfx, hostVeth, len(v.rules))
	}
	var macCheck bool
	for _, e := range v.rules[0].Exprs {
		if c, ok := e.(*expr.Cmp); ok && c.Op == expr.CmpOpNeq && bytes.Equal(c.Data, mac) {
			macCheck = true
		}
	}
	if !macCheck {
		t.Errorf("first rule of %s%s does not drop frames from other MACs than %x", psChainPfx, hostVeth, mac)
	}
	if last := v.rules[3].Exprs; len(last) != 1 || last[0].(*expr.Verdict).Kind != expr.VerdictDrop {
		t.Errorf("last rule of %s%s is not a bare drop: %#v", psChainPfx, hostVeth, last)
	}
}

func requireNoPortSec(t *testing.T, c *nftables.Conn, hostVeth string) {
	t.Helper()
	if v := psRead(t, c, hostVeth); len(v.jumps) != 0 || v.chain {
		t.Errorf("port security of %s left behind: %d jump rules, chain %v", hostVeth, len(v.jumps), v.chain)
	}
}

// psNetnsConfig is a container attached to bridge br (created) at ip.
func psNetnsConfig(t *testing.T, br, ip string) Config {
	t.Helper()
	_, path := nwNetns(t)
	return Config{Container: harness.Name("fbn-c-"), Netns: path, Bridge: br, CreateBridge: true,
		Addr: netip.MustParsePrefix(ip + "/24")}
}

// TestPortSecFromCleanNetns: Attach in a namespace without table bridge
// fatbox creates the table, base chain and the veth's rules (issue #11: a
// rule dump of a missing table is no error on this kernel, so the table was
// never created and the commit failed); Detach removes the veth's part.
func TestPortSecFromCleanNetns(t *testing.T) {
	priv, host := privateNetns(t)
	ctx := context.Background()
	c := nftIn(t, priv)
	if psTableExists(t, c) {
		t.Fatal("a new network namespace already has table bridge fatbox")
	}
	br := harness.Name("fbnb")
	cA, cB := psNetnsConfig(t, br, "198.19.30.2"), psNetnsConfig(t, br, "198.19.30.3")
	a := nwAttach(t, cA)
	requirePortSec(t, c, a.HostVeth, a.MAC)
	// The rules went to the thread's namespace, not the host's.
	requireNoPortSec(t, nftIn(t, host), a.HostVeth)

	b := nwAttach(t, cB)
	requirePortSec(t, c, b.HostVeth, b.MAC)
	requirePortSec(t, c, a.HostVeth, a.MAC)
	if err := nwPing(nsName(cA.Netns), "198.19.30.3"); err != nil {
		t.Errorf("ping between two protected containers: %v", err)
	}

	for i := range 2 {
		if err := Detach(ctx, cA.Container); err != nil {
			t.Fatalf("Detach #%d: %v", i+1, err)
		}
		requireNoPortSec(t, c, a.HostVeth)
		requirePortSec(t, c, b.HostVeth, b.MAC)
	}
	if err := Detach(ctx, cB.Container); err != nil {
		t.Fatal(err)
	}
	requireNoPortSec(t, c, b.HostVeth)
	// The table and base chain stay (empty) for the next Attach.
	if chains, err := psChains(c); err != nil || chains[psBaseChain] == nil || len(chains) != 1 {
		t.Errorf("after detaching everything: chains %v (%v), want only %s", chains, err, psBaseChain)
	}
}

// TestPortSecTableDeleted: an operator deletes the table between two
// attaches; the second attach creates it again, and detaching the first
// (whose rules went with the table) is no error.
func TestPortSecTableDeleted(t *testing.T) {
	priv, _ := privateNetns(t)
	ctx := context.Background()
	c := nftIn(t, priv)
	br := harness.Name("fbnb")
	cA, cB := psNetnsConfig(t, br, "198.19.31.2"), psNetnsConfig(t, br, "198.19.31.3")
	a := nwAttach(t, cA)
	requirePortSec(t, c, a.HostVeth, a.MAC)

	c.DelTable(psTableObj())
	if err := c.Flush(); err != nil {
		t.Fatalf("delete table bridge %s: %v", psTable, err)
	}
	if psTableExists(t, c) {
		t.Fatal("the table is still there")
	}
	b := nwAttach(t, cB)
	requirePortSec(t, c, b.HostVeth, b.MAC)
	requireNoPortSec(t, c, a.HostVeth)

	if err := Detach(ctx, cA.Container); err != nil {
		t.Fatalf("Detach of the container whose rules were deleted: %v", err)
	}
	requirePortSec(t, c, b.HostVeth, b.MAC)

	// With the table gone and nothing to remove, Detach is no error either.
	c.DelTable(psTableObj())
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := Detach(ctx, cB.Container); err != nil {
		t.Fatalf("Detach with no table: %v", err)
	}
	if psTableExists(t, c) {
		t.Error("Detach created the table")
	}
}

// TestPortSecBaseChainDeleted: with the base chain deleted but the table
// (and a veth's chain) left, the next attach adds the base chain to the
// existing table: adding a table that exists is no error.
func TestPortSecBaseChainDeleted(t *testing.T) {
	priv, _ := privateNetns(t)
	c := nftIn(t, priv)
	br := harness.Name("fbnb")
	cA, cB := psNetnsConfig(t, br, "198.19.33.2"), psNetnsConfig(t, br, "198.19.33.3")
	a := nwAttach(t, cA)
	c.FlushChain(psBase())
	c.DelChain(psBase())
	if err := c.Flush(); err != nil {
		t.Fatalf("delete chain %s: %v", psBaseChain, err)
	}
	if chains, err := psChains(c); err != nil || chains[psBaseChain] != nil || chains[psChainPfx+a.HostVeth] == nil {
		t.Fatalf("after deleting the base chain: %v (%v)", chains, err)
	}
	b := nwAttach(t, cB)
	requirePortSec(t, c, b.HostVeth, b.MAC)
	// Re-applying a's port security (what a re-attach does) restores it.
	if err := applyPortSecurity(a.HostVeth, a.Addr.Addr(), a.MAC); err != nil {
		t.Fatal(err)
	}
	requirePortSec(t, c, a.HostVeth, a.MAC)
}

// TestPortSecForeignBaseChain: a chain "portsec" that is not fatbox's
// (other hook, priority, policy, or no hook) is refused with the fix, left
// as it was, and a refused Attach leaves nothing behind.
func TestPortSecForeignBaseChain(t *testing.T) {
	harness.RequireRoot(t)
	drop, accept := nftables.ChainPolicyDrop, nftables.ChainPolicyAccept
	for name, ch := range map[string]*nftables.Chain{
		"regular":  {},
		"input":    {Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityRef(-200), Policy: &accept},
		"priority": {Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityFilter, Policy: &accept},
		"drop":     {Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRef(-200), Policy: &drop},
	} {
		t.Run(name, func(t *testing.T) {
			priv, _ := privateNetns(t)
			c := nftIn(t, priv)
			ch.Name, ch.Table = psBaseChain, psTableObj()
			c.AddTable(psTableObj())
			c.AddChain(ch)
			if err := c.Flush(); err != nil {
				t.Fatalf("create the foreign chain: %v", err)
			}
			want := describeChain(ch)

			cfg := psNetnsConfig(t, harness.Name("fbnb"), "198.19.32.2")
			_, err := Attach(context.Background(), cfg)
			if err == nil {
				t.Fatal("Attach accepted a foreign base chain")
			}
			for _, s := range []string{"portsec: ", want, "nft delete table bridge fatbox"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			t.Log(err)
			chains, err := psChains(c)
			if err != nil {
				t.Fatal(err)
			}
			if len(chains) != 1 || chains[psBaseChain] == nil || describeChain(chains[psBaseChain]) != want {
				t.Errorf("chains after the refusal: %v", chains)
			}
			if rules, err := c.GetRules(psTableObj(), ch); err != nil || len(rules) != 0 {
				t.Errorf("rules of the foreign chain: %d (%v)", len(rules), err)
			}
			if nwExists(HostVethName(cfg.Container)) || nwExists(cfg.Bridge) {
				t.Error("the refused Attach left its veth or bridge behind")
			}
		})
	}
}

// nsName is the name of a netns under NetnsDir.
func nsName(path string) string {
	return strings.TrimPrefix(path, NetnsDir+"/")
}

// privateNetns itself: a link made inside (here by ip, which inherits the
// thread's namespace) is there and is not in the host's namespace.
func TestPrivateNetns(t *testing.T) {
	harness.RequireRoot(t)
	br := harness.Name("fbnb")
	ran := false
	t.Run("inside", func(t *testing.T) {
		privateNetns(t)
		harness.IP(t, "link", "add", br, "type", "bridge")
		if !nwExists(br) {
			t.Fatalf("bridge %s made by ip is not in the thread's namespace", br)
		}
		ran = true
	})
	if !ran {
		t.Fatal("the subtest did not run to its end")
	}
	if nwExists(br) {
		harness.IPQuiet("link", "del", br)
		t.Fatalf("bridge %s made in the private namespace is in the host's", br)
	}
}
