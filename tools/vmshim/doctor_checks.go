package main

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// doctorChecks is every check, in report order.
func doctorChecks() []docChecker {
	return []docChecker{
		{"hostname", docCheckHostname},
		{"hosts", docCheckHosts},
		{"address", docCheckAddress},
		{"route", docCheckRoute},
		{"gateway", docCheckGateway},
		{"memory", docCheckMemory},
		{"nproc", docCheckNproc},
		{"cpuinfo", docCheckCPUInfo},
		{"disk", docCheckDisk},
		{"uptime", docCheckUptime},
		{"lxcfs", docCheckViews},
		{"programs", docCheckPrograms},
		{"host-keys", docCheckHostKeys},
		{"clock", docCheckClock},
		{"timezone", docCheckTimezone},
		{"ulimits", docCheckUlimits},
		{"dns", docCheckDNS},
		{"systemctl", docCheckShim},
	}
}

func docPass(check, format string, args ...any) []doctorCheck {
	return []doctorCheck{{Check: check, OK: true, Detail: fmt.Sprintf(format, args...)}}
}

func docFail(check, fix, format string, args ...any) []doctorCheck {
	return []doctorCheck{{Check: check, Detail: fmt.Sprintf(format, args...), Fix: fix}}
}

// docRestartFix is the fix for what fatbox sets up at every boot.
func docRestartFix(exp doctorExpect, what string) string {
	return fmt.Sprintf("`fatbox restart %s` (%s at every boot)", exp.Name, what)
}

func docReadText(sys doctorSys, path string) (string, error) {
	b, err := sys.ReadFile(path)
	return string(b), err
}

func docCheckHostname(sys doctorSys, exp doctorExpect) []doctorCheck {
	fix := docRestartFix(exp, "fatbox sets the hostname and writes /etc/hostname")
	kernel, err := sys.Hostname()
	if err != nil {
		return docFail("hostname", fix, "uname: %v", err)
	}
	file, err := docReadText(sys, "/etc/hostname")
	if err != nil {
		return docFail("hostname", fix, "/etc/hostname: %v", err)
	}
	file = strings.TrimSpace(file)
	var bad []string
	if kernel != exp.Name {
		bad = append(bad, fmt.Sprintf("the kernel's hostname is %q", kernel))
	}
	if file != exp.Name {
		bad = append(bad, fmt.Sprintf("/etc/hostname says %q", file))
	}
	if len(bad) > 0 {
		return docFail("hostname", fix, "%s, want %q", strings.Join(bad, " and "), exp.Name)
	}
	return docPass("hostname", "%s (uname and /etc/hostname)", exp.Name)
}

func docCheckHosts(sys doctorSys, exp doctorExpect) []doctorCheck {
	fix := docRestartFix(exp, "fatbox writes /etc/hosts")
	want, err := netip.ParseAddr(exp.IP)
	if err != nil {
		return docFail("hosts", "", "the daemon sent no address (%q): cannot check", exp.IP)
	}
	text, err := docReadText(sys, "/etc/hosts")
	if err != nil {
		return docFail("hosts", fix, "/etc/hosts: %v", err)
	}
	got := docHostsLookup(text, exp.Name)
	for _, a := range got {
		if a == want {
			return docPass("hosts", "%s resolves to %s (/etc/hosts)", exp.Name, want)
		}
	}
	if len(got) == 0 {
		return docFail("hosts", fix, "/etc/hosts does not name %s", exp.Name)
	}
	return docFail("hosts", fix, "/etc/hosts gives %s %v, want %s", exp.Name, got, want)
}

