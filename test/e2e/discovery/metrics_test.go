package discovery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/test/e2e/e2ekit"
	"github.com/fatbox/fatbox/test/harness"
)

// TestMetricsEndpoint: the daemon's Prometheus endpoint on a loopback port
// of its own (--metrics-listen). A running container's series carry its
// labels like a VM's (instance, ip, app, owner, env, node) and pass
// `promtool check metrics`; its CPU seconds grow while a process inside
// spins; a stopped container's series go; the host's series (containers by
// state, pool addresses, lxcfs, build info) are there. The file_sd targets
// file (--file-sd) lists the containers created with --exporter-port, or
// from an image labelled io.fatbox.exporter-port, while they run, and
// promtool accepts it. A real Prometheus scraping the
// endpoint answers PromQL for met-01's memory and CPU with its labels, both
// moving while a process inside holds memory and spins. 198.19.171.0/24.
func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	harness.Require(t, err == nil, "promtool (Debian package prometheus; tools/setup-host.sh --test installs it)")
	e := e2ekit.NewEnv(t, "198.19.171.0/24")
	addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	e.D.Stop()
	sd := filepath.Join(e.Dir, "prometheus", "fatbox-targets.json")
	e.Args = append(e.Args, "--metrics-listen", addr, "--file-sd", sd)
	e.D = e2ekit.SpawnDaemon(t, e.State, e.Sock, e.Args...)

	run := e.Create("met-01", "--app", "shop", "--owner", "ops", "--env", "prod", "--memory", "512M", "--exporter-port", "9100")
	stop := e.Create("met-02", "--app", "shop", "--exporter-port", "9101")
	node := e.Inspect("met-01").Node
	// An image may say where its exporter listens (a label): its
	// containers are targets on that port without the flag; a label that
	// is no port refuses the create, saying so.
	dir := t.TempDir()
	for tag, port := range map[string]string{"v1": "9102", "bad": "metrics"} {
		df := filepath.Join(dir, "Dockerfile."+tag)
		if err := os.WriteFile(df, []byte("FROM debian12-fat\nLABEL io.fatbox.exporter-port="+port+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		e.OK("image", "build", "--dockerfile", df, "--context", dir, "--name", "exporter:"+tag)
	}
	labelled := e.Create("met-03", "--app", "shop", "--image", "exporter:v1")
	t.Cleanup(func() { e2ekit.Fatbox(t, "rm", "met-04", "--socket", e.Sock) }) // if the refusal below fails
	if r := e2ekit.Fatbox(t, "create", "met-04", "--image", "exporter:bad", "--pool", "vm", "--socket", e.Sock); r.Code == 0 ||
		!strings.Contains(r.Stderr, `io.fatbox.exporter-port="metrics" is not a TCP port`) || !strings.Contains(r.Stderr, "--exporter-port") {
		t.Fatalf("create from an image whose exporter label is no port: exit %d: %s", r.Code, r.Stderr)
	}

	// The file_sd targets file: what Prometheus reads, checked by promtool
	// through a config that names it.
	targets := func(want ...string) {
		t.Helper()
		var got []string
		deadline := time.Now().Add(15 * time.Second)
		for {
			var groups []struct {
				Targets []string          `json:"targets"`
				Labels  map[string]string `json:"labels"`
			}
			got = nil
			if b, err := os.ReadFile(sd); err == nil && json.Unmarshal(b, &groups) == nil {
				for _, g := range groups {
					got = append(got, strings.Join(g.Targets, ",")+" "+g.Labels["instance"]+" "+g.Labels["app"])
				}
			}
			if slices.Equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("file_sd targets %q, want %q", got, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
		cfg := filepath.Join(e.Dir, "prometheus", "prometheus.yml")
		if err := os.WriteFile(cfg, []byte("scrape_configs:\n  - job_name: fatbox-exporters\n    honor_labels: true\n    file_sd_configs: [{files: ["+strconv.Quote(sd)+"]}]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(promtool, "check", "config", cfg).CombinedOutput(); err != nil {
			t.Errorf("promtool check config (with the file_sd file): %v: %s", err, out)
		}
	}
	targets(run.IP+":9100 met-01 shop", stop.IP+":9101 met-02 shop", labelled.IP+":9102 met-03 shop")

	scrape := func() string {
		t.Helper()
		c := http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatalf("scrape %s: %v", addr, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("scrape %s: %d %v: %s", addr, resp.StatusCode, err, b)
		}
		return string(b)
	}
	// value finds one series by name and labels in the text format.
	value := func(out, name, labels string) (float64, bool) {
		t.Helper()
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+"{"+labels+"}") + ` (\S+)$`)
		m := re.FindStringSubmatch(out)
		if m == nil {
			return 0, false
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatalf("%s{%s}: %q", name, labels, m[1])
		}
		return v, true
	}
	runLabels := fmt.Sprintf(`app="shop",env="prod",instance="met-01",ip=%q,node=%q,owner="ops"`, run.IP, node)
	stopLabels := fmt.Sprintf(`app="shop",env="",instance="met-02",ip=%q,node=%q,owner=""`, stop.IP, node)

	out := scrape()
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(out)
	var lint bytes.Buffer
	check.Stdout, check.Stderr = &lint, &lint
	if err := check.Run(); err != nil {
		t.Errorf("promtool check metrics: %v: %s", err, lint.String())
	}
	for _, name := range []string{"fatbox_container_cpu_seconds_total", "fatbox_container_memory_usage_bytes", "fatbox_container_processes",
		"fatbox_container_network_receive_bytes_total", "fatbox_container_disk_size_bytes", "fatbox_container_cpu_cfs_throttled_periods_total"} {
		for _, l := range []string{runLabels, stopLabels} {
			if _, ok := value(out, name, l); !ok {
				t.Errorf("no %s{%s} in:\n%s", name, l, grepLines(out, "fatbox_container_"))
			}
		}
	}
	if v, _ := value(out, "fatbox_container_memory_limit_bytes", runLabels); v != 512<<20 {
		t.Errorf("memory limit of met-01: %v, want 512 MiB", v)
	}
	if v, _ := value(out, "fatbox_container_processes", runLabels); v < 2 {
		t.Errorf("met-01 runs %v processes: want supervisord, sshd, ...", v)
	}
	cpu0, _ := value(out, "fatbox_container_cpu_seconds_total", runLabels)

	// A real Prometheus scrapes the endpoint every second while a process
	// in met-01 holds 300 MB and another spins; PromQL then finds both
	// moves on met-01's series, with its labels.
	prom := startPrometheus(t, addr)
	labels := map[string]string{"instance": "met-01", "ip": run.IP, "app": "shop", "owner": "ops", "env": "prod", "node": node}
	// Scrapes before the work, so the moves below are the work's.
	promWant(t, prom, `count_over_time(fatbox_container_cpu_seconds_total{instance="met-01"}[1m])`, 3, labels)
	// tail keeps its one "line" (300 MB, no newline) until sleep, which
	// never reads, ends: the memory is held for the sleep's 12 s from the
	// pipeline's start, however long a loaded host takes to make it.
	work := `head -c 300M /dev/zero | tail | sleep 12 & timeout 3 sh -c "while :; do :; done"; wait`
	if r := e2ekit.Fatbox(t, "exec", "met-01", "--socket", e.Sock, "--", "bash", "-c", work); r.Code != 0 {
		t.Fatalf("work in met-01: exit %d: %s", r.Code, r.Stderr)
	}
	promWant(t, prom, `max_over_time(fatbox_container_memory_usage_bytes{instance="met-01"}[1m]) - min_over_time(fatbox_container_memory_usage_bytes{instance="met-01"}[1m])`,
		250e6, labels)
	promWant(t, prom, `max_over_time(fatbox_container_cpu_seconds_total{instance="met-01"}[1m]) - min_over_time(fatbox_container_cpu_seconds_total{instance="met-01"}[1m])`,
		0.5, labels)
	e.OK("stop", "met-02")
	targets(run.IP+":9100 met-01 shop", labelled.IP+":9102 met-03 shop")
	out = scrape()
	cpu1, _ := value(out, "fatbox_container_cpu_seconds_total", runLabels)
	if cpu1-cpu0 < 0.5 {
		t.Errorf("met-01's CPU seconds went from %v to %v after 2 s of spinning", cpu0, cpu1)
	}
	if strings.Contains(out, `instance="met-02"`) {
		t.Errorf("stopped met-02 still has series:\n%s", grepLines(out, `instance="met-02"`))
	}
	for _, s := range []struct {
		name, labels string
		want         float64
	}{
		{"fatbox_containers", fmt.Sprintf(`node=%q,state="running"`, node), 2}, // met-01, met-03
		{"fatbox_containers", fmt.Sprintf(`node=%q,state="stopped"`, node), 1}, // met-02
		{"fatbox_pool_addresses", `pool="vm",state="used"`, 3},
		{"fatbox_lxcfs_up", fmt.Sprintf(`node=%q`, node), 1},
		{"fatbox_lxcfs_installed", fmt.Sprintf(`node=%q`, node), 1},
		{"fatbox_metrics_up", fmt.Sprintf(`node=%q`, node), 1},
	} {
		if v, ok := value(out, s.name, s.labels); !ok || v != s.want {
			t.Errorf("%s{%s}: %v (there: %v), want %v", s.name, s.labels, v, ok, s.want)
		}
	}
	if v, ok := value(out, "fatbox_pool_addresses", `pool="vm",state="free"`); !ok || v < 200 {
		t.Errorf("free addresses of pool vm: %v", v)
	}
	if !regexp.MustCompile(`(?m)^fatbox_build_info\{goversion="go[^"]+",node="` + regexp.QuoteMeta(node) + `",version="[^"]+"\} 1$`).MatchString(out) {
		t.Errorf("no build info:\n%s", grepLines(out, "fatbox_build_info"))
	}
}

// startPrometheus runs the Debian package's Prometheus on a free loopback
// port, scraping the daemon's endpoint at addr every second with
// honor_labels (the container's instance label stays), until the test
// ends. It returns its base URL once it is ready.
func startPrometheus(t *testing.T, addr string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	harness.Require(t, err == nil, "prometheus (Debian package prometheus; tools/setup-host.sh --test installs it)")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n  - job_name: fatbox\n    honor_labels: true\n    static_configs: [{targets: [" + strconv.Quote(addr) + "]}]\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	web := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+web)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	base := "http://" + web
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-done:
			t.Fatalf("prometheus exited: %s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready on %s: %s", web, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// promWant polls an instant PromQL query (for up to 15 s: the scrapes
// after the work must land) until it answers one series with the labels
// want and a value of at least min.
func promWant(t *testing.T, base, query string, min float64, want map[string]string) {
	t.Helper()
	var last string
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			var r struct {
				Data struct {
					Result []struct {
						Metric map[string]string `json:"metric"`
						Value  [2]any            `json:"value"`
					} `json:"result"`
				} `json:"data"`
			}
			if json.Unmarshal(b, &r) == nil && len(r.Data.Result) == 1 {
				res := r.Data.Result[0]
				s, _ := res.Value[1].(string)
				v, _ := strconv.ParseFloat(s, 64)
				ok := v >= min
				for k, w := range want {
					ok = ok && res.Metric[k] == w
				}
				if ok {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("PromQL %s: want one series %v of at least %v; last answer: %s", query, want, min, last)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// grepLines keeps the lines of out that hold s.
func grepLines(out, s string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
