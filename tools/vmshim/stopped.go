package main

import (
	"os"
	"path/filepath"
	"strings"
)

// stoppedDir holds a marker per supervisord program vmshim stopped on
// purpose (systemctl stop sshd, or a re-stop after a reload). v0.7.3 can
// leave such a program in Backoff for good (stopped during its startsecs),
// which would otherwise read as "activating".
const stoppedDir = "/run/vmshim/stopped"

func (s *shim) markStopped(prog string, stopped bool) {
	p := filepath.Join(s.path(stoppedDir), prog)
	if !stopped {
		os.Remove(p)
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
		_ = os.WriteFile(p, nil, 0o644)
	}
}

func (s *shim) stoppedOnPurpose(prog string) bool {
	_, err := os.Stat(filepath.Join(s.path(stoppedDir), prog))
	return err == nil
}

// downState reports a supervisord state in which a program has no process.
func downState(statename string) bool {
	switch strings.ToLower(statename) {
	case "stopped", "exited", "backoff", "fatal":
		return true
	}
	return false
}
