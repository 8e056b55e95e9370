package network

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vishvananda/netlink"
)

// ErrNoLink: the container has no host veth (it is not attached).
var ErrNoLink = errors.New("container has no host veth")

// LinkCounters are a container's traffic counters from its own point of
// view, read from the host end of its veth pair (what the host veth
// receives, the container sent): In is to the container (the host veth's
// tx), Out is from it (the host veth's rx). They count from the veth's
// creation, so they start again at every boot. Drops are the veth's own
// (tx_dropped, rx_dropped), not the rate limiter's queue: traffic from the
// container is counted as it leaves the container, before the shaper on
// its ifb, so a rate-limited container's Out includes what the shaper
// dropped.
type LinkCounters struct {
	// HostVeth and Index name the link read; a new veth (a new boot) has
	// a new index.
	HostVeth string
	Index    int

	BytesIn, BytesOut     uint64
	PacketsIn, PacketsOut uint64
	DropsIn, DropsOut     uint64
}

// Counters reads the counters of container's host veth (in the caller's
// network namespace). A container that is not attached is ErrNoLink; a
// link of that name that is not fatbox's veth of container is refused.
func Counters(container string) (LinkCounters, error) {
	name := HostVethName(container)
	l, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return LinkCounters{}, fmt.Errorf("counters of %q: no link %s: %w", container, name, ErrNoLink)
	}
	if err != nil {
		return LinkCounters{}, fmt.Errorf("counters of %q: look up %s: %w", container, name, err)
	}
	at := l.Attrs()
	if l.Type() != "veth" || at.Alias != AliasPrefix+container {
		return LinkCounters{}, fmt.Errorf("counters of %q: %s is a %s link with alias %q, not fatbox's veth of %q", container, name, l.Type(), at.Alias, container)
	}
	if at.Statistics == nil {
		return LinkCounters{}, fmt.Errorf("counters of %q: the kernel gave no statistics for %s", container, name)
	}
	return countersOf(at), nil
}

// countersOf turns a host veth's statistics into the container's view.
func countersOf(at *netlink.LinkAttrs) LinkCounters {
	s := at.Statistics
	return LinkCounters{HostVeth: at.Name, Index: at.Index,
		BytesIn: s.TxBytes, BytesOut: s.RxBytes, PacketsIn: s.TxPackets, PacketsOut: s.RxPackets,
		DropsIn: s.TxDropped, DropsOut: s.RxDropped}
}

// AllCounters reads the counters of every fatbox host veth (in the
// caller's network namespace) in one link dump, keyed by container
// (instance) name: a scrape's cost stays flat per container, where a
// Counters call per container opens a netlink socket and asks each time.
func AllCounters() (map[string]LinkCounters, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("counters: list the links: %w", err)
	}
	out := map[string]LinkCounters{}
	for _, l := range links {
		at := l.Attrs()
		container, ok := strings.CutPrefix(at.Alias, AliasPrefix)
		if !ok || l.Type() != "veth" || at.Name != HostVethName(container) || at.Statistics == nil {
			continue
		}
		out[container] = countersOf(at)
	}
	return out, nil
}
