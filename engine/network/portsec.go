package network

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Port security (anti-spoofing) for frames a container sends into the bridge,
// with nftables in the bridge family:
//
//	table bridge fatbox {
//	    chain portsec {                   # created on first use, left in place
//	        type filter hook prerouting priority filter; policy accept;
//	        iifname "V" jump ps-V         # one per container, userdata "fatbox-portsec:V"
//	    }
//	    chain ps-V {                      # one per container
//	        ether saddr != MAC drop
//	        ether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 \
//	            arp saddr ether MAC arp saddr ip IP accept
//	        ether type ip ip saddr IP accept
//	        drop
//	    }
//	}
//
// Bridge prerouting runs before the bridge learns the source address, so a
// spoofed frame neither reaches anyone nor poisons the forwarding database.
// Everything that is not ARP or IPv4 from the container's own addresses
// (IPv6 included, VLAN-tagged frames included) is dropped.
const (
	psTable     = "fatbox"
	psBaseChain = "portsec"
	psChainPfx  = "ps-"
	psUserData  = "fatbox-portsec:"
)

// psLockFile serialises read-modify-writes of the portsec table across
// every process on the host (daemons of several state dirs, tests): the
// table is one kernel object.
const psLockFile = "/run/fatbox/portsec.lock"

// psLock takes the host-wide portsec lock; it returns the unlock.
func psLock() (func(), error) {
	if err := os.MkdirAll(filepath.Dir(psLockFile), 0o755); err != nil {
		return nil, fmt.Errorf("port security lock: %w", err)
	}
	f, err := os.OpenFile(psLockFile, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("port security lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("port security lock %s: %w", psLockFile, err)
	}
	return func() { f.Close() }, nil
}

func psTableObj() *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyBridge, Name: psTable}
}

func psBase() *nftables.Chain {
	policy := nftables.ChainPolicyAccept
	return &nftables.Chain{
		Name:     psBaseChain,
		Table:    psTableObj(),
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookPrerouting,
		Priority: nftables.ChainPriorityRef(-200), // NF_BR_PRI_FILTER_BRIDGED
		Policy:   &policy,
	}
}

func psChain(hostVeth string) *nftables.Chain {
	return &nftables.Chain{Name: psChainPfx + hostVeth, Table: psTableObj()}
}

// applyPortSecurity lets frames from the container behind hostVeth into the
// bridge only when they carry its MAC, and, for IPv4 and ARP, its IP. It
// replaces any earlier port security for hostVeth.
func applyPortSecurity(hostVeth string, ip netip.Addr, mac net.HardwareAddr) error {
	ip = ip.Unmap()
	if !ip.Is4() {
		return fmt.Errorf("port security %s: %v is not an IPv4 address", hostVeth, ip)
	}
	if len(mac) != 6 {
		return fmt.Errorf("port security %s: %v is not an Ethernet MAC", hostVeth, mac)
	}
	if err := ValidLinkName(hostVeth); err != nil {
		return fmt.Errorf("port security: %w", err)
	}
	unlock, err := psLock()
	if err != nil {
		return err
	}
	defer unlock()

	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("port security %s: %w", hostVeth, err)
	}
	// Every nftables commit waits for an RCU grace period (~10 ms), so
	// everything below is one read of the chains, one of the base chain's
	// rules (only when it exists) and one commit, also from a clean kernel.
	// Whether the table exists is never inferred from an error: a rule dump
	// of a missing table returns no rules and no error on newer kernels.
	haveBase, err := psFindBase(c)
	if err != nil {
		return fmt.Errorf("port security %s: %w", hostVeth, err)
	}
	var old []*nftables.Rule
	if haveBase {
		if old, err = jumpRules(c, hostVeth); err != nil {
			return fmt.Errorf("port security %s: %w", hostVeth, err)
		}
	} else {
		// Not flagged exclusive: adding a table that exists (with no
		// chains) is no error, so no table listing is needed.
		c.AddTable(psTableObj())
		c.AddChain(psBase())
	}

	// One transaction: (re)write the per-veth chain, replace the jump rule.
	ch := c.AddChain(psChain(hostVeth))
	c.FlushChain(ch)
	ip4 := ip.As4()
	for _, exprs := range [][]expr.Any{
		// ether saddr != MAC drop
		{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte(mac)},
			&expr.Verdict{Kind: expr.VerdictDrop},
		},
		// ARP for Ethernet/IPv4 whose sender is exactly this MAC and IP: accept
		{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 12, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0x08, 0x06}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 0, Len: 6},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0x00, 0x01, 0x08, 0x00, 6, 4}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 6},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(mac)},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 14, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip4[:]},
			&expr.Verdict{Kind: expr.VerdictAccept},
		},
		// IPv4 from this IP: accept
		{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 12, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0x08, 0x00}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip4[:]},
			&expr.Verdict{Kind: expr.VerdictAccept},
		},
		// everything else
		{
			&expr.Verdict{Kind: expr.VerdictDrop},
		},
	} {
		c.AddRule(&nftables.Rule{Table: psTableObj(), Chain: ch, Exprs: exprs})
	}
	for _, r := range old {
		if err := c.DelRule(r); err != nil {
			return fmt.Errorf("port security %s: %w", hostVeth, err)
		}
	}
	c.AddRule(&nftables.Rule{
		Table: psTableObj(),
		Chain: psBase(),
		Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(hostVeth)},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: ch.Name},
		},
		UserData: []byte(psUserData + hostVeth),
	})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("port security %s: %w", hostVeth, err)
	}
	return nil
}

