package runtime

import (
	"context"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Update changes a running container's CPU quota, cpuset, memory and swap
// limits in place (`runc update`): the processes keep running. A memory
// limit below what the container uses now is refused by the kernel (the
// error says so); nothing else changes then.
func (r *Runtime) Update(ctx context.Context, id string, l Limits) error {
	full, err := resources(Limits{CPUs: l.CPUs, Cpuset: l.Cpuset, MemoryBytes: l.MemoryBytes, SwapBytes: l.SwapBytes})
	if err != nil {
		return err
	}
	res := &specs.LinuxResources{CPU: full.CPU, Memory: full.Memory}
	if err := r.runc().Update(ctx, id, res); err != nil {
		msg := err.Error()
		if strings.Contains(msg, "device or resource busy") {
			return fmt.Errorf("update %q: the kernel refused the memory limit: the container uses more than %d bytes now; free some or give a larger limit: %w", id, l.MemoryBytes, err)
		}
		return fmt.Errorf("update %q: %w", id, err)
	}
	return nil
}
