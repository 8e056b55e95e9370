package dockerbuild

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const sample = `ARG BASE=debian12-php
FROM ${BASE}@sha256:` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `
ARG VERSION=1.2
ENV APP_HOME=/srv/app APP_VERSION=$VERSION
WORKDIR $APP_HOME
COPY --chown=www-data:www-data app/ ./
ADD ["vendor.tar.gz", "/srv/app/vendor/"]
RUN apt-get update && apt-get install -y --no-install-recommends php8.2-mysql php8.2-gd && rm -rf /var/lib/apt/lists/*
RUN ["/bin/echo", "$APP_HOME"]
EXPOSE 80 9253/tcp
LABEL io.fatbox.app=shop "io.fatbox.port"="80"
USER www-data
`

// The parser's nodes map onto steps with words expanded as docker does.
func TestApplyMapping(t *testing.T) {
	ins, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	st := State{Args: map[string]string{}, Labels: map[string]string{}}
	var steps []Step
	for _, in := range ins {
		s, next, err := Apply(st, in)
		if err != nil {
			t.Fatalf("line %d: %v", in.Line, err)
		}
		steps = append(steps, s)
		st = next
	}
	if s := steps[1]; s.Image != "debian12-php" || s.Digest != "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
		t.Errorf("FROM: %q %q", s.Image, s.Digest)
	}
	if s := steps[5]; !reflect.DeepEqual(s.Srcs, []string{"app/"}) || s.Dest != "/srv/app/" || s.Chown != "www-data:www-data" {
		t.Errorf("COPY: %+v", s)
	}
	if s := steps[6]; !s.JSON || s.Dest != "/srv/app/vendor/" || s.Srcs[0] != "vendor.tar.gz" {
		t.Errorf("ADD: %+v", s)
	}
	if s := steps[7]; s.Argv[0] != "/bin/sh" || s.Argv[1] != "-c" || !strings.HasPrefix(s.Argv[2], "apt-get update") {
		t.Errorf("RUN shell form: %q", s.Argv)
	}
	if s := steps[8]; !reflect.DeepEqual(s.Argv, []string{"/bin/echo", "$APP_HOME"}) {
		t.Errorf("RUN exec form is not expanded: %q", s.Argv)
	}
	want := State{Env: []string{"APP_HOME=/srv/app", "APP_VERSION=1.2"}, Args: map[string]string{"VERSION": "1.2"}, WorkDir: "/srv/app", User: "www-data",
		Labels: map[string]string{"io.fatbox.app": "shop", "io.fatbox.port": "80"}, Ports: []string{"80/tcp", "9253/tcp"}}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("state\n got %+v\nwant %+v", st, want)
	}
	if got := aptOf(steps[7]); !reflect.DeepEqual(got, []string{"php8.2-mysql", "php8.2-gd"}) {
		t.Errorf("apt packages %q", got)
	}
	in := Instruction{Line: 1, Cmd: "RUN", Args: []string{"apt-get install -y jq"}}
	if s, _, _ := Apply(st, in); !reflect.DeepEqual(aptOf(s), []string{"jq"}) {
		t.Errorf("a line starting with apt-get: %q", aptOf(s))
	}
}

func TestAptPackages(t *testing.T) {
	for cmd, want := range map[string][]string{
		"apt-get update && apt-get install -y --no-install-recommends python3-flask gunicorn && rm -rf /var/lib/apt/lists/*": {"python3-flask", "gunicorn"},
		"DEBIAN_FRONTEND=noninteractive apt-get -y install nodejs; echo done":                                                {"nodejs"},
		"apt install -y 'tomcat10'":    {"tomcat10"},
		"echo apt-get install nothing": nil,
		"make && make install":         nil,
	} {
		if got := AptPackages(cmd); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %q, want %q", cmd, got, want)
		}
	}
}

