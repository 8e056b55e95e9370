package appgen

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
)

// archiveDirs are where build tools leave a WAR or jar.
var archiveDirs = []string{"", "target", "build/libs", "dist", "lib"}

// archives lists the files ending in ext at the top or in archiveDirs.
func (t *tree) archives(ext string) []string {
	var out []string
	for _, d := range archiveDirs {
		for _, f := range t.top(d) {
			if strings.HasSuffix(strings.ToLower(f), ext) {
				out = append(out, f)
			}
		}
	}
	return out
}

// zipOf opens an archive of the app as a zip.
func (t *tree) zipOf(p string) (*zip.Reader, error) {
	f, err := t.fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return zip.NewReader(bytes.NewReader(b), int64(len(b)))
}

func zipHas(z *zip.Reader, prefix string) bool {
	for _, f := range z.File {
		if strings.HasPrefix(f.Name, prefix) {
			return true
		}
	}
	return false
}

func zipRead(z *zip.Reader, name string) (string, bool) {
	for _, f := range z.File {
		if f.Name == name {
			r, err := f.Open()
			if err != nil {
				return "", false
			}
			defer r.Close()
			b, err := io.ReadAll(io.LimitReader(r, maxRead))
			return string(b), err == nil
		}
	}
	return "", false
}

// manifest is a jar's META-INF/MANIFEST.MF main section: value and line.
type manifest map[string]struct {
	val  string
	line int
}

func parseManifest(s string) manifest {
	m := manifest{}
	last := ""
	for i, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if line == "" {
			break // end of the main section
		}
		if strings.HasPrefix(line, " ") && last != "" {
			e := m[last]
			e.val += line[1:]
			m[last] = e
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		last = strings.TrimSpace(k)
		m[last] = struct {
			val  string
			line int
		}{strings.TrimSpace(v), i + 1}
	}
	return m
}

// jarInfo is what a jar's manifest says.
type jarInfo struct {
	path, main, start   string
	mainLine, startLine int
	boot                bool
	classPath           []string
	z                   *zip.Reader
}

func (t *tree) jars() ([]jarInfo, []string) {
	var out []jarInfo
	var why []string
	for _, p := range t.archives(".jar") {
		z, err := t.zipOf(p)
		if err != nil {
			why = append(why, fmt.Sprintf("%s is not a zip archive (%v)", p, err))
			continue
		}
		mf, _ := zipRead(z, "META-INF/MANIFEST.MF")
		m := parseManifest(mf)
		j := jarInfo{path: p, main: m["Main-Class"].val, mainLine: m["Main-Class"].line, start: m["Start-Class"].val, startLine: m["Start-Class"].line, z: z,
			boot: zipHas(z, "BOOT-INF/")}
		j.classPath = strings.Fields(m["Class-Path"].val)
		if j.main == "" {
			why = append(why, p+" has no Main-Class in META-INF/MANIFEST.MF (a library)")
			continue
		}
		out = append(out, j)
	}
	return out, why
}

func springBootDetector() detector {
	return detector{
		name: "springboot", primary: true,
		lookedFor: "a jar (top, target/, build/libs/, dist/) with BOOT-INF/ and a Start-Class in META-INF/MANIFEST.MF",
		detect: func(a *analysis) (bool, string, []Evidence) {
			jars, why := a.t.jars()
			for _, j := range jars {
				if j.boot && j.start != "" {
					return true, fmt.Sprintf("%s is a Spring Boot jar (Start-Class %s)", j.path, j.start),
						[]Evidence{{Path: j.path + "!/META-INF/MANIFEST.MF", Line: j.startLine, Note: "Start-Class: " + j.start}}
				}
				why = append(why, j.path+" has no BOOT-INF/ or no Start-Class")
			}
			return false, orNone(why, "no jar file"), nil
		},
		apply: func(a *analysis, ev []Evidence, services bool) {
			jars, _ := a.t.jars()
			for _, j := range jars {
				if j.boot && j.start != "" {
					applyJar(a, j, ev, services, 8080, "Spring Boot's default server.port")
					return
				}
			}
		},
	}
}

