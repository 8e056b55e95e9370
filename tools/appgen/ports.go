package appgen

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// portRule finds a listening port in one kind of file.
type portRule struct {
	kind string
	re   *regexp.Regexp
	note string
}

var (
	scriptPortRules = []portRule{
		{"script", regexp.MustCompile(`(?:--port|--listen-port|--http-port|--listen)[= ]+(?:[\w.]*:)?(\d{2,5})\b`), "a --port option"},
		{"script", regexp.MustCompile(`(?:^|\s)-p\s+(\d{2,5})\b`), "a -p option"},
		{"script", regexp.MustCompile(`-D(?:server|http)\.port=(\d{2,5})\b`), "a -Dserver.port system property"},
		{"script", regexp.MustCompile(`(?:--bind|-b)[= ]+["']?[\w.]*:(\d{2,5})\b`), "a --bind host:port option"},
	}
	portRules = map[string][]portRule{
		"tomcat":     {{"tomcat", connectorRe, "a Tomcat HTTP connector"}},
		"properties": {{"properties", regexp.MustCompile(`^\s*(?:server\.port|http\.port|port|listen\.port|app\.port)\s*[=:]\s*(\d{2,5})\s*$`), "a port property"}},
		"yaml":       {{"yaml", regexp.MustCompile(`^\s+port:\s*(\d{2,5})\s*$`), "a port: setting"}},
		"nginx":      {{"nginx", regexp.MustCompile(`^\s*listen\s+(?:[\w.*\[\]:]+:)?(\d{2,5})\b`), "an nginx listen directive"}},
		"python": {
			{"python", regexp.MustCompile(`\.run\([^)]*\bport\s*=\s*(\d{2,5})`), "the port of app.run()"},
			{"python", regexp.MustCompile(`^\s*bind\s*=\s*\[?["'][\w.]*:(\d{2,5})["']`), "gunicorn's bind setting"},
			{"python", regexp.MustCompile(`HTTPServer\(\s*\(\s*["'][\w.]*["']\s*,\s*(\d{2,5})\s*\)`), "an HTTPServer address"},
		},
		"js": {
			{"js", regexp.MustCompile(`\.listen\(\s*(\d{2,5})\b`), "the port of listen()"},
			{"js", regexp.MustCompile(`PORT\s*\|\|\s*(\d{2,5})\b`), "the default of process.env.PORT"},
		},
		"env":    {{"env", regexp.MustCompile(`^\s*(?:export\s+)?[A-Z_]*PORT\s*=\s*["']?(\d{2,5})["']?\s*$`), "a PORT variable"}},
		"expose": {{"expose", regexp.MustCompile(`^\s*EXPOSE\s+(\d{2,5})\b`), "an EXPOSE hint"}},
		"script": scriptPortRules,
	}
)

// portKind says which rules apply to a file, "" for none.
func (t *tree) portKind(p string) string {
	base := strings.ToLower(path.Base(p))
	ext := path.Ext(base)
	s, ok := t.text(p)
	switch {
	case !ok:
		return ""
	case base == "server.xml":
		return "tomcat"
	case ext == ".properties":
		return "properties"
	case ext == ".yml" || ext == ".yaml":
		return "yaml"
	case ext == ".conf" && strings.Contains(s, "server {") || strings.Contains(p, "nginx") && ext == ".conf":
		return "nginx"
	case ext == ".py":
		return "python"
	case ext == ".js" || ext == ".mjs" || ext == ".cjs":
		return "js"
	case base == ".env" || ext == ".env" || path.Base(path.Dir(p)) == "default":
		return "env"
	case base == "dockerfile" || base == "containerfile" || base == "expose":
		return "expose"
	case ext == ".sh" || ext == ".service" || base == "procfile" || strings.HasPrefix(s, "#!") || strings.Contains(p, "init.d/"):
		return "script"
	}
	return ""
}

// scanPorts finds every port the app's files name, in file order.
func (a *analysis) scanPorts() []Port {
	var out []Port
	add := func(n int, ev Evidence) {
		for i := range out {
			if out[i].Port == n {
				out[i].Evidence = append(out[i].Evidence, ev)
				return
			}
		}
		out = append(out, Port{Port: n, Evidence: []Evidence{ev}})
	}
	scan := func(p, kind, s string) {
		for _, r := range portRules[kind] {
			for _, m := range grepAll(s, r.re) {
				if kind == "tomcat" && strings.Contains(m.text, "AJP") {
					continue
				}
				if n, err := strconv.Atoi(m.sub[1]); err == nil && n > 0 && n < 65536 {
					add(n, Evidence{Path: p, Line: m.line, Note: fmt.Sprintf("%s: %s", r.note, strings.TrimSpace(m.sub[0]))})
				}
			}
		}
	}
	for _, p := range a.t.files {
		if k := a.t.portKind(p); k != "" {
			s, _ := a.t.text(p)
			scan(p, k, s)
		}
	}
	// Spring Boot keeps its properties inside the jar.
	jars, _ := a.t.jars()
	for _, j := range jars {
		for _, inner := range []string{"BOOT-INF/classes/application.properties", "application.properties"} {
			if s, ok := zipRead(j.z, inner); ok {
				scan(j.path+"!/"+inner, "properties", s)
			}
		}
	}
	return out
}

// firstPort is the lowest port the app's files name, 0 if none.
func (a *analysis) firstPort() (int, Evidence) {
	best := Port{}
	for _, p := range a.scanned() {
		if best.Port == 0 || p.Port < best.Port {
			best = p
		}
	}
	if best.Port == 0 {
		return 0, Evidence{}
	}
	return best.Port, best.Evidence[0]
}

func (a *analysis) scanned() []Port {
	if a.portsScanned == nil {
		a.portsScanned = a.scanPorts()
		if a.portsScanned == nil {
			a.portsScanned = []Port{}
		}
	}
	return a.portsScanned
}

func portDetector() detector {
	return detector{
		name:      "ports",
		lookedFor: "listening ports in server.xml connectors, *.properties, *.yml, nginx listen, app.run(port=), gunicorn bind, listen() in JavaScript, PORT= in env files, EXPOSE hints, and --port/-p/--bind/-Dserver.port in scripts and units",
		detect: func(a *analysis) (bool, string, []Evidence) {
			ps := a.scanned()
			if len(ps) == 0 {
				return false, "no file names a listening port", nil
			}
			var ev []Evidence
			var ns []string
			for _, p := range ps {
				ev = append(ev, p.Evidence...)
				ns = append(ns, strconv.Itoa(p.Port))
			}
			return true, "ports " + strings.Join(ns, ", "), ev
		},
		apply: func(a *analysis, _ []Evidence, _ bool) {
			for _, p := range a.scanned() {
				for _, e := range p.Evidence {
					a.port(p.Port, e)
				}
			}
		},
	}
}
