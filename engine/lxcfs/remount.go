package lxcfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Remount replaces lxcfs's bind mounts inside the mount namespace of a running
// container whose init is host pid pid with fresh ones from the lxcfs now on
// Dir (after Ensure restarted it). Every target of Mounts(Dir) that exists in
// the container gets one fresh read-only bind; the stale (or live) lxcfs
// mounts stacked on it are detached first. Targets missing in the container
// are skipped, and so are targets covered by something other than lxcfs
// (not FUSE, proc or sysfs: the engine's CPU view binds its own cpuinfo
// and cpu/online). It is idempotent.
func (m *Manager) Remount(pid int) error {
	dir, err := m.dir()
	if err != nil {
		return err
	}
	if pid <= 1 {
		return fmt.Errorf("remount lxcfs: pid %d is not a container's init", pid)
	}
	if err := m.Healthy(); err != nil {
		return fmt.Errorf("remount lxcfs in pid %d: lxcfs is not healthy (run Ensure first): %w", pid, err)
	}
	bs := binds(dir)
	if len(bs) == 0 {
		return fmt.Errorf("remount lxcfs in pid %d: no lxcfs files under %q", pid, dir)
	}

	nsPath := fmt.Sprintf("/proc/%d/ns/mnt", pid)
	ns, err := os.Open(nsPath)
	if err != nil {
		return fmt.Errorf("remount lxcfs in pid %d: open its mount namespace: %w", pid, err)
	}
	defer ns.Close()
	var their, ours unix.Stat_t
	if err := unix.Fstat(int(ns.Fd()), &their); err != nil {
		return fmt.Errorf("remount lxcfs in pid %d: %q: %w", pid, nsPath, err)
	}
	if err := unix.Stat("/proc/thread-self/ns/mnt", &ours); err != nil {
		return fmt.Errorf("remount lxcfs in pid %d: our own mount namespace: %w", pid, err)
	}
	if their.Ino == ours.Ino && their.Dev == ours.Dev {
		// Binding over /proc/meminfo here would hide the host's own.
		return fmt.Errorf("remount lxcfs in pid %d: it shares the host's mount namespace, refusing to bind over the host's /proc", pid)
	}

	// The container's root as its init sees it (pivot_root or chroot): the
	// targets are resolved from there, not from the namespace's root mount.
	rootPath := fmt.Sprintf("/proc/%d/root", pid)
	root, err := unix.Open(rootPath, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("remount lxcfs in pid %d: open its root %q: %w", pid, rootPath, err)
	}
	defer unix.Close(root)

	// Clone each file as a detached mount while Dir is still visible to us.
	trees := make([]int, 0, len(bs))
	defer func() {
		for _, fd := range trees {
			unix.Close(fd)
		}
	}()
	for _, b := range bs {
		fd, err := unix.OpenTree(unix.AT_FDCWD, b.source, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return fmt.Errorf("remount lxcfs in pid %d: clone %q (open_tree): %w", pid, b.source, err)
		}
		trees = append(trees, fd)
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
			return fmt.Errorf("remount lxcfs in pid %d: make the clone of %q read-only: %w", pid, b.source, err)
		}
	}

	err = onSpareThread(func() error {
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("unshare CLONE_FS: %w", err)
		}
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("enter mount namespace %q: %w", nsPath, err)
		}
		if err := unix.Fchdir(root); err != nil {
			return fmt.Errorf("enter the root %q: %w", rootPath, err)
		}
		if err := unix.Chroot("."); err != nil {
			return fmt.Errorf("chroot to %q: %w", rootPath, err)
		}
		var errs []error
		for i, b := range bs {
			if err := replace(trees[i], b.target); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
	if err != nil {
		return fmt.Errorf("remount lxcfs in pid %d: %w", pid, err)
	}
	return nil
}

