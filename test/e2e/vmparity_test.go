package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/test/e2e/e2ekit"
	"github.com/fatbox/fatbox/test/harness"
)

// vmparityData holds the programs, units and scripts the VM-parity tests
// copy into containers (issue #15).
const vmparityData = "testdata/vmparity"

// TestVMParity: what a VM admin does with systemctl, service, /etc/init.d,
// Debian packages, logrotate and Ansible works in fat containers through the
// vmshim. Two containers: "app" gets the legacy deploy, nginx, logrotate and
// Ansible (in parallel), "svc" concurrent starts, the forking and notify
// daemons and a reboot.
func TestVMParity(t *testing.T) {
	t.Parallel()
	debs, _ := filepath.Glob(filepath.Join(harness.CacheDir(), "debs", "nginx*.deb"))
	harness.Require(t, len(debs) >= 2, "nginx and nginx-common .deb files in %s (tools/setup-host.sh --test fetches them)",
		filepath.Join(harness.CacheDir(), "debs"))
	_, err := exec.LookPath("ansible")
	harness.Require(t, err == nil, "ansible (tools/setup-host.sh --test installs ansible-core)")
	_, err = exec.LookPath("scp")
	harness.Require(t, err == nil, "scp (tools/setup-host.sh installs openssh-client)")
	e := newVMEnv(t, "198.19.155.0/24")
	app := e.Create("vmp-app", "--memory", "512M", "--disk", "2G")
	svc := e.Create("vmp-svc", "--memory", "256M", "--disk", "1G")
	for _, c := range []struct{ name, ip string }{{"vmp-app", app.IP}, {"vmp-svc", svc.IP}} {
		if out, code := e.Inside(t, c.ip, "test -x /.fatbox/vmshim && test -d /run/systemd/system && command -v systemctl"); code != 0 ||
			strings.TrimSpace(out) != "/usr/local/sbin/systemctl" {
			t.Fatalf("%s has no vmshim (want /.fatbox/vmshim, /run/systemd/system and systemctl in /usr/local/sbin): exit %d %q", c.name, code, out)
		}
		e.dumpOnFailure(t, c.name, c.ip)
	}

	t.Run("LegacyDeployScript", func(t *testing.T) { t.Parallel(); e.legacyDeploy(t, app.IP) })
	t.Run("NginxPackage", func(t *testing.T) { t.Parallel(); e.nginxPackage(t, app.IP, debs) })
	t.Run("LogrotateDaily", func(t *testing.T) { t.Parallel(); e.logrotateDaily(t, app.IP) })
	t.Run("AnsibleModules", func(t *testing.T) { t.Parallel(); e.ansibleModules(t, app.IP) })
	// One after the other on their own container: a reboot ends the container.
	t.Run("Svc", func(t *testing.T) {
		t.Parallel()
		t.Run("ConcurrentStarts", func(t *testing.T) { e.concurrentStarts(t, svc.IP) })
		t.Run("DaemonsAndReboot", func(t *testing.T) { e.daemonsAndReboot(t, "vmp-svc", svc.IP) })
	})
}

// concurrentStarts: units started at the same moment (deploy scripts that
// background their starts, a package's postinst while a timer fires) all
// run; none stops another's.
func (e *vmEnv) concurrentStarts(t *testing.T, ip string) {
	const n = 6
	e.Must(t, ip, fmt.Sprintf(`for i in $(seq %d); do printf '[Service]\nExecStart=/bin/sleep 1000%%s\n' $i > /etc/systemd/system/vmp-c$i.service; done && systemctl daemon-reload`, n))
	out := e.Must(t, ip, fmt.Sprintf(`for i in $(seq %d); do (timeout 30 systemctl start vmp-c$i; echo "start vmp-c$i: exit $?") & done; wait`, n))
	var names []string
	for i := 1; i <= n; i++ {
		names = append(names, fmt.Sprintf("vmp-c%d", i))
		if want := fmt.Sprintf("start vmp-c%d: exit 0", i); !strings.Contains(out, want) {
			t.Errorf("%s did not start: %s", names[i-1], out)
		}
	}
	time.Sleep(2 * time.Second) // a unit stopped behind its starter's back shows by now
	states, _ := e.Inside(t, ip, "systemctl is-active "+strings.Join(names, " "))
	if got := strings.Fields(states); len(got) != n || slices.ContainsFunc(got, func(s string) bool { return s != "active" }) {
		t.Errorf("%d units started at once are %q, want all active", n, got)
	}
	e.Must(t, ip, "systemctl stop "+strings.Join(names, " "))
}

