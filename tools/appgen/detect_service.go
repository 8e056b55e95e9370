package appgen

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/fatbox/fatbox/baseimages/units"
)

var startNameRe = regexp.MustCompile(`^(?:start|run|startup|launch|server|start[-_][\w-]+|[\w-]+[-_]start)(?:\.sh)?$`)

// startScript finds the app's start script at the top or in bin/.
func (t *tree) startScript() (string, bool) {
	for _, d := range []string{"", "bin", "scripts"} {
		for _, f := range t.top(d) {
			if startNameRe.MatchString(path.Base(f)) {
				if s, ok := t.text(f); ok && (strings.HasPrefix(s, "#!") || path.Ext(f) == ".sh") {
					return f, true
				}
			}
		}
	}
	return "", false
}

var (
	backgroundRe = regexp.MustCompile(`(?:^|\s)(?:nohup\s|daemon\s|setsid\s)|[^&]&\s*$`)
	javaRe       = regexp.MustCompile(`(?:^|[\s/])java\s`)
	nodeRe       = regexp.MustCompile(`(?:^|[\s/])node(?:js)?\s`)
)

func startScriptDetector() detector {
	return detector{
		name: "start-script", primary: true,
		lookedFor: "a start script at the top, in bin/ or scripts/ (start, run, startup, launch, server, start-*, *-start, optionally .sh) starting a binary or script of the app",
		detect: func(a *analysis) (bool, string, []Evidence) {
			f, ok := a.t.startScript()
			if !ok {
				return false, "no start script at the top, in bin/ or scripts/", nil
			}
			return true, "the app starts with " + f, []Evidence{{Path: f, Note: "the start script"}}
		},
		apply: func(a *analysis, ev []Evidence, services bool) {
			f := ev[0].Path
			s, _ := a.t.text(f)
			a.plan.BaseWhy = Evidence{Path: f, Note: "a start script runs on " + BaseFat}
			for _, m := range grepAll(s, javaRe) {
				if !strings.HasPrefix(strings.TrimSpace(m.text), "#") {
					a.plan.Base, a.plan.BaseWhy = BaseJava, Evidence{Path: f, Line: m.line, Note: "the start script runs java: " + strings.TrimSpace(m.text)}
					break
				}
			}
			for _, m := range grepAll(s, nodeRe) {
				if !strings.HasPrefix(strings.TrimSpace(m.text), "#") {
					a.pkg("nodejs", Evidence{Path: f, Line: m.line, Note: "the start script runs node"})
					break
				}
			}
			for _, m := range grepAll(s, backgroundRe) {
				if t := strings.TrimSpace(m.text); !strings.HasPrefix(t, "#") {
					a.finding(Evidence{Path: f, Line: m.line, Note: t}, "start the program in the foreground: end the script with `exec PROGRAM ARGS`",
						"the start script puts the process in the background; supervisord would see it exit and start it again")
				}
			}
			a.user(a.app, ev[0])
			a.copyApp(a.app, Evidence{Path: f, Note: "the app's files go to " + a.appDir})
			if services {
				return
			}
			cmd := path.Join(a.appDir, f)
			if !a.t.exec[f] {
				cmd = "/bin/sh " + cmd
			}
			a.program(Program{Name: a.app, Command: cmd, Directory: a.appDir, User: a.app, Evidence: ev})
		},
	}
}

// unitFiles lists the systemd service units the app ships.
func (t *tree) unitFiles() []string {
	var out []string
	for _, f := range t.files {
		if path.Ext(f) == ".service" && !strings.Contains(f, "@") {
			out = append(out, f)
		}
	}
	return out
}

// unitLoader parses units with fixed specifier values: the analysis reads
// nothing of the host (Root names a path that does not exist).
var unitLoader = units.Loader{Root: "/nonexistent/fatbox-appgen", Hostname: "localhost", MachineID: "00000000000000000000000000000000", BootID: "00000000000000000000000000000000", KernelRelease: "6"}

func (t *tree) parseUnit(f string) (*units.Unit, error) {
	s, _ := t.text(f)
	return unitLoader.Parse(path.Base(f), "/etc/systemd/system/"+path.Base(f), strings.NewReader(s))
}

func systemdDetector() detector {
	return detector{
		name:      "systemd",
		lookedFor: "systemd service units (*.service) shipped with the app",
		detect: byFiles((*tree).unitFiles, "a systemd unit, installed and enabled as on a VM (the image's systemctl shim runs it)",
			"no *.service file", "%d systemd unit(s)"),
		apply: forEach((*analysis).installUnit),
	}
}

// forEach is the apply of a detector that installs each file it found.
func forEach(install func(*analysis, Evidence)) func(*analysis, []Evidence, bool) {
	return func(a *analysis, ev []Evidence, _ bool) {
		for _, e := range ev {
			install(a, e)
		}
	}
}

