package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
)

// NetnsDir is where named network namespaces are bind-mounted (iproute2's place).
const NetnsDir = "/var/run/netns"

// CreateNetns makes a persistent network namespace for a container and
// returns its path. It keeps the calling thread in its own namespace. A
// namespace that already exists is returned as is (idempotent).
func CreateNetns(name string) (string, error) {
	path := filepath.Join(NetnsDir, name)
	if h, err := netns.GetFromPath(path); err == nil {
		h.Close()
		return path, nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return "", fmt.Errorf("read this thread's netns: %w", err)
	}
	defer orig.Close()
	h, err := netns.NewNamed(name)
	if serr := netns.Set(orig); serr != nil {
		// The thread is stuck in the new namespace: never unlock it, so the
		// runtime throws it away instead of reusing it.
		runtime.LockOSThread()
		return "", fmt.Errorf("return to the host netns: %w", serr)
	}
	if err != nil {
		return "", fmt.Errorf("create netns %q: %w", name, err)
	}
	h.Close()
	return path, nil
}

// DeleteNetns removes a named network namespace; idempotent.
func DeleteNetns(name string) error {
	err := netns.DeleteNamed(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(filepath.Join(NetnsDir, name)); os.IsNotExist(serr) {
			return nil
		}
		return fmt.Errorf("delete netns %q: %w", name, err)
	}
	return nil
}
