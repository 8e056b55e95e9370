package limits

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Ulimit is one resource limit as setrlimit(2) takes it: the soft limit
// processes start with and the hard limit the soft one may be raised to.
// Nobody inside a container can raise a hard limit (it lacks
// CAP_SYS_RESOURCE), so the hard limit given at create is the container's
// ceiling, as the kernel's is a VM's. Unlimited is RLIM_INFINITY.
type Ulimit struct {
	Soft, Hard uint64
}

// Unlimited is RLIM_INFINITY.
const Unlimited uint64 = math.MaxUint64

// The rules of each ulimit (see CheckUlimit).
const (
	// MinNofile is the smallest open-files limit: supervisord, sshd and a
	// login shell need a few dozen descriptors between them.
	MinNofile uint64 = 64
	// MaxNofile is the kernel's largest fs.nr_open (the limit on
	// RLIMIT_NOFILE); the host's own nr_open is checked by HostUlimits.
	MaxNofile uint64 = 1 << 30
	// MinNproc is the smallest processes limit (RLIMIT_NPROC counts the
	// uid's processes on the whole host, see the package doc).
	MinNproc uint64 = 16
	// MinStack is the smallest stack limit: glibc programs crash below it.
	MinStack uint64 = 128 << 10
)

const ulimitFix = "write NAME=SOFT:HARD or NAME=VALUE (both), NAME one of nofile, nproc, memlock, core, stack; " +
	"a value is a number, \"unlimited\" (or -1), and for memlock, core and stack a size in bytes like 64M"

// ulimitKind is one limit --ulimit takes.
type ulimitKind struct {
	name   string // as --ulimit and limits.conf spell it
	rlimit string // the OCI spec's type
	bytes  bool   // a size (memlock, core, stack) rather than a count
}

// ulimitKinds are the limits --ulimit takes, in the order they are shown.
func ulimitKinds() []ulimitKind {
	return []ulimitKind{
		{"nofile", "RLIMIT_NOFILE", false},
		{"nproc", "RLIMIT_NPROC", false},
		{"memlock", "RLIMIT_MEMLOCK", true},
		{"core", "RLIMIT_CORE", true},
		{"stack", "RLIMIT_STACK", true},
	}
}

func kindOf(name string) (ulimitKind, bool) {
	for _, k := range ulimitKinds() {
		if k.name == name {
			return k, true
		}
	}
	return ulimitKind{}, false
}

// UlimitNames are the names --ulimit takes, in a fixed order: nofile,
// nproc, memlock, core, stack.
func UlimitNames() []string {
	var ns []string
	for _, k := range ulimitKinds() {
		ns = append(ns, k.name)
	}
	return ns
}

// RlimitType is the OCI spec's type of a ulimit name ("nofile" is
// "RLIMIT_NOFILE"); false for a name --ulimit does not take.
func RlimitType(name string) (string, bool) {
	k, ok := kindOf(name)
	return k.rlimit, ok
}

// DefaultUlimits are the limits a container gets for what --ulimit leaves
// out, before HostUlimits.Cap lowers them to what the host allows. They let
// the usual limits.conf entries of Java and database hosts work
// (nofile 65535, nproc unlimited, memlock unlimited): nofile 65536:65536;
// nproc and memlock unlimited (the pids cgroup caps a container at 4096
// tasks and the memory cgroup caps what it can lock); core 0:unlimited and
// stack 8M:unlimited, a Debian VM's.
func DefaultUlimits() map[string]Ulimit {
	return map[string]Ulimit{
		"nofile":  {65536, 65536},
		"nproc":   {Unlimited, Unlimited},
		"memlock": {Unlimited, Unlimited},
		"core":    {0, Unlimited},
		"stack":   {8 << 20, Unlimited},
	}
}

// ParseUlimit reads one --ulimit: "nofile=65536:65536", "nofile=65536"
// (soft and hard), "memlock=unlimited", "core=0:unlimited",
// "stack=8M:unlimited", "nproc=-1" (docker's unlimited). Counts (nofile,
// nproc) are plain numbers; memlock, core and stack are bytes, written
// plain or with a binary unit (K, M, G, T as ParseSize reads them), as
// docker's --ulimit takes bytes (note: `ulimit -l` and limits.conf count
// memlock and stack in KiB). The result is checked with CheckUlimit.
func ParseUlimit(field, s string) (string, Ulimit, error) {
	v := strconv.Quote(s)
	name, val, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok || name == "" || val == "" {
		return "", Ulimit{}, invalid(field, v, "not NAME=VALUE", ulimitFix)
	}
	name = strings.ToLower(strings.TrimSpace(name))
	k, ok := kindOf(name)
	if !ok {
		return "", Ulimit{}, invalid(field, v, fmt.Sprintf("unknown limit %q", name), ulimitFix)
	}
	softS, hardS, both := strings.Cut(val, ":")
	if !both {
		hardS = softS
	}
	soft, err := parseUlimitValue(field, v, k, softS)
	if err != nil {
		return "", Ulimit{}, err
	}
	hard, err := parseUlimitValue(field, v, k, hardS)
	if err != nil {
		return "", Ulimit{}, err
	}
	u := Ulimit{Soft: soft, Hard: hard}
	return name, u, CheckUlimit(field, name, u)
}

