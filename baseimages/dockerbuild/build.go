package dockerbuild

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/engine/revert"
)

// RunIDPrefix starts the id of every RUN step's container (and netns):
// underscores, which no container name (a DNS label) has, then the layer
// key's start and the building process's PID.
const RunIDPrefix = "fatbox_build_"

// Builder builds Dockerfiles into a baseimages.Store.
type Builder struct {
	Store  *baseimages.Store
	Runner Runner
	// CacheDir keeps the layers by key; "" means <Store.Root>/layers. It
	// must be on the store's file system (images hard-link layer files).
	CacheDir string
	// AptCache keeps the .debs fetched on the host; "" means AptCacheDir.
	AptCache string
}

// Request is one build.
type Request struct {
	Dockerfile string // path of the Dockerfile
	Context    string // the build context dir; "" means the Dockerfile's dir
	Name       string // the image to make, e.g. app:v1
	Network    bool   // RUN steps get the host's network
	NoCache    bool   // run every step again
}

// Build runs the Dockerfile and stores the result as req.Name: a flattened
// rootfs (the base image's files hard-linked, each layer applied) whose
// image.json names its parent. Progress lines go to progress.
func (b *Builder) Build(ctx context.Context, req Request, progress io.Writer) (baseimages.Image, error) {
	if progress == nil {
		progress = io.Discard
	}
	if err := baseimages.CheckName(req.Name); err != nil {
		return baseimages.Image{}, err
	}
	df, err := os.ReadFile(req.Dockerfile)
	if err != nil {
		return baseimages.Image{}, fmt.Errorf("read Dockerfile %q (a path on the daemon's host): %v: %w", req.Dockerfile, err, ErrInvalid)
	}
	if req.Context == "" {
		req.Context = filepath.Dir(req.Dockerfile)
	}
	if fi, err := os.Stat(req.Context); err != nil || !fi.IsDir() {
		return baseimages.Image{}, fmt.Errorf("build context %q is not a directory on the daemon's host: give --context DIR: %w", req.Context, ErrInvalid)
	}
	ins, err := Parse(bytes.NewReader(df))
	if err != nil {
		return baseimages.Image{}, fmt.Errorf("%s: %w", req.Dockerfile, err)
	}
	ig, err := readIgnore(req.Context)
	if err != nil {
		return baseimages.Image{}, err
	}
	bs := &build{b: b, req: req, out: progress, start: time.Now(), ly: layers{dir: b.cacheDir()}, ig: ig}
	if err := os.MkdirAll(bs.ly.dir, 0o755); err != nil {
		return baseimages.Image{}, fmt.Errorf("build cache %q: %w", bs.ly.dir, err)
	}
	defer bs.dropSalted()
	if req.NoCache {
		salt := make([]byte, 8)
		_, _ = rand.Read(salt)
		bs.salt = hex.EncodeToString(salt)
	}
	return bs.run(ctx, ins)
}

// Sweep removes what a build killed midway (a daemon's kill -9) left: the
// overlay mounted in a temp layer, temp layers, a flattened image not yet
// stored. A temp dir is a build's recorded intent; this finishes it. Call
// it before any build runs, after the runner's own sweep stopped the
// steps' containers (the daemon does both at start).
func (b *Builder) Sweep() error {
	var errs []error
	ents, _ := os.ReadDir(b.cacheDir())
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			tmp := filepath.Join(b.cacheDir(), e.Name())
			if err := unmount(filepath.Join(tmp, "merged")); err != nil {
				errs = append(errs, err)
				continue
			}
			errs = append(errs, os.RemoveAll(tmp))
		}
	}
	tmps, _ := filepath.Glob(filepath.Join(b.Store.Root, "tmp", "dockerbuild-*"))
	for _, t := range tmps {
		errs = append(errs, os.RemoveAll(t))
	}
	return errors.Join(errs...)
}

func (b *Builder) cacheDir() string {
	if b.CacheDir != "" {
		return b.CacheDir
	}
	return filepath.Join(b.Store.Root, "layers")
}

