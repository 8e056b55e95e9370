package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// systemctl answers the systemctl verbs scripts, packages and Ansible use.
func (s *shim) systemctl(args []string) int {
	verb, names, o, err := parseSystemctl(args)
	if err != nil {
		fmt.Fprintf(s.errw, "systemctl: %v\n", err)
		return 1
	}
	if o.root != "" && filepath.Clean(o.root) != "/" {
		// systemctl --root=DIR (deb-systemd-helper in a chroot): unit
		// files and links under DIR; nothing is started.
		// files and links under DIR; nothing is started, and the running
		// container's supervisord is not asked (it is not DIR's).
		alt := *s
		alt.root = filepath.Join(s.root, o.root)
		alt.loader.Root = alt.root
		alt.sock = ""
		s = &alt
	}
	switch verb {
	case "--version":
		// Scripts read the number after "systemd": Debian 12's.
		fmt.Fprintln(s.out, "systemd 252 (252-vmshim)\n+PAM -SELINUX -APPARMOR (vmshim: systemctl for fat containers, driving supervisord)")
		return 0
	case "--help":
		fmt.Fprintln(s.out, "systemctl [OPTIONS...] COMMAND ...\n\nvmshim's systemctl: start stop restart try-restart reload reload-or-restart status show cat\nenable disable reenable preset mask unmask is-active is-enabled is-failed list-units\nlist-unit-files list-timers daemon-reload reset-failed kill is-system-running get-default\npoweroff reboot halt. Units run as supervisord programs; logs: journalctl -u UNIT.")
		return 0
	case "daemon-reload":
		s.signalInit()
		return 0
	case "daemon-reexec", "reset-failed-all", "preset-all", "revert", "set-environment", "unset-environment", "import-environment":
		if verb == "reset-failed-all" {
			return s.resetFailed(names)
		}
		return 0
	case "is-system-running":
		if !o.quiet {
			fmt.Fprintln(s.out, "running")
		}
		return 0
	case "get-default", "default":
		fmt.Fprintln(s.out, "multi-user.target")
		return 0
	case "set-default", "isolate", "rescue", "emergency":
		fmt.Fprintf(s.errw, "systemctl %s: a fat container always runs multi-user.target; nothing changed\n", verb)
		return 0
	case "poweroff", "halt":
		return s.power("poweroff", nil)
	case "reboot", "kexec", "soft-reboot":
		return s.power("reboot", nil)
	case "list-units", "list":
		return s.listUnits(names, o)
	case "list-unit-files":
		return s.listUnitFiles(names, o)
	case "list-timers":
		return s.listTimers(names, o)
	case "list-jobs":
		if !o.noLegend {
			fmt.Fprintln(s.out, "No jobs running.")
		}
		return 0
	case "list-sockets":
		if !o.noLegend {
			fmt.Fprintln(s.out, "0 sockets listed.")
		}
		return 0
	case "reset-failed":
		return s.resetFailed(names)
	case "enable", "disable", "reenable", "preset":
		return s.enableVerb(verb, names, o)
	case "mask", "unmask":
		return s.maskVerb(verb, names, o)
	case "is-enabled":
		return s.isEnabled(names, o)
	case "cat":
		return s.catVerb(names)
	}
	if len(names) == 0 {
		if verb == "status" || verb == "show" {
			// systemctl status / show with no unit: the manager itself.
			if verb == "show" {
				fmt.Fprintln(s.out, "Version=vmshim\nSystemState=running\nDefaultTarget=multi-user.target")
				return 0
			}
			fmt.Fprintln(s.out, "● fatbox container\n    State: running\n     Init: supervisord (systemctl is vmshim)")
			return 0
		}
		fmt.Fprintf(s.errw, "Too few arguments.\n")
		return 1
	}
	progs, perr := s.programs()
	targets := make([]target, len(names))
	for i, n := range names {
		targets[i] = s.resolve(n, progs)
	}
	switch verb {
	case "is-active", "is-failed", "status", "show", "list-dependencies":
		// Read-only: a missing supervisord shows as inactive programs.
	default:
		if perr != nil && !errors.Is(perr, errNoSupervisord) {
			fmt.Fprintf(s.errw, "systemctl: %v\n", perr)
			return 1
		}
		if perr != nil && verb != "kill" {
			fmt.Fprintf(s.errw, "Failed to %s %s: %v\n", verb, names[0], perr)
			return 1
		}
	}
	switch verb {
	case "is-active":
		return s.isActive(targets, progs, o)
	case "is-failed":
		return s.isFailed(targets, progs, o)
	case "status":
		return s.status(targets, progs, o)
	case "show":
		return s.show(targets, progs, o)
	case "list-dependencies":
		for _, t := range targets {
			fmt.Fprintln(s.out, t.name)
		}
		return 0
	case "kill":
		return s.killVerb(targets, progs, o)
	}
	code := 0
	for _, t := range targets {
		var e *exitErr
		switch verb {
		case "start":
			e = s.start(t, o)
		case "stop":
			e = s.stop(t, o)
		case "restart":
			e = s.restart(t, o)
		case "try-restart", "condrestart":
			if e = loadFailure(t, "try-restart"); e == nil && s.isActiveNow(t, progs) {
				e = s.restart(t, o)
			}
		case "reload":
			e = s.reload(t, progs, o)
		case "reload-or-restart", "force-reload", "try-reload-or-restart", "reload-or-try-restart":
			active := s.isActiveNow(t, progs)
			canReload := t.unit != nil && len(t.unit.Service.ExecReload) > 0
			switch {
			case !active && strings.HasPrefix(verb, "try-") || !active && verb == "reload-or-try-restart":
			case active && canReload:
				e = s.reload(t, progs, o)
			default:
				e = s.restart(t, o)
			}
		default:
			fmt.Fprintf(s.errw, "Unknown command verb '%s'.\n", verb)
			return 1
		}
		if e != nil {
			fmt.Fprintln(s.errw, e.msg)
			if e.code > code {
				code = e.code
			}
		}
	}
	if o.wait && code == 0 && (verb == "start" || verb == "restart") {
		return s.waitUnitsEnd(targets)
	}
	return code
}

