package engine

// Commit (issue 16): a container becomes an image others create from.
//
// The image's rootfs is the container's root as the overlay shows it: a
// copy of the image it runs on (the lower dir), with its overlay upper dir
// applied (rootfs.ApplyUpper: whiteouts delete, opaque dirs replace). A
// running container is frozen (runc pause + FIFREEZE of its disk) only
// while its upper dir is applied; the lower copy comes first and the rest
// (identity stripped, content digest, import) after the thaw, without the
// container's lock. Data volumes are not part of the image (their mount
// points stay, empty). Then its identity goes (stripIdentity): SSH host
// keys, every authorized_keys, the machine id, and what firstboot writes at
// each boot goes back to the parent image's version; the new image keeps
// the parent's programs and records the parent's name and ID.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/engine/firstboot"
	"github.com/fatbox/fatbox/engine/rootfs"
	"github.com/fatbox/fatbox/inventory"
)

// CommitResult says what a commit made.
type CommitResult struct {
	Image baseimages.Image `json:"image"`
	// Running says whether the container ran (and was frozen).
	Running bool `json:"running"`
	// Freeze is how long it was frozen (0 when stopped).
	Freeze time.Duration `json:"freeze_ns"`
	// UpperBytes is the file data of the container's own changes.
	UpperBytes int64 `json:"upper_bytes"`
	// Stripped lists the identity paths removed or reset (inside the root).
	Stripped []string      `json:"stripped"`
	Took     time.Duration `json:"took_ns"`
}