type build struct {
	b      *Builder
	req    Request
	out    io.Writer
	start  time.Time
	ly     layers
	ig     ignore   // the context's .dockerignore
	salt   string   // --no-cache: keys no other build shares
	salted []string // layers to drop at the end
	// the chain so far
	base       baseimages.Image
	baseRootfs string
	key        string
	diffs      []string
	st         State
}

func (bs *build) dropSalted() {
	for _, k := range bs.salted {
		os.RemoveAll(bs.ly.path(k))
	}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

func (bs *build) run(ctx context.Context, ins []Instruction) (baseimages.Image, error) {
	n := len(ins)
	bs.st = State{Args: map[string]string{}, Labels: map[string]string{}}
	cached := 0
	steps := 0
	for i, in := range ins {
		t0 := time.Now()
		head := fmt.Sprintf("[%d/%d] %s", i+1, n, oneLine(in.Original))
		step, next, err := Apply(bs.st, in)
		if err != nil {
			return baseimages.Image{}, err
		}
		switch {
		case in.Cmd == "ARG" && bs.key == "":
			bs.st = next
			fmt.Fprintln(bs.out, head)
			continue
		case in.Cmd == "FROM":
			if err := bs.from(step, &next); err != nil {
				return baseimages.Image{}, err
			}
			bs.st = next
			fmt.Fprintf(bs.out, "%s (sha256:%s)\n", head, bs.base.ID[:12])
			continue
		}
		steps++
		inputs := ""
		var srcs []string
		if in.Cmd == "COPY" || in.Cmd == "ADD" {
			if srcs, err = sources(bs.ig, step); err != nil {
				return baseimages.Image{}, err
			}
			if inputs, err = hashSources(bs.ig, srcs); err != nil {
				return baseimages.Image{}, err
			}
		}
		key := StepKey(bs.key, step, bs.st, inputs+bs.salt)
		if ly, ok := bs.ly.get(key); ok {
			cached++
			bs.key, bs.diffs, bs.st = key, ly.Diffs, ly.State
			fmt.Fprintf(bs.out, "%s (cached)\n", head)
			continue
		}
		fmt.Fprintln(bs.out, head)
		if err := bs.exec(ctx, key, step, srcs, next); err != nil {
			return baseimages.Image{}, fmt.Errorf("%s: %w", bs.req.Dockerfile, err)
		}
		fmt.Fprintf(bs.out, "       done in %.1fs\n", time.Since(t0).Seconds())
	}
	return bs.finish(ctx, cached, steps)
}

// from starts the chain on a stored image.
func (bs *build) from(step Step, next *State) error {
	base, err := bs.b.Store.Inspect(step.Image)
	if err != nil {
		return fmt.Errorf("line %d: FROM %s: %w", step.Line, step.Image, err)
	}
	if step.Digest != "" && step.Digest != base.ID {
		return fmt.Errorf("line %d: FROM %s@sha256:%s: the store's %s is sha256:%s, another build: rebuild or import the image the Dockerfile was written for, or regenerate the Dockerfile (`fatbox dockerfile`) against this one: %w",
			step.Line, step.Image, step.Digest, step.Image, base.ID, ErrDigest)
	}
	rootfs, err := bs.b.Store.Rootfs(step.Image)
	if err != nil {
		return err
	}
	bs.base, bs.baseRootfs, bs.key = base, rootfs, FromKey(base.ID)
	next.Env = slices.Clone(base.Env)
	next.WorkDir, next.User, next.Ports = base.WorkDir, base.User, slices.Clone(base.Ports)
	for k, v := range base.Labels {
		next.Labels[k] = v
	}
	return nil
}

// exec runs one step into a new layer; a failure leaves no layer, mount
// or container behind.
func (bs *build) exec(ctx context.Context, key string, step Step, srcs []string, next State) (err error) {
	var rv revert.Reverter
	defer func() {
		if err != nil {
			if rerr := rv.Revert(); rerr != nil {
				err = errors.Join(err, fmt.Errorf("clean up after the failed step: %w", rerr))
			}
		}
	}()
	tmp, err := os.MkdirTemp(bs.ly.dir, ".tmp-")
	if err != nil {
		return err
	}
	rv.Add(func() error { return os.RemoveAll(tmp) })
	diffs := bs.diffs
	if step.ChangesFiles() {
		lowers := []string{}
		for i := len(bs.diffs) - 1; i >= 0; i-- {
			lowers = append(lowers, bs.ly.diff(bs.diffs[i]))
		}
		lowers = append(lowers, bs.baseRootfs)
		merged := filepath.Join(tmp, "merged")
		if err := mountOverlay(lowers, filepath.Join(tmp, "diff"), filepath.Join(tmp, "work"), merged); err != nil {
			return err
		}
		mounted := true
		rv.Add(func() error {
			if mounted {
				return unmount(merged)
			}
			return nil
		})
		if err := bs.apply(ctx, merged, tmp, key, step, srcs); err != nil {
			return err
		}
		if err := unmount(merged); err != nil {
			return err
		}
		mounted = false
		for _, d := range []string{"work", "merged", "apt"} {
			if err := os.RemoveAll(filepath.Join(tmp, d)); err != nil {
				return err
			}
		}
		if err := cleanDiff(filepath.Join(tmp, "diff")); err != nil {
			return err
		}
		diffs = append(slices.Clone(bs.diffs), key)
	}
	ly := layer{Key: key, Parent: bs.key, Step: step.Original, Diffs: diffs, State: next}
	if err := bs.ly.put(tmp, ly); err != nil {
		return err
	}
	if bs.salt != "" {
		bs.salted = append(bs.salted, key)
	}
	bs.key, bs.diffs, bs.st = key, diffs, next
	return nil
}

// apply does a step's work on the mounted rootfs.
func (bs *build) apply(ctx context.Context, rootfs, tmp, key string, step Step, srcs []string) error {
	switch step.Cmd {
	case "WORKDIR":
		_, err := mkdirIn(rootfs, step.Dest)
		return err
	case "COPY", "ADD":
		uid, gid := -1, -1
		if step.Chown != "" {
			var err error
			if uid, gid, err = lookupUser(rootfs, step.Chown); err != nil {
				return fmt.Errorf("line %d: %s --chown=%s: %w", step.Line, step.Cmd, step.Chown, err)
			}
		}
		if err := copyStep(bs.ig, rootfs, step, srcs, uid, gid); err != nil {
			return fmt.Errorf("line %d: %s: %w", step.Line, step.Cmd, err)
		}
		return nil
	case "RUN":
		return bs.runStep(ctx, rootfs, tmp, key, step)
	}
	return nil
}

func (bs *build) runStep(ctx context.Context, rootfs, tmp, key string, step Step) error {
	if bs.b.Runner == nil {
		return fmt.Errorf("line %d: RUN: this builder has no container runner", step.Line)
	}
	uid, gid, home := 0, 0, "/root"
	if bs.st.User != "" {
		var err error
		if uid, gid, err = lookupUser(rootfs, bs.st.User); err != nil {
			return fmt.Errorf("line %d: RUN as USER %s: %w", step.Line, bs.st.User, err)
		}
		home = "/"
		if f, _ := dbLookup(rootfs, "/etc/passwd", "", uid); len(f) > 5 && f[5] != "" {
			home = f[5]
		}
	}
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + home, "LANG=C.UTF-8", "DEBIAN_FRONTEND=noninteractive"}
	for _, kv := range bs.st.Env {
		k, _, _ := strings.Cut(kv, "=")
		env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		env = append(env, kv)
	}
	cwd := bs.st.WorkDir
	if cwd == "" {
		cwd = "/"
	}
	r := Run{ID: RunIDPrefix + key[:12] + "_" + strconv.Itoa(os.Getpid()), Rootfs: rootfs, Argv: step.Argv, Env: env, Cwd: cwd,
		UID: uint32(uid), GID: uint32(gid), Network: bs.req.Network}
	// The shell line itself (not /bin/sh -c ...), so a line that starts with apt-get counts.
	if pkgs := aptOf(step); len(pkgs) > 0 && !bs.req.Network {
		t0 := time.Now()
		repo := filepath.Join(tmp, "apt", "repo")
		cache := cmpOr(bs.b.AptCache, AptCacheDir)
		nd, err := prefetch(ctx, rootfs, cache, repo, pkgs)
		if err != nil {
			return fmt.Errorf("line %d: RUN: %w", step.Line, err)
		}
		fmt.Fprintf(bs.out, "       fetched %d packages for %s on the host (%.1fs); the step sees only them as its apt source\n", nd, strings.Join(pkgs, " "), time.Since(t0).Seconds())
		empty := filepath.Join(tmp, "apt", "empty")
		if err := os.WriteFile(empty, nil, 0o644); err != nil {
			return err
		}
		r.Mounts = append(r.Mounts,
			Mount{Type: "tmpfs", Dest: "/etc/apt/sources.list.d"},
			Mount{Type: "bind", Source: filepath.Join(tmp, "apt", "sources.list"), Dest: "/etc/apt/sources.list.d/fatbox-build.list", ReadOnly: true},
			Mount{Type: "bind", Source: repo, Dest: AptRepoDir, ReadOnly: true})
		if p, err := resolveIn(rootfs, "/etc/apt/sources.list"); err == nil {
			if _, err := os.Stat(p); err == nil {
				r.Mounts = append(r.Mounts, Mount{Type: "bind", Source: empty, Dest: "/etc/apt/sources.list", ReadOnly: true})
			}
		}
		if p, err := resolveIn(rootfs, "/var/cache/apt"); err == nil {
			if fi, err := os.Stat(p); err == nil && fi.IsDir() {
				r.Mounts = append(r.Mounts, Mount{Type: "tmpfs", Dest: "/var/cache/apt"})
			}
		}
	}
	tail := &tailWriter{w: bs.out}
	r.Output = tail
	err := bs.b.Runner.Run(ctx, r)
	tail.flush()
	if err != nil {
		return fmt.Errorf("line %d: %s: %v; its last output: %s: the step's layer was thrown away; fix the command (or build with --network if it needs the network): %w",
			step.Line, oneLine(step.Original), err, strings.Join(tail.last, " / "), ErrRunFailed)
	}
	return nil
}

