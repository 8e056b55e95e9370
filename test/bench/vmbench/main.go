// Command vmbench is the Go half of test/bench/vm.sh: it times a command
// until an SSH banner answers on the container's address, boots the "floor"
// (runc running only sshd on the same image rootfs), reads containers'
// memory cgroups, and summarises numbers.
//
//	vmbench banner -ip IP -bridge BR [-timeout 60s] -- CMD ARGS...
//	    runs CMD and, from the moment it is started, tries a TCP connect to
//	    IP:22 every 2 ms (each try bound to BR, so nothing leaves through a
//	    real NIC); prints "BANNER_MS CMD_MS": when a line starting "SSH-2.0-"
//	    was read, and when CMD exited, both from CMD's start.
//	vmbench floor -n 20 -image ROOTFS -keys DIR -bridge BR -ip 198.18.60.200/24 -gw IP \
//	    -work DIR -runc-root DIR -tag TAG
//	    n times: overlay (keys layer over the image rootfs, fresh upper) +
//	    netns + veth on BR + address + one gratuitous ARP + runc create/start
//	    of /bin/sh -c 'mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e', timed
//	    to the banner; each run is taken down (outside the timer) before the
//	    next. Prints one line per run: "TOTAL_MS SETUP_MS RUNC_MS".
//	vmbench mem -fatbox BIN -socket S NAME...
//	    reads each container's memory cgroup (the path comes from its init's
//	    /proc/PID/cgroup) and prints per-container and summary lines.
//	vmbench stats -label L   reads numbers (one per line, first field) on stdin,
//	    prints n, p50, p95, min, max, mean.
//	vmbench steps -n 5 -image ROOTFS -supervisord BIN -bridge BR -ip 198.18.60.230/24 -gw IP \
//	    -work DIR -runc-root DIR -tag TAG
//	    n times, in this process, engine/engine.go's create sequence with the
//	    engine's own packages (rootfs.CreateDisk 1G, rootfs.Mount,
//	    firstboot.Write with the RSA host key from a KeyPool filled before
//	    the timer, network.CreateNetns, network.Attach without announce,
//	    runtime.Start of supervisord, then network.Announce in the
//	    background, as engine.boot does), each step timed, then the banner;
//	    everything is taken down after each run. Prints one line per step
//	    per run: "STEP MS".
//	vmbench runcroot STATE_DIR   prints engine/daemon.RuncRoot(STATE_DIR).
//	vmbench nftclean [-check]   deletes the nftables table "bridge fatbox" if
//	    no container chain is left in it (vm.sh calls it only when the table
//	    did not exist before the run); -check prints present or absent.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/nftables"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/engine/daemon"
	"github.com/fatbox/fatbox/engine/firstboot"
	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/engine/rootfs"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/ipam/arp"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: vmbench banner|floor|steps|mem|stats|runcroot|nftclean [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "banner":
		err = cmdBanner(os.Args[2:])
	case "floor":
		err = cmdFloor(os.Args[2:])
	case "mem":
		err = cmdMem(os.Args[2:])
	case "stats":
		err = cmdStats(os.Args[2:])
	case "nftclean":
		err = cmdNftClean(len(os.Args) > 2 && os.Args[2] == "-check")
	case "steps":
		err = cmdSteps(os.Args[2:])
	case "runcroot":
		if len(os.Args) != 3 {
			err = errors.New("usage: vmbench runcroot STATE_DIR")
		} else {
			fmt.Println(daemon.RuncRoot(os.Args[2]))
		}
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmbench:", err)
		os.Exit(1)
	}
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) }

