package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
)

// hostNofile is what the test daemon (a child of this test, with its
// limits and capabilities) may give a container: fs.nr_open with
// CAP_SYS_RESOURCE, else its hard RLIMIT_NOFILE.
func hostNofile(t *testing.T) uint64 {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		t.Fatal(err)
	}
	nrOpen, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			if caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil && caps&(1<<24) != 0 {
				return nrOpen
			}
		}
	}
	return min(rl.Max, nrOpen)
}

// TestUlimits (issue 15): a Java-style limits.conf entry for nofile takes
// effect for an ssh login (and a service user's su) in a container created
// with the matching --ulimit; an entry above the container's hard limit
// leaves the login working at that limit, with pam_limits' complaint in
// auth.log; programs under supervisord get the limit; a create asking more
// than this host allows is refused with the fix; defaults; `fatbox update
// --ulimit` takes effect at the next start.
//
// The must-show's figure is nofile 65535. A host whose daemon may not give
// that (here the test daemon's hard RLIMIT_NOFILE is 20000 and root lacks
// CAP_SYS_RESOURCE) runs it with the largest value it allows instead.
func TestUlimits(t *testing.T) {
	t.Parallel()
	max := hostNofile(t)
	n := min(max, 65535)
	t.Logf("this host lets the daemon give nofile up to %d: the Java entry uses %d", max, n)
	e := newVMEnv(t, "198.19.216.0/24")

	// Refused above the host's limit, with the figures and the fix; nothing made.
	ask := max + 1
	if max < 65536 {
		ask = 65536
	}
	r := fatbox(t, "create", "ul-big", "--image", "debian12-fat", "--pool", "vm", "--ulimit", fmt.Sprintf("nofile=%d:%d", ask, ask), "--socket", e.Sock)
	for _, want := range []string{fmt.Sprintf("hard nofile %d is above this host's %d", ask, max), fmt.Sprintf("ask for at most nofile=%d", max), "LimitNOFILE", "restart the daemon"} {
		if r.Code == 0 || !strings.Contains(r.Stderr, want) {
			t.Errorf("create with nofile %d on a host allowing %d: exit %d, stderr %q; want %q in it", ask, max, r.Code, r.Stderr, want)
		}
	}
	if r := fatbox(t, "inspect", "ul-big", "--socket", e.Sock); r.Code == 0 {
		t.Errorf("the refused create left a container: %s", r.Stdout)
	}

	java := e.Create("ul-java", "--memory", "256M", "--disk", "1G", "--ulimit", fmt.Sprintf("nofile=%d:%d", n, n), "--ulimit", "core=0:unlimited")
	def := e.Create("ul-default", "--memory", "256M", "--disk", "1G")
	e.RemoveAtEnd(t, "ul-java", "ul-default")
	if u := java.Ulimits["nofile"]; u.Soft != n || u.Hard != n {
		t.Errorf("ul-java's recorded nofile = %+v, want %d:%d", u, n, n)
	}
	ns := strconv.FormatUint(n, 10)
	// Programs under supervisord (cron here) run with the container's limits.
	if got := strings.Fields(e.SSH(java.IP, `grep 'open files' /proc/$(pgrep -x cron)/limits`)); len(got) < 5 || got[3] != ns || got[4] != ns {
		t.Errorf("cron's open files limits: %v, want %s %s", got, ns, ns)
	}
	// A login without a limits.conf entry: pam_limits' soft default (1024,
	// as on a Debian VM), the container's hard limit.
	if got := strings.Fields(e.SSH(java.IP, "ulimit -Sn; ulimit -Hn")); len(got) != 2 || got[0] != "1024" || got[1] != ns {
		t.Errorf("ssh login before the limits.conf entry: ulimit -Sn, -Hn = %v, want [1024 %s]", got, ns)
	}
	// The Java entry (root must be named: "*" does not cover root).
	e.SSH(java.IP, fmt.Sprintf(`printf '*    soft nofile %[1]d\n*    hard nofile %[1]d\nroot soft nofile %[1]d\nroot hard nofile %[1]d\n' >> /etc/security/limits.conf && useradd -m javaapp`, n))
	if got := strings.Fields(e.SSH(java.IP, "ulimit -n; ulimit -Hn")); len(got) != 2 || got[0] != ns || got[1] != ns {
		t.Errorf("ssh login with the limits.conf entry: ulimit -n, -Hn = %v, want [%s %s]", got, ns, ns)
	}
	if got := strings.Fields(e.SSH(java.IP, `su - javaapp -c 'ulimit -n; ulimit -Hn'`)); len(got) != 2 || got[0] != ns || got[1] != ns {
		t.Errorf("su - javaapp with the limits.conf entry: ulimit -n, -Hn = %v, want [%s %s]", got, ns, ns)
	}
	// An entry above the container's hard limit: the login still works at
	// the container's limit, and pam_limits says why in auth.log.
	e.SSH(java.IP, fmt.Sprintf(`printf 'root soft nofile %[1]d\nroot hard nofile %[1]d\n' > /etc/security/limits.d/99-toohigh.conf`, n+1))
	if got := strings.Fields(e.SSH(java.IP, "ulimit -Hn")); len(got) != 1 || got[0] != ns {
		t.Errorf("ssh login with an entry above the hard limit: ulimit -Hn = %v, want %s", got, ns)
	}
	e2ekit.WaitFor(t, 20*time.Second, "pam_limits' refusal in ul-java's auth.log", func() bool {
		return strings.Contains(e.SSH(java.IP, "cat /var/log/auth.log || true"),
			fmt.Sprintf("Could not set limit for 'nofile' to soft=%d, hard=%d: Operation not permitted", n+1, n+1))
	})
	e.SSH(java.IP, "rm /etc/security/limits.d/99-toohigh.conf")

	// A service started through systemctl gets its user's limits.conf
	// entry too (systemd would ignore limits.conf; a VM's init scripts that
	// `su` to the app user did not): values below the container's, so the
	// check fails if the service only inherited supervisord's.
	soft, hard := n/2, n/2+1
	e.SSH(java.IP, fmt.Sprintf(`printf 'javaapp soft nofile %d\njavaapp hard nofile %d\n' > /etc/security/limits.d/50-javaapp.conf &&
printf '[Service]\nUser=javaapp\nExecStart=/bin/sleep 1000\n' > /etc/systemd/system/javaapp.service && systemctl start javaapp`, soft, hard))
	lim := strings.Fields(e.SSH(java.IP, `grep 'open files' /proc/$(systemctl show -p MainPID --value javaapp)/limits; stat -c %U /proc/$(systemctl show -p MainPID --value javaapp)`))
	if len(lim) < 6 || lim[3] != strconv.FormatUint(soft, 10) || lim[4] != strconv.FormatUint(hard, 10) || lim[len(lim)-1] != "javaapp" {
		t.Errorf("a systemctl-started service of javaapp: open files limits and owner %v, want %d %d javaapp", lim, soft, hard)
	}
	e.SSH(java.IP, "systemctl stop javaapp && rm /etc/security/limits.d/50-javaapp.conf")

	// The defaults: nofile 65536 and memlock unlimited, as far as the host allows.
	want := min(65536, max)
	if u := def.Ulimits["nofile"]; u.Soft != want || u.Hard != want {
		t.Errorf("ul-default's nofile = %+v, want %d:%d", u, want, want)
	}
	var ml syscall.Rlimit
	if err := syscall.Getrlimit(unix.RLIMIT_MEMLOCK, &ml); err != nil {
		t.Fatal(err)
	}
	wantL := "unlimited"
	if ml.Max != ^uint64(0) && def.Ulimits["memlock"].Hard != ^uint64(0) { // a daemon with CAP_SYS_RESOURCE gives unlimited
		wantL = strconv.FormatUint(ml.Max>>10, 10)
	}
	if got := strings.Fields(e.SSH(def.IP, "ulimit -Hn; ulimit -Hl; ulimit -Hu")); len(got) != 3 || got[0] != strconv.FormatUint(want, 10) || got[1] != wantL {
		t.Errorf("ul-default: ulimit -Hn, -Hl, -Hu = %v, want %d, %s and the host's nproc", got, want, wantL)
	}

	// update --ulimit: recorded at once, in force at the next start.
	r = e.OK("update", "ul-java", "--ulimit", "nofile=4096:8192", "-o", "table")
	if !strings.Contains(r.Stdout, "ulimits take effect at the next start") || !strings.Contains(r.Stdout, "fatbox restart ul-java") {
		t.Errorf("update --ulimit of a running container does not say when it takes effect:\n%s", r.Stdout)
	}
	in := e.Inspect("ul-java")
	if u := in.Ulimits["nofile"]; u != (api.Ulimit{Soft: 4096, Hard: 8192}) || !in.PendingUlimits || in.Ulimits["core"].Hard != ^uint64(0) {
		t.Errorf("after update --ulimit: ulimits %+v pending %v, want nofile 4096:8192 pending, core kept", in.Ulimits, in.PendingUlimits)
	}
	if r := e.OK("inspect", "ul-java", "-o", "table"); !strings.Contains(r.Stdout, "nofile=4096:8192") || !strings.Contains(r.Stdout, "(at the next start)") {
		t.Errorf("inspect -o table does not show the pending ulimits:\n%s", r.Stdout)
	}
	if got := strings.TrimSpace(e.SSH(java.IP, "ulimit -Hn")); got != ns {
		t.Errorf("before the restart: ulimit -Hn = %s, want still %s", got, ns)
	}
	e.OK("restart", "ul-java")
	// The limits.conf entry (n) is now above the hard limit: pam_limits
	// keeps the container's 4096:8192 (and says so in auth.log).
	if got := strings.Fields(e.SSH(java.IP, "ulimit -Sn; ulimit -Hn; grep 'open files' /proc/1/limits")); len(got) < 7 || got[1] != "8192" || got[6] != "8192" {
		t.Errorf("after the restart: ulimit -Sn, -Hn, init's limits = %v, want hard 8192", got)
	}
	in = e.Inspect("ul-java")
	if in.PendingUlimits {
		t.Error("ulimits still pending after the restart")
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(e.OK("inspect", "ul-java").Stdout), &raw); err != nil || raw["ulimits"] == nil {
		t.Errorf("inspect's JSON has no ulimits: %v %v", raw, err)
	}
}
