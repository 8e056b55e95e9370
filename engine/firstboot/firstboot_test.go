package firstboot

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/test/harness"
	"golang.org/x/crypto/ssh"
)

// userKey returns a fresh valid authorized_keys line.
func userKey(t testing.TB, comment string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " " + comment
}

func testConfig(t testing.TB) Config {
	return Config{
		Hostname:       "web1",
		IP:             netip.MustParseAddr("10.20.0.5"),
		Domain:         "example.internal",
		DNS:            []netip.Addr{netip.MustParseAddr("10.20.0.1"), netip.MustParseAddr("2001:db8::53")},
		AuthorizedKeys: []string{userKey(t, "alice@example"), `from="10.0.0.0/8" ` + userKey(t, "bob@example")},
		Programs:       []baseimages.Program{{Name: "app", Command: "/usr/local/bin/app serve", User: "app", Autostart: true, Priority: 50}},
	}
}

func read(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t testing.TB, p string) os.FileMode {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode()
}

// 1. Host keys are generated once and are stable across calls and re-creation.
func TestHostKeysStable(t *testing.T) {
	state := t.TempDir()
	k1, err := HostKeys(state)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range k1.All() {
		if !strings.HasPrefix(k.Fingerprint, "SHA256:") {
			t.Fatalf("%s fingerprint %q", k.Type, k.Fingerprint)
		}
	}
	if k1.Ed25519.Fingerprint == k1.ECDSA.Fingerprint || k1.ECDSA.Fingerprint == k1.RSA.Fingerprint {
		t.Fatal("fingerprints not distinct")
	}
	k2, err := HostKeys(state)
	if err != nil {
		t.Fatal(err)
	}
	// Re-create: two fresh rootfs dirs, same state dir.
	var fromRootfs []string
	for range 2 {
		rootfs := t.TempDir()
		if err := Write(rootfs, state, testConfig(t)); err != nil {
			t.Fatal(err)
		}
		fromRootfs = append(fromRootfs, read(t, filepath.Join(rootfs, "etc/ssh/ssh_host_rsa_key")))
	}
	if fromRootfs[0] != fromRootfs[1] || fromRootfs[0] != string(k1.RSA.Private) {
		t.Fatal("rsa key in re-created rootfs differs")
	}
	k3, err := HostKeys(state)
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := map[string]string{"ed25519": "ssh-ed25519", "ecdsa": "ecdsa-sha2-nistp256", "rsa": "ssh-rsa"}
	keygen, lookErr := exec.LookPath("ssh-keygen")
	harness.Require(t, lookErr == nil, "ssh-keygen (openssh-client) not installed")
	for i, k := range k1.All() {
		for _, other := range []HostKey{k2.All()[i], k3.All()[i]} {
			if other.Fingerprint != k.Fingerprint || !bytes.Equal(other.Private, k.Private) || !bytes.Equal(other.Public, k.Public) {
				t.Fatalf("%s key changed across calls", k.Type)
			}
		}
		priv := filepath.Join(state, "ssh", k.FileName())
		if m := mode(t, priv); m.Perm() != 0o600 {
			t.Errorf("%s mode %v", priv, m)
		}
		if m := mode(t, priv+".pub"); m.Perm() != 0o644 {
			t.Errorf("%s.pub mode %v", priv, m)
		}
		signer, err := ssh.ParsePrivateKey([]byte(read(t, priv)))
		if err != nil {
			t.Fatalf("%s: %v", priv, err)
		}
		if got := signer.PublicKey().Type(); got != wantTypes[k.Type] {
			t.Errorf("%s: type %s, want %s", k.Type, got, wantTypes[k.Type])
		}
		if ssh.FingerprintSHA256(signer.PublicKey()) != k.Fingerprint {
			t.Errorf("%s: private key file fingerprint differs", k.Type)
		}
		out, err := exec.Command(keygen, "-l", "-f", priv+".pub").CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen -l %s: %v: %s", priv, err, out)
		}
		f := strings.Fields(string(out))
		if len(f) < 2 || f[1] != k.Fingerprint {
			t.Errorf("ssh-keygen says %q, we say %s", out, k.Fingerprint)
		}
		if k.Type == "rsa" && f[0] != "3072" {
			t.Errorf("rsa bits %s", f[0])
		}
		// ssh-keygen must also read the private key (OpenSSH format).
		if out, err := exec.Command(keygen, "-y", "-f", priv).CombinedOutput(); err != nil || !strings.HasPrefix(string(k.Public), strings.TrimSpace(string(out))) {
			t.Errorf("ssh-keygen -y %s: %v: %s", priv, err, out)
		}
	}
}

