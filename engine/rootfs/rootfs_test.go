package rootfs

import (
	"bytes"
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

	"github.com/fatbox/fatbox/test/harness"
	"golang.org/x/sys/unix"
)

const mib = 1 << 20

// setup makes a state dir layout and a small fake image, and registers a
// cleanup that unmounts and then checks nothing of the test is left mounted
// or attached.
func setup(t *testing.T) (Layout, string) {
	t.Helper()
	harness.RequireRoot(t)
	base := t.TempDir()
	l := Layout{Dir: filepath.Join(base, "containers", "web-01")}
	image := filepath.Join(base, "image")
	for name, body := range map[string]string{
		"etc/hostname":     "image\n",
		"etc/os-release":   "ID=fake\n",
		"usr/bin/hello":    "#!/bin/sh\necho hello\n",
		"var/lib/app/data": "original\n",
	} {
		p := filepath.Join(image, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(image, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkNothingLeft(t, base) })
	t.Cleanup(func() {
		if err := Unmount(context.Background(), l); err != nil {
			t.Errorf("cleanup Unmount: %v", err)
		}
	})
	return l, image
}

// checkNothingLeft fails the test if a mount or loop device under base is
// left, and then removes such leftovers so the host stays clean.
func checkNothingLeft(t *testing.T, base string) {
	t.Helper()
	var left []string
	for i := 0; i < 100; i++ { // a lazily unmounted disk may take a moment
		left = leftovers(t, base)
		if len(left) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("left behind: %v", left)
	ms, _ := readMountinfo()
	for i := len(ms) - 1; i >= 0; i-- {
		if strings.HasPrefix(ms[i].Mountpoint, base) {
			_ = unix.Unmount(ms[i].Mountpoint, unix.MNT_DETACH)
		}
	}
}

func leftovers(t *testing.T, base string) []string {
	var left []string
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mi), "\n") {
		if strings.Contains(line, base) {
			left = append(left, "mount: "+line)
		}
	}
	out, err := exec.Command("losetup", "-a").CombinedOutput()
	if err != nil {
		t.Fatalf("losetup -a: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, base) {
			left = append(left, "loop: "+line)
		}
	}
	return left
}

// losetupJ returns `losetup -j disk.img` output (empty: no loop device).
func losetupJ(t *testing.T, img string) string {
	t.Helper()
	out, err := exec.Command("losetup", "-j", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup -j %s: %v: %s", img, err, out)
	}
	return strings.TrimSpace(string(out))
}

func createAndMount(t *testing.T, l Layout, image string, size int64) {
	t.Helper()
	ctx := context.Background()
	if err := CreateDisk(ctx, l, size); err != nil {
		t.Fatalf("CreateDisk: %v", err)
	}
	if err := Mount(ctx, l, image); err != nil {
		t.Fatalf("Mount: %v", err)
	}
}

func within10(got, want int64) bool {
	d := got - want
	if d < 0 {
		d = -d
	}
	return d*10 <= want
}

