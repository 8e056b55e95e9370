package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/inventory/store/memstore"
	"github.com/fatbox/fatbox/ipam"
)

// routeDaemon is a daemon whose inventory and ipam run on an in-memory
// store; it has no engine or image store, so a route that reached them
// would panic (and answer 500 through serve's recovery).
func routeDaemon(t *testing.T) (*Daemon, http.Handler) {
	t.Helper()
	d, _ := testDaemon()
	st := memstore.New()
	d.store = st
	d.inv = &inventory.Inventory{Store: st}
	d.ipam = &ipam.Allocator{Store: st, Host: "n1", Containers: d.inv.Pools}
	return d, d.serve(d.Handler())
}

// do sends a request as root and decodes a 2xx answer into out, or
// returns the error answer.
func do(t *testing.T, h http.Handler, method, target, body string, out any) (int, api.Error) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, withPeer(httptest.NewRequest(method, target, strings.NewReader(body)), rootPeer))
	if rec.Code/100 == 2 {
		if out != nil {
			if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
				t.Fatalf("%s %s: answer %q: %v", method, target, rec.Body, err)
			}
		}
		return rec.Code, api.Error{}
	}
	return rec.Code, answer(t, rec)
}

func TestRouteNotFound(t *testing.T) {
	_, h := routeDaemon(t)
	for _, c := range []struct{ method, target string }{
		{"GET", "/"},
		{"GET", "/v2/status"},
		{"PUT", "/v1/status"},         // a route with another method
		{"GET", "/v1/containers/a/b"}, // no such sub-route
	} {
		code, e := do(t, h, c.method, c.target, "", nil)
		if code != 404 || e.Code != api.CodeNotFound || !strings.Contains(e.Error, "no API route "+c.method+" "+c.target) || !requestIDRE.MatchString(e.RequestID) {
			t.Errorf("%s %s: %d %+v", c.method, c.target, code, e)
		}
	}
}

