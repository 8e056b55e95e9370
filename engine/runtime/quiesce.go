package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Quiesce ends what container id runs, all but its init, and then freezes
// it, so nothing in it runs or writes from then on. The init (supervisord)
// is stopped first (SIGSTOP), so it restarts nothing; every other process
// of the container's cgroup gets SIGTERM at once (not through supervisord,
// whose own shutdown waits on a one-second poll); once none but the init
// is left (or the
// container ended, or timeout passed) the container is frozen (the cgroup
// freezer). A release uses it to hand a container's volumes over: the old
// programs had their SIGTERM to flush and exit, and the candidate mounts the
// volumes while the old container cannot write. The caller takes it down
// later (Stop kills a frozen container). A container not running is left.
//
// holding, when given, narrows what is waited for to the processes that
// hold a file under one of those paths (as the container sees them: an open
// file, a mapping, a working directory): once none does, the rest (syslog
// flushing its queue, sshd) is frozen where it is — they are not the
// writers a release waits for, and the old container is taken down anyway.
func (r *Runtime) Quiesce(ctx context.Context, id string, timeout time.Duration, holding ...string) (err error) {
	st, pid, err := r.State(ctx, id)
	if err != nil || st != "running" || pid <= 0 {
		return err
	}
	procs := cgroupProcs(id)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("quiesce %q: stop its init (pid %d): %w", id, pid, err)
	}
	defer func() {
		if err != nil {
			_ = syscall.Kill(pid, syscall.SIGCONT) // left running as it was, but for its programs
		}
	}()
	signalled := map[int]bool{pid: true}
	// Only what runs now gets SIGTERM: a process started later is part of
	// some program's shutdown (the init, which starts programs, is stopped).
	for deadline, first := time.Now().Add(timeout), true; time.Now().Before(deadline); first = false {
		b, err := os.ReadFile(procs)
		if errors.Is(err, fs.ErrNotExist) {
			if s, _, serr := r.State(ctx, id); serr == nil && s != "running" && s != "paused" {
				return nil // the container ended
			}
			return fmt.Errorf("quiesce %q: its processes are not listed in %s (another cgroup layout?): nothing was stopped", id, procs)
		}
		if err != nil {
			return fmt.Errorf("quiesce %q: %w", id, err)
		}
		left, holders := 0, 0
		for _, f := range strings.Fields(string(b)) {
			n, err := strconv.Atoi(f)
			if err != nil || n == pid {
				continue
			}
			left++
			if first && !signalled[n] {
				signalled[n] = true
				_ = syscall.Kill(n, syscall.SIGTERM)
			}
			if len(holding) > 0 && holds(n, holding) {
				holders++
			}
		}
		if left == 0 || (len(holding) > 0 && holders == 0) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := r.Pause(ctx, id); err != nil {
		if s, _, serr := r.State(ctx, id); serr == nil && s != "running" {
			return nil // it ended: nothing left to freeze
		}
		return err
	}
	return nil
}

// cgroupProcs is the pids controller's list of id's processes (Spec's
// CgroupsPath under the cgroup v1 pids hierarchy; the unified one if the
// host has no v1 pids).
func cgroupProcs(id string) string {
	v1 := filepath.Join("/sys/fs/cgroup/pids", "fatbox", id, "cgroup.procs")
	if _, err := os.Stat("/sys/fs/cgroup/pids"); err == nil {
		return v1
	}
	return filepath.Join("/sys/fs/cgroup", "fatbox", id, "cgroup.procs")
}

// holds reports whether process pid has a file under one of the paths (as
// its own root sees them) open, mapped, or as its working directory. A
// process that is gone holds nothing.
func holds(pid int, paths []string) bool {
	under := func(p string) bool {
		for _, x := range paths {
			if p == x || strings.HasPrefix(p, strings.TrimSuffix(x, "/")+"/") {
				return true
			}
		}
		return false
	}
	base := "/proc/" + strconv.Itoa(pid)
	if cwd, err := os.Readlink(base + "/cwd"); err == nil && under(cwd) {
		return true
	}
	if fds, err := os.ReadDir(base + "/fd"); err == nil {
		for _, fd := range fds {
			if t, err := os.Readlink(base + "/fd/" + fd.Name()); err == nil && under(t) {
				return true
			}
		}
	}
	if b, err := os.ReadFile(base + "/maps"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if i := strings.IndexByte(l, '/'); i >= 0 && under(l[i:]) {
				return true
			}
		}
	}
	return false
}
