package rootfs

// Sparse copies of disk images and file-system freezes, for snapshots and
// commit (issue 16).
//
// What a copy costs: the state dir's file system has no reflink (ext4), so
// a copy of a disk image reads and writes every allocated block. CopySparse
// walks the image's extents with SEEK_DATA/SEEK_HOLE and copies only the
// data ranges (copy_file_range: in-kernel, no trip through user space),
// leaving holes as holes: a 10 GiB disk holding 300 MiB of files costs
// about 300 MiB of IO and of space, not 10 GiB. Blocks the container once
// wrote and then freed stay allocated in the image (the loop device passes
// no discard unless the file system inside is mounted with it), so they
// are copied too.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// FIFREEZE and FITHAW (linux/fs.h: _IOWR('X', 119/120, int)); x/sys/unix
// does not define them.
const (
	fiFreeze = 0xC0045877
	fiThaw   = 0xC0045878
)

// CopyStats says what a copy did.
type CopyStats struct {
	// Size is the source's length (its apparent size).
	Size int64 `json:"size"`
	// Copied is the bytes of data copied: the allocated extents.
	Copied int64 `json:"copied"`
}

// CopySparse copies the regular file src to dst, which it creates (mode
// 0600) and must not exist, copying only src's data extents so holes stay
// holes (dst's size is src's). dst is fsynced. A failed copy removes dst.
func CopySparse(dst, src string) (st CopyStats, err error) {
	in, err := os.Open(src)
	if err != nil {
		return st, fmt.Errorf("rootfs: copy %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return st, fmt.Errorf("rootfs: copy %s to %s: %w", src, dst, err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("rootfs: copy %s to %s: %w", src, dst, cerr)
		}
		if err != nil {
			_ = os.Remove(dst)
		}
	}()
	st, err = copyExtents(out, in)
	if err != nil {
		return st, fmt.Errorf("rootfs: copy %s to %s: %w", src, dst, err)
	}
	if err := out.Sync(); err != nil {
		return st, fmt.Errorf("rootfs: fsync %s: %w", dst, err)
	}
	return st, nil
}

// copyExtents copies in's data extents to the same offsets of out and
// sets out's length to in's.
func copyExtents(out, in *os.File) (CopyStats, error) {
	var st CopyStats
	fi, err := in.Stat()
	if err != nil {
		return st, err
	}
	if !fi.Mode().IsRegular() {
		return st, fmt.Errorf("%s is not a regular file", in.Name())
	}
	st.Size = fi.Size()
	if err := out.Truncate(st.Size); err != nil {
		return st, err
	}
	ifd, ofd := int(in.Fd()), int(out.Fd())
	for off := int64(0); off < st.Size; {
		data, err := unix.Seek(ifd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // no data past off: the rest is a hole
		}
		if err != nil {
			return st, fmt.Errorf("SEEK_DATA at %d: %w", off, err)
		}
		hole, err := unix.Seek(ifd, data, unix.SEEK_HOLE)
		if err != nil {
			return st, fmt.Errorf("SEEK_HOLE at %d: %w", data, err)
		}
		if hole > st.Size {
			hole = st.Size
		}
		if err := copyRange(ofd, ifd, out, in, data, hole-data); err != nil {
			return st, err
		}
		st.Copied += hole - data
		off = hole
	}
	return st, nil
}

// copyRange copies n bytes at off from in to the same offset of out:
// copy_file_range, or read/write where the kernel cannot (EXDEV, ENOSYS,
// EINVAL on some file systems).
func copyRange(ofd, ifd int, out, in *os.File, off, n int64) error {
	roff, woff := off, off
	for n > 0 {
		chunk := n
		if chunk > 1<<30 {
			chunk = 1 << 30
		}
		c, err := unix.CopyFileRange(ifd, &roff, ofd, &woff, int(chunk), 0)
		if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			return copyRangeRW(out, in, roff, n)
		}
		if err != nil {
			return fmt.Errorf("copy_file_range at %d: %w", roff, err)
		}
		if c == 0 {
			return fmt.Errorf("copy_file_range at %d: source ended early (it shrank while copied?)", roff)
		}
		n -= int64(c)
	}
	return nil
}

func copyRangeRW(out, in *os.File, off, n int64) error {
	buf := make([]byte, 1<<20)
	for n > 0 {
		m := int64(len(buf))
		if m > n {
			m = n
		}
		r, err := in.ReadAt(buf[:m], off)
		if r > 0 {
			if _, werr := out.WriteAt(buf[:r], off); werr != nil {
				return werr
			}
		}
		if err != nil && !(errors.Is(err, io.EOF) && int64(r) == m) {
			return fmt.Errorf("read at %d: %w", off, err)
		}
		off += int64(r)
		n -= int64(r)
	}
	return nil
}

