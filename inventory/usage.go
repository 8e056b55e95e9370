package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fatbox/fatbox/inventory/store"
)

// Usage counters that survive restarts.
//
// The kernel's counters of a container — its cgroups' CPU time, block IO,
// memory-limit hits and OOM kills, its host veth's bytes, packets and
// drops — start again from zero whenever it boots: a stop deletes its
// cgroups (`runc delete`) and its veth (the detach), a start makes new
// ones. fatbox keeps a running total of each such counter per container ID
// (so a rename keeps it) in the store at inventory/usage/<id>, as a base
// plus the last raw reading:
//
//	total = base + last
//
// A reading is a counter's raw value and the epoch of its source: what
// tells this incarnation of a cgroup or veth from the one before (the
// engine uses the kernel's boot id with the cgroup directory's inode or
// the veth's ifindex). Applying a reading:
//
//   - same epoch, value >= last: last = value (the counter moved on);
//   - another epoch, or a value below last (the source was made anew by a
//     restart or a reboot): the old incarnation ended at last, so
//     base += last and last = value.
//
// The value-below rule alone would miss a restart whose new counter has
// already passed the old one when it is first read (a container that sent
// 100 MB, restarted and sent 200 MB would be billed 200 MB): the epoch
// catches that; the value rule covers a reading without an epoch.
//
// Who reads: the engine takes a final reading in its stop and remove path
// right before it stops runc (the cgroups and the veth are still there),
// the daemon samples every running container once a minute, and every
// stats request is a sample too. Each write is a CAS (store.Update); the
// engine reads and records one container's counters under that
// container's lock, so an older reading never lands after a newer one
// (which would look like a reset and count twice).
//
// What is lost: a container found dead by the daemon's Reconcile after a
// host crash or reboot can no longer be read (its cgroups and veth went
// with the host), so its usage since the last sample is lost: at most the
// sampling interval while a daemon ran. A container whose init died while
// its cgroups are still there (runc still lists it) is read by the halt
// that takes it down. Usage while no daemon runs but the container does is
// not lost: the kernel keeps counting and the next sample reads it. The
// final reading is best effort: when it fails (the store is down), the
// interval since the last sample is lost the same way.
//
// Gauges (memory in use, processes) are current values, never stored.

// Names of the counters kept; the same words are the API's field names.
const (
	UsageCPUNanos        = "cpu_ns"            // cpuacct.usage
	UsageDiskReadBytes   = "disk_read_bytes"   // blkio throttle io_service_bytes_recursive, Read
	UsageDiskWriteBytes  = "disk_write_bytes"  // ... Write
	UsageDiskReadOps     = "disk_read_ops"     // blkio throttle io_serviced_recursive, Read
	UsageDiskWriteOps    = "disk_write_ops"    // ... Write
	UsageNetBytesIn      = "net_bytes_in"      // to the container: its host veth's tx
	UsageNetBytesOut     = "net_bytes_out"     // from the container: its host veth's rx
	UsageNetPacketsIn    = "net_packets_in"    //
	UsageNetPacketsOut   = "net_packets_out"   //
	UsageNetDropsIn      = "net_drops_in"      // host veth tx_dropped
	UsageNetDropsOut     = "net_drops_out"     // host veth rx_dropped
	UsageOOMKills        = "oom_kills"         // memory.oom_control oom_kill
	UsageMemoryLimitHits = "memory_limit_hits" // memory.failcnt
)

// UsageCounter is one counter's running total: Base + Last.
type UsageCounter struct {
	// Base is what the container's earlier incarnations counted.
	Base uint64 `json:"base"`
	// Last is the last raw reading of the current incarnation.
	Last uint64 `json:"last"`
	// Epoch names the current incarnation's source ("" when not known).
	Epoch string `json:"epoch,omitempty"`
	// Resets is how many times a new incarnation was seen.
	Resets uint64 `json:"resets,omitempty"`
}

// Total is the counter's running total.
func (c UsageCounter) Total() uint64 { return c.Base + c.Last }

// Reading is one raw value of a counter with the epoch of its source.
type Reading struct {
	Value uint64
	Epoch string
}

