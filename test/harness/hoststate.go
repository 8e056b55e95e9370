package harness

import (
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
