package units

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// parseBool accepts systemd's boolean spellings.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "yes", "y", "true", "t", "on":
		return true, nil
	case "0", "no", "n", "false", "f", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (use yes or no)", s)
}

// timeUnit returns the length of a systemd.time(7) time span unit.
func timeUnit(u string) (time.Duration, bool) {
	switch u {
	case "usec", "us", "µs", "μs":
		return time.Microsecond, true
	case "msec", "ms":
		return time.Millisecond, true
	case "", "seconds", "second", "sec", "s":
		return time.Second, true
	case "minutes", "minute", "min", "m":
		return time.Minute, true
	case "hours", "hour", "hr", "h":
		return time.Hour, true
	case "days", "day", "d":
		return 24 * time.Hour, true
	case "weeks", "week", "w":
		return 7 * 24 * time.Hour, true
	case "months", "month", "M":
		return 2629800 * time.Second, true // 30.44 days
	case "years", "year", "y":
		return 31557600 * time.Second, true // 365.25 days
	}
	return 0, false
}

// parseTimespan parses a time span like "5min 20s", "1h30m", "500ms" or a
// bare number of seconds. "infinity" yields infinite=true.
func parseTimespan(s string) (d time.Duration, infinite bool, err error) {
	return parseTimespanDefault(s, time.Second)
}

func parseTimespanDefault(s string, def time.Duration) (d time.Duration, infinite bool, err error) {
	s = strings.TrimSpace(s)
	if s == "infinity" {
		return 0, true, nil
	}
	if s == "" {
		return 0, false, fmt.Errorf("empty time span")
	}
	rest := s
	for {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			break
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, false, fmt.Errorf("%q is not a time span (write e.g. 90s, 5min 20s, 1h, 500ms or infinity)", s)
		}
		num, perr := strconv.ParseFloat(rest[:i], 64)
		if perr != nil {
			return 0, false, fmt.Errorf("%q is not a time span: %w", s, perr)
		}
		rest = strings.TrimLeft(rest[i:], " \t")
		j := 0
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9') && rest[j] != ' ' && rest[j] != '\t' && rest[j] != '.' {
			j++
		}
		unitName := rest[:j]
		rest = rest[j:]
		u, ok := timeUnit(unitName)
		if !ok {
			return 0, false, fmt.Errorf("%q is not a time span: unknown unit %q", s, unitName)
		}
		if unitName == "" {
			u = def
		}
		f := num * float64(u)
		if f > math.MaxInt64/2 {
			return 0, true, nil
		}
		d += time.Duration(f)
	}
	return d, false, nil
}

