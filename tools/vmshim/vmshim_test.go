package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/baseimages/units"
)

func TestParseSystemctl(t *testing.T) {
	cases := []struct {
		args  []string
		verb  string
		names []string
		check func(sysOpts) bool
	}{
		{[]string{"--no-pager", "-q", "is-active", "nginx"}, "is-active", []string{"nginx"}, func(o sysOpts) bool { return o.quiet }},
		{[]string{"show", "x", "-p", "MainPID,ActiveState", "--value"}, "show", []string{"x"}, func(o sysOpts) bool {
			return reflect.DeepEqual(o.props, []string{"MainPID", "ActiveState"}) && o.value
		}},
		{[]string{"show", "--property=Id", "-pUser", "x"}, "show", []string{"x"}, func(o sysOpts) bool { return reflect.DeepEqual(o.props, []string{"Id", "User"}) }},
		{[]string{"enable", "--now", "a", "b"}, "enable", []string{"a", "b"}, func(o sysOpts) bool { return o.now }},
		{[]string{"list-units", "--type=service", "--all", "--state", "failed"}, "list-units", nil, func(o sysOpts) bool {
			return o.all && reflect.DeepEqual(o.types, []string{"service"}) && reflect.DeepEqual(o.states, []string{"failed"})
		}},
		{[]string{"kill", "-s", "HUP", "x"}, "kill", []string{"x"}, func(o sysOpts) bool { return o.signal == "HUP" }},
		{[]string{"status", "-n", "5", "-l", "x"}, "status", []string{"x"}, func(o sysOpts) bool { return o.lines == 5 && o.full }},
		{[]string{"-ql", "status", "x"}, "status", []string{"x"}, func(o sysOpts) bool { return o.quiet && o.full }},
		{[]string{"--no-block", "--no-ask-password", "--system", "restart", "x"}, "restart", []string{"x"}, func(o sysOpts) bool { return o.noBlock }},
		{nil, "list-units", nil, func(sysOpts) bool { return true }},
	}
	for _, c := range cases {
		verb, names, o, err := parseSystemctl(c.args)
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if verb != c.verb || len(names) != len(c.names) || len(names) > 0 && !reflect.DeepEqual(names, c.names) || !c.check(o) {
			t.Errorf("%v: got verb %q names %q opts %+v", c.args, verb, names, o)
		}
	}
	if _, _, _, err := parseSystemctl([]string{"--user", "start", "x"}); err == nil {
		t.Error("--user accepted; it must say user managers are not supported")
	}
	if _, _, _, err := parseSystemctl([]string{"--bogus", "start"}); err == nil {
		t.Error("an unknown option was accepted")
	}
}

