package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultRoot is runc's state dir for fatbox's containers.
const DefaultRoot = "/run/fatbox/runc"

// Runtime runs containers with runc. The zero value uses DefaultRoot and
// `runc` from $PATH.
type Runtime struct {
	// Root is runc's state directory; "" means DefaultRoot.
	Root string
	// Binary is the runc binary; "" means "runc".
	Binary string
}

func (r *Runtime) runc() *runc.Runc {
	root := r.Root
	if root == "" {
		root = DefaultRoot
	}
	bin := r.Binary
	if bin == "" {
		bin = "runc"
	}
	return &runc.Runc{Command: bin, Root: root, PdeathSignal: 0, Setpgid: true}
}

// Start writes the bundle's config.json and starts the container detached.
// bundle is a directory that outlives the container (its state dir).
func (r *Runtime) Start(ctx context.Context, id, bundle string, spec *specs.Spec) (int, error) {
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return 0, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		return 0, err
	}
	pidFile := filepath.Join(bundle, "init.pid")
	logFile := filepath.Join(bundle, "runc.log")
	os.Remove(pidFile)
	os.Remove(logFile)
	rc := r.runc()
	rc.Log = logFile // runc's own errors; go-runc reports only an exit status
	// The container's stdio is /dev/null. Without an IO, go-runc captures
	// runc's output through a pipe the container inherits, and waits until
	// the container exits. supervisord logs to files.
	nullIO, err := runc.NewNullIO()
	if err != nil {
		return 0, err
	}
	defer nullIO.Close()
	// One `runc run -d` (create and start in one process: ~35 ms, where
	// create + start + state took ~64 ms); the PID comes from the pid file.
	if _, err := rc.Run(ctx, id, bundle, &runc.CreateOpts{PidFile: pidFile, IO: nullIO, Detach: true}); err != nil {
		_ = r.runc().Delete(context.Background(), id, &runc.DeleteOpts{Force: true})
		return 0, fmt.Errorf("runc run %q: %w%s", id, err, lastLogLine(logFile))
	}
	b, err = os.ReadFile(pidFile)
	pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || perr != nil {
		// It runs, but this call fails: take it down, so a caller's undo
		// (which does not know it runs) leaves nothing behind.
		_ = r.Stop(context.Background(), id, time.Second)
		return 0, fmt.Errorf("runc run %q: no usable pid file %s (%v %v)", id, pidFile, err, perr)
	}
	return pid, nil
}

// lastLogLine is ": <runc's last error message>" from its log, or "".
func lastLogLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if last == "" {
		return ""
	}
	var entry struct {
		Msg string `json:"msg"`
	}
	if json.Unmarshal([]byte(last), &entry) == nil && entry.Msg != "" {
		last = entry.Msg
	}
	return ": " + last
}

// State is runc's view of a container: "running", "stopped", "created", or "" if unknown to runc.
func (r *Runtime) State(ctx context.Context, id string) (string, int, error) {
	st, err := r.runc().State(ctx, id)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || isNotExist(err) {
			return "", 0, nil
		}
		return "", 0, err
	}
	return st.Status, st.Pid, nil
}

// isNotExist: runc reports an unknown container only in its message.
func isNotExist(err error) bool {
	return strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "not found")
}

// Stop sends SIGTERM to the init, waits up to timeout, then SIGKILLs, and
// deletes runc's state. Idempotent. On SIGTERM supervisord (v0.7.3) stops
// all its programs at once, not by priority, each with its stopsignal and
// stopwaitsecs before SIGKILL, and then exits (TestSupervisordAsInit).
func (r *Runtime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	rc := r.runc()
	status, _, err := r.State(ctx, id)
	if err != nil {
		return err
	}
	if status == "" {
		return nil
	}
	if status == "paused" {
		// Frozen (Quiesce, or a snapshot's daemon that died): a frozen task
		// under the cgroup v1 freezer dies of SIGKILL only once thawed.
		_ = rc.Kill(ctx, id, int(syscall.SIGKILL), &runc.KillOpts{All: true})
		_ = r.Resume(ctx, id)
		for i := 0; i < 100; i++ {
			if s, _, _ := r.State(ctx, id); s != "running" && s != "paused" {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if status == "running" {
		_ = rc.Kill(ctx, id, int(syscall.SIGTERM), nil)
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) {
			if s, _, _ := r.State(ctx, id); s != "running" {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if s, _, _ := r.State(ctx, id); s == "running" {
			_ = rc.Kill(ctx, id, int(syscall.SIGKILL), &runc.KillOpts{All: true})
			for i := 0; i < 100; i++ {
				if s, _, _ := r.State(ctx, id); s != "running" {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	return rc.Delete(ctx, id, &runc.DeleteOpts{Force: true})
}

// Known reports whether runc has state for id (without running runc, which
// costs ~10 ms): false means runc does not know the container at all.
func (r *Runtime) Known(id string) bool {
	_, err := os.Stat(filepath.Join(r.runc().Root, id, "state.json"))
	return err == nil
}

// List returns the ids runc knows.
func (r *Runtime) List(ctx context.Context) ([]string, error) {
	rc := r.runc()
	if _, err := os.Stat(rc.Root); errors.Is(err, os.ErrNotExist) {
		return nil, nil // no container was ever started here (and `runc list` would create the dir)
	}
	cs, err := rc.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out, nil
}
