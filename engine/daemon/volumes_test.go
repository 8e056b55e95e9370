package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/test/harness"
)

// Volumes through the API on an in-memory store with an engine whose state
// dir is the test's (a volume's disk is a sparse file and mkfs.ext4; no
// mount): the answers' shapes, and each refusal's status and code.
func TestRouteVolumes(t *testing.T) {
	_, err := os.Stat("/usr/sbin/mkfs.ext4")
	harness.Require(t, err == nil, "mkfs.ext4 (e2fsprogs)")
	d, h := routeDaemon(t)
	dir := t.TempDir()
	d.engine = &engine.Engine{Inventory: d.inv, IPAM: d.ipam, StateDir: filepath.Join(dir, "state"),
		Runtime: &runtime.Runtime{Root: filepath.Join(dir, "runc")}, Node: "n1"}
	var v api.Volume
	if code, e := do(t, h, "POST", "/v1/volumes", `{"name":"data1","size_bytes":67108864}`, &v); code != 200 {
		t.Fatalf("create: %d %+v", code, e)
	}
	if v.Name != "data1" || v.SizeMiB != 64 || v.Node != "n1" || v.ID == "" || v.AttachedTo != "" || v.Mounted {
		t.Fatalf("created %+v", v)
	}
	ctx := context.Background()
	if err := d.inv.Create(ctx, inventory.Record{Name: "web-01", Node: "n1", Status: inventory.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	web, _ := d.inv.Get(ctx, "web-01")
	if err := d.inv.ClaimVolumes(ctx, "n1", web.ID, "web-01", []inventory.VolumeMount{{Name: "data1", Path: "/var/lib/app"}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, method, target, body string
		status                     int
		code, msg                  string
	}{
		{"again", "POST", "/v1/volumes", `{"name":"data1","size_bytes":67108864}`, 409, api.CodeExists, "already exists"},
		{"bad name", "POST", "/v1/volumes", `{"name":"Data","size_bytes":67108864}`, 400, api.CodeInvalid, "volume name"},
		{"no size", "POST", "/v1/volumes", `{"name":"data2"}`, 400, api.CodeInvalid, "size_bytes"},
		{"small", "POST", "/v1/volumes", `{"name":"data2","size_bytes":1024}`, 400, api.CodeInvalid, "below the minimum"},
		{"unknown field", "POST", "/v1/volumes", `{"name":"data2","size":1}`, 400, api.CodeInvalid, `unknown field "size"`},
		{"no volume", "GET", "/v1/volumes/nope", "", 404, api.CodeNotFound, "fatbox volume create nope"},
		{"rm no volume", "DELETE", "/v1/volumes/nope", "", 404, api.CodeNotFound, "nope"},
		{"rm attached", "DELETE", "/v1/volumes/data1", "", 409, api.CodeConflict, "fatbox rm web-01"},
	} {
		code, e := do(t, h, c.method, c.target, c.body, nil)
		if code != c.status || e.Code != c.code || !strings.Contains(e.Error, c.msg) {
			t.Errorf("%s: %d %+v, want %d %s with %q", c.name, code, e, c.status, c.code, c.msg)
		}
	}
	var vs []api.Volume
	if do(t, h, "GET", "/v1/volumes", "", &vs); len(vs) != 1 || vs[0].AttachedName != "web-01" || vs[0].Path != "/var/lib/app" {
		t.Fatalf("list: %+v", vs)
	}
	if err := d.inv.Delete(ctx, "web-01"); err != nil {
		t.Fatal(err)
	}
	// Its record gone, the claim is stale: free, and rm works.
	if do(t, h, "GET", "/v1/volumes/data1", "", &v); v.AttachedTo != "" {
		t.Fatalf("after the container's record went: %+v", v)
	}
	if code, e := do(t, h, "DELETE", "/v1/volumes/data1", "", nil); code != 200 {
		t.Fatalf("rm: %d %+v", code, e)
	}
	if do(t, h, "GET", "/v1/volumes", "", &vs); vs == nil || len(vs) != 0 {
		t.Fatalf("list after rm: %#v", vs)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "volumes", "data1")); !os.IsNotExist(err) {
		t.Fatalf("the volume's dir is left: %v", err)
	}
}
