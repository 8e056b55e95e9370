package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestDocParseMountinfo(t *testing.T) {
	text := `22 1 0:21 / / rw,relatime - overlay overlay rw,lowerdir=/a
30 22 0:40 /proc/meminfo /proc/meminfo ro,nosuid - fuse.lxcfs lxcfs rw,user_id=0
31 22 0:5 / /proc rw - proc proc rw
32 22 0:40 /proc/uptime /proc/uptime ro shared:4 master:1 - fuse.lxcfs lxcfs rw
33 22 8:1 / /srv/with\040space rw - ext4 /dev/sda1 rw
34 30 0:22 / /proc/meminfo rw - tmpfs tmpfs rw
bad line
`
	ms := docParseMountinfo(text)
	if len(ms) != 6 {
		t.Fatalf("%d entries, want 6: %+v", len(ms), ms)
	}
	if m, ok := docTopMount(ms, "/proc/uptime"); !ok || m.FSType != "fuse.lxcfs" {
		t.Errorf("/proc/uptime (optional fields before the separator): %+v %v", m, ok)
	}
	if m, ok := docTopMount(ms, "/proc/meminfo"); !ok || m.FSType != "tmpfs" {
		t.Errorf("/proc/meminfo: the topmost is the tmpfs mounted over lxcfs's: %+v %v", m, ok)
	}
	if _, ok := docTopMount(ms, "/srv/with space"); !ok {
		t.Error("an escaped mount point is not unescaped")
	}
	if _, ok := docTopMount(ms, "/proc/cpuinfo"); ok {
		t.Error("/proc/cpuinfo is no mount point here")
	}
}

func TestDocParsers(t *testing.T) {
	if n, err := docMeminfoTotal("MemTotal:         524288 kB\nMemFree: 1 kB\n"); err != nil || n != 512<<20 {
		t.Errorf("MemTotal: %d %v", n, err)
	}
	if _, err := docMeminfoTotal("MemFree: 1 kB\n"); err == nil {
		t.Error("no MemTotal is an error")
	}
	c := docParseCPUInfo("processor\t: 0\nsiblings\t: 2\ncpu cores\t: 2\n\nprocessor\t: 1\nsiblings\t: 2\ncpu cores\t: 1\n")
	if c.Processors != 2 || !reflect.DeepEqual(c.Siblings, []int{2}) || !reflect.DeepEqual(c.Cores, []int{2, 1}) {
		t.Errorf("cpuinfo: %+v", c)
	}
	if up, err := docUptimeSeconds("123.45 99.1\n"); err != nil || up != 123.45 {
		t.Errorf("uptime: %v %v", up, err)
	}
	hosts := "127.0.0.1 localhost\n# 198.18.0.9 web-01\n198.18.0.5\tother WEB-01 # same\n::1 web-01\n"
	if got := docHostsLookup(hosts, "web-01"); !reflect.DeepEqual(got, []netip.Addr{netip.MustParseAddr("198.18.0.5"), netip.MustParseAddr("::1")}) {
		t.Errorf("hosts: %v", got)
	}
	if got := docNameservers("# x\nnameserver 10.0.0.1\nsearch a\nnameserver  10.0.0.2\n"); !reflect.DeepEqual(got, []string{"10.0.0.1", "10.0.0.2"}) {
		t.Errorf("nameservers: %v", got)
	}
	if got := docNsswitchHosts("passwd: files\nhosts:  dns [NOTFOUND=return] files # c\n"); !reflect.DeepEqual(got, []string{"dns", "files"}) {
		t.Errorf("nsswitch: %v", got)
	}
	route := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t0000A8C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"eth0\t00000000\t0100A8C6\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
	if gw, dev, ok := docDefaultRoute(route); !ok || gw != netip.MustParseAddr("198.168.0.1") || dev != "eth0" {
		t.Errorf("route: %v %v %v", gw, dev, ok)
	}
	arp := "IP address       HW type     Flags       HW address            Mask     Device\n" +
		"198.18.0.1       0x1         0x2         aa:bb:cc:dd:ee:ff     *        eth0\n" +
		"198.18.0.2       0x1         0x0         00:00:00:00:00:00     *        eth0\n"
	if !docArpComplete(arp, netip.MustParseAddr("198.18.0.1")) || docArpComplete(arp, netip.MustParseAddr("198.18.0.2")) {
		t.Error("arp: complete and incomplete entries confused")
	}
	limits := "Limit                     Soft Limit           Hard Limit           Units\n" +
		"Max core file size        0                    unlimited            bytes\n" +
		"Max processes             63704                63704                processes\n" +
		"Max open files            1024                 524288               files\n"
	want := map[string][2]int64{"core": {0, -1}, "nproc": {63704, 63704}, "nofile": {1024, 524288}}
	if got := docProcLimits(limits); !reflect.DeepEqual(got, want) {
		t.Errorf("limits: %v", got)
	}
	status := "\x1b[0;32mcron                             RUNNING   pid 31, uptime 0:01:02\x1b[0m\n" +
		"sshd                             Stopped   Dec 02 03:00 AM\n"
	ps := docParseStatus(status)
	if ps["cron"] != (docProgram{"cron", "RUNNING", 31}) || ps["sshd"] != (docProgram{"sshd", "Stopped", 0}) {
		t.Errorf("status: %+v", ps)
	}
}

