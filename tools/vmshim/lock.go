package main

import (
	"fmt"
	"os"
	"syscall"
)

// lockRun takes /run/vmshim/lock: writing program confs and reloading
// supervisord is one step at a time across concurrent systemctl calls.
func (s *shim) lockRun() (func(), error) { return s.lockAt(lockFile) }

// lockAt takes an exclusive flock on the file name (under /run/vmshim),
// created if missing; the returned func releases it.
func (s *shim) lockAt(name string) (func(), error) {
	if err := os.MkdirAll(s.path(runDir), 0o755); err != nil {
		return nil, fmt.Errorf("creating %q: %w", runDir, err)
	}
	f, err := os.OpenFile(s.path(name), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %q: %w", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %q: %w", name, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