func TestUnitNames(t *testing.T) {
	for in, want := range map[string]string{"nginx": "nginx.service", "x.timer": "x.timer", "/lib/systemd/system/a.service": "a.service", "getty@tty1": "getty@tty1.service"} {
		if got := unitName(in); got != want {
			t.Errorf("unitName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"nginx.service": "unit-nginx", "getty@tty1.service": "unit-getty@tty1", `dev-disk\x2dby.service`: "unit-dev-disk_x2dby"} {
		if got := programOf(in); got != want {
			t.Errorf("programOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParsePower(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		verb string
		args []string
		want powerCmd
	}{
		{"reboot", nil, powerCmd{req: "reboot"}},
		{"reboot", []string{"-f", "--no-wall"}, powerCmd{req: "reboot"}},
		{"reboot", []string{"-fn"}, powerCmd{req: "reboot"}},
		{"reboot", []string{"-p"}, powerCmd{req: "reboot"}},
		{"reboot", []string{"--halt"}, powerCmd{req: "poweroff"}},
		{"reboot", []string{"-w"}, powerCmd{}},
		{"halt", nil, powerCmd{req: "poweroff"}},
		{"halt", []string{"--reboot"}, powerCmd{req: "reboot"}},
		{"poweroff", []string{"--force"}, powerCmd{req: "poweroff"}},
		{"shutdown", []string{"-h", "now"}, powerCmd{req: "poweroff"}},
		{"shutdown", []string{"-r", "now", "going down"}, powerCmd{req: "reboot"}},
		{"shutdown", []string{"-P", "+0"}, powerCmd{req: "poweroff"}},
		{"shutdown", []string{"-h", "0"}, powerCmd{req: "poweroff"}},
		{"shutdown", []string{"-r", "10", "back soon"}, powerCmd{req: "reboot", when: now.Add(10 * time.Minute)}},
		{"shutdown", []string{"-r", "+5"}, powerCmd{req: "reboot", when: now.Add(5 * time.Minute)}},
		{"shutdown", []string{"-h", "09:30"}, powerCmd{req: "poweroff", when: time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC)}},
		{"shutdown", []string{"-h", "11:15"}, powerCmd{req: "poweroff", when: time.Date(2026, 12, 2, 11, 15, 0, 0, time.UTC)}},
		{"shutdown", []string{"-c"}, powerCmd{req: "poweroff", cancel: true}},
		{"shutdown", []string{"--show"}, powerCmd{req: "poweroff", show: true}},
		// no time: "+1" as systemd, not now
		{"shutdown", nil, powerCmd{req: "poweroff", when: now.Add(time.Minute)}},
		{"shutdown", []string{"-r"}, powerCmd{req: "reboot", when: now.Add(time.Minute)}},
		{"shutdown", []string{"-k", "now"}, powerCmd{req: "poweroff", dryRun: true}},
		{"shutdown", []string{"-rk", "now"}, powerCmd{req: "reboot", dryRun: true}},
		{"telinit", []string{"6"}, powerCmd{req: "reboot"}},
		{"telinit", []string{"0"}, powerCmd{req: "poweroff"}},
		{"telinit", []string{"q"}, powerCmd{reload: true}},
		{"telinit", []string{"3"}, powerCmd{}},
		{"runlevel", nil, powerCmd{}},
	}
	for _, c := range cases {
		got, err := parsePower(c.verb, c.args, now)
		if err != nil || got != c.want {
			t.Errorf("%s %v: got %+v %v, want %+v", c.verb, c.args, got, err, c.want)
		}
	}
	for _, verb := range []string{"reboot", "halt", "poweroff", "shutdown", "telinit", "runlevel"} {
		helps := [][]string{{"--help"}, {"now", "--help"}}
		if verb != "shutdown" {
			helps = append(helps, []string{"-h"})
		}
		for _, args := range helps {
			if got, err := parsePower(verb, args, now); err != nil || !got.help || got.req != "" {
				t.Errorf("%s %v: got %+v %v, want help only", verb, args, got, err)
			}
		}
		for _, args := range [][]string{{"--hlep"}, {"-x"}, {"--bogus", "now"}} {
			if got, err := parsePower(verb, args, now); err == nil {
				t.Errorf("%s %v accepted: %+v", verb, args, got)
			}
		}
	}
	for _, c := range [][]string{{"shutdown", "-h", "+x"}, {"shutdown", "-r", "soon"}, {"shutdown", "-r", "-5"}, {"shutdown", "+-5"}, {"telinit"}, {"telinit", "7"}, {"reboot", "now"}} {
		if got, err := parsePower(c[0], c[1:], now); err == nil {
			t.Errorf("%v accepted: %+v", c, got)
		}
	}
}

// TestPowerHelpDoesNotAct: --help, -h and a typo print and never write a
// power request (which would reboot the container).
func TestPowerHelpDoesNotAct(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, powerDir), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VMSHIM_NO_KILL_INIT", "1")
	cases := []struct {
		verb string
		args []string
		code int
		out  string
	}{
		{"reboot", []string{"--help"}, 0, "usage: reboot"},
		{"reboot", []string{"-h"}, 0, "usage: reboot"},
		{"halt", []string{"--help"}, 0, "usage: halt"},
		{"poweroff", []string{"-h"}, 0, "usage: poweroff"},
		{"shutdown", []string{"--help"}, 0, "usage: shutdown"},
		{"telinit", []string{"--help"}, 0, "usage: telinit"},
		{"runlevel", []string{"--help"}, 0, "usage: runlevel"},
		{"reboot", []string{"--hlep"}, 1, "unknown option"},
		{"shutdown", []string{"-r", "--nwo"}, 1, "unknown option"},
		{"shutdown", []string{"-k", "now"}, 0, "keeps running"},
		{"shutdown", []string{"-r", "tomorrow"}, 1, "invalid time"},
	}
	for _, c := range cases {
		var out, errw bytes.Buffer
		s := &shim{root: root, out: &out, errw: &errw, now: time.Now}
		code := s.power(c.verb, c.args)
		if code != c.code || !strings.Contains(out.String()+errw.String(), c.out) {
			t.Errorf("%s %v: code %d, out %q, err %q; want %d and %q", c.verb, c.args, code, out.String(), errw.String(), c.code, c.out)
		}
		if _, err := os.Stat(filepath.Join(root, powerDir, "request")); err == nil {
			t.Fatalf("%s %v wrote a power request", c.verb, c.args)
		}
	}
}

func TestPowerRequestFile(t *testing.T) {
	root := t.TempDir()
	var out, errw bytes.Buffer
	s := &shim{root: root, out: &out, errw: &errw, now: time.Now}
	if code := s.power("reboot", nil); code != 1 || !strings.Contains(errw.String(), "fatbox restart NAME") {
		t.Fatalf("no power dir: code %d, stderr %q; want 1 and the fix", code, errw.String())
	}
	if err := os.MkdirAll(filepath.Join(root, powerDir), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VMSHIM_NO_KILL_INIT", "1")
	if code := s.power("shutdown", []string{"-h", "now"}); code != 0 {
		t.Fatalf("shutdown -h now: %d %s", code, errw.String())
	}
	b, err := os.ReadFile(filepath.Join(root, powerDir, "request"))
	if err != nil || string(b) != "poweroff\n" {
		t.Fatalf("request = %q, %v", b, err)
	}
	out.Reset()
	if s.power("runlevel", nil) != 0 || out.String() != "N 3\n" {
		t.Errorf("runlevel printed %q", out.String())
	}
}

func TestClassifyAndRestart(t *testing.T) {
	exited := func(n int) syscall.WaitStatus { return syscall.WaitStatus(n << 8) }
	killed := func(sig syscall.Signal) syscall.WaitStatus { return syscall.WaitStatus(sig) }
	svc := units.Service{Type: "simple", Restart: "on-failure", SuccessExitStatus: []int{42}}
	cases := []struct {
		ws      syscall.WaitStatus
		result  string
		clean   bool
		restart map[string]bool
	}{
		{exited(0), "success", true, map[string]bool{"on-failure": false, "always": true, "on-success": true, "on-abnormal": false, "no": false}},
		{exited(42), "success", true, map[string]bool{"on-failure": false}},
		{exited(1), "exit-code", false, map[string]bool{"on-failure": true, "on-abnormal": false, "on-success": false, "on-abort": false}},
		{killed(syscall.SIGKILL), "signal", false, map[string]bool{"on-failure": true, "on-abnormal": true, "on-abort": true}},
		{killed(syscall.SIGTERM), "success", true, map[string]bool{"on-failure": false, "always": true}},
	}
	for _, c := range cases {
		ex := classifyExit(c.ws, svc)
		if ex.Result != c.result || ex.Clean != c.clean {
			t.Errorf("%v: got %+v, want %s clean=%v", c.ws, ex, c.result, c.clean)
		}
		for policy, want := range c.restart {
			s := svc
			s.Restart = policy
			if got := shouldRestart(s, ex); got != want {
				t.Errorf("%v with Restart=%s: restart %v, want %v", c.ws, policy, got, want)
			}
		}
	}
	one := classifyExit(killed(syscall.SIGTERM), units.Service{Type: "oneshot"})
	if one.Clean {
		t.Error("SIGTERM is clean for a oneshot; systemd counts it a failure there")
	}
	prevent := units.Service{Restart: "always", RestartPreventExitStatus: []int{3}}
	if shouldRestart(prevent, classifyExit(exited(3), prevent)) {
		t.Error("RestartPreventExitStatus=3 did not prevent a restart")
	}
	force := units.Service{Restart: "no", RestartForceExitStatus: []int{0}}
	if !shouldRestart(force, classifyExit(exited(0), force)) {
		t.Error("RestartForceExitStatus=0 did not force a restart")
	}
}

func TestStartLimit(t *testing.T) {
	now := time.Now()
	var starts []time.Time
	for i := 0; i < 5; i++ {
		if startLimitHit(starts, now) {
			t.Fatalf("limit hit after %d starts", i)
		}
		starts = append(starts, now.Add(-time.Duration(i)*time.Second))
	}
	if !startLimitHit(starts, now) {
		t.Fatal("6th start within 10 s allowed")
	}
	if startLimitHit(starts, now.Add(11*time.Second)) {
		t.Fatal("limit still hit after the interval")
	}
}

// fakeTable is a process tree: supervisor 100 with a forked daemon 200
// (its parent exited, so re-parented to 100), the daemon's workers 201
// and 202, a zombie 300 and a control command 400.
func fakeTable() map[int]proc {
	return map[int]proc{
		1:   {PID: 1, PPID: 0, State: 'S', Start: 1},
		100: {PID: 100, PPID: 1, State: 'S', Start: 10},
		200: {PID: 200, PPID: 100, State: 'S', Start: 20},
		201: {PID: 201, PPID: 200, State: 'S', Start: 21},
		202: {PID: 202, PPID: 201, State: 'S', Start: 22},
		300: {PID: 300, PPID: 100, State: 'Z', Start: 15},
		400: {PID: 400, PPID: 100, State: 'R', Start: 30},
		500: {PID: 500, PPID: 1, State: 'S', Start: 5},
	}
}

func TestProcessTree(t *testing.T) {
	tab := fakeTable()
	if got := descendants(tab, 100); !reflect.DeepEqual(got, []int{200, 201, 202, 400}) {
		t.Errorf("descendants = %v", got)
	}
	pid, amb := guessMainPID(tab, 100, map[int]bool{400: true})
	if pid != 200 || amb {
		t.Errorf("guessMainPID = %d ambiguous=%v, want 200 (zombie and control command excluded)", pid, amb)
	}
	pid, amb = guessMainPID(tab, 100, nil)
	if pid != 200 || !amb {
		t.Errorf("with the control command counted: %d %v, want the oldest (200) and ambiguous", pid, amb)
	}
	if pid, _ := guessMainPID(tab, 999, nil); pid != 0 {
		t.Errorf("no children: %d", pid)
	}
	p, ok := parseStat("4242 (my (weird) proc) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 100")
	if !ok || p.PID != 4242 || p.PPID != 17 || p.State != 'S' || p.Start != 98765 || p.Comm != "my (weird) proc" {
		t.Errorf("parseStat = %+v %v", p, ok)
	}
}

func TestProgramView(t *testing.T) {
	cases := []struct {
		state  string
		status int
		active string
	}{
		{"Running", 0, stActive}, {"Starting", 0, stActivating}, {"Stopped", 0, stInactive},
		{"Exited", 0, stInactive}, {"Exited", -1, stInactive}, {"Exited", 2, stFailed},
		{"Fatal", 0, stFailed}, {"Backoff", 0, stActivating}, {"Stopping", 0, stDeactivating},
	}
	for _, c := range cases {
		v := programView("sshd.service", procInfo{Name: "sshd", Statename: c.state, Exitstatus: c.status, Pid: 7}, nil)
		if v.ActiveState != c.active {
			t.Errorf("%s/%d → %s, want %s", c.state, c.status, v.ActiveState, c.active)
		}
		if down := v.ActiveState == stInactive || v.ActiveState == stFailed; down != (v.MainPID == 0) {
			t.Errorf("%s: MainPID %d", c.state, v.MainPID)
		}
	}
}

func TestProgramViewSuccessExitStatus(t *testing.T) {
	// Tomcat ends with 143 on SIGTERM; tomcat10.service has SuccessExitStatus=143.
	p := procInfo{Name: "tomcat", Statename: "Exited", Exitstatus: 143}
	if v := programView("tomcat10.service", p, []int{143}); v.ActiveState != stInactive {
		t.Errorf("exit 143 with SuccessExitStatus=143: %s", v.ActiveState)
	}
	if v := programView("tomcat10.service", p, nil); v.ActiveState != stFailed {
		t.Errorf("exit 143 without SuccessExitStatus: %s", v.ActiveState)
	}
}

func TestXMLRPCDecode(t *testing.T) {
	const reply = `<methodResponse><params><param><value><array><data><value><struct>
<member><name>name</name><value><string>sshd</string></value></member>
<member><name>statename</name><value><string>Running</string></value></member>
<member><name>pid</name><value><int>42</int></value></member>
<member><name>exitstatus</name><value><int>-1</int></value></member>
<member><name>stdout_logfile</name><value><string>/var/log/supervisor/sshd.log</string></value></member>
</struct></value></data></array></value></param></params></methodResponse>`
	var r xresponse
	if err := xml.Unmarshal([]byte(reply), &r); err != nil {
		t.Fatal(err)
	}
	v := r.Params[0].Array.Values[0]
	if v.member("name").str() != "sshd" || v.member("pid").num() != 42 || v.member("exitstatus").num() != -1 || v.member("statename").str() != "Running" {
		t.Errorf("decoded %+v", v)
	}
	const fault = `<methodResponse><fault><value><struct><member><name>faultString</name><value><string>no such process</string></value></member></struct></value></fault></methodResponse>`
	var f xresponse
	if err := xml.Unmarshal([]byte(fault), &f); err != nil || f.Fault == nil || f.Fault.member("faultString").str() != "no such process" {
		t.Errorf("fault decoded as %+v, %v", f, err)
	}
	var b bytes.Buffer
	encodeParam(&b, "a<b")
	encodeParam(&b, true)
	if b.String() != "<param><value><string>a&lt;b</string></value></param><param><value><boolean>1</boolean></value></param>" {
		t.Errorf("encoded %s", b.String())
	}
}

func TestNotifyAndEnvFile(t *testing.T) {
	m := parseNotify("READY=1\nSTATUS=Serving 3 clients\nMAINPID=77\n")
	if m["READY"] != "1" || m["STATUS"] != "Serving 3 clients" || m["MAINPID"] != "77" {
		t.Errorf("parseNotify = %v", m)
	}
	f := filepath.Join(t.TempDir(), "env")
	os.WriteFile(f, []byte("# comment\n; also\nA=1\nexport B=\"two words\"\nC='$NOT'\nD=multi\\\nline\n\nbad line\n"), 0o644)
	kvs, err := readEnvFile(f)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"A", "1"}, {"B", "two words"}, {"C", "$NOT"}, {"D", "multiline"}}
	if !reflect.DeepEqual(kvs, want) {
		t.Errorf("readEnvFile = %q, want %q", kvs, want)
	}
}

func TestShowProperties(t *testing.T) {
	root := t.TempDir()
	var out bytes.Buffer
	s := &shim{root: root, out: &out, errw: &out, now: time.Now, loader: units.Loader{Root: root}}
	u := &units.Unit{Name: "app.service", Path: "/etc/systemd/system/app.service", Description: "My app", WantedBy: []string{"multi-user.target"},
		Service: units.Service{Type: "forking", Restart: "on-failure", User: "app", TimeoutStartSec: 90 * time.Second, TimeoutStopSec: 30 * time.Second, RestartSec: 100 * time.Millisecond,
			ExecReload: []units.Command{{Argv: []string{"/bin/kill", "-HUP", "$MAINPID"}}}, Limits: map[string]units.Rlimit{"nofile": {Soft: 1024, Hard: 65535}}}}
	tg := target{asked: "app", name: "app.service", unit: u}
	st := unitState{Unit: "app.service", ActiveState: stActive, SubState: "running", MainPID: 321, ExecMainPID: 321, NRestarts: 2, Result: "success", ActiveEnter: "2026-12-02T03:00:00Z"}
	props := map[string]string{}
	for _, p := range s.properties(tg, st) {
		props[p.k] = p.v
	}
	for k, want := range map[string]string{
		"Id": "app.service", "LoadState": "loaded", "ActiveState": "active", "SubState": "running", "MainPID": "321",
		"NRestarts": "2", "Type": "forking", "Restart": "on-failure", "User": "app", "CanReload": "yes",
		"FragmentPath": "/etc/systemd/system/app.service", "TimeoutStopUSec": "30s", "TimeoutStartUSec": "1min 30s",
		"RestartUSec": "100ms", "LimitNOFILE": "65535", "LimitNOFILESoft": "1024", "WantedBy": "multi-user.target", "Description": "My app",
	} {
		if props[k] != want {
			t.Errorf("%s=%q, want %q", k, props[k], want)
		}
	}
	if _, ok := props["LoadError"]; ok {
		t.Error("LoadError on a loaded unit: Ansible's systemd module would fail")
	}
	if !strings.HasPrefix(props["ActiveEnterTimestamp"], "Wed 2026-12-02 ") {
		t.Errorf("ActiveEnterTimestamp=%q", props["ActiveEnterTimestamp"])
	}

	missing := target{asked: "nope", name: "nope.service", loadErr: units.ErrNotFound}
	out.Reset()
	s.show([]target{missing}, nil, sysOpts{props: []string{"LoadState", "ActiveState"}})
	if out.String() != "LoadState=not-found\nActiveState=inactive\n" {
		t.Errorf("show -p of a missing unit printed %q", out.String())
	}
	out.Reset()
	bad := target{asked: "b", name: "b.service", loadErr: &units.UnsupportedError{Unit: "b.service", Directive: "RootDirectory", Value: "/x", Why: "no chroot here"}}
	s.show([]target{bad}, nil, sysOpts{props: []string{"LoadState", "LoadError"}, value: true})
	if !strings.HasPrefix(out.String(), "bad-setting\n") || !strings.Contains(out.String(), "RootDirectory=/x") {
		t.Errorf("show --value of an unsupported unit printed %q", out.String())
	}
}

func TestSystemdDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "infinity", 90 * time.Second: "1min 30s", 100 * time.Millisecond: "100ms", 25 * time.Hour: "1d 1h"} {
		if got := systemdDuration(d); got != want {
			t.Errorf("%v → %q, want %q", d, got, want)
		}
	}
}

