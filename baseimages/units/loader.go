package units

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strings"
)

// Loader finds and loads units under Root, a directory ("/" in a
// container; tests use t.TempDir()). The other fields feed specifiers;
// empty means "read it from the file system under Root".
type Loader struct {
	Root          string
	Hostname      string // %H, %l; default: <Root>/proc/sys/kernel/hostname, then <Root>/etc/hostname
	MachineID     string // %m; default: <Root>/etc/machine-id
	BootID        string // %b; default: <Root>/proc/sys/kernel/random/boot_id
	KernelRelease string // %v; default: <Root>/proc/sys/kernel/osrelease
}

// Change is one symlink systemctl enable/disable (or update-rc.d) makes or removes.
type Change struct {
	Op     string // "symlink" | "unlink"
	Path   string // absolute path inside Root
	Target string // link target, for "symlink"
}

// String prints the change as systemctl does.
func (c Change) String() string {
	if c.Op == "symlink" {
		return fmt.Sprintf("Created symlink %s → %s.", c.Path, c.Target)
	}
	return fmt.Sprintf("Removed %q.", c.Path)
}

// unitDirs is the unit search path, highest priority first.
func unitDirs() []string {
	return []string{"/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"}
}

// configDirs hold the enablement symlinks systemctl manages.
func configDirs() []string { return []string{"/etc/systemd/system", "/run/systemd/system"} }

func (l Loader) fs() rootFS {
	r := l.Root
	if r == "" {
		r = "/"
	}
	return rootFS{root: r}
}

func (l Loader) firstLine(p string) string {
	b, err := l.fs().readFile(p)
	if err != nil {
		return ""
	}
	s, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(s)
}

func (l Loader) specifiers(name, file string) specifierContext {
	s := specifierContext{name: name, file: file, hostname: l.Hostname, machine: l.MachineID, boot: l.BootID, kernel: l.KernelRelease}
	if s.hostname == "" {
		if s.hostname = l.firstLine("/proc/sys/kernel/hostname"); s.hostname == "" {
			s.hostname = l.firstLine("/etc/hostname")
		}
	}
	if s.machine == "" {
		s.machine = l.firstLine("/etc/machine-id")
	}
	if s.boot == "" {
		s.boot = strings.ReplaceAll(l.firstLine("/proc/sys/kernel/random/boot_id"), "-", "")
	}
	if s.kernel == "" {
		s.kernel = l.firstLine("/proc/sys/kernel/osrelease")
	}
	s.arch = archName(runtime.GOARCH)
	if b, err := l.fs().readFile("/etc/passwd"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Split(line, ":"); len(f) == 7 && f[0] == "root" {
				s.shell = f[6]
			}
		}
	}
	s.osr = map[string]string{}
	b, err := l.fs().readFile("/etc/os-release")
	if err != nil {
		b, _ = l.fs().readFile("/usr/lib/os-release")
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && !strings.HasPrefix(k, "#") {
			s.osr[k] = strings.Trim(v, `"'`)
		}
	}
	return s
}

func archName(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86-64"
	case "386":
		return "x86"
	case "arm64":
		return "arm64"
	case "arm":
		return "arm"
	case "ppc64le":
		return "ppc64-le"
	case "s390x":
		return "s390x"
	case "riscv64":
		return "riscv64"
	}
	return goarch
}

// found is where a unit name led in the search path.
type found struct {
	file   string // resolved unit file path inside Root ("" if not found)
	link   string // the search-path entry that matched (may be a symlink)
	name   string // the unit's real name (the file's base name; for instances the instance name)
	masked bool
}

// find looks name up in the search path (first hit wins). A symlink to
// /dev/null, or an empty file, masks the unit; a symlink to a file of another
// name makes name an alias of that unit.
func (l Loader) find(name string) (found, error) {
	r := l.fs()
	for _, d := range unitDirs() {
		p := path.Join(d, name)
		fi, err := r.lstat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscallENOTDIR) {
				continue
			}
			return found{}, fmt.Errorf("look up unit %q: %w", name, err)
		}
		f := found{file: p, link: p, name: name}
		if fi.Mode()&fs.ModeSymlink != 0 {
			rp, err := r.resolve(p, true)
			if err != nil {
				return found{}, fmt.Errorf("look up unit %q: %w", name, err)
			}
			f.file = rp
			if rp == "/dev/null" {
				f.masked = true
				return f, nil
			}
			if fi, err = r.lstat(rp); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return found{}, fmt.Errorf("unit %q: %s is a dangling symlink to %s; remove it or reinstall the package: %w", name, p, rp, ErrNotFound)
				}
				return found{}, fmt.Errorf("look up unit %q: %w", name, err)
			}
			if b := path.Base(rp); b != name && unitSuffix(b) == unitSuffix(name) {
				f.name = b
				if tmpl := templateOf(name); tmpl != "" && b == tmpl {
					f.name = name // "x@i.service" → "x@.service": an instance of the template
				}
			}
		}
		if fi.Mode()&fs.ModeCharDevice != 0 || fi.Mode().IsRegular() && fi.Size() == 0 {
			f.masked = true
		}
		return f, nil
	}
	return found{}, nil
}