func TestMountOverlayOnSizedDisk(t *testing.T) {
	l, image := setup(t)
	createAndMount(t, l, image, 128*mib)

	rootfs, disk, err := Mounted(l)
	if err != nil || !rootfs || !disk {
		t.Fatalf("Mounted = %v, %v, %v; want true, true, nil", rootfs, disk, err)
	}
	// The image is visible.
	b, err := os.ReadFile(filepath.Join(l.RootfsDir(), "etc/hostname"))
	if err != nil || string(b) != "image\n" {
		t.Fatalf("rootfs etc/hostname = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(l.RootfsDir(), "usr/bin/hello")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(l.RootfsDir())
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("rootfs root mode %v, %v; want 0755 like the image", st.Mode(), err)
	}
	// A new file lands in upper, not in the image.
	if err := os.WriteFile(filepath.Join(l.RootfsDir(), "etc/new"), []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(l.UpperDir(), "etc/new")); err != nil || string(b) != "new\n" {
		t.Fatalf("upper etc/new = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(image, "etc/new")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("image got etc/new: %v", err)
	}
	// A change to an image file is copied up; the image keeps the original.
	if err := os.WriteFile(filepath.Join(l.RootfsDir(), "var/lib/app/data"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(image, "var/lib/app/data")); string(b) != "original\n" {
		t.Fatalf("image file changed: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(l.UpperDir(), "var/lib/app/data")); string(b) != "changed\n" {
		t.Fatalf("upper copy: %q", b)
	}
	// A delete is a whiteout in upper; the image keeps the file.
	if err := os.Remove(filepath.Join(l.RootfsDir(), "etc/os-release")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(image, "etc/os-release")); err != nil {
		t.Fatalf("image lost etc/os-release: %v", err)
	}
	// statfs of the overlay reports the upper fs: the 128 MiB disk.
	var sfs unix.Statfs_t
	if err := unix.Statfs(l.RootfsDir(), &sfs); err != nil {
		t.Fatal(err)
	}
	if total := int64(sfs.Blocks) * sfs.Bsize; !within10(total, 128*mib) {
		t.Fatalf("statfs(rootfs) size = %d, want within 10%% of %d", total, 128*mib)
	}
	used, size, err := Usage(l)
	if err != nil {
		t.Fatal(err)
	}
	if !within10(size, 128*mib) || used <= 0 || used >= size {
		t.Fatalf("Usage = %d used of %d", used, size)
	}
	// The disk is a loop device of disk.img with autoclear.
	out := losetupJ(t, l.DiskImage())
	if maj, min, err := DiskDevice(l); err != nil || maj != 7 || !strings.Contains(out, fmt.Sprintf("/dev/loop%d:", min)) {
		t.Fatalf("DiskDevice = %d:%d, %v; losetup says %s", maj, min, err, out)
	}
	if out == "" {
		t.Fatal("no loop device for disk.img while mounted")
	}
	lo, err := exec.Command("losetup", "-l", "-n", "-O", "AUTOCLEAR", strings.SplitN(out, ":", 2)[0]).CombinedOutput()
	if err != nil || strings.TrimSpace(string(lo)) != "1" {
		t.Fatalf("autoclear of %s: %q, %v", out, lo, err)
	}
}

func TestFullDiskStaysInside(t *testing.T) {
	l, image := setup(t)
	createAndMount(t, l, image, 128*mib)

	f, err := os.Create(filepath.Join(l.RootfsDir(), "big"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{0xfb}, mib)
	var werr error
	written := 0
	for i := 0; i < 200 && werr == nil; i++ {
		var n int
		n, werr = f.Write(chunk)
		written += n
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("writing 200 MiB into a 128 MiB disk: err = %v after %d bytes, want ENOSPC", werr, written)
	}
	if written >= 128*mib {
		t.Fatalf("wrote %d bytes into a 128 MiB disk", written)
	}
	t.Logf("ENOSPC after %d MiB", written/mib)
	if _, err := os.Stat(filepath.Join(image, "big")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("image dir got the file: %v", err)
	}
	// The host only paid for the sparse file, at most its length.
	var st unix.Stat_t
	if err := unix.Stat(l.DiskImage(), &st); err != nil {
		t.Fatal(err)
	}
	if alloc := st.Blocks * 512; alloc > 128*mib+mib {
		t.Fatalf("disk.img allocates %d bytes on the host, want <= ~128 MiB", alloc)
	}
	if st.Size != 128*mib {
		t.Fatalf("disk.img grew to %d", st.Size)
	}
	// The container can free space again.
	if err := os.Remove(filepath.Join(l.RootfsDir(), "big")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.RootfsDir(), "after"), []byte("ok"), 0o644); err != nil {
		t.Fatalf("write after freeing space: %v", err)
	}
}

func TestPersistenceAndIdempotence(t *testing.T) {
	l, image := setup(t)
	ctx := context.Background()
	createAndMount(t, l, image, 128*mib)
	payload := bytes.Repeat([]byte("persist"), 10000)
	if err := os.WriteFile(filepath.Join(l.RootfsDir(), "root-data"), payload, 0o600); err != nil {
		t.Fatal(err)
	}

	if err := Mount(ctx, l, image); err != nil {
		t.Fatalf("second Mount: %v", err)
	}
	// Exactly one overlay and one disk mount.
	ms, _ := readMountinfo()
	var nRoot, nDisk int
	for _, m := range ms {
		switch m.Mountpoint {
		case l.RootfsDir():
			nRoot++
		case l.DiskDir():
			nDisk++
		}
	}
	if nRoot != 1 || nDisk != 1 {
		t.Fatalf("after Mount twice: %d rootfs and %d disk mounts", nRoot, nDisk)
	}
	// Mounting over a different image while mounted is refused.
	other := t.TempDir()
	if err := Mount(ctx, l, other); !errors.Is(err, ErrMountMismatch) {
		t.Fatalf("Mount with another image: %v, want ErrMountMismatch", err)
	}

	if err := Unmount(ctx, l); err != nil {
		t.Fatalf("Unmount: %v", err)
	}
	if out := losetupJ(t, l.DiskImage()); out != "" {
		t.Fatalf("loop device left after Unmount: %s", out)
	}
	if r, d, err := Mounted(l); err != nil || r || d {
		t.Fatalf("Mounted after Unmount = %v, %v, %v", r, d, err)
	}
	if _, _, err := Usage(l); !errors.Is(err, ErrNotMounted) {
		t.Fatalf("Usage unmounted: %v, want ErrNotMounted", err)
	}
	if _, _, err := DiskDevice(l); !errors.Is(err, ErrNotMounted) {
		t.Fatalf("DiskDevice unmounted: %v, want ErrNotMounted", err)
	}
	if err := Unmount(ctx, l); err != nil {
		t.Fatalf("second Unmount: %v", err)
	}

	if err := Mount(ctx, l, image); err != nil {
		t.Fatalf("Mount again: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(l.RootfsDir(), "root-data"))
	if err != nil || !bytes.Equal(b, payload) {
		t.Fatalf("file after stop/start: %d bytes, %v", len(b), err)
	}
	if used, _, err := Usage(l); err != nil || used < int64(len(payload)) {
		t.Fatalf("Usage = %d, %v", used, err)
	}
}

func TestLazyUnmountWhenBusy(t *testing.T) {
	l, image := setup(t)
	createAndMount(t, l, image, 64*mib)
	f, err := os.Open(filepath.Join(l.RootfsDir(), "etc/hostname"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Unmount(context.Background(), l); err != nil {
		f.Close()
		t.Fatalf("Unmount while busy: %v", err)
	}
	if r, d, _ := Mounted(l); r || d {
		f.Close()
		t.Fatalf("still mounted after lazy Unmount: rootfs=%v disk=%v", r, d)
	}
	f.Close() // the last user goes: the kernel frees the loop device (checked in cleanup)
}

func TestBadInput(t *testing.T) {
	l, image := setup(t)
	ctx := context.Background()

	err := CreateDisk(ctx, l, 1*mib)
	if !errors.Is(err, ErrTooSmall) || !strings.Contains(err.Error(), "64 MiB") {
		t.Fatalf("CreateDisk 1 MiB: %v", err)
	}
	if _, err := os.Stat(l.DiskImage()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused CreateDisk left disk.img: %v", err)
	}
	if err := Mount(ctx, l, image); !errors.Is(err, ErrNoDisk) {
		t.Fatalf("Mount without disk: %v, want ErrNoDisk", err)
	}
	if err := CreateDisk(ctx, l, 64*mib); err != nil {
		t.Fatal(err)
	}
	if err := CreateDisk(ctx, l, 64*mib); !errors.Is(err, ErrExists) {
		t.Fatalf("CreateDisk twice: %v, want ErrExists", err)
	}

	missing := filepath.Join(filepath.Dir(image), "no-such-image")
	err = Mount(ctx, l, missing)
	if !errors.Is(err, ErrNoImage) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Mount missing image: %v", err)
	}
	assertClean(t, l)

	notDir := filepath.Join(image, "etc/hostname")
	if err := Mount(ctx, l, notDir); !errors.Is(err, ErrNoImage) || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("Mount file as image: %v", err)
	}
	assertClean(t, l)
}

// TestMountFailureIsUndone makes a step fail after the disk was attached
// and mounted (Dir/rootfs is a regular file, so its mkdir fails): the
// reverter must unmount the disk and free the loop device.
func TestMountFailureIsUndone(t *testing.T) {
	l, image := setup(t)
	ctx := context.Background()
	if err := CreateDisk(ctx, l, 64*mib); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.RootfsDir(), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Mount(ctx, l, image)
	if err == nil {
		t.Fatal("Mount over a file succeeded")
	}
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("failed at the wrong step: %v", err)
	}
	t.Logf("expected failure: %v", err)
	assertClean(t, l)
	// And once the obstacle is gone, Mount works.
	if err := os.Remove(l.RootfsDir()); err != nil {
		t.Fatal(err)
	}
	if err := Mount(ctx, l, image); err != nil {
		t.Fatalf("Mount after fixing: %v", err)
	}
}

func assertClean(t *testing.T, l Layout) {
	t.Helper()
	if r, d, err := Mounted(l); err != nil || r || d {
		t.Fatalf("Mounted = %v, %v, %v; want nothing mounted", r, d, err)
	}
	if _, err := os.Stat(l.DiskImage()); err == nil {
		if out := losetupJ(t, l.DiskImage()); out != "" {
			t.Fatalf("loop device left: %s", out)
		}
	}
}

func TestRemove(t *testing.T) {
	l, image := setup(t)
	ctx := context.Background()
	createAndMount(t, l, image, 64*mib)
	if err := os.WriteFile(filepath.Join(l.RootfsDir(), "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := l.DiskImage()
	if err := Remove(ctx, l); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(l.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state dir still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(image, "etc/hostname")); err != nil {
		t.Fatalf("Remove touched the image: %v", err)
	}
	out, _ := exec.Command("losetup", "-a").CombinedOutput()
	if strings.Contains(string(out), img) {
		t.Fatalf("loop device left: %s", out)
	}
	if err := Remove(ctx, l); err != nil {
		t.Fatalf("Remove twice: %v", err)
	}
}
