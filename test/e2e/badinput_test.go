package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/test/harness"
)

// badRow is one bad request, sent through the CLI (when it can send it)
// and as raw HTTP on the socket; either way it must be refused with a
// message naming the problem, and leave nothing behind.
type badRow struct {
	name string
	// cli is the fatbox command line (the socket is added); nil: the CLI
	// has no way to send this. cliWant are substrings of its one stderr
	// line (want if nil).
	cli     []string
	cliWant []string
	// The raw request; method "" sends none. body "" sends no body.
	method, path, body string
	status             int
	code               string
	want               []string // substrings of the answer's message
	// special rows talk to the socket themselves (malformed or slow bodies).
	special func(t *testing.T)
	// slow rows run in parallel with the rest.
	slow bool
	// undo takes back what a request did if it was wrongly accepted, so
	// one failing row does not spoil the rows after it.
	undo func()
}

// badEnv is the daemon and fixtures the table runs against.
type badEnv struct {
	*vmEnv
	bridge  string // pool vm's bridge
	veth    string // an existing link that is no bridge
	running string // a running container
	stopped string // a stopped container
	tmp     string
}

// cli runs fatbox with the socket first, so that rows may use `--`.
func (e *badEnv) cli(t *testing.T, args ...string) result {
	t.Helper()
	return fatbox(t, append([]string{"--socket=" + e.Sock}, args...)...)
}

