package rootfs

import (
	"github.com/fatbox/fatbox/engine/revert"

	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// MinSize is the smallest disk CreateDisk accepts.
const MinSize int64 = 64 << 20

var (
	// ErrExists: CreateDisk found a disk.img already.
	ErrExists = errors.New("disk already exists")
	// ErrTooSmall: CreateDisk was asked for less than MinSize.
	ErrTooSmall = errors.New("disk size too small")
	// ErrNoDisk: Mount found no disk.img (CreateDisk was not run).
	ErrNoDisk = errors.New("no disk")
	// ErrNoImage: Mount's image rootfs is missing or not a directory.
	ErrNoImage = errors.New("image rootfs missing")
	// ErrNotMounted: Usage needs the disk mounted.
	ErrNotMounted = errors.New("not mounted")
	// ErrMountMismatch: something is already mounted where Mount would
	// mount, but not what Mount would have mounted.
	ErrMountMismatch = errors.New("mounted differently")
)

// loopDetachTimeout bounds how long Unmount waits for the autoclear of the
// loop device after a (non-lazy) unmount of the disk.
const loopDetachTimeout = 5 * time.Second

// Layout is a container's state dir and the fixed names inside it.
type Layout struct {
	Dir string // e.g. /var/lib/fatbox/containers/web-01
}

// DiskImage is the sparse ext4 file backing the writable disk.
func (l Layout) DiskImage() string { return filepath.Join(l.Dir, "disk.img") }

// DiskDir is where the disk is mounted.
func (l Layout) DiskDir() string { return filepath.Join(l.Dir, "disk") }

// UpperDir is the overlay upper dir, on the disk.
func (l Layout) UpperDir() string { return filepath.Join(l.Dir, "disk", "upper") }

// WorkDir is the overlay work dir, on the disk.
func (l Layout) WorkDir() string { return filepath.Join(l.Dir, "disk", "work") }

// RootfsDir is the overlay mountpoint: the container's root.
func (l Layout) RootfsDir() string { return filepath.Join(l.Dir, "rootfs") }

// resolve returns l with an absolute, symlink-free Dir (symlinks are resolved
// only if Dir exists), so paths compare equal to /proc/self/mountinfo's.
func (l Layout) resolve() (Layout, error) {
	if l.Dir == "" {
		return l, errors.New("rootfs: empty Layout.Dir")
	}
	abs, err := filepath.Abs(l.Dir)
	if err != nil {
		return l, err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	return Layout{Dir: abs}, nil
}

// CreateDisk creates Dir/disk.img as a sparse file of sizeBytes and formats
// it ext4. It refuses (ErrExists) when disk.img exists already, and removes a
// half-made disk.img when formatting fails.
func CreateDisk(ctx context.Context, l Layout, sizeBytes int64) error {
	if sizeBytes < MinSize {
		return fmt.Errorf("rootfs: disk size %d bytes is below the minimum of %d bytes (64 MiB): %w", sizeBytes, MinSize, ErrTooSmall)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.Dir == "" {
		return errors.New("rootfs: empty Layout.Dir")
	}
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return fmt.Errorf("rootfs: state dir: %w", err)
	}
	l, err := l.resolve()
	if err != nil {
		return err
	}
	img := l.DiskImage()
	f, err := os.OpenFile(img, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("rootfs: %s: %w", img, ErrExists)
		}
		return fmt.Errorf("rootfs: create disk: %w", err)
	}
	err = f.Truncate(sizeBytes)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = mkfs(ctx, img, sizeBytes)
	}
	if err != nil {
		_ = os.Remove(img)
		return fmt.Errorf("rootfs: create disk %s: %w", img, err)
	}
	return nil
}

// smallDisk is mke2fs's "small" usage type limit: below it mke2fs picks
// 1 KiB blocks and one inode per 4 KiB, whose inode tables alone eat 6% of
// the disk. One inode per 8 KiB keeps a 128 MiB disk's usable size within
// 10% of what was asked (118.5 of 128 MiB instead of 114.5).
const smallDisk = 512 << 20

