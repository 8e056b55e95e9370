package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/fatbox/fatbox/test/harness"
)

// routeCase is one request to a route that must fail.
type routeCase struct {
	method, path, body string
	status             int
	code               string
}

// routeCases: for every route the daemon registers (engine/daemon's
// HandleFunc patterns), requests that must fail and how. Every route also
// gets a request from a caller the daemon does not serve (403 forbidden),
// the one failure open to routes that take no input (status, the lists).
// TestAPIRouteErrors fails when the daemon has a route this table lacks,
// or the table a route the daemon no longer has.
var routeCases = map[string][]routeCase{
	"/": {
		{"GET", "/v1/nope", "", 404, "not_found"},
		{"POST", "/v2/containers", "{}", 404, "not_found"},
		{"PATCH", "/v1/containers/nope-404", "{}", 404, "not_found"},
	},
	"GET /v1/status":     nil,
	"GET /v1/containers": nil,
	"POST /v1/containers": {
		{"POST", "/v1/containers", `{"name":"Bad_Name","image":"x","pool":"y"}`, 400, "invalid"},
		{"POST", "/v1/containers", `{"name":"ok-1","image":"x","pool":"y","zzz":1}`, 400, "invalid"},
		{"POST", "/v1/containers", `{"name":"ok-1","image":"nope-img","pool":"rp"}`, 404, "not_found"},
		{"POST", "/v1/containers", "", 400, "invalid"},
	},
	"GET /v1/containers/{name}": {
		{"GET", "/v1/containers/nope-404", "", 404, "not_found"},
	},
	"DELETE /v1/containers/{name}": {
		{"DELETE", "/v1/containers/nope-404", "", 404, "not_found"},
		{"DELETE", "/v1/containers/nope-404?release_ip=maybe", "", 400, "invalid"},
	},
	"POST /v1/containers/{name}/stop": {
		{"POST", "/v1/containers/nope-404/stop", "{}", 404, "not_found"},
		{"POST", "/v1/containers/nope-404/stop", `{"zzz":1}`, 400, "invalid"},
	},
	"POST /v1/containers/{name}/start": {
		{"POST", "/v1/containers/nope-404/start", "{}", 404, "not_found"},
		{"POST", "/v1/containers/nope-404/start", "{} x", 400, "invalid"},
	},
	"POST /v1/containers/{name}/restart": {
		{"POST", "/v1/containers/nope-404/restart", "{}", 404, "not_found"},
		{"POST", "/v1/containers/nope-404/restart", "[]", 400, "invalid"},
	},
	"POST /v1/containers/{name}/rename": {
		{"POST", "/v1/containers/nope-404/rename", `{"name":"ok-2"}`, 404, "not_found"},
		{"POST", "/v1/containers/nope-404/rename", `{"name":1}`, 400, "invalid"},
	},
	"POST /v1/containers/{name}/exec": {
		{"POST", "/v1/containers/nope-404/exec", `{"args":[]}`, 400, "invalid"},
		{"POST", "/v1/containers/nope-404/exec", `{"args":["true"]}`, 404, "not_found"},
	},
	"POST /v1/containers/{name}/logs": {
		{"POST", "/v1/containers/nope-404/logs?lines=x", "", 400, "invalid"},
		{"POST", "/v1/containers/nope-404/logs?follow=maybe", "", 400, "invalid"},
		{"POST", "/v1/containers/nope-404/logs", "", 404, "not_found"},
	},
	"PATCH /v1/containers/{name}": {
		{"PATCH", "/v1/containers/nope-404", `{"owner":"x"}`, 404, "not_found"},
		{"PATCH", "/v1/containers/nope-404", `{"memory_bytes":1}`, 404, "not_found"},
		{"PATCH", "/v1/containers/nope-404", `{"bogus":1}`, 400, "invalid"},
	},
	"POST /v1/cmdb/sync": {
		{"POST", "/v1/cmdb/sync", `{}`, 409, "conflict"},
		{"POST", "/v1/cmdb/sync", `{"target":1}`, 400, "invalid"},
	},
	"GET /v1/events": {
		{"GET", "/v1/events?after=x", "", 400, "invalid"},
		{"GET", "/v1/events?wait=1h", "", 400, "invalid"},
		{"GET", "/v1/events?since=yesterday", "", 400, "invalid"},
	},
	"GET /v1/containers/{name}/programs": {
		{"GET", "/v1/containers/nope-404/programs", "", 404, "not_found"},
	},
	"GET /v1/containers/{name}/stats": {
		{"GET", "/v1/containers/nope-404/stats", "", 404, "not_found"},
	},
	"GET /v1/containers/{name}/doctor": {
		{"GET", "/v1/containers/nope-404/doctor", "", 404, "not_found"},
	},
	"POST /v1/containers/{name}/release": {
		{"POST", "/v1/containers/nope-404/release", `{"zzz":1}`, 400, "invalid"},
		{"POST", "/v1/containers/nope-404/release", `{}`, 400, "invalid"},
		{"POST", "/v1/containers/nope-404/release", `{"image":"a","from":"b"}`, 400, "invalid"},
		{"POST", "/v1/containers/nope-404/release", `{"image":"debian12-fat","check":{"tcp":22,"http_port":80}}`, 400, "invalid"},
		{"POST", "/v1/containers/nope-404/release", `{"image":"debian12-fat"}`, 404, "not_found"},
	},
	"POST /v1/containers/{name}/rollback": {
		{"POST", "/v1/containers/nope-404/rollback", `{"zzz":1}`, 400, "invalid"},
		{"POST", "/v1/containers/nope-404/rollback", `{"check":{"tcp":70000}}`, 400, "invalid"},
		{"POST", "/v1/containers/nope-404/rollback", `{}`, 404, "not_found"},
	},
	"POST /v1/containers/{name}/snapshots": {
		{"POST", "/v1/containers/nope-404/snapshots", `{"name":"Bad_Snap"}`, 400, "invalid"},
		{"POST", "/v1/containers/nope-404/snapshots", `{"zzz":1}`, 400, "invalid"},
		{"POST", "/v1/containers/nope-404/snapshots", `{"name":"before"}`, 404, "not_found"},
	},
	"GET /v1/gateway/check": {
		// This daemon has no gateway: a conflict saying how to configure one.
		{"GET", "/v1/gateway/check?user=alice&container=web-01", "", 409, "conflict"},
	},
	"GET /v1/audit": {
		{"GET", "/v1/audit?since=yesterday", "", 400, "invalid"},
		{"GET", "/v1/audit?limit=0", "", 400, "invalid"},
	},
	"GET /v1/audit/sessions/{id}": {
		{"GET", "/v1/audit/sessions/.hidden", "", 400, "invalid"},
		{"GET", "/v1/audit/sessions/nope-404", "", 404, "not_found"},
	},
	"GET /v1/audit/sessions/{id}/recording": {
		{"GET", "/v1/audit/sessions/.hidden/recording", "", 400, "invalid"},
		{"GET", "/v1/audit/sessions/nope-404/recording", "", 404, "not_found"},
	},
	"GET /v1/containers/{name}/gateway-logins": {
		{"GET", "/v1/containers/nope-404/gateway-logins", "", 404, "not_found"},
	},
	"POST /v1/containers/{name}/gateway-logins/grant": {
		{"POST", "/v1/containers/nope-404/gateway-logins/grant", `{"zzz":1}`, 400, "invalid"},
		{"POST", "/v1/containers/nope-404/gateway-logins/grant", `{"logins":["root"]}`, 409, "conflict"}, // no gateway key here
	},
	"POST /v1/containers/{name}/gateway-logins/revoke": {
		{"POST", "/v1/containers/nope-404/gateway-logins/revoke", `{"zzz":1}`, 400, "invalid"},
		{"POST", "/v1/containers/nope-404/gateway-logins/revoke", `{"logins":[]}`, 404, "not_found"},
	},
	"GET /v1/containers/{name}/snapshots": {
		{"GET", "/v1/containers/nope-404/snapshots", "", 404, "not_found"},
	},
	"DELETE /v1/containers/{name}/snapshots/{snap}": {
		{"DELETE", "/v1/containers/nope-404/snapshots/Bad_Snap", "", 400, "invalid"},
		{"DELETE", "/v1/containers/nope-404/snapshots/before", "", 404, "not_found"},
	},
	"POST /v1/containers/{name}/snapshots/{snap}/restore": {
		{"POST", "/v1/containers/nope-404/snapshots/Bad_Snap/restore", "{}", 400, "invalid"},
		{"POST", "/v1/containers/nope-404/snapshots/before/restore", `{"zzz":1}`, 400, "invalid"},
		{"POST", "/v1/containers/nope-404/snapshots/before/restore", "{}", 404, "not_found"},
	},
	"POST /v1/containers/{name}/commit": {
		{"POST", "/v1/containers/nope-404/commit", `{"image":"Bad Name"}`, 400, "invalid"},
		{"POST", "/v1/containers/nope-404/commit", `{"image":1}`, 400, "invalid"},
		{"POST", "/v1/containers/nope-404/commit", `{"image":"nope-commit"}`, 404, "not_found"},
	},
	"GET /v1/usage": {
		{"GET", "/v1/usage?name=nope-404", "", 404, "not_found"},
		{"GET", "/v1/usage?from=yesterday", "", 400, "invalid"},
		{"GET", "/v1/usage?to=2026-13-01T00:00:00Z", "", 400, "invalid"},
		{"GET", "/v1/usage?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "", 400, "invalid"},
	},
	"POST /v1/containers/{name}/programs/{action}": {
		{"POST", "/v1/containers/nope-404/programs/explode", "", 400, "invalid"},
		{"POST", "/v1/containers/nope-404/programs/status", "", 404, "not_found"},
	},
	"GET /v1/images": nil,
	"GET /v1/images/{name}": {
		{"GET", "/v1/images/nope-img", "", 404, "not_found"},
	},
	"DELETE /v1/images/{name}": {
		{"DELETE", "/v1/images/nope-img", "", 404, "not_found"},
	},
	"POST /v1/images/import": {
		{"POST", "/v1/images/import", `{"path":"rel.tar","name":"x"}`, 400, "invalid"},
		{"POST", "/v1/images/import", `{"path":"/nonexistent/fbx-missing.tar","name":"x"}`, 400, "invalid"},
	},
	"POST /v1/images/build": {
		{"POST", "/v1/images/build", `{"recipe":"nope-recipe"}`, 400, "invalid"},
		{"POST", "/v1/images/build", `{"recipe":1}`, 400, "invalid"},
	},
	"POST /v1/pools": {
		{"POST", "/v1/pools", `{"name":"rq","cidr":"198.19.73.0/31","gateway":"198.19.73.1","bridge":"fbxrnone1"}`, 400, "invalid"},
		{"POST", "/v1/pools", `{"name":"rp","cidr":"198.19.73.0/24","gateway":"198.19.73.1","bridge":"fbxrnone0"}`, 409, "exists"},
		{"POST", "/v1/pools", `{"name":"rq","cidr":"198.19.73.0/25","gateway":"198.19.73.1","bridge":"fbxrnone1"}`, 409, "conflict"},
	},
	"GET /v1/pools": nil,
	"GET /v1/pools/{pool}": {
		{"GET", "/v1/pools/nope-pool", "", 404, "not_found"},
	},
	"DELETE /v1/pools/{pool}": {
		{"DELETE", "/v1/pools/nope-pool", "", 404, "not_found"},
		{"DELETE", "/v1/pools/rp?force=maybe", "", 400, "invalid"},
	},
	"GET /v1/pools/{pool}/leases": {
		{"GET", "/v1/pools/nope-pool/leases", "", 404, "not_found"},
	},
	"GET /v1/pools/{pool}/leases/{name}": {
		{"GET", "/v1/pools/rp/leases/nobody", "", 404, "not_found"},
		{"GET", "/v1/pools/nope-pool/leases/nobody", "", 404, "not_found"},
	},
	"POST /v1/pools/{pool}/leases": {
		{"POST", "/v1/pools/nope-pool/leases", `{"name":"x-1"}`, 404, "not_found"},
		{"POST", "/v1/pools/rp/leases", `{"name":"x-1","ip":"nope"}`, 400, "invalid"},
		{"POST", "/v1/pools/rp/leases", `{"name":""}`, 400, "invalid"},
		{"POST", "/v1/pools/rp/leases", `{"name":"x-1","ip":"198.18.0.1"}`, 400, "invalid"},
	},
	"DELETE /v1/pools/{pool}/leases/{name}": {
		{"DELETE", "/v1/pools/rp/leases/nobody", "", 404, "not_found"},
	},
	"POST /v1/pools/{pool}/gc": {
		{"POST", "/v1/pools/nope-pool/gc", "{}", 404, "not_found"},
		{"POST", "/v1/pools/rp/gc", `{"alive":"x"}`, 400, "invalid"},
	},
	"POST /v1/volumes": {
		{"POST", "/v1/volumes", `{"name":"Bad_Name","size_bytes":67108864}`, 400, "invalid"},
		{"POST", "/v1/volumes", `{"name":"data1","size_bytes":1}`, 400, "invalid"},
		{"POST", "/v1/volumes", `{"name":"data1","zzz":1}`, 400, "invalid"},
	},
	"GET /v1/volumes": nil,
	"GET /v1/volumes/{name}": {
		{"GET", "/v1/volumes/nope-404", "", 404, "not_found"},
		{"GET", "/v1/volumes/Bad_Name", "", 400, "invalid"},
	},
	"DELETE /v1/volumes/{name}": {
		{"DELETE", "/v1/volumes/nope-404", "", 404, "not_found"},
	},
	"GET /v1/ips/{ip}": {
		{"GET", "/v1/ips/not-an-ip", "", 400, "invalid"},
		{"GET", "/v1/ips/198.19.73.200", "", 404, "not_found"},
	},
}

var handleFuncRE = regexp.MustCompile(`\.HandleFunc\(\s*"([^"]+)"|\.Handle\(\s*"([^"]+)"`)

// notAPIRoutes are engine/daemon routes served on listeners of their own,
// not the API's socket: Prometheus's scrape (TestMetricsEndpoint covers it).
var notAPIRoutes = map[string]bool{"GET /metrics": true}

// daemonRoutes reads the route patterns from engine/daemon's source.
func daemonRoutes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../engine/daemon/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("engine/daemon's source not found from %s: %v", mustWd(), err)
	}
	var routes []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range handleFuncRE.FindAllStringSubmatch(string(b), -1) {
			if r := m[1] + m[2]; !notAPIRoutes[r] {
				routes = append(routes, r)
			}
		}
	}
	sort.Strings(routes)
	return routes
}

