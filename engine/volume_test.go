package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/engine/revert"
	"github.com/fatbox/fatbox/engine/rootfs"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store/memstore"
	"github.com/fatbox/fatbox/test/harness"
)

// volumeEngine is an engine with a store and a state dir of the test's own,
// enough for volumes (no images, pools or network).
func volumeEngine(t *testing.T) *Engine {
	t.Helper()
	dir := t.TempDir()
	return &Engine{Inventory: &inventory.Inventory{Store: memstore.New()}, StateDir: filepath.Join(dir, "state"),
		Runtime: &runtime.Runtime{Root: filepath.Join(dir, "runc")}, Node: "t"}
}

// Create and remove: the rules, refusals that name the fix, and nothing
// left behind by a refusal.
func TestVolumeCreateRemove(t *testing.T) {
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		if _, err := os.Stat("/usr/sbin/mkfs.ext4"); err != nil {
			harness.Require(t, false, "mkfs.ext4 (e2fsprogs)")
		}
	}
	ctx := context.Background()
	e := volumeEngine(t)
	for _, c := range []struct {
		name string
		size int64
		want error
		msg  string
	}{
		{"Bad", 1 << 30, inventory.ErrInvalid, "volume name"},
		{"", 1 << 30, inventory.ErrInvalid, "no volume name"},
		{"a/b", 1 << 30, inventory.ErrInvalid, "volume name"},
		{"v1", 1 << 20, limits.ErrInvalid, "below the minimum"},
		{"v1", 0, limits.ErrInvalid, "size_bytes"},
		{"v1", 100<<20 + 1, limits.ErrInvalid, "whole number of MiB"},
		{"v1", 1 << 50, limits.ErrInvalid, "above the maximum"},
	} {
		_, err := e.CreateVolume(ctx, c.name, c.size)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("CreateVolume(%q, %d): %v, want %v saying %q", c.name, c.size, err, c.want, c.msg)
		}
	}
	// Over the disk ceiling (4 x the state file system): refused, and
	// nothing made.
	h, err := e.host()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateVolume(ctx, "huge", (h.DiskBytes+(1<<30))>>20<<20); !errors.Is(err, limits.ErrOvercommit) {
		t.Errorf("a volume larger than the state file system: %v", err)
	}
	vi, err := e.CreateVolume(ctx, "data1", 64<<20)
	if err != nil || vi.Name != "data1" || vi.SizeMiB != 64 || vi.Node != "t" || vi.ID == "" {
		t.Fatalf("create: %+v %v", vi, err)
	}
	if st, err := os.Stat(filepath.Join(e.volumeDir("data1"), "disk.img")); err != nil || st.Size() != 64<<20 {
		t.Fatalf("disk: %v %v", st, err)
	}
	if _, err := e.CreateVolume(ctx, "data1", 64<<20); !errors.Is(err, inventory.ErrExists) || !strings.Contains(err.Error(), "fatbox volume rm data1") {
		t.Errorf("second create: %v", err)
	}
	// The disk of data1 counts in the node's disk usage.
	if u, err := e.usage(ctx); err != nil || u.DiskBytes != 64<<20 {
		t.Errorf("usage: %+v %v", u, err)
	}
	// A dir left with no record is never reused: refused, record undone.
	if err := os.MkdirAll(e.volumeDir("kept"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateVolume(ctx, "kept", 64<<20); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "move it away") {
		t.Errorf("create over a kept dir: %v", err)
	}
	if _, err := e.Inventory.GetVolume(ctx, "kept"); !errors.Is(err, inventory.ErrVolumeNotFound) {
		t.Errorf("a refused create left its record: %v", err)
	}
	vs, err := e.Volumes(ctx)
	if err != nil || len(vs) != 1 || vs[0].Mounted {
		t.Fatalf("volumes: %+v %v", vs, err)
	}
	if _, err := e.Volume(ctx, "nope"); !errors.Is(err, inventory.ErrNotFound) {
		t.Errorf("missing: %v", err)
	}

	// Attached: rm refused naming the container and the fix.
	rec := inventory.Record{Name: "web-01", Node: "t", Status: inventory.StatusCreating, Volumes: []inventory.VolumeMount{{Name: "data1", Path: "/var/lib/app"}}}
	if err := e.Inventory.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rev := &revert.Reverter{}
	if err := e.claimVolumes(ctx, rev, rec); err != nil {
		t.Fatal(err)
	}
	err = e.RemoveVolume(ctx, "data1")
	if !errors.Is(err, ErrConflict) || !errors.Is(err, inventory.ErrVolumeInUse) || !strings.Contains(err.Error(), `"web-01"`) || !strings.Contains(err.Error(), "fatbox rm web-01") {
		t.Fatalf("rm attached: %v", err)
	}
	// A second container is refused the volume.
	other := inventory.Record{Name: "db-01", Node: "t", Status: inventory.StatusCreating, Volumes: []inventory.VolumeMount{{Name: "data1", Path: "/x"}}}
	if err := e.Inventory.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := e.claimVolumes(ctx, &revert.Reverter{}, other); !errors.Is(err, ErrConflict) {
		t.Fatalf("second claim: %v", err)
	}
	// A missing volume is not found, with the fix.
	other.Volumes = []inventory.VolumeMount{{Name: "nope", Path: "/x"}}
	if err := e.claimVolumes(ctx, &revert.Reverter{}, other); !errors.Is(err, inventory.ErrNotFound) || !strings.Contains(err.Error(), "fatbox volume create nope") {
		t.Fatalf("claim of a missing volume: %v", err)
	}
	// The create's undo releases the claim.
	if err := rev.Revert(); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.Volume(ctx, "data1"); !v.Free() {
		t.Fatalf("after undo: %+v", v)
	}
	// Another node's volume is not removed here.
	if _, err := e.Inventory.CreateVolume(ctx, inventory.Volume{Name: "far", SizeMiB: 64, Node: "n2"}); err != nil {
		t.Fatal(err)
	}
	if err := e.RemoveVolume(ctx, "far"); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), `node "n2"`) {
		t.Errorf("rm another node's: %v", err)
	}
	if err := e.RemoveVolume(ctx, "data1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.volumeDir("data1")); !os.IsNotExist(err) {
		t.Errorf("volume dir left: %v", err)
	}
	if err := e.RemoveVolume(ctx, "data1"); !errors.Is(err, inventory.ErrNotFound) {
		t.Errorf("rm again: %v", err)
	}
	// Reconcile tells of a dir with no record (kept) and a record with no
	// disk (removable).
	if _, err := e.Inventory.CreateVolume(ctx, inventory.Volume{Name: "nodisk", SizeMiB: 64, Node: "t"}); err != nil {
		t.Fatal(err)
	}
	did, err := e.reconcileVolumes(ctx)
	if err != nil || len(did) != 2 || !strings.Contains(strings.Join(did, "\n"), `kept volume dir "`+e.volumeDir("kept")) ||
		!strings.Contains(strings.Join(did, "\n"), "fatbox volume rm nodisk") {
		t.Errorf("reconcileVolumes: %q %v", did, err)
	}
	if err := e.RemoveVolume(ctx, "nodisk"); err != nil {
		t.Errorf("rm of a volume with no disk: %v", err)
	}
	if _, err := os.Stat(e.volumeDir("kept")); err != nil {
		t.Errorf("the kept dir went: %v", err)
	}
}