func TestDocPubKeyFingerprint(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	got, err := docPubKeyFingerprint(string(ssh.MarshalAuthorizedKey(k)))
	if err != nil || got != ssh.FingerprintSHA256(k) {
		t.Errorf("fingerprint %q (%v), want %q", got, err, ssh.FingerprintSHA256(k))
	}
	if _, err := docPubKeyFingerprint("ssh-ed25519 !!!"); err == nil {
		t.Error("a key that is not base64 is an error")
	}
}

// fakeSys is a container as the doctor sees it; newFakeSys is a healthy one.
type fakeSys struct {
	files    map[string]string
	fileErrs map[string]error
	hostname string
	cpus     int
	disk     int64
	addrs    []netip.Prefix
	up       bool
	pingErr  error
	banner   string
	logErr   error
	progs    map[string]docProgram
	progErr  error
	paths    map[string]string
	dirs     map[string]bool
	dead     map[int]bool
	now      time.Time
}

type fakeInfo struct {
	name string
	size int64
	dir  bool
}

func (f fakeInfo) Name() string       { return f.name }
func (f fakeInfo) Size() int64        { return f.size }
func (f fakeInfo) Mode() fs.FileMode  { return 0o644 }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.dir }
func (f fakeInfo) Sys() any           { return nil }

func (f *fakeSys) ReadFile(p string) ([]byte, error) {
	if err := f.fileErrs[p]; err != nil {
		return nil, err
	}
	s, ok := f.files[p]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return []byte(s), nil
}
func (f *fakeSys) Hostname() (string, error)            { return f.hostname, nil }
func (f *fakeSys) CPUs() (int, error)                   { return f.cpus, nil }
func (f *fakeSys) DiskSize(string) (int64, error)       { return f.disk, nil }
func (f *fakeSys) Ping(netip.Addr, time.Duration) error { return f.pingErr }
func (f *fakeSys) Banner(string, time.Duration) (string, error) {
	if f.banner == "" {
		return "", syscall.ECONNREFUSED
	}
	return f.banner, nil
}
func (f *fakeSys) SendLog(string, string) error { return f.logErr }
func (f *fakeSys) Addrs(string) ([]netip.Prefix, bool, error) {
	return f.addrs, f.up, nil
}
func (f *fakeSys) Programs() (map[string]docProgram, error) { return f.progs, f.progErr }
func (f *fakeSys) LookPath(name string) (string, error) {
	if p, ok := f.paths[name]; ok {
		return p, nil
	}
	return "", errors.New(name + " is not on PATH")
}
func (f *fakeSys) Stat(p string) (os.FileInfo, error) {
	if f.dirs[p] {
		return fakeInfo{name: p, dir: true}, nil
	}
	if s, ok := f.files[p]; ok {
		return fakeInfo{name: p, size: int64(len(s))}, nil
	}
	return nil, &fs.PathError{Op: "stat", Path: p, Err: fs.ErrNotExist}
}
func (f *fakeSys) Alive(pid int) bool { return pid > 0 && !f.dead[pid] }
func (f *fakeSys) Now() time.Time     { return f.now }

var fakeNow = time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)

