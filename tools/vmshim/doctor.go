package main

// `vmshim doctor --expect JSON`: the in-container half of `fatbox doctor`.
// The daemon runs it with `runc exec` and passes what the container should
// look like (its record, the host keys' fingerprints, the host's clock);
// it checks from inside what a VM admin would (hostname, address, route,
// gateway, free/nproc/df/uptime, cpuinfo, sshd/cron/syslog, lxcfs's views,
// host keys, clock, time zone, ulimits, DNS, the systemctl shim) and
// prints a JSON array of {"check","ok","detail","fix"}. It exits 0 when
// every check passed, 1 when one failed, 2 when it could not run.
//
// Hazards:
//   - A hung lxcfs makes reads of /proc/meminfo block: each check runs on
//     its own goroutine and one that has not answered within docCheckTimeout
//     is reported failed; the process exits anyway (the blocked thread
//     dies with it).
//   - It probes nothing but loopback, /dev/log and the pool's gateway
//     (containers may have no route anywhere else), and never queries DNS.
//   - The syslog probe writes one line to the container's syslog
//     ("fatbox doctor: syslog probe").

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"
)

// doctorExpect is what the daemon expects of the container. Its JSON is
// the protocol with engine/doctor.go (doctorExpect there); a field the
// shim does not know is ignored, a missing one skips what it checks.
type doctorExpect struct {
	Name        string `json:"name"`
	Pool        string `json:"pool"`
	IP          string `json:"ip"`
	PrefixLen   int    `json:"prefix_len"`
	Gateway     string `json:"gateway"`
	VCPUs       int    `json:"vcpus"`
	MemoryBytes int64  `json:"memory_bytes"`
	DiskBytes   int64  `json:"disk_bytes"`
	// HostKeys are the fingerprints fatbox keeps, by key type (ed25519,
	// ecdsa, rsa): ssh-keygen -l's "SHA256:...".
	HostKeys map[string]string `json:"host_keys"`
	// Ulimits by name (nofile, nproc, memlock, core, stack); -1 is unlimited.
	Ulimits map[string]doctorUlimit `json:"ulimits,omitempty"`
	// HostTime is the host's clock as the daemon ran the doctor.
	HostTime time.Time `json:"host_time"`
	// HostUptime is the host's /proc/uptime: a container whose own is
	// not below it sees the host's, not lxcfs's.
	HostUptime float64 `json:"host_uptime_seconds"`
	// Views are the files of /proc and /sys that fatbox binds its views
	// over (lxcfs's meminfo, uptime, ...; the engine's cpuinfo).
	Views []string `json:"views"`
	// Programs are the supervisord programs that start at boot.
	Programs []string `json:"programs"`
}

type doctorUlimit struct {
	Soft int64 `json:"soft"`
	Hard int64 `json:"hard"`
}

// doctorCheck is one line of the report.
type doctorCheck struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// docCheckTimeout bounds each check (they run at once, so the whole run too).
const docCheckTimeout = 5 * time.Second

func runDoctor(args []string) int {
	return doctorMain(args, os.Stdout, os.Stderr, docRealSys())
}

func doctorMain(args []string, stdout, stderr io.Writer, sys doctorSys) int {
	fs := flag.NewFlagSet("vmshim doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	raw := fs.String("expect", "", "what the container should look like, as JSON (fatbox doctor passes it)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *raw == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "vmshim doctor: run it through `fatbox doctor NAME` on the host: it passes --expect")
		return 2
	}
	var exp doctorExpect
	if err := json.Unmarshal([]byte(*raw), &exp); err != nil {
		fmt.Fprintf(stderr, "vmshim doctor: --expect is not the daemon's JSON (%v): run it through `fatbox doctor NAME`\n", err)
		return 2
	}
	if exp.Name == "" {
		fmt.Fprintln(stderr, "vmshim doctor: --expect names no container: run it through `fatbox doctor NAME`")
		return 2
	}
	checks := docRunChecks(sys, exp, docCheckTimeout)
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(checks); err != nil {
		fmt.Fprintf(stderr, "vmshim doctor: %v\n", err)
		return 2
	}
	for _, c := range checks {
		if !c.OK {
			return 1
		}
	}
	return 0
}

// docChecker is one named check: it returns its lines (a check may report
// several, one per program or key).
type docChecker struct {
	name string
	run  func(sys doctorSys, exp doctorExpect) []doctorCheck
}

// docRunChecks runs every check at once, each bounded by timeout, and
// returns their lines in the order of doctorChecks.
func docRunChecks(sys doctorSys, exp doctorExpect, timeout time.Duration) []doctorCheck {
	sys = &docOnceSys{doctorSys: sys}
	list := doctorChecks()
	results := make([][]doctorCheck, len(list))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, c := range list {
		done := make(chan []doctorCheck, 1)
		go func() { done <- c.run(sys, exp) }()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out []doctorCheck
			select {
			case out = <-done:
			case <-time.After(timeout):
				out = []doctorCheck{{Check: c.name, Detail: fmt.Sprintf("did not finish within %s (a hung lxcfs or a stuck service)", timeout),
					Fix: fmt.Sprintf("run `fatbox doctor %s` again; if it persists, `fatbox restart %s`", exp.Name, exp.Name)}}
			}
			mu.Lock()
			results[i] = out
			mu.Unlock()
		}()
	}
	wg.Wait()
	var out []doctorCheck
	for _, r := range results {
		out = append(out, r...)
	}
	return out
}

// docSortedKeys returns m's keys in order.
func docSortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// docOnceSys asks supervisord once for every check that needs its programs.
type docOnceSys struct {
	doctorSys
	once  sync.Once
	progs map[string]docProgram
	err   error
}

func (s *docOnceSys) Programs() (map[string]docProgram, error) {
	s.once.Do(func() { s.progs, s.err = s.doctorSys.Programs() })
	return s.progs, s.err
}
