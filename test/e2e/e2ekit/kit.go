// Package e2ekit is what the end-to-end test packages under test/e2e share:
// the fatbox binary built once per package, the CLI runner, test daemons,
// and Env (a daemon with a pool, the fat image and an SSH key).
//
// Each end-to-end package calls Main from its TestMain, so packages build
// their own binary and `go test ./...` runs them in parallel. Host-wide
// names (bridges, veths, netns) come from container and pool names: every
// test uses names and a 198.18.0.0/15 pool no other test uses.
package e2ekit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// bin is the fatbox binary Main built for this test package: the one
// package-level variable, set once before any test runs.
var bin string

// Main builds the fatbox binary into a temporary directory, runs the
// package's tests and exits with their code. Call it from TestMain.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "fatbox-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // other users (nobody) run it too
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "fatbox")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/fatbox/fatbox/tools/fatbox").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build fatbox: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Bin is the path of the binary Main built.
func Bin() string { return bin }

// Result is what a CLI run printed and its exit code.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Fatbox runs the CLI and returns its output and exit code; a run that
// does not end in time fails the test. `image build` gets longer: on an
// empty image cache it runs mmdebstrap (about 75 s on 2 cores, more loaded).
func Fatbox(t testing.TB, args ...string) Result {
	t.Helper()
	if bin == "" {
		t.Fatal("e2ekit: no fatbox binary: call e2ekit.Main from the package's TestMain")
	}
	timeout := 60 * time.Second
	if len(args) >= 2 && args[0] == "image" && args[1] == "build" {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := Result{Stdout: o.String(), Stderr: e.String()}
	if ctx.Err() != nil {
		t.Fatalf("fatbox %v did not end within %s: stdout %q stderr %q", args, timeout, r.Stdout, r.Stderr)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run fatbox %v: %v", args, err)
	}
	return r
}

// WaitFor polls cond every 200 ms until it holds, failing the test with
// what after the deadline.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer safe to read while a goroutine writes it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