// newFakeSys is a healthy web-01 of 2 vCPUs, 512 MiB, a 2 GiB disk, and
// the expectation of it.
func newFakeSys(t *testing.T) (*fakeSys, doctorExpect) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ssh.NewPublicKey(pub)
	mountinfo := "22 1 0:21 / / rw - overlay overlay rw\n"
	lx := []string{"/proc/meminfo", "/proc/cpuinfo", "/proc/uptime"}
	for i, p := range lx {
		mountinfo += "3" + string(rune('0'+i)) + " 22 0:40 " + p + " " + p + " ro - fuse.lxcfs lxcfs rw\n"
	}
	f := &fakeSys{
		files: map[string]string{
			"/etc/hostname":                     "web-01\n",
			"/etc/hosts":                        "127.0.0.1 localhost\n198.18.7.5\tweb-01\n",
			"/proc/net/route":                   "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n" + "eth0\t00000000\t010712C6\t0003\t0\t0\t0\t00000000\n",
			"/proc/meminfo":                     "MemTotal: 524288 kB\n",
			"/proc/cpuinfo":                     "processor : 0\ncpu cores : 2\nsiblings : 2\n\nprocessor : 1\ncpu cores : 2\nsiblings : 2\n",
			"/proc/uptime":                      "12.5 20.0\n",
			"/proc/self/mountinfo":              mountinfo,
			"/etc/ssh/ssh_host_ed25519_key":     "PRIVATE",
			"/etc/ssh/ssh_host_ed25519_key.pub": string(ssh.MarshalAuthorizedKey(k)),
			"/etc/localtime":                    "TZif2...",
			"/etc/timezone":                     "Etc/UTC\n",
			"/proc/77/limits":                   "Max open files            65536                65536                files\n",
			"/proc/1/limits":                    "Max open files            65536                65536                files\n",
			"/etc/resolv.conf":                  "nameserver 10.255.255.53\n",
			"/etc/nsswitch.conf":                "hosts: files dns\n",
		},
		fileErrs: map[string]error{},
		hostname: "web-01", cpus: 2, disk: 1900 << 20, up: true,
		addrs:  []netip.Prefix{netip.MustParsePrefix("198.18.7.5/24")},
		banner: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
		progs: map[string]docProgram{"rsyslog": {"rsyslog", "Running", 70}, "sshd": {"sshd", "Running", 77},
			"cron": {"cron", "RUNNING", 78}, "fatbox-init": {"fatbox-init", "RUNNING", 69}},
		paths: map[string]string{"systemctl": "/.fatbox/vmshim", "service": "/.fatbox/vmshim"},
		dirs:  map[string]bool{"/run/systemd/system": true},
		dead:  map[int]bool{},
		now:   fakeNow,
	}
	exp := doctorExpect{Name: "web-01", Pool: "prod", IP: "198.18.7.5", PrefixLen: 24, Gateway: "198.18.7.1", VCPUs: 2,
		MemoryBytes: 512 << 20, DiskBytes: 2 << 30, HostKeys: map[string]string{"ed25519": ssh.FingerprintSHA256(k)},
		Ulimits:  map[string]doctorUlimit{"nofile": {65536, 65536}},
		HostTime: fakeNow.Add(-300 * time.Millisecond), HostUptime: 5000, Views: lx,
		Programs: []string{"rsyslog", "sshd", "cron"}}
	return f, exp
}

func byCheck(cs []doctorCheck) map[string]doctorCheck {
	out := map[string]doctorCheck{}
	for _, c := range cs {
		out[c.Check] = c
	}
	return out
}

func TestDoctorHealthy(t *testing.T) {
	f, exp := newFakeSys(t)
	cs := docRunChecks(f, exp, docCheckTimeout)
	for _, c := range cs {
		if !c.OK || c.Fix != "" {
			t.Errorf("%s failed on a healthy container: %s (fix %q)", c.Check, c.Detail, c.Fix)
		}
	}
	got := byCheck(cs)
	for _, want := range []string{"hostname", "hosts", "address", "route", "gateway", "memory", "nproc", "cpuinfo", "disk", "uptime",
		"lxcfs", "syslog", "sshd", "cron", "host-keys", "clock", "timezone", "ulimits", "dns", "systemctl"} {
		if _, ok := got[want]; !ok {
			t.Errorf("no %q check in %+v", want, cs)
		}
	}
}

