package units

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/test/harness"
)

// TestConditionsAgainstSystemdAnalyze evaluates each condition here and
// with `systemd-analyze condition` on this machine (systemd need not be PID
// 1; package systemd) and wants the same answer. The expected values are
// whatever the machine is: the point is agreement with systemd.
func TestConditionsAgainstSystemdAnalyze(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	harness.Require(t, err == nil, "systemd-analyze (apt-get install systemd)")
	host, _ := os.Hostname()
	conds := []string{
		"PathExists=/etc/passwd", "PathExists=!/nonexistent", "PathExists=/nonexistent",
		"PathExistsGlob=/etc/pass*", "PathExistsGlob=/etc/nope*",
		"PathIsDirectory=/etc", "PathIsDirectory=/etc/passwd",
		"PathIsSymbolicLink=/bin", "PathIsSymbolicLink=/etc",
		"PathIsMountPoint=/proc", "PathIsMountPoint=/etc", "PathIsMountPoint=/",
		"PathIsReadWrite=/", "PathIsReadWrite=/proc/sys",
		"DirectoryNotEmpty=/etc", "DirectoryNotEmpty=/etc/passwd",
		"FileNotEmpty=/etc/passwd", "FileIsExecutable=/bin/sh", "FileIsExecutable=/etc/passwd",
		"Virtualization=yes", "Virtualization=no", "Virtualization=container", "Virtualization=vm",
		"Virtualization=docker", "Virtualization=kvm", "Virtualization=private-users",
		"ACPower=true", "ACPower=false",
		"Capability=CAP_SYS_ADMIN", "Capability=CAP_SYS_RESOURCE", "Capability=CAP_NET_ADMIN", "Capability=CAP_CHOWN",
		"Host=" + host, "Host=not-" + host,
		"KernelCommandLine=console", "KernelCommandLine=quiet", "KernelCommandLine=nosuchflag",
		"KernelVersion=>=4.0", "KernelVersion=<4.0",
		"Architecture=native", "Architecture=x86-64", "Architecture=arm64",
		"User=root", "User=0", "User=@system", "User=nobody", "Group=root", "Group=0",
		"Security=selinux", "Security=apparmor",
		"FirstBoot=yes", "FirstBoot=no",
		"ControlGroupController=memory", "ControlGroupController=cpu",
		"Memory=>=1M", "Memory=<1M", "CPUs=>=1", "CPUs=>1000",
		"CPUFeature=sse2", "CPUFeature=nosuchfeature",
		"OSRelease=ID=debian", "OSRelease=ID=nosuchos",
		"PathIsEncrypted=/",
	}
	for _, c := range conds {
		out, err := exec.Command(sa, "condition", "Condition"+c).CombinedOutput()
		want := err == nil
		if err != nil && !strings.Contains(string(out), "failed") {
			t.Errorf("systemd-analyze condition %s: %v: %s", c, err, out)
			continue
		}
		kind, arg, _ := strings.Cut(c, "=")
		cond := Condition{Kind: kind, Arg: arg}
		if strings.HasPrefix(arg, "!") && strings.HasPrefix(kind, "Path") {
			cond.Arg, cond.Negate = arg[1:], true
		}
		if kind == "Virtualization" && (rootFS{root: "/"}).detectContainer() == "" {
			// systemd says "none" where nothing marks a container; here a fat
			// container is always one (see virtualization).
			continue
		}
		got, err := cond.Check("/")
		if err != nil {
			t.Errorf("Condition%s: %v", c, err)
			continue
		}
		if got != want {
			t.Errorf("Condition%s = %v here, systemd says %v (%s)", c, got, want, strings.TrimSpace(string(out)))
		}
	}
}