// legacyDeploy runs testdata/vmparity/deploy.sh unchanged from the host with
// the real ssh and scp: v1 installed and started with `service`, v2 switched
// in with `systemctl restart`, status through all three doors, then stopped.
func (e *vmEnv) legacyDeploy(t *testing.T, ip string) {
	dir := t.TempDir()
	tarball := func(v string) string {
		out := filepath.Join(dir, "orders-"+v+".tar.gz")
		if b, err := exec.Command("tar", "-C", filepath.Join(vmparityData, "orders", v), "-czf", out, ".").CombinedOutput(); err != nil {
			t.Fatalf("tar orders %s: %v %s", v, err, b)
		}
		return out
	}
	script, err := filepath.Abs(filepath.Join(vmparityData, "deploy.sh"))
	if err != nil {
		t.Fatal(err)
	}
	deploy := func(args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, script, append([]string{ip}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SSH_OPTS="+strings.Join(e.SSHOpts(), " "))
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("deploy.sh %v did not end within 2 minutes: %s", args, out)
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatalf("deploy.sh %v: %v", args, err)
		}
		return string(out), 0
	}
	mustDeploy := func(args ...string) string {
		t.Helper()
		out, code := deploy(args...)
		if code != 0 {
			t.Fatalf("deploy.sh %v: exit %d:\n%s", args, code, out)
		}
		return out
	}
	statuses := func(want int) {
		t.Helper()
		for _, c := range []string{"systemctl status orders", "service orders status", "/etc/init.d/orders status"} {
			if out, code := e.Inside(t, ip, c); code != want {
				t.Errorf("%s: exit %d, want %d:\n%s", c, code, want, out)
			}
		}
		if out, code := deploy("status"); code != want {
			t.Errorf("deploy.sh status: exit %d, want %d:\n%s", code, want, out)
		}
	}
	pidfile := func() int {
		t.Helper()
		return atoi(t, e.Must(t, ip, "cat /var/run/orders.pid"))
	}

	out := mustDeploy("deploy", tarball("v1"))
	if !strings.Contains(out, "==> starting orders") || !strings.Contains(out, "orders v1") {
		t.Errorf("deploy.sh of v1 did not start orders with service or its smoke test did not see v1:\n%s", out)
	}
	if got := httpBody(t, "http://"+ip+":8080/"); got != "orders v1\n" {
		t.Fatalf("after deploying v1, orders answers %q", got)
	}
	statuses(0)
	if got := strings.TrimSpace(e.Must(t, ip, "systemctl is-enabled orders")); got != "enabled" {
		t.Errorf("after update-rc.d orders defaults, systemctl is-enabled orders = %q, want enabled", got)
	}
	e.Must(t, ip, "ls /etc/rc2.d/S*orders /etc/rc0.d/K*orders")
	// No MainPID to compare: for an init script systemd (its sysv generator)
	// guesses none (GuessMainPID=no), and the shim does as systemd does.
	v1 := pidfile()

	out = mustDeploy("deploy", tarball("v2"))
	if !strings.Contains(out, "==> restarting orders") || !strings.Contains(out, "orders v2") {
		t.Errorf("deploy.sh of v2 did not restart orders with systemctl or its smoke test did not see v2:\n%s", out)
	}
	if got := httpBody(t, "http://"+ip+":8080/"); got != "orders v2\n" {
		t.Fatalf("after deploying v2, orders answers %q", got)
	}
	if got := strings.TrimSpace(e.Must(t, ip, "readlink /opt/orders/current")); got != "/opt/orders/releases/v2" {
		t.Errorf("current -> %q after deploying v2", got)
	}
	v2 := pidfile()
	if v2 == v1 {
		t.Errorf("systemctl restart orders kept pid %d", v1)
	}
	if _, code := e.Inside(t, ip, fmt.Sprintf("kill -0 %d", v1)); code == 0 {
		t.Errorf("v1's server %d still runs after systemctl restart", v1)
	}
	statuses(0)

	mustDeploy("stop")
	if _, err := (&http.Client{Timeout: 3 * time.Second}).Get("http://" + ip + ":8080/"); err == nil {
		t.Errorf("orders still answers on :8080 after service orders stop")
	}
	if _, code := e.Inside(t, ip, fmt.Sprintf("kill -0 %d", v2)); code == 0 {
		t.Errorf("v2's server %d still runs after service orders stop", v2)
	}
	statuses(3) // LSB: program is not running
	// The init script's own words, through journalctl as on a VM.
	if out := e.Must(t, ip, "journalctl -u orders --no-pager"); strings.Count(out, "Starting order service") < 2 ||
		!strings.Contains(out, "Stopping order service") {
		t.Errorf("journalctl -u orders lacks the init script's start (twice) and stop lines:\n%s", out)
	}
}

