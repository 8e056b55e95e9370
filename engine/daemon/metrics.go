package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/inventory"
)

// Prometheus metrics, on a listener of their own (Config.MetricsListen,
// loopback by default, never the unix socket): GET /metrics. Each scrape
// asks the engine for one MetricsSnapshot (engine/metrics.go: cgroup files
// and veth counters read directly, no command run, no lifecycle lock) and
// converts it here; the engine knows nothing of Prometheus. The registry
// is the daemon's own, not client_golang's global one.
//
// Every per-container series carries the labels a VM's would: instance
// (the container's name), ip, app, owner, env and node. A Prometheus
// scraping the daemon keeps them with honor_labels: true (else its own
// instance label, the daemon's address, renames the container's to
// exported_instance). A stopped container has no series.

// DefaultMetricsListen is where the daemon serves /metrics unless the
// config or --metrics-listen says otherwise ("" or "off": nowhere).
const DefaultMetricsListen = "127.0.0.1:9469"

// metricsScrapeTimeout bounds one scrape's reading.
const metricsScrapeTimeout = 10 * time.Second

// containerLabels are every per-container series' labels.
var containerLabels = []string{"instance", "ip", "app", "owner", "env", "node"}

// metricDef is one series family: its name, help, type and how a
// container's value is got (nil for the host's families).
type metricDef struct {
	name, help string
	kind       prometheus.ValueType
	value      func(c *engine.ContainerMetrics) float64
}

func counter(name string) func(c *engine.ContainerMetrics) float64 {
	return func(c *engine.ContainerMetrics) float64 { return float64(c.Counters[name]) }
}

// containerDefs are the per-container families. Network directions are the
// container's: receive is what reached it (its host veth's tx).
var containerDefs = []metricDef{
	{"fatbox_container_cpu_seconds_total", "CPU time used by the container's processes (cpuacct.usage), kept across restarts.", prometheus.CounterValue,
		func(c *engine.ContainerMetrics) float64 { return float64(c.Counters[inventory.UsageCPUNanos]) / 1e9 }},
	{"fatbox_container_cpu_cfs_periods_total", "CFS enforcement periods of the container's CPU quota (cpu.stat nr_periods), since its boot.", prometheus.CounterValue,
		func(c *engine.ContainerMetrics) float64 { return float64(c.CPU.Periods) }},
	{"fatbox_container_cpu_cfs_throttled_periods_total", "CFS periods in which the container was throttled (cpu.stat nr_throttled), since its boot.", prometheus.CounterValue,
		func(c *engine.ContainerMetrics) float64 { return float64(c.CPU.ThrottledPeriods) }},
	{"fatbox_container_cpu_cfs_throttled_seconds_total", "Time the container was throttled by its CPU quota (cpu.stat throttled_time), since its boot.", prometheus.CounterValue,
		func(c *engine.ContainerMetrics) float64 { return float64(c.CPU.ThrottledNanos) / 1e9 }},
	{"fatbox_container_memory_usage_bytes", "Memory in use, page cache included (memory.usage_in_bytes).", prometheus.GaugeValue,
		func(c *engine.ContainerMetrics) float64 { return float64(c.Gauges.MemoryUsageBytes) }},
	{"fatbox_container_memory_max_usage_bytes", "Peak memory in use since the container's boot (memory.max_usage_in_bytes).", prometheus.GaugeValue,
		func(c *engine.ContainerMetrics) float64 { return float64(c.Gauges.MemoryMaxUsageBytes) }},
	{"fatbox_container_memory_limit_bytes", "Memory limit (memory.limit_in_bytes).", prometheus.GaugeValue,
		func(c *engine.ContainerMetrics) float64 { return float64(c.MemoryLimitBytes) }},
	{"fatbox_container_memory_cache_bytes", "Page cache charged to the container (memory.stat total_cache).", prometheus.GaugeValue,
		func(c *engine.ContainerMetrics) float64 { return float64(c.Gauges.MemoryCacheBytes) }},
	{"fatbox_container_memory_rss_bytes", "Anonymous memory of the container (memory.stat total_rss).", prometheus.GaugeValue,
		func(c *engine.ContainerMetrics) float64 { return float64(c.Gauges.MemoryRSSBytes) }},
	{"fatbox_container_memory_swap_bytes", "Swap used by the container (memory.stat total_swap).", prometheus.GaugeValue,
		func(c *engine.ContainerMetrics) float64 { return float64(c.Gauges.MemorySwapBytes) }},
	{"fatbox_container_memory_limit_hits_total", "Times the container's memory reached its limit (memory.failcnt), kept across restarts.", prometheus.CounterValue,
		counter(inventory.UsageMemoryLimitHits)},
	{"fatbox_container_oom_kills_total", "Processes of the container killed by the OOM killer, kept across restarts.", prometheus.CounterValue,
		counter(inventory.UsageOOMKills)},
	{"fatbox_container_processes", "Tasks (processes and threads) in the container (pids.current).", prometheus.GaugeValue,
		func(c *engine.ContainerMetrics) float64 { return float64(c.Gauges.Pids) }},
	{"fatbox_container_disk_read_bytes_total", "Bytes read from the container's own disk, kept across restarts.", prometheus.CounterValue,
		counter(inventory.UsageDiskReadBytes)},
	{"fatbox_container_disk_written_bytes_total", "Bytes written to the container's own disk and charged to it (direct writes), kept across restarts.", prometheus.CounterValue,
		counter(inventory.UsageDiskWriteBytes)},
	{"fatbox_container_disk_reads_total", "Read operations on the container's own disk, kept across restarts.", prometheus.CounterValue,
		counter(inventory.UsageDiskReadOps)},
	{"fatbox_container_disk_writes_total", "Write operations on the container's own disk charged to it, kept across restarts.", prometheus.CounterValue,
		counter(inventory.UsageDiskWriteOps)},
	{"fatbox_container_disk_used_bytes", "Bytes used on the container's disk's file system (statfs).", prometheus.GaugeValue,
		func(c *engine.ContainerMetrics) float64 { return float64(c.DiskUsedBytes) }},
	{"fatbox_container_disk_size_bytes", "Size of the container's disk's file system (statfs).", prometheus.GaugeValue,
		func(c *engine.ContainerMetrics) float64 { return float64(c.DiskSizeBytes) }},
	{"fatbox_container_network_receive_bytes_total", "Bytes the container received, kept across restarts.", prometheus.CounterValue,
		counter(inventory.UsageNetBytesIn)},
	{"fatbox_container_network_transmit_bytes_total", "Bytes the container sent, kept across restarts.", prometheus.CounterValue,
		counter(inventory.UsageNetBytesOut)},
	{"fatbox_container_network_receive_packets_total", "Packets the container received, kept across restarts.", prometheus.CounterValue,
		counter(inventory.UsageNetPacketsIn)},
	{"fatbox_container_network_transmit_packets_total", "Packets the container sent, kept across restarts.", prometheus.CounterValue,
		counter(inventory.UsageNetPacketsOut)},
	{"fatbox_container_network_receive_packets_dropped_total", "Packets to the container dropped on its link, kept across restarts.", prometheus.CounterValue,
		counter(inventory.UsageNetDropsIn)},
	{"fatbox_container_network_transmit_packets_dropped_total", "Packets from the container dropped on its link, kept across restarts.", prometheus.CounterValue,
		counter(inventory.UsageNetDropsOut)},
}

