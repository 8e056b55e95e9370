// Package network is the only fatbox package that talks netlink. It attaches
// a container's network namespace to its pool's Linux bridge and detaches it
// again:
//
//	bridge (created when the pool says create_bridge, else used as is)
//	  ├── <uplink>.<vlan>   802.1Q sub-interface of the pool's uplink (VLAN pools only)
//	  └── fbXXXXXXXXXXXX    host side of the container's veth pair (alias "fatbox:<name>")
//	        └── eth0        inside the container's netns: MAC 02:fb:<IPv4>, the
//	                        leased address, default route via the gateway
//
// plus the veth's rate limits and anti-spoofing rules (ratelimit.go,
// portsec.go) and a gratuitous-ARP burst from inside the container so
// neighbours forget the address's previous owner.
//
// Attach registers an undo for every step with a revert.Reverter: when any step
// fails, everything Attach made so far is removed again (veth, qdiscs,
// rules, a VLAN link or bridge it created), so a failed Attach leaves the host
// as it found it. Detach is idempotent and also cleans up after a partial
// Attach or a crash; Owned and RemoveOrphans find host veths by their alias.
//
// Hazards:
//
//   - Network namespaces belong to OS threads, not goroutines. Code that
//     enters a container's netns (setns) must runtime.LockOSThread first and
//     must not unlock a thread it could not switch back: the next goroutine
//     scheduled there would silently work in the container's namespace. This
//     package enters a netns only in a dedicated goroutine (inNetns) that
//     stays locked, so its thread is discarded, unless switching back worked;
//     for netlink it uses a handle opened in the netns instead (no thread
//     switch at all).
//   - Named namespaces are bind mounts in /var/run/netns. CreateNetns first
//     makes that directory a shared mount of itself, as `ip netns add` does
//     the first time it runs: a namespace mounted on the plain directory
//     before iproute2's bind would stay mounted underneath it, its name
//     never removable (EBUSY). A plain file left at a name (a crash between
//     the file and its mount) is replaced, never entered.
//   - Callers serialise Attach and Detach per container; two Attaches of
//     the same name race on the same link names.
//   - The bridge and the VLAN link are shared by every container of a pool:
//     Detach never removes them, and Attach never changes an existing bridge
//     (its ports, uplink, address or MTU). A bridge Attach creates is removed
//     again only when that same Attach fails and the bridge has no ports.
//   - Attach never brings an uplink up or down and never enslaves one: only the
//     VLAN sub-interface it creates goes on the bridge. Tests must never give
//     it a real NIC as uplink; they use a veth of their own.
//   - Attach refuses to work in the caller's own network namespace, so a
//     wrong Netns path can never rename or re-address a host interface.
package network
