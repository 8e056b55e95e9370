package dockerbuild

import (
	"context"
	"io"
)

// Runner runs one RUN step's process in a container on a mounted rootfs and
// waits for it. The engine's runc runner is the real one (engine.BuildRunner).
type Runner interface {
	Run(ctx context.Context, r Run) error
}

// Run is one RUN step's container.
type Run struct {
	ID     string // unique per step, a valid runc id
	Rootfs string // the mounted overlay the step writes to
	Argv   []string
	Env    []string // KEY=VALUE
	Cwd    string
	UID    uint32
	GID    uint32
	// Network gives the step the host's network; otherwise it gets a
	// network namespace with only loopback, up.
	Network bool
	// Mounts are bound over the rootfs, each on a path under a tmpfs the
	// runner mounts (/run) or on a path that exists, so the step's layer
	// gets no mountpoints.
	Mounts []Mount
	// Output receives the process's stdout and stderr.
	Output io.Writer
}

// Mount is a bind mount (Source on the host) or, with Type "tmpfs", a tmpfs.
type Mount struct {
	Type     string // "bind" or "tmpfs"
	Source   string
	Dest     string
	ReadOnly bool
}
