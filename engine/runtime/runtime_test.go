package runtime

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/test/harness"
)

func TestSpecLimits(t *testing.T) {
	s, err := Spec(SpecConfig{Name: "web-01", Rootfs: "/r", Netns: "/var/run/netns/x", Supervisor: "/s",
		Limits:      Limits{CPUs: 2, Cpuset: "0-1", MemoryBytes: 2 << 30, Pids: 4096},
		ExtraMounts: []specs.Mount{{Destination: "/proc/meminfo", Type: "bind", Source: "/var/lib/lxcfs/proc/meminfo", Options: []string{"rbind", "ro"}}}})
	if err != nil {
		t.Fatal(err)
	}
	r := s.Linux.Resources
	if *r.CPU.Quota != 200000 || *r.CPU.Period != 100000 || r.CPU.Cpus != "0-1" || *r.Memory.Limit != 2<<30 || *r.Pids.Limit != 4096 {
		t.Fatalf("resources: %+v %+v %+v", r.CPU, r.Memory, r.Pids)
	}
	if s.Hostname != "web-01" || s.Process.Args[0] != InitAs || s.Process.NoNewPrivileges {
		t.Fatalf("process: %+v", s.Process)
	}
	for _, c := range s.Process.Capabilities.Bounding {
		if c == "CAP_SYS_ADMIN" {
			t.Fatal("CAP_SYS_ADMIN granted")
		}
	}
	if s.Process.Rlimits[0].Hard > 20000 {
		t.Fatal("RLIMIT_NOFILE above the host's hard limit")
	}
	rl := []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}, {Type: "RLIMIT_CORE", Soft: 0, Hard: 1 << 20}}
	s2, err := Spec(SpecConfig{Name: "web-01", Rootfs: "/r", Netns: "/n", Supervisor: "/s", Rlimits: rl})
	if err != nil || len(s2.Process.Rlimits) != 2 || s2.Process.Rlimits[0] != rl[0] || s2.Process.Rlimits[1] != rl[1] {
		t.Fatalf("Rlimits given: %+v %v", s2.Process.Rlimits, err)
	}
	if last := s.Mounts[len(s.Mounts)-1]; last.Destination != "/proc/meminfo" || last.Source != "/var/lib/lxcfs/proc/meminfo" {
		t.Fatalf("extra mount not last: %+v", last)
	}
	if s.Mounts[0].Destination != "/proc" {
		t.Fatalf("extra mounts must come after the defaults (/proc first): %+v", s.Mounts[0])
	}
	if s.Linux.Seccomp == nil || s.Linux.Resources.BlockIO != nil {
		t.Fatalf("seccomp %v, blkio %+v: want the default profile and no IO limits", s.Linux.Seccomp != nil, s.Linux.Resources.BlockIO)
	}
	if _, err := Spec(SpecConfig{Name: "x"}); err == nil {
		t.Fatal("incomplete spec accepted")
	}
}

// fatOpts shape a test container of the debian12-fat image.
type fatOpts struct {
	limits   Limits
	programs []baseimages.Program // added to the defaults (sshd, cron, rsyslog)
	files    map[string]string    // rootfs path → content (mode 0755), written before start
	network  bool                 // attach to a throwaway bridge (198.19.30.0/24) with an authorized key
	edit     func(*specs.Spec)    // last changes to the spec
}

// fatBox is a running test container; its cleanups are registered on t.
type fatBox struct {
	rt     *Runtime
	name   string
	root   string // overlay rootfs as the host sees it
	pid    int    // host pid of the init
	ip     string // with network
	keyDir string // with network: id, the key root logs in with
	spec   *specs.Spec
}

