package rootfs

// Directory trees for commit (issue 16): a faithful copy of an image's
// rootfs, and an overlay upper dir applied onto it the way overlayfs shows
// it (whiteouts delete, opaque dirs hide what is below).

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Overlay's markers in an upper dir (Documentation/filesystems/overlayfs.rst).
const (
	xattrOverlayPrefix = "trusted.overlay."
	xattrOpaque        = "trusted.overlay.opaque"
	xattrRedirect      = "trusted.overlay.redirect"
	xattrMetacopy      = "trusted.overlay.metacopy"
)

// ErrOverlayFeature: an upper dir uses an overlay feature (redirect_dir,
// metacopy) whose entries cannot be applied without the lower layers'
// origin information; fatbox never mounts with them.
var ErrOverlayFeature = errors.New("upper dir uses an unsupported overlay feature")

// treeCopier copies entries with their owner, mode, times, xattrs and hard
// links. keep filters xattrs by name (nil keeps all).
type treeCopier struct {
	keep  func(name string) bool
	links map[[2]uint64]string // (dev, ino) of a source with several links -> its copy
	dirs  []dirTimes           // set once the children are in
	bytes int64
}

type dirTimes struct {
	path         string
	atime, mtime unix.Timespec
}

// CopyTree copies the directory tree src to dst, which must not exist:
// every file type (regular files sparse, symlinks as links, devices,
// fifos, sockets), owners, modes (setuid too), xattrs (trusted.* and
// security.* need root), times, and hard links within src. Symlinks are
// never followed. It returns the bytes of file data copied.
func CopyTree(dst, src string) (int64, error) {
	if _, err := os.Lstat(dst); err == nil {
		return 0, fmt.Errorf("rootfs: copy tree to %s: %w", dst, fs.ErrExist)
	}
	c := &treeCopier{links: map[[2]uint64]string{}}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return fmt.Errorf("lstat %s: %w", p, err)
		}
		return c.copyEntry(filepath.Join(dst, rel), p, &st)
	})
	if err == nil {
		err = c.finish()
	}
	if err != nil {
		return c.bytes, fmt.Errorf("rootfs: copy tree %s to %s: %w", src, dst, err)
	}
	return c.bytes, nil
}

// ApplyUpper applies the overlay upper dir upper onto dst (a copy of the
// lower dir), so that dst holds what the overlay mount showed: a whiteout
// (a character device 0/0) deletes the path, an opaque dir (xattr
// trusted.overlay.opaque=y) replaces the dir below whole, any other entry
// replaces the one below (dirs merge). Overlay's own xattrs are not copied.
// Every parent dst has for an entry was made or checked a real directory
// first, so nothing is written through a symlink dst holds. It returns
// the bytes of file data copied.
func ApplyUpper(dst, upper string) (int64, error) {
	c := &treeCopier{links: map[[2]uint64]string{}, keep: func(n string) bool { return !strings.HasPrefix(n, xattrOverlayPrefix) }}
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return fmt.Errorf("lstat %s: %w", p, err)
		}
		for _, x := range []string{xattrRedirect, xattrMetacopy} {
			if _, ok := getXattr(p, x); ok {
				return fmt.Errorf("%s has %s: %w (commit needs an overlay mounted without redirect_dir and metacopy)", p, x, ErrOverlayFeature)
			}
		}
		if IsWhiteout(&st) {
			if err := os.RemoveAll(target); err != nil {
				return err
			}
			return nil
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			var dt unix.Stat_t
			exists := unix.Lstat(target, &dt) == nil
			v, _ := getXattr(p, xattrOpaque)
			switch {
			case rel == ".":
			case exists && dt.Mode&unix.S_IFMT == unix.S_IFDIR && v != "y":
			case exists:
				if err := os.RemoveAll(target); err != nil {
					return err
				}
				exists = false
			}
			if exists || rel == "." {
				return c.setMeta(target, p, &st)
			}
			return c.copyEntry(target, p, &st)
		}
		if err := os.RemoveAll(target); err != nil {
			return err
		}
		return c.copyEntry(target, p, &st)
	})
	if err == nil {
		err = c.finish()
	}
	if err != nil {
		return c.bytes, fmt.Errorf("rootfs: apply upper dir %s onto %s: %w", upper, dst, err)
	}
	return c.bytes, nil
}

