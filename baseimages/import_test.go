package baseimages

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type entry struct {
	name, body, link string
	mode             int64
	typ              byte
}

func mkTar(t *testing.T, es []entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: e.typ, Linkname: e.link, Size: int64(len(e.body)), Uid: 0, Gid: 0}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

var layer1 = []entry{
	{name: "etc/", mode: 0o755, typ: tar.TypeDir},
	{name: "etc/hello", body: "hello\n", mode: 0o640, typ: tar.TypeReg},
	{name: "bin/", mode: 0o755, typ: tar.TypeDir},
	{name: "bin/tool", body: "#!/bin/sh\necho tool\n", mode: 0o755, typ: tar.TypeReg},
	{name: "etc/hello.link", link: "hello", typ: tar.TypeSymlink, mode: 0o777},
	{name: "var/", mode: 0o755, typ: tar.TypeDir},
	{name: "var/secret/", mode: 0o700, typ: tar.TypeDir},
	{name: "var/secret/gone", body: "bye", mode: 0o600, typ: tar.TypeReg},
	{name: "var/secret/kept", body: "kept", mode: 0o600, typ: tar.TypeReg},
}

func checkTree(t *testing.T, root string) {
	t.Helper()
	for p, want := range map[string]os.FileMode{"etc/hello": 0o640, "bin/tool": 0o755, "var/secret": 0o700 | os.ModeDir, "var/secret/kept": 0o600} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if fi.Mode()&(os.ModePerm|os.ModeDir) != want {
			t.Errorf("%s mode %v, want %v", p, fi.Mode(), want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/hello")); string(b) != "hello\n" {
		t.Errorf("etc/hello = %q", b)
	}
	if l, err := os.Readlink(filepath.Join(root, "etc/hello.link")); err != nil || l != "hello" {
		t.Errorf("symlink: %q %v", l, err)
	}
}

func newStore(t *testing.T) *Store { return &Store{Root: filepath.Join(t.TempDir(), "images")} }

func TestImportRootfsTar(t *testing.T) {
	s := newStore(t)
	p := filepath.Join(t.TempDir(), "rootfs.tar")
	os.WriteFile(p, mkTar(t, layer1), 0o644)
	img, err := s.ImportArchive(context.Background(), p, "plain")
	if err != nil {
		t.Fatal(err)
	}
	if img.Source != "rootfs-tar" || len(img.ID) != 64 {
		t.Fatalf("image = %+v", img)
	}
	root, _ := s.Rootfs("plain")
	checkTree(t, root)
	// Same content under a second name is stored once.
	img2, err := s.ImportRootfsTar(context.Background(), p, "plain2")
	if err != nil || img2.ID != img.ID {
		t.Fatalf("re-import: %v %v", img2.ID, err)
	}
	ls, _ := s.List()
	if len(ls) != 2 {
		t.Fatalf("List = %v", ls)
	}
}

func layer(t *testing.T, es []entry) v1.Layer {
	b := mkTar(t, es)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testImage(t *testing.T) v1.Image {
	img, err := mutate.AppendLayers(empty.Image,
		layer(t, layer1),
		layer(t, []entry{{name: "var/secret/.wh.gone", typ: tar.TypeReg, mode: 0o600}, {name: "etc/new", body: "new", mode: 0o644, typ: tar.TypeReg}}))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func checkLayered(t *testing.T, s *Store, name string) {
	t.Helper()
	root, err := s.Rootfs(name)
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, root)
	if _, err := os.Lstat(filepath.Join(root, "var/secret/gone")); !os.IsNotExist(err) {
		t.Errorf("whiteout not applied: var/secret/gone: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "var/secret/.wh.gone")); !os.IsNotExist(err) {
		t.Errorf("whiteout marker left in the rootfs")
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/new")); string(b) != "new" {
		t.Errorf("upper layer file: %q", b)
	}
}

func TestImportOCIArchive(t *testing.T) {
	dir := t.TempDir()
	lp, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	img := testImage(t)
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "image.oci.tar")
	if out, err := exec.Command("tar", "-C", filepath.Join(dir, "oci"), "-cf", archive, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	s := newStore(t)
	got, err := s.ImportArchive(context.Background(), archive, "from-oci")
	if err != nil {
		t.Fatal(err)
	}
	dg, _ := img.Digest()
	if got.Source != "oci" || got.ID != dg.Hex {
		t.Fatalf("image = %+v, want id %s", got, dg.Hex)
	}
	checkLayered(t, s, "from-oci")
}

func TestImportDockerSave(t *testing.T) {
	p := filepath.Join(t.TempDir(), "saved.tar")
	if err := tarball.WriteToFile(p, name.MustParseReference("legacy/app:1.0"), testImage(t)); err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	got, err := s.ImportArchive(context.Background(), p, "from-docker")
	if err != nil || got.Source != "docker" {
		t.Fatalf("import: %+v %v", got, err)
	}
	checkLayered(t, s, "from-docker")
}

func TestRemoveRefusedWhileInUse(t *testing.T) {
	s := newStore(t)
	p := filepath.Join(t.TempDir(), "rootfs.tar")
	os.WriteFile(p, mkTar(t, layer1), 0o644)
	img, err := s.ImportRootfsTar(context.Background(), p, "base")
	if err != nil {
		t.Fatal(err)
	}
	users := []string{"web-01"}
	s.InUse = func(_ context.Context, id string) ([]string, error) {
		if id == img.ID {
			return users, nil
		}
		return nil, nil
	}
	err = s.Remove(context.Background(), "base")
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), `image "base" is used by container(s) web-01: remove them first`) {
		t.Fatalf("Remove of a used image: %v", err)
	}
	if _, err := s.Inspect("base"); err != nil {
		t.Fatalf("refused Remove removed the image: %v", err)
	}
	users = nil
	if err := s.Remove(context.Background(), "base"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Root, "by-id", img.ID)); !os.IsNotExist(err) {
		t.Fatalf("content left behind: %v", err)
	}
	if _, err := s.Inspect("base"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Inspect after Remove: %v", err)
	}
	os.WriteFile(p, []byte("not a tar at all, just text that is long enough to fail the header read ........................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................"), 0o644)
	if _, err := s.ImportArchive(context.Background(), p, "junk"); err == nil || !strings.Contains(err.Error(), "is not a tar archive") {
		t.Fatalf("junk import: %v", err)
	}
}
