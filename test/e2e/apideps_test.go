package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/test/harness"
)

// TestAPIPackageIsALeaf: engine/api, which every client imports, depends
// on nothing of fatbox and on no runtime, netlink or nftables library
// (`go list -deps`), so a client never links the engine.
func TestAPIPackageIsALeaf(t *testing.T) {
	goBin, err := exec.LookPath("go")
	harness.Require(t, err == nil, "the go command (to run go list)")
	const self = "github.com/fatbox/fatbox/engine/api"
	cmd := exec.Command(goBin, "list", "-deps", self)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v: %s", self, err, stderr)
	}
	forbidden := []string{
		"github.com/fatbox/fatbox/",
		"github.com/containerd/go-runc",
		"github.com/opencontainers/",
		"github.com/vishvananda/",
		"github.com/google/nftables",
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 || deps[len(deps)-1] != self {
		t.Fatalf("go list -deps %s printed %q, want the package last", self, out)
	}
	for _, d := range deps {
		if d == self {
			continue
		}
		for _, f := range forbidden {
			if strings.HasPrefix(d, f) || d == strings.TrimSuffix(f, "/") {
				t.Errorf("%s depends on %s: the API's wire types must be a leaf (no fatbox package, no runc, netlink or nftables)", self, d)
			}
		}
	}
	t.Logf("%s depends on %d packages, all outside fatbox", self, len(deps)-1)
}
