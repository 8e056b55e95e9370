package engine

// Data volumes (issue 16): a sized ext4 disk of its own, like the root disk,
// that outlives the containers it is attached to.
//
//	<state>/volumes/<vol>/disk.img   sparse ext4 (rootfs.CreateDisk)
//	<state>/volumes/<vol>/disk       disk.img on a loop device, on the host
//	<container dir>/volumes.json     the volumes this instance has mounted
//
// The record (inventory/volumes/<vol>) keeps the container record ID it is
// attached to: one container at a time (claimed at create, released at
// remove, moved by a release's switch). At boot the disk is mounted once on
// the host and bind-mounted into the container at its path; at halt the host
// mount goes unless another instance on this host still lists the volume
// (the new container of a release, which got it live). A disk image is never
// mounted through two loop devices at once (two ext4 superblocks over one
// file corrupt it): one host mount per volume, reused by every bind.
//
// Hazards:
//   - volumes.json is what halt reads to know what to unmount: it is written
//     before the host mount, so a crash leaves at worst a stale entry, which
//     halt and reconcileVolumes clear.
//   - reconcileVolumes counts as users only instances runc runs: call it
//     when no boot is in flight (Reconcile, at daemon start), or it may
//     unmount a volume a boot mounted a moment before runc starts.
//   - Lock order: a container's lock, then volume locks (one at a time).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/engine/revert"
	"github.com/fatbox/fatbox/engine/rootfs"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store"
)

// volumeDir holds volume vol's disk: <state>/volumes/<vol>/disk.img.
func (e *Engine) volumeDir(vol string) string { return filepath.Join(e.StateDir, "volumes", vol) }

func (e *Engine) volumeLayout(vol string) rootfs.Layout { return rootfs.Layout{Dir: e.volumeDir(vol)} }

// lockVolume serialises the mounts and record changes of one volume in this
// process (container names hold no '/', so the keys never meet theirs).
func (e *Engine) lockVolume(vol string) func() { return e.lock("volume/" + vol) }

// VolumeInfo is a volume's record plus what this host says of it.
type VolumeInfo struct {
	inventory.Volume
	// Mounted: its disk is mounted on this host (a container uses it).
	Mounted bool `json:"mounted"`
	// UsedBytes and SizeBytes are its file system's (0 unless mounted).
	UsedBytes int64 `json:"used_bytes,omitempty"`
	SizeBytes int64 `json:"size_bytes,omitempty"`
}

func (e *Engine) volumeInfo(v inventory.Volume) VolumeInfo {
	in := VolumeInfo{Volume: v}
	if v.Node != e.Node {
		return in
	}
	l := e.volumeLayout(v.Name)
	if m, _, err := rootfs.DiskMounted(l); err == nil && m {
		in.Mounted = true
		if used, size, err := rootfs.Usage(l); err == nil {
			in.UsedBytes, in.SizeBytes = used, size
		}
	}
	return in
}

// volumeError turns the inventory's in-use refusal into a conflict.
func volumeError(err error) error {
	if errors.Is(err, inventory.ErrVolumeInUse) {
		return conflictf("%w", err)
	}
	return err
}

