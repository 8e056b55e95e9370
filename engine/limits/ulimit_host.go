package limits

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// HostUlimits is the most each limit may be on this host: runc, started by
// the daemon, sets a container's limits with the daemon's own privileges, so
// a hard limit above the daemon's own hard limit needs CAP_SYS_RESOURCE,
// and RLIMIT_NOFILE never passes fs.nr_open.
type HostUlimits struct {
	// Max is the largest hard limit per name (Unlimited where nothing caps it).
	Max map[string]uint64
	// Why says what sets each Max, for messages.
	Why map[string]string
	// Raise says how to raise each Max.
	Raise map[string]string
}

// daemonLimit is how a limit of the daemon is named and raised.
type daemonLimit struct {
	name     string
	resource int
	systemd  string // the unit's directive
	shell    string // ulimit's option
	perKiB   bool   // ulimit -l and -s count KiB
}

func daemonLimits() []daemonLimit {
	return []daemonLimit{
		{"nofile", unix.RLIMIT_NOFILE, "LimitNOFILE", "-Hn", false},
		{"nproc", unix.RLIMIT_NPROC, "LimitNPROC", "-Hu", false},
		{"memlock", unix.RLIMIT_MEMLOCK, "LimitMEMLOCK", "-Hl", true},
		{"core", unix.RLIMIT_CORE, "LimitCORE", "-Hc", false},
		{"stack", unix.RLIMIT_STACK, "LimitSTACK", "-Hs", true},
	}
}

// capSysResource is CAP_SYS_RESOURCE's bit in /proc/self/status's CapEff.
const capSysResource = 24

// ReadHostUlimits reads what this process (the daemon) may give a
// container: its own hard limits (getrlimit), whether it holds
// CAP_SYS_RESOURCE (then only fs.nr_open caps nofile), and fs.nr_open.
// It is, with ReadHost, this package's only I/O.
func ReadHostUlimits() (HostUlimits, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return HostUlimits{}, fmt.Errorf("host limits: %w", err)
	}
	privileged, err := hasCap(status, capSysResource)
	if err != nil {
		return HostUlimits{}, err
	}
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		return HostUlimits{}, fmt.Errorf("host limits: %w: is /proc mounted?", err)
	}
	nrOpen, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return HostUlimits{}, fmt.Errorf("host limits: /proc/sys/fs/nr_open %q is not a number", b)
	}
	hard := map[string]uint64{}
	for _, d := range daemonLimits() {
		var rl unix.Rlimit
		if err := unix.Getrlimit(d.resource, &rl); err != nil {
			return HostUlimits{}, fmt.Errorf("host limits: getrlimit %s: %w", d.name, err)
		}
		hard[d.name] = rl.Max
	}
	return hostUlimits(hard, nrOpen, privileged), nil
}

// hostUlimits is ReadHostUlimits' arithmetic: hard are the daemon's own
// hard limits by name.
func hostUlimits(hard map[string]uint64, nrOpen uint64, privileged bool) HostUlimits {
	h := HostUlimits{Max: map[string]uint64{}, Why: map[string]string{}, Raise: map[string]string{}}
	for _, d := range daemonLimits() {
		max, why := hard[d.name], fmt.Sprintf("the fatbox daemon's own hard %s limit (runc cannot give a container more without CAP_SYS_RESOURCE)", d.name)
		if privileged {
			max, why = Unlimited, ""
		}
		n := "N"
		if d.perKiB {
			n = "KiB"
		}
		h.Raise[d.name] = fmt.Sprintf("raise the daemon's limit (%s= in its systemd unit, tools/systemd/fatbox.service, or `ulimit %s %s` in the shell that runs `fatbox daemon`) and restart the daemon", d.systemd, d.shell, n)
		if d.name == "nofile" && nrOpen < max {
			max, why = nrOpen, "this host's fs.nr_open (the kernel's cap on open files per process)"
			h.Raise[d.name] = "raise it with `sysctl -w fs.nr_open=N` (and in /etc/sysctl.d), then the daemon's LimitNOFILE, and restart the daemon"
		}
		h.Max[d.name], h.Why[d.name] = max, why
	}
	return h
}

// hasCap reads bit of CapEff from a /proc/<pid>/status.
func hasCap(status []byte, bit uint) (bool, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != "CapEff" {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return false, fmt.Errorf("host limits: CapEff %q in /proc/self/status is not hex", strings.TrimSpace(v))
		}
		return caps&(1<<bit) != 0, nil
	}
	return false, fmt.Errorf("host limits: /proc/self/status has no CapEff line: is /proc mounted?")
}

// Check refuses a limit whose hard value is above what this host allows,
// naming the limit, the value asked, the host's maximum, what sets it and
// how to raise it.
func (h HostUlimits) Check(field, name string, u Ulimit) error {
	max, ok := h.Max[name]
	if !ok || u.Hard <= max {
		return nil
	}
	return invalid(field, strconv.Quote(name+"="+FormatUlimit(name, u)),
		fmt.Sprintf("hard %s %s is above this host's %s, %s", name, FormatUlimitValue(name, u.Hard), FormatUlimitValue(name, max), h.Why[name]),
		fmt.Sprintf("ask for at most %s=%s, or %s", name, FormatUlimitValue(name, max), h.Raise[name]))
}

// Cap lowers each limit of us to what this host allows (soft and hard); the
// defaults go through it, so a container gets min(default, host).
func (h HostUlimits) Cap(us map[string]Ulimit) map[string]Ulimit {
	out := make(map[string]Ulimit, len(us))
	for n, u := range us {
		if max, ok := h.Max[n]; ok {
			u.Soft, u.Hard = min(u.Soft, max), min(u.Hard, max)
		}
		out[n] = u
	}
	return out
}