// removePortSecurity deletes hostVeth's jump rule and chain. It is idempotent
// and leaves the table and base chain (harmless when empty) in place.
func removePortSecurity(hostVeth string) error {
	unlock, err := psLock()
	if err != nil {
		return err
	}
	defer unlock()

	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("remove port security %s: %w", hostVeth, err)
	}
	chains, err := psChains(c)
	if err != nil {
		return fmt.Errorf("remove port security %s: %w", hostVeth, err)
	}
	haveBase, haveChain := chains[psBaseChain] != nil, chains[psChainPfx+hostVeth] != nil
	n := 0
	if haveBase {
		old, err := jumpRules(c, hostVeth)
		if err != nil {
			return fmt.Errorf("remove port security %s: %w", hostVeth, err)
		}
		for _, r := range old {
			if err := c.DelRule(r); err != nil {
				return fmt.Errorf("remove port security %s: %w", hostVeth, err)
			}
			n++
		}
	}
	if haveChain {
		ch := psChain(hostVeth)
		c.FlushChain(ch)
		c.DelChain(ch)
		n++
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("remove port security %s: %w", hostVeth, err)
	}
	return nil
}

// psChains lists the chains of table bridge fatbox by name (none when the
// table is missing).
func psChains(c *nftables.Conn) (map[string]*nftables.Chain, error) {
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyBridge)
	if err != nil {
		return nil, fmt.Errorf("list the chains of the bridge family: %w", err)
	}
	out := make(map[string]*nftables.Chain)
	for _, ch := range chains {
		if ch.Table != nil && ch.Table.Name == psTable {
			out[ch.Name] = ch
		}
	}
	return out, nil
}

// psFindBase reports whether the base chain exists, and fails when a chain
// of that name exists but is not the one fatbox creates: rules jumping
// from it would not filter (or would filter the wrong frames).
func psFindBase(c *nftables.Conn) (bool, error) {
	chains, err := psChains(c)
	if err != nil {
		return false, err
	}
	ch := chains[psBaseChain]
	if ch == nil {
		return false, nil
	}
	if got, want := describeChain(ch), describeChain(psBase()); got != want {
		return false, fmt.Errorf("chain %q of table bridge %s is %s, want %s: it was changed outside fatbox; "+
			"delete the table with `nft delete table bridge %s` and attach again (fatbox creates it anew; "+
			"containers attached before run without port security until they are attached again)",
			psBaseChain, psTable, got, want, psTable)
	}
	return true, nil
}

// describeChain is a chain's kind as nft would print it, e.g. "type filter
// hook prerouting priority -200 policy accept" or "a regular chain (no hook)".
func describeChain(ch *nftables.Chain) string {
	if ch.Hooknum == nil {
		return "a regular chain (no hook)"
	}
	hook := fmt.Sprintf("hook %d", *ch.Hooknum)
	// Bridge family hooks (NF_BR_*), as nft names them.
	if names := []string{"prerouting", "input", "forward", "output", "postrouting"}; int(*ch.Hooknum) < len(names) {
		hook = "hook " + names[*ch.Hooknum]
	}
	prio := "priority ?"
	if ch.Priority != nil {
		prio = fmt.Sprintf("priority %d", *ch.Priority)
	}
	policy := "policy ?"
	if ch.Policy != nil {
		switch *ch.Policy {
		case nftables.ChainPolicyAccept:
			policy = "policy accept"
		case nftables.ChainPolicyDrop:
			policy = "policy drop"
		default:
			policy = fmt.Sprintf("policy %d", *ch.Policy)
		}
	}
	return fmt.Sprintf("type %s %s %s %s", ch.Type, hook, prio, policy)
}

// jumpRules returns the rules of the base chain that belong to hostVeth
// (tagged with its userdata, or jumping to its chain).
func jumpRules(c *nftables.Conn, hostVeth string) ([]*nftables.Rule, error) {
	rules, err := c.GetRules(psTableObj(), psBase())
	if err != nil {
		return nil, fmt.Errorf("list rules of bridge %s %s: %w", psTable, psBaseChain, err)
	}
	tag := []byte(psUserData + hostVeth)
	target := psChainPfx + hostVeth
	var out []*nftables.Rule
	for _, r := range rules {
		mine := bytes.Equal(r.UserData, tag)
		for _, e := range r.Exprs {
			if v, ok := e.(*expr.Verdict); ok && (v.Kind == expr.VerdictJump || v.Kind == expr.VerdictGoto) && v.Chain == target {
				mine = true
			}
		}
		if mine {
			r.Table, r.Chain = psTableObj(), psBase()
			out = append(out, r)
		}
	}
	return out, nil
}

// ifname is name as the kernel compares it for meta iifname: NUL-padded to IFNAMSIZ.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}
