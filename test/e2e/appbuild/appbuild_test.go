// Package appbuild tests `fatbox image build --dockerfile` end to end on
// what the generator writes: corpus apps (a WAR, a Python WSGI app, PHP,
// Node) go through `fatbox dockerfile`, are built in parallel on the fat
// base images, and containers created from them answer on their ports from
// a client on the pool's bridge. Generating again gives the same files and
// a fully cached build.
package appbuild

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
	"github.com/fatbox/fatbox/tools/appgen"
)

func TestMain(m *testing.M) { e2ekit.Main(m) }

// The layouts built here; test/e2e/appgen builds others, and
// test/bench/appbuild.sh the whole corpus.
var layouts = []string{"war", "python-wsgi", "php", "node"}

func TestAppBuild(t *testing.T) {
	t.Parallel()
	e := e2ekit.NewEnv(t, "198.19.182.0/24")
	e.OK("image", "build", "debian12-php")
	e.OK("image", "build", "debian12-java")
	all, err := appgen.Corpus(appgen.CorpusDir())
	if err != nil {
		t.Fatal(err)
	}
	apps := map[string]appgen.CorpusApp{}
	for _, a := range all {
		apps[a.Layout] = a
	}
	ctx := t.TempDir()
	t.Run("build", func(t *testing.T) {
		for _, l := range layouts {
			t.Run(l, func(t *testing.T) {
				t.Parallel()
				dir := filepath.Join(ctx, l)
				e.OKIn(t, "dockerfile", apps[l].Dir, "--out", dir)
				start := time.Now()
				r := e.OKIn(t, "image", "build", "--dockerfile", filepath.Join(dir, "Dockerfile"), "--name", "ib-"+l+":v1")
				t.Logf("built ib-%s:v1 in %.1fs:\n%s", l, time.Since(start).Seconds(), r.Stderr)
			})
		}
	})
	if t.Failed() {
		return
	}

	// Generated again: the same files byte for byte, every step cached.
	again := filepath.Join(ctx, "php-again")
	e.OK("dockerfile", apps["php"].Dir, "--out", again)
	e2ekit.SameTree(t, filepath.Join(ctx, "php"), again)
	r := e.OK("image", "build", "--dockerfile", filepath.Join(again, "Dockerfile"), "--name", "ib-php:v1")
	if !strings.Contains(r.Stderr, "image ib-php:v1 is up to date") || strings.Contains(r.Stderr, "done in") {
		t.Errorf("the second build was not fully cached:\n%s", r.Stderr)
	}

	// The chain: app image <- middleware image <- OS image, with the labels.
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
		php.Labels["io.fatbox.port"] != strconv.Itoa(apps["php"].Port) || len(php.Ports) != 1 {
		t.Errorf("ib-php:v1 = %+v", php)
	}
	if ls := e.OK("image", "ls").Stdout; !strings.Contains(ls, "debian12-php <- debian12-fat") || !strings.Contains(ls, "debian12-java <- debian12-fat") {
		t.Errorf("image ls shows no chain:\n%s", ls)
	}

	ips := map[string]string{}
	for _, l := range layouts {
		ips[l] = e.Create("ib-"+l, "--image", "ib-"+l+":v1", "--memory", "768M").IP
	}
	client := e.ClientNetns(t, "198.19.182.250/24") // the bridge exists once a container is on it
	t.Run("answer", func(t *testing.T) {
		for _, l := range layouts {
			t.Run(l, func(t *testing.T) {
				t.Parallel()
				a := apps[l]
				e2ekit.WaitAnswer(t, client, "http://"+ips[l]+":"+strconv.Itoa(a.Port)+a.Path, a.Body)
			})
		}
	})
}
