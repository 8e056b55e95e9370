package rootfs

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sparseFile makes a file of size bytes with data at the given offsets
// (64 KiB each, distinct bytes) and holes elsewhere.
func sparseFile(t *testing.T, p string, size int64, offs ...int64) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for i, off := range offs {
		if _, err := f.WriteAt(bytes.Repeat([]byte{byte('a' + i)}, 64<<10), off); err != nil {
			t.Fatal(err)
		}
	}
}

func allocated(t *testing.T, p string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// CopySparse copies the data and keeps the holes: the copy has the same
// bytes, the same length, and about as many allocated blocks as the source.
func TestCopySparseKeepsHoles(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src.img"), filepath.Join(dir, "dst.img")
	const size = 64 << 20
	sparseFile(t, src, size, 0, 1<<20, 17<<20+4096, size-64<<10)
	st, err := CopySparse(dst, src)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != size {
		t.Errorf("Size %d, want %d", st.Size, size)
	}
	if st.Copied < 4*64<<10 || st.Copied > 4<<20 {
		t.Errorf("copied %d bytes of a %d-byte file with 256 KiB of data: want only the data extents", st.Copied, size)
	}
	a, b := mustRead(t, src), mustRead(t, dst)
	if !bytes.Equal(a, b) {
		t.Fatal("the copy's bytes differ from the source's")
	}
	if got, want := allocated(t, dst), allocated(t, src); got > want+1<<20 {
		t.Errorf("the copy allocates %d bytes, the source %d: holes were filled", got, want)
	}
	// dst exists now: a second copy is refused and leaves it alone.
	if _, err := CopySparse(dst, src); !errors.Is(err, fs.ErrExist) {
		t.Errorf("copy over an existing file: %v, want ErrExist", err)
	}
	if !bytes.Equal(mustRead(t, dst), a) {
		t.Error("a refused copy changed the existing file")
	}
}

// A file that is all hole, and one that is all data.
func TestCopySparseEdges(t *testing.T) {
	dir := t.TempDir()
	hole := filepath.Join(dir, "hole")
	sparseFile(t, hole, 8<<20)
	st, err := CopySparse(filepath.Join(dir, "hole.copy"), hole)
	if err != nil || st.Copied != 0 || st.Size != 8<<20 {
		t.Fatalf("all-hole file: %+v %v", st, err)
	}
	full := filepath.Join(dir, "full")
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	if err := os.WriteFile(full, data, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err = CopySparse(filepath.Join(dir, "full.copy"), full)
	if err != nil || st.Copied != int64(len(data)) {
		t.Fatalf("full file: %+v %v", st, err)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(dir, "full.copy")), data) {
		t.Fatal("full file: bytes differ")
	}
	if _, err := CopySparse(filepath.Join(dir, "x"), filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing source was copied")
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a failed copy left its destination")
	}
}

// ReplaceSparse swaps the file whole and leaves no temp file.
func TestReplaceSparse(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "snap.img"), filepath.Join(dir, "disk.img")
	sparseFile(t, src, 16<<20, 4<<20)
	if err := os.WriteFile(dst, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReplaceSparse(dst, src); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustRead(t, dst), mustRead(t, src)) {
		t.Fatal("replaced file differs from the source")
	}
	// A temp file a crash left is cleaned up.
	left := filepath.Join(dir, ".disk.img.restore-123")
	os.WriteFile(left, nil, 0o600)
	if err := RemoveRestoreTemps(dst); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("dir holds %v, want only the two images", ents)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Freeze on a real loop-mounted ext4: writers block while frozen and go on
// after the thaw; the image copied while frozen is a clean file system
// holding what was written before the freeze.
func TestFreezeThawLoopExt4(t *testing.T) {
	ctx := context.Background()
	l, image := setup(t)
	if err := CreateDisk(ctx, l, 128*mib); err != nil {
		t.Fatal(err)
	}
	if err := Mount(ctx, l, image); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.UpperDir(), "before"), []byte("written before the freeze\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ms, err := MountsOfImage(l.DiskImage()); err != nil || len(ms) != 1 || ms[0] != l.DiskDir() {
		t.Fatalf("MountsOfImage: %v %v, want [%s]", ms, err, l.DiskDir())
	}
	thaw, err := Freeze(l.DiskDir())
	if err != nil {
		t.Fatal(err)
	}
	defer thaw()
	if _, err := Freeze(l.DiskDir()); err == nil {
		t.Fatal("a second freeze of a frozen file system succeeded")
	}
	var wrote atomic.Bool
	done := make(chan error, 1)
	go func() {
		err := os.WriteFile(filepath.Join(l.UpperDir(), "during"), []byte("x"), 0o644)
		wrote.Store(true)
		done <- err
	}()
	start := time.Now()
	snap := filepath.Join(t.TempDir(), "snap.img")
	st, err := CopySparse(snap, l.DiskImage())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if wrote.Load() {
		t.Fatal("a write went through on a frozen file system")
	}
	if err := thaw(); err != nil {
		t.Fatal(err)
	}
	if err := thaw(); err != nil {
		t.Fatalf("second thaw: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the writer after the thaw: %v", err)
	}
	t.Logf("froze for %s, copied %d of %d bytes", time.Since(start).Round(time.Millisecond), st.Copied, st.Size)
	if st.Copied >= st.Size/2 {
		t.Errorf("copied %d of %d bytes: want only the allocated blocks", st.Copied, st.Size)
	}
	// The copy is a clean ext4 (no journal to replay, fsck finds nothing)
	// holding the file written before the freeze.
	if err := fsck(ctx, snap); err != nil {
		t.Fatalf("the frozen copy is not clean: %v", err)
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	unmount, err := MountReadOnly(ctx, snap, mnt)
	if err != nil {
		t.Fatal(err)
	}
	b, rerr := os.ReadFile(filepath.Join(mnt, "upper", "before"))
	if err := unmount(); err != nil {
		t.Fatal(err)
	}
	if rerr != nil || string(b) != "written before the freeze\n" {
		t.Fatalf("the copy's file: %q %v", b, rerr)
	}
	// Thaw, for a freezer that died: thaws a frozen one, and is a no-op
	// on one not frozen or not mounted.
	thaw2, err := Freeze(l.DiskDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := Thaw(l.DiskDir()); err != nil {
			t.Fatalf("Thaw %d: %v", i, err)
		}
	}
	if err := thaw2(); err != nil {
		t.Fatalf("the freezer's own thaw after Thaw: %v", err)
	}
	if err := os.WriteFile(filepath.Join(l.UpperDir(), "after"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Thaw(mnt); err != nil {
		t.Fatalf("Thaw of an empty mountpoint: %v", err)
	}
	if ms, _ := MountsOfImage(snap); len(ms) != 0 {
		t.Fatalf("still mounted after unmount: %v", ms)
	}
}
