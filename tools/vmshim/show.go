package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fatbox/fatbox/baseimages/units"
)

// kv is one `systemctl show` property.
type kv struct{ k, v string }

// properties lists what `systemctl show` prints for a unit: the ones
// scripts and Ansible's systemd module read, in systemd's order.
func (s *shim) properties(t target, v unitState) []kv {
	var p []kv
	add := func(k, v string) { p = append(p, kv{k, v}) }
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	u := t.unit
	svc := units.Service{Type: "simple", Restart: "no", KillMode: "control-group", TimeoutStartSec: 90 * time.Second, TimeoutStopSec: 90 * time.Second, RestartSec: 100 * time.Millisecond}
	if u != nil {
		svc = u.Service
	}
	isService := unitType(t.name) == "service"
	if isService {
		typ := svc.Type
		if typ == "" {
			typ = "simple"
		}
		add("Type", typ)
		add("Restart", orDefault(svc.Restart, "no"))
		add("PIDFile", svc.PIDFile)
		add("NotifyAccess", map[bool]string{true: "main", false: "none"}[typ == "notify"])
		add("RestartUSec", systemdDuration(svc.RestartSec))
		add("TimeoutStartUSec", systemdDuration(svc.TimeoutStartSec))
		add("TimeoutStopUSec", systemdDuration(svc.TimeoutStopSec))
		add("RemainAfterExit", yes(svc.RemainAfterExit))
		add("GuessMainPID", yes(svc.GuessMainPID))
		add("MainPID", strconv.Itoa(v.MainPID))
		add("ControlPID", "0")
		add("StatusText", v.StatusText)
		add("Result", orDefault(v.Result, "success"))
		add("NRestarts", strconv.Itoa(v.NRestarts))
		add("ExecMainStartTimestamp", systemdTime(v.ExecMainStart))
		add("ExecMainExitTimestamp", systemdTime(v.ExecMainExit))
		add("ExecMainPID", strconv.Itoa(v.ExecMainPID))
		add("ExecMainCode", strconv.Itoa(map[string]int{"exited": 1, "killed": 2, "dumped": 3}[v.ExecMainCode]))
		add("ExecMainStatus", strconv.Itoa(v.ExecMainStatus))
		for _, e := range []struct {
			k string
			c []units.Command
		}{{"ExecCondition", svc.ExecCondition}, {"ExecStartPre", svc.ExecStartPre}, {"ExecStart", svc.ExecStart}, {"ExecStartPost", svc.ExecStartPost}, {"ExecReload", svc.ExecReload}, {"ExecStop", svc.ExecStop}, {"ExecStopPost", svc.ExecStopPost}} {
			if len(e.c) > 0 {
				add(e.k, execProp(e.c))
			}
		}
		add("User", svc.User)
		add("Group", svc.Group)
		add("SupplementaryGroups", strings.Join(svc.SupplementaryGroups, " "))
		add("WorkingDirectory", svc.WorkingDirectory)
		add("Environment", strings.Join(svc.Environment, " "))
		for _, l := range limitOrder {
			if r, ok := svc.Limits[l.item]; ok {
				add(l.prop, rlimitString(r.Hard))
				add(l.prop+"Soft", rlimitString(r.Soft))
			}
		}
		if svc.UMask != nil {
			add("UMask", fmt.Sprintf("%04o", *svc.UMask))
		} else {
			add("UMask", "0022")
		}
		add("KillMode", orDefault(svc.KillMode, "control-group"))
		ks := int(svc.KillSignal)
		if ks == 0 {
			ks = 15
		}
		add("KillSignal", strconv.Itoa(ks))
		add("SendSIGKILL", yes(svc.SendSIGKILL))
	}
	add("Id", t.name)
	names := []string{t.name}
	if u != nil {
		for _, a := range u.Aliases {
			if a != t.name {
				names = append(names, a)
			}
		}
	}
	add("Names", strings.Join(names, " "))
	if u != nil {
		add("Requires", strings.Join(u.Requires, " "))
		add("Wants", strings.Join(u.Wants, " "))
		add("WantedBy", strings.Join(u.WantedBy, " "))
		add("RequiredBy", strings.Join(u.RequiredBy, " "))
		add("Before", strings.Join(u.Before, " "))
		add("After", strings.Join(u.After, " "))
		add("Documentation", strings.Join(u.Documentation, " "))
	}
	desc := t.name
	if u != nil && u.Description != "" {
		desc = u.Description
	} else if t.driven() {
		desc = "supervisord program " + t.program
	}
	add("Description", desc)
	add("LoadState", t.loadState())
	add("ActiveState", v.ActiveState)
	add("SubState", v.SubState)
	frag := ""
	if u != nil {
		frag = u.Path
		if u.SysV {
			add("SourcePath", "/etc/init.d/"+bareName(t.name))
		}
		add("DropInPaths", strings.Join(u.DropIns, " "))
	} else if t.masked() {
		frag = "/dev/null"
	}
	add("FragmentPath", frag)
	ufs, err := s.enabledState(t)
	if err != nil {
		ufs = ""
	}
	add("UnitFileState", ufs)
	add("UnitFilePreset", "enabled")
	change := v.ActiveEnter
	if parseStamp(v.InactiveEnter).After(parseStamp(change)) {
		change = v.InactiveEnter
	}
	add("StateChangeTimestamp", systemdTime(change))
	add("InactiveExitTimestamp", systemdTime(v.InactiveExit))
	add("ActiveEnterTimestamp", systemdTime(v.ActiveEnter))
	add("ActiveExitTimestamp", systemdTime(v.ActiveExit))
	add("InactiveEnterTimestamp", systemdTime(v.InactiveEnter))
	loaded := t.loadState() == "loaded"
	add("CanStart", yes(loaded && (isService || unitType(t.name) == "timer" || unitType(t.name) == "target")))
	add("CanStop", yes(loaded))
	add("CanReload", yes(loaded && (len(svc.ExecReload) > 0 || t.driven() && u == nil)))
	add("CanIsolate", "no")
	add("InvocationID", v.InvocationID)
	if t.unsupported() != nil {
		add("LoadError", "org.freedesktop.systemd1.BadUnitSetting \""+t.unsupported().Error()+"\"")
	} else if t.notFound() {
		add("LoadError", fmt.Sprintf("org.freedesktop.systemd1.NoSuchUnit \"Unit %s not found.\"", t.name))
	} else if t.masked() {
		add("LoadError", fmt.Sprintf("org.freedesktop.systemd1.UnitMasked \"Unit %s is masked.\"", t.name))
	} else if t.loadErr != nil && !t.driven() {
		add("LoadError", fmt.Sprintf("org.freedesktop.systemd1.LoadFailed %q", t.loadErr.Error()))
	}
	if u != nil && u.Timer != nil {
		add("Unit", orDefault(u.Timer.Unit, bareName(t.name)+".service"))
		add("Persistent", yes(u.Timer.Persistent))
		var cals []string
		for _, c := range u.Timer.OnCalendar {
			cals = append(cals, c.String())
		}
		add("TimersCalendar", strings.Join(cals, " ; "))
	}
	return p
}

