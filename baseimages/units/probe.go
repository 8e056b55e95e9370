package units

import (
	"bufio"
	"fmt"
	"path"
	"strconv"
	"strings"
	"syscall"
)

// What conditions probe on the system under a root: mounts, container,
// power, capabilities, cgroups, memory, os-release, versions.

func firstLineOf(r rootFS, p string) string {
	b, err := r.readFile(p)
	if err != nil {
		return ""
	}
	s, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(s)
}

func (r rootFS) isMountPoint(p string) (bool, error) {
	rp, err := r.resolve(p, true)
	if err != nil {
		return false, err
	}
	if b, err := r.readFile("/proc/self/mountinfo"); err == nil && (r.root == "" || r.root == "/") {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && unescapeOctal(f[4]) == rp {
				return true, nil
			}
		}
		return false, nil
	}
	var st, pst syscall.Stat_t
	if err := syscall.Stat(r.host(rp), &st); err != nil {
		if notExist(err) {
			return false, nil
		}
		return false, err
	}
	if rp == "/" {
		return true, nil
	}
	if err := syscall.Stat(r.host(path.Dir(rp)), &pst); err != nil {
		return false, err
	}
	return st.Dev != pst.Dev, nil
}

// unescapeOctal decodes mountinfo's \040-style escapes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// detectContainer names the container manager as systemd's
// detect_container() does (openvz, wsl, container= of /run/systemd/container
// or PID 1's environment, podman, docker), "" when none is found.
func (r rootFS) detectContainer() string {
	if r.exists("/proc/vz") && !r.exists("/proc/bc") {
		return "openvz"
	}
	if rel := firstLineOf(r, "/proc/sys/kernel/osrelease"); strings.Contains(rel, "Microsoft") || strings.Contains(rel, "WSL") {
		return "wsl"
	}
	if v := firstLineOf(r, "/run/systemd/container"); v != "" {
		return v
	}
	if b, err := r.readFile("/proc/1/environ"); err == nil {
		for _, kv := range strings.Split(string(b), "\x00") {
			if v, ok := strings.CutPrefix(kv, "container="); ok && v != "" {
				if v == "oci" {
					return "container-other" // systemd's name for container=oci
				}
				return v
			}
		}
	}
	if r.exists("/run/.containerenv") {
		return "podman"
	}
	if r.exists("/.dockerenv") {
		return "docker"
	}
	return ""
}

// virtualization answers ConditionVirtualization=. A fat container is a
// container even when nothing marks it as one (systemd would say "none"
// there): it is "container-other" then, so units meant to skip containers
// (ConditionVirtualization=!container) do. Virtual machines are not
// detected: "vm" and hypervisor names are false.
func (r rootFS) virtualization(a string) bool {
	kind := r.detectContainer()
	if kind == "" {
		kind = "container-other"
	}
	if a == "private-users" {
		m := strings.Fields(firstLineOf(r, "/proc/self/uid_map"))
		return len(m) == 3 && !(m[0] == "0" && m[1] == "0" && m[2] == "4294967295")
	}
	if b, err := parseBool(a); err == nil {
		return b
	}
	return a == "container" || a == kind
}

// kernelCommandLine is what systemd reads for ConditionKernelCommandLine=:
// in a container /proc/cmdline is the host's, so PID 1's command line.
func (r rootFS) kernelCommandLine() []string {
	if r.detectContainer() != "" {
		b, _ := r.readFile("/proc/1/cmdline")
		return strings.FieldsFunc(string(b), func(c rune) bool { return c == 0 })
	}
	b, _ := r.readFile("/proc/cmdline")
	return strings.Fields(string(b))
}

func (r rootFS) onACPower() bool {
	es, _ := r.readDir("/sys/class/power_supply")
	mains, online := 0, 0
	for _, e := range es {
		d := path.Join("/sys/class/power_supply", e.Name())
		if firstLineOf(r, d+"/type") != "Mains" {
			continue
		}
		mains++
		if firstLineOf(r, d+"/online") == "1" {
			online++
		}
	}
	return mains == 0 || online > 0
}

