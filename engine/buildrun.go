package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/fatbox/fatbox/baseimages/dockerbuild"
	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/engine/runtime"
)

// BuildRunner runs a Dockerfile's RUN steps with runc: the step's process
// in the foreground on the build's overlay, in a network namespace with
// only loopback unless the build asked for the network.
type BuildRunner struct {
	Runtime *runtime.Runtime
	// Dir holds each step's bundle while it runs.
	Dir string
}

var _ dockerbuild.Runner = (*BuildRunner)(nil)

// Sweep stops and removes the step containers a killed daemon left in the
// runner's runc root (its own: Reconcile never sees them), their bundles,
// and the netns of steps whose building process is gone.
func (b *BuildRunner) Sweep(ctx context.Context) error {
	var errs []error
	ids, err := b.Runtime.List(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for _, id := range ids {
		if strings.HasPrefix(id, dockerbuild.RunIDPrefix) {
			errs = append(errs, b.Runtime.Stop(ctx, id, 0))
		}
	}
	errs = append(errs, os.RemoveAll(b.Dir))
	ents, _ := os.ReadDir(network.NetnsDir)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), dockerbuild.RunIDPrefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(rest[strings.LastIndexByte(rest, '_')+1:])
		if err != nil || pid <= 0 {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // its build may still run (another daemon's)
		}
		errs = append(errs, network.DeleteNetns(e.Name()))
	}
	return errors.Join(errs...)
}

// Run runs one step and removes its container, bundle and netns.
func (b *BuildRunner) Run(ctx context.Context, r dockerbuild.Run) (err error) {
	bundle := filepath.Join(b.Dir, r.ID)
	defer func() { err = errors.Join(err, os.RemoveAll(bundle)) }()
	cfg := runtime.BuildConfig{Rootfs: r.Rootfs, Args: r.Argv, Env: r.Env, Cwd: r.Cwd, UID: r.UID, GID: r.GID}
	if !r.Network {
		p, err := network.CreateLoopbackNetns(r.ID)
		if err != nil {
			return fmt.Errorf("the build step's network namespace: %w", err)
		}
		cfg.Netns = p
		defer func() { err = errors.Join(err, network.DeleteNetns(r.ID)) }()
	}
	for _, m := range r.Mounts {
		switch m.Type {
		case "tmpfs":
			cfg.ExtraMounts = append(cfg.ExtraMounts, specs.Mount{Destination: m.Dest, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=755"}})
		default:
			opts := []string{"rbind", "nosuid", "nodev"}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			cfg.ExtraMounts = append(cfg.ExtraMounts, specs.Mount{Destination: m.Dest, Type: "bind", Source: m.Source, Options: opts})
		}
	}
	return b.Runtime.RunForeground(ctx, r.ID, bundle, runtime.BuildSpec(r.ID, cfg), r.Output)
}
