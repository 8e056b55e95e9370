package firstboot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/inventory/logfwd"
)

// Each boot writes the forwarding drop-in for the setting, and removes it
// when there is none; a link planted at its path is replaced, never
// followed, and a link for /etc/rsyslog.d stays inside the root.
func TestSyslogDropIn(t *testing.T) {
	state, rootfs := t.TempDir(), t.TempDir()
	drop := filepath.Join(rootfs, logfwd.DropIn)
	cfg := testConfig(t)
	cfg.Syslog = "tcp://198.51.100.7:514"
	if err := Write(rootfs, state, cfg); err != nil {
		t.Fatal(err)
	}
	got := read(t, drop)
	if !strings.Contains(got, `target="198.51.100.7" port="514" protocol="tcp"`) || !strings.Contains(got, "RSYSLOG_SyslogProtocol23Format") {
		t.Fatalf("drop-in:\n%s", got)
	}
	if m := mode(t, drop); m.Perm() != 0o644 || !m.IsRegular() {
		t.Fatalf("drop-in mode %v, want a 0644 file", m)
	}

	// A link at the drop-in's path pointing out of the root is replaced.
	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(drop)
	if err := os.Symlink(outside, drop); err != nil {
		t.Fatal(err)
	}
	cfg.Syslog = "udp://198.51.100.7:1514"
	if err := Write(rootfs, state, cfg); err != nil {
		t.Fatal(err)
	}
	if read(t, outside) != "keep\n" {
		t.Fatal("Write wrote through a link out of the root")
	}
	if m := mode(t, drop); !m.IsRegular() || !strings.Contains(read(t, drop), `protocol="udp"`) {
		t.Fatalf("drop-in not replaced by a file for udp: %v", m)
	}

	// No setting: removed (a link is removed, not its target).
	os.Remove(drop)
	os.Symlink(outside, drop)
	cfg.Syslog = ""
	if err := Write(rootfs, state, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(drop); !os.IsNotExist(err) {
		t.Fatalf("drop-in still there without a setting: %v", err)
	}
	if read(t, outside) != "keep\n" {
		t.Fatal("removing the drop-in touched a file out of the root")
	}
	// Removing when /etc/rsyslog.d does not exist is nothing to do.
	if err := WriteSyslog(t.TempDir(), ""); err != nil {
		t.Fatal(err)
	}

	// /etc/rsyslog.d a link out of the root: written inside the root.
	rootfs2, out2 := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(rootfs2, "etc"), 0o755)
	os.MkdirAll(filepath.Join(rootfs2, out2), 0o755)
	os.Symlink(out2, filepath.Join(rootfs2, "etc/rsyslog.d"))
	if err := WriteSyslog(rootfs2, "tcp://collector.example:514"); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, out2)

	// A bad setting fails before anything is written.
	cfg.Syslog = "http://x:1"
	if err := Write(t.TempDir(), state, cfg); err == nil || !strings.Contains(err.Error(), "tcp or udp") {
		t.Fatalf("bad collector: %v", err)
	}
}
