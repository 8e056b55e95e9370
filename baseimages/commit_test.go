package baseimages

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func rootfsIn(t *testing.T, s *Store, files map[string]string) string {
	t.Helper()
	dir, err := s.TempDir("commit-")
	if err != nil {
		t.Fatal(err)
	}
	for p, body := range files {
		p = filepath.Join(dir, "rootfs", p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// ImportDir stores a rootfs dir under a new name with its parent recorded,
// never re-points an existing name, and its ID follows the content.
func TestImportDir(t *testing.T) {
	ctx := context.Background()
	s := &Store{Root: t.TempDir()}
	files := map[string]string{"etc/os-release": "ID=debian\n", "srv/app": "v1\n"}
	dir := rootfsIn(t, s, files)
	img, err := s.ImportDir(ctx, dir, "app-v1", Image{Source: "commit", Parent: "debian12-fat", ParentID: "abc", FromContainer: "web-01",
		Programs: []Program{{Name: "app", Command: "/srv/app"}}})
	if err != nil {
		t.Fatal(err)
	}
	if img.Name != "app-v1" || img.Source != "commit" || img.Parent != "debian12-fat" || img.ParentID != "abc" || img.FromContainer != "web-01" ||
		len(img.Programs) != 1 || len(img.ID) != 64 {
		t.Fatalf("image: %+v", img)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the temp dir is still there: %v", err)
	}
	root, err := s.Rootfs("app-v1")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "srv/app")); err != nil || string(b) != "v1\n" {
		t.Fatalf("stored file: %q %v", b, err)
	}
	if s.IDOfRootfs(root) != img.ID {
		t.Errorf("IDOfRootfs(%s) = %q, want %q", root, s.IDOfRootfs(root), img.ID)
	}
	if byID, r, err := s.ByID(img.ID); err != nil || r != root || byID.ParentID != "abc" {
		t.Errorf("ByID: %+v %s %v", byID, r, err)
	}
	if _, _, err := s.ByID("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ByID of a missing id: %v", err)
	}

	// The same name again is refused and changes nothing.
	dir2 := rootfsIn(t, s, map[string]string{"srv/app": "v2\n"})
	if _, err := s.ImportDir(ctx, dir2, "app-v1", Image{Source: "commit"}); !errors.Is(err, ErrExists) {
		t.Fatalf("import over an existing name: %v, want ErrExists", err)
	}
	if again, _ := s.Inspect("app-v1"); again.ID != img.ID {
		t.Fatal("a refused import re-pointed the name")
	}
	img2, err := s.ImportDir(ctx, dir2, "app-v2", Image{Source: "commit"})
	if err != nil || img2.ID == img.ID {
		t.Fatalf("second image: %+v %v (its content differs, so must its ID)", img2, err)
	}
	if err := CheckName("Bad Name"); !errors.Is(err, ErrInvalid) {
		t.Errorf("CheckName: %v", err)
	}
	if _, err := s.ImportDir(ctx, rootfsIn(t, s, files), "Bad Name", Image{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad name: %v", err)
	}

	// The ID is the content's: the same files give the same ID.
	a := t.TempDir()
	os.WriteFile(filepath.Join(a, "f"), []byte("x"), 0o644)
	id1, err := TreeID(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	id2, _ := TreeID(ctx, a)
	os.WriteFile(filepath.Join(a, "f"), []byte("y"), 0o644)
	id3, _ := TreeID(ctx, a)
	if id1 != id2 || id1 == id3 {
		t.Errorf("TreeID: %s %s %s", id1, id2, id3)
	}
}

// Two images of the same files that run differently (a label, an ENV
// apart) are two images, each keeping its own configuration; the same
// files and configuration are one image stored once.
func TestImportDirConfigInID(t *testing.T) {
	ctx := context.Background()
	s := &Store{Root: t.TempDir()}
	files := map[string]string{"srv/app": "v1\n"}
	mk := func(name string, meta Image) Image {
		t.Helper()
		img, err := s.ImportDir(ctx, rootfsIn(t, s, files), name, meta)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	plain := mk("plain", Image{Source: "dockerfile"})
	a := mk("exp:a", Image{Source: "dockerfile", Labels: map[string]string{LabelExporterPort: "9100"}})
	b := mk("exp:b", Image{Source: "dockerfile", Labels: map[string]string{LabelExporterPort: "metrics"}})
	env := mk("env:a", Image{Source: "dockerfile", Labels: map[string]string{LabelExporterPort: "9100"}, Env: []string{"MODE=prod"}})
	same := mk("exp:a2", Image{Source: "dockerfile", Labels: map[string]string{LabelExporterPort: "9100"}})
	if ids := map[string]bool{plain.ID: true, a.ID: true, b.ID: true, env.ID: true}; len(ids) != 4 {
		t.Fatalf("IDs %s %s %s %s: want four images", plain.ID, a.ID, b.ID, env.ID)
	}
	if same.ID != a.ID {
		t.Errorf("the same files and configuration: %s and %s, want one ID", same.ID, a.ID)
	}
	for name, want := range map[string]string{"exp:a": "9100", "exp:b": "metrics", "exp:a2": "9100"} {
		if img, err := s.Inspect(name); err != nil || img.Labels[LabelExporterPort] != want {
			t.Errorf("%s: labels %v (%v), want the exporter port %q", name, img.Labels, err, want)
		}
	}
}
