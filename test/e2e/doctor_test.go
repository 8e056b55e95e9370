package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
)

// doctor runs `fatbox doctor NAME -o json` and returns its report and exit
// code (0: every check passed, 1: one failed); anything else fails the test.
func (e *vmEnv) doctor(name string) (api.DoctorReport, int) {
	e.T.Helper()
	r := fatbox(e.T, "doctor", name, "-o", "json", "--socket", e.Sock)
	var rep api.DoctorReport
	if r.Code > 1 || json.Unmarshal([]byte(r.Stdout), &rep) != nil {
		e.T.Fatalf("fatbox doctor %s: exit %d: %s%s", name, r.Code, r.Stdout, r.Stderr)
	}
	if (r.Code == 0) != rep.OK {
		e.T.Fatalf("fatbox doctor %s exited %d with ok=%v: the exit code must say whether every check passed", name, r.Code, rep.OK)
	}
	return rep, r.Code
}

// failed lists a report's failed checks, sorted, and renders the whole
// report for a failure message.
func failed(rep api.DoctorReport) ([]string, string) {
	var out []string
	var b strings.Builder
	for _, c := range rep.Checks {
		fmt.Fprintf(&b, "  %-14s %-9s ok=%-5v %s | fix: %s\n", c.Check, c.Where, c.OK, c.Detail, c.Fix)
		if !c.OK {
			out = append(out, c.Check)
		}
	}
	sort.Strings(out)
	return out, b.String()
}

// doctorPasses waits (while the container's programs come up) for a report
// whose every check passed.
func (e *vmEnv) doctorPasses(name, when string) api.DoctorReport {
	e.T.Helper()
	var rep api.DoctorReport
	deadline := time.Now().Add(30 * time.Second)
	for {
		var code int
		if rep, code = e.doctor(name); code == 0 {
			return rep
		}
		if time.Now().After(deadline) {
			_, all := failed(rep)
			e.T.Fatalf("fatbox doctor %s %s: checks still failing after 30 s:\n%s", name, when, all)
		}
		time.Sleep(time.Second)
	}
}

// TestDoctor (issue #15): `fatbox doctor` passes on a fresh container; with
// sshd stopped, lxcfs's /proc/meminfo unmounted and a wrong hostname
// injected it fails exactly the checks those touch, each naming its fix;
// after `fatbox restart` it passes again.
func TestDoctor(t *testing.T) {
	t.Parallel()
	e := newVMEnv(t, "198.19.157.0/24")
	const name = "doc-01"
	in := e.Create(name, "--cpus", "1", "--memory", "384M", "--disk", "1G")
	e.SSH(in.IP, "true") // sshd is up

	rep := e.doctorPasses(name, "on a fresh container")
	checks := map[string]api.DoctorCheck{}
	for _, c := range rep.Checks {
		checks[c.Check] = c
	}
	for _, want := range []string{"running", "lxcfs-daemon", "veth", "lease", "vmshim", // the host's
		"hostname", "hosts", "address", "route", "gateway", "memory", "nproc", "cpuinfo", "disk", "uptime", "lxcfs",
		"syslog", "sshd", "cron", "host-keys", "clock", "timezone", "ulimits", "dns", "systemctl"} {
		if _, ok := checks[want]; !ok {
			_, all := failed(rep)
			t.Errorf("the report has no %q check:\n%s", want, all)
		}
	}
	if c := checks["memory"]; !strings.Contains(c.Detail, "384 MiB") {
		t.Errorf("memory: %q, want the container's 384 MiB", c.Detail)
	}
	if c := checks["sshd"]; !strings.Contains(c.Detail, "SSH-2.0") || c.Where != "container" {
		t.Errorf("sshd: %+v, want its banner, checked inside", c)
	}
	if c := checks["veth"]; c.Where != "host" {
		t.Errorf("veth: %+v, want a host check", c)
	}

	// The table form, for people: every check passed, exit 0.
	if r := fatbox(t, "doctor", name, "--socket", e.Sock); r.Code != 0 || !strings.HasPrefix(r.Stdout, "CHECK") ||
		!strings.Contains(r.Stdout, "checks passed") {
		t.Errorf("fatbox doctor (table): exit %d:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// Three faults: sshd stopped through supervisord; lxcfs's meminfo
	// unmounted from the host (the container lacks CAP_SYS_ADMIN; -r: paths
	// from the container's root, which pivot_root moved off its mount
	// namespace's; -p: umount reads /proc/self/mountinfo, and the
	// container's /proc has no "self" for a process outside its pid
	// namespace); the kernel's hostname changed in its UTS namespace.
	e.OK("prog", "stop", name, "sshd")
	pid := strconv.Itoa(e.Inspect(name).PID)
	for _, args := range [][]string{{"-t", pid, "-m", "-p", "-r", "-w", "umount", "/proc/meminfo"}, {"-t", pid, "-u", "hostname", "wrong"}} {
		if out, err := exec.Command("nsenter", args...).CombinedOutput(); err != nil {
			t.Fatalf("nsenter %v: %v %s", args, err, out)
		}
	}
	rep, code := e.doctor(name)
	got, all := failed(rep)
	// The unmounted meminfo shows the host's memory too: "memory" fails with "lxcfs".
	if want := []string{"hostname", "lxcfs", "memory", "sshd"}; code != 1 || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("after the faults: exit %d, failed %v, want exit 1 and %v:\n%s", code, got, want, all)
	}
	fixes := map[string]string{
		"sshd":     "`fatbox prog start " + name + " sshd`",
		"lxcfs":    "`fatbox restart " + name + "`",
		"memory":   "`fatbox restart " + name + "`",
		"hostname": "`fatbox restart " + name + "`",
	}
	for _, c := range rep.Checks {
		if want, ok := fixes[c.Check]; ok && !strings.Contains(c.Fix, want) {
			t.Errorf("%s: fix %q, want it to name %s (detail %q)", c.Check, c.Fix, want, c.Detail)
		}
	}
	for check, want := range map[string]string{"sshd": "sshd is not running", "lxcfs": "/proc/meminfo is not mounted", "hostname": `"wrong"`} {
		for _, c := range rep.Checks {
			if c.Check == check && !strings.Contains(c.Detail, want) {
				t.Errorf("%s: detail %q, want it to say %s", check, c.Detail, want)
			}
		}
	}
	// The table names each fix, and fatbox exits 1.
	r := fatbox(t, "doctor", name, "--socket", e.Sock)
	if r.Code != 1 || !strings.Contains(r.Stdout, "4 of ") || !strings.Contains(r.Stdout, fixes["sshd"]) || !strings.Contains(r.Stdout, fixes["hostname"]) {
		t.Errorf("fatbox doctor (table) after the faults: exit %d:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	e.OK("restart", name)
	e.doctorPasses(name, "after `fatbox restart`")
}
