package network

import (
	"errors"
	"fmt"

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
	s := at.Statistics
	if s == nil {
		return LinkCounters{}, fmt.Errorf("counters of %q: the kernel gave no statistics for %s", container, name)
	}
	return LinkCounters{HostVeth: name, Index: at.Index,
		BytesIn: s.TxBytes, BytesOut: s.RxBytes, PacketsIn: s.TxPackets, PacketsOut: s.RxPackets,
		DropsIn: s.TxDropped, DropsOut: s.RxDropped}, nil
}
