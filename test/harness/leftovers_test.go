package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestLeftoversSeesEachKind: one object of each kind the probe knows, made
// by hand under a container's names (a loop device whose image was then
// deleted, a veth, an ifb whose alias names the veth, an nftables chain
// named after the veth in a table of this test's own, a netns, a mount under
// the container's dir, a cgroup dir, runc state, the state dir): the probe
// reports each; a container of another name is never reported; and once
// they are gone the probe reports nothing.
func TestLeftoversSeesEachKind(t *testing.T) {
	RequireRoot(t)
	for _, tool := range []string{"losetup", "nft", "ip"} {
		_, err := exec.LookPath(tool)
		Require(t, err == nil, "%s", tool)
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	dir := t.TempDir()
	state, runcRoot := filepath.Join(dir, "state"), filepath.Join(dir, "runc")
	name, other := Name("fbpc-"), Name("fbpo-")
	veth := Name("fbp") // 3 + 8 letters: as unique as fatbox's own
	ifb := Name("fbpi")
	table := Name("fbprobe")
	cdir := filepath.Join(state, "containers", name)
	probe := LeftoverProbe{StateDir: state, RuncRoot: runcRoot, Containers: []ProbeContainer{{Name: name, HostVeth: veth}}}

	if left, err := Leftovers(probe); err != nil || len(left) != 0 {
		t.Fatalf("before anything was made: %v %v", left, err)
	}

	// The loop device of a deleted image (losetup -j would miss it).
	if err := os.MkdirAll(filepath.Join(cdir, "rootfs"), 0o700); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(cdir, "disk.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	os.Remove(img)

	IP(t, "link", "add", veth, "type", "veth", "peer", "name", Name("fbpq"))
	t.Cleanup(func() { IPQuiet("link", "del", veth) })
	IP(t, "link", "add", ifb, "type", "ifb")
	t.Cleanup(func() { IPQuiet("link", "del", ifb) })
	IP(t, "link", "set", ifb, "alias", "fatbox-ratelimit:"+veth)
	run("nft", "add", "table", "inet", table)
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "inet", table).Run() })
	run("nft", "add", "chain", "inet", table, "ps-"+veth)
	IP(t, "netns", "add", "fatbox-"+name)
	t.Cleanup(func() { IPQuiet("netns", "del", "fatbox-"+name) })
	if err := syscall.Mount("tmpfs", filepath.Join(cdir, "rootfs"), "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(filepath.Join(cdir, "rootfs"), syscall.MNT_DETACH) })
	cg := filepath.Join("/sys/fs/cgroup/pids", name)
	if _, err := os.Stat("/sys/fs/cgroup/pids"); err != nil {
		cg = filepath.Join("/sys/fs/cgroup", name) // cgroup v2
	}
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(cg) })
	if err := os.MkdirAll(filepath.Join(runcRoot, name), 0o700); err != nil {
		t.Fatal(err)
	}
	// Another container's objects, beside: never reported.
	os.MkdirAll(filepath.Join(state, "containers", other), 0o700)
	os.MkdirAll(filepath.Join(runcRoot, other), 0o700)

	left, err := Leftovers(probe)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("found: %v", left)
	var kinds []string
	for _, l := range left {
		if strings.Contains(l.Detail, other) {
			t.Errorf("reports another container's object: %s", l)
		}
		if !slices.Contains(kinds, l.Kind) {
			kinds = append(kinds, l.Kind)
		}
	}
	for _, want := range []string{"loop", "nftables", "link", "netns", "mount", "cgroup", "runc", "state dir"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("the probe missed the %s: it found %v", want, left)
		}
	}
	links := 0
	for _, l := range left {
		if l.Kind == "link" {
			links++
		}
		if l.Kind == "loop" && !strings.Contains(l.Detail, "(deleted)") {
			t.Errorf("loop line %q does not say its image was deleted", l.Detail)
		}
	}
	if links != 2 {
		t.Errorf("want the veth and the ifb, got %v", left)
	}

	// Everything gone: nothing reported.
	syscall.Unmount(filepath.Join(cdir, "rootfs"), syscall.MNT_DETACH)
	run("losetup", "-d", loop)
	IPQuiet("link", "del", veth)
	IPQuiet("link", "del", ifb)
	run("nft", "delete", "table", "inet", table)
	IPQuiet("netns", "del", "fatbox-"+name)
	os.Remove(cg)
	os.RemoveAll(filepath.Join(runcRoot, name))
	os.RemoveAll(cdir)
	CheckNoLeftovers(t, probe)

	if _, err := Leftovers(LeftoverProbe{StateDir: state}); err == nil {
		t.Error("a probe without a runc root was accepted")
	}
}
