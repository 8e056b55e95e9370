package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fatbox/fatbox/baseimages/units"
)

// enabledState is is-enabled's answer for a target.
func (s *shim) enabledState(t target) (string, error) {
	if unitType(t.name) == "target" && t.unit == nil {
		return "static", nil
	}
	st, err := s.loader.Enabled(t.name)
	if err == nil {
		return st, nil
	}
	if t.driven() && t.unit == nil {
		return "enabled", nil // an image's supervisord program starts with the container
	}
	return "", err
}

func enabledOK(st string) bool {
	switch st {
	case "enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "transient":
		return true
	}
	return false
}

func (s *shim) isEnabled(names []string, o sysOpts) int {
	if len(names) == 0 {
		fmt.Fprintln(s.errw, "Too few arguments.")
		return 1
	}
	progs, _ := s.programs()
	code := 1
	for _, n := range names {
		// The asked name may be an Alias= link (sshd.service → ssh.service):
		// systemd answers "alias" for it, not the real unit's state.
		if st, err := s.loader.Enabled(unitName(n)); err == nil && st == "alias" {
			if !o.quiet {
				fmt.Fprintln(s.out, st)
			}
			code = 0
			continue
		}
		t := s.resolve(n, progs)
		st, err := s.enabledState(t)
		if err != nil {
			fmt.Fprintf(s.errw, "Failed to get unit file state for %s: No such file or directory\n", t.name)
			continue
		}
		if !o.quiet {
			fmt.Fprintln(s.out, st)
		}
		if enabledOK(st) {
			code = 0
		}
	}
	return code
}

// hostPath maps a path the units package returned (inside Root) to this
// process's view.
func (s *shim) hostPath(p string) string {
	if s.root != "/" && strings.HasPrefix(p, s.root) {
		return p
	}
	return s.path(p)
}

// applyChanges makes or removes the symlinks enable/disable computed,
// printing what systemctl prints.
func (s *shim) applyChanges(changes []units.Change, quiet bool) error {
	for _, c := range changes {
		p := s.hostPath(c.Path)
		switch c.Op {
		case "symlink":
			if cur, err := os.Readlink(p); err == nil && cur == c.Target {
				continue
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return fmt.Errorf("creating %s: %w", filepath.Dir(c.Path), err)
			}
			if fi, err := os.Lstat(p); err == nil {
				if fi.Mode()&os.ModeSymlink == 0 {
					return fmt.Errorf("%s exists and is not a symlink: remove it by hand", c.Path)
				}
				os.Remove(p)
			}
			if err := os.Symlink(c.Target, p); err != nil {
				return fmt.Errorf("creating symlink %s: %w", c.Path, err)
			}
			if !quiet {
				fmt.Fprintf(s.errw, "Created symlink %s → %s.\n", c.Path, c.Target)
			}
		case "unlink":
			if err := os.Remove(p); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue
				}
				return fmt.Errorf("removing %s: %w", c.Path, err)
			}
			if !quiet {
				fmt.Fprintf(s.errw, "Removed \"%s\".\n", c.Path)
			}
		default:
			return fmt.Errorf("unknown change %q for %s", c.Op, c.Path)
		}
	}
	return nil
}

// enableChanges computes enable/disable for a unit, plus the rcN.d links
// when an init script of the same name exists (as systemd-sysv-install does).
func (s *shim) enableChanges(t target, enable bool) ([]units.Change, error) {
	var out []units.Change
	if t.unit != nil && !t.unit.SysV {
		var ch []units.Change
		var err error
		if enable {
			ch, err = s.loader.EnableChanges(t.name)
		} else {
			ch, err = s.loader.DisableChanges(t.name)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ch...)
	}
	if unitType(t.name) == "service" {
		script := s.path(filepath.Join("/etc/init.d", bareName(t.name)))
		if fi, err := os.Stat(script); err == nil && fi.Mode().IsRegular() {
			ch, err := s.loader.SysVLinks(bareName(t.name), enable)
			if err != nil {
				return nil, err
			}
			out = append(out, ch...)
		}
	}
	return out, nil
}

