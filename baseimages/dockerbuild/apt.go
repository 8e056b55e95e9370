package dockerbuild

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"
)

// AptCacheDir keeps the .deb files the host's apt downloads for RUN steps.
const AptCacheDir = "/var/cache/fatbox/apt"

// AptRepoDir is where a RUN step sees the local repository of what the host
// fetched for it (under the runner's /run tmpfs, so not in the layer).
const AptRepoDir = "/run/fatbox-apt"

var shellSplitRE = regexp.MustCompile(`&&|\|\||[;|&\n]`)

// AptPackages finds the packages a shell-form RUN installs with apt-get
// (or apt) install; nil when it installs none.
func AptPackages(cmd string) []string {
	var pkgs []string
	for _, seg := range shellSplitRE.Split(cmd, -1) {
		f := strings.Fields(seg)
		for len(f) > 0 && (strings.Contains(f[0], "=") || f[0] == "sudo" || f[0] == "env") {
			f = f[1:] // DEBIAN_FRONTEND=noninteractive apt-get ...
		}
		if len(f) < 2 || (f[0] != "apt-get" && f[0] != "apt" && f[0] != "/usr/bin/apt-get") {
			continue
		}
		install := false
		for _, w := range f[1:] {
			switch {
			case w == "install":
				install = true
			case strings.HasPrefix(w, "-"):
			case install:
				pkgs = append(pkgs, strings.Trim(w, `"'`))
			}
		}
	}
	return pkgs
}

var instRE = regexp.MustCompile(`^Inst (\S+) (?:\[[^]]*\] )?\((\S+) .*\[(\S+)\]\)`)

// prefetch resolves pkgs on the host with the host's apt against the
// image's dpkg status, downloads what is missing into cacheDir, and makes a
// flat repository of exactly those .debs in repo.
func prefetch(ctx context.Context, rootfs, cacheDir, repo string, pkgs []string) (int, error) {
	if err := os.MkdirAll(filepath.Dir(repo), 0o755); err != nil {
		return 0, err
	}
	work, err := os.MkdirTemp(filepath.Dir(repo), "apt-state-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(work)
	status := filepath.Join(work, "status")
	if st, err := resolveIn(rootfs, "/var/lib/dpkg/status"); err == nil {
		b, err := os.ReadFile(st)
		if err != nil {
			return 0, fmt.Errorf("the image has no dpkg status (%v): apt-get install needs a Debian image", err)
		}
		if err := os.WriteFile(status, b, 0o644); err != nil {
			return 0, err
		}
	}
	if err := os.MkdirAll(filepath.Join(cacheDir, "partial"), 0o755); err != nil {
		return 0, err
	}
	// Builds run at once (and several daemons share the cache): one apt
	// download into it at a time, or two would write the same partial file.
	lock, err := os.OpenFile(filepath.Join(cacheDir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return 0, err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return 0, fmt.Errorf("lock the apt cache %s: %w", cacheDir, err)
	}
	opts := []string{"-y", "-q", "--no-install-recommends",
		"-o", "Dir::State::status=" + status, "-o", "Dir::Cache=" + filepath.Join(work, "cache"),
		"-o", "Dir::Cache::archives=" + cacheDir, "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root"}
	sim := exec.CommandContext(ctx, "apt-get", append(append([]string{"install", "-s"}, opts...), pkgs...)...)
	out, err := sim.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("the host's apt cannot resolve %s for the image (RUN has no network, so its packages are fetched on the host): %s: run `apt-get update` on the host, fix the package names, or build with --network: %w",
			strings.Join(pkgs, " "), lastLines(string(out), 3), ErrInvalid)
	}
	type deb struct{ name, version, arch string }
	var debs []deb
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if m := instRE.FindStringSubmatch(sc.Text()); m != nil {
			debs = append(debs, deb{m[1], m[2], m[3]})
		}
	}
	if len(debs) > 0 {
		dl := exec.CommandContext(ctx, "apt-get", append(append([]string{"install", "--download-only"}, opts...), pkgs...)...)
		dl.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := dl.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("the host's apt could not download %s: %s: check the host's apt sources and network, or build with --network", strings.Join(pkgs, " "), lastLines(string(out), 3))
		}
	}
	if err := os.MkdirAll(repo, 0o755); err != nil {
		return 0, err
	}
	for _, d := range debs {
		name, arch := d.name, d.arch
		if i := strings.IndexByte(name, ':'); i >= 0 {
			name = name[:i]
		}
		fn := fmt.Sprintf("%s_%s_%s.deb", name, strings.ReplaceAll(d.version, ":", "%3a"), arch)
		if err := linkOrCopy(filepath.Join(cacheDir, fn), filepath.Join(repo, fn)); err != nil {
			return 0, fmt.Errorf("apt fetched %s %s but %s is not in %s: %w", d.name, d.version, fn, cacheDir, err)
		}
	}
	pk := exec.CommandContext(ctx, "apt-ftparchive", "packages", ".")
	pk.Dir = repo
	pout, err := pk.Output()
	if err != nil {
		return 0, fmt.Errorf("apt-ftparchive (Debian package apt-utils; tools/setup-host.sh installs it): %w", err)
	}
	if err := os.WriteFile(filepath.Join(repo, "Packages"), pout, 0o644); err != nil {
		return 0, err
	}
	// apt asks for the compressed index first; without it each try is an "Ign" line.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(pout)
	zw.Close()
	if err := os.WriteFile(filepath.Join(repo, "Packages.gz"), gz.Bytes(), 0o644); err != nil {
		return 0, err
	}
	list := "deb [trusted=yes] file:" + AptRepoDir + " ./\n"
	return len(debs), os.WriteFile(filepath.Join(filepath.Dir(repo), "sources.list"), []byte(list), 0o644)
}

// linkOrCopy hard-links src to dst, or copies it across file systems.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return copyEntry(src, dst, 0, 0)
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, " / ")
}