func parseUlimitValue(field, v string, k ulimitKind, s string) (uint64, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "unlimited", "infinity", "-1":
		return Unlimited, nil
	case "0":
		return 0, nil
	case "":
		return 0, invalid(field, v, "an empty value", ulimitFix)
	}
	if !k.bytes {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == Unlimited {
			return 0, invalid(field, v, fmt.Sprintf("%s takes a whole number, %q is not one", k.name, s), ulimitFix)
		}
		return n, nil
	}
	n, err := ParseSize(field, s)
	if err != nil {
		return 0, invalid(field, v, fmt.Sprintf("%s takes a size in bytes, %q is not one", k.name, s), ulimitFix)
	}
	return uint64(n), nil
}

// CheckUlimit applies a limit's rules: a name --ulimit takes, soft at most
// hard, nofile between MinNofile and MaxNofile (never unlimited: the kernel
// refuses more than fs.nr_open), nproc at least MinNproc, stack at least
// MinStack. What the host allows is HostUlimits.Check's.
func CheckUlimit(field, name string, u Ulimit) error {
	v := strconv.Quote(name + "=" + FormatUlimit(name, u))
	if _, ok := kindOf(name); !ok {
		return invalid(field, strconv.Quote(name), "unknown limit", ulimitFix)
	}
	if u.Soft > u.Hard {
		return invalid(field, v, "the soft limit is above the hard limit", "give SOFT:HARD with SOFT at most HARD, or one value for both")
	}
	atLeast := func(min uint64, what string) error {
		if u.Soft < min {
			return invalid(field, v, fmt.Sprintf("%s below %s (%s)", name, FormatUlimitValue(name, min), what), fmt.Sprintf("give at least %s", FormatUlimitValue(name, min)))
		}
		return nil
	}
	switch name {
	case "nofile":
		if u.Hard > MaxNofile {
			return invalid(field, v, fmt.Sprintf("nofile above %d (the kernel's largest fs.nr_open; it cannot be unlimited)", MaxNofile), "give a number like 65536 or 1048576")
		}
		return atLeast(MinNofile, "supervisord, sshd and a shell need a few dozen descriptors")
	case "nproc":
		return atLeast(MinNproc, "a login needs a few processes")
	case "stack":
		return atLeast(MinStack, "programs crash with less stack")
	}
	return nil
}

// FormatUlimit writes a limit back the way ParseUlimit reads it:
// "65536:65536", "unlimited" when soft and hard are both unlimited,
// "0:unlimited", "8M:unlimited".
func FormatUlimit(name string, u Ulimit) string {
	if u.Soft == u.Hard {
		return FormatUlimitValue(name, u.Soft)
	}
	return FormatUlimitValue(name, u.Soft) + ":" + FormatUlimitValue(name, u.Hard)
}

// FormatUlimitValue writes one value: "unlimited", a count, or for memlock,
// core and stack bytes in the largest binary unit that is exact ("8M",
// "64K", "1000").
func FormatUlimitValue(name string, n uint64) string {
	if n == Unlimited {
		return "unlimited"
	}
	if k, ok := kindOf(name); ok && k.bytes && n > 0 {
		for _, u := range []struct {
			suffix string
			shift  uint
		}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}} {
			if n%(1<<u.shift) == 0 {
				return strconv.FormatUint(n>>u.shift, 10) + u.suffix
			}
		}
	}
	return strconv.FormatUint(n, 10)
}

// FormatUlimits writes a set of limits in UlimitNames order, one
// "name=value" each: "nofile=65536 nproc=unlimited ...".
func FormatUlimits(us map[string]Ulimit) string {
	var parts []string
	for _, n := range sortedUlimitNames(us) {
		parts = append(parts, n+"="+FormatUlimit(n, us[n]))
	}
	return strings.Join(parts, " ")
}

// sortedUlimitNames are the keys of us in UlimitNames order (unknown
// names last, sorted).
func sortedUlimitNames(us map[string]Ulimit) []string {
	rank := map[string]int{}
	for i, n := range UlimitNames() {
		rank[n] = i + 1
	}
	var ns []string
	for n := range us {
		ns = append(ns, n)
	}
	sort.Slice(ns, func(i, j int) bool {
		ri, rj := rank[ns[i]], rank[ns[j]]
		if ri == 0 {
			ri = len(rank) + 1
		}
		if rj == 0 {
			rj = len(rank) + 1
		}
		if ri != rj {
			return ri < rj
		}
		return ns[i] < ns[j]
	})
	return ns
}
