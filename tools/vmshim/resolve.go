package main

import (
	"errors"
	"path/filepath"
	"strings"

	"github.com/fatbox/fatbox/baseimages/units"
)

var unitSuffixes = []string{".service", ".timer", ".target", ".socket", ".path", ".mount", ".slice", ".scope", ".device", ".swap", ".automount"}

// unitName adds ".service" to a bare name, as systemctl does.
func unitName(n string) string {
	n = filepath.Base(strings.TrimSpace(n))
	for _, suf := range unitSuffixes {
		if strings.HasSuffix(n, suf) {
			return n
		}
	}
	return n + ".service"
}

func unitType(name string) string {
	if i := strings.LastIndex(name, "."); i >= 0 {
		return name[i+1:]
	}
	return "service"
}

func bareName(name string) string {
	for _, suf := range unitSuffixes {
		if strings.HasSuffix(name, suf) {
			return strings.TrimSuffix(name, suf)
		}
	}
	return name
}

// programOf names the supervisord program of a unit: x.service → unit-x
// (characters a supervisord section name cannot hold become "_").
func programOf(unit string) string {
	return programPrefix + strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '@', r == '-':
			return r
		}
		return '_'
	}, bareName(unit))
}

// target is what a unit name on the command line turned out to be.
type target struct {
	asked   string
	name    string      // full unit name ("nginx.service")
	unit    *units.Unit // nil when the name is only a supervisord program or not loadable
	loadErr error       // units.ErrNotFound, units.ErrMasked, *units.UnsupportedError, ...
	program string      // a supervisord program driven directly (sshd, cron, ...); "" for unit-x
}

func (t target) driven() bool { return t.program != "" }
func (t target) notFound() bool {
	return t.program == "" && t.unit == nil && errors.Is(t.loadErr, units.ErrNotFound)
}
func (t target) masked() bool { return errors.Is(t.loadErr, units.ErrMasked) }
func (t target) unsupported() *units.UnsupportedError {
	var ue *units.UnsupportedError
	if errors.As(t.loadErr, &ue) {
		return ue
	}
	return nil
}

// loadState is systemd's LoadState.
func (t target) loadState() string {
	switch {
	case t.masked():
		return "masked"
	case t.unit != nil || t.program != "":
		return "loaded"
	case t.notFound():
		return "not-found"
	}
	return "bad-setting"
}

// resolve loads a unit and decides whether a supervisord program stands for
// it: the unit's name or one of its aliases (minus ".service") or the name
// asked is a program that is not a unit-x program.
func (s *shim) resolve(asked string, progs []procInfo) target {
	t := target{asked: asked, name: unitName(asked)}
	u, err := s.loader.Load(t.name)
	if u != nil && u.Name != "" {
		t.name = u.Name
	}
	if err == nil {
		t.unit = u
	}
	t.loadErr = err
	if unitType(t.name) != "service" {
		return t
	}
	names := []string{bareName(t.name), bareName(unitName(asked))}
	if u != nil {
		for _, a := range u.Aliases {
			names = append(names, bareName(a))
		}
	}
	for _, n := range names {
		for _, p := range progs {
			if p.Name == n && !strings.HasPrefix(p.Name, programPrefix) {
				t.program = p.Name
				if t.unit == nil && !t.masked() {
					t.loadErr = nil
				}
				return t
			}
		}
	}
	if t.unit != nil && !t.unit.SysV {
		t.program = s.programRunning(t.unit, progs)
	}
	return t
}