// waitUnitsEnd is `systemctl start --wait`: block until every started unit
// is down again; 1 when one of them failed.
func (s *shim) waitUnitsEnd(targets []target) int {
	code := 0
	for _, t := range targets {
		for {
			progs, _ := s.programs()
			v := s.viewOf(t, progs)
			if v.ActiveState == stFailed {
				fmt.Fprintf(s.errw, "Unit %s failed with result '%s'.\n", t.name, orDefault(v.Result, "exit-code"))
				code = 1
				break
			}
			if v.ActiveState == stInactive {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return code
}

// signalInit asks vmshim init to read timers and units again.
func (s *shim) signalInit() {
	_ = s.ctl().signal(initProgram, "HUP")
}

func (s *shim) isActive(targets []target, progs []procInfo, o sysOpts) int {
	code := 3
	for _, t := range targets {
		v := s.viewOf(t, progs)
		if !o.quiet {
			fmt.Fprintln(s.out, v.ActiveState)
		}
		if v.ActiveState == stActive || v.ActiveState == stReloading {
			code = 0
		}
	}
	return code
}

func (s *shim) isFailed(targets []target, progs []procInfo, o sysOpts) int {
	code := 1
	for _, t := range targets {
		v := s.viewOf(t, progs)
		if !o.quiet {
			fmt.Fprintln(s.out, v.ActiveState)
		}
		if v.ActiveState == stFailed {
			code = 0
		}
	}
	return code
}

func (s *shim) catVerb(names []string) int {
	code := 0
	for i, n := range names {
		t := s.resolve(n, nil)
		if t.unit == nil || t.unit.Path == "" {
			if t.unit != nil && t.unit.SysV {
				fmt.Fprintf(s.out, "# %s is synthesized by vmshim from /etc/init.d/%s\n", t.name, bareName(t.name))
				continue
			}
			fmt.Fprintf(s.errw, "No files found for %s.\n", t.name)
			code = 1
			continue
		}
		if i > 0 {
			fmt.Fprintln(s.out)
		}
		for j, f := range append([]string{t.unit.Path}, t.unit.DropIns...) {
			b, err := os.ReadFile(s.hostPath(f))
			if err != nil {
				fmt.Fprintf(s.errw, "%v\n", err)
				code = 1
				continue
			}
			if j > 0 {
				fmt.Fprintln(s.out)
			}
			fmt.Fprintf(s.out, "# %s\n%s", f, b)
			if len(b) > 0 && b[len(b)-1] != '\n' {
				fmt.Fprintln(s.out)
			}
		}
	}
	return code
}

func (s *shim) resetFailed(names []string) int {
	if len(names) == 0 {
		ents, _ := os.ReadDir(s.path(stateDir))
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".json") {
				names = append(names, strings.TrimSuffix(e.Name(), ".json"))
			}
		}
	}
	for _, n := range names {
		name := unitName(n)
		st, ok, err := s.currentState(name)
		if err != nil || !ok || st.ActiveState != stFailed {
			continue
		}
		st.ActiveState, st.SubState, st.Result = stInactive, "dead", "success"
		st.NRestarts = 0
		if err := s.writeState(st); err != nil {
			fmt.Fprintf(s.errw, "Failed to reset failed state of unit %s: %v\n", name, err)
			return 1
		}
	}
	return 0
}

func (s *shim) killVerb(targets []target, progs []procInfo, o sysOpts) int {
	sig := syscall.SIGTERM
	if o.signal != "" {
		n, ok := parseSignal(o.signal)
		if !ok {
			fmt.Fprintf(s.errw, "Failed to parse signal string %s.\n", o.signal)
			return 1
		}
		sig = n
	}
	code := 0
	for _, t := range targets {
		if e := loadFailure(t, "kill"); e != nil {
			fmt.Fprintln(s.errw, strings.Replace(e.msg, "Failed to kill", "Failed to kill unit", 1))
			code = 1
			continue
		}
		v := s.viewOf(t, progs)
		var pids []int
		if v.MainPID > 0 {
			pids = append(pids, v.MainPID)
		}
		if o.whom != "main" && !t.driven() && v.RunnerPID > 0 && s.isRunner(v.RunnerPID, t.name) {
			table, _ := readProcTable()
			for _, p := range descendants(table, v.RunnerPID) {
				if p != v.MainPID {
					pids = append(pids, p)
				}
			}
		}
		if len(pids) == 0 {
			continue
		}
		for _, p := range pids {
			if err := syscall.Kill(p, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
				fmt.Fprintf(s.errw, "Failed to kill unit %s: %v\n", t.name, err)
				code = 1
			}
		}
	}
	return code
}
