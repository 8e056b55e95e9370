package dockerbuild

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

const opaqueXattr = "trusted.overlay.opaque"

// mountOverlay mounts lowers (top first) with upper and work on merged.
func mountOverlay(lowers []string, upper, work, merged string) error {
	for _, d := range []string{upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,index=off,redirect_dir=off,metacopy=off",
		strings.Join(lowers, ":"), upper, work)
	if len(opts) > 4000 {
		return fmt.Errorf("too many layers (%d) for one overlay mount: fold steps together (join RUN lines with &&): %w", len(lowers), ErrInvalid)
	}
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount the build's overlay on %s: %w", merged, err)
	}
	return nil
}

func unmount(merged string) error {
	if err := unix.Unmount(merged, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		if err2 := unix.Unmount(merged, unix.MNT_DETACH); err2 != nil {
			return fmt.Errorf("unmount %s: %w", merged, err)
		}
	}
	return nil
}

// cleanDiff drops overlay's bookkeeping xattrs from an upper dir, keeping
// what a layer means: whiteouts (0/0 char devices) and opaque dirs.
func cleanDiff(diff string) error {
	return filepath.WalkDir(diff, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for _, n := range listXattrs(p) {
			if strings.HasPrefix(n, "trusted.overlay.") && !(d.IsDir() && n == opaqueXattr) {
				if err := unix.Lremovexattr(p, n); err != nil && !errors.Is(err, unix.ENODATA) {
					return fmt.Errorf("clean layer %s: %w", p, err)
				}
			}
		}
		return nil
	})
}

func listXattrs(p string) []string {
	sz, err := unix.Llistxattr(p, nil)
	if err != nil || sz == 0 {
		return nil
	}
	buf := make([]byte, sz)
	if sz, err = unix.Llistxattr(p, buf); err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00")
}

func isOpaque(p string) bool {
	v := make([]byte, 8)
	n, err := unix.Lgetxattr(p, opaqueXattr, v)
	return err == nil && n >= 1 && v[0] == 'y'
}

func isWhiteout(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && fi.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0
}

// applyDiff applies a layer to a flattened rootfs: a whiteout deletes, an
// opaque dir replaces, other entries replace what is there. Files are hard
// links to the layer's (the store keeps both read-only; one file system).
func applyDiff(diff, rootfs string) error {
	return filepath.WalkDir(diff, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(diff, p)
		if rel == "." {
			return nil
		}
		dst := filepath.Join(rootfs, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		old, oerr := os.Lstat(dst)
		if isWhiteout(fi) {
			return os.RemoveAll(dst)
		}
		if fi.IsDir() {
			if oerr == nil && (!old.IsDir() || isOpaque(p)) {
				if err := os.RemoveAll(dst); err != nil {
					return err
				}
				oerr = fs.ErrNotExist
			}
			if oerr != nil {
				if err := os.Mkdir(dst, 0o700); err != nil {
					return err
				}
			}
			return copyMeta(p, dst, fi)
		}
		if oerr == nil {
			if err := os.RemoveAll(dst); err != nil {
				return err
			}
		}
		return os.Link(p, dst)
	})
}

// copyMeta gives dst (a directory) src's owner, mode, times and xattrs.
func copyMeta(src, dst string, fi fs.FileInfo) error {
	st := fi.Sys().(*syscall.Stat_t)
	if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := os.Chmod(dst, fi.Mode().Perm()|fi.Mode()&(fs.ModeSetgid|fs.ModeSetuid|fs.ModeSticky)); err != nil {
		return err
	}
	for _, n := range listXattrs(src) {
		if strings.HasPrefix(n, "trusted.overlay.") {
			continue
		}
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(src, n, v)
		if err == nil {
			_ = unix.Lsetxattr(dst, n, v[:m], 0)
		}
	}
	return syscall.UtimesNano(dst, []syscall.Timespec{st.Atim, st.Mtim})
}
