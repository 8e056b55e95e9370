package units

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSysVAgainstGenerator compares the units synthesized for
// testdata/sysv/etc/init.d with what systemd 252's systemd-sysv-generator
// writes for the same scripts (testdata/sysv.golden, from gen-sysv.py).
// Environment=_SYSTEMCTL_SKIP_REDIRECT=1 is ours on purpose (the shim runs
// the script itself; the generator's units are run by systemd).
func TestSysVAgainstGenerator(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("testdata/sysv")); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/sysv.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var rec struct {
			Unit   string
			Fields map[string][]string
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		n++
		u, err := Loader{Root: root}.Load(rec.Unit)
		if err != nil {
			t.Errorf("%s: %v", rec.Unit, err)
			continue
		}
		s := u.Service
		cmd := func(cs []Command) []string {
			var out []string
			for _, c := range cs {
				out = append(out, strings.Join(c.Argv, " "))
			}
			return out
		}
		var success []string
		if len(s.SuccessExitStatus) > 0 {
			var codes []string
			for _, c := range s.SuccessExitStatus {
				codes = append(codes, strconv.Itoa(c))
			}
			success = []string{strings.Join(codes, " ")}
		}
		got := map[string][]string{
			"Type": {s.Type}, "Restart": {s.Restart}, "KillMode": {s.KillMode},
			"GuessMainPID": {yesNo(s.GuessMainPID)}, "RemainAfterExit": {yesNo(s.RemainAfterExit)}, "IgnoreSIGPIPE": {yesNo(s.IgnoreSIGPIPE)},
			"ExecStart": cmd(s.ExecStart), "ExecStop": cmd(s.ExecStop), "ExecReload": cmd(s.ExecReload),
			"SuccessExitStatus": success, "Documentation": u.Documentation,
		}
		if u.Description != "" {
			got["Description"] = []string{u.Description}
		}
		for k, v := range got {
			if !reflect.DeepEqual(rec.Fields[k], v) && len(rec.Fields[k])+len(v) > 0 {
				t.Errorf("%s: %s = %q, the generator writes %q", rec.Unit, k, v, rec.Fields[k])
			}
		}
		if _, ok := rec.Fields["Description"]; !ok && u.Description != "" {
			t.Errorf("%s: Description %q, the generator writes none", rec.Unit, u.Description)
		}
		if want := rec.Fields["TimeoutSec"]; len(want) != 1 || want[0] != "5min" || s.TimeoutStartSec != 5*time.Minute || s.TimeoutStopSec != 5*time.Minute {
			t.Errorf("%s: timeouts %v %v, the generator writes %q", rec.Unit, s.TimeoutStartSec, s.TimeoutStopSec, want)
		}
	}
	if n < 5 {
		t.Fatalf("only %d units", n)
	}
}

func yesNo(b bool) string { return map[bool]string{true: "yes", false: "no"}[b] }