// waitBanner starts a connect to ip:22 every 2 ms (at most 64 in flight),
// each bound to bridge with SO_BINDTODEVICE, until one reads a line starting
// "SSH-2.0-"; it returns when that line was read.
func waitBanner(ctx context.Context, ip, bridge string) (time.Time, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	addr := net.JoinHostPort(ip, "22")
	d := net.Dialer{Timeout: 500 * time.Millisecond, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = unix.BindToDevice(int(fd), bridge) }); err != nil {
			return err
		}
		return serr
	}}
	found := make(chan time.Time, 1)
	slots := make(chan struct{}, 64)
	// Once a connect succeeds no new tries start while it waits for its
	// banner: each accepted connection costs sshd a fork and re-exec, which
	// would slow the very banner being timed on 2 cores.
	var established atomic.Int32
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	var wg sync.WaitGroup
	// Cancel the tries still dialling before waiting for them, or the
	// return (the timed moment) waits out their 500 ms dial timeout.
	defer func() { cancel(); wg.Wait() }()
	try := func() {
		defer wg.Done()
		defer func() { <-slots }()
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return
		}
		established.Add(1)
		defer established.Add(-1)
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err == nil && strings.HasPrefix(line, "SSH-2.0-") {
			select {
			case found <- time.Now():
			default:
			}
		}
	}
	for {
		select {
		case t := <-found:
			return t, nil
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("no SSH banner from %s: %w", addr, ctx.Err())
		case <-tick.C:
		}
		if established.Load() > 0 {
			continue
		}
		select {
		case slots <- struct{}{}:
			wg.Add(1)
			go try()
		default:
		}
	}
}

func cmdBanner(args []string) error {
	fs := flag.NewFlagSet("banner", flag.ExitOnError)
	ip := fs.String("ip", "", "container address")
	bridge := fs.String("bridge", "", "bridge the address is on")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after")
	_ = fs.Parse(args)
	if *ip == "" || *bridge == "" || fs.NArg() == 0 {
		return errors.New("banner needs -ip, -bridge and a command")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stderr = os.Stderr // stdout (the record table) is dropped
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	var cmdDone time.Time
	cmdErr := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		cmdDone = time.Now()
		if err != nil {
			cancel() // no banner is coming
		}
		cmdErr <- err
	}()
	got, err := waitBanner(ctx, *ip, *bridge)
	if cerr := <-cmdErr; cerr != nil {
		return fmt.Errorf("%s: %w", strings.Join(fs.Args(), " "), cerr)
	}
	if err != nil {
		return err
	}
	fmt.Println(ms(got.Sub(t0)), ms(cmdDone.Sub(t0)))
	return nil
}

// ---- floor ----

type floorCfg struct {
	image, keys, bridge, work, runcRoot, tag string
	gw                                       netip.Addr
}

// sharedFlags registers the flags floor and steps have in common.
func sharedFlags(fs *flag.FlagSet, c *floorCfg, runs int, workHelp, tagHelp string) (n *int, first, gw *string) {
	n = fs.Int("n", runs, "runs")
	first = fs.String("ip", "", "first address with prefix length; run i uses first+i")
	gw = fs.String("gw", "", "gateway (the bridge's address)")
	fs.StringVar(&c.image, "image", "", "image rootfs (lower layer)")
	fs.StringVar(&c.bridge, "bridge", "", "bridge")
	fs.StringVar(&c.work, "work", "", workHelp)
	fs.StringVar(&c.runcRoot, "runc-root", "", "runc --root")
	fs.StringVar(&c.tag, "tag", "", tagHelp)
	return n, first, gw
}

// parseNet reads -ip and -gw; the gateway goes into c.
func parseNet(first, gw string, c *floorCfg) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(first)
	if err != nil {
		return p, fmt.Errorf("-ip: %w", err)
	}
	if c.gw, err = netip.ParseAddr(gw); err != nil {
		return p, fmt.Errorf("-gw: %w", err)
	}
	return p, nil
}

func cmdFloor(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ExitOnError)
	var c floorCfg
	n, first, gw := sharedFlags(fs, &c, 20, "scratch dir for uppers, mountpoints, bundles", "name tag (netns fbvb-TAG-i, veth fbvbTAGi, cgroup /fbvb-TAG/i)")
	fs.StringVar(&c.keys, "keys", "", "layer with etc/ssh host keys, over the image")
	_ = fs.Parse(args)
	p, err := parseNet(*first, *gw, &c)
	if err != nil {
		return err
	}
	if c.image == "" || c.keys == "" || c.bridge == "" || c.work == "" || c.runcRoot == "" || c.tag == "" {
		return errors.New("floor needs -image -keys -bridge -work -runc-root -tag")
	}
	ip := p.Addr()
	for i := 0; i < *n; i++ {
		total, setup, runc, err := c.run(i, netip.PrefixFrom(ip, p.Bits()))
		if derr := c.down(i); err == nil {
			err = derr
		}
		if err != nil {
			return fmt.Errorf("floor run %d: %w", i, err)
		}
		fmt.Println(ms(total), ms(setup), ms(runc))
		ip = ip.Next()
	}
	return nil
}

