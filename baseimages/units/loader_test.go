package units

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func symlink(t *testing.T, root, p, target string) {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		t.Fatal(err)
	}
}

func TestDropIns(t *testing.T) {
	root := debianRoot(t)
	// /etc beats /lib for a drop-in of the same name; order is by file name across directories.
	writeFile(t, root, "lib/systemd/system/nginx.service.d/50-vendor.conf", "[Service]\nTimeoutStopSec=30\n", 0o644)
	writeFile(t, root, "lib/systemd/system/nginx.service.d/60-limits.conf", "[Service]\nLimitNOFILE=4096\n", 0o644)
	writeFile(t, root, "etc/systemd/system/nginx.service.d/60-limits.conf", "[Service]\nLimitNOFILE=65536\n", 0o644)
	writeFile(t, root, "etc/systemd/system/nginx.service.d/override.conf", "[Service]\nExecStart=\nExecStart=/usr/sbin/nginx -g 'daemon on;' -c /etc/nginx/alt.conf\n", 0o644)
	writeFile(t, root, "run/systemd/system/service.d/10-all.conf", "[Service]\nEnvironment=ALL=1\n", 0o644)
	writeFile(t, root, "etc/systemd/system/nginx.service.d/notes.txt", "[Service]\nBogus=1\n", 0o644)
	u, err := Loader{Root: root}.Load("nginx")
	if err != nil {
		t.Fatal(err)
	}
	wantDropIns := []string{"/run/systemd/system/service.d/10-all.conf", "/lib/systemd/system/nginx.service.d/50-vendor.conf",
		"/etc/systemd/system/nginx.service.d/60-limits.conf", "/etc/systemd/system/nginx.service.d/override.conf"}
	if !reflect.DeepEqual(u.DropIns, wantDropIns) {
		t.Errorf("DropIns:\n got  %q\n want %q", u.DropIns, wantDropIns)
	}
	s := u.Service
	if len(s.ExecStart) != 1 || !reflect.DeepEqual(s.ExecStart[0].Argv, []string{"/usr/sbin/nginx", "-g", "daemon on;", "-c", "/etc/nginx/alt.conf"}) {
		t.Errorf("ExecStart = %+v", s.ExecStart)
	}
	if s.TimeoutStopSec != 30*time.Second || s.Limits["nofile"] != (Rlimit{65536, 65536}) || !reflect.DeepEqual(s.Environment, []string{"ALL=1"}) {
		t.Errorf("TimeoutStopSec %v Limits %v Environment %v", s.TimeoutStopSec, s.Limits, s.Environment)
	}
	// A drop-in that adds a second ExecStart without resetting is refused as systemd does.
	writeFile(t, root, "etc/systemd/system/cron.service.d/bad.conf", "[Service]\nExecStart=/usr/sbin/cron -f -L 15\n", 0o644)
	_, err = Loader{Root: root}.Load("cron")
	var ue *UnsupportedError
	if !errors.As(err, &ue) || ue.Directive != "ExecStart" || ue.File != "/etc/systemd/system/cron.service.d/bad.conf" || ue.Line != 2 {
		t.Errorf("second ExecStart from a drop-in: %v", err)
	}
}

