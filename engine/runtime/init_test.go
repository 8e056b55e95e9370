package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/baseimages"
)

// The test container's programs for TestSupervisordAsInit.
const (
	// orphaner leaves an orphan (sleep 1.7) whose parent exits at once: it
	// reparents to PID 1, which must reap it.
	orphanerScript = "#!/bin/sh\n(sleep 1.7 &)\nexec sleep infinity\n"
	// trapper writes a marker when it gets SIGTERM, then exits.
	trapperScript = "#!/bin/sh\ntrap 'echo stopped-by-term > /fatbox-term-marker; exit 0' TERM\nwhile :; do sleep 0.1; done\n"
)

// TestSupervisordAsInit proves supervisord alone is a sufficient PID 1: it
// is PID 1 (comm supervisord), it reaps orphans that reparent to it, and on
// SIGTERM (what Stop sends) it stops its programs with their stop signal
// and exits, long before Stop's SIGKILL.
func TestSupervisordAsInit(t *testing.T) {
	b := startFat(t, fatOpts{
		files: map[string]string{"/usr/local/bin/orphaner": orphanerScript, "/usr/local/bin/trapper": trapperScript},
		programs: []baseimages.Program{
			{Name: "orphaner", Command: "/usr/local/bin/orphaner", Autostart: true, Priority: 30},
			// A long stopwaitsecs: if supervisord fell back to SIGKILL, Stop would take 30 s.
			{Name: "trapper", Command: "/usr/local/bin/trapper", Autostart: true, Priority: 40, StopWaitSecs: 30},
		},
	})
	b.waitPrograms(t, "sshd", "cron", "rsyslogd", "trapper")

	// (c) PID 1 is supervisord, in the container's pid namespace.
	if out, err := b.exec("cat", "/proc/1/comm"); err != nil || strings.TrimSpace(out) != "supervisord" {
		t.Fatalf("/proc/1/comm inside: %v %q", err, out)
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.pid)); err != nil || !regexp.MustCompile(`(?m)^NSpid:\s+\d+\s+1$`).Match(st) {
		t.Fatalf("init (host pid %d) is not pid 1 of its namespace: %v\n%s", b.pid, err, st)
	}

	// (a) Orphans are reaped. Two sources: the orphaner program (its
	// grandchild's parent exits) and a runc exec'd shell that leaves
	// background children; runc exec's parent is outside the container's
	// pid namespace, so the kernel reparents them to the namespace's init.
	out, err := b.exec("sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 1.3 </dev/null >/dev/null 2>&1 & done; exit 0")
	if err != nil {
		t.Fatalf("runc exec: %v %s", err, out)
	}
	// The check can see a zombie: sleep 0.2's parent execs sleep 2.2, which
	// never waits, so sleep 0.2 stays a zombie until its parent exits and it
	// is handed to PID 1 too.
	if out, err := b.exec("sh", "-c", "(sleep 0.2 & exec sleep 2.2) </dev/null >/dev/null 2>&1 & exit 0"); err != nil {
		t.Fatalf("runc exec: %v %s", err, out)
	}
	for deadline := time.Now().Add(2 * time.Second); ; {
		ps, err := b.procs()
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(ps, func(p cproc) bool { return p.state == "Z" && p.comm == "sleep" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deliberate zombie never showed: %+v", ps)
		}
		time.Sleep(20 * time.Millisecond)
	}
	seen := map[string]int{}
	for deadline := time.Now().Add(10 * time.Second); ; {
		ps, err := b.procs()
		if err != nil {
			t.Fatal(err)
		}
		var zombies, orphans []cproc
		for _, p := range ps {
			if p.state == "Z" {
				zombies = append(zombies, p)
			}
			if p.cmdline == "sleep 1.3" || p.cmdline == "sleep 1.7" {
				orphans = append(orphans, p)
				if p.ppid != 1 {
					t.Fatalf("orphan %+v reparented to %d, not to PID 1", p, p.ppid)
				}
				seen[p.cmdline]++
			}
		}
		if len(zombies) == 0 && len(orphans) == 0 && seen["sleep 1.3"] > 0 && seen["sleep 1.7"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orphans seen %v; after 10 s zombies %+v, orphans alive %+v\n%s", seen, zombies, orphans, b.log("orphaner"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The orphans ran, were PID 1's children, exited, and nothing is left
	// in state Z; check once more after a pause.
	time.Sleep(500 * time.Millisecond)
	ps, err := b.procs()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.state == "Z" {
			t.Fatalf("zombie left: %+v (all: %+v)", p, ps)
		}
	}
	t.Logf("orphans reaped by PID 1: %v; container processes now %d", seen, len(ps))

	// (b) SIGTERM to PID 1.
	marker := filepath.Join(b.root, "fatbox-term-marker")
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("marker exists before the stop")
	}
	start := time.Now()
	if err := b.rt.Stop(context.Background(), b.name, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	got, err := os.ReadFile(marker)
	if err != nil || strings.TrimSpace(string(got)) != "stopped-by-term" {
		t.Fatalf("trapper did not get SIGTERM: %v %q\n%s", err, got, b.log("trapper"))
	}
	if took > 10*time.Second {
		t.Fatalf("Stop took %v: supervisord did not exit on SIGTERM by itself\n%s", took, b.log())
	}
	log := b.log()
	for _, want := range []string{"receive a signal to stop all process", `program=trapper signal=TERM`} {
		if !strings.Contains(log, want) {
			t.Errorf("supervisord log lacks %q\n%s", want, log)
		}
	}
	t.Logf("SIGTERM → container stopped in %v", took.Round(time.Millisecond))
}
