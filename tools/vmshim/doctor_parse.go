package main

// The pure readers of `vmshim doctor`: each takes a file's text (or a
// command's output) and returns what the checks compare. The shim is a
// static binary that imports nothing of fatbox's engine, so it keeps its
// own small parsers of these kernel and /etc formats.

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// docMountEntry is one line of /proc/<pid>/mountinfo.
type docMountEntry struct {
	Mountpoint string
	FSType     string
	Source     string
}

// docParseMountinfo reads /proc/<pid>/mountinfo: "id parent major:minor root
// mountpoint options [optional...] - fstype source superopts". Later
// lines are mounted over earlier ones.
func docParseMountinfo(s string) []docMountEntry {
	var out []docMountEntry
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 7 || sep < 0 || sep+1 >= len(f) {
			continue
		}
		e := docMountEntry{Mountpoint: docUnescapeOctal(f[4]), FSType: f[sep+1]}
		if sep+2 < len(f) {
			e.Source = docUnescapeOctal(f[sep+2])
		}
		out = append(out, e)
	}
	return out
}

// docTopMount is the topmost mount on path, if path is a mount point.
func docTopMount(ms []docMountEntry, path string) (docMountEntry, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Mountpoint == path {
			return ms[i], true
		}
	}
	return docMountEntry{}, false
}

// docUnescapeOctal undoes the kernel's \ooo escapes of space, tab, newline
// and backslash in mountinfo.
func docUnescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// docMeminfoTotal is MemTotal of /proc/meminfo, in bytes.
func docMeminfoTotal(s string) (int64, error) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("MemTotal %q is not a number", f[1])
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no MemTotal line")
}

// docCpuinfo is what /proc/cpuinfo says of the CPUs: how many processor
// entries, and the distinct values of "cpu cores" and "siblings" (what
// Ansible and lscpu multiply and divide).
type docCpuinfo struct {
	Processors int
	Cores      []int
	Siblings   []int
}

func docParseCPUInfo(s string) docCpuinfo {
	var c docCpuinfo
	add := func(to *[]int, v string) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return
		}
		for _, x := range *to {
			if x == n {
				return
			}
		}
		*to = append(*to, n)
	}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "processor":
			c.Processors++
		case "cpu cores":
			add(&c.Cores, v)
		case "siblings":
			add(&c.Siblings, v)
		}
	}
	return c
}

// docUptimeSeconds is the first figure of /proc/uptime.
func docUptimeSeconds(s string) (float64, error) {
	f := strings.Fields(s)
	if len(f) < 1 {
		return 0, errors.New("empty")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number of seconds", f[0])
	}
	return v, nil
}

// docHostsLookup returns the addresses /etc/hosts gives name (case
// insensitive, as the resolver matches).
func docHostsLookup(s, name string) []netip.Addr {
	var out []netip.Addr
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, n := range f[1:] {
			if strings.EqualFold(n, name) {
				out = append(out, a)
				break
			}
		}
	}
	return out
}

// docNameservers are the nameserver lines of resolv.conf.
func docNameservers(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			out = append(out, f[1])
		}
	}
	return out
}

// docNsswitchHosts is the sources of the hosts line of nsswitch.conf; nil
// when it has none.
func docNsswitchHosts(s string) []string {
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "hosts" {
			var out []string
			for _, w := range strings.Fields(v) {
				if !strings.HasPrefix(w, "[") {
					out = append(out, w)
				}
			}
			return out
		}
	}
	return nil
}

// docDefaultRoute is the gateway and device of the IPv4 default route in
// /proc/net/route (addresses are hex in host byte order, little-endian on
// every architecture fatbox runs on).
func docDefaultRoute(s string) (gw netip.Addr, dev string, ok bool) {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" {
			continue
		}
		v, err := strconv.ParseUint(f[2], 16, 32)
		if err != nil {
			continue
		}
		return netip.AddrFrom4([4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}), f[0], true
	}
	return netip.Addr{}, "", false
}

// docArpComplete reports whether /proc/net/arp holds a resolved entry (flag
// ATF_COM) for ip.
func docArpComplete(s string, ip netip.Addr) bool {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != ip.String() {
			continue
		}
		fl, err := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 32)
		if err == nil && fl&0x2 != 0 && f[3] != "00:00:00:00:00:00" {
			return true
		}
	}
	return false
}

// docLimitNames are the rows of /proc/<pid>/limits per ulimit name.
var docLimitNames = map[string]string{
	"nofile":  "Max open files",
	"nproc":   "Max processes",
	"memlock": "Max locked memory",
	"core":    "Max core file size",
	"stack":   "Max stack size",
}

// docUnlimited is how an rlimit of RLIM_INFINITY is written in the expectation.
const docUnlimited = -1

// docProcLimits reads /proc/<pid>/limits: per row name, soft and hard
// (unlimited as -1).
func docProcLimits(s string) map[string][2]int64 {
	out := map[string][2]int64{}
	for _, line := range strings.Split(s, "\n") {
		for name, row := range docLimitNames {
			rest, ok := strings.CutPrefix(line, row)
			if !ok {
				continue
			}
			f := strings.Fields(rest)
			if len(f) < 2 {
				continue
			}
			soft, e1 := docLimitValue(f[0])
			hard, e2 := docLimitValue(f[1])
			if e1 == nil && e2 == nil {
				out[name] = [2]int64{soft, hard}
			}
		}
	}
	return out
}

func docLimitValue(s string) (int64, error) {
	if s == "unlimited" {
		return docUnlimited, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

func docLimitString(v int64) string {
	if v == docUnlimited {
		return "unlimited"
	}
	return strconv.FormatInt(v, 10)
}

// docProgram is one supervisord program as `supervisord ctl status` shows it.
type docProgram struct {
	Name, State string
	PID         int
}

var (
	docAnsiRE = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)
	docPidRE  = regexp.MustCompile(`\bpid (\d+)`)
)

// docParseStatus reads `supervisord ctl status` (ochinchina's writes colour
// codes even to a pipe).
func docParseStatus(s string) map[string]docProgram {
	out := map[string]docProgram{}
	for _, line := range strings.Split(docAnsiRE.ReplaceAllString(s, ""), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		p := docProgram{Name: f[0], State: f[1]}
		if m := docPidRE.FindStringSubmatch(line); m != nil {
			p.PID, _ = strconv.Atoi(m[1])
		}
		out[p.Name] = p
	}
	return out
}

// docPubKeyFingerprint is OpenSSH's SHA256 fingerprint of an authorized_keys
// line ("type base64 [comment]"): "SHA256:" and the unpadded base64 of the
// SHA-256 of the key's blob, as ssh-keygen -l prints it.
func docPubKeyFingerprint(line string) (string, error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return "", errors.New("not an OpenSSH public key line")
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return "", fmt.Errorf("its key is not base64: %w", err)
	}
	sum := sha256.Sum256(blob)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]), nil
}