// CreateVolume makes volume name: its record on this node and a sparse ext4
// disk of sizeBytes (a disk's bounds, limits.CheckDisk; counted in the disk
// overcommit ceiling). Nothing is left when it fails.
func (e *Engine) CreateVolume(ctx context.Context, name string, sizeBytes int64) (vi VolumeInfo, err error) {
	if err := inventory.ValidVolumeName(name); err != nil {
		return vi, err
	}
	if err := limits.CheckDisk("size_bytes", sizeBytes); err != nil {
		return vi, err
	}
	unlock := e.lockVolume(name)
	defer unlock()
	h, err := e.host()
	if err != nil {
		return vi, err
	}
	u, err := e.usage(ctx)
	if err != nil {
		return vi, err
	}
	// Only the disk ceiling concerns a volume.
	if err := e.overcommit().Admit(h, limits.Usage{DiskBytes: u.DiskBytes, Containers: u.Containers}, 0, 0, sizeBytes); err != nil {
		return vi, fmt.Errorf("volume %q: %w", name, err)
	}
	rev := &revert.Reverter{}
	defer func() { err = undo(rev, err) }()
	bg := context.Background()
	v, err := e.Inventory.CreateVolume(ctx, inventory.Volume{Name: name, SizeMiB: sizeBytes >> 20, Node: e.Node})
	if err != nil {
		return vi, err // a volume of that name exists: refused
	}
	rev.Add(func() error { return e.Inventory.DeleteVolume(bg, name) })
	l := e.volumeLayout(name)
	if _, err := os.Stat(l.Dir); err == nil {
		// A disk kept from a volume whose record was lost: never reuse or remove it.
		return vi, conflictf("volume dir %q exists (a disk kept from an earlier volume %q with no record): move it away to create %q anew", l.Dir, name, name)
	}
	rev.Add(func() error { return rootfs.Remove(bg, l) }) // first: a half-made disk goes too
	if err := rootfs.CreateDisk(ctx, l, sizeBytes); err != nil {
		return vi, fmt.Errorf("volume %q: %w", name, err)
	}
	rev.Release()
	return VolumeInfo{Volume: v}, nil
}

// Volumes lists every volume (every node's), claims resolved.
func (e *Engine) Volumes(ctx context.Context) ([]VolumeInfo, error) {
	vs, err := e.Inventory.ListVolumes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]VolumeInfo, 0, len(vs))
	for _, v := range vs {
		out = append(out, e.volumeInfo(v))
	}
	return out, nil
}

// Volume returns one volume.
func (e *Engine) Volume(ctx context.Context, name string) (VolumeInfo, error) {
	if err := inventory.ValidVolumeName(name); err != nil {
		return VolumeInfo{}, err
	}
	v, err := e.Inventory.GetVolume(ctx, name)
	if err != nil {
		return VolumeInfo{}, err
	}
	return e.volumeInfo(v), nil
}

// RemoveVolume deletes volume name's disk and record. It is refused while
// the volume is attached to a container (the fix: remove that container
// first) or is another node's. Run it again to finish one that failed
// half-way (the disk goes first, then the record).
func (e *Engine) RemoveVolume(ctx context.Context, name string) error {
	if err := inventory.ValidVolumeName(name); err != nil {
		return err
	}
	unlock := e.lockVolume(name)
	defer unlock()
	v, err := e.Inventory.GetVolume(ctx, name)
	if err != nil {
		return err
	}
	if v.Node != e.Node {
		return conflictf("volume %q is on node %q, not here (%q): ask that node's daemon", name, v.Node, e.Node)
	}
	if !v.Free() {
		return conflictf("volume %q is attached to container %q at %s: remove that container first (`fatbox rm %s`; the volume outlives it), then `fatbox volume rm %s`: %w",
			name, v.AttachedName, v.Path, v.AttachedName, name, inventory.ErrVolumeInUse)
	}
	if users := e.runningUsers(ctx, name); len(users) > 0 {
		return conflictf("volume %q is still mounted in running container instance(s) %s: stop them first (`fatbox stop`): %w",
			name, strings.Join(users, ", "), inventory.ErrVolumeInUse)
	}
	if err := rootfs.UnmountDisk(ctx, e.volumeLayout(name)); err != nil {
		return fmt.Errorf("remove volume %q: its disk is still in use, so it is kept (run `fatbox volume rm %s` again once it is free): %w", name, name, err)
	}
	if err := rootfs.Remove(ctx, e.volumeLayout(name)); err != nil {
		return fmt.Errorf("remove volume %q's disk (run `fatbox volume rm %s` again to finish): %w", name, name, err)
	}
	return volumeError(e.Inventory.DeleteVolume(ctx, name))
}

// recordID is rec's record ID, read from the store when rec came without
// it (Create's record before it was read back).
func (e *Engine) recordID(ctx context.Context, rec inventory.Record) (string, error) {
	if rec.ID != "" {
		return rec.ID, nil
	}
	cur, err := e.Inventory.Get(ctx, rec.Name)
	if err != nil {
		return "", err
	}
	return cur.ID, nil
}

