package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/inventory/store/boltstore"
	"github.com/fatbox/fatbox/ipam"
	"github.com/fatbox/fatbox/test/harness"
)

var errInjected = errors.New("injected fault")

// testEnv is an engine on a state dir, store, image store and pool of one
// test's own (pool "p", a bridge fatbox creates).
type testEnv struct {
	e   *Engine
	al  *ipam.Allocator
	st  store.Store
	rt  *runtime.Runtime
	sup string
}

func newTestEnv(t *testing.T, cidr string) *testEnv {
	t.Helper()
	harness.RequireRoot(t)
	sup := os.Getenv("FATBOX_SUPERVISORD")
	harness.Require(t, sup != "", "FATBOX_SUPERVISORD (the binary `make supervisord` builds)")
	ctx := context.Background()
	dir := t.TempDir()
	st, err := boltstore.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rs, _ := baseimages.BuiltinRecipes()
	images := &baseimages.Store{Root: filepath.Join(dir, "images")}
	if _, err := (&baseimages.Builder{Store: images, Recipes: rs, CacheDir: filepath.Join(harness.CacheDir(), "images")}).Build(ctx, "debian12-fat", nil); err != nil {
		t.Fatal(err)
	}
	al := &ipam.Allocator{Store: st, Host: "t"}
	br := harness.Name("fbfbr")
	t.Cleanup(func() { harness.IPQuiet("link", "del", br) })
	prefix := netip.MustParsePrefix(cidr)
	if _, err := al.CreatePool(ctx, ipam.Pool{Name: "p", CIDR: prefix, Gateway: prefix.Addr().Next(), Bridge: br, CreateBridge: true}); err != nil {
		t.Fatal(err)
	}
	rt := &runtime.Runtime{Root: filepath.Join(dir, "runc")}
	e := &Engine{IPAM: al, Inventory: &inventory.Inventory{Store: st}, Images: images, Runtime: rt,
		StateDir: filepath.Join(dir, "state"), Supervisor: sup, Node: "t"}
	return &testEnv{e: e, al: al, st: st, rt: rt, sup: sup}
}

// next is another engine on the same state dir and store: the daemon that
// starts after one died.
func (env *testEnv) next() *Engine {
	e := env.e
	return &Engine{IPAM: &ipam.Allocator{Store: env.st, Host: "t"}, Inventory: e.Inventory, Images: e.Images, Runtime: e.Runtime,
		StateDir: e.StateDir, Supervisor: e.Supervisor, Node: e.Node}
}

// probe is the harness's leftover probe over names' host objects.
func (env *testEnv) probe(names ...string) harness.LeftoverProbe {
	p := harness.LeftoverProbe{StateDir: env.e.StateDir, RuncRoot: env.rt.Root}
	for _, n := range names {
		p.Containers = append(p.Containers, harness.ProbeContainer{Name: n, HostVeth: network.HostVethName(n), Netns: netnsName(n)})
	}
	return p
}

// leftovers lists what is left of container name: its record and lease in
// the store, and every host object the harness probe finds (loop devices,
// nftables lines, links, netns, mounts, cgroups, runc state, state dir). A
// read that fails fails the test.
func (env *testEnv) leftovers(t *testing.T, name string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	if _, err := env.e.Inventory.Get(ctx, name); err == nil {
		out = append(out, "record")
	} else if !errors.Is(err, inventory.ErrNotFound) {
		t.Fatalf("read the record: %v", err)
	}
	if _, err := env.al.Get(ctx, "p", name); err == nil {
		out = append(out, "lease")
	} else if !errors.Is(err, ipam.ErrLeaseNotFound) {
		t.Fatalf("read the lease: %v", err)
	}
	left, err := harness.Leftovers(env.probe(name))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range left {
		out = append(out, l.String())
	}
	if ids, err := env.rt.List(ctx); err != nil {
		t.Fatalf("runc list: %v", err)
	} else if len(ids) > 0 {
		out = append(out, fmt.Sprint("runc containers ", ids))
	}
	return out
}

// stepCallRE finds the fault hook's steps in engine.go: e.step("create", "x")
// in Create, e.step(op, "x") in boot.
var stepCallRE = regexp.MustCompile(`e\.step\((?:"create"|op), "(\w+)"\)`)

