package runtime

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// holds sees a process's open file, working directory and mapping under a
// path, and nothing once it is gone.
func TestHolds(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "data")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "exec 3<"+f+"; sleep 30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	waited := false
	for i := 0; i < 200 && !holds(pid, []string{dir}); i++ {
		exec.Command("sleep", "0.01").Run()
		waited = true
	}
	if !holds(pid, []string{dir}) {
		t.Fatalf("a process with %s open does not hold %s (waited %v)", f, dir, waited)
	}
	if holds(pid, []string{filepath.Join(dir, "other")}) || holds(pid, []string{dir + "x"}) {
		t.Fatal("holds matched a path the process has nothing under")
	}
	cwd := exec.Command("sleep", "30")
	cwd.Dir = dir
	if err := cwd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cwd.Process.Kill()
	if !holds(cwd.Process.Pid, []string{dir}) {
		t.Fatal("a process working in the dir does not hold it")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if holds(pid, []string{dir}) {
		t.Fatal("a process that is gone holds a path")
	}
}