// claimVolumes, at create (after the record step), marks rec.Volumes as
// attached to rec (refusing one attached elsewhere or missing), with undos on rev.
func (e *Engine) claimVolumes(ctx context.Context, rev *revert.Reverter, rec inventory.Record) error {
	if len(rec.Volumes) == 0 {
		return nil
	}
	if err := inventory.CheckVolumeMounts(rec.Volumes); err != nil {
		return err
	}
	id, err := e.recordID(ctx, rec)
	if err != nil {
		return err
	}
	// Under the volumes' locks (by name: a RemoveVolume of one of them
	// waits, or is already done and the claim finds no volume).
	names := make([]string, 0, len(rec.Volumes))
	for _, vm := range rec.Volumes {
		names = append(names, vm.Name)
	}
	sort.Strings(names)
	for _, n := range names {
		unlock := e.lockVolume(n)
		defer unlock()
	}
	if err := e.Inventory.ClaimVolumes(ctx, e.Node, id, rec.Name, rec.Volumes); err != nil {
		return volumeError(err)
	}
	bg := context.Background()
	rev.Add(func() error { return e.Inventory.ReleaseVolumes(bg, id) })
	return nil
}

// volumeMounts, at boot, mounts rec.Volumes' disks on the host and returns
// the bind mounts for the spec; undos on rev.
func (e *Engine) volumeMounts(ctx context.Context, rec inventory.Record, rev *revert.Reverter) ([]specs.Mount, error) {
	if len(rec.Volumes) == 0 {
		return nil, nil
	}
	if err := inventory.CheckVolumeMounts(rec.Volumes); err != nil {
		return nil, err
	}
	id, err := e.recordID(ctx, rec)
	if err != nil {
		return nil, err
	}
	if err := e.checkClaims(ctx, rec, id); err != nil {
		return nil, err
	}
	inst := rec.InstanceKey()
	vms := inventory.SortVolumeMounts(rec.Volumes) // a volume under another's path after it
	// Listed before mounting: halt unmounts what the list says.
	if err := e.writeInstVolumes(inst, vms); err != nil {
		return nil, err
	}
	bg := context.Background()
	rev.Add(func() error { return e.unmountVolumes(bg, inst) })
	var out []specs.Mount
	for _, vm := range vms {
		if err := e.mountVolume(ctx, vm.Name); err != nil {
			return nil, err
		}
		out = append(out, specs.Mount{Destination: vm.Path, Type: "bind", Source: e.volumeLayout(vm.Name).DiskDir(),
			Options: []string{"bind", "rw", "nosuid", "nodev"}})
	}
	return out, nil
}

// checkClaims refuses to mount a volume of rec's that is not attached to
// it (record id) on this node.
func (e *Engine) checkClaims(ctx context.Context, rec inventory.Record, id string) error {
	for _, vm := range rec.Volumes {
		v, err := e.Inventory.GetVolume(ctx, vm.Name)
		if err != nil {
			return fmt.Errorf("container %q: %w", rec.Name, err)
		}
		if v.Node != e.Node {
			return conflictf("volume %q of container %q is on node %q, not here (%q): its disk is there", vm.Name, rec.Name, v.Node, e.Node)
		}
		if v.AttachedTo != id {
			holder := "no container"
			if !v.Free() {
				holder = fmt.Sprintf("container %q", v.AttachedName)
			}
			return conflictf("volume %q is attached to %s, not to %q, so it is not mounted in %q (one container at a time): if a release or rollback of %q did not finish, the daemon's next start finishes it; else remove %q and create it again with the volume once it is free",
				vm.Name, holder, rec.Name, rec.Name, rec.Name, rec.Name)
		}
		if others := e.otherRunningUsers(ctx, vm.Name, rec.InstanceKey()); len(others) > 0 {
			return conflictf("volume %q is mounted in running container instance(s) %s: stop it first (one writer at a time) before mounting it into %q",
				vm.Name, strings.Join(others, ", "), rec.Name)
		}
	}
	return nil
}

