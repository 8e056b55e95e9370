package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

var (
	// ErrShrinkMounted: a mounted ext4 cannot shrink (resize2fs shrinks
	// only offline): stop the container first.
	ErrShrinkMounted = errors.New("a mounted disk cannot shrink")
	// ErrOnlineGrowDenied: the kernel refused to grow a mounted ext4
	// (EXT4_IOC_RESIZE_FS needs CAP_SYS_RESOURCE, which some hosts' root
	// lacks, e.g. inside a sandbox): the disk keeps its size until it is
	// grown unmounted (at the container's next start).
	ErrOnlineGrowDenied = errors.New("the kernel refused to grow a mounted file system")
)

// Resize changes the disk's size to sizeBytes. Growing works mounted or
// not: the image file grows (sparse), a mounted disk's loop device learns
// its new capacity (LOOP_SET_CAPACITY) and resize2fs grows the file system
// online. Shrinking works only unmounted (ErrShrinkMounted otherwise) and
// never below what the files use: e2fsck, then resize2fs to the new size,
// then the image is cut. A failed shrink leaves the disk at its old size.
func Resize(ctx context.Context, l Layout, sizeBytes int64) error {
	if sizeBytes < MinSize {
		return fmt.Errorf("rootfs: disk size %d bytes is below the minimum of %d bytes (64 MiB): %w", sizeBytes, MinSize, ErrTooSmall)
	}
	l, err := l.resolve()
	if err != nil {
		return err
	}
	img := l.DiskImage()
	st, err := os.Stat(img)
	if err != nil {
		return fmt.Errorf("rootfs: resize: %w: %w", err, ErrNoDisk)
	}
	cur := st.Size()
	if sizeBytes == cur {
		return nil
	}
	m, mounted := l, true
	if m, err = mountedDisk(l); errors.Is(err, ErrNotMounted) {
		mounted = false
	} else if err != nil {
		return err
	}
	if sizeBytes < cur {
		if mounted {
			return fmt.Errorf("rootfs: shrink %s from %d to %d bytes: %w", img, cur, sizeBytes, ErrShrinkMounted)
		}
		return shrink(ctx, img, cur, sizeBytes)
	}
	return grow(ctx, l, m, mounted, img, cur, sizeBytes)
}

// grow makes the disk sizeBytes: the image grows (sparse), a mounted
// disk's loop learns its capacity, resize2fs grows the file system. Any
// failure puts the image (and the loop's capacity) back, so the disk is
// exactly as it was and a retry starts over instead of finding the image
// already at the new size.
func grow(ctx context.Context, l, m Layout, mounted bool, img string, cur, sizeBytes int64) (err error) {
	target := img
	if mounted {
		maj, min, err := DiskDevice(m)
		if err != nil {
			return err
		}
		if maj != loopMajor {
			return fmt.Errorf("rootfs: grow: the disk of %s is on device %d:%d, not a loop device", l.Dir, maj, min)
		}
		target = (&loopDev{num: int(min)}).path()
	} else if err := fsck(ctx, img); err != nil {
		return err
	}
	if err := os.Truncate(img, sizeBytes); err != nil {
		return fmt.Errorf("rootfs: grow %s: %w", img, err)
	}
	defer func() {
		if err == nil {
			return
		}
		terr := os.Truncate(img, cur)
		if terr == nil && mounted {
			terr = setCapacity(target)
		}
		if terr != nil {
			err = errors.Join(err, fmt.Errorf("and putting the image back to %d bytes failed (the disk still works at its old size; run `truncate -s %d %s` when the container is stopped): %w", cur, cur, img, terr))
		}
	}()
	if mounted {
		if err := setCapacity(target); err != nil {
			return err
		}
	}
	if out, err := exec.CommandContext(ctx, "resize2fs", target).CombinedOutput(); err != nil {
		if mounted && strings.Contains(string(out), "Permission denied") {
			return fmt.Errorf("rootfs: grow %s online: %w (resize2fs: %s)", img, ErrOnlineGrowDenied, strings.TrimSpace(lastLine(string(out))))
		}
		return fmt.Errorf("rootfs: resize2fs %s: %w: %s", target, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// setCapacity tells a loop device its backing file changed size.
func setCapacity(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("rootfs: grow: open %s: %w", dev, err)
	}
	defer f.Close()
	if err := unix.IoctlSetInt(int(f.Fd()), unix.LOOP_SET_CAPACITY, 0); err != nil {
		return fmt.Errorf("rootfs: grow: LOOP_SET_CAPACITY on %s (is it still this disk's loop? see `losetup -a`): %w", dev, err)
	}
	return nil
}

func fsck(ctx context.Context, img string) error {
	out, err := exec.CommandContext(ctx, "e2fsck", "-f", "-p", img).CombinedOutput()
	var ee *exec.ExitError
	// Exit 1: errors corrected; anything above 1 is a file system that
	// needs a person.
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rootfs: e2fsck %s: %w: %s", img, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// shrink makes an unmounted disk smaller; resize2fs refuses a size below
// what the files need, and then nothing changed.
func shrink(ctx context.Context, img string, cur, size int64) error {
	if err := fsck(ctx, img); err != nil {
		return err
	}
	kib := size >> 10
	if out, err := exec.CommandContext(ctx, "resize2fs", img, fmt.Sprintf("%dK", kib)).CombinedOutput(); err != nil {
		return fmt.Errorf("rootfs: shrink %s to %d bytes: the files need more room (resize2fs: %s): %w", img, size, strings.TrimSpace(lastLine(string(out))), ErrTooSmall)
	}
	if err := os.Truncate(img, size); err != nil {
		return fmt.Errorf("rootfs: shrink %s: the file system is %d bytes now, but the image could not be cut: %w", img, size, err)
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		return s[i+1:]
	}
	return s
}
