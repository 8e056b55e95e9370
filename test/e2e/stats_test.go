package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/harness"
)

// TestStatsSurviveRestarts: `fatbox stats` counts what a container does —
// CPU while a process spins, network bytes out while it sends 100 MB to the
// host on its bridge, disk bytes on a direct-IO dd — and keeps the totals
// across a container restart (the cgroups and veth are made anew, counting
// from zero) and a daemon restart: after them every total is at least what
// it was plus the new work. 198.19.88.0/24.
func TestStatsSurviveRestarts(t *testing.T) {
	e := newVMEnv(t, "198.19.88.0/24")
	name := harness.Name("st-")
	in := e.Create(name, "--cpus", "1", "--memory", "512M", "--disk", "1G")
	var pool api.Pool
	if err := json.Unmarshal([]byte(e.OK("pool", "show", "vm", "-o", "json").Stdout), &pool); err != nil {
		t.Fatal(err)
	}
	gw := pool.Gateway.String() // on the bridge the pool made: the host, the container's peer

	stats := func() api.Stats {
		t.Helper()
		var s api.Stats
		out := e.OK("stats", name, "-o", "json").Stdout
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("stats -o json: %v: %s", err, out)
		}
		if s.Name != name || s.ID != in.ID {
			t.Fatalf("stats of %s (%s): %s", name, in.ID, out)
		}
		return s
	}
	exec := func(args ...string) result {
		t.Helper()
		return fatbox(t, append([]string{"exec", name, "--socket", e.Sock, "--"}, args...)...)
	}
	// Each kind of work, with what it must add at least.
	// spin runs the spinner and returns the CPU time the kernel gave it
	// (bash's `times`: its children's user and system time), so the check
	// holds on a loaded host too, and the wall time it took.
	spin := func() (cpu, took time.Duration) {
		t.Helper()
		start := time.Now()
		r := exec("bash", "-c", `timeout 2 sh -c "while :; do :; done"; times`)
		took = time.Since(start)
		lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
		if r.Code != 0 || len(lines) != 2 {
			t.Fatalf("spin: exit %d: %s%s", r.Code, r.Stdout, r.Stderr)
		}
		for _, f := range strings.Fields(lines[1]) { // children: "0m1.953s 0m0.004s"
			d, err := time.ParseDuration(f)
			if err != nil {
				t.Fatalf("spin: times printed %q: %v", lines[1], err)
			}
			cpu += d
		}
		if cpu < 100*time.Millisecond {
			t.Fatalf("spin: the spinner got %s of CPU in %s: the host is too loaded to tell", cpu, took)
		}
		return cpu, took
	}
	const sent = 100_000_000
	send := func() {
		t.Helper()
		ln, err := net.Listen("tcp4", net.JoinHostPort(gw, "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		got := make(chan int64, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- -1
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			n, _ := io.Copy(io.Discard, c)
			got <- n
		}()
		port := ln.Addr().(*net.TCPAddr).Port
		if r := exec("bash", "-c", fmt.Sprintf("head -c %d /dev/zero > /dev/tcp/%s/%d", sent, gw, port)); r.Code != 0 {
			t.Fatalf("send 100 MB to %s:%d: exit %d: %s", gw, port, r.Code, r.Stderr)
		}
		select {
		case n := <-got:
			if n != sent {
				t.Fatalf("the host received %d bytes, want %d", n, sent)
			}
		case <-time.After(time.Minute):
			t.Fatal("the host received nothing within a minute")
		}
	}
	const ddMiB = 64
	dd := func() {
		t.Helper()
		if r := exec("dd", "if=/dev/zero", "of=/root/stats.img", "bs=1M", fmt.Sprint("count=", ddMiB), "oflag=direct", "status=none"); r.Code != 0 {
			t.Fatalf("dd write: exit %d: %s", r.Code, r.Stderr)
		}
		if r := exec("dd", "if=/root/stats.img", "of=/dev/null", "bs=1M", "iflag=direct", "status=none"); r.Code != 0 {
			t.Fatalf("dd read: exit %d: %s", r.Code, r.Stderr)
		}
	}
	// atLeast checks that every total of now is at least base's plus the
	// work done since.
	type work struct {
		cpu              time.Duration // at least this much CPU
		netOut, diskRead uint64
		diskWrite        uint64
	}
	atLeast := func(when string, now, base api.Stats, w work) {
		t.Helper()
		n, b := now.Counters, base.Counters
		for _, c := range []struct {
			what      string
			now, base uint64
			add       uint64
		}{
			{"cpu_ns", n.CPUNanos, b.CPUNanos, uint64(w.cpu)},
			{"net_bytes_out", n.NetBytesOut, b.NetBytesOut, w.netOut},
			{"net_packets_out", n.NetPacketsOut, b.NetPacketsOut, w.netOut / 65536},
			{"net_bytes_in", n.NetBytesIn, b.NetBytesIn, 0},
			{"net_packets_in", n.NetPacketsIn, b.NetPacketsIn, 0},
			{"disk_write_bytes", n.DiskWriteBytes, b.DiskWriteBytes, w.diskWrite},
			{"disk_write_ops", n.DiskWriteOps, b.DiskWriteOps, w.diskWrite >> 20},
			{"disk_read_bytes", n.DiskReadBytes, b.DiskReadBytes, w.diskRead},
			{"disk_read_ops", n.DiskReadOps, b.DiskReadOps, w.diskRead >> 20},
			{"oom_kills", n.OOMKills, b.OOMKills, 0},
		} {
			if c.now < c.base+c.add {
				t.Errorf("%s: %s = %d, want at least %d + %d", when, c.what, c.now, c.base, c.add)
			}
		}
		if w.netOut > 0 && n.NetPacketsIn == b.NetPacketsIn {
			t.Errorf("%s: no packet in (the transfer's ACKs): %d", when, n.NetPacketsIn)
		}
	}
	// doWork spins, sends and writes n times, and returns what that must
	// add to the totals at least.
	doWork := func(n int) work {
		t.Helper()
		var w work
		for range n {
			cpu, _ := spin()
			send()
			dd()
			w.cpu += cpu
			w.netOut += sent
			w.diskWrite += ddMiB << 20
			w.diskRead += ddMiB << 20
		}
		return w
	}
	logStats := func(when string, s api.Stats) {
		c := s.Counters
		t.Logf("%s: cpu %.2f s, net out %d B (%d packets), in %d B (%d packets), disk read %d B (%d ops), written %d B (%d ops)", when,
			c.CPUSeconds, c.NetBytesOut, c.NetPacketsOut, c.NetBytesIn, c.NetPacketsIn, c.DiskReadBytes, c.DiskReadOps, c.DiskWriteBytes, c.DiskWriteOps)
	}

	// First boot: each counter moves by at least the work, CPU by no
	// more than the wall time and some (the unit is right).
	before := stats()
	start := time.Now()
	w := doWork(1)
	first := stats()
	logStats("first boot", first)
	atLeast("first boot", first, before, w)
	if d, took := time.Duration(first.Counters.CPUNanos-before.Counters.CPUNanos), time.Since(start); d > took+5*time.Second {
		t.Errorf("cpu moved %s in %s: the unit is off", d, took)
	}
	if first.State != "running" || first.ReadAt.IsZero() || first.Gauges.Pids == 0 || first.Gauges.MemoryUsageBytes == 0 {
		t.Errorf("a running container's stats: state %q read at %v gauges %+v", first.State, first.ReadAt, first.Gauges)
	}

	// More work, and a restart before anything reads the counters: only
	// the final reading the stop takes has it. Then twice the work, again
	// unread: the new boot's counters (new cgroups and veth, from zero) end
	// past the old boot's last reading, so only the epochs show it was
	// another boot (the value rule alone would lose the first boot).
	w = doWork(1)
	e.OK("restart", name)
	w2 := doWork(2)
	w.cpu, w.netOut, w.diskRead, w.diskWrite = w.cpu+w2.cpu, w.netOut+w2.netOut, w.diskRead+w2.diskRead, w.diskWrite+w2.diskWrite
	second := stats()
	logStats("second boot", second)
	atLeast("work, a restart and twice the work", second, first, w)

	// Another restart, read at once: the totals stay.
	e.OK("restart", name)
	third := stats()
	atLeast("right after a second restart", third, second, work{})

	// The daemon dies and comes back: the totals are the store's plus the
	// kernel's counters, which went on counting.
	e.D.Kill9(t)
	e.D = spawnDaemon(t, e.State, e.Sock, e.Args...)
	afterDaemon := stats()
	atLeast("after a daemon restart", afterDaemon, third, work{})

	// Stopped: the totals stay, taken at the stop; no gauges, not read.
	e.OK("stop", name)
	stopped := stats()
	atLeast("stopped", stopped, afterDaemon, work{})
	if stopped.State != "" || !stopped.ReadAt.IsZero() || stopped.SampledAt.IsZero() || stopped.Gauges != (api.UsageGauges{}) {
		t.Errorf("a stopped container's stats: state %q read at %v sampled at %v gauges %+v", stopped.State, stopped.ReadAt, stopped.SampledAt, stopped.Gauges)
	}
	if again := stats(); again.Counters != stopped.Counters {
		t.Errorf("a stopped container's totals moved: %+v then %+v", stopped.Counters, again.Counters)
	}
	if out := e.OK("stats", name).Stdout; !strings.Contains(out, "not running") || !strings.Contains(out, "net out:") {
		t.Errorf("stats table:\n%s", out)
	}
	if r := fatbox(t, "stats", "nope-404", "--socket", e.Sock); r.Code == 0 || !strings.Contains(r.Stderr, "nope-404") {
		t.Errorf("stats of no container: exit %d %q", r.Code, r.Stderr)
	}
}