// Usage is a container's kept counters.
type Usage struct {
	ContainerID string `json:"container_id"`
	// Name is the container's name at the last reading.
	Name     string                  `json:"name"`
	Counters map[string]UsageCounter `json:"counters"`
	// FirstAt is the first reading's time: the totals count from the
	// incarnation that was running then. SampledAt is the last reading's.
	FirstAt   time.Time `json:"first_at"`
	SampledAt time.Time `json:"sampled_at"`
}

// Total is the running total of counter name (0 if never read).
func (u Usage) Total(name string) uint64 { return u.Counters[name].Total() }

// Apply folds readings into u by the rules above.
func (u *Usage) Apply(readings map[string]Reading) {
	if u.Counters == nil {
		u.Counters = map[string]UsageCounter{}
	}
	for name, r := range readings {
		c, seen := u.Counters[name]
		newEpoch := seen && c.Epoch != "" && r.Epoch != "" && r.Epoch != c.Epoch
		if newEpoch || r.Value < c.Last {
			c.Base += c.Last
			c.Resets++
		}
		c.Last, c.Epoch = r.Value, r.Epoch
		u.Counters[name] = c
	}
}

// UsagePrefix starts every usage key: inventory/usage/<container id>.
const UsagePrefix = "inventory/usage/"

func usageKey(id string) (string, error) {
	if id == "" || strings.ContainsAny(id, "/\x00") {
		return "", fmt.Errorf("usage: container id %q is not valid: %w", id, ErrInvalid)
	}
	return UsagePrefix + id, nil
}

// Usage reads container id's kept counters; one never read has none (a
// zero SampledAt), which is no error.
func (i *Inventory) Usage(ctx context.Context, id string) (Usage, error) {
	k, err := usageKey(id)
	if err != nil {
		return Usage{}, err
	}
	kv, err := i.Store.Get(ctx, k)
	if errors.Is(err, store.ErrNotFound) {
		return Usage{ContainerID: id}, nil
	}
	if err != nil {
		return Usage{}, err
	}
	return decodeUsage(kv)
}

// Usages reads every container's kept counters at once (one store list:
// a metrics scrape reads them all), by container id.
func (i *Inventory) Usages(ctx context.Context) (map[string]Usage, error) {
	kvs, err := i.Store.List(ctx, UsagePrefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Usage, len(kvs))
	for _, kv := range kvs {
		id := strings.TrimPrefix(kv.Key, UsagePrefix)
		if strings.Contains(id, "/") {
			continue // another key under the prefix, not a container's counters
		}
		u, err := decodeUsage(kv)
		if err != nil {
			return nil, err
		}
		out[id] = u
	}
	return out, nil
}

func decodeUsage(kv store.KV) (Usage, error) {
	var u Usage
	if err := json.Unmarshal(kv.Value, &u); err != nil {
		return Usage{}, fmt.Errorf("usage record %q is corrupt: %w", kv.Key, err)
	}
	return u, nil
}

// RecordUsage applies readings taken at at to container id's counters
// (named name now) with a CAS write, and returns the counters as stored.
// No readings: nothing is written. Callers serialise the readings of one
// container (see the rules above).
func (i *Inventory) RecordUsage(ctx context.Context, id, name string, readings map[string]Reading, at time.Time) (Usage, error) {
	k, err := usageKey(id)
	if err != nil {
		return Usage{}, err
	}
	if len(readings) == 0 {
		return i.Usage(ctx, id)
	}
	var out Usage
	_, err = store.Update(ctx, i.Store, k, func(cur []byte, exists bool) ([]byte, error) {
		u := Usage{ContainerID: id}
		if exists {
			var err error
			if u, err = decodeUsage(store.KV{Key: k, Value: cur}); err != nil {
				return nil, err
			}
		}
		if u.FirstAt.IsZero() {
			u.FirstAt = at.UTC()
		}
		u.Name, u.SampledAt = name, at.UTC()
		u.Apply(readings)
		out = u
		return json.Marshal(u)
	})
	if err != nil {
		return Usage{}, fmt.Errorf("record the usage of %q: %w", name, err)
	}
	if i.UsagePeriod > 0 {
		return out, i.RecordPeriod(ctx, out, i.UsagePeriod)
	}
	return out, nil
}