// otherRunningUsers are vol's users that runc runs, but inst.
func (e *Engine) otherRunningUsers(ctx context.Context, vol, inst string) []string {
	var out []string
	for _, u := range e.runningUsers(ctx, vol) {
		if u != inst {
			out = append(out, u)
		}
	}
	return out
}

// mountVolume mounts vol's disk on the host (once: a mounted one is left).
func (e *Engine) mountVolume(ctx context.Context, vol string) error {
	unlock := e.lockVolume(vol)
	defer unlock()
	if _, err := rootfs.MountDisk(ctx, e.volumeLayout(vol)); err != nil {
		return fmt.Errorf("mount volume %q: %w", vol, err)
	}
	return nil
}

const instVolumesFile = "volumes.json"

func (e *Engine) instVolumesPath(inst string) string {
	return filepath.Join(e.dir(inst), instVolumesFile)
}

// readInstVolumes reads the volumes instance inst has mounted (none: nil).
func (e *Engine) readInstVolumes(inst string) ([]inventory.VolumeMount, error) {
	b, err := os.ReadFile(e.instVolumesPath(inst))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var vms []inventory.VolumeMount
	if err := json.Unmarshal(b, &vms); err != nil {
		return nil, fmt.Errorf("%q is corrupt (remove it once the volumes it lists are unmounted): %w", e.instVolumesPath(inst), err)
	}
	return vms, nil
}

// writeInstVolumes replaces instance inst's list (atomically).
func (e *Engine) writeInstVolumes(inst string, vms []inventory.VolumeMount) error {
	b, err := json.Marshal(vms)
	if err != nil {
		return err
	}
	p := e.instVolumesPath(inst)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("record the volumes of %q: %w", inst, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("record the volumes of %q: %w", inst, err)
	}
	return nil
}

// volumeUsers lists the instances (but except) whose volumes.json lists vol.
func (e *Engine) volumeUsers(vol, except string) []string {
	files, _ := filepath.Glob(filepath.Join(e.StateDir, "containers", "*", instVolumesFile))
	var out []string
	for _, f := range files {
		inst := filepath.Base(filepath.Dir(f))
		if inst == except {
			continue
		}
		vms, err := e.readInstVolumes(inst)
		if err != nil {
			out = append(out, inst) // unreadable: count it, never unmount under it
			continue
		}
		for _, vm := range vms {
			if vm.Name == vol {
				out = append(out, inst)
				break
			}
		}
	}
	return out
}

// runningUsers are vol's users that runc runs.
func (e *Engine) runningUsers(ctx context.Context, vol string) []string {
	var out []string
	for _, inst := range e.volumeUsers(vol, "") {
		if st, _, err := e.Runtime.State(ctx, inst); err != nil || st == "running" {
			out = append(out, inst)
		}
	}
	return out
}

