package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/inventory"
)

// Doctor's ulimits: the record's Ulimits are the limits of the next start;
// after `fatbox update --ulimit` on a running container (PendingUlimits)
// they are not those in force, which are the rlimits the running
// container was started with, in its bundle's config.json. Doctor expects
// those, and says in the check's detail which are pending and that
// `fatbox restart NAME` applies them.

// ulimitsInForce are the limits a running container runs with: the
// record's, or, while an update's are pending, those of the spec it was
// started with (nil when that cannot be read: nothing is expected).
func (e *Engine) ulimitsInForce(rec inventory.Record) (map[string]inventory.Ulimit, error) {
	if !rec.PendingUlimits {
		return rec.Ulimits, nil
	}
	p := e.bundleConfig(rec.InstanceKey())
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read the limits %q was started with from %q: %w", rec.Name, p, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("read the limits %q was started with from %q: %w", rec.Name, p, err)
	}
	if spec.Process == nil {
		return nil, fmt.Errorf("read the limits %q was started with from %q: no process in the spec", rec.Name, p)
	}
	return ulimitsOfSpec(spec.Process.Rlimits), nil
}

// bundleConfig is the spec a container was last started with.
func (e *Engine) bundleConfig(name string) string {
	return filepath.Join(e.dir(name), "bundle", "config.json")
}

// ulimitsOfSpec are a spec's rlimits by ulimit name (the ones fatbox
// knows; others are left out).
func ulimitsOfSpec(rl []specs.POSIXRlimit) map[string]inventory.Ulimit {
	byType := map[string]string{}
	for _, n := range limits.UlimitNames() {
		if t, ok := limits.RlimitType(n); ok {
			byType[t] = n
		}
	}
	out := map[string]inventory.Ulimit{}
	for _, r := range rl {
		if n, ok := byType[r.Type]; ok {
			out[n] = inventory.Ulimit{Soft: r.Soft, Hard: r.Hard}
		}
	}
	return out
}

// notePendingUlimits adds to the in-container ulimits check (or, without
// one, as a passed host check) which limits wait for the next start and
// the command that applies them. inForce is nil when they could not be
// read (why says so).
func notePendingUlimits(checks []DoctorCheck, rec inventory.Record, inForce map[string]inventory.Ulimit, why error) []DoctorCheck {
	if !rec.PendingUlimits {
		return checks
	}
	pending := map[string]limits.Ulimit{}
	for n, u := range rec.Ulimits {
		if f, ok := inForce[n]; !ok || f != u {
			pending[n] = limits.Ulimit{Soft: u.Soft, Hard: u.Hard}
		}
	}
	note := fmt.Sprintf("an update's ulimits are pending until the next start (`fatbox restart %s` applies them)", rec.Name)
	if len(pending) > 0 {
		note = fmt.Sprintf("pending until the next start: %s (`fatbox restart %s` applies them)", limits.FormatUlimits(pending), rec.Name)
	}
	if why != nil {
		note += fmt.Sprintf("; those in force are not known: %v", why)
	}
	for i, c := range checks {
		if c.Check == "ulimits" {
			checks[i].Detail = c.Detail + "; " + note
			return checks
		}
	}
	return append(checks, DoctorCheck{Check: "ulimits", OK: true, Detail: note, Where: DoctorHost})
}
