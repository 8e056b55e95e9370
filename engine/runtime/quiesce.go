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
// whose own shutdown waits on a one-second poll), and any process that
// appears meanwhile gets it too; once none but the init is left (or the
// container ended, or timeout passed) the container is frozen (the cgroup
// freezer). A release uses it to hand a container's volumes over: the old
// programs had their SIGTERM to flush and exit, and the candidate mounts the
// volumes while the old container cannot write. The caller takes it down
// later (Stop kills a frozen container). A container not running is left.
func (r *Runtime) Quiesce(ctx context.Context, id string, timeout time.Duration) (err error) {
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
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
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
		left := 0
		for _, f := range strings.Fields(string(b)) {
			n, err := strconv.Atoi(f)
			if err != nil || n == pid {
				continue
			}
			left++
			if !signalled[n] {
				signalled[n] = true
				_ = syscall.Kill(n, syscall.SIGTERM)
			}
		}
		if left == 0 {
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