func (r rootFS) hasCapability(name string) (bool, error) {
	n, ok := capabilityNumber(name)
	if !ok {
		return false, fmt.Errorf("unknown capability %q", name)
	}
	b, err := r.readFile("/proc/self/status")
	if err != nil {
		return false, err
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapBnd:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return false, err
			}
			return mask&(1<<n) != 0, nil
		}
	}
	return false, nil
}

func capabilityNumber(name string) (uint, bool) {
	names := [...]string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
		"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK",
		"IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT",
		"SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL",
		"SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON",
		"BPF", "CHECKPOINT_RESTORE"}
	n := strings.TrimPrefix(strings.ToUpper(name), "CAP_")
	for i, x := range names {
		if x == n {
			return uint(i), true
		}
	}
	return 0, false
}

func (r rootFS) cgroupControllers(a string) bool {
	v2 := r.exists("/sys/fs/cgroup/cgroup.controllers")
	b, _ := r.readFile("/proc/cgroups")
	enabled := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[3] == "1" {
			enabled[f[0]] = true
		}
	}
	for _, w := range strings.Fields(a) {
		switch w {
		case "v2":
			if !v2 {
				return false
			}
		case "v1":
			if v2 {
				return false
			}
		default:
			if !enabled[w] {
				return false
			}
		}
	}
	return true
}

func memTotal(r rootFS) uint64 {
	b, _ := r.readFile("/proc/meminfo")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}

func (r rootFS) osRelease(a string) bool {
	b, err := r.readFile("/etc/os-release")
	if err != nil {
		b, _ = r.readFile("/usr/lib/os-release")
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok {
			fields[k] = strings.Trim(v, `"'`)
		}
	}
	for _, w := range strings.Fields(a) {
		i := strings.IndexAny(w, "<>=!")
		if i <= 0 {
			return false
		}
		if !compareOp(w[i:], fields[w[:i]], true) {
			return false
		}
	}
	return true
}

// compareAll checks every space-separated "<op>value" of spec against have
// (versions compare segment by segment); with no operator it is a glob
// (versions) or equality.
func compareAll(spec, have string, version bool) bool {
	for _, w := range strings.Fields(spec) {
		if !compareOp(w, have, version) {
			return false
		}
	}
	return true
}

func compareOp(w, have string, version bool) bool {
	op := ""
	for _, o := range []string{"<=", ">=", "!=", "$=", "<", ">", "="} {
		if strings.HasPrefix(w, o) {
			op = o
			break
		}
	}
	want := strings.TrimSpace(strings.TrimPrefix(w, op))
	if op == "" {
		if version {
			ok, _ := path.Match(want, have)
			return ok
		}
		op = "="
	}
	var cmp int
	if version {
		cmp = versionCompare(have, want)
	} else {
		h, err1 := parseSize(have)
		x, err2 := parseSize(want)
		if err1 != nil || err2 != nil {
			return false
		}
		switch {
		case h < x:
			cmp = -1
		case h > x:
			cmp = 1
		}
	}
	switch op {
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case ">":
		return cmp > 0
	case ">=":
		return cmp >= 0
	case "!=":
		return cmp != 0
	case "$=":
		ok, _ := path.Match(want, have)
		return ok
	}
	return cmp == 0
}

// versionCompare compares dotted versions numerically segment by segment
// ("5.10.0-28-amd64" > "5.4").
func versionCompare(a, b string) int {
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '-' || r == '_' || r == '+' || r == '~' })
	}
	as, bs := split(a), split(b)
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, e1 := strconv.Atoi(as[i])
		y, e2 := strconv.Atoi(bs[i])
		switch {
		case e1 == nil && e2 == nil && x != y:
			if x < y {
				return -1
			}
			return 1
		case (e1 != nil || e2 != nil) && as[i] != bs[i]:
			if as[i] < bs[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(as) < len(bs):
		return -1
	case len(as) > len(bs):
		return 1
	}
	return 0
}
