package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/daemon"
	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/engine/rootfs"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
	"github.com/fatbox/fatbox/test/harness"
)

// crashStepRE finds Create's fault-hook steps in engine/engine.go:
// e.step("create", "x") in Create, e.step(op, "x") in the boot it shares
// with start.
var crashStepRE = regexp.MustCompile(`e\.step\((?:"create"|op), "(\w+)"\)`)

// createSteps reads the create steps from the engine's source, so a step
// added there is crashed at here without anyone listing it.
func createSteps(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "engine", "engine.go"))
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, m := range crashStepRE.FindAllStringSubmatch(string(src), -1) {
		steps = append(steps, m[1])
	}
	if n := strings.Count(string(src), "e.step("); n != len(steps) || n == 0 {
		t.Fatalf("engine.go calls e.step %d times, the pattern found %v: update crashStepRE", n, steps)
	}
	return steps
}

// crashMade is what each create step leaves on the host when the daemon
// dies right after it, as harness.Leftovers kinds.
var crashMade = map[string][]string{"disk": {"state dir"}, "mount": {"mount", "loop"}, "netns": {"netns"},
	"attach": {"link", "nftables"}, "start": {"runc", "cgroup"}}

// crashOrder is the order Create runs its steps in (the source has boot's
// after Create's "running"); a step it does not know comes last.
var crashOrder = []string{"record", "lease", "disk", "mount", "firstboot", "netns", "attach", "start", "running"}

// spawnFailpointDaemon starts a daemon whose create stops dead at step (the
// daemon's FATBOX_FAILPOINT test hook), writing mark when it gets there.
// A step with an op ("release:switched") is used as it is.
func spawnFailpointDaemon(t *testing.T, stateDir, socket, step, mark string, extra ...string) *daemonProc {
	if !strings.Contains(step, ":") {
		step = "create:" + step
	}
	t.Helper()
	return e2ekit.SpawnDaemonWith(t, e2ekit.DaemonOptions{State: stateDir, Socket: socket,
		Args: append([]string{"--config", "/dev/null"}, extra...),
		Env:  []string{"FATBOX_FAILPOINT=" + step, "FATBOX_FAILPOINT_MARK=" + mark},
		What: "daemon with failpoint " + step})
}

