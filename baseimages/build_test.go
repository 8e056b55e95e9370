package baseimages

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/test/harness"
)

// TestBuildFat builds debian12-fat (or imports the cached build keyed by the
// recipe's content) and looks inside with chroot.
func TestBuildFat(t *testing.T) {
	harness.RequireRoot(t)
	_, err := exec.LookPath("mmdebstrap")
	harness.Require(t, err == nil, "mmdebstrap (tools/setup-host.sh installs it)")
	rs, err := BuiltinRecipes()
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{Root: filepath.Join(t.TempDir(), "images")}
	b := &Builder{Store: s, Recipes: rs, CacheDir: filepath.Join(harness.CacheDir(), "images")}
	var progress strings.Builder
	img, err := b.Build(context.Background(), "debian12-fat", &progress)
	t.Logf("build progress:\n%s", progress.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "s] ") {
		t.Fatalf("no step lines with elapsed time: %q", progress.String())
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
