package e2e

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
)

// releaseSteps are the release's failpoints in order (engine/release.go).
var releaseSteps = []string{"record", "prepared", "checked", "switching", "detached", "volumes", "readdressed", "switched", "stopped"}

// TestReleaseSurvivesKill9AtEachStep: the daemon is SIGKILLed at each step
// of a release (with the CLI that asked); after a restart the name answers,
// from the old container or the new one, never neither, nothing holds its
// address twice, and no candidate or release is left half-made.
func TestReleaseSurvivesKill9AtEachStep(t *testing.T) {
	t.Parallel()
	e := newVMEnv(t, "198.19.163.0/24")
	e.OK("volume", "create", "crash-data", "--size", "128M")
	t.Cleanup(func() { fatbox(t, "volume", "rm", "crash-data", "--socket", e.Sock) })
	c := e.Create("crash-01", "--memory", "256M", "--disk", "1G", "--volume", "crash-data:/srv/data")
	e.RemoveAtEnd(t, "crash-01-last", "crash-01-next")
	e.SSH(c.IP, "echo kept > /srv/data/f && sync")
	kh := e.knownHosts(t, c.IP)
	mark := filepath.Join(e.Dir, "failpoint.mark")
	for _, step := range releaseSteps {
		os.Remove(mark)
		e.D.Stop()
		e.D = spawnFailpointDaemon(t, e.State, e.Sock, "release:"+step, mark, e.Args...)
		cli := exec.Command(e2ekit.Bin(), "release", "crash-01", "--image", "debian12-fat", "--socket", e.Sock)
		var cliOut bytes.Buffer
		cli.Stdout, cli.Stderr = &cliOut, &cliOut
		cli.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cli.Start(); err != nil {
			t.Fatal(err)
		}
		cliDone := make(chan struct{})
		go func() { cli.Wait(); close(cliDone) }()
		e2ekit.WaitFor(t, 2*time.Minute, "failpoint release:"+step, func() bool {
			select {
			case <-cliDone: // the release ended without reaching the failpoint
				if _, err := os.Stat(mark); err != nil {
					t.Fatalf("the release ended before its failpoint release:%s: %s", step, cliOut.String())
				}
			default:
			}
			_, err := os.Stat(mark)
			return err == nil
		})
		// While it hangs there, `fatbox status` shows the release under way.
		if st := statusJSON(t, e.Sock); len(st.Releases) != 1 || st.Releases[0].Name != "crash-01" || st.Releases[0].Phase == "" {
			t.Fatalf("status at release:%s: releases %+v, want the release of crash-01", step, st.Releases)
		}
		e.D.Kill9(t)
		cli.Process.Kill()
		<-cliDone
		e.D = spawnDaemon(t, e.State, e.Sock, e.Args...)

		ls := e.list()
		cur := ls["crash-01"]
		if cur.Status != "running" || cur.IP != c.IP || cur.MAC != c.MAC {
			t.Fatalf("after kill -9 at release:%s, crash-01 is %+v; want running on %s", step, cur, c.IP)
		}
		for n, x := range ls {
			if n != "crash-01" && n != "crash-01-last" {
				t.Fatalf("after kill -9 at release:%s, a container %q (%s) is left", step, n, x.Status)
			}
			if n == "crash-01-last" && (x.Status != "stopped" || x.IP != "") {
				t.Fatalf("after kill -9 at release:%s, crash-01-last is %s on %q; want stopped with no address", step, x.Status, x.IP)
			}
		}
		// It answers, with the name's host key and hostname.
		if got := e.sshStrict(t, c.IP, kh, "hostname; cat /srv/data/f"); got != "crash-01\nkept" {
			t.Fatalf("after kill -9 at release:%s, crash-01 answers %q; want its hostname and the volume's file", step, got)
		}
		// One holder of the address: exactly one netns has it, and one active lease.
		if n := netnsHolding(t, c.IP); n != 1 {
			t.Fatalf("after kill -9 at release:%s, %d network namespaces hold %s", step, n, c.IP)
		}
		var leases []api.Lease
		if err := json.Unmarshal([]byte(e.OK("ip", "ls", "--pool", "vm", "-o", "json").Stdout), &leases); err != nil {
			t.Fatal(err)
		}
		for _, l := range leases {
			if l.State == "active" && l.Name != "crash-01" {
				t.Fatalf("after kill -9 at release:%s, %q still holds %s", step, l.Name, l.IP)
			}
		}
		// The next release is not refused as one under way: the daemon
		// finished or undid this one.
		t.Logf("release:%s: crash-01 answers; %d containers", step, len(ls))
	}
	// A release runs to the end after all that.
	e.OK("release", "crash-01", "--image", "debian12-fat")
	if conn, err := net.DialTimeout("tcp", c.IP+":22", 5*time.Second); err != nil {
		t.Fatalf("crash-01 after the last release: %v", err)
	} else {
		conn.Close()
	}
}

// netnsHolding counts the named network namespaces with ip on an interface.
// nsenter --net, not `ip -n` or `ip netns exec`: those copy the host's mount
// namespace, which for a moment pins every container's disk mounts (a
// parallel test's unmount would fail).
func netnsHolding(t *testing.T, ip string) int {
	t.Helper()
	ents, err := os.ReadDir("/var/run/netns")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ent := range ents {
		out, err := exec.Command("nsenter", "--net=/var/run/netns/"+ent.Name(), "ip", "-4", "-o", "addr", "show").Output()
		if err != nil {
			continue // deleted meanwhile
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, " "+ip+"/") {
				n++
			}
		}
	}
	return n
}
