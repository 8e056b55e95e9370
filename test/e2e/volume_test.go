package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
)

// TestVolumes: a data volume outlives its container. Made with `fatbox
// volume create`, attached at create with --volume, written over ssh; its
// removal is refused while attached; the container goes and the volume
// stays, free; a new container with it sees the file; then `volume rm`
// leaves no disk, loop device or mount.
func TestVolumes(t *testing.T) {
	t.Parallel()
	e := newVMEnv(t, "198.19.160.0/24")
	start := time.Now()
	e.OK("volume", "create", "data1", "--size", "256M")
	t.Cleanup(func() { fatbox(t, "volume", "rm", "data1", "--socket", e.Sock) })
	volume := func() api.Volume {
		t.Helper()
		var vs []api.Volume
		if err := json.Unmarshal([]byte(e.OK("volume", "ls", "-o", "json").Stdout), &vs); err != nil || len(vs) != 1 {
			t.Fatalf("volume ls: %v %+v", err, vs)
		}
		return vs[0]
	}
	if v := volume(); v.Name != "data1" || v.SizeMiB != 256 || v.AttachedTo != "" || v.Mounted {
		t.Fatalf("new volume: %+v", v)
	}

	a := e.Create("vol-a", "--volume", "data1:/var/lib/app", "--memory", "256M", "--disk", "1G")
	if len(a.Volumes) != 1 || a.Volumes[0] != (api.VolumeMount{Name: "data1", Path: "/var/lib/app"}) {
		t.Fatalf("inspect vol-a: volumes %+v", a.Volumes)
	}
	out := e.SSH(a.IP, "echo kept-across-containers > /var/lib/app/file && sync && stat -f -c %T /var/lib/app && df -m --output=size /var/lib/app | tail -1")
	if !strings.Contains(out, "ext2/ext3") {
		t.Fatalf("/var/lib/app is not the volume's ext4: %q", out)
	}
	if v := volume(); v.AttachedName != "vol-a" || v.AttachedTo != a.ID || v.Path != "/var/lib/app" || !v.Mounted {
		t.Fatalf("attached volume: %+v", v)
	}
	r := fatbox(t, "volume", "rm", "data1", "--socket", e.Sock)
	if r.Code == 0 || !strings.Contains(r.Stderr, `attached to container "vol-a"`) || !strings.Contains(r.Stderr, "fatbox rm vol-a") {
		t.Fatalf("volume rm while attached: exit %d: %s", r.Code, r.Stderr)
	}
	// Another container cannot take it meanwhile.
	r = fatbox(t, "create", "vol-x", "--image", "debian12-fat", "--pool", "vm", "--volume", "data1:/data", "--socket", e.Sock)
	if r.Code == 0 || !strings.Contains(r.Stderr, `attached to container "vol-a"`) {
		t.Fatalf("create with an attached volume: exit %d: %s", r.Code, r.Stderr)
	}
	if r := fatbox(t, "inspect", "vol-x", "--socket", e.Sock); r.Code == 0 {
		t.Fatalf("the refused create left a record: %s", r.Stdout)
	}

	e.OK("rm", "vol-a")
	if v := volume(); v.AttachedTo != "" || v.Mounted {
		t.Fatalf("after rm of its container: %+v", v)
	}
	b := e.Create("vol-b", "--volume", "data1:/srv/data", "--memory", "256M", "--disk", "1G")
	if got := strings.TrimSpace(e.SSH(b.IP, "cat /srv/data/file")); got != "kept-across-containers" {
		t.Fatalf("the file in the next container: %q", got)
	}
	e.OK("rm", "vol-b")
	e.OK("volume", "rm", "data1")
	var vs []api.Volume
	if err := json.Unmarshal([]byte(e.OK("volume", "ls", "-o", "json").Stdout), &vs); err != nil || len(vs) != 0 {
		t.Fatalf("volume ls after rm: %v %+v", err, vs)
	}
	dir := filepath.Join(e.State, "volumes", "data1")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the volume's dir %s is left: %v", dir, err)
	}
	loops, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, l := range loops {
		if b, err := os.ReadFile(l); err == nil && strings.HasPrefix(string(b), dir) {
			t.Errorf("loop device %s is left bound to %s", l, strings.TrimSpace(string(b)))
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), dir) {
		t.Errorf("a mount of the volume is left: %s", mi)
	}
	t.Logf("volume lifecycle with two containers: %s", time.Since(start).Round(time.Millisecond))
}