func TestNextElapse(t *testing.T) {
	daily, err := units.ParseCalendar("daily")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	tm := &units.Timer{OnCalendar: []units.Calendar{daily}}
	if got := nextElapse(tm, now, now.Add(-time.Hour), now, time.Time{}, unitState{}, false); !got.Equal(time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("daily next = %v", got)
	}
	boot := now.Add(-10 * time.Minute)
	tm = &units.Timer{OnBootSec: 15 * time.Minute, OnUnitActiveSec: time.Hour}
	if got := nextElapse(tm, now, boot, now, time.Time{}, unitState{}, false); !got.Equal(boot.Add(15 * time.Minute)) {
		t.Errorf("OnBootSec next = %v", got)
	}
	svc := unitState{ActiveEnter: stamp(now.Add(-30 * time.Minute))}
	if got := nextElapse(tm, now, boot, now, now.Add(-30*time.Minute), svc, true); !got.Equal(now.Add(30 * time.Minute)) {
		t.Errorf("OnUnitActiveSec next = %v", got)
	}
}

func TestPersistentStamp(t *testing.T) {
	root := t.TempDir()
	s := &shim{root: root, now: time.Now}
	daily, _ := units.ParseCalendar("daily")
	u := &units.Unit{Name: "logrotate.timer", Timer: &units.Timer{OnCalendar: []units.Calendar{daily}, Persistent: true}}
	now := time.Now()
	if s.persistentCatchUp(u, now) {
		t.Fatal("a missing stamp fired the timer; systemd creates it without running")
	}
	if _, err := os.Stat(s.stampPath(u.Name)); err != nil {
		t.Fatalf("stamp not created: %v", err)
	}
	if s.persistentCatchUp(u, now) {
		t.Fatal("a fresh stamp fired the timer")
	}
	old := now.Add(-50 * time.Hour)
	os.Chtimes(s.stampPath(u.Name), old, old)
	if !s.persistentCatchUp(u, now) {
		t.Fatal("a stamp two days old did not fire a daily timer")
	}
}

