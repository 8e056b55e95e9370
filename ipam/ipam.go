package ipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/fatbox/fatbox/inventory/store"
)

// Sentinel errors; check with errors.Is.
var (
	ErrPoolNotFound  = errors.New("pool not found")
	ErrLeaseNotFound = errors.New("lease not found")
	ErrPoolFull      = errors.New("pool is full")
	ErrInUse         = errors.New("address in use")
	ErrPoolInUse     = errors.New("pool has leases")
	// ErrInvalidPool is wrapped by every *FieldError: a pool field breaks a rule.
	ErrInvalidPool = errors.New("invalid pool")
	// ErrInvalid: a lease request breaks a rule (an owner name, an
	// address outside the pool); the message says which.
	ErrInvalid = errors.New("invalid lease request")
	// ErrPoolConflict: a new pool clashes with an existing one (name,
	// addresses, bridge, or VLAN on an uplink).
	ErrPoolConflict = errors.New("pool conflicts with an existing pool")
	// ErrPoolExists: a pool of that name exists. It is also an ErrPoolConflict.
	ErrPoolExists error = poolExists{}
)

type poolExists struct{}

func (poolExists) Error() string        { return "pool exists" }
func (poolExists) Is(target error) bool { return target == ErrPoolConflict }

// Lease states.
const (
	Active   = "active"
	Released = "released" // in quarantine; only its old owner can have it back
)

// Lease is one name's address in one pool.
type Lease struct {
	Pool      string     `json:"pool"`
	Name      string     `json:"name"`
	IP        netip.Addr `json:"ip"`
	State     string     `json:"state"`
	Host      string     `json:"host,omitempty"` // host that allocated it
	CreatedAt time.Time  `json:"created_at"`
	// QuarantineUntil is when a released address may go to another name.
	QuarantineUntil time.Time `json:"quarantine_until,omitzero"`
	Version         uint64    `json:"-"`
}

// block is the stored record of one block of BlockSize addresses: who claimed
// it, and which offsets are taken by which name.
type block struct {
	Host string           `json:"host,omitempty"` // the host with affinity to this block
	Used map[string]entry `json:"used,omitempty"` // offset (decimal) -> entry
}

type entry struct {
	Name string `json:"n"`
	// Until is set while the address is released: the unix second its
	// quarantine ends. 0 means leased.
	Until int64 `json:"u,omitempty"`
}

// Prober answers whether something on a bridge answers ARP for an address.
// ipam/arp provides one; nil on an Allocator means no probe.
type Prober interface {
	Probe(ctx context.Context, bridge string, ip netip.Addr) (inUse bool, mac net.HardwareAddr, err error)
}

// Allocator hands out addresses. The zero value is not usable: Store must be set.
type Allocator struct {
	// Store holds pools, leases and blocks. Required.
	Store store.Store
	// Host names this host for block affinity; "" means "local".
	Host string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Prober checks AllocateExact's address on the pool's bridge; nil means no probe.
	Prober Prober
	// BridgeExists says whether a bridge exists on this host (probes run only
	// then); nil means ask LinkKind, or probe whenever Prober is set.
	BridgeExists func(name string) bool
	// LinkKind says whether a network interface exists on this host and its
	// kind: "bridge", "device" (a NIC), or another link kind ("veth",
	// "vlan", "bond", ...). CreatePool refuses a bridge name that is an
	// existing link of another kind. nil skips the check.
	LinkKind func(name string) (kind string, exists bool, err error)
	// Containers returns the pool of every container record, on every node,
	// by container name. DeletePool refuses while a container uses the pool,
	// and fails closed when this fails. nil means there are none.
	Containers func(ctx context.Context) (map[string]string, error)

	mu      sync.Mutex
	cursors map[string]*cursor
}

// cursor is this process's memory of a pool's blocks, so an allocation does
// not look at every block: the blocks this host claimed, and how far it got.
type cursor struct {
	mu      sync.Mutex // one allocation of a new address at a time per pool in this process
	pool    uint64     // the version of the pool record it was made for
	loaded  bool
	mine    []int        // blocks with affinity to this host, in claim order
	claimed map[int]bool // blocks known to be claimed by anyone
	full    map[int]bool // blocks of mine seen full
	skip    int          // mine[:skip] are all full: not looked at again
	blocks  []int        // the pool's blocks with usable addresses (pools do not change)
	next    int          // index into blocks for the next claim
}

func (a *Allocator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Allocator) host() string {
	if a.Host == "" {
		return "local"
	}
	return a.Host
}

func poolKey(p string) string         { return "ipam/pools/" + p }
func leaseKey(p, n string) string     { return "ipam/leases/" + p + "/" + n }
func leasePrefix(p string) string     { return "ipam/leases/" + p + "/" }
func blockKey(p string, b int) string { return fmt.Sprintf("ipam/blocks/%s/%05d", p, b) }
func blockPrefix(p string) string     { return "ipam/blocks/" + p + "/" }

// retry runs fn until it does not return a conflict.
func retry(ctx context.Context, fn func() error) error { return store.Retry(ctx, fn) }

// listJSON decodes every record under prefix; set receives each record's version.
func listJSON[T any](ctx context.Context, s store.Store, prefix, kind string, set func(*T, uint64)) ([]T, error) {
	kvs, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(kvs))
	for _, kv := range kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("%s record %q is corrupt: %w", kind, kv.Key, err)
		}
		set(&v, kv.Version)
		out = append(out, v)
	}
	return out, nil
}

// invalidError is an error whose text is msg and which matches ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}
