package units

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestConditions(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "etc/ssh/sshd_config", "Port 22\n", 0o644)
	writeFile(t, root, "etc/empty", "", 0o644)
	writeFile(t, root, "usr/sbin/daemon", "#!/bin/sh\n", 0o755)
	writeFile(t, root, "srv/data/file", "x", 0o644)
	writeFile(t, root, "proc/self/status", "Name:\tx\nCapBnd:\t00000000a80425fb\n", 0o644)
	writeFile(t, root, "proc/cmdline", "ro quiet console=ttyS0\n", 0o644)
	writeFile(t, root, "proc/sys/kernel/osrelease", "6.1.0-28-amd64\n", 0o644)
	writeFile(t, root, "etc/hostname", "web1\n", 0o644)
	writeFile(t, root, "etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n", 0o644)
	symlink(t, root, "etc/alt", "/etc/ssh")
	if err := os.MkdirAll(filepath.Join(root, "srv/emptydir"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		c    Condition
		want bool
	}{
		{Condition{Kind: "PathExists", Arg: "/etc/ssh/sshd_config"}, true},
		{Condition{Kind: "PathExists", Arg: "/etc/ssh/sshd_not_to_be_run", Negate: true}, true},
		{Condition{Kind: "PathExists", Arg: "/etc/alt/sshd_config"}, true},
		{Condition{Kind: "PathExistsGlob", Arg: "/etc/ssh/*_config"}, true},
		{Condition{Kind: "PathIsDirectory", Arg: "/etc/ssh/sshd_config"}, false},
		{Condition{Kind: "PathIsDirectory", Arg: "/etc/alt"}, true},
		{Condition{Kind: "PathIsSymbolicLink", Arg: "/etc/alt"}, true},
		{Condition{Kind: "FileNotEmpty", Arg: "/etc/empty"}, false},
		{Condition{Kind: "FileNotEmpty", Arg: "/etc/hostname"}, true},
		{Condition{Kind: "FileIsExecutable", Arg: "/usr/sbin/daemon"}, true},
		{Condition{Kind: "FileIsExecutable", Arg: "/etc/hostname"}, false},
		{Condition{Kind: "DirectoryNotEmpty", Arg: "/srv/data"}, true},
		{Condition{Kind: "DirectoryNotEmpty", Arg: "/srv/emptydir"}, false},
		{Condition{Kind: "DirectoryNotEmpty", Arg: "/srv/none"}, false},
		{Condition{Kind: "Virtualization", Arg: "container"}, true},
		{Condition{Kind: "Virtualization", Arg: "yes"}, true},
		{Condition{Kind: "Virtualization", Arg: "kvm"}, false},
		{Condition{Kind: "Virtualization", Arg: "container", Negate: true}, false},
		{Condition{Kind: "ACPower", Arg: "true"}, true},
		{Condition{Kind: "Capability", Arg: "CAP_SYS_ADMIN"}, false},
		{Condition{Kind: "Capability", Arg: "CAP_NET_BIND_SERVICE"}, true},
		{Condition{Kind: "KernelCommandLine", Arg: "console"}, true},
		{Condition{Kind: "KernelCommandLine", Arg: "console=tty0"}, false},
		{Condition{Kind: "KernelVersion", Arg: ">=5.10"}, true},
		{Condition{Kind: "KernelVersion", Arg: "<6.1"}, false},
		{Condition{Kind: "KernelVersion", Arg: "6.1.*"}, true},
		{Condition{Kind: "Host", Arg: "web*"}, true},
		{Condition{Kind: "User", Arg: "root"}, true},
		{Condition{Kind: "User", Arg: "alice"}, false},
		{Condition{Kind: "OSRelease", Arg: "ID=debian VERSION_ID>=12"}, true},
		{Condition{Kind: "OSRelease", Arg: "ID=ubuntu"}, false},
		{Condition{Kind: "FirstBoot", Arg: "yes"}, false},
	}
	for _, tt := range tests {
		got, err := tt.c.Check(root)
		if err != nil || got != tt.want {
			t.Errorf("%s = %v, %v; want %v", tt.c, got, err, tt.want)
		}
	}
	// In a container: the manager's name, and PID 1's command line.
	writeFile(t, root, ".dockerenv", "", 0o644)
	writeFile(t, root, "proc/1/cmdline", "/.fatbox/supervisord\x00-c\x00/etc/supervisord.conf\x00", 0o644)
	for _, tt := range []struct {
		c    Condition
		want bool
	}{
		{Condition{Kind: "Virtualization", Arg: "docker"}, true},
		{Condition{Kind: "Virtualization", Arg: "container-other"}, false},
		{Condition{Kind: "KernelCommandLine", Arg: "console"}, false},
		{Condition{Kind: "KernelCommandLine", Arg: "-c"}, true},
	} {
		if got, err := tt.c.Check(root); err != nil || got != tt.want {
			t.Errorf("in docker: %s = %v, %v; want %v", tt.c, got, err, tt.want)
		}
	}
	if _, err := (Condition{Kind: "Capability", Arg: "CAP_NOPE"}).Check(root); err == nil {
		t.Error("unknown capability accepted")
	}
}

