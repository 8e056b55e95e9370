package baseimages

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/test/harness"
)

// TestRenderedConfigRunsUnderSupervisord runs the real supervisord v0.7.3
// (built by `make supervisord`) on a rendered config: autostart programs
// start and autostart=false ones do not. (v0.7.3 starts programs
// concurrently: priority orders the attempts but does not wait for one to be
// up before the next, so nothing here relies on order.)
func TestRenderedConfigRunsUnderSupervisord(t *testing.T) {
	bin := os.Getenv("FATBOX_SUPERVISORD")
	harness.Require(t, bin != "", "FATBOX_SUPERVISORD (the binary `make supervisord` builds)")
	dir := t.TempDir()
	progs := []Program{
		{Name: "first", Command: "/bin/sh -c 'date +%s%N > " + dir + "/first; exec sleep 60'", Autostart: true, Priority: 1},
		{Name: "second", Command: "/bin/sh -c 'touch " + dir + "/second; exec sleep 60'", Autostart: true, Priority: 2},
		{Name: "off", Command: "/bin/sh -c 'touch " + dir + "/off; exec sleep 60'", Autostart: false},
	}
	conf := RenderSupervisord(progs, dir)
	// Keep the control socket inside the test's dir.
	confPath := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(confPath, []byte(replaceSock(conf, filepath.Join(dir, "s.sock"))), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", confPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	// supervisord starts every autostart program at once when it comes up:
	// once it reports the two running, it has decided about "off" too, and
	// must report it stopped (never started), its file never made.
	status := func() map[string]string {
		out, err := exec.Command(bin, "ctl", "-c", confPath, "status").CombinedOutput()
		st := map[string]string{}
		if err != nil {
			return st
		}
		for _, l := range strings.Split(ansi.ReplaceAllString(string(out), ""), "\n") {
			if f := strings.Fields(l); len(f) >= 2 {
				st[f[0]] = f[1]
			}
		}
		return st
	}
	deadline := time.Now().Add(15 * time.Second)
	var st map[string]string
	for {
		st = status()
		_, e1 := os.Stat(filepath.Join(dir, "first"))
		_, e2 := os.Stat(filepath.Join(dir, "second"))
		if e1 == nil && e2 == nil && st["first"] == "Running" && st["second"] == "Running" {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "supervisord.log"))
			t.Fatalf("autostart programs did not run: %v %v, states %v\n%s", e1, e2, st, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st["off"] != "Stopped" {
		t.Fatalf("the autostart=false program is %q, want Stopped (states %v)", st["off"], st)
	}
	if _, err := os.Stat(filepath.Join(dir, "off")); err == nil {
		t.Fatal("an autostart=false program started")
	}
}

// ansi matches the colour codes supervisord's ctl puts around status lines.
var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func replaceSock(conf, sock string) string {
	out := []byte{}
	for _, line := range splitLines(conf) {
		switch line {
		case "file=/run/supervisord.sock":
			line = "file=" + sock
		case "pidfile=/run/supervisord.pid":
			line = "pidfile=" + filepath.Join(filepath.Dir(sock), "supervisord.pid")
		case "serverurl=unix:///run/supervisord.sock":
			line = "serverurl=unix://" + sock
		}
		out = append(out, line+"\n"...)
	}
	return string(out)
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func TestStopOrder(t *testing.T) {
	ps := MergePrograms(DefaultPrograms(), []Program{{Name: "app", Command: "/app", Priority: 900}, {Name: "batch", Command: "/b"}})
	got := strings.Join(StopOrder(ps), ",")
	// app (900) first, batch (0 = 100), then cron 20, sshd 10, rsyslog 5: syslog stays until the end.
	if got != "app,batch,cron,sshd,rsyslog" {
		t.Fatalf("stop order %s", got)
	}
}

// A program's working directory (from a Dockerfile's program file) is rendered.
func TestRenderDirectory(t *testing.T) {
	conf := RenderSupervisord([]Program{{Name: "app", Command: "/usr/bin/gunicorn app:app", Directory: "/opt/app", Autostart: true}}, "/var/log/supervisor")
	if !strings.Contains(conf, "[program:app]\ncommand=/usr/bin/gunicorn app:app\nautostart=true\nautorestart=true\npriority=100\ndirectory=/opt/app\n") {
		t.Errorf("no directory line:\n%s", conf)
	}
}
