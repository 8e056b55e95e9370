package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/api"
)

// fatbox stats asks GET /v1/containers/NAME/stats; -o json prints the
// API's answer as is, the table rounds sizes for people.
func TestStatsCommand(t *testing.T) {
	f := newFakeDaemon(t)
	out, _, err := run(f.sock, "stats", "web-01", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if r := f.last(t); r.Method != "GET" || r.Path != "/v1/containers/web-01/stats" {
		t.Fatalf("asked %+v", r)
	}
	var s api.Stats
	if err := json.Unmarshal([]byte(out), &s); err != nil || s.Counters.CPUNanos != 2_500_000_000 || s.Counters.NetBytesOut != 100<<20 || s.Gauges.Pids != 12 {
		t.Fatalf("-o json: %+v %v: %s", s, err, out)
	}
	out, _, err = run(f.sock, "stats", "web-01")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"state:", "running", "cpu:", "2.50 s", "net out:", "100MiB (70000 packets, 0 dropped)", "memory:", "64MiB", "processes:", "12"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := run(f.sock, "stats"); err == nil {
		t.Error("stats without a name ran")
	}
}

// A container never read and not running prints dashes, not year 1.
func TestPrintStatsNeverRead(t *testing.T) {
	var b bytes.Buffer
	if err := printStats(&b, api.Stats{Name: "web-01"}); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); strings.Contains(out, "0001") || !strings.Contains(out, "not running") || !strings.Contains(out, "read at:") {
		t.Errorf("never read:\n%s", out)
	}
}