// Each fault fails its check, with the fix that mends it.
func TestDoctorFaults(t *testing.T) {
	for _, c := range []struct {
		name   string
		break_ func(f *fakeSys, exp *doctorExpect)
		checks []string // the checks that must fail (and no other)
		fix    string   // in the first one's fix
	}{
		{"sshd stopped", func(f *fakeSys, _ *doctorExpect) {
			f.progs["sshd"] = docProgram{"sshd", "STOPPED", 0}
			f.banner = ""
		}, []string{"sshd"}, "`fatbox prog start web-01 sshd`"},
		{"sshd mute", func(f *fakeSys, _ *doctorExpect) { f.banner = "HTTP/1.1 400" }, []string{"sshd"}, "`fatbox prog restart web-01 sshd`"},
		{"meminfo unmounted", func(f *fakeSys, _ *doctorExpect) {
			f.files["/proc/self/mountinfo"] = strings.ReplaceAll(f.files["/proc/self/mountinfo"], " /proc/meminfo /proc/meminfo ", " /x /x ")
			f.files["/proc/meminfo"] = "MemTotal: 8000000 kB\n"
		}, []string{"memory", "lxcfs"}, "`fatbox restart web-01`"},
		{"lxcfs stale", func(f *fakeSys, _ *doctorExpect) {
			f.fileErrs["/proc/uptime"] = &fs.PathError{Op: "read", Path: "/proc/uptime", Err: syscall.ENOTCONN}
		}, []string{"uptime", "lxcfs"}, "`fatbox restart web-01`"},
		{"wrong hostname", func(f *fakeSys, _ *doctorExpect) { f.hostname = "wrong" }, []string{"hostname"}, "`fatbox restart web-01`"},
		{"host uptime", func(f *fakeSys, _ *doctorExpect) { f.files["/proc/uptime"] = "5000.2 1\n" }, []string{"uptime"}, "`fatbox restart web-01`"},
		{"no address", func(f *fakeSys, _ *doctorExpect) { f.addrs = nil }, []string{"address"}, "`fatbox restart web-01`"},
		{"gateway silent", func(f *fakeSys, _ *doctorExpect) { f.pingErr = errors.New("no echo reply") }, []string{"gateway"}, "`fatbox pool show prod`"},
		{"wrong key", func(f *fakeSys, exp *doctorExpect) { exp.HostKeys["ed25519"] = "SHA256:other" }, []string{"host-keys"}, "`fatbox restart web-01`"},
		{"skewed clock", func(f *fakeSys, _ *doctorExpect) { f.now = fakeNow.Add(time.Minute) }, []string{"clock"}, "the host's time"},
		{"no localtime", func(f *fakeSys, _ *doctorExpect) { delete(f.files, "/etc/localtime") }, []string{"timezone"}, "/usr/share/zoneinfo"},
		{"low nofile", func(f *fakeSys, _ *doctorExpect) {
			f.files["/proc/77/limits"] = "Max open files            1024                 4096                 files\n"
		}, []string{"ulimits"}, "`fatbox restart web-01`"},
		{"no nameserver", func(f *fakeSys, _ *doctorExpect) { f.files["/etc/resolv.conf"] = "# none\n" }, []string{"dns"}, "`fatbox restart web-01`"},
		{"real systemctl", func(f *fakeSys, _ *doctorExpect) { f.paths["systemctl"] = "/usr/bin/systemctl" }, []string{"systemctl"}, "`fatbox restart web-01`"},
		{"shim init stopped", func(f *fakeSys, _ *doctorExpect) { f.progs["fatbox-init"] = docProgram{"fatbox-init", "EXITED", 0} },
			[]string{"systemctl"}, "`fatbox prog start web-01 fatbox-init`"},
		{"syslog down", func(f *fakeSys, _ *doctorExpect) { f.logErr = syscall.ECONNREFUSED }, []string{"syslog"}, "`fatbox prog restart web-01 rsyslog`"},
		{"cron gone", func(f *fakeSys, _ *doctorExpect) { f.dead[78] = true }, []string{"cron"}, "`fatbox prog restart web-01 cron`"},
		{"two vCPUs shown as host's", func(f *fakeSys, exp *doctorExpect) { exp.VCPUs = 1 }, []string{"nproc", "cpuinfo"}, "`fatbox restart web-01`"},
		{"small disk", func(f *fakeSys, _ *doctorExpect) { f.disk = 1 << 30 }, []string{"disk"}, "`fatbox restart web-01`"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, exp := newFakeSys(t)
			c.break_(f, &exp)
			var failed []string
			var first doctorCheck
			for _, r := range docRunChecks(f, exp, docCheckTimeout) {
				if r.OK {
					continue
				}
				if len(failed) == 0 {
					first = r
				}
				failed = append(failed, r.Check)
				if r.Fix == "" || r.Detail == "" {
					t.Errorf("%s failed without a fix or detail: %+v", r.Check, r)
				}
			}
			if !reflect.DeepEqual(failed, c.checks) {
				t.Fatalf("failed %v, want %v", failed, c.checks)
			}
			if !strings.Contains(first.Fix, c.fix) {
				t.Errorf("%s's fix %q does not say %q (detail %q)", first.Check, first.Fix, c.fix, first.Detail)
			}
		})
	}
}

