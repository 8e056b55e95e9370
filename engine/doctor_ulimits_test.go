package engine

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/ipam"
)

// After `fatbox update --ulimit` on a running container, doctor expects
// the limits it was started with (its bundle's spec), not the pending
// ones, and says which are pending and how to apply them.
func TestDoctorPendingUlimits(t *testing.T) {
	e := &Engine{StateDir: t.TempDir()}
	started := map[string]inventory.Ulimit{"nofile": {Soft: 1024, Hard: 4096}, "core": {Soft: 0, Hard: math.MaxUint64}}
	pending := map[string]inventory.Ulimit{"nofile": {Soft: 65536, Hard: 65536}, "core": {Soft: 0, Hard: math.MaxUint64}}
	rec := inventory.Record{Name: "web-01", Ulimits: pending, PendingUlimits: true}

	// Nothing pending: the record's are in force, the report is left alone.
	if got, err := e.ulimitsInForce(inventory.Record{Name: "web-01", Ulimits: started}); err != nil || got["nofile"] != started["nofile"] {
		t.Errorf("not pending: %v %v", got, err)
	}
	in := []DoctorCheck{{Check: "ulimits", OK: true, Detail: "nofile 1024:4096", Where: DoctorContainer}}
	if got := notePendingUlimits(append([]DoctorCheck(nil), in...), inventory.Record{Name: "web-01", Ulimits: started}, started, nil); got[0] != in[0] {
		t.Errorf("not pending, the check changed: %+v", got[0])
	}

	// Pending, the spec unreadable: nothing expected, and the detail says why.
	inForce, err := e.ulimitsInForce(rec)
	if inForce != nil || err == nil || !strings.Contains(err.Error(), `"web-01"`) || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("no bundle: %v %v", inForce, err)
	}
	got := notePendingUlimits(append([]DoctorCheck(nil), in...), rec, inForce, err)
	if !got[0].OK || !strings.Contains(got[0].Detail, "nofile=65536") || !strings.Contains(got[0].Detail, "not known") {
		t.Errorf("no bundle: %+v", got[0])
	}

	// Pending, the spec read: the started limits are expected; only the
	// changed one is named pending, with the restart that applies it.
	spec := specs.Spec{Process: &specs.Process{Rlimits: []specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}, {Type: "RLIMIT_CORE", Soft: 0, Hard: math.MaxUint64}, {Type: "RLIMIT_RTPRIO", Soft: 1, Hard: 1}}}}
	b, _ := json.Marshal(spec)
	if err := os.MkdirAll(filepath.Join(e.dir("web-01"), "bundle"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.bundleConfig("web-01"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	inForce, err = e.ulimitsInForce(rec)
	if err != nil || len(inForce) != 2 || inForce["nofile"] != started["nofile"] || inForce["core"] != started["core"] {
		t.Fatalf("in force %v %v, want the started nofile and core", inForce, err)
	}
	forExpect := rec
	forExpect.Ulimits = inForce
	if x := expectOf(forExpect, ipam.Pool{}, nil, nil, nil, time.Time{}, 0); x.Ulimits["nofile"] != (doctorUlimit{Soft: 1024, Hard: 4096}) {
		t.Errorf("expected %v, want the started limits", x.Ulimits)
	}
	got = notePendingUlimits(append([]DoctorCheck(nil), in...), rec, inForce, nil)
	want := "nofile 1024:4096; pending until the next start: nofile=65536 (`fatbox restart web-01` applies them)"
	if len(got) != 1 || !got[0].OK || got[0].Detail != want || got[0].Where != DoctorContainer {
		t.Errorf("pending: %+v, want detail %q", got, want)
	}
	// A shim without a ulimits check: the note is a host line of its own.
	got = notePendingUlimits(nil, rec, inForce, nil)
	if len(got) != 1 || got[0].Check != "ulimits" || got[0].Where != DoctorHost || !strings.Contains(got[0].Detail, "fatbox restart web-01") {
		t.Errorf("no ulimits check: %+v", got)
	}
}
