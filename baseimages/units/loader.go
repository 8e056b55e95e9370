package units

import (
	"io"
)

// Loader finds and loads units under Root, a directory ("/" in a
// container). The other fields feed specifiers; empty means the default.
type Loader struct {
	Root          string
	Hostname      string // %H, %l; default: contents of <Root>/etc/hostname
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

// Parse reads one unit file (no drop-ins, no search) with the default
// specifier context.
func Parse(name, file string, r io.Reader) (*Unit, error) {
	return Loader{}.Parse(name, file, r)
}

// Parse reads one unit file (no drop-ins, no search), resolving specifiers
// with l's context.
func (l Loader) Parse(name, file string, r io.Reader) (*Unit, error) {
	return nil, ErrNotFound
}

// Load finds and loads the unit name (".service" assumed when the name has no unit suffix).
func (l Loader) Load(name string) (*Unit, error) { return nil, ErrNotFound }

// List returns every unit name found (services, timers, and SysV scripts with no unit), sorted.
func (l Loader) List() ([]string, error) { return nil, nil }

// Enabled returns the unit's enablement state as systemctl is-enabled prints it.
func (l Loader) Enabled(name string) (string, error) { return "", ErrNotFound }

// WantsOf lists the units linked in <target>.wants/ under the search path.
func (l Loader) WantsOf(target string) ([]string, error) { return nil, nil }

// EnableChanges computes the symlinks systemctl enable creates.
func (l Loader) EnableChanges(name string) ([]Change, error) { return nil, nil }

// DisableChanges computes the symlinks systemctl disable removes.
func (l Loader) DisableChanges(name string) ([]Change, error) { return nil, nil }

// SysVLinks computes update-rc.d links for enable or disable.
func (l Loader) SysVLinks(name string, enable bool) ([]Change, error) { return nil, nil }

// LimitRules reads /etc/security/limits.conf then /etc/security/limits.d/*.conf.
func (l Loader) LimitRules() ([]LimitRule, error) { return nil, nil }
