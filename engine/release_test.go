package engine

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/ipam"
	"github.com/fatbox/fatbox/test/harness"
)

// TestReleasePutBack: a switch that fails once the old container is off
// the network puts the name back on it (booted again on the name's lease,
// its veth there again), removes the candidate and its temporary lease, and
// ends the release; a step failing before the switch undoes it the same as
// a failed check, the old container untouched.
func TestReleasePutBack(t *testing.T) {
	env := newTestEnv(t, "198.19.164.0/24")
	e := env.e
	ctx := context.Background()
	name := harness.Name("fbrl-")
	t.Cleanup(func() {
		for _, n := range []string{name, name + "-next", name + "-last"} {
			e.Remove(context.Background(), n, true)
		}
	})
	old, err := e.Create(ctx, CreateRequest{Name: name, Image: "debian12-fat", Pool: "p", CPUs: 1, MemoryBytes: 128 << 20, DiskBytes: 128 << 20})
	if err != nil {
		t.Fatal(err)
	}
	old, _ = e.Inventory.Get(ctx, name)
	injected := errors.New("injected")
	for _, step := range []string{"checked", "detached"} {
		e.SetFaultHook(func(s string) error {
			if s == "release:"+step {
				return injected
			}
			return nil
		})
		_, err := e.Release(ctx, ReleaseRequest{Name: name, Image: "debian12-fat", Check: HealthCheck{TCP: 22}})
		e.SetFaultHook(nil)
		if !errors.Is(err, injected) {
			t.Fatalf("release failing at %s: %v, want the injected error", step, err)
		}
		if step == "detached" && !strings.Contains(err.Error(), "booted again on its old container") {
			t.Errorf("release failing at %s: %v, want it to say the name went back to its old container", step, err)
		}
		cur, err := e.Inventory.Get(ctx, name)
		if err != nil || cur.ID != old.ID || cur.Status != inventory.StatusRunning || cur.IP != old.IP {
			t.Fatalf("after a release failing at %s, %s is %+v (%v); want the old container running on %s", step, name, cur, err, old.IP)
		}
		if st, _, err := e.Runtime.State(ctx, cur.InstanceKey()); err != nil || st != "running" {
			t.Fatalf("after a release failing at %s, runc says %q %v", step, st, err)
		}
		if _, err := os.Stat("/sys/class/net/" + network.HostVethName(cur.InstanceKey())); err != nil {
			t.Fatalf("after a release failing at %s, the old container's veth is gone: %v", step, err)
		}
		if _, err := e.Inventory.Get(ctx, name+"-next"); !errors.Is(err, inventory.ErrNotFound) {
			t.Fatalf("after a release failing at %s, the candidate is left: %v", step, err)
		}
		if l, err := e.IPAM.Get(ctx, "p", name+"-next"); err == nil && l.State == ipam.Active {
			t.Fatalf("after a release failing at %s, the candidate's lease is held: %+v", step, l)
		}
		if _, err := e.Inventory.GetRelease(ctx, name); !errors.Is(err, inventory.ErrNotFound) {
			t.Fatalf("after a release failing at %s, the release record is left: %v", step, err)
		}
	}
	// And a release then goes through.
	res, err := e.Release(ctx, ReleaseRequest{Name: name, Image: "debian12-fat"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Record.IP != old.IP || res.Record.ID == old.ID {
		t.Fatalf("release: %+v", res.Record)
	}
}