func docCheckAddress(sys doctorSys, exp doctorExpect) []doctorCheck {
	fix := docRestartFix(exp, "fatbox attaches the network")
	want, err := netip.ParseAddr(exp.IP)
	if err != nil {
		return docFail("address", "", "the daemon sent no address (%q): cannot check", exp.IP)
	}
	ps, up, err := sys.Addrs("eth0")
	if err != nil {
		return docFail("address", fix, "eth0: %v", err)
	}
	if !up {
		return docFail("address", fix, "eth0 is down")
	}
	for _, p := range ps {
		if p.Addr() == want {
			if exp.PrefixLen > 0 && p.Bits() != exp.PrefixLen {
				return docFail("address", fix, "eth0 has %s, want /%d", p, exp.PrefixLen)
			}
			return docPass("address", "eth0 %s, up", p)
		}
	}
	return docFail("address", fix, "eth0 has %v, not %s", ps, want)
}

func docCheckRoute(sys doctorSys, exp doctorExpect) []doctorCheck {
	fix := docRestartFix(exp, "fatbox sets the default route")
	want, err := netip.ParseAddr(exp.Gateway)
	if err != nil {
		return docPass("route", "the pool has no gateway: no default route expected")
	}
	text, err := docReadText(sys, "/proc/net/route")
	if err != nil {
		return docFail("route", fix, "/proc/net/route: %v", err)
	}
	gw, dev, ok := docDefaultRoute(text)
	switch {
	case !ok:
		return docFail("route", fix, "no default route, want via %s dev eth0", want)
	case gw != want || dev != "eth0":
		return docFail("route", fix, "default via %s dev %s, want via %s dev eth0", gw, dev, want)
	}
	return docPass("route", "default via %s dev eth0", gw)
}

func docCheckGateway(sys doctorSys, exp doctorExpect) []doctorCheck {
	gw, err := netip.ParseAddr(exp.Gateway)
	if err != nil {
		return docPass("gateway", "the pool has no gateway")
	}
	perr := sys.Ping(gw, 2*time.Second)
	if perr == nil {
		return docPass("gateway", "%s answers ping", gw)
	}
	// A gateway that drops ICMP still answered ARP if its entry is complete.
	if text, err := docReadText(sys, "/proc/net/arp"); err == nil && docArpComplete(text, gw) {
		return docPass("gateway", "%s answers ARP (not ping: %v)", gw, perr)
	}
	return docFail("gateway", fmt.Sprintf("check the gateway's address and the bridge on the host (`fatbox pool show %s`), then `fatbox restart %s` to attach the container again", exp.poolOr(), exp.Name),
		"%s answers neither ping nor ARP: %v", gw, perr)
}

func (exp doctorExpect) poolOr() string {
	if exp.Pool != "" {
		return exp.Pool
	}
	return "POOL"
}

// docLxcfsFix is the fix for a view of /proc that is not lxcfs's.
func docLxcfsFix(exp doctorExpect) string {
	return docRestartFix(exp, "fatbox binds lxcfs's views of /proc")
}

func docCheckMemory(sys doctorSys, exp doctorExpect) []doctorCheck {
	text, err := docReadText(sys, "/proc/meminfo")
	if err != nil {
		return docFail("memory", docLxcfsFix(exp), "/proc/meminfo: %v", err)
	}
	total, err := docMeminfoTotal(text)
	if err != nil {
		return docFail("memory", docLxcfsFix(exp), "/proc/meminfo: %v", err)
	}
	if exp.MemoryBytes > 0 && total != exp.MemoryBytes {
		return docFail("memory", docLxcfsFix(exp), "free shows %s, the limit is %s (not lxcfs's view of /proc/meminfo?)", docMib(total), docMib(exp.MemoryBytes))
	}
	return docPass("memory", "free shows %s", docMib(total))
}

func docMib(b int64) string { return fmt.Sprintf("%d MiB", b>>20) }

func docCheckNproc(sys doctorSys, exp doctorExpect) []doctorCheck {
	n, err := sys.CPUs()
	if err != nil {
		return docFail("nproc", "", "sched_getaffinity: %v", err)
	}
	if exp.VCPUs > 0 && n != exp.VCPUs {
		return docFail("nproc", docRestartFix(exp, "fatbox pins the container to its cpuset"), "nproc says %d, the container has %d vCPUs", n, exp.VCPUs)
	}
	return docPass("nproc", "%d", n)
}