func (l Loader) notFound(name string) error {
	return fmt.Errorf("unit %q not found (looked in %s, /etc/init.d): %w", name, strings.Join(unitDirs(), ", "), ErrNotFound)
}

// locate resolves name to its unit file, following aliases and templates.
// asked is the original name (kept in Aliases).
func (l Loader) locate(name string) (found, error) {
	f, err := l.find(name)
	if err != nil {
		return found{}, err
	}
	for hops := 0; f.file != "" && !f.masked && f.name != name && hops < 8; hops++ {
		// An alias: load the real unit by its own name (an /etc copy of it wins).
		name = f.name
		g, err := l.find(name)
		if err != nil {
			return found{}, err
		}
		if g.file == "" {
			break
		}
		f = g
	}
	if f.file == "" {
		if tmpl := templateOf(name); tmpl != "" {
			g, err := l.find(tmpl)
			if err != nil {
				return found{}, err
			}
			if g.file != "" {
				g.name = name
				return g, nil
			}
		}
	}
	return f, nil
}

// Load finds and loads the unit name (".service" is assumed for a name
// without a unit type suffix). It applies drop-ins, resolves specifiers and
// synthesizes a unit for a SysV script when no unit file exists. A masked
// unit returns a *Unit with Masked set and an error wrapping ErrMasked.
func (l Loader) Load(name string) (*Unit, error) {
	name = normalizeName(name)
	if err := validName(name); err != nil {
		return nil, err
	}
	f, err := l.locate(name)
	if err != nil {
		return nil, err
	}
	if f.masked {
		return &Unit{Name: f.name, Path: f.link, Masked: true},
			fmt.Errorf("unit %q is masked (%s); run systemctl unmask %s first: %w", name, f.link, name, ErrMasked)
	}
	if f.file == "" {
		if u, ok, err := l.sysvUnit(name); ok || err != nil {
			return u, err
		}
		return nil, l.notFound(name)
	}
	return l.loadFile(f, name, false)
}

