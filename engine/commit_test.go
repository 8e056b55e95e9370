package engine

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func put(t *testing.T, root, p, body string) {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// stripIdentity removes host keys, every authorized_keys, the machine id,
// resets what firstboot writes to the parent's version, and never touches
// anything outside the root, whatever links the container made.
func TestStripIdentity(t *testing.T) {
	base := t.TempDir()
	root, lower, outside := filepath.Join(base, "root"), filepath.Join(base, "lower"), filepath.Join(base, "outside")
	put(t, lower, "etc/hosts", "127.0.0.1 localhost\n")
	put(t, lower, "etc/resolv.conf", "# image\n")
	put(t, outside, "authorized_keys", "host's own keys")
	put(t, outside, ".ssh/authorized_keys", "host's own keys")

	for p, body := range map[string]string{
		"etc/ssh/ssh_host_ed25519_key":     "secret",
		"etc/ssh/ssh_host_ed25519_key.pub": "pub",
		"etc/ssh/sshd_config":              "kept",
		"etc/hostname":                     "web-01\n",
		"etc/hosts":                        "198.19.161.2 web-01\n",
		"etc/resolv.conf":                  "nameserver 10.0.0.1\n",
		"etc/machine-id":                   "0123456789abcdef\n",
		"etc/supervisor/supervisord.conf":  "[program:sshd]\n",
		"var/lib/dbus/machine-id":          "0123456789abcdef\n",
		"root/.ssh/authorized_keys":        "ssh-ed25519 AAAA ops",
		"root/.ssh/known_hosts":            "kept",
		"home/ann/.ssh/authorized_keys":    "ssh-ed25519 AAAA ann",
		"home/ann/.ssh/authorized_keys2":   "ssh-ed25519 AAAA ann",
		"srv/git/.ssh/authorized_keys":     "ssh-ed25519 AAAA git",
		"etc/passwd":                       "root:x:0:0:root:/root:/bin/bash\ngit:x:999:999::/srv/git:/bin/sh\nevil:x:1001:1001::/../../outside:/bin/sh\n",
		".fatbox/supervisord":              "",
		"var/log/supervisor/sshd.log":      "web-01 sshd started",
		"srv/app/data":                     "kept",
	} {
		put(t, root, p, body)
	}
	// A user whose home is a link to the host's dir, absolute: inside the
	// root it is the root's /outside (which does not exist).
	if err := os.Symlink(outside, filepath.Join(root, "home", "bob")); err != nil {
		t.Fatal(err)
	}
	got, err := stripIdentity(root, lower)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/.fatbox", "/etc/hostname", "/etc/hosts", "/etc/machine-id", "/etc/resolv.conf", "/etc/ssh/ssh_host_ed25519_key",
		"/etc/ssh/ssh_host_ed25519_key.pub", "/etc/supervisor/supervisord.conf", "/home/ann/.ssh/authorized_keys", "/home/ann/.ssh/authorized_keys2",
		"/root/.ssh/authorized_keys", "/srv/git/.ssh/authorized_keys", "/var/lib/dbus/machine-id", "/var/log/supervisor/sshd.log"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stripped\n%q\nwant\n%q", got, want)
	}
	for _, p := range []string{"etc/ssh/ssh_host_ed25519_key", "etc/hostname", "root/.ssh/authorized_keys", "home/ann/.ssh/authorized_keys2",
		"srv/git/.ssh/authorized_keys", "var/lib/dbus/machine-id", ".fatbox", "var/log/supervisor/sshd.log", "etc/supervisor/supervisord.conf"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s is still there", p)
		}
	}
	for p, body := range map[string]string{"etc/hosts": "127.0.0.1 localhost\n", "etc/resolv.conf": "# image\n", "etc/machine-id": "",
		"etc/ssh/sshd_config": "kept", "root/.ssh/known_hosts": "kept", "srv/app/data": "kept"} {
		if b, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(b) != body {
			t.Errorf("%s: %q %v, want %q", p, b, err, body)
		}
	}
	for _, p := range []string{"authorized_keys", ".ssh/authorized_keys"} {
		if _, err := os.Stat(filepath.Join(outside, p)); err != nil {
			t.Errorf("a file outside the root was touched: %s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "var/log/supervisor")); err != nil {
		t.Errorf("the log dir itself went: %v", err)
	}
}

func TestSnapshotNames(t *testing.T) {
	for _, ok := range []string{"a", "before-upgrade", "20261202-061503", "x1"} {
		if err := ValidSnapshotName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", "a-", "A", "a_b", "a.b", "../x", "a/b", string(make([]byte, 64))} {
		if err := ValidSnapshotName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if n := DefaultSnapshotName(mustTime(t, "2026-12-02T06:15:03+01:00")); n != "20261202-051503" || ValidSnapshotName(n) != nil {
		t.Errorf("default name %q", n)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
