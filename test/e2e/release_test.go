package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
	"github.com/fatbox/fatbox/test/harness"
)

var (
	proberOnce sync.Once
	proberBin  string
	proberErr  error
)

// buildProber builds test/prober once per test binary.
func buildProber(t *testing.T) string {
	t.Helper()
	proberOnce.Do(func() {
		proberBin = filepath.Join(filepath.Dir(e2ekit.Bin()), "prober")
		out, err := exec.Command("go", "build", "-o", proberBin, "github.com/fatbox/fatbox/test/prober").CombinedOutput()
		if err != nil {
			proberErr = fmt.Errorf("build prober: %v: %s", err, out)
		}
	})
	if proberErr != nil {
		t.Fatal(proberErr)
	}
	return proberBin
}

// probe is a prober running in a client netns against addr.
type probe struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func (e *vmEnv) startProbe(t *testing.T, ns, addr string) *probe {
	t.Helper()
	// nsenter --net, not `ip netns exec`: that one runs the command in a
	// copy of the host's mount namespace, which would pin the containers'
	// disk mounts for as long as the prober runs (and fail their unmount).
	p := &probe{cmd: exec.Command("nsenter", "--net=/var/run/netns/"+ns, buildProber(t), "-addr", addr, "-interval", "20ms", "-timeout", "200ms")}
	p.cmd.Stdout = &p.out
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("prober in %s never reached %s", ns, addr)
	}
	return p
}

// stop ends the prober and returns the longest gap it saw.
func (p *probe) stop(t *testing.T) time.Duration {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	var r struct {
		LongestGapMS float64 `json:"longest_gap_ms"`
		OK, Failed   int
	}
	if err := json.Unmarshal(p.out.Bytes(), &r); err != nil {
		t.Fatalf("prober output %q: %v", p.out.String(), err)
	}
	t.Logf("prober: longest gap %.1f ms, %d connects, %d failed", r.LongestGapMS, r.OK, r.Failed)
	return time.Duration(r.LongestGapMS * float64(time.Millisecond))
}

