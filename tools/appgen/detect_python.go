package appgen

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

var (
	wsgiRes = []struct {
		re   *regexp.Regexp
		note string
	}{
		{regexp.MustCompile(`^(\w+)\s*=\s*(?:flask\.)?Flask\(`), "a Flask app"},
		{regexp.MustCompile(`^(\w+)\s*=\s*(?:bottle\.)?Bottle\(`), "a Bottle app"},
		{regexp.MustCompile(`^(application)\s*=\s*get_wsgi_application\(`), "Django's WSGI application"},
		{regexp.MustCompile(`^def (application)\(\s*environ\s*,\s*start_response`), "a WSGI callable"},
	}
	reqNameRe = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)`)
)

// wsgiEntry finds the WSGI callable: module:variable, its file and line.
func (t *tree) wsgiEntry() (string, Evidence, bool) {
	for _, f := range t.files {
		if path.Ext(f) != ".py" || depth(f) > 1 {
			continue
		}
		for _, w := range wsgiRes {
			if line, m := t.grep(f, w.re); line > 0 {
				mod := strings.ReplaceAll(strings.TrimSuffix(f, ".py"), "/", ".")
				return mod + ":" + m[1], Evidence{Path: f, Line: line, Note: fmt.Sprintf("%s: %s", w.note, strings.TrimSpace(m[0]))}, true
			}
		}
	}
	return "", Evidence{}, false
}

func pythonDetector() detector {
	return detector{
		name: "python-wsgi", primary: true,
		lookedFor: "a WSGI app in a *.py at the top or one directory down (Flask(...), Bottle(...), get_wsgi_application(), def application(environ, start_response)), with requirements.txt for its dependencies",
		detect: func(a *analysis) (bool, string, []Evidence) {
			entry, ev, ok := a.t.wsgiEntry()
			if !ok {
				why := "no WSGI callable in any *.py at the top or one directory down"
				if a.t.isFile["requirements.txt"] {
					why = "requirements.txt, but " + why
				}
				return false, why, nil
			}
			return true, "WSGI app " + entry + ", served by gunicorn", []Evidence{ev}
		},
		apply: func(a *analysis, ev []Evidence, services bool) {
			entry, _, _ := a.t.wsgiEntry()
			a.plan.BaseWhy = Evidence{Path: ev[0].Path, Line: ev[0].Line, Note: "Python 3 is in " + BaseFat + ": " + ev[0].Note}
			a.pkg("gunicorn", Evidence{Path: ev[0].Path, Line: ev[0].Line, Note: "the WSGI app is served by gunicorn (Debian package)"})
			a.pythonRequirements()
			a.user(a.app, ev[0])
			a.copyApp(a.app, Evidence{Path: ev[0].Path, Note: "the app's files go to " + a.appDir})
			port, pev := a.firstPort()
			if port == 0 {
				port, pev = 8000, Evidence{Note: "gunicorn's default port (8000)"}
				a.port(port, pev)
			}
			if services {
				return
			}
			cmd := fmt.Sprintf("/usr/bin/gunicorn --bind 0.0.0.0:%d --workers 2", port)
			if a.t.isFile["gunicorn.conf.py"] {
				cmd += " --config " + a.appDir + "/gunicorn.conf.py"
			}
			a.program(Program{Name: a.app, Command: cmd + " " + entry, Directory: a.appDir, User: a.app,
				Evidence: []Evidence{ev[0], pev}})
		},
	}
}

// wheelDirs are where an app ships the wheels of its dependencies.
var wheelDirs = []string{"wheelhouse", "wheels", "vendor"}

// pythonRequirements maps requirements.txt to Debian packages, else to a
// wheelhouse shipped with the app, else a finding.
func (a *analysis) pythonRequirements() {
	s, ok := a.t.text("requirements.txt")
	if !ok {
		return
	}
	var wheels []string
	whDir := ""
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(strings.SplitN(line, "#", 2)[0])
		if line == "" || strings.HasPrefix(line, "-") {
			continue
		}
		m := reqNameRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name := m[1]
		ev := Evidence{Path: "requirements.txt", Line: i + 1, Note: "requirement " + line}
		if deb := debianPackage("python", name); deb != "" {
			ev.Note += " (Debian package " + deb + ")"
			a.pkg(deb, ev)
			if line != name {
				a.note("requirements.txt:%d pins %q: Debian 12's %s is installed instead, whatever its version.", i+1, line, deb)
			}
			continue
		}
		if d := a.t.wheelFor(name); d != "" {
			whDir = d
			wheels = append(wheels, line)
			continue
		}
		a.finding(ev, fmt.Sprintf("ship the wheel in wheelhouse/ (`pip download --only-binary=:all: -d wheelhouse '%s'` on a machine that can reach the index) or vendor the package", line),
			"requirement %q has no Debian package in fatbox's table and no wheel shipped with the app; the build cannot reach a package index", name)
	}
	if len(wheels) > 0 {
		ev := Evidence{Path: whDir, Note: "wheels shipped with the app for: " + strings.Join(wheels, ", ")}
		a.pkg("python3-pip", ev)
		a.step(phaseSetup, []Evidence{ev}, "RUN python3 -m pip install --no-index --find-links %s/%s --break-system-packages %s", a.appDir, whDir, shellQuoteAll(wheels))
	}
}

// wheelFor returns the wheel directory holding a distribution of name.
func (t *tree) wheelFor(name string) string {
	norm := strings.ToLower(pep503.ReplaceAllString(name, "_"))
	for _, d := range wheelDirs {
		for _, f := range t.top(d) {
			b := strings.ToLower(pep503.ReplaceAllString(path.Base(f), "_"))
			if strings.HasPrefix(b, norm+"_") && (strings.HasSuffix(b, "_whl") || strings.HasSuffix(b, "_tar_gz")) {
				return d
			}
		}
	}
	return ""
}

var safeWord = regexp.MustCompile(`^[A-Za-z0-9._/:=@+-]+$`)

func shellQuote(s string) string {
	if safeWord.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellQuoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = shellQuote(s)
	}
	return strings.Join(q, " ")
}
