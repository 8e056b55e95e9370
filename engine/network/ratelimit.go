package network

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Rate limiting of a container's traffic, installed on the host end of its
// veth pair with tc via netlink.
//
// Layout for host veth V:
//
//	traffic TO the container (V's egress):
//	    V root qdisc 1: tbf rate <ingress> burst <b> limit <rate*latency+b>
//
//	traffic FROM the container (V's ingress):
//	    V qdisc ffff: ingress
//	      u32 prio 1 match-all -> mirred egress redirect to ifb device F
//	    F = "fbifb" + fnv32a(V) (an ifb link, alias "fatbox-ratelimit:V")
//	    F root qdisc 1: tbf rate <egress> burst <b> limit ...
//
// The ingress direction of a link can only be policed, not shaped, and this
// kernel has no act_police (CONFIG_NET_ACT_POLICE is off), so traffic from
// the container is redirected through an ifb device and shaped there with the
// same tbf as the other direction: the CNI bandwidth plugin's layout. A tbf
// shaper (queue, not drop) keeps a TCP transfer close to the configured rate.
//
// Burst: max(rate × 10 ms, 128 KiB). It must exceed the largest GSO packet a
// veth hands over (64 KiB) or tbf segments/drops those; over a 3 s transfer
// the initial burst adds well under 1 %. Limit (queue): rate × 50 ms + burst,
// enough for TCP to keep the link busy without large bufferbloat.
const (
	rlMinBurst    = 128 << 10 // bytes
	rlBurstTime   = 10        // ms of traffic at the rate
	rlLatencyMs   = 50        // queue length in ms of traffic at the rate
	rlIfbPrefix   = "fbifb"
	rlAliasPrefix = "fatbox-ratelimit:"
	rlFilterPrio  = 1
)

// applyRateLimit shapes traffic from the container (egressBitsPerSec) and to
// the container (ingressBitsPerSec) on hostVeth; 0 means unlimited (nothing is
// installed for that direction, and anything installed before is removed).
// Re-applying replaces the previous limits.
func applyRateLimit(hostVeth string, egressBitsPerSec, ingressBitsPerSec uint64) error {
	link, err := netlink.LinkByName(hostVeth)
	if err != nil {
		return fmt.Errorf("rate limit %s: %w", hostVeth, err)
	}
	idx := link.Attrs().Index

	// To the container: root tbf on the host veth.
	if ingressBitsPerSec > 0 {
		if err := netlink.QdiscReplace(makeTbf(idx, ingressBitsPerSec)); err != nil {
			return fmt.Errorf("rate limit %s: tbf: %w", hostVeth, err)
		}
	} else if err := delRootQdisc(link); err != nil {
		return fmt.Errorf("rate limit %s: %w", hostVeth, err)
	}

	// From the container: ingress -> ifb -> tbf.
	if egressBitsPerSec > 0 {
		ifb, err := ensureIfb(hostVeth)
		if err != nil {
			return fmt.Errorf("rate limit %s: %w", hostVeth, err)
		}
		if err := netlink.QdiscReplace(makeTbf(ifb.Attrs().Index, egressBitsPerSec)); err != nil {
			return fmt.Errorf("rate limit %s: tbf on %s: %w", hostVeth, ifb.Attrs().Name, err)
		}
		if err := ensureRedirect(link, ifb); err != nil {
			return fmt.Errorf("rate limit %s: %w", hostVeth, err)
		}
	} else {
		if err := delIngressQdisc(link); err != nil {
			return fmt.Errorf("rate limit %s: %w", hostVeth, err)
		}
		if err := delIfb(hostVeth); err != nil {
			return fmt.Errorf("rate limit %s: %w", hostVeth, err)
		}
	}
	return nil
}

// removeRateLimit removes both directions' limits from hostVeth and deletes its
// ifb device. It is idempotent and succeeds when hostVeth no longer exists
// (the ifb device, which outlives the veth, is still deleted).
func removeRateLimit(hostVeth string) error {
	var errs []error
	link, err := netlink.LinkByName(hostVeth)
	switch {
	case err == nil:
		if err := delRootQdisc(link); err != nil {
			errs = append(errs, err)
		}
		if err := delIngressQdisc(link); err != nil {
			errs = append(errs, err)
		}
	case isLinkNotFound(err):
	default:
		errs = append(errs, err)
	}
	if err := delIfb(hostVeth); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove rate limit %s: %w", hostVeth, err)
	}
	return nil
}

// burstBytes is the tbf bucket size for rate (bytes/s).
func burstBytes(rate uint64) uint64 {
	return max(rate*rlBurstTime/1000, rlMinBurst)
}

func makeTbf(linkIndex int, bitsPerSec uint64) *netlink.Tbf {
	rate := max(bitsPerSec/8, 1) // bytes/s
	burst := burstBytes(rate)
	limit := min(rate*rlLatencyMs/1000+burst, 1<<31)
	return &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: linkIndex,
			Handle:    netlink.MakeHandle(1, 0),
			Parent:    netlink.HANDLE_ROOT,
		},
		Rate:   rate,
		Limit:  uint32(limit),
		Buffer: netlink.Xmittime(rate, uint32(min(burst, 1<<31))),
	}
}

// ifbName is the ifb device carrying hostVeth's traffic from the container.
func ifbName(hostVeth string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(hostVeth))
	return fmt.Sprintf("%s%08x", rlIfbPrefix, h.Sum32())
}

