// Package arp sends RFC 5227 ARP probes and gratuitous ARP announcements on a
// Linux interface through an AF_PACKET raw socket.
//
// Probe asks "does anybody on this link already use this IPv4 address?" before
// the address is handed to a container: it broadcasts ARP probes (sender IP
// 0.0.0.0) on the pool's bridge and reports the first host that answers, that
// announces the address, or that is probing for it at the same time.
// Announce is the other half: once a container owns its address, a burst of
// gratuitous ARPs (sender IP = target IP = the address) from the container's
// eth0 refreshes stale neighbour caches on the link, e.g. after an address moved
// from one container or host to another.
//
// Both are pure Go on golang.org/x/sys/unix; nothing is shelled out.
//
// # Hazards
//
// Privilege: opening an AF_PACKET socket needs CAP_NET_RAW in the user
// namespace that owns the current network namespace. Without it Probe and
// Announce fail with an error wrapping EPERM (errors.Is(err,
// os.ErrPermission)); run as root or grant the capability.
//
// Network namespace: the interface is looked up and the socket is opened in
// the network namespace of the calling OS thread. A caller that switches
// namespaces (setns(2), e.g. to announce from inside a container on its eth0)
// must call runtime.LockOSThread before the switch, call Probe or Announce on
// that same goroutine, and switch back before runtime.UnlockOSThread — or leave
// the thread locked so the runtime discards it if switching back fails. Neither
// function starts goroutines that touch the namespace: the socket is created on
// the calling goroutine, and once created it stays bound to its namespace.
//
// Probes are advisory: a host that holds the address but does not answer ARP
// (down, firewalled with arptables/nftables arp rules, arp_ignore, a different
// L2 segment, or simply slower than Wait) cannot be detected, so InUse=false
// means "nobody answered", not "free". The lease database stays the authority;
// a probe only catches addresses taken behind its back. Conversely the host
// never hears its own probes (the socket only receives frames coming in), so
// Probe also reports an address configured on any interface of the calling
// namespace (e.g. the bridge's gateway address) as in use without sending
// anything.
//
// Timing: RFC 5227 spaces probes 1–2 s apart at random and waits 2 s after the
// last one; the defaults here (3 probes 100 ms apart, 300 ms wait, about half a
// second in all) are tuned for a local bridge where answers come back in
// microseconds. Raise Interval and Wait for links with slow or sleepy hosts.
//
// Announce writes whatever sender MAC it is given, also as the Ethernet source
// address: announcing someone else's address or MAC poisons neighbour caches
// on the link just as effectively as announcing your own.
package arp
