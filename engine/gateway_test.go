package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fatbox/fatbox/engine/firstboot"
	"github.com/fatbox/fatbox/engine/runtime"
)

// keygen makes an ed25519 key pair in dir and returns the private key's
// path and the public line.
func keygen(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", p).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(p + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return p, strings.TrimSpace(string(pub))
}

// sshAs runs cmd as login@ip with key, checking the host key against
// knownHosts; it retries while sshd comes up when wait.
func sshAs(key, knownHosts, login, ip, cmd string, wait bool) (string, error) {
	var out []byte
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err = exec.Command("ssh", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts,
			"-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR", login+"@"+ip, cmd).CombinedOutput()
		if err == nil || !wait || time.Now().After(deadline) {
			return string(out), err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// knownHostsOf writes the container's host keys, as Engine.HostKeys gives
// them, as ip's known_hosts: an ssh that checks them strictly proves the
// keys are the ones its sshd presents.
func knownHostsOf(t *testing.T, e *Engine, name, ip, dir string) string {
	t.Helper()
	keys, err := e.HostKeys(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Fatalf("%d host keys, want ed25519, ecdsa and rsa", len(keys))
	}
	var b bytes.Buffer
	for _, k := range keys {
		b.WriteString(ip + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.PublicKey()))) + "\n")
	}
	p := filepath.Join(dir, "known_hosts-"+name)
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, e *Engine, name string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	code, err := e.Exec(context.Background(), name, runtime.ExecConfig{Args: args}, runtime.Streams{Stdout: &out, Stderr: &out})
	if err != nil || code != 0 {
		t.Fatalf("exec %q: %d %v\n%s", args, code, err, out.String())
	}
	return out.String()
}

