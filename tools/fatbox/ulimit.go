package main

import (
	"fmt"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/limits"
)

// parseUlimits reads repeated --ulimit flags with engine/limits (the
// daemon checks them again, and against what its host allows); a name
// given twice is refused.
func parseUlimits(flags []string) (map[string]api.Ulimit, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := map[string]api.Ulimit{}
	for _, s := range flags {
		n, u, err := limits.ParseUlimit("--ulimit", s)
		if err != nil {
			return nil, err
		}
		if _, dup := out[n]; dup {
			return nil, fmt.Errorf("--ulimit %q: %s is given twice: give each limit once", s, n)
		}
		out[n] = api.Ulimit{Soft: u.Soft, Hard: u.Hard}
	}
	return out, nil
}

// ulimitsText writes a container's limits as --ulimit takes them:
// "nofile=65536 nproc=unlimited core=0:unlimited ...".
func ulimitsText(us map[string]api.Ulimit) string {
	m := make(map[string]limits.Ulimit, len(us))
	for n, u := range us {
		m[n] = limits.Ulimit{Soft: u.Soft, Hard: u.Hard}
	}
	return limits.FormatUlimits(m)
}