func (c floorCfg) id(i int) string     { return fmt.Sprintf("fbvb-%s-%d", c.tag, i) }
func (c floorCfg) veth(i int) string   { return fmt.Sprintf("fbvb%s%d", c.tag, i) }
func (c floorCfg) dir(i int) string    { return filepath.Join(c.work, strconv.Itoa(i)) }
func (c floorCfg) rootfs(i int) string { return filepath.Join(c.dir(i), "rootfs") }

func (c floorCfg) runc(args ...string) error {
	out, err := exec.Command("runc", append([]string{"--root", c.runcRoot}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("runc %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// run boots floor container i and returns the time to the banner, the part
// spent before runc (overlay, netns, veth, ARP) and the runc create+start part.
func (c floorCfg) run(i int, addr netip.Prefix) (total, setup, runcT time.Duration, err error) {
	dir := c.dir(i)
	for _, d := range []string{"upper", "work", "rootfs", "bundle"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return 0, 0, 0, err
		}
	}
	// The spec is written before the timer: fatbox's start writes its
	// config.json inside its timer, but that is a ~1 ms file write.
	spec, err := runtime.Spec(runtime.SpecConfig{Name: c.id(i), Rootfs: c.rootfs(i), Netns: filepath.Join(network.NetnsDir, c.id(i)),
		Supervisor: "/bin/true", Limits: runtime.Limits{CPUs: 1, MemoryBytes: 256 << 20, Pids: 4096}})
	if err != nil {
		return 0, 0, 0, err
	}
	spec.Process.Args = []string{"/bin/sh", "-c", "mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e"}
	var mounts []specs.Mount
	for _, m := range spec.Mounts {
		if m.Destination != runtime.Init && m.Destination != runtime.InitAs {
			mounts = append(mounts, m)
		}
	}
	spec.Mounts = mounts
	spec.Linux.CgroupsPath = fmt.Sprintf("/fbvb-%s/%d", c.tag, i)
	b, err := json.Marshal(spec)
	if err != nil {
		return 0, 0, 0, err
	}
	bundle := filepath.Join(dir, "bundle")
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		return 0, 0, 0, err
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t0 := time.Now()
	opts := fmt.Sprintf("lowerdir=%s:%s,upperdir=%s,workdir=%s", c.keys, c.image, filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if err := unix.Mount("overlay", c.rootfs(i), "overlay", 0, opts); err != nil {
		return 0, 0, 0, fmt.Errorf("mount overlay: %w", err)
	}
	if err := c.netUp(i, addr); err != nil {
		return 0, 0, 0, err
	}
	t1 := time.Now()
	// The container inherits runc's stdio: /dev/null (a pipe would be held
	// open by sshd); runc's own errors go to its log file.
	logf := filepath.Join(dir, "runc.log")
	cmd := exec.Command("runc", "--root", c.runcRoot, "--log", logf, "run", "-d", "--bundle", bundle, c.id(i))
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(logf)
		return 0, 0, 0, fmt.Errorf("runc run -d: %w: %s", err, b)
	}
	t2 := time.Now()
	got, err := waitBanner(ctx, addr.Addr().String(), c.bridge)
	if err != nil {
		return 0, 0, 0, err
	}
	return got.Sub(t0), t1.Sub(t0), t2.Sub(t1), nil
}

// netUp: a named netns, a veth pair (host side on the bridge, up; container
// side eth0 with the address, a default route, up), lo up, one gratuitous ARP.
func (c floorCfg) netUp(i int, addr netip.Prefix) error {
	ns, err := netns.GetFromPath(filepath.Join(network.NetnsDir, c.id(i)))
	if err != nil {
		if _, err := network.CreateNetns(c.id(i)); err != nil {
			return err
		}
		if ns, err = netns.GetFromPath(filepath.Join(network.NetnsDir, c.id(i))); err != nil {
			return err
		}
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer nh.Close()
	br, err := netlink.LinkByName(c.bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", c.bridge, err)
	}
	peerTmp := c.veth(i) + "p"
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: c.veth(i), MasterIndex: br.Attrs().Index}, PeerName: peerTmp, PeerNamespace: netlink.NsFd(ns)}
	if err := netlink.LinkAdd(v); err != nil {
		return fmt.Errorf("veth: %w", err)
	}
	host, err := netlink.LinkByName(c.veth(i))
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return err
	}
	p, err := nh.LinkByName(peerTmp)
	if err != nil {
		return err
	}
	if err := nh.LinkSetName(p, "eth0"); err != nil {
		return err
	}
	mac := network.MACFromIP(addr.Addr())
	if err := nh.LinkSetHardwareAddr(p, mac); err != nil {
		return err
	}
	ipn := &net.IPNet{IP: net.IP(addr.Addr().AsSlice()), Mask: net.CIDRMask(addr.Bits(), 32)}
	if err := nh.AddrAdd(p, &netlink.Addr{IPNet: ipn}); err != nil {
		return err
	}
	if lo, err := nh.LinkByName("lo"); err == nil {
		if err := nh.LinkSetUp(lo); err != nil {
			return err
		}
	}
	if err := nh.LinkSetUp(p); err != nil {
		return err
	}
	if err := nh.RouteAdd(&netlink.Route{LinkIndex: p.Attrs().Index, Gw: net.IP(c.gw.AsSlice())}); err != nil {
		return err
	}
	// One gratuitous ARP, so a host neighbour entry left INCOMPLETE by the
	// poller is resolved at once (fatbox sends three, 100 ms apart).
	return inNS(ns, func() error {
		return arp.Announce(context.Background(), "eth0", addr.Addr(), mac, arp.AnnounceOptions{Count: 1})
	})
}

// down takes floor container i away: runc, overlay, veth, netns, cgroup.
func (c floorCfg) down(i int) error {
	var errs []error
	if _, err := os.Stat(filepath.Join(c.runcRoot, c.id(i))); err == nil {
		if err := c.runc("delete", "-f", c.id(i)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := unix.Unmount(c.rootfs(i), unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, err)
	}
	if l, err := netlink.LinkByName(c.veth(i)); err == nil {
		errs = append(errs, netlink.LinkDel(l))
	}
	errs = append(errs, network.DeleteNetns(c.id(i)))
	errs = append(errs, os.RemoveAll(c.dir(i)))
	return errors.Join(errs...)
}

// ---- memory ----

type memInfo struct {
	name                        string
	path                        string
	usage, kmem                 int64
	rss, cache, mappedFile, shm int64
}

func cmdMem(args []string) error {
	fs := flag.NewFlagSet("mem", flag.ExitOnError)
	bin := fs.String("fatbox", "fatbox", "fatbox binary")
	sock := fs.String("socket", "", "daemon socket")
	_ = fs.Parse(args)
	var all []memInfo
	for _, name := range fs.Args() {
		out, err := exec.Command(*bin, "inspect", name, "--socket", *sock).Output()
		if err != nil {
			return fmt.Errorf("inspect %s: %w", name, err)
		}
		var in struct {
			PID int `json:"pid"`
		}
		if err := json.Unmarshal(out, &in); err != nil || in.PID == 0 {
			return fmt.Errorf("inspect %s: no pid (%v): %s", name, err, out)
		}
		m := memInfo{name: name}
		if m.path, err = memCgroup(in.PID); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		dir := filepath.Join("/sys/fs/cgroup/memory", m.path)
		if m.usage, err = readInt(filepath.Join(dir, "memory.usage_in_bytes")); err != nil {
			return err
		}
		m.kmem, _ = readInt(filepath.Join(dir, "memory.kmem.usage_in_bytes"))
		st, err := readStat(filepath.Join(dir, "memory.stat"))
		if err != nil {
			return err
		}
		m.rss, m.cache, m.mappedFile, m.shm = st["total_rss"], st["total_cache"], st["total_mapped_file"], st["total_shmem"]
		all = append(all, m)
	}
	if len(all) == 0 {
		return errors.New("mem: no containers")
	}
	fmt.Printf("  cgroup of %s: /sys/fs/cgroup/memory%s (from /proc/PID/cgroup)\n", all[0].name, all[0].path)
	mib := func(v int64) float64 { return float64(v) / (1 << 20) }
	cols := []struct {
		label string
		get   func(memInfo) int64
	}{
		{"memory.usage_in_bytes (rss+cache+kmem)", func(m memInfo) int64 { return m.usage }},
		{"memory.stat total_rss+total_cache", func(m memInfo) int64 { return m.rss + m.cache }},
		{"memory.stat total_rss (anonymous)", func(m memInfo) int64 { return m.rss }},
		{"memory.stat total_cache (page cache, incl. shmem)", func(m memInfo) int64 { return m.cache }},
		{"  of which total_shmem (tmpfs /run, /dev/shm)", func(m memInfo) int64 { return m.shm }},
		{"memory.kmem.usage_in_bytes (kernel)", func(m memInfo) int64 { return m.kmem }},
	}
	for _, c := range cols {
		v := make([]float64, len(all))
		for i, m := range all {
			v[i] = mib(c.get(m))
		}
		s := summarize(v)
		fmt.Printf("  %-50s mean %6.2f  median %6.2f  min %6.2f  max %6.2f MiB\n", c.label, s.mean, s.p50, s.min, s.max)
	}
	return nil
}

// memCgroup is the memory cgroup path of pid (cgroup v1), e.g. /fatbox/b1.
func memCgroup(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) == 3 {
			for _, ctl := range strings.Split(f[1], ",") {
				if ctl == "memory" {
					return f[2], nil
				}
			}
		}
	}
	return "", fmt.Errorf("pid %d has no memory cgroup (cgroup v2?)", pid)
}

