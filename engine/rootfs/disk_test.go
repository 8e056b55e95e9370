package rootfs

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A bare disk mounts once, is left alone when mounted, reuses a loop
// device still bound to its image instead of attaching a second one, and
// unmounts with no loop device left.
func TestMountDisk(t *testing.T) {
	l, _ := setup(t)
	ctx := context.Background()
	if _, err := MountDisk(ctx, l); err == nil {
		t.Fatal("MountDisk without a disk passed")
	}
	if err := CreateDisk(ctx, l, 64*mib); err != nil {
		t.Fatal(err)
	}
	mounted, err := MountDisk(ctx, l)
	if err != nil || !mounted {
		t.Fatalf("MountDisk: %v %v", mounted, err)
	}
	if err := os.WriteFile(filepath.Join(l.DiskDir(), "hello"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if m, a, err := DiskMounted(l); err != nil || !m || !a {
		t.Fatalf("DiskMounted: %v %v %v", m, a, err)
	}
	if mounted, err := MountDisk(ctx, l); err != nil || mounted {
		t.Fatalf("MountDisk again: %v %v, want left as it is", mounted, err)
	}
	if n := len(loopsBackedBy(mustResolve(t, l).DiskImage())); n != 1 {
		t.Fatalf("%d loop devices bound to the image", n)
	}
	// A second mount of the same loop device elsewhere (a container's
	// bind, stand-in) keeps the device while the disk's own mount goes;
	// mounting again must reuse that device.
	other := filepath.Join(filepath.Dir(l.Dir), "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := bindMount(l.DiskDir(), other); err != nil {
		t.Fatal(err)
	}
	if _, err := unmountAll(mustResolve(t, l).DiskDir()); err != nil {
		t.Fatal(err)
	}
	if mounted, err := MountDisk(ctx, l); err != nil || !mounted {
		t.Fatalf("MountDisk with the loop still held: %v %v", mounted, err)
	}
	if n := len(loopsBackedBy(mustResolve(t, l).DiskImage())); n != 1 {
		t.Fatalf("%d loop devices bound to the image after a remount, want the one reused", n)
	}
	if b, err := os.ReadFile(filepath.Join(l.DiskDir(), "hello")); err != nil || string(b) != "hi\n" {
		t.Fatalf("file after remount: %q %v", b, err)
	}
	if _, err := unmountAll(other); err != nil {
		t.Fatal(err)
	}
	if err := UnmountDisk(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := UnmountDisk(ctx, l); err != nil {
		t.Fatalf("UnmountDisk again: %v", err)
	}
	if m, a, err := DiskMounted(l); err != nil || m || a {
		t.Fatalf("after UnmountDisk: mounted %v attached %v %v", m, a, err)
	}
}

func mustResolve(t *testing.T, l Layout) Layout {
	t.Helper()
	r, err := l.resolve()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func bindMount(src, dst string) error { return unix.Mount(src, dst, "", unix.MS_BIND, "") }