func docCheckCPUInfo(sys doctorSys, exp doctorExpect) []doctorCheck {
	text, err := docReadText(sys, "/proc/cpuinfo")
	if err != nil {
		return docFail("cpuinfo", docLxcfsFix(exp), "/proc/cpuinfo: %v", err)
	}
	c := docParseCPUInfo(text)
	if exp.VCPUs <= 0 {
		return docPass("cpuinfo", "%d processors", c.Processors)
	}
	var bad []string
	if c.Processors != exp.VCPUs {
		bad = append(bad, fmt.Sprintf("%d processors", c.Processors))
	}
	for _, f := range []struct {
		name string
		vs   []int
	}{{"cpu cores", c.Cores}, {"siblings", c.Siblings}} {
		for _, v := range f.vs {
			if v != exp.VCPUs {
				bad = append(bad, fmt.Sprintf("%s: %d", f.name, v))
			}
		}
	}
	if len(bad) > 0 {
		return docFail("cpuinfo", docLxcfsFix(exp), "/proc/cpuinfo says %s, the container has %d vCPUs", strings.Join(bad, ", "), exp.VCPUs)
	}
	return docPass("cpuinfo", "%d processors", c.Processors)
}

// docDiskSlack is how much smaller than the disk df's size may be: ext4's
// journal, inode tables and reserved metadata.
const docDiskSlack = 0.15

func docCheckDisk(sys doctorSys, exp doctorExpect) []doctorCheck {
	size, err := sys.DiskSize("/")
	if err != nil {
		return docFail("disk", "", "statfs /: %v", err)
	}
	if exp.DiskBytes > 0 && (size > exp.DiskBytes || float64(size) < float64(exp.DiskBytes)*(1-docDiskSlack)) {
		return docFail("disk", docRestartFix(exp, "fatbox mounts the container's own disk (a pending resize is applied)"),
			"df / shows %s, the disk is %s", docMib(size), docMib(exp.DiskBytes))
	}
	return docPass("disk", "df / shows %s of a %s disk", docMib(size), docMib(exp.DiskBytes))
}

func docCheckUptime(sys doctorSys, exp doctorExpect) []doctorCheck {
	text, err := docReadText(sys, "/proc/uptime")
	if err != nil {
		return docFail("uptime", docLxcfsFix(exp), "/proc/uptime: %v", err)
	}
	up, err := docUptimeSeconds(text)
	if err != nil {
		return docFail("uptime", docLxcfsFix(exp), "/proc/uptime: %v", err)
	}
	if exp.HostUptime > 0 && up >= exp.HostUptime {
		return docFail("uptime", docLxcfsFix(exp), "uptime shows %s, the host's (%s): not lxcfs's view of /proc/uptime", docSecs(up), docSecs(exp.HostUptime))
	}
	return docPass("uptime", "%s (the host: %s)", docSecs(up), docSecs(exp.HostUptime))
}

func docSecs(s float64) string { return (time.Duration(s) * time.Second).String() }

// docCheckViews checks the views fatbox binds over /proc and /sys
// (lxcfs's meminfo, uptime, stat, ...; the engine's cpuinfo): each is a
// mount point and reads without ENOTCONN (a dead lxcfs).
func docCheckViews(sys doctorSys, exp doctorExpect) []doctorCheck {
	if len(exp.Views) == 0 {
		return docPass("lxcfs", "no views expected: this host runs no lxcfs, /proc shows the host's figures")
	}
	text, err := docReadText(sys, "/proc/self/mountinfo")
	if err != nil {
		return docFail("lxcfs", docLxcfsFix(exp), "/proc/self/mountinfo: %v", err)
	}
	ms := docParseMountinfo(text)
	var bad []string
	for _, p := range exp.Views {
		if _, ok := docTopMount(ms, p); !ok {
			bad = append(bad, p+" is not mounted (the host's figures show through)")
			continue
		}
		if _, err := sys.ReadFile(p); err != nil {
			if errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED) {
				bad = append(bad, p+" is stale (lxcfs died: ENOTCONN)")
			} else {
				bad = append(bad, fmt.Sprintf("%s: %v", p, err))
			}
		}
	}
	if len(bad) > 0 {
		return docFail("lxcfs", fmt.Sprintf("`fatbox restart %s` binds the views again (after lxcfs died, the daemon's lxcfs watch re-binds stale ones by itself within seconds)", exp.Name),
			"%s", strings.Join(bad, "; "))
	}
	return docPass("lxcfs", "%d views of /proc and /sys mounted and answering", len(exp.Views))
}