// Pools and leases through the API on an in-memory store: the answers'
// shapes, and each refusal's status and code.
func TestRoutePoolsAndLeases(t *testing.T) {
	d, h := routeDaemon(t)
	const pool = `{"name":"prod","cidr":"198.18.0.0/24","gateway":"198.18.0.1","bridge":"br-prod"}`
	var p api.Pool
	if code, e := do(t, h, "POST", "/v1/pools", pool, &p); code != 200 {
		t.Fatalf("create pool: %d %+v", code, e)
	}
	if p.Name != "prod" || p.Capacity == 0 || p.Quarantine == nil || p.QuarantineDuration() != ipam.DefaultQuarantine {
		t.Fatalf("created %+v", p)
	}
	for _, c := range []struct {
		name, method, target, body string
		status                     int
		code, msg                  string
	}{
		{"pool again", "POST", "/v1/pools", pool, 409, api.CodeExists, "already exists"},
		{"bad pool", "POST", "/v1/pools", `{"name":"x","cidr":"198.19.0.0/24","gateway":"10.0.0.1","bridge":"b"}`, 400, api.CodeInvalid, "gateway"},
		{"unknown field", "POST", "/v1/pools", `{"name":"x","cidrr":"198.19.0.0/24"}`, 400, api.CodeInvalid, `unknown field "cidrr"`},
		{"no pool", "GET", "/v1/pools/none", "", 404, api.CodeNotFound, "none"},
		{"no pool's leases", "GET", "/v1/pools/none/leases", "", 404, api.CodeNotFound, "none"},
		{"no lease", "GET", "/v1/pools/prod/leases/web-09", "", 404, api.CodeNotFound, "web-09"},
		{"bad address", "GET", "/v1/ips/not-an-ip", "", 400, api.CodeInvalid, "bad address"},
		{"bad force", "DELETE", "/v1/pools/prod?force=sure", "", 400, api.CodeInvalid, "force=sure"},
	} {
		code, e := do(t, h, c.method, c.target, c.body, nil)
		if code != c.status || e.Code != c.code || !strings.Contains(e.Error, c.msg) {
			t.Errorf("%s: %d %+v, want %d %s with %q", c.name, code, e, c.status, c.code, c.msg)
		}
	}
	var l1, l2 api.Lease
	do(t, h, "POST", "/v1/pools/prod/leases", `{"name":"web-01"}`, &l1)
	do(t, h, "POST", "/v1/pools/prod/leases", `{"name":"web-01"}`, &l2)
	if !l1.IP.IsValid() || l1.IP != l2.IP || l1.State != api.LeaseActive || l1.Pool != "prod" || l1.Host != "n1" {
		t.Fatalf("leases %+v %+v: the name's lease is sticky", l1, l2)
	}
	var owner api.Lease
	if code, e := do(t, h, "GET", "/v1/ips/"+l1.IP.String(), "", &owner); code != 200 || owner.Name != "web-01" {
		t.Fatalf("owner: %d %+v %+v", code, e, owner)
	}
	var ls []api.Lease
	if do(t, h, "GET", "/v1/pools/prod/leases", "", &ls); len(ls) != 1 || ls[0].IP != l1.IP {
		t.Fatalf("leases %+v", ls)
	}
	var ps []api.Pool
	if do(t, h, "GET", "/v1/pools", "", &ps); len(ps) != 1 || ps[0].Name != "prod" || ps[0].Capacity != p.Capacity {
		t.Fatalf("pools %+v", ps)
	}

	// gc: web-01 is no container and not named alive: an orphan...
	var gc api.GCResult
	do(t, h, "POST", "/v1/pools/prod/gc", `{"dry_run":true}`, &gc)
	if len(gc.Orphans) != 1 || gc.Orphans[0].Name != "web-01" || len(gc.Released) != 0 || !gc.DryRun {
		t.Fatalf("gc, no container: %+v", gc)
	}
	do(t, h, "POST", "/v1/pools/prod/gc", `{"dry_run":true,"alive":["web-01"]}`, &gc)
	if len(gc.Orphans) != 0 {
		t.Fatalf("gc, named alive: %+v", gc)
	}
	// ...until a container record holds the name (on any node).
	if err := d.inv.Create(context.Background(), inventory.Record{Name: "web-01", Hostname: "web-01", Pool: "prod", Node: "other", Status: inventory.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	do(t, h, "POST", "/v1/pools/prod/gc", `{"dry_run":false}`, &gc)
	if len(gc.Orphans) != 0 || len(gc.Released) != 0 {
		t.Fatalf("gc, a container holds it: %+v", gc)
	}
	// A pool a container uses is never removed, even with force.
	if code, e := do(t, h, "DELETE", "/v1/pools/prod?force=1", "", nil); code != 409 || e.Code != api.CodeConflict {
		t.Fatalf("delete a used pool: %d %+v", code, e)
	}
	var cs []api.Container
	if do(t, h, "GET", "/v1/containers", "", &cs); len(cs) != 1 || cs[0].Name != "web-01" || cs[0].Node != "other" || cs[0].Status != "running" {
		t.Fatalf("containers %+v", cs)
	}
	d.inv.Delete(context.Background(), "web-01")
	var removed api.PoolRemoved
	if code, e := do(t, h, "DELETE", "/v1/pools/prod?force=1", "", &removed); code != 200 || removed.Pool.Name != "prod" || len(removed.Dropped) != 1 || removed.BridgeRemoved {
		t.Fatalf("delete: %d %+v %+v", code, e, removed)
	}
	if code, _ := do(t, h, "GET", "/v1/pools/prod", "", nil); code != 404 {
		t.Fatalf("pool still there: %d", code)
	}
}

// An empty list answers [] (clients range over it), never null.
func TestRouteEmptyLists(t *testing.T) {
	_, h := routeDaemon(t)
	for _, target := range []string{"/v1/containers", "/v1/pools"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, withPeer(httptest.NewRequest("GET", target, nil), rootPeer))
		if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "[]" {
			t.Errorf("%s: %d %q", target, rec.Code, rec.Body)
		}
	}
}

// downStore is a store that cannot be read.
type downStore struct{ store.Store }

func (downStore) List(context.Context, string) ([]store.KV, error) {
	return nil, store.Unavailablef("consul: connection refused")
}

func (downStore) Get(context.Context, string) (store.KV, error) {
	return store.KV{}, store.Unavailablef("consul: connection refused")
}

// An unreadable inventory is 503 "unavailable"; gc fails closed.
func TestRouteStoreUnavailable(t *testing.T) {
	d, h := routeDaemon(t)
	do(t, h, "POST", "/v1/pools", `{"name":"prod","cidr":"198.18.0.0/24","gateway":"198.18.0.1","bridge":"br-prod"}`, nil)
	do(t, h, "POST", "/v1/pools/prod/leases", `{"name":"legacy-vm"}`, nil)
	d.inv = &inventory.Inventory{Store: downStore{d.store}}
	if code, e := do(t, h, "GET", "/v1/containers", "", nil); code != 503 || e.Code != api.CodeUnavailable {
		t.Fatalf("list: %d %+v", code, e)
	}
	code, e := do(t, h, "POST", "/v1/pools/prod/gc", `{"dry_run":false}`, nil)
	if code != 503 || e.Code != api.CodeUnavailable || !strings.Contains(e.Error, "nothing was freed") {
		t.Fatalf("gc: %d %+v", code, e)
	}
	var ls []api.Lease
	if do(t, h, "GET", "/v1/pools/prod/leases", "", &ls); len(ls) != 1 || ls[0].State != api.LeaseActive {
		t.Fatalf("gc freed a lease with the inventory unreadable: %+v", ls)
	}
}

// Routes that drive the engine refuse a bad request before they reach it
// (this daemon has none: reaching it would be a 500).
func TestRouteRefusalsBeforeTheEngine(t *testing.T) {
	_, h := routeDaemon(t)
	for _, c := range []struct {
		name, method, target, body, msg string
	}{
		{"create, unknown field", "POST", "/v1/containers", `{"name":"a","imgae":"x"}`, `unknown field "imgae"`},
		{"create, two objects", "POST", "/v1/containers", `{"name":"a"}{"name":"b"}`, "data after"},
		{"stop, no body", "POST", "/v1/containers/a/stop", "", "request body is empty"},
		{"start, a field", "POST", "/v1/containers/a/start", `{"force":true}`, `unknown field "force"`},
		{"restart, not an object", "POST", "/v1/containers/a/restart", `[]`, "bad request body"},
		{"rename, unknown field", "POST", "/v1/containers/a/rename", `{"new_name":"b"}`, `unknown field "new_name"`},
		{"rm, bad release_ip", "DELETE", "/v1/containers/a?release_ip=yes", "", "release_ip=yes"},
		{"exec, no command", "POST", "/v1/containers/a/exec", `{"args":[]}`, "exec needs a command"},
		{"exec, unknown field", "POST", "/v1/containers/a/exec", `{"argv":["sh"]}`, `unknown field "argv"`},
		{"logs, negative lines", "POST", "/v1/containers/a/logs?lines=-1", "", `lines="-1"`},
		{"logs, lines not a number", "POST", "/v1/containers/a/logs?lines=ten", "", `lines="ten"`},
		{"logs, bad follow", "POST", "/v1/containers/a/logs?follow=always", "", "follow=always"},
		{"image import, relative path", "POST", "/v1/images/import", `{"path":"img.tar","name":"x"}`, "is relative"},
		{"image import, unknown field", "POST", "/v1/images/import", `{"file":"/img.tar"}`, `unknown field "file"`},
		{"image build, unknown field", "POST", "/v1/images/build", `{"recipe":"x","cache":false}`, `unknown field "cache"`},
		{"image build, relative Dockerfile", "POST", "/v1/images/build", `{"dockerfile":"Dockerfile","name":"app:v1"}`, "must be absolute paths"},
		{"image build, bad image name", "POST", "/v1/images/build", `{"dockerfile":"/srv/app/Dockerfile","name":"App V1"}`, `bad image name "App V1"`},
		{"image build, recipe and Dockerfile", "POST", "/v1/images/build", `{"recipe":"debian12-fat","dockerfile":"/srv/app/Dockerfile","name":"a"}`, "not both"},
		{"allocate, unknown field", "POST", "/v1/pools/p/leases", `{"owner":"a"}`, `unknown field "owner"`},
	} {
		code, e := do(t, h, c.method, c.target, c.body, nil)
		if code != 400 || e.Code != api.CodeInvalid || !strings.Contains(e.Error, c.msg) {
			t.Errorf("%s: %d %+v, want 400 invalid with %q", c.name, code, e, c.msg)
		}
	}
}

// GET /v1/containers filters by app, owner, env, status and labels.
func TestRouteContainerFilters(t *testing.T) {
	d, h := routeDaemon(t)
	ctx := context.Background()
	for _, r := range []inventory.Record{
		{Name: "a", App: "shop", Env: "prod", Status: inventory.StatusRunning, Labels: map[string]string{"team": "web"}},
		{Name: "b", App: "shop", Env: "dev", Status: inventory.StatusStopped},
		{Name: "c", App: "blog", Env: "prod", Status: inventory.StatusRunning, Labels: map[string]string{"team": "web", "tier": "1"}},
	} {
		if err := d.inv.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for q, want := range map[string]string{
		"":                                "a,b,c",
		"app=shop":                        "a,b",
		"env=prod&app=shop":               "a",
		"status=running":                  "a,c",
		"label=team%3Dweb":                "a,c",
		"label=team%3Dweb&label=tier%3D1": "c",
		"label=tier%3D":                   "",
		"owner=nobody":                    "",
	} {
		var cs []api.Container
		if code, e := do(t, h, "GET", "/v1/containers?"+q, "", &cs); code != 200 {
			t.Fatalf("%q: %d %+v", q, code, e)
		}
		var names []string
		for _, c := range cs {
			names = append(names, c.Name)
		}
		if strings.Join(names, ",") != want {
			t.Errorf("%q: %v, want %q", q, names, want)
		}
	}
	for q, msg := range map[string]string{
		"status=up":    `status "up" is not a status`,
		"label=team":   `label filter "team"`,
		"label=%3Dweb": `label filter "=web"`,
	} {
		if code, e := do(t, h, "GET", "/v1/containers?"+q, "", nil); code != 400 || e.Code != api.CodeInvalid || !strings.Contains(e.Error, msg) {
			t.Errorf("%q: %d %+v", q, code, e)
		}
	}
}

// GET /v1/events on the inventory's log: bad queries refused, the log's
// events converted with their cause.
func TestRouteEvents(t *testing.T) {
	d, h := routeDaemon(t)
	for _, q := range []string{"after=x", "after=-1", "since=yesterday", "wait=2m", "wait=-1s", "wait=soon", "limit=0", "limit=10001", "limit=x"} {
		if code, e := do(t, h, "GET", "/v1/events?"+q, "", nil); code != 400 || e.Code != api.CodeInvalid {
			t.Errorf("%q: %d %+v", q, code, e)
		}
	}
	var evs api.Events
	if code, e := do(t, h, "GET", "/v1/events", "", &evs); code != 200 || len(evs.Events) != 0 || evs.Events == nil || evs.Last != 0 {
		t.Fatalf("empty log: %d %+v %+v", code, e, evs)
	}
	ctx := context.Background()
	uid := uint32(1000)
	api1 := inventory.WithCause(ctx, inventory.Cause{Kind: inventory.CauseAPI, UID: &uid})
	for _, name := range []string{"web-01", "web-02"} {
		if err := d.inv.Create(ctx, inventory.Record{Name: name, Status: inventory.StatusCreating}); err != nil {
			t.Fatal(err)
		}
		r, _ := d.inv.Get(ctx, name)
		r.Status = inventory.StatusRunning
		if err := d.inv.Put(api1, r); err != nil {
			t.Fatal(err)
		}
	}
	do(t, h, "GET", "/v1/events", "", &evs)
	if len(evs.Events) != 2 || evs.Last != evs.Events[1].Seq || evs.Events[0].Kind != "created" || evs.Events[0].Cause != "api" ||
		evs.Events[0].CauseUID == nil || *evs.Events[0].CauseUID != 1000 || evs.Events[0].Container.Name != "web-01" || evs.Events[0].Container.Status != "running" {
		t.Fatalf("events %+v", evs)
	}
	var one api.Events
	do(t, h, "GET", "/v1/events?name=web-02", "", &one)
	if len(one.Events) != 1 || one.Events[0].Name != "web-02" || one.Last != evs.Last {
		t.Fatalf("name=web-02: %+v", one)
	}
	do(t, h, "GET", "/v1/events?limit=1", "", &one)
	if len(one.Events) != 1 || one.Events[0].Name != "web-01" || one.Last != one.Events[0].Seq {
		t.Fatalf("limit=1: %+v", one)
	}
	do(t, h, "GET", fmt.Sprintf("/v1/events?after=%d", evs.Events[0].Seq), "", &one)
	if len(one.Events) != 1 || one.Events[0].Name != "web-02" {
		t.Fatalf("after the first: %+v", one)
	}
	do(t, h, "GET", "/v1/events?since=2999-01-01T00:00:00Z", "", &one)
	if len(one.Events) != 0 || one.Last != evs.Last {
		t.Fatalf("since the future: %+v", one)
	}
	// PATCH (update) refuses a bad body before it reaches the engine.
	if code, e := do(t, h, "PATCH", "/v1/containers/web-01", `{"memory":"2G"}`, nil); code != 400 || !strings.Contains(e.Error, `unknown field "memory"`) {
		t.Fatalf("update with an unknown field: %d %+v", code, e)
	}
}