// A missing .pub is rewritten from the private key; a missing private key is
// generated without touching the others; a corrupt one is an error.
func TestHostKeysRepair(t *testing.T) {
	state := t.TempDir()
	k1, err := HostKeys(state)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(state, "ssh")
	os.Remove(filepath.Join(dir, "ssh_host_ed25519_key.pub"))
	os.Remove(filepath.Join(dir, "ssh_host_ecdsa_key"))
	os.Remove(filepath.Join(dir, "ssh_host_ecdsa_key.pub"))
	k2, err := HostKeys(state)
	if err != nil {
		t.Fatal(err)
	}
	if k2.Ed25519.Fingerprint != k1.Ed25519.Fingerprint || k2.RSA.Fingerprint != k1.RSA.Fingerprint {
		t.Fatal("existing keys changed")
	}
	if k2.ECDSA.Fingerprint == k1.ECDSA.Fingerprint {
		t.Fatal("deleted ecdsa key not regenerated")
	}
	if read(t, filepath.Join(dir, "ssh_host_ed25519_key.pub")) != string(k1.Ed25519.Public) {
		t.Fatal(".pub not restored")
	}
	if err := os.WriteFile(filepath.Join(dir, "ssh_host_rsa_key"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := HostKeys(state); err == nil || !strings.Contains(err.Error(), "ssh_host_rsa_key") {
		t.Fatalf("corrupt key: err = %v", err)
	}
	if read(t, filepath.Join(dir, "ssh_host_rsa_key")) != "garbage" {
		t.Fatal("corrupt key was replaced")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}

// 2. Write produces the files with the right content and modes, idempotently.
func TestWrite(t *testing.T) {
	rootfs, state := t.TempDir(), t.TempDir()
	// An image whose /etc/resolv.conf is a symlink (systemd-resolved style).
	os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	os.MkdirAll(filepath.Join(rootfs, "run/systemd/resolve"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "run/systemd/resolve/stub-resolv.conf"), []byte("nameserver 127.0.0.53\n"), 0o644)
	os.Symlink("../run/systemd/resolve/stub-resolv.conf", filepath.Join(rootfs, "etc/resolv.conf"))

	cfg := testConfig(t)
	if err := Write(rootfs, state, cfg); err != nil {
		t.Fatal(err)
	}
	keys, err := HostKeys(state)
	if err != nil {
		t.Fatal(err)
	}
	p := func(s string) string { return filepath.Join(rootfs, s) }
	want := map[string]os.FileMode{
		"etc/hostname": 0o644, "etc/hosts": 0o644, "etc/resolv.conf": 0o644,
		"etc/supervisor/supervisord.conf": 0o644, "root/.ssh/authorized_keys": 0o600,
		"root/.ssh": os.ModeDir | 0o700, "var/log/supervisor": os.ModeDir | 0o755,
	}
	for _, k := range keys.All() {
		want["etc/ssh/"+k.FileName()] = 0o600
		want["etc/ssh/"+k.FileName()+".pub"] = 0o644
		if read(t, p("etc/ssh/"+k.FileName())) != string(k.Private) || read(t, p("etc/ssh/"+k.FileName()+".pub")) != string(k.Public) {
			t.Errorf("%s key content differs from state", k.Type)
		}
	}
	for f, m := range want {
		if got := mode(t, p(f)); got != m {
			t.Errorf("%s: mode %v, want %v", f, got, m)
		}
		if st, _ := os.Lstat(p(f)); os.Geteuid() == 0 && st.Sys().(*syscall.Stat_t).Uid != 0 {
			t.Errorf("%s not root-owned", f)
		}
	}
	if got := read(t, p("etc/hostname")); got != "web1\n" {
		t.Errorf("hostname %q", got)
	}
	hosts := read(t, p("etc/hosts"))
	if !strings.Contains(hosts, "\n10.20.0.5\tweb1.example.internal web1\n") || !strings.HasPrefix(hosts, "127.0.0.1\tlocalhost\n") {
		t.Errorf("hosts:\n%s", hosts)
	}
	resolv := read(t, p("etc/resolv.conf"))
	if !strings.Contains(resolv, "search example.internal\nnameserver 10.20.0.1\nnameserver 2001:db8::53\n") {
		t.Errorf("resolv.conf:\n%s", resolv)
	}
	if read(t, p("run/systemd/resolve/stub-resolv.conf")) != "nameserver 127.0.0.53\n" {
		t.Error("resolv.conf symlink target was written through")
	}
	ak := read(t, p("root/.ssh/authorized_keys"))
	if ak != cfg.AuthorizedKeys[0]+"\n"+cfg.AuthorizedKeys[1]+"\n" {
		t.Errorf("authorized_keys:\n%s", ak)
	}
	for i := 0; ak != ""; i++ {
		var err error
		if _, _, _, rest, e := ssh.ParseAuthorizedKey([]byte(ak)); e != nil {
			err = e
		} else {
			ak = string(rest)
		}
		if err != nil {
			t.Fatalf("authorized_keys entry %d: %v", i, err)
		}
	}
	conf := read(t, p("etc/supervisor/supervisord.conf"))
	for _, s := range []string{"[program:sshd]", "[program:cron]", "[program:rsyslog]", "[program:app]\ncommand=/usr/local/bin/app serve\n", "user=app\n", "logfile=/var/log/supervisor/supervisord.log"} {
		if !strings.Contains(conf, s) {
			t.Errorf("supervisord.conf lacks %q:\n%s", s, conf)
		}
	}

	// Idempotent: a second run rewrites the same bytes and leaves no temp files.
	snap := snapshot(t, rootfs)
	if err := Write(rootfs, state, cfg); err != nil {
		t.Fatal(err)
	}
	if again := snapshot(t, rootfs); !equalMaps(snap, again) {
		t.Errorf("second Write changed the rootfs:\n%v\n%v", snap, again)
	}
	for f := range snap {
		if strings.Contains(f, ".fatbox-") {
			t.Errorf("temp file left: %s", f)
		}
	}
}

func snapshot(t testing.TB, dir string) map[string]string {
	m := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		r, _ := filepath.Rel(dir, p)
		v := fi.Mode().String()
		if fi.Mode().IsRegular() {
			v += " " + read(t, p)
		}
		m[r] = v
		return nil
	})
	return m
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestDNSFromHost(t *testing.T) {
	hr := filepath.Join(t.TempDir(), "resolv.conf")
	old := hostResolvConf
	hostResolvConf = hr
	t.Cleanup(func() { hostResolvConf = old })
	os.WriteFile(hr, []byte("# c\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver ::1\nsearch lan\nnameserver fe80::1%eth0\n"), 0o644)
	cfg := testConfig(t)
	cfg.DNS, cfg.Domain = nil, ""
	rootfs := t.TempDir()
	if err := Write(rootfs, t.TempDir(), cfg); err != nil {
		t.Fatal(err)
	}
	got := read(t, filepath.Join(rootfs, "etc/resolv.conf"))
	if want := "# written by fatbox on first boot\nnameserver 192.0.2.1\nnameserver fe80::1%eth0\n"; got != want {
		t.Errorf("resolv.conf %q, want %q", got, want)
	}
	os.WriteFile(hr, []byte("nameserver 127.0.0.53\n"), 0o644)
	if err := Write(rootfs, t.TempDir(), cfg); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(rootfs, "etc/resolv.conf")); strings.Contains(got, "nameserver") {
		t.Errorf("loopback-only host: resolv.conf %q", got)
	}
}

// 3. A bad authorized key (or other bad config) fails before anything is written.
func TestValidateBeforeWriting(t *testing.T) {
	good := userKey(t, "ok")
	cases := map[string]struct {
		mut  func(*Config)
		want string
	}{
		"bad key line 2":    {func(c *Config) { c.AuthorizedKeys = []string{good, "ssh-ed25519 AAAAnotbase64!!", good} }, "authorized key line 2"},
		"key is a comment":  {func(c *Config) { c.AuthorizedKeys = []string{"# just a comment"} }, "authorized key line 1"},
		"two keys one line": {func(c *Config) { c.AuthorizedKeys = []string{good, good + "\n" + good} }, "authorized key line 2"},
		"empty line":        {func(c *Config) { c.AuthorizedKeys = []string{good, good, ""} }, "authorized key line 3"},
		"hostname":          {func(c *Config) { c.Hostname = "web1.example" }, "invalid hostname"},
		"no ip":             {func(c *Config) { c.IP = netip.Addr{} }, "no IP"},
		"domain":            {func(c *Config) { c.Domain = "bad_domain" }, "invalid domain"},
		"program injection": {func(c *Config) { c.Programs[0].Command = "x\n[program:evil]" }, "program app"},
		"program name":      {func(c *Config) { c.Programs[0].Name = "a]b" }, "invalid program name"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rootfs, state := t.TempDir(), t.TempDir()
			cfg := testConfig(t)
			tc.mut(&cfg)
			err := Write(rootfs, state, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			for _, d := range []string{rootfs, state} {
				if ents, _ := os.ReadDir(d); len(ents) != 0 {
					t.Errorf("%s not empty after failed Write: %v", d, ents)
				}
			}
		})
	}
}

// 4. A malicious image cannot make Write write outside the rootfs.
func TestSymlinkEscape(t *testing.T) {
	state := t.TempDir()
	keys, err := HostKeys(state)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)

	t.Run("absolute /root/.ssh, target missing in rootfs", func(t *testing.T) {
		rootfs, outside := t.TempDir(), t.TempDir()
		os.MkdirAll(filepath.Join(rootfs, "root"), 0o700)
		os.Symlink(outside, filepath.Join(rootfs, "root/.ssh"))
		err := Write(rootfs, state, cfg)
		if err == nil {
			t.Fatal("Write succeeded through a dangling symlink")
		}
		t.Logf("err = %v", err)
		assertEmpty(t, outside)
	})

	t.Run("absolute /root/.ssh, target present in rootfs", func(t *testing.T) {
		rootfs, outside := t.TempDir(), t.TempDir()
		os.MkdirAll(filepath.Join(rootfs, "root"), 0o700)
		os.MkdirAll(filepath.Join(rootfs, outside), 0o755)
		os.Symlink(outside, filepath.Join(rootfs, "root/.ssh"))
		if err := Write(rootfs, state, cfg); err != nil {
			t.Fatal(err)
		}
		assertEmpty(t, outside)
		if got := read(t, filepath.Join(rootfs, outside, "authorized_keys")); !strings.Contains(got, "alice@example") {
			t.Fatalf("key not inside rootfs: %q", got)
		}
	})

	t.Run("relative ../../.. /root/.ssh", func(t *testing.T) {
		base := t.TempDir()
		rootfs, outside := filepath.Join(base, "rootfs"), filepath.Join(base, "outside")
		os.MkdirAll(filepath.Join(rootfs, "root"), 0o700)
		os.MkdirAll(outside, 0o755)
		os.MkdirAll(filepath.Join(rootfs, "outside"), 0o755) // where ../../outside lands when clamped
		os.Symlink("../../../../../../../outside", filepath.Join(rootfs, "root/.ssh"))
		if err := Write(rootfs, state, cfg); err != nil {
			t.Fatal(err)
		}
		assertEmpty(t, outside)
		if _, err := os.Stat(filepath.Join(rootfs, "outside/authorized_keys")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("whole /etc and leaf files are symlinks", func(t *testing.T) {
		rootfs, outside := t.TempDir(), t.TempDir()
		victim := filepath.Join(outside, "victim")
		os.WriteFile(victim, []byte("host file\n"), 0o644)
		os.Symlink(outside, filepath.Join(rootfs, "etc")) // /etc -> host dir (missing in rootfs)
		err := Write(rootfs, state, cfg)
		if err == nil {
			t.Fatal("Write succeeded with /etc a dangling symlink")
		}
		os.Remove(filepath.Join(rootfs, "etc"))
		os.MkdirAll(filepath.Join(rootfs, "etc/ssh"), 0o755)
		for _, f := range []string{"hostname", "hosts", "resolv.conf", "ssh/ssh_host_ed25519_key"} {
			os.Symlink(victim, filepath.Join(rootfs, "etc", f))
		}
		os.Symlink("/proc/self/root"+victim, filepath.Join(rootfs, "etc/ssh/ssh_host_rsa_key"))
		os.MkdirAll(filepath.Join(rootfs, "var"), 0o755)
		os.Symlink(outside, filepath.Join(rootfs, "var/log"))
		err = Write(rootfs, state, cfg)
		t.Logf("err = %v", err) // /var/log is dangling inside the rootfs: failing is fine
		if got := read(t, victim); got != "host file\n" {
			t.Fatalf("host file overwritten: %q", got)
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 1 {
			t.Fatalf("outside dir gained entries: %v", ents)
		}
		for _, f := range []string{"hostname", "ssh/ssh_host_ed25519_key", "ssh/ssh_host_rsa_key"} {
			if m := mode(t, filepath.Join(rootfs, "etc", f)); !m.IsRegular() {
				t.Errorf("/etc/%s still %v", f, m)
			}
		}
		if read(t, filepath.Join(rootfs, "etc/ssh/ssh_host_rsa_key")) != string(keys.RSA.Private) {
			t.Error("rsa key not written in place")
		}
	})
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("wrote outside the rootfs into %s: %v", dir, ents)
	}
}

// As root: an image-owned, world-writable /root/.ssh is fixed to 0700 root.
func TestRootSSHDirOwnership(t *testing.T) {
	harness.RequireRoot(t)
	rootfs := t.TempDir()
	d := filepath.Join(rootfs, "root/.ssh")
	os.MkdirAll(d, 0o777)
	os.Chmod(d, 0o777)
	os.Chown(d, 1000, 1000)
	os.WriteFile(filepath.Join(d, "authorized_keys"), []byte("old"), 0o666)
	os.Chown(filepath.Join(d, "authorized_keys"), 1000, 1000)
	if err := Write(rootfs, t.TempDir(), testConfig(t)); err != nil {
		t.Fatal(err)
	}
	for p, m := range map[string]os.FileMode{d: os.ModeDir | 0o700, filepath.Join(d, "authorized_keys"): 0o600} {
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if s := st.Sys().(*syscall.Stat_t); s.Uid != 0 || s.Gid != 0 || st.Mode() != m {
			t.Errorf("%s: %v uid %d gid %d", p, st.Mode(), s.Uid, s.Gid)
		}
	}
}

// 5. Cost of first boot's key generation.
func BenchmarkHostKeys(b *testing.B) {
	for b.Loop() {
		dir, err := os.MkdirTemp(b.TempDir(), "state")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := HostKeys(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// Loading existing keys, for comparison: what every later boot pays.
func BenchmarkHostKeysLoad(b *testing.B) {
	dir := b.TempDir()
	if _, err := HostKeys(dir); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := HostKeys(dir); err != nil {
			b.Fatal(err)
		}
	}
}
