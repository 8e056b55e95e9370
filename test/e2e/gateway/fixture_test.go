package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/sshgw/audit"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
	"github.com/fatbox/fatbox/test/harness"
)

// gw is the shared fixture: a daemon running the gateway, its users'
// keys and ssh configs, and the containers.
type gw struct {
	t      *testing.T
	e      *e2ekit.Env
	addr   string // 127.0.0.1:port of the gateway
	port   string
	cfgDir string
	kh     string            // known_hosts: the gateway's key and the containers' own
	keys   map[string]string // gateway user → private key file
	cs     map[string]api.ContainerInfo
}

// newGW starts a daemon with the gateway on a free loopback port, the
// access file written for the users alice, bob and carol.
func newGW(t *testing.T, cidr string) *gw {
	harness.RequireRoot(t)
	for _, tool := range []string{"ssh", "scp", "sftp", "rsync", "ansible", "asciinema", "ssh-keygen"} {
		_, err := exec.LookPath(tool)
		harness.Require(t, err == nil, "%s (tools/setup-host.sh --test installs it)", tool)
	}
	g := &gw{t: t, cfgDir: t.TempDir(), keys: map[string]string{}, cs: map[string]api.ContainerInfo{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = l.Addr().String()
	l.Close()
	_, g.port, _ = net.SplitHostPort(g.addr)
	conf := filepath.Join(g.cfgDir, "fatbox.yaml")
	writeFile(t, conf, fmt.Sprintf("gateway:\n  listen: %s\n  config_dir: %s\n  record_session_max: 64KiB\n  record_total_max: 1MiB\n", g.addr, g.cfgDir))
	g.e = e2ekit.NewEnv(t, cidr, "--config", conf)
	g.keys["alice"] = g.e.Key
	for _, u := range []string{"bob", "carol", "mallory"} {
		g.keys[u] = filepath.Join(g.cfgDir, u)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", u, "-f", g.keys[u]).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
	}
	pub := func(u string) string { return strings.TrimSpace(readFile(t, g.keys[u]+".pub")) }
	writeFile(t, filepath.Join(g.cfgDir, "access.yaml"), fmt.Sprintf(`users:
  alice:
    keys: [%q]
  bob:
    keys: [%q]
  carol:
    keys: [%q]
groups:
  ops: [alice]
rules:
  - name: ops-sshd
    groups: [ops]
    containers: {name: "gw-*", labels: {path: sshd}}
    logins: [root]
    channels: [shell, exec, sftp]
    agent: true
  - name: ops-exec
    groups: [ops]
    containers: {name: "gw-*", labels: {path: exec}}
    logins: [root]
    channels: [shell, exec, sftp]
    path: exec
  - name: orders-team
    users: [bob]
    containers: {app: orders}
    logins: [root]
    channels: [shell, exec, sftp, forward]
    ports: [8080]
`, pub("alice"), pub("bob"), pub("carol")))
	// mallory's key is in no file.
	return g
}

// create makes a container and adds its own host keys to known_hosts
// under its name and IP.
func (g *gw) create(name string, extra ...string) api.ContainerInfo {
	g.t.Helper()
	c := g.e.Create(name, extra...)
	g.cs[name] = c
	inst := c.Instance
	if inst == "" {
		inst = c.Name
	}
	var kh strings.Builder
	for _, typ := range []string{"ed25519", "ecdsa", "rsa"} {
		k := strings.TrimSpace(readFile(g.t, filepath.Join(g.e.State, "containers", inst, "ssh", "ssh_host_"+typ+"_key.pub")))
		fields := strings.Fields(k)
		fmt.Fprintf(&kh, "%s,%s %s %s\n", c.Name, c.IP, fields[0], fields[1])
	}
	appendFile(g.t, g.knownHosts(), kh.String())
	return c
}

// knownHosts is the known_hosts file: the gateway's key first.
func (g *gw) knownHosts() string {
	if g.kh != "" {
		return g.kh
	}
	g.kh = filepath.Join(g.cfgDir, "known_hosts")
	hostKey := filepath.Join(g.e.State, "gateway", "ssh_host_ed25519_key")
	e2ekit.WaitFor(g.t, 10*time.Second, "the gateway's host key", func() bool { _, err := os.Stat(hostKey); return err == nil })
	out, err := exec.Command("ssh-keygen", "-y", "-f", hostKey).Output()
	if err != nil {
		g.t.Fatalf("ssh-keygen -y: %v", err)
	}
	writeFile(g.t, g.kh, fmt.Sprintf("[127.0.0.1]:%s %s\n", g.port, strings.TrimSpace(string(out))))
	return g.kh
}

// config is an ssh_config for user: its key only, strict host keys
// against knownHosts (so a -J session proves the gateway presents the
// container's own key), no prompts.
func (g *gw) config(user string) string {
	p := filepath.Join(g.cfgDir, "ssh_config."+user)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	writeFile(g.t, p, fmt.Sprintf(`Host *
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
  ConnectTimeout 20
  ServerAliveInterval 5
`, g.keys[user], g.knownHosts()))
	return p
}

// jump is the ProxyJump of user.
func (g *gw) jump(user string) string { return user + "@" + g.addr }

type res struct {
	out, err string
	code     int
}

// run runs a command with a deadline; it fails the test if it hangs.
func run(t *testing.T, within time.Duration, name string, args ...string) res {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := res{out: o.String(), err: e.String()}
	if ctx.Err() != nil {
		t.Fatalf("%s %q did not end within %s: %s %s", name, args, within, r.out, r.err)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// ssh runs the real ssh client as user with args (host and command).
func (g *gw) ssh(t *testing.T, user string, args ...string) res {
	t.Helper()
	return run(t, 60*time.Second, "ssh", append([]string{"-F", g.config(user)}, args...)...)
}

// gwSSH logs in to the gateway itself as name (USER+[LOGIN+]CONTAINER).
func (g *gw) gwSSH(t *testing.T, user, name string, args ...string) res {
	t.Helper()
	return g.ssh(t, user, append([]string{"-p", g.port, name + "@127.0.0.1"}, args...)...)
}

// waitSSHD waits until the container's sshd answers through the gateway.
func (g *gw) waitSSHD(name string) {
	g.t.Helper()
	e2ekit.WaitFor(g.t, 60*time.Second, name+"'s sshd through the gateway", func() bool {
		return g.gwSSH(g.t, "alice", "alice+"+name, "true").code == 0
	})
}

// entries reads the audit log.
func (g *gw) entries(t *testing.T) []audit.Entry {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(g.e.State, "gateway", "audit", "*.jsonl"))
	var out []audit.Entry
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e audit.Entry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("audit line %q: %v", sc.Text(), err)
			}
			out = append(out, e)
		}
		fh.Close()
	}
	return out
}

