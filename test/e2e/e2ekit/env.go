package e2ekit

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/daemon"
	"github.com/fatbox/fatbox/test/harness"
)

// Env is a daemon with a pool ("vm"), the fat image and an SSH key, for
// tests that work on containers.
type Env struct {
	T         *testing.T
	Dir, Sock string
	State     string
	Args      []string // the daemon's flags beyond state dir and socket
	Key       string   // private ed25519 key; Key+".pub" is its public key
	Bridge    string   // the pool's
	D         *Daemon  // the current daemon; Restart replaces it
}

// NewEnv starts a daemon with its own state dir and socket, creates pool
// "vm" on a new bridge with cidr, builds (or takes from the harness's
// cache) debian12-fat, and makes an SSH key. Everything goes at cleanup.
func NewEnv(t *testing.T, cidr string, daemonArgs ...string) *Env {
	harness.RequireRoot(t)
	sup := os.Getenv("FATBOX_SUPERVISORD")
	harness.Require(t, sup != "", "FATBOX_SUPERVISORD (the binary `make supervisord` builds)")
	_, err := exec.LookPath("lxcfs")
	harness.Require(t, err == nil, "lxcfs (tools/setup-host.sh installs it)")
	dir := t.TempDir()
	e := &Env{T: t, Dir: dir, Sock: filepath.Join(dir, "fatbox.sock"), State: filepath.Join(dir, "state"),
		Args: append([]string{"--supervisord", sup, "--image-cache", filepath.Join(harness.CacheDir(), "images")}, daemonArgs...)}
	t.Cleanup(func() { StopLXCFS(e.State) })
	// One cleanup for whichever daemon is current, registered before any
	// container's, so every `fatbox rm` runs while a daemon answers.
	t.Cleanup(func() {
		if e.D != nil {
			e.D.Stop()
		}
	})
	e.D = SpawnDaemon(t, e.State, e.Sock, e.Args...)
	br := harness.Name("fbvbr")
	e.Bridge = br
	t.Cleanup(func() { harness.IPQuiet("link", "del", br) })
	e.OK("pool", "create", "vm", "--cidr", cidr, "--bridge", br, "--create-bridge")
	e.OK("image", "build", "debian12-fat")
	keyDir := t.TempDir()
	e.Key = filepath.Join(keyDir, "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", e.Key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	return e
}

// Daemon is the current daemon.
func (e *Env) Daemon() *Daemon { return e.D }

// Restart stops the current daemon (SIGKILL) and starts another on the
// same state dir and socket with the env's flags and extra; it adopts the
// containers.
func (e *Env) Restart(t testing.TB, extra ...string) {
	t.Helper()
	e.D.Stop()
	e.D = SpawnDaemon(t, e.State, e.Sock, append(append([]string(nil), e.Args...), extra...)...)
}

// StopLXCFS stops the lxcfs a test daemon started (it outlives daemons on
// purpose) and unmounts it, and removes the daemon's (empty) runc root.
func StopLXCFS(state string) {
	defer os.Remove(daemon.RuncRoot(state))
	mnt := filepath.Join(state, "lxcfs")
	if b, err := os.ReadFile(mnt + ".pid"); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	syscall.Unmount(mnt, syscall.MNT_DETACH)
}

// OK runs the CLI against the env's daemon and fails the test unless it exits 0.
func (e *Env) OK(args ...string) Result {
	e.T.Helper()
	return e.OKIn(e.T, args...)
}

// OKIn is OK failing t: a subtest's (a parallel subtest must never fail
// its parent).
func (e *Env) OKIn(t testing.TB, args ...string) Result {
	t.Helper()
	r := Fatbox(t, append(args, "--socket", e.Sock)...)
	if r.Code != 0 {
		t.Fatalf("fatbox %v: exit %d: %s", args, r.Code, r.Stderr)
	}
	return r
}

// Create creates name on pool vm from debian12-fat with the env's key (and
// extra flags, which come later and win), removed at cleanup.
func (e *Env) Create(name string, extra ...string) api.ContainerInfo {
	e.T.Helper()
	e.OK(append([]string{"create", name, "--image", "debian12-fat", "--pool", "vm", "--ssh-key", e.Key + ".pub"}, extra...)...)
	e.T.Cleanup(func() { Fatbox(e.T, "rm", name, "--socket", e.Sock) })
	return e.Inspect(name)
}

// Inspect is `fatbox inspect name`, decoded.
func (e *Env) Inspect(name string) api.ContainerInfo {
	e.T.Helper()
	var in api.ContainerInfo
	if err := json.Unmarshal([]byte(e.OK("inspect", name).Stdout), &in); err != nil {
		e.T.Fatalf("inspect %s: %v", name, err)
	}
	return in
}

// SSH runs cmd as root in the container over the real OpenSSH client
// (Inside: retried while sshd comes up, for up to a minute) and fails the
// test unless it exits 0.
func (e *Env) SSH(ip, cmd string) string {
	e.T.Helper()
	return e.Must(e.T, ip, cmd)
}

// ClientNetns is a network namespace on the pool's bridge with address
// cidr (a client of the containers, as another VM on the segment would
// be). Enter it with `nsenter --net=/var/run/netns/<ns>` (not `ip netns
// exec`, which would pin the containers' mounts in its mount namespace).
func (e *Env) ClientNetns(t *testing.T, cidr string) string {
	t.Helper()
	ns := harness.Netns(t)
	host, peer := harness.Name("fbph"), harness.Name("fbpp")
	harness.IP(t, "link", "add", host, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { harness.IPQuiet("link", "del", host) })
	harness.IP(t, "link", "set", peer, "netns", ns)
	harness.IP(t, "link", "set", host, "master", e.Bridge, "up")
	harness.IP(t, "-n", ns, "addr", "add", cidr, "dev", peer)
	harness.IP(t, "-n", ns, "link", "set", peer, "up")
	return ns
}
