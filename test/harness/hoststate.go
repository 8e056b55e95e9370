package harness

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// HostStateOptions says what TakeHostState records: the parts of this host
// a fatbox daemon may change (links, mounts, cgroups, nftables rules, state
// dir entries, and whatever the caller reads through the API).
type HostStateOptions struct {
	// StateDir: the mounts under it are recorded (a test's own state dir,
	// so other tests' mounts never show).
	StateDir string
	// Dirs are directories whose entries are recorded (e.g.
	// <state>/containers); a missing one has none.
	Dirs []string
	// Watch, when set, limits links, cgroups and nftables lines to those
	// naming one of these strings (container names, veth names, bridges):
	// on a host where other tests run at the same time, only what this test
	// could have made is compared. Unset: every link, every cgroup below a
	// "fatbox" cgroup, and the whole ruleset.
	Watch []string
	// Outputs are read by the caller, e.g. the store's listings through
	// the CLI (`fatbox ls -o json`); each must come out the same.
	Outputs map[string]func() (string, error)
}

// HostState is one reading of what HostStateOptions names.
type HostState struct {
	Links   []string          // "name" or "name alias A"
	Mounts  []string          // mount points under StateDir
	Cgroups []string          // cgroup dirs (paths)
	NFT     []string          // `nft list ruleset` lines, trimmed
	Entries []string          // dir/entry of each of Dirs
	Outputs map[string]string // by name
}

// TakeHostState reads the host's state as opts says; a read that fails
// fails the test (a comparison against a blind reading proves nothing).
func TakeHostState(t testing.TB, opts HostStateOptions) HostState {
	t.Helper()
	var s HostState
	out, err := exec.Command("ip", "-o", "link").CombinedOutput()
	if err != nil {
		t.Fatalf("ip -o link: %v: %s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l := linkOf(line); l != "" && watched(opts.Watch, l) {
			s.Links = append(s.Links, l)
		}
	}
	if opts.StateDir != "" {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		under := filepath.Clean(opts.StateDir) + "/"
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && (f[4]+"/" == under || strings.HasPrefix(f[4], under)) {
				s.Mounts = append(s.Mounts, f[4])
			}
		}
	}
	s.Cgroups = cgroupDirs(opts.Watch)
	nft, err := exec.LookPath("nft")
	Require(t, err == nil, "nft (Debian package nftables) to read the ruleset")
	out, err = exec.Command(nft, "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimSpace(line); line != "" && watched(opts.Watch, line) {
			s.NFT = append(s.NFT, line)
		}
	}
	for _, d := range opts.Dirs {
		es, err := os.ReadDir(d)
		if err != nil && !os.IsNotExist(err) {
			t.Fatalf("read %s: %v", d, err)
		}
		for _, e := range es {
			s.Entries = append(s.Entries, filepath.Join(d, e.Name()))
		}
	}
	s.Outputs = map[string]string{}
	for name, f := range opts.Outputs {
		v, err := f()
		if err != nil {
			t.Fatalf("host state: %s: %v", name, err)
		}
		s.Outputs[name] = v
	}
	sort.Strings(s.Links)
	sort.Strings(s.Mounts)
	sort.Strings(s.Cgroups)
	sort.Strings(s.NFT)
	sort.Strings(s.Entries)
	return s
}

// linkOf reads "name" (and its alias) from a line of `ip -o link`.
func linkOf(line string) string {
	f := strings.Fields(line)
	if len(f) < 2 {
		return ""
	}
	name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
	if i := slices.Index(f, "alias"); i > 0 && i+1 < len(f) {
		return name + " alias " + f[i+1]
	}
	return name
}