// onSpareThread runs f on a goroutine locked to an OS thread that is never
// unlocked, so the thread ends with the goroutine and whatever f did to it
// (setns) never reaches other goroutines. That thread is never the main
// thread: Go cannot end the main thread and would park it for good, leaving
// the process's /proc/self in the container's mount namespace and pinning
// that namespace (and its rootfs) after the container is gone. A goroutine
// that lands on the main thread holds it locked while f runs on another
// thread, then unlocks it untouched.
func onSpareThread(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			err := onSpareThread(f)
			runtime.UnlockOSThread()
			done <- err
			return
		}
		done <- f() // never unlocked
	}()
	return <-done
}

// stale reports whether err is what a FUSE mount whose daemon died answers:
// ENOTCONN, or ECONNABORTED for a request caught in flight.
func stale(err error) bool {
	return errors.Is(err, unix.ENOTCONN) || errors.Is(err, unix.ECONNABORTED)
}

// replace runs inside the container's mount namespace: it detaches the lxcfs
// mounts stacked on target and attaches the cloned tree there.
func replace(tree int, target string) error {
	var st unix.Stat_t
	if err := unix.Lstat(target, &st); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil // not in this container
		}
		if !stale(err) { // a stale lxcfs mount is there
			return fmt.Errorf("%q: %w", target, err)
		}
	}
	for i := 0; ; i++ {
		var fs unix.Statfs_t
		err := unix.Statfs(target, &fs)
		if i == 0 && err == nil && fs.Type != fuseMagic && fs.Type != unix.PROC_SUPER_MAGIC && fs.Type != unix.SYSFS_MAGIC {
			// Something other than lxcfs covers it (the engine's own CPU
			// view over /proc/cpuinfo and cpu/online): leave it alone.
			return nil
		}
		if err == nil && fs.Type != fuseMagic {
			break // down to the file lxcfs covers
		}
		if err != nil && !stale(err) {
			return fmt.Errorf("%q: %w", target, err)
		}
		if i == 16 {
			return fmt.Errorf("%q: still a FUSE mount after 16 unmounts", target)
		}
		if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
			if errors.Is(err, unix.EINVAL) {
				break // not a mount point: the file itself lives on FUSE
			}
			return fmt.Errorf("detach the old lxcfs mount on %q: %w", target, err)
		}
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach lxcfs on %q (move_mount): %w", target, err)
	}
	return nil
}

// Watch checks lxcfs every interval until ctx ends. When it is not healthy
// and containers run, it runs Ensure and then Remount for every pid running returns (the host pids
// of the running containers' inits); a pid whose Remount failed is tried
// again at the next check. Errors go to report (which may be nil); a
// container that exited meanwhile is not an error.
func (m *Manager) Watch(ctx context.Context, interval time.Duration, running func(context.Context) ([]int, error), report func(error)) {
	if report == nil {
		report = func(error) {}
	}
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var retry []int
	all := false // every running container needs a remount
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if m.Healthy() != nil {
			// lxcfs is needed only while containers run (they Ensure it
			// as they boot): with none running, leave it down.
			pids, err := running(ctx)
			if err != nil {
				report(fmt.Errorf("lxcfs watch: list the running containers to remount lxcfs in: %w", err))
				continue
			}
			if len(pids) == 0 {
				continue
			}
			if err := m.Ensure(ctx); err != nil {
				if ctx.Err() == nil {
					report(fmt.Errorf("lxcfs watch: %w", err))
				}
				continue
			}
			all = true
		}
		pids := retry
		if all {
			var err error
			if pids, err = running(ctx); err != nil {
				report(fmt.Errorf("lxcfs watch: list the running containers to remount lxcfs in: %w", err))
				continue
			}
			all = false
		}
		retry = nil
		for _, pid := range pids {
			if err := m.Remount(pid); err != nil {
				if unix.Kill(pid, 0) == unix.ESRCH {
					continue // exited meanwhile
				}
				retry = append(retry, pid)
				report(fmt.Errorf("lxcfs watch: %w", err))
			}
		}
	}
}