// formatTimespan prints d the way systemd does ("1min 30s", "100ms", "infinity" for inf).
func formatTimespan(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	parts := []struct {
		name string
		d    time.Duration
	}{{"y", 31557600 * time.Second}, {"month", 2629800 * time.Second}, {"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"min", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}, {"us", time.Microsecond}}
	var out []string
	for _, p := range parts {
		if d >= p.d {
			n := d / p.d
			d -= n * p.d
			out = append(out, fmt.Sprintf("%d%s", n, p.name))
		}
	}
	return strings.Join(out, " ")
}

// signalNames maps signal names (without SIG) to numbers on Linux.
func signalByName(n string) (syscall.Signal, bool) {
	switch n {
	case "HUP":
		return syscall.SIGHUP, true
	case "INT":
		return syscall.SIGINT, true
	case "QUIT":
		return syscall.SIGQUIT, true
	case "ILL":
		return syscall.SIGILL, true
	case "TRAP":
		return syscall.SIGTRAP, true
	case "ABRT", "IOT":
		return syscall.SIGABRT, true
	case "BUS":
		return syscall.SIGBUS, true
	case "FPE":
		return syscall.SIGFPE, true
	case "KILL":
		return syscall.SIGKILL, true
	case "USR1":
		return syscall.SIGUSR1, true
	case "SEGV":
		return syscall.SIGSEGV, true
	case "USR2":
		return syscall.SIGUSR2, true
	case "PIPE":
		return syscall.SIGPIPE, true
	case "ALRM":
		return syscall.SIGALRM, true
	case "TERM":
		return syscall.SIGTERM, true
	case "STKFLT":
		return syscall.Signal(16), true
	case "CHLD":
		return syscall.SIGCHLD, true
	case "CONT":
		return syscall.SIGCONT, true
	case "STOP":
		return syscall.SIGSTOP, true
	case "TSTP":
		return syscall.SIGTSTP, true
	case "TTIN":
		return syscall.SIGTTIN, true
	case "TTOU":
		return syscall.SIGTTOU, true
	case "URG":
		return syscall.SIGURG, true
	case "XCPU":
		return syscall.SIGXCPU, true
	case "XFSZ":
		return syscall.SIGXFSZ, true
	case "VTALRM":
		return syscall.SIGVTALRM, true
	case "PROF":
		return syscall.SIGPROF, true
	case "WINCH":
		return syscall.SIGWINCH, true
	case "IO", "POLL":
		return syscall.SIGIO, true
	case "PWR":
		return syscall.SIGPWR, true
	case "SYS":
		return syscall.SIGSYS, true
	}
	return 0, false
}

// parseSignal accepts "SIGTERM", "TERM", "15", "SIGRTMIN+3" and "RTMIN+3".
func parseSignal(s string) (syscall.Signal, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("signal number %d is out of range 1..64", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(s, "SIG")
	if sig, ok := signalByName(name); ok {
		return sig, nil
	}
	const rtmin, rtmax = 34, 64
	if strings.HasPrefix(name, "RTMIN") {
		off := 0
		if rest := strings.TrimPrefix(name, "RTMIN"); rest != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(rest, "+"))
			if err != nil || !strings.HasPrefix(rest, "+") {
				return 0, fmt.Errorf("%q is not a signal", s)
			}
			off = n
		}
		if rtmin+off > rtmax {
			return 0, fmt.Errorf("%q is beyond SIGRTMAX", s)
		}
		return syscall.Signal(rtmin + off), nil
	}
	if strings.HasPrefix(name, "RTMAX") {
		off := 0
		if rest := strings.TrimPrefix(name, "RTMAX"); rest != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(rest, "-"))
			if err != nil || !strings.HasPrefix(rest, "-") {
				return 0, fmt.Errorf("%q is not a signal", s)
			}
			off = n
		}
		if rtmax-off < rtmin {
			return 0, fmt.Errorf("%q is below SIGRTMIN", s)
		}
		return syscall.Signal(rtmax - off), nil
	}
	return 0, fmt.Errorf("%q is not a signal (write e.g. SIGTERM, TERM or 15)", s)
}

// limitItem maps a Limit*= directive to the limits.conf item name and how its value is read.
func limitItem(directive string) (item string, kind byte, ok bool) {
	// kind: 'b' bytes (size suffixes), 'n' plain number, 't' seconds (cpu), 'u' usec (rttime), 'i' nice
	switch directive {
	case "LimitCPU":
		return "cpu", 't', true
	case "LimitFSIZE":
		return "fsize", 'b', true
	case "LimitDATA":
		return "data", 'b', true
	case "LimitSTACK":
		return "stack", 'b', true
	case "LimitCORE":
		return "core", 'b', true
	case "LimitRSS":
		return "rss", 'b', true
	case "LimitNOFILE":
		return "nofile", 'n', true
	case "LimitAS":
		return "as", 'b', true
	case "LimitNPROC":
		return "nproc", 'n', true
	case "LimitMEMLOCK":
		return "memlock", 'b', true
	case "LimitLOCKS":
		return "locks", 'n', true
	case "LimitSIGPENDING":
		return "sigpending", 'n', true
	case "LimitMSGQUEUE":
		return "msgqueue", 'b', true
	case "LimitNICE":
		return "nice", 'i', true
	case "LimitRTPRIO":
		return "rtprio", 'n', true
	case "LimitRTTIME":
		return "rttime", 'u', true
	}
	return "", 0, false
}

// parseSize parses a byte size with optional base-1024 suffix K, M, G, T, P, E.
func parseSize(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	mult := uint64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		case 'T', 't':
			mult = 1 << 40
		case 'P', 'p':
			mult = 1 << 50
		case 'E', 'e':
			mult = 1 << 60
		case 'B', 'b':
		}
		if mult != 1 || s[len(s)-1] == 'B' || s[len(s)-1] == 'b' {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (write e.g. 16384, 64K, 8M or infinity)", s)
	}
	if mult != 1 && n > Infinity/mult {
		return 0, fmt.Errorf("%q overflows", s)
	}
	return n * mult, nil
}

