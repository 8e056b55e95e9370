package appgen

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// cronFiles lists the app's cron tables: files in cron.d/ or cron/, named
// crontab, or ending in .cron.
func (t *tree) cronFiles() []string {
	var out []string
	for _, f := range t.files {
		b, dir := path.Base(f), path.Base(path.Dir(f))
		if dir == "cron.d" || dir == "cron" || b == "crontab" || path.Ext(b) == ".cron" {
			out = append(out, f)
		}
	}
	return out
}

var cronNameRe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// cronSystemFormat says whether a cron table has the user field of
// /etc/cron.d files (minute hour dom month dow USER command).
func cronSystemFormat(s string, users []string) (bool, int) {
	for i, line := range strings.Split(s, "\n") {
		l := strings.TrimSpace(line)
		if l == "" || strings.HasPrefix(l, "#") || regexp.MustCompile(`^\w+=`).MatchString(l) {
			continue
		}
		f := strings.Fields(l)
		n := 5
		if strings.HasPrefix(f[0], "@") {
			n = 1
		}
		if len(f) <= n {
			return false, i + 1
		}
		u := f[n]
		return u == "root" || containsStr(users, u), i + 1
	}
	return false, 0
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func cronDetector() detector {
	return detector{
		name:      "cron",
		lookedFor: "cron tables: files in cron.d/ or cron/, named crontab, or *.cron",
		detect:    byFiles((*tree).cronFiles, "a cron table", "no cron.d/ or cron/ directory, no crontab or *.cron file", "%d cron table(s), run by the image's cron"),
		apply: func(a *analysis, ev []Evidence, _ bool) {
			for _, e := range ev {
				s, _ := a.t.text(e.Path)
				sys, line := cronSystemFormat(s, append([]string{a.app}, a.users...))
				if sys {
					name := cronNameRe.ReplaceAllString(strings.TrimSuffix(path.Base(e.Path), ".cron"), "-")
					if name == "crontab" {
						name = a.app
					}
					ev := []Evidence{{Path: e.Path, Line: line, Note: "an /etc/cron.d table (it names the user of each job)"}}
					a.step(phaseSetup, ev, "COPY app/%s /etc/cron.d/%s", e.Path, name)
					a.step(phaseSetup, ev, "RUN chmod 644 /etc/cron.d/%s", name)
					continue
				}
				a.copyApp(a.app, e)
				owner := a.app
				if !containsStr(a.users, owner) {
					owner = "root"
				}
				a.step(phaseSetup, []Evidence{{Path: e.Path, Line: line, Note: "a user crontab (no user field): installed for " + owner}},
					"RUN crontab -u %s %s/%s", owner, a.appDir, e.Path)
			}
		},
	}
}

// logDirNames are directories an app writes its logs into.
var logDirNames = map[string]bool{"log": true, "logs": true}

var varLogRe = regexp.MustCompile(`(/var/log/[A-Za-z0-9_.-]+)`)

func logDirDetector() detector {
	return detector{
		name:      "logs",
		lookedFor: "log directories: log/ or logs/ in the app, and /var/log/NAME paths in its scripts, units and configs",
		detect: func(a *analysis) (bool, string, []Evidence) {
			ev := a.logDirs()
			if len(ev) == 0 {
				return false, "no log/ or logs/ directory and no /var/log/NAME path in the app's files", nil
			}
			return true, fmt.Sprintf("%d log location(s), created and owned by the user that writes them", len(ev)), ev
		},
		apply: func(a *analysis, ev []Evidence, _ bool) {
			owner := "root"
			if len(a.users) > 0 {
				owner = a.users[0]
			}
			seen := map[string]bool{}
			for _, e := range ev {
				dir := e.Path
				if strings.HasPrefix(e.Note, "names ") {
					dir = strings.TrimPrefix(e.Note, "names ")
				} else {
					a.ignores = append(a.ignores, "app/"+e.Path+"/*")
					dir = path.Join(a.appDir, e.Path)
				}
				if seen[dir] || strings.HasSuffix(dir, ".log") {
					continue
				}
				seen[dir] = true
				if owner == "root" {
					a.step(phaseSetup, []Evidence{e}, "RUN mkdir -p %s", dir)
				} else {
					a.step(phaseSetup, []Evidence{e}, "RUN mkdir -p %s && chown %s:%s %s", dir, owner, owner, dir)
				}
			}
		},
	}
}

// logDirs finds the app's log directories (Path a directory of the app)
// and the /var/log paths its files name (Note "names /var/log/x").
func (a *analysis) logDirs() []Evidence {
	var ev []Evidence
	for _, d := range a.t.dirs {
		if logDirNames[path.Base(d)] && depth(d) == 0 {
			ev = append(ev, Evidence{Path: d, Note: "the app's log directory (its contents stay out of the image)"})
		}
	}
	for _, f := range a.t.files {
		if a.t.portKind(f) == "" && path.Ext(f) != ".service" && path.Ext(f) != ".conf" {
			continue
		}
		s, _ := a.t.text(f)
		for _, m := range grepAll(s, varLogRe) {
			if strings.HasPrefix(strings.TrimSpace(m.text), "#") || strings.HasSuffix(m.sub[1], ".log") {
				continue
			}
			ev = append(ev, Evidence{Path: f, Line: m.line, Note: "names " + m.sub[1]})
		}
	}
	return ev
}

var installHintRe = regexp.MustCompile(`(/(?:opt|srv|usr/local)/[A-Za-z0-9_.-]+)/([A-Za-z0-9_./-]+)`)

// installDir finds where the app expects to live: a path in its scripts or
// units like /opt/NAME/bin/x whose rest (bin/x) is a file of the app.
func (a *analysis) installDir() (string, Evidence, bool) {
	for _, f := range a.t.files {
		if k := a.t.portKind(f); k != "script" && k != "env" && path.Ext(f) != ".service" {
			continue
		}
		s, _ := a.t.text(f)
		for _, m := range grepAll(s, installHintRe) {
			if a.t.isFile[path.Clean(m.sub[2])] && !strings.HasPrefix(strings.TrimSpace(m.text), "#") {
				return m.sub[1], Evidence{Path: f, Line: m.line, Note: fmt.Sprintf("names %s/%s, the app's %s", m.sub[1], m.sub[2], path.Clean(m.sub[2]))}, true
			}
		}
	}
	return "", Evidence{}, false
}
