package dockerbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// resolveIn resolves p (absolute, in the image) inside root the way the
// container would see it: symlinks are followed, absolute ones from root,
// and ".." never climbs above root. The last component need not exist.
func resolveIn(root, p string) (string, error) {
	parts := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	cur := "/"
	for hops := 0; len(parts) > 0; {
		c := parts[0]
		parts = parts[1:]
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many symlinks in the image", p)
		}
		t, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if path.IsAbs(t) {
			cur = "/"
		}
		parts = append(strings.Split(strings.Trim(t, "/"), "/"), parts...)
	}
	return filepath.Join(root, cur), nil
}

// ignore is the context's .dockerignore: what COPY and ADD never see.
type ignore struct {
	root string                         // the context, symlinks resolved
	pm   *patternmatcher.PatternMatcher // nil: nothing is ignored
}

// readIgnore reads ctxDir/.dockerignore (docker's syntax: patterns with
// ** and ! exceptions, relative to the context).
func readIgnore(ctxDir string) (ignore, error) {
	root, err := filepath.EvalSymlinks(ctxDir)
	if err != nil {
		return ignore{}, fmt.Errorf("build context %q: %w", ctxDir, err)
	}
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return ignore{root: root}, nil
	}
	if err != nil {
		return ignore{}, err
	}
	defer f.Close()
	pats, err := ignorefile.ReadAll(f)
	if err == nil {
		var pm *patternmatcher.PatternMatcher
		if pm, err = patternmatcher.New(pats); err == nil {
			return ignore{root: root, pm: pm}, nil
		}
	}
	return ignore{}, fmt.Errorf("%s: %v: fix the pattern: %w", filepath.Join(ctxDir, ".dockerignore"), err, ErrInvalid)
}

// skip: p (under the context) is ignored; skipDir: and, a directory,
// nothing under it can be taken back by a ! exception.
func (ig ignore) skip(p string, dir bool) (skip, skipDir bool) {
	if ig.pm == nil {
		return false, false
	}
	rel, err := filepath.Rel(ig.root, p)
	if err != nil || rel == "." {
		return false, false
	}
	m, _ := ig.pm.MatchesOrParentMatches(filepath.ToSlash(rel))
	return m, m && dir && !ig.pm.Exclusions()
}

// walk is filepath.WalkDir over what the .dockerignore leaves.
func (ig ignore) walk(root string, fn fs.WalkDirFunc) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			if skip, skipDir := ig.skip(p, d.IsDir()); skipDir {
				return filepath.SkipDir
			} else if skip {
				return nil
			}
		}
		return fn(p, d, err)
	})
}

// sources expands a COPY/ADD's sources (globs allowed) to paths in the
// context dir; each must exist and stay inside it, symlinks included.
func sources(ig ignore, st Step) ([]string, error) {
	realCtx := ig.root
	var out []string
	for _, s := range st.Srcs {
		p := filepath.Join(realCtx, filepath.FromSlash(path.Clean("/"+s)))
		matches, err := filepath.Glob(p)
		matches = slices.DeleteFunc(matches, func(m string) bool {
			fi, err := os.Stat(m)
			skip, skipDir := ig.skip(m, err == nil && fi.IsDir())
			return skipDir || (skip && (err != nil || !fi.IsDir()))
		})
		if err != nil || len(matches) == 0 {
			return nil, fmt.Errorf("line %d: %s %s: no such file in the build context %q (or .dockerignore leaves it out): check the path (it is relative to the context): %w", st.Line, st.Cmd, s, realCtx, ErrInvalid)
		}
		sort.Strings(matches)
		for _, m := range matches {
			real, err := filepath.EvalSymlinks(m)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s %s: %v: %w", st.Line, st.Cmd, s, err, ErrInvalid)
			}
			if real != realCtx && !strings.HasPrefix(real, realCtx+string(filepath.Separator)) {
				return nil, fmt.Errorf("line %d: %s %s: %s leads outside the build context (to %s): copy the file into the context instead of linking to it: %w", st.Line, st.Cmd, s, m, real, ErrInvalid)
			}
			out = append(out, real)
		}
	}
	return out, nil
}

