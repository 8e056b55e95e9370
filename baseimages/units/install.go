package units

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// installLinkDirs are the subdirectories of a config dir that hold
// dependency symlinks ([Install] WantedBy=, RequiredBy=, UpheldBy=).
func installLinkDir(name string) bool {
	return strings.HasSuffix(name, ".wants") || strings.HasSuffix(name, ".requires") || strings.HasSuffix(name, ".upholds")
}

// link is one symlink found in a config dir.
type link struct {
	path, target string // target as read (may be relative)
}

// configLinks lists the symlinks in dir (top level) and its *.wants,
// *.requires and *.upholds subdirectories.
func (l Loader) configLinks(dir string) ([]link, error) {
	r := l.fs()
	es, err := r.readDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", dir, err)
	}
	var out []link
	add := func(p string) error {
		t, err := r.readlink(p)
		if err != nil {
			return fmt.Errorf("read link %q: %w", p, err)
		}
		out = append(out, link{path: p, target: t})
		return nil
	}
	for _, e := range es {
		p := path.Join(dir, e.Name())
		if e.Type()&fs.ModeSymlink != 0 {
			if unitSuffix(e.Name()) != "" {
				if err := add(p); err != nil {
					return nil, err
				}
			}
			continue
		}
		if !e.IsDir() || !installLinkDir(e.Name()) {
			continue
		}
		sub, err := r.readDir(p)
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", p, err)
		}
		for _, s := range sub {
			if s.Type()&fs.ModeSymlink != 0 {
				if err := add(path.Join(p, s.Name())); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// installInfo loads only the [Install] section of a unit (and its drop-ins).
func (l Loader) installInfo(name string) (found, *Unit, error) {
	f, err := l.locate(name)
	if err != nil {
		return found{}, nil, err
	}
	if f.file == "" || f.masked {
		return f, nil, nil
	}
	u, err := l.loadFile(f, name, true)
	return f, u, err
}

func hasInstall(u *Unit) bool {
	return len(u.WantedBy)+len(u.RequiredBy) > 0 || len(u.Aliases) > 0 && !(len(u.Aliases) == 1 && u.Aliases[0] == "")
}

// Enabled returns the unit's enablement state as systemctl is-enabled
// prints it: "enabled" (an [Install] symlink exists in /etc/systemd/system;
// for a template asked as "x@.service", one of its DefaultInstance),
// "enabled-runtime" (in /run/systemd/system), "disabled", "static" (no
// [Install] section), "indirect" (only Also=, or a template whose other
// instances are linked), "masked", "alias" (name is an alias symlink of another
// unit). A SysV script with no unit is "enabled" when /etc/rc[2-5].d has an
// S link for it, else "disabled" (what Debian's systemctl prints through
// systemd-sysv-install).
func (l Loader) Enabled(name string) (string, error) {
	name = normalizeName(name)
	if err := validName(name); err != nil {
		return "", err
	}
	f, err := l.find(name)
	if err != nil {
		return "", err
	}
	switch {
	case f.masked:
		return "masked", nil
	case f.file != "" && f.name != name:
		return "alias", nil
	}
	f, u, err := l.installInfo(name)
	if err != nil {
		return "", err
	}
	if f.file == "" {
		if _, ok := l.sysvScript(name); ok {
			on, err := l.sysvEnabled(strings.TrimSuffix(name, ".service"))
			if err != nil {
				return "", err
			}
			if on {
				return "enabled", nil
			}
			return "disabled", nil
		}
		return "", l.notFound(name)
	}
	// A template asked by its own name is enabled through its default
	// instance; links of other instances only make it "indirect".
	prefix, inst, suf, isTmpl := splitTemplate(name)
	template := isTmpl && inst == ""
	indirect := false
	for i, dir := range configDirs() {
		links, err := l.configLinks(dir)
		if err != nil {
			return "", err
		}
		for _, lk := range links {
			if !l.linkEnables(lk, f, u, name) {
				continue
			}
			if template && installLinkDir(path.Base(path.Dir(lk.path))) && path.Base(lk.path) != prefix+"@"+u.DefaultInstance+"."+suf {
				indirect = true
				continue
			}
			if i == 0 {
				return "enabled", nil
			}
			return "enabled-runtime", nil
		}
	}
	if indirect {
		return "indirect", nil
	}
	own := u.Aliases
	if len(own) > 0 && own[0] == name {
		own = own[1:]
	}
	switch {
	case len(u.WantedBy)+len(u.RequiredBy)+len(own) == 0 && len(u.Also) > 0:
		return "indirect", nil
	case len(u.WantedBy)+len(u.RequiredBy)+len(own) == 0:
		return "static", nil
	}
	return "disabled", nil
}

// linkEnables reports whether a config-dir symlink enables the unit: a
// dependency link named after it (or an instance of the template asked
// for), or a top-level alias link listed in its Alias=.
func (l Loader) linkEnables(lk link, f found, u *Unit, asked string) bool {
	base := path.Base(lk.path)
	inDepDir := installLinkDir(path.Base(path.Dir(lk.path)))
	isTemplate := strings.HasSuffix(strings.TrimSuffix(f.name, "."+unitSuffix(f.name)), "@")
	matches := base == f.name || base == asked
	if isTemplate {
		p, _, suf, _ := splitTemplate(f.name)
		matches = matches || strings.HasPrefix(base, p+"@") && strings.HasSuffix(base, "."+suf)
	}
	if inDepDir {
		return matches
	}
	return contains(u.Aliases, base) && base != f.name && path.Base(lk.target) == path.Base(f.file)
}

// EnableChanges computes the symlinks systemctl enable creates, as systemd
// does: WantedBy=T → /etc/systemd/system/T.wants/<unit>, RequiredBy=T →
// T.requires/<unit>, Alias=A → /etc/systemd/system/A, all pointing at the
// unit file; Also= units are enabled too. A template uses the instance asked
// for, else DefaultInstance=. Links that already exist are left out, so an
// enabled unit yields no changes; a unit without [Install] yields none
// either (check Enabled for "static"). A vendor alias (/lib/.../mysql.service
// → mariadb.service) enables the unit it names; an alias link in
// /etc/systemd/system is refused, as systemctl does; so is a template with
// WantedBy= and no DefaultInstance= (enable an instance). A SysV script with
// no unit yields SysVLinks(name, true).
func (l Loader) EnableChanges(name string) ([]Change, error) {
	var out []Change
	err := l.enable(normalizeName(name), map[string]bool{}, &out)
	return out, err
}

func (l Loader) enable(name string, seen map[string]bool, out *[]Change) error {
	if seen[name] {
		return nil
	}
	seen[name] = true
	if err := validName(name); err != nil {
		return err
	}
	f, u, err := l.installInfo(name)
	if err != nil {
		return err
	}
	if f.masked {
		return fmt.Errorf("unit %q is masked (%s); run systemctl unmask %s first: %w", name, f.link, name, ErrMasked)
	}
	asked := name
	if f.file != "" && f.name != name && templateOf(name) == "" {
		// systemctl follows a vendor alias (/lib/.../mysql.service → mariadb)
		// but refuses a link in its own config dirs (/etc/.../sshd.service).
		first, err := l.find(name)
		if err != nil {
			return err
		}
		for _, d := range configDirs() {
			if path.Dir(first.link) == d {
				return fmt.Errorf("%q is an alias of %q: enable %s instead", name, f.name, f.name)
			}
		}
		name = f.name
	}
	if f.file == "" {
		if _, ok := l.sysvScript(name); ok {
			cs, err := l.SysVLinks(name, true)
			*out = append(*out, cs...)
			return err
		}
		return l.notFound(name)
	}
	linkName := f.name
	if p, inst, suf, tmpl := splitTemplate(f.name); tmpl && inst == "" {
		if u.DefaultInstance == "" {
			if len(u.WantedBy)+len(u.RequiredBy) > 0 {
				return fmt.Errorf("%s is a template with no DefaultInstance=: enable an instance, e.g. %s@NAME.%s", f.name, p, suf)
			}
			linkName = ""
		} else {
			linkName = p + "@" + u.DefaultInstance + "." + suf
		}
	}
	want := func(p string) error {
		c, err := l.linkChange(p, f.file)
		if err != nil {
			return err
		}
		if c != nil {
			*out = append(*out, *c)
		}
		return nil
	}
	for _, a := range u.Aliases { // systemd links aliases first
		if a == name || a == asked || a == f.name || validName(a) != nil {
			continue
		}
		if err := want(path.Join("/etc/systemd/system", a)); err != nil {
			return err
		}
	}
	if linkName != "" {
		for _, t := range u.WantedBy {
			if err := want(path.Join("/etc/systemd/system", t+".wants", linkName)); err != nil {
				return err
			}
		}
		for _, t := range u.RequiredBy {
			if err := want(path.Join("/etc/systemd/system", t+".requires", linkName)); err != nil {
				return err
			}
		}
	}
	for _, a := range u.Also {
		if err := l.enable(normalizeName(a), seen, out); err != nil {
			return err
		}
	}
	return nil
}

// linkChange returns the change that makes p a symlink to target, nil if it
// already is one (to target or a file of the same name).
func (l Loader) linkChange(p, target string) (*Change, error) {
	r := l.fs()
	fi, err := r.lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscallENOTDIR):
		return &Change{Op: "symlink", Path: p, Target: target}, nil
	case err != nil:
		return nil, fmt.Errorf("check %q: %w", p, err)
	case fi.Mode()&fs.ModeSymlink == 0:
		return nil, fmt.Errorf("%s exists and is not a symlink; move it away, then enable again", p)
	}
	t, err := r.readlink(p)
	if err != nil {
		return nil, fmt.Errorf("read link %q: %w", p, err)
	}
	if t == target || path.Base(t) == path.Base(target) {
		return nil, nil
	}
	return nil, fmt.Errorf("%s already links to %s, not %s; remove it, then enable again", p, t, target)
}