// unmountVolumes, at halt (after the container's processes are gone),
// unmounts the host mounts of the volumes instance inst had. Idempotent.
// A volume another instance on this host lists (a release's new container,
// which got it live) stays mounted for it.
func (e *Engine) unmountVolumes(ctx context.Context, inst string) error {
	vms, err := e.readInstVolumes(inst)
	if err != nil {
		return err
	}
	if vms == nil {
		return nil
	}
	var errs []error
	for _, vm := range vms {
		if err := e.unmountVolume(ctx, vm.Name, inst); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err // the list stays: the next halt tries again
	}
	if err := os.Remove(e.instVolumesPath(inst)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (e *Engine) unmountVolume(ctx context.Context, vol, inst string) error {
	unlock := e.lockVolume(vol)
	defer unlock()
	if users := e.volumeUsers(vol, inst); len(users) > 0 {
		return nil
	}
	err := rootfs.UnmountDisk(ctx, e.volumeLayout(vol))
	if errors.Is(err, rootfs.ErrLoopBusy) { // the only error when it is there
		// Unmounted here; a mount namespace cloned while it was mounted (any
		// process's unshare, not ours to end) still holds the file system,
		// so its loop device lingers until that one ends. That is no reason
		// to fail a stop: the next MountDisk mounts that same device (one
		// superblock), and reconcileVolumes clears it.
		return nil
	}
	if err != nil {
		return fmt.Errorf("unmount volume %q (of %q): %w", vol, inst, err)
	}
	return nil
}

// releaseVolumeClaims, at remove, detaches rec's volumes (they outlive it).
func (e *Engine) releaseVolumeClaims(ctx context.Context, rec inventory.Record) error {
	id, err := e.recordID(ctx, rec)
	if errors.Is(err, inventory.ErrNotFound) {
		return nil // no record, no live claim (a stale one counts as free)
	}
	if err != nil {
		return err
	}
	if err := e.Inventory.ReleaseVolumes(ctx, id); err != nil {
		return fmt.Errorf("release the volumes of %q: %w", rec.Name, err)
	}
	return nil
}

// moveVolumeOps are the store ops that move the claims of vols from the
// container with id fromID to the one with id toID (a release's switch txn).
// Each volume must be on this node and attached to fromID or toID (or be
// free); the ops fail the transaction if a volume changed since.
func (e *Engine) moveVolumeOps(ctx context.Context, vols []inventory.VolumeMount, fromID, toID string) ([]store.Op, error) {
	if len(vols) == 0 {
		return nil, nil
	}
	for _, vm := range vols {
		v, err := e.Inventory.GetVolume(ctx, vm.Name)
		if err != nil {
			return nil, err
		}
		if v.Node != e.Node {
			return nil, conflictf("volume %q is on node %q, not here (%q): its disk is there", vm.Name, v.Node, e.Node)
		}
	}
	toName := ""
	if rs, err := e.Inventory.List(ctx); err == nil {
		for _, r := range rs {
			if r.ID == toID {
				toName = r.Name
			}
		}
	}
	ops, err := e.Inventory.MoveVolumeOps(ctx, vols, fromID, toID, toName)
	return ops, volumeError(err)
}

// attachVolumesLive mounts rec.Volumes into the running container whose
// init is pid (a release's switch), at their paths: the disk is mounted on
// the host if it is not yet (once), and a clone of that mount is moved into
// the container's mount namespace, on a directory made inside its root
// without following a link out of it. The claims need not have moved to
// rec yet (moveVolumeOps, in the switch's transaction), but a volume another
// running container on this host has mounted is refused: stop that one and
// unmountVolumes its instance first. Idempotent: a volume already mounted at
// its path is left.
func (e *Engine) attachVolumesLive(ctx context.Context, rec inventory.Record, pid int) error {
	if len(rec.Volumes) == 0 {
		return nil
	}
	if err := inventory.CheckVolumeMounts(rec.Volumes); err != nil {
		return err
	}
	inst := rec.InstanceKey()
	for _, vm := range rec.Volumes {
		v, err := e.Inventory.GetVolume(ctx, vm.Name)
		if err != nil {
			return fmt.Errorf("container %q: %w", rec.Name, err)
		}
		if v.Node != e.Node {
			return conflictf("volume %q is on node %q, not here (%q): its disk is there", vm.Name, v.Node, e.Node)
		}
		// The claim may still be the old container's (a switch mounts
		// first and moves the records and claims in one transaction after):
		// what must not be is another running container using it.
		if others := e.otherRunningUsers(ctx, vm.Name, inst); len(others) > 0 {
			return conflictf("volume %q is mounted in running container instance(s) %s: stop it first (one writer at a time) before mounting it into %q",
				vm.Name, strings.Join(others, ", "), rec.Name)
		}
	}
	vms := inventory.SortVolumeMounts(rec.Volumes)
	have, err := e.readInstVolumes(inst)
	if err != nil {
		return err
	}
	if err := e.writeInstVolumes(inst, mergeVolumeMounts(have, vms)); err != nil {
		return err
	}
	for _, vm := range vms {
		if err := e.attachVolumeLive(ctx, vm, pid); err != nil {
			return fmt.Errorf("attach volume %q to %q at %s: %w", vm.Name, rec.Name, vm.Path, err)
		}
	}
	return nil
}

func (e *Engine) attachVolumeLive(ctx context.Context, vm inventory.VolumeMount, pid int) error {
	unlock := e.lockVolume(vm.Name)
	defer unlock()
	l := e.volumeLayout(vm.Name)
	if _, err := rootfs.MountDisk(ctx, l); err != nil {
		return err
	}
	return mountInto(pid, l.DiskDir(), vm.Path)
}

// mergeVolumeMounts is have with add's entries put in place of theirs (by name).
func mergeVolumeMounts(have, add []inventory.VolumeMount) []inventory.VolumeMount {
	out := append([]inventory.VolumeMount(nil), add...)
	seen := map[string]bool{}
	for _, vm := range add {
		seen[vm.Name] = true
	}
	for _, vm := range have {
		if !seen[vm.Name] {
			out = append(out, vm)
		}
	}
	return inventory.SortVolumeMounts(out)
}

// reconcileVolumes unmounts the volume disks mounted (or left bound to a
// loop device) on this host that no running container uses, and says what
// it did and what it found for an operator: a volume dir with no record
// (kept, never deleted), a record of this node with no disk. Call it when
// no boot is in flight (see the hazards above).
func (e *Engine) reconcileVolumes(ctx context.Context) ([]string, error) {
	dirs, err := os.ReadDir(filepath.Join(e.StateDir, "volumes"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	vs, err := e.Inventory.ListVolumes(ctx)
	if err != nil {
		return nil, err
	}
	var did []string
	var errs []error
	recorded := map[string]bool{}
	for _, v := range vs {
		if v.Node != e.Node {
			continue
		}
		recorded[v.Name] = true
		if _, err := os.Stat(e.volumeLayout(v.Name).DiskImage()); errors.Is(err, fs.ErrNotExist) {
			did = append(did, fmt.Sprintf("volume %q has no disk (%s is missing): `fatbox volume rm %s` removes its record", v.Name, e.volumeLayout(v.Name).DiskImage(), v.Name))
		}
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		vol := d.Name()
		if !recorded[vol] {
			did = append(did, fmt.Sprintf("kept volume dir %q with no record (its disk is left for an operator: move it away or delete it)", e.volumeDir(vol)))
		}
		unlock := e.lockVolume(vol)
		l := e.volumeLayout(vol)
		mounted, attached, err := rootfs.DiskMounted(l)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("volume %q: %w", vol, err))
		case !mounted && !attached:
		case len(e.runningUsers(ctx, vol)) > 0:
		default:
			if err := rootfs.UnmountDisk(ctx, l); err != nil {
				errs = append(errs, fmt.Errorf("unmount volume %q, which no running container uses: %w", vol, err))
			} else {
				did = append(did, fmt.Sprintf("unmounted volume %q (no running container uses it)", vol))
			}
		}
		unlock()
	}
	return did, errors.Join(errs...)
}

// mountInto mounts a clone of the host mount src inside the mount namespace
// of pid (a running container's init) at target, a path in its root: the
// directories missing on the way are made there (0755), symlinks on the
// way are followed only within that root (openat2 RESOLVE_IN_ROOT from
// /proc/<pid>/root), and a target the same file system's root is already
// mounted on is left.
func mountInto(pid int, src, target string) error {
	if pid <= 1 {
		return fmt.Errorf("pid %d is not a container's init", pid)
	}
	nsPath := fmt.Sprintf("/proc/%d/ns/mnt", pid)
	ns, err := os.Open(nsPath)
	if err != nil {
		return fmt.Errorf("open the mount namespace of pid %d: %w", pid, err)
	}
	defer ns.Close()
	var their, ours unix.Stat_t
	if err := unix.Fstat(int(ns.Fd()), &their); err != nil {
		return fmt.Errorf("%q: %w", nsPath, err)
	}
	if err := unix.Stat("/proc/thread-self/ns/mnt", &ours); err != nil {
		return fmt.Errorf("our own mount namespace: %w", err)
	}
	if their.Ino == ours.Ino && their.Dev == ours.Dev {
		return fmt.Errorf("pid %d shares the host's mount namespace: refusing to mount a volume on the host's %s", pid, target)
	}
	rootPath := fmt.Sprintf("/proc/%d/root", pid)
	root, err := unix.Open(rootPath, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open the root of pid %d (%q): %w", pid, rootPath, err)
	}
	defer unix.Close(root)
	var srcSt unix.Stat_t
	if err := unix.Stat(src, &srcSt); err != nil {
		return err
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("clone the mount %q (open_tree): %w", src, err)
	}
	defer unix.Close(tree)
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV, Propagation: unix.MS_PRIVATE}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		return fmt.Errorf("set nosuid, nodev on the clone of %q: %w", src, err)
	}
	return onSpareThread(func() error {
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("unshare CLONE_FS: %w", err)
		}
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("enter the mount namespace %q: %w", nsPath, err)
		}
		dir, err := mkdirInRoot(root, target)
		if err != nil {
			return err
		}
		defer unix.Close(dir)
		var st unix.Stat_t
		if err := unix.Fstat(dir, &st); err != nil {
			return fmt.Errorf("%s: %w", target, err)
		}
		if st.Dev == srcSt.Dev && st.Ino == srcSt.Ino {
			return nil // mounted there already
		}
		if err := unix.MoveMount(tree, "", dir, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
			return fmt.Errorf("mount on %s (move_mount): %w", target, err)
		}
		return nil
	})
}