func TestMaskAliasNotFound(t *testing.T) {
	root := debianRoot(t)
	l := Loader{Root: root}
	symlink(t, root, "etc/systemd/system/rsyslog.service", "/dev/null")
	writeFile(t, root, "etc/systemd/system/apt-daily.timer", "", 0o644)
	for _, n := range []string{"rsyslog", "apt-daily.timer"} {
		u, err := l.Load(n)
		if !errors.Is(err, ErrMasked) || u == nil || !u.Masked {
			t.Errorf("Load(%s) = %+v, %v; want masked", n, u, err)
		}
		if st, err := l.Enabled(n); st != "masked" || err != nil {
			t.Errorf("Enabled(%s) = %q, %v", n, st, err)
		}
	}
	if _, err := l.EnableChanges("rsyslog"); !errors.Is(err, ErrMasked) {
		t.Errorf("EnableChanges(masked) = %v", err)
	}
	// The alias symlink deb-systemd-helper makes: sshd.service → ssh.service.
	u, err := l.Load("sshd.service")
	if err != nil || u.Name != "ssh.service" || u.Aliases[0] != "sshd.service" {
		t.Errorf("Load(sshd) = %+v, %v", u, err)
	}
	if st, _ := l.Enabled("sshd"); st != "alias" {
		t.Errorf("Enabled(sshd) = %q, want alias", st)
	}
	_, err = l.Load("nosuch")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `unit "nosuch.service" not found (looked in /etc/systemd/system, /run/systemd/system`) {
		t.Errorf("Load(nosuch) = %v", err)
	}
	symlink(t, root, "etc/systemd/system/dangling.service", "/lib/systemd/system/gone.service")
	if _, err := l.Load("dangling"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "dangling symlink") {
		t.Errorf("Load(dangling) = %v", err)
	}
	// An /etc copy of a unit wins over /lib.
	writeFile(t, root, "etc/systemd/system/cron.service", "[Service]\nExecStart=/usr/sbin/cron -f -L 0\n", 0o644)
	u, err = l.Load("cron")
	if err != nil || u.Path != "/etc/systemd/system/cron.service" || u.Service.ExecStart[0].Argv[3] != "0" {
		t.Errorf("Load(cron) from /etc = %+v, %v", u, err)
	}
}

func TestTemplates(t *testing.T) {
	root := debianRoot(t)
	writeFile(t, root, "etc/systemd/system/e2scrub@.service.d/t.conf", "[Service]\nEnvironment=TEMPLATE=%i\n", 0o644)
	writeFile(t, root, "etc/systemd/system/e2scrub@dev-sdb.service.d/i.conf", "[Service]\nEnvironment=INSTANCE=%I\n", 0o644)
	u, err := Loader{Root: root}.Load("e2scrub@dev-sdb")
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "e2scrub@dev-sdb.service" || u.Path != "/lib/systemd/system/e2scrub@.service" || u.Service.ExecStart[0].Argv[2] != "dev/sdb" {
		t.Errorf("instance: %+v", u)
	}
	if !reflect.DeepEqual(u.Service.Environment, []string{"SERVICE_MODE=1", "INSTANCE=dev/sdb", "TEMPLATE=dev-sdb"}) {
		t.Errorf("Environment = %q", u.Service.Environment)
	}
}

func sysvRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, s := range []string{"cron", "ssh"} {
		b, err := os.ReadFile(filepath.Join("testdata/debian/etc/init.d", s))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, root, "etc/init.d/"+s, string(b), 0o755)
	}
	writeFile(t, root, "etc/init.d/README", "not a script", 0o644)
	writeFile(t, root, "etc/init.d/noreload", "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: noreload\n# Default-Start: 2 3 4 5\n# Default-Stop: 0 1 6\n### END INIT INFO\ncase $1 in start) ;; stop) ;; esac\n", 0o755)
	return root
}

