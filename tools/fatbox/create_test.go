package main

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/limits"
)

// The CLI refuses what the daemon would refuse, through the same checks,
// and names the flag.
func TestCreateRequestFlags(t *testing.T) {
	base := createFlags{image: "i", pool: "p", cpus: 1, memory: "1G", disk: "10G", autostart: true, output: "table"}
	req, err := createRequest("web-01", base)
	if err != nil || req.MemoryBytes != 1<<30 || req.DiskBytes != 10<<30 || req.CPUs != 1 || req.Autostart == nil || !*req.Autostart {
		t.Fatalf("defaults: %+v, %v", req, err)
	}
	f := base
	f.memory, f.disk, f.swap, f.netRate, f.readBps = "2GB", "256M", "512MiB", "100mbit", "50M"
	req, err = createRequest("web-01", f)
	if err != nil || req.MemoryBytes != 2<<30 || req.DiskBytes != 256<<20 || req.SwapBytes != 512<<20 || req.NetRateBits != 100e6 || req.DiskReadBps != 50<<20 {
		t.Fatalf("sizes: %+v, %v", req, err)
	}
	for _, c := range []struct {
		mod  func(*createFlags)
		flag string
	}{
		{func(f *createFlags) { f.memory = "2X" }, "--memory"},
		{func(f *createFlags) { f.memory = "1" }, "--memory"},
		{func(f *createFlags) { f.memory = "2G junk" }, "--memory"},
		{func(f *createFlags) { f.disk = "-1G" }, "--disk"},
		{func(f *createFlags) { f.swap = "lots" }, "--swap"},
		{func(f *createFlags) { f.netRate = "fast" }, "--net-rate"},
		{func(f *createFlags) { f.readBps = "5Q" }, "--disk-read-bps"},
		{func(f *createFlags) { f.cpus = 0 }, "--cpus"},
		{func(f *createFlags) { f.cpus = -1 }, "--cpus"},
		{func(f *createFlags) { f.cpus = math.NaN() }, "--cpus"},
		{func(f *createFlags) { f.cpus = math.Inf(1) }, "--cpus"},
		{func(f *createFlags) { f.keyFiles = []string{"/nonexistent/key.pub"} }, "--ssh-key"},
	} {
		f := base
		c.mod(&f)
		_, err := createRequest("web-01", f)
		if err == nil || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("%+v: error %v, want one naming %s", f, err, c.flag)
		}
		if err != nil && c.flag != "--ssh-key" && !errors.Is(err, limits.ErrInvalid) {
			t.Errorf("%s: error %v is not limits.ErrInvalid", c.flag, err)
		}
	}
}

// Owner, app, env and labels go into the request as given; a label needs
// KEY=VALUE with a valid key (inventory's rule, the daemon's too).
func TestCreateRequestLabels(t *testing.T) {
	f := createFlags{image: "i", pool: "p", cpus: 1, memory: "1G", disk: "10G", owner: "ops", app: "shop", env: "prod",
		labels: []string{"team=web", "tier=", "a=b=c"}}
	req, err := createRequest("web-01", f)
	if err != nil || req.Owner != "ops" || req.App != "shop" || req.Env != "prod" ||
		len(req.Labels) != 3 || req.Labels["team"] != "web" || req.Labels["tier"] != "" || req.Labels["a"] != "b=c" {
		t.Fatalf("got %+v, %v", req, err)
	}
	if req, _ := createRequest("web-01", createFlags{cpus: 1}); req.Labels != nil {
		t.Fatalf("no -l gave labels %v", req.Labels)
	}
	for _, bad := range []string{"team", "=web", "team-"} {
		f.labels = []string{bad}
		if _, err := createRequest("web-01", f); err == nil || !(strings.Contains(err.Error(), "KEY=VALUE") && strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), `label key ""`)) {
			t.Errorf("-l %q: %v", bad, err)
		}
	}
}
