package rootfs

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/test/harness"
)

func write(t *testing.T, p, body string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// listTree is every path under root with its type, mode, owner and
// content (or link target), one line each, sorted.
func listTree(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := rel + " " + fi.Mode().String() + " " + itoa(st.Uid) + ":" + itoa(st.Gid)
		switch {
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		case fi.Mode()&os.ModeSymlink != 0:
			tg, _ := os.Readlink(p)
			line += " -> " + tg
		}
		if rel != "." && fi.IsDir() {
			line += " mtime=" + fi.ModTime().UTC().String()
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func itoa(n uint32) string { return uitoa(n) }

func uitoa(n uint32) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// CopyTree keeps every attribute that matters to a rootfs: owners, setuid,
// symlinks (unfollowed), hard links, devices, xattrs, sparse files.
func TestCopyTree(t *testing.T) {
	harness.RequireRoot(t) // chown, mknod, trusted.* xattrs
	base := t.TempDir()
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "usr/bin/sudo"), "sudo", 0o4755)
	write(t, filepath.Join(src, "home/ann/notes"), "ann's", 0o600)
	if err := os.Chown(filepath.Join(src, "home/ann/notes"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(src, "home/ann/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "usr/bin/sudo"), filepath.Join(src, "usr/bin/sudoedit")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(src, "usr/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(filepath.Join(src, "usr/bin/sudo"), "trusted.fatbox", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(src, "var"), 0o755)
	sparseFile(t, filepath.Join(src, "var/sparse"), 32<<20, 8<<20)
	dst := filepath.Join(base, "dst")
	n, err := CopyTree(dst, src)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := listTree(t, dst), listTree(t, src); got != want {
		t.Fatalf("copy differs:\n%s\nwant:\n%s", got, want)
	}
	if n > 1<<20 {
		t.Errorf("copied %d bytes: the sparse file's hole was copied", n)
	}
	var a, b unix.Stat_t
	unix.Stat(filepath.Join(dst, "usr/bin/sudo"), &a)
	unix.Stat(filepath.Join(dst, "usr/bin/sudoedit"), &b)
	if a.Ino != b.Ino {
		t.Error("a hard link became two files")
	}
	if v, ok := getXattr(filepath.Join(dst, "usr/bin/sudo"), "trusted.fatbox"); !ok || v != "x" {
		t.Errorf("xattr lost: %q %v", v, ok)
	}
	if _, err := CopyTree(dst, src); err == nil {
		t.Error("a copy onto an existing dir was not refused")
	}
}

// ApplyUpper shows what the overlay showed: whiteouts delete, opaque dirs
// hide the lower dir's entries, changed files and new ones win, a dir
// replacing a file and a file replacing a dir work, overlay's xattrs stay
// behind, and a symlink in the lower tree is never written through.
func TestApplyUpper(t *testing.T) {
	harness.RequireRoot(t)
	base := t.TempDir()
	lower, upper := filepath.Join(base, "lower"), filepath.Join(base, "upper")
	write(t, filepath.Join(lower, "etc/motd"), "lower motd", 0o644)
	write(t, filepath.Join(lower, "etc/gone"), "deleted in the container", 0o644)
	write(t, filepath.Join(lower, "opt/app/old1"), "old", 0o644)
	write(t, filepath.Join(lower, "opt/app/old2"), "old", 0o644)
	write(t, filepath.Join(lower, "srv/keep"), "kept", 0o644)
	write(t, filepath.Join(lower, "was-file"), "file", 0o644)
	write(t, filepath.Join(lower, "was-dir/x"), "x", 0o644)
	outside := filepath.Join(base, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(lower, "link")); err != nil {
		t.Fatal(err)
	}

	write(t, filepath.Join(upper, "etc/motd"), "changed motd", 0o600)
	if err := unix.Mknod(filepath.Join(upper, "etc/gone"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(upper, "opt/app/new"), "new", 0o644)
	if err := unix.Lsetxattr(filepath.Join(upper, "opt/app"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(upper, "srv/added"), "added", 0o644)
	if err := unix.Lsetxattr(filepath.Join(upper, "srv"), "trusted.overlay.impure", []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(upper, "was-file/inside"), "now a dir", 0o644)
	write(t, filepath.Join(upper, "was-dir"), "now a file", 0o644)
	// The container replaced the link with a dir holding a file: the file
	// lands in the tree, never in outside/.
	write(t, filepath.Join(upper, "link/planted"), "planted", 0o644)

	merged := filepath.Join(base, "merged")
	if _, err := CopyTree(merged, lower); err != nil {
		t.Fatal(err)
	}
	if _, err := ApplyUpper(merged, upper); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"etc/motd":        "changed motd",
		"opt/app/new":     "new",
		"srv/keep":        "kept",
		"srv/added":       "added",
		"was-file/inside": "now a dir",
		"was-dir":         "now a file",
		"link/planted":    "planted",
	}
	for p, body := range want {
		b, err := os.ReadFile(filepath.Join(merged, p))
		if err != nil || string(b) != body {
			t.Errorf("%s: %q %v, want %q", p, b, err, body)
		}
	}
	for _, p := range []string{"etc/gone", "opt/app/old1", "opt/app/old2"} {
		if _, err := os.Lstat(filepath.Join(merged, p)); err == nil {
			t.Errorf("%s survived its whiteout or opaque dir", p)
		}
	}
	if fi, err := os.Stat(filepath.Join(merged, "etc/motd")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("etc/motd mode: %v %v, want the upper's 0600", fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("written through the lower tree's symlink: %v", ents)
	}
	for _, p := range []string{"opt/app", "srv"} {
		if names, _ := listXattrs(filepath.Join(merged, p)); len(names) != 0 {
			t.Errorf("%s kept overlay xattrs %v", p, names)
		}
	}

	// An upper dir from an overlay with redirect_dir is refused.
	if err := unix.Lsetxattr(filepath.Join(upper, "srv"), "trusted.overlay.redirect", []byte("/x"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := ApplyUpper(filepath.Join(base, "merged"), upper); err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("redirect dir: %v, want a refusal", err)
	}
}
