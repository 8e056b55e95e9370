package firstboot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

const testGatewayKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl gw"

// TestWriteGateway: a file per login granted, the drop-in once, stale
// logins removed, nothing granted removes it all; symlinks in the image
// cannot take the files out of the root; bad keys and logins are refused
// before anything is written.
func TestWriteGateway(t *testing.T) {
	root := t.TempDir()
	p := func(s string) string { return filepath.Join(root, s) }
	changed, err := WriteGateway(root, Gateway{Key: testGatewayKey, Logins: []string{"root", "app"}})
	if err != nil || !changed {
		t.Fatalf("first write: %v, changed %v", err, changed)
	}
	for _, l := range []string{"root", "app"} {
		b, err := os.ReadFile(p(GatewayKeysDir + "/" + l))
		if err != nil || strings.TrimSpace(string(b)) != testGatewayKey {
			t.Fatalf("%s: %q %v", l, b, err)
		}
	}
	drop, _ := os.ReadFile(p(GatewayDropIn))
	if !strings.Contains(string(drop), "AuthorizedKeysFile .ssh/authorized_keys .ssh/authorized_keys2 /etc/ssh/fatbox-gateway/%u") {
		t.Fatalf("drop-in %q", drop)
	}
	if changed, err := WriteGateway(root, Gateway{Key: testGatewayKey, Logins: []string{"root", "app"}}); err != nil || changed {
		t.Fatalf("the same again: %v, changed %v (want no sshd reload)", err, changed)
	}
	if changed, err := WriteGateway(root, Gateway{Key: testGatewayKey, Logins: []string{"root"}}); err != nil || changed {
		t.Fatalf("revoke app: %v changed %v", err, changed)
	}
	if _, err := os.Stat(p(GatewayKeysDir + "/app")); !os.IsNotExist(err) {
		t.Fatalf("app's file still there: %v", err)
	}
	if changed, err := WriteGateway(root, Gateway{Logins: []string{"root"}}); err != nil || !changed {
		t.Fatalf("no key: %v changed %v", err, changed)
	}
	for _, f := range []string{GatewayDropIn, GatewayKeysDir + "/root"} {
		if _, err := os.Stat(p(f)); !os.IsNotExist(err) {
			t.Errorf("%s left with no key: %v", f, err)
		}
	}

	for _, bad := range []Gateway{
		{Key: "not a key", Logins: []string{"root"}},
		{Key: testGatewayKey + "\nssh-ed25519 AAAA x", Logins: []string{"root"}},
		{Key: testGatewayKey, Logins: []string{"../../etc/passwd"}},
		{Key: testGatewayKey, Logins: []string{"Root"}},
	} {
		r2 := t.TempDir()
		if _, err := WriteGateway(r2, bad); err == nil {
			t.Errorf("WriteGateway(%q) accepted", bad)
		}
		if ents, _ := os.ReadDir(r2); len(ents) != 0 {
			t.Errorf("WriteGateway(%q) wrote before refusing", bad)
		}
	}

	// An image whose /etc/ssh is a link out of the root: followed inside it.
	r3 := t.TempDir()
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(r3, "etc"), 0o755)
	os.MkdirAll(filepath.Join(r3, "elsewhere"), 0o755)
	if err := os.Symlink(outside, filepath.Join(r3, "etc", "ssh")); err != nil {
		t.Fatal(err)
	}
	_, err = WriteGateway(r3, Gateway{Key: testGatewayKey, Logins: []string{"root"}})
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("wrote outside the root through /etc/ssh -> %s (%v)", outside, err)
	}
}

func TestLoadHostKeys(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadHostKeys(dir); err == nil {
		t.Fatal("no keys yet, and no error")
	}
	keys, err := HostKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadHostKeys(dir)
	if err != nil || len(got) != 3 {
		t.Fatalf("%d keys, %v", len(got), err)
	}
	for i, k := range keys.All() {
		if ssh.FingerprintSHA256(got[i].PublicKey()) != k.Fingerprint {
			t.Errorf("key %d: %s, want %s", i, ssh.FingerprintSHA256(got[i].PublicKey()), k.Fingerprint)
		}
	}
}