// IsWhiteout reports whether st is an overlay whiteout: a character device 0/0.
func IsWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// copyEntry makes dst as a copy of the entry src (st is its lstat).
func (c *treeCopier) copyEntry(dst, src string, st *unix.Stat_t) error {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdir(dst, 0o700); err != nil {
			return fmt.Errorf("mkdir %s: %w", dst, err)
		}
	case unix.S_IFREG:
		key := [2]uint64{st.Dev, st.Ino}
		if st.Nlink > 1 {
			if first, ok := c.links[key]; ok {
				if err := os.Link(first, dst); err != nil {
					return fmt.Errorf("link %s: %w", dst, err)
				}
				return nil // one inode: its metadata is set already
			}
			c.links[key] = dst
		}
		if err := c.copyFile(dst, src); err != nil {
			return err
		}
	case unix.S_IFLNK:
		t, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(t, dst); err != nil {
			return fmt.Errorf("symlink %s: %w", dst, err)
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
		if err := unix.Mknod(dst, st.Mode&unix.S_IFMT|0o600, int(st.Rdev)); err != nil {
			return fmt.Errorf("mknod %s: %w", dst, err)
		}
	default:
		return fmt.Errorf("%s: unknown file type %o", src, st.Mode&unix.S_IFMT)
	}
	return c.setMeta(dst, src, st)
}

func (c *treeCopier) copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	st, err := copyExtents(out, in)
	c.bytes += st.Copied
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// setMeta gives dst src's owner, mode, xattrs and times (a dir's times
// once its children are in: finish).
func (c *treeCopier) setMeta(dst, src string, st *unix.Stat_t) error {
	if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("chown %s: %w", dst, err)
	}
	isLink := st.Mode&unix.S_IFMT == unix.S_IFLNK
	if !isLink {
		// After chown, which clears setuid and setgid.
		if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
			return fmt.Errorf("chmod %s: %w", dst, err)
		}
	}
	if err := c.copyXattrs(dst, src); err != nil {
		return err
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		c.dirs = append(c.dirs, dirTimes{dst, st.Atim, st.Mtim})
		return nil
	}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %s: %w", dst, err)
	}
	return nil
}

// copyXattrs copies src's xattrs (after chown: it clears security.capability).
func (c *treeCopier) copyXattrs(dst, src string) error {
	names, err := listXattrs(src)
	if err != nil {
		return err
	}
	for _, n := range names {
		if c.keep != nil && !c.keep(n) {
			continue
		}
		v, ok := getXattr(src, n)
		if !ok {
			continue
		}
		if err := unix.Lsetxattr(dst, n, []byte(v), 0); err != nil {
			if errors.Is(err, unix.EPERM) && strings.HasPrefix(n, "user.") {
				continue // user.* xattrs are not allowed on symlinks and devices
			}
			return fmt.Errorf("set xattr %s on %s: %w", n, dst, err)
		}
	}
	return nil
}

// finish sets the dirs' times, deepest first.
func (c *treeCopier) finish() error {
	for i := len(c.dirs) - 1; i >= 0; i-- {
		d := c.dirs[i]
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, d.path, []unix.Timespec{d.atime, d.mtime}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set times of %s: %w", d.path, err)
		}
	}
	return nil
}

func listXattrs(p string) ([]string, error) {
	sz, err := unix.Llistxattr(p, nil)
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", p, err)
	}
	if sz == 0 {
		return nil, nil
	}
	buf := make([]byte, sz)
	sz, err = unix.Llistxattr(p, buf)
	if err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", p, err)
	}
	var out []string
	for _, n := range strings.Split(string(buf[:sz]), "\x00") {
		if n != "" {
			out = append(out, n)
		}
	}
	return out, nil
}

func getXattr(p, name string) (string, bool) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) && len(buf) < 1<<20 {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return "", false
		}
		return string(buf[:n]), true
	}
}

// OverlayLower is the lower dir of the overlay mounted at l's rootfs (the
// image a running container's root shows).
func OverlayLower(l Layout) (string, error) {
	l, err := l.resolve()
	if err != nil {
		return "", err
	}
	mounts, err := readMountinfo()
	if err != nil {
		return "", fmt.Errorf("rootfs: %w", err)
	}
	m, ok := topMount(mounts, l.RootfsDir())
	if !ok || m.FSType != "overlay" {
		return "", fmt.Errorf("rootfs: no overlay at %s: %w", l.RootfsDir(), ErrNotMounted)
	}
	lower, ok := superOpt(m.SuperOpts, "lowerdir")
	if !ok || lower == "" || strings.Contains(lower, ":") {
		return "", fmt.Errorf("rootfs: overlay at %s has lowerdir %q: want one dir", l.RootfsDir(), lower)
	}
	return lower, nil
}
