package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const loopMajor = 7

// loopDev is a loop device this package attached and still holds open.
type loopDev struct {
	num int
	fd  int
}

func (d *loopDev) path() string { return fmt.Sprintf("/dev/loop%d", d.num) }

// close drops our reference; with LO_FLAGS_AUTOCLEAR the kernel detaches the
// device once no one (no mount, no fd) holds it any more.
func (d *loopDev) close() error {
	if d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// detach clears the device explicitly (LOOP_CLR_FD; the kernel turns this
// into autoclear if someone else still has it open) and closes our fd.
func (d *loopDev) detach() error {
	if d.fd < 0 {
		return nil
	}
	var errs []error
	if err := unix.IoctlSetInt(d.fd, unix.LOOP_CLR_FD, 0); err != nil && !errors.Is(err, unix.ENXIO) {
		errs = append(errs, fmt.Errorf("LOOP_CLR_FD %s: %w", d.path(), err))
	}
	errs = append(errs, d.close())
	return errors.Join(errs...)
}

// attachLoop binds backing to a free loop device with LO_FLAGS_AUTOCLEAR,
// using LOOP_CTL_GET_FREE + LOOP_SET_FD + LOOP_SET_STATUS64.
func attachLoop(backing string) (*loopDev, error) {
	bfd, err := unix.Open(backing, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", backing, err)
	}
	defer unix.Close(bfd) // the loop device keeps its own reference

	ctl, err := unix.Open("/dev/loop-control", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/loop-control: %w", err)
	}
	defer unix.Close(ctl)

	// Another process may take the device between GET_FREE and SET_FD
	// (EBUSY); then ask again.
	for attempt := 0; attempt < 20; attempt++ {
		n, err := unix.IoctlRetInt(ctl, unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("LOOP_CTL_GET_FREE: %w", err)
		}
		d := &loopDev{num: n, fd: -1}
		fd, err := unix.Open(d.path(), unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", d.path(), err)
		}
		d.fd = fd
		if err := unix.IoctlSetInt(fd, unix.LOOP_SET_FD, bfd); err != nil {
			_ = d.close()
			if errors.Is(err, unix.EBUSY) {
				continue
			}
			return nil, fmt.Errorf("LOOP_SET_FD %s: %w", d.path(), err)
		}
		info := unix.LoopInfo64{Flags: unix.LO_FLAGS_AUTOCLEAR}
		name := backing
		if len(name) >= len(info.File_name) {
			name = name[len(name)-len(info.File_name)+1:]
		}
		copy(info.File_name[:], name)
		if err := unix.IoctlLoopSetStatus64(fd, &info); err != nil {
			return nil, errors.Join(fmt.Errorf("LOOP_SET_STATUS64 %s: %w", d.path(), err), d.detach())
		}
		return d, nil
	}
	return nil, errors.New("no free loop device after 20 attempts (raced with other users)")
}

// loopBacking returns the backing file of loop device minor, "" if unbound.
func loopBacking(minor uint32) string {
	b, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/loop/backing_file", loopMajor, minor))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// loopsBackedBy lists the loop devices (by number) whose backing file is path.
func loopsBackedBy(path string) []int {
	matches, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var out []int
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		if strings.TrimSpace(string(b)) != path {
			continue
		}
		var n int
		if _, err := fmt.Sscanf(filepath.Base(filepath.Dir(filepath.Dir(m))), "loop%d", &n); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// clearLoop issues LOOP_CLR_FD on /dev/loopN: detach now if unused, else
// mark it autoclear so it detaches when its last user goes.
func clearLoop(n int) error {
	d := &loopDev{num: n, fd: -1}
	fd, err := unix.Open(d.path(), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENXIO) {
			return nil
		}
		return fmt.Errorf("open %s: %w", d.path(), err)
	}
	d.fd = fd
	return d.detach()
}

// waitLoopsGone waits until no loop device is backed by path any more.
func waitLoopsGone(ctx context.Context, path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		left := loopsBackedBy(path)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("loop device(s) %v still attached to %s after %s", left, path, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("loop device(s) %v still attached to %s: %w", left, path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