func ensureIfb(hostVeth string) (netlink.Link, error) {
	name := ifbName(hostVeth)
	alias := rlAliasPrefix + hostVeth
	l, err := netlink.LinkByName(name)
	if isLinkNotFound(err) {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		attrs.TxQLen = 1000
		if err := netlink.LinkAdd(&netlink.Ifb{LinkAttrs: attrs}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("add ifb %s: %w", name, err)
		}
		l, err = netlink.LinkByName(name)
	}
	if err != nil {
		return nil, fmt.Errorf("ifb %s: %w", name, err)
	}
	if l.Type() != "ifb" {
		return nil, fmt.Errorf("link %s exists and is a %s, not an ifb", name, l.Type())
	}
	if a := l.Attrs().Alias; a != alias {
		if a != "" && strings.HasPrefix(a, rlAliasPrefix) {
			return nil, fmt.Errorf("ifb %s already belongs to %s (name hash collision)", name, strings.TrimPrefix(a, rlAliasPrefix))
		}
		if err := netlink.LinkSetAlias(l, alias); err != nil {
			return nil, fmt.Errorf("ifb %s: set alias: %w", name, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("ifb %s: up: %w", name, err)
	}
	return l, nil
}

func delIfb(hostVeth string) error {
	name := ifbName(hostVeth)
	l, err := netlink.LinkByName(name)
	if isLinkNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ifb %s: %w", name, err)
	}
	if l.Type() != "ifb" || l.Attrs().Alias != rlAliasPrefix+hostVeth {
		return nil // not ours: leave it alone
	}
	if err := netlink.LinkDel(l); err != nil && !isLinkNotFound(err) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete ifb %s: %w", name, err)
	}
	return nil
}

// ensureRedirect makes hostVeth's ingress qdisc hold exactly one filter: a
// match-all u32 redirecting every frame to ifb.
func ensureRedirect(link, ifb netlink.Link) error {
	idx := link.Attrs().Index
	parent := netlink.MakeHandle(0xffff, 0)
	qdiscs, err := netlink.QdiscList(link)
	if err != nil {
		return fmt.Errorf("list qdiscs: %w", err)
	}
	have := false
	for _, q := range qdiscs {
		if q.Attrs().Parent == netlink.HANDLE_INGRESS {
			have = true
		}
	}
	if have {
		filters, err := netlink.FilterList(link, parent)
		if err != nil {
			return fmt.Errorf("list ingress filters: %w", err)
		}
		if len(filters) == 1 && redirectsTo(filters[0], ifb.Attrs().Index) {
			return nil
		}
		// Something else (a previous apply to another ifb index, or foreign
		// filters): start over with a fresh ingress qdisc.
		if err := delIngressQdisc(link); err != nil {
			return err
		}
	}
	ingress := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{
		LinkIndex: idx,
		Handle:    netlink.MakeHandle(0xffff, 0),
		Parent:    netlink.HANDLE_INGRESS,
	}}
	if err := netlink.QdiscAdd(ingress); err != nil {
		return fmt.Errorf("add ingress qdisc: %w", err)
	}
	filter := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: idx,
			Parent:    parent,
			Priority:  rlFilterPrio,
			Protocol:  unix.ETH_P_ALL,
		},
		ClassId:    netlink.MakeHandle(1, 1),
		RedirIndex: ifb.Attrs().Index,
		Actions:    []netlink.Action{netlink.NewMirredAction(ifb.Attrs().Index)},
	}
	if err := netlink.FilterAdd(filter); err != nil {
		return fmt.Errorf("add redirect filter: %w", err)
	}
	return nil
}

func redirectsTo(f netlink.Filter, ifindex int) bool {
	u, ok := f.(*netlink.U32)
	if !ok {
		return false
	}
	for _, a := range u.Actions {
		if m, ok := a.(*netlink.MirredAction); ok && m.Ifindex == ifindex && m.MirredAction == netlink.TCA_EGRESS_REDIR {
			return true
		}
	}
	return false
}

// delRootQdisc restores the link's default root qdisc (deleting a root qdisc
// makes the kernel attach the default again).
func delRootQdisc(link netlink.Link) error {
	qdiscs, err := netlink.QdiscList(link)
	if err != nil {
		if isLinkNotFound(err) || errors.Is(err, unix.ENODEV) {
			return nil
		}
		return fmt.Errorf("list qdiscs: %w", err)
	}
	for _, q := range qdiscs {
		if q.Attrs().Parent != netlink.HANDLE_ROOT || q.Attrs().Handle == 0 {
			continue // the default qdisc (handle 0) is not deletable
		}
		if err := netlink.QdiscDel(q); err != nil && !ignorableDelErr(err) {
			return fmt.Errorf("delete root qdisc %s: %w", q.Type(), err)
		}
	}
	return nil
}

func delIngressQdisc(link netlink.Link) error {
	qdiscs, err := netlink.QdiscList(link)
	if err != nil {
		if isLinkNotFound(err) || errors.Is(err, unix.ENODEV) {
			return nil
		}
		return fmt.Errorf("list qdiscs: %w", err)
	}
	for _, q := range qdiscs {
		if q.Attrs().Parent != netlink.HANDLE_INGRESS {
			continue
		}
		if err := netlink.QdiscDel(q); err != nil && !ignorableDelErr(err) {
			return fmt.Errorf("delete ingress qdisc: %w", err)
		}
	}
	return nil
}

func ignorableDelErr(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL) || isLinkNotFound(err)
}

func isLinkNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return err != nil && errors.As(err, &nf)
}
