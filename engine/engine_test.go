package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store/boltstore"
	"github.com/fatbox/fatbox/ipam"
	"github.com/fatbox/fatbox/test/harness"
)

var errInjected = errors.New("injected fault")

// TestCreateFaultAtEachStep: a failure after any step of Create leaves no
// record, lease, disk, mount, link, netns or runc container behind.
func TestCreateFaultAtEachStep(t *testing.T) {
	harness.RequireRoot(t)
	sup := os.Getenv("FATBOX_SUPERVISORD")
	harness.Require(t, sup != "", "FATBOX_SUPERVISORD (the binary `make supervisord` builds)")
	ctx := context.Background()
	dir := t.TempDir()
	st, err := boltstore.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := baseimages.BuiltinRecipes()
	images := &baseimages.Store{Root: filepath.Join(dir, "images")}
	if _, err := (&baseimages.Builder{Store: images, Recipes: rs, CacheDir: filepath.Join(harness.CacheDir(), "images")}).Build(ctx, "debian12-fat", nil); err != nil {
		t.Fatal(err)
	}
	al := &ipam.Allocator{Store: st, Host: "t"}
	br := harness.Name("fbfbr")
	t.Cleanup(func() { harness.IPQuiet("link", "del", br) })
	if _, err := al.CreatePool(ctx, ipam.Pool{Name: "p", CIDR: netip.MustParsePrefix("198.19.50.0/24"), Gateway: netip.MustParseAddr("198.19.50.1"), Bridge: br, CreateBridge: true}); err != nil {
		t.Fatal(err)
	}
	rt := &runtime.Runtime{Root: filepath.Join(dir, "runc")}
	e := &Engine{IPAM: al, Inventory: &inventory.Inventory{Store: st}, Images: images, Runtime: rt,
		StateDir: filepath.Join(dir, "state"), Supervisor: sup, Node: "t"}
	name := harness.Name("fbf-")
	req := CreateRequest{Name: name, Image: "debian12-fat", Pool: "p", CPUs: 1, MemoryBytes: 256 << 20, DiskBytes: 128 << 20}
	t.Cleanup(func() { e.fault = nil; e.Remove(context.Background(), name, true) })

	leftovers := func() []string {
		var out []string
		if _, err := e.Inventory.Get(ctx, name); err == nil {
			out = append(out, "record")
		}
		if _, err := al.Get(ctx, "p", name); err == nil {
			out = append(out, "lease")
		}
		if _, err := os.Stat(e.dir(name)); err == nil {
			out = append(out, "state dir")
		}
		if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), e.dir(name)) {
			out = append(out, "mount")
		}
		if b, _ := exec.Command("ip", "-o", "link").Output(); strings.Contains(string(b), "fatbox:"+name) {
			out = append(out, "link")
		}
		if _, err := os.Stat("/var/run/netns/fatbox-" + name); err == nil {
			out = append(out, "netns")
		}
		if ids, _ := rt.List(ctx); len(ids) > 0 {
			out = append(out, fmt.Sprint("runc ", ids))
		}
		if b, _ := exec.Command("losetup", "-j", filepath.Join(e.dir(name), "disk.img")).Output(); len(b) > 0 {
			out = append(out, "loop device")
		}
		return out
	}
	for _, step := range []string{"record", "lease", "disk", "mount", "firstboot", "netns", "attach", "start", "running"} {
		t.Run(step, func(t *testing.T) {
			e.fault = func(s string) error {
				if s == step {
					return errInjected
				}
				return nil
			}
			if _, err := e.Create(ctx, req); !errors.Is(err, errInjected) {
				t.Fatalf("Create with a fault after %s: %v", step, err)
			}
			if l := leftovers(); len(l) > 0 {
				t.Fatalf("a fault after %q left behind: %v", step, l)
			}
		})
	}
	// The daemon dies after each step (no undo runs): the next daemon's
	// Reconcile undoes the half-made create, or adopts a finished one.
	for _, step := range []string{"record", "lease", "disk", "mount", "firstboot", "netns", "attach", "start", "running"} {
		t.Run("crash-"+step, func(t *testing.T) {
			e.crashed = false
			e.fault = func(s string) error {
				if s == step {
					return errCrash
				}
				return nil
			}
			if _, err := e.Create(ctx, req); !errors.Is(err, errCrash) {
				t.Fatalf("Create with a crash after %s: %v", step, err)
			}
			e.fault, e.crashed = nil, false
			next := &Engine{IPAM: &ipam.Allocator{Store: st, Host: "t"}, Inventory: e.Inventory, Images: images, Runtime: rt,
				StateDir: e.StateDir, Supervisor: sup, Node: "t"}
			rep, err := next.Reconcile(ctx)
			if err != nil || len(rep.Errors) > 0 {
				t.Fatalf("reconcile after a crash at %s: %v %v", step, err, rep.Errors)
			}
			if step == "running" {
				if len(rep.Adopted) != 1 {
					t.Fatalf("a finished create was not adopted: %+v", rep)
				}
				if err := next.Remove(ctx, name, false); err != nil {
					t.Fatal(err)
				}
				if err := al.Free(ctx, "p", name); err != nil {
					t.Fatal(err)
				}
			} else if len(rep.Aborted) != 1 {
				t.Fatalf("half-made create after %s not undone: %+v", step, rep)
			}
			if l := leftovers(); len(l) > 0 {
				t.Fatalf("a crash after %q and a reconcile left behind: %v", step, l)
			}
		})
	}

	// A create that revived the name's lease from quarantine, cut short:
	// the lease goes back into quarantine (not freed, not left active).
	if _, err := al.Allocate(ctx, "p", name); err != nil {
		t.Fatal(err)
	}
	if _, err := al.Release(ctx, "p", name); err != nil {
		t.Fatal(err)
	}
	e.crashed = false
	e.fault = func(s string) error {
		if s == "disk" {
			return errCrash
		}
		return nil
	}
	if _, err := e.Create(ctx, req); !errors.Is(err, errCrash) {
		t.Fatalf("Create with a crash after disk: %v", err)
	}
	e.fault, e.crashed = nil, false
	if got, err := al.Get(ctx, "p", name); err != nil || got.State != ipam.Active {
		t.Fatalf("the create did not revive the lease: %+v %v", got, err)
	}
	if rep, err := e.Reconcile(ctx); err != nil || len(rep.Aborted) != 1 {
		t.Fatalf("reconcile: %+v %v", rep, err)
	}
	if got, err := al.Get(ctx, "p", name); err != nil || got.State != ipam.Released {
		t.Fatalf("after undoing a create that revived it, the lease is %+v %v; want it back in quarantine", got, err)
	}
	if err := al.Free(ctx, "p", name); err != nil {
		t.Fatal(err)
	}

	e.fault = nil
	rec, err := e.Create(ctx, req)
	if err != nil || rec.Status != "running" {
		t.Fatalf("Create without faults: %+v %v", rec, err)
	}
	// A daemon that died mid-stop or mid-remove (the intent is recorded
	// first) does not get the container back up: Reconcile finishes the job.
	rec.Status = inventory.StatusStopping
	if err := e.Inventory.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.Reconcile(ctx); err != nil || len(rep.Stopped) != 1 || len(rep.Errors) > 0 {
		t.Fatalf("reconcile of a stop cut short: %+v %v", rep, err)
	}
	if st, _, _ := rt.State(ctx, name); st == "running" {
		t.Fatal("a container whose stop was cut short still runs")
	}
	if got, _ := e.Inventory.Get(ctx, name); got.Status != inventory.StatusStopped {
		t.Fatalf("status after the stop was finished: %q", got.Status)
	}
	if _, err := e.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	rec, _ = e.Inventory.Get(ctx, name)
	rec.Status = inventory.StatusRemoving
	if err := e.Inventory.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.Reconcile(ctx); err != nil || len(rep.Removed) != 1 || len(rep.Errors) > 0 {
		t.Fatalf("reconcile of a remove cut short: %+v %v", rep, err)
	}
	if err := al.Free(ctx, "p", name); err != nil { // the remove kept the lease with the name
		t.Fatal(err)
	}
	if l := leftovers(); len(l) > 0 {
		t.Fatalf("a remove finished by Reconcile left behind: %v", l)
	}
	// A disk kept without a record is never reused or removed by a create.
	if err := os.MkdirAll(e.dir(name), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Create(ctx, req); err == nil || !strings.Contains(err.Error(), "move it away") {
		t.Fatalf("create over a kept state dir: %v", err)
	}
	if _, err := os.Stat(e.dir(name)); err != nil {
		t.Fatalf("the kept state dir went: %v", err)
	}
	os.Remove(e.dir(name))
	if rec, err = e.Create(ctx, req); err != nil {
		t.Fatal(err)
	}
	// Its init dies (OOM, a crash): start brings it back at the first try.
	if out, err := exec.Command("runc", "--root", rt.Root, "kill", name, "KILL").CombinedOutput(); err != nil {
		t.Fatalf("runc kill: %v %s", err, out)
	}
	for i := 0; i < 100; i++ {
		if st, _, _ := rt.State(ctx, name); st != "running" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, err := e.Start(ctx, name); err != nil || got.Status != inventory.StatusRunning {
		t.Fatalf("start after the init died: %+v %v", got, err)
	}
	if st, _, _ := rt.State(ctx, name); st != "running" {
		t.Fatalf("state after start: %q", st)
	}
	if err := e.Remove(ctx, name, true); err != nil {
		t.Fatal(err)
	}
	// rm --release-ip puts the address in quarantine (still sticky to the name).
	if l, err := al.Get(ctx, "p", name); err != nil || l.State != ipam.Released {
		t.Fatalf("lease after Remove with release: %+v %v", l, err)
	}
	if err := al.Free(ctx, "p", name); err != nil {
		t.Fatal(err)
	}
	if l := leftovers(); len(l) > 0 {
		t.Fatalf("Remove left behind: %v", l)
	}
}
