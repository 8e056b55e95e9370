package appgen

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
)

type packageJSON struct {
	Name         string            `json:"name"`
	Main         string            `json:"main"`
	Scripts      map[string]string `json:"scripts"`
	Dependencies map[string]string `json:"dependencies"`
}

// lineOf is the first line of file p containing s, 0 if none.
func (t *tree) lineOf(p, s string) int {
	line, _ := t.grep(p, regexp.MustCompile(regexp.QuoteMeta(s)))
	return line
}

func nodeDetector() detector {
	return detector{
		name: "node", primary: true,
		lookedFor: "package.json at the top with a start script (node FILE) or a main file that exists",
		detect: func(a *analysis) (bool, string, []Evidence) {
			pj, main, ev, why := a.nodeMain()
			if pj == nil {
				return false, why, nil
			}
			return true, "a Node.js app started with node " + main, ev
		},
		apply: func(a *analysis, ev []Evidence, services bool) {
			pj, main, _, _ := a.nodeMain()
			a.plan.BaseWhy = Evidence{Path: "package.json", Note: "a Node.js app runs on " + BaseFat + " with Debian's nodejs"}
			a.pkg("nodejs", Evidence{Path: "package.json", Note: "a Node.js app (Debian 12's nodejs 18)"})
			for _, dep := range slices.Sorted(func(yield func(string) bool) {
				for k := range pj.Dependencies {
					if !yield(k) {
						return
					}
				}
			}) {
				dev := Evidence{Path: "package.json", Line: a.t.lineOf("package.json", `"`+dep+`"`), Note: "dependency " + dep}
				switch {
				case a.t.isDir["node_modules/"+dep]:
					a.note("Dependency %s is vendored in node_modules/%s and copied with the app.", dep, dep)
				case debianPackage("node", dep) != "":
					deb := debianPackage("node", dep)
					dev.Note += " (Debian package " + deb + ")"
					a.pkg(deb, dev)
				default:
					a.finding(dev, fmt.Sprintf("vendor it: run `npm install --omit=dev` where the registry is reachable and ship node_modules/ with the app"),
						"dependency %q is not in node_modules/ and has no Debian package in fatbox's table; the build cannot reach a registry", dep)
				}
			}
			a.user(a.app, ev[0])
			a.copyApp(a.app, Evidence{Path: "package.json", Note: "the app's files go to " + a.appDir})
			port, pev := a.firstPort()
			if services {
				return
			}
			env := [][2]string{{"NODE_ENV", "production"}}
			if port != 0 {
				env = append(env, [2]string{"PORT", fmt.Sprint(port)})
				ev = append(ev, pev)
			}
			a.program(Program{Name: a.app, Command: "/usr/bin/node " + path.Join(a.appDir, main), Directory: a.appDir, User: a.app,
				Environment: env, Evidence: ev})
		},
	}
}

var nodeStartRe = regexp.MustCompile(`^node\s+(\S+\.[cm]?js)$`)

// nodeMain reads package.json: the file node starts, and why.
func (a *analysis) nodeMain() (*packageJSON, string, []Evidence, string) {
	s, ok := a.t.text("package.json")
	if !ok {
		return nil, "", nil, "no package.json at the top"
	}
	var pj packageJSON
	if err := json.Unmarshal([]byte(s), &pj); err != nil {
		return nil, "", nil, fmt.Sprintf("package.json does not parse: %v", err)
	}
	if start := strings.TrimSpace(pj.Scripts["start"]); start != "" {
		if m := nodeStartRe.FindStringSubmatch(start); m != nil && a.t.isFile[path.Clean(m[1])] {
			return &pj, path.Clean(m[1]), []Evidence{{Path: "package.json", Line: a.t.lineOf("package.json", `"start"`), Note: "start script: " + start}}, ""
		}
	}
	main := pj.Main
	if main == "" {
		main = "index.js"
	}
	main = path.Clean(main)
	if !a.t.isFile[main] {
		return nil, "", nil, fmt.Sprintf("package.json has no start script of the form `node FILE` and its main file %s is missing", main)
	}
	line := a.t.lineOf("package.json", `"main"`)
	return &pj, main, []Evidence{{Path: "package.json", Line: line, Note: "main file " + main}}, ""
}
