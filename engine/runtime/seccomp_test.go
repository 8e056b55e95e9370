package runtime

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestSeccompProfile(t *testing.T) {
	p := Seccomp()
	if p.DefaultAction != specs.ActAllow {
		t.Fatalf("default action %s", p.DefaultAction)
	}
	arches := map[specs.Arch]bool{}
	for _, a := range p.Architectures {
		arches[a] = true
	}
	if !arches[specs.ArchX86_64] || !arches[specs.ArchX86] || !arches[specs.ArchX32] || len(arches) != 3 {
		t.Fatalf("architectures %v", p.Architectures)
	}
	plain := map[string]uint{} // syscalls denied whatever their arguments → errno
	var cloneFlags []uint64
	for _, sc := range p.Syscalls {
		if sc.Action != specs.ActErrno || sc.ErrnoRet == nil {
			t.Fatalf("rule %+v: want SCMP_ACT_ERRNO with an errno", sc)
		}
		if len(sc.Args) > 0 {
			if len(sc.Names) != 1 || sc.Names[0] != "clone" || len(sc.Args) != 1 {
				t.Fatalf("argument rule %+v: only clone is filtered by argument", sc)
			}
			a := sc.Args[0]
			if a.Index != 0 || a.Op != specs.OpMaskedEqual || a.Value != a.ValueTwo || *sc.ErrnoRet != uint(unix.EPERM) {
				t.Fatalf("clone rule %+v: want (flags & F) == F → EPERM", a)
			}
			cloneFlags = append(cloneFlags, a.Value)
			continue
		}
		for _, n := range sc.Names {
			if _, dup := plain[n]; dup {
				t.Fatalf("%s listed twice", n)
			}
			plain[n] = *sc.ErrnoRet
		}
	}
	for _, n := range []string{"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
		"open_by_handle_at", "bpf", "perf_event_open", "add_key", "request_key", "keyctl", "userfaultfd",
		"mount", "umount2", "pivot_root", "swapon", "swapoff", "reboot", "setns", "unshare", "acct",
		"lookup_dcookie", "quotactl", "nfsservctl", "fsopen", "move_mount", "open_tree", "io_uring_setup"} {
		if plain[n] != uint(unix.EPERM) {
			t.Errorf("%s: errno %d, want EPERM", n, plain[n])
		}
	}
	if plain["clone3"] != uint(unix.ENOSYS) {
		t.Errorf("clone3: errno %d, want ENOSYS so libc falls back to the filtered clone", plain["clone3"])
	}
	for _, n := range []string{"clone", "chroot", "setuid", "setgid", "setgroups", "prctl", "seccomp", "socket",
		"ptrace", "execve", "fork", "vfork", "wait4", "name_to_handle_at"} {
		if _, ok := plain[n]; ok {
			t.Errorf("%s is denied outright; sshd, sudo, cron or ordinary programs need it", n)
		}
	}
	var all uint64
	for _, f := range cloneFlags {
		all |= f
	}
	want := uint64(unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
		unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET)
	if all != want || len(cloneFlags) != 7 {
		t.Fatalf("clone namespace flags %#x (%d rules), want %#x in 7", all, len(cloneFlags), want)
	}
	if Seccomp().Syscalls[0].Names[0] = "x"; p.Syscalls[0].Names[0] == "x" {
		t.Fatal("Seccomp shares its tables with the caller")
	}
}

// seccompProbe prints how namespace-making calls fare: raw clone with
// CLONE_NEWUSER, plain clone (a fork), and clone3 (NULL args: EINVAL when
// the kernel sees it, ENOSYS when the filter answers).
const seccompProbe = `import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def clone(flags):
    r = libc.syscall(56, flags | 17, 0, 0, 0, 0)  # x86_64 clone(flags|SIGCHLD, stack=0: fork-like)
    if r == 0:
        os._exit(0)
    if r < 0:
        return errno.errorcode[ctypes.get_errno()]
    os.waitpid(r, 0)
    return "ok"
print("clone-newuser=" + clone(0x10000000))
print("clone-plain=" + clone(0))
r = libc.syscall(435, 0, 0)
print("clone3=" + (errno.errorcode[ctypes.get_errno()] if r < 0 else "ok"))
`

