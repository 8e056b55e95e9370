package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// disabledPrograms lists the image's supervisord programs (sshd, cron, ...)
// that `systemctl disable` or `mask` turned off at boot. supervisord starts
// them from the config fatbox writes at every boot, so a unit link alone
// would not keep them down: fatbox's firstboot reads this file and writes
// them autostart=false (engine/firstboot: DisabledProgramsFile).
const (
	disabledPrograms = "/etc/fatbox/disabled-programs"
	// disabledLock serializes its read-modify-write across concurrent
	// systemctl calls (the file itself is replaced by a rename).
	disabledLock = "/run/vmshim/disabled-programs.lock"
)

// setProgramDisabled records (or forgets) that program stays down at boot.
func (s *shim) setProgramDisabled(program string, disabled bool) error {
	unlock, err := s.lockAt(disabledLock)
	if err != nil {
		return err
	}
	defer unlock()
	p := s.path(disabledPrograms)
	set := map[string]bool{}
	if b, err := os.ReadFile(p); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if n := strings.TrimSpace(sc.Text()); n != "" && !strings.HasPrefix(n, "#") {
				set[n] = true
			}
		}
	}
	if set[program] == disabled {
		return nil
	}
	if disabled {
		set[program] = true
	} else {
		delete(set, program)
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	body := "# supervisord programs `systemctl disable` or `mask` keeps down at boot (vmshim; read by fatbox at each boot)\n"
	for _, n := range names {
		body += n + "\n"
	}
	return writeFileAtomic(p, []byte(body), 0o644)
}
