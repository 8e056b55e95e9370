package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/inventory"
)

func testSnapshot() engine.MetricsSnapshot {
	c := engine.ContainerMetrics{Name: "web-01", ID: "id-1", IP: "10.1.0.5", Pool: "p1", App: "shop", Owner: "ops", Env: "prod", Node: "n1",
		Counters: map[string]uint64{inventory.UsageCPUNanos: 2_500_000_000, inventory.UsageNetBytesIn: 100, inventory.UsageNetBytesOut: 200,
			inventory.UsageNetPacketsIn: 3, inventory.UsageNetPacketsOut: 4, inventory.UsageNetDropsIn: 5, inventory.UsageNetDropsOut: 6,
			inventory.UsageDiskReadBytes: 7, inventory.UsageDiskWriteBytes: 8, inventory.UsageDiskReadOps: 9, inventory.UsageDiskWriteOps: 10,
			inventory.UsageOOMKills: 11, inventory.UsageMemoryLimitHits: 12},
		Gauges:           engine.Gauges{MemoryUsageBytes: 1 << 20, MemoryMaxUsageBytes: 2 << 20, MemoryCacheBytes: 3, MemoryRSSBytes: 4, MemorySwapBytes: 5, Pids: 42},
		MemoryLimitBytes: 512 << 20, CPU: engine.CPUStat{Periods: 100, ThrottledPeriods: 7, ThrottledNanos: 1_500_000_000},
		DiskMounted: true, DiskUsedBytes: 1000, DiskSizeBytes: 4000}
	nodisk := c
	nodisk.Name, nodisk.IP, nodisk.DiskMounted, nodisk.DiskUsedBytes, nodisk.DiskSizeBytes = "web-02", "10.1.0.6", false, 0, 0
	return engine.MetricsSnapshot{Node: "n1", Containers: []engine.ContainerMetrics{c, nodisk},
		States: map[string]int{inventory.StatusRunning: 2, inventory.StatusStopped: 1, inventory.StatusCreating: 0},
		Pools:  []engine.PoolMetrics{{Name: "p1", Capacity: 253, Active: 2, Quarantined: 1, Free: 250}},
		LXCFS:  "healthy", Errors: []error{errors.New("one figure")}}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func collectorOf(s engine.MetricsSnapshot, err error) *metricsCollector {
	return newMetricsCollector("1.2.3", "n1", quietLog(), func(context.Context) (engine.MetricsSnapshot, error) { return s, err })
}

// The conversion: names, types, units and the labels of a VM, checked
// against the text format Prometheus reads.
func TestMetricsCollector(t *testing.T) {
	c := collectorOf(testSnapshot(), nil)
	const labels = `app="shop",env="prod",instance="web-01",ip="10.1.0.5",node="n1",owner="ops"`
	want := `
# HELP fatbox_container_cpu_seconds_total CPU time used by the container's processes (cpuacct.usage), kept across restarts.
# TYPE fatbox_container_cpu_seconds_total counter
fatbox_container_cpu_seconds_total{` + labels + `} 2.5
fatbox_container_cpu_seconds_total{app="shop",env="prod",instance="web-02",ip="10.1.0.6",node="n1",owner="ops"} 2.5
# HELP fatbox_container_cpu_cfs_throttled_seconds_total Time the container was throttled by its CPU quota (cpu.stat throttled_time), since its boot.
# TYPE fatbox_container_cpu_cfs_throttled_seconds_total counter
fatbox_container_cpu_cfs_throttled_seconds_total{` + labels + `} 1.5
fatbox_container_cpu_cfs_throttled_seconds_total{app="shop",env="prod",instance="web-02",ip="10.1.0.6",node="n1",owner="ops"} 1.5
# HELP fatbox_container_memory_limit_bytes Memory limit (memory.limit_in_bytes).
# TYPE fatbox_container_memory_limit_bytes gauge
fatbox_container_memory_limit_bytes{` + labels + `} 5.36870912e+08
fatbox_container_memory_limit_bytes{app="shop",env="prod",instance="web-02",ip="10.1.0.6",node="n1",owner="ops"} 5.36870912e+08
# HELP fatbox_container_disk_size_bytes Size of the container's disk's file system (statfs).
# TYPE fatbox_container_disk_size_bytes gauge
fatbox_container_disk_size_bytes{` + labels + `} 4000
# HELP fatbox_container_network_receive_packets_dropped_total Packets to the container dropped on its link, kept across restarts.
# TYPE fatbox_container_network_receive_packets_dropped_total counter
fatbox_container_network_receive_packets_dropped_total{` + labels + `} 5
fatbox_container_network_receive_packets_dropped_total{app="shop",env="prod",instance="web-02",ip="10.1.0.6",node="n1",owner="ops"} 5
# HELP fatbox_containers Containers of this node by record status.
# TYPE fatbox_containers gauge
fatbox_containers{node="n1",state="creating"} 0
fatbox_containers{node="n1",state="running"} 2
fatbox_containers{node="n1",state="stopped"} 1
# HELP fatbox_pool_addresses Addresses of an address pool by state: used (leased), quarantined (released, not yet free), free.
# TYPE fatbox_pool_addresses gauge
fatbox_pool_addresses{pool="p1",state="free"} 250
fatbox_pool_addresses{pool="p1",state="quarantined"} 1
fatbox_pool_addresses{pool="p1",state="used"} 2
# HELP fatbox_lxcfs_up 1 when lxcfs is mounted and answers (containers see their own /proc figures), else 0.
# TYPE fatbox_lxcfs_up gauge
fatbox_lxcfs_up{node="n1"} 1
# HELP fatbox_metrics_read_errors Figures that could not be read in this scrape (the daemon's log at debug level says which).
# TYPE fatbox_metrics_read_errors gauge
fatbox_metrics_read_errors{node="n1"} 1
# HELP fatbox_metrics_up 1 when this scrape could list the containers, else 0 (the store is down).
# TYPE fatbox_metrics_up gauge
fatbox_metrics_up{node="n1"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"fatbox_container_cpu_seconds_total", "fatbox_container_cpu_cfs_throttled_seconds_total", "fatbox_container_memory_limit_bytes",
		"fatbox_container_disk_size_bytes", "fatbox_container_network_receive_packets_dropped_total",
		"fatbox_containers", "fatbox_pool_addresses", "fatbox_lxcfs_up", "fatbox_metrics_read_errors", "fatbox_metrics_up"); err != nil {
		t.Error(err)
	}
	// Every family of a container, once per container (web-02 has no
	// disk mounted: no used/size), and each a counter iff it ends in _total.
	n := testutil.CollectAndCount(c)
	host := 3 + 3 + 2 + 4 // states, pool, lxcfs, build/read errors/read seconds/up
	if want := 2*len(containerDefs) - 2 + host; n != want {
		t.Errorf("%d series, want %d", n, want)
	}
	for _, d := range containerDefs {
		if counter := d.kind == prometheus.CounterValue; counter != strings.HasSuffix(d.name, "_total") {
			t.Errorf("%s: a counter's name ends in _total, a gauge's does not", d.name)
		}
		if !strings.HasPrefix(d.name, "fatbox_container_") {
			t.Errorf("%s: not a fatbox_container_ name", d.name)
		}
	}
	// The linter of client_golang (promtool's rules): units, suffixes.
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// A store that cannot be listed: the scrape still answers, with up 0 and
// the build info, and no container series.
func TestMetricsCollectorStoreDown(t *testing.T) {
	c := collectorOf(engine.MetricsSnapshot{}, errors.New("store down"))
	want := `
# HELP fatbox_metrics_up 1 when this scrape could list the containers, else 0 (the store is down).
# TYPE fatbox_metrics_up gauge
fatbox_metrics_up{node="n1"} 0
# HELP fatbox_build_info The fatbox daemon's build: always 1.
# TYPE fatbox_build_info gauge
fatbox_build_info{goversion="` + goruntime.Version() + `",node="n1",version="1.2.3"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "fatbox_metrics_up", "fatbox_build_info"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "fatbox_container_cpu_seconds_total"); n != 0 {
		t.Errorf("%d container series with the store down", n)
	}
}

func TestValidateMetricsListen(t *testing.T) {
	for _, ok := range []string{"", "off", "127.0.0.1:9469", "[::1]:0", ":9469"} {
		if err := validateMetricsListen(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"9469", "localhost", "/run/fatbox/metrics.sock"} {
		err := validateMetricsListen(bad)
		if err == nil || !strings.Contains(err.Error(), "host:port") || !strings.Contains(err.Error(), `"off"`) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if Defaults().MetricsListen != DefaultMetricsListen || !strings.HasPrefix(DefaultMetricsListen, "127.0.0.1:") {
		t.Errorf("default %q: want loopback", Defaults().MetricsListen)
	}
}

// The daemon's endpoint on a real listener: /metrics in the text format,
// anything else 404, and the listener gone when ctx ends.
func TestServeMetricsListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	d := &Daemon{cfg: Config{MetricsListen: addr, Node: "n1"}, version: "9.9.9", log: quietLog()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.serveMetricsWith(ctx, func(context.Context) (engine.MetricsSnapshot, error) { return testSnapshot(), nil })
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, s := range []string{`fatbox_build_info{goversion="`, `version="9.9.9"`, `fatbox_container_cpu_seconds_total{app="shop",env="prod",instance="web-01"`,
		"process_cpu_seconds_total", "go_goroutines"} {
		if !strings.Contains(string(body), s) {
			t.Errorf("no %q in /metrics:\n%s", s, body)
		}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	resp, err = http.Get("http://" + addr + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/v1/status on the metrics listener: %d, want 404 (the API is on the socket only)", resp.StatusCode)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the metrics listener still answers after ctx ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An address already taken: the daemon says so with the fix and goes on.
func TestServeMetricsPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d, lb := testDaemon()
	d.cfg = Config{MetricsListen: l.Addr().String(), Node: "n1"}
	d.serveMetricsWith(context.Background(), func(context.Context) (engine.MetricsSnapshot, error) { return testSnapshot(), nil })
	recs := lb.records(t, "metrics endpoint off: cannot listen; free the port or set metrics_listen (--metrics-listen) to another host:port or \"off\"")
	if len(recs) != 1 || recs[0]["address"] != l.Addr().String() {
		t.Errorf("log %v", recs)
	}
}