func TestOrderByAfter(t *testing.T) {
	mk := func(name string, after ...string) target {
		return target{name: name, unit: &units.Unit{Name: name, After: after}}
	}
	got := orderByAfter([]target{mk("app.service", "db.service"), mk("db.service"), mk("web.service", "app.service")})
	var names []string
	for _, g := range got {
		names = append(names, g.name)
	}
	if !reflect.DeepEqual(names, []string{"db.service", "app.service", "web.service"}) {
		t.Errorf("order = %v", names)
	}
}

func TestLookupAccount(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/bash\napp:x:1001:1001::/srv/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\napp:x:1001:\nadm:x:4:syslog,app\nwww:x:33:\n"), 0o644)
	s := &shim{root: root}
	a, err := s.lookupAccount("app", "", []string{"www"})
	if err != nil {
		t.Fatal(err)
	}
	if a.UID != 1001 || a.GID != 1001 || a.Home != "/srv/app" || !reflect.DeepEqual(a.Groups, []int{4, 33}) || !reflect.DeepEqual(a.GNames, []string{"app", "adm", "www"}) {
		t.Errorf("account = %+v", a)
	}
	if _, err := s.lookupAccount("ghost", "", nil); err == nil || !strings.Contains(err.Error(), "useradd") {
		t.Errorf("missing user: %v", err)
	}
}

