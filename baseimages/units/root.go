package units

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// rootFS reads files under a root directory, resolving symlinks as if the
// root were "/" (absolute link targets stay inside it, ".." stops at it), so
// a test tree under t.TempDir() behaves like a container's file system.
type rootFS struct{ root string }

func (r rootFS) host(p string) string {
	if r.root == "" || r.root == "/" {
		return p
	}
	return filepath.Join(r.root, p)
}

// resolve returns p (absolute, inside the root) with every symlink in it
// resolved; with followLast false the last component is left as is. A
// missing component ends resolution: the rest is appended unresolved.
func (r rootFS) resolve(p string, followLast bool) (string, error) {
	rest := strings.Split(strings.TrimPrefix(path.Clean("/"+p), "/"), "/")
	cur := "/"
	hops := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		if len(rest) == 0 && !followLast {
			return next, nil
		}
		fi, err := os.Lstat(r.host(next))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscallENOTDIR) {
				return path.Join(append([]string{next}, rest...)...), nil
			}
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("too many levels of symbolic links resolving %q", p)
		}
		t, err := os.Readlink(r.host(next))
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(t, "/") {
			cur = "/"
		}
		rest = append(strings.Split(t, "/"), rest...)
	}
	return cur, nil
}

func (r rootFS) readFile(p string) ([]byte, error) {
	rp, err := r.resolve(p, true)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(r.host(rp))
}

func (r rootFS) lstat(p string) (fs.FileInfo, error) {
	rp, err := r.resolve(p, false)
	if err != nil {
		return nil, err
	}
	return os.Lstat(r.host(rp))
}

func (r rootFS) stat(p string) (fs.FileInfo, error) {
	rp, err := r.resolve(p, true)
	if err != nil {
		return nil, err
	}
	return os.Lstat(r.host(rp))
}

func (r rootFS) readlink(p string) (string, error) {
	rp, err := r.resolve(p, false)
	if err != nil {
		return "", err
	}
	return os.Readlink(r.host(rp))
}

// readDir lists a directory; a missing directory is empty.
func (r rootFS) readDir(p string) ([]fs.DirEntry, error) {
	rp, err := r.resolve(p, true)
	if err != nil {
		return nil, err
	}
	es, err := os.ReadDir(r.host(rp))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscallENOTDIR) {
		return nil, nil
	}
	return es, err
}

// exists reports whether p exists (following symlinks).
func (r rootFS) exists(p string) bool {
	_, err := r.stat(p)
	return err == nil
}
