package firstboot

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/inventory/logfwd"
	"golang.org/x/crypto/ssh"
)

// SupervisorLogDir is where supervisord and its programs log inside the container.
const SupervisorLogDir = "/var/log/supervisor"

// hostResolvConf is read when Config.DNS is nil; a variable for tests.
var hostResolvConf = "/etc/resolv.conf"

// Config is a container's identity.
type Config struct {
	// Hostname is a single DNS label, e.g. "web1".
	Hostname string
	// IP is the container's address, written to /etc/hosts.
	IP netip.Addr
	// Domain is optional, e.g. "example.internal": /etc/hosts gets the FQDN
	// and /etc/resolv.conf a search line.
	Domain string
	// DNS servers for /etc/resolv.conf. nil copies the host's non-loopback
	// nameservers (none if it has none); an empty non-nil slice writes none.
	DNS []netip.Addr
	// AuthorizedKeys are OpenSSH public key lines for root.
	AuthorizedKeys []string
	// Programs are run by supervisord besides (or replacing, by name) the
	// baseimages.DefaultPrograms.
	Programs []baseimages.Program
	// KeyPool supplies a pre-generated RSA host key when the container has
	// none yet; nil means generate it now.
	KeyPool *KeyPool
	// VMShim is where the vmshim binary is inside the container (the
	// engine binds it there), "" for none. With it, every boot links
	// systemctl, service, reboot, ... to it (ShimLinks), supervisord runs
	// its init and includes the programs it makes for units.
	VMShim string
	// Syslog is the collector the container's rsyslog forwards to
	// (logfwd.Parse's URL; "" none): each boot writes logfwd.DropIn for it,
	// or removes the drop-in.
	Syslog string
	// Gateway is the SSH gateway's key and the logins it may use; each
	// boot writes GatewayKeysDir and GatewayDropIn for it (or removes them).
	Gateway Gateway

	// disabled are the programs DisabledProgramsFile names (Write reads it).
	disabled map[string]bool
}

// ShimLink is one command name vmshim answers to inside a container.
type ShimLink struct {
	Path string
	// Replace: the link is put back at every boot whatever is there
	// (/usr/local is not a package's); otherwise it is made only where
	// nothing exists, so a real package's file is never replaced.
	Replace bool
}

// ShimLinks are the names vmshim answers to. /usr/local/sbin comes first
// in root's PATH (supervisord's programs, ssh logins, sshd's superuser
// path), so the shim wins even where a package installed its own
// systemctl; the /usr paths serve scripts that call them by full path.
func ShimLinks() []ShimLink {
	var ls []ShimLink
	for _, n := range []string{"systemctl", "service", "chkconfig", "update-rc.d", "journalctl",
		"reboot", "shutdown", "halt", "poweroff", "telinit", "runlevel"} {
		ls = append(ls, ShimLink{Path: "/usr/local/sbin/" + n, Replace: true})
	}
	for _, n := range []string{"systemctl", "journalctl"} {
		ls = append(ls, ShimLink{Path: "/usr/local/bin/" + n, Replace: true}, ShimLink{Path: "/usr/bin/" + n})
	}
	// /usr/sbin/init (= /sbin/init): invoke-rc.d refuses every package's
	// start without it; vmshim called as init acts as telinit.
	for _, n := range []string{"reboot", "shutdown", "halt", "poweroff", "telinit", "runlevel", "chkconfig", "init"} {
		ls = append(ls, ShimLink{Path: "/usr/sbin/" + n})
	}
	return ls
}

// DisabledProgramsFile, inside the container, lists the image's programs
// `systemctl disable` or `mask` turned off (vmshim writes it): with a shim,
// each boot writes them autostart=false. The container writes it, so it is
// read inside the root, 4 KiB at most, and only names programs there are.
const DisabledProgramsFile = "/etc/fatbox/disabled-programs"

// ShimInclude is the glob of the supervisord program files vmshim writes
// for the units it runs (on /run: gone at every boot, made again by its
// init for the enabled ones).
const ShimInclude = "/run/vmshim/supervisor/*.conf"

// ShimInitProgram is the supervisord program that runs vmshim's init
// (enabled units at boot, timers).
const ShimInitProgram = "fatbox-init"

var (
	labelRE   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	progRE    = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	envKeyRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	localhost = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
)

// files is everything Write puts in the rootfs except the host keys.
type files struct {
	hostname, hosts, resolv, authorizedKeys, supervisord []byte
	// syslog is the forwarding drop-in; nil: none (removed).
	syslog []byte
}

