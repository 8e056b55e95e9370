package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
)

// The test hook's environment (see the package doc): FATBOX_FAILPOINT names
// the step, FATBOX_FAILPOINT_MARK the marker file.
const (
	failpointEnv     = "FATBOX_FAILPOINT"
	failpointMarkEnv = "FATBOX_FAILPOINT_MARK"
)

var failpointRE = regexp.MustCompile(`^(create|start|release):[a-z]+$`)

// failpoint returns the engine fault hook that FATBOX_FAILPOINT asks for,
// or nil when it is unset. At the named step the hook writes the marker
// file ("<op>:<step> <pid>\n", written whole: a reader never sees half of
// it) and then blocks the call for good, so that a test can SIGKILL the
// daemon there. A malformed value is an error: a crash test whose daemon
// never stops would wait in vain.
func failpoint(stateDir string, log *slog.Logger) (func(step string) error, error) {
	fp := os.Getenv(failpointEnv)
	if fp == "" {
		return nil, nil
	}
	if !failpointRE.MatchString(fp) {
		return nil, fmt.Errorf("%s=%q: want <op>:<step>, op create, start or release and a step of the engine's (e.g. create:attach); it is a test hook, unset it", failpointEnv, fp)
	}
	mark := os.Getenv(failpointMarkEnv)
	if mark == "" {
		mark = filepath.Clean(stateDir) + ".failpoint"
	}
	log.Warn("test hook "+failpointEnv+" is set: the daemon stops dead at that step (never set it outside crash tests)", "failpoint", fp, "mark", mark)
	return func(step string) error {
		if step != fp {
			return nil
		}
		tmp := mark + ".tmp"
		err := os.WriteFile(tmp, []byte(fmt.Sprintf("%s %d\n", step, os.Getpid())), 0o644)
		if err == nil {
			err = os.Rename(tmp, mark)
		}
		if err != nil {
			log.Error("failpoint: cannot write the marker (blocking anyway)", "failpoint", fp, "mark", mark, "error", err)
		} else {
			log.Warn("failpoint reached: blocking until killed", "failpoint", fp, "mark", mark)
		}
		select {} // until the process dies
	}, nil
}