// startFat builds (or takes from the cache) the debian12-fat image and runs
// it under runc with supervisord as PID 1. Every container, mount, netns,
// link and bundle it makes is removed at cleanup.
func startFat(t *testing.T, o fatOpts) *fatBox {
	t.Helper()
	harness.RequireRoot(t)
	sup := os.Getenv("FATBOX_SUPERVISORD")
	harness.Require(t, sup != "", "FATBOX_SUPERVISORD (the binary `make supervisord` builds)")
	_, err := exec.LookPath("runc")
	harness.Require(t, err == nil, "runc (tools/setup-host.sh installs it)")
	ctx := context.Background()
	dir := t.TempDir()

	rs, err := baseimages.BuiltinRecipes()
	if err != nil {
		t.Fatal(err)
	}
	store := &baseimages.Store{Root: filepath.Join(dir, "images")}
	b := &baseimages.Builder{Store: store, Recipes: rs, CacheDir: filepath.Join(harness.CacheDir(), "images")}
	img, err := b.Build(ctx, "debian12-fat", nil)
	if err != nil {
		t.Fatal(err)
	}
	lower, _ := store.Rootfs("debian12-fat")

	// Overlay root (the sized disk is engine/rootfs's job; tmpfs-backed here).
	upper, work, root := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "rootfs")
	for _, d := range []string{upper, work, root} {
		os.MkdirAll(d, 0o755)
	}
	if err := unix.Mount("overlay", root, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+work); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })

	// First boot, minimal: host keys, authorized key, supervisord config.
	box := &fatBox{root: root, name: harness.Name("fbr-")}
	if out, err := exec.Command("ssh-keygen", "-A", "-f", root).CombinedOutput(); err != nil {
		t.Fatalf("host keys: %v %s", err, out)
	}
	for path, content := range o.files {
		p := filepath.Join(root, path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(root, "etc/supervisor"), 0o755)
	os.MkdirAll(filepath.Join(root, "var/log/supervisor"), 0o755)
	progs := baseimages.MergePrograms(baseimages.MergePrograms(baseimages.DefaultPrograms(), img.Programs), o.programs)
	conf := baseimages.RenderSupervisord(progs, "/var/log/supervisor")
	os.WriteFile(filepath.Join(root, "etc/supervisor/supervisord.conf"), []byte(conf), 0o644)

	ns := harness.Netns(t)
	if o.network {
		box.keyDir = t.TempDir()
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(box.keyDir, "id")).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
		pub, _ := os.ReadFile(filepath.Join(box.keyDir, "id.pub"))
		os.MkdirAll(filepath.Join(root, "root/.ssh"), 0o700)
		os.WriteFile(filepath.Join(root, "root/.ssh/authorized_keys"), pub, 0o600)
		br := harness.Name("fbrbr")
		att, err := network.Attach(ctx, network.Config{Container: box.name, Netns: "/var/run/netns/" + ns, Bridge: br, CreateBridge: true,
			BridgeAddr: netip.MustParsePrefix("198.19.30.1/24"), Addr: netip.MustParsePrefix("198.19.30.2/24"),
			Gateway: netip.MustParseAddr("198.19.30.1"), Announce: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			network.Detach(context.Background(), box.name)
			harness.IPQuiet("link", "del", br)
		})
		box.ip = att.Addr.Addr().String()
	}

	box.rt = &Runtime{Root: filepath.Join(dir, "runc")}
	box.spec, err = Spec(SpecConfig{Name: box.name, Rootfs: root, Netns: "/var/run/netns/" + ns, Supervisor: sup, Limits: o.limits})
	if err != nil {
		t.Fatal(err)
	}
	if o.edit != nil {
		o.edit(box.spec)
	}
	box.pid, err = box.rt.Start(ctx, box.name, filepath.Join(dir, "bundle"), box.spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := box.rt.Stop(context.Background(), box.name, 5*time.Second); err != nil {
			t.Errorf("stop %s: %v", box.name, err)
		}
	})
	return box
}

// exec runs args in the container (runc exec: same namespaces, caps and
// seccomp filter as the init) and returns its combined output.
func (b *fatBox) exec(args ...string) (string, error) {
	out, err := exec.Command("runc", append([]string{"--root", b.rt.Root, "exec", b.name}, args...)...).CombinedOutput()
	return string(out), err
}

// log returns supervisord's log and the named programs' logs, for failures.
func (b *fatBox) log(programs ...string) string {
	var s strings.Builder
	for _, n := range append([]string{"supervisord"}, programs...) {
		l, _ := os.ReadFile(filepath.Join(b.root, "var/log/supervisor", n+".log"))
		fmt.Fprintf(&s, "--- %s.log\n%s", n, l)
	}
	return s.String()
}

