package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fatbox/fatbox/test/e2e/e2ekit"
	"github.com/fatbox/fatbox/test/harness"
)

func TestVersion(t *testing.T) {
	r := fatbox(t, "version")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "fatbox ") {
		t.Fatalf("fatbox version: %+v", r)
	}
}

func TestStatusWithoutDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	oneLine(t, fatbox(t, "status", "--socket", sock),
		"cannot reach fatbox daemon at "+sock, "start it with `fatbox daemon` or `systemctl start fatbox`")
}

func TestDaemonEmbeddedSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	state, sock := filepath.Join(dir, "state"), filepath.Join(dir, "run", "fatbox.sock")
	d := startDaemon(t, state, sock)
	st := statusJSON(t, sock)
	if st.Store.Backend != "bolt" || !st.Store.Healthy || st.Starts != 1 || st.StateDir != state {
		t.Fatalf("status = %+v", st)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode: %v %v, want 0660", fi.Mode(), err)
	}
	r := fatbox(t, "status", "--socket", sock)
	if r.Code != 0 || !strings.Contains(r.Stdout, "store:     bolt") || !strings.Contains(r.Stdout, "healthy") {
		t.Fatalf("text status: %+v", r)
	}

	// A second daemon on the same state dir is refused while the first lives.
	r = fatbox(t, "daemon", "--config", "/dev/null", "--state-dir", state, "--socket", filepath.Join(dir, "other.sock"))
	oneLine(t, r, "another fatbox daemon holds")

	d.Kill9(t)
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("expected the killed daemon's socket to be left behind: %v", err)
	}
	oneLine(t, fatbox(t, "status", "--socket", sock), "cannot reach fatbox daemon")

	// The next daemon reads the store the killed one wrote and reclaims the stale socket.
	startDaemon(t, state, sock)
	st = statusJSON(t, sock)
	if st.Starts != 2 || !st.Store.Healthy {
		t.Fatalf("after kill -9 and restart: %+v, want start #2 read from the store", st)
	}
}

func TestDaemonConsul(t *testing.T) {
	c := harness.StartConsul(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "fatbox.sock")
	d := startDaemon(t, filepath.Join(dir, "state"), sock, "--store", c.URL("e2e")+"?token=s3cret")
	st := statusJSON(t, sock)
	if st.Store.Backend != "consul" || !st.Store.Healthy || st.Starts != 1 {
		t.Fatalf("status = %+v", st)
	}
	if strings.Contains(st.Store.URL, "s3cret") {
		t.Fatalf("status leaks the Consul token: %q", st.Store.URL)
	}
	d.Kill9(t)
	startDaemon(t, filepath.Join(dir, "state"), sock, "--store", c.URL("e2e"))
	if st := statusJSON(t, sock); st.Starts != 2 {
		t.Fatalf("after restart on Consul: %+v", st)
	}

	// Consul going away shows as unhealthy, with a non-zero exit.
	c.Kill()
	r := fatbox(t, "status", "--socket", sock)
	if r.Code == 0 || !strings.Contains(r.Stdout, "UNHEALTHY") || !strings.Contains(r.Stderr, "cannot reach Consul") {
		t.Fatalf("status with Consul down: %+v", r)
	}
}

func TestDaemonBadInput(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "fatbox.sock")
	base := []string{"daemon", "--config", "/dev/null", "--socket", sock, "--state-dir", filepath.Join(dir, "state")}

	t.Run("UnknownStoreURL", func(t *testing.T) {
		oneLine(t, fatbox(t, append(base, "--store", "etcd://127.0.0.1:2379/x")...),
			`unknown store URL "etcd://127.0.0.1:2379/x"`, "consul://127.0.0.1:8500/fatbox")
		oneLine(t, fatbox(t, append(base, "--store", "postgres")...), `unknown store URL "postgres"`)
	})
	t.Run("UnreachableConsul", func(t *testing.T) {
		port := harness.FreePort(t)
		oneLine(t, fatbox(t, append(base, "--store", fmt.Sprintf("consul://127.0.0.1:%d/fatbox", port))...),
			fmt.Sprintf("cannot reach Consul at 127.0.0.1:%d", port), "start the Consul agent")
	})
	t.Run("BadConfigFile", func(t *testing.T) {
		cfg := filepath.Join(dir, "fatbox.yaml")
		if err := os.WriteFile(cfg, []byte("stor: consul://x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		oneLine(t, fatbox(t, "daemon", "--config", cfg, "--state-dir", filepath.Join(dir, "s2"), "--socket", sock),
			"field stor not found", "known keys")
		oneLine(t, fatbox(t, "daemon", "--config", filepath.Join(dir, "missing.yaml")), "missing.yaml", "no such file")
	})
	t.Run("StateDirNotWritable", func(t *testing.T) {
		harness.RequireRoot(t)
		// A root-owned 0755 directory is not writable for nobody.
		ro := filepath.Join(dir, "ro")
		for _, err := range []error{os.MkdirAll(ro, 0o755), os.Chmod(dir, 0o755), os.Chmod(filepath.Dir(dir), 0o755)} {
			if err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(e2ekit.Bin(), "daemon", "--config", "/dev/null", "--state-dir", ro, "--socket", filepath.Join(ro, "s.sock"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var e strings.Builder
		cmd.Stderr = &e
		err := cmd.Run()
		r := result{Stderr: e.String(), Code: 0}
		if ee, ok := err.(*exec.ExitError); ok {
			r.Code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("run fatbox daemon as nobody: %v", err)
		}
		oneLine(t, r, fmt.Sprintf("state dir %q is not writable", ro), "permission denied", "pass --state-dir")
	})
}

func TestConfigFileSetsStore(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "fatbox.yaml")
	state := filepath.Join(dir, "state")
	db := filepath.Join(dir, "elsewhere", "my.db")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("store: bolt://%s\nstate_dir: %s\nnode: host-a\n", db, state)), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "fatbox.sock")
	cmd := exec.Command(e2ekit.Bin(), "daemon", "--config", cfg, "--socket", sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var st = waitStatus(t, sock)
	if st.Node != "host-a" || st.StateDir != state || !strings.Contains(st.Store.URL, db) {
		t.Fatalf("config file not applied: %+v", st)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("store file from the config was not made: %v", err)
	}
}