// Programs with a probe of their own, and what a check of them is called.
const (
	docProgSSHD   = "sshd"
	docProgCron   = "cron"
	docProgSyslog = "rsyslog"
)

// docCheckPrograms reports each expected supervisord program: RUNNING, and
// for sshd, cron and syslog answering too.
func docCheckPrograms(sys doctorSys, exp doctorExpect) []doctorCheck {
	ps, err := sys.Programs()
	if err != nil {
		return docFail("programs", docRestartFix(exp, "fatbox starts supervisord"), "supervisord does not answer: %v", err)
	}
	var out []doctorCheck
	for _, name := range exp.Programs {
		out = append(out, docCheckProgram(sys, exp, name, ps[name], ps[name].Name != "")...)
	}
	return out
}

func docCheckProgram(sys doctorSys, exp doctorExpect, name string, p docProgram, known bool) []doctorCheck {
	check := "program " + name
	switch name {
	case docProgSSHD:
		check = "sshd"
	case docProgCron:
		check = "cron"
	case docProgSyslog:
		check = "syslog"
	}
	start := fmt.Sprintf("`fatbox prog start %s %s`", exp.Name, name)
	switch {
	case !known:
		return docFail(check, docRestartFix(exp, "fatbox writes supervisord.conf"), "supervisord has no docProgram %q", name)
	case !docRunning(p):
		return docFail(check, start+fmt.Sprintf(" (its log: `fatbox logs %s %s`)", exp.Name, name), "%s is not running (supervisord: %s)", name, strings.ToUpper(p.State))
	}
	switch name {
	case docProgSSHD:
		line, err := sys.Banner("127.0.0.1:22", 4*time.Second) // sshd forks and re-executes itself per connection: slow on a loaded host
		if err != nil || !strings.HasPrefix(line, "SSH-2.0") {
			return docFail(check, fmt.Sprintf("`fatbox prog restart %s %s` (its log: `fatbox logs %s %s`)", exp.Name, name, exp.Name, name),
				"RUNNING, but 127.0.0.1:22 answers %q (%v), not an SSH-2.0 banner", line, err)
		}
		return docPass(check, "RUNNING (pid %d), 127.0.0.1:22 answers %q", p.PID, line)
	case docProgCron:
		if !sys.Alive(p.PID) {
			return docFail(check, fmt.Sprintf("`fatbox prog restart %s %s`", exp.Name, name), "RUNNING, but its pid %d is gone", p.PID)
		}
		return docPass(check, "RUNNING (pid %d)", p.PID)
	case docProgSyslog:
		if err := sys.SendLog("/dev/log", "<13>fatbox-doctor: syslog probe"); err != nil {
			return docFail(check, fmt.Sprintf("`fatbox prog restart %s %s`", exp.Name, name), "RUNNING, but /dev/log refuses a message: %v", err)
		}
		return docPass(check, "RUNNING (pid %d), /dev/log takes a message", p.PID)
	}
	return docPass(check, "RUNNING (pid %d)", p.PID)
}

// docRunning: supervisord's ctl writes states as "Running", its XML-RPC
// as "RUNNING".
func docRunning(p docProgram) bool { return strings.EqualFold(p.State, "RUNNING") }

// docSshKeyTypes are the host keys fatbox keeps, in report order.
var docSshKeyTypes = []string{"ed25519", "ecdsa", "rsa"}

