package e2ekit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// WaitAnswer polls url with curl from inside network namespace ns (a
// ClientNetns) until the answer, trimmed, is want, for up to 2 minutes;
// a failure names the last answer.
func WaitAnswer(t testing.TB, ns, url, want string) {
	t.Helper()
	var last string
	defer func() {
		if t.Failed() {
			t.Logf("last answer from %s: %q", url, last)
		}
	}()
	WaitFor(t, 2*time.Minute, url+" answering "+want, func() bool {
		b, _ := exec.Command("nsenter", "--net=/var/run/netns/"+ns, "curl", "-s", "-m", "2", url).CombinedOutput()
		last = string(b)
		return strings.TrimSpace(last) == want
	})
}

// SameTree fails the test unless directories a and b hold the same
// entries with the same modes and bytes (a regenerated build context).
func SameTree(t testing.TB, a, b string) {
	t.Helper()
	files := func(root string) map[string]string {
		out := map[string]string{}
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			info, err := d.Info()
			if err != nil {
				return err
			}
			content := ""
			if d.Type().IsRegular() {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				content = string(b)
			}
			out[rel] = info.Mode().String() + "\n" + content
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	fa, fb := files(a), files(b)
	for rel, v := range fa {
		if w, ok := fb[rel]; !ok {
			t.Errorf("%s is in %s, not in %s", rel, a, b)
		} else if w != v {
			t.Errorf("%s differs between %s and %s", rel, a, b)
		}
	}
	for rel := range fb {
		if _, ok := fa[rel]; !ok {
			t.Errorf("%s is in %s, not in %s", rel, b, a)
		}
	}
}