// TestSeccompInContainer: under the default profile, namespace creation is
// refused with EPERM, clone3 with ENOSYS, and sshd, cron, rsyslog, sudo,
// su, ping, chroot and python3 (threads, subprocesses) still work; the same
// calls succeed in the same container without the profile.
func TestSeccompInContainer(t *testing.T) {
	files := map[string]string{"/usr/local/bin/seccomp-probe": seccompProbe}
	on := startFat(t, fatOpts{files: files})
	off := startFat(t, fatOpts{files: files, edit: func(s *specs.Spec) { s.Linux.Seccomp = nil }})

	// Without the filter: a user namespace (no capability needed) and a
	// mount namespace inside it can be made.
	for _, args := range [][]string{{"unshare", "-U", "true"}, {"unshare", "-Um", "true"}} {
		if out, err := off.exec(args...); err != nil {
			t.Fatalf("without the profile %v: %v %s (the control must succeed)", args, err, out)
		}
	}
	out, err := off.exec("python3", "/usr/local/bin/seccomp-probe")
	if err != nil || !strings.Contains(out, "clone-newuser=ok") || !strings.Contains(out, "clone3=EINVAL") {
		t.Fatalf("probe without the profile: %v %s", err, out)
	}

	// With it: refused.
	for _, args := range [][]string{{"unshare", "-U", "true"}, {"unshare", "-m", "true"}, {"unshare", "-Um", "true"}, {"unshare", "-n", "true"}} {
		out, err := on.exec(args...)
		if err == nil || !strings.Contains(out, "Operation not permitted") {
			t.Fatalf("with the profile %v: %v %q, want Operation not permitted", args, err, out)
		}
	}
	out, err = on.exec("python3", "/usr/local/bin/seccomp-probe")
	if err != nil || !strings.Contains(out, "clone-newuser=EPERM") || !strings.Contains(out, "clone-plain=ok") ||
		!strings.Contains(out, "clone3=ENOSYS") {
		t.Fatalf("probe with the profile: %v %s", err, out)
	}
	if out, err := on.exec("awk", "/^Seccomp:/ {print $2}", "/proc/1/status"); err != nil || strings.TrimSpace(out) != "2" {
		t.Fatalf("init's seccomp mode: %v %q, want 2 (filter)", err, out)
	}

	// Ordinary things still work under it.
	on.waitPrograms(t, "sshd", "cron", "rsyslogd")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"python3", "-c", "import threading, subprocess; t = threading.Thread(target=print, args=('thread-ok',)); t.start(); t.join(); subprocess.run(['true'], check=True); print('py-ok')"}, "py-ok"},
		{[]string{"sudo", "-u", "nobody", "id", "-u"}, "65534"},
		{[]string{"su", "-s", "/bin/sh", "-c", "id -un", "nobody"}, "nobody"},
		{[]string{"ping", "-c", "1", "-W", "2", "127.0.0.1"}, "1 received"},
		{[]string{"chroot", "/", "echo", "chroot-ok"}, "chroot-ok"},
		{[]string{"logger", "-t", "fatbox-test", "seccomp-syslog-ok"}, ""},
		{[]string{"sh", "-c", "echo '* * * * * true # fatbox-cron-ok' | crontab - && crontab -l"}, "fatbox-cron-ok"},
	} {
		out, err := on.exec(c.args...)
		if err != nil || !strings.Contains(out, c.want) {
			t.Errorf("%v under the profile: %v %q, want %q", c.args, err, out, c.want)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		l, _ := os.ReadFile(filepath.Join(on.root, "var/log/syslog"))
		if strings.Contains(string(l), "seccomp-syslog-ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslog did not log the test line under the profile\n%s", on.log("rsyslog"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	ps, _ := on.procs()
	for _, c := range []string{"sshd", "cron", "rsyslogd"} {
		if !slices.ContainsFunc(ps, func(p cproc) bool { return p.comm == c }) {
			t.Errorf("%s died under the profile\n%s", c, on.log(c))
		}
	}
}