func parseLimitValue(s string, kind byte) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "infinity" {
		return Infinity, nil
	}
	switch kind {
	case 'b':
		return parseSize(s)
	case 't', 'u':
		def := time.Second
		if kind == 'u' {
			def = time.Microsecond
		}
		d, inf, err := parseTimespanDefault(s, def)
		if err != nil {
			return 0, err
		}
		if inf {
			return Infinity, nil
		}
		if kind == 'u' {
			return uint64(d / time.Microsecond), nil
		}
		return uint64((d + time.Second - 1) / time.Second), nil
	case 'i':
		// "+N"/"-N" is a nice level; a bare number is the raw rlimit (20 - nice).
		if strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
			n, err := strconv.Atoi(s)
			if err != nil || n < -20 || n > 19 {
				return 0, fmt.Errorf("%q is not a nice level -20..19", s)
			}
			return uint64(20 - n), nil
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n > 40 {
			return 0, fmt.Errorf("%q is not a nice limit 0..40 (or a level -20..+19)", s)
		}
		return n, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number or infinity", s)
	}
	return n, nil
}

// parseRlimit parses "soft:hard" or a single value for both.
func parseRlimit(s string, kind byte) (Rlimit, error) {
	soft, hard, two := strings.Cut(s, ":")
	sv, err := parseLimitValue(soft, kind)
	if err != nil {
		return Rlimit{}, err
	}
	if !two {
		return Rlimit{Soft: sv, Hard: sv}, nil
	}
	hv, err := parseLimitValue(hard, kind)
	if err != nil {
		return Rlimit{}, err
	}
	if sv > hv {
		return Rlimit{}, fmt.Errorf("soft limit %q is above hard limit %q", soft, hard)
	}
	return Rlimit{Soft: sv, Hard: hv}, nil
}

func parseMode(s string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 8, 32)
	if err != nil || n > 0o7777 {
		return 0, fmt.Errorf("%q is not an octal mode like 0755", s)
	}
	return uint32(n), nil
}

const syscallENOTDIR = syscall.ENOTDIR

// exitStatuses parses "0 1 SIGKILL 255" into statuses and signals.
func exitStatuses(v string, codes *[]int, sigs *[]syscall.Signal) error {
	for _, w := range strings.Fields(v) {
		if n, err := strconv.Atoi(w); err == nil {
			if n < 0 || n > 255 {
				return fmt.Errorf("exit status %d is out of range 0..255", n)
			}
			*codes = append(*codes, n)
			continue
		}
		if n, ok := exitStatusName(w); ok {
			*codes = append(*codes, n)
			continue
		}
		sig, err := parseSignal(w)
		if err != nil {
			return fmt.Errorf("%q is neither an exit status nor a signal", w)
		}
		*sigs = append(*sigs, sig)
	}
	return nil
}

// exitStatusName maps the exit status names systemd accepts (LSB and BSD
// sysexits.h) to numbers.
func exitStatusName(n string) (int, bool) {
	switch n {
	case "SUCCESS":
		return 0, true
	case "FAILURE":
		return 1, true
	case "INVALIDARGUMENT":
		return 2, true
	case "NOTIMPLEMENTED":
		return 3, true
	case "NOPERMISSION":
		return 4, true
	case "NOTINSTALLED":
		return 5, true
	case "NOTCONFIGURED":
		return 6, true
	case "NOTRUNNING":
		return 7, true
	case "USAGE":
		return 64, true
	case "DATAERR":
		return 65, true
	case "NOINPUT":
		return 66, true
	case "NOUSER":
		return 67, true
	case "NOHOST":
		return 68, true
	case "UNAVAILABLE":
		return 69, true
	case "SOFTWARE":
		return 70, true
	case "OSERR":
		return 71, true
	case "OSFILE":
		return 72, true
	case "CANTCREAT":
		return 73, true
	case "IOERR":
		return 74, true
	case "TEMPFAIL":
		return 75, true
	case "PROTOCOL":
		return 76, true
	case "NOPERM":
		return 77, true
	case "CONFIG":
		return 78, true
	case "EXCEPTION":
		return 255, true
	}
	return 0, false
}

func sortedUnique(in []string) []string {
	if len(in) < 2 {
		return in
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	u := out[:1]
	for _, x := range out[1:] {
		if x != u[len(u)-1] {
			u = append(u, x)
		}
	}
	return u
}