func readInt(p string) (int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func readStat(p string) (map[string]int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			m[f[0]], _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return m, nil
}

// ---- stats ----

type summary struct {
	n                        int
	p50, p95, min, max, mean float64
}

// summarize uses nearest-rank percentiles.
func summarize(v []float64) summary {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	rank := func(p float64) float64 { return s[int(math.Ceil(p*float64(len(s))))-1] }
	var sum float64
	for _, x := range s {
		sum += x
	}
	return summary{n: len(s), p50: rank(0.5), p95: rank(0.95), min: s[0], max: s[len(s)-1], mean: sum / float64(len(s))}
}

func cmdStats(args []string) error {
	fs := flag.NewFlagSet("stats", flag.ExitOnError)
	label := fs.String("label", "", "what the numbers are")
	field := fs.Int("field", 1, "which whitespace-separated field")
	_ = fs.Parse(args)
	var v []float64
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < *field {
			continue
		}
		x, err := strconv.ParseFloat(f[*field-1], 64)
		if err != nil {
			return fmt.Errorf("stats: %q: %w", sc.Text(), err)
		}
		v = append(v, x)
	}
	if len(v) == 0 {
		return errors.New("stats: no numbers")
	}
	s := summarize(v)
	fmt.Printf("%s: n=%d p50 %.1f ms, p95 %.1f ms, min %.1f ms, max %.1f ms, mean %.1f ms\n", *label, s.n, s.p50, s.p95, s.min, s.max, s.mean)
	return nil
}