// metricsCollector converts one engine.MetricsSnapshot per scrape.
type metricsCollector struct {
	snapshot      func(ctx context.Context) (engine.MetricsSnapshot, error)
	version, node string
	log           *slog.Logger

	containers                                 []*prometheus.Desc // by containerDefs
	states, pool, lxcfsUp, lxcfsInstalled      *prometheus.Desc
	buildInfo, scrapeErrors, scrapeSeconds, up *prometheus.Desc
}

func newMetricsCollector(version, node string, log *slog.Logger, snapshot func(ctx context.Context) (engine.MetricsSnapshot, error)) *metricsCollector {
	c := &metricsCollector{snapshot: snapshot, version: version, node: node, log: log}
	for _, d := range containerDefs {
		c.containers = append(c.containers, prometheus.NewDesc(d.name, d.help, containerLabels, nil))
	}
	c.states = prometheus.NewDesc("fatbox_containers", "Containers of this node by record status.", []string{"node", "state"}, nil)
	c.pool = prometheus.NewDesc("fatbox_pool_addresses", "Addresses of an address pool by state: used (leased), quarantined (released, not yet free), free.", []string{"pool", "state"}, nil)
	c.lxcfsUp = prometheus.NewDesc("fatbox_lxcfs_up", "1 when lxcfs is mounted and answers (containers see their own /proc figures), else 0.", []string{"node"}, nil)
	c.lxcfsInstalled = prometheus.NewDesc("fatbox_lxcfs_installed", "1 when lxcfs is installed on this node.", []string{"node"}, nil)
	c.buildInfo = prometheus.NewDesc("fatbox_build_info", "The fatbox daemon's build: always 1.", []string{"version", "goversion", "node"}, nil)
	c.scrapeErrors = prometheus.NewDesc("fatbox_metrics_read_errors", "Figures that could not be read in this scrape (the daemon's log at debug level says which).", []string{"node"}, nil)
	c.scrapeSeconds = prometheus.NewDesc("fatbox_metrics_read_seconds", "Time this scrape took to read the figures.", []string{"node"}, nil)
	c.up = prometheus.NewDesc("fatbox_metrics_up", "1 when this scrape could list the containers, else 0 (the store is down).", []string{"node"}, nil)
	return c
}

