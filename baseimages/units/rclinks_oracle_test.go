package units

import (
	"bufio"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestSysVLinksAgainstUpdateRCD replays testdata/rclinks.golden: the rc?.d
// links Debian 12's update-rc.d leaves after each sequence of actions
// (gen-rclinks.py). SysVLinks(name, true) on a script with no links is
// "defaults" (then "enable", a no-op), SysVLinks(name, false) on one with
// no links is "defaults-disabled"; with links they are "enable" and
// "disable". A script whose header lists no start runlevels is an error.
func TestSysVLinksAgainstUpdateRCD(t *testing.T) {
	f, err := os.Open("testdata/rclinks.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var rec struct {
			Script string
			Seq    []string
			Error  *string
			Links  map[string]string
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		n++
		name := rec.Script + " " + strings.Join(rec.Seq, "+")
		root := t.TempDir()
		if err := os.CopyFS(root, os.DirFS("testdata/sysv")); err != nil {
			t.Fatal(err)
		}
		l := Loader{Root: root}
		var opErr error
		for _, action := range rec.Seq {
			cs, err := l.SysVLinks(rec.Script, action == "defaults" || action == "enable")
			if err != nil {
				opErr = err
				break
			}
			applyChanges(t, root, cs)
		}
		if rec.Error != nil || len(rec.Links) == 0 && rec.Script == "nolsb" {
			if opErr == nil {
				t.Errorf("%s: update-rc.d fails or makes nothing (%v), SysVLinks succeeded", name, rec.Error)
			}
			continue
		}
		if opErr != nil {
			t.Errorf("%s: %v", name, opErr)
			continue
		}
		if got := rcLinks(t, root); !reflect.DeepEqual(got, rec.Links) {
			t.Errorf("%s:\n got  %v\n want %v", name, got, rec.Links)
		}
	}
	if n < 20 {
		t.Fatalf("only %d records", n)
	}
}

func applyChanges(t *testing.T, root string, cs []Change) {
	t.Helper()
	for _, c := range cs {
		p := filepath.Join(root, c.Path)
		switch c.Op {
		case "unlink":
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		case "symlink":
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(c.Target, p); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func rcLinks(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(filepath.Join(root, "etc"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 || !strings.Contains(p, "/rc") {
			return err
		}
		target, err := os.Readlink(p)
		out["/"+strings.TrimPrefix(p, root+"/")] = target
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
