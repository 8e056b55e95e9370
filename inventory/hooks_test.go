package inventory

import (
	"context"
	"testing"

	"github.com/fatbox/fatbox/inventory/store/memstore"
)

// A hook's position: none at first, then what was set, per hook.
func TestHookPosition(t *testing.T) {
	ctx := context.Background()
	inv := &Inventory{Store: memstore.New()}
	if _, ok, err := inv.HookPosition(ctx, "nginx"); ok || err != nil {
		t.Fatalf("a new hook has a position: %v %v", ok, err)
	}
	for _, seq := range []uint64{0, 7, 12} {
		if err := inv.SetHookPosition(ctx, "nginx", seq); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := inv.HookPosition(ctx, "nginx"); got != seq || !ok || err != nil {
			t.Fatalf("position %d %v %v, want %d", got, ok, err, seq)
		}
	}
	if _, ok, _ := inv.HookPosition(ctx, "zk"); ok {
		t.Fatal("another hook shares the position")
	}
}