func docCheckHostKeys(sys doctorSys, exp doctorExpect) []doctorCheck {
	fix := docRestartFix(exp, "fatbox writes the host keys it keeps")
	if len(exp.HostKeys) == 0 {
		return docFail("host-keys", "", "the daemon has no host keys recorded for %s", exp.Name)
	}
	var bad, good []string
	for _, typ := range docSshKeyTypes {
		want, ok := exp.HostKeys[typ]
		if !ok {
			continue
		}
		priv := "/etc/ssh/ssh_host_" + typ + "_key"
		if st, err := sys.Stat(priv); err != nil || st.Size() == 0 {
			bad = append(bad, priv+" is missing")
			continue
		}
		text, err := docReadText(sys, priv+".pub")
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s.pub: %v", priv, err))
			continue
		}
		got, err := docPubKeyFingerprint(text)
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s.pub: %v", priv, err))
		case got != want:
			bad = append(bad, fmt.Sprintf("%s is %s, fatbox recorded %s", typ, got, want))
		default:
			good = append(good, typ+" "+got)
		}
	}
	if len(bad) > 0 {
		return docFail("host-keys", fix, "%s", strings.Join(bad, "; "))
	}
	return docPass("host-keys", "%s", strings.Join(good, ", "))
}

// docClockSkew is how far the container's clock may be from the host's as
// the daemon read it (the exec in between takes a fraction of it).
const docClockSkew = 5 * time.Second

func docCheckClock(sys doctorSys, exp doctorExpect) []doctorCheck {
	now := sys.Now()
	if exp.HostTime.IsZero() {
		return docPass("clock", "%s (no host time to compare)", now.UTC().Format(time.RFC3339))
	}
	d := now.Sub(exp.HostTime)
	if math.Abs(float64(d)) > float64(docClockSkew) {
		return docFail("clock", "containers share the host's clock: set the host's time (chrony or systemd-timesyncd on the host)",
			"%s is %s from the host's %s", now.UTC().Format(time.RFC3339), d.Round(time.Millisecond), exp.HostTime.UTC().Format(time.RFC3339))
	}
	return docPass("clock", "%s, within %s of the host's", now.UTC().Format(time.RFC3339), docClockSkew)
}

func docCheckTimezone(sys doctorSys, exp doctorExpect) []doctorCheck {
	fix := fmt.Sprintf("`fatbox exec %s -- ln -sf /usr/share/zoneinfo/Etc/UTC /etc/localtime` (or the zone you want)", exp.Name)
	b, err := sys.ReadFile("/etc/localtime")
	if err != nil {
		return docFail("timezone", fix, "/etc/localtime: %v", err)
	}
	if !strings.HasPrefix(string(b), "TZif") {
		return docFail("timezone", fix, "/etc/localtime is not a zoneinfo file")
	}
	zone := "set"
	if text, err := docReadText(sys, "/etc/timezone"); err == nil && strings.TrimSpace(text) != "" {
		zone = strings.TrimSpace(text)
	}
	return docPass("timezone", "%s (/etc/localtime)", zone)
}

// docUlimitOrder is the order ulimits are reported in.
var docUlimitOrder = []string{"nofile", "nproc", "memlock", "core", "stack"}

