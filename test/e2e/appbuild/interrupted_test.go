package appbuild

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/baseimages/dockerbuild"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
)

// A daemon killed (SIGKILL) in the middle of a build's RUN leaves the
// step's container, its netns, the overlay and the temp layer; the next
// daemon's start removes them all and no image was made.
func TestBuildInterrupted(t *testing.T) {
	t.Parallel()
	e := e2ekit.NewEnv(t, "198.19.183.0/24")
	ctx := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM debian12-fat\nRUN sleep 300\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cli := exec.CommandContext(bctx, e2ekit.Bin(), "image", "build", "--dockerfile", filepath.Join(ctx, "Dockerfile"), "--name", "ib-slow:v1", "--socket", e.Sock)
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	defer cli.Wait()
	netns := dockerbuild.RunIDPrefix + "*_" + strconv.Itoa(e.Daemon().Cmd.Process.Pid)
	e2ekit.WaitFor(t, time.Minute, "the build's RUN step running (netns "+netns+")", func() bool {
		m, _ := filepath.Glob(filepath.Join("/var/run/netns", netns))
		return len(m) == 1
	})
	e.Daemon().Kill9(t)
	layers := filepath.Join(e.State, "images", "layers")
	if m, _ := filepath.Glob(filepath.Join(layers, ".tmp-*")); len(m) != 1 || !mounted(e.State) {
		t.Fatalf("the kill left no temp layer (%v) or mount: the test proves nothing", m)
	}
	e.Restart(t)
	e2ekit.WaitFor(t, 30*time.Second, "the restarted daemon sweeping the interrupted build", func() bool {
		m, _ := filepath.Glob(filepath.Join("/var/run/netns", netns))
		tmps, _ := filepath.Glob(filepath.Join(layers, ".tmp-*"))
		steps, _ := os.ReadDir(filepath.Join(e.State, "build", "steps"))
		ctrs, _ := os.ReadDir(filepath.Join(e.State, "build", "runc"))
		return len(m) == 0 && len(tmps) == 0 && len(steps) == 0 && len(ctrs) == 0 && !mounted(e.State)
	})
	if r := e2ekit.Fatbox(t, "image", "inspect", "ib-slow:v1", "--socket", e.Sock); r.Code == 0 {
		t.Errorf("an interrupted build left an image: %s", r.Stdout)
	}
}

// mounted: is anything mounted under dir (but lxcfs's view)?
func mounted(dir string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") && !strings.HasPrefix(f[4], dir+"/lxcfs") {
			return true
		}
	}
	return false
}
