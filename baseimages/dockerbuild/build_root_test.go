package dockerbuild_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/baseimages/dockerbuild"
	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/test/harness"
)

// rig is a store holding debian12-fat (from the recipe build cache) and a
// builder running RUN steps with runc under its own runc root.
type rig struct {
	store    *baseimages.Store
	b        *dockerbuild.Builder
	runcRoot string
}

func newRig(t *testing.T) *rig {
	harness.RequireRoot(t)
	for _, bin := range []string{"runc", "mmdebstrap", "apt-ftparchive", "tar", "cp"} {
		_, err := exec.LookPath(bin)
		harness.Require(t, err == nil, "%s (tools/setup-host.sh installs it)", bin)
	}
	dir := t.TempDir()
	store := &baseimages.Store{Root: filepath.Join(dir, "images")}
	rs, err := baseimages.BuiltinRecipes()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&baseimages.Builder{Store: store, Recipes: rs}).Build(context.Background(), "debian12-fat", nil); err != nil {
		t.Fatal(err)
	}
	r := &rig{store: store, runcRoot: filepath.Join(dir, "runc")}
	r.b = &dockerbuild.Builder{Store: store, Runner: &engine.BuildRunner{Runtime: &runtime.Runtime{Root: r.runcRoot}, Dir: filepath.Join(dir, "build")}}
	return r
}

func (r *rig) build(t *testing.T, dir, name string) (baseimages.Image, string, error) {
	t.Helper()
	var out bytes.Buffer
	img, err := r.b.Build(context.Background(), dockerbuild.Request{Dockerfile: filepath.Join(dir, "Dockerfile"), Name: name}, &out)
	t.Logf("build %s:\n%s", name, out.String())
	return img, out.String(), err
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		f := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readIn(t *testing.T, store *baseimages.Store, name, p string) string {
	t.Helper()
	root, err := store.Rootfs(name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, p))
	if err != nil {
		t.Errorf("%s in %s: %v", p, name, err)
	}
	return strings.TrimSpace(string(b))
}