// ---- nftables ----

// cmdNftClean deletes the table if it holds no container chain; with check
// it only prints "present" or "absent".
func cmdNftClean(check bool) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyBridge)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if t.Name != "fatbox" {
			continue
		}
		if check {
			fmt.Println("present")
			return nil
		}
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyBridge)
		if err != nil {
			return err
		}
		for _, ch := range chains {
			if ch.Table.Name == "fatbox" && ch.Name != "portsec" {
				return fmt.Errorf("nftables table bridge fatbox still has chain %s: left in place", ch.Name)
			}
		}
		c.DelTable(t)
		return c.Flush()
	}
	if check {
		fmt.Println("absent")
	}
	return nil
}

// ---- steps ----

func cmdSteps(args []string) error {
	fs := flag.NewFlagSet("steps", flag.ExitOnError)
	var c floorCfg
	n, first, gw := sharedFlags(fs, &c, 5, "scratch dir for the containers' state dirs", "name tag (container fbvp-TAG-i)")
	sup := fs.String("supervisord", "", "static supervisord binary (absolute)")
	_ = fs.Parse(args)
	p, err := parseNet(*first, *gw, &c)
	if err != nil {
		return err
	}
	if c.image == "" || *sup == "" || c.bridge == "" || c.work == "" || c.runcRoot == "" || c.tag == "" {
		return errors.New("steps needs -image -supervisord -bridge -work -runc-root -tag")
	}
	ip := p.Addr()
	for i := 0; i < *n; i++ {
		name := fmt.Sprintf("fbvp-%s-%d", c.tag, i)
		err := c.steps(name, filepath.Join(c.work, name), *sup, netip.PrefixFrom(ip, p.Bits()))
		if derr := c.stepsDown(name, filepath.Join(c.work, name)); err == nil {
			err = derr
		}
		if err != nil {
			return fmt.Errorf("steps run %d: %w", i, err)
		}
		ip = ip.Next()
	}
	return nil
}

