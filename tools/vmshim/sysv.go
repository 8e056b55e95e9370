package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
)

// rcLinks lists /etc/rcN.d links of a script: runlevel → "S"/"K".
func (s *shim) rcLinks(name string) map[int]string {
	out := map[int]string{}
	for lvl := 0; lvl <= 6; lvl++ {
		ents, _ := os.ReadDir(s.path(fmt.Sprintf("/etc/rc%d.d", lvl)))
		for _, e := range ents {
			n := e.Name()
			if len(n) > 3 && (n[0] == 'S' || n[0] == 'K') && n[3:] == name {
				out[lvl] = n[:1]
			}
		}
	}
	return out
}

// removeRCLinks deletes every /etc/rcN.d/[SK]NNname.
func (s *shim) removeRCLinks(name string) error {
	for lvl := 0; lvl <= 6; lvl++ {
		dir := s.path(fmt.Sprintf("/etc/rc%d.d", lvl))
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			n := e.Name()
			if len(n) > 3 && (n[0] == 'S' || n[0] == 'K') && n[3:] == name {
				if err := os.Remove(filepath.Join(dir, n)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// sysvEnable enables or disables a name as update-rc.d with
// deb-systemd-helper would: its rc links if it has a script, its unit's
// [Install] links if it has a unit.
func (s *shim) sysvEnable(name string, enable bool) error {
	progs, _ := s.programs()
	t := s.resolve(name, progs)
	if t.notFound() {
		return fmt.Errorf("%s: no unit and no /etc/init.d/%s: install the script first", name, name)
	}
	ch, err := s.enableChanges(t, enable)
	if err != nil {
		return err
	}
	if err := s.applyChanges(ch, true); err != nil {
		return err
	}
	s.signalInit()
	return nil
}

// sysvDefaults is update-rc.d NAME defaults (start and stop are its old
// spellings): the script's rc links from its LSB header, only when it has
// none. Existing links are the admin's choice and a package's postinst
// runs defaults at every upgrade: a service disabled by hand stays
// disabled. A unit's [Install] links are deb-systemd-helper's business, as
// with Debian's update-rc.d.
func (s *shim) sysvDefaults(name string, disabled bool) error {
	if fi, err := os.Stat(s.path("/etc/init.d/" + name)); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("initscript does not exist: /etc/init.d/%s: install the script first", name)
	}
	if len(s.rcLinks(name)) > 0 {
		s.signalInit()
		return nil
	}
	ch, err := s.loader.SysVLinks(name, !disabled)
	if err != nil {
		return err
	}
	if err := s.applyChanges(ch, true); err != nil {
		return err
	}
	s.signalInit()
	return nil
}

// updateRCD is Debian's update-rc.d.
func (s *shim) updateRCD(args []string) int {
	var pos []string
	force := false
	for _, a := range args {
		switch a {
		case "-f", "--force":
			force = true
		case "-n":
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) < 2 {
		fmt.Fprintln(s.errw, "usage: update-rc.d [-f] <basename> remove\n       update-rc.d [-f] <basename> defaults\n       update-rc.d <basename> disable|enable [S|2|3|4|5]")
		return 1
	}
	name, action := pos[0], pos[1]
	var err error
	switch action {
	case "defaults", "defaults-disabled", "start", "stop":
		err = s.sysvDefaults(name, action == "defaults-disabled")
	case "enable":
		err = s.sysvEnable(name, true)
	case "disable":
		err = s.sysvEnable(name, false)
	case "remove":
		if _, serr := os.Stat(s.path("/etc/init.d/" + name)); serr == nil && !force {
			fmt.Fprintf(s.errw, "update-rc.d: /etc/init.d/%s exists during rc.d purge (use -f to force)\n", name)
			return 1
		}
		err = s.removeRCLinks(name)
	default:
		fmt.Fprintf(s.errw, "update-rc.d: unknown action %q: use defaults, enable, disable or remove\n", action)
		return 1
	}
	if err != nil {
		fmt.Fprintf(s.errw, "update-rc.d: %v\n", err)
		return 1
	}
	return 0
}

// chkconfig is RHEL's chkconfig.
func (s *shim) chkconfig(args []string) int {
	var pos []string
	list, add, del := false, false, false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--list":
			list = true
		case a == "--add":
			add = true
		case a == "--del":
			del = true
		case a == "--level":
			i++ // the levels: vmshim enables for the default runlevels
		case strings.HasPrefix(a, "--level="):
		default:
			pos = append(pos, a)
		}
	}
	switch {
	case list:
		return s.chkconfigList(pos)
	case add || del:
		if len(pos) == 0 {
			fmt.Fprintln(s.errw, "chkconfig: --add/--del need a service name")
			return 1
		}
		var err error
		if add {
			// As RHEL's: existing links (an admin's `chkconfig x off`) are
			// kept; an RPM's %post runs --add at every upgrade.
			err = s.sysvDefaults(pos[0], false)
		} else {
			err = s.removeRCLinks(pos[0])
		}
		if err != nil {
			fmt.Fprintf(s.errw, "chkconfig: %v\n", err)
			return 1
		}
		return 0
	case len(pos) == 1:
		progs, _ := s.programs()
		st, err := s.enabledState(s.resolve(pos[0], progs))
		if err != nil || !enabledOK(st) {
			return 1
		}
		return 0
	case len(pos) == 2:
		var err error
		switch pos[1] {
		case "on":
			err = s.sysvEnable(pos[0], true)
		case "off":
			err = s.sysvEnable(pos[0], false)
		case "reset", "resetpriorities":
			err = s.sysvEnable(pos[0], true)
		default:
			fmt.Fprintf(s.errw, "chkconfig: %q: use on or off\n", pos[1])
			return 1
		}
		if err != nil {
			fmt.Fprintf(s.errw, "chkconfig: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(s.errw, "usage: chkconfig [--list] [name] | --add name | --del name | [--level levels] name on|off")
	return 1
}

func (s *shim) chkconfigList(pos []string) int {
	var names []string
	if len(pos) > 0 {
		names = pos
	} else {
		ents, _ := os.ReadDir(s.path("/etc/init.d"))
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") && e.Name() != "README" && e.Name() != "skeleton" {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		fmt.Fprintln(s.errw, "\nNote: This output shows SysV services only and does not include native\n      systemd services. Use 'systemctl list-unit-files' to see them.")
	}
	tw := tabwriter.NewWriter(s.out, 0, 0, 1, ' ', 0)
	code := 0
	for _, n := range names {
		if _, err := os.Stat(s.path("/etc/init.d/" + n)); err != nil {
			fmt.Fprintf(s.errw, "error reading information on service %s: No such file or directory\n", n)
			code = 1
			continue
		}
		links := s.rcLinks(n)
		var cols []string
		for lvl := 0; lvl <= 6; lvl++ {
			st := "off"
			if links[lvl] == "S" {
				st = "on"
			}
			cols = append(cols, fmt.Sprintf("%d:%s", lvl, st))
		}
		fmt.Fprintf(tw, "%s\t%s\n", n, strings.Join(cols, "\t"))
	}
	tw.Flush()
	return code
}
