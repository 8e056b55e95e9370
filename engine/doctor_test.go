package engine

import (
	"crypto/ed25519"
	"crypto/rand"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/engine/firstboot"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/ipam"
)

// expectJSON is the sample tools/vmshim/doctor_test.go reads with unknown
// fields refused: the daemon's expectation and the shim's agree on it.
const expectJSON = `{"name":"web-01","pool":"prod","ip":"198.18.7.5","prefix_len":24,"gateway":"198.18.7.1","vcpus":2,` +
	`"memory_bytes":536870912,"disk_bytes":2147483648,"host_keys":{"ed25519":"SHA256:abc"},` +
	`"ulimits":{"core":{"soft":0,"hard":-1},"nofile":{"soft":65536,"hard":65536}},"host_time":"2026-12-02T03:00:00Z","host_uptime_seconds":5000.5,` +
	`"views":["/proc/meminfo"],"programs":["rsyslog","sshd","cron"]}`

func TestDoctorExpectOf(t *testing.T) {
	rec := inventory.Record{Name: "web-01", Pool: "prod", IP: "198.18.7.5", CPUs: 1.5, VCPUs: 2, MemoryMiB: 512, DiskMiB: 2048,
		Ulimits: map[string]inventory.Ulimit{"nofile": {Soft: 65536, Hard: 65536}, "core": {Soft: 0, Hard: math.MaxUint64}}}
	pool := ipam.Pool{Name: "prod", CIDR: netip.MustParsePrefix("198.18.7.0/24"), Gateway: netip.MustParseAddr("198.18.7.1")}
	progs := baseimages.MergePrograms(baseimages.DefaultPrograms(), []baseimages.Program{
		{Name: firstboot.ShimInitProgram, Autostart: true, Priority: 1},
		{Name: "tomcat", Command: "x", Autostart: false}})
	x := expectOf(rec, pool, progs, map[string]string{"ed25519": "SHA256:abc"}, []string{"/proc/meminfo", "/proc/meminfo"},
		time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC), 5000.5)
	got, err := x.json()
	if err != nil {
		t.Fatal(err)
	}
	if got != expectJSON {
		t.Errorf("expectation:\n%s\nwant (tools/vmshim/doctor_test.go reads it)\n%s", got, expectJSON)
	}
	// A record from before VCPUs was kept counts its quota up.
	rec.VCPUs = 0
	if x := expectOf(rec, pool, nil, nil, nil, time.Time{}, 0); x.VCPUs != 2 || x.Programs != nil || x.Views != nil {
		t.Errorf("old record: %+v", x)
	}
	// A pool without a gateway: none expected.
	if x := expectOf(rec, ipam.Pool{CIDR: pool.CIDR}, nil, nil, nil, time.Time{}, 0); x.Gateway != "" || x.PrefixLen != 24 {
		t.Errorf("no gateway: %+v", x)
	}
}

func TestHostKeyFingerprints(t *testing.T) {
	dir := t.TempDir()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ssh.NewPublicKey(pub)
	if err := os.WriteFile(filepath.Join(dir, "ssh_host_ed25519_key.pub"), ssh.MarshalAuthorizedKey(k), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := hostKeyFingerprints(dir)
	if err != nil || len(got) != 1 || got["ed25519"] != ssh.FingerprintSHA256(k) {
		t.Errorf("fingerprints %v (%v)", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ssh_host_rsa_key.pub"), []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := hostKeyFingerprints(dir); err == nil || !strings.Contains(err.Error(), "ssh_host_rsa_key.pub") {
		t.Errorf("a corrupt key: %v", err)
	}
	if got, err := hostKeyFingerprints(filepath.Join(dir, "none")); err != nil || len(got) != 0 {
		t.Errorf("no keys: %v %v (never made here)", got, err)
	}
}

func TestParseDoctorOutput(t *testing.T) {
	cs, err := parseDoctorOutput([]byte(`[{"check":"hostname","ok":true,"detail":"web-01","fix":"stray"},` +
		`{"check":"sshd","ok":false,"detail":"sshd is STOPPED","fix":"` + "`fatbox prog start web-01 sshd`" + `"}]` + "\n"))
	if err != nil || len(cs) != 2 {
		t.Fatalf("%+v %v", cs, err)
	}
	if cs[0] != (DoctorCheck{Check: "hostname", OK: true, Detail: "web-01", Where: DoctorContainer}) {
		t.Errorf("a passed check keeps no fix: %+v", cs[0])
	}
	if cs[1].OK || cs[1].Fix != "`fatbox prog start web-01 sshd`" || cs[1].Where != DoctorContainer {
		t.Errorf("failed check: %+v", cs[1])
	}
	for _, bad := range []string{"", "doctor: not built yet", "[]", `[{"ok":true}]`, `{"check":"x"}`, `[{"check":"\u001b\u202e","ok":true}]`} {
		if _, err := parseDoctorOutput([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if !(DoctorReport{Checks: cs[:1]}).OK() || (DoctorReport{Checks: cs}).OK() {
		t.Error("OK")
	}
}

// The texts of a report come from a process inside the container: the
// host drops control and format runes (a terminal escape, a bidi
// override) and caps each at about 1 KiB.
func TestParseDoctorOutputSanitises(t *testing.T) {
	long := strings.Repeat("é", 3000)
	cs, err := parseDoctorOutput([]byte(`[{"check":"ss\u001b[2Jhd","ok":false,` +
		`"detail":"sshd\u001b]0;owned\u0007 is\tSTOPPED\n\u202eevil\u200b","fix":"` + long + `"},` +
		`{"check":"dns","ok":true,"detail":"` + long + `"}]`))
	if err != nil || len(cs) != 2 {
		t.Fatalf("%+v %v", cs, err)
	}
	if cs[0].Check != "ss[2Jhd" || cs[0].Detail != "sshd]0;owned is STOPPED evil" {
		t.Errorf("check %q detail %q: control runes kept", cs[0].Check, cs[0].Detail)
	}
	for _, s := range []string{cs[0].Fix, cs[1].Detail} {
		if len(s) > doctorTextMax || len(s) < doctorTextMax-8 || !utf8.ValidString(s) || !strings.HasSuffix(s, "…") {
			t.Errorf("a long text: %d bytes, valid %v, ends %q", len(s), utf8.ValidString(s), s[len(s)-6:])
		}
	}
	for _, c := range []struct{ in, want string }{
		{"plain text", "plain text"}, {"a\x00b\x7fc", "abc"}, {"\xffx", "\uFFFDx"}, {"a\u0085b", "ab"},
		{"tab\there\r\n", "tab here  "}, {"日本", "日本"},
	} {
		if got := doctorText(c.in); got != c.want {
			t.Errorf("doctorText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