// render validates cfg and renders the files. It writes nothing.
func (cfg Config) render() (*files, error) {
	if !labelRE.MatchString(cfg.Hostname) {
		return nil, fmt.Errorf("firstboot: invalid hostname %q: want one DNS label (letters, digits, '-', at most 63)", cfg.Hostname)
	}
	if !cfg.IP.IsValid() {
		return nil, errors.New("firstboot: no IP address")
	}
	fqdn := cfg.Hostname
	if cfg.Domain != "" {
		d := strings.TrimSuffix(cfg.Domain, ".")
		for _, l := range strings.Split(d, ".") {
			if !labelRE.MatchString(l) {
				return nil, fmt.Errorf("firstboot: invalid domain %q", cfg.Domain)
			}
		}
		fqdn = cfg.Hostname + "." + d
		if len(fqdn) > 253 {
			return nil, fmt.Errorf("firstboot: %q is longer than 253 characters", fqdn)
		}
	}
	ak, err := authorizedKeys(cfg.AuthorizedKeys)
	if err != nil {
		return nil, err
	}
	for _, p := range cfg.Programs {
		if err := checkProgram(p); err != nil {
			return nil, err
		}
	}
	dns := cfg.DNS
	if dns == nil {
		if dns, err = hostNameservers(hostResolvConf); err != nil {
			return nil, err
		}
	}
	var resolv bytes.Buffer
	resolv.WriteString("# written by fatbox on first boot\n")
	if cfg.Domain != "" {
		fmt.Fprintf(&resolv, "search %s\n", strings.TrimSuffix(cfg.Domain, "."))
	}
	for _, a := range dns {
		if !a.IsValid() {
			return nil, errors.New("firstboot: invalid DNS server address")
		}
		fmt.Fprintf(&resolv, "nameserver %s\n", a)
	}
	names := cfg.Hostname
	if fqdn != cfg.Hostname {
		names = fqdn + " " + cfg.Hostname
	}
	progs := cfg.Programs
	if cfg.VMShim != "" {
		// Started after syslog, sshd and cron (priority 30): its boot scan
		// of the unit files would otherwise compete with sshd for the
		// container's CPU quota (create → SSH banner p50 ~30 ms slower,
		// test/bench/vm.sh).
		progs = append(append([]baseimages.Program(nil), progs...),
			baseimages.Program{Name: ShimInitProgram, Command: cfg.VMShim + " init", Autostart: true, Priority: 30})
	}
	merged := baseimages.MergePrograms(baseimages.DefaultPrograms(), progs)
	for i := range merged {
		if cfg.disabled[merged[i].Name] && merged[i].Name != ShimInitProgram {
			merged[i].Autostart = false
		}
	}
	conf := baseimages.RenderSupervisord(merged, SupervisorLogDir)
	if cfg.VMShim != "" {
		conf += "[include]\nfiles = " + ShimInclude + "\n"
	}
	var fwd []byte
	if cfg.Syslog != "" {
		t, err := logfwd.Parse(cfg.Syslog)
		if err != nil {
			return nil, fmt.Errorf("firstboot: %w", err)
		}
		fwd = logfwd.Render(t)
	}
	return &files{
		syslog:         fwd,
		hostname:       []byte(cfg.Hostname + "\n"),
		hosts:          []byte(localhost + cfg.IP.String() + "\t" + names + "\n"),
		resolv:         resolv.Bytes(),
		authorizedKeys: ak,
		supervisord:    []byte(conf),
	}, nil
}

// authorizedKeys validates each line and returns the file content.
func authorizedKeys(lines []string) ([]byte, error) {
	var b bytes.Buffer
	for i, l := range lines {
		l = strings.TrimSpace(l)
		bad := func(why string) error {
			q := l
			if len(q) > 60 {
				q = q[:60] + "..."
			}
			return fmt.Errorf("firstboot: authorized key line %d (%q): %s", i+1, q, why)
		}
		if strings.ContainsAny(l, "\r\n") {
			return nil, bad("must be a single line")
		}
		_, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(l))
		if err != nil {
			return nil, bad(err.Error())
		}
		if len(bytes.TrimSpace(rest)) != 0 {
			return nil, bad("trailing data after the key")
		}
		b.WriteString(l + "\n")
	}
	return b.Bytes(), nil
}