func (s *shim) enableVerb(verb string, names []string, o sysOpts) int {
	if len(names) == 0 {
		fmt.Fprintln(s.errw, "Too few arguments.")
		return 1
	}
	progs, _ := s.programs()
	code := 0
	for _, n := range names {
		t := s.resolve(n, progs)
		if t.masked() {
			fmt.Fprintf(s.errw, "Failed to %s unit: Unit file %s is masked.\n", verb, t.name)
			code = 1
			continue
		}
		if t.unit == nil && !(t.driven() && verb != "enable") {
			if t.driven() {
				// An image's program with no unit file starts with the container anyway.
				if o.now {
					if e := s.start(t, o); e != nil {
						fmt.Fprintln(s.errw, e.msg)
						code = 1
					}
				}
				continue
			}
			if ue := t.unsupported(); ue != nil && verb != "enable" && verb != "reenable" {
				fmt.Fprintln(s.errw, ue.Error())
			} else {
				fmt.Fprintf(s.errw, "Failed to %s unit: Unit file %s does not exist.\n", strings.TrimSuffix(verb, "e")+"e", t.name)
			}
			code = 1
			continue
		}
		var all []units.Change
		if verb == "disable" || verb == "reenable" {
			ch, err := s.enableChanges(t, false)
			if err != nil {
				fmt.Fprintf(s.errw, "Failed to disable unit %s: %v\n", t.name, err)
				code = 1
				continue
			}
			all = append(all, ch...)
		}
		if verb != "disable" {
			ch, err := s.enableChanges(t, true)
			if err != nil {
				fmt.Fprintf(s.errw, "Failed to enable unit %s: %v\n", t.name, err)
				code = 1
				continue
			}
			if len(ch) == 0 && !o.quiet {
				fmt.Fprintf(s.errw, "The unit files have no installation config (WantedBy=, RequiredBy=, Also=,\nAlias= settings in the [Install] section, and DefaultInstance= for template\nunits). This means they are not meant to be enabled or disabled using systemctl.\n")
			}
			all = append(all, ch...)
		}
		if err := s.applyChanges(all, o.quiet); err != nil {
			fmt.Fprintf(s.errw, "Failed to %s unit %s: %v\n", verb, t.name, err)
			code = 1
			continue
		}
		if t.driven() {
			// The image's program starts with supervisord's config, not
			// through the unit's links: fatbox reads this at boot.
			if err := s.setProgramDisabled(t.program, verb == "disable"); err != nil {
				fmt.Fprintf(s.errw, "Failed to %s unit %s: %v\n", verb, t.name, err)
				code = 1
				continue
			}
		}
		if o.now {
			var e *exitErr
			if verb == "disable" {
				e = s.stop(t, o)
			} else {
				e = s.start(t, o)
			}
			if e != nil {
				fmt.Fprintln(s.errw, e.msg)
				code = 1
			}
		}
	}
	s.signalInit()
	return code
}

func (s *shim) maskVerb(verb string, names []string, o sysOpts) int {
	code := 0
	progs, _ := s.programs()
	for _, n := range names {
		name := unitName(n)
		link := filepath.Join("/etc/systemd/system", name)
		p := s.path(link)
		// An image's program masked stays down at boot; unmasked, it is
		// back only if its unit is enabled.
		program := s.resolve(name, progs).program
		defer func() {
			if program == "" {
				return
			}
			cur, _ := os.Readlink(p)
			down := cur == "/dev/null" // masked, whatever was asked
			if !down {
				st, err := s.loader.Enabled(name)
				down = err != nil || !enabledOK(st)
			}
			if err := s.setProgramDisabled(program, down); err != nil {
				fmt.Fprintf(s.errw, "Failed to %s unit %s: %v\n", verb, name, err)
			}
		}()
		if verb == "mask" {
			if cur, err := os.Readlink(p); err == nil && cur == "/dev/null" {
				continue
			}
			if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink == 0 {
				fmt.Fprintf(s.errw, "Failed to mask unit: File %s already exists.\n", link)
				code = 1
				continue
			}
			os.Remove(p)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.Symlink("/dev/null", p)
				if err != nil {
					fmt.Fprintf(s.errw, "Failed to mask unit: %v\n", err)
					code = 1
					continue
				}
			}
			if !o.quiet {
				fmt.Fprintf(s.errw, "Created symlink %s → /dev/null.\n", link)
			}
			if o.now {
				if e := s.stop(s.resolve(name, nil), o); e != nil {
					fmt.Fprintln(s.errw, e.msg)
				}
			}
			continue
		}
		if cur, err := os.Readlink(p); err == nil && cur == "/dev/null" {
			if err := os.Remove(p); err != nil {
				fmt.Fprintf(s.errw, "Failed to unmask unit: %v\n", err)
				code = 1
				continue
			}
			if !o.quiet {
				fmt.Fprintf(s.errw, "Removed \"%s\".\n", link)
			}
		}
	}
	return code
}
