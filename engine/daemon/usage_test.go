package daemon

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/inventory"
)

// Every counter the engine keeps reaches the API under its own name (the
// inventory's names are the JSON fields), and the gauges and times go
// across.
func TestToStats(t *testing.T) {
	names := []string{inventory.UsageCPUNanos, inventory.UsageDiskReadBytes, inventory.UsageDiskWriteBytes,
		inventory.UsageDiskReadOps, inventory.UsageDiskWriteOps, inventory.UsageNetBytesIn, inventory.UsageNetBytesOut,
		inventory.UsageNetPacketsIn, inventory.UsageNetPacketsOut, inventory.UsageNetDropsIn, inventory.UsageNetDropsOut,
		inventory.UsageOOMKills, inventory.UsageMemoryLimitHits}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s := engine.Stats{Name: "web-01", ID: "id-1", Node: "n1", State: "running", ReadAt: now, SampledAt: now, Counters: map[string]uint64{},
		Gauges: engine.Gauges{MemoryUsageBytes: 1, MemoryMaxUsageBytes: 2, MemoryCacheBytes: 3, MemoryRSSBytes: 4, MemorySwapBytes: 5, Pids: 6}}
	for i, n := range names {
		s.Counters[n] = uint64(1000 + i)
	}
	b, err := json.Marshal(toStats(s))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name, ID, State string
		ReadAt          time.Time          `json:"read_at"`
		Counters        map[string]float64 `json:"counters"`
		Gauges          map[string]uint64  `json:"gauges"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		if got.Counters[n] != float64(1000+i) {
			t.Errorf("counter %s: %v in %s", n, got.Counters[n], b)
		}
	}
	if len(got.Counters) != len(names)+1 || got.Counters["cpu_seconds"] != 1000e-9 {
		t.Errorf("counters %v: want the %d kept and cpu_seconds", got.Counters, len(names))
	}
	want := map[string]uint64{"memory_usage_bytes": 1, "memory_max_usage_bytes": 2, "memory_cache_bytes": 3, "memory_rss_bytes": 4, "memory_swap_bytes": 5, "pids": 6}
	for k, v := range want {
		if got.Gauges[k] != v {
			t.Errorf("gauge %s: %d in %s", k, got.Gauges[k], b)
		}
	}
	if got.Name != "web-01" || got.ID != "id-1" || got.State != "running" || !got.ReadAt.Equal(now) {
		t.Errorf("answer %s", b)
	}
	// Never read: no times in the answer.
	b, _ = json.Marshal(toStats(engine.Stats{Name: "x", Counters: map[string]uint64{}}))
	var raw map[string]any
	if json.Unmarshal(b, &raw); raw["read_at"] != nil || raw["sampled_at"] != nil {
		t.Errorf("a container never read: %s", b)
	}
}
