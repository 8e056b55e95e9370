package units

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// LimitRule is one line of /etc/security/limits.conf or limits.d/*.conf.
type LimitRule struct {
	Domain string // "alice", "@group", "*", "1000:", "1000:2000", ":999"
	Type   string // "soft", "hard" or "-" (both)
	Item   string // "nofile", "nproc", ... (also maxlogins etc, which LimitsFor ignores); "" for "<domain> -"
	Value  string // as written: a number, "unlimited", "infinity" or "-1"
	File   string
	Line   int
}

// Unchanged marks a side of an Rlimit that no rule sets (LimitsFor sets
// only the hard limit for a "hard" line); Rlimit.Over fills it from the
// current limit.
const Unchanged = Infinity - 1

// Over returns r with Unchanged sides taken from cur and the soft limit
// lowered to the hard one if it is above it (as pam_limits does).
func (r Rlimit) Over(cur Rlimit) Rlimit {
	if r.Soft == Unchanged {
		r.Soft = cur.Soft
	}
	if r.Hard == Unchanged {
		r.Hard = cur.Hard
	}
	if r.Soft > r.Hard {
		r.Soft = r.Hard
	}
	return r
}

// pamItem reports limits.conf items that are resource limits and how their
// value is scaled: 'k' KiB → bytes, 'm' minutes → seconds, 'i' nice, 'n' as is.
func pamItem(item string) (scale byte, ok bool) {
	switch item {
	case "core", "data", "fsize", "memlock", "rss", "stack", "as":
		return 'k', true
	case "cpu":
		return 'm', true
	case "nice":
		return 'i', true
	case "nofile", "nproc", "locks", "sigpending", "msgqueue", "rtprio":
		return 'n', true
	}
	return 0, false
}

func pamOtherItem(item string) bool {
	switch item {
	case "maxlogins", "maxsyslogins", "nonewprivs", "priority", "chroot":
		return true
	}
	return false
}

// pamValue converts a limits.conf value to an rlimit value.
func pamValue(item, v string) (uint64, error) {
	scale, _ := pamItem(item)
	if scale != 'i' && (v == "unlimited" || v == "infinity" || v == "-1" || v == "-") {
		return Infinity, nil
	}
	if scale == 'i' {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("nice value %q is not a number -20..19", v)
		}
		n = max(-20, min(19, n))
		return uint64(20 - n), nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("value %q is not a number, unlimited or -1", v)
	}
	switch scale {
	case 'k':
		if n > Infinity/1024 {
			return Infinity, nil
		}
		n *= 1024
	case 'm':
		n *= 60
	}
	return n, nil
}

// ParseLimitsConf parses a pam_limits file: "<domain> <type> <item>
// <value>" lines, "#" comments. Lines pam_limits would skip are reported in
// the error (one per line, joined), and the valid rules are returned with it.
func ParseLimitsConf(r io.Reader, file string) ([]LimitRule, error) {
	var (
		out  []LimitRule
		errs []error
		n    int
	)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		n++
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(why string, args ...any) {
			errs = append(errs, fmt.Errorf("%s:%d: %s (see limits.conf(5))", file, n, fmt.Sprintf(why, args...)))
		}
		if len(f) == 2 && f[1] == "-" {
			// "<domain> -": no limits at all for a matching user.
			out = append(out, LimitRule{Domain: f[0], Type: "-", File: file, Line: n})
			continue
		}
		if len(f) != 4 {
			bad("want <domain> <type> <item> <value>, got %d fields", len(f))
			continue
		}
		rule := LimitRule{Domain: f[0], Type: strings.ToLower(f[1]), Item: strings.ToLower(f[2]), Value: strings.ToLower(f[3]), File: file, Line: n}
		switch rule.Type {
		case "soft", "hard", "-":
		default:
			bad("type %q is not soft, hard or -", rule.Type)
			continue
		}
		if _, ok := pamItem(rule.Item); ok {
			if _, err := pamValue(rule.Item, rule.Value); err != nil {
				bad("%s: %v", rule.Item, err)
				continue
			}
		} else if !pamOtherItem(rule.Item) {
			bad("unknown item %q", rule.Item)
			continue
		}
		out = append(out, rule)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("read %q: %w", file, err))
	}
	return out, errors.Join(errs...)
}

