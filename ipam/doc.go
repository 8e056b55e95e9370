// Package ipam hands out static IPv4 addresses from pools, keyed by the
// owner's name: allocating for "web-01" twice returns the same address, and a
// released address waits in quarantine (default 24 h) where only its old owner
// can take it back.
//
// Layout in the store (inventory/store):
//
//	ipam/pools/<pool>             the Pool
//	ipam/leases/<pool>/<name>     the Lease: name → address (sticky lookup is one read)
//	ipam/blocks/<pool>/<index>    a block of 64 addresses: the host with affinity to
//	                              it, and offset → owner name (or quarantine end)
//
// An allocation reads the name's lease, reads one block, and writes the block
// and the lease in ONE store transaction with compare-and-swap on both, so a
// crash at any instant leaves either no lease or a whole one, and two
// writers can never both win an address.
//
// Scale (after Calico's block affinity): each host claims blocks and
// allocates inside them, so hosts rarely touch the same key; each process
// remembers which blocks are its and which are full, so an allocation reads
// a constant number of keys however full the pool is. Only when every block
// is claimed does a host borrow free addresses from other hosts' blocks,
// which lists all blocks (the last ~64 allocations of a full pool).
//
// Hazards:
//   - Pools are immutable once created (ranges, reserved addresses): the
//     per-process block cache relies on it. Change a pool by creating another.
//   - Quarantine times use the allocating host's clock; keep hosts in NTP sync.
//   - AllocateExact's ARP probe is advisory: a host that is down or silent
//     is not seen. It only runs when the pool's bridge exists on this host.
//   - GC fails closed: without the list of live owners it frees nothing, and
//     it releases (into quarantine) rather than deletes.
//   - Removing a pool is refused while a container record uses it (with or
//     without force) and when the records cannot be read (Allocator.Containers).
//     It marks the pool deleting first; every lease and block transaction
//     checks the pool record's version, so nothing is allocated in a pool
//     being removed, and a removal cut short is finished by running it again.
//   - Two pools never share a bridge, or a VLAN on one uplink: checked with
//     the overlap check under one guard key, so racing creates cannot both win.
package ipam