// createSteps runs one create without faults and returns the steps it
// passed, in order; they must be exactly the steps engine.go names (a step
// that is never reached, or one the pattern misses, fails here), so the
// fault tests cover every step there is.
func (env *testEnv) createSteps(t *testing.T, req CreateRequest) []string {
	t.Helper()
	ctx := context.Background()
	var seen []string
	env.e.fault = func(s string) error {
		if step, ok := strings.CutPrefix(s, "create:"); ok {
			seen = append(seen, step)
		} else {
			t.Errorf("Create passed step %q, not a create step", s)
		}
		return nil
	}
	defer func() { env.e.fault = nil }()
	if _, err := env.e.Create(ctx, req); err != nil {
		t.Fatalf("Create without faults: %v", err)
	}
	if err := env.e.Remove(ctx, req.Name, false); err != nil {
		t.Fatal(err)
	}
	if err := env.al.Free(ctx, req.Pool, req.Name); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("engine.go")
	if err != nil {
		t.Fatal(err)
	}
	var named []string
	for _, m := range stepCallRE.FindAllStringSubmatch(string(src), -1) {
		named = append(named, m[1])
	}
	if n := strings.Count(string(src), "e.step("); n != len(named) {
		t.Fatalf("engine.go calls e.step %d times, the pattern found %d (%v): update stepCallRE", n, len(named), named)
	}
	a, b := slices.Clone(seen), slices.Clone(named)
	slices.Sort(a)
	slices.Sort(b)
	if len(seen) == 0 || !slices.Equal(a, b) {
		t.Fatalf("a create passed the steps %v; engine.go names %v", seen, named)
	}
	return seen
}

// madeBy is what each create step leaves on a crash right after it, as
// the leftover kinds of testEnv.leftovers and harness.Leftovers.
var madeBy = map[string][]string{"record": {"record"}, "lease": {"lease"}, "disk": {"state dir"}, "mount": {"mount", "loop"},
	"netns": {"netns"}, "attach": {"link", "nftables"}, "start": {"runc", "cgroup"}}

// checkHalfMade checks that left holds what every step up to crashed made.
func checkHalfMade(t *testing.T, steps []string, crashed string, left []string) {
	t.Helper()
	for _, s := range steps[:slices.Index(steps, crashed)+1] {
		for _, kind := range madeBy[s] {
			if !slices.ContainsFunc(left, func(l string) bool { return l == kind || strings.HasPrefix(l, kind+": ") }) {
				t.Errorf("after a crash at %q, the %s made by %q is not there: %v", crashed, kind, s, left)
			}
		}
	}
}

// TestCreateFaultAtEachStep: a failure after any step of Create leaves no
// record, lease, disk, loop device, mount, link (veth, ifb), nftables rule,
// netns, cgroup or runc container behind; so does a crash there (no undo
// runs) once the next engine's Reconcile has run.
func TestCreateFaultAtEachStep(t *testing.T) {
	env := newTestEnv(t, "198.19.50.0/24")
	e, al, rt := env.e, env.al, env.rt
	ctx := context.Background()
	name := harness.Name("fbf-")
	// A rate limit, so attach makes an ifb too, which the probe must see go.
	req := CreateRequest{Name: name, Image: "debian12-fat", Pool: "p", CPUs: 1, MemoryBytes: 256 << 20, DiskBytes: 128 << 20, NetRateBits: 10_000_000}
	t.Cleanup(func() { e.fault = nil; e.Remove(context.Background(), name, true) })
	steps := env.createSteps(t, req)
	leftovers := func() []string { return env.leftovers(t, name) }
	if l := leftovers(); len(l) > 0 {
		t.Fatalf("a create and remove left behind: %v", l)
	}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			e.fault = func(s string) error {
				if s == "create:"+step {
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
	for _, step := range steps {
		t.Run("crash-"+step, func(t *testing.T) {
			e.crashed = false
			e.fault = func(s string) error {
				if s == "create:"+step {
					return errCrash
				}
				return nil
			}
			if _, err := e.Create(ctx, req); !errors.Is(err, errCrash) {
				t.Fatalf("Create with a crash after %s: %v", step, err)
			}
			e.fault, e.crashed = nil, false
			// What the steps up to this one made is there (the crash came
			// where it should, and the probe sees it), until Reconcile.
			checkHalfMade(t, steps, step, leftovers())
			next := env.next()
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
		if s == "create:disk" {
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