// hashSources is the digest of what a COPY reads: every path under the
// sources with its type, mode, link target and bytes (not times or owners:
// COPY sets owners itself).
func hashSources(ig ignore, srcs []string) (string, error) {
	h := sha256.New()
	for _, src := range srcs {
		base := filepath.Dir(src)
		err := ig.walk(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(base, p)
			fi, err := d.Info()
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%q %o", rel, fi.Mode())
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				t, _ := os.Readlink(p)
				fmt.Fprintf(h, " -> %q", t)
			case fi.Mode().IsRegular():
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				fmt.Fprintf(h, " %d ", fi.Size())
				_, err = io.Copy(h, f)
				f.Close()
				if err != nil {
					return err
				}
			}
			h.Write([]byte{'\n'})
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("read build context: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// isTar: ADD extracts local archives by their name.
func isTar(p string) bool {
	for _, s := range []string{".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst"} {
		if strings.HasSuffix(strings.ToLower(p), s) {
			return true
		}
	}
	return false
}

// copyStep runs a COPY or ADD into the mounted rootfs.
func copyStep(ig ignore, rootfs string, st Step, srcs []string, uid, gid int) error {
	destDir := strings.HasSuffix(st.Dest, "/") || len(srcs) > 1
	dest := strings.TrimSuffix(st.Dest, "/")
	if dest == "" {
		dest = "/"
	}
	if !destDir && len(srcs) == 1 {
		// COPY file /existing/dir copies into the directory.
		if d, err := resolveIn(rootfs, dest); err == nil {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() {
				destDir = true
			}
		}
		if fi, err := os.Stat(srcs[0]); err == nil && fi.IsDir() {
			destDir = true
		}
	}
	for _, src := range srcs {
		fi, err := os.Stat(src)
		if err != nil {
			return err
		}
		switch {
		case st.Cmd == "ADD" && fi.Mode().IsRegular() && isTar(src):
			d, err := mkdirIn(rootfs, dest)
			if err != nil {
				return err
			}
			// As docker: an archive keeps its own owners (--chown is not applied).
			args := []string{"--numeric-owner", "--same-owner", "--same-permissions", "-x", "-f", src, "-C", d}
			if out, err := exec.Command("tar", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("line %d: ADD %s: extract: %v: %s", st.Line, filepath.Base(src), err, strings.TrimSpace(string(out)))
			}
		case fi.IsDir():
			d, err := mkdirIn(rootfs, dest)
			if err != nil {
				return err
			}
			if err := copyTree(ig, src, d, uid, gid); err != nil {
				return err
			}
		default:
			target := dest
			if destDir {
				if _, err := mkdirIn(rootfs, dest); err != nil {
					return err
				}
				target = path.Join(dest, filepath.Base(src))
			} else if _, err := mkdirIn(rootfs, path.Dir(dest)); err != nil {
				return err
			}
			t, err := resolveIn(rootfs, target)
			if err != nil {
				return err
			}
			if err := copyEntry(src, t, uid, gid); err != nil {
				return err
			}
		}
	}
	return nil
}

// mkdirIn makes dir (and its parents, root-owned 0755) inside rootfs and
// returns its host path.
func mkdirIn(rootfs, dir string) (string, error) {
	d, err := resolveIn(rootfs, dir)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(d); err == nil {
		if !fi.IsDir() {
			return "", fmt.Errorf("%s exists in the image and is not a directory: %w", dir, ErrInvalid)
		}
		return d, nil
	}
	if dir != "/" {
		if _, err := mkdirIn(rootfs, path.Dir(dir)); err != nil {
			return "", err
		}
	}
	if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	return d, nil
}

// copyTree copies the contents of src into dst (an existing directory).
func copyTree(ig ignore, src, dst string, uid, gid int) error {
	return ig.walk(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		return copyEntry(p, filepath.Join(dst, rel), uid, gid)
	})
}

// copyEntry copies one file, directory (not its contents) or symlink,
// replacing what is at dst unless both are directories. uid < 0 keeps root.
func copyEntry(src, dst string, uid, gid int) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if uid < 0 {
		uid, gid = 0, 0
	}
	if old, err := os.Lstat(dst); err == nil && !(old.IsDir() && fi.IsDir()) {
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
	}
	mode := fi.Mode()
	switch {
	case mode&fs.ModeSymlink != 0:
		t, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(t, dst); err != nil {
			return err
		}
		return os.Lchown(dst, uid, gid)
	case mode.IsDir():
		if err := os.Mkdir(dst, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	case mode.IsRegular():
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s: only files, directories and symlinks can be copied into an image: %w", src, ErrInvalid)
	}
	if err := os.Lchown(dst, uid, gid); err != nil {
		return err
	}
	// After chown, which clears set-id bits.
	perm := mode.Perm() | mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	if err := os.Chmod(dst, perm); err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ts := []syscall.Timespec{st.Atim, st.Mtim}
		_ = syscall.UtimesNano(dst, ts)
	}
	return nil
}
