package engine

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/rootfs"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store/memstore"
)

// TestPowerRequest: the request file is the container's; only a small
// regular file saying reboot or poweroff counts, and preparing the next
// boot clears whatever is there.
func TestPowerRequest(t *testing.T) {
	l := rootfs.Layout{Dir: t.TempDir()}
	if err := os.Mkdir(l.DiskDir(), 0o755); err != nil { // the mounted disk
		t.Fatal(err)
	}
	dir := powerDir(l)
	req := filepath.Join(dir, "request")
	cases := []struct {
		name string
		make func() error
		want string
	}{
		{"none", func() error { return nil }, ""},
		{"reboot", func() error { return os.WriteFile(req, []byte("reboot\n"), 0o644) }, powerReboot},
		{"poweroff crlf", func() error { return os.WriteFile(req, []byte("poweroff\r\n"), 0o644) }, powerPoweroff},
		{"junk", func() error { return os.WriteFile(req, []byte("halt now please\n"), 0o644) }, ""},
		{"too big", func() error { return os.WriteFile(req, []byte("reboot"+strings.Repeat(" ", 100)), 0o644) }, ""},
		{"symlink", func() error {
			os.WriteFile(filepath.Join(dir, "target"), []byte("reboot\n"), 0o644)
			return os.Symlink("target", req)
		}, ""},
		{"fifo", func() error { return syscall.Mkfifo(req, 0o644) }, ""},
		{"directory", func() error { return os.MkdirAll(filepath.Join(req, "sub"), 0o755) }, ""},
	}
	for _, c := range cases {
		if _, _, err := preparePowerDir(l); err != nil {
			t.Fatalf("%s: prepare: %v", c.name, err)
		}
		if err := c.make(); err != nil {
			t.Fatal(err)
		}
		if got := powerRequest(l); got != c.want {
			t.Errorf("%s: powerRequest = %q, want %q", c.name, got, c.want)
		}
		left, _, err := preparePowerDir(l)
		if err != nil || left != c.want {
			t.Errorf("%s: preparePowerDir = %q, %v; want %q", c.name, left, err, c.want)
		}
		if _, err := os.Lstat(req); !os.IsNotExist(err) {
			t.Errorf("%s: the request is still there after preparing a boot: %v", c.name, err)
		}
	}
}

// TestWatchInits: the pidfd watch hears each watched process's exit once,
// not that of one it stopped watching, hears at once of one already gone,
// and closes its fds when its context ends.
func TestWatchInits(t *testing.T) {
	fds := func() int { es, _ := os.ReadDir("/proc/self/fd"); return len(es) }
	before := fds()
	e := &Engine{Inventory: &inventory.Inventory{Store: memstore.New()}, Node: "n"}
	type exit struct {
		name string
		pid  int
	}
	exits := make(chan exit, 8)
	e.inits.exited = func(name string, pid int) { exits <- exit{name, pid} }
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.Watch(ctx, func(n string, err error) { t.Errorf("%s: %v", n, err) }); err != nil {
		t.Fatal(err)
	}
	sleep := func() *exec.Cmd {
		c := exec.Command("sleep", "60")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	expect := func(want exit) {
		t.Helper()
		select {
		case got := <-exits:
			if got != want {
				t.Fatalf("exit %+v, want %+v", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no exit of %+v heard", want)
		}
	}
	a := sleep()
	e.watch("a", a.Process.Pid, true)
	a.Process.Kill()
	a.Wait()
	expect(exit{"a", a.Process.Pid})

	// Replaced: the old process's end is not heard, the new one's is.
	b1, b2 := sleep(), sleep()
	e.watch("b", b1.Process.Pid, true)
	e.watch("b", b2.Process.Pid, false)
	b1.Process.Kill()
	b1.Wait()
	b2.Process.Kill()
	b2.Wait()
	expect(exit{"b", b2.Process.Pid})

	// Gone before the watch: heard at once.
	c := sleep()
	c.Process.Kill()
	c.Wait()
	e.watch("c", c.Process.Pid, false)
	expect(exit{"c", c.Process.Pid})
	select {
	case x := <-exits:
		t.Fatalf("an extra exit heard: %+v", x)
	case <-time.After(700 * time.Millisecond):
	}

	cancel()
	deadline := time.Now().Add(3 * time.Second)
	for fds() > before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := fds(); n > before {
		t.Fatalf("%d fds open after the watch ended, %d before", n, before)
	}
}

// TestCountEarly: three early ends in a row make a loop; a late one starts
// the count again.
func TestCountEarly(t *testing.T) {
	e := &Engine{}
	seq := []struct {
		early, loop bool
	}{{true, false}, {true, false}, {false, false}, {true, false}, {true, false}, {true, true}, {true, false}}
	for i, s := range seq {
		if got := e.countEarly("x", s.early); got != s.loop {
			t.Fatalf("end %d (early %v): loop %v, want %v", i, s.early, got, s.loop)
		}
	}
}
