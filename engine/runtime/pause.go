package runtime

import (
	"context"
	"fmt"
)

// Pause freezes every process of the container (runc pause: the cgroup
// freezer), so none runs or writes until Resume. A paused container's
// runc state is "paused".
func (r *Runtime) Pause(ctx context.Context, id string) error {
	if err := r.runc().Pause(ctx, id); err != nil {
		return fmt.Errorf("runc pause %q: %w", id, err)
	}
	return nil
}

// Resume thaws a container Pause froze (runc resume).
func (r *Runtime) Resume(ctx context.Context, id string) error {
	if err := r.runc().Resume(ctx, id); err != nil {
		return fmt.Errorf("runc resume %q (by hand: `runc --root %s resume %s`): %w", id, r.root(), id, err)
	}
	return nil
}

func (r *Runtime) root() string {
	if r.Root == "" {
		return DefaultRoot
	}
	return r.Root
}
