package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMakeDirNoFollow: a unit directory is created with its mode and owner,
// and a symlink below the base (a unit's user swapping its own
// subdirectory for a link to /etc) is refused, its target left untouched.
func TestMakeDirNoFollow(t *testing.T) {
	base := t.TempDir()
	uid, gid := os.Getuid(), os.Getgid()
	chown := uid == 0
	if chown {
		uid, gid = 4321, 4321
	}
	if err := makeDirNoFollow(base, "app/data", 0o2750, chown, uid, gid); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(base, "app/data"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode() & (os.ModePerm | os.ModeSetgid); got != 0o750|os.ModeSetgid {
		t.Errorf("mode %v, want setgid 0750", got)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid {
		t.Errorf("owner %d, want %d", st.Uid, uid)
	}
	target := filepath.Join(base, "etc")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(base, "app/evil")); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"app/evil", "app/evil/sub"} {
		err := makeDirNoFollow(base, rel, 0o777, chown, uid, gid)
		if err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Errorf("%s: err %v, want a refusal naming the symlink", rel, err)
		}
	}
	fi, _ = os.Stat(target)
	if fi.Mode().Perm() != 0o755 || int(fi.Sys().(*syscall.Stat_t).Uid) != os.Getuid() {
		t.Errorf("link target changed: mode %v owner %d", fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid)
	}
	if _, err := os.Stat(filepath.Join(target, "sub")); err == nil {
		t.Error("created a directory through the link")
	}
	for _, rel := range []string{"../escape", "/abs"} {
		if err := makeDirNoFollow(base, rel, 0o755, false, 0, 0); err == nil {
			t.Errorf("%s accepted", rel)
		}
	}
}
