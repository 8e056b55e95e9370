package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
	"github.com/fatbox/fatbox/test/harness"
)

// TestCreateSSHRemove: fatbox create gives a container that ssh root@IP
// reaches; rm leaves nothing behind; create again gives the same IP and MAC.
func TestCreateSSHRemove(t *testing.T) {
	harness.RequireRoot(t)
	sup := os.Getenv("FATBOX_SUPERVISORD")
	harness.Require(t, sup != "", "FATBOX_SUPERVISORD (the binary `make supervisord` builds)")
	dir := t.TempDir()
	sock := filepath.Join(dir, "fatbox.sock")
	daemonArgs := []string{"--supervisord", sup, "--image-cache", filepath.Join(harness.CacheDir(), "images")}
	t.Cleanup(func() { e2ekit.StopLXCFS(filepath.Join(dir, "state")) })
	// One cleanup for whichever daemon is current, registered before the
	// container's, so its `fatbox rm` runs while a daemon answers.
	var d *daemonProc
	t.Cleanup(func() {
		if d != nil {
			d.Stop()
		}
	})
	d = spawnDaemon(t, filepath.Join(dir, "state"), sock, daemonArgs...)
	ok := func(args ...string) result {
		t.Helper()
		r := fatbox(t, append(args, "--socket", sock)...)
		if r.Code != 0 {
			t.Fatalf("fatbox %v: exit %d: %s", args, r.Code, r.Stderr)
		}
		return r
	}
	br := harness.Name("fbebr")
	t.Cleanup(func() { harness.IPQuiet("link", "del", br) })
	ok("pool", "create", "e2e", "--cidr", "198.19.40.0/24", "--bridge", br, "--create-bridge")
	ok("image", "build", "debian12-fat")
	keyDir := t.TempDir()
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(keyDir, "id")).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	create := func() api.Container {
		t.Helper()
		var rs []api.Container
		r := ok("create", "web-01", "--image", "debian12-fat", "--pool", "e2e", "--cpus", "1", "--memory", "512M", "--disk", "1G",
			"--ssh-key", filepath.Join(keyDir, "id.pub"), "-o", "json")
		if err := json.Unmarshal([]byte(r.Stdout), &rs); err != nil || len(rs) != 1 {
			t.Fatalf("create output: %v %s", err, r.Stdout)
		}
		return rs[0]
	}
	rec := create()
	t.Cleanup(func() { fatbox(t, "rm", "web-01", "--socket", sock) })
	if rec.Status != "running" || rec.IP != "198.19.40.2" {
		t.Fatalf("record: %+v", rec)
	}
	sshOut := func() string {
		t.Helper()
		var out []byte
		var err error
		// sshd comes up within a moment of create; a loaded host gets a minute.
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
			out, err = exec.Command("ssh", "-i", filepath.Join(keyDir, "id"), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
				"-o", "BatchMode=yes", "-o", "ConnectTimeout=2", "-o", "LogLevel=ERROR", "root@"+rec.IP, "hostname; readlink /proc/1/exe").CombinedOutput()
			if err == nil {
				return string(out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("ssh root@%s: %v\n%s", rec.IP, err, out)
		return ""
	}
	// PID 1 is the injected supervisord, run as /.fatbox/init.
	if out := sshOut(); !strings.Contains(out, "web-01\n/.fatbox/init\n") {
		t.Fatalf("inside: %q", out)
	}
	// The daemon is not in the data path: kill -9 it, the container keeps
	// serving ssh, and the next daemon sees it.
	d.Kill9(t)
	if out := sshOut(); !strings.Contains(out, "web-01") {
		t.Fatalf("after daemon kill -9: %q", out)
	}
	d = spawnDaemon(t, filepath.Join(dir, "state"), sock, daemonArgs...)
	if r := ok("ls"); !strings.Contains(r.Stdout, "web-01") || !strings.Contains(r.Stdout, "running") {
		t.Fatalf("ls after daemon restart: %s", r.Stdout)
	}
	oneLine(t, fatbox(t, "create", "web-01", "--image", "debian12-fat", "--pool", "e2e", "--socket", sock), `a container named "web-01" already exists`)

	// stop/start keeps IP, MAC, host key and files.
	sshRun := func(cmd string) string {
		t.Helper()
		out, err := exec.Command("ssh", "-i", filepath.Join(keyDir, "id"), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "BatchMode=yes", "-o", "ConnectTimeout=2", "-o", "LogLevel=ERROR", "root@"+rec.IP, cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh %q: %v %s", cmd, err, out)
		}
		return string(out)
	}
	sshRun("echo kept > /root/note.txt")
	fp := func() string {
		t.Helper()
		out, err := exec.Command("sh", "-c", "ssh-keyscan -t ed25519 "+rec.IP+" 2>/dev/null | ssh-keygen -lf -").CombinedOutput()
		if err != nil || len(out) == 0 {
			t.Fatalf("host key fingerprint: %v %s", err, out)
		}
		return strings.Fields(string(out))[1]
	}
	before := fp()
	ok("stop", "web-01")
	if r := ok("ls"); !strings.Contains(r.Stdout, "stopped") {
		t.Fatalf("ls after stop: %s", r.Stdout)
	}
	if out := links(t); strings.Contains(out, "fatbox:web-01") {
		t.Fatalf("stop left the link: %s", out)
	}
	ok("start", "web-01")
	sshOut()
	if got := sshRun("cat /root/note.txt"); strings.TrimSpace(got) != "kept" {
		t.Fatalf("file after stop/start: %q", got)
	}
	if after := fp(); after != before {
		t.Fatalf("host key changed across stop/start: %s → %s", before, after)
	}
	var afterRec []api.Container
	if out := ok("ls", "-o", "json").Stdout; json.Unmarshal([]byte(out), &afterRec) != nil {
		t.Fatalf("ls -o json: not a list of containers: %q", out)
	}
	if len(afterRec) != 1 || afterRec[0].IP != rec.IP || afterRec[0].MAC != rec.MAC || afterRec[0].Status != "running" {
		t.Fatalf("after stop/start: %+v, was %s/%s", afterRec, rec.IP, rec.MAC)
	}
	oneLine(t, fatbox(t, "create", "web-02", "--image", "nope", "--pool", "e2e", "--socket", sock), `no image "nope"`)

	ok("rm", "web-01")
	if out := links(t); strings.Contains(out, "fatbox:web-01") {
		t.Fatalf("rm left a link: %s", out)
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err != nil {
		t.Fatal(err)
	} else if strings.Contains(string(b), filepath.Join(dir, "state", "containers", "web-01")) {
		t.Fatal("rm left a mount")
	}
	again := create()
	if again.IP != rec.IP || again.MAC != rec.MAC {
		t.Fatalf("re-created web-01 on %s/%s, was %s/%s", again.IP, again.MAC, rec.IP, rec.MAC)
	}
	sshOut()
	ok("rm", "web-01", "--release-ip")
	if r := ok("ip", "ls", "--pool", "e2e"); !strings.Contains(r.Stdout, "released") {
		t.Fatalf("lease after rm --release-ip: %s", r.Stdout)
	}
}

// links is `ip -o link` (each link's alias shows there), failing the test
// if ip fails: an absence read from a failed listing proves nothing.
func links(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "lo:") {
		t.Fatalf("ip -o link: %v %s", err, out)
	}
	return string(out)
}
