// Package appbuild tests `fatbox image build --dockerfile` end to end: app
// Dockerfiles of the shapes the generator writes are built in parallel on
// the fat base images, containers are created from them, and each answers
// on its port from a client on the pool's bridge.
package appbuild

import (
	"archive/zip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
)

func TestMain(m *testing.M) { e2ekit.Main(m) }

type app struct {
	name string // testdata dir; image ib-<name>:v1, container ib-<name>
	port int
	path string
	want string // in the HTTP answer
}

var apps = []app{
	{"php", 80, "/", "php ok 8.2"},
	{"wsgi", 8000, "/", "wsgi ok"},
	{"node", 3000, "/", "node ok production"},
	{"war", 8080, "/app/", "war ok"},
}

// TestAppBuild: build the PHP and Java fat images, then four apps at once
// (RUN apt-get install from host-fetched packages, COPY, program files),
// a second build fully cached, `image ls` showing the chain, and
// containers from the images answering HTTP on their ports.
func TestAppBuild(t *testing.T) {
	t.Parallel()
	e := e2ekit.NewEnv(t, "198.19.182.0/24")
	e.OK("image", "build", "debian12-php")
	e.OK("image", "build", "debian12-java")
	ctxs := map[string]string{}
	for _, a := range apps {
		ctxs[a.name] = contextOf(t, a.name)
	}

	t.Run("build", func(t *testing.T) {
		for _, a := range apps {
			t.Run(a.name, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				r := build(t, e, ctxs[a.name], a.name)
				t.Logf("built ib-%s:v1 in %.1fs:\n%s", a.name, time.Since(start).Seconds(), r.Stderr)
			})
		}
	})
	if t.Failed() {
		return
	}

	// The same app again: every step cached, the same image.
	r := build(t, e, ctxs["php"], "php")
	if !strings.Contains(r.Stderr, "image ib-php:v1 is up to date: 3 of 3 steps cached") || strings.Count(r.Stderr, "(cached)") != 3 {
		t.Errorf("second build not fully cached:\n%s", r.Stderr)
	}
	var imgs []api.Image
	if err := json.Unmarshal([]byte(e.OK("image", "ls", "-o", "json").Stdout), &imgs); err != nil {
		t.Fatal(err)
	}
	byName := map[string]api.Image{}
	for _, i := range imgs {
		byName[i.Name] = i
	}
	php := byName["ib-php:v1"]
	if php.Source != "dockerfile" || php.Parent != "debian12-php" || php.ParentID != byName["debian12-php"].ID ||
		php.Labels["io.fatbox.port"] != "80" || len(php.Ports) != 1 || php.Ports[0] != "80/tcp" {
		t.Errorf("ib-php:v1 = %+v", php)
	}
	if ls := e.OK("image", "ls").Stdout; !strings.Contains(ls, "debian12-php <- debian12-fat") {
		t.Errorf("image ls shows no chain:\n%s", ls)
	}

	ips := map[string]string{}
	for _, a := range apps {
		ips[a.name] = e.Create("ib-"+a.name, "--image", "ib-"+a.name+":v1", "--memory", "768M").IP
	}
	client := e.ClientNetns(t, "198.19.182.250/24") // the bridge exists once a container is on it
	t.Run("answer", func(t *testing.T) {
		for _, a := range apps {
			t.Run(a.name, func(t *testing.T) {
				t.Parallel()
				url := "http://" + ips[a.name] + ":" + strconv.Itoa(a.port) + a.path
				var last string
				defer func() {
					if t.Failed() {
						t.Logf("last answer from %s: %q", url, last)
					}
				}()
				e2ekit.WaitFor(t, 2*time.Minute, "ib-"+a.name+" answering "+url, func() bool {
					out, _ := exec.Command("nsenter", "--net=/var/run/netns/"+client, "curl", "-s", "-m", "2", url).CombinedOutput()
					last = string(out)
					return strings.Contains(last, a.want)
				})
			})
		}
	})
}

func build(t *testing.T, e *e2ekit.Env, dir, name string) e2ekit.Result {
	t.Helper()
	return e.OK("image", "build", "--dockerfile", filepath.Join(dir, "Dockerfile"), "--context", dir, "--name", "ib-"+name+":v1")
}

// contextOf copies testdata/<name> to a temp dir (a WAR is zipped from
// its webapp dir there).
func contextOf(t *testing.T, name string) string {
	t.Helper()
	src, dst := filepath.Join("testdata", name), t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if web := filepath.Join(dst, "webapp"); name == "war" {
		zipDir(t, web, filepath.Join(dst, "app.war"))
		os.RemoveAll(web)
	}
	return dst
}

func zipDir(t *testing.T, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		w, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.Copy(w, in)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
}
