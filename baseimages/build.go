package baseimages

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// DefaultCacheDir keeps built rootfs tarballs by recipe key, outside any
// state dir, so tests and `make run` reuse a build.
const DefaultCacheDir = "/var/cache/fatbox/images"

// Builder builds recipes into a Store with mmdebstrap.
type Builder struct {
	Store   *Store
	Recipes Recipes
	// CacheDir keeps built tarballs by recipe key; "" means DefaultCacheDir.
	CacheDir string
	// Mirror is the Debian mirror; "" means mmdebstrap's default (the host's apt sources).
	Mirror string
}

// Build builds recipe into an image of the same name, writing step lines
// with elapsed time to progress. A tarball cached under the recipe's content
// key is imported instead of building again.
func (b *Builder) Build(ctx context.Context, recipe string, progress io.Writer) (Image, error) {
	if progress == nil {
		progress = io.Discard
	}
	r, err := b.Recipes.Resolve(recipe)
	if err != nil {
		return Image{}, err
	}
	start := time.Now()
	step := func(format string, args ...any) {
		fmt.Fprintf(progress, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	if img, err := b.Store.Inspect(recipe); err == nil && img.RecipeKey == r.Key {
		step("image %s is up to date (recipe key %s)", recipe, r.Key[:12])
		return img, nil
	}
	cache := b.CacheDir
	if cache == "" {
		cache = DefaultCacheDir
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return Image{}, fmt.Errorf("build cache %q: %w", cache, err)
	}
	tarPath := filepath.Join(cache, recipe+"-"+r.Key+".tar")
	if _, err := os.Stat(tarPath); err == nil {
		step("using cached build %s", tarPath)
	} else {
		if _, err := exec.LookPath("mmdebstrap"); err != nil {
			return Image{}, fmt.Errorf("mmdebstrap not found: install it with tools/setup-host.sh (Debian package mmdebstrap)")
		}
		step("building %s: %d packages on Debian %s with mmdebstrap", recipe, len(r.Packages), r.Suite)
		// Unique per build: two processes may build the same key at once;
		// the rename below makes the last one win with identical content.
		tmp := fmt.Sprintf("%s.tmp-%d-%d.tar", tarPath, os.Getpid(), time.Now().UnixNano())
		args := []string{"--variant=minbase", "--mode=root", "--format=tar",
			"--include=" + strings.Join(r.Packages, ","),
			"--aptopt=Acquire::Retries \"3\"",
			"--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-include=/usr/share/doc/*/copyright",
			"--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/locale/*"}
		// Man pages are excluded, but update-alternatives (openjdk's postinst)
		// still links into man1 and fails if the directory is missing.
		args = append(args, `--setup-hook=mkdir -p "$1"/usr/share/man/man1`)
		for _, h := range r.Hooks {
			args = append(args, "--customize-hook="+h)
		}
		args = append(args, r.Suite, tmp)
		if b.Mirror != "" {
			args = append(args, b.Mirror)
		}
		cmd := exec.CommandContext(ctx, "mmdebstrap", args...)
		out, err := cmd.StderrPipe()
		if err != nil {
			return Image{}, err
		}
		cmd.Stdout = io.Discard
		if err := cmd.Start(); err != nil {
			return Image{}, err
		}
		var tail []string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l := sc.Text()
			tail = append(tail, l)
			if len(tail) > 20 {
				tail = tail[1:]
			}
			if strings.HasPrefix(l, "I: ") {
				step("%s", strings.TrimPrefix(l, "I: "))
			}
		}
		if err := cmd.Wait(); err != nil {
			os.Remove(tmp)
			return Image{}, fmt.Errorf("mmdebstrap failed for %s: %v:\n%s", recipe, err, strings.Join(tail, "\n"))
		}
		if err := os.Rename(tmp, tarPath); err != nil {
			return Image{}, err
		}
	}
	step("importing into the image store")
	f, err := os.Open(tarPath)
	if err != nil {
		return Image{}, err
	}
	defer f.Close()
	img, err := b.Store.importTar(ctx, f, recipe, "", Image{Source: "build", Recipe: recipe, RecipeKey: r.Key, Parent: r.Parent, Programs: r.Programs})
	if err != nil {
		return Image{}, err
	}
	step("done: image %s, %.0f MiB, %d packages", recipe, float64(img.Size)/(1<<20), len(img.Packages))
	return img, nil
}