// The builder runs a small app's Dockerfile with runc: COPY with --chown,
// ADD of a tarball, RUN without network (loopback only) as root and as
// USER, apt-get install from packages the host fetched, supervisord program
// files into the image's programs; a second build is fully cached; a
// changed source re-runs only its step and those after it.
func TestBuildDockerfile(t *testing.T) {
	r := newRig(t)
	ctxDir := t.TempDir()
	writeFiles(t, ctxDir, map[string]string{
		"Dockerfile": `FROM debian12-fat
ENV GREETING=hello
WORKDIR /srv/app
COPY --chown=www-data:www-data app/ ./
COPY app.conf /etc/supervisor/conf.d/app.conf
ADD data.tar.gz /srv/data/
RUN echo "$GREETING from $(pwd)" > built.txt && ls /sys/class/net > links.txt && id -u > uid.txt
RUN rm /etc/motd && rm -rf /etc/cron.d && mkdir /etc/cron.d && touch /etc/cron.d/only
RUN apt-get update && apt-get install -y --no-install-recommends jq && rm -rf /var/lib/apt/lists/*
USER www-data
RUN echo "$(id -un) $HOME" > /tmp/whoami
EXPOSE 8080
LABEL io.fatbox.app=demo io.fatbox.port=8080
`,
		"app/index.html": "hi\n",
		"app.conf":       "[program:app]\ncommand=/usr/bin/python3 -m http.server 8080\ndirectory=/srv/app\nuser=www-data\n",
		"data/seed.txt":  "seed\n",
	})
	if out, err := exec.Command("tar", "-czf", filepath.Join(ctxDir, "data.tar.gz"), "-C", filepath.Join(ctxDir, "data"), ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	img, out, err := r.build(t, ctxDir, "app:v1")
	if err != nil {
		t.Fatal(err)
	}
	base, _ := r.store.Inspect("debian12-fat")
	if img.Source != "dockerfile" || img.Parent != "debian12-fat" || img.ParentID != base.ID {
		t.Errorf("image %+v: want source dockerfile, parent debian12-fat (%s)", img, base.ID)
	}
	if img.Labels["io.fatbox.app"] != "demo" || img.Labels["io.fatbox.port"] != "8080" || len(img.Ports) != 1 || img.Ports[0] != "8080/tcp" ||
		img.WorkDir != "/srv/app" || img.User != "www-data" {
		t.Errorf("config: labels %v ports %v workdir %q user %q", img.Labels, img.Ports, img.WorkDir, img.User)
	}
	var app *baseimages.Program
	for i, p := range img.Programs {
		if p.Name == "app" {
			app = &img.Programs[i]
		}
	}
	if app == nil || app.Directory != "/srv/app" || app.User != "www-data" || app.Environment["GREETING"] != "hello" {
		t.Errorf("programs %+v: want app with directory, user and the image's ENV", img.Programs)
	}
	if got := readIn(t, r.store, "app:v1", "srv/app/built.txt"); got != "hello from /srv/app" {
		t.Errorf("built.txt %q", got)
	}
	if got := readIn(t, r.store, "app:v1", "srv/app/links.txt"); got != "lo" {
		t.Errorf("RUN saw links %q, want only lo", got)
	}
	if got := readIn(t, r.store, "app:v1", "tmp/whoami"); got != "www-data /var/www" {
		t.Errorf("RUN after USER ran as %q", got)
	}
	if got := readIn(t, r.store, "app:v1", "srv/data/seed.txt"); got != "seed" {
		t.Errorf("ADD did not extract: %q", got)
	}
	root, _ := r.store.Rootfs("app:v1")
	if fi, err := os.Stat(filepath.Join(root, "usr/bin/jq")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("apt-get install jq: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(root, "srv/app/index.html")); err != nil || fi.Sys().(interface{}) == nil {
		t.Errorf("COPY: %v", err)
	} else if uid := readIn(t, r.store, "app:v1", "etc/passwd"); !strings.Contains(uid, "www-data:x:33:33") {
		t.Errorf("no www-data")
	} else if st := statOwner(t, filepath.Join(root, "srv/app/index.html")); st != "33:33" {
		t.Errorf("COPY --chown: owner %s, want 33:33", st)
	}
	// A deleted file (whiteout) and a replaced directory (opaque) in the flattened image.
	if _, err := os.Lstat(filepath.Join(root, "etc/motd")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file the RUN deleted is in the image: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "etc/cron.d")); len(ents) != 1 || ents[0].Name() != "only" {
		t.Errorf("a directory the RUN replaced holds %v, want only", ents)
	}
	baseRoot0, _ := r.store.Rootfs("debian12-fat")
	if _, err := os.Lstat(filepath.Join(baseRoot0, "etc/motd")); err != nil {
		t.Errorf("the base image lost /etc/motd: %v", err)
	}
	// The image's own apt sources are untouched.
	baseRoot, _ := r.store.Rootfs("debian12-fat")
	if a, b := readFile(filepath.Join(baseRoot, "etc/apt/sources.list")), readFile(filepath.Join(root, "etc/apt/sources.list")); a != b {
		t.Errorf("apt sources changed: %q -> %q", a, b)
	}
	if !strings.Contains(out, "[9/13] RUN apt-get update") || !strings.Contains(out, "fetched") {
		t.Errorf("progress lacks the step line or the prefetch: %s", out)
	}

	// Again: every step cached, the same image.
	img2, out, err := r.build(t, ctxDir, "app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if img2.ID != img.ID || strings.Count(out, "(cached)") != 12 || !strings.Contains(out, "image app:v1 is up to date: 12 of 12 steps cached") {
		t.Errorf("second build not fully cached (%s vs %s):\n%s", img2.ID, img.ID, out)
	}

	// A changed source: its step and the ones after run again.
	writeFiles(t, ctxDir, map[string]string{"app.conf": "[program:app]\ncommand=/usr/bin/python3 -m http.server 8081\n"})
	img3, out, err := r.build(t, ctxDir, "app:v2")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "(cached)") != 3 || img3.ID == img.ID {
		t.Errorf("after changing app.conf want 3 cached steps (ENV, WORKDIR, first COPY):\n%s", out)
	}
	// --no-cache runs every step again and keeps none of its layers.
	before, _ := os.ReadDir(filepath.Join(r.store.Root, "layers"))
	var nc bytes.Buffer
	img4, err := r.b.Build(context.Background(), dockerbuild.Request{Dockerfile: filepath.Join(ctxDir, "Dockerfile"), Name: "app:nocache", NoCache: true}, &nc)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadDir(filepath.Join(r.store.Root, "layers"))
	if strings.Contains(nc.String(), "(cached)") || len(after) != len(before) || img4.ID == "" {
		t.Errorf("--no-cache: %d layers before, %d after:\n%s", len(before), len(after), nc.String())
	}
	if got := readIn(t, r.store, "app:nocache", "srv/app/built.txt"); got != "hello from /srv/app" {
		t.Errorf("--no-cache image: built.txt %q", got)
	}
	// An existing name with another build is refused, naming the fix.
	if _, _, err := r.build(t, ctxDir, "app:v1"); !errors.Is(err, baseimages.ErrExists) || !strings.Contains(err.Error(), "fatbox image rm app:v1") {
		t.Errorf("rebuild under a taken name: %v", err)
	}
}

