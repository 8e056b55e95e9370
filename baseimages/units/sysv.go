package units

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LSB is the LSB header ("### BEGIN INIT INFO") of an init script.
type LSB struct {
	Provides                      []string
	RequiredStart, RequiredStop   []string
	ShouldStart, ShouldStop       []string
	DefaultStart, DefaultStop     []int // runlevels 0-6
	SysInit                       bool  // Default-Start lists S (rcS.d)
	ShortDescription, Description string
}

// ParseLSB reads the LSB header of an init script; a script without one
// yields the zero LSB.
func ParseLSB(r io.Reader) LSB {
	var (
		l       LSB
		in      bool
		lastKey string
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		switch {
		case strings.HasPrefix(line, "### BEGIN INIT INFO"):
			in = true
			continue
		case strings.HasPrefix(line, "### END INIT INFO"):
			return l
		case !in || !strings.HasPrefix(line, "#"):
			continue
		}
		body := line[1:]
		if (strings.HasPrefix(body, "\t") || strings.HasPrefix(body, "  ")) && lastKey == "Description" {
			l.Description = strings.TrimSpace(l.Description + " " + strings.TrimSpace(body))
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(body), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		lastKey = k
		switch k {
		case "Provides":
			l.Provides = strings.Fields(v)
		case "Required-Start":
			l.RequiredStart = strings.Fields(v)
		case "Required-Stop":
			l.RequiredStop = strings.Fields(v)
		case "Should-Start":
			l.ShouldStart = strings.Fields(v)
		case "Should-Stop":
			l.ShouldStop = strings.Fields(v)
		case "Default-Start":
			l.DefaultStart, l.SysInit = runlevels(v)
		case "Default-Stop":
			l.DefaultStop, _ = runlevels(v)
		case "Short-Description":
			l.ShortDescription = v
		case "Description":
			l.Description = v
		}
	}
	return l
}

func runlevels(v string) (levels []int, s bool) {
	for _, f := range strings.Fields(v) {
		if f == "S" || f == "s" {
			s = true
			continue
		}
		if n, err := strconv.Atoi(f); err == nil && n >= 0 && n <= 6 {
			levels = append(levels, n)
		}
	}
	return levels, s
}

// sysvIgnored reports /etc/init.d entries that are not service scripts.
func sysvIgnored(name string) bool {
	switch name {
	case "README", "skeleton", "rc", "rcS", "functions", "halt", "reboot", "single", "sendsigs", "killprocs":
		return true
	}
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".sh") || strings.Contains(name, ".dpkg-") ||
		strings.HasSuffix(name, "~") || strings.HasSuffix(name, ".ucf-old") || strings.HasSuffix(name, ".ucf-dist")
}

// sysvScript returns the script path for a .service name if /etc/init.d has an executable one.
func (l Loader) sysvScript(name string) (string, bool) {
	base, ok := strings.CutSuffix(name, ".service")
	if !ok || strings.Contains(base, "@") || sysvIgnored(base) {
		return "", false
	}
	p := path.Join("/etc/init.d", base)
	fi, err := l.fs().stat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return "", false
	}
	return p, true
}

