// Package harness starts throwaway real services for tests — a Consul dev agent
// and a MariaDB server on free loopback ports with temp data dirs — and makes
// throwaway network namespaces and bridges. Everything is torn down by t.Cleanup,
// and only what the harness started is stopped.
//
// Gates: Require and RequireRoot skip a test when a prerequisite is missing,
// except under CI=true or FATBOX_STRICT=1 (set by `make test`), where a missing
// prerequisite is a failure: a skipped tier must never count as passed.
package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Strict reports whether missing prerequisites must fail tests.
func Strict() bool {
	return os.Getenv("CI") == "true" || os.Getenv("FATBOX_STRICT") == "1"
}

// Require fails (strict) or skips (otherwise) the test when ok is false.
func Require(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if ok {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if Strict() {
		t.Fatalf("missing prerequisite: %s (run `make test`, which runs tools/setup-host.sh --test, as root)", msg)
	}
	t.Skipf("missing prerequisite: %s (set FATBOX_STRICT=1 to make this a failure)", msg)
}

// NotRunMarker starts the log line of a test whose path could not run on
// this host for a reason of the host (a kernel feature it lacks), not of
// the test's setup. tools/testreport counts such tests apart: never as
// passed, and not as a failure of CI.
const NotRunMarker = "FATBOX-NOT-RUN:"

// NotRun ends the test as "not run on this host", naming what is missing
// and what would run it. It is for a kernel limit (no 802.1Q here), never
// for a missing package or root: those are prerequisites (Require).
func NotRun(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Log(NotRunMarker + " " + fmt.Sprintf(format, args...))
	t.SkipNow()
}

// RequireRoot gates root-only tests.
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "this test needs root (network namespaces, bridges, mounts)")
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePorts(t, 1)[0]
}

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago. They are held open together while chosen: ports taken one by
// one can come back twice (the kernel reuses a port just closed).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	out := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out
}

// CacheDir is where setup-host.sh keeps built tools.
func CacheDir() string {
	if d := os.Getenv("FATBOX_CACHE"); d != "" {
		return d
	}
	return "/var/cache/fatbox"
}

