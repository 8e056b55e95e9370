package appgen

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Options are the caller's inputs to the analysis.
type Options struct {
	// Name is the app's name: the directory under /opt, the system user
	// that runs it, the io.fatbox.app label. Required; see AppName.
	Name string
}

// Base images the generator writes FROM (fatbox image names).
const (
	BaseFat  = "debian12-fat"
	BaseJava = "debian12-java"
	BasePHP  = "debian12-php"
)

// Where things go in the image.
const (
	tomcatWebapps = "/var/lib/tomcat10/webapps"
	confDir       = "/etc/supervisor/conf.d"
	phpSock       = "/run/php/php8.2-fpm.sock"
)

var nameRe = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// AppName turns a file or directory name into an app name: lower case,
// letters, digits and '-', starting with a letter, at most 32 characters
// (a Unix user name and a label value).
func AppName(base string) string {
	base = strings.ToLower(base)
	for _, ext := range []string{".tar.gz", ".tgz", ".tar", ".zip", ".war", ".jar"} {
		base = strings.TrimSuffix(base, ext)
	}
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		s = "app-" + s
	}
	if len(s) > 32 {
		s = strings.TrimRight(s[:32], "-")
	}
	return s
}

// CheckName refuses an app name that cannot be a Unix user, an /opt
// directory and a label value.
func CheckName(name string) error {
	if !nameRe.MatchString(name) {
		return fmt.Errorf("app name %q: use lower-case letters, digits and '-', starting with a letter, at most 32 characters (--name)", name)
	}
	return nil
}

// phases order the Dockerfile: users, then files, then setup, then programs.
const (
	phaseUser = iota
	phaseFiles
	phaseSetup
	phasePrograms
	nPhases
)

// analysis is the state one Analyze call builds up.
type analysis struct {
	t            *tree
	app          string
	plan         *Plan
	steps        [nPhases][]Step
	ports        []Port
	pkgs         []Package
	users        []string
	appDir       string // /opt/<app>
	ownApp       bool   // the app's files are copied to appDir
	ignores      []string
	portsScanned []Port
	dirEv        *Evidence // why appDir is not /opt/<app>
}

func (a *analysis) step(phase int, ev []Evidence, format string, args ...any) {
	a.steps[phase] = append(a.steps[phase], Step{Instruction: fmt.Sprintf(format, args...), Evidence: ev})
}

func (a *analysis) pkg(name string, ev Evidence) {
	for _, p := range a.pkgs {
		if p.Name == name {
			return
		}
	}
	a.pkgs = append(a.pkgs, Package{Name: name, Evidence: ev})
}

func (a *analysis) port(n int, ev Evidence) {
	for i := range a.ports {
		if a.ports[i].Port == n {
			a.ports[i].Evidence = append(a.ports[i].Evidence, ev)
			return
		}
	}
	a.ports = append(a.ports, Port{Port: n, Evidence: []Evidence{ev}})
}

func (a *analysis) finding(ev Evidence, fix, format string, args ...any) {
	a.plan.Findings = append(a.plan.Findings, Finding{Problem: fmt.Sprintf(format, args...), Fix: fix, Evidence: ev})
}

func (a *analysis) note(format string, args ...any) {
	a.plan.Notes = append(a.plan.Notes, fmt.Sprintf(format, args...))
}

// user makes sure the image has a system user named name (once).
func (a *analysis) user(name string, ev Evidence) {
	if name == "" || name == "root" || slices.Contains(a.users, name) || knownUsers[name] {
		return
	}
	a.users = append(a.users, name)
	ev.Note = "runs as its own system user " + name + ": " + ev.Note
	a.step(phaseUser, []Evidence{ev}, "RUN useradd --system --user-group --home-dir %s --shell /usr/sbin/nologin %s", a.appDir, name)
}

// knownUsers exist in the fat base images already.
var knownUsers = map[string]bool{"www-data": true, "tomcat": true, "nobody": true, "daemon": true}

// copyApp copies the whole app to /opt/<app>/ (once), owned by owner.
func (a *analysis) copyApp(owner string, ev Evidence) {
	if a.ownApp {
		return
	}
	a.ownApp = true
	evs := []Evidence{ev}
	if a.dirEv != nil {
		evs = append(evs, *a.dirEv)
	}
	a.step(phaseFiles, evs, "COPY app/ %s/", a.appDir)
	if owner != "" && owner != "root" {
		a.step(phaseSetup, []Evidence{ev}, "RUN chown -R %s:%s %s", owner, owner, a.appDir)
	}
}

func (a *analysis) program(p Program) {
	a.plan.Programs = append(a.plan.Programs, p)
}

// detector is one kind of app (or one aspect of it) the analysis knows.
type detector struct {
	name      string
	lookedFor string
	// primary detectors choose the base image and how the app starts; the
	// first that matches (in the order of detectors()) is applied.
	primary bool
	// detect reports whether the app is of this kind, why (or why not),
	// and the files that show it.
	detect func(a *analysis) (bool, string, []Evidence)
	// apply adds the detector's steps; services says whether the app ships
	// its own init scripts or units (then the runtime adds no program).
	apply func(a *analysis, ev []Evidence, services bool)
}