func TestEvalConditions(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "etc/a", "x", 0o644)
	cs := []Condition{
		{Kind: "PathExists", Arg: "/etc/a"},
		{Kind: "PathExists", Arg: "/etc/b", Trigger: true},
		{Kind: "PathExists", Arg: "/etc/c", Trigger: true},
	}
	r, err := EvalConditions(cs, root)
	if err != nil || r.ConditionsMet || !r.AssertsMet || len(r.Failed) != 2 {
		t.Errorf("no trigger held: %+v %v", r, err)
	}
	writeFile(t, root, "etc/c", "x", 0o644)
	if r, _ := EvalConditions(cs, root); !r.ConditionsMet || len(r.Failed) != 0 {
		t.Errorf("one trigger held: %+v", r)
	}
	cs = append(cs, Condition{Kind: "PathIsDirectory", Arg: "/etc/a", Assert: true})
	r, _ = EvalConditions(cs, root)
	if !r.ConditionsMet || r.AssertsMet || !reflect.DeepEqual(r.Failed, cs[3:]) {
		t.Errorf("assert: %+v", r)
	}
	if got := cs[1].String(); got != "ConditionPathExists=|/etc/b" {
		t.Errorf("String = %q", got)
	}
	if got := (Condition{Kind: "PathIsDirectory", Arg: "/x", Negate: true, Trigger: true, Assert: true}).String(); got != "AssertPathIsDirectory=|!/x" {
		t.Errorf("String = %q", got)
	}
}

func TestLimitsConf(t *testing.T) {
	conf := `# /etc/security/limits.conf
*               soft    nofile          4096
*               hard    nofile          8192
@www            soft    nofile          16384
alice           -       nofile          32768
root            -       nofile          65536
*               -       core            unlimited
@www            hard    memlock         64
*               soft    cpu             10
*               -       nice            -5
*               -       maxlogins       4
1000:           soft    nproc           100
1001:1001       soft    nproc           200
bogus line
*               medium  nofile          1
*               soft    frobs           1
*               soft    nofile          lots
`
	rules, err := ParseLimitsConf(strings.NewReader(conf), "/etc/security/limits.conf")
	if err == nil || strings.Count(err.Error(), "\n")+1 != 4 || !strings.Contains(err.Error(), "/etc/security/limits.conf:14:") {
		t.Errorf("errors: %v", err)
	}
	if len(rules) != 12 {
		t.Fatalf("rules: %d %+v", len(rules), rules)
	}
	check := func(user string, uid int, groups []string, want map[string]Rlimit) {
		t.Helper()
		got := LimitsFor(rules, user, uid, groups)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("LimitsFor(%s):\n got  %v\n want %v", user, got, want)
		}
	}
	check("bob", 1002, nil, map[string]Rlimit{
		"nofile": {4096, 8192}, "core": {Infinity, Infinity}, "cpu": {600, Unchanged}, "nice": {25, 25}, "nproc": {100, Unchanged}})
	check("www-data", 33, []string{"www"}, map[string]Rlimit{
		"nofile": {16384, 8192}, "core": {Infinity, Infinity}, "cpu": {600, Unchanged}, "nice": {25, 25}, "memlock": {Unchanged, 64 << 10}})
	check("alice", 1001, nil, map[string]Rlimit{
		"nofile": {32768, 32768}, "core": {Infinity, Infinity}, "cpu": {600, Unchanged}, "nice": {25, 25}, "nproc": {200, Unchanged}})
	// Group and wildcard lines do not apply to root.
	check("root", 0, []string{"root", "www"}, map[string]Rlimit{"nofile": {65536, 65536}})

	if got := (Rlimit{16384, Unchanged}).Over(Rlimit{1024, 4096}); got != (Rlimit{4096, 4096}) {
		t.Errorf("Over clamps soft to hard: %v", got)
	}
	if got := (Rlimit{Unchanged, 1 << 20}).Over(Rlimit{1024, 4096}); got != (Rlimit{1024, 1 << 20}) {
		t.Errorf("Over keeps the current soft: %v", got)
	}
}

func TestLimitRulesOrder(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "etc/security/limits.conf", "* soft nofile 1024\n", 0o644)
	writeFile(t, root, "etc/security/limits.d/20-b.conf", "* soft nofile 3000\n", 0o644)
	writeFile(t, root, "etc/security/limits.d/10-a.conf", "* soft nofile 2000\n", 0o644)
	writeFile(t, root, "etc/security/limits.d/ignored.txt", "* soft nofile 9\n", 0o644)
	rules, err := Loader{Root: root}.LimitRules()
	if err != nil || len(rules) != 3 || rules[1].File != "/etc/security/limits.d/10-a.conf" {
		t.Fatalf("LimitRules = %+v, %v", rules, err)
	}
	if got := LimitsFor(rules, "u", 1000, nil)["nofile"].Soft; got != 3000 {
		t.Errorf("the last file wins: %d", got)
	}
	if rules, err := (Loader{Root: t.TempDir()}).LimitRules(); err != nil || len(rules) != 0 {
		t.Errorf("no files: %v %v", rules, err)
	}
}