func TestProgramRunningSameDaemon(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"usr/libexec/tomcat10/tomcat-start.sh", "usr/sbin/sshd", "usr/bin/python3", "opt/app.py", "opt/other.py"} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(root, f), nil, 0o755)
	}
	os.MkdirAll(filepath.Join(root, "etc/supervisor"), 0o755)
	os.WriteFile(filepath.Join(root, supervisordConf), []byte(`[supervisord]
logfile=/x
[program:tomcat]
command=/usr/libexec/tomcat10/tomcat-start.sh
autostart=false
[program:sshd]
command=/bin/sh -c 'mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e'
[program:app]
command=/usr/bin/python3 /opt/app.py
`), 0o644)
	s := &shim{root: root}
	progs := []procInfo{{Name: "tomcat"}, {Name: "sshd"}, {Name: "app"}, {Name: "unit-x"}}
	unit := func(argv ...string) *units.Unit {
		return &units.Unit{Service: units.Service{ExecStart: []units.Command{{Argv: argv}}}}
	}
	for want, u := range map[string]*units.Unit{
		"tomcat": unit("/bin/sh", "/usr/libexec/tomcat10/tomcat-start.sh"),
		"sshd":   unit("/usr/sbin/sshd", "-D", "$SSHD_OPTS"),
		"":       unit("/usr/bin/python3", "/opt/other.py"),
	} {
		if got := s.programRunning(u, progs); got != want {
			t.Errorf("%v: program %q, want %q", u.Service.ExecStart[0].Argv, got, want)
		}
	}
	if got := s.programRunning(unit("/usr/bin/python3", "/opt/app.py"), progs); got != "app" {
		t.Errorf("python3 /opt/app.py: %q, want app (the script, not the interpreter, names the daemon)", got)
	}
}