// checkProgram guards RenderSupervisord, which does no escaping, against
// values that would inject extra config lines or sections.
func checkProgram(p baseimages.Program) error {
	if !progRE.MatchString(p.Name) {
		return fmt.Errorf("firstboot: invalid program name %q", p.Name)
	}
	if strings.TrimSpace(p.Command) == "" || strings.ContainsAny(p.Command+p.User+p.Directory, "\r\n") {
		return fmt.Errorf("firstboot: program %s: command must be one non-empty line, user one line", p.Name)
	}
	for k, v := range p.Environment {
		if !envKeyRE.MatchString(k) || strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("firstboot: program %s: invalid environment entry %q", p.Name, k)
		}
	}
	return nil
}

// hostNameservers returns the non-loopback nameservers of a resolv.conf; a
// missing file means none.
func hostNameservers(path string) ([]netip.Addr, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return []netip.Addr{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("firstboot: host resolv.conf: %w", err)
	}
	out := []netip.Addr{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil || a.IsLoopback() || a.IsUnspecified() {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// Write validates cfg, makes sure the host keys exist in stateDir, and writes
// the container's identity files into rootfs. It validates everything before
// writing anything, never writes outside rootfs whatever symlinks the image
// holds, and is idempotent.
func Write(rootfs, stateDir string, cfg Config) error {
	r, err := openRoot(rootfs)
	if err != nil {
		return err
	}
	defer r.Close()
	if cfg.VMShim != "" {
		b, err := r.readSmall(DisabledProgramsFile, 4096)
		if err != nil {
			return err
		}
		cfg.disabled = map[string]bool{}
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				cfg.disabled[l] = true
			}
		}
	}
	f, err := cfg.render()
	if err != nil {
		return err
	}
	if err := cfg.Gateway.Check(); err != nil {
		return err
	}
	keys, err := HostKeysFrom(stateDir, cfg.KeyPool)
	if err != nil {
		return err
	}
	type file struct {
		path string
		data []byte
		mode uint32
	}
	var todo []file
	todo = append(todo,
		file{"/etc/hostname", f.hostname, 0o644},
		file{"/etc/hosts", f.hosts, 0o644},
		file{"/etc/resolv.conf", f.resolv, 0o644},
	)
	for _, k := range keys.All() {
		todo = append(todo,
			file{"/etc/ssh/" + k.FileName(), k.Private, 0o600},
			file{"/etc/ssh/" + k.FileName() + ".pub", k.Public, 0o644})
	}
	todo = append(todo, file{"/etc/supervisor/supervisord.conf", f.supervisord, 0o644})
	if err := r.ensureDir("/root/.ssh", 0o700, true); err != nil {
		return err
	}
	todo = append(todo, file{"/root/.ssh/authorized_keys", f.authorizedKeys, 0o600})
	for _, w := range todo {
		if err := r.writeFile(w.path, w.data, w.mode); err != nil {
			return err
		}
	}
	if err := r.writeSyslog(f.syslog); err != nil {
		return err
	}
	if _, err := r.writeGateway(cfg.Gateway); err != nil {
		return err
	}
	if cfg.VMShim != "" {
		// A link the container's root blocked (a directory in the way, a
		// dangling /usr/local/sbin) is skipped, never a failed boot that
		// nobody could mend: `fatbox doctor` names the missing command.
		for _, l := range ShimLinks() {
			_ = r.symlink(l.Path, cfg.VMShim, l.Replace)
		}
	}
	return r.ensureDir(SupervisorLogDir, 0o755, false)
}

// WriteHosts rewrites only /etc/hosts in rootfs for cfg (its Hostname,
// Domain and IP): a release's switch gives a running container the name's
// address, and the hostname must resolve to it, not to the temporary one.
// Written as Write writes it (inside the root, links not followed).
func WriteHosts(rootfs string, cfg Config) error {
	r, err := openRoot(rootfs)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := cfg.render()
	if err != nil {
		return err
	}
	return r.writeFile("/etc/hosts", f.hosts, 0o644)
}

// WriteSyslog writes (or, for "", removes) only the rsyslog forwarding
// drop-in, as Write does at every boot: `fatbox update --syslog` on a
// running container, whose rsyslog is then restarted to read it.
func WriteSyslog(rootfs, collector string) error {
	var data []byte
	if collector != "" {
		t, err := logfwd.Parse(collector)
		if err != nil {
			return fmt.Errorf("firstboot: %w", err)
		}
		data = logfwd.Render(t)
	}
	r, err := openRoot(rootfs)
	if err != nil {
		return err
	}
	defer r.Close()
	return r.writeSyslog(data)
}

// writeSyslog writes the drop-in (0644, inside the root, links replaced,
// never followed) or removes it when data is nil.
func (r *root) writeSyslog(data []byte) error {
	if data == nil {
		return r.remove(logfwd.DropIn)
	}
	return r.writeFile(logfwd.DropIn, data, 0o644)
}
