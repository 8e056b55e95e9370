package baseimages

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/test/harness"
)

// TestBuildFat builds debian12-fat and looks inside with chroot.
//
// Under the strict gate (CI=true or FATBOX_STRICT=1) it builds into a cache
// of its own, so mmdebstrap really runs (one build, about 75 s on 2 cores)
// and the test proves it did: the step lines mmdebstrap prints, and the
// tarball made during this test. Otherwise it may import the build cached in
// the shared cache by the recipe's content key, like every other image user.
func TestBuildFat(t *testing.T) {
	harness.RequireRoot(t)
	_, err := exec.LookPath("mmdebstrap")
	harness.Require(t, err == nil, "mmdebstrap (tools/setup-host.sh installs it)")
	rs, err := BuiltinRecipes()
	if err != nil {
		t.Fatal(err)
	}
	fresh := harness.Strict()
	cache := filepath.Join(harness.CacheDir(), "images")
	if fresh {
		cache = filepath.Join(t.TempDir(), "cache")
	}
	s := &Store{Root: filepath.Join(t.TempDir(), "images")}
	b := &Builder{Store: s, Recipes: rs, CacheDir: cache}
	var progress strings.Builder
	began := time.Now()
	img, err := b.Build(context.Background(), "debian12-fat", &progress)
	t.Logf("build progress (%s):\n%s", time.Since(began).Round(time.Second), progress.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "s] ") {
		t.Fatalf("no step lines with elapsed time: %q", progress.String())
	}
	if fresh {
		checkRealBuild(t, progress.String(), cache, "debian12-fat-"+img.RecipeKey+".tar", began)
	} else {
		t.Logf("not strict: the shared cache %s may have served this build", cache)
	}
	rootfs, err := s.Rootfs("debian12-fat")
	if err != nil {
		t.Fatal(err)
	}
	for _, bin := range []string{"sshd", "cron", "rsyslogd", "python3", "ping", "sudo", "ip", "lsof", "curl", "logrotate"} {
		out, err := exec.Command("chroot", rootfs, "/bin/sh", "-c", "command -v "+bin).CombinedOutput()
		if err != nil {
			t.Errorf("%s not in the image: %v %s", bin, err, out)
		}
	}
	if out, err := exec.Command("chroot", rootfs, "python3", "-c", "import json, subprocess, shutil, locale, hashlib, platform; print('ok')").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("python3 cannot load the modules Ansible uses: %v %s", err, out)
	}
	keys, _ := filepath.Glob(filepath.Join(rootfs, "etc/ssh/ssh_host_*"))
	if len(keys) != 0 {
		t.Errorf("SSH host keys baked into the image: %v", keys)
	}
	conf, err := os.ReadFile(filepath.Join(rootfs, "etc/ssh/sshd_config.d/fatbox.conf"))
	if err != nil || !strings.Contains(string(conf), "PasswordAuthentication no") || !strings.Contains(string(conf), "PermitRootLogin prohibit-password") {
		t.Errorf("sshd config: %v %s", err, conf)
	}
	if img.RecipeKey == "" || img.Size < 50<<20 || len(img.Packages) < 100 {
		t.Errorf("metadata: key %q size %d packages %d", img.RecipeKey, img.Size, len(img.Packages))
	}
	// A second build is the cached one.
	progress.Reset()
	if _, err := b.Build(context.Background(), "debian12-fat", &progress); err != nil || !strings.Contains(progress.String(), "up to date") {
		t.Fatalf("second build: %v %s", err, progress.String())
	}
	t.Logf("debian12-fat: %.0f MiB, %d packages", float64(img.Size)/(1<<20), len(img.Packages))
}

// checkRealBuild fails unless the build that wrote progress ran mmdebstrap
// into cache: the builder said it was building (not "using cached build"),
// mmdebstrap's own info lines came through between that line and the import,
// and the cache holds exactly the keyed tarball, written during this test.
func checkRealBuild(t *testing.T, progress, cache, tarName string, began time.Time) {
	t.Helper()
	if strings.Contains(progress, "using cached build") {
		t.Fatalf("the build came from a cache, not from mmdebstrap:\n%s", progress)
	}
	lines := strings.Split(strings.TrimSpace(progress), "\n")
	building, importing := -1, -1
	for i, l := range lines {
		switch {
		case building < 0 && strings.Contains(l, "building debian12-fat:") && strings.Contains(l, "with mmdebstrap"):
			building = i
		case building >= 0 && importing < 0 && strings.Contains(l, "importing into the image store"):
			importing = i
		}
	}
	if building < 0 || importing < 0 {
		t.Fatalf("no 'building ... with mmdebstrap' line followed by the import:\n%s", progress)
	}
	// mmdebstrap's own info lines ("I: ..." on its stderr) report each
	// phase of a real run, from the download to its closing "success in".
	ran := strings.Join(lines[building+1:importing], "\n")
	for _, want := range []string{"downloading packages", "installing", "success in"} {
		if !strings.Contains(ran, want) {
			t.Fatalf("mmdebstrap's progress lacks %q between 'building' and 'importing':\n%s", want, progress)
		}
	}
	ents, err := os.ReadDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != tarName {
		t.Fatalf("the build cache %s holds %v, want only %s (no temp files left)", cache, names, tarName)
	}
	st, err := os.Stat(filepath.Join(cache, tarName))
	if err != nil {
		t.Fatal(err)
	}
	if st.ModTime().Before(began.Add(-time.Second)) || st.Size() < 50<<20 {
		t.Fatalf("%s: modified %s (the build began %s), %d bytes: not this test's build", tarName, st.ModTime(), began, st.Size())
	}
}
