package units

import (
	"errors"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLexContinuationAndComments(t *testing.T) {
	src := "# comment\n; also a comment\n[Service]\nExecStart=/bin/echo a \\\n# skipped inside a continuation\n  b \\\n  c\nType=oneshot\n"
	as, err := lexUnit("x", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 2 || as[0].key != "ExecStart" || as[0].value != "/bin/echo a    b    c" || as[0].line != 4 || as[1].line != 8 {
		t.Fatalf("got %+v", as)
	}
	if _, err := lexUnit("x", strings.NewReader("Foo=bar\n")); err == nil {
		t.Error("an assignment outside a section was accepted")
	}
	if _, err := lexUnit("x", strings.NewReader("[Service]\njunk\n")); err == nil {
		t.Error("a line without = was accepted")
	}
}

func TestExecParsing(t *testing.T) {
	id := func(s string) (string, error) { return s, nil }
	tests := []struct {
		in   string
		want []Command
	}{
		{`/usr/sbin/nginx -g 'daemon on; master_process on;'`, []Command{{Argv: []string{"/usr/sbin/nginx", "-g", "daemon on; master_process on;"}}}},
		{`-/bin/false`, []Command{{Argv: []string{"/bin/false"}, IgnoreFailure: true}}},
		{`@/bin/sleep sleeper 5`, []Command{{Argv: []string{"/bin/sleep", "5"}, Argv0: "sleeper"}}},
		{`+-:/bin/x`, []Command{{Argv: []string{"/bin/x"}, Privileged: true, IgnoreFailure: true, NoEnvExpand: true}}},
		{`!!/bin/x`, []Command{{Argv: []string{"/bin/x"}, Privileged: true}}},
		{`-@/bin/x y`, []Command{{Argv: []string{"/bin/x"}, Argv0: "y", IgnoreFailure: true}}},
		{`echo "a \"b\" c" d\ e 'x'y"z" \x41\t`, []Command{{Argv: []string{"echo", `a "b" c`, `d\ e`, "xyz", "A\t"}}}},
		{`/bin/a 1 ; /bin/b "2 ;" \;`, []Command{{Argv: []string{"/bin/a", "1"}}, {Argv: []string{"/bin/b", "2 ;", ";"}}}},
	}
	for _, tt := range tests {
		got, err := parseExec(tt.in, id)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		for i := range got {
			got[i].Raw = ""
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got  %+v\n want %+v", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{`/bin/echo "unterminated`, `-`, `bin/relative x`, `@/bin/x`} {
		if _, err := parseExec(bad, id); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"OPTS": `-a  -b "c d"`, "ONE": "x y", "EMPTY": ""}
	c := Command{Argv: []string{"/bin/p", "$OPTS", "${ONE}", "pre${ONE}post", "$ONE/z", "$UNSET", "${UNSET}", "$$HOME", "${EMPTY:-def}", "${ONE:+alt}", "$EMPTY"}}
	got := c.Expand(env)
	want := []string{"/bin/p", "-a", "-b", "c d", "x y", "prex ypost", "x y/z", "", "$HOME", "def", "alt"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Expand:\n got  %q\n want %q", got, want)
	}
	c.NoEnvExpand = true
	if got := c.Expand(env); !reflect.DeepEqual(got, c.Argv) {
		t.Errorf("NoEnvExpand expanded: %q", got)
	}
}

func TestSpecifiers(t *testing.T) {
	s := specifierContext{name: "getty@tty1.service", file: "/lib/systemd/system/getty@.service", hostname: "box.example", machine: "m1", arch: "x86-64"}
	tests := map[string]string{
		"%n %N %p %i %I":          "getty@tty1.service getty@tty1 getty tty1 tty1",
		"%t/%p %S %C %L %E %T %V": "/run/getty /var/lib /var/cache /var/log /etc /tmp /var/tmp",
		"%h %u %U %g %G %s":       "/root root 0 root 0 /bin/sh",
		"%H %l %m %a 100%%":       "box.example box m1 x86-64 100%",
		"%y %Y":                   "/lib/systemd/system/getty@.service /lib/systemd/system",
	}
	for in, want := range tests {
		got, err := s.resolve(in)
		if err != nil || got != want {
			t.Errorf("resolve(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	p := specifierContext{name: "systemd-fsck@dev-disk-by\\x2dlabel-root.service"}
	if got, _ := p.resolve("%f %j"); got != "/dev/disk/by-label/root fsck" {
		t.Errorf("%%f %%j = %q", got)
	}
	if _, err := s.resolve("date +%q%Z"); err == nil {
		t.Error("unknown specifier %Z accepted")
	}
}

func TestValues(t *testing.T) {
	for in, want := range map[string]time.Duration{"90": 90 * time.Second, "5min 20s": 320 * time.Second, "1h30m": 90 * time.Minute,
		"500ms": 500 * time.Millisecond, "2.5s": 2500 * time.Millisecond, "1d": 24 * time.Hour, "10us": 10 * time.Microsecond} {
		got, inf, err := parseTimespan(in)
		if err != nil || inf || got != want {
			t.Errorf("parseTimespan(%q) = %v %v %v, want %v", in, got, inf, err, want)
		}
	}
	if _, inf, _ := parseTimespan("infinity"); !inf {
		t.Error("infinity")
	}
	for _, bad := range []string{"", "5 parsecs", "min"} {
		if _, _, err := parseTimespan(bad); err == nil {
			t.Errorf("parseTimespan(%q) accepted", bad)
		}
	}
	for in, want := range map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "QUIT": syscall.SIGQUIT, "9": syscall.SIGKILL, "SIGRTMIN+2": 36, "RTMAX-1": 63} {
		if got, err := parseSignal(in); err != nil || got != want {
			t.Errorf("parseSignal(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := parseSignal("SIGFOO"); err == nil {
		t.Error("SIGFOO accepted")
	}
	for in, want := range map[string]bool{"yes": true, "on": true, "1": true, "true": true, "no": false, "off": false, "0": false, "FALSE": false} {
		if got, err := parseBool(in); err != nil || got != want {
			t.Errorf("parseBool(%q) = %v, %v", in, got, err)
		}
	}
	rl := []struct {
		in   string
		kind byte
		want Rlimit
	}{
		{"16384", 'n', Rlimit{16384, 16384}},
		{"1024:4096", 'n', Rlimit{1024, 4096}},
		{"infinity", 'b', Rlimit{Infinity, Infinity}},
		{"8M:infinity", 'b', Rlimit{8 << 20, Infinity}},
		{"64K", 'b', Rlimit{64 << 10, 64 << 10}},
		{"1h", 't', Rlimit{3600, 3600}},
		{"-5", 'i', Rlimit{25, 25}},
		{"10", 'i', Rlimit{10, 10}},
	}
	for _, tt := range rl {
		got, err := parseRlimit(tt.in, tt.kind)
		if err != nil || got != tt.want {
			t.Errorf("parseRlimit(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := parseRlimit("4096:1024", 'n'); err == nil {
		t.Error("soft above hard accepted")
	}
}

func parseString(t *testing.T, name, src string) (*Unit, error) {
	t.Helper()
	return Loader{Root: t.TempDir(), Hostname: "box"}.Parse(name, "/etc/systemd/system/"+name, strings.NewReader(src))
}

func TestServiceDirectives(t *testing.T) {
	u, err := parseString(t, "web.service", `[Unit]
Description=Web on %H
Wants=db.service network-online.target
ConditionPathExists=|/etc/web.conf
ConditionPathExists=|!/etc/web.disabled
AssertPathIsDirectory=/srv
X-Custom=ignored
Frobnicate=yes

[Service]
Type=exec
User=www-data
Group=www-data
SupplementaryGroups=ssl-cert adm
Environment="A=1 2" B=3
Environment=C=%n
EnvironmentFile=-/etc/default/web
PassEnvironment=TZ LANG
WorkingDirectory=-~
ExecStart=/usr/bin/web --port 80
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=2s
TimeoutSec=infinity
TimeoutStopSec=10
KillSignal=SIGINT
SuccessExitStatus=3 SIGUSR1
RestartPreventExitStatus=
LimitNOFILE=1024:65536
LimitCORE=infinity
UMask=0027
Nice=-5
StandardOutput=append:/var/log/web.log
StateDirectory=web/cache web
RuntimeDirectory=web
RuntimeDirectoryMode=0750
RuntimeDirectoryPreserve=restart
ProtectSystem=strict
PrivateTmp=no
MemoryMax=1G
StartLimitBurst=3
X-Other=fine

[Install]
WantedBy=multi-user.target
Alias=www.service
`)
	if err != nil {
		t.Fatal(err)
	}
	s := u.Service
	if u.Description != "Web on box" || s.Type != "exec" || s.User != "www-data" || !reflect.DeepEqual(s.SupplementaryGroups, []string{"ssl-cert", "adm"}) {
		t.Errorf("unit: %+v", u)
	}
	if !reflect.DeepEqual(s.Environment, []string{"A=1 2", "B=3", "C=web.service"}) {
		t.Errorf("Environment = %q", s.Environment)
	}
	if s.WorkingDirectory != "~" || !s.WorkingDirectoryOptional || s.EnvironmentFiles[0] != (EnvFile{"/etc/default/web", true}) {
		t.Errorf("WorkingDirectory %q %v, EnvironmentFiles %v", s.WorkingDirectory, s.WorkingDirectoryOptional, s.EnvironmentFiles)
	}
	if s.Restart != "always" || s.RestartSec != 2*time.Second || s.TimeoutStartSec != 0 || s.TimeoutStopSec != 10*time.Second {
		t.Errorf("restart/timeouts: %v %v %v %v", s.Restart, s.RestartSec, s.TimeoutStartSec, s.TimeoutStopSec)
	}
	if s.KillSignal != syscall.SIGINT || s.RestartKillSignal != syscall.SIGINT || !reflect.DeepEqual(s.SuccessExitStatus, []int{3}) || !reflect.DeepEqual(s.SuccessSignals, []syscall.Signal{syscall.SIGUSR1}) {
		t.Errorf("signals: %v %v %v %v", s.KillSignal, s.RestartKillSignal, s.SuccessExitStatus, s.SuccessSignals)
	}
	if s.Limits["nofile"] != (Rlimit{1024, 65536}) || s.Limits["core"] != (Rlimit{Infinity, Infinity}) || *s.UMask != 0o027 || *s.Nice != -5 {
		t.Errorf("limits %v umask %o nice %d", s.Limits, *s.UMask, *s.Nice)
	}
	if s.StandardOutput != "append:/var/log/web.log" || s.StandardError != "append:/var/log/web.log" {
		t.Errorf("output %q %q", s.StandardOutput, s.StandardError)
	}
	if !reflect.DeepEqual(s.StateDirectory, []string{"web", "web/cache"}) || s.RuntimeDirectoryMode != 0o750 || s.RuntimeDirectoryPreserve != "restart" {
		t.Errorf("directories %v %o %s", s.StateDirectory, s.RuntimeDirectoryMode, s.RuntimeDirectoryPreserve)
	}
	wantConds := []Condition{{Kind: "PathExists", Arg: "/etc/web.conf", Trigger: true}, {Kind: "PathExists", Arg: "/etc/web.disabled", Trigger: true, Negate: true}, {Kind: "PathIsDirectory", Arg: "/srv", Assert: true}}
	if !reflect.DeepEqual(u.Conditions, wantConds) {
		t.Errorf("conditions %+v", u.Conditions)
	}
	wantNotes := []string{
		"Wants=db.service is not enforced: dependencies are neither started nor stopped with the unit",
		"Frobnicate= in [Unit] is unknown and ignored (/etc/systemd/system/web.service:8)",
		"ProtectSystem=strict is not enforced: the container is the sandbox",
		"MemoryMax=1G is not enforced: resource control belongs to the fat container (set it with fatbox)",
		"StartLimitBurst=3 is not enforced: restarts are not rate-limited",
	}
	if !reflect.DeepEqual(u.Notes, wantNotes) {
		t.Errorf("notes:\n got  %q\n want %q", u.Notes, wantNotes)
	}
	if !reflect.DeepEqual(u.Aliases, []string{"www.service"}) || !reflect.DeepEqual(u.WantedBy, []string{"multi-user.target"}) {
		t.Errorf("install %v %v", u.Aliases, u.WantedBy)
	}
}

func TestDefaults(t *testing.T) {
	u, err := parseString(t, "a.service", "[Service]\nExecStart=/bin/a\n")
	if err != nil {
		t.Fatal(err)
	}
	s := u.Service
	if s.Type != "simple" || !s.GuessMainPID || s.Restart != "no" || s.RestartSec != 100*time.Millisecond || s.TimeoutStartSec != 90*time.Second ||
		s.TimeoutStopSec != 90*time.Second || s.KillMode != "control-group" || s.KillSignal != syscall.SIGTERM || !s.SendSIGKILL ||
		s.StandardOutput != "journal" || s.StandardError != "journal" || s.StandardInput != "null" || s.RuntimeDirectoryMode != 0o755 {
		t.Errorf("defaults: %+v", s)
	}
	u, err = parseString(t, "b.service", "[Service]\nExecStop=/bin/b\n")
	if err != nil || u.Service.Type != "oneshot" {
		t.Errorf("no ExecStart and no Type should be oneshot: %v %v", u, err)
	}
	if _, err := parseString(t, "c.service", "[Service]\nType=simple\n"); err == nil {
		t.Error("a service with no ExecStart= or ExecStop= was accepted")
	}
}

func TestUnsupported(t *testing.T) {
	tests := []struct{ src, directive, why string }{
		{"[Service]\nType=dbus\nBusName=org.x\nExecStart=/bin/x\n", "Type", "D-Bus"},
		{"[Service]\nExecStart=/bin/x\nDynamicUser=yes\n", "DynamicUser", "adduser --system"},
		{"[Service]\nBusName=org.freedesktop.login1\nExecStart=/bin/x\n", "BusName", "Type=dbus"},
		{"[Service]\nExecStart=/bin/x\nRootDirectory=/srv/root\n", "RootDirectory", "another root"},
		{"[Service]\nExecStart=/bin/x\nPAMName=login\n", "PAMName", "PAM"},
		{"[Service]\nExecStart=/bin/x\nTTYPath=/dev/tty1\n", "TTYPath", "terminal"},
		{"[Service]\nExecStart=/bin/x\nStandardInput=tty\n", "StandardInput", "/dev/null"},
		{"[Service]\nExecStart=/bin/x\nSockets=x.socket\n", "Sockets", "socket activation"},
		{"[Service]\nExecStart=/bin/x\nExecStrat=/bin/y\n", "ExecStrat", "typo"},
		{"[Service]\nExecStart=/bin/x\nExecStart=/bin/y\n", "ExecStart", "more than one ExecStart="},
		{"[Service]\nType=oneshot\nRestart=always\nExecStart=/bin/x\n", "Restart", "oneshot"},
		{"[Service]\nExecStart=/bin/x\nLoadCredential=key:/etc/key\n", "LoadCredential", "CREDENTIALS_DIRECTORY"},
	}
	for _, tt := range tests {
		_, err := parseString(t, "x.service", tt.src)
		var ue *UnsupportedError
		if !errors.As(err, &ue) {
			t.Errorf("%q: want UnsupportedError, got %v", tt.src, err)
			continue
		}
		if ue.Directive != tt.directive || !strings.Contains(ue.Why, tt.why) || !strings.HasPrefix(err.Error(), "x.service: "+tt.directive) {
			t.Errorf("%q: %v (directive %q)", tt.src, err, ue.Directive)
		}
	}
	// Type=oneshot takes several ExecStart=; an empty one resets the list.
	u, err := parseString(t, "y.service", "[Service]\nType=oneshot\nExecStart=/bin/a\nExecStart=/bin/b\nExecStart=\nExecStart=/bin/c\n")
	if err != nil || len(u.Service.ExecStart) != 1 || u.Service.ExecStart[0].Argv[0] != "/bin/c" {
		t.Errorf("reset: %v %v", u, err)
	}
	// Invalid values name the place.
	_, err = parseString(t, "z.service", "[Service]\nExecStart=/bin/x\nRestartSec=soon\n")
	if err == nil || !strings.Contains(err.Error(), "z.service: RestartSec=soon (/etc/systemd/system/z.service:3)") {
		t.Errorf("bad value error: %v", err)
	}
}

func TestUnitTypes(t *testing.T) {
	_, err := parseString(t, "x.path", "[Path]\nPathChanged=/etc/x\n")
	var ue *UnsupportedError
	if !errors.As(err, &ue) {
		t.Errorf(".path unit: %v", err)
	}
	u, err := parseString(t, "x.target", "[Unit]\nDescription=T\n[Install]\nWantedBy=multi-user.target\n")
	if err != nil || u.Description != "T" {
		t.Errorf(".target unit: %v %v", u, err)
	}
	if _, err := parseString(t, "t.timer", "[Timer]\nPersistent=true\n"); err == nil {
		t.Error("a timer without triggers was accepted")
	}
	u, err = parseString(t, "t.timer", "[Timer]\nOnBootSec=5min\nOnUnitActiveSec=1h\nUnit=other.service\nWakeSystem=yes\n")
	if err != nil || u.Timer.OnBootSec != 5*time.Minute || u.Timer.OnUnitActiveSec != time.Hour || u.Timer.Unit != "other.service" || len(u.Notes) != 1 {
		t.Errorf("timer: %+v %v", u, err)
	}
}

func TestPermissionsStartOnly(t *testing.T) {
	u, err := parseString(t, "p.service", "[Service]\nUser=app\nPermissionsStartOnly=true\nExecStartPre=/bin/mkdir -p /run/app\nExecStart=/usr/bin/app\nExecStop=/bin/kill $MAINPID\nExecSearchPath=/opt/bin:/usr/bin\n")
	if err != nil {
		t.Fatal(err)
	}
	s := u.Service
	if !s.ExecStartPre[0].Privileged || s.ExecStart[0].Privileged || !s.ExecStop[0].Privileged {
		t.Errorf("PermissionsStartOnly: pre %v start %v stop %v", s.ExecStartPre[0].Privileged, s.ExecStart[0].Privileged, s.ExecStop[0].Privileged)
	}
	if !reflect.DeepEqual(s.ExecSearchPath, []string{"/opt/bin", "/usr/bin"}) {
		t.Errorf("ExecSearchPath = %q", s.ExecSearchPath)
	}
}

func TestExitStatusNamesAndSuccessAction(t *testing.T) {
	u, err := parseString(t, "tmp.service", "[Service]\nType=oneshot\nExecStart=/bin/systemd-tmpfiles --create\nSuccessExitStatus=DATAERR CANTCREAT 3 SIGHUP\n")
	if err != nil || !reflect.DeepEqual(u.Service.SuccessExitStatus, []int{65, 73, 3}) || len(u.Service.SuccessSignals) != 1 {
		t.Errorf("SuccessExitStatus: %v %v", u, err)
	}
	// Debian's systemd-reboot.service: no command, only SuccessAction=.
	u, err = parseString(t, "r.service", "[Unit]\nDefaultDependencies=no\nSuccessAction=reboot-force\n")
	if err != nil || u.Service.Type != "oneshot" || len(u.Notes) != 1 || !strings.Contains(u.Notes[0], "run reboot or poweroff") {
		t.Errorf("SuccessAction unit: %+v %v", u, err)
	}
}

func TestOptionalCredentialsNoted(t *testing.T) {
	u, err := parseString(t, "tmpfiles.service", "[Service]\nType=oneshot\nExecStart=/bin/systemd-tmpfiles --create\nLoadCredential=tmpfiles.extra\nImportCredential=tmpfiles.*\n")
	if err != nil || len(u.Notes) != 2 || !strings.Contains(u.Notes[0], "no credential store") {
		t.Errorf("optional credentials: %v %v", u, err)
	}
}
