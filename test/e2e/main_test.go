// Package e2e drives the real fatbox binary (tier 3).
package e2e

import (
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
)

func TestMain(m *testing.M) { e2ekit.Main(m) }

type (
	result     = e2ekit.Result
	daemonProc = e2ekit.Daemon
)

// fatbox runs the CLI (e2ekit.Fatbox).
func fatbox(t testing.TB, args ...string) result {
	t.Helper()
	return e2ekit.Fatbox(t, args...)
}

func startDaemon(t *testing.T, stateDir, socket string, extra ...string) *daemonProc {
	t.Helper()
	return e2ekit.StartDaemon(t, stateDir, socket, extra...)
}

func spawnDaemon(t *testing.T, stateDir, socket string, extra ...string) *daemonProc {
	t.Helper()
	return e2ekit.SpawnDaemon(t, stateDir, socket, extra...)
}

func statusJSON(t *testing.T, socket string) api.Status { return e2ekit.StatusJSON(t, socket) }

// oneLine checks a failed command printed exactly one line on stderr holding every part.
func oneLine(t *testing.T, r result, parts ...string) {
	t.Helper()
	if r.Code == 0 {
		t.Fatalf("exit code 0, want non-zero; stdout=%q", r.Stdout)
	}
	lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("stderr has %d lines, want 1: %q", len(lines), r.Stderr)
	}
	for _, p := range parts {
		if !strings.Contains(lines[0], p) {
			t.Fatalf("stderr %q lacks %q", lines[0], p)
		}
	}
}

func waitStatus(t *testing.T, socket string) api.Status { return e2ekit.WaitStatus(t, socket) }