func TestSysV(t *testing.T) {
	root := sysvRoot(t)
	l := Loader{Root: root}
	u, err := l.Load("cron")
	if err != nil {
		t.Fatal(err)
	}
	s := u.Service
	if !u.SysV || u.Path != "" || u.Description != "LSB: Regular background program processing daemon" || s.Type != "forking" ||
		!reflect.DeepEqual(s.ExecStart[0].Argv, []string{"/etc/init.d/cron", "start"}) || !reflect.DeepEqual(s.ExecStop[0].Argv, []string{"/etc/init.d/cron", "stop"}) ||
		len(s.ExecReload) != 1 || s.ExecReload[0].Argv[1] != "reload" || !s.RemainAfterExit || s.GuessMainPID || s.TimeoutStartSec != 5*time.Minute ||
		s.KillMode != "process" || !reflect.DeepEqual(s.SuccessExitStatus, []int{5, 6}) || s.IgnoreSIGPIPE || !reflect.DeepEqual(s.Environment, []string{"_SYSTEMCTL_SKIP_REDIRECT=1"}) || !reflect.DeepEqual(u.WantedBy, []string{"multi-user.target"}) {
		t.Errorf("SysV cron: %s", dump(u, time.Time{}))
	}
	u, err = l.Load("ssh")
	if err != nil || !reflect.DeepEqual(u.Aliases, []string{"sshd.service"}) {
		t.Errorf("ssh aliases from Provides: %v %v", u, err)
	}
	u, err = l.Load("noreload")
	if err != nil || len(u.Service.ExecReload) != 0 {
		t.Errorf("noreload: %v %v", u, err)
	}
	names, err := l.List()
	if err != nil || !reflect.DeepEqual(names, []string{"cron.service", "noreload.service", "ssh.service"}) {
		t.Errorf("List = %v, %v", names, err)
	}
	if st, _ := l.Enabled("cron"); st != "disabled" {
		t.Errorf("Enabled(cron) with no links = %q", st)
	}
	// update-rc.d cron defaults / enable / disable.
	cs, err := l.EnableChanges("cron")
	want := []Change{{"symlink", "/etc/rc2.d/S01cron", "../init.d/cron"}, {"symlink", "/etc/rc3.d/S01cron", "../init.d/cron"},
		{"symlink", "/etc/rc4.d/S01cron", "../init.d/cron"}, {"symlink", "/etc/rc5.d/S01cron", "../init.d/cron"}}
	if err != nil || !reflect.DeepEqual(cs, want) {
		t.Fatalf("EnableChanges(cron) = %v, %v", cs, err)
	}
	cs, _ = l.SysVLinks("noreload", true)
	if len(cs) != 7 || cs[4] != (Change{"symlink", "/etc/rc0.d/K01noreload", "../init.d/noreload"}) {
		t.Errorf("SysVLinks(noreload) = %v", cs)
	}
	for _, c := range want {
		symlink(t, root, c.Path, c.Target)
	}
	if st, _ := l.Enabled("cron"); st != "enabled" {
		t.Errorf("Enabled(cron) with S links = %q", st)
	}
	cs, err = l.DisableChanges("cron")
	if err != nil || len(cs) != 8 || cs[0] != (Change{"unlink", "/etc/rc2.d/S01cron", ""}) || cs[1] != (Change{"symlink", "/etc/rc2.d/K01cron", "../init.d/cron"}) {
		t.Errorf("DisableChanges(cron) = %v, %v", cs, err)
	}
	// A unit file hides the script.
	writeFile(t, root, "lib/systemd/system/cron.service", "[Service]\nExecStart=/usr/sbin/cron -f\n", 0o644)
	if u, err := l.Load("cron"); err != nil || u.SysV {
		t.Errorf("cron with a unit: %+v %v", u, err)
	}
}

func TestParseLSB(t *testing.T) {
	f, err := os.Open("testdata/debian/etc/init.d/cron")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := ParseLSB(f)
	want := LSB{
		Provides:         []string{"cron"},
		RequiredStart:    []string{"$remote_fs", "$syslog", "$time"},
		RequiredStop:     []string{"$remote_fs", "$syslog", "$time"},
		ShouldStart:      []string{"$network", "$named", "slapd", "autofs", "ypbind", "nscd", "nslcd", "winbind", "sssd"},
		ShouldStop:       []string{"$network", "$named", "slapd", "autofs", "ypbind", "nscd", "nslcd", "winbind", "sssd"},
		DefaultStart:     []int{2, 3, 4, 5},
		ShortDescription: "Regular background program processing daemon",
		Description:      "cron is a standard UNIX program that runs user-specified programs at periodic scheduled times. vixie cron adds a number of features to the basic UNIX cron, including better security and more powerful configuration options.",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseLSB(cron):\n got  %+v\n want %+v", got, want)
	}
	f2, err := os.Open("testdata/debian/etc/init.d/ssh")
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	got = ParseLSB(f2)
	if !reflect.DeepEqual(got.Provides, []string{"ssh", "sshd"}) || !reflect.DeepEqual(got.DefaultStart, []int{2, 3, 4, 5}) || got.DefaultStop != nil ||
		got.ShortDescription != "OpenBSD Secure Shell server" {
		t.Errorf("ParseLSB(ssh) = %+v", got)
	}
}

