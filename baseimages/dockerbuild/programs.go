package dockerbuild

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/fatbox/fatbox/baseimages"
)

// ProgramDir is where generated Dockerfiles COPY supervisord program files.
const ProgramDir = "/etc/supervisor/conf.d"

var (
	progNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	envKeyRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// ParsePrograms reads the [program:NAME] sections of one supervisord INI
// file into fatbox programs. Keys fatbox renders itself (logs, restart)
// are accepted with the values it uses; any other key or value is an
// error naming the file, the line and what to write instead.
func ParsePrograms(file string, b []byte) ([]baseimages.Program, error) {
	var out []baseimages.Program
	var cur *baseimages.Program
	sc := bufio.NewScanner(bytes.NewReader(b))
	ln := 0
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s line %d: %s: %w", file, ln, fmt.Sprintf(format, args...), ErrInvalid)
	}
	for sc.Scan() {
		ln++
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == ';' || l[0] == '#' {
			continue
		}
		if strings.HasPrefix(l, "[") {
			sec := strings.TrimSuffix(strings.TrimPrefix(l, "["), "]")
			name, ok := strings.CutPrefix(sec, "program:")
			if !ok || !strings.HasSuffix(l, "]") {
				return nil, bad("section %s is not supported: a file in %s holds [program:NAME] sections only", l, ProgramDir)
			}
			if !progNameRE.MatchString(name) {
				return nil, bad("program name %q: use letters, digits, '.', '_' or '-'", name)
			}
			out = append(out, baseimages.Program{Name: name, Autostart: true})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			return nil, bad("%q is outside a [program:NAME] section", l)
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return nil, bad("%q is not KEY=VALUE", l)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if i := strings.Index(v, " ;"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		if strings.ContainsAny(v, "\r\n") {
			return nil, bad("%s spans lines", k)
		}
		switch k {
		case "command":
			cur.Command = v
		case "directory":
			if !filepath.IsAbs(v) {
				return nil, bad("directory=%s must be an absolute path", v)
			}
			cur.Directory = v
		case "user":
			cur.User = v
		case "autostart":
			bv, err := strconv.ParseBool(v)
			if err != nil {
				return nil, bad("autostart=%s: use true or false", v)
			}
			cur.Autostart = bv
		case "priority":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 999 {
				return nil, bad("priority=%s: use 1-999", v)
			}
			cur.Priority = n
		case "stopwaitsecs":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, bad("stopwaitsecs=%s: use a number of seconds", v)
			}
			cur.StopWaitSecs = n
		case "environment":
			env, err := parseEnvironment(v)
			if err != nil {
				return nil, bad("environment: %v", err)
			}
			cur.Environment = env
		// What fatbox renders for every program: accepted with that value only.
		case "autorestart", "redirect_stderr", "stopsignal", "numprocs", "stdout_logfile", "process_name", "startsecs", "startretries":
			want := map[string][]string{"autorestart": {"true"}, "redirect_stderr": {"true"}, "stopsignal": {"TERM"},
				"numprocs": {"1"}, "stdout_logfile": {"/var/log/supervisor/" + cur.Name + ".log"}, "process_name": {"%(program_name)s"}}[k]
			if want == nil { // startsecs, startretries: supervisord's defaults are kept
				continue
			}
			if !strings.EqualFold(v, want[0]) {
				return nil, bad("%s=%s is not supported: fatbox runs every program with %s=%s (logs in /var/log/supervisor/NAME.log); remove the line", k, v, k, want[0])
			}
		default:
			return nil, bad("key %q is not supported: fatbox honours command, directory, user, autostart, priority, environment and stopwaitsecs; remove it", k)
		}
	}
	for _, p := range out {
		if strings.TrimSpace(p.Command) == "" {
			return nil, fmt.Errorf("%s: [program:%s] has no command=: %w", file, p.Name, ErrInvalid)
		}
	}
	return out, nil
}

// parseEnvironment reads supervisord's KEY="value",KEY2=value2.
func parseEnvironment(s string) (map[string]string, error) {
	env := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; {
		k, rest, ok := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		if !ok || !envKeyRE.MatchString(k) {
			return nil, fmt.Errorf("%q: write KEY=\"value\",KEY2=\"value\"", s)
		}
		rest = strings.TrimSpace(rest)
		var v string
		if strings.HasPrefix(rest, `"`) || strings.HasPrefix(rest, `'`) {
			q := rest[0]
			end := strings.IndexByte(rest[1:], q)
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", rest)
			}
			v, rest = rest[1:1+end], rest[2+end:]
		} else {
			v, rest, _ = strings.Cut(rest, ",")
			rest = "," + rest
		}
		env[k] = strings.TrimSpace(v)
		rest = strings.TrimSpace(rest)
		if rest != "" && rest[0] != ',' {
			return nil, fmt.Errorf("expected ',' before %q", rest)
		}
		s = strings.TrimSpace(strings.TrimPrefix(rest, ","))
	}
	return env, nil
}

// programsIn parses every *.conf in rootfs's ProgramDir, sorted by file name.
func programsIn(rootfs string) ([]baseimages.Program, error) {
	dir, err := resolveIn(rootfs, ProgramDir)
	if err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.conf"))
	sort.Strings(files)
	var out []baseimages.Program
	seen := map[string]string{}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > 1<<20 {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		rel := filepath.Join(ProgramDir, filepath.Base(f))
		ps, err := ParsePrograms(rel, b)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if prev, ok := seen[p.Name]; ok {
				return nil, fmt.Errorf("program %q is defined in %s and %s: keep one: %w", p.Name, prev, rel, ErrInvalid)
			}
			seen[p.Name] = rel
		}
		out = append(out, ps...)
	}
	return out, nil
}
