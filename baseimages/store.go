package baseimages

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Sentinel errors.
var (
	ErrNotFound = errors.New("image not found")
	ErrInUse    = errors.New("image in use")
	// ErrInvalid: a name, recipe or archive the store cannot take.
	ErrInvalid = errors.New("invalid image request")
)

// Image is a stored image's metadata.
type Image struct {
	ID        string    `json:"id"` // sha256 of the imported content
	Name      string    `json:"name"`
	Source    string    `json:"source"` // build, rootfs-tar, oci, docker
	Recipe    string    `json:"recipe,omitempty"`
	RecipeKey string    `json:"recipe_key,omitempty"`
	Parent    string    `json:"parent,omitempty"`
	Packages  []string  `json:"packages,omitempty"` // installed Debian packages
	Programs  []Program `json:"programs,omitempty"`
	Created   time.Time `json:"created"`
	Size      int64     `json:"size"` // bytes of files in the rootfs
	// ParentID is the content ID of a commit's parent image (Parent names
	// it: for a commit, the image the container ran; for a build, the
	// recipe's parent).
	ParentID string `json:"parent_id,omitempty"`
	// FromContainer is the container a commit was made from.
	FromContainer string `json:"from_container,omitempty"`
	// What a Dockerfile build (Source "dockerfile") set: LABELs, EXPOSEd
	// ports ("8080/tcp"), ENV, WORKDIR and USER, and the cache key of its
	// last step (a second build with the same key is up to date). Images
	// built FROM it start from these.
	Labels   map[string]string `json:"labels,omitempty"`
	Ports    []string          `json:"ports,omitempty"`
	Env      []string          `json:"env,omitempty"`
	WorkDir  string            `json:"workdir,omitempty"`
	User     string            `json:"user,omitempty"`
	BuildKey string            `json:"build_key,omitempty"`
}

// LabelExporterPort is the image label naming the TCP port a Prometheus
// exporter inside listens on: containers made from the image are
// file_sd targets on it unless their create says another port.
const LabelExporterPort = "io.fatbox.exporter-port"

// ExporterPort is the image's LabelExporterPort (0: none); a value that
// is not a TCP port is an error saying so.
func (i Image) ExporterPort() (int, error) {
	v, ok := i.Labels[LabelExporterPort]
	if !ok {
		return 0, nil
	}
	p, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("image %q: label %s=%q is not a TCP port (1-65535): rebuild the image with a port there, or give create --exporter-port", i.Name, LabelExporterPort, v)
	}
	return p, nil
}

// Store is the local, content-addressed image store:
//
//	<Root>/by-id/<id>/rootfs/     the image's files, read-only by convention (overlay lower dir)
//	<Root>/by-id/<id>/image.json  metadata
//	<Root>/names/<name>           symlink to ../by-id/<id>, swapped atomically
type Store struct {
	// Root is the store's directory, e.g. /var/lib/fatbox/images. Required.
	Root string
	// InUse returns the containers using an image ID; nil means none ever do.
	InUse func(ctx context.Context, id string) ([]string, error)
}

