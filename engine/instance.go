package engine

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/fatbox/fatbox/inventory"
)

// A container's runtime objects (state dir, runc id, netns, host veth) are
// keyed by its instance (inventory.Record.InstanceKey), not by its name: a
// release gives a running container another name, and runc ids, netns and
// links cannot be renamed. A plain create uses the name itself as the
// instance, so `runc list` and the state dir read as before; a name whose
// dir another record's instance holds (web-01's after a release made the old
// container web-01-last) gets the first free "<name>-<n>".

// newInstance picks the instance of a new container called name. A state
// dir that no record claims is a disk kept from a container whose record
// was lost (Reconcile lists it as kept): a create never reuses or removes
// it, and says how to get past it.
func (e *Engine) newInstance(ctx context.Context, name string) (string, error) {
	used, err := e.instancesInUse(ctx)
	if err != nil {
		return "", err
	}
	for n := 1; n < 1000; n++ {
		inst := name
		if n > 1 {
			inst = fmt.Sprintf("%s-%d", name, n)
		}
		_, statErr := os.Stat(e.dir(inst))
		switch {
		case errors.Is(statErr, os.ErrNotExist) && !used[inst]:
			return inst, nil
		case statErr == nil && !used[inst]:
			return "", conflictf("state dir %q exists (a disk kept from an earlier %q with no record): move it away to create %q anew", e.dir(inst), inst, name)
		case statErr != nil && !errors.Is(statErr, os.ErrNotExist):
			return "", fmt.Errorf("state dir of %q: %w", name, statErr)
		}
	}
	return "", fmt.Errorf("no free instance for %q among %q-2..999: remove old containers of that name", name, name)
}

// instancesInUse are the instances of this node's records.
func (e *Engine) instancesInUse(ctx context.Context) (map[string]bool, error) {
	recs, err := e.Inventory.List(ctx)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, r := range recs {
		if r.Node == e.Node {
			used[r.InstanceKey()] = true
		}
	}
	return used, nil
}

// instance is the instance of the container called name on this node, or
// name itself when there is no such record (a runc container or state dir
// left without one is known by the name it was made with).
func (e *Engine) instance(ctx context.Context, name string) string {
	if rec, err := e.Inventory.Get(ctx, name); err == nil && rec.Node == e.Node {
		return rec.InstanceKey()
	}
	return name
}

// recordOfInstance finds the record of this node whose instance is inst.
func (e *Engine) recordOfInstance(ctx context.Context, inst string) (inventory.Record, error) {
	if rec, err := e.Inventory.Get(ctx, inst); err == nil && rec.Node == e.Node && rec.InstanceKey() == inst {
		return rec, nil // the usual case: the instance is the name
	}
	recs, err := e.Inventory.List(ctx)
	if err != nil {
		return inventory.Record{}, err
	}
	for _, r := range recs {
		if r.Node == e.Node && r.InstanceKey() == inst {
			return r, nil
		}
	}
	return inventory.Record{}, fmt.Errorf("no container has instance %q: %w", inst, inventory.ErrNotFound)
}

// lockInstances serialises the choice of new instances (newInstance up to
// the record's create); it returns the unlock.
func (e *Engine) lockInstances() func() {
	e.instMu.Lock()
	return e.instMu.Unlock
}