// findEntry waits for an audit entry that match accepts.
func (g *gw) findEntry(t *testing.T, what string, match func(audit.Entry) bool) audit.Entry {
	t.Helper()
	var found audit.Entry
	e2ekit.WaitFor(t, 10*time.Second, "an audit line: "+what, func() bool {
		for _, e := range g.entries(t) {
			if match(e) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// term is an ssh client on a pseudo-terminal the test drives.
type term struct {
	t    *testing.T
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (g *gw) term(t *testing.T, user string, rows, cols uint16, args ...string) *term {
	t.Helper()
	cmd := exec.Command("ssh", append([]string{"-F", g.config(user), "-tt"}, args...)...)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: rows, Cols: cols})
	if err != nil {
		t.Fatal(err)
	}
	tm := &term{t: t, cmd: cmd, tty: tty, done: make(chan struct{})}
	go func() {
		defer close(tm.done)
		buf := make([]byte, 32<<10)
		for {
			n, err := tty.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(tm.close)
	return tm
}

func (tm *term) output() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.String()
}

// expect waits until the output holds s (after from bytes).
func (tm *term) expect(s string, from int) int {
	tm.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		o := tm.output()
		if i := strings.Index(o[min(from, len(o)):], s); i >= 0 {
			return min(from, len(o)) + i + len(s)
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("terminal: no %q within 30s; it shows:\n%s", s, o)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (tm *term) send(s string) {
	tm.t.Helper()
	if _, err := io.WriteString(tm.tty, s); err != nil {
		tm.t.Fatal(err)
	}
}

func (tm *term) resize(rows, cols uint16) {
	tm.t.Helper()
	if err := pty.Setsize(tm.tty, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		tm.t.Fatal(err)
	}
}

// wait waits for the ssh client to exit and returns its exit code.
func (tm *term) wait(within time.Duration) int {
	tm.t.Helper()
	select {
	case <-tm.done:
	case <-time.After(within):
		tm.t.Fatalf("ssh did not end within %s; it shows:\n%s", within, tm.output())
	}
	_ = tm.cmd.Wait()
	return tm.cmd.ProcessState.ExitCode()
}

func (tm *term) close() {
	if tm.cmd.ProcessState == nil {
		_ = tm.cmd.Process.Kill()
		_ = tm.cmd.Wait()
	}
	tm.tty.Close()
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
