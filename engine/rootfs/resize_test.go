package rootfs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/fatbox/fatbox/test/harness"
)

// A disk grows while mounted (the container keeps running and sees the
// new size), refuses to shrink while mounted, shrinks unmounted to any size
// its files fit in, never below, and keeps its files throughout.
func TestResize(t *testing.T) {
	ctx := context.Background()
	l, image := setup(t)
	if err := CreateDisk(ctx, l, 128*mib); err != nil {
		t.Fatal(err)
	}
	if err := Mount(ctx, l, image); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("fatbox"), 10*mib) // 60 MiB of files
	file := filepath.Join(l.RootfsDir(), "data.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, before, err := Usage(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := Resize(ctx, l, 100*mib); !errors.Is(err, ErrShrinkMounted) {
		t.Fatalf("shrink mounted: %v, want ErrShrinkMounted", err)
	}
	online := true
	if err := Resize(ctx, l, 512*mib); errors.Is(err, ErrOnlineGrowDenied) {
		// This host's root lacks CAP_SYS_RESOURCE: the disk must be
		// exactly as it was, and the grow happens unmounted below.
		online = false
		if st, err := os.Stat(l.DiskImage()); err != nil || st.Size() != 128*mib {
			t.Fatalf("a refused online grow left the image at %d bytes (%v), want 128 MiB", st.Size(), err)
		}
		if _, size, err := Usage(l); err != nil || size != before {
			t.Fatalf("a refused online grow changed the file system: %d, %v", size, err)
		}
	} else if err != nil {
		t.Fatalf("grow mounted: %v", err)
	}
	if err := Unmount(ctx, l); err != nil {
		t.Fatal(err)
	}
	if !online {
		if err := Resize(ctx, l, 512*mib); err != nil {
			t.Fatalf("grow unmounted: %v", err)
		}
	}
	if err := Mount(ctx, l, image); err != nil {
		t.Fatal(err)
	}
	if _, after, err := Usage(l); err != nil || after < before+300*mib {
		t.Fatalf("disk grew from %d to %d bytes (%v), want about 384 MiB more", before, after, err)
	}
	if err := Unmount(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := Resize(ctx, l, 64*mib); !errors.Is(err, ErrTooSmall) {
		t.Fatalf("shrink below the files: %v, want ErrTooSmall", err)
	}
	if st, err := os.Stat(l.DiskImage()); err != nil || st.Size() != 512*mib {
		t.Fatalf("a refused shrink changed the image: %v %v", st.Size(), err)
	}
	if err := Resize(ctx, l, 160*mib); err != nil {
		t.Fatalf("shrink unmounted: %v", err)
	}
	if err := Mount(ctx, l, image); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(file)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("files after the shrink: %d bytes, %v", len(got), err)
	}
	if _, size, err := Usage(l); err != nil || size > 160*mib || size < 140*mib {
		t.Fatalf("size after the shrink: %d, %v", size, err)
	}
}

// Growing a mounted disk online is a path this host may not allow (root
// without CAP_SYS_RESOURCE); where it does, it must work without a remount.
func TestResizeOnline(t *testing.T) {
	ctx := context.Background()
	l, image := setup(t)
	if err := CreateDisk(ctx, l, 128*mib); err != nil {
		t.Fatal(err)
	}
	if err := Mount(ctx, l, image); err != nil {
		t.Fatal(err)
	}
	_, before, err := Usage(l)
	if err != nil {
		t.Fatal(err)
	}
	err = Resize(ctx, l, 512*mib)
	if errors.Is(err, ErrOnlineGrowDenied) {
		harness.NotRun(t, "this host denies growing a mounted ext4 (root lacks CAP_SYS_RESOURCE): the container's disk grows at its next start instead")
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, after, err := Usage(l); err != nil || after < before+300*mib {
		t.Fatalf("mounted disk grew from %d to %d bytes (%v)", before, after, err)
	}
}