func mustWd() string { wd, _ := os.Getwd(); return wd }

// examplePath fills a route pattern's wildcards with names nothing has.
func examplePath(pattern string) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		return "GET", "/v1/nope"
	}
	r := strings.NewReplacer("{name}", "nope-404", "{pool}", "nope-pool", "{action}", "status", "{ip}", "198.19.73.201", "{snap}", "nope-snap")
	return method, r.Replace(path)
}

// TestAPIRouteErrors: every route of the daemon answers a request that
// must fail with JSON carrying a code and a message; an error that reaches
// a client without a code fails the test. The routes are read from
// engine/daemon's source, so a new route cannot be forgotten.
func TestAPIRouteErrors(t *testing.T) {
	harness.RequireRoot(t)
	routes := daemonRoutes(t)
	for _, r := range routes {
		if _, ok := routeCases[r]; !ok {
			t.Errorf("route %q of engine/daemon has no error cases in routeCases: add requests that must fail", r)
		}
	}
	for r := range routeCases {
		if !strings.Contains(strings.Join(routes, "\n")+"\n", r+"\n") {
			t.Errorf("routeCases has %q, which engine/daemon does not register (routes: %v)", r, routes)
		}
	}

	dir, err := os.MkdirTemp("", "fatbox-e2e-routes-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // nobody reaches the socket
	sock := filepath.Join(dir, "fatbox.sock")
	d := startDaemon(t, filepath.Join(dir, "state"), sock)
	// A pool for the lease routes; its bridge need not exist (no
	// --create-bridge: nothing is made on the host).
	if r := fatbox(t, "pool", "create", "rp", "--cidr", "198.19.73.0/24", "--bridge", "fbxrnone0", "--socket", sock); r.Code != 0 {
		t.Fatalf("pool create: %s", r.Stderr)
	}

	for _, r := range routes {
		for _, c := range routeCases[r] {
			where := r + ": " + c.method + " " + c.path + " " + c.body
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
			}
			a := rawDo(sock, c.method, c.path, body)
			if e, ok := apiError(t, where, a); ok && (a.Status != c.status || e.Code != c.code) {
				t.Errorf("%s: HTTP %d %q (%s), want HTTP %d %q", where, a.Status, e.Code, e.Error, c.status, c.code)
			}
		}
	}

	// Every route refuses a caller outside root, the daemon's uid and the
	// socket's group, even when the socket's mode lets it connect.
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	nobody := asUser{bin: newRawClient(t), cred: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	for _, r := range routes {
		method, path := examplePath(r)
		body := ""
		if method == "POST" {
			body = "{}"
		}
		where := "uid 65534: " + method + " " + path
		a := nobody.do(t, sock, method, path, body)
		if e, ok := apiError(t, where, a); ok && (a.Status != 403 || e.Code != "forbidden" || !strings.Contains(e.Error, "uid 65534")) {
			t.Errorf("%s: HTTP %d %q %q, want 403 forbidden naming uid 65534", where, a.Status, e.Code, e.Error)
		}
	}
	d.Stop()
	if !strings.Contains(d.Log.String(), "refused a caller") {
		t.Errorf("the daemon's log has no line for the refused callers:\n%s", d.Log.String())
	}
}