func (a *analysis) installUnit(e Evidence) {
	name := path.Base(e.Path)
	u, err := a.t.parseUnit(e.Path)
	if err != nil {
		a.finding(e, "fix the unit (the fat image's systemctl shim runs units as systemd 252 would, and refuses what it cannot do)", "unit %s: %v", name, err)
		return
	}
	s, _ := a.t.text(e.Path)
	lineOf := func(key string) int {
		for i, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), key+"=") {
				return i + 1
			}
		}
		return 0
	}
	owner := u.Service.User
	if owner != "" {
		a.user(owner, Evidence{Path: e.Path, Line: lineOf("User"), Note: "the unit runs as User=" + owner})
	}
	a.copyApp(owner, Evidence{Path: e.Path, Note: "the app's files go to " + a.appDir + ", where the unit runs them"})
	for _, c := range u.Service.ExecStart {
		if len(c.Argv) == 0 {
			continue
		}
		cmd := strings.Join(c.Argv, " ")
		ev := Evidence{Path: e.Path, Line: lineOf("ExecStart"), Note: "ExecStart=" + cmd}
		switch path.Base(c.Argv[0]) {
		case "java":
			a.plan.Base, a.plan.BaseWhy = BaseJava, ev
		case "node", "nodejs":
			a.pkg("nodejs", ev)
		case "gunicorn":
			a.pkg("gunicorn", ev)
		}
	}
	dst := "/etc/systemd/system/" + name
	a.step(phaseSetup, []Evidence{e}, "COPY app/%s %s", e.Path, dst)
	targets := append(append([]string(nil), u.WantedBy...), u.RequiredBy...)
	if len(targets) == 0 {
		a.finding(e, "add an [Install] section with WantedBy=multi-user.target, or enable it by hand in the container (systemctl enable "+name+")",
			"unit %s has no WantedBy= or RequiredBy=: it is installed but does not start at boot", name)
	}
	for _, t := range targets {
		kind := ".wants"
		if slices.Contains(u.RequiredBy, t) {
			kind = ".requires"
		}
		dir := "/etc/systemd/system/" + t + kind
		a.step(phaseSetup, []Evidence{{Path: e.Path, Line: lineOf(map[bool]string{true: "RequiredBy", false: "WantedBy"}[kind == ".requires"]), Note: "enabled as systemctl enable does: " + t}},
			"RUN mkdir -p %s && ln -sf %s %s/%s", dir, dst, dir, name)
	}
	if u.Service.Type == "forking" {
		a.note("%s is Type=forking: the shim's run-unit supervises the daemon it forks (PIDFile=%s).", name, u.Service.PIDFile)
	}
}

// initScripts lists the SysV init scripts the app ships: files in an
// init.d/ directory, or with an LSB header at the top or in etc/ or scripts/.
func (t *tree) initScripts() []string {
	var out []string
	for _, f := range t.files {
		dir := path.Dir(f)
		if path.Base(dir) == "init.d" {
			out = append(out, f)
			continue
		}
		if depth(f) <= 1 {
			if line, _ := t.grep(f, lsbRe); line > 0 {
				out = append(out, f)
			}
		}
	}
	return out
}

var lsbRe = regexp.MustCompile(`^### BEGIN INIT INFO`)

func initScriptDetector() detector {
	return detector{
		name:      "initscript",
		lookedFor: "SysV init scripts: files in an init.d/ directory, or scripts with an LSB header (### BEGIN INIT INFO) at the top or one directory down",
		detect: byFiles((*tree).initScripts, "a SysV init script, installed and enabled as update-rc.d does (the image's service shim runs it)",
			"no init.d/ directory and no script with an LSB header", "%d init script(s)"),
		apply: forEach((*analysis).installInitScript),
	}
}

func (a *analysis) installInitScript(e Evidence) {
	name := path.Base(e.Path)
	s, _ := a.t.text(e.Path)
	lsb := units.ParseLSB(strings.NewReader(s))
	a.copyApp("", Evidence{Path: e.Path, Note: "the app's files go to " + a.appDir + ", where the init script runs them"})
	dst := "/etc/init.d/" + name
	a.step(phaseSetup, []Evidence{e}, "COPY app/%s %s", e.Path, dst)
	a.step(phaseSetup, []Evidence{e}, "RUN chmod 755 %s", dst)
	if len(lsb.DefaultStart) == 0 {
		a.finding(e, "add an LSB header (### BEGIN INIT INFO) with Default-Start: 2 3 4 5 and Default-Stop: 0 1 6",
			"init script %s lists no Default-Start runlevels: it is installed but does not start at boot", name)
		return
	}
	line := a.t.lineOf(e.Path, "Default-Start:")
	var links []string
	for _, l := range lsb.DefaultStart {
		links = append(links, fmt.Sprintf("ln -sf ../init.d/%s /etc/rc%d.d/S01%s", name, l, name))
	}
	for _, l := range lsb.DefaultStop {
		links = append(links, fmt.Sprintf("ln -sf ../init.d/%s /etc/rc%d.d/K01%s", name, l, name))
	}
	a.step(phaseSetup, []Evidence{{Path: e.Path, Line: line, Note: "enabled as update-rc.d defaults does (S01 in Default-Start, K01 in Default-Stop)"}},
		"RUN mkdir -p /etc/rc0.d /etc/rc1.d /etc/rc2.d /etc/rc3.d /etc/rc4.d /etc/rc5.d /etc/rc6.d && %s", strings.Join(links, " && "))
}