// Commit makes the image named image from container name, running or
// stopped. The name must be new: an existing image may be what containers
// boot from, and it is never changed.
func (e *Engine) Commit(ctx context.Context, name, image string) (res CommitResult, err error) {
	start := time.Now()
	if err := baseimages.CheckName(image); err != nil {
		return res, err
	}
	if _, err := e.Images.Inspect(image); err == nil {
		return res, fmt.Errorf("image %q exists: pick another name for the commit, or `fatbox image rm %s` first: %w", image, image, baseimages.ErrExists)
	}
	unlock := e.lock(name)
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	rec, err := e.local(ctx, name)
	if err != nil {
		return res, err
	}
	if rec.Status != inventory.StatusRunning && rec.Status != inventory.StatusStopped {
		return res, conflictf("container %q is %s: wait until it is running or stopped, then commit it", name, rec.Status)
	}
	inst := rec.InstanceKey()
	l := rootfs.Layout{Dir: e.dir(inst)}
	state, _, err := e.Runtime.State(ctx, inst)
	if err != nil {
		return res, err
	}
	if state == "paused" {
		return res, conflictf("container %q is paused: `fatbox restart %s`, then commit it", name, name)
	}
	res.Running = state == "running"
	_, diskMounted, err := rootfs.Mounted(l)
	if err != nil {
		return res, err
	}
	lower, err := e.commitLower(rec, l, diskMounted)
	if err != nil {
		return res, err
	}
	parentID := e.Images.IDOfRootfs(lower)
	var parent baseimages.Image
	if parentID != "" {
		if parent, _, err = e.Images.ByID(parentID); err != nil {
			return res, err
		}
	}
	tmp, err := e.Images.TempDir("commit-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp) // gone into the store once imported
	merged := filepath.Join(tmp, "rootfs")
	if _, err := rootfs.CopyTree(merged, lower); err != nil {
		return res, fmt.Errorf("commit %q: copy its image: %w", name, err)
	}
	apply := func(upper string) func() error {
		return func() error {
			n, err := rootfs.ApplyUpper(merged, upper)
			res.UpperBytes = n
			return err
		}
	}
	switch {
	case diskMounted:
		res.Freeze, err = e.frozen(ctx, inst, res.Running, []string{l.DiskDir()}, apply(l.UpperDir()))
	default:
		mnt := filepath.Join(l.Dir, "commit-disk")
		var unmount func() error
		if unmount, err = rootfs.MountReadOnly(ctx, l.DiskImage(), mnt); err != nil {
			return res, fmt.Errorf("commit %q: %w", name, err)
		}
		err = apply(filepath.Join(mnt, "upper"))()
		if uerr := unmount(); uerr != nil {
			err = errors.Join(err, uerr)
		} else {
			os.Remove(mnt)
		}
	}
	if err != nil {
		return res, fmt.Errorf("commit %q (no image made): %w", name, err)
	}
	unlock()
	locked = false

	if res.Stripped, err = stripIdentity(merged, lower); err != nil {
		return res, fmt.Errorf("commit %q (no image made): strip its identity: %w", name, err)
	}
	// The parent's configuration goes with its files: its programs, and a
	// Dockerfile image's labels (an exporter port), ports, env, workdir, user.
	res.Image, err = e.Images.ImportDir(ctx, tmp, image, baseimages.Image{Source: "commit", Parent: rec.Image, ParentID: parentID,
		Programs: parent.Programs, Labels: parent.Labels, Ports: parent.Ports, Env: parent.Env, WorkDir: parent.WorkDir, User: parent.User,
		FromContainer: name})
	if err != nil {
		return res, fmt.Errorf("commit %q: %w", name, err)
	}
	res.Took = time.Since(start)
	return res, nil
}

// commitLower is the image dir under the container's root: the mounted
// overlay's lower dir, else the image the record names (by ID, which the
// upper dir was written over, else by name).
func (e *Engine) commitLower(rec inventory.Record, l rootfs.Layout, mounted bool) (string, error) {
	if mounted {
		if lower, err := rootfs.OverlayLower(l); err == nil {
			return lower, nil
		}
	}
	if _, lower, err := e.Images.ByID(rec.ImageID); err == nil {
		return lower, nil
	}
	return e.Images.Rootfs(rec.Image)
}

// Identity a committed image must not carry (paths inside the root).
var (
	// resetToParent: what firstboot writes at each boot (hostname, hosts
	// with the IP, resolv.conf, supervisord's config), the injected /.fatbox
	// mount points and the programs' logs go back to the parent image's
	// version, or go when it has none.
	resetToParent = []string{"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/etc/supervisor/supervisord.conf", "/.fatbox"}
	// removed outright.
	identityFiles = []string{"/var/lib/dbus/machine-id"}
	// emptied: systemd-style tools expect the file; an empty one means
	// "not yet set" (a new one is made on first need).
	emptied = []string{"/etc/machine-id"}
)

// stripIdentity removes the container's identity from the rootfs at root
// (lower is the parent image's rootfs) and returns what it touched. Paths
// are resolved inside root (RESOLVE_IN_ROOT: a link to /etc is root's
// /etc), so nothing outside root is ever touched.
func stripIdentity(root, lower string) ([]string, error) {
	var touched []string
	r, err := openTree(root)
	if err != nil {
		return nil, err
	}
	defer r.close()
	lr, err := openTree(lower)
	if err != nil {
		return nil, err
	}
	defer lr.close()

	remove := func(p string) error {
		dir, ok, err := r.realParent(p)
		if err != nil || !ok {
			return err
		}
		full := filepath.Join(dir, filepath.Base(p))
		if _, err := os.Lstat(full); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		touched = append(touched, p)
		return os.RemoveAll(full)
	}
	// SSH host keys (the image's too, if it had any: they would be shared).
	if dir, ok, err := r.realParent("/etc/ssh/x"); err != nil {
		return nil, err
	} else if ok {
		ents, _ := os.ReadDir(dir)
		for _, en := range ents {
			if strings.HasPrefix(en.Name(), "ssh_host_") {
				if err := remove("/etc/ssh/" + en.Name()); err != nil {
					return nil, err
				}
			}
		}
	}
	// authorized_keys of every home: root's, /home/*, and /etc/passwd's.
	homes, err := r.homes()
	if err != nil {
		return nil, err
	}
	for _, h := range homes {
		for _, f := range []string{"authorized_keys", "authorized_keys2"} {
			if err := remove(filepath.Join(h, ".ssh", f)); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range identityFiles {
		if err := remove(p); err != nil {
			return nil, err
		}
	}
	for _, p := range emptied {
		if err := remove(p); err != nil {
			return nil, err
		}
		if dir, ok, err := r.realParent(p); err != nil {
			return nil, err
		} else if ok {
			f, err := os.OpenFile(filepath.Join(dir, filepath.Base(p)), os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o444)
			if err != nil {
				return nil, err
			}
			f.Close()
		}
	}
	for _, p := range resetToParent {
		if err := remove(p); err != nil {
			return nil, err
		}
		ldir, ok, err := lr.realParent(p)
		if err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		src := filepath.Join(ldir, filepath.Base(p))
		if _, err := os.Lstat(src); err != nil {
			continue // the parent has none: firstboot writes it at boot
		}
		dir, ok, err := r.realParent(p)
		if err != nil {
			return nil, err
		}
		if ok {
			if _, err := rootfs.CopyTree(filepath.Join(dir, filepath.Base(p)), src); err != nil {
				return nil, err
			}
		}
	}
	// The programs' logs, written by supervisord under this container's name.
	if dir, ok, err := r.realParent(firstboot.SupervisorLogDir + "/x"); err != nil {
		return nil, err
	} else if ok {
		ents, _ := os.ReadDir(dir)
		for _, en := range ents {
			if err := remove(firstboot.SupervisorLogDir + "/" + en.Name()); err != nil {
				return nil, err
			}
		}
	}
	sort.Strings(touched)
	return touched, nil
}

// tree is a root dir whose paths are resolved as the container would.
type tree struct {
	fd   int
	real string
}

func openTree(root string) (*tree, error) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(real, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", real, err)
	}
	return &tree{fd: fd, real: real}, nil
}

func (t *tree) close() { unix.Close(t.fd) }

// realParent resolves p's parent dir inside the tree (absolute links are
// the tree's, ".." stops at its root) and returns its path on the host;
// ok is false when it does not exist (or is not a dir).
func (t *tree) realParent(p string) (string, bool, error) {
	rel := strings.TrimPrefix(filepath.Dir(filepath.Clean("/"+p)), "/")
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(t.fd, rel, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV})
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("resolve %s in %s: %w", rel, t.real, err)
	}
	defer unix.Close(fd)
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "", false, err
	}
	if real != t.real && !strings.HasPrefix(real, t.real+"/") {
		return "", false, fmt.Errorf("resolve %s in %s: got %s, outside it", rel, t.real, real)
	}
	return real, true, nil
}

// homes are the home dirs to look in: /root, each dir of /home, and every
// home /etc/passwd names.
func (t *tree) homes() ([]string, error) {
	seen := map[string]bool{"/root": true}
	out := []string{"/root"}
	add := func(h string) {
		h = filepath.Clean("/" + h)
		if h != "/" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	if dir, ok, err := t.realParent("/home/x"); err != nil {
		return nil, err
	} else if ok {
		ents, _ := os.ReadDir(dir)
		for _, en := range ents {
			add("/home/" + en.Name())
		}
	}
	if dir, ok, err := t.realParent("/etc/passwd"); err != nil {
		return nil, err
	} else if ok {
		if f, err := os.OpenFile(filepath.Join(dir, "passwd"), os.O_RDONLY|unix.O_NOFOLLOW, 0); err == nil {
			b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
			f.Close()
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Split(line, ":"); len(f) >= 7 {
					add(f[5])
				}
			}
		}
	}
	return out, nil
}
