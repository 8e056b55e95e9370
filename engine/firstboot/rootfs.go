package firstboot

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// root is an open rootfs directory. Every path below it is resolved with
// openat2(RESOLVE_IN_ROOT), so symlinks inside the image cannot escape it.
type root struct {
	fd   int
	path string // for error messages only
	// chown: chown what we write to 0:0 (only possible as root).
	chown bool
}

const resolveFlags = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

func openRoot(p string) (*root, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("firstboot: open rootfs %s: %w", p, err)
	}
	return &root{fd: fd, path: p, chown: os.Geteuid() == 0}, nil
}

func (r *root) Close() error { return unix.Close(r.fd) }

// rel turns "/etc/ssh" into "etc/ssh"; "" and "/" become ".".
func rel(p string) string {
	p = strings.TrimLeft(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

func (r *root) errf(p string, err error) error {
	return fmt.Errorf("firstboot: %s in rootfs %s: %w", "/"+strings.TrimPrefix(p, "/"), r.path, err)
}

// openDir opens the directory p (resolved inside the root) with flags.
func (r *root) openDir(p string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_DIRECTORY | unix.O_CLOEXEC), Resolve: resolveFlags}
	for range 16 {
		fd, err := unix.Openat2(r.fd, rel(p), &how)
		if err == unix.EAGAIN || err == unix.EINTR { // concurrent rename in the tree; retry
			continue
		}
		return fd, err
	}
	return -1, unix.EAGAIN
}

// mkdirAll creates p and its parents (mode for new ones, minus umask) and
// returns an O_PATH fd for it. A symlink on the way is followed inside the
// root; a dangling one (target missing inside the root) is an error.
func (r *root) mkdirAll(p string, mode uint32) (int, error) {
	p = rel(p)
	fd, err := r.openDir(p, unix.O_PATH)
	if err == nil || !errors.Is(err, unix.ENOENT) || p == "." {
		return fd, err
	}
	pfd, err := r.mkdirAll(path.Dir(p), mode)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, path.Base(p), mode); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, err
	}
	fd, err = r.openDir(p, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return -1, fmt.Errorf("%w (a dangling symlink? its target must exist inside the rootfs)", err)
	}
	return fd, err
}

// ensureDir creates p; if force, it also sets exactly mode and (as root) 0:0.
func (r *root) ensureDir(p string, mode uint32, force bool) error {
	fd, err := r.mkdirAll(p, mode)
	if err != nil {
		return r.errf(p, err)
	}
	unix.Close(fd)
	if !force {
		return nil
	}
	fd, err = r.openDir(p, unix.O_RDONLY)
	if err != nil {
		return r.errf(p, err)
	}
	defer unix.Close(fd)
	if r.chown {
		if err := unix.Fchown(fd, 0, 0); err != nil {
			return r.errf(p, err)
		}
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return r.errf(p, err)
	}
	return nil
}

// writeFile atomically replaces the file p inside the root with data (mode
// exactly, 0:0 as root). Whatever was at p (a symlink, a hard link) is
// replaced, never written through. Parent directories are created 0755.
func (r *root) writeFile(p string, data []byte, mode uint32) error {
	p = rel(p)
	dfd, err := r.mkdirAll(path.Dir(p), 0o755)
	if err != nil {
		return r.errf(path.Dir(p), err)
	}
	defer unix.Close(dfd)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	base := path.Base(p)
	tmp := "." + base + ".fatbox-" + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return r.errf(p, err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	err = func() error {
		if r.chown {
			if err := f.Chown(0, 0); err != nil {
				return err
			}
		}
		if err := f.Chmod(os.FileMode(mode)); err != nil {
			return err
		}
		// No fsync: every boot writes these files again from the state
		// dir (where the keys are fsynced), so a crash before writeback
		// loses nothing; it saved ~1 ms per file on every start.
		_, err := f.Write(data)
		return err
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, base)
	}
	if err != nil {
		_ = unix.Unlinkat(dfd, tmp, 0)
		return r.errf(p, err)
	}
	return nil
}

// symlink makes p (inside the root) a symlink to target. With replace, a
// file or link already at p is replaced atomically; without, anything at p
// (a file a package installed, a link) is left alone. Parent directories
// are created 0755.
func (r *root) symlink(p, target string, replace bool) error {
	p = rel(p)
	dfd, err := r.mkdirAll(path.Dir(p), 0o755)
	if err != nil {
		return r.errf(path.Dir(p), err)
	}
	defer unix.Close(dfd)
	base := path.Base(p)
	var st unix.Stat_t
	switch err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil && !replace:
		return nil
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK:
		buf := make([]byte, len(target)+1)
		if n, err := unix.Readlinkat(dfd, base, buf); err == nil && string(buf[:n]) == target {
			return nil // already right: no write at every boot
		}
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return r.errf(p, fmt.Errorf("a directory is in the way of the link to %s: remove it", target))
	case err != nil && !errors.Is(err, unix.ENOENT):
		return r.errf(p, err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := "." + base + ".fatbox-" + hex.EncodeToString(rnd[:])
	if err := unix.Symlinkat(target, dfd, tmp); err != nil {
		return r.errf(p, err)
	}
	if r.chown {
		_ = unix.Fchownat(dfd, tmp, 0, 0, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err := unix.Renameat(dfd, tmp, dfd, base); err != nil {
		_ = unix.Unlinkat(dfd, tmp, 0)
		return r.errf(p, err)
	}
	return nil
}

// readSmall reads the regular file p inside the root, at most max bytes;
// a missing file is (nil, nil). What the container wrote is never
// followed out of the root, and a FIFO or device there blocks nothing.
func (r *root) readSmall(p string, max int) ([]byte, error) {
	how := unix.OpenHow{Flags: uint64(unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC), Resolve: resolveFlags}
	fd, err := unix.Openat2(r.fd, rel(p), &how)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, r.errf(p, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, r.errf(p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, nil
	}
	buf := make([]byte, max)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return nil, r.errf(p, err)
	}
	return buf[:n], nil
}

// remove unlinks the file p inside the root; a missing file or directory
// on the way is nothing to do. A link at p is removed, never followed.
func (r *root) remove(p string) error {
	p = rel(p)
	dfd, err := r.openDir(path.Dir(p), unix.O_PATH)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return r.errf(path.Dir(p), err)
	}
	defer unix.Close(dfd)
	if err := unix.Unlinkat(dfd, path.Base(p), 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return r.errf(p, err)
	}
	return nil
}
