package sshgw

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The key is made once and the same key comes back after.
func TestLoadOrCreateKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gateway", "ssh_host_ed25519_key")
	a, err := LoadOrCreateKey(file, "gw")
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateKey(file, "gw")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.PublicKey().Marshal(), b.PublicKey().Marshal()) {
		t.Fatal("a second load made a new key")
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi.Mode(), err)
	}
	if err := os.WriteFile(file, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(file, "gw"); err == nil {
		t.Fatal("a junk key file was taken")
	}
}