func jsonBody(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

const (
	mib = int64(1) << 20
	gib = int64(1) << 30
	tib = int64(1) << 40
)

// createBody is a create request that is valid except for what over says.
func createBody(name string, over map[string]any) string {
	m := map[string]any{"name": name, "image": "debian12-fat", "pool": "vm", "cpus": 1,
		"memory_bytes": 256 * mib, "disk_bytes": gib}
	for k, v := range over {
		m[k] = v
	}
	return jsonBody(m)
}

// createCLI is a create command line that is valid except for extra.
func createCLI(name string, extra ...string) []string {
	return append([]string{"create", name, "--image", "debian12-fat", "--pool", "vm", "--memory", "256M", "--disk", "1G"}, extra...)
}

func poolBody(name, cidr, bridge string) string {
	return jsonBody(map[string]any{"name": name, "cidr": cidr, "gateway": firstHost(cidr), "bridge": bridge})
}

// firstHost is the address after a network's first (what the CLI makes the gateway).
func firstHost(cidr string) string {
	ip, _, _ := strings.Cut(cidr, "/")
	parts := strings.Split(ip, ".")
	if len(parts) != 4 {
		return ip
	}
	var last int
	fmt.Sscan(parts[3], &last)
	parts[3] = fmt.Sprint(last + 1)
	return strings.Join(parts, ".")
}

// TestBadRequests: every bad request in the table, through the real CLI and
// as raw HTTP against one real daemon, is refused with the right status,
// API code and a message naming the problem (one line from the CLI, with a
// non-zero exit); afterwards the store, the state dir, links, mounts,
// cgroups and nftables are as before the table.
func TestBadRequests(t *testing.T) {
	start := time.Now()
	e := &badEnv{vmEnv: newVMEnv(t, "198.19.70.0/24"), tmp: t.TempDir(),
		// Names of their own: host veth names follow container names, and
		// another run of this test may share the host.
		running: harness.Name("bad-run-"), stopped: harness.Name("bad-stop-")}
	var pool api.Pool
	if err := json.Unmarshal([]byte(e.OK("pool", "show", "vm", "-o", "json").Stdout), &pool); err != nil || pool.Bridge == "" {
		t.Fatalf("pool show vm: %v %+v", err, pool)
	}
	e.bridge = pool.Bridge
	e.Create(e.running, "--memory", "256M", "--disk", "1G", "--cpus", "0.5")
	e.Create(e.stopped, "--memory", "256M", "--disk", "1G", "--cpus", "0.5")
	e.OK("stop", e.stopped)
	// An existing link that is not a bridge: a veth pair of the test's own.
	e.veth = harness.Name("fbxv")
	peer := harness.Name("fbxp")
	harness.IP(t, "link", "add", e.veth, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { harness.IPQuiet("link", "del", e.veth) })
	t.Logf("fixtures ready after %s", time.Since(start).Round(time.Millisecond))

	rows := badRows(t, e)
	if len(rows) < 30 {
		t.Fatalf("the table has %d rows, want at least 30", len(rows))
	}

	// What a refused request might leave: records, leases, state dirs,
	// links, mounts, cgroups and nftables rules named after it.
	watch := []string{e.bridge, e.veth, peer, e.running, e.stopped, e.running + "-2"}
	for _, n := range refusedNames {
		watch = append(watch, n, network.HostVethName(n))
	}
	opts := harness.HostStateOptions{
		StateDir: e.State,
		Dirs:     []string{filepath.Join(e.State, "containers")},
		Watch:    watch,
		Outputs: map[string]func() (string, error){
			"fatbox ls -o json":              e.output("ls", "-o", "json"),
			"fatbox pool ls -o json":         e.output("pool", "ls", "-o", "json"),
			"fatbox ip ls --pool vm -o json": e.output("ip", "ls", "--pool", "vm", "-o", "json"),
			"fatbox image ls -o json":        e.output("image", "ls", "-o", "json"),
			"fatbox inspect (running one)":   e.inspectStatus(e.running),
		},
	}
	before := harness.TakeHostState(t, opts)

	tableStart := time.Now()
	t.Run("table", func(t *testing.T) {
		// Slow rows (bodies never finished) each run in parallel; the
		// others run in order beside them, the pool removals last.
		for _, r := range rows {
			if r.slow {
				t.Run(r.name, func(t *testing.T) {
					t.Parallel()
					e.runRow(t, r)
				})
			}
		}
		t.Run("quick", func(t *testing.T) {
			t.Parallel()
			for _, r := range rows {
				if !r.slow {
					t.Run(r.name, func(t *testing.T) { e.runRow(t, r) })
				}
			}
		})
	})
	t.Logf("%d rows in %s", len(rows), time.Since(tableStart).Round(time.Millisecond))

	// Nothing new anywhere.
	harness.CheckHostState(t, before, opts)
	es, _ := os.ReadDir(filepath.Join(e.State, "containers"))
	var names []string
	for _, x := range es {
		names = append(names, x.Name())
	}
	if want := []string{e.running, e.stopped}; !slices.Equal(names, want) {
		t.Errorf("state dir containers/ holds %v, want only %v", names, want)
	}
}

// output reads a CLI command's stdout, for the state comparison.
func (e *badEnv) output(args ...string) func() (string, error) {
	return func() (string, error) {
		r := fatbox(e.T, append(args, "--socket", e.Sock)...)
		if r.Code != 0 {
			// A listing that fails is a state too (e.g. its pool is gone).
			return "exit " + fmt.Sprint(r.Code) + ": " + r.Stderr, nil
		}
		return r.Stdout, nil
	}
}

// inspectStatus is the running container's record status and runc state.
func (e *badEnv) inspectStatus(name string) func() (string, error) {
	return func() (string, error) {
		r := fatbox(e.T, "inspect", name, "--socket", e.Sock)
		var in api.ContainerInfo
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &in) != nil {
			return "inspect failed: " + r.Stderr, nil
		}
		return in.Status + "/" + in.State + "/" + in.IP + "/" + in.MAC, nil
	}
}

func (e *badEnv) runRow(t *testing.T, r badRow) {
	if r.cli != nil {
		res := e.cli(t, r.cli...)
		if res.Code == 0 && r.undo != nil {
			r.undo()
		}
		want := r.cliWant
		if want == nil {
			want = r.want
		}
		cliLine(t, "fatbox "+strings.Join(r.cli, " "), res, want...)
	}
	if r.method != "" {
		var body []byte
		if r.body != "" {
			body = []byte(r.body)
		}
		where := fmt.Sprintf("%s %s %s", r.method, r.path, trim(r.body))
		a := rawDo(e.Sock, r.method, r.path, body)
		if a.Status/100 == 2 && r.undo != nil {
			r.undo()
		}
		if ae, ok := apiError(t, where, a); ok {
			if a.Status != r.status || ae.Code != r.code {
				t.Errorf("%s: HTTP %d %q, want HTTP %d %q: %s", where, a.Status, ae.Code, r.status, r.code, ae.Error)
			}
			for _, w := range r.want {
				if !strings.Contains(ae.Error, w) {
					t.Errorf("%s: message %q lacks %q", where, ae.Error, w)
				}
			}
		}
	}
	if r.special != nil {
		r.special(t)
	}
}