// loadFile parses f and its drop-ins; installOnly reads only [Install]
// (for enablement, which must work even for units the shim cannot run).
func (l Loader) loadFile(f found, asked string, installOnly bool) (*Unit, error) {
	r := l.fs()
	b := newBuilder(f.name, l.specifiers(f.name, f.file))
	b.installOnly = installOnly
	b.u.Path = f.file
	data, err := r.readFile(f.file)
	if err != nil {
		return nil, fmt.Errorf("read unit %q: %w", f.name, err)
	}
	if err := b.file(f.file, bytes.NewReader(data)); err != nil {
		return nil, err
	}
	if err := l.applyDropIns(b, f.name, asked); err != nil {
		return nil, err
	}
	if asked != f.name && asked != "" && !contains(b.u.Aliases, asked) {
		b.u.Aliases = append([]string{asked}, b.u.Aliases...)
	}
	if installOnly {
		return b.u, nil
	}
	links, err := l.aliasLinks(f)
	if err != nil {
		return nil, err
	}
	for _, a := range links {
		if !contains(b.u.Aliases, a) {
			b.u.Aliases = append(b.u.Aliases, a)
		}
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	return b.u, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// dropInNames lists the ".d" directory names whose drop-ins apply to a unit,
// most specific first: the name and any alias asked, the template, the
// dash-prefixes ("foo-.service.d"), the type ("service.d").
func dropInNames(name, asked string) []string {
	names := []string{name}
	if asked != "" && asked != name {
		names = append(names, asked)
	}
	if t := templateOf(name); t != "" {
		names = append(names, t)
	}
	prefix, _, suffix, _ := splitTemplate(name)
	for i := len(prefix) - 1; i > 0; i-- {
		if prefix[i] == '-' {
			names = append(names, prefix[:i+1]+"."+suffix)
		}
	}
	return append(names, suffix)
}

// dropIns returns the drop-in files for a unit in the order they apply:
// sorted by file name across all directories; of two files with one name the
// higher-priority directory (/etc over /run over /lib) wins.
func (l Loader) dropIns(name, asked string) ([]string, error) {
	r := l.fs()
	byBase := map[string]string{}
	for _, d := range unitDirs() {
		for _, n := range dropInNames(name, asked) {
			dir := path.Join(d, n+".d")
			es, err := r.readDir(dir)
			if err != nil {
				return nil, fmt.Errorf("read drop-in directory %q: %w", dir, err)
			}
			for _, e := range es {
				if !strings.HasSuffix(e.Name(), ".conf") {
					continue
				}
				if _, ok := byBase[e.Name()]; !ok {
					byBase[e.Name()] = path.Join(dir, e.Name())
				}
			}
		}
	}
	bases := make([]string, 0, len(byBase))
	for b := range byBase {
		bases = append(bases, b)
	}
	sort.Strings(bases)
	var out []string
	for _, b := range bases {
		p := byBase[b]
		if rp, err := r.resolve(p, true); err == nil && rp == "/dev/null" {
			continue // a drop-in masked by a same-named link to /dev/null
		}
		if fi, err := r.stat(p); err == nil && fi.Size() == 0 && fi.Mode().IsRegular() {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

func (l Loader) applyDropIns(b *builder, name, asked string) error {
	files, err := l.dropIns(name, asked)
	if err != nil {
		return err
	}
	for _, p := range files {
		data, err := l.fs().readFile(p)
		if err != nil {
			return fmt.Errorf("read drop-in %q: %w", p, err)
		}
		if err := b.file(p, bytes.NewReader(data)); err != nil {
			return err
		}
		b.u.DropIns = append(b.u.DropIns, p)
	}
	return nil
}

// List returns every unit name found: .service, .timer and .target files
// and aliases in the search path, templates included, plus SysV scripts in
// /etc/init.d with no unit of their name; sorted.
func (l Loader) List() ([]string, error) {
	r := l.fs()
	seen := map[string]bool{}
	for _, d := range unitDirs() {
		es, err := r.readDir(d)
		if err != nil {
			return nil, fmt.Errorf("list units in %q: %w", d, err)
		}
		for _, e := range es {
			switch unitSuffix(e.Name()) {
			case "service", "timer", "target":
				if !e.IsDir() {
					seen[e.Name()] = true
				}
			}
		}
	}
	scripts, err := l.sysvScripts()
	if err != nil {
		return nil, err
	}
	for _, s := range scripts {
		seen[s+".service"] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// WantsOf lists the units linked in <dir>/<target>.wants/ and .requires/
// across the search path (what starting target pulls in), sorted; for an
// alias (default.target → multi-user.target) those of the unit it names
// too. Links to /dev/null are left out.
func (l Loader) WantsOf(target string) ([]string, error) {
	target = normalizeName(target)
	names := []string{target}
	if f, err := l.locate(target); err == nil && f.file != "" && f.name != target {
		names = append(names, f.name) // default.target → multi-user.target
	}
	r := l.fs()
	seen := map[string]bool{}
	for _, d := range unitDirs() {
		for _, sub := range []string{".wants", ".requires"} {
			for _, name := range names {
				dir := path.Join(d, name+sub)
				es, err := r.readDir(dir)
				if err != nil {
					return nil, fmt.Errorf("list %q: %w", dir, err)
				}
				for _, e := range es {
					if unitSuffix(e.Name()) == "" {
						continue
					}
					if rp, err := r.resolve(path.Join(dir, e.Name()), true); err == nil && rp == "/dev/null" {
						continue
					}
					seen[e.Name()] = true
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// aliasLinks lists the symlinks in the search path's top level that point
// to f's unit file under another name (systemd knows the unit by those names
// too: /etc/systemd/system/sshd.service → ssh.service, kmod.service →
// systemd-modules-load.service), sorted.
func (l Loader) aliasLinks(f found) ([]string, error) {
	if templateOf(f.name) != "" {
		return nil, nil // an instance: links to the template are not its names
	}
	r := l.fs()
	real, err := r.resolve(f.file, true)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range unitDirs() {
		es, err := r.readDir(d)
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", d, err)
		}
		for _, e := range es {
			n := e.Name()
			if e.Type()&fs.ModeSymlink == 0 || n == f.name || unitSuffix(n) != unitSuffix(f.name) || contains(out, n) {
				continue
			}
			if rp, err := r.resolve(path.Join(d, n), true); err == nil && rp == real {
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
