package daemon

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/fatbox/fatbox/inventory"
)

// Only running containers of this node with an exporter port are targets,
// by name, each labelled like a VM.
func TestFileSDTargets(t *testing.T) {
	recs := []inventory.Record{
		{ID: "i2", Name: "web-02", IP: "10.0.0.3", Node: "n1", Status: inventory.StatusRunning, ExporterPort: 9100, App: "shop"},
		{ID: "i1", Name: "web-01", IP: "10.0.0.2", Node: "n1", Status: inventory.StatusRunning, ExporterPort: 9113, App: "shop", Owner: "ops", Env: "prod"},
		{ID: "i3", Name: "web-03", IP: "10.0.0.4", Node: "n1", Status: inventory.StatusStopped, ExporterPort: 9100},
		{ID: "i4", Name: "web-04", IP: "10.0.0.5", Node: "n2", Status: inventory.StatusRunning, ExporterPort: 9100},
		{ID: "i5", Name: "web-05", IP: "10.0.0.6", Node: "n1", Status: inventory.StatusRunning},
	}
	got := fileSDTargets(recs, "n1")
	want := []targetGroup{
		{Targets: []string{"10.0.0.2:9113"}, Labels: map[string]string{"instance": "web-01", "ip": "10.0.0.2", "app": "shop", "owner": "ops", "env": "prod", "node": "n1", "fatbox_id": "i1"}},
		{Targets: []string{"10.0.0.3:9100"}, Labels: map[string]string{"instance": "web-02", "ip": "10.0.0.3", "app": "shop", "owner": "", "env": "", "node": "n1", "fatbox_id": "i2"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	b, _ := json.Marshal(fileSDTargets(nil, "n1"))
	if string(b) != "[]" {
		t.Errorf("no targets: %s, want [] (Prometheus refuses null)", b)
	}
}

// The file is replaced whole, in a directory made when missing, and no
// temporary file is left.
func TestWriteFileAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "prom", "sd")
	p := filepath.Join(dir, "fatbox.json")
	for _, body := range []string{"[1]\n", "[]\n"} {
		if err := writeFileAtomic(p, []byte(body)); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != body {
			t.Errorf("file %q %v, want %q", b, err, body)
		}
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v %v, want 0644 (Prometheus runs as its own user)", fi.Mode(), err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("left in %s: %v", dir, es)
	}
}
