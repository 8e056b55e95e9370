// Package appgen tests `fatbox dockerfile` end to end: the real binary asks
// a real daemon for the base image's digest, refuses what it cannot do
// without leaving anything, and the contexts it writes for the corpus build
// with `fatbox image build --dockerfile` into images whose containers answer
// on the expected port.
package appgen

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
	"github.com/fatbox/fatbox/test/harness"
	"github.com/fatbox/fatbox/tools/appgen"
)

func TestMain(m *testing.M) { e2ekit.Main(m) }

func corpusApp(t *testing.T, layout string) appgen.CorpusApp {
	t.Helper()
	apps, err := appgen.Corpus(appgen.CorpusDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		if a.Layout == layout {
			return a
		}
	}
	t.Fatalf("no corpus app %s", layout)
	return appgen.CorpusApp{}
}

// The FROM line names the base image by the content ID the daemon's store
// has; a base that is not built, and an app no detector knows, are refused
// with the fix and leave nothing behind.
func TestDockerfileDigest(t *testing.T) {
	e := e2ekit.NewEnv(t, "198.19.180.0/24")
	var fat api.Image
	if err := json.Unmarshal([]byte(e.OK("image", "inspect", "debian12-fat", "-o", "json").Stdout), &fat); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "ctx")
	e.OK("dockerfile", corpusApp(t, "python-wsgi").Dir, "--out", out)
	df, err := os.ReadFile(filepath.Join(out, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(df), "\nFROM debian12-fat@sha256:"+fat.ID+"\n") {
		t.Errorf("the Dockerfile does not name debian12-fat by its content ID %s:\n%s", fat.ID, df)
	}
	golden, err := os.ReadFile(filepath.Join(appgen.CorpusDir(), "..", "golden", "corpus", "python-wsgi", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(string(df), fat.ID, "{{BASE_DIGEST}}"); got != string(golden) {
		t.Errorf("the binary's Dockerfile differs from the golden file:\n%s", got)
	}

	parent := t.TempDir()
	for _, c := range []struct{ app, want string }{
		{corpusApp(t, "war").Dir, "run `fatbox image build debian12-java` first"},
		{filepath.Join(appgen.CorpusDir(), "..", "unknown", "docs-only"), "start-script: looked for a start script"},
	} {
		r := e2ekit.Fatbox(t, "--socket", e.Sock, "dockerfile", c.app, "--out", filepath.Join(parent, "ctx"))
		if r.Code == 0 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("dockerfile %s: exit %d, stderr %q; want a failure saying %q", c.app, r.Code, r.Stderr, c.want)
		}
		if ents, _ := os.ReadDir(parent); len(ents) > 0 {
			t.Errorf("dockerfile %s left %v behind", c.app, ents)
		}
	}
}

// Corpus apps the builder's own end-to-end test has no shape of (a
// systemd unit with a forking daemon, a SysV init script, a start script
// with a user crontab and a log directory, a static site needing nginx
// from Debian) are generated, built in parallel, created, and answer on the
// port of their expect.json. The whole corpus runs in test/bench/appbuild.sh.
func TestCorpusAnswers(t *testing.T) {
	help := e2ekit.Fatbox(t, "image", "build", "--help")
	harness.Require(t, strings.Contains(help.Stdout, "--dockerfile"), "`fatbox image build --dockerfile` (issue 18's image builder)")
	e := e2ekit.NewEnv(t, "198.19.181.0/24")
	layouts := []string{"systemd", "initscript", "binary", "static"}
	ctx := t.TempDir()
	t.Run("build", func(t *testing.T) {
		for _, l := range layouts {
			t.Run(l, func(t *testing.T) {
				t.Parallel()
				dir := filepath.Join(ctx, l)
				e.OKIn(t, "dockerfile", corpusApp(t, l).Dir, "--out", dir)
				start := time.Now()
				e.OKIn(t, "image", "build", "--dockerfile", filepath.Join(dir, "Dockerfile"), "--name", "ag-"+l+":v1")
				t.Logf("built ag-%s:v1 in %.1fs", l, time.Since(start).Seconds())
			})
		}
	})
	if t.Failed() {
		return
	}
	// The same app generated again: the same files, byte for byte (the
	// app's copy included), and a fully cached build.
	again := filepath.Join(ctx, "binary-again")
	e.OK("dockerfile", corpusApp(t, "binary").Dir, "--out", again)
	e2ekit.SameTree(t, filepath.Join(ctx, "binary"), again)
	if r := e.OK("image", "build", "--dockerfile", filepath.Join(again, "Dockerfile"), "--name", "ag-binary:v1"); !strings.Contains(r.Stderr, "is up to date") {
		t.Errorf("the second build of the regenerated context was not fully cached:\n%s", r.Stderr)
	}
	ips := map[string]string{}
	for _, l := range layouts {
		ips[l] = e.Create("ag-"+l, "--image", "ag-"+l+":v1").IP
	}
	client := e.ClientNetns(t, "198.19.181.250/24")
	t.Run("answer", func(t *testing.T) {
		for _, l := range layouts {
			t.Run(l, func(t *testing.T) {
				t.Parallel()
				a := corpusApp(t, l)
				e2ekit.WaitAnswer(t, client, "http://"+ips[l]+":"+strconv.Itoa(a.Port)+a.Path, a.Body)
			})
		}
	})
}
