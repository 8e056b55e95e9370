package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/inventory"
)

// TestUlimitsOfRecords: a create's set is the defaults as this host allows
// them with the asked ones over them; an update merges by name; a start
// turns a record's set into rlimits, fills an old record's and refuses
// what the host does not allow, with the fixes.
func TestUlimitsOfRecords(t *testing.T) {
	host, err := limits.ReadHostUlimits()
	if err != nil {
		t.Fatal(err)
	}
	nofile := min(host.Max["nofile"], 65536)

	got, err := createUlimits(map[string]inventory.Ulimit{"core": {Soft: 0, Hard: 0}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(limits.UlimitNames()) || got["core"] != (inventory.Ulimit{}) || got["nofile"] != (inventory.Ulimit{Soft: nofile, Hard: nofile}) {
		t.Errorf("createUlimits(core=0) = %+v, want every default, nofile %d, core 0", got, nofile)
	}
	if _, err := createUlimits(map[string]inventory.Ulimit{"nofile": {Soft: 10, Hard: 10}}); !errors.Is(err, limits.ErrInvalid) {
		t.Errorf("createUlimits(nofile=10): %v, want a refusal (below 64)", err)
	}
	if host.Max["nofile"] < limits.MaxNofile {
		over := host.Max["nofile"] + 1
		if _, err := createUlimits(map[string]inventory.Ulimit{"nofile": {Soft: over, Hard: over}}); err == nil || !strings.Contains(err.Error(), "above this host's") {
			t.Errorf("createUlimits above the host's nofile: %v", err)
		}
	}

	e := &Engine{StateDir: t.TempDir()}
	rec := inventory.Record{Name: "u", CPUs: 1, MemoryMiB: 256, DiskMiB: 1024} // from before ulimits
	next, err := e.checkUpdate(rec, UpdateRequest{Ulimits: map[string]inventory.Ulimit{"nofile": {Soft: 1024, Hard: 4096}}})
	if err != nil {
		t.Fatal(err)
	}
	if next.Ulimits["nofile"] != (inventory.Ulimit{Soft: 1024, Hard: 4096}) || len(next.Ulimits) != len(limits.UlimitNames()) {
		t.Errorf("update of an old record: %+v, want the defaults with nofile 1024:4096", next.Ulimits)
	}
	next2, err := e.checkUpdate(next, UpdateRequest{Ulimits: map[string]inventory.Ulimit{"core": {Soft: 0, Hard: 0}}})
	if err != nil || next2.Ulimits["nofile"] != next.Ulimits["nofile"] || next2.Ulimits["core"] != (inventory.Ulimit{}) {
		t.Errorf("a second update: %+v %v, want nofile kept and core 0", next2.Ulimits, err)
	}
	if next.Ulimits["core"] == next2.Ulimits["core"] {
		t.Error("the second update changed the first record's map (not cloned)")
	}

	old := inventory.Record{Name: "u", PendingUlimits: true}
	rl, err := specRlimits(&old)
	if err != nil {
		t.Fatal(err)
	}
	if len(rl) != len(limits.UlimitNames()) || rl[0].Type != "RLIMIT_NOFILE" || rl[0].Hard != nofile || old.Ulimits == nil || old.PendingUlimits {
		t.Errorf("specRlimits of an old record: %+v, record %+v", rl, old)
	}
	if host.Max["nofile"] < limits.MaxNofile {
		over := host.Max["nofile"] + 1
		r := inventory.Record{Name: "u", Ulimits: map[string]inventory.Ulimit{"nofile": {Soft: over, Hard: over}}}
		_, err := specRlimits(&r)
		var le *limits.Error
		if !errors.Is(err, ErrConflict) || !errors.Is(err, limits.ErrInvalid) || !errors.As(err, &le) || le.Field != "ulimit" || !strings.Contains(err.Error(), "fatbox update u --ulimit nofile=") || !strings.Contains(err.Error(), "restart the daemon") {
			t.Errorf("specRlimits above the host: %v", err)
		}
	}
}
