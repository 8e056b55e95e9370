package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fatbox/fatbox/baseimages/units"
)

func (s *shim) confPath(program string) string {
	return filepath.Join(s.path(confDir), program+".conf")
}

// programLog is the log a program's output goes to (journalctl reads it).
func (s *shim) programLog(program string) string {
	return filepath.Join(s.path(logDir), program+".log")
}

// stopBound is the longest a stop of run-unit can take: ExecStop= and the
// KillSignal= wait share TimeoutStopSec=, survivors get 5 s after SIGKILL,
// and ExecStopPost= gets TimeoutStopSec= of its own (and 5 s after its
// SIGKILL), as in systemd. supervisord's stopwaitsecs must not cut that
// short: a run-unit killed mid-stop leaves the unit's processes behind.
func stopBound(svc units.Service) time.Duration {
	if svc.TimeoutStopSec <= 0 {
		return 24 * time.Hour
	}
	return 2*svc.TimeoutStopSec + 15*time.Second
}

// stopTimeoutWithin is the TimeoutStopSec= a stop may use when the
// program's conf (written at the unit's first start in this boot, which
// supervisord v0.7.3 never re-reads) allows stopwaitsecs: a larger
// TimeoutStopSec= set since (daemon-reload) would have supervisord kill
// run-unit mid-stop. ok is false when no cap is needed.
func stopTimeoutWithin(conf string, svc units.Service) (capped time.Duration, ok bool) {
	for _, line := range strings.Split(conf, "\n") {
		v, found := strings.CutPrefix(strings.TrimSpace(line), "stopwaitsecs=")
		if !found {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, false
		}
		allowed := time.Duration(n) * time.Second
		if stopBound(svc) <= allowed {
			return 0, false
		}
		capped = (allowed - 15*time.Second) / 2
		if capped < time.Second {
			capped = time.Second
		}
		return capped, true
	}
	return 0, false
}

// renderProgramConf is the supervisord program of a unit. Its command never
// changes (supervisord v0.7.3 would not pick up a change on reload);
// autostart=false so a reload never starts it; autorestart=unexpected with
// exitcodes=0 restarts run-unit only if run-unit itself dies (it applies
// Restart= itself and always exits 0). startsecs=1, not 0: v0.7.3 with
// startsecs=0 never leaves its run loop after the program exits (it waits
// for a monitor goroutine it did not start), so the program shows Running
// forever and can never be started again. run-unit lives at least
// `linger` (over 1 s) so it always reaches Running.
func (s *shim) renderProgramConf(unit string, u *units.Unit) string {
	prog := programOf(unit)
	stopWait := 95
	if u != nil {
		stopWait = int(stopBound(u.Service).Seconds())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "; written by vmshim for %s; removed only with the container's /run\n", unit)
	fmt.Fprintf(&b, "[program:%s]\n", prog)
	fmt.Fprintf(&b, "command=%s run-unit %s\n", s.self, unit)
	b.WriteString("autostart=false\nautorestart=unexpected\nexitcodes=0\nstartsecs=1\nstartretries=3\n")
	fmt.Fprintf(&b, "stopsignal=TERM\nstopwaitsecs=%d\n", stopWait)
	fmt.Fprintf(&b, "redirect_stderr=true\nstdout_logfile=%s\nstdout_logfile_maxbytes=10MB\nstdout_logfile_backups=3\n", s.programLog(prog))
	return b.String()
}

// ensureProgram writes the unit's program conf if it is missing and
// reloads supervisord (re-stopping what the reload started), so that
// supervisord knows the program afterwards. The caller holds lockRun.
func (s *shim) ensureProgram(unit string, u *units.Unit) error {
	prog := programOf(unit)
	c := s.ctl()
	_, known, err := c.info(prog)
	if err != nil {
		return err
	}
	if known {
		return nil
	}
	if err := s.writeProgramConf(unit, u); err != nil {
		return err
	}
	if err := s.reloadKeepingStopped(); err != nil {
		return err
	}
	if _, known, err = c.info(prog); err != nil {
		return err
	} else if !known {
		return fmt.Errorf("supervisord did not load %s after a reload: check that its config includes %s/*.conf (fatbox firstboot writes it at boot; restart the container)", s.confPath(prog), confDir)
	}
	return nil
}

// writeProgramConf writes the conf if it is missing (no reload).
func (s *shim) writeProgramConf(unit string, u *units.Unit) error {
	p := s.confPath(programOf(unit))
	if _, err := os.Stat(p); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", confDir, err)
	}
	if err := os.MkdirAll(s.path(logDir), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", logDir, err)
	}
	return writeFileAtomic(p, []byte(s.renderProgramConf(unit, u)), 0o644)
}
