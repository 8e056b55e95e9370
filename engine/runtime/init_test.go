package runtime

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/baseimages"
)

// The test container's programs for TestSupervisordAsInit.
const (
	// orphaner leaves an orphan (sleep 1001) whose parent exits at once: it
	// reparents to PID 1, which must reap it once the test kills it.
	orphanerScript = "#!/bin/sh\n(sleep 1001 &)\nexec sleep infinity\n"
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

	// (c) PID 1 is supervisord (run as InitAs: its name is init), in the
	// container's pid namespace.
	if out, err := b.exec("readlink", "/proc/1/exe"); err != nil || strings.TrimSpace(out) != InitAs {
		t.Fatalf("/proc/1/exe inside: %v %q", err, out)
	}
	if out, err := b.exec("cat", "/proc/1/comm"); err != nil || strings.TrimSpace(out) != "init" {
		t.Fatalf("/proc/1/comm inside: %v %q", err, out)
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.pid)); err != nil || !regexp.MustCompile(`(?m)^NSpid:\s+\d+\s+1$`).Match(st) {
		t.Fatalf("init (host pid %d) is not pid 1 of its namespace: %v\n%s", b.pid, err, st)
	}

	// (a) Orphans are reaped. Three sources: the orphaner program (its
	// grandchild's parent exits), a runc exec'd shell that leaves background
	// children (runc exec's parent is outside the container's pid
	// namespace, so the kernel reparents them to the namespace's init), and
	// a zombie whose parent never waits: sleep 0.2's parent execs sleep
	// 1003, so sleep 0.2 stays a zombie until its parent dies and it is
	// handed to PID 1 too. Every orphan lives until the test kills it, so
	// nothing here races a timer: first each is seen as PID 1's child (and
	// the zombie as a zombie), then they are killed, then all must be gone.
	if out, err := b.exec("sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 1002 </dev/null >/dev/null 2>&1 & done; exit 0"); err != nil {
		t.Fatalf("runc exec: %v %s", err, out)
	}
	if out, err := b.exec("sh", "-c", "(sleep 0.2 & exec sleep 1003) </dev/null >/dev/null 2>&1 & exit 0"); err != nil {
		t.Fatalf("runc exec: %v %s", err, out)
	}
	want := map[string]int{"sleep 1001": 1, "sleep 1002": 8, "sleep 1003": 1}
	var orphans []cproc
	for deadline := time.Now().Add(20 * time.Second); ; {
		ps, err := b.procs()
		if err != nil {
			t.Fatal(err)
		}
		orphans = orphans[:0]
		got := map[string]int{}
		zombie := false
		for _, p := range ps {
			if want[p.cmdline] > 0 && p.ppid == 1 {
				orphans = append(orphans, p)
				got[p.cmdline]++
			}
		}
		for _, p := range ps {
			if p.state == "Z" && p.comm == "sleep" && slices.ContainsFunc(orphans, func(o cproc) bool { return o.pid == p.ppid && o.cmdline == "sleep 1003" }) {
				zombie = true
			}
		}
		if maps.Equal(got, want) && zombie {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s PID 1's orphans are %v (want %v), the deliberate zombie shown: %v\n%+v\n%s", got, want, zombie, ps, b.log("orphaner"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	pids := make([]string, 0, len(orphans))
	for _, o := range orphans {
		pids = append(pids, strconv.Itoa(o.pid))
	}
	if out, err := b.exec(append([]string{"kill"}, pids...)...); err != nil {
		t.Fatalf("kill the orphans %v: %v %s", pids, err, out)
	}
	// Killed, each is a zombie until PID 1 reaps it; one that is not
	// reaped stays in state Z for good, so a snapshot with none of them and
	// no zombie at all is the proof.
	for deadline := time.Now().Add(20 * time.Second); ; {
		ps, err := b.procs()
		if err != nil {
			t.Fatal(err)
		}
		var left []cproc
		for _, p := range ps {
			if p.state == "Z" || slices.ContainsFunc(orphans, func(o cproc) bool { return o.pid == p.pid }) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			t.Logf("%d orphans and a zombie reaped by PID 1; container processes now %d", len(orphans), len(ps))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s after the kill, not reaped: %+v (all: %+v)", left, ps)
		}
		time.Sleep(20 * time.Millisecond)
	}

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