// TestGatewayGrant: the gateway's key logs in as root in a new container
// and as a named user once granted, beside the user's own key (never
// touched); the grant survives a restart and a new engine's Reconcile, is
// revoked, and reaches a container made before any gateway key (its sshd
// reloaded to read the new drop-in).
func TestGatewayGrant(t *testing.T) {
	env := newTestEnv(t, "198.19.196.0/24")
	e := env.e
	ctx := context.Background()
	// Fresh names each run: a host where /run/netns was bind-mounted over
	// itself after a run's netns were made (iproute2 does that) keeps them
	// stuck under it, and a name's netns file then cannot be used again.
	oldName, name := uniqueName("gr-old"), uniqueName("gr-keys")
	dir := t.TempDir()
	gwKey, gwPub := keygen(t, dir, "gateway")
	userKey, userPub := keygen(t, dir, "user")

	// Made before the gateway was configured.
	old, err := e.Create(ctx, CreateRequest{Name: oldName, Pool: "p", Image: "debian12-fat", SSHKeys: []string{userPub}})
	if err != nil {
		t.Fatal(err)
	}
	removeAtCleanup(t, e, oldName)
	if _, err := e.GrantGateway(ctx, oldName, []string{"root"}); !errors.Is(err, ErrNoGatewayKey) || !errors.Is(err, ErrConflict) {
		t.Fatalf("grant without a gateway key: %v, want ErrNoGatewayKey (conflict)", err)
	}

	e.GatewayKey = gwPub
	rec, err := e.Create(ctx, CreateRequest{Name: name, Pool: "p", Image: "debian12-fat", SSHKeys: []string{userPub}})
	if err != nil {
		t.Fatal(err)
	}
	removeAtCleanup(t, e, name)
	kh := knownHostsOf(t, e, name, rec.IP, dir)
	if out, err := sshAs(gwKey, kh, "root", rec.IP, "id -un", true); err != nil || strings.TrimSpace(out) != "root" {
		t.Fatalf("gateway key as root in a new container: %v %s", err, out)
	}
	if got, _ := e.GatewayLogins(ctx, name); strings.Join(got, ",") != "root" {
		t.Fatalf("a new container grants %q, want root", got)
	}

	// A named user with keys of its own.
	run(t, e, name, "sh", "-c", "useradd -m -s /bin/bash app && mkdir -m 700 ~app/.ssh && echo '"+userPub+" own' > ~app/.ssh/authorized_keys && chown -R app:app ~app/.ssh && chmod 600 ~app/.ssh/authorized_keys")
	own := run(t, e, name, "cat", "/home/app/.ssh/authorized_keys")
	if _, err := sshAs(gwKey, kh, "app", rec.IP, "true", false); err == nil {
		t.Fatal("the gateway key logged in as app before any grant")
	}
	for _, bad := range [][]string{{"App User"}, {"../etc"}, {}} {
		if _, err := e.GrantGateway(ctx, name, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("grant %q: %v, want ErrInvalid", bad, err)
		}
	}
	g, err := e.GrantGateway(ctx, name, []string{"app"})
	if err != nil || !g.Applied || strings.Join(g.Logins, ",") != "app,root" || g.Note != "" {
		t.Fatalf("grant app: %+v %v", g, err)
	}
	if g2, err := e.GrantGateway(ctx, name, []string{"app"}); err != nil || strings.Join(g2.Logins, ",") != "app,root" {
		t.Fatalf("grant again (idempotent): %+v %v", g2, err)
	}
	check := func(when string, gwApp bool) {
		t.Helper()
		out, err := sshAs(gwKey, kh, "app", rec.IP, "id -un", true)
		if gwApp && (err != nil || strings.TrimSpace(out) != "app") {
			t.Fatalf("%s: gateway key as app: %v %s", when, err, out)
		}
		if !gwApp {
			if _, err := sshAs(gwKey, kh, "app", rec.IP, "true", false); err == nil {
				t.Fatalf("%s: gateway key still logs in as app", when)
			}
		}
		if out, err := sshAs(userKey, kh, "app", rec.IP, "id -un", true); err != nil || strings.TrimSpace(out) != "app" {
			t.Fatalf("%s: the user's own key as app: %v %s", when, err, out)
		}
		if got := run(t, e, name, "cat", "/home/app/.ssh/authorized_keys"); got != own {
			t.Fatalf("%s: the user's authorized_keys changed:\n%s\nwas\n%s", when, got, own)
		}
	}
	check("after the grant", true)

	// Kept across a restart and by the next daemon's engine.
	if _, err := e.Restart(ctx, name); err != nil {
		t.Fatal(err)
	}
	check("after a restart", true)
	e2 := env.next()
	e2.GatewayKey = gwPub
	if rep, err := e2.Reconcile(ctx); err != nil || len(rep.Errors) > 0 {
		t.Fatalf("reconcile: %+v %v", rep, err)
	}
	check("after reconcile", true)

	if g, err := e2.RevokeGateway(ctx, name, []string{"app"}); err != nil || strings.Join(g.Logins, ",") != "root" {
		t.Fatalf("revoke app: %+v %v", g, err)
	}
	check("after the revoke", false)
	if out, err := sshAs(gwKey, kh, "root", rec.IP, "true", false); err != nil {
		t.Fatalf("revoking app took root too: %v %s", err, out)
	}
	if _, err := e2.RevokeGateway(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sshAs(gwKey, kh, "root", rec.IP, "true", false); err == nil {
		t.Fatal("the gateway key logs in as root after revoking all")
	}

	// The container made before: its running sshd learns the drop-in.
	khOld := knownHostsOf(t, e2, oldName, old.IP, dir)
	if _, err := sshAs(gwKey, khOld, "root", old.IP, "true", true); err == nil {
		t.Fatal("the gateway key logs in to a container made before the gateway")
	}
	g, err = e2.GrantGateway(ctx, oldName, []string{"root"})
	if err != nil || !g.Applied || g.Note != "" {
		t.Fatalf("grant root in the older container: %+v %v", g, err)
	}
	if out, err := sshAs(gwKey, khOld, "root", old.IP, "id -un", true); err != nil {
		t.Fatalf("gateway key as root after the grant (sshd reloaded?): %v %s", err, out)
	}
	if out, err := sshAs(userKey, khOld, "root", old.IP, "true", false); err != nil {
		t.Fatalf("root's own key after the grant: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(e2.dir(oldName), "gateway-logins")); err != nil {
		t.Fatalf("grant not kept in the state dir: %v", err)
	}
	// The grant's files are where firstboot says.
	if got := run(t, e2, oldName, "cat", firstboot.GatewayKeysDir+"/root"); strings.TrimSpace(got) != gwPub {
		t.Fatalf("%s/root holds %q", firstboot.GatewayKeysDir, got)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// uniqueName is prefix and 4 random hex digits.
func uniqueName(prefix string) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%x", prefix, b)
}

// removeAtCleanup removes the container when the test ends; a remove that
// fails (something left behind) fails the test.
func removeAtCleanup(t *testing.T, e *Engine, name string) {
	t.Cleanup(func() {
		if err := e.Remove(context.Background(), name, true); err != nil {
			t.Errorf("remove %s: %v", name, err)
		}
	})
}

// waitFor polls cond for up to 2 minutes (the shared test host can be
// loaded far past its 2 cores).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what) // the caller's output says more
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestExecResizeAndSignal: a terminal exec sees its new size (stty size
// inside), and a signal sent to an exec reaches the process (its trap runs
// and sets the exit status), with and without a terminal.
func TestExecResizeAndSignal(t *testing.T) {
	env := newTestEnv(t, "198.19.197.0/24")
	e := env.e
	ctx := context.Background()
	name := uniqueName("gr-exec")
	if _, err := e.Create(ctx, CreateRequest{Name: name, Pool: "p", Image: "debian12-fat"}); err != nil {
		t.Fatal(err)
	}
	removeAtCleanup(t, e, name)

	// Resize: the shell prints its size, waits for a line, prints it again.
	inR, inW := io.Pipe()
	resize := make(chan [2]uint16, 1)
	out := &syncBuffer{}
	done := make(chan struct{})
	var code int
	var err error
	go func() {
		defer close(done)
		code, err = e.Exec(ctx, name, runtime.ExecConfig{Args: []string{"sh", "-c", "stty size; read x; stty size"}, TTY: true, Cols: 80, Rows: 24},
			runtime.Streams{Stdin: inR, Stdout: out, Resize: resize})
	}()
	waitFor(t, "the first size", func() bool {
		select {
		case <-done:
			t.Fatalf("the exec ended before the resize: code %d, %v, output %q", code, err, out.String())
		default:
		}
		// 24 80 as asked, or 0 0 when the process asked before runc sized
		// its inner terminal (runc's foreground -t race; see the
		// runtime row of docs/architecture.md): the resize must arrive.
		return regexp.MustCompile(`(?m)^\d+ \d+\s*$`).MatchString(out.String())
	})
	if first := strings.TrimSpace(out.String()); !strings.Contains(first, "24 80") {
		t.Logf("the first stty size was %q, not 24 80: runc had not sized the inner terminal yet", first)
	}
	resize <- [2]uint16{132, 43}
	time.Sleep(300 * time.Millisecond) // the size reaches runc's pty before the line
	inW.Write([]byte("\n"))
	<-done
	close(resize)
	if err != nil || code != 0 || !strings.Contains(out.String(), "43 132") {
		t.Fatalf("resize: code %d err %v output %q, want 43 132 after the resize", code, err, out.String())
	}

	for _, tty := range []bool{false, true} {
		sig := make(chan syscall.Signal, 1)
		out := &syncBuffer{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			code, err = e.Exec(ctx, name, runtime.ExecConfig{Args: []string{"sh", "-c", "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.1; done"}, TTY: tty},
				runtime.Streams{Stdout: out, Signal: sig})
		}()
		waitFor(t, "the trap", func() bool { return strings.Contains(out.String(), "ready") })
		sig <- syscall.SIGTERM
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("tty %v: the process did not end on SIGTERM; output %q", tty, out.String())
		}
		close(sig)
		if err != nil || code != 7 || !strings.Contains(out.String(), "got-term") {
			t.Fatalf("tty %v: code %d err %v output %q, want the trap's 7", tty, code, err, out.String())
		}
	}
}
