package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/baseimages/units"
)

// unitDirs are RuntimeDirectory= and friends: created (owned by the unit's
// user) before start, and their env variables.
func (s *shim) makeUnitDirs(u *units.Unit, x *execCtx) error {
	svc := u.Service
	sets := []struct {
		base, env string
		dirs      []string
		mode      uint32
	}{
		{"/run", "RUNTIME_DIRECTORY", svc.RuntimeDirectory, svc.RuntimeDirectoryMode},
		{"/var/lib", "STATE_DIRECTORY", svc.StateDirectory, svc.StateDirectoryMode},
		{"/var/cache", "CACHE_DIRECTORY", svc.CacheDirectory, svc.CacheDirectoryMode},
		{"/var/log", "LOGS_DIRECTORY", svc.LogsDirectory, svc.LogsDirectoryMode},
		{"/etc", "CONFIGURATION_DIRECTORY", svc.ConfigurationDirectory, svc.ConfigurationDirectoryMode},
	}
	for _, set := range sets {
		var paths []string
		for _, d := range set.dirs {
			p := filepath.Join(set.base, d)
			mode := os.FileMode(set.mode)
			if mode == 0 {
				mode = 0o755
			}
			if err := makeDirNoFollow(set.base, d, uint32(mode), x.asUser, x.acct.UID, x.acct.GID); err != nil {
				return fmt.Errorf("%s: %w", u.Name, err)
			}
			paths = append(paths, p)
		}
		if len(paths) > 0 {
			x.env[set.env] = strings.Join(paths, ":")
		}
	}
	return nil
}

// removeRuntimeDirs removes RuntimeDirectory= at stop unless preserved.
func (s *shim) removeRuntimeDirs(u *units.Unit, restarting bool) {
	switch u.Service.RuntimeDirectoryPreserve {
	case "yes":
		return
	case "restart":
		if restarting {
			return
		}
	}
	for _, d := range u.Service.RuntimeDirectory {
		if d == "" || strings.Contains(d, "..") {
			continue
		}
		os.RemoveAll(filepath.Join("/run", d))
	}
}

// makeDirNoFollow creates the directory rel below base (/var/lib, ...)
// and its parents, sets its mode and, when chown is set, its owner,
// without following a symlink below base: a unit's user owns its
// StateDirectory= and could otherwise swap a subdirectory for a link to
// /etc and have run-unit (root) chown what it points to.
func makeDirNoFollow(base, rel string, mode uint32, chown bool, uid, gid int) error {
	p := filepath.Join(base, rel)
	if filepath.IsAbs(rel) {
		return fmt.Errorf("%q: a unit directory is relative to %s", rel, base)
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return fmt.Errorf("creating %q: %w", base, err)
	}
	fd, err := unix.Open(base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %q: %w", base, err)
	}
	defer func() { unix.Close(fd) }()
	for _, c := range strings.Split(rel, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return fmt.Errorf("%q: \"..\" is not allowed in a unit directory; name a path below the base", p)
		}
		if err := unix.Mkdirat(fd, c, 0o755); err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("creating %q: %w", p, err)
		}
		next, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENOTDIR) {
				return fmt.Errorf("creating %q: %q is a symlink or not a directory; remove it (vmshim does not follow links in unit directories)", p, c)
			}
			return fmt.Errorf("creating %q: %w", p, err)
		}
		unix.Close(fd)
		fd = next
	}
	if err := unix.Fchmod(fd, mode&0o7777); err != nil {
		return fmt.Errorf("chmod %q: %w", p, err)
	}
	if chown {
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return fmt.Errorf("chown %q: %w", p, err)
		}
	}
	return nil
}
