package gateway

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/fatbox/fatbox/sshgw/audit"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
	"github.com/fatbox/fatbox/test/harness"
)

// TestGateway shows every must-show item of issue 19 against one fixture.
func TestGateway(t *testing.T) {
	g := newGW(t, "198.19.191.0/24")
	web := g.create("gw-web", "--app", "web", "--label", "path=sshd")
	ord := g.create("gw-ord", "--app", "orders", "--label", "path=sshd")
	g.create("gw-ex", "--app", "web", "--label", "path=exec")
	g.waitSSHD("gw-web")
	g.waitSSHD("gw-ord")

	t.Run("status and check", func(t *testing.T) {
		st := g.e.OK("status").Stdout
		fp := run(t, 10*time.Second, "ssh-keygen", "-l", "-f", filepath.Join(g.e.State, "gateway", "ssh_host_ed25519_key")).out
		if f := strings.Fields(fp); len(f) < 2 || !strings.Contains(st, "gateway:   ssh on "+g.addr+", host key "+f[1]) {
			t.Fatalf("status does not show the gateway's fingerprint %q:\n%s", fp, st)
		}
		ok := g.e.OK("gw", "check", "alice", "gw-web").Stdout
		if !strings.Contains(ok, `ALLOWED: rule "ops-sshd"`) {
			t.Errorf("gw check alice gw-web:\n%s", ok)
		}
		r := runFatbox(t, g, "gw", "check", "bob", web.IP, "--channel", "exec")
		if r.code != 1 || !strings.Contains(r.out, "DENIED") || !strings.Contains(r.out, `container app "web" does not match "orders"`) {
			t.Errorf("gw check bob %s: exit %d\n%s%s", web.IP, r.code, r.out, r.err)
		}
	})

	t.Run("menu", func(t *testing.T) {
		tm := g.term(t, "alice", 30, 100, "-p", g.port, "alice@127.0.0.1")
		at := tm.expect("container (number or name, q to quit): ", 0)
		m := regexp.MustCompile(`(\d+)\) gw-web `).FindStringSubmatch(tm.output())
		if m == nil || strings.Contains(tm.output(), "gw-nope") {
			t.Fatalf("menu has no gw-web:\n%s", tm.output())
		}
		tm.send(m[1] + "\r")
		at = tm.expect("root@gw-web:~# ", at) // what is typed ahead of the shell is the menu's
		tm.send("hostname; echo MENU-$((40+2))\r")
		at = tm.expect("MENU-42", at)
		if !strings.Contains(tm.output(), "gw-web") {
			t.Errorf("menu shell is not in gw-web:\n%s", tm.output())
		}
		tm.send("exit 0\r")
		if code := tm.wait(20 * time.Second); code != 0 {
			t.Errorf("menu session exit %d", code)
		}
	})

	t.Run("user+name", func(t *testing.T) {
		if r := g.gwSSH(t, "alice", "alice+gw-web", "hostname"); r.code != 0 || strings.TrimSpace(r.out) != "gw-web" {
			t.Errorf("alice+gw-web hostname: %+v", r)
		}
		if r := g.gwSSH(t, "alice", "alice+root+gw-web", "id -un"); r.code != 0 || strings.TrimSpace(r.out) != "root" {
			t.Errorf("alice+root+gw-web id -un: %+v", r)
		}
	})

	t.Run("jump to name and IP", func(t *testing.T) {
		// Strict host key checking against the container's own keys: the
		// gateway ends -J itself, presenting the key fatbox generated.
		for _, host := range []string{"gw-web", web.IP} {
			if r := g.ssh(t, "alice", "-J", g.jump("alice"), "root@"+host, "hostname"); r.code != 0 || strings.TrimSpace(r.out) != "gw-web" {
				t.Errorf("ssh -J to %s: %+v", host, r)
			}
		}
	})

	t.Run("exit status without a pty", func(t *testing.T) {
		r := g.ssh(t, "alice", "-J", g.jump("alice"), "root@gw-web", "echo out; echo err >&2; exit 42")
		if r.code != 42 || r.out != "out\n" || !strings.Contains(r.err, "err") {
			t.Errorf("-J exit 42: %+v", r)
		}
		r = g.gwSSH(t, "alice", "alice+gw-web", "tty; exit 3")
		if r.code != 3 || !strings.Contains(r.out, "not a tty") {
			t.Errorf("user+name exit 3: %+v", r)
		}
	})

	local := filepath.Join(t.TempDir(), "payload")
	payload := make([]byte, 5<<20+123)
	_, _ = rand.Read(payload)
	if err := os.WriteFile(local, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	same := func(t *testing.T, p string) {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, payload) {
			t.Fatalf("%s differs from what was sent (%d bytes, %v)", p, len(b), err)
		}
	}

	t.Run("scp both protocols and sftp", func(t *testing.T) {
		dir := t.TempDir()
		for _, tc := range []struct{ name, flag string }{{"sftp protocol", ""}, {"scp protocol", "-O"}} {
			remote := "/tmp/up-" + strings.TrimPrefix(tc.flag, "-")
			args := []string{"-F", g.config("alice"), "-J", g.jump("alice")}
			if tc.flag != "" {
				args = append(args, tc.flag)
			}
			if r := run(t, time.Minute, "scp", append(args, local, "root@gw-web:"+remote)...); r.code != 0 {
				t.Fatalf("%s: scp up: %+v", tc.name, r)
			}
			back := filepath.Join(dir, "back"+tc.flag)
			if r := run(t, time.Minute, "scp", append(args, "root@gw-web:"+remote, back)...); r.code != 0 {
				t.Fatalf("%s: scp down: %+v", tc.name, r)
			}
			same(t, back)
			// The audit log has the upload through -J with its path and bytes.
			e := g.findEntry(t, "scp "+tc.name+" upload of "+remote, func(e audit.Entry) bool {
				return e.Kind == audit.KindFile && e.Path == remote && e.Direction == audit.Upload && e.User == "alice" && e.Container == "gw-web"
			})
			if e.Bytes != int64(len(payload)) || e.Login != "root" || e.From == "" || e.Time.IsZero() || e.End.IsZero() {
				t.Errorf("%s: audit line %+v: want %d bytes, login root, from, start and end", tc.name, e, len(payload))
			}
			g.findEntry(t, "scp "+tc.name+" download of "+remote, func(e audit.Entry) bool {
				return e.Kind == audit.KindFile && e.Path == remote && e.Direction == audit.Download && e.Bytes == int64(len(payload))
			})
		}
		batch := filepath.Join(dir, "batch")
		writeFile(t, batch, fmt.Sprintf("put %s /tmp/up-sftp\nget /tmp/up-sftp %s\n", local, filepath.Join(dir, "sftp-back")))
		if r := run(t, time.Minute, "sftp", "-F", g.config("alice"), "-J", g.jump("alice"), "-b", batch, "root@gw-web"); r.code != 0 {
			t.Fatalf("sftp: %+v", r)
		}
		same(t, filepath.Join(dir, "sftp-back"))
	})

	t.Run("rsync both ways", func(t *testing.T) {
		debs, _ := filepath.Glob(filepath.Join(harness.CacheDir(), "debs", "rsync_*.deb"))
		harness.Require(t, len(debs) == 1, "rsync's .deb in %s/debs (tools/setup-host.sh --test fetches it)", harness.CacheDir())
		// Containers reach no mirror: the .deb goes in through the gateway.
		if r := run(t, time.Minute, "scp", "-F", g.config("alice"), "-J", g.jump("alice"), debs[0], "root@gw-web:/tmp/rsync.deb"); r.code != 0 {
			t.Fatalf("scp rsync.deb: %+v", r)
		}
		if r := g.gwSSH(t, "alice", "alice+gw-web", "dpkg -i /tmp/rsync.deb >/dev/null && rsync --version | head -1"); r.code != 0 {
			t.Fatalf("install rsync: %+v", r)
		}
		src := t.TempDir()
		if err := os.MkdirAll(filepath.Join(src, "d"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, "d", "payload"), payload, 0o644); err != nil {
			t.Fatal(err)
		}
		rsh := "ssh -F " + g.config("alice") + " -J " + g.jump("alice")
		if r := run(t, time.Minute, "rsync", "-a", "-e", rsh, src+"/", "root@gw-web:/tmp/rs/"); r.code != 0 {
			t.Fatalf("rsync up: %+v", r)
		}
		dst := t.TempDir()
		if r := run(t, time.Minute, "rsync", "-a", "-e", rsh, "root@gw-web:/tmp/rs/", dst+"/"); r.code != 0 {
			t.Fatalf("rsync down: %+v", r)
		}
		same(t, filepath.Join(dst, "d", "payload"))
	})

	t.Run("resize and recording", func(t *testing.T) {
		started := time.Now()
		tm := g.term(t, "alice", 30, 100, "-J", g.jump("alice"), "root@gw-web")
		tm.send("stty size\r")
		at := tm.expect("30 100", 0)
		tm.resize(40, 120)
		time.Sleep(300 * time.Millisecond) // SIGWINCH → window-change → the container's pty
		tm.send("stty size\r")
		at = tm.expect("40 120", at)
		tm.send("echo typed-$((6*7))\r")
		tm.expect("typed-42", at)
		tm.send("exit\r")
		if code := tm.wait(20 * time.Second); code != 0 {
			t.Errorf("session exit %d", code)
		}
		e := g.findEntry(t, "the recorded session", func(e audit.Entry) bool {
			return e.Kind == audit.KindSession && e.Container == "gw-web" && e.Channel == "shell" && e.User == "alice" && e.Time.After(started)
		})
		cast := gunzip(t, filepath.Join(g.e.State, "gateway", "recordings", e.Session+".cast.gz"))
		// asciinema cat reads /dev/tty: it runs on a terminal.
		out := onTerminal(t, "asciinema", "cat", cast)
		if !strings.Contains(out, "typed-42") || !strings.Contains(out, "40 120") {
			t.Fatalf("asciinema cat shows:\n%s", out)
		}
		if typed := inputOf(t, cast); !strings.Contains(typed, "echo typed-$((6*7))") || !strings.Contains(typed, "stty size") {
			t.Errorf("the recording's input stream is %q: want what was typed", typed)
		}
	})

	t.Run("ansible through ProxyJump", func(t *testing.T) {
		dir := t.TempDir()
		inv := filepath.Join(dir, "hosts")
		writeFile(t, inv, fmt.Sprintf("[web]\ngw-web ansible_user=root\n[web:vars]\nansible_ssh_common_args='-F %s -J %s'\n", g.config("alice"), g.jump("alice")))
		cmd := exec.Command("ansible", "all", "-i", inv, "-m", "command", "-a", "hostname")
		cmd.Env = append(os.Environ(), "ANSIBLE_SSH_ARGS=", "ANSIBLE_LOCAL_TEMP="+dir, "ANSIBLE_HOME="+dir, "ANSIBLE_NOCOLOR=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "gw-web | CHANGED | rc=0") {
			t.Fatalf("ansible: %v\n%s", err, out)
		}
	})

	t.Run("agent forwarding per rule", func(t *testing.T) {
		dir := t.TempDir()
		sock := filepath.Join(dir, "agent.sock")
		agent := exec.Command("ssh-agent", "-D", "-a", sock)
		if err := agent.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = agent.Process.Kill(); _ = agent.Wait() })
		e2ekit.WaitFor(t, 10*time.Second, "ssh-agent's socket", func() bool { _, err := os.Stat(sock); return err == nil })
		add := exec.Command("ssh-add", g.keys["alice"], g.keys["bob"])
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add: %v %s", err, out)
		}
		withAgent := func(user, name string) res {
			cmd := exec.Command("ssh", "-F", g.config(user), "-A", "-p", g.port, name+"@127.0.0.1", "ssh-add -l")
			cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
			var o, e bytes.Buffer
			cmd.Stdout, cmd.Stderr = &o, &e
			err := cmd.Run()
			r := res{out: o.String(), err: e.String()}
			if ee, ok := err.(*exec.ExitError); ok {
				r.code = ee.ExitCode()
			}
			return r
		}
		// ops-sshd has agent: true: the container sees the client's agent.
		if r := withAgent("alice", "alice+gw-web"); r.code != 0 || !strings.Contains(r.out, "ED25519") {
			t.Errorf("alice's agent in gw-web: %+v", r)
		}
		// orders-team leaves it off (the default).
		if r := withAgent("bob", "bob+gw-ord"); r.code == 0 || strings.Contains(r.out, "ED25519") {
			t.Errorf("bob's agent reached gw-ord without agent: true: %+v", r)
		}
	})

	t.Run("refusals are audited", func(t *testing.T) {
		// A user without a rule.
		if r := g.gwSSH(t, "carol", "carol+gw-web", "true"); r.code == 0 || !strings.Contains(r.err, "no rule allows carol") {
			t.Errorf("carol: %+v", r)
		}
		g.findEntry(t, "carol refused", func(e audit.Entry) bool {
			return e.Kind == audit.KindRefused && e.User == "carol" && e.Container == "gw-web" && strings.Contains(e.Reason, "default deny")
		})
		// A wrong key: mallory's key for alice.
		if r := g.ssh(t, "mallory", "-p", g.port, "alice+gw-web@127.0.0.1", "true"); r.code != 255 || !strings.Contains(r.err, "Permission denied (publickey)") {
			t.Errorf("wrong key: %+v", r)
		}
		g.findEntry(t, "wrong key refused", func(e audit.Entry) bool {
			return e.Kind == audit.KindRefused && e.User == "alice" && strings.Contains(e.Reason, "public key not accepted")
		})
		// A password: the gateway offers no such method.
		r := g.ssh(t, "alice", "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive", "-p", g.port, "alice+root+gw-ord@127.0.0.1", "true")
		if r.code != 255 || !strings.Contains(r.err, "Permission denied (publickey)") {
			t.Errorf("password: %+v", r)
		}
		g.findEntry(t, "password refused", func(e audit.Entry) bool {
			return e.Kind == audit.KindRefused && e.User == "alice" && e.Container == "gw-ord" && strings.Contains(e.Reason, "passwords and keyboard-interactive are off")
		})
	})

	t.Run("app orders reaches only orders", func(t *testing.T) {
		if r := g.gwSSH(t, "bob", "bob+gw-ord", "hostname"); r.code != 0 || strings.TrimSpace(r.out) != "gw-ord" {
			t.Fatalf("bob to his own app: %+v", r)
		}
		if r := g.ssh(t, "bob", "-J", g.jump("bob"), "root@"+ord.IP, "hostname"); r.code != 0 {
			t.Fatalf("bob -J to his own app: %+v", r)
		}
		for _, tc := range []struct {
			name string
			args []string
		}{
			{"by name", []string{"-p", g.port, "bob+gw-web@127.0.0.1", "hostname"}},
			{"by IP", []string{"-p", g.port, "bob+" + web.IP + "@127.0.0.1", "hostname"}},
			{"by -J to the name", []string{"-J", g.jump("bob"), "root@gw-web", "hostname"}},
			{"by -J to the IP", []string{"-J", g.jump("bob"), "root@" + web.IP, "hostname"}},
			{"by direct-tcpip to another port", []string{"-W", web.IP + ":80", "-p", g.port, "bob@127.0.0.1"}},
			{"by direct-tcpip to an allowed port of another app", []string{"-W", "gw-web:8080", "-p", g.port, "bob@127.0.0.1"}},
		} {
			r := g.ssh(t, "bob", tc.args...)
			if r.code == 0 || strings.Contains(r.out, "gw-web") {
				t.Errorf("bob reached gw-web %s: %+v", tc.name, r)
			}
		}
		// A forward the rule lists (8080) to bob's own app goes through.
		if r := run(t, time.Minute, e2ekit.Bin(), "exec", "--socket", g.e.Sock, "gw-ord", "--", "sh", "-c", "nohup python3 -m http.server 8080 >/dev/null 2>&1 &"); r.code != 0 {
			t.Fatalf("start a web server in gw-ord: %+v", r)
		}
		var fwd res
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			cmd := exec.Command("ssh", "-F", g.config("bob"), "-W", "gw-ord:8080", "-p", g.port, "bob@127.0.0.1")
			cmd.Stdin = strings.NewReader("GET / HTTP/1.0\r\n\r\n")
			out, err := cmd.Output()
			if fwd = (res{out: string(out)}); err == nil && strings.HasPrefix(fwd.out, "HTTP/1.0 200") {
				break
			}
		}
		if !strings.HasPrefix(fwd.out, "HTTP/1.0 200") {
			t.Errorf("bob's forward to gw-ord:8080: %q", fwd.out)
		}
		g.findEntry(t, "bob's forward", func(e audit.Entry) bool {
			return e.Kind == audit.KindForward && e.User == "bob" && e.Container == "gw-ord" && e.Bytes > 0
		})
		var n int
		for _, e := range g.entries(t) {
			if e.Kind == audit.KindRefused && e.User == "bob" && e.Container == "gw-web" {
				n++
			}
		}
		if n < 6 {
			t.Errorf("%d refusals of bob to gw-web in the audit log, want 6", n)
		}
	})

	t.Run("exec path with sshd stopped", func(t *testing.T) {
		if r := runFatbox(t, g, "prog", "stop", "gw-ex", "sshd"); r.code != 0 {
			t.Fatalf("stop gw-ex's sshd: %+v", r)
		}
		ex := g.e.Inspect("gw-ex")
		if r := run(t, 20*time.Second, "ssh", "-F", g.config("alice"), "root@"+ex.IP, "true"); r.code == 0 {
			t.Fatalf("the container's sshd still answers: %+v", r)
		}
		if r := g.gwSSH(t, "alice", "alice+gw-ex", "hostname; exit 3"); r.code != 3 || strings.TrimSpace(r.out) != "gw-ex" {
			t.Errorf("exec path command: %+v", r)
		}
		if r := g.ssh(t, "alice", "-J", g.jump("alice"), "root@gw-ex", "hostname"); r.code != 0 || strings.TrimSpace(r.out) != "gw-ex" {
			t.Errorf("exec path -J: %+v", r)
		}
		if r := run(t, time.Minute, "scp", "-F", g.config("alice"), "-J", g.jump("alice"), local, "root@gw-ex:/tmp/up-ex"); r.code != 0 {
			t.Errorf("exec path scp (sftp-server through exec): %+v", r)
		}
		tm := g.term(t, "alice", 25, 90, "-p", g.port, "alice+gw-ex@127.0.0.1")
		at := tm.expect("root@gw-ex:~# ", 0)
		tm.send("stty size; echo EX-$((1+1))\r")
		at = tm.expect("EX-2", at)
		if !strings.Contains(tm.output(), "25 90") {
			t.Errorf("exec path pty size:\n%s", tm.output())
		}
		tm.resize(33, 101)
		time.Sleep(300 * time.Millisecond)
		tm.send("stty size\r")
		tm.expect("33 101", at)
		tm.send("exit 4\r")
		if code := tm.wait(20 * time.Second); code != 4 {
			t.Errorf("exec path shell exit %d, want 4", code)
		}
	})

	t.Run("endless output is cut at the cap", func(t *testing.T) {
		tm := g.term(t, "alice", 24, 80, "-p", g.port, "alice+gw-web@127.0.0.1")
		tm.send("base64 /dev/urandom\r")
		tm.wait(60 * time.Second)
		if !strings.Contains(tm.output(), "gateway: the session ends") {
			t.Errorf("no word of the cut:\n%.2000s", tm.output()[max(0, len(tm.output())-2000):])
		}
		var total int64
		files, _ := filepath.Glob(filepath.Join(g.e.State, "gateway", "recordings", "*"))
		for _, f := range files {
			fi, err := os.Stat(f)
			if err != nil {
				continue
			}
			if fi.Size() > 64<<10 {
				t.Errorf("recording %s is %d bytes, over the 64 KiB cap", f, fi.Size())
			}
			total += fi.Size()
		}
		if total > 1<<20 {
			t.Errorf("recordings take %d bytes, over the 1 MiB total", total)
		}
	})
}

func runFatbox(t *testing.T, g *gw, args ...string) res {
	return run(t, time.Minute, e2ekit.Bin(), append(args, "--socket", g.e.Sock)...)
}

// onTerminal runs a command on a pseudo-terminal and returns what it printed.
func onTerminal(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var b bytes.Buffer
	done := make(chan struct{})
	go func() { _, _ = b.ReadFrom(tty); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, b.String())
	}
	return b.String()
}

// gunzip writes the recording decompressed next to the test's files.
func gunzip(t *testing.T, gz string) string {
	t.Helper()
	f, err := os.Open(gz)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "session.cast")
	writeFile(t, out, b.String())
	return out
}

// inputOf joins a cast's "i" events.
func inputOf(t *testing.T, cast string) string {
	var in strings.Builder
	for i, line := range strings.Split(readFile(t, cast), "\n") {
		if i == 0 || line == "" {
			continue
		}
		var ev []any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("cast line %q: %v", line, err)
		}
		if len(ev) == 3 && ev[1] == "i" {
			in.WriteString(ev[2].(string))
		}
	}
	return in.String()
}