func mkfs(ctx context.Context, img string, size int64) error {
	bin, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		for _, p := range []string{"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
				break
			}
		}
		if err != nil {
			return fmt.Errorf("mkfs.ext4 not found (Debian package e2fsprogs): %w", err)
		}
	}
	args := []string{"-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", "-m", "0"}
	if size < smallDisk {
		args = append(args, "-i", "8192")
	}
	out, err := exec.CommandContext(ctx, bin, append(args, img)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mkfs.ext4: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// checkPath refuses paths the overlay option string cannot carry.
func checkPath(what, p string) error {
	if strings.ContainsAny(p, ",:\\\n\t ") {
		return fmt.Errorf("rootfs: %s %q contains a character overlayfs options cannot carry (comma, colon, backslash or whitespace)", what, p)
	}
	return nil
}

// Mount attaches disk.img to a loop device (autoclear), mounts it on
// Dir/disk, creates upper and work on it and mounts the overlay
// (lowerdir=imageRootfs) on Dir/rootfs. When both are already mounted as this
// call would mount them, it returns nil. When any step fails, everything this
// call did is undone.
func Mount(ctx context.Context, l Layout, imageRootfs string) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	l, err = l.resolve()
	if err != nil {
		return err
	}
	if imageRootfs == "" {
		return fmt.Errorf("rootfs: empty image rootfs path: %w", ErrNoImage)
	}
	image, err := filepath.Abs(imageRootfs)
	if err != nil {
		return err
	}
	if r, err := filepath.EvalSymlinks(image); err == nil {
		image = r
	}
	st, err := os.Stat(image)
	if err != nil {
		return fmt.Errorf("rootfs: image rootfs %s: %w (%w)", image, ErrNoImage, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("rootfs: image rootfs %s is not a directory: %w", image, ErrNoImage)
	}
	if _, err := os.Stat(l.DiskImage()); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rootfs: %s: %w (run CreateDisk first)", l.DiskImage(), ErrNoDisk)
		}
		return fmt.Errorf("rootfs: %w", err)
	}
	if err := checkPath("state dir", l.Dir); err != nil {
		return err
	}
	if err := checkPath("image rootfs", image); err != nil {
		return err
	}

	mounts, err := readMountinfo()
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	diskM, diskOK := topMount(mounts, l.DiskDir())
	rootM, rootOK := topMount(mounts, l.RootfsDir())
	if diskOK {
		if err := checkDisk(l, diskM); err != nil {
			return err
		}
	}
	if rootOK {
		if !diskOK {
			return fmt.Errorf("rootfs: %s is mounted but its disk %s is not; Unmount first: %w", l.RootfsDir(), l.DiskDir(), ErrMountMismatch)
		}
		return checkOverlay(l, rootM, image)
	}

	var rv revert.Reverter
	defer func() {
		if err != nil {
			if rerr := rv.Revert(); rerr != nil {
				err = errors.Join(err, fmt.Errorf("rootfs: undo: %w", rerr))
			}
		}
	}()

	if !diskOK {
		if err := os.MkdirAll(l.DiskDir(), 0o755); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
		dev, err := attachLoop(l.DiskImage())
		if err != nil {
			return fmt.Errorf("rootfs: attach %s: %w", l.DiskImage(), err)
		}
		rv.Add(dev.detach) // no-op once closed below; autoclear takes over
		if err := unix.Mount(dev.path(), l.DiskDir(), "ext4", 0, ""); err != nil {
			return fmt.Errorf("rootfs: mount %s (%s) on %s: %w", dev.path(), l.DiskImage(), l.DiskDir(), err)
		}
		rv.Add(func() error {
			_, err := unmountAll(l.DiskDir())
			return errors.Join(err, waitLoopsGone(context.Background(), l.DiskImage(), loopDetachTimeout))
		})
		// The mount holds the device now; drop our fd so that unmounting
		// frees the loop device (LO_FLAGS_AUTOCLEAR).
		if err := dev.close(); err != nil {
			return fmt.Errorf("rootfs: close %s: %w", dev.path(), err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	if _, err := os.Stat(l.UpperDir()); errors.Is(err, fs.ErrNotExist) {
		// The overlay's root directory takes its owner and mode from upper.
		if err := os.Mkdir(l.UpperDir(), 0o755); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			if err := os.Lchown(l.UpperDir(), int(sys.Uid), int(sys.Gid)); err != nil {
				return fmt.Errorf("rootfs: %w", err)
			}
		}
		if err := os.Chmod(l.UpperDir(), st.Mode().Perm()); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
	}
	if err := os.MkdirAll(l.WorkDir(), 0o700); err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	if err := os.MkdirAll(l.RootfsDir(), 0o755); err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", image, l.UpperDir(), l.WorkDir())
	if err := unix.Mount("overlay", l.RootfsDir(), "overlay", 0, opts); err != nil {
		return fmt.Errorf("rootfs: mount overlay on %s (%s): %w", l.RootfsDir(), opts, err)
	}
	rv.Release()
	return nil
}

// checkDisk verifies that m (the mount at Dir/disk) is disk.img on a loop device.
func checkDisk(l Layout, m mountEntry) error {
	if m.Major != loopMajor || loopBacking(m.Minor) != l.DiskImage() {
		return fmt.Errorf("rootfs: %s is mounted from %s (%d:%d), not from a loop device of %s; Unmount first: %w",
			l.DiskDir(), m.Source, m.Major, m.Minor, l.DiskImage(), ErrMountMismatch)
	}
	return nil
}

// checkOverlay verifies that m (the mount at Dir/rootfs) is our overlay of image.
func checkOverlay(l Layout, m mountEntry, image string) error {
	lower, _ := superOpt(m.SuperOpts, "lowerdir")
	upper, _ := superOpt(m.SuperOpts, "upperdir")
	if m.FSType != "overlay" || upper != l.UpperDir() || lower != image {
		return fmt.Errorf("rootfs: %s is mounted as %s (lowerdir=%q upperdir=%q), want overlay of %s; Unmount first: %w",
			l.RootfsDir(), m.FSType, lower, upper, image, ErrMountMismatch)
	}
	return nil
}

// unmountAll unmounts every mount stacked on path, falling back to a lazy
// unmount (MNT_DETACH) when one is busy. It reports whether it went lazy.
func unmountAll(path string) (lazy bool, err error) {
	for i := 0; i < 16; i++ {
		mounts, err := readMountinfo()
		if err != nil {
			return lazy, err
		}
		if _, ok := topMount(mounts, path); !ok {
			return lazy, nil
		}
		err = unix.Unmount(path, 0)
		if errors.Is(err, unix.EBUSY) {
			lazy = true
			err = unix.Unmount(path, unix.MNT_DETACH)
		}
		if err != nil {
			if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
				return lazy, nil // not a mount point (any more)
			}
			return lazy, fmt.Errorf("unmount %s: %w", path, err)
		}
	}
	return lazy, fmt.Errorf("unmount %s: still mounted after 16 unmounts", path)
}