// Every refusal names the line, the instruction and what to do.
func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		df, want string
		is       error
	}{
		{"FROM debian12-fat\nCMD [\"app\"]\n", "line 2: CMD is not supported by fatbox's builder (it runs FROM, COPY, ADD, RUN, ENV, ARG, WORKDIR, EXPOSE, LABEL, USER): fatbox containers run supervisord", ErrUnsupported},
		{"FROM debian12-fat\nHEALTHCHECK CMD true\n", "line 2: HEALTHCHECK is not supported", ErrUnsupported},
		{"FROM debian12-fat\nFROM debian12-java\n", "line 2: FROM: a second FROM (a multi-stage build) is not supported", ErrUnsupported},
		{"FROM debian12-fat\nCOPY --from=build /x /y\n", "line 2: COPY: flag --from=build is not supported", ErrUnsupported},
		{"FROM debian12-fat\nRUN --mount=type=cache,target=/x true\n", "line 2: RUN: flag --mount=type=cache,target=/x is not supported", ErrUnsupported},
		{"RUN true\n", "line 1: RUN before FROM", ErrInvalid},
		{"# nothing\n", "file with no instructions", ErrInvalid},
		{"ARG A=1\n", "has no FROM", ErrInvalid},
		{"FROM debian12-fat\nRUN <<EOF\necho hi\nEOF\n", "heredoc", ErrUnsupported},
	} {
		_, err := Parse(strings.NewReader(c.df))
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, c.is) {
			t.Errorf("%q: got %v, want %q", c.df, err, c.want)
		}
	}
	for _, c := range []struct{ df, want string }{
		{"FROM debian12-fat\nADD https://example.com/app.tar.gz /srv/\n", "line 2: ADD https://example.com/app.tar.gz: sources from the network are not supported"},
		{"FROM debian12-fat\nCOPY ../secret /x\n", "line 2: COPY ../secret: the source is outside the build context"},
		{"FROM debian12-fat@sha256:abc\n", "the digest must be sha256:<64 hex digits>"},
		{"FROM debian12-fat\nEXPOSE http\n", `EXPOSE "http": give PORT`},
	} {
		ins, err := Parse(strings.NewReader(c.df))
		if err != nil {
			t.Fatal(err)
		}
		st := State{Args: map[string]string{}, Labels: map[string]string{}}
		for _, in := range ins {
			if _, st, err = Apply(st, in); err != nil {
				break
			}
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.df, err, c.want)
		}
	}
}

// A key changes with each thing the step depends on, and only with those.
func TestStepKey(t *testing.T) {
	ins, _ := Parse(strings.NewReader("FROM x\nCOPY app/ /srv/\n"))
	st := State{Args: map[string]string{}, Labels: map[string]string{}}
	step, _, err := Apply(st, ins[1])
	if err != nil {
		t.Fatal(err)
	}
	base := StepKey("p", step, st, "h1")
	if again := StepKey("p", step, st, "h1"); again != base {
		t.Error("the same inputs give another key")
	}
	withEnv := st.clone()
	withEnv.setenv("A", "1")
	withWd, withUser := st.clone(), st.clone()
	withWd.WorkDir, withUser.User = "/srv", "app"
	other := step
	other.Chown = "app"
	for what, k := range map[string]string{
		"parent":  StepKey("q", step, st, "h1"),
		"inputs":  StepKey("p", step, st, "h2"),
		"env":     StepKey("p", step, withEnv, "h1"),
		"workdir": StepKey("p", step, withWd, "h1"),
		"user":    StepKey("p", step, withUser, "h1"),
		"chown":   StepKey("p", other, st, "h1"),
	} {
		if k == base {
			t.Errorf("a different %s gives the same key", what)
		}
	}
	// Labels and ports are config, not inputs of a file step.
	withLabel := st.clone()
	withLabel.Labels["a"] = "b"
	if StepKey("p", step, withLabel, "h1") != base {
		t.Error("a label changed a COPY's key")
	}
}

