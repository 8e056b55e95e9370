package rootfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// A bare disk (a data volume's): Dir/disk.img (CreateDisk) mounted on
// Dir/disk, with no overlay. One mount per disk image at a time: the same
// image attached to two loop devices would be two ext4 superblocks over one
// file, which corrupts it, so MountDisk reuses a loop device already bound
// to the image (the kernel then shares its superblock) instead of
// attaching another.

// MountDisk attaches Dir/disk.img to a loop device (autoclear) and mounts
// it on Dir/disk. It reports whether it mounted it: a disk mounted there
// already is left as it is (false, nil). When a loop device is still bound
// to disk.img (a lazy unmount whose last user lingers, a crash between the
// attach and the mount), that device is mounted rather than a second one.
func MountDisk(ctx context.Context, l Layout) (mounted bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	l, err = l.resolve()
	if err != nil {
		return false, err
	}
	if _, err := os.Stat(l.DiskImage()); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("rootfs: %s: %w (run CreateDisk first)", l.DiskImage(), ErrNoDisk)
		}
		return false, fmt.Errorf("rootfs: %w", err)
	}
	mounts, err := readMountinfo()
	if err != nil {
		return false, fmt.Errorf("rootfs: %w", err)
	}
	if m, ok := topMount(mounts, l.DiskDir()); ok {
		return false, checkDisk(l, m)
	}
	if err := os.MkdirAll(l.DiskDir(), 0o755); err != nil {
		return false, fmt.Errorf("rootfs: %w", err)
	}
	switch loops := loopsBackedBy(l.DiskImage()); len(loops) {
	case 0:
	case 1:
		dev := (&loopDev{num: loops[0], fd: -1}).path()
		if err := unix.Mount(dev, l.DiskDir(), "ext4", 0, ""); err != nil {
			return false, fmt.Errorf("rootfs: mount %s (still bound to %s) on %s: %w (if it is on its way out, wait and retry)", dev, l.DiskImage(), l.DiskDir(), err)
		}
		return true, nil
	default:
		return false, fmt.Errorf("rootfs: %s is bound to loop devices %v at once: find what holds them (losetup -j %s) and detach them before mounting it again", l.DiskImage(), loops, l.DiskImage())
	}
	dev, err := attachLoop(l.DiskImage())
	if err != nil {
		return false, fmt.Errorf("rootfs: attach %s: %w", l.DiskImage(), err)
	}
	if err := unix.Mount(dev.path(), l.DiskDir(), "ext4", 0, ""); err != nil {
		return false, errors.Join(fmt.Errorf("rootfs: mount %s (%s) on %s: %w", dev.path(), l.DiskImage(), l.DiskDir(), err), dev.detach())
	}
	// The mount holds the device now; dropping our fd lets unmounting free
	// it (LO_FLAGS_AUTOCLEAR).
	if err := dev.close(); err != nil {
		return true, errors.Join(fmt.Errorf("rootfs: close %s: %w", dev.path(), err), UnmountDisk(context.Background(), l))
	}
	return true, nil
}

// UnmountDisk unmounts Dir/disk (lazily if busy) and makes sure no loop
// device stays bound to disk.img. Idempotent; goes on past errors.
func UnmountDisk(ctx context.Context, l Layout) error {
	l, err := l.resolve()
	if err != nil {
		return err
	}
	var errs []error
	lazy, err := unmountAll(l.DiskDir())
	if err != nil {
		errs = append(errs, fmt.Errorf("rootfs: %w", err))
	}
	for _, n := range loopsBackedBy(l.DiskImage()) {
		if err := clearLoop(n); err != nil {
			errs = append(errs, fmt.Errorf("rootfs: %w", err))
		}
	}
	if !lazy && len(errs) == 0 {
		if err := waitLoopsGone(ctx, l.DiskImage(), loopDetachTimeout); err != nil {
			errs = append(errs, fmt.Errorf("rootfs: %w: %w: another mount namespace still has it mounted (a container still running with it, or a namespace some process cloned while it was mounted: `grep -l %s /proc/*/mountinfo` names them); it detaches itself when they end", ErrLoopBusy, err, l.DiskDir()))
		}
	}
	return errors.Join(errs...)
}

// ErrLoopBusy: UnmountDisk unmounted the disk here, but its loop device
// stays bound because another mount namespace still has the disk mounted
// (it detaches itself when that one lets go: autoclear).
var ErrLoopBusy = errors.New("loop device still held")

// DiskMounted reports whether Dir/disk has a mount, and whether a loop
// device is bound to Dir/disk.img.
func DiskMounted(l Layout) (mounted, attached bool, err error) {
	l, err = l.resolve()
	if err != nil {
		return false, false, err
	}
	mounts, err := readMountinfo()
	if err != nil {
		return false, false, fmt.Errorf("rootfs: %w", err)
	}
	_, mounted = topMount(mounts, l.DiskDir())
	return mounted, len(loopsBackedBy(l.DiskImage())) > 0, nil
}