// aptOf is what a shell-form RUN installs with apt; an exec-form RUN is
// taken as written (no prefetch).
func aptOf(step Step) []string {
	if step.JSON || len(step.Argv) != 3 {
		return nil
	}
	return AptPackages(step.Argv[2])
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// tailWriter copies a step's output to the progress, indented, and keeps
// its last lines for the error.
type tailWriter struct {
	w    io.Writer
	buf  []byte
	last []string
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	for {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			break
		}
		t.line(string(t.buf[:i]))
		t.buf = t.buf[i+1:]
	}
	return len(p), nil
}

func (t *tailWriter) line(l string) {
	fmt.Fprintf(t.w, "       | %s\n", l)
	t.last = append(t.last, l)
	if len(t.last) > 5 {
		t.last = t.last[1:]
	}
}

func (t *tailWriter) flush() {
	if len(t.buf) > 0 {
		t.line(string(t.buf))
		t.buf = nil
	}
}

// lookupUser resolves USER[:GROUP] (names or numbers) in the image.
func lookupUser(rootfs, spec string) (int, int, error) {
	u, g, hasGroup := strings.Cut(spec, ":")
	uid, gid := -1, -1
	if n, err := strconv.Atoi(u); err == nil {
		uid, gid = n, n
	}
	if uid < 0 || !hasGroup {
		f, err := dbLookup(rootfs, "/etc/passwd", u, uid)
		if err != nil {
			return 0, 0, err
		}
		if f == nil {
			if uid >= 0 {
				return uid, uid, nil
			}
			return 0, 0, fmt.Errorf("no user %q in the image's /etc/passwd: create it in an earlier RUN (useradd) or use a number: %w", u, ErrInvalid)
		}
		uid, _ = strconv.Atoi(f[2])
		gid, _ = strconv.Atoi(f[3])
	}
	if hasGroup {
		if n, err := strconv.Atoi(g); err == nil {
			gid = n
		} else {
			f, err := dbLookup(rootfs, "/etc/group", g, -1)
			if err != nil {
				return 0, 0, err
			}
			if f == nil {
				return 0, 0, fmt.Errorf("no group %q in the image's /etc/group: create it in an earlier RUN (groupadd) or use a number: %w", g, ErrInvalid)
			}
			gid, _ = strconv.Atoi(f[2])
		}
	}
	return uid, gid, nil
}

