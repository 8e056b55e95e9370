package baseimages

// Images made from a rootfs directory on the store's file system: `fatbox
// commit` (issue 16) turns a container into one.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrExists: the image name is taken already.
var ErrExists = errors.New("image exists")

// CheckName checks an image name (1-63 lower-case letters, digits, '.',
// '_' or '-', starting with a letter or digit).
func CheckName(name string) error { return checkName(name) }

// TempDir makes a fresh directory in the store's tmp dir, on the store's
// file system, where a rootfs for ImportDir is built. The caller removes
// it (ImportDir moves it away when it succeeds).
func (s *Store) TempDir(prefix string) (string, error) {
	if err := s.dirs(); err != nil {
		return "", err
	}
	return os.MkdirTemp(filepath.Join(s.Root, "tmp"), prefix)
}

// ByID reads the metadata of stored content id, whatever names it has
// (Name is the one it was stored under), and its rootfs dir.
func (s *Store) ByID(id string) (Image, string, error) {
	if id == "" || strings.ContainsAny(id, "/.") {
		return Image{}, "", fmt.Errorf("bad image id %q: %w", id, ErrInvalid)
	}
	dir := filepath.Join(s.Root, "by-id", id)
	b, err := os.ReadFile(filepath.Join(dir, "image.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Image{}, "", fmt.Errorf("no image with id %q: see `fatbox image ls`: %w", id, ErrNotFound)
	}
	if err != nil {
		return Image{}, "", err
	}
	var img Image
	if err := json.Unmarshal(b, &img); err != nil {
		return Image{}, "", fmt.Errorf("image %q metadata is corrupt: %w", id, err)
	}
	return img, filepath.Join(dir, "rootfs"), nil
}

// IDOfRootfs is the content id of a stored image's rootfs dir ("" when dir
// is not one of this store's).
func (s *Store) IDOfRootfs(dir string) string {
	rel, err := filepath.Rel(filepath.Join(s.Root, "by-id"), dir)
	if err != nil {
		return ""
	}
	id, rest, ok := strings.Cut(rel, string(filepath.Separator))
	if !ok || rest != "rootfs" || id == ".." {
		return ""
	}
	return id
}

// ImportDir stores dir/rootfs (a root file system built in a TempDir) as
// the image name, which must not exist (ErrExists): an existing name may
// be what containers boot from, and it is never re-pointed. The content ID
// is the sha256 of the tree (paths, types, modes, owners, xattrs, link
// targets, file contents). meta gives the source, parent and programs;
// packages, size and ID are found here. dir is moved into the store.
func (s *Store) ImportDir(ctx context.Context, dir, name string, meta Image) (Image, error) {
	if err := checkName(name); err != nil {
		return Image{}, err
	}
	if _, err := s.Inspect(name); err == nil {
		return Image{}, fmt.Errorf("image %q exists: pick another name, or `fatbox image rm %s` first: %w", name, name, ErrExists)
	}
	rootfs := filepath.Join(dir, "rootfs")
	tree, err := TreeID(ctx, rootfs)
	if err != nil {
		return Image{}, err
	}
	id := configID(tree, meta)
	meta.ID, meta.Name = id, name
	if meta.Created.IsZero() {
		meta.Created = time.Now().UTC()
	}
	meta.Packages = dpkgPackages(rootfs)
	meta.Size = treeSize(rootfs)
	b, _ := json.MarshalIndent(meta, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "image.json"), b, 0o644); err != nil {
		return Image{}, err
	}
	final := filepath.Join(s.Root, "by-id", id)
	made := false
	if _, err := os.Stat(final); err != nil {
		if err := os.Rename(dir, final); err != nil {
			return Image{}, fmt.Errorf("move image %q into the store (dir must be a TempDir of the store): %w", name, err)
		}
		made = true
	}
	link := filepath.Join(s.Root, "names", name)
	if err := os.Symlink(filepath.Join("..", "by-id", id), link); err != nil {
		if made {
			os.RemoveAll(final)
		}
		if errors.Is(err, fs.ErrExist) {
			return Image{}, fmt.Errorf("image %q exists (made while this one was built): pick another name: %w", name, ErrExists)
		}
		return Image{}, err
	}
	return s.Inspect(name)
}

// configID is an image's content ID: its tree's, or, when the image has
// a configuration of its own (labels, ports, environment, working dir,
// user, programs, the build key a rebuild compares), the sha256 of the
// tree's ID and that configuration, so
// two images of the same files that run differently (a LABEL, an ENV
// apart) are two images, never one with the other's metadata.
func configID(tree string, meta Image) string {
	cfg := struct {
		Labels   map[string]string `json:"labels,omitempty"`
		Ports    []string          `json:"ports,omitempty"`
		Env      []string          `json:"env,omitempty"`
		WorkDir  string            `json:"workdir,omitempty"`
		User     string            `json:"user,omitempty"`
		Programs []Program         `json:"programs,omitempty"`
		BuildKey string            `json:"build_key,omitempty"`
	}{meta.Labels, meta.Ports, meta.Env, meta.WorkDir, meta.User, meta.Programs, meta.BuildKey}
	b, _ := json.Marshal(cfg) // map keys are sorted: the same config, the same bytes
	if string(b) == "{}" {
		return tree
	}
	h := sha256.New()
	h.Write([]byte(tree + "\n"))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// TreeID is the sha256 of a directory tree: each entry's path, type and
// mode bits, owner, device number, link target, xattrs and content, in
// lexical order. Times are left out, so the same files give the same ID.
func TreeID(ctx context.Context, root string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no stat", p)
		}
		fmt.Fprintf(h, "%q %o %d:%d %d", rel, st.Mode, st.Uid, st.Gid, st.Rdev)
		if d.Type()&fs.ModeSymlink != 0 {
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, " -> %q", t)
		}
		if err := hashXattrs(h, p); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fmt.Fprintf(h, " %d ", fi.Size())
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("read %s: %w", p, err)
			}
		}
		h.Write([]byte{'\n'})
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("digest of %s: %w", root, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashXattrs(h hash.Hash, p string) error {
	sz, err := unix.Llistxattr(p, nil)
	if err != nil || sz == 0 {
		return nil // none, or a file system without them
	}
	buf := make([]byte, sz)
	if sz, err = unix.Llistxattr(p, buf); err != nil {
		return nil
	}
	names := strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00")
	sort.Strings(names)
	for _, n := range names {
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, n, v)
		if err != nil {
			continue
		}
		fmt.Fprintf(h, " %s=%s", n, strconv.Quote(string(v[:m])))
	}
	return nil
}
