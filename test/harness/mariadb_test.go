package harness

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestStartMariaDB: the throwaway MariaDB answers SQL as root over TCP on
// the address its DSN names, and Stop takes it down: the harness the CMDB
// sync's tests lean on, checked on its own.
func TestStartMariaDB(t *testing.T) {
	client := lookFirst("mariadb", "/usr/bin/mariadb")
	Require(t, client != "", "the mariadb client (Debian package mariadb-client)")
	m := StartMariaDB(t)
	if !strings.HasPrefix(m.DSN("cmdb"), "root@tcp("+m.Addr+")/cmdb") {
		t.Fatalf("DSN %q does not name %s", m.DSN("cmdb"), m.Addr)
	}
	host, port, err := net.SplitHostPort(m.Addr)
	if err != nil {
		t.Fatal(err)
	}
	sql := func(q string) string {
		t.Helper()
		out, err := exec.Command(client, "--no-defaults", "--protocol=TCP", "-h", host, "-P", port, "-u", "root",
			"--batch", "--skip-column-names", "-e", q).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s\nmariadbd's log:\n%s", q, err, out, m.Log)
		}
		return strings.TrimSpace(string(out))
	}
	if got := sql("SELECT 6*7"); got != "42" {
		t.Fatalf("SELECT 6*7 = %q", got)
	}
	sql("CREATE DATABASE cmdb; CREATE TABLE cmdb.t (n INT); INSERT INTO cmdb.t VALUES (1), (2)")
	if got := sql("SELECT SUM(n) FROM cmdb.t"); got != "3" {
		t.Fatalf("SUM = %q", got)
	}
	if got := sql("SELECT @@datadir"); !strings.HasPrefix(got, m.Dir) {
		t.Fatalf("datadir %q is not under the test's dir %s", got, m.Dir)
	}
	m.Stop()
	select {
	case <-m.done:
	default:
		t.Fatal("mariadbd still runs after Stop")
	}
	if c, err := net.DialTimeout("tcp", m.Addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("something still listens on %s after Stop", m.Addr)
	}
}