func (s *shim) show(targets []target, progs []procInfo, o sysOpts) int {
	want := map[string]bool{}
	for _, p := range o.props {
		want[p] = true
	}
	for i, t := range targets {
		if i > 0 && !o.value {
			fmt.Fprintln(s.out)
		}
		props := s.properties(t, s.viewOf(t, progs))
		if len(want) > 0 {
			// In the order asked, as scripts using --value expect.
			byKey := map[string]string{}
			for _, p := range props {
				byKey[p.k] = p.v
			}
			for _, k := range o.props {
				v, ok := byKey[k]
				if !ok {
					continue
				}
				s.printProp(k, v, o)
			}
			continue
		}
		for _, p := range props {
			if o.all || p.v != "" {
				s.printProp(p.k, p.v, o)
			}
		}
	}
	return 0
}

func (s *shim) printProp(k, v string, o sysOpts) {
	if o.value {
		fmt.Fprintln(s.out, v)
	} else {
		fmt.Fprintf(s.out, "%s=%s\n", k, v)
	}
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func execProp(cmds []units.Command) string {
	var parts []string
	for _, c := range cmds {
		path := ""
		if len(c.Argv) > 0 {
			path = c.Argv[0]
		}
		parts = append(parts, fmt.Sprintf("{ path=%s ; argv[]=%s ; ignore_errors=%s ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }",
			path, strings.Join(c.Argv, " "), map[bool]string{true: "yes", false: "no"}[c.IgnoreFailure]))
	}
	return strings.Join(parts, " ")
}

// systemdDuration formats like systemd: "1min 30s", "100ms", "infinity".
func systemdDuration(d time.Duration) string {
	if d <= 0 {
		return "infinity"
	}
	type unit struct {
		n string
		d time.Duration
	}
	us := []unit{{"d", 24 * time.Hour}, {"h", time.Hour}, {"min", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}, {"us", time.Microsecond}}
	var parts []string
	for _, u := range us {
		if d >= u.d {
			parts = append(parts, fmt.Sprintf("%d%s", d/u.d, u.n))
			d %= u.d
		}
	}
	return strings.Join(parts, " ")
}

func rlimitString(v uint64) string {
	if v == units.Infinity {
		return "infinity"
	}
	return strconv.FormatUint(v, 10)
}

// limitOrder maps limits.conf items to systemd's Limit*= names.
var limitOrder = []struct{ item, prop string }{
	{"cpu", "LimitCPU"}, {"fsize", "LimitFSIZE"}, {"data", "LimitDATA"}, {"stack", "LimitSTACK"},
	{"core", "LimitCORE"}, {"rss", "LimitRSS"}, {"nofile", "LimitNOFILE"}, {"as", "LimitAS"},
	{"nproc", "LimitNPROC"}, {"memlock", "LimitMEMLOCK"}, {"locks", "LimitLOCKS"},
	{"sigpending", "LimitSIGPENDING"}, {"msgqueue", "LimitMSGQUEUE"}, {"nice", "LimitNICE"},
	{"rtprio", "LimitRTPRIO"},
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
