package api

import (
	"context"
	"net/http"
	"time"
)

// Stats is GET /v1/containers/{name}/stats: a container's usage.
//
// Counters are running totals kept across restarts of the container and
// of the daemon (the kernel's own start again at every boot): they only
// grow. A container found dead after a host crash loses what it used
// since the last sample (the daemon samples every running container once a
// minute; every stats request is a sample too). Gauges are values of now,
// zero unless the container runs.
type Stats struct {
	Name string `json:"name"`
	// ID is the container's stable identity; the totals are kept by it.
	ID   string `json:"id"`
	Node string `json:"node,omitempty"`
	// State is runc's now: "running", "stopped", ...; "" when runc does
	// not know the container (stopped and taken down) or it is another
	// node's.
	State string `json:"state"`
	// ReadAt is when the kernel's counters were read for this answer;
	// absent when nothing could be read (not running, another node's):
	// the counters are then the stored totals as of SampledAt.
	ReadAt time.Time `json:"read_at,omitzero"`
	// SampledAt is the time of the last reading the totals include;
	// absent when the container was never read.
	SampledAt time.Time     `json:"sampled_at,omitzero"`
	Counters  UsageCounters `json:"counters"`
	Gauges    UsageGauges   `json:"gauges"`
}

// UsageCounters are a container's running totals. In and Out are from the
// container's point of view; disk counts are what cgroup v1 charges to it
// (reads and direct writes, not buffered writeback).
type UsageCounters struct {
	CPUNanos uint64 `json:"cpu_ns"`
	// CPUSeconds is CPUNanos in seconds, for people.
	CPUSeconds      float64 `json:"cpu_seconds"`
	DiskReadBytes   uint64  `json:"disk_read_bytes"`
	DiskWriteBytes  uint64  `json:"disk_write_bytes"`
	DiskReadOps     uint64  `json:"disk_read_ops"`
	DiskWriteOps    uint64  `json:"disk_write_ops"`
	NetBytesIn      uint64  `json:"net_bytes_in"`
	NetBytesOut     uint64  `json:"net_bytes_out"`
	NetPacketsIn    uint64  `json:"net_packets_in"`
	NetPacketsOut   uint64  `json:"net_packets_out"`
	NetDropsIn      uint64  `json:"net_drops_in"`
	NetDropsOut     uint64  `json:"net_drops_out"`
	OOMKills        uint64  `json:"oom_kills"`
	MemoryLimitHits uint64  `json:"memory_limit_hits"`
}

// UsageGauges are a running container's values of now.
type UsageGauges struct {
	MemoryUsageBytes uint64 `json:"memory_usage_bytes"`
	// MemoryMaxUsageBytes is the peak since the container's last start.
	MemoryMaxUsageBytes uint64 `json:"memory_max_usage_bytes"`
	MemoryCacheBytes    uint64 `json:"memory_cache_bytes"`
	MemoryRSSBytes      uint64 `json:"memory_rss_bytes"`
	MemorySwapBytes     uint64 `json:"memory_swap_bytes"`
	Pids                uint64 `json:"pids"`
}

// Stats reads a container's usage.
func (c *Client) Stats(ctx context.Context, name string) (Stats, error) {
	var out Stats
	p, err := path("container", "/v1/containers/%s/stats", name)
	if err != nil {
		return out, err
	}
	err = c.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}
