package units

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"encoding/json"

	"golang.org/x/sys/unix"
)

// TestUnitsAgainstSystemd loads the units of testdata/debian (Debian 12)
// and testdata/oracle (drop-ins, aliases, templates, dash prefixes) and
// compares them with systemd 252's own dump of the same trees
// (testdata/oracle.golden, recorded by testdata/gen-oracle.py with
// `systemd --test`): descriptions, conditions, drop-in order, commands,
// environment, limits, kill and restart settings, timers.
func TestUnitsAgainstSystemd(t *testing.T) {
	f, err := os.Open("testdata/oracle.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	roots := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	n := 0
	for sc.Scan() {
		var rec struct {
			Root, Unit string
			Fields     map[string]json.RawMessage
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		root, ok := roots[rec.Root]
		if !ok {
			root = t.TempDir()
			if err := os.CopyFS(root, os.DirFS(filepath.Join("testdata", rec.Root))); err != nil {
				t.Fatal(err)
			}
			roots[rec.Root] = root
		}
		n++
		t.Run(rec.Root+"/"+rec.Unit, func(t *testing.T) {
			u, err := Loader{Root: root}.Load(rec.Unit)
			if err != nil {
				t.Fatal(err)
			}
			compareWithSystemd(t, u, rec.Fields)
		})
	}
	if n < 20 {
		t.Fatalf("only %d units in oracle.golden", n)
	}
}

func compareWithSystemd(t *testing.T, u *Unit, fields map[string]json.RawMessage) {
	t.Helper()
	strs := func(k string) ([]string, bool) {
		raw, ok := fields[k]
		if !ok {
			return nil, false
		}
		var v []string
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		return v, true
	}
	one := func(k string) (string, bool) {
		v, ok := strs(k)
		if !ok || len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	eq := func(k string, got any) {
		t.Helper()
		want, ok := one(k)
		if !ok {
			t.Errorf("systemd's dump has no %s", k)
			return
		}
		if g := fmt.Sprint(got); g != want {
			t.Errorf("%s = %q, systemd says %q", k, g, want)
		}
	}
	yes := func(b bool) string { return map[bool]string{true: "yes", false: "no"}[b] }
	secs := func(d time.Duration, infiniteIfZero bool) string {
		if d == 0 && infiniteIfZero {
			return "infinity"
		}
		if d >= time.Second {
			d = d.Truncate(time.Second) // the dump prints to the second
		}
		return formatTimespan(d)
	}

	if u.Description != "" {
		eq("Description", u.Description) // systemd shows the name when there is none
	}
	if want, ok := strs("Documentation"); ok && !reflect.DeepEqual(want, u.Documentation) {
		t.Errorf("Documentation = %q, systemd says %q", u.Documentation, want)
	}
	if want, ok := strs("Alias"); ok {
		for _, a := range want {
			if !contains(u.Aliases, a) {
				t.Errorf("Aliases %q lack %q", u.Aliases, a)
			}
		}
	}
	var wantConds, gotConds []string
	for k := range fields {
		if strings.HasPrefix(k, "Condition") || strings.HasPrefix(k, "Assert") {
			v, _ := strs(k)
			for _, x := range v {
				wantConds = append(wantConds, k+"="+strings.TrimSuffix(x, " untested"))
			}
		}
	}
	for _, c := range u.Conditions {
		gotConds = append(gotConds, c.String())
	}
	sort.Strings(wantConds)
	sort.Strings(gotConds)
	if !reflect.DeepEqual(wantConds, gotConds) {
		t.Errorf("conditions %q, systemd says %q", gotConds, wantConds)
	}
	wantDrop, _ := strs("DropIn Path")
	if !reflect.DeepEqual(wantDrop, u.DropIns) && !(len(wantDrop) == 0 && len(u.DropIns) == 0) {
		t.Errorf("DropIns %q, systemd says %q", u.DropIns, wantDrop)
	}

	if tm := u.Timer; tm != nil {
		var cals []string
		for _, c := range tm.OnCalendar {
			cals = append(cals, c.String())
		}
		if want, _ := strs("OnCalendar"); !reflect.DeepEqual(want, cals) {
			t.Errorf("OnCalendar %q, systemd says %q", cals, want)
		}
		eq("Persistent", yes(tm.Persistent))
		eq("Accuracy", formatTimespan(tm.AccuracySec))
		eq("Unit", tm.Unit)
		eq("RemainAfterElapse", yes(tm.RemainAfterElapse))
		eq("WakeSystem", yes(tm.WakeSystem))
		eq("FixedRandomDelay", yes(tm.FixedRandomDelay))
		return
	}

	s := u.Service
	eq("Type", s.Type)
	eq("Restart", s.Restart)
	eq("RemainAfterExit", yes(s.RemainAfterExit))
	eq("GuessMainPID", yes(s.GuessMainPID))
	eq("IgnoreSIGPIPE", yes(s.IgnoreSIGPIPE))
	eq("SendSIGKILL", yes(s.SendSIGKILL))
	eq("SendSIGHUP", yes(s.SendSIGHUP))
	eq("KillMode", s.KillMode)
	eq("KillSignal", unix.SignalName(s.KillSignal))
	eq("RestartKillSignal", unix.SignalName(s.RestartKillSignal))
	eq("FinalKillSignal", unix.SignalName(s.FinalKillSignal))
	eq("RestartSec", secs(s.RestartSec, false))
	eq("TimeoutStartSec", secs(s.TimeoutStartSec, true))
	eq("TimeoutStopSec", secs(s.TimeoutStopSec, true))
	eq("RuntimeDirectoryPreserve", s.RuntimeDirectoryPreserve)
	eq("RuntimeDirectoryMode", fmt.Sprintf("%04o", s.RuntimeDirectoryMode))
	eq("StateDirectoryMode", fmt.Sprintf("%04o", s.StateDirectoryMode))
	eq("StandardInput", s.StandardInput)
	out := s.StandardOutput
	if want, _ := one("StandardOutput"); want == "journal+console" || want == "kmsg" || want == "kmsg+console" {
		out = want // folded into "journal" on purpose
	}
	if p, ok := strings.CutPrefix(out, "append:"); ok {
		out = "append"
		eq("StandardOutputFileToAppend", p)
	}
	eq("StandardOutput", out)
	if s.PIDFile != "" {
		eq("PIDFile", s.PIDFile)
	}
	if s.User != "" {
		eq("User", s.User)
	}
	if s.Group != "" {
		eq("Group", s.Group)
	}
	if len(s.SupplementaryGroups) > 0 {
		eq("SupplementaryGroups", strings.Join(s.SupplementaryGroups, " "))
	}
	if s.WorkingDirectory != "" && s.WorkingDirectory != "~" {
		eq("WorkingDirectory", s.WorkingDirectory)
	}
	if s.UMask != nil {
		eq("UMask", fmt.Sprintf("%04o", *s.UMask))
	}
	if s.Nice != nil {
		eq("Nice", *s.Nice)
	}
	want, _ := strs("Environment")
	if !reflect.DeepEqual(want, s.Environment) && len(want)+len(s.Environment) > 0 {
		t.Errorf("Environment %q, systemd says %q", s.Environment, want)
	}
	var efs []string
	for _, e := range s.EnvironmentFiles {
		efs = append(efs, map[bool]string{true: "-"}[e.Optional]+e.Path)
	}
	if want, _ := strs("EnvironmentFile"); !reflect.DeepEqual(want, efs) && len(want)+len(efs) > 0 {
		t.Errorf("EnvironmentFiles %q, systemd says %q", efs, want)
	}
	for k, dirs := range map[string][]string{"RuntimeDirectory": s.RuntimeDirectory, "StateDirectory": s.StateDirectory} {
		if want, _ := strs(k); !reflect.DeepEqual(want, dirs) && len(want)+len(dirs) > 0 {
			t.Errorf("%s %q, systemd says %q", k, dirs, want)
		}
	}
	for item, rl := range s.Limits {
		var name string
		for _, d := range []string{"LimitCPU", "LimitFSIZE", "LimitDATA", "LimitSTACK", "LimitCORE", "LimitRSS", "LimitNOFILE", "LimitAS",
			"LimitNPROC", "LimitMEMLOCK", "LimitLOCKS", "LimitSIGPENDING", "LimitMSGQUEUE", "LimitNICE", "LimitRTPRIO", "LimitRTTIME"} {
			if it, _, _ := limitItem(d); it == item {
				name = d
			}
		}
		eq(name, strconv.FormatUint(rl.Hard, 10))
		eq(name+"Soft", strconv.FormatUint(rl.Soft, 10))
	}
	for k, cmds := range map[string][]Command{"ExecStartPre": s.ExecStartPre, "ExecStart": s.ExecStart, "ExecStartPost": s.ExecStartPost,
		"ExecReload": s.ExecReload, "ExecStop": s.ExecStop, "ExecStopPost": s.ExecStopPost, "ExecCondition": s.ExecCondition} {
		var want [][]string
		if raw, ok := fields[k]; ok {
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
		}
		var got [][]string
		for _, c := range cmds {
			argv := c.Argv
			if c.Argv0 != "" {
				argv = append([]string{c.Argv0}, c.Argv[1:]...)
			}
			got = append(got, argv)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s %q, systemd says %q", k, got, want)
		}
	}
	_ = syscall.SIGTERM
}
