package ipam

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory/store/backends"
	"github.com/fatbox/fatbox/test/harness"
)

const (
	raceEnvURL  = "FATBOX_IPAM_RACE_URL"
	raceEnvHost = "FATBOX_IPAM_RACE_HOST"
	raceEnvFrom = "FATBOX_IPAM_RACE_FROM"
	raceEnvTo   = "FATBOX_IPAM_RACE_TO"
)

func TestMain(m *testing.M) {
	if os.Getenv(raceEnvURL) != "" {
		os.Exit(raceChild())
	}
	os.Exit(m.Run())
}

// raceChild is one "host": 32 goroutines allocate names [from, to) and print
// "name ip" for each lease they got.
func raceChild() int {
	ctx := context.Background()
	s, err := backends.Open(ctx, os.Getenv(raceEnvURL), "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	a := &Allocator{Store: s, Host: os.Getenv(raceEnvHost)}
	from, err1 := strconv.Atoi(os.Getenv(raceEnvFrom))
	to, err2 := strconv.Atoi(os.Getenv(raceEnvTo))
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "bad range:", err1, err2)
		return 3
	}
	names := make(chan string)
	go func() {
		for i := from; i < to; i++ {
			names <- fmt.Sprintf("vm-%04d", i)
		}
		close(names)
	}()
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	fail := make(chan error, 32) // one slot per goroutine: each sends at most once, then returns
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range names {
				l, err := a.Allocate(ctx, "race", n)
				if err != nil {
					fail <- err
					return
				}
				mu.Lock()
				fmt.Fprintf(out, "%s %s\n", n, l.IP)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(fail)
	if err := <-fail; err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 4
	}
	return 0
}

type raceProc struct {
	cmd    *exec.Cmd
	lines  chan string
	err    chan error
	stderr *strings.Builder
}

func startRaceChild(t *testing.T, url, host string, from, to int) *raceProc {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), raceEnvURL+"="+url, raceEnvHost+"="+host,
		raceEnvFrom+"="+strconv.Itoa(from), raceEnvTo+"="+strconv.Itoa(to))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &raceProc{cmd: cmd, lines: make(chan string, 4096), err: make(chan error, 1), stderr: &strings.Builder{}}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err <- cmd.Wait()
	}()
	return p
}

// TestRaceThreeHostsConsul: 3 processes (hosts) × 32 goroutines allocate 3,000
// names from one /20 on Consul; one is killed -9 mid-way and restarted.
func TestRaceThreeHostsConsul(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the race test runs in `make test`")
	}
	c := harness.StartConsul(t)
	url := c.URL("race")
	ctx := context.Background()
	s, err := backends.Open(ctx, url, "")
	if err != nil {
		t.Fatal(err)
	}
	a := &Allocator{Store: s, Host: "checker"}
	pf := netip.MustParsePrefix("198.18.32.0/20")
	if _, err := a.CreatePool(ctx, Pool{Name: "race", CIDR: pf, Gateway: pf.Addr().Next(), Bridge: "fbrace"}); err != nil {
		t.Fatal(err)
	}
	const total, per = 3000, 1000
	seen := map[string]string{} // name -> ip, as reported by children (including the killed one)
	record := func(line string) {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Errorf("bad child line %q", line)
			return
		}
		if old, ok := seen[f[0]]; ok && old != f[1] {
			t.Errorf("%s got %s and later %s", f[0], old, f[1])
		}
		seen[f[0]] = f[1]
	}
	procs := []*raceProc{
		startRaceChild(t, url, "host-a", 0, per),
		startRaceChild(t, url, "host-b", per, 2*per),
		startRaceChild(t, url, "host-c", 2*per, 3*per),
	}
	// A child that hangs is killed and reported, rather than the test
	// waiting for go test's timeout: its output ends, so the reads below end.
	var watchMu sync.Mutex
	hung := false
	watchdog := time.AfterFunc(5*time.Minute, func() {
		watchMu.Lock()
		defer watchMu.Unlock()
		hung = true
		for _, p := range procs {
			_ = p.cmd.Process.Kill()
		}
	})
	defer watchdog.Stop()
	defer func() {
		watchMu.Lock()
		defer watchMu.Unlock()
		if hung {
			t.Errorf("the children did not finish within 5 minutes: killed")
		}
	}()
	// Kill host-b after it has allocated 300 names.
	victim := procs[1]
	for n := 0; n < 300; n++ {
		line, ok := <-victim.lines
		if !ok {
			t.Fatalf("host-b ended early: %s", victim.stderr)
		}
		record(line)
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill host-b: %v", err)
	}
	for line := range victim.lines {
		record(line)
	}
	<-victim.err
	killedAt := len(seen)
	t.Logf("host-b killed -9 after %d allocations", killedAt)
	watchMu.Lock()
	procs[1] = startRaceChild(t, url, "host-b", per, 2*per)
	watchMu.Unlock()
	for i, p := range procs {
		for line := range p.lines {
			record(line)
		}
		if err := <-p.err; err != nil {
			t.Fatalf("child %d: %v: %s", i, err, p.stderr)
		}
	}
	if len(seen) != total {
		t.Fatalf("children reported %d names, want %d", len(seen), total)
	}
	leases, err := a.List(ctx, "race")
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != total {
		t.Fatalf("%d leases in the store, want %d", len(leases), total)
	}
	byIP := map[netip.Addr]string{}
	for _, l := range leases {
		if o, dup := byIP[l.IP]; dup {
			t.Fatalf("duplicate address %s: %s and %s", l.IP, o, l.Name)
		}
		byIP[l.IP] = l.Name
		if seen[l.Name] != l.IP.String() {
			t.Fatalf("%s holds %s but was told %s", l.Name, l.IP, seen[l.Name])
		}
		if o, err := a.Owner(ctx, l.IP); err != nil || o.Name != l.Name {
			t.Fatalf("block record for %s says %+v, %v; lease says %s", l.IP, o, err, l.Name)
		}
	}
	// Re-asking any name returns its old address.
	for _, l := range leases {
		again, err := a.Allocate(ctx, "race", l.Name)
		if err != nil || again.IP != l.IP {
			t.Fatalf("re-ask %s: %v %v, want %s", l.Name, again.IP, err, l.IP)
		}
	}
	blocks, err := s.List(ctx, blockPrefix("race"))
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]int{}
	for _, kv := range blocks {
		var b struct{ Host string }
		if err := json.Unmarshal(kv.Value, &b); err != nil {
			t.Fatalf("block %s: %v", kv.Key, err)
		}
		hosts[b.Host]++
	}
	t.Logf("3000 names, 0 duplicates; blocks per host: %v", hosts)
}