// refusedNames are the container names the table's creates use (watched
// for leftovers).
var refusedNames = []string{"r-mem2x", "r-mem1", "r-memjunk", "r-memneg", "r-memodd", "r-mem1e19",
	"r-cpu0", "r-cpuneg", "r-cpu1000", "r-cpunan", "r-cpu1e19", "r-disk100t", "r-diskhost",
	"bad.dot", "bad_under", "Bad-Upper", strings.Repeat("a", 64), "-name",
	"r-noimage", "r-nopool", "Bad_Name", "r-uf", "r-garbage", "r-slow", "r-array"}

func badRows(t *testing.T, e *badEnv) []badRow {
	rmContainer := func(name string) func() {
		return func() { fatbox(t, "--socket="+e.Sock, "rm", "--", name) }
	}
	rmPool := func(name string) func() {
		return func() { fatbox(t, "pool", "rm", name, "--force", "--socket", e.Sock) }
	}
	hostCPUs := runtime.NumCPU()
	// A disk larger than the whole state filesystem, but within the
	// largest disk a container may have: over the ceiling, not invalid.
	var st syscall.Statfs_t
	if err := syscall.Statfs(e.State, &st); err != nil {
		t.Fatal(err)
	}
	fsBytes := int64(st.Blocks) * int64(st.Bsize)
	overDisk := (2*fsBytes/gib + 1) * gib
	harness.Require(t, overDisk <= 16*tib, "a state filesystem under 8 TiB (it is %d bytes): the over-the-ceiling disk row needs a disk above it and at most 16 TiB", fsBytes)
	missingRel := "fbx-e2e-missing-" + harness.Name("") + ".tar"
	missingAbs := filepath.Join(e.tmp, "missing.tar")
	long := strings.Repeat("a", 64)

	rows := []badRow{
		// Sizes and limits.
		{name: "memory-2X", cli: createCLI("r-mem2x", "--memory", "2X"), cliWant: []string{`--memory "2X"`, `unknown unit "X"`},
			method: "POST", path: "/v1/containers", body: createBody("r-mem2x", map[string]any{"memory_bytes": "2X"}),
			status: 400, code: "invalid", want: []string{"memory_bytes"}, undo: rmContainer("r-mem2x")},
		{name: "memory-1", cli: createCLI("r-mem1", "--memory", "1"), cliWant: []string{"--memory 1", "below the minimum 64 MiB"},
			method: "POST", path: "/v1/containers", body: createBody("r-mem1", map[string]any{"memory_bytes": 1}),
			status: 400, code: "invalid", want: []string{"memory_bytes 1", "below the minimum 64 MiB"}, undo: rmContainer("r-mem1")},
		{name: "memory-2G-junk", cli: createCLI("r-memjunk", "--memory", "2G junk"), cliWant: []string{`--memory "2G junk"`},
			method: "POST", path: "/v1/containers", body: createBody("r-memjunk", map[string]any{"memory_bytes": "2G junk"}),
			status: 400, code: "invalid", want: []string{"memory_bytes"}, undo: rmContainer("r-memjunk")},
		{name: "memory-negative", cli: createCLI("r-memneg", "--memory=-5"), cliWant: []string{`--memory "-5"`},
			method: "POST", path: "/v1/containers", body: createBody("r-memneg", map[string]any{"memory_bytes": -5}),
			status: 400, code: "invalid", want: []string{"memory_bytes -5", "negative"}, undo: rmContainer("r-memneg")},
		{name: "memory-not-whole-MiB", cli: createCLI("r-memodd", "--memory", "100000001"), cliWant: []string{"--memory 100000001", "not a whole number of MiB"},
			method: "POST", path: "/v1/containers", body: createBody("r-memodd", map[string]any{"memory_bytes": 100000001}),
			status: 400, code: "invalid", want: []string{"memory_bytes 100000001", "not a whole number of MiB"}, undo: rmContainer("r-memodd")},
		{name: "memory-1e19", // more than an int64: the body itself is refused
			cli: createCLI("r-mem1e19", "--memory", "10000000000000000000"), cliWant: []string{`--memory "10000000000000000000"`, "more than the largest size"},
			method: "POST", path: "/v1/containers", body: createBody("r-mem1e19", map[string]any{"memory_bytes": 1e19}),
			status: 400, code: "invalid", want: []string{"memory_bytes"}, undo: rmContainer("r-mem1e19")},
		// cpus 0 is the API's "default" (1); the CLI refuses --cpus 0, the
		// API anything under the smallest CFS quota.
		{name: "cpus-0", cli: createCLI("r-cpu0", "--cpus", "0"), cliWant: []string{"--cpus 0", "not above zero"},
			method: "POST", path: "/v1/containers", body: createBody("r-cpu0", map[string]any{"cpus": 0.001}),
			status: 400, code: "invalid", want: []string{"cpus 0.001", "less than 0.01"}, undo: rmContainer("r-cpu0")},
		{name: "cpus-negative", cli: createCLI("r-cpuneg", "--cpus=-1"), cliWant: []string{"--cpus -1", "not above zero"},
			method: "POST", path: "/v1/containers", body: createBody("r-cpuneg", map[string]any{"cpus": -1}),
			status: 400, code: "invalid", want: []string{"cpus -1", "not above zero"}, undo: rmContainer("r-cpuneg")},
		{name: "cpus-1000", cli: createCLI("r-cpu1000", "--cpus", "1000"), cliWant: []string{"cpus 1000", fmt.Sprintf("more than this host's %d CPUs", hostCPUs)},
			method: "POST", path: "/v1/containers", body: createBody("r-cpu1000", map[string]any{"cpus": 1000}),
			status: 400, code: "invalid", want: []string{"cpus 1000", fmt.Sprintf("more than this host's %d CPUs", hostCPUs)}, undo: rmContainer("r-cpu1000")},
		{name: "cpus-NaN", cli: createCLI("r-cpunan", "--cpus", "NaN"), cliWant: []string{"--cpus NaN", "not a number"},
			method: "POST", path: "/v1/containers", body: createBody("r-cpunan", map[string]any{"cpus": "NaN"}),
			status: 400, code: "invalid", want: []string{"cpus"}, undo: rmContainer("r-cpunan")},
		{name: "cpus-1e19", cli: createCLI("r-cpu1e19", "--cpus", "1e19"), cliWant: []string{"--cpus", "more than"},
			method: "POST", path: "/v1/containers", body: createBody("r-cpu1e19", map[string]any{"cpus": 1e19}),
			status: 400, code: "invalid", want: []string{"cpus", fmt.Sprintf("more than this host's %d CPUs", hostCPUs)}, undo: rmContainer("r-cpu1e19")},
		// 100T is past the largest disk (ext4's largest file, 16 TiB):
		// invalid before any ceiling is asked.
		{name: "disk-100T", cli: createCLI("r-disk100t", "--disk", "100T"), cliWant: []string{"--disk", "above the maximum 16 TiB"},
			method: "POST", path: "/v1/containers", body: createBody("r-disk100t", map[string]any{"disk_bytes": 100 * tib}),
			status: 400, code: "invalid", want: []string{"disk_bytes", "above the maximum 16 TiB"}, undo: rmContainer("r-disk100t")},
		// A valid size over this host's ceiling: conflict.
		{name: "disk-over-ceiling", cli: createCLI("r-diskhost", "--disk", fmt.Sprintf("%dG", overDisk/gib)), cliWant: []string{"disk", "state filesystem"},
			method: "POST", path: "/v1/containers", body: createBody("r-diskhost", map[string]any{"disk_bytes": overDisk}),
			status: 409, code: "conflict", want: []string{"disk", "state filesystem"}, undo: rmContainer("r-diskhost")},

		// Names: DNS labels.
		{name: "name-dot", cli: createCLI("bad.dot"), method: "POST", path: "/v1/containers", body: createBody("bad.dot", nil),
			status: 400, code: "invalid", want: []string{`"bad.dot"`, `'.'`}, undo: rmContainer("bad.dot")},
		{name: "name-underscore", cli: createCLI("bad_under"), method: "POST", path: "/v1/containers", body: createBody("bad_under", nil),
			status: 400, code: "invalid", want: []string{`"bad_under"`, `'_'`}, undo: rmContainer("bad_under")},
		{name: "name-uppercase", cli: createCLI("Bad-Upper"), method: "POST", path: "/v1/containers", body: createBody("Bad-Upper", nil),
			status: 400, code: "invalid", want: []string{`"Bad-Upper"`, "upper case"}, undo: rmContainer("Bad-Upper")},
		{name: "name-64-chars", cli: createCLI(long), method: "POST", path: "/v1/containers", body: createBody(long, nil),
			status: 400, code: "invalid", want: []string{long, "64 characters"}, undo: rmContainer(long)},
		{name: "name-empty", cli: createCLI(""), method: "POST", path: "/v1/containers", body: createBody("", nil),
			status: 400, code: "invalid", want: []string{"no container name given"}},
		// On the command line -name is read as flags: the CLI says so.
		{name: "name-dash-flag", cli: []string{"create", "-name", "--image", "debian12-fat", "--pool", "vm"},
			cliWant: []string{"-name", "names cannot start with '-'"},
			method:  "POST", path: "/v1/containers", body: createBody("-name", nil),
			status: 400, code: "invalid", want: []string{`"-name"`, "starts with '-'"}, undo: rmContainer("-name")},
		{name: "name-dash-after-ddash", cli: []string{"create", "--image", "debian12-fat", "--pool", "vm", "--memory", "256M", "--disk", "1G", "--", "-name"},
			cliWant: []string{`"-name"`, "starts with '-'"}, undo: rmContainer("-name")},
		{name: "rm-empty", cli: []string{"rm", ""}, cliWant: []string{"no container name given"},
			method: "DELETE", path: "/v1/containers/", status: 404, code: "not_found", want: []string{"DELETE /v1/containers/"}},
		{name: "inspect-empty", cli: []string{"inspect", ""}, cliWant: []string{"no container name given"},
			method: "GET", path: "/v1/containers/", status: 404, code: "not_found", want: []string{"GET /v1/containers/"}},

		// The HTTP layer.
		{name: "unknown-route", method: "GET", path: "/v1/nope", status: 404, code: "not_found", want: []string{"/v1/nope"}},
		{name: "unknown-method", method: "PUT", path: "/v1/pools", body: poolBody("r-put", "198.19.72.0/24", "fbxnone0"),
			status: 404, code: "not_found", want: []string{"PUT /v1/pools"}, undo: rmPool("r-put")},
		{name: "unknown-json-field", method: "POST", path: "/v1/pools",
			body:   `{"name":"r-uf","cidr":"198.19.72.0/24","gateway":"198.19.72.1","bridge":"fbxnone1","bogus":1}`,
			status: 400, code: "invalid", want: []string{`"bogus"`}, undo: rmPool("r-uf")},
		{name: "json-then-garbage", method: "POST", path: "/v1/pools", body: poolBody("r-garbage", "198.19.72.0/24", "fbxnone2") + " garbage",
			status: 400, code: "invalid", want: []string{"data after the JSON object"}, undo: rmPool("r-garbage")},
		{name: "two-json-objects", method: "POST", path: "/v1/pools", body: poolBody("r-garbage", "198.19.72.0/24", "fbxnone2") + "{}",
			status: 400, code: "invalid", want: []string{"data after the JSON object"}, undo: rmPool("r-garbage")},
		{name: "empty-body", method: "POST", path: "/v1/pools", status: 400, code: "invalid", want: []string{"empty"}},
		{name: "array-body", method: "POST", path: "/v1/containers", body: "[" + createBody("r-array", nil) + "]",
			status: 400, code: "invalid", want: []string{"bad request body"}, undo: rmContainer("r-array")},
		{name: "release_ip-not-a-boolean", method: "DELETE", path: "/v1/containers/nope-404?release_ip=maybe",
			status: 400, code: "invalid", want: []string{"release_ip=maybe"}},
		{name: "body-100MB", special: func(t *testing.T) { e.hugeBody(t) }},
		{name: "body-never-finished", slow: true, special: func(t *testing.T) { e.unfinishedBody(t) }},
		{name: "header-never-finished", slow: true, special: func(t *testing.T) { e.unfinishedHeader(t) }},

		// Pools.
		{name: "pool-/31", cli: []string{"pool", "create", "r-p31", "--cidr", "198.19.72.0/31", "--bridge", "fbxnone3"},
			method: "POST", path: "/v1/pools", body: poolBody("r-p31", "198.19.72.0/31", "fbxnone3"),
			status: 400, code: "invalid", want: []string{"cidr", "198.19.72.0/31", "too small"}, undo: rmPool("r-p31")},
		{name: "pool-/32", cli: []string{"pool", "create", "r-p32", "--cidr", "198.19.72.7/32", "--bridge", "fbxnone3"},
			method: "POST", path: "/v1/pools", body: poolBody("r-p32", "198.19.72.7/32", "fbxnone3"),
			status: 400, code: "invalid", want: []string{"cidr", "198.19.72.7/32", "too small"}, undo: rmPool("r-p32")},
		{name: "pool-/8", cli: []string{"pool", "create", "r-p8", "--cidr", "198.0.0.0/8", "--bridge", "fbxnone3"},
			method: "POST", path: "/v1/pools", body: poolBody("r-p8", "198.0.0.0/8", "fbxnone3"),
			status: 400, code: "invalid", want: []string{"cidr", "198.0.0.0/8", "too large"}, undo: rmPool("r-p8")},
		{name: "pool-bridge-is-a-veth", cli: []string{"pool", "create", "r-pveth", "--cidr", "198.19.72.0/24", "--bridge", e.veth},
			method: "POST", path: "/v1/pools", body: poolBody("r-pveth", "198.19.72.0/24", e.veth),
			status: 400, code: "invalid", want: []string{e.veth, "not a bridge"}, undo: rmPool("r-pveth")},
		{name: "pool-bridge-name-a/b-c", cli: []string{"pool", "create", "r-pslash", "--cidr", "198.19.72.0/24", "--bridge", "a/b c"},
			method: "POST", path: "/v1/pools", body: poolBody("r-pslash", "198.19.72.0/24", "a/b c"),
			status: 400, code: "invalid", want: []string{`"a/b c"`, "'/'"}, undo: rmPool("r-pslash")},
		{name: "pool-second-on-same-bridge", cli: []string{"pool", "create", "r-p2", "--cidr", "198.19.71.0/24", "--bridge", e.bridge},
			method: "POST", path: "/v1/pools", body: poolBody("r-p2", "198.19.71.0/24", e.bridge),
			status: 409, code: "conflict", want: []string{e.bridge, `pool "vm"`}, undo: rmPool("r-p2")},
		{name: "pool-name-exists", cli: []string{"pool", "create", "vm", "--cidr", "198.19.72.0/24", "--bridge", "fbxnone4"},
			method: "POST", path: "/v1/pools", body: poolBody("vm", "198.19.72.0/24", "fbxnone4"),
			status: 409, code: "exists", want: []string{`pool "vm" already exists`}},

		// Containers.
		{name: "create-unknown-image", cli: []string{"create", "r-noimage", "--image", "nope-img", "--pool", "vm", "--memory", "256M", "--disk", "1G"},
			method: "POST", path: "/v1/containers", body: createBody("r-noimage", map[string]any{"image": "nope-img"}),
			status: 404, code: "not_found", want: []string{`no image "nope-img"`}, undo: rmContainer("r-noimage")},
		{name: "create-unknown-pool", cli: []string{"create", "r-nopool", "--image", "debian12-fat", "--pool", "nope-pool", "--memory", "256M", "--disk", "1G"},
			method: "POST", path: "/v1/containers", body: createBody("r-nopool", map[string]any{"pool": "nope-pool"}),
			status: 404, code: "not_found", want: []string{`pool "nope-pool" does not exist`}, undo: rmContainer("r-nopool")},
		{name: "create-existing-name", cli: createCLI(e.running), method: "POST", path: "/v1/containers", body: createBody(e.running, nil),
			status: 409, code: "exists", want: []string{fmt.Sprintf("a container named %q already exists", e.running)}},
		{name: "rename-to-invalid-name", cli: []string{"rename", e.stopped, "Bad_Name"},
			method: "POST", path: "/v1/containers/" + e.stopped + "/rename", body: `{"name":"Bad_Name"}`,
			status: 400, code: "invalid", want: []string{`"Bad_Name"`},
			undo: func() { fatbox(t, "rename", "Bad_Name", e.stopped, "--socket", e.Sock) }},
		{name: "rename-running", cli: []string{"rename", e.running, e.running + "-2"},
			method: "POST", path: "/v1/containers/" + e.running + "/rename", body: jsonBody(map[string]string{"name": e.running + "-2"}),
			status: 409, code: "conflict", want: []string{e.running, "stop it first"},
			undo: func() { fatbox(t, "rename", e.running+"-2", e.running, "--socket", e.Sock) }},
		{name: "rename-to-taken-name", cli: []string{"rename", e.stopped, e.running},
			method: "POST", path: "/v1/containers/" + e.stopped + "/rename", body: jsonBody(map[string]string{"name": e.running}),
			status: 409, code: "exists", want: []string{e.running}},
		{name: "prog-unknown-action", cli: []string{"prog", "explode", e.running}, cliWant: []string{"explode"},
			method: "POST", path: "/v1/containers/" + e.running + "/programs/explode",
			status: 400, code: "invalid", want: []string{`"explode"`}},
		{name: "logs-lines-negative", cli: []string{"logs", e.running, "-n", "-1"},
			method: "POST", path: "/v1/containers/" + e.running + "/logs?lines=-1",
			status: 400, code: "invalid", want: []string{`lines="-1"`}},

		// Leases and addresses.
		{name: "lease-unknown-pool", cli: []string{"ip", "allocate", "r-lease", "--pool", "nope-pool"},
			method: "POST", path: "/v1/pools/nope-pool/leases", body: `{"name":"r-lease"}`,
			status: 404, code: "not_found", want: []string{`pool "nope-pool" does not exist`}},
		{name: "lease-bad-owner-name", cli: []string{"ip", "allocate", "Bad_Owner", "--pool", "vm"},
			method: "POST", path: "/v1/pools/vm/leases", body: `{"name":"Bad_Owner"}`,
			status: 400, code: "invalid", want: []string{`"Bad_Owner"`},
			undo: func() { fatbox(t, "ip", "release", "Bad_Owner", "--pool", "vm", "--socket", e.Sock) }},
		{name: "lease-ip-outside-pool", cli: []string{"ip", "allocate", "r-outside", "--pool", "vm", "--ip", "198.19.72.9"},
			method: "POST", path: "/v1/pools/vm/leases", body: `{"name":"r-outside","ip":"198.19.72.9"}`,
			status: 400, code: "invalid", want: []string{"198.19.72.9", "outside"},
			undo: func() { fatbox(t, "ip", "release", "r-outside", "--pool", "vm", "--socket", e.Sock) }},
		// The CLI reads a word that is no address as a lease name.
		{name: "ip-lookup-not-an-ip", cli: []string{"ip", "show", "not-an-ip"}, cliWant: []string{"--pool"},
			method: "GET", path: "/v1/ips/not-an-ip", status: 400, code: "invalid", want: []string{`"not-an-ip"`}},

		// Images. The CLI makes a path absolute, so only raw HTTP sends a
		// relative one.
		{name: "image-import-relative", cli: []string{"image", "import", missingRel, "--name", "r-img"}, cliWant: []string{missingRel, "no such file"},
			method: "POST", path: "/v1/images/import", body: jsonBody(map[string]string{"path": missingRel, "name": "r-img"}),
			status: 400, code: "invalid", want: []string{missingRel, "relative"}},
		{name: "image-import-missing", cli: []string{"image", "import", missingAbs, "--name", "r-img"}, cliWant: []string{missingAbs, "no such file"},
			method: "POST", path: "/v1/images/import", body: jsonBody(map[string]string{"path": missingAbs, "name": "r-img"}),
			status: 400, code: "invalid", want: []string{missingAbs, "no such file"}},

		// A pool in use: refused, with --force too; last, since a wrongly
		// accepted one takes the pool away.
		{name: "pool-rm-in-use", cli: []string{"pool", "rm", "vm"}, method: "DELETE", path: "/v1/pools/vm",
			status: 409, code: "conflict", want: []string{`"vm"`, e.running}},
		{name: "pool-rm-in-use-force", cli: []string{"pool", "rm", "vm", "--force"}, method: "DELETE", path: "/v1/pools/vm?force=1",
			status: 409, code: "conflict", want: []string{`"vm"`, e.running}},
	}
	return rows
}