// LimitRules reads /etc/security/limits.conf, then
// /etc/security/limits.d/*.conf in name order, as pam_limits does. Missing
// files are fine; invalid lines are reported in the error alongside the
// valid rules.
func (l Loader) LimitRules() ([]LimitRule, error) {
	r := l.fs()
	files := []string{"/etc/security/limits.conf"}
	es, err := r.readDir("/etc/security/limits.d")
	if err != nil {
		return nil, fmt.Errorf("list /etc/security/limits.d: %w", err)
	}
	var names []string
	for _, e := range es {
		if strings.HasSuffix(e.Name(), ".conf") && !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		files = append(files, path.Join("/etc/security/limits.d", n))
	}
	var (
		out  []LimitRule
		errs []error
	)
	for _, f := range files {
		b, err := r.readFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %q: %w", f, err)
		}
		rules, err := ParseLimitsConf(strings.NewReader(string(b)), f)
		out = append(out, rules...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// pam_limits priorities: a lower number wins; among equal ones the later line wins.
const (
	prioUser = iota
	prioGroup
	prioDefault
	prioNone
)

// LimitUser is who a login is for: pam_limits matches limits.conf domains
// against the name, the uid (uid ranges), the group names (@group) and the
// gids (@gid ranges: the primary gid, or any gid for "@:gid").
type LimitUser struct {
	Name   string
	UID    int
	GID    int      // primary group id
	Groups []string // names of all groups, primary included
	GIDs   []int    // ids of all groups, primary included
}

// parseRange parses "min:max", "min:" and ":id" (after any @); one is set for ":id".
func parseRange(s string) (lo, hi int, one, ok bool) {
	a, b, _ := strings.Cut(s, ":")
	var err error
	hi = int(^uint(0) >> 1)
	switch {
	case a == "" && b == "":
		return 0, 0, false, false
	case a == "":
		if hi, err = strconv.Atoi(b); err != nil {
			return 0, 0, false, false
		}
		return hi, hi, true, true
	}
	if lo, err = strconv.Atoi(a); err != nil {
		return 0, 0, false, false
	}
	if b != "" {
		if hi, err = strconv.Atoi(b); err != nil {
			return 0, 0, false, false
		}
	}
	return lo, hi, false, true
}

// matchDomain returns how a rule's domain applies to u, as Debian's
// pam_limits decides it: the user's name and uid ranges count as the user;
// @group and @gid ranges as a group; "*" as the default. Debian does not
// apply "*" and @group (by name) to root; uid and gid ranges it does.
// forNoLimits matches the two-field "<domain> -" lines, which have no
// root exception and ignore "*".
func matchDomain(domain string, u LimitUser, forNoLimits bool) int {
	switch {
	case domain == u.Name:
		return prioUser
	case domain == "*":
		if u.UID == 0 || forNoLimits {
			return prioNone
		}
		return prioDefault
	case strings.HasPrefix(domain, "%"):
		return prioNone // maxlogins only
	case strings.HasPrefix(domain, "@") && strings.Contains(domain, ":"):
		lo, hi, one, ok := parseRange(domain[1:])
		if !ok {
			return prioNone
		}
		if one {
			for _, g := range u.GIDs {
				if g == hi {
					return prioGroup
				}
			}
			return prioNone
		}
		if u.GID >= lo && u.GID <= hi {
			return prioGroup
		}
		return prioNone
	case strings.HasPrefix(domain, "@"):
		if u.UID == 0 && !forNoLimits {
			return prioNone
		}
		for _, g := range u.Groups {
			if g == domain[1:] {
				return prioGroup
			}
		}
		return prioNone
	case strings.Contains(domain, ":"):
		lo, hi, _, ok := parseRange(domain)
		if ok && u.UID >= lo && u.UID <= hi {
			return prioUser
		}
	}
	return prioNone
}

// LimitsFor computes the limits pam_limits would set at a login of user
// (uid, groups by name); see LimitsForUser, which also matches gid ranges.
func LimitsFor(rules []LimitRule, user string, uid int, groups []string) map[string]Rlimit {
	return LimitsForUser(rules, LimitUser{Name: user, UID: uid, GID: -1, Groups: groups})
}

// LimitsForUser computes the limits Debian's pam_limits sets at a login of
// u from rules in file order: an entry for the user (or a uid range) beats
// a group beats "*", later lines win among equals; "*" and @group do not
// apply to root. Values are converted to rlimit units (KiB items to bytes,
// cpu minutes to seconds, nice to 20-nice). A side no rule sets is
// Unchanged: combine with the current limit through Rlimit.Over. A
// matching "<domain> -" line means no limits at all: the result is nil.
// nofile "unlimited" is Infinity; pam_limits uses /proc/sys/fs/nr_open
// instead (Loader.LimitsForUser does that).
func LimitsForUser(rules []LimitRule, u LimitUser) map[string]Rlimit {
	type side struct {
		v    uint64
		prio int
	}
	soft, hard := map[string]side{}, map[string]side{}
	for _, r := range rules {
		if r.Item == "" {
			if matchDomain(r.Domain, u, true) != prioNone {
				return nil
			}
			continue
		}
		if _, ok := pamItem(r.Item); !ok {
			continue
		}
		p := matchDomain(r.Domain, u, false)
		if p == prioNone {
			continue
		}
		v, err := pamValue(r.Item, r.Value)
		if err != nil {
			continue
		}
		set := func(m map[string]side) {
			if cur, ok := m[r.Item]; !ok || p <= cur.prio {
				m[r.Item] = side{v, p}
			}
		}
		if r.Type == "soft" || r.Type == "-" {
			set(soft)
		}
		if r.Type == "hard" || r.Type == "-" {
			set(hard)
		}
	}
	out := map[string]Rlimit{}
	for item, s := range soft {
		out[item] = Rlimit{Soft: s.v, Hard: Unchanged}
	}
	for item, h := range hard {
		rl, ok := out[item]
		if !ok {
			rl.Soft = Unchanged
		}
		rl.Hard = h.v
		out[item] = rl
	}
	return out
}

// LimitsForUser reads the limits.conf rules under Root and computes u's
// limits (LimitsForUser), with nofile "unlimited" replaced by
// <Root>/proc/sys/fs/nr_open as pam_limits does. Invalid lines are
// reported in the error alongside the result.
func (l Loader) LimitsForUser(u LimitUser) (map[string]Rlimit, error) {
	rules, err := l.LimitRules()
	out := LimitsForUser(rules, u)
	if rl, ok := out["nofile"]; ok && (rl.Soft == Infinity || rl.Hard == Infinity) {
		if n, perr := strconv.ParseUint(firstLineOf(l.fs(), "/proc/sys/fs/nr_open"), 10, 64); perr == nil {
			if rl.Soft == Infinity {
				rl.Soft = n
			}
			if rl.Hard == Infinity {
				rl.Hard = n
			}
			out["nofile"] = rl
		}
	}
	return out, err
}
