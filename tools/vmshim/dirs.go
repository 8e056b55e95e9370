package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
			hp := p
			if err := os.MkdirAll(hp, mode); err != nil {
				return fmt.Errorf("%s: creating %s: %w", u.Name, p, err)
			}
			_ = os.Chmod(hp, mode)
			if x.asUser {
				if err := os.Chown(hp, x.acct.UID, x.acct.GID); err != nil {
					return fmt.Errorf("%s: chown %s: %w", u.Name, p, err)
				}
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