// dbLookup finds name (or, with id >= 0, the id) in a passwd/group file of the image.
func dbLookup(rootfs, file, name string, id int) ([]string, error) {
	p, err := resolveIn(rootfs, file)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Split(sc.Text(), ":")
		if len(fl) < 4 {
			continue
		}
		if fl[0] == name || (id >= 0 && fl[2] == strconv.Itoa(id)) {
			return fl, nil
		}
	}
	return nil, nil
}

// finish stores the chain as the image.
func (bs *build) finish(ctx context.Context, cached, steps int) (img baseimages.Image, err error) {
	if old, err := bs.b.Store.Inspect(bs.req.Name); err == nil {
		if old.BuildKey == bs.key && bs.salt == "" {
			fmt.Fprintf(bs.out, "image %s is up to date: %d of %d steps cached (%.1fs)\n", bs.req.Name, cached, steps, time.Since(bs.start).Seconds())
			return old, nil
		}
		return baseimages.Image{}, fmt.Errorf("image %q exists (a different build): name this one another tag (e.g. %s), or `fatbox image rm %s` first: %w",
			bs.req.Name, nextTag(bs.req.Name), bs.req.Name, baseimages.ErrExists)
	}
	t0 := time.Now()
	var rv revert.Reverter
	defer func() {
		if err != nil {
			err = errors.Join(err, rv.Revert())
		}
	}()
	dir, err := bs.b.Store.TempDir("dockerbuild-")
	if err != nil {
		return baseimages.Image{}, err
	}
	rv.Add(func() error { return os.RemoveAll(dir) })
	rootfs := filepath.Join(dir, "rootfs")
	// Hard links: the base's files are shared, never copied; stored rootfs
	// dirs are read-only by convention (overlay lower dirs).
	if out, err := exec.CommandContext(ctx, "cp", "-al", bs.baseRootfs, rootfs).CombinedOutput(); err != nil {
		return baseimages.Image{}, fmt.Errorf("link the base image's files: %v: %s", err, out)
	}
	for _, d := range bs.diffs {
		if err := applyDiff(bs.ly.diff(d), rootfs); err != nil {
			return baseimages.Image{}, fmt.Errorf("apply layer %s: %w", d[:12], err)
		}
	}
	progs, err := programsIn(rootfs)
	if err != nil {
		return baseimages.Image{}, err
	}
	for i := range progs {
		env := map[string]string{}
		for _, kv := range bs.st.Env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		for k, v := range progs[i].Environment {
			env[k] = v
		}
		if len(env) > 0 {
			progs[i].Environment = env
		}
	}
	meta := baseimages.Image{Source: "dockerfile", Parent: bs.base.Name, ParentID: bs.base.ID,
		Programs: baseimages.MergePrograms(bs.base.Programs, progs),
		Labels:   bs.st.Labels, Ports: bs.st.Ports, Env: bs.st.Env, WorkDir: bs.st.WorkDir, User: bs.st.User, BuildKey: bs.key}
	if bs.salt != "" {
		meta.BuildKey = ""
	}
	if len(meta.Labels) == 0 {
		meta.Labels = nil
	}
	img, err = bs.b.Store.ImportDir(ctx, dir, bs.req.Name, meta)
	if err != nil {
		return baseimages.Image{}, err
	}
	rv.Release()
	fmt.Fprintf(bs.out, "image %s: sha256:%s, %d of %d steps cached, stored in %.1fs, built in %.1fs\n",
		img.Name, img.ID[:12], cached, steps, time.Since(t0).Seconds(), time.Since(bs.start).Seconds())
	return img, nil
}

// nextTag suggests another name: app:v1 -> app:v1-2.
func nextTag(name string) string {
	if strings.Contains(name, ":") {
		return name + "-2"
	}
	return name + ":v2"
}