// DisableChanges computes the symlinks systemctl disable removes: every
// link in /etc/systemd/system's *.wants/, *.requires/ and *.upholds/ named
// after the unit (any instance, for a template), and its Alias= links;
// Also= units are disabled too (each unit's alias links, then its
// dependency links, sorted by path). A SysV script with no unit
// yields SysVLinks(name, false).
func (l Loader) DisableChanges(name string) ([]Change, error) {
	var out []Change
	if err := l.disable(normalizeName(name), map[string]bool{}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (l Loader) disable(name string, seen map[string]bool, out *[]Change) error {
	if seen[name] {
		return nil
	}
	seen[name] = true
	if err := validName(name); err != nil {
		return err
	}
	f, u, err := l.installInfo(name)
	if err != nil {
		return err
	}
	if f.masked {
		return nil // nothing is linked to a masked unit's file
	}
	if f.file == "" {
		if _, ok := l.sysvScript(name); ok {
			cs, err := l.SysVLinks(name, false)
			*out = append(*out, cs...)
			return err
		}
		return l.notFound(name)
	}
	links, err := l.configLinks("/etc/systemd/system")
	if err != nil {
		return err
	}
	var mine []Change
	for _, lk := range links {
		if l.linkEnables(lk, f, u, name) || installLinkDir(path.Base(path.Dir(lk.path))) && path.Base(lk.target) == path.Base(f.file) && path.Base(lk.path) == f.name {
			mine = append(mine, Change{Op: "unlink", Path: lk.path})
		}
	}
	// Alias links (top level) first, then dependency links; each sorted.
	sort.Slice(mine, func(i, j int) bool {
		di, dj := path.Dir(mine[i].Path) == "/etc/systemd/system", path.Dir(mine[j].Path) == "/etc/systemd/system"
		if di != dj {
			return di
		}
		return mine[i].Path < mine[j].Path
	})
	*out = append(*out, mine...)
	for _, a := range u.Also {
		if err := l.disable(normalizeName(a), seen, out); err != nil {
			return err
		}
	}
	return nil
}