// nginxPackage installs Debian's nginx from .deb files copied in and drives
// its packaged unit (Type=forking, PIDFile, ExecReload) with systemctl.
func (e *vmEnv) nginxPackage(t *testing.T, ip string, debs []string) {
	e.Must(t, ip, "mkdir -p /root/debs")
	e.scp(t, ip, "/root/debs/", debs...)
	out := e.MustWithin(t, ip, "cd /root/debs && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ./*.deb 2>&1", 3*time.Minute)
	t.Logf("apt-get install nginx: %s", lastLines(out, 4))
	if got, _ := e.Inside(t, ip, "systemctl is-enabled nginx"); strings.TrimSpace(got) != "enabled" {
		t.Errorf("after installing nginx, systemctl is-enabled nginx = %q, want enabled (deb-systemd-helper enables it)", strings.TrimSpace(got))
	}
	// The package's postinst started it (deb-systemd-invoke start nginx.service).
	if got, code := e.Inside(t, ip, "systemctl is-active nginx"); code != 0 || strings.TrimSpace(got) != "active" {
		t.Errorf("after installing nginx, is-active = %q (exit %d), want active: the postinst's start did not take", strings.TrimSpace(got), code)
	}
	e.Must(t, ip, "systemctl start nginx")
	master := e.nginxMaster(t, ip)
	if got := httpBody(t, "http://"+ip+"/"); !strings.Contains(got, "Welcome to nginx") {
		t.Fatalf("nginx on :80 answers %q", got)
	}
	workers := e.children(t, ip, master)
	if len(workers) == 0 {
		t.Fatalf("nginx master %d has no workers", master)
	}

	e.Must(t, ip, "systemctl reload nginx")
	if got := e.nginxMaster(t, ip); got != master {
		t.Fatalf("systemctl reload nginx changed the master pid %d -> %d (a restart, not a reload)", master, got)
	}
	e2ekit.WaitFor(t, 15*time.Second, "nginx's workers are replaced after reload", func() bool {
		now := e.children(t, ip, master)
		return len(now) > 0 && !slices.ContainsFunc(now, func(p int) bool { return slices.Contains(workers, p) })
	})

	// The package's own scripts (postinst, logrotate's postrotate) go
	// through invoke-rc.d, which calls systemctl when it sees systemd.
	e.Must(t, ip, "invoke-rc.d nginx restart")
	if got := e.nginxMaster(t, ip); got == master {
		t.Errorf("invoke-rc.d nginx restart kept the master pid %d: invoke-rc.d did nothing", master)
	} else {
		master = got
	}

	e.Must(t, ip, "systemctl restart nginx")
	restarted := e.nginxMaster(t, ip)
	if restarted == master {
		t.Fatalf("systemctl restart nginx kept the master pid %d", master)
	}
	if _, code := e.Inside(t, ip, fmt.Sprintf("kill -0 %d", master)); code == 0 {
		t.Errorf("the old nginx master %d still runs after restart", master)
	}
	if got := httpBody(t, "http://"+ip+"/"); !strings.Contains(got, "Welcome to nginx") {
		t.Fatalf("after restart nginx answers %q", got)
	}

	e.Must(t, ip, "systemctl stop nginx")
	if got, code := e.Inside(t, ip, "systemctl is-active nginx"); code != 3 || strings.TrimSpace(got) != "inactive" {
		t.Errorf("after stop, systemctl is-active nginx = %q exit %d, want inactive exit 3", strings.TrimSpace(got), code)
	}
	if got := e.Must(t, ip, "ss -Hltn 'sport = :80'"); strings.TrimSpace(got) != "" {
		t.Errorf("something still listens on :80 after systemctl stop nginx: %q", got)
	}
	if got, code := e.Inside(t, ip, "pgrep -a nginx"); code != 1 {
		t.Errorf("nginx processes left after systemctl stop nginx: %q", got)
	}
	if c, err := net.DialTimeout("tcp", ip+":80", 3*time.Second); err == nil {
		c.Close()
		t.Errorf("port 80 still accepts connections after systemctl stop nginx")
	}
}