// ConsulBinary finds the Consul binary: $FATBOX_CONSUL, the cache, or $PATH.
func ConsulBinary() string {
	if p := os.Getenv("FATBOX_CONSUL"); p != "" {
		return p
	}
	if p := filepath.Join(CacheDir(), "consul"); isExec(p) {
		return p
	}
	if p, err := exec.LookPath("consul"); err == nil {
		return p
	}
	return ""
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Process is a service the harness started.
type Process struct {
	Cmd  *exec.Cmd
	Dir  string
	Log  *bytes.Buffer
	done chan struct{}
}

// Stop sends SIGTERM, waits up to 10 s, then SIGKILL. Idempotent.
func (p *Process) Stop() {
	if p == nil || p.Cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// Kill sends SIGKILL and waits.
func (p *Process) Kill() {
	if p == nil || p.Cmd.Process == nil {
		return
	}
	_ = p.Cmd.Process.Kill()
	<-p.done
}

func start(t testing.TB, name string, cmd *exec.Cmd, dir string) *Process {
	t.Helper()
	p := &Process{Cmd: cmd, Dir: dir, Log: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stdout = p.Log
	cmd.Stderr = p.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Stop)
	return p
}

// Consul is a running throwaway Consul dev agent.
type Consul struct {
	*Process
	Addr string // 127.0.0.1:port of the HTTP API
	DNS  int    // its DNS port on 127.0.0.1
	// Token is the management token of an agent with ACLs (StartConsulACL).
	Token string
}

// URL is a fatbox store URL for this agent under prefix.
func (c *Consul) URL(prefix string) string { return "consul://" + c.Addr + "/" + prefix }

// StartConsul starts `consul agent -dev` on free loopback ports and waits for a leader.
func StartConsul(t testing.TB) *Consul { return startConsulWith(t, "") }

// StartConsulACL starts a dev agent with ACLs on, denying by default; its
// Token is the management token.
func StartConsulACL(t testing.TB) *Consul {
	token := "00000000-0000-4000-8000-" + strconv.FormatInt(time.Now().UnixNano()%1e12, 10)
	for len(token) < 36 {
		token += "0"
	}
	c := startConsulWith(t, `acl { enabled = true, default_policy = "deny", tokens { initial_management = "`+token+`" } }`)
	c.Token = token
	return c
}

func startConsulWith(t testing.TB, extra string) *Consul {
	t.Helper()
	bin := ConsulBinary()
	Require(t, bin != "", "no consul binary (looked at $FATBOX_CONSUL, %s/consul, $PATH); tools/setup-host.sh --test builds it", CacheDir())
	// Ports are free when chosen, but another test's agent may take one
	// before this one binds it: then start again on new ports.
	for attempt := 1; ; attempt++ {
		c, retry := startConsul(t, bin, extra)
		if c != nil {
			return c
		}
		if !retry || attempt == 3 {
			t.Fatalf("consul did not start")
		}
	}
}

func startConsul(t testing.TB, bin, extra string) (*Consul, bool) {
	t.Helper()
	dir := t.TempDir()
	ps := FreePorts(t, 6)
	http := ps[0]
	ports := fmt.Sprintf(`ports { http = %d, dns = %d, serf_lan = %d, serf_wan = %d, server = %d, grpc = %d, grpc_tls = -1 }`,
		ps[0], ps[1], ps[2], ps[3], ps[4], ps[5])
	if err := os.WriteFile(filepath.Join(dir, "ports.hcl"), []byte(ports+"\n"+extra+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "agent", "-dev", "-client", "127.0.0.1", "-bind", "127.0.0.1",
		"-data-dir", filepath.Join(dir, "data"), "-config-file", filepath.Join(dir, "ports.hcl"),
		"-node", "fatbox-test-"+strconv.Itoa(os.Getpid()), "-log-level", "warn")
	p := start(t, "consul", cmd, dir)
	c := &Consul{Process: p, Addr: fmt.Sprintf("127.0.0.1:%d", http), DNS: ps[1]}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if leader(c.Addr) {
			return c, false
		}
		select {
		case <-p.done:
			if strings.Contains(p.Log.String(), "address already in use") {
				t.Logf("consul lost a port to someone else, starting again: %s", lastLine(p.Log.String()))
				return nil, true
			}
			t.Fatalf("consul exited: %s", p.Log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("consul at %s has no leader after 60s: %s", c.Addr, p.Log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func leader(addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/v1/status/leader", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	s := strings.Trim(strings.TrimSpace(b.String()), `"`)
	return resp.StatusCode == 200 && s != ""
}

// MariaDB is a running throwaway MariaDB server.
type MariaDB struct {
	*Process
	Addr   string // 127.0.0.1:port
	Socket string
}

// DSN is a go-sql-driver/mysql DSN for root over TCP to database db.
func (m *MariaDB) DSN(db string) string {
	return fmt.Sprintf("root@tcp(%s)/%s?parseTime=true", m.Addr, db)
}

// StartMariaDB initialises a data dir and starts mariadbd on a free loopback port.
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	RequireRoot(t)
	mariadbd := lookFirst("mariadbd", "/usr/sbin/mariadbd")
	install := lookFirst("mariadb-install-db", "/usr/bin/mariadb-install-db")
	Require(t, mariadbd != "" && install != "", "mariadbd or mariadb-install-db not found (Debian package mariadb-server)")
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	// Its own tmpdir: the bootstrap's temporary tables are files in it, and a
	// shared /tmp (other tests, other servers) once lost one mid-bootstrap.
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(install, "--no-defaults", "--user=root", "--datadir="+data, "--tmpdir="+tmp,
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput()
	if err != nil {
		t.Fatalf("mariadb-install-db: %v: %s", err, out)
	}
	port := FreePort(t)
	sock := filepath.Join(dir, "mysqld.sock")
	cmd := exec.Command(mariadbd, "--no-defaults", "--user=root", "--datadir="+data,
		"--bind-address=127.0.0.1", "--port="+strconv.Itoa(port), "--socket="+sock,
		"--pid-file="+filepath.Join(dir, "mysqld.pid"), "--skip-name-resolve", "--tmpdir="+tmp,
		"--innodb-buffer-pool-size=32M", "--skip-log-bin")
	p := start(t, "mariadbd", cmd, dir)
	m := &MariaDB{Process: p, Addr: fmt.Sprintf("127.0.0.1:%d", port), Socket: sock}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", m.Addr, time.Second); err == nil {
			c.Close()
			return m
		}
		select {
		case <-p.done:
			t.Fatalf("mariadbd exited: %s", p.Log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mariadbd not listening on %s after 60s: %s", m.Addr, p.Log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lookFirst(name, fallback string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if isExec(fallback) {
		return fallback
	}
	return ""
}