func TestLoadFailure(t *testing.T) {
	masked := target{name: "ssh.service", loadErr: units.ErrMasked, program: "sshd"}
	if e := loadFailure(masked, "start"); e == nil || e.code != 1 || !strings.Contains(e.msg, "is masked") {
		t.Errorf("start of a masked unit a program stands for: %v", e)
	}
	if e := loadFailure(masked, "stop"); e != nil {
		t.Errorf("stop of a masked unit: %v", e)
	}
	missing := target{name: "x.service", loadErr: units.ErrNotFound}
	if e := loadFailure(missing, "start"); e == nil || e.code != 5 || e.msg != "Failed to start x.service: Unit x.service not found." {
		t.Errorf("start of a missing unit: %+v", e)
	}
	if e := loadFailure(missing, "stop"); e == nil || e.code != 5 || e.msg != "Failed to stop x.service: Unit x.service not loaded." {
		t.Errorf("stop of a missing unit: %+v", e)
	}
	bad := target{name: "b.service", loadErr: &units.UnsupportedError{Unit: "b.service", Directive: "RootDirectory", Value: "/srv", Why: "no chroot"}}
	if e := loadFailure(bad, "start"); e == nil || e.code != 1 || strings.Contains(e.msg, "\n") || !strings.Contains(e.msg, "RootDirectory=/srv") {
		t.Errorf("start of an unsupported unit: %+v (want one line naming the directive)", e)
	}
	if e := jobFailed("a.service", "timeout"); !strings.HasPrefix(e.msg, "Job for a.service failed because a timeout was exceeded.") {
		t.Errorf("jobFailed: %q", e.msg)
	}
}

func TestProgramsFromConf(t *testing.T) {
	// A stand-in daemon: a copy of sleep under the test root's path, run
	// for real (the lookup reads /proc).
	root := t.TempDir()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	daemon := filepath.Join(root, "daemon")
	b, _ := os.ReadFile(sleep)
	os.WriteFile(daemon, b, 0o755)
	s := &shim{root: "/"}
	s.progCmds = map[string]string{"d": daemon + " 300", "gone": "/nonexistent/x"}
	cmd := exec.Command(daemon, "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	got := map[string]procInfo{}
	for _, p := range s.programsFromConf() {
		got[p.Name] = p
	}
	if p := got["d"]; p.Statename != "Running" || p.Pid != cmd.Process.Pid {
		t.Errorf("d = %+v, want Running with pid %d", p, cmd.Process.Pid)
	}
	if p := got["gone"]; p.Statename != "Stopped" {
		t.Errorf("gone = %+v", p)
	}
}

// TestCancelShutdownSparesReusedPID: a stale pid file naming a process that
// is not a waiting vmshim (here the test itself) kills nothing.
func TestCancelShutdownSparesReusedPID(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, runDir), 0o755); err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("%d reboot %s\n", os.Getpid(), time.Now().Add(time.Hour).Format(time.RFC3339))
	if err := os.WriteFile(filepath.Join(root, shutdownPID), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	s := &shim{root: root, out: &out, errw: &errw, now: time.Now}
	if code := s.power("shutdown", []string{"--show"}); code != 0 || out.Len() != 0 {
		t.Errorf("--show of a dead schedule: %d %q", code, out.String())
	}
	if code := s.power("shutdown", []string{"-c"}); code != 0 {
		t.Fatalf("shutdown -c: %d %s", code, errw.String())
	}
	if _, err := os.Stat(filepath.Join(root, shutdownPID)); err == nil {
		t.Error("pid file kept after shutdown -c")
	}
}

// TestInitRunsOnce: a second `vmshim init` (typed by hand while
// fatbox-init runs) refuses instead of starting the units and timers twice;
// arguments are refused, --help prints usage.
func TestInitRunsOnce(t *testing.T) {
	root := t.TempDir()
	var out, errw bytes.Buffer
	s := &shim{root: root, out: &out, errw: &errw, now: time.Now}
	release, err := s.lockInit()
	if err != nil {
		t.Fatal(err)
	}
	if code := s.initMain(nil); code != 1 || !strings.Contains(errw.String(), "already running") {
		t.Errorf("second init: code %d, stderr %q; want 1 and already running", code, errw.String())
	}
	release()
	if _, err := s.lockInit(); err != nil {
		t.Errorf("lock after release: %v", err)
	}
	errw.Reset()
	if code := s.initMain([]string{"6"}); code != 2 || !strings.Contains(errw.String(), "usage") {
		t.Errorf("vmshim init 6: code %d, stderr %q", code, errw.String())
	}
	if code := s.initMain([]string{"--help"}); code != 0 || !strings.Contains(out.String(), "usage: vmshim init") {
		t.Errorf("vmshim init --help: code %d, out %q", code, out.String())
	}
}

func TestParseJournal(t *testing.T) {
	cases := []struct {
		args []string
		want journalArgs
	}{
		{[]string{"-u", "nginx"}, journalArgs{units: []string{"nginx"}, lines: -1}},
		{[]string{"-fu", "nginx"}, journalArgs{units: []string{"nginx"}, lines: 10, follow: true}},
		{[]string{"-xefu", "nginx"}, journalArgs{units: []string{"nginx"}, lines: 10, follow: true}},
		{[]string{"-xeu", "nginx"}, journalArgs{units: []string{"nginx"}, lines: 1000}},
		{[]string{"-unginx", "-n20"}, journalArgs{units: []string{"nginx"}, lines: 20}},
		{[]string{"--no-pager", "-n", "5", "--unit=a", "-u", "b"}, journalArgs{units: []string{"a", "b"}, lines: 5}},
		{[]string{"-n", "-u", "a"}, journalArgs{units: []string{"a"}, lines: 10}},
		{[]string{"-f", "-n", "all", "-u", "a"}, journalArgs{units: []string{"a"}, lines: -1, follow: true}},
		{[]string{"-u", "a", "--since", "today", "-o", "cat", "-b"}, journalArgs{units: []string{"a"}, lines: -1}},
		{[]string{"-u", "a", "-f", "-n", "3"}, journalArgs{units: []string{"a"}, lines: 3, follow: true}},
	}
	for _, c := range cases {
		got := parseJournal(c.args)
		if strings.Join(got.units, ",") != strings.Join(c.want.units, ",") || got.lines != c.want.lines || got.follow != c.want.follow {
			t.Errorf("%v: got %+v, want %+v", c.args, got, c.want)
		}
	}
}