// knownHosts writes a known_hosts file holding ip's host keys as ssh-keyscan sees them now.
func (e *vmEnv) knownHosts(t *testing.T, ip string) string {
	t.Helper()
	hostKey(t, ip) // waits for sshd
	out, err := exec.Command("ssh-keyscan", "-T", "3", ip).Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("ssh-keyscan %s: %v", ip, err)
	}
	f := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(f, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// sshStrict runs cmd with host key checking against knownHosts: it fails
// if the host key changed.
func (e *vmEnv) sshStrict(t *testing.T, ip, knownHosts, cmd string) string {
	t.Helper()
	var out []byte
	var err error
	// A connection refused or reset is retried for a while (sshd's
	// MaxStartups drops some while the prober's connects drain); a host key
	// that changed fails at once.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, err = exec.Command("ssh", "-i", e.Key, "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts,
			"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "root@"+ip, cmd).CombinedOutput()
		if err == nil || strings.Contains(string(out), "Host key verification failed") || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("ssh root@%s %q with the known_hosts from before: %v\n%s", ip, cmd, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (e *vmEnv) list() map[string]api.Container {
	e.T.Helper()
	var cs []api.Container
	if err := json.Unmarshal([]byte(e.OK("ls", "-o", "json").Stdout), &cs); err != nil {
		e.T.Fatal(err)
	}
	m := map[string]api.Container{}
	for _, c := range cs {
		m[c.Name] = c
	}
	return m
}

// TestRelease: a release whose check fails leaves the container serving; a
// good one and a rollback hand the name's address over with a gap under a
// second, seen by a TCP prober on the bridge, and the client's known_hosts
// still matches; the old container is <name>-last, stopped, holding no address.
func TestRelease(t *testing.T) {
	t.Parallel()
	e := newVMEnv(t, "198.19.162.0/24")
	e.OK("volume", "create", "rel-data", "--size", "256M")
	t.Cleanup(func() { fatbox(t, "volume", "rm", "rel-data", "--socket", e.Sock) })
	c := e.Create("shop-01", "--memory", "256M", "--disk", "1G", "--owner", "shop", "--label", "tier=web", "--volume", "rel-data:/var/lib/app")
	e.RemoveAtEnd(t, "shop-01-last", "shop-01-next")
	e.SSH(c.IP, "echo v1 > /root/version && echo orders > /var/lib/app/data && sync")
	kh := e.knownHosts(t, c.IP)

	// A failing check: the candidate goes, shop-01 never stopped serving.
	r := fatbox(t, "release", "shop-01", "--image", "debian12-fat", "--check", "tcp:9", "--check-timeout", "3s", "--socket", e.Sock)
	if r.Code == 0 || !strings.Contains(r.Stderr, "did not pass its health check") || !strings.Contains(r.Stderr, "was left as it is, serving") {
		t.Fatalf("release with a failing check: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if got := e.sshStrict(t, c.IP, kh, "cat /root/version"); got != "v1" {
		t.Fatalf("after the failed release shop-01 answers %q, want the old container's v1", got)
	}
	if _, ok := e.list()["shop-01-next"]; ok {
		t.Fatal("the failed candidate shop-01-next is still there")
	}
	if r := fatbox(t, "ip", "show", "shop-01-next", "--pool", "vm", "--socket", e.Sock); r.Code == 0 && strings.Contains(r.Stdout, "active") {
		t.Fatalf("the failed candidate's lease is still held: %s", r.Stdout)
	}

	ns := e.ClientNetns(t, "198.19.162.250/24")
	for i, step := range []struct {
		args []string
		want string
	}{
		{[]string{"release", "shop-01", "--image", "debian12-fat"}, ""},
		{[]string{"rollback", "shop-01"}, "v1"},
	} {
		if i == 0 {
			// An app holding a file on the volume, which flushes for 100 ms
			// on SIGTERM: the switch waits for it (one writer at a time).
			e.SSH(c.IP, `setsid sh -c 'exec 3>>/var/lib/app/data; trap "sleep 0.1; echo flushed >&3; exit 0" TERM; while :; do sleep 0.05; done' </dev/null >/dev/null 2>&1 &`)
		}
		p := e.startProbe(t, ns, c.IP+":22")
		out := e.OK(step.args...).Stdout
		time.Sleep(300 * time.Millisecond) // the prober sees the new container answer steadily
		gap := p.stop(t)
		t.Logf("%s: %s", step.args[0], strings.TrimSpace(out))
		if gap >= time.Second {
			t.Fatalf("%s: shop-01's address did not answer for %s (want < 1 s)", step.args[0], gap)
		}
		ls := e.list()
		cur, last := ls["shop-01"], ls["shop-01-last"]
		if cur.IP != c.IP || cur.MAC != c.MAC || cur.Status != "running" || cur.Owner != "shop" || cur.Labels["tier"] != "web" {
			t.Fatalf("%s: shop-01 is %+v, want running on %s/%s with its owner and labels", step.args[0], cur, c.IP, c.MAC)
		}
		if last.Status != "stopped" || last.IP != "" {
			t.Fatalf("%s: shop-01-last is %+v, want stopped with no address", step.args[0], last)
		}
		// The same host keys: the known_hosts from before the release matches.
		// The volume moved with the name: its files are there, and written
		// on by the new container.
		if got := e.sshStrict(t, c.IP, kh, "cat /var/lib/app/data && echo "+step.args[0]+" >> /var/lib/app/data"); !strings.HasPrefix(got, "orders") {
			t.Fatalf("%s: the volume in shop-01 holds %q, want the file written before", step.args[0], got)
		}
		if got := e.sshStrict(t, c.IP, kh, "cat /var/lib/app/data"); i == 0 && !strings.Contains(got, "flushed") {
			t.Fatalf("%s: the old app's flush on SIGTERM is not on the volume (%q): the switch did not wait for it", step.args[0], got)
		}
		if len(cur.Volumes) != 1 || cur.Volumes[0].Name != "rel-data" || len(last.Volumes) != 0 {
			t.Fatalf("%s: volumes: shop-01 %v, shop-01-last %v; want rel-data on shop-01 only", step.args[0], cur.Volumes, last.Volumes)
		}
		got := e.sshStrict(t, c.IP, kh, "hostname; cat /root/version 2>/dev/null; ip -4 -o addr show eth0 | wc -l")
		lines := strings.Fields(got)
		if lines[0] != "shop-01" || (step.want == "") != (len(lines) == 2) || (step.want != "" && lines[1] != step.want) {
			t.Fatalf("%s %d: shop-01 answers %q, want hostname shop-01 and version %q, one address", step.args[0], i, got, step.want)
		}
		if n := lines[len(lines)-1]; n != "1" {
			t.Fatalf("%s: eth0 has %s addresses, want 1", step.args[0], n)
		}
		// The hostname resolves to the name's address inside (not to the
		// temporary one, which went back to the pool).
		if got := e.sshStrict(t, c.IP, kh, "getent hosts shop-01 | awk '{print $1}'"); got != c.IP {
			t.Fatalf("%s: shop-01 resolves to %q inside, want %s", step.args[0], got, c.IP)
		}
		// The name's lease is the only one the switch left (the candidate's temporary one went back).
		if r := fatbox(t, "ip", "show", "shop-01-last", "--pool", "vm", "--socket", e.Sock); r.Code == 0 && strings.Contains(r.Stdout, "active") {
			t.Fatalf("%s: shop-01-last still holds a lease: %s", step.args[0], r.Stdout)
		}
	}
	// --from a prepared container: a failed check gives it back as it was
	// (running on its own address with its own host key and hostname); a
	// good one hands shop-01 to it, and the previous shop-01-last goes.
	prep := e.Create("shop-01-prep", "--memory", "256M", "--disk", "1G")
	prepKey := hostKey(t, prep.IP)
	r = fatbox(t, "release", "shop-01", "--from", "shop-01-prep", "--check", "tcp:9", "--check-timeout", "2s", "--socket", e.Sock)
	if r.Code == 0 {
		t.Fatalf("release --from with a failing check passed: %s", r.Stdout)
	}
	if got := e.Inspect("shop-01-prep"); got.Status != "running" || got.IP != prep.IP || got.Hostname != "shop-01-prep" {
		t.Fatalf("after the failed release --from, shop-01-prep is %s on %s as %q; want running on %s as itself", got.Status, got.IP, got.Hostname, prep.IP)
	}
	if k := hostKey(t, prep.IP); k != prepKey {
		t.Fatalf("after the failed release --from, shop-01-prep's host key changed: %s, was %s", k, prepKey)
	}
	lastBefore := e.Inspect("shop-01-last").ID
	out := e.OK("release", "shop-01", "--from", "shop-01-prep").Stdout
	if !strings.Contains(out, "the previous shop-01-last was removed") {
		t.Fatalf("release --from: %s", out)
	}
	if got := e.sshStrict(t, c.IP, kh, "hostname"); got != "shop-01" {
		t.Fatalf("after release --from, shop-01 answers as %q", got)
	}
	ls := e.list()
	if _, ok := ls["shop-01-prep"]; ok || ls["shop-01"].ID != prep.ID || ls["shop-01-last"].ID == lastBefore {
		t.Fatalf("after release --from: shop-01 %s (want %s), shop-01-last %s (the previous was %s), shop-01-prep left: %v", ls["shop-01"].ID, prep.ID, ls["shop-01-last"].ID, lastBefore, ls["shop-01-prep"].Name != "")
	}

	evs := e.eventsOf("shop-01")
	var steps []string
	for _, ev := range evs {
		if ev.Kind == "release" {
			steps = append(steps, strings.SplitN(ev.Step, ":", 2)[0])
		}
	}
	if s := strings.Join(steps, ","); !strings.Contains(s, "switched") {
		t.Fatalf("shop-01's release events: %s", s)
	}
	// Nothing holds the old address twice: one answer to ARP.
	if out, err := harness.InNetns(ns, "ping", "-c", "1", "-W", "2", c.IP).CombinedOutput(); err != nil {
		t.Fatalf("ping %s from the client: %v %s", c.IP, err, out)
	}
	_ = net.ParseIP
}