func TestEnableDisable(t *testing.T) {
	root := debianRoot(t)
	l := Loader{Root: root}
	states := map[string]string{"ssh": "enabled", "cron": "enabled", "nginx": "disabled", "rsyslog": "disabled", "logrotate.timer": "enabled",
		"logrotate.service": "static", "apt-daily.timer": "disabled", "e2scrub@.service": "static", "sshd": "alias"}
	for n, want := range states {
		if got, err := l.Enabled(n); got != want || err != nil {
			t.Errorf("Enabled(%s) = %q, %v; want %q", n, got, err, want)
		}
	}
	cs, err := l.EnableChanges("rsyslog")
	want := []Change{{"symlink", "/etc/systemd/system/syslog.service", "/lib/systemd/system/rsyslog.service"},
		{"symlink", "/etc/systemd/system/multi-user.target.wants/rsyslog.service", "/lib/systemd/system/rsyslog.service"}}
	if err != nil || !reflect.DeepEqual(cs, want) {
		t.Errorf("EnableChanges(rsyslog) = %v, %v", cs, err)
	}
	if got := cs[1].String(); got != "Created symlink /etc/systemd/system/multi-user.target.wants/rsyslog.service → /lib/systemd/system/rsyslog.service." {
		t.Errorf("String = %q", got)
	}
	if cs, err := l.EnableChanges("ssh"); err != nil || len(cs) != 0 {
		t.Errorf("EnableChanges(enabled ssh) = %v, %v", cs, err)
	}
	if cs, err := l.EnableChanges("logrotate.service"); err != nil || len(cs) != 0 {
		t.Errorf("EnableChanges(static) = %v, %v", cs, err)
	}
	cs, err = l.DisableChanges("ssh")
	want = []Change{{"unlink", "/etc/systemd/system/sshd.service", ""}, {"unlink", "/etc/systemd/system/multi-user.target.wants/ssh.service", ""}}
	if err != nil || !reflect.DeepEqual(cs, want) {
		t.Errorf("DisableChanges(ssh) = %v, %v", cs, err)
	}
	if got := cs[0].String(); got != `Removed "/etc/systemd/system/sshd.service".` {
		t.Errorf("String = %q", got)
	}
	// Also= and DefaultInstance=.
	writeFile(t, root, "lib/systemd/system/getty@.service", "[Service]\nExecStart=/sbin/agetty %I\n[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\nAlso=cron.service nginx.service\n", 0o644)
	cs, err = l.EnableChanges("getty@.service")
	want = []Change{{"symlink", "/etc/systemd/system/getty.target.wants/getty@tty1.service", "/lib/systemd/system/getty@.service"},
		{"symlink", "/etc/systemd/system/multi-user.target.wants/nginx.service", "/lib/systemd/system/nginx.service"}}
	if err != nil || !reflect.DeepEqual(cs, want) {
		t.Errorf("EnableChanges(getty@) = %v, %v", cs, err)
	}
	cs, _ = l.EnableChanges("getty@tty2")
	if len(cs) < 1 || cs[0].Path != "/etc/systemd/system/getty.target.wants/getty@tty2.service" {
		t.Errorf("EnableChanges(getty@tty2) = %v", cs)
	}
	symlink(t, root, "etc/systemd/system/getty.target.wants/getty@tty2.service", "/lib/systemd/system/getty@.service")
	if st, _ := l.Enabled("getty@tty2"); st != "enabled" {
		t.Errorf("Enabled(getty@tty2) = %q", st)
	}
	// A link in the way.
	writeFile(t, root, "etc/systemd/system/syslog.service", "[Service]\nExecStart=/bin/true\n", 0o644)
	if _, err := l.EnableChanges("rsyslog"); err == nil || !strings.Contains(err.Error(), "/etc/systemd/system/syslog.service exists and is not a symlink") {
		t.Errorf("EnableChanges over a file = %v", err)
	}
	wants, err := l.WantsOf("multi-user.target")
	if err != nil || !reflect.DeepEqual(wants, []string{"cron.service", "ssh.service"}) {
		t.Errorf("WantsOf = %v, %v", wants, err)
	}
	writeFile(t, root, "lib/systemd/system/multi-user.target", "[Unit]\nDescription=Multi-User System\n", 0o644)
	symlink(t, root, "etc/systemd/system/default.target", "/lib/systemd/system/multi-user.target")
	wants, err = l.WantsOf("default.target")
	if err != nil || !reflect.DeepEqual(wants, []string{"cron.service", "ssh.service"}) {
		t.Errorf("WantsOf(default.target) = %v, %v", wants, err)
	}
	wants, _ = l.WantsOf("timers.target")
	if !reflect.DeepEqual(wants, []string{"logrotate.timer"}) {
		t.Errorf("WantsOf(timers) = %v", wants)
	}
}

