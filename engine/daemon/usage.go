package daemon

import (
	"context"
	"net/http"
	"time"

	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/inventory"
)

// usageInterval is how often the daemon samples every running container's
// counters: what a container found dead after a host crash loses is at
// most this (see inventory/usage.go).
const usageInterval = time.Minute

func (d *Daemon) usageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/containers/{name}/stats", func(w http.ResponseWriter, r *http.Request) {
		s, err := d.engine.Stats(r.Context(), r.PathValue("name"))
		reply(w, r, toStats(s), err)
	})
}

// sampleUsage samples every running container of this node at once and
// then every usageInterval, until ctx ends.
func (d *Daemon) sampleUsage(ctx context.Context) {
	for {
		if err := d.engine.SampleUsage(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("sample usage", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(usageInterval):
		}
	}
}

func toStats(s engine.Stats) api.Stats {
	c := s.Counters
	g := s.Gauges
	return api.Stats{Name: s.Name, ID: s.ID, Node: s.Node, State: s.State, ReadAt: s.ReadAt, SampledAt: s.SampledAt,
		Counters: api.UsageCounters{
			CPUNanos: c[inventory.UsageCPUNanos], CPUSeconds: float64(c[inventory.UsageCPUNanos]) / 1e9,
			DiskReadBytes: c[inventory.UsageDiskReadBytes], DiskWriteBytes: c[inventory.UsageDiskWriteBytes],
			DiskReadOps: c[inventory.UsageDiskReadOps], DiskWriteOps: c[inventory.UsageDiskWriteOps],
			NetBytesIn: c[inventory.UsageNetBytesIn], NetBytesOut: c[inventory.UsageNetBytesOut],
			NetPacketsIn: c[inventory.UsageNetPacketsIn], NetPacketsOut: c[inventory.UsageNetPacketsOut],
			NetDropsIn: c[inventory.UsageNetDropsIn], NetDropsOut: c[inventory.UsageNetDropsOut],
			OOMKills: c[inventory.UsageOOMKills], MemoryLimitHits: c[inventory.UsageMemoryLimitHits],
		},
		Gauges: api.UsageGauges{MemoryUsageBytes: g.MemoryUsageBytes, MemoryMaxUsageBytes: g.MemoryMaxUsageBytes,
			MemoryCacheBytes: g.MemoryCacheBytes, MemoryRSSBytes: g.MemoryRSSBytes, MemorySwapBytes: g.MemorySwapBytes, Pids: g.Pids},
	}
}
