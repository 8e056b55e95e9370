package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vishvananda/netns"
)

// NetnsDir is where named network namespaces are bind-mounted (iproute2's place).
const NetnsDir = "/var/run/netns"

// CreateNetns makes a persistent network namespace for a container and
// returns its path. It keeps the calling thread in its own namespace. A
// namespace that already exists is returned as is (idempotent).
func CreateNetns(name string) (string, error) {
	path := filepath.Join(NetnsDir, name)
	switch ok, err := isNetns(path); {
	case ok:
		return path, nil
	case err == nil:
		// Something else is at the path: a file a crash left between
		// iproute2's (or NewNamed's) create and its bind mount. Entering
		// it would fail with EINVAL at every attach: make the namespace anew.
		if err := os.Remove(path); err != nil {
			return "", fmt.Errorf("netns %q: %s is not a network namespace and cannot be removed: %w", name, path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("netns %q: %w", name, err)
	}
	if err := ensureNetnsDir(); err != nil {
		return "", err
	}
	// NewNamed unshares the calling thread into the new namespace: do it on
	// a goroutine of its own, so a thread that cannot get back dies with
	// it (a goroutine that exits locked takes its thread along) instead of
	// carrying the caller on in the wrong namespace.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("read this thread's netns: %w", err)
			return
		}
		defer orig.Close()
		h, err := netns.NewNamed(name)
		if serr := netns.Set(orig); serr != nil {
			errc <- errors.Join(err, fmt.Errorf("return to the host netns: %w", serr))
			return
		}
		runtime.UnlockOSThread()
		if err != nil {
			errc <- fmt.Errorf("create netns %q: %w", name, err)
			return
		}
		h.Close()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		return "", err
	}
	return path, nil
}

// DeleteNetns removes a named network namespace; idempotent.
func DeleteNetns(name string) error {
	err := netns.DeleteNamed(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		path := filepath.Join(NetnsDir, name)
		if _, serr := os.Stat(path); os.IsNotExist(serr) {
			return nil
		}
		if ok, serr := isNetns(path); serr == nil && !ok {
			// A plain file a crash left before its mount: nothing to unmount.
			if rerr := os.Remove(path); rerr == nil || os.IsNotExist(rerr) {
				return nil
			}
		}
		return fmt.Errorf("delete netns %q: %w", name, err)
	}
	return nil
}

// isNetns reports whether path is a network namespace (a bind mount of an
// nsfs file), not merely a file of that name.
func isNetns(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	return st.Type == unix.NSFS_MAGIC, nil
}

// CreateLoopbackNetns makes a named network namespace whose only link is
// loopback, up: what a build step without network gets. Delete it with
// DeleteNetns.
func CreateLoopbackNetns(name string) (string, error) {
	p, err := CreateNetns(name)
	if err != nil {
		return "", err
	}
	h, err := netns.GetFromPath(p)
	if err != nil {
		_ = DeleteNetns(name)
		return "", fmt.Errorf("open netns %q: %w", name, err)
	}
	defer h.Close()
	err = inNetns(h, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	if err != nil {
		_ = DeleteNetns(name)
		return "", fmt.Errorf("bring loopback up in netns %q: %w", name, err)
	}
	return p, nil
}

// ensureNetnsDir makes NetnsDir a shared mount of itself, as iproute2's
// `ip netns add` does the first time it runs on a host. Namespaces
// bind-mounted on the plain directory before that are copied into
// iproute2's new mount, but their first mounts stay underneath it: the
// name can then be unmounted but never removed (EBUSY), and the container
// never deleted. Done first, iproute2 finds the mount point made and binds
// nothing.
func ensureNetnsDir() error {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return fmt.Errorf("netns dir: %w", err)
	}
	shared := func() error { return unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "") }
	if err := shared(); !errors.Is(err, unix.EINVAL) {
		return wrapErr(err, "make "+NetnsDir+" a shared mount")
	}
	// EINVAL: not a mount point yet. Bind it onto itself once, under a lock
	// (two creates binding at once would stack two mounts).
	d, err := os.Open(NetnsDir)
	if err != nil {
		return fmt.Errorf("netns dir: %w", err)
	}
	defer d.Close()
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", NetnsDir, err)
	}
	defer unix.Flock(int(d.Fd()), unix.LOCK_UN)
	if err := shared(); !errors.Is(err, unix.EINVAL) {
		return wrapErr(err, "make "+NetnsDir+" a shared mount")
	}
	// Namespaces already mounted on the plain directory (a fatbox before
	// this one, with its containers still running) would stay under the
	// bind, their names never removable: leave the directory as it is.
	if n, err := mountsUnder(NetnsDir); err != nil || n > 0 {
		return err
	}
	if err := unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s onto itself: %w", NetnsDir, err)
	}
	return wrapErr(shared(), "make "+NetnsDir+" a shared mount")
}

// wrapErr is nil for nil, else err after what.
func wrapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// mountsUnder counts the mounts whose mount point is inside dir (not dir
// itself), from /proc/self/mountinfo.
func mountsUnder(dir string) (int, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], real+"/") {
			n++
		}
	}
	return n, nil
}
