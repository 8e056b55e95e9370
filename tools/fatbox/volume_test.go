package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/inventory"
)

// --volume NAME:/path, repeatable, checked by inventory's rules before the
// daemon is asked.
func TestCreateRequestVolumes(t *testing.T) {
	base := createFlags{image: "i", pool: "p", cpus: 1, memory: "1G", disk: "10G", autostart: true, output: "table"}
	f := base
	f.volumes = []string{"data1:/var/lib/app", "logs:/var/log/app"}
	req, err := createRequest("web-01", f)
	if err != nil || len(req.Volumes) != 2 || req.Volumes[0] != (api.VolumeMount{Name: "data1", Path: "/var/lib/app"}) || req.Volumes[1].Name != "logs" {
		t.Fatalf("volumes: %+v %v", req.Volumes, err)
	}
	for _, c := range []struct {
		vols []string
		why  string
	}{
		{[]string{"data1"}, "NAME:/path"},
		{[]string{"data1:var/lib"}, "not absolute"},
		{[]string{"data1:/proc/x"}, "/proc"},
		{[]string{"data1:/"}, "root"},
		{[]string{"Data:/x"}, "volume name"},
		{[]string{"a:/x", "a:/y"}, "asked twice"},
		{[]string{"a:/x", "b:/x"}, "both asked"},
	} {
		f := base
		f.volumes = c.vols
		_, err := createRequest("web-01", f)
		if err == nil || !strings.Contains(err.Error(), "--volume") || !strings.Contains(err.Error(), c.why) || !errors.Is(err, inventory.ErrInvalid) {
			t.Errorf("%v: %v, want --volume ... %q", c.vols, err, c.why)
		}
	}
}

func TestVolumeCreateRequest(t *testing.T) {
	req, err := volumeCreateRequest("data1", "10G")
	if err != nil || req.SizeBytes != 10<<30 || req.Name != "data1" {
		t.Fatalf("%+v %v", req, err)
	}
	for _, c := range []struct{ name, size, why string }{
		{"data1", "", "needs --size"},
		{"data1", "1M", "below the minimum"},
		{"data1", "lots", "--size"},
		{"Data1", "10G", "volume name"},
	} {
		if _, err := volumeCreateRequest(c.name, c.size); err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%q %q: %v, want %q", c.name, c.size, err, c.why)
		}
	}
	if _, err := volumeCreateRequest("data1", "1M"); !errors.Is(err, limits.ErrInvalid) {
		t.Errorf("small: %v is not limits.ErrInvalid", err)
	}
}

// The requests the volume commands send, and `create --volume`'s body.
func TestVolumeCommands(t *testing.T) {
	f := newFakeDaemon(t)
	out, _, err := run(f.sock, "volume", "create", "data1", "--size", "10G")
	if err != nil || !strings.Contains(out, "data1") || !strings.Contains(out, "web-01:/var/lib/app") {
		t.Fatalf("create: %q %v", out, err)
	}
	if r := f.last(t); r.Method != "POST" || r.Path != "/v1/volumes" || r.Body != `{"name":"data1","size_bytes":10737418240}` {
		t.Fatalf("create sent %+v", r)
	}
	if _, _, err := run(f.sock, "volume", "rm", "data1"); err != nil || f.last(t).Method != "DELETE" || f.last(t).Path != "/v1/volumes/data1" {
		t.Fatalf("rm: %v %+v", err, f.last(t))
	}
	out, _, err = run(f.sock, "volume", "inspect", "data1", "-o", "table")
	if err != nil || !strings.Contains(out, "attached to:  web-01:/var/lib/app") || !strings.Contains(out, "10 GiB") {
		t.Fatalf("inspect table: %q %v", out, err)
	}
	if _, _, err := run(f.sock, "create", "web-01", "--image", "i", "--pool", "prod", "--volume", "data1:/var/lib/app"); err != nil {
		t.Fatal(err)
	}
	if r := f.last(t); !strings.Contains(r.Body, `"volumes":[{"name":"data1","path":"/var/lib/app"}]`) {
		t.Fatalf("create --volume sent %s", r.Body)
	}
}