func readFile(p string) string { b, _ := os.ReadFile(p); return string(b) }

func statOwner(t *testing.T, p string) string {
	out, err := exec.Command("stat", "-c", "%u:%g", p).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// A RUN that fails leaves no image, layer, mount, container or netns; an
// unsupported instruction and a pinned digest that does not match are
// refused before anything runs.
func TestBuildFailures(t *testing.T) {
	r := newRig(t)
	layersDir := filepath.Join(r.store.Root, "layers")
	ctxDir := t.TempDir()
	writeFiles(t, ctxDir, map[string]string{"Dockerfile": "FROM debian12-fat\nRUN touch /made && echo boom >&2 && exit 3\n"})
	_, _, err := r.build(t, ctxDir, "fail:v1")
	if !errors.Is(err, dockerbuild.ErrRunFailed) || !strings.Contains(err.Error(), "line 2: RUN touch /made") || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("failed RUN: %v", err)
	}
	if _, err := r.store.Inspect("fail:v1"); !errors.Is(err, baseimages.ErrNotFound) {
		t.Errorf("a failed build left image fail:v1: %v", err)
	}
	ents, _ := os.ReadDir(layersDir)
	for _, e := range ents {
		t.Errorf("a failed build left a layer: %s", e.Name())
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), r.store.Root) {
		t.Errorf("a failed build left a mount under %s", r.store.Root)
	}
	if ents, _ := os.ReadDir(r.runcRoot); len(ents) > 0 {
		t.Errorf("a failed build left runc state: %v", ents)
	}
	suffix := "_" + strconv.Itoa(os.Getpid())
	if cg, _ := filepath.Glob("/sys/fs/cgroup/*/fatbox-build/" + dockerbuild.RunIDPrefix + "*" + suffix); len(cg) > 0 {
		t.Errorf("a failed build left cgroups %v", cg)
	}
	ns, _ := os.ReadDir("/var/run/netns")
	for _, e := range ns {
		if strings.HasPrefix(e.Name(), dockerbuild.RunIDPrefix) && strings.HasSuffix(e.Name(), "_"+strconv.Itoa(os.Getpid())) {
			t.Errorf("a failed build left netns %s", e.Name())
		}
	}

	writeFiles(t, ctxDir, map[string]string{"Dockerfile": "FROM debian12-fat\nRUN true\nCMD [\"/app\"]\n"})
	_, _, err = r.build(t, ctxDir, "cmd:v1")
	if !errors.Is(err, dockerbuild.ErrUnsupported) || !strings.Contains(err.Error(), "line 3: CMD is not supported") || !strings.Contains(err.Error(), "/etc/supervisor/conf.d/NAME.conf") {
		t.Errorf("CMD: %v", err)
	}
	wrong := strings.Repeat("ab", 32)
	writeFiles(t, ctxDir, map[string]string{"Dockerfile": "FROM debian12-fat@sha256:" + wrong + "\nRUN true\n"})
	base, _ := r.store.Inspect("debian12-fat")
	_, _, err = r.build(t, ctxDir, "pin:v1")
	if !errors.Is(err, dockerbuild.ErrDigest) || !strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), base.ID) {
		t.Errorf("digest mismatch: %v", err)
	}
	writeFiles(t, ctxDir, map[string]string{"Dockerfile": "FROM debian12-fat@sha256:" + base.ID + "\nRUN apt-get install -y no-such-package-fatbox\n"})
	_, _, err = r.build(t, ctxDir, "apt:v1")
	if err == nil || !strings.Contains(err.Error(), "no-such-package-fatbox") || !strings.Contains(err.Error(), "--network") {
		t.Errorf("unknown package: %v", err)
	}
}