func watched(watch []string, s string) bool {
	if len(watch) == 0 {
		return true
	}
	for _, w := range watch {
		if w != "" && strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// cgroupDirs lists cgroup directories (v1 and v2, four levels deep) named
// exactly after a watched name, or, with no watch list, every directory
// below a cgroup named "fatbox" (runc's cgroupsPath is /fatbox/<name>).
func cgroupDirs(watch []string) []string {
	const root = "/sys/fs/cgroup"
	var out []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if rel != "." && strings.Count(rel, "/") >= 4 {
			return filepath.SkipDir
		}
		base := filepath.Base(p)
		if len(watch) == 0 {
			if filepath.Base(filepath.Dir(p)) == "fatbox" {
				out = append(out, p)
			}
		} else if slices.Contains(watch, base) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// Diff lists what differs from before to s, one line each ("link added:
// fb0123 alias fatbox:web-01"); none means the host is as it was.
func (s HostState) Diff(before HostState) []string {
	var d []string
	d = append(d, diffLists("link", before.Links, s.Links)...)
	d = append(d, diffLists("mount", before.Mounts, s.Mounts)...)
	d = append(d, diffLists("cgroup", before.Cgroups, s.Cgroups)...)
	d = append(d, diffLists("nftables line", before.NFT, s.NFT)...)
	d = append(d, diffLists("state dir entry", before.Entries, s.Entries)...)
	var names []string
	for n := range before.Outputs {
		names = append(names, n)
	}
	for n := range s.Outputs {
		if _, ok := before.Outputs[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if a, b := before.Outputs[n], s.Outputs[n]; a != b {
			d = append(d, fmt.Sprintf("%s changed:\n--- before\n%s\n--- after\n%s", n, a, b))
		}
	}
	return d
}

// diffLists compares two sorted lists as multisets.
func diffLists(what string, before, after []string) []string {
	count := map[string]int{}
	for _, x := range before {
		count[x]--
	}
	for _, x := range after {
		count[x]++
	}
	var keys []string
	for k, n := range count {
		if n != 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		switch n := count[k]; {
		case n > 0:
			out = append(out, fmt.Sprintf("%s added: %s", what, k))
		default:
			out = append(out, fmt.Sprintf("%s gone: %s", what, k))
		}
	}
	return out
}

// CheckHostState fails the test for every difference between before and
// the host now (read with the same opts).
func CheckHostState(t testing.TB, before HostState, opts HostStateOptions) {
	t.Helper()
	for _, d := range TakeHostState(t, opts).Diff(before) {
		t.Errorf("host state: %s", d)
	}
}

// Leftover is one host object a probe found.
type Leftover struct {
	// Kind is what it is: "loop", "nftables", "link", "netns", "mount",
	// "cgroup", "runc" or "state dir".
	Kind string
	// Detail names it: the line or path read.
	Detail string
}

func (l Leftover) String() string { return l.Kind + ": " + l.Detail }

// ProbeContainer names one container's host objects the way fatbox derives
// them from its name.
type ProbeContainer struct {
	// Name is the container's name: its cgroup dirs, <state>/containers/<Name>,
	// <runc root>/<Name>, the alias "fatbox:<Name>" of its veth.
	Name string
	// HostVeth is its host-side veth (network.HostVethName(Name)): the link,
	// the ifb carrying its egress (whose alias names the veth), the
	// container end while still in the host ("fp" and the same hash), and
	// its nftables port-security chain and jump rule. Required.
	HostVeth string
	// Netns is its network namespace; empty means "fatbox-<Name>".
	Netns string
}

// LeftoverProbe says where Leftovers looks: only at objects of one state
// dir and of the containers named, so other tests' objects on a shared host
// never show.
type LeftoverProbe struct {
	// StateDir is the daemon's (or engine's) state dir. Required.
	StateDir string
	// RuncRoot is runc's root for that state dir (daemon.RuncRoot). Required.
	RuncRoot   string
	Containers []ProbeContainer
}

// Leftovers lists what is left on this host of p's containers: loop devices
// whose backing file is in their state dirs (from `losetup -a`, which also
// lists loops whose image was deleted), nftables lines naming their veths,
// links (veth, ifb, the container end), named netns, mounts under their
// state dirs or on their netns, cgroup dirs named after them (any
// hierarchy, four levels deep), runc state under p.RuncRoot, and their
// dirs in <StateDir>/containers. A probe that cannot read something
// returns an error beside whatever it did find: a blind probe proves nothing.
func Leftovers(p LeftoverProbe) ([]Leftover, error) {
	if p.StateDir == "" || p.RuncRoot == "" {
		return nil, fmt.Errorf("leftover probe: StateDir (%q) and RuncRoot (%q) are required", p.StateDir, p.RuncRoot)
	}
	var out []Leftover
	var errs []error
	add := func(kind, detail string) { out = append(out, Leftover{kind, detail}) }
	dirs := map[string]string{} // container dir (as given and resolved) + "/" -> name
	names := map[string]bool{}
	for _, c := range p.Containers {
		if c.Name == "" || len(c.HostVeth) < 3 {
			return nil, fmt.Errorf("leftover probe: container %+v needs Name and HostVeth", c)
		}
		names[c.Name] = true
		d := filepath.Join(p.StateDir, "containers", c.Name)
		dirs[d+"/"] = c.Name
		if r, err := filepath.EvalSymlinks(p.StateDir); err == nil {
			dirs[filepath.Join(r, "containers", c.Name)+"/"] = c.Name
		}
	}
	under := func(path string) bool {
		for d := range dirs {
			if path+"/" == d || strings.HasPrefix(path, d) {
				return true
			}
		}
		return false
	}

	// Loop devices: `losetup -a` reads each device's backing file from
	// sysfs, " (deleted)" appended when the image is gone.
	if b, err := exec.Command("losetup", "-a").Output(); err != nil {
		errs = append(errs, fmt.Errorf("losetup -a: %w", cmdErr(err)))
	} else {
		for _, line := range strings.Split(string(b), "\n") {
			for d := range dirs {
				if strings.Contains(line, d) {
					add("loop", strings.TrimSpace(line))
					break
				}
			}
		}
	}

	if b, err := exec.Command("nft", "list", "ruleset").Output(); err != nil {
		errs = append(errs, fmt.Errorf("nft list ruleset: %w", cmdErr(err)))
	} else {
		for _, line := range strings.Split(string(b), "\n") {
			for _, c := range p.Containers {
				if strings.Contains(line, c.HostVeth) {
					add("nftables", strings.TrimSpace(line))
					break
				}
			}
		}
	}

	if b, err := exec.Command("ip", "-o", "link").Output(); err != nil {
		errs = append(errs, fmt.Errorf("ip -o link: %w", cmdErr(err)))
	} else {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			l := linkOf(line)
			name, alias, _ := strings.Cut(l, " alias ")
			for _, c := range p.Containers {
				if name == c.HostVeth || strings.HasSuffix(name, c.HostVeth[2:]) ||
					alias == "fatbox:"+c.Name || (alias != "" && strings.Contains(alias, c.HostVeth)) {
					add("link", l)
					break
				}
			}
		}
	}

	netns := map[string]bool{}
	for _, c := range p.Containers {
		n := c.Netns
		if n == "" {
			n = "fatbox-" + c.Name
		}
		netns[n] = true
	}
	if b, err := exec.Command("ip", "netns", "list").Output(); err != nil {
		errs = append(errs, fmt.Errorf("ip netns list: %w", cmdErr(err)))
	} else {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 0 && netns[f[0]] {
				add("netns", f[0])
			}
		}
	}

	if b, err := os.ReadFile("/proc/self/mountinfo"); err != nil {
		errs = append(errs, err)
	} else {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 5 {
				continue
			}
			mp := unescapeMount(f[4])
			if under(mp) || (strings.HasPrefix(mp, "/run/netns/") || strings.HasPrefix(mp, "/var/run/netns/")) && netns[filepath.Base(mp)] {
				add("mount", mp)
			}
		}
	}

	cg, err := cgroupsNamed(names)
	if err != nil {
		errs = append(errs, err)
	}
	for _, d := range cg {
		add("cgroup", d)
	}

	for _, c := range p.Containers {
		for kind, path := range map[string]string{"runc": filepath.Join(p.RuncRoot, c.Name), "state dir": filepath.Join(p.StateDir, "containers", c.Name)} {
			if _, err := os.Lstat(path); err == nil {
				add(kind, path)
			} else if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, errors.Join(errs...)
}

// CheckNoLeftovers fails the test for each leftover of p's containers and
// when the probe could not look.
func CheckNoLeftovers(t testing.TB, p LeftoverProbe) {
	t.Helper()
	left, err := Leftovers(p)
	for _, l := range left {
		t.Errorf("left behind: %s", l)
	}
	if err != nil {
		t.Fatalf("leftover probe: %v", err)
	}
}

// cgroupsNamed lists the cgroup dirs (every hierarchy, four levels below
// /sys/fs/cgroup) whose name is one of names; dirs that vanish while it
// walks (other tests' containers going) are no error.
func cgroupsNamed(names map[string]bool) ([]string, error) {
	const root = "/sys/fs/cgroup"
	var out []string
	var errs []error
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if rel != "." && strings.Count(rel, "/") >= 4 {
			return filepath.SkipDir
		}
		if rel != "." && names[d.Name()] {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// cmdErr adds a failed command's stderr to its error.
func cmdErr(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