// nginxMaster is nginx's MainPID, checked to be its real master process
// and the pid in its PIDFile. A master that just replaced another (the
// postinst's binary upgrade) may take a moment to be followed: asked again
// for up to 10 s, in one shell so the answers belong together.
func (e *vmEnv) nginxMaster(t *testing.T, ip string) int {
	t.Helper()
	const probe = `pid=$(systemctl show -p MainPID --value nginx) && echo "$pid" && cat /proc/$pid/comm && ` +
		`tr '\0' ' ' </proc/$pid/cmdline && echo && cat /run/nginx.pid`
	var last string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		out, code := e.Inside(t, ip, probe)
		last = fmt.Sprintf("exit %d: %q", code, out)
		if f := strings.Split(out, "\n"); code == 0 && len(f) >= 4 {
			pid, comm, cmdline, pidfile := strings.TrimSpace(f[0]), strings.TrimSpace(f[1]), f[2], strings.TrimSpace(f[3])
			if pid != "0" && comm == "nginx" && strings.Contains(cmdline, "master process") && pidfile == pid {
				return atoi(t, pid)
			}
		}
		if time.Now().After(deadline) {
			break
		}
	}
	t.Fatalf("nginx's MainPID is not its master (the pid in /run/nginx.pid, named nginx, \"master process\"): MainPID, comm, cmdline, pid file: %s", last)
	return 0
}

