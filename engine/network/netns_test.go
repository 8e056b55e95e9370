package network

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

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

// A namespace fatbox made can still be deleted after `ip netns add` ran on
// the host: iproute2 binds the directory over itself the first time, and
// a namespace mounted on the plain directory before stays mounted
// underneath (its name unmounts but never goes: EBUSY). Run in a mount
// namespace of its own where the directory is not a mount point yet, so
// the host's is never touched.
func TestNetnsDeletableAfterIPNetnsAdd(t *testing.T) {
	harness.RequireRoot(t)
	if os.Getenv("FATBOX_NETNS_DIR_TEST") == "" {
		_, err := exec.LookPath("unshare")
		harness.Require(t, err == nil, "unshare (util-linux)")
		cmd := exec.Command("unshare", "--mount", "--propagation", "private", os.Args[0], "-test.run=^TestNetnsDeletableAfterIPNetnsAdd$", "-test.v")
		cmd.Env = append(os.Environ(), "FATBOX_NETNS_DIR_TEST=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("in a mount namespace of its own: %v\n%s", err, out)
		}
		return
	}
	// Here: a private mount namespace. Start from a plain directory (what
	// a host has after boot).
	for unix.Unmount(NetnsDir, unix.MNT_DETACH) == nil {
	}
	mine, other := harness.Name("fbn-mine"), harness.Name("fbn-ipr")
	defer os.Remove(filepath.Join(NetnsDir, mine))
	if _, err := CreateNetns(mine); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "netns", "add", other).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", other).Run()
	if err := DeleteNetns(mine); err != nil {
		t.Fatalf("delete %s after `ip netns add`: %v", mine, err)
	}
	if _, err := os.Stat(filepath.Join(NetnsDir, mine)); !os.IsNotExist(err) {
		t.Fatalf("%s is still there after its delete: %v", mine, err)
	}
}
