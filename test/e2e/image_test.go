package e2e

import (
	"archive/tar"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store/boltstore"
	"github.com/fatbox/fatbox/test/harness"
)

func writeRootfsTar(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
	}
	check(tw.WriteHeader(&tar.Header{Name: "etc/", Mode: 0o755, Typeflag: tar.TypeDir}))
	check(tw.WriteHeader(&tar.Header{Name: "etc/os-release", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg}))
	_, err = tw.Write([]byte("test\n"))
	check(err)
	check(tw.Close())
	check(f.Close())
}

func TestImageCommands(t *testing.T) {
	harness.RequireRoot(t)
	dir := t.TempDir()
	state, sock := filepath.Join(dir, "state"), filepath.Join(dir, "fatbox.sock")
	startDaemon(t, state, sock, "--image-cache", filepath.Join(harness.CacheDir(), "images"))
	ok := func(args ...string) result {
		t.Helper()
		r := fatbox(t, append(args, "--socket", sock)...)
		if r.Code != 0 {
			t.Fatalf("fatbox %v: exit %d: %s", args, r.Code, r.Stderr)
		}
		return r
	}
	tarPath := filepath.Join(dir, "legacy.tar")
	writeRootfsTar(t, tarPath)
	if r := ok("image", "import", tarPath, "--name", "legacy"); !strings.Contains(r.Stdout, "rootfs-tar") {
		t.Fatalf("import: %s", r.Stdout)
	}
	var imgs []api.Image
	if out := ok("image", "ls", "-o", "json").Stdout; json.Unmarshal([]byte(out), &imgs) != nil {
		t.Fatalf("image ls -o json: not a list of images: %q", out)
	}
	if len(imgs) != 1 || imgs[0].Name != "legacy" || imgs[0].ID == "" {
		t.Fatalf("ls: %+v", imgs)
	}
	// A recorded container uses the image: rm is refused.
	s, err := boltstore.Open(filepath.Join(state, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	inv := &inventory.Inventory{Store: s}
	if err := inv.Create(context.Background(), inventory.Record{Name: "web-01", Image: "legacy", ImageID: imgs[0].ID, Status: "stopped"}); err != nil {
		t.Fatal(err)
	}
	oneLine(t, fatbox(t, "image", "rm", "legacy", "--socket", sock), `image "legacy" is used by container(s) web-01: remove them first`)
	if r := ok("image", "inspect", "legacy"); !strings.Contains(r.Stdout, "sha256:"+imgs[0].ID) {
		t.Fatalf("inspect after refused rm: %s", r.Stdout)
	}
	oneLine(t, fatbox(t, "image", "import", filepath.Join(dir, "missing.tar"), "--name", "x", "--socket", sock), "missing.tar", "no such file")
	oneLine(t, fatbox(t, "image", "build", "debian99", "--socket", sock), `no recipe "debian99": known recipes are debian12-fat, debian12-java, debian12-php`)

	// Build through the daemon: progress lines on stderr, the image on stdout.
	r := ok("image", "build", "debian12-fat")
	if !strings.Contains(r.Stderr, "s] ") || !strings.Contains(r.Stdout, "debian12-fat") {
		t.Fatalf("build output: stdout %q stderr %q", r.Stdout, r.Stderr)
	}
	if r := ok("image", "inspect", "debian12-fat"); !strings.Contains(r.Stdout, "openssh-server") || !strings.Contains(r.Stdout, "sshd (autostart true)") {
		t.Fatalf("inspect: %s", r.Stdout)
	}
	ok("image", "rm", "debian12-fat")
	oneLine(t, fatbox(t, "image", "inspect", "debian12-fat", "--socket", sock), `no image "debian12-fat"`)
}
