package units

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestEnableAgainstSystemctl compares Enabled, EnableChanges and
// DisableChanges on testdata/debian and testdata/oracle (templates with
// DefaultInstance, Also=, RequiredBy=, /run links, masks, aliases) with
// what systemd 252's systemctl --root prints for the same trees
// (testdata/enable.golden, from gen-enable.py; its copies leave out
// /etc/init.d, so SysV handling is tested elsewhere).
func TestEnableAgainstSystemctl(t *testing.T) {
	f, err := os.Open("testdata/enable.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	loaders := map[string]Loader{}
	for _, name := range []string{"debian", "oracle"} {
		root := t.TempDir()
		if err := os.CopyFS(root, os.DirFS("testdata/"+name)); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(root + "/etc/init.d"); err != nil {
			t.Fatal(err)
		}
		loaders[name] = Loader{Root: root}
	}
	type result struct {
		RC  int
		Out []string
	}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var rec struct {
			Root      string
			Unit      string
			IsEnabled result `json:"is-enabled"`
			Enable    result
			Disable   result
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		n++
		l := loaders[rec.Root]
		if st, err := l.Enabled(rec.Unit); err != nil || st != rec.IsEnabled.Out[0] {
			t.Errorf("Enabled(%s) = %q, %v; systemctl says %q", rec.Unit, st, err, rec.IsEnabled.Out[0])
		}
		for _, op := range []struct {
			name string
			res  result
			f    func(string) ([]Change, error)
		}{{"enable", rec.Enable, l.EnableChanges}, {"disable", rec.Disable, l.DisableChanges}} {
			cs, err := op.f(rec.Unit)
			if op.res.RC != 0 {
				if err == nil {
					t.Errorf("%s %s: systemctl fails (%q), got %v", op.name, rec.Unit, op.res.Out, cs)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s %s: %v", op.name, rec.Unit, err)
				continue
			}
			var want, got []string
			for _, line := range op.res.Out {
				if strings.HasPrefix(line, "Created symlink ") || strings.HasPrefix(line, "Removed ") {
					want = append(want, strings.Replace(line, " -> ", " → ", 1))
				}
			}
			for _, c := range cs {
				got = append(got, c.String())
			}
			if !reflect.DeepEqual(got, want) && len(got)+len(want) > 0 {
				t.Errorf("%s %s:\n got  %q\n want %q", op.name, rec.Unit, got, want)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d units", n)
	}
}