// TestCreateSurvivesKill9AtEachStep: for each step of create, a real
// daemon is SIGKILLed (with the CLI that asked) right after that step; the
// next daemon's start-time Reconcile undoes the half-made create — no
// record, the lease as it was — or, killed after the last step, adopts the
// running container; and nothing of the container is left on the host:
// loop device, nftables chain and jump rule, veth, ifb, netns, mounts,
// cgroups, runc state, state dir.
func TestCreateSurvivesKill9AtEachStep(t *testing.T) {
	harness.RequireRoot(t)
	sup := os.Getenv("FATBOX_SUPERVISORD")
	harness.Require(t, sup != "", "FATBOX_SUPERVISORD (the binary `make supervisord` builds)")
	if fp := os.Getenv("FATBOX_FAILPOINT"); fp != "" {
		t.Fatalf("FATBOX_FAILPOINT=%s is set in the test's environment: every daemon would stop dead; unset it", fp)
	}
	steps := createSteps(t)
	slices.SortStableFunc(steps, func(a, b string) int {
		ia, ib := slices.Index(crashOrder, a), slices.Index(crashOrder, b)
		if ia < 0 {
			ia = len(crashOrder)
		}
		if ib < 0 {
			ib = len(crashOrder)
		}
		return ia - ib
	})
	dir := t.TempDir()
	state, sock := filepath.Join(dir, "state"), filepath.Join(dir, "fatbox.sock")
	args := []string{"--supervisord", sup, "--image-cache", filepath.Join(harness.CacheDir(), "images")}
	runcRoot := daemon.RuncRoot(state)
	t.Cleanup(func() { e2ekit.StopLXCFS(state) })
	var cur *daemonProc // the daemon running now, if any
	t.Cleanup(func() {
		if cur != nil {
			cur.Stop()
		}
	})
	stopDaemon := func() {
		if cur != nil {
			cur.Stop()
			cur = nil
		}
	}
	ok := func(t *testing.T, args ...string) result {
		t.Helper()
		r := fatbox(t, append(args, "--socket", sock)...)
		if r.Code != 0 {
			t.Fatalf("fatbox %v: exit %d: %s", args, r.Code, r.Stderr)
		}
		return r
	}
	client := &api.Client{Socket: sock, Timeout: 10 * time.Second}
	ctx := context.Background()
	// lease is the name's lease as JSON, "none" when it has none.
	lease := func(t *testing.T, name string) string {
		t.Helper()
		l, err := client.GetLease(ctx, "crash", name)
		if api.ErrorCode(err) == api.CodeNotFound {
			return "none"
		}
		if err != nil {
			t.Fatalf("lease of %s: %v", name, err)
		}
		b, _ := json.Marshal(l)
		return string(b)
	}
	probe := func(name string) harness.LeftoverProbe {
		return harness.LeftoverProbe{StateDir: state, RuncRoot: runcRoot,
			Containers: []harness.ProbeContainer{{Name: name, HostVeth: network.HostVethName(name)}}}
	}

	cur = spawnDaemon(t, state, sock, args...)
	br := harness.Name("fbkbr")
	t.Cleanup(func() { harness.IPQuiet("link", "del", br) })
	ok(t, "pool", "create", "crash", "--cidr", "198.19.153.0/24", "--bridge", br, "--create-bridge")
	ok(t, "image", "build", "debian12-fat")
	stopDaemon()

	for i, step := range steps {
		t.Run(step, func(t *testing.T) {
			name := harness.Name("fbk-")
			t.Cleanup(func() {
				if t.Failed() {
					stopDaemon()
					forceTakeDown(state, runcRoot, name)
				}
			})
			mark := filepath.Join(dir, "mark-"+step)
			cur = spawnFailpointDaemon(t, state, sock, step, mark, args...)
			if i%2 == 1 {
				// The name holds its lease already: the create must leave it so.
				ok(t, "ip", "allocate", name, "--pool", "crash")
			}
			leaseBefore := lease(t, name)

			cli := exec.Command(e2ekit.Bin(), "create", name, "--image", "debian12-fat", "--pool", "crash", "--memory", "128M", "--disk", "256M",
				"--net-rate", "10mbit", "--socket", sock)
			var cliOut bytes.Buffer
			cli.Stdout, cli.Stderr = &cliOut, &cliOut
			cli.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cli.Start(); err != nil {
				t.Fatal(err)
			}
			cliDone := make(chan struct{})
			go func() { cli.Wait(); close(cliDone) }()
			t.Cleanup(func() { cli.Process.Kill(); <-cliDone })

			// Wait for the daemon to stop dead at the step.
			var got []byte
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if b, err := os.ReadFile(mark); err == nil {
					got = b
					break
				}
				select {
				case <-cliDone:
					t.Fatalf("fatbox create ended before the failpoint create:%s was reached: %s\ndaemon: %s", step, cliOut.String(), cur.Log)
				case <-cur.Done():
					t.Fatalf("the daemon exited before create:%s: %s", step, cur.Log)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("create:%s not reached in 60 s\ndaemon: %s", step, cur.Log)
				}
			}
			if want := fmt.Sprintf("create:%s %d\n", step, cur.Cmd.Process.Pid); string(got) != want {
				t.Fatalf("marker %q, want %q", got, want)
			}
			cur.Kill9(t)
			cur = nil
			cli.Process.Kill()
			<-cliDone

			// The kill came where it should: what the steps so far made is
			// there, and the probe sees it.
			half, err := harness.Leftovers(probe(name))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("killed after %s: %d objects on the host: %v", step, len(half), half)
			for _, s := range steps[:slices.Index(steps, step)+1] {
				for _, kind := range crashMade[s] {
					if !slices.ContainsFunc(half, func(l harness.Leftover) bool { return l.Kind == kind }) {
						t.Errorf("killed after %q, the %s made by %q is not there: %v", step, kind, s, half)
					}
				}
			}

			// The next daemon reconciles before it answers.
			cur = spawnDaemon(t, state, sock, args...)
			log := cur.Log.String()
			for _, line := range strings.Split(log, "\n") {
				if strings.Contains(line, "msg=reconciled") {
					t.Log(line)
				}
			}
			if strings.Contains(log, "msg=reconcile ") {
				t.Errorf("reconcile reported errors: %s", log)
			}
			if step == "running" {
				if !strings.Contains(log, "adopted=["+name+"]") {
					t.Errorf("the finished create was not adopted: %s", log)
				}
				in, err := client.Inspect(ctx, name)
				if err != nil || in.State != "running" || in.Status != "running" {
					t.Fatalf("after a kill at the last step: %+v %v, want it adopted and running", in, err)
				}
				ok(t, "rm", name)
			} else {
				if !strings.Contains(log, "aborted=["+name+"]") {
					t.Errorf("the half-made create was not reported aborted: %s", log)
				}
				cs, err := client.ListContainers(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if slices.ContainsFunc(cs, func(c api.Container) bool { return c.Name == name }) {
					t.Errorf("the half-made create's record is still there: %+v", cs)
				}
				if after := lease(t, name); after != leaseBefore {
					t.Errorf("lease before the create %s, after the kill and reconcile %s", leaseBefore, after)
				}
			}
			harness.CheckNoLeftovers(t, probe(name))
			stopDaemon()
		})
	}
}

// forceTakeDown removes what a failed crash test may have left of name
// with the engine's own undos: runc container, network, netns, mounts and
// state dir. Best effort; only name's objects under this state dir.
func forceTakeDown(state, runcRoot, name string) {
	ctx := context.Background()
	_ = (&runtime.Runtime{Root: runcRoot}).Stop(ctx, name, time.Second)
	_ = network.Detach(ctx, name)
	_ = network.DeleteNetns("fatbox-" + name)
	_ = rootfs.Remove(ctx, rootfs.Layout{Dir: filepath.Join(state, "containers", name)})
}

// TestFailpointMalformed: a FATBOX_FAILPOINT the daemon cannot honour
// refuses to start it (a crash test would otherwise wait for a stop that
// never comes), in one line that names the variable.
func TestFailpointMalformed(t *testing.T) {
	dir := t.TempDir()
	for _, fp := range []string{"attach", "create:", "remove:disk", "create:Attach"} {
		cmd := exec.Command(e2ekit.Bin(), "daemon", "--config", "/dev/null", "--state-dir", filepath.Join(dir, "state"), "--socket", filepath.Join(dir, "s.sock"))
		cmd.Env = append(os.Environ(), "FATBOX_FAILPOINT="+fp)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			r := result{Stderr: stderr.String()}
			if ee, ok := err.(*exec.ExitError); ok {
				r.Code = ee.ExitCode()
			}
			oneLine(t, r, fmt.Sprintf("FATBOX_FAILPOINT=%q", fp), "<op>:<step>")
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("a daemon with FATBOX_FAILPOINT=%q started: %s", fp, stderr.String())
		}
	}
}