// logrotateDaily: with /run/systemd/system present Debian's cron.daily
// scripts step aside for their timers; cron's daily run rotates nothing,
// and logrotate.timer, due (its Persistent= stamp two days old), does.
func (e *vmEnv) logrotateDaily(t *testing.T, ip string) {
	const stampFile = "/var/lib/systemd/timers/stamp-logrotate.timer"
	if got := strings.TrimSpace(e.Must(t, ip, "systemctl is-enabled logrotate.timer")); got != "enabled" {
		t.Fatalf("systemctl is-enabled logrotate.timer = %q, want enabled", got)
	}
	// Not due: a fresh stamp, and the timers read again.
	e.Must(t, ip, "mkdir -p /var/lib/systemd/timers && touch "+stampFile+" && systemctl daemon-reload")
	e.Must(t, ip, "mkdir -p /var/log/vmparity && printf 'line 1\\nline 2\\n' > /var/log/vmparity/app.log")
	e.scp(t, ip, "/etc/logrotate.d/vmparity-app", filepath.Join(vmparityData, "app.logrotate"))
	// logrotate last rotated this log long ago: its daily rule is due.
	e.Must(t, ip, `chmod 644 /etc/logrotate.d/vmparity-app && s=/var/lib/logrotate/status && `+
		`{ [ -s $s ] || echo 'logrotate state -- version 2' > $s; } && echo '"/var/log/vmparity/app.log" 2020-1-1-0:0:0' >> $s`)
	// The daily run of /etc/crontab, as cron runs it, with cron's PATH.
	cronOut := e.Must(t, ip, "test -d /run/systemd/system && cd / && env -i PATH=/usr/bin:/bin SHELL=/bin/sh sh -c 'test -x /usr/sbin/anacron || run-parts --report /etc/cron.daily' 2>&1; "+
		"ls /var/log/vmparity/")
	if strings.Contains(cronOut, "app.log.1") {
		t.Fatalf("cron's daily run rotated the log although /run/systemd/system says the timers do it (so this test cannot tell them apart): %q", cronOut)
	}
	// Due: the stamp two days old, and the timers read again.
	e.Must(t, ip, "touch -d '2 days ago' "+stampFile+" && systemctl daemon-reload")
	e2ekit.WaitFor(t, 30*time.Second, "logrotate.timer rotates the app log", func() bool {
		_, code := e.Inside(t, ip, "grep -qx 'line 1' /var/log/vmparity/app.log.1")
		return code == 0
	})
	if got := e.Must(t, ip, "wc -c < /var/log/vmparity/app.log"); strings.TrimSpace(got) != "0" {
		t.Errorf("after rotation app.log has %s bytes, want a new empty file (create)", strings.TrimSpace(got))
	}
	age := atoi(t, e.Must(t, ip, "echo $(( $(date +%s) - $(stat -c %Y "+stampFile+") ))"))
	if age > 120 {
		t.Errorf("the rotation happened but %s is %d s old: logrotate.timer did not record its run", stampFile, age)
	}
}

// ansibleModules runs the real ansible over ssh: the service and systemd
// modules start, stop and enable a unit, seen inside.
func (e *vmEnv) ansibleModules(t *testing.T, ip string) {
	e.Must(t, ip, "mkdir -p /usr/local/lib/vmparity")
	e.scp(t, ip, "/etc/systemd/system/", filepath.Join(vmparityData, "hello.service"))
	e.Must(t, ip, "systemctl daemon-reload")
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts")
	if err := os.WriteFile(inv, []byte(fmt.Sprintf("vmp ansible_host=%s ansible_user=root ansible_ssh_private_key_file=%s "+
		"ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args='-o UserKnownHostsFile=/dev/null'\n", ip, e.Key)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "ansible.cfg")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ansible := func(module, args, want string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ansible", "vmp", "-i", inv, "-m", module, "-a", args)
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+cfg, "ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_NOCOLOR=1", "ANSIBLE_PIPELINING=True",
			"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"), "ANSIBLE_SSH_CONTROL_PATH_DIR="+filepath.Join(dir, "cp"))
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "vmp | "+want+" =>") {
			t.Fatalf("ansible -m %s -a %q: %v, want %s:\n%s", module, args, err, want, out)
		}
	}
	state := func(want, wantEnabled string) {
		t.Helper()
		active, _ := e.Inside(t, ip, "systemctl is-active hello")
		enabled, _ := e.Inside(t, ip, "systemctl is-enabled hello")
		if strings.TrimSpace(active) != want || strings.TrimSpace(enabled) != wantEnabled {
			t.Fatalf("hello is %q and %q, want %q and %q", strings.TrimSpace(active), strings.TrimSpace(enabled), want, wantEnabled)
		}
	}

	ansible("ansible.builtin.systemd", "name=hello state=started enabled=true", "CHANGED")
	state("active", "enabled")
	if got := httpBody(t, "http://"+ip+":8099/"); !strings.Contains(got, "Directory listing for /") {
		t.Errorf("hello's HTTP server answers %q, want its directory listing", got)
	}
	ansible("ansible.builtin.systemd", "name=hello state=started", "SUCCESS") // already so: no change
	ansible("ansible.builtin.service", "name=hello state=stopped", "CHANGED")
	state("inactive", "enabled")
	ansible("ansible.builtin.service", "name=hello state=stopped", "SUCCESS")
	ansible("ansible.builtin.service", "name=hello state=started", "CHANGED")
	state("active", "enabled")
	ansible("ansible.builtin.systemd", "name=hello state=stopped enabled=false", "CHANGED")
	state("inactive", "disabled")
}