// byFiles is the detect of a detector that matches when list finds files:
// each file is evidence with note; none says why it did not match, and
// found (with the count) why it did.
func byFiles(list func(*tree) []string, note, none, found string) func(a *analysis) (bool, string, []Evidence) {
	return func(a *analysis) (bool, string, []Evidence) {
		fs := list(a.t)
		if len(fs) == 0 {
			return false, none, nil
		}
		ev := make([]Evidence, 0, len(fs))
		for _, f := range fs {
			ev = append(ev, Evidence{Path: f, Note: note})
		}
		return true, fmt.Sprintf(found, len(fs)), ev
	}
}

// Analyze looks at the app in fsys and returns the plan: the base image,
// packages, files, programs and ports, each with its evidence, and every
// detector's verdict. It reads only through fsys. An app no primary
// detector recognises is an *UnknownError (errors.Is ErrUnknownLayout).
func Analyze(fsys fs.FS, opt Options) (*Plan, error) {
	if err := CheckName(opt.Name); err != nil {
		return nil, err
	}
	t, err := newTree(fsys)
	if err != nil {
		return nil, err
	}
	a := &analysis{t: t, app: opt.Name, appDir: "/opt/" + opt.Name, plan: &Plan{App: opt.Name, Base: BaseFat}}
	if dir, ev, ok := a.installDir(); ok {
		a.appDir, a.dirEv = dir, &ev
	}
	dets := detectors()
	type verdict struct {
		d   detector
		ok  bool
		ev  []Evidence
		why string
	}
	var vs []verdict
	for _, d := range dets {
		ok, why, ev := d.detect(a)
		vs = append(vs, verdict{d, ok, ev, why})
	}
	services := false
	for _, v := range vs {
		if v.ok && (v.d.name == "systemd" || v.d.name == "initscript") {
			services = true
		}
	}
	var primary *verdict
	for i := range vs {
		if vs[i].ok && vs[i].d.primary && primary == nil {
			primary = &vs[i]
		}
	}
	if primary == nil && !services {
		for _, v := range vs {
			a.plan.Detectors = append(a.plan.Detectors, Detection{Detector: v.d.name, LookedFor: v.d.lookedFor, Why: v.why})
		}
		return nil, &UnknownError{Detectors: a.plan.Detectors}
	}
	if primary != nil {
		a.plan.Kind = primary.d.name
	} else {
		a.plan.Kind = "service"
		for _, v := range vs {
			if v.ok && (v.d.name == "systemd" || v.d.name == "initscript") {
				a.plan.BaseWhy = Evidence{Path: v.ev[0].Path, Note: "the app ships its own service definitions; " + BaseFat + "'s systemctl and service shim runs them"}
				break
			}
		}
	}
	for i, v := range vs {
		why := v.why
		applied := v.ok && (!v.d.primary || primary == &vs[i])
		if v.ok && v.d.primary && primary != &vs[i] {
			why += fmt.Sprintf("; not applied: %s came first and decides how the app starts", primary.d.name)
		}
		if applied {
			v.d.apply(a, v.ev, services)
		}
		a.plan.Detectors = append(a.plan.Detectors, Detection{Detector: v.d.name, Matched: v.ok, LookedFor: v.d.lookedFor, Why: why, Evidence: v.ev})
	}
	a.finish()
	return a.plan, nil
}

// detectors is the fixed order of detection: the first primary that
// matches decides the base image and the start.
func detectors() []detector {
	return []detector{
		springBootDetector(),
		jarDetector(),
		warDetector(),
		webappDetector(),
		phpDetector(),
		pythonDetector(),
		nodeDetector(),
		startScriptDetector(),
		staticDetector(),
		systemdDetector(),
		initScriptDetector(),
		cronDetector(),
		logDirDetector(),
		portDetector(),
	}
}

// finish turns the collected steps, packages and ports into the plan.
func (a *analysis) finish() {
	p := a.plan
	p.Packages = a.pkgs
	slices.SortStableFunc(a.ports, func(x, y Port) int { return x.Port - y.Port })
	p.Ports = a.ports
	for _, ph := range a.steps {
		p.Steps = append(p.Steps, ph...)
	}
	if a.ownApp {
		p.Steps = append(p.Steps, Step{Instruction: "WORKDIR " + a.appDir, Evidence: []Evidence{{Note: "the app's directory, where ops land with `fatbox exec`"}}})
	}
	for _, prog := range p.Programs {
		p.Steps = append(p.Steps, Step{
			Instruction: fmt.Sprintf("COPY fatbox/supervisor/%s.conf %s/%s.conf", prog.Name, confDir, prog.Name),
			Evidence:    prog.Evidence,
		})
	}
	ign := []string{"app/.git", "app/.svn", "app/.hg", "app/**/__pycache__", "app/**/*.pyc", "app/**/.DS_Store"}
	ign = append(ign, a.ignores...)
	slices.Sort(ign)
	p.Ignore = slices.Compact(ign)
	for _, l := range a.t.links {
		target, err := fs.ReadLink(a.t.fsys, l)
		if err != nil {
			continue
		}
		if path.IsAbs(target) || strings.HasPrefix(path.Clean(path.Join(path.Dir(l), target)), "../") {
			a.finding(Evidence{Path: l, Note: "a symbolic link to " + target}, "replace it with what it points to, or a relative link inside the app",
				"symlink %s points out of the app: the image build copies the app as it is and refuses a link that leads out of the build context", l)
		}
	}
	if len(p.Ports) == 0 {
		a.finding(Evidence{Note: "no listening port found"}, "name the port in a config file or start script (e.g. --port 8080), or add EXPOSE and an io.fatbox.port label by hand",
			"no detector found the port the app listens on")
	}
}