func TestList(t *testing.T) {
	names, err := Loader{Root: debianRoot(t)}.List()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(names, " ")
	for _, want := range []string{"apt-daily.timer", "e2scrub@.service", "nginx.service", "rescue-ssh.target", "sshd.service", "ssh.service"} {
		if !strings.Contains(" "+got+" ", " "+want+" ") {
			t.Errorf("List lacks %s: %s", want, got)
		}
	}
	if strings.Contains(got, "ssh.socket") {
		t.Errorf("List has a socket: %s", got)
	}
}

func TestRootConfinesSymlinks(t *testing.T) {
	root := t.TempDir()
	// Merged /usr: /lib → usr/lib, and an absolute link that must resolve inside root.
	symlink(t, root, "lib", "usr/lib")
	writeFile(t, root, "usr/lib/systemd/system/a.service", "[Service]\nExecStart=/bin/a\n", 0o644)
	symlink(t, root, "etc/systemd/system/b.service", "/lib/systemd/system/a.service")
	u, err := Loader{Root: root}.Load("b")
	if err != nil || u.Name != "a.service" || u.Path != "/lib/systemd/system/a.service" || u.Aliases[0] != "b.service" {
		t.Errorf("Load(b) = %+v, %v", u, err)
	}
	// Asked by its own name, the unit still knows the alias link.
	symlink(t, root, "usr/lib/systemd/system/c.service", "a.service")
	u, err = Loader{Root: root}.Load("a")
	if err != nil || !reflect.DeepEqual(u.Aliases, []string{"b.service", "c.service"}) {
		t.Errorf("Load(a).Aliases = %v, %v", u.Aliases, err)
	}
	outside := t.TempDir()
	writeFile(t, outside, "x.service", "[Service]\nExecStart=/bin/x\n", 0o644)
	symlink(t, root, "etc/systemd/system/up.service", strings.Repeat("../", 20)+outside+"/x.service")
	symlink(t, root, "etc/systemd/system/abs.service", outside+"/x.service")
	for _, n := range []string{"up", "abs"} {
		if u, err := (Loader{Root: root}).Load(n); !errors.Is(err, ErrNotFound) {
			t.Errorf("Load(%s) through a link out of root = %+v, %v; want not found", n, u, err)
		}
	}
}