func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.containers {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{c.states, c.pool, c.lxcfsUp, c.lxcfsInstalled, c.buildInfo, c.scrapeErrors, c.scrapeSeconds, c.up} {
		ch <- d
	}
}

func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), metricsScrapeTimeout)
	defer cancel()
	start := time.Now()
	s, err := c.snapshot(ctx)
	took := time.Since(start).Seconds()
	node := c.node
	ch <- prometheus.MustNewConstMetric(c.buildInfo, prometheus.GaugeValue, 1, c.version, goruntime.Version(), node)
	ch <- prometheus.MustNewConstMetric(c.scrapeSeconds, prometheus.GaugeValue, took, node)
	if err != nil {
		c.log.Warn("metrics: scrape", "error", err)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0, node)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1, node)
	ch <- prometheus.MustNewConstMetric(c.scrapeErrors, prometheus.GaugeValue, float64(len(s.Errors)), node)
	if len(s.Errors) > 0 {
		c.log.Debug("metrics: figures not read", "error", errors.Join(s.Errors...))
	}
	for i := range s.Containers {
		m := &s.Containers[i]
		labels := []string{m.Name, m.IP, m.App, m.Owner, m.Env, m.Node}
		for j, d := range containerDefs {
			if !m.DiskMounted && strings.HasPrefix(d.name, "fatbox_container_disk_") && !strings.HasSuffix(d.name, "_total") {
				continue // no disk mounted: no used/size rather than a 0
			}
			ch <- prometheus.MustNewConstMetric(c.containers[j], d.kind, d.value(m), labels...)
		}
	}
	for st, n := range s.States {
		ch <- prometheus.MustNewConstMetric(c.states, prometheus.GaugeValue, float64(n), node, st)
	}
	for _, p := range s.Pools {
		ch <- prometheus.MustNewConstMetric(c.pool, prometheus.GaugeValue, float64(p.Active), p.Name, "used")
		ch <- prometheus.MustNewConstMetric(c.pool, prometheus.GaugeValue, float64(p.Quarantined), p.Name, "quarantined")
		ch <- prometheus.MustNewConstMetric(c.pool, prometheus.GaugeValue, float64(p.Free), p.Name, "free")
	}
	installed, up := 0.0, 0.0
	if s.LXCFS != "absent" {
		installed = 1
	}
	if s.LXCFS == "healthy" {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.lxcfsInstalled, prometheus.GaugeValue, installed, node)
	ch <- prometheus.MustNewConstMetric(c.lxcfsUp, prometheus.GaugeValue, up, node)
}

// metricsHandler serves the daemon's registry: its collector plus the Go
// runtime's and the process's (the daemon's own CPU and memory).
func metricsHandler(c *metricsCollector) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	for _, col := range []prometheus.Collector{c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(c.log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "fatbox serves Prometheus metrics at /metrics only", http.StatusNotFound)
	})
	return mux, nil
}

// metricsOff reports whether addr turns the endpoint off.
func metricsOff(addr string) bool { return addr == "" || addr == "off" }

// validateMetricsListen checks a metrics_listen value: off, or host:port.
func validateMetricsListen(addr string) error {
	if metricsOff(addr) {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("config: metrics_listen %q: give host:port (e.g. %s) or \"off\": %w", addr, DefaultMetricsListen, err)
	}
	return nil
}

// serveMetrics serves /metrics on cfg.MetricsListen until ctx ends. The
// endpoint is not the daemon's job: an address it cannot listen on is
// logged with the fix and the daemon goes on without it.
func (d *Daemon) serveMetrics(ctx context.Context) { d.serveMetricsWith(ctx, d.engine.Metrics) }

func (d *Daemon) serveMetricsWith(ctx context.Context, snapshot func(context.Context) (engine.MetricsSnapshot, error)) {
	addr := d.cfg.MetricsListen
	if metricsOff(addr) {
		return
	}
	h, err := metricsHandler(newMetricsCollector(d.version, d.cfg.Node, d.log, snapshot))
	if err != nil {
		d.log.Error("metrics endpoint off", "error", err)
		return
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		d.log.Error("metrics endpoint off: cannot listen; free the port or set metrics_listen (--metrics-listen) to another host:port or \"off\"", "address", addr, "error", err)
		return
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: metricsScrapeTimeout + 5*time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	d.log.Info("metrics endpoint ready", "address", "http://"+l.Addr().String()+"/metrics")
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics endpoint stopped", "error", err)
		}
	}()
}