// Unmount unmounts Dir/rootfs, then Dir/disk (each lazily if busy), and
// makes sure no loop device stays attached to disk.img. It is idempotent,
// carries on past errors and returns them joined. After a lazy unmount the
// loop device is freed by the kernel only once the last user lets go.
func Unmount(ctx context.Context, l Layout) error {
	l, err := l.resolve()
	if err != nil {
		return err
	}
	var errs []error
	lazyRoot, err := unmountAll(l.RootfsDir())
	if err != nil {
		errs = append(errs, fmt.Errorf("rootfs: %w", err))
	}
	// A lazily unmounted overlay still holds the disk's filesystem (through
	// its private clone of upper) even when the disk's own unmount succeeds.
	lazyDisk, err := unmountAll(l.DiskDir())
	if err != nil {
		errs = append(errs, fmt.Errorf("rootfs: %w", err))
	}
	lazy := lazyRoot || lazyDisk
	// Loop devices still bound to disk.img: left over from a crash between
	// LOOP_SET_FD and the mount, or still held by a lazy unmount. LOOP_CLR_FD
	// detaches an unused one now and marks a used one autoclear.
	for _, n := range loopsBackedBy(l.DiskImage()) {
		if err := clearLoop(n); err != nil {
			errs = append(errs, fmt.Errorf("rootfs: %w", err))
		}
	}
	if !lazy && len(errs) == 0 {
		if err := waitLoopsGone(ctx, l.DiskImage(), loopDetachTimeout); err != nil {
			errs = append(errs, fmt.Errorf("rootfs: %w (is the disk mounted in another mount namespace?)", err))
		}
	}
	return errors.Join(errs...)
}