// helperEnv makes the test binary a builder killed mid-RUN (TestSweep).
const helperEnv = "FATBOX_DOCKERBUILD_HELPER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		b := &dockerbuild.Builder{Store: &baseimages.Store{Root: filepath.Join(dir, "images")},
			Runner: &engine.BuildRunner{Runtime: &runtime.Runtime{Root: filepath.Join(dir, "runc")}, Dir: filepath.Join(dir, "build")}}
		_, err := b.Build(context.Background(), dockerbuild.Request{Dockerfile: filepath.Join(dir, "ctx", "Dockerfile"), Name: "slow:v1"}, os.Stdout)
		fmt.Printf("the build ended (%v): it should have been killed\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// A builder killed with SIGKILL in the middle of a RUN leaves its step's
// container running, the overlay mounted, a temp layer and a netns; the
// runner's and the builder's sweeps (the daemon runs them at start) take
// them all away.
func TestSweep(t *testing.T) {
	r := newRig(t)
	dir := filepath.Dir(r.store.Root)
	writeFiles(t, filepath.Join(dir, "ctx"), map[string]string{"Dockerfile": "FROM debian12-fat\nRUN touch /started && sleep 300\n"})
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	id := ""
	for i := 0; i < 300 && id == ""; i++ {
		ents, _ := os.ReadDir("/var/run/netns")
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), dockerbuild.RunIDPrefix) && strings.HasSuffix(e.Name(), "_"+strconv.Itoa(cmd.Process.Pid)) {
				id = e.Name()
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if id == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the helper's RUN never started:\n%s", out.String())
	}
	time.Sleep(500 * time.Millisecond) // runc run is under way
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	layersDir := filepath.Join(r.store.Root, "layers")
	tmps, _ := filepath.Glob(filepath.Join(layersDir, ".tmp-*"))
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if len(tmps) != 1 || !strings.Contains(string(mi), layersDir) {
		t.Fatalf("the kill left no temp layer or mount to sweep (%v): the test proves nothing", tmps)
	}
	runner := &engine.BuildRunner{Runtime: &runtime.Runtime{Root: filepath.Join(dir, "runc")}, Dir: filepath.Join(dir, "build")}
	b := &dockerbuild.Builder{Store: r.store, Runner: runner}
	if err := errors.Join(runner.Sweep(context.Background()), b.Sweep()); err != nil {
		t.Fatal(err)
	}
	if ids, _ := runner.Runtime.List(context.Background()); len(ids) > 0 {
		t.Errorf("containers left: %v", ids)
	}
	if _, err := os.Stat(filepath.Join("/var/run/netns", id)); err == nil {
		t.Errorf("netns %s left", id)
	}
	mi, _ = os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), dir) {
		t.Errorf("mounts left under %s", dir)
	}
	if ents, _ := os.ReadDir(layersDir); len(ents) > 0 {
		t.Errorf("layers left: %v", ents)
	}
}