// daemonsAndReboot: a forking daemon without a PIDFile and a Type=notify
// service are tracked by their real main PID and restarted when killed;
// the enabled one is back after a reboot inside, the other not.
func (e *vmEnv) daemonsAndReboot(t *testing.T, name, ip string) {
	e.Must(t, ip, "mkdir -p /usr/local/lib/vmparity")
	e.scp(t, ip, "/usr/local/lib/vmparity/", filepath.Join(vmparityData, "forkd.py"), filepath.Join(vmparityData, "notifyd.py"))
	e.scp(t, ip, "/etc/systemd/system/", filepath.Join(vmparityData, "forkd.service"), filepath.Join(vmparityData, "notifyd.service"))
	e.Must(t, ip, "systemctl daemon-reload")
	for _, unit := range []string{"forkd", "notifyd"} {
		// start returns once the daemon is up: for forking when the parent
		// has exited, for notify at READY=1 (a second after it starts).
		e.Must(t, ip, "systemctl start "+unit)
		if _, code := e.Inside(t, ip, "test -s /run/"+unit+".self"); code != 0 {
			t.Fatalf("systemctl start %s returned before the daemon was up (no /run/%s.self)", unit, unit)
		}
		pid := e.trackedDaemon(t, ip, unit)
		if got := e.showInt(t, ip, unit, "NRestarts"); got != 0 {
			t.Errorf("%s: NRestarts = %d before any kill", unit, got)
		}
		e.Must(t, ip, fmt.Sprintf("kill -9 %d", pid))
		var now int
		e2ekit.WaitFor(t, 10*time.Second, unit+" restarted by Restart=on-failure after kill -9", func() bool {
			now = e.mainPID(t, ip, unit)
			active, _ := e.Inside(t, ip, "systemctl is-active "+unit)
			return now != 0 && now != pid && strings.TrimSpace(active) == "active"
		})
		if got := e.trackedDaemon(t, ip, unit); got != now {
			t.Errorf("%s: MainPID moved from %d to %d while checked", unit, now, got)
		}
		if got := e.showInt(t, ip, unit, "NRestarts"); got != 1 {
			t.Errorf("%s: NRestarts = %d after one kill -9, want 1", unit, got)
		}
	}

	e.Must(t, ip, "systemctl enable forkd")
	if got := strings.TrimSpace(e.Must(t, ip, "systemctl is-enabled forkd")); got != "enabled" {
		t.Fatalf("systemctl is-enabled forkd = %q after enable", got)
	}
	e.Must(t, ip, "test -L /etc/systemd/system/multi-user.target.wants/forkd.service")
	if got, _ := e.Inside(t, ip, "systemctl is-enabled notifyd"); strings.TrimSpace(got) != "disabled" {
		t.Errorf("systemctl is-enabled notifyd = %q, want disabled", strings.TrimSpace(got))
	}
	e.Must(t, ip, "touch /run/vmparity-before-reboot")
	// The connection may end before ssh reports anything: its result is not the point.
	exec.Command("ssh", append(e.SSHOpts(), "root@"+ip, "reboot")...).Run()
	e2ekit.WaitFor(t, 2*time.Minute, name+" comes back after reboot (ssh answers, /run is new)", func() bool {
		out, err := exec.Command("ssh", append(e.SSHOpts(), "root@"+ip, "test -e /run/vmparity-before-reboot; echo $?")...).Output()
		return err == nil && strings.TrimSpace(string(out)) == "1"
	})
	if in := fatbox(t, "inspect", name, "--socket", e.Sock); in.Code != 0 || !strings.Contains(in.Stdout, `"`+ip+`"`) {
		t.Errorf("after reboot, inspect %s: exit %d %s (want its IP %s)", name, in.Code, in.Stdout, ip)
	}
	e2ekit.WaitFor(t, 30*time.Second, "the enabled forkd is active after reboot", func() bool {
		got, _ := e.Inside(t, ip, "systemctl is-active forkd")
		return strings.TrimSpace(got) == "active"
	})
	pid := e.trackedDaemon(t, ip, "forkd")
	if got, _ := e.Inside(t, ip, "systemctl is-active notifyd"); strings.TrimSpace(got) != "inactive" {
		t.Errorf("notifyd (not enabled) is %q after reboot, want inactive", strings.TrimSpace(got))
	}

	// A stop is not a failure: no restart follows it.
	e.Must(t, ip, "systemctl stop forkd")
	time.Sleep(2 * time.Second) // RestartSec=1 and then some
	if got, code := e.Inside(t, ip, "systemctl is-active forkd"); code == 0 {
		t.Errorf("forkd is %q 2 s after systemctl stop: restarted although stopped on purpose", strings.TrimSpace(got))
	}
	if _, code := e.Inside(t, ip, fmt.Sprintf("kill -0 %d", pid)); code == 0 {
		t.Errorf("forkd %d still runs after systemctl stop", pid)
	}
}