// cproc is a process as the container's pid namespace sees it.
type cproc struct {
	pid, ppid int
	state     string // R, S, Z, ...
	comm      string
	cmdline   string
}

// procs lists every process of the container's pid namespace, zombies
// included, through the init's view of its own /proc (cgroup.procs leaves
// out dead group leaders, so it cannot show zombies).
func (b *fatBox) procs() ([]cproc, error) {
	procDir := fmt.Sprintf("/proc/%d/root/proc", b.pid)
	ents, err := os.ReadDir(procDir)
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", procDir, err)
	}
	var out []cproc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join(procDir, e.Name(), "stat"))
		if err != nil {
			continue // exited and reaped meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		l, r := strings.IndexByte(string(st), '('), strings.LastIndexByte(string(st), ')')
		f := strings.Fields(string(st[r+1:]))
		if l < 0 || r < l || len(f) < 2 {
			return nil, fmt.Errorf("parse %q: %q", filepath.Join(procDir, e.Name(), "stat"), st)
		}
		ppid, _ := strconv.Atoi(f[1])
		cl, _ := os.ReadFile(filepath.Join(procDir, e.Name(), "cmdline"))
		out = append(out, cproc{pid: pid, ppid: ppid, state: f[0], comm: string(st[l+1 : r]),
			cmdline: strings.TrimSpace(strings.ReplaceAll(string(cl), "\x00", " "))})
	}
	return out, nil
}

// waitPrograms waits until each named command runs in the container.
func (b *fatBox) waitPrograms(t *testing.T, comms ...string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		ps, err := b.procs()
		if err != nil {
			t.Fatal(err)
		}
		missing := []string{}
		for _, c := range comms {
			if !slices.ContainsFunc(ps, func(p cproc) bool { return p.comm == c }) {
				missing = append(missing, c)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v not running in %s: %+v\n%s", missing, b.name, ps, b.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFatContainerSSH runs the debian12-fat image under runc with supervisord
// as PID 1 on a test bridge, and logs in with the real OpenSSH client: sshd's
// privilege separation works under the default seccomp profile.
func TestFatContainerSSH(t *testing.T) {
	start := time.Now()
	b := startFat(t, fatOpts{network: true, limits: Limits{CPUs: 1, MemoryBytes: 512 << 20, Pids: 1024}})
	if b.spec.Linux.Seccomp == nil {
		t.Fatal("no seccomp profile in the spec")
	}
	var banner string
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.DialTimeout("tcp", b.ip+":22", 200*time.Millisecond)
		if err == nil {
			buf := make([]byte, 64)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, _ := c.Read(buf)
			c.Close()
			banner = string(buf[:n])
			if strings.HasPrefix(banner, "SSH-2.0-") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SSH banner from %s (init pid %d): %q\n%s", b.ip, b.pid, banner, b.log("sshd"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("start → SSH banner: %v", time.Since(start).Round(time.Millisecond))
	out, err := exec.Command("ssh", "-i", filepath.Join(b.keyDir, "id"), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "root@"+b.ip,
		"hostname; cat /proc/1/comm; id -u; awk '/^Seccomp:/ {print \"seccomp=\" $2}' /proc/self/status").CombinedOutput()
	if err != nil {
		t.Fatalf("ssh root@%s: %v\n%s\n%s", b.ip, err, out, b.log("sshd"))
	}
	lines := strings.Fields(string(out))
	if len(lines) < 4 || lines[len(lines)-4] != b.name || lines[len(lines)-3] != "init" || lines[len(lines)-2] != "0" ||
		lines[len(lines)-1] != "seccomp=2" {
		t.Fatalf("inside the container: %q, want hostname %s, PID 1 named init (supervisord as InitAs), uid 0, seccomp=2 (filtered)", out, b.name)
	}
	if err := b.rt.Stop(context.Background(), b.name, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := b.rt.State(context.Background(), b.name); st != "" {
		t.Fatalf("after Stop runc still knows %s: %s", b.name, st)
	}
}