// A check that hangs (a read of a stopped lxcfs's file) is reported as
// failed; the others still report.
func TestDoctorHungCheck(t *testing.T) {
	f, exp := newFakeSys(t)
	h := &hangSys{fakeSys: f, path: "/proc/cpuinfo", release: make(chan struct{})}
	defer close(h.release)
	start := time.Now()
	got := byCheck(docRunChecks(h, exp, 300*time.Millisecond))
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %s", el)
	}
	if c := got["cpuinfo"]; c.OK || !strings.Contains(c.Detail, "did not finish") {
		t.Errorf("cpuinfo: %+v", c)
	}
	if !got["hostname"].OK {
		t.Errorf("hostname: %+v", got["hostname"])
	}
}

type hangSys struct {
	*fakeSys
	path    string
	release chan struct{}
}

func (h *hangSys) ReadFile(p string) ([]byte, error) {
	if p == h.path {
		<-h.release
	}
	return h.fakeSys.ReadFile(p)
}

// expectJSON is what engine/doctor.go sends (its test checks it makes
// this exact JSON from a record): the shim must read every field.
const expectJSON = `{"name":"web-01","pool":"prod","ip":"198.18.7.5","prefix_len":24,"gateway":"198.18.7.1","vcpus":2,` +
	`"memory_bytes":536870912,"disk_bytes":2147483648,"host_keys":{"ed25519":"SHA256:abc"},` +
	`"ulimits":{"core":{"soft":0,"hard":-1},"nofile":{"soft":65536,"hard":65536}},"host_time":"2026-12-02T03:00:00Z","host_uptime_seconds":5000.5,` +
	`"views":["/proc/meminfo"],"programs":["rsyslog","sshd","cron"]}`

func TestDoctorExpectJSON(t *testing.T) {
	dec := json.NewDecoder(strings.NewReader(expectJSON))
	dec.DisallowUnknownFields()
	var exp doctorExpect
	if err := dec.Decode(&exp); err != nil {
		t.Fatalf("the daemon's expectation has a field the shim does not read: %v", err)
	}
	b, err := json.Marshal(exp)
	if err != nil || string(b) != expectJSON {
		t.Errorf("round trip:\n%s\nwant\n%s", b, expectJSON)
	}
}

func TestDoctorMain(t *testing.T) {
	f, exp := newFakeSys(t)
	raw, _ := json.Marshal(exp)
	var out, errb bytes.Buffer
	if code := doctorMain([]string{"--expect", string(raw)}, &out, &errb, f); code != 0 {
		t.Fatalf("healthy: exit %d: %s %s", code, out.String(), errb.String())
	}
	var cs []doctorCheck
	if err := json.Unmarshal(out.Bytes(), &cs); err != nil || len(cs) < 20 {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	f.hostname = "wrong"
	out.Reset()
	if code := doctorMain([]string{"--expect", string(raw)}, &out, &errb, f); code != 1 {
		t.Errorf("a failed check: exit %d, want 1", code)
	}
	if err := json.Unmarshal(out.Bytes(), &cs); err != nil {
		t.Errorf("a failed check still prints the report: %q", out.String())
	}
	for _, args := range [][]string{nil, {"--expect", "{"}, {"--expect", "{}"}, {"--expect", string(raw), "extra"}, {"--bogus"}} {
		errb.Reset()
		if code := doctorMain(args, &out, &errb, f); code != 2 || errb.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, code, errb.String())
		}
	}
}