func jarDetector() detector {
	return detector{
		name: "jar", primary: true,
		lookedFor: "an executable jar (top, target/, build/libs/, dist/, lib/): Main-Class in META-INF/MANIFEST.MF",
		detect: func(a *analysis) (bool, string, []Evidence) {
			jars, why := a.t.jars()
			if len(jars) == 0 {
				return false, orNone(why, "no jar file"), nil
			}
			j := jars[0]
			return true, fmt.Sprintf("%s is an executable jar (Main-Class %s)", j.path, j.main),
				[]Evidence{{Path: j.path + "!/META-INF/MANIFEST.MF", Line: j.mainLine, Note: "Main-Class: " + j.main}}
		},
		apply: func(a *analysis, ev []Evidence, services bool) {
			jars, _ := a.t.jars()
			applyJar(a, jars[0], ev, services, 0, "")
		},
	}
}

// applyJar runs a jar with java -jar from /opt/<app> as the app's user.
func applyJar(a *analysis, j jarInfo, ev []Evidence, services bool, defPort int, defWhy string) {
	a.plan.Base, a.plan.BaseWhy = BaseJava, ev[0]
	a.plan.BaseWhy.Note = "a jar runs on the Java image (OpenJDK 17): " + ev[0].Note
	a.user(a.app, ev[0])
	a.copyApp(a.app, Evidence{Path: j.path, Note: "the app's files go to " + a.appDir})
	for _, cp := range j.classPath {
		dep := path.Join(path.Dir(j.path), cp)
		if !a.t.isFile[dep] && !strings.HasSuffix(cp, "/") {
			a.finding(Evidence{Path: j.path + "!/META-INF/MANIFEST.MF", Note: "Class-Path: " + cp}, "ship "+dep+" with the app (the build cannot download it)",
				"the jar's Class-Path names %s, which the app does not contain", dep)
		}
	}
	port, pev := a.firstPort()
	if port == 0 && defPort != 0 {
		port, pev = defPort, Evidence{Note: defWhy + fmt.Sprintf(" (%d)", defPort)}
		a.port(port, pev)
	}
	if services {
		return
	}
	a.program(Program{
		Name: a.app, Command: "/usr/bin/java -jar " + path.Join(a.appDir, j.path), Directory: a.appDir, User: a.app,
		Evidence: append(ev[:1:1], Evidence{Path: j.path, Note: "started with java -jar from " + a.appDir}),
	})
}

func warDetector() detector {
	return detector{
		name: "war", primary: true,
		lookedFor: "*.war (top, target/, build/libs/, dist/) holding WEB-INF/",
		detect: func(a *analysis) (bool, string, []Evidence) {
			var ev []Evidence
			var why []string
			for _, p := range a.t.archives(".war") {
				z, err := a.t.zipOf(p)
				if err != nil || !zipHas(z, "WEB-INF/") {
					why = append(why, p+" is not a web archive (no WEB-INF/)")
					continue
				}
				ev = append(ev, Evidence{Path: p, Note: "a web archive (WEB-INF/ inside)"})
			}
			if len(ev) == 0 {
				return false, orNone(why, "no .war file"), nil
			}
			return true, fmt.Sprintf("%d web archive(s) for Tomcat 10", len(ev)), ev
		},
		apply: func(a *analysis, ev []Evidence, _ bool) {
			var ctxs []webCtx
			for _, e := range ev {
				name := strings.TrimSuffix(path.Base(e.Path), path.Ext(e.Path))
				ctxs = append(ctxs, webCtx{src: e.Path, name: name, war: true, ev: e})
			}
			applyTomcat(a, ctxs)
		},
	}
}

var webXMLDirs = regexp.MustCompile(`^(?:([^/]+)/)?WEB-INF/web\.xml$`)

