package engine

// Data volumes (issue 16). STUB: the volumes helper replaces this file.

import (
	"context"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/fatbox/fatbox/engine/revert"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store"
)

// volumeDir holds volume vol's disk: <state>/volumes/<vol>/disk.img.
func (e *Engine) volumeDir(vol string) string { return filepath.Join(e.StateDir, "volumes", vol) }

// claimVolumes, at create (after the record step), marks rec.Volumes as
// attached to rec (refusing one attached elsewhere or missing), with undos on rev.
func (e *Engine) claimVolumes(ctx context.Context, rev *revert.Reverter, rec inventory.Record) error {
	return nil
}

// volumeMounts, at boot, mounts rec.Volumes' disks on the host and returns
// the bind mounts for the spec; undos on rev.
func (e *Engine) volumeMounts(ctx context.Context, rec inventory.Record, rev *revert.Reverter) ([]specs.Mount, error) {
	return nil, nil
}

// unmountVolumes, at halt (after the container's processes are gone),
// unmounts the host mounts of the volumes instance inst had. Idempotent.
func (e *Engine) unmountVolumes(ctx context.Context, inst string) error { return nil }

// releaseVolumeClaims, at remove, detaches rec's volumes (they outlive it).
func (e *Engine) releaseVolumeClaims(ctx context.Context, rec inventory.Record) error { return nil }

// moveVolumeOps are the store ops that move the claims of vols from the
// container with id fromID to the one with id toID (a release's switch txn).
func (e *Engine) moveVolumeOps(ctx context.Context, vols []inventory.VolumeMount, fromID, toID string) ([]store.Op, error) {
	return nil, nil
}

// attachVolumesLive mounts rec.Volumes into the running container whose
// init is pid (a release's switch). Idempotent.
func (e *Engine) attachVolumesLive(ctx context.Context, rec inventory.Record, pid int) error { return nil }
