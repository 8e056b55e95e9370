package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

func (s *shim) status(targets []target, progs []procInfo, o sysOpts) int {
	code := 0
	for i, t := range targets {
		if t.notFound() {
			fmt.Fprintf(s.errw, "Unit %s could not be found.\n", t.name)
			code = 4
			continue
		}
		if i > 0 {
			fmt.Fprintln(s.out)
		}
		v := s.viewOf(t, progs)
		s.printStatus(s.out, t, v, o)
		if v.ActiveState != stActive && v.ActiveState != stReloading && code == 0 {
			code = 3
		}
	}
	return code
}

func (s *shim) printStatus(w io.Writer, t target, v unitState, o sysOpts) {
	dot := "●"
	if v.ActiveState == stFailed {
		dot = "×"
	} else if v.ActiveState == stInactive {
		dot = "○"
	}
	desc := ""
	if t.unit != nil && t.unit.Description != "" {
		desc = " - " + t.unit.Description
	}
	fmt.Fprintf(w, "%s %s%s\n", dot, t.name, desc)

	switch {
	case t.masked():
		fmt.Fprintf(w, "     Loaded: masked (Reason: Unit %s is masked.)\n", t.name)
	case t.unsupported() != nil:
		fmt.Fprintf(w, "     Loaded: bad-setting (Reason: %s)\n", t.unsupported().Error())
	case t.unit != nil:
		en, _ := s.enabledState(t)
		src := t.unit.Path
		if t.unit.SysV {
			src = "/etc/init.d/" + bareName(t.name) + "; generated"
			en = strings.TrimSpace(en)
		}
		en = orDefault(en, "static")
		switch en {
		case "static", "alias", "generated", "transient":
			// systemd 252 shows no preset for these
			fmt.Fprintf(w, "     Loaded: loaded (%s; %s)\n", src, en)
		default:
			fmt.Fprintf(w, "     Loaded: loaded (%s; %s; preset: enabled)\n", src, en)
		}
		if len(t.unit.DropIns) > 0 {
			fmt.Fprintf(w, "    Drop-In: %s\n", strings.Join(t.unit.DropIns, ", "))
		}
	case t.driven():
		fmt.Fprintf(w, "     Loaded: loaded (supervisord program %s; enabled)\n", t.program)
	default:
		fmt.Fprintf(w, "     Loaded: %s\n", t.loadState())
	}

	since := ""
	ref := v.ActiveEnter
	if v.ActiveState != stActive {
		ref = v.InactiveEnter
	}
	if ts := parseStamp(ref); !ts.IsZero() {
		since = fmt.Sprintf(" since %s; %s ago", ts.Local().Format("Mon 2006-01-02 15:04:05 MST"), ago(s.now().Sub(ts)))
	}
	res := ""
	if v.ActiveState == stFailed {
		res = fmt.Sprintf(" (Result: %s)", orDefault(v.Result, "exit-code"))
	}
	sub := " (" + orDefault(v.SubState, "dead") + ")"
	if v.ActiveState == stFailed {
		sub = ""
	}
	fmt.Fprintf(w, "     Active: %s%s%s%s\n", v.ActiveState, sub, res, since)
	if t.unit != nil && t.unit.Timer != nil {
		var cals []string
		for _, c := range t.unit.Timer.OnCalendar {
			cals = append(cals, c.String())
		}
		if len(cals) > 0 {
			fmt.Fprintf(w, "    Trigger: %s\n", strings.Join(cals, "; "))
		}
		fmt.Fprintf(w, "   Triggers: ● %s\n", orDefault(t.unit.Timer.Unit, bareName(t.name)+".service"))
	}
	if v.MainPID > 0 {
		fmt.Fprintf(w, "   Main PID: %d (%s)\n", v.MainPID, procComm(v.MainPID))
	} else if v.ExecMainPID > 0 && v.ExecMainCode != "" {
		fmt.Fprintf(w, "   Main PID: %d (code=%s, status=%d)\n", v.ExecMainPID, v.ExecMainCode, v.ExecMainStatus)
	}
	if v.StatusText != "" {
		fmt.Fprintf(w, "     Status: %q\n", v.StatusText)
	}
	if v.Message != "" {
		fmt.Fprintf(w, "    Message: %s\n", v.Message)
	}
	if v.ConditionFailed != "" {
		fmt.Fprintf(w, "  Condition: start condition failed: %s\n", v.ConditionFailed)
	}
	if t.driven() {
		fmt.Fprintf(w, "     Driven: supervisord program %s (vmshim)\n", t.program)
	} else if unitType(t.name) == "service" && t.unit != nil {
		if v.RunnerPID > 0 && s.isRunner(v.RunnerPID, t.name) {
			fmt.Fprintf(w, "     Driven: supervisord program %s, vmshim run-unit (pid %d)\n", programOf(t.name), v.RunnerPID)
		} else {
			fmt.Fprintf(w, "     Driven: supervisord program %s (vmshim run-unit)\n", programOf(t.name))
		}
	}
	if t.unit != nil {
		for _, n := range t.unit.Notes {
			fmt.Fprintf(w, "       Note: %s\n", n)
		}
	}
	if o.lines > 0 {
		lines := tailLines(s.logOf(t), o.lines)
		if len(lines) > 0 {
			fmt.Fprintln(w)
			for _, l := range lines {
				fmt.Fprintln(w, l)
			}
		}
	}
}

// logOf is the log journalctl -u and status show for a unit.
func (s *shim) logOf(t target) string {
	if t.driven() {
		return s.programLog(t.program)
	}
	return s.programLog(programOf(t.name))
}

func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dmin", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dmin", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// tailLines returns the last n lines of a file (reading at most 1 MiB of its end).
func tailLines(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	off := st.Size() - 1<<20
	if off < 0 {
		off = 0
	}
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return nil
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	if off > 0 && len(lines) > 0 {
		lines = lines[1:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