// TestProgramStopWait: supervisord's stopwaitsecs covers the whole stop
// run-unit may take (ExecStop and the kill, then ExecStopPost, each
// TimeoutStopSec=), so supervisord never kills run-unit mid-stop.
func TestProgramStopWait(t *testing.T) {
	s := &shim{root: t.TempDir(), self: "/.fatbox/vmshim"}
	cases := []struct {
		stop time.Duration
		want string
	}{
		{90 * time.Second, "stopwaitsecs=195\n"},
		{3 * time.Second, "stopwaitsecs=21\n"},
		{0, "stopwaitsecs=86400\n"},
	}
	for _, c := range cases {
		u := &units.Unit{Name: "x.service", Service: units.Service{TimeoutStopSec: c.stop}}
		if conf := s.renderProgramConf("x.service", u); !strings.Contains(conf, c.want) {
			t.Errorf("TimeoutStopSec=%s: conf\n%s\nwant %q", c.stop, conf, c.want)
		}
	}
}

// TestSetProgramDisabledConcurrent: concurrent systemctl disable/enable of
// different programs lose none of them.
func TestSetProgramDisabledConcurrent(t *testing.T) {
	root := t.TempDir()
	s := &shim{root: root}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := s.setProgramDisabled(fmt.Sprintf("prog%02d", i), true); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	b, err := os.ReadFile(filepath.Join(root, disabledPrograms))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if !strings.Contains(string(b), fmt.Sprintf("prog%02d\n", i)) {
			t.Errorf("prog%02d lost:\n%s", i, b)
		}
	}
}

// TestSystemctlRootOffline: systemctl --root=DIR (deb-systemd-helper in a
// chroot) changes DIR's links without asking the container's supervisord;
// with no supervisord socket it used to wait 5 s per call.
func TestSystemctlRootOffline(t *testing.T) {
	root := t.TempDir()
	unit := filepath.Join(root, "chroot/lib/systemd/system/en.service")
	if err := os.MkdirAll(filepath.Dir(unit), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unit, []byte("[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	s := &shim{root: root, out: &out, errw: &errw, now: time.Now, sock: filepath.Join(root, "missing.sock"), loader: units.Loader{Root: root}}
	start := time.Now()
	if code := s.systemctl([]string{"--root=/chroot", "enable", "en"}); code != 0 {
		t.Fatalf("enable: %d %s", code, errw.String())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("systemctl --root enable took %s", d)
	}
	link := filepath.Join(root, "chroot/etc/systemd/system/multi-user.target.wants/en.service")
	if dst, err := os.Readlink(link); err != nil || dst != "/lib/systemd/system/en.service" {
		t.Errorf("link %s -> %q, %v", link, dst, err)
	}
	if code := s.systemctl([]string{"--root=/chroot", "start", "en"}); code == 0 || !strings.Contains(errw.String(), "--root") {
		t.Errorf("start with --root: %d %q; want a failure naming --root", code, errw.String())
	}
}

// TestKillUnknownUnit: systemctl kill of a unit that does not exist fails
// as systemd's does (it returned 0).
func TestKillUnknownUnit(t *testing.T) {
	root := t.TempDir()
	var out, errw bytes.Buffer
	s := &shim{root: root, out: &out, errw: &errw, now: time.Now, sock: "/dev/null/no-supervisord", loader: units.Loader{Root: root}}
	if code := s.systemctl([]string{"kill", "nope"}); code != 1 || !strings.Contains(errw.String(), "Failed to kill unit nope.service") {
		t.Errorf("kill nope: %d %q", code, errw.String())
	}
}

// TestTimerFirstSightAfterRestart: a fatbox-init restarted by supervisord
// does not fire OnBootSec= timers a second time in the same boot.
func TestTimerFirstSightAfterRestart(t *testing.T) {
	root := t.TempDir()
	s := &shim{root: root}
	boot := time.Now().Add(-time.Hour)
	tm := &units.Timer{OnBootSec: 15 * time.Minute}
	u := &units.Unit{Name: "clean.timer", Timer: tm}
	fresh := &timerSet{seen: map[string]time.Time{}, last: map[string]time.Time{}, fired: map[string]bool{}, running: map[string]bool{}}
	now := time.Now()
	s.firstSight(fresh, u, now, boot)
	if next := nextElapse(tm, now, boot, fresh.seen[u.Name], fresh.last[u.Name], unitState{}, fresh.fired[u.Name]); next.IsZero() || next.After(now) {
		t.Fatalf("first loop of the boot: OnBootSec elapse %v, want due now", next)
	}
	s.touchStamp(u.Name, boot.Add(15*time.Minute)) // it fired in this boot
	again := &timerSet{seen: map[string]time.Time{}, last: map[string]time.Time{}, fired: map[string]bool{}, running: map[string]bool{}}
	s.firstSight(again, u, now, boot)
	if next := nextElapse(tm, now, boot, again.seen[u.Name], again.last[u.Name], unitState{}, again.fired[u.Name]); !next.IsZero() {
		t.Errorf("restarted loop: OnBootSec fires again at %v", next)
	}
	s.touchStamp(u.Name, boot.Add(-24*time.Hour)) // a stamp from an earlier boot
	prev := &timerSet{seen: map[string]time.Time{}, last: map[string]time.Time{}, fired: map[string]bool{}, running: map[string]bool{}}
	s.firstSight(prev, u, now, boot)
	if prev.fired[u.Name] {
		t.Error("a stamp of an earlier boot marked OnBootSec done")
	}
}

// TestListUnitFilesLikeSystemd: the output systemd 252's
// `systemctl --root=DIR list-unit-files --type service` prints for the
// same two units (header PRESET, no preset for a static unit).
func TestListUnitFilesLikeSystemd(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "lib/systemd/system")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "st.service"), []byte("[Service]\nExecStart=/bin/true\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "en.service"), []byte("[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"), 0o644)
	var out, errw bytes.Buffer
	s := &shim{root: root, out: &out, errw: &errw, now: time.Now, sock: "/dev/null/no-supervisord", loader: units.Loader{Root: root}}
	if code := s.systemctl([]string{"list-unit-files", "--type", "service", "--no-pager"}); code != 0 {
		t.Fatalf("code %d: %s", code, errw.String())
	}
	want := "UNIT FILE  STATE    PRESET\nen.service disabled enabled\nst.service static   -\n\n2 unit files listed.\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant (systemd 252)\n%s", out.String(), want)
	}
	for unit, want := range map[string]string{
		"st": "Loaded: loaded (/lib/systemd/system/st.service; static)\n",
		"en": "Loaded: loaded (/lib/systemd/system/en.service; disabled; preset: enabled)\n",
	} {
		out.Reset()
		s.systemctl([]string{"status", unit})
		if !strings.Contains(out.String(), want) {
			t.Errorf("status %s:\n%s\nwant %q", unit, out.String(), want)
		}
	}
}

