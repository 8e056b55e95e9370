package sshgw

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A bad reload keeps the last good rules and says so; a fixed file is
// taken again.
func TestReloadKeepsLastGood(t *testing.T) {
	file := filepath.Join(t.TempDir(), AccessFile)
	s := &Server{AccessFile: file}
	if _, err := s.Access(); err == nil || !strings.Contains(s.Status().ConfigError, "create it") {
		t.Fatalf("no file: Access() = %v, status %+v", err, s.Status())
	}
	write := func(text string, mod time.Time) {
		t.Helper()
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(file, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-time.Hour)
	write(goodAccess, t0)
	a, err := s.Access()
	if err != nil || len(a.Rules) != 2 || s.Status().ConfigError != "" || s.Status().Rules != 2 {
		t.Fatalf("good file: %v %+v", err, s.Status())
	}
	write(goodAccess+"  - name: broken\n    users: [nobody]\n", t0.Add(time.Minute))
	a2, err := s.Access()
	if err != nil || a2 != a {
		t.Fatalf("a bad reload replaced the rules: %v", err)
	}
	st := s.Status()
	if !strings.Contains(st.ConfigError, `access.yaml:23: rule "broken"`) || st.Rules != 2 || !st.LoadedAt.After(t0) {
		t.Fatalf("status after a bad reload: %+v", st)
	}
	write(strings.Replace(goodAccess, "deploy]", "deploy, www]", 1), t0.Add(2*time.Minute))
	a3, err := s.Access()
	if err != nil || a3 == a || s.Status().ConfigError != "" || a3.Rules[0].Logins[2] != "www" {
		t.Fatalf("the fixed file was not taken: %v %+v", err, s.Status())
	}
}