// fakeContainer starts a process in a mount namespace of its own, chrooted
// into a root made of the host's /usr (bound in its namespace only): a
// running container's init, as far as mounts go. It returns its pid and
// root dir; the process is killed at cleanup.
func fakeContainer(t *testing.T) (int, string) {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"usr", "data", "srv", "var/lib", "proc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"bin", "lib", "lib64", "sbin"} {
		if target, err := os.Readlink("/" + l); err == nil {
			if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "--",
		"sh", "-c", `mount --rbind /usr "$1/usr" && exec chroot "$1" /usr/bin/sleep 600`, "sh", root)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(5 * time.Second); ; {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(b)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fake container did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return pid, root
}

// mountsAt counts the mounts at path in pid's mount namespace.
func mountsAt(t *testing.T, pid int, path string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && rootfs.UnescapeOctal(f[4]) == path {
			n++
		}
	}
	return n
}

// attachVolumesLive into a real mount namespace: at the paths, through a
// symlink inside the root but never out of it, once however often it is
// called; then halt's unmount keeps a volume another instance lists, and
// reconcileVolumes takes it down when no running container uses it.
func TestAttachVolumesLive(t *testing.T) {
	harness.RequireRoot(t)
	ctx := context.Background()
	e := volumeEngine(t)
	pid, root := fakeContainer(t)
	for _, n := range []string{"data1", "data2", "data3"} {
		if _, err := e.CreateVolume(ctx, n, 64<<20); err != nil {
			t.Fatal(err)
		}
		l := e.volumeLayout(n)
		t.Cleanup(func() { rootfs.UnmountDisk(context.Background(), l) })
	}
	// A file on data1, as a previous container left it.
	if _, err := rootfs.MountDisk(ctx, e.volumeLayout("data1")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.volumeLayout("data1").DiskDir(), "hello"), []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Inside: /var/lib/app is a link to /data (followed, within the root);
	// /srv/out links to a host dir (never followed out of the root).
	if err := os.Symlink("/data", filepath.Join(root, "var/lib/app")); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "srv/out")); err != nil {
		t.Fatal(err)
	}

	rec := inventory.Record{Name: "web-01", Instance: "web-01-i1", Node: "t", Status: inventory.StatusRunning,
		Volumes: []inventory.VolumeMount{{Name: "data1", Path: "/var/lib/app"}, {Name: "data2", Path: "/srv/new/deep"}}}
	if err := e.Inventory.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.dir(rec.InstanceKey()), 0o700); err != nil {
		t.Fatal(err)
	}
	// As in a release's switch: the volumes are still claimed by the old
	// container (stopped, its mounts gone) when they are mounted into the
	// new one; the claims move in the switch's transaction after.
	old := inventory.Record{Name: "web-01-last", Node: "t", Status: inventory.StatusStopped, Volumes: rec.Volumes}
	if err := e.Inventory.Create(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := e.claimVolumes(ctx, &revert.Reverter{}, old); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := e.attachVolumesLive(ctx, rec, pid); err != nil {
			t.Fatalf("attach (call %d): %v", i+1, err)
		}
	}
	oldRec, _ := e.Inventory.Get(ctx, old.Name)
	newRec, _ := e.Inventory.Get(ctx, rec.Name)
	ops, err := e.moveVolumeOps(ctx, rec.Volumes, oldRec.ID, newRec.ID)
	if err != nil || len(ops) != 2 {
		t.Fatalf("moveVolumeOps: %v %v", ops, err)
	}
	if _, err := e.Inventory.Store.Txn(ctx, ops); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.Volume(ctx, "data1"); v.AttachedTo != newRec.ID || v.AttachedName != "web-01" || !v.Mounted {
		t.Fatalf("after the move: %+v", v)
	}
	proot := fmt.Sprintf("/proc/%d/root", pid)
	// (/proc/<pid>/root/var/lib/app would follow the link from our root.)
	if b, err := os.ReadFile(proot + "/data/hello"); err != nil || string(b) != "kept\n" {
		t.Fatalf("data1's file inside: %q %v", b, err)
	}
	if err := os.WriteFile(proot+"/srv/new/deep/written-inside", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.volumeLayout("data2").DiskDir(), "written-inside")); err != nil {
		t.Fatalf("a file written inside is not on data2: %v", err)
	}
	if n := mountsAt(t, pid, "/data"); n != 1 {
		t.Fatalf("%d mounts at /data inside after two attaches, want 1", n)
	}
	if n := mountsAt(t, pid, "/srv/new/deep"); n != 1 {
		t.Fatalf("%d mounts at /srv/new/deep inside, want 1", n)
	}
	if n := mountsAt(t, os.Getpid(), filepath.Join(root, "data")); n != 0 {
		t.Fatalf("the volume is mounted on the host's view of the root too")
	}
	if vms, err := e.readInstVolumes(rec.InstanceKey()); err != nil || len(vms) != 2 {
		t.Fatalf("volumes.json: %v %v", vms, err)
	}

	// Out of the root through a link: refused, nothing made outside.
	esc := inventory.Record{Name: "esc-01", Node: "t", Status: inventory.StatusRunning, Volumes: []inventory.VolumeMount{{Name: "data3", Path: "/srv/out/data"}}}
	if err := e.Inventory.Create(ctx, esc); err != nil {
		t.Fatal(err)
	}
	if err := e.claimVolumes(ctx, &revert.Reverter{}, esc); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.dir(esc.InstanceKey()), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := e.attachVolumesLive(ctx, esc, pid); err == nil || !strings.Contains(err.Error(), "/srv/out") {
		t.Fatalf("attach through a link out of the root: %v, want refused", err)
	} else {
		t.Logf("refused as it should: %v", err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("made %v outside the root", ents)
	}
	if err := e.unmountVolumes(ctx, esc.InstanceKey()); err != nil {
		t.Fatal(err)
	}
	// Our own mount namespace is never a target.
	if err := mountInto(os.Getpid(), e.volumeLayout("data1").DiskDir(), "/mnt"); err == nil || !strings.Contains(err.Error(), "host's mount namespace") {
		t.Fatalf("mount into our own namespace: %v", err)
	}

	// The container ends. Another instance (a release's new container)
	// lists data1: halt's unmount keeps it, and takes data2 down.
	syscall.Kill(pid, syscall.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/ns", pid)); err != nil {
			break
		}
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(b), ") Z") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fake container did not end")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // its namespace goes with its last process
	if err := os.MkdirAll(e.dir("web-01-i2"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := e.writeInstVolumes("web-01-i2", []inventory.VolumeMount{{Name: "data1", Path: "/var/lib/app"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.unmountVolumes(ctx, rec.InstanceKey()); err != nil {
		t.Fatal(err)
	}
	if err := e.unmountVolumes(ctx, rec.InstanceKey()); err != nil {
		t.Fatalf("unmountVolumes again: %v", err)
	}
	if m, _, _ := rootfs.DiskMounted(e.volumeLayout("data1")); !m {
		t.Fatal("data1 was unmounted while another instance lists it")
	}
	if m, a, _ := rootfs.DiskMounted(e.volumeLayout("data2")); m || a {
		t.Fatalf("data2 left mounted %v, attached %v", m, a)
	}
	// web-01-i2 does not run: reconcileVolumes takes data1 down.
	did, err := e.reconcileVolumes(ctx)
	if err != nil || len(did) != 1 || !strings.Contains(did[0], `"data1"`) {
		t.Fatalf("reconcileVolumes: %v %v", did, err)
	}
	for _, n := range []string{"data1", "data2", "data3"} {
		if m, a, _ := rootfs.DiskMounted(e.volumeLayout(n)); m || a {
			t.Fatalf("%s left mounted %v, attached %v", n, m, a)
		}
	}
	if did, err := e.reconcileVolumes(ctx); err != nil || len(did) != 0 {
		t.Fatalf("reconcileVolumes again: %v %v", did, err)
	}
}

// volumeMounts at boot: the host mount once, bind mounts sorted by path,
// and its undo takes the host mount down.
func TestVolumeMountsAtBoot(t *testing.T) {
	harness.RequireRoot(t)
	ctx := context.Background()
	e := volumeEngine(t)
	for _, n := range []string{"outer", "inner"} {
		if _, err := e.CreateVolume(ctx, n, 64<<20); err != nil {
			t.Fatal(err)
		}
		l := e.volumeLayout(n)
		t.Cleanup(func() { rootfs.UnmountDisk(context.Background(), l) })
	}
	rec := inventory.Record{Name: "web-01", Node: "t", Status: inventory.StatusCreating,
		Volumes: []inventory.VolumeMount{{Name: "inner", Path: "/data/inner"}, {Name: "outer", Path: "/data"}}}
	if err := e.Inventory.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.dir("web-01"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := e.volumeMounts(ctx, rec, &revert.Reverter{}); !errors.Is(err, ErrConflict) {
		t.Fatalf("boot with unclaimed volumes: %v", err)
	}
	if err := e.claimVolumes(ctx, &revert.Reverter{}, rec); err != nil {
		t.Fatal(err)
	}
	rev := &revert.Reverter{}
	ms, err := e.volumeMounts(ctx, rec, rev)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Destination != "/data" || ms[1].Destination != "/data/inner" ||
		ms[0].Source != e.volumeLayout("outer").DiskDir() || ms[0].Type != "bind" {
		t.Fatalf("mounts: %+v", ms)
	}
	for _, n := range []string{"outer", "inner"} {
		if m, _, _ := rootfs.DiskMounted(e.volumeLayout(n)); !m {
			t.Fatalf("%s not mounted on the host", n)
		}
	}
	if _, err := e.volumeMounts(ctx, rec, &revert.Reverter{}); err != nil {
		t.Fatalf("again (mounted): %v", err)
	}
	if vi, err := e.Volume(ctx, "outer"); err != nil || !vi.Mounted || vi.SizeBytes == 0 || vi.AttachedName != "web-01" {
		t.Fatalf("volume info: %+v %v", vi, err)
	}
	if err := rev.Revert(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"outer", "inner"} {
		if m, a, _ := rootfs.DiskMounted(e.volumeLayout(n)); m || a {
			t.Fatalf("%s left after the undo: mounted %v attached %v", n, m, a)
		}
	}
	if _, err := os.Stat(e.instVolumesPath("web-01")); !os.IsNotExist(err) {
		t.Fatalf("volumes.json left after the undo: %v", err)
	}
}

// A mount namespace some other process cloned while a volume was mounted
// holds its file system after the host unmounts it: the stop does not fail
// on it, the next mount reuses the lingering loop device (one superblock),
// and reconcileVolumes clears it once that namespace is gone.
func TestVolumeForeignHolder(t *testing.T) {
	harness.RequireRoot(t)
	ctx := context.Background()
	e := volumeEngine(t)
	if _, err := e.CreateVolume(ctx, "data1", 64<<20); err != nil {
		t.Fatal(err)
	}
	l := e.volumeLayout("data1")
	t.Cleanup(func() { rootfs.UnmountDisk(context.Background(), l) })
	rec := inventory.Record{Name: "web-01", Node: "t", Status: inventory.StatusCreating, Volumes: []inventory.VolumeMount{{Name: "data1", Path: "/data"}}}
	if err := e.Inventory.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := e.claimVolumes(ctx, &revert.Reverter{}, rec); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.dir("web-01"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := e.volumeMounts(ctx, rec, &revert.Reverter{}); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "600")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	ours, _ := os.Readlink("/proc/self/ns/mnt")
	cloned := func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", holder.Process.Pid))
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", holder.Process.Pid))
		return strings.TrimSpace(string(b)) == "sleep" && ns != ours && mountsAt(t, holder.Process.Pid, l.DiskDir()) == 1
	}
	for deadline := time.Now().Add(5 * time.Second); !cloned(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the holder's namespace has no copy of the volume's mount")
		}
	}
	if err := e.unmountVolumes(ctx, "web-01"); err != nil {
		t.Fatalf("unmountVolumes with a foreign holder: %v", err)
	}
	m, a, _ := rootfs.DiskMounted(l)
	if m || !a {
		out, _ := exec.Command("sh", "-c", "grep -h . /sys/block/loop*/loop/backing_file; grep data1 /proc/"+fmt.Sprint(holder.Process.Pid)+"/mountinfo").CombinedOutput()
		t.Fatalf("mounted %v attached %v: want unmounted here, the loop device held\n%s", m, a, out)
	}
	if _, err := e.volumeMounts(ctx, rec, &revert.Reverter{}); err != nil {
		t.Fatalf("mount again with the loop device held: %v", err)
	}
	loops, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	n := 0
	for _, f := range loops {
		if b, _ := os.ReadFile(f); strings.TrimSpace(string(b)) == l.DiskImage() {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d loop devices bound to the volume: a second superblock", n)
	}
	holder.Process.Kill()
	holder.Wait()
	if did, err := e.reconcileVolumes(ctx); err != nil || len(did) != 1 {
		t.Fatalf("reconcileVolumes: %v %v", did, err)
	}
	if m, a, _ := rootfs.DiskMounted(l); m || a {
		t.Fatalf("after reconcile: mounted %v attached %v", m, a)
	}
}