// An image name is a repository name and an optional tag, as docker's
// (app, app:v1, debian12-php:2026.12).
var imageNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?$`)

func checkName(name string) error {
	if !imageNameRE.MatchString(name) {
		return fmt.Errorf("bad image name %q: use 1-63 lower-case letters, digits, '.', '_' or '-', optionally a :TAG (letters, digits, '.', '_', '-'), e.g. app:v1: %w", name, ErrInvalid)
	}
	return nil
}

func (s *Store) dirs() error {
	for _, d := range []string{"by-id", "names", "tmp"} {
		if err := os.MkdirAll(filepath.Join(s.Root, d), 0o755); err != nil {
			return fmt.Errorf("image store %q: %w", s.Root, err)
		}
	}
	return nil
}

// Rootfs is the directory of a named image's files.
func (s *Store) Rootfs(name string) (string, error) {
	img, err := s.Inspect(name)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.Root, "by-id", img.ID, "rootfs"), nil
}

// Inspect reads a named image's metadata.
func (s *Store) Inspect(name string) (Image, error) {
	b, err := os.ReadFile(filepath.Join(s.Root, "names", name, "image.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Image{}, fmt.Errorf("no image %q: see `fatbox image ls`, or build or import it: %w", name, ErrNotFound)
	}
	if err != nil {
		return Image{}, err
	}
	var img Image
	if err := json.Unmarshal(b, &img); err != nil {
		return Image{}, fmt.Errorf("image %q metadata is corrupt: %w", name, err)
	}
	img.Name = name
	return img, nil
}

// List lists the named images.
func (s *Store) List() ([]Image, error) {
	ents, err := os.ReadDir(filepath.Join(s.Root, "names"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, e := range ents {
		img, err := s.Inspect(e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Remove deletes a named image; refused while a container uses it. The
// content goes when no other name points at it.
func (s *Store) Remove(ctx context.Context, name string) error {
	img, err := s.Inspect(name)
	if err != nil {
		return err
	}
	if s.InUse != nil {
		users, err := s.InUse(ctx, img.ID)
		if err != nil {
			return fmt.Errorf("cannot tell whether image %q is in use (%v): nothing removed", name, err)
		}
		if len(users) > 0 {
			return fmt.Errorf("image %q is used by container(s) %s: remove them first: %w", name, strings.Join(users, ", "), ErrInUse)
		}
	}
	if err := os.Remove(filepath.Join(s.Root, "names", name)); err != nil {
		return err
	}
	others, err := s.List()
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID == img.ID {
			return nil
		}
	}
	return os.RemoveAll(filepath.Join(s.Root, "by-id", img.ID))
}

// importTar extracts a filesystem tar stream into the store under name. id
// is the content ID; when "" it is the sha256 of the stream.
func (s *Store) importTar(ctx context.Context, r io.Reader, name, id string, meta Image) (Image, error) {
	if err := checkName(name); err != nil {
		return Image{}, err
	}
	if err := s.dirs(); err != nil {
		return Image{}, err
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.Root, "tmp"), "import-")
	if err != nil {
		return Image{}, err
	}
	defer os.RemoveAll(tmp)
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return Image{}, err
	}
	h := sha256.New()
	// GNU tar does the extraction: device nodes, hard links, xattrs, numeric
	// owners, and it refuses member names that climb out with "..".
	cmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--same-permissions", "-x", "-f", "-", "-C", rootfs)
	cmd.Stdin = io.TeeReader(r, h)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return Image{}, fmt.Errorf("extract image %q: %v: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	if id == "" {
		id = hex.EncodeToString(h.Sum(nil))
	}
	meta.ID, meta.Name = id, name
	if meta.Created.IsZero() {
		meta.Created = time.Now().UTC()
	}
	meta.Packages = dpkgPackages(rootfs)
	meta.Size = treeSize(rootfs)
	b, _ := json.MarshalIndent(meta, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "image.json"), b, 0o644); err != nil {
		return Image{}, err
	}
	final := filepath.Join(s.Root, "by-id", id)
	if _, err := os.Stat(final); err == nil {
		// Same content already stored: keep it, but take the new metadata.
		if err := os.Rename(filepath.Join(tmp, "image.json"), filepath.Join(final, "image.json")); err != nil {
			return Image{}, err
		}
	} else if err := os.Rename(tmp, final); err != nil {
		return Image{}, err
	}
	// Point the name at it atomically: a new symlink renamed over the old.
	link := filepath.Join(s.Root, "names", name)
	tl := link + ".new"
	os.Remove(tl)
	if err := os.Symlink(filepath.Join("..", "by-id", id), tl); err != nil {
		return Image{}, err
	}
	if err := os.Rename(tl, link); err != nil {
		return Image{}, err
	}
	return s.Inspect(name)
}

// ImportRootfsTar imports a tarball of a root filesystem.
func (s *Store) ImportRootfsTar(ctx context.Context, path, name string) (Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return Image{}, importOpenErr(path, err)
	}
	defer f.Close()
	return s.importTar(ctx, f, name, "", Image{Source: "rootfs-tar"})
}

// ImportArchive imports an OCI image archive (a tar of an OCI layout), a
// `docker save` archive, or a plain rootfs tarball, telling them apart by
// their contents. Image layers are flattened with whiteouts applied.
func (s *Store) ImportArchive(ctx context.Context, path, name string) (Image, error) {
	kind, err := archiveKind(path)
	if err != nil {
		return Image{}, err
	}
	var img v1.Image
	switch kind {
	case "rootfs-tar":
		return s.ImportRootfsTar(ctx, path, name)
	case "docker":
		img, err = tarball.ImageFromPath(path, nil)
		if err != nil {
			return Image{}, fmt.Errorf("read docker archive %q: %w", path, err)
		}
	case "oci":
		if err := s.dirs(); err != nil {
			return Image{}, err
		}
		dir, err := os.MkdirTemp(filepath.Join(s.Root, "tmp"), "oci-")
		if err != nil {
			return Image{}, err
		}
		defer os.RemoveAll(dir)
		if out, err := exec.CommandContext(ctx, "tar", "-x", "-f", path, "-C", dir).CombinedOutput(); err != nil {
			return Image{}, fmt.Errorf("unpack OCI archive %q: %v: %s", path, err, out)
		}
		idx, err := layout.ImageIndexFromPath(dir)
		if err != nil {
			return Image{}, fmt.Errorf("read OCI layout in %q: %w", path, err)
		}
		m, err := idx.IndexManifest()
		if err != nil || len(m.Manifests) == 0 {
			return Image{}, fmt.Errorf("OCI archive %q holds no image manifest", path)
		}
		img, err = idx.Image(m.Manifests[0].Digest)
		if err != nil {
			return Image{}, fmt.Errorf("OCI archive %q: %w (multi-platform indexes are not supported; export one platform)", path, err)
		}
	}
	dg, err := img.Digest()
	if err != nil {
		return Image{}, err
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	return s.importTar(ctx, rc, name, dg.Hex, Image{Source: kind})
}

// archiveKind looks at an archive's top-level entries.
func archiveKind(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", importOpenErr(path, err)
	}
	defer f.Close()
	tr := tar.NewReader(bufio.NewReader(f))
	seen := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%q is not a tar archive (%v): give a rootfs tarball, an OCI archive or a `docker save` archive: %w", path, err, ErrInvalid)
		}
		n := strings.TrimPrefix(h.Name, "./")
		switch n {
		case "oci-layout":
			return "oci", nil
		case "manifest.json":
			return "docker", nil
		}
		if seen++; seen > 64 {
			break
		}
	}
	return "rootfs-tar", nil
}

func dpkgPackages(rootfs string) []string {
	b, err := os.ReadFile(filepath.Join(rootfs, "var/lib/dpkg/status"))
	if err != nil {
		return nil
	}
	var out []string
	for _, para := range strings.Split(string(b), "\n\n") {
		var pkg string
		installed := false
		for _, l := range strings.Split(para, "\n") {
			if v, ok := strings.CutPrefix(l, "Package: "); ok {
				pkg = v
			}
			if strings.HasPrefix(l, "Status: ") && strings.HasSuffix(l, " installed") {
				installed = true
			}
		}
		if pkg != "" && installed {
			out = append(out, pkg)
		}
	}
	sort.Strings(out)
	return out
}

func treeSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// importOpenErr is the error for an archive that cannot be opened: one
// that is not there is the caller's mistake.
func importOpenErr(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("import %q: no such file on the daemon's host: give the archive's absolute path there: %w", path, ErrInvalid)
	}
	return fmt.Errorf("import %q: %w", path, err)
}
