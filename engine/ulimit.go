package engine

import (
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/inventory"
)

// Ulimits: a container's resource limits are set by runc on its init at
// each start (supervisord, and so sshd, cron and every program, inherit
// them; pam_limits applies limits.conf within them at each login). runc
// cannot change a running container's init, so an update takes effect at
// the next start: fatbox does not prlimit(2) running processes, which
// would change some processes and not others (sshd's sessions already
// open, programs' children) and could not raise a hard limit without
// CAP_SYS_RESOURCE anyway.

// checkUlimits checks asked limits by the one validation layer and
// against what this host lets runc give; field names them for messages.
func checkUlimits(field string, asked map[string]inventory.Ulimit, host limits.HostUlimits) error {
	for _, n := range sortedNames(asked) {
		u := limits.Ulimit{Soft: asked[n].Soft, Hard: asked[n].Hard}
		if err := limits.CheckUlimit(field, n, u); err != nil {
			return err
		}
		if err := host.Check(field, n, u); err != nil {
			return err
		}
	}
	return nil
}

// createUlimits is a create's full set: the defaults lowered to what this
// host allows, with the asked limits (checked) over them.
func createUlimits(asked map[string]inventory.Ulimit) (map[string]inventory.Ulimit, error) {
	host, err := limits.ReadHostUlimits()
	if err != nil {
		return nil, err
	}
	if err := checkUlimits("ulimits", asked, host); err != nil {
		return nil, err
	}
	out := map[string]inventory.Ulimit{}
	for n, u := range host.Cap(limits.DefaultUlimits()) {
		out[n] = inventory.Ulimit{Soft: u.Soft, Hard: u.Hard}
	}
	for n, u := range asked {
		out[n] = u
	}
	return out, nil
}

// specRlimits is the OCI spec's rlimits of rec's ulimits, at a start. A
// record with none (made before ulimits were recorded) gets the defaults
// as this host allows them, recorded. A limit above what the host allows
// now (the daemon was restarted with lower limits) fails the start with
// both fixes.
func specRlimits(rec *inventory.Record) ([]specs.POSIXRlimit, error) {
	host, err := limits.ReadHostUlimits()
	if err != nil {
		return nil, err
	}
	us := rec.Ulimits
	if us == nil {
		us = map[string]inventory.Ulimit{}
		for n, u := range host.Cap(limits.DefaultUlimits()) {
			us[n] = inventory.Ulimit{Soft: u.Soft, Hard: u.Hard}
		}
	}
	var out []specs.POSIXRlimit
	for _, n := range sortedNames(us) {
		u := us[n]
		t, ok := limits.RlimitType(n)
		if !ok {
			return nil, fmt.Errorf("container %q records ulimit %q, which this fatbox does not know (a record written by a newer fatbox?): run that version, or upgrade this one", rec.Name, n)
		}
		if err := host.Check("ulimit", n, limits.Ulimit{Soft: u.Soft, Hard: u.Hard}); err != nil {
			return nil, conflictf("start %q: %w; or lower the container's: `fatbox update %s --ulimit %s=...`", rec.Name, err, rec.Name, n)
		}
		out = append(out, specs.POSIXRlimit{Type: t, Soft: u.Soft, Hard: u.Hard})
	}
	rec.Ulimits, rec.PendingUlimits = us, false
	return out, nil
}

// sortedNames are the keys of us in limits.UlimitNames order, then any
// others sorted.
func sortedNames(us map[string]inventory.Ulimit) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range limits.UlimitNames() {
		if _, ok := us[n]; ok {
			out = append(out, n)
			seen[n] = true
		}
	}
	var rest []string
	for n := range us {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}
