package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
)

// sshAs runs cmd as root with key, once (no retries): its output and
// whether ssh itself got in (exit 255 is ssh's own failure).
func sshAs(key, ip, cmd string) (string, int) {
	out, err := exec.Command("ssh", "-i", key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=2", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "root@"+ip, cmd).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		return err.Error(), -1
	}
	return string(out), 0
}

// Snapshot a running container (the freeze is measured and printed),
// change and delete files, stop, restore, start: the files are back.
// Restore of a running container is refused; ls and rm work; commit makes
// an image whose containers boot with their own identity (host keys, IP,
// hostname, authorized_keys) and the committed files.
func TestSnapshotRestoreAndCommit(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	e := newVMEnv(t, "198.19.161.0/24")
	e.OK("volume", "create", "snap-vol", "--size", "128M")
	t.Cleanup(func() { fatbox(t, "volume", "rm", "snap-vol", "--socket", e.Sock) })
	c := e.Create("snap-01", "--volume", "snap-vol:/var/lib/app")
	ip := c.IP
	e.SSH(ip, "mkdir -p /srv/app && echo v1 > /srv/app/data && head -c 8388608 /dev/urandom > /srv/app/blob && md5sum /srv/app/blob > /srv/app/blob.md5 && echo vol1 > /var/lib/app/state && sync")

	// A snapshot while it runs: frozen for the copy, and it says so.
	r := e.OK("snapshot", "create", "snap-01", "before")
	m := regexp.MustCompile(`froze snap-01 for (\d+) ms, copied ([\d.]+ \w+) of a ([\d.]+ \w+) disk`).FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("snapshot create printed %q: want the freeze length and the bytes copied", r.Stdout)
	}
	t.Logf("snapshot of a running container: %s", strings.TrimSpace(r.Stdout))
	var snaps []api.Snapshot
	if err := json.Unmarshal([]byte(e.OK("snapshot", "ls", "snap-01", "-o", "json").Stdout), &snaps); err != nil || len(snaps) != 1 {
		t.Fatalf("snapshot ls: %v %+v", err, snaps)
	}
	s := snaps[0]
	if !s.Running || s.FreezeMS <= 0 || s.DiskCopied < 8<<20 || s.DiskCopied > s.DiskSize/2 || strconv.Itoa(int(s.FreezeMS)) == "" {
		t.Fatalf("snapshot: %+v: want a measured freeze and only the allocated blocks copied (the 8 MiB written, far from the %d-byte disk)", s, s.DiskSize)
	}
	if ms, _ := strconv.Atoi(m[1]); ms > 5000 {
		t.Errorf("froze for %d ms: the copy of %s should take far less", ms, m[2])
	}
	// It still runs, writable (thawed, resumed).
	e.SSH(ip, "echo alive > /srv/app/alive")

	if r := fatbox(t, "snapshot", "create", "snap-01", "before", "--socket", e.Sock); r.Code == 0 || !strings.Contains(r.Stderr, `has a snapshot "before" already`) {
		t.Errorf("duplicate snapshot: exit %d %s", r.Code, r.Stderr)
	}
	if r := fatbox(t, "snapshot", "create", "snap-01", "Bad_Name", "--socket", e.Sock); r.Code == 0 || !strings.Contains(r.Stderr, "not valid") {
		t.Errorf("bad snapshot name: exit %d %s", r.Code, r.Stderr)
	}

	e.SSH(ip, "echo v2 > /srv/app/data && rm /srv/app/blob && touch /srv/app/new && echo vol2 > /var/lib/app/state && sync")
	if r := fatbox(t, "snapshot", "restore", "snap-01", "before", "--socket", e.Sock); r.Code == 0 || !strings.Contains(r.Stderr, "`fatbox stop snap-01`") {
		t.Fatalf("restore of a running container: exit %d %s, want it refused naming `fatbox stop snap-01`", r.Code, r.Stderr)
	}
	e.OK("stop", "snap-01")
	// A stopped one is copied as it is (named by the time).
	r = e.OK("snapshot", "create", "snap-01")
	if !strings.Contains(r.Stdout, "was stopped (no freeze)") {
		t.Errorf("snapshot of a stopped container printed %q", r.Stdout)
	}
	e.OK("snapshot", "restore", "snap-01", "before")
	// A commit of the stopped container reads its disk read-only: no
	// freeze, and the image holds the restored files without identity.
	r = e.OK("commit", "snap-01", "--image", "snap-stopped")
	if !strings.Contains(r.Stdout, "was stopped (no freeze)") {
		t.Errorf("commit of a stopped container printed %q", r.Stdout)
	}
	var stopped api.Image
	if err := json.Unmarshal([]byte(e.OK("image", "inspect", "snap-stopped", "-o", "json").Stdout), &stopped); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(e.State, "images", "by-id", stopped.ID, "rootfs")
	if b, err := os.ReadFile(filepath.Join(root, "srv/app/data")); err != nil || string(b) != "v1\n" {
		t.Errorf("the stopped commit's /srv/app/data: %q %v", b, err)
	}
	for _, p := range []string{"srv/app/new", "root/.ssh/authorized_keys", "etc/ssh/ssh_host_ed25519_key"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("the stopped commit holds %s", p)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/hostname")); strings.Contains(string(b), "snap-01") {
		t.Errorf("the stopped commit's /etc/hostname is the container's: %q (want the parent image's)", b)
	}
	e.OK("image", "rm", "snap-stopped")
	e.OK("start", "snap-01")
	if out := e.SSH(ip, "cat /srv/app/data; md5sum -c --quiet /srv/app/blob.md5 && echo blob-ok; ls /srv/app"); !strings.Contains(out, "v1\n") ||
		!strings.Contains(out, "blob-ok") || strings.Contains(out, "new") || strings.Contains(out, "alive") {
		t.Fatalf("after the restore: %q, want v1, the blob back, no new or later files", out)
	}
	// The volume was in the snapshot too.
	if out := e.SSH(ip, "cat /var/lib/app/state"); out != "vol1\n" {
		t.Fatalf("after the restore the volume holds %q, want vol1 (the snapshot's)", out)
	}
	if err := json.Unmarshal([]byte(e.OK("snapshot", "ls", "snap-01", "-o", "json").Stdout), &snaps); err != nil || len(snaps) != 2 || snaps[1].Running {
		t.Fatalf("snapshot ls: %v %+v", err, snaps)
	}
	e.OK("snapshot", "rm", "snap-01", snaps[1].Name)
	if r := fatbox(t, "snapshot", "rm", "snap-01", snaps[1].Name, "--socket", e.Sock); r.Code == 0 || !strings.Contains(r.Stderr, "has no snapshot") {
		t.Errorf("rm of a removed snapshot: exit %d %s", r.Code, r.Stderr)
	}
	if out := e.OK("snapshot", "ls", "snap-01").Stdout; !strings.Contains(out, "before") || strings.Contains(out, snaps[1].Name) {
		t.Errorf("snapshot ls after rm: %s", out)
	}

	// Commit the running container, with a user's key planted, then create
	// from the image with another key.
	key1 := hostKey(t, ip)
	e.SSH(ip, "echo committed > /srv/app/committed && mkdir -p /home/ann/.ssh && cp /root/.ssh/authorized_keys /home/ann/.ssh/ && sync")
	r = e.OK("commit", "snap-01", "--image", "snap-golden")
	if !regexp.MustCompile(`froze snap-01 for \d+ ms`).MatchString(r.Stdout) {
		t.Errorf("commit printed %q: want the freeze length", r.Stdout)
	}
	t.Logf("commit of a running container: %s", strings.TrimSpace(r.Stdout))
	var img api.Image
	if err := json.Unmarshal([]byte(e.OK("image", "inspect", "snap-golden", "-o", "json").Stdout), &img); err != nil ||
		img.Source != "commit" || img.Parent != "debian12-fat" || img.ParentID != c.ImageID || img.FromContainer != "snap-01" || len(img.Programs) == 0 {
		t.Fatalf("committed image: %v %+v", err, img)
	}
	if r := fatbox(t, "commit", "snap-01", "--image", "snap-golden", "--socket", e.Sock); r.Code == 0 || !strings.Contains(r.Stderr, "exists") {
		t.Errorf("commit over an existing image: exit %d %s", r.Code, r.Stderr)
	}

	key2 := filepath.Join(t.TempDir(), "id2")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key2).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	e.OK("create", "snap-02", "--image", "snap-golden", "--pool", "vm", "--ssh-key", key2+".pub")
	t.Cleanup(func() { fatbox(t, "rm", "snap-02", "--socket", e.Sock) })
	c2 := e.Inspect("snap-02")
	if c2.IP == ip || c2.IP == "" {
		t.Fatalf("the new container's IP %q: want its own, not %s", c2.IP, ip)
	}
	if key2Host := hostKey(t, c2.IP); key2Host == key1 {
		t.Fatal("the new container has the original's host key")
	}
	var out string
	e2ekit.WaitFor(t, 30*time.Second, "ssh with the new create's key", func() bool {
		var code int
		out, code = sshAs(key2, c2.IP, "hostname; cat /srv/app/committed /srv/app/data; cat /root/.ssh/authorized_keys; ls /home/ann/.ssh/ 2>&1; wc -c < /etc/machine-id")
		return code == 0
	})
	pub2, _ := os.ReadFile(key2 + ".pub")
	if !strings.HasPrefix(out, "snap-02\ncommitted\nv1\n"+string(pub2)) || strings.Contains(out, "authorized_keys\n") || !strings.HasSuffix(out, "\n0\n") {
		t.Fatalf("inside the new container: %q: want its hostname, the committed files, only the new create's key, no ann's keys, an empty machine-id", out)
	}
	if o, code := sshAs(e.Key, c2.IP, "true"); code != 255 {
		t.Fatalf("the original's key got into the new container: exit %d %s", code, o)
	}
	if d := time.Since(begin); d > 90*time.Second {
		t.Errorf("took %s: keep it under 90 s", d.Round(time.Second))
	} else {
		t.Logf("took %s", d.Round(time.Second))
	}
}