// Remove unmounts everything and deletes Dir entirely. It refuses to delete
// while anything is still mounted under Dir.
func Remove(ctx context.Context, l Layout) error {
	l, err := l.resolve()
	if err != nil {
		return err
	}
	if err := Unmount(ctx, l); err != nil {
		return fmt.Errorf("rootfs: remove %s: %w", l.Dir, err)
	}
	mounts, err := readMountinfo()
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	for _, m := range mounts {
		if m.Mountpoint == l.Dir || strings.HasPrefix(m.Mountpoint, l.Dir+"/") {
			return fmt.Errorf("rootfs: remove %s: %s is still mounted; not deleting", l.Dir, m.Mountpoint)
		}
	}
	if err := os.RemoveAll(l.Dir); err != nil {
		return fmt.Errorf("rootfs: remove %s: %w", l.Dir, err)
	}
	return nil
}

// Mounted reports whether something is mounted on Dir/rootfs and on
// Dir/disk, from /proc/self/mountinfo.
func Mounted(l Layout) (rootfs, disk bool, err error) {
	l, err = l.resolve()
	if err != nil {
		return false, false, err
	}
	mounts, err := readMountinfo()
	if err != nil {
		return false, false, fmt.Errorf("rootfs: %w", err)
	}
	_, rootfs = topMount(mounts, l.RootfsDir())
	_, disk = topMount(mounts, l.DiskDir())
	return rootfs, disk, nil
}

// Usage reports the used and total bytes of the mounted disk (statfs of
// Dir/disk). It fails with ErrNotMounted when the disk is not mounted, so it
// never reports the host filesystem by mistake.
func Usage(l Layout) (used, size int64, err error) {
	l, err = mountedDisk(l)
	if err != nil {
		return 0, 0, err
	}
	var s unix.Statfs_t
	if err := unix.Statfs(l.DiskDir(), &s); err != nil {
		return 0, 0, fmt.Errorf("rootfs: statfs %s: %w", l.DiskDir(), err)
	}
	size = int64(s.Blocks) * s.Bsize
	used = int64(s.Blocks-s.Bfree) * s.Bsize
	return used, size, nil
}

// mountedDisk resolves l and checks that its own disk is mounted on
// Dir/disk (ErrNotMounted if nothing is).
func mountedDisk(l Layout) (Layout, error) {
	l, err := l.resolve()
	if err != nil {
		return l, err
	}
	mounts, err := readMountinfo()
	if err != nil {
		return l, fmt.Errorf("rootfs: %w", err)
	}
	m, ok := topMount(mounts, l.DiskDir())
	if !ok {
		return l, fmt.Errorf("rootfs: %s: %w", l.DiskDir(), ErrNotMounted)
	}
	return l, checkDisk(l, m)
}

// DiskDevice returns the block device (major, minor) of the mounted disk —
// its loop device — for IO limits. It fails with ErrNotMounted when the disk
// is not mounted.
func DiskDevice(l Layout) (major, minor uint32, err error) {
	l, err = mountedDisk(l)
	if err != nil {
		return 0, 0, err
	}
	var st unix.Stat_t
	if err := unix.Stat(l.DiskDir(), &st); err != nil {
		return 0, 0, fmt.Errorf("rootfs: stat %s: %w", l.DiskDir(), err)
	}
	return unix.Major(st.Dev), unix.Minor(st.Dev), nil
}
