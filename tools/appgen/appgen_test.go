package appgen

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/test/harness"
)

func analyze(t *testing.T, dir string) *Plan {
	t.Helper()
	p, err := Analyze(os.DirFS(dir), Options{Name: AppName(filepath.Base(dir))})
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return p
}

// The corpus has the layouts the issue asks for, and the analysis finds
// the port each app answers on.
func TestCorpus(t *testing.T) {
	apps, err := Corpus(CorpusDir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range apps {
		names = append(names, a.Layout)
		p := analyze(t, a.Dir)
		if !slices.Contains(p.PortList(), a.Port) {
			t.Errorf("%s: the plan's ports %v lack the port it answers on, %d", a.Layout, p.PortList(), a.Port)
		}
		if !strings.HasSuffix(a.Body, a.Layout) {
			t.Errorf("%s: body %q", a.Layout, a.Body)
		}
	}
	for _, want := range []string{"war", "webapp", "jar", "springboot", "php", "python-wsgi", "node", "static", "initscript", "systemd", "binary"} {
		if !slices.Contains(names, want) {
			t.Errorf("the corpus lacks %s", want)
		}
	}
}

// Each detector matches (and is applied) on a variant layout that is not in
// the corpus.
func TestVariants(t *testing.T) {
	for variant, want := range map[string][]string{
		"war-multi":           {"war"},
		"webapp-top":          {"webapp"},
		"jar-classpath":       {"jar", "ports"},
		"springboot-target":   {"springboot", "jar", "ports"},
		"php-composer":        {"php", "ports"},
		"python-wheelhouse":   {"python-wsgi", "logs", "ports"},
		"node-express":        {"node", "ports"},
		"static-public":       {"static", "cron"},
		"start-script-java":   {"start-script", "logs", "ports"},
		"systemd-noinstall":   {"systemd", "ports"},
		"initscript-noheader": {"initscript", "ports"},
	} {
		p := analyze(t, filepath.Join("testdata", "variants", variant))
		for _, d := range p.Detectors {
			if d.Why == "" || d.LookedFor == "" {
				t.Errorf("%s: detector %s does not say what it looked for and why", variant, d.Detector)
			}
			if slices.Contains(want, d.Detector) != d.Matched {
				t.Errorf("%s: detector %s matched=%v: %s", variant, d.Detector, d.Matched, d.Why)
			}
		}
		if want[0] != "systemd" && want[0] != "initscript" && p.Kind != want[0] {
			t.Errorf("%s: kind %s, want %s", variant, p.Kind, want[0])
		}
	}
	// What each variant is there to show.
	checks := []struct{ variant, finding string }{
		{"jar-classpath", "Class-Path names build/libs/lib/commons-text.jar"},
		{"php-composer", `"monolog/monolog" is not vendored`},
		{"python-wheelhouse", `requirement "nosuchlib" has no Debian package`},
		{"node-express", `dependency "left-pad" is not in node_modules/`},
		{"start-script-java", "puts the process in the background"},
		{"systemd-noinstall", "has no WantedBy="},
		{"initscript-noheader", "lists no Default-Start runlevels"},
		{"static-public", "symlink public/latest points out of the app"},
	}
	for _, c := range checks {
		p := analyze(t, filepath.Join("testdata", "variants", c.variant))
		var all []string
		for _, f := range p.Findings {
			all = append(all, f.String())
		}
		if !strings.Contains(strings.Join(all, "\n"), c.finding) {
			t.Errorf("%s: no finding %q in %q", c.variant, c.finding, all)
		}
	}
}

// Every instruction and program key sits under evidence, and every piece of
// evidence that names a file of the app names one that exists, at a line it has.
func TestEvidenceIsReal(t *testing.T) {
	for _, set := range []string{"corpus", "variants"} {
		for _, l := range layouts(t, set) {
			dir := filepath.Join("testdata", set, l)
			p := analyze(t, dir)
			var evs []Evidence
			for _, s := range Instructions(p, testDigest) {
				if len(s.Evidence) == 0 {
					t.Errorf("%s: %q has no evidence", l, s.Instruction)
				}
				evs = append(evs, s.Evidence...)
			}
			for _, pr := range p.Programs {
				evs = append(evs, pr.Evidence...)
			}
			for _, f := range p.Findings {
				evs = append(evs, f.Evidence)
			}
			for _, e := range evs {
				if e.Note == "" {
					t.Errorf("%s: evidence %+v says nothing", l, e)
				}
				if e.Path == "" || strings.HasPrefix(e.Path, "fatbox/") {
					continue
				}
				file, inner, inArchive := strings.Cut(e.Path, "!/")
				st, err := os.Lstat(filepath.Join(dir, file))
				if err != nil {
					t.Errorf("%s: evidence %s names a file the app lacks", l, e)
					continue
				}
				if e.Line == 0 {
					continue
				}
				var text string
				if inArchive {
					z, err := zip.OpenReader(filepath.Join(dir, file))
					if err != nil {
						t.Fatal(err)
					}
					text, _ = zipRead(&z.Reader, inner)
					z.Close()
				} else if !st.IsDir() {
					b, _ := os.ReadFile(filepath.Join(dir, file))
					text = string(b)
				}
				if n := strings.Count(text, "\n") + 1; e.Line > n {
					t.Errorf("%s: evidence %s is past the file's %d lines", l, e, n)
				}
			}
			for _, f := range generateFiles(t, p) {
				if f.Path != "Dockerfile" {
					continue
				}
				lines := strings.Split(string(f.Data), "\n")
				for i, line := range lines {
					if line != "" && !strings.HasPrefix(line, "#") && (i == 0 || !strings.HasPrefix(lines[i-1], "# evidence: ")) {
						t.Errorf("%s: Dockerfile line %d %q is not under its evidence", l, i+1, line)
					}
				}
			}
		}
	}
}

func generateFiles(t *testing.T, p *Plan) []File {
	files, err := Render(p, testDigest)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// The programs fatbox switches on are the base images' own (same command
// and user as the recipe), so an app image runs what the image was built for.
func TestMiddlewareMatchesRecipes(t *testing.T) {
	rs, err := baseimages.BuiltinRecipes()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, c := range []struct {
		image string
		prog  Program
	}{
		{BaseJava, tomcatProgram(Evidence{})},
		{BasePHP, nginxProgram(Evidence{})},
		{BasePHP, phpFPMProgram(Evidence{})},
	} {
		if _, ok := rs[c.image]; !ok {
			t.Logf("recipe %s is not in baseimages/recipes yet: its programs are unchecked", c.image)
			continue
		}
		r, err := rs.Resolve(c.image)
		if err != nil {
			t.Fatal(err)
		}
		bin := strings.Fields(strings.TrimPrefix(c.prog.Command, "/bin/sh -c 'mkdir -p /run/php && exec "))[0]
		for _, p := range r.Programs {
			if strings.Contains(p.Command, filepath.Base(bin)) && p.Name != c.prog.Name {
				t.Errorf("%s runs %s as program %q; fatbox dockerfile switches on %q: both would run", c.image, bin, p.Name, c.prog.Name)
			}
			if p.Name == c.prog.Name {
				checked++
				if p.Command != c.prog.Command || p.User != c.prog.User {
					t.Errorf("%s's program %s runs %q as %q; fatbox dockerfile writes %q as %q", c.image, p.Name, p.Command, p.User, c.prog.Command, c.prog.User)
				}
				env := map[string]string{}
				for _, kv := range c.prog.Environment {
					env[kv[0]] = kv[1]
				}
				for k, v := range p.Environment {
					if env[k] != v {
						t.Errorf("%s's program %s has %s=%q; fatbox dockerfile writes %q", c.image, p.Name, k, v, env[k])
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no middleware program was checked against a recipe")
	}
}

// The committed WARs and jars are what make-archives.sh makes from
// testdata/src with the JDK.
func TestArchivesReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("tier 2: runs javac")
	}
	_, errJ := exec.LookPath("javac")
	_, errA := exec.LookPath("jar")
	harness.Require(t, errJ == nil && errA == nil, "javac and jar (openjdk-17-jdk-headless)")
	out := t.TempDir()
	cmd := exec.Command("sh", filepath.Join("testdata", "make-archives.sh"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make-archives.sh: %v: %s", err, b)
	}
	n := 0
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		got, _ := os.ReadFile(p)
		want, err := os.ReadFile(filepath.Join("testdata", rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("testdata/%s is not what make-archives.sh makes (run: sh testdata/make-archives.sh testdata)", rel)
		}
		n++
		return nil
	})
	if n < 7 {
		t.Errorf("make-archives.sh made %d archives", n)
	}
}

func TestAppName(t *testing.T) {
	for in, want := range map[string]string{
		"shop":                  "shop",
		"Shop_Web.war":          "shop-web",
		"billing-2.1.tar.gz":    "billing-2-1",
		"9lives":                "app-9lives",
		"...":                   "app-",
		strings.Repeat("a", 40): strings.Repeat("a", 32),
	} {
		got := AppName(in)
		if got != want {
			t.Errorf("AppName(%q) = %q, want %q", in, got, want)
		}
	}
	if err := CheckName("app-"); err != nil {
		t.Logf("%v", err) // "app-" from "..." is refused by Analyze: the user gives --name
	}
	if CheckName("Bad") == nil || CheckName("ok-1") != nil {
		t.Error("CheckName")
	}
}

func TestManifest(t *testing.T) {
	m := parseManifest("Manifest-Version: 1.0\r\nMain-Class: a.B\r\nClass-Path: lib/x.jar\r\n  lib/y.jar\r\n\r\nName: other\r\nMain-Class: no\r\n")
	if m["Main-Class"].val != "a.B" || m["Main-Class"].line != 2 || m["Class-Path"].val != "lib/x.jar lib/y.jar" {
		t.Errorf("%+v", m)
	}
}

func TestCronFormat(t *testing.T) {
	for s, want := range map[string]bool{
		"SHELL=/bin/sh\n# x\n15 2 * * * root /bin/true\n": true,
		"*/5 * * * * /bin/true\n":                         false,
		"@daily shop /opt/shop/bin/report\n":              true,
		"@reboot /bin/true\n":                             false,
	} {
		if got, _ := cronSystemFormat(s, []string{"shop"}); got != want {
			t.Errorf("%q: system format %v, want %v", s, got, want)
		}
	}
}

func TestDebianPackage(t *testing.T) {
	for _, c := range [][3]string{
		{"python", "Flask", "python3-flask"},
		{"python", "PyYAML", "python3-yaml"},
		{"python", "python_dateutil", "python3-dateutil"},
		{"node", "express", "node-express"},
		{"php", "ext-pdo_mysql", "php-mysql"},
		{"python", "nosuchlib", ""},
	} {
		if got := debianPackage(c[0], c[1]); got != c[2] {
			t.Errorf("debianPackage(%s, %s) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

func TestArchiveMembers(t *testing.T) {
	for _, bad := range []string{"../x", "/etc/passwd", "a/../../x"} {
		if _, err := member("/tmp/x", bad); err == nil {
			t.Errorf("member %q accepted", bad)
		}
	}
	if p, err := member("/tmp/x", "./a/b"); err != nil || p != "/tmp/x/a/b" {
		t.Errorf("member ./a/b: %q %v", p, err)
	}
}

func TestRenderRefusesBadDigest(t *testing.T) {
	p := analyze(t, filepath.Join("testdata", "corpus", "war"))
	for _, d := range []string{"", "sha256:abc", "md5:" + strings.Repeat("0", 64), "sha256:" + strings.Repeat("A", 64)} {
		if _, err := Render(p, d); !errors.Is(err, ErrBadDigest) {
			t.Errorf("digest %q: %v", d, err)
		}
	}
	if _, err := Render(p, strings.Repeat("0", 64)); err != nil {
		t.Errorf("a bare image ID: %v", err)
	}
}