func webappDetector() detector {
	return detector{
		name: "webapp", primary: true,
		lookedFor: "an exploded webapp: WEB-INF/web.xml at the top or one directory down",
		detect: func(a *analysis) (bool, string, []Evidence) {
			var ev []Evidence
			for _, f := range a.t.files {
				if m := webXMLDirs.FindStringSubmatch(f); m != nil && m[1] != "src" {
					ev = append(ev, Evidence{Path: f, Note: "the deployment descriptor of an exploded webapp"})
				}
			}
			if len(ev) == 0 {
				return false, "no WEB-INF/web.xml at the top or one directory down", nil
			}
			return true, fmt.Sprintf("%d exploded webapp(s) for Tomcat 10", len(ev)), ev
		},
		apply: func(a *analysis, ev []Evidence, _ bool) {
			var ctxs []webCtx
			for _, e := range ev {
				dir := path.Dir(path.Dir(e.Path))
				name := dir
				if dir == "." {
					name = "ROOT"
				}
				ctxs = append(ctxs, webCtx{src: dir, name: name, ev: e})
			}
			applyTomcat(a, ctxs)
		},
	}
}

// webCtx is one web application Tomcat deploys.
type webCtx struct {
	src, name string // app path; context name (ROOT is /)
	war       bool
	ev        Evidence
}

var connectorRe = regexp.MustCompile(`<Connector\b[^>]*\bport="(\d+)"`)

// applyTomcat deploys the webapps on the Java image's Tomcat 10. A single
// one is deployed as ROOT (served at /).
func applyTomcat(a *analysis, ctxs []webCtx) {
	a.plan.Base, a.plan.BaseWhy = BaseJava, ctxs[0].ev
	a.plan.BaseWhy.Note = "a web application runs on the Java image's Tomcat 10: " + ctxs[0].ev.Note
	if len(ctxs) == 1 && ctxs[0].name != "ROOT" {
		ctxs[0].name = "ROOT"
		a.note("The only web application, %s, is deployed as ROOT: it answers at / (Tomcat's own ROOT page is removed).", ctxs[0].src)
	}
	for _, c := range ctxs {
		dst := path.Join(tomcatWebapps, c.name)
		at := "/" + c.name
		if c.name == "ROOT" {
			at = "/"
			a.step(phaseSetup, []Evidence{{Path: c.ev.Path, Line: c.ev.Line, Note: "deployed as ROOT: Tomcat's own ROOT page must go"}}, "RUN rm -rf %s/ROOT", tomcatWebapps)
		}
		ev := []Evidence{{Path: c.ev.Path, Line: c.ev.Line, Note: c.ev.Note + ", deployed at " + at}}
		own := []Evidence{{Path: c.ev.Path, Note: "Tomcat runs as tomcat and unpacks or writes its webapps"}}
		if c.war {
			a.step(phaseSetup, ev, "COPY app/%s %s.war", c.src, dst)
			a.step(phaseSetup, own, "RUN chown tomcat:tomcat %s.war", dst)
		} else {
			src := "app/"
			if c.src != "." {
				src = "app/" + c.src + "/"
			}
			a.step(phaseSetup, ev, "COPY %s %s/", src, dst)
			a.step(phaseSetup, own, "RUN chown -R tomcat:tomcat %s", dst)
		}
	}
	// A server.xml shipped with the app replaces Debian's.
	for _, f := range a.t.files {
		if path.Base(f) != "server.xml" {
			continue
		}
		s, ok := a.t.text(f)
		if !ok || !strings.Contains(s, "<Server") {
			continue
		}
		ev := Evidence{Path: f, Note: "the app's Tomcat server.xml"}
		a.step(phaseSetup, []Evidence{ev}, "COPY app/%s /etc/tomcat10/server.xml", f)
		break
	}
	if p, _ := a.firstPort(); p == 0 {
		a.port(8080, Evidence{Note: "Tomcat 10's HTTP connector in " + BaseJava + " (/etc/tomcat10/server.xml) listens on 8080"})
	}
	a.program(tomcatProgram(ctxs[0].ev))
}

func orNone(why []string, none string) string {
	if len(why) == 0 {
		return none
	}
	return strings.Join(why, "; ")
}
