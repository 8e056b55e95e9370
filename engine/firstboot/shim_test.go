package firstboot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShimLinks: with a shim, every boot links its command names to it:
// /usr/local is the shim's whatever is there; a package's file under /usr
// is never replaced; supervisord runs its init and includes its programs.
func TestShimLinks(t *testing.T) {
	rootfs, state := t.TempDir(), t.TempDir()
	for _, d := range []string{"usr/local/sbin", "usr/bin", "usr/sbin"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A package's journalctl and someone's own script in /usr/local/sbin.
	pkg := filepath.Join(rootfs, "usr/bin/journalctl")
	if err := os.WriteFile(pkg, []byte("#!real journalctl\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "usr/local/sbin/systemctl"), []byte("#!old\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.VMShim = "/.fatbox/vmshim"
	for range 2 { // idempotent
		if err := Write(rootfs, state, cfg); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range ShimLinks() {
		p := filepath.Join(rootfs, l.Path)
		got, err := os.Readlink(p)
		if p == pkg {
			if err == nil || read(t, p) != "#!real journalctl\n" {
				t.Fatalf("the package's %s was replaced (link %q, err %v)", l.Path, got, err)
			}
			continue
		}
		if err != nil || got != "/.fatbox/vmshim" {
			t.Fatalf("%s: link %q, err %v", l.Path, got, err)
		}
	}
	conf := read(t, filepath.Join(rootfs, "etc/supervisor/supervisord.conf"))
	for _, want := range []string{"[program:" + ShimInitProgram + "]\ncommand=/.fatbox/vmshim init\nautostart=true", "[include]\nfiles = " + ShimInclude + "\n"} {
		if !strings.Contains(conf, want) {
			t.Fatalf("supervisord.conf lacks %q:\n%s", want, conf)
		}
	}
	// Without a shim: no links, no init program, no include.
	rootfs2 := t.TempDir()
	if err := Write(rootfs2, state, testConfig(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(rootfs2, "usr/local/sbin/systemctl")); err == nil {
		t.Fatal("links made without a shim")
	}
	if conf := read(t, filepath.Join(rootfs2, "etc/supervisor/supervisord.conf")); strings.Contains(conf, ShimInitProgram) || strings.Contains(conf, "[include]") {
		t.Fatalf("shim config without a shim:\n%s", conf)
	}
}

// TestShimLinkBlocked: a directory where a link goes is skipped; the boot
// goes on and the other links are made.
func TestShimLinkBlocked(t *testing.T) {
	rootfs, state := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "usr/local/sbin/reboot/x"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.VMShim = "/.fatbox/vmshim"
	if err := Write(rootfs, state, cfg); err != nil {
		t.Fatalf("a blocked link failed the boot: %v", err)
	}
	if got, err := os.Readlink(filepath.Join(rootfs, "usr/local/sbin/systemctl")); err != nil || got != "/.fatbox/vmshim" {
		t.Fatalf("systemctl: %q %v", got, err)
	}
}

// TestShimDisabledPrograms: programs the shim recorded as disabled are
// written autostart=false; the shim's own init never is; junk is ignored.
func TestShimDisabledPrograms(t *testing.T) {
	rootfs, state := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "etc/fatbox"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc/fatbox/disabled-programs"), []byte("# x\ncron\nfatbox-init\nno-such\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.VMShim = "/.fatbox/vmshim"
	if err := Write(rootfs, state, cfg); err != nil {
		t.Fatal(err)
	}
	conf := read(t, filepath.Join(rootfs, "etc/supervisor/supervisord.conf"))
	for prog, want := range map[string]string{"cron": "false", "sshd": "true", ShimInitProgram: "true"} {
		if !strings.Contains(programBlock(conf, prog), "autostart="+want+"\n") {
			t.Fatalf("%s: want autostart=%s in:\n%s", prog, want, conf)
		}
	}
	// A symlink out of the root is not followed.
	os.Remove(filepath.Join(rootfs, "etc/fatbox/disabled-programs"))
	outside := filepath.Join(t.TempDir(), "list")
	os.WriteFile(outside, []byte("sshd\n"), 0o644)
	os.Symlink(outside, filepath.Join(rootfs, "etc/fatbox/disabled-programs"))
	if err := Write(rootfs, state, cfg); err != nil {
		t.Fatal(err)
	}
	if conf := read(t, filepath.Join(rootfs, "etc/supervisor/supervisord.conf")); !strings.Contains(programBlock(conf, "sshd"), "autostart=true\n") {
		t.Fatalf("followed a link out of the root:\n%s", conf)
	}
}

// programBlock is the [program:name] section of a supervisord.conf.
func programBlock(conf, name string) string {
	i := strings.Index(conf, "[program:"+name+"]\n")
	if i < 0 {
		return ""
	}
	b := conf[i:]
	if j := strings.Index(b, "\n\n"); j >= 0 {
		b = b[:j+1]
	}
	return b
}