// TestIsEnabledAlias: is-enabled of an Alias= name (sshd for ssh.service)
// answers "alias" as systemd 252's does, the real name its own state.
func TestIsEnabledAlias(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "lib/systemd/system")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "en.service"), []byte("[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlias=al.service\n"), 0o644)
	var out, errw bytes.Buffer
	s := &shim{root: root, out: &out, errw: &errw, now: time.Now, sock: "/dev/null/no-supervisord", loader: units.Loader{Root: root}}
	if code := s.systemctl([]string{"enable", "en"}); code != 0 {
		t.Fatalf("enable: %d %s", code, errw.String())
	}
	for name, want := range map[string]string{"en": "enabled\n", "al": "alias\n", "al.service": "alias\n"} {
		out.Reset()
		if code := s.systemctl([]string{"is-enabled", name}); code != 0 || out.String() != want {
			t.Errorf("is-enabled %s: %d %q, want %q", name, code, out.String(), want)
		}
	}
}

// TestStopTimeoutWithin: after a daemon-reload raised TimeoutStopSec=, the
// stop is capped to what the boot's program conf lets supervisord wait.
func TestStopTimeoutWithin(t *testing.T) {
	s := &shim{root: t.TempDir(), self: "/.fatbox/vmshim"}
	conf := s.renderProgramConf("db.service", &units.Unit{Name: "db.service", Service: units.Service{TimeoutStopSec: 90 * time.Second}})
	if _, ok := stopTimeoutWithin(conf, units.Service{TimeoutStopSec: 90 * time.Second}); ok {
		t.Error("capped a TimeoutStopSec= the conf was written for")
	}
	if _, ok := stopTimeoutWithin(conf, units.Service{TimeoutStopSec: 30 * time.Second}); ok {
		t.Error("capped a shorter TimeoutStopSec=")
	}
	for _, c := range []struct {
		svc  units.Service
		want time.Duration
	}{
		{units.Service{TimeoutStopSec: 10 * time.Minute}, 90 * time.Second},
		{units.Service{TimeoutStopSec: 0}, 90 * time.Second}, // infinity
	} {
		if got, ok := stopTimeoutWithin(conf, c.svc); !ok || got != c.want {
			t.Errorf("TimeoutStopSec=%s: %s %v, want %s", c.svc.TimeoutStopSec, got, ok, c.want)
		}
	}
	if _, ok := stopTimeoutWithin("[program:x]\n", units.Service{TimeoutStopSec: time.Hour}); ok {
		t.Error("capped without a stopwaitsecs")
	}
}

// TestDialRetryable: a missing control socket is waited for only while a
// supervisord runs (a reload re-creates it); without one, systemctl fails
// at once instead of 5 s per call.
func TestDialRetryable(t *testing.T) {
	yes := func() bool { return true }
	no := func() bool { return false }
	enoent := &net.OpError{Op: "dial", Net: "unix", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ENOENT}}
	refused := &net.OpError{Op: "dial", Net: "unix", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	denied := &net.OpError{Op: "dial", Net: "unix", Err: &os.SyscallError{Syscall: "connect", Err: syscall.EACCES}}
	cases := []struct {
		err   error
		alive func() bool
		want  bool
	}{
		{enoent, yes, true},
		{enoent, no, false},
		{refused, yes, true},
		{refused, no, false}, // a stale socket of a supervisord that exited
		{denied, yes, false},
	}
	for i, c := range cases {
		if got := dialRetryable(c.err, c.alive); got != c.want {
			t.Errorf("case %d (%v): %v, want %v", i, c.err, got, c.want)
		}
	}
}
