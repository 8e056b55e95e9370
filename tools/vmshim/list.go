package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
)

// allTargets is every unit the loader knows plus the supervisord programs
// that no unit stands for.
func (s *shim) allTargets(progs []procInfo) []target {
	names, _ := s.loader.List()
	seen := map[string]bool{}
	var out []target
	for _, n := range names {
		t := s.resolve(n, progs)
		if seen[t.name] {
			continue
		}
		seen[t.name] = true
		if t.driven() {
			seen["program:"+t.program] = true
		}
		out = append(out, t)
	}
	for _, p := range progs {
		if strings.HasPrefix(p.Name, programPrefix) || seen["program:"+p.Name] {
			continue
		}
		t := s.resolve(p.Name, progs)
		if seen[t.name] {
			continue
		}
		seen[t.name] = true
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func matchAny(name string, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := filepath.Match(p, name); ok || p == name || unitName(p) == name {
			return true
		}
	}
	return false
}

func typeOK(name string, types []string) bool {
	if len(types) == 0 {
		return true
	}
	for _, t := range types {
		if unitType(name) == strings.TrimPrefix(t, ".") {
			return true
		}
	}
	return false
}

func (s *shim) listUnits(patterns []string, o sysOpts) int {
	progs, _ := s.programs()
	tw := tabwriter.NewWriter(s.out, 0, 0, 1, ' ', 0)
	if !o.noLegend {
		fmt.Fprintln(tw, "  UNIT\tLOAD\tACTIVE\tSUB\tDESCRIPTION")
	}
	n := 0
	for _, t := range s.allTargets(progs) {
		if !matchAny(t.name, patterns) || !typeOK(t.name, o.types) {
			continue
		}
		v := s.viewOf(t, progs)
		if len(o.states) > 0 {
			ok := false
			for _, st := range o.states {
				if st == v.ActiveState || st == v.SubState || st == t.loadState() {
					ok = true
				}
			}
			if !ok {
				continue
			}
		} else if !o.all && v.ActiveState == stInactive && len(patterns) == 0 {
			continue
		}
		desc := t.name
		switch {
		case t.unit != nil && t.unit.Description != "":
			desc = t.unit.Description
		case t.driven():
			desc = "supervisord program " + t.program
		}
		mark := " "
		if v.ActiveState == stFailed && !o.plain {
			mark = "●"
		}
		if o.plain || o.noLegend {
			mark = ""
		}
		lead := mark + " "
		if mark == "" {
			lead = ""
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\n", lead, t.name, t.loadState(), v.ActiveState, v.SubState, desc)
		n++
	}
	tw.Flush()
	if !o.noLegend {
		fmt.Fprintf(s.out, "\nLOAD   = Reflects whether the unit definition was properly loaded.\nACTIVE = The high-level unit activation state, i.e. generalization of SUB.\nSUB    = The low-level unit activation state, values depend on unit type.\n\n%d loaded units listed.", n)
		if !o.all {
			fmt.Fprint(s.out, " Pass --all to see loaded but inactive units, too.")
		}
		fmt.Fprintln(s.out, "\nTo show all installed unit files use 'systemctl list-unit-files'.")
	}
	return 0
}

func (s *shim) listUnitFiles(patterns []string, o sysOpts) int {
	names, err := s.loader.List()
	if err != nil {
		fmt.Fprintf(s.errw, "systemctl: %v\n", err)
		return 1
	}
	tw := tabwriter.NewWriter(s.out, 0, 0, 1, ' ', 0)
	if !o.noLegend {
		fmt.Fprintln(tw, "UNIT FILE\tSTATE\tPRESET") // systemd 252's header
	}
	n := 0
	for _, name := range names {
		if !matchAny(name, patterns) || !typeOK(name, o.types) {
			continue
		}
		st, err := s.loader.Enabled(name)
		if err != nil {
			continue
		}
		if len(o.states) > 0 && !matchAny(st, o.states) {
			continue
		}
		preset := "enabled"
		switch st {
		case "alias", "static", "generated", "transient":
			preset = "-" // systemd shows no preset for these
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, st, preset)
		n++
	}
	tw.Flush()
	if !o.noLegend {
		fmt.Fprintf(s.out, "\n%d unit files listed.\n", n)
	}
	if n == 0 && len(patterns) > 0 {
		return 1
	}
	return 0
}
