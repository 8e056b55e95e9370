package runtime

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/test/harness"
)

func TestSpecLimits(t *testing.T) {
	s, err := Spec(SpecConfig{Name: "web-01", Rootfs: "/r", Netns: "/var/run/netns/x", Supervisor: "/s",
		Limits: Limits{CPUs: 2, Cpuset: "0-1", MemoryBytes: 2 << 30, Pids: 4096}, LXCFS: "/var/lib/lxcfs"})
	if err != nil {
		t.Fatal(err)
	}
	r := s.Linux.Resources
	if *r.CPU.Quota != 200000 || *r.CPU.Period != 100000 || r.CPU.Cpus != "0-1" || *r.Memory.Limit != 2<<30 || *r.Pids.Limit != 4096 {
		t.Fatalf("resources: %+v %+v %+v", r.CPU, r.Memory, r.Pids)
	}
	if s.Hostname != "web-01" || s.Process.Args[0] != Init || s.Process.NoNewPrivileges {
		t.Fatalf("process: %+v", s.Process)
	}
	for _, c := range s.Process.Capabilities.Bounding {
		if c == "CAP_SYS_ADMIN" {
			t.Fatal("CAP_SYS_ADMIN granted")
		}
	}
	if s.Process.Rlimits[0].Hard > 20000 {
		t.Fatal("RLIMIT_NOFILE above the host's hard limit")
	}
	n := 0
	for _, m := range s.Mounts {
		if strings.HasPrefix(m.Source, "/var/lib/lxcfs/proc/") {
			n++
		}
	}
	if n != len(lxcfsFiles) {
		t.Fatalf("%d lxcfs mounts", n)
	}
	if _, err := Spec(SpecConfig{Name: "x"}); err == nil {
		t.Fatal("incomplete spec accepted")
	}
}

// TestFatContainerSSH runs the debian12-fat image under runc with supervisord
// as PID 1 on a test bridge, and logs in with the real OpenSSH client.
func TestFatContainerSSH(t *testing.T) {
	harness.RequireRoot(t)
	sup := os.Getenv("FATBOX_SUPERVISORD")
	harness.Require(t, sup != "", "FATBOX_SUPERVISORD (the binary `make supervisord` builds)")
	_, err := exec.LookPath("runc")
	harness.Require(t, err == nil, "runc (tools/setup-host.sh installs it)")
	ctx := context.Background()
	dir := t.TempDir()

	rs, err := baseimages.BuiltinRecipes()
	if err != nil {
		t.Fatal(err)
	}
	store := &baseimages.Store{Root: filepath.Join(dir, "images")}
	b := &baseimages.Builder{Store: store, Recipes: rs, CacheDir: filepath.Join(harness.CacheDir(), "images")}
	img, err := b.Build(ctx, "debian12-fat", nil)
	if err != nil {
		t.Fatal(err)
	}
	lower, _ := store.Rootfs("debian12-fat")

	// Overlay root (the sized disk is engine/rootfs's job; tmpfs-backed here).
	upper, work, root := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "rootfs")
	for _, d := range []string{upper, work, root} {
		os.MkdirAll(d, 0o755)
	}
	if err := unix.Mount("overlay", root, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+work); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })

	// First boot, minimal: host keys, authorized key, supervisord config.
	keyDir := t.TempDir()
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(keyDir, "id")).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	if out, err := exec.Command("ssh-keygen", "-A", "-f", root).CombinedOutput(); err != nil {
		t.Fatalf("host keys: %v %s", err, out)
	}
	pub, _ := os.ReadFile(filepath.Join(keyDir, "id.pub"))
	os.MkdirAll(filepath.Join(root, "root/.ssh"), 0o700)
	os.WriteFile(filepath.Join(root, "root/.ssh/authorized_keys"), pub, 0o600)
	os.MkdirAll(filepath.Join(root, "etc/supervisor"), 0o755)
	os.MkdirAll(filepath.Join(root, "var/log/supervisor"), 0o755)
	conf := baseimages.RenderSupervisord(baseimages.MergePrograms(baseimages.DefaultPrograms(), img.Programs), "/var/log/supervisor")
	os.WriteFile(filepath.Join(root, "etc/supervisor/supervisord.conf"), []byte(conf), 0o644)

	ns := harness.Netns(t)
	name := harness.Name("fbr-")
	br := harness.Name("fbrbr")
	att, err := network.Attach(ctx, network.Config{Container: name, Netns: "/var/run/netns/" + ns, Bridge: br, CreateBridge: true,
		BridgeAddr: netip.MustParsePrefix("198.19.30.1/24"), Addr: netip.MustParsePrefix("198.19.30.2/24"),
		Gateway: netip.MustParseAddr("198.19.30.1"), Announce: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		network.Detach(context.Background(), name)
		harness.IPQuiet("link", "del", br)
	})

	rt := &Runtime{Root: filepath.Join(dir, "runc")}
	spec, err := Spec(SpecConfig{Name: name, Rootfs: root, Netns: "/var/run/netns/" + ns, Supervisor: sup,
		Limits: Limits{CPUs: 1, MemoryBytes: 512 << 20, Pids: 1024}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pid, err := rt.Start(ctx, name, filepath.Join(dir, "bundle"), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Stop(context.Background(), name, 5*time.Second) })
	ip := att.Addr.Addr().String()
	var banner string
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.DialTimeout("tcp", ip+":22", 200*time.Millisecond)
		if err == nil {
			buf := make([]byte, 64)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, _ := c.Read(buf)
			c.Close()
			banner = string(buf[:n])
			if strings.HasPrefix(banner, "SSH-2.0-") {
				break
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(root, "var/log/supervisor/supervisord.log"))
			sshd, _ := os.ReadFile(filepath.Join(root, "var/log/supervisor/sshd.log"))
			t.Fatalf("no SSH banner from %s (init pid %d): %q\nsupervisord:\n%s\nsshd:\n%s", ip, pid, banner, log, sshd)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("start → SSH banner: %v", time.Since(start).Round(time.Millisecond))
	out, err := exec.Command("ssh", "-i", filepath.Join(keyDir, "id"), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "root@"+ip, "hostname; cat /proc/1/comm; id -u").CombinedOutput()
	if err != nil {
		t.Fatalf("ssh root@%s: %v\n%s", ip, err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) < 3 || lines[len(lines)-3] != name || lines[len(lines)-2] != "supervisord" || lines[len(lines)-1] != "0" {
		t.Fatalf("inside the container: %q, want hostname %s, init supervisord, uid 0", out, name)
	}
	if err := rt.Stop(ctx, name, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := rt.State(ctx, name); st != "" {
		t.Fatalf("after Stop runc still knows %s: %s", name, st)
	}
}