// hugeBody sends a 100 MB body: 413 too_large, and the daemon does not
// hold it (its RSS and peak RSS grow by less than 50 MB).
func (e *badEnv) hugeBody(t *testing.T) {
	pid := e.D.Cmd.Process.Pid
	rss0, hwm0 := procKiB(t, pid, "VmRSS"), procKiB(t, pid, "VmHWM")
	conn, err := net.Dial("unix", e.Sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	const size = 100 << 20
	fmt.Fprintf(conn, "POST /v1/pools HTTP/1.1\r\nHost: fatbox\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size)
	wrote := make(chan int64, 1)
	go func() {
		// One JSON string that never ends: the decoder must read on.
		prefix := `{"name":"`
		n, _ := io.WriteString(conn, prefix)
		m, _ := io.Copy(conn, io.LimitReader(letters{}, size-int64(len(prefix))))
		wrote <- int64(n) + m
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("100 MB body: no answer: %v", err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	rss1, hwm1 := procKiB(t, pid, "VmRSS"), procKiB(t, pid, "VmHWM")
	conn.Close()
	sent := <-wrote
	a := rawAnswer{Status: resp.StatusCode, Body: string(b), CType: resp.Header.Get("Content-Type")}
	if ae, ok := apiError(t, "100 MB body", a); ok {
		if a.Status != 413 || ae.Code != api.CodeTooLarge || !strings.Contains(ae.Error, "over 1048576 bytes") {
			t.Errorf("100 MB body: HTTP %d %q %q, want 413 too_large naming the 1048576-byte cap", a.Status, ae.Code, ae.Error)
		}
	}
	t.Logf("100 MB body: %d bytes went out before the daemon answered and closed; RSS %d → %d KiB, peak %d → %d KiB", sent, rss0, rss1, hwm0, hwm1)
	if rss1-rss0 > 50<<10 || hwm1-hwm0 > 50<<10 {
		t.Errorf("100 MB body: the daemon's memory grew by %d KiB (RSS) / %d KiB (peak), want < 50 MB", rss1-rss0, hwm1-hwm0)
	}
}

// letters is an endless stream of 'a'.
type letters struct{}

func (letters) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

func procKiB(t *testing.T, pid int, key string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key+":" {
			var n int64
			fmt.Sscan(f[1], &n)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
	return 0
}

// unfinishedBody promises 1000 bytes and sends 14: within ~35 s the daemon
// answers 408 (JSON, code invalid) or closes the connection.
func (e *badEnv) unfinishedBody(t *testing.T) {
	conn, err := net.Dial("unix", e.Sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /v1/pools HTTP/1.1\r\nHost: fatbox\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"name\":\"r-slow")
	conn.SetReadDeadline(start.Add(45 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	took := time.Since(start)
	var ne net.Error
	switch {
	case err == nil:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		a := rawAnswer{Status: resp.StatusCode, Body: string(b), CType: resp.Header.Get("Content-Type")}
		if ae, ok := apiError(t, "body never finished", a); ok && (a.Status != http.StatusRequestTimeout || !strings.Contains(ae.Error, "not received within")) {
			t.Errorf("body never finished: HTTP %d %q %q, want 408 saying the body was not received in time", a.Status, ae.Code, ae.Error)
		}
		t.Logf("body never finished: HTTP %d after %s", a.Status, took.Round(time.Millisecond))
	case errors.As(err, &ne) && ne.Timeout():
		t.Errorf("body never finished: the daemon still holds the connection after %s", took.Round(time.Second))
		return
	default:
		t.Logf("body never finished: connection closed after %s (%v)", took.Round(time.Millisecond), err)
	}
	if took > 36*time.Second {
		t.Errorf("body never finished: ended after %s, want within ~35 s", took.Round(time.Second))
	}
}

// unfinishedHeader sends half a request header: the daemon gives up on it
// within its header timeout (10 s).
func (e *badEnv) unfinishedHeader(t *testing.T) {
	conn, err := net.Dial("unix", e.Sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /v1/pools HTTP/1.1\r\nHost: fatbox\r\n")
	conn.SetReadDeadline(start.Add(30 * time.Second))
	_, err = io.ReadAll(conn)
	took := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("header never finished: the daemon still holds the connection after %s", took.Round(time.Second))
		return
	}
	if took > 15*time.Second {
		t.Errorf("header never finished: closed after %s, want within ~10 s", took.Round(time.Second))
	}
	t.Logf("header never finished: closed after %s", took.Round(time.Millisecond))
}