func docCheckUlimits(sys doctorSys, exp doctorExpect) []doctorCheck {
	// What PID 1's children (the programs, and sshd's logins) inherit:
	// sshd's limits, or supervisord's own without it.
	pid := 1
	if ps, err := sys.Programs(); err == nil && ps[docProgSSHD].PID > 0 {
		pid = ps[docProgSSHD].PID
	}
	path := fmt.Sprintf("/proc/%d/limits", pid)
	text, err := docReadText(sys, path)
	if err != nil {
		return docFail("ulimits", fmt.Sprintf("run `fatbox doctor %s` again (the process may have just exited)", exp.Name), "%s: %v", path, err)
	}
	got := docProcLimits(text)
	var bad, all []string
	for _, name := range docUlimitOrder {
		g, ok := got[name]
		if !ok {
			continue
		}
		all = append(all, fmt.Sprintf("%s %s:%s", name, docLimitString(g[0]), docLimitString(g[1])))
		if w, ok := exp.Ulimits[name]; ok && (w.Soft != g[0] || w.Hard != g[1]) {
			bad = append(bad, fmt.Sprintf("%s is %s:%s, want %s:%s", name, docLimitString(g[0]), docLimitString(g[1]), docLimitString(w.Soft), docLimitString(w.Hard)))
		}
	}
	for _, name := range docSortedKeys(exp.Ulimits) {
		if _, ok := got[name]; !ok {
			bad = append(bad, fmt.Sprintf("%s is not in %s", name, path))
		}
	}
	if len(bad) > 0 {
		return docFail("ulimits", docRestartFix(exp, "fatbox sets the container's limits"), "%s", strings.Join(bad, "; "))
	}
	if len(exp.Ulimits) == 0 {
		return docPass("ulimits", "%s (none recorded for the container)", strings.Join(all, ", "))
	}
	return docPass("ulimits", "%s", strings.Join(all, ", "))
}

func docCheckDNS(sys doctorSys, exp doctorExpect) []doctorCheck {
	fix := docRestartFix(exp, "fatbox writes /etc/resolv.conf from the host's nameservers")
	text, err := docReadText(sys, "/etc/resolv.conf")
	if err != nil {
		return docFail("dns", fix, "/etc/resolv.conf: %v", err)
	}
	ns := docNameservers(text)
	if len(ns) == 0 {
		return docFail("dns", fix+"; the host's /etc/resolv.conf needs a nameserver that is not loopback", "/etc/resolv.conf has no nameserver")
	}
	if sw, err := docReadText(sys, "/etc/nsswitch.conf"); err == nil {
		if src := docNsswitchHosts(sw); src != nil && !docContains(src, "files") {
			return docFail("dns", fmt.Sprintf("`fatbox exec %s -- sed -i 's/^hosts:.*/hosts: files dns/' /etc/nsswitch.conf`", exp.Name),
				"/etc/nsswitch.conf's hosts line (%s) skips /etc/hosts: the container's own name does not resolve", strings.Join(src, " "))
		}
	}
	return docPass("dns", "nameserver %s; hosts from /etc/hosts first", strings.Join(ns, ", "))
}

func docContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// docShimPath is where fatbox binds the shim; docShimLinks the commands that
// must reach it.
const docShimPath = "/.fatbox/vmshim"

var docShimLinks = []string{"systemctl", "service"}

func docCheckShim(sys doctorSys, exp doctorExpect) []doctorCheck {
	fix := docRestartFix(exp, "fatbox links systemctl, service, reboot, ... to the shim")
	var bad []string
	for _, name := range docShimLinks {
		p, err := sys.LookPath(name)
		switch {
		case err != nil:
			bad = append(bad, err.Error())
		case p != docShimPath:
			bad = append(bad, fmt.Sprintf("%s on PATH is %s, not the shim", name, p))
		}
	}
	if st, err := sys.Stat("/run/systemd/system"); err != nil || !st.IsDir() {
		bad = append(bad, "/run/systemd/system is missing (the shim's init makes it)")
	}
	if len(bad) > 0 {
		return docFail("systemctl", fix, "%s", strings.Join(bad, "; "))
	}
	ps, err := sys.Programs()
	if err != nil {
		return docFail("systemctl", docRestartFix(exp, "fatbox starts supervisord"), "supervisord does not answer: %v", err)
	}
	if p := ps["fatbox-init"]; !docRunning(p) {
		state := p.State
		if p.Name == "" {
			state = "missing from supervisord.conf"
		}
		fix := fmt.Sprintf("`fatbox prog start %s fatbox-init`", exp.Name)
		if p.Name == "" {
			fix = docRestartFix(exp, "fatbox writes supervisord.conf")
		}
		return docFail("systemctl", fix, "the shim's init (program fatbox-init) is %s: enabled units and timers do not run", state)
	}
	return docPass("systemctl", "systemctl and service are the shim; fatbox-init RUNNING")
}
