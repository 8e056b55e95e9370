package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fatbox/fatbox/baseimages/units"
)

// TestUpdateRCDDefaultsKeepsAdminChoice: update-rc.d NAME defaults (run by
// every package upgrade's postinst) creates links only when there are
// none, as Debian's does: a script disabled by hand stays disabled, and
// "stop" is an old spelling of defaults, not a disable.
func TestUpdateRCDDefaultsKeepsAdminChoice(t *testing.T) {
	root := t.TempDir()
	script := "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: foo\n# Default-Start: 2 3 4 5\n# Default-Stop: 0 1 6\n### END INIT INFO\nexit 0\n"
	if err := os.MkdirAll(filepath.Join(root, "etc/init.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/init.d/foo"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	s := &shim{root: root, out: &out, errw: &errw, now: time.Now, sock: "/dev/null/no-supervisord", loader: units.Loader{Root: root}}
	links := func() string {
		var b bytes.Buffer
		for lvl := 0; lvl <= 6; lvl++ {
			b.WriteString(s.rcLinks("foo")[lvl])
		}
		return b.String()
	}
	steps := []struct {
		args []string
		code int
		want string // S/K per runlevel 0..6
	}{
		{[]string{"foo", "defaults"}, 0, "KKSSSSK"},
		{[]string{"foo", "disable"}, 0, "KKKKKKK"},
		{[]string{"foo", "defaults"}, 0, "KKKKKKK"},
		{[]string{"foo", "stop", "20", "0", "1", "6", "."}, 0, "KKKKKKK"},
		{[]string{"foo", "enable"}, 0, "KKSSSSK"},
		{[]string{"-f", "foo", "remove"}, 0, ""},
		{[]string{"foo", "defaults-disabled"}, 0, "KKKKKKK"},
		{[]string{"bar", "defaults"}, 1, "KKKKKKK"},
	}
	for _, st := range steps {
		errw.Reset()
		if code := s.updateRCD(st.args); code != st.code {
			t.Fatalf("update-rc.d %v: code %d (%s), want %d", st.args, code, errw.String(), st.code)
		}
		if got := links(); got != st.want {
			t.Fatalf("after update-rc.d %v: links %q, want %q", st.args, got, st.want)
		}
	}
}

// TestChkconfigAddKeepsOff: chkconfig --add (an RPM's %post, at every
// upgrade) does not turn a service the admin switched off back on.
func TestChkconfigAddKeepsOff(t *testing.T) {
	root := t.TempDir()
	script := "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: foo\n# Default-Start: 2 3 4 5\n# Default-Stop: 0 1 6\n### END INIT INFO\nexit 0\n"
	if err := os.MkdirAll(filepath.Join(root, "etc/init.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/init.d/foo"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	s := &shim{root: root, out: &out, errw: &errw, now: time.Now, sock: "/dev/null/no-supervisord", loader: units.Loader{Root: root}}
	for _, args := range [][]string{{"--add", "foo"}, {"foo", "off"}, {"--add", "foo"}} {
		if code := s.chkconfig(args); code != 0 {
			t.Fatalf("chkconfig %v: %d %s", args, code, errw.String())
		}
	}
	if code := s.chkconfig([]string{"foo"}); code != 1 {
		t.Errorf("chkconfig foo after off and --add: %d, want 1 (off)", code)
	}
	if s.rcLinks("foo")[3] != "K" {
		t.Errorf("rc3.d: %q, want K", s.rcLinks("foo")[3])
	}
}