// sysvScripts lists executable scripts in /etc/init.d that have no unit file of their name.
func (l Loader) sysvScripts() ([]string, error) {
	es, err := l.fs().readDir("/etc/init.d")
	if err != nil {
		return nil, fmt.Errorf("list /etc/init.d: %w", err)
	}
	var out []string
	for _, e := range es {
		n := e.Name()
		if _, ok := l.sysvScript(n + ".service"); !ok {
			continue
		}
		f, err := l.find(n + ".service")
		if err != nil {
			return nil, err
		}
		if f.file == "" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// hasReload reports whether an init script supports reload the way
// systemd-sysv-generator decides it: a line that is not a comment has a
// usage string listing reload ("{start|stop|reload}", "|reload|", ...).
func hasReload(script []byte) bool {
	for _, line := range strings.Split(string(script), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		l := strings.ToLower(t)
		for _, pat := range []string{"{reload|", "{reload}", "{reload\"", "|reload|", "|reload}", "|reload\""} {
			if strings.Contains(l, pat) {
				return true
			}
		}
	}
	return false
}

// sysvUnit synthesizes a unit for /etc/init.d/<name> as systemd-sysv-generator does.
func (l Loader) sysvUnit(name string) (*Unit, bool, error) {
	script, ok := l.sysvScript(name)
	if !ok {
		return nil, false, nil
	}
	data, err := l.fs().readFile(script)
	if err != nil {
		return nil, true, fmt.Errorf("read init script %q: %w", script, err)
	}
	lsb := ParseLSB(bytes.NewReader(data))
	b := newBuilder(name, l.specifiers(name, script))
	u := b.u
	u.SysV = true
	if lsb.ShortDescription != "" {
		u.Description = "LSB: " + lsb.ShortDescription
	}
	u.Documentation = []string{"man:systemd-sysv-generator(8)"}
	for _, p := range lsb.Provides {
		if a := p + ".service"; !strings.HasPrefix(p, "$") && a != name && validName(a) == nil {
			u.Aliases = append(u.Aliases, a)
		}
	}
	for _, lv := range lsb.DefaultStart {
		if lv >= 2 && lv <= 5 {
			u.WantedBy = []string{"multi-user.target"}
			break
		}
	}
	cmd := func(verb string) []Command {
		return []Command{{Argv: []string{script, verb}, Raw: script + " " + verb}}
	}
	s := &u.Service
	s.Type = "forking"
	s.ExecStart = cmd("start")
	s.ExecStop = cmd("stop")
	if hasReload(data) {
		s.ExecReload = cmd("reload")
	}
	s.RemainAfterExit = true
	s.GuessMainPID = false
	s.TimeoutStartSec = 5 * time.Minute
	s.TimeoutStopSec = 5 * time.Minute
	s.KillMode = "process"
	s.IgnoreSIGPIPE = false
	s.SendSIGKILL = true
	s.KillSignal = syscall.SIGTERM
	s.Environment = []string{"_SYSTEMCTL_SKIP_REDIRECT=1"}
	if bytes.Contains(data, []byte("### BEGIN INIT INFO")) {
		s.SuccessExitStatus = []int{5, 6} // LSB "not installed", "not configured"
	}
	b.typeSet = true
	if err := l.applyDropIns(b, name, ""); err != nil {
		return nil, true, err
	}
	if err := b.finish(); err != nil {
		return nil, true, err
	}
	return u, true, nil
}

// rcLinks lists /etc/rc?.d/[SK]NN<base> links: runlevel dir → link names.
func (l Loader) rcLinks(base string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, lv := range []string{"0", "1", "2", "3", "4", "5", "6", "S"} {
		dir := "/etc/rc" + lv + ".d"
		es, err := l.fs().readDir(dir)
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", dir, err)
		}
		for _, e := range es {
			n := e.Name()
			if len(n) == 3+len(base) && (n[0] == 'S' || n[0] == 'K') && isDigit(n[1]) && isDigit(n[2]) && n[3:] == base {
				out[lv] = append(out[lv], n)
			}
		}
	}
	return out, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// sysvEnabled reports whether an init script has an S link in runlevels 2-5.
func (l Loader) sysvEnabled(base string) (bool, error) {
	links, err := l.rcLinks(base)
	if err != nil {
		return false, err
	}
	for _, lv := range []string{"2", "3", "4", "5"} {
		for _, n := range links[lv] {
			if n[0] == 'S' {
				return true, nil
			}
		}
	}
	return false, nil
}

// SysVLinks computes the rc?.d link changes update-rc.d makes (Debian's
// insserv-less mode): enabling a script with no links creates S01<name> in
// each Default-Start runlevel and K01<name> in each Default-Stop one
// ("defaults"); with links present it renames K links to S links in the
// Default-Start runlevels. Disabling renames S links to K links, or creates
// K01 links everywhere when there are none ("defaults-disabled"). A rename
// is an "unlink" followed by a "symlink".
func (l Loader) SysVLinks(name string, enable bool) ([]Change, error) {
	name = normalizeName(name)
	script, ok := l.sysvScript(name)
	if !ok {
		return nil, fmt.Errorf("no executable init script for %q in /etc/init.d: %w", name, ErrNotFound)
	}
	base := path.Base(script)
	data, err := l.fs().readFile(script)
	if err != nil {
		return nil, fmt.Errorf("read init script %q: %w", script, err)
	}
	lsb := ParseLSB(bytes.NewReader(data))
	start := levelNames(lsb.DefaultStart, lsb.SysInit)
	if len(start) == 0 {
		return nil, fmt.Errorf("init script %q: Default-Start lists no runlevels; add an LSB header (### BEGIN INIT INFO) with Default-Start: 2 3 4 5", script)
	}
	links, err := l.rcLinks(base)
	if err != nil {
		return nil, err
	}
	target := "../init.d/" + base
	var out []Change
	if len(links) == 0 {
		sk := "S"
		if !enable {
			sk = "K"
		}
		for _, lv := range start {
			out = append(out, Change{Op: "symlink", Path: fmt.Sprintf("/etc/rc%s.d/%s01%s", lv, sk, base), Target: target})
		}
		for _, lv := range levelNames(lsb.DefaultStop, false) {
			out = append(out, Change{Op: "symlink", Path: fmt.Sprintf("/etc/rc%s.d/K01%s", lv, base), Target: target})
		}
		return out, nil
	}
	from, to := byte('K'), byte('S')
	if !enable {
		from, to = 'S', 'K'
	}
	for _, lv := range start {
		if lv != "S" && (lv < "2" || lv > "5") {
			continue
		}
		for _, n := range links[lv] {
			if n[0] != from {
				continue
			}
			old := fmt.Sprintf("/etc/rc%s.d/%s", lv, n)
			t, err := l.fs().readlink(old)
			if err != nil {
				t = target
			}
			out = append(out, Change{Op: "unlink", Path: old},
				Change{Op: "symlink", Path: fmt.Sprintf("/etc/rc%s.d/%c%s", lv, to, n[1:]), Target: t})
		}
	}
	return out, nil
}

func levelNames(levels []int, s bool) []string {
	var out []string
	if s {
		out = append(out, "S")
	}
	for _, lv := range levels {
		out = append(out, strconv.Itoa(lv))
	}
	return out
}