// ReplaceSparse replaces dst with a sparse copy of src so that a crash at
// any instant leaves either the old dst or the whole new one, never a half
// copy: the copy goes to a temp file in dst's directory, is fsynced and
// renamed over dst, and the directory is fsynced.
func ReplaceSparse(dst, src string) (CopyStats, error) {
	dir := filepath.Dir(dst)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".restore-")
	if err != nil {
		return CopyStats{}, fmt.Errorf("rootfs: replace %s: %w", dst, err)
	}
	name := tmp.Name()
	tmp.Close()
	os.Remove(name) // CopySparse creates it exclusively
	st, err := CopySparse(name, src)
	if err != nil {
		return st, err
	}
	if err := os.Rename(name, dst); err != nil {
		os.Remove(name)
		return st, fmt.Errorf("rootfs: replace %s: %w", dst, err)
	}
	if err := SyncDir(dir); err != nil {
		return st, err
	}
	return st, nil
}

// RemoveRestoreTemps removes the temp files a ReplaceSparse of dst left
// when the process died mid-copy.
func RemoveRestoreTemps(dst string) error {
	left, err := filepath.Glob(filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".restore-*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range left {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SyncDir fsyncs a directory, so the entries made or renamed in it last.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("rootfs: fsync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("rootfs: fsync %s: %w", dir, err)
	}
	return nil
}

// Freeze freezes the file system mounted at mountpoint (FIFREEZE: the
// kernel flushes it to its device and blocks every writer until thawed),
// so its image reads as a clean, consistent file system. thaw (FITHAW)
// must be called, also on errors; it is idempotent. A file system frozen
// already (EBUSY) is an error: someone else holds it frozen.
func Freeze(mountpoint string) (thaw func() error, err error) {
	fd, err := unix.Open(mountpoint, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("rootfs: freeze %s: %w", mountpoint, err)
	}
	if _, err := unix.IoctlRetInt(fd, fiFreeze); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("rootfs: freeze %s: frozen already (by another snapshot, or `fsfreeze -f`; `fsfreeze -u %s` thaws it): %w", mountpoint, mountpoint, err)
		}
		return nil, fmt.Errorf("rootfs: freeze %s (FIFREEZE): %w", mountpoint, err)
	}
	done := false
	return func() error {
		if done {
			return nil
		}
		done = true
		defer unix.Close(fd)
		if _, err := unix.IoctlRetInt(fd, fiThaw); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("rootfs: thaw %s (FITHAW; `fsfreeze -u %s` by hand): %w", mountpoint, mountpoint, err)
		}
		return nil
	}, nil
}

// MountsOfImage lists where the disk image img is mounted in this mount
// namespace (through a loop device backed by it): the host mounts of a
// volume, say. None when it is not mounted.
func MountsOfImage(img string) ([]string, error) {
	abs, err := filepath.Abs(img)
	if err != nil {
		return nil, err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	mounts, err := readMountinfo()
	if err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	var out []string
	for _, m := range mounts {
		if m.Major == loopMajor && loopBacking(m.Minor) == abs {
			out = append(out, m.Mountpoint)
		}
	}
	return out, nil
}

// MountReadOnly mounts the ext4 disk image img read-only on target (made
// if missing) through a loop device (autoclear), for reading a stopped
// container's disk. The loop device is attached read-write so that the
// kernel can replay a journal left by a crash; the file system itself is
// mounted read-only and nothing is written to it. unmount undoes it.
func MountReadOnly(ctx context.Context, img, target string) (unmount func() error, err error) {
	if img, err = filepath.Abs(img); err != nil {
		return nil, err
	}
	if r, err := filepath.EvalSymlinks(img); err == nil {
		img = r
	}
	if err := os.MkdirAll(target, 0o700); err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	dev, err := attachLoop(img)
	if err != nil {
		return nil, fmt.Errorf("rootfs: attach %s: %w", img, err)
	}
	if err := unix.Mount(dev.path(), target, "ext4", unix.MS_RDONLY|unix.MS_NODEV|unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil {
		return nil, errors.Join(fmt.Errorf("rootfs: mount %s (%s) read-only on %s: %w", dev.path(), img, target, err), dev.detach())
	}
	if err := dev.close(); err != nil {
		_, uerr := unmountAll(target)
		return nil, errors.Join(fmt.Errorf("rootfs: close %s: %w", dev.path(), err), uerr)
	}
	return func() error {
		if _, err := unmountAll(target); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
		return waitLoopsGone(ctx, img, loopDetachTimeout)
	}, nil
}

// Thaw thaws the file system mounted at mountpoint if it is frozen (after
// a process that froze it died); nothing mounted there, or not frozen, is
// not an error.
func Thaw(mountpoint string) error {
	mounts, err := readMountinfo()
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	if _, ok := topMount(mounts, mountpoint); !ok {
		return nil // never the file system below an empty mountpoint
	}
	fd, err := unix.Open(mountpoint, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rootfs: thaw %s: %w", mountpoint, err)
	}
	defer unix.Close(fd)
	if _, err := unix.IoctlRetInt(fd, fiThaw); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("rootfs: thaw %s (FITHAW): %w", mountpoint, err)
	}
	return nil
}
