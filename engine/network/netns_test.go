package network

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/fatbox/fatbox/test/harness"
)

// A file a crash left where a namespace's bind mount would be is not a
// namespace: CreateNetns makes the namespace anew (entering the file would
// fail with EINVAL at every attach); an existing namespace is kept; the
// caller's thread stays in its own namespace.
func TestCreateNetnsOverLeftoverFile(t *testing.T) {
	harness.RequireRoot(t)
	name := harness.Name("fbn-left")
	path := filepath.Join(NetnsDir, name)
	t.Cleanup(func() { DeleteNetns(name); os.Remove(path) })
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if ok, err := isNetns(path); ok || err != nil {
		t.Fatalf("isNetns(a plain file) = %v, %v", ok, err)
	}
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	got, err := CreateNetns(name)
	if err != nil || got != path {
		t.Fatalf("CreateNetns over a leftover file: %q, %v", got, err)
	}
	if ok, err := isNetns(path); !ok || err != nil {
		t.Fatalf("after CreateNetns: isNetns = %v, %v", ok, err)
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// Idempotent: the same namespace (same inode) is kept.
	if _, err := CreateNetns(name); err != nil {
		t.Fatal(err)
	}
	h2, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if !h.Equal(h2) {
		t.Fatal("a second CreateNetns made another namespace")
	}
	if cur, err := netns.Get(); err != nil || !cur.Equal(host) {
		t.Fatalf("this thread's namespace changed (%v)", err)
	}
	if err := DeleteNetns(name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("after DeleteNetns: %v", err)
	}
}