// mkdirInRoot opens directory target (absolute, clean) under root as an
// O_PATH fd, making the directories missing on the way (0755). Existing
// components are resolved with RESOLVE_IN_ROOT (a symlink is followed
// within root, never out of it); made ones are opened without following
// any symlink, so one swapped in meanwhile is refused.
func mkdirInRoot(root int, target string) (int, error) {
	rel := strings.TrimPrefix(target, "/")
	if rel == "" || filepath.Clean(target) != target {
		return -1, fmt.Errorf("path %q: give an absolute, clean path below /", target)
	}
	comps := strings.Split(rel, "/")
	cur, err := unix.Openat2(root, ".", &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC})
	if err != nil {
		return -1, fmt.Errorf("open the container's root: %w", err)
	}
	for i, c := range comps {
		sub := strings.Join(comps[:i+1], "/")
		fd, err := unix.Openat2(root, sub, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
		if err == nil {
			unix.Close(cur)
			cur = fd
			continue
		}
		if errors.Is(err, unix.ENOTDIR) {
			unix.Close(cur)
			return -1, fmt.Errorf("path %q: /%s is not a directory in the container: move it away or mount the volume elsewhere", target, sub)
		}
		if !errors.Is(err, unix.ENOENT) {
			unix.Close(cur)
			return -1, fmt.Errorf("path %q: /%s: %w", target, sub, err)
		}
		if err := unix.Mkdirat(cur, c, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			unix.Close(cur)
			return -1, fmt.Errorf("path %q: make /%s in the container: %w", target, sub, err)
		}
		fd, err = unix.Openat2(cur, c, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS})
		unix.Close(cur)
		if err != nil {
			return -1, fmt.Errorf("path %q: /%s (a dangling symlink, or swapped for one): %w", target, sub, err)
		}
		cur = fd
	}
	return cur, nil
}

// onSpareThread runs f on a goroutine locked to an OS thread that is never
// unlocked, so the thread ends with the goroutine and what f did to it
// (setns) never reaches other goroutines; never on the main thread, which
// Go cannot end (engine/lxcfs's Remount does the same, and says why).
func onSpareThread(f func() error) error {
	done := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			err := onSpareThread(f)
			goruntime.UnlockOSThread()
			done <- err
			return
		}
		done <- f() // never unlocked
	}()
	return <-done
}