// trackedDaemon checks the unit's MainPID is the daemon itself (the pid it
// wrote to /run/UNIT.self, running UNIT.py), not the shim or a parent.
func (e *vmEnv) trackedDaemon(t *testing.T, ip, unit string) int {
	t.Helper()
	pid := e.mainPID(t, ip, unit)
	self := atoi(t, e.Must(t, ip, "cat /run/"+unit+".self"))
	cmdline, _ := e.Inside(t, ip, fmt.Sprintf("tr '\\0' ' ' </proc/%d/cmdline", pid))
	if pid != self || !strings.Contains(cmdline, unit+".py") {
		t.Fatalf("%s: MainPID %d (%q), but the daemon is %d", unit, pid, cmdline, self)
	}
	return pid
}

func (e *vmEnv) mainPID(t *testing.T, ip, unit string) int {
	t.Helper()
	return e.showInt(t, ip, unit, "MainPID")
}

func (e *vmEnv) showInt(t *testing.T, ip, unit, prop string) int {
	t.Helper()
	return atoi(t, e.Must(t, ip, "systemctl show -p "+prop+" --value "+unit))
}

// children lists the pids whose parent is pid, inside the container.
func (e *vmEnv) children(t *testing.T, ip string, pid int) []int {
	t.Helper()
	out, code := e.Inside(t, ip, fmt.Sprintf("pgrep -P %d", pid))
	if code > 1 {
		t.Fatalf("pgrep -P %d: exit %d %s", pid, code, out)
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		pids = append(pids, atoi(t, f))
	}
	return pids
}

// scp copies local files to dst in the container with the real scp client.
func (e *vmEnv) scp(t *testing.T, ip, dst string, files ...string) {
	t.Helper()
	args := append(append(e.SSHOpts(), "-q"), files...)
	if out, err := exec.Command("scp", append(args, "root@"+ip+":"+dst)...).CombinedOutput(); err != nil {
		t.Fatalf("scp %v to %s:%s: %v %s", files, ip, dst, err, out)
	}
}

// dumpOnFailure logs, when the test failed, what the shim and supervisord
// said inside the container: the evidence a failure report needs.
func (e *vmEnv) dumpOnFailure(t *testing.T, name, ip string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		r := fatbox(t, "exec", name, "--socket", e.Sock, "--", "sh", "-c",
			"for f in /run/vmshim/units/*.json; do echo \"== $f\"; cat \"$f\"; echo; done; "+
				"for f in /var/log/supervisor/*.log; do case $f in */sshd.log) continue;; */supervisord.log) n=300;; *) n=40;; esac; "+
				"echo \"== $f\"; tail -n $n \"$f\"; done; "+
				"echo '== /run/vmshim/supervisor'; ls -l /run/vmshim/supervisor/")
		t.Logf("evidence from %s (exit %d):\n%s%s", name, r.Code, r.Stdout, r.Stderr)
	})
}

// httpBody GETs url from the host and returns the body of a 200 answer.
func httpBody(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	var last error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		resp, err := c.Get(url)
		if err != nil {
			last = err
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			last = fmt.Errorf("status %s, body %q, %v", resp.Status, b, err)
			continue
		}
		return string(b)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
