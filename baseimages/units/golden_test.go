package units

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.txt from the current output (check the diff by hand)")

// debianRoot copies testdata/debian into a fresh root: unit files and init
// scripts from Debian 12 packages, and the links their maintainer scripts
// make (deb-systemd-helper: ssh, sshd alias, cron, logrotate.timer;
// update-rc.d: cron in rc2/rc3).
func debianRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("testdata/debian")); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"cron", "ssh", "nginx"} {
		if err := os.Chmod(filepath.Join(root, "etc/init.d", s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func writeFile(t *testing.T, root, p, body string, mode os.FileMode) {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

// dump renders what a unit means to the shim, one fact a line.
func dump(u *Unit, from time.Time) string {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) }
	p("Name: %s", u.Name)
	p("Path: %s", u.Path)
	for _, d := range u.DropIns {
		p("DropIn: %s", d)
	}
	p("Description: %s", u.Description)
	if len(u.Aliases) > 0 {
		p("Aliases: %s", strings.Join(u.Aliases, " "))
	}
	if len(u.WantedBy) > 0 {
		p("WantedBy: %s", strings.Join(u.WantedBy, " "))
	}
	if len(u.Requires)+len(u.Wants) > 0 {
		p("Wants: %s Requires: %s", strings.Join(u.Wants, " "), strings.Join(u.Requires, " "))
	}
	for _, c := range u.Conditions {
		p("Condition: %s", c)
	}
	if u.SysV {
		p("SysV: true")
	}
	if u.Timer != nil {
		tm := u.Timer
		p("Timer.Unit: %s", tm.Unit)
		p("Timer: Persistent=%v AccuracySec=%s RandomizedDelaySec=%s", tm.Persistent, formatTimespan(tm.AccuracySec), formatTimespan(tm.RandomizedDelaySec))
		for _, c := range tm.OnCalendar {
			n1 := c.Next(from)
			p("OnCalendar: %s next %s then %s", c, n1.Format(time.RFC3339), c.Next(n1).Format(time.RFC3339))
		}
	} else if strings.HasSuffix(u.Name, ".service") {
		s := u.Service
		p("Type: %s", s.Type)
		for _, e := range []struct {
			n  string
			cs []Command
		}{{"ExecCondition", s.ExecCondition}, {"ExecStartPre", s.ExecStartPre}, {"ExecStart", s.ExecStart}, {"ExecStartPost", s.ExecStartPost},
			{"ExecReload", s.ExecReload}, {"ExecStop", s.ExecStop}, {"ExecStopPost", s.ExecStopPost}} {
			for _, c := range e.cs {
				p("%s: %q ignore=%v priv=%v argv0=%q", e.n, c.Argv, c.IgnoreFailure, c.Privileged, c.Argv0)
			}
		}
		p("PIDFile=%q RemainAfterExit=%v GuessMainPID=%v User=%q Group=%q", s.PIDFile, s.RemainAfterExit, s.GuessMainPID, s.User, s.Group)
		p("Restart=%s RestartSec=%s TimeoutStartSec=%s TimeoutStopSec=%s", s.Restart, formatTimespan(s.RestartSec), formatTimespan(s.TimeoutStartSec), formatTimespan(s.TimeoutStopSec))
		p("KillMode=%s KillSignal=%d SendSIGKILL=%v IgnoreSIGPIPE=%v", s.KillMode, s.KillSignal, s.SendSIGKILL, s.IgnoreSIGPIPE)
		p("StandardOutput=%s StandardError=%s SyslogIdentifier=%q", s.StandardOutput, s.StandardError, s.SyslogIdentifier)
		if len(s.Environment) > 0 {
			p("Environment: %q", s.Environment)
		}
		for _, f := range s.EnvironmentFiles {
			p("EnvironmentFile: %s optional=%v", f.Path, f.Optional)
		}
		if s.WorkingDirectory != "" {
			p("WorkingDirectory: %s", s.WorkingDirectory)
		}
		if len(s.RuntimeDirectory) > 0 {
			p("RuntimeDirectory: %q mode %o", s.RuntimeDirectory, s.RuntimeDirectoryMode)
		}
		if len(s.RestartPreventExitStatus) > 0 {
			p("RestartPreventExitStatus: %v", s.RestartPreventExitStatus)
		}
		keys := make([]string, 0, len(s.Limits))
		for k := range s.Limits {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p("Limit %s: %d:%d", k, s.Limits[k].Soft, s.Limits[k].Hard)
		}
		if s.Nice != nil {
			p("Nice: %d", *s.Nice)
		}
	}
	for _, n := range u.Notes {
		p("Note: %s", n)
	}
	return b.String()
}

// TestDebianUnitsGolden loads real Debian 12 units and compares what the
// shim would run with testdata/golden/<unit>.txt (hand-checked).
func TestDebianUnitsGolden(t *testing.T) {
	root := debianRoot(t)
	l := Loader{Root: root, Hostname: "box", MachineID: "0123456789abcdef0123456789abcdef"}
	from := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	for _, name := range []string{"nginx", "ssh.service", "sshd", "cron", "rsyslog", "logrotate.service", "logrotate.timer",
		"dpkg-db-backup.service", "dpkg-db-backup.timer", "apt-daily.timer", "apt-daily.service", "apt-daily-upgrade.timer",
		"apt-daily-upgrade.service", "e2scrub_all.timer", "e2scrub_all.service", "e2scrub_reap.service", "e2scrub@-dev-sda1.service",
		"e2scrub_fail@dm-0.service", "mariadb", "mysql", "apache2", "redis-server", "postgresql@15-main", "php8.2-fpm",
		"memcached", "haproxy", "pg_dump@15-main.timer"} {
		t.Run(name, func(t *testing.T) {
			u, err := l.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			got := dump(u, from)
			golden := filepath.Join("testdata/golden", normalizeName(name)+".txt")
			if *update {
				if err := os.MkdirAll("testdata/golden", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s:\n--- got\n%s--- want\n%s", name, golden, got, want)
			}
		})
	}
}

// TestDebianDbusRefused: polkit.service is Type=dbus.
func TestDebianDbusRefused(t *testing.T) {
	_, err := Loader{Root: debianRoot(t)}.Load("polkit")
	var ue *UnsupportedError
	if !errors.As(err, &ue) || ue.Directive != "Type" || ue.Value != "dbus" || ue.File != "/lib/systemd/system/polkit.service" || ue.Line == 0 {
		t.Fatalf("Load(polkit) = %v, want an UnsupportedError for Type=dbus", err)
	}
	if st, err := (Loader{Root: debianRoot(t)}).Enabled("polkit"); err != nil || st != "static" {
		t.Errorf("Enabled(polkit) = %q, %v: enablement must work for units the shim cannot run", st, err)
	}
}

// TestDebianSocketRefused: ssh.socket asks for socket activation.
func TestDebianSocketRefused(t *testing.T) {
	l := Loader{Root: debianRoot(t)}
	_, err := l.Load("ssh.socket")
	var ue *UnsupportedError
	if !errors.As(err, &ue) {
		t.Fatalf("Load(ssh.socket) = %v, want an UnsupportedError", err)
	}
	want := "ssh.socket: ListenStream=22 (/lib/systemd/system/ssh.socket:7) is not supported: socket activation is not supported: start the service directly (systemctl start ssh.service)"
	if err.Error() != want {
		t.Errorf("error:\n got  %s\n want %s", err, want)
	}
}