func (c floorCfg) steps(name, dir, sup string, addr netip.Prefix) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// As the daemon does: RSA host keys come from a pool kept filled in the
	// background (filled here before the timer).
	pool := &firstboot.KeyPool{Dir: filepath.Join(c.work, "keypool")}
	if err := pool.Fill(ctx); err != nil {
		return err
	}
	t0 := time.Now()
	last := t0
	lap := func(step string) {
		now := time.Now()
		fmt.Println(step, ms(now.Sub(last)))
		last = now
	}
	l := rootfs.Layout{Dir: dir}
	if err := rootfs.CreateDisk(ctx, l, 1<<30); err != nil {
		return err
	}
	lap("disk(mkfs.ext4)")
	if err := rootfs.Mount(ctx, l, c.image); err != nil {
		return err
	}
	lap("mount(loop+ext4+overlay)")
	if err := firstboot.Write(l.RootfsDir(), dir, firstboot.Config{Hostname: name, IP: addr.Addr(), KeyPool: pool}); err != nil {
		return err
	}
	lap("firstboot(files+keys,RSA-from-pool)")
	nsPath, err := network.CreateNetns((name))
	if err != nil {
		return err
	}
	lap("netns")
	att, err := network.Attach(ctx, network.Config{Container: name, Netns: nsPath, Bridge: c.bridge,
		Addr: addr, Gateway: c.gw, Announce: false})
	if err != nil {
		return err
	}
	lap("attach(veth,addr,route,tc,portsec)")
	_ = att
	spec, err := runtime.Spec(runtime.SpecConfig{Name: name, Rootfs: l.RootfsDir(), Netns: nsPath, Supervisor: sup,
		Limits: runtime.Limits{CPUs: 1, MemoryBytes: 256 << 20, Pids: 4096}})
	if err != nil {
		return err
	}
	rt := &runtime.Runtime{Root: c.runcRoot}
	if _, err := rt.Start(ctx, name, filepath.Join(dir, "bundle"), spec); err != nil {
		return err
	}
	lap("runc-run-d")
	// As engine.boot does since 7a29da3: the gratuitous-ARP burst (3, 100 ms
	// apart) runs in the background once the container runs.
	announced := make(chan error, 1)
	go func() { announced <- network.Announce(context.Background(), nsPath, addr.Addr()) }()
	defer func() { <-announced }()
	if _, err := waitBanner(ctx, addr.Addr().String(), c.bridge); err != nil {
		return err
	}
	lap("supervisord+sshd-to-banner")
	fmt.Println("total", ms(time.Since(t0)))
	return nil
}

func (c floorCfg) stepsDown(name, dir string) error {
	rt := &runtime.Runtime{Root: c.runcRoot}
	return errors.Join(
		rt.Stop(context.Background(), name, time.Second),
		network.Detach(context.Background(), name),
		network.DeleteNetns((name)),
		rootfs.Remove(context.Background(), rootfs.Layout{Dir: dir}),
	)
}

// inNS runs fn on an OS thread inside ns.
func inNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			goruntime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}
