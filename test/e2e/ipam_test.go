package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/api"
)

func TestPoolAndIPCommands(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "fatbox.sock")
	d := startDaemon(t, filepath.Join(dir, "state"), sock)
	run := func(args ...string) result {
		t.Helper()
		r := fatbox(t, append(args, "--socket", sock)...)
		return r
	}
	ok := func(args ...string) string {
		t.Helper()
		r := run(args...)
		if r.Code != 0 {
			t.Fatalf("fatbox %v: exit %d: %s", args, r.Code, r.Stderr)
		}
		return r.Stdout
	}
	out := ok("pool", "create", "prod", "--cidr", "198.18.40.0/24", "--bridge", "fbprod", "--reserve", "198.18.40.2", "--quarantine", "1h")
	if !strings.Contains(out, "198.18.40.0/24") || !strings.Contains(out, "252") {
		t.Fatalf("pool create: %s", out)
	}
	oneLine(t, run("pool", "create", "dev", "--cidr", "198.18.40.128/25", "--bridge", "fbdev"), `overlaps pool "prod"`)
	oneLine(t, run("pool", "create", "bad", "--cidr", "198.18.41.0/24", "--bridge", "x", "--gateway", "198.18.99.1"), "gateway 198.18.99.1 is outside")
	oneLine(t, run("pool", "create", "bad", "--cidr", "nonsense", "--bridge", "x"), `bad --cidr "nonsense"`)
	oneLine(t, run("pool", "create", "bad", "--cidr", "198.18.41.0/24", "--bridge", "x", "--range", "198.18.41.0-198.18.41.9"), "network address")

	// allocate prints a list of one lease; each read starts from nothing,
	// so a read that fails cannot leave the last lease in place.
	allocate := func(name string) api.Lease {
		t.Helper()
		out := ok("ip", "allocate", name, "--pool", "prod", "-o", "json")
		var ls []api.Lease
		if err := json.Unmarshal([]byte(out), &ls); err != nil {
			t.Fatalf("ip allocate %s -o json: %v: %q", name, err, out)
		}
		if len(ls) != 1 || ls[0].Name != name || ls[0].Pool != "prod" || ls[0].State != "active" || !ls[0].IP.IsValid() {
			t.Fatalf("ip allocate %s: %+v, want one active lease of %s in prod", name, ls, name)
		}
		return ls[0]
	}
	l := allocate("web-01")
	if l.IP.String() != "198.18.40.3" {
		t.Fatalf("allocate: %+v (the gateway .1 and reserved .2 are skipped)", l)
	}
	ok("ip", "allocate", "web-02", "--pool", "prod")
	ok("ip", "allocate", "legacy", "--pool", "prod", "--ip", "198.18.40.77")
	oneLine(t, run("ip", "allocate", "other", "--pool", "prod", "--ip", "198.18.40.77"), `198.18.40.77 is leased to "legacy"`)
	if out := ok("ip", "show", "198.18.40.77"); !strings.Contains(out, "legacy") {
		t.Fatalf("ip show IP: %s", out)
	}
	// Release, then the same name gets the same address back.
	var rel []api.Lease
	if out := ok("ip", "release", "web-01", "--pool", "prod", "-o", "json"); json.Unmarshal([]byte(out), &rel) != nil ||
		len(rel) != 1 || rel[0].Name != "web-01" || rel[0].State != "released" || rel[0].IP != l.IP || rel[0].QuarantineUntil.IsZero() {
		t.Fatalf("release: %s", out)
	}
	if again := allocate("web-01"); again.IP != l.IP {
		t.Fatalf("web-01 came back on %s, want %s", again.IP, l.IP)
	}
	// The daemon dies; the leases do not.
	d.Kill9(t)
	startDaemon(t, filepath.Join(dir, "state"), sock)
	if out := ok("ip", "ls", "--pool", "prod"); strings.Count(out, "active") != 3 {
		t.Fatalf("ip ls after restart: %s", out)
	}
	// No container exists: without --alive every lease is an orphan.
	if out := ok("ip", "gc", "--pool", "prod", "--dry-run"); !strings.Contains(out, "3 orphaned") {
		t.Fatalf("gc dry-run against the empty inventory: %s", out)
	}
	if out := ok("ip", "gc", "--pool", "prod", "--alive", "web-01", "--dry-run"); !strings.Contains(out, "would release web-02") || !strings.Contains(out, "2 orphaned") {
		t.Fatalf("gc dry-run: %s", out)
	}
	if out := ok("ip", "ls", "--pool", "prod"); strings.Count(out, "active") != 3 {
		t.Fatalf("dry run freed something: %s", out)
	}
	ok("ip", "gc", "--pool", "prod", "--alive", "web-01")
	if out := ok("ip", "ls", "--pool", "prod"); strings.Count(out, "active") != 1 {
		t.Fatalf("after gc: %s", out)
	}
	oneLine(t, run("pool", "rm", "prod"), "1 active lease of owners that are not containers", "quarantined until", "--force")
	ok("pool", "rm", "prod", "--force")
	if out := ok("pool", "ls"); strings.Contains(out, "prod") {
		t.Fatalf("pool ls after rm: %s", out)
	}
	oneLine(t, run("ip", "ls", "--pool", "prod"), `pool "prod" does not exist`)
	oneLine(t, run("ip", "ls"), "pass --pool")
}
