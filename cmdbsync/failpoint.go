package cmdbsync

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// The crash-test hook's environment, for the daemon to read (see
// AfterCommitFailpoint): FailpointEnv names the point, FailpointMarkEnv the
// marker file.
const (
	FailpointEnv     = "FATBOX_CMDB_FAILPOINT"
	FailpointMarkEnv = "FATBOX_FAILPOINT_MARK"
)

// AfterCommitFailpoint returns a Config.AfterCommit hook for crash tests,
// or nil when spec is "". spec is "after-commit" (the first commit) or
// "after-commit:N" (the first commit whose position is N or more). At that
// commit the hook writes mark ("after-commit <seq> <pid>\n", whole: written
// to a temporary file and renamed) and then blocks for good, so that a test
// can kill -9 the process between the commit and anything after it. A
// malformed spec is an error.
//
// The daemon wires it as:
//
//	hook, err := cmdbsync.AfterCommitFailpoint(os.Getenv(cmdbsync.FailpointEnv), os.Getenv(cmdbsync.FailpointMarkEnv), log)
func AfterCommitFailpoint(spec, mark string, log *slog.Logger) (func(seq uint64), error) {
	return afterCommitFailpoint(FailpointEnv, "cmdb", spec, mark, log)
}

// afterCommitFailpoint is AfterCommitFailpoint for the loop what, set by
// environment variable env.
func afterCommitFailpoint(env, what, spec, mark string, log *slog.Logger) (func(seq uint64), error) {
	if spec == "" {
		return nil, nil
	}
	var at uint64
	rest, ok := strings.CutPrefix(spec, "after-commit")
	if ok && rest != "" {
		n, err := strconv.ParseUint(strings.TrimPrefix(rest, ":"), 10, 64)
		if err != nil || !strings.HasPrefix(rest, ":") {
			ok = false
		}
		at = n
	}
	if !ok {
		return nil, fmt.Errorf("%s=%q: want after-commit or after-commit:<position>; it is a test hook, unset it", env, spec)
	}
	if mark == "" {
		return nil, fmt.Errorf("%s is set but %s (the marker file) is not", env, FailpointMarkEnv)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Warn("test hook "+env+" is set: the "+what+" loop stops dead after a commit (never set it outside crash tests)", "failpoint", spec, "mark", mark)
	return func(seq uint64) {
		if seq < at {
			return
		}
		tmp := mark + ".tmp"
		err := os.WriteFile(tmp, fmt.Appendf(nil, "after-commit %d %d\n", seq, os.Getpid()), 0o644)
		if err == nil {
			err = os.Rename(tmp, mark)
		}
		if err != nil {
			log.Error(what+" failpoint: cannot write the marker (blocking anyway)", "mark", mark, "error", err)
		} else {
			log.Warn(what+" failpoint reached: blocking until killed", "seq", seq, "mark", mark)
		}
		select {} // until the process dies
	}, nil
}