// The content hash sees bytes and modes, not times.
func TestHashSources(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "app", "index.php")
	os.MkdirAll(filepath.Dir(f), 0o755)
	os.WriteFile(f, []byte("<?php echo 1;"), 0o644)
	h1, _ := hashSources(ignore{}, []string{filepath.Join(dir, "app")})
	os.Chtimes(f, time_(1), time_(1))
	if h, _ := hashSources(ignore{}, []string{filepath.Join(dir, "app")}); h != h1 {
		t.Error("a new mtime changed the hash")
	}
	os.Chmod(f, 0o755)
	h2, _ := hashSources(ignore{}, []string{filepath.Join(dir, "app")})
	os.WriteFile(f, []byte("<?php echo 2;"), 0o755)
	h3, _ := hashSources(ignore{}, []string{filepath.Join(dir, "app")})
	if h1 == h2 || h2 == h3 {
		t.Errorf("mode or content change not seen: %s %s %s", h1[:8], h2[:8], h3[:8])
	}
}

// A context symlink that leads out is refused; globs expand.
func TestSources(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.conf"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "b.conf"), nil, 0o644)
	os.Symlink("/etc/passwd", filepath.Join(dir, "leak"))
	ig, err := readIgnore(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sources(ig, Step{Instruction: Instruction{Line: 3, Cmd: "COPY"}, Srcs: []string{"*.conf"}})
	if err != nil || len(got) != 2 {
		t.Fatalf("glob: %v %v", got, err)
	}
	_, err = sources(ig, Step{Instruction: Instruction{Line: 4, Cmd: "COPY"}, Srcs: []string{"leak"}})
	if err == nil || !strings.Contains(err.Error(), "line 4: COPY leak:") || !strings.Contains(err.Error(), "leads outside the build context") {
		t.Errorf("symlink out: %v", err)
	}
	_, err = sources(ig, Step{Instruction: Instruction{Line: 5, Cmd: "COPY"}, Srcs: []string{"missing.txt"}})
	if err == nil || !strings.Contains(err.Error(), "no such file in the build context") {
		t.Errorf("missing: %v", err)
	}
}

// resolveIn keeps absolute symlinks and ".." inside the root.
func TestResolveIn(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "srv/real"), 0o755)
	os.Symlink("/srv/real", filepath.Join(root, "app"))
	os.Symlink("../../../../etc", filepath.Join(root, "srv/up"))
	for p, want := range map[string]string{
		"/app/x":    "/srv/real/x",
		"/srv/up/y": "/etc/y",
		"/../../z":  "/z",
	} {
		got, err := resolveIn(root, p)
		if err != nil || got != filepath.Join(root, want) {
			t.Errorf("%s: %s %v, want %s", p, got, err, want)
		}
	}
}

// .dockerignore leaves files out of what COPY reads (and of its key),
// with docker's ** and ! exceptions.
func TestDockerignore(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"app/index.php", "app/.git/HEAD", "app/lib/x.pyc", "app/lib/keep.pyc", "app/logs/today.log", "secret.txt"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644)
	}
	os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("# generated\napp/.git\napp/**/*.pyc\n!app/lib/keep.pyc\napp/logs/*\nsecret.txt\n"), 0o644)
	ig, err := readIgnore(dir)
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := sources(ig, Step{Instruction: Instruction{Line: 2, Cmd: "COPY"}, Srcs: []string{"app/"}})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	ig.walk(srcs[0], func(p string, d fs.DirEntry, err error) error {
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			seen = append(seen, rel)
		}
		return err
	})
	if want := []string{"app/index.php", "app/lib/keep.pyc"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("COPY app/ reads %q, want %q", seen, want)
	}
	h1, _ := hashSources(ig, srcs)
	os.WriteFile(filepath.Join(dir, "app/logs/today.log"), []byte("more"), 0o644)
	if h2, _ := hashSources(ig, srcs); h1 != h2 {
		t.Error("an ignored file changed the COPY's key")
	}
	if _, err := sources(ig, Step{Instruction: Instruction{Line: 3, Cmd: "COPY"}, Srcs: []string{"secret.txt"}}); err == nil || !strings.Contains(err.Error(), ".dockerignore leaves it out") {
		t.Errorf("an ignored source: %v", err)
	}
}
