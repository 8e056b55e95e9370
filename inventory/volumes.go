package inventory

// Data volumes: a sized ext4 disk of its own (the engine makes and mounts
// it), recorded at inventory/volumes/<name>. A volume is attached to at most
// one container, whose record ID it keeps in AttachedTo; it outlives that
// container. The claim is written in store transactions (ClaimVolumeOps,
// ReleaseVolumeOps, MoveVolumeOps), so it can join the transaction of
// another change (a release's switch).
//
// A claim whose container record no longer exists is stale and counts as
// free: a daemon may die between a container's delete and the release of
// its claims, and record IDs are never reused, so such a claim can never
// become live again.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/fatbox/fatbox/inventory/store"
)

// VolumePrefix is where volume records live in the store.
const VolumePrefix = "inventory/volumes/"

// MaxVolumesPerContainer bounds a container's volumes (so that claiming or
// releasing them all fits one store transaction).
const MaxVolumesPerContainer = 16

// Volume sentinels, checked with errors.Is. ErrVolumeNotFound also matches
// ErrNotFound and ErrVolumeExists ErrExists, so the daemon answers 404 and
// 409 for them as for containers.
var (
	ErrVolumeNotFound = fmt.Errorf("volume not found: %w", ErrNotFound)
	ErrVolumeExists   = fmt.Errorf("volume exists: %w", ErrExists)
	// ErrVolumeInUse: the volume is attached to a container (or, for a
	// claim, to another one).
	ErrVolumeInUse = errors.New("volume in use")
)

// Volume is one data volume's record.
type Volume struct {
	// ID is the volume's stable identity (a UUID, like records').
	ID      string `json:"id"`
	Name    string `json:"name"`
	SizeMiB int64  `json:"size_mib"`
	// Node is the host whose state dir holds its disk.
	Node      string    `json:"node"`
	CreatedAt time.Time `json:"created_at"`
	// AttachedTo is the ID of the container record it is attached to; ""
	// when free. AttachedName is that container's name and Path where it
	// is mounted in it (as of the claim; reads resolve the current name).
	AttachedTo   string `json:"attached_to,omitempty"`
	AttachedName string `json:"attached_name,omitempty"`
	Path         string `json:"path,omitempty"`
}

// Free reports whether v is attached to no container.
func (v Volume) Free() bool { return v.AttachedTo == "" }

func volumeKey(name string) string { return VolumePrefix + name }

// ValidVolumeName checks a volume name: the container names' rule (a DNS
// label: 1 to 63 lowercase letters, digits and '-', starting and ending
// with a letter or digit), as it names a directory and a store key.
func ValidVolumeName(name string) error {
	if name == "" {
		return &kindError{"no volume name given: name it, e.g. data1", ErrInvalid}
	}
	if err := ValidName(name); err != nil {
		// The container rule's wording is about hostnames: say it for volumes.
		return &kindError{fmt.Sprintf("volume name %q is not valid: use 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit (e.g. data1)", name), ErrInvalid}
	}
	return nil
}

// forbiddenVolumePaths are where a volume may not be mounted: the kernel's
// and the runtime's file systems, and fatbox's injected files.
var forbiddenVolumePaths = []string{"/proc", "/sys", "/dev", "/run", "/.fatbox"}

// MaxVolumePath is the longest path a volume may be mounted at.
const MaxVolumePath = 1024

// CheckVolumePath checks where a volume is to be mounted in a container:
// absolute, clean, not / and not on or under /proc, /sys, /dev, /run or
// /.fatbox.
func CheckVolumePath(vol, p string) error {
	bad := func(rule, fix string) error {
		return &kindError{fmt.Sprintf("volume %q: path %q %s: %s", vol, p, rule, fix), ErrInvalid}
	}
	switch {
	case p == "":
		return bad("is empty", "give where to mount it in the container, e.g. "+vol+":/var/lib/app")
	case len(p) > MaxVolumePath:
		return bad(fmt.Sprintf("is %d bytes long", len(p)), fmt.Sprintf("give at most %d", MaxVolumePath))
	case !strings.HasPrefix(p, "/"):
		return bad("is not absolute", "give a path from the container's root, e.g. /"+strings.TrimPrefix(path.Clean("/"+p), "/"))
	case strings.ContainsFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }):
		return bad("holds a control character", "give printable text")
	case path.Clean(p) != p:
		return bad("is not clean (no '.', '..', '//' or trailing '/')", "write it as "+path.Clean(p))
	case p == "/":
		return bad("is the container's root", "mount it on a directory, e.g. /var/lib/app")
	}
	for _, f := range forbiddenVolumePaths {
		if p == f || strings.HasPrefix(p, f+"/") {
			return bad("is on or under "+f+" (the kernel's, the runtime's or fatbox's own files, mounted over anything there)", "mount it elsewhere, e.g. /var/lib/app or /data")
		}
	}
	return nil
}

// CheckVolumeMounts checks the volumes asked for a container: each name and
// path valid, no volume twice, no path twice, at most MaxVolumesPerContainer.
func CheckVolumeMounts(vms []VolumeMount) error {
	if len(vms) > MaxVolumesPerContainer {
		return &kindError{fmt.Sprintf("%d volumes: a container takes at most %d: put data on fewer, larger volumes", len(vms), MaxVolumesPerContainer), ErrInvalid}
	}
	names, paths := map[string]bool{}, map[string]string{}
	for _, vm := range vms {
		if err := ValidVolumeName(vm.Name); err != nil {
			return err
		}
		if err := CheckVolumePath(vm.Name, vm.Path); err != nil {
			return err
		}
		if names[vm.Name] {
			return &kindError{fmt.Sprintf("volume %q is asked twice: a volume is mounted at one path; give it once", vm.Name), ErrInvalid}
		}
		if other, ok := paths[vm.Path]; ok {
			return &kindError{fmt.Sprintf("volumes %q and %q are both asked at %q: give each its own path", other, vm.Name, vm.Path), ErrInvalid}
		}
		names[vm.Name], paths[vm.Path] = true, vm.Name
	}
	return nil
}

// ParseVolumeMount reads NAME:/path, as `--volume` takes it, and checks it.
func ParseVolumeMount(s string) (VolumeMount, error) {
	n, p, ok := strings.Cut(s, ":")
	if !ok {
		return VolumeMount{}, &kindError{fmt.Sprintf("volume %q: write NAME:/path, e.g. data1:/var/lib/app (`fatbox volume ls` lists the volumes)", s), ErrInvalid}
	}
	vm := VolumeMount{Name: n, Path: p}
	if err := ValidVolumeName(n); err != nil {
		return vm, err
	}
	return vm, CheckVolumePath(n, p)
}

// SortVolumeMounts returns vms sorted by path, so a volume mounted under
// another's path is mounted after it.
func SortVolumeMounts(vms []VolumeMount) []VolumeMount {
	out := append([]VolumeMount(nil), vms...)
	sort.Slice(out, func(a, b int) bool { return out[a].Path < out[b].Path })
	return out
}

// CreateVolume stores a new volume record (ID and CreatedAt are given if
// unset); a second volume of one name is refused (ErrVolumeExists).
func (i *Inventory) CreateVolume(ctx context.Context, v Volume) (Volume, error) {
	if err := ValidVolumeName(v.Name); err != nil {
		return v, err
	}
	if v.ID == "" {
		v.ID = NewID()
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = time.Now().UTC()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return v, err
	}
	if _, err := i.Store.Create(ctx, volumeKey(v.Name), b); err != nil {
		if errors.Is(err, store.ErrExists) {
			return v, volumeExists(v.Name)
		}
		return v, err
	}
	return v, nil
}

func volumeExists(name string) error {
	return &kindError{fmt.Sprintf("a volume named %q already exists: pick another name, or remove it first (`fatbox volume rm %s`)", name, name), ErrVolumeExists}
}

func volumeNotFound(name string) error {
	return &kindError{fmt.Sprintf("no volume %q: create it with `fatbox volume create %s --size 10G` (`fatbox volume ls` lists them)", name, name), ErrVolumeNotFound}
}

// getVolume reads a volume record as stored, with its version.
func (i *Inventory) getVolume(ctx context.Context, name string) (Volume, uint64, error) {
	kv, err := i.Store.Get(ctx, volumeKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return Volume{}, 0, volumeNotFound(name)
	}
	if err != nil {
		return Volume{}, 0, err
	}
	var v Volume
	if err := json.Unmarshal(kv.Value, &v); err != nil {
		return Volume{}, 0, fmt.Errorf("volume record %q is corrupt: %w", kv.Key, err)
	}
	return v, kv.Version, nil
}

// containerNames maps every container record's ID to its name.
func (i *Inventory) containerNames(ctx context.Context) (map[string]string, error) {
	rs, err := i.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(rs))
	for _, r := range rs {
		out[r.ID] = r.Name
	}
	return out, nil
}

// resolve gives v's claim as it is now: the current name of the container
// it is attached to, or free when that container's record is gone (stale).
func resolve(v Volume, names map[string]string) Volume {
	if v.AttachedTo == "" {
		v.AttachedName, v.Path = "", ""
		return v
	}
	n, ok := names[v.AttachedTo]
	if !ok {
		v.AttachedTo, v.AttachedName, v.Path = "", "", ""
		return v
	}
	v.AttachedName = n
	return v
}

// GetVolume reads a volume record, its claim resolved: AttachedName is the
// container's current name, and a stale claim reads as free.
func (i *Inventory) GetVolume(ctx context.Context, name string) (Volume, error) {
	v, _, err := i.getVolume(ctx, name)
	if err != nil || v.AttachedTo == "" {
		return resolve(v, nil), err
	}
	names, err := i.containerNames(ctx)
	if err != nil {
		return v, err
	}
	return resolve(v, names), nil
}

// ListVolumes returns every volume record (every node), by name, with
// their claims resolved as GetVolume does.
func (i *Inventory) ListVolumes(ctx context.Context) ([]Volume, error) {
	vs, _, err := i.listVolumes(ctx)
	if err != nil {
		return nil, err
	}
	names, err := i.containerNames(ctx)
	if err != nil {
		return nil, err
	}
	for k := range vs {
		vs[k] = resolve(vs[k], names)
	}
	return vs, nil
}

// listVolumes returns the volume records as stored, with their versions.
func (i *Inventory) listVolumes(ctx context.Context) ([]Volume, []uint64, error) {
	kvs, err := i.Store.List(ctx, VolumePrefix)
	if err != nil {
		return nil, nil, err
	}
	vs, vers := make([]Volume, 0, len(kvs)), make([]uint64, 0, len(kvs))
	for _, kv := range kvs {
		var v Volume
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, nil, fmt.Errorf("volume record %q is corrupt: %w", kv.Key, err)
		}
		vs, vers = append(vs, v), append(vers, kv.Version)
	}
	return vs, vers, nil
}

// DeleteVolume removes a volume record; one attached to a container is
// refused (ErrVolumeInUse, naming the container). A missing one is
// ErrVolumeNotFound.
func (i *Inventory) DeleteVolume(ctx context.Context, name string) error {
	return i.retry(ctx, func() error {
		v, ver, err := i.getVolume(ctx, name)
		if err != nil {
			return err
		}
		if v.AttachedTo != "" {
			names, err := i.containerNames(ctx)
			if err != nil {
				return err
			}
			if r := resolve(v, names); !r.Free() {
				return inUse(r)
			}
		}
		return i.Store.Delete(ctx, volumeKey(name), ver)
	})
}

// inUse is the refusal for volume v, attached to a live container.
func inUse(v Volume) error {
	return &kindError{fmt.Sprintf("volume %q is attached to container %q at %s: remove that container first (`fatbox rm %s`; the volume outlives it)",
		v.Name, v.AttachedName, v.Path, v.AttachedName), ErrVolumeInUse}
}

func volumePut(v Volume, ver uint64) (store.Op, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return store.Op{}, err
	}
	return store.Op{Kind: store.OpPut, Key: volumeKey(v.Name), Value: b, Version: ver}, nil
}

// ClaimVolumeOps returns the ops that attach vms to the container with
// record id and name: each volume must exist, be on node, and be free, stale
// or already this container's. The ops hold the versions read, so the
// transaction they join fails (ErrConflict) if a volume changed meanwhile.
func (i *Inventory) ClaimVolumeOps(ctx context.Context, node, id, name string, vms []VolumeMount) ([]store.Op, error) {
	if err := CheckVolumeMounts(vms); err != nil {
		return nil, err
	}
	if len(vms) == 0 {
		return nil, nil
	}
	names, err := i.containerNames(ctx)
	if err != nil {
		return nil, err
	}
	var ops []store.Op
	for _, vm := range vms {
		v, ver, err := i.getVolume(ctx, vm.Name)
		if err != nil {
			return nil, err
		}
		if v.Node != node {
			return nil, &kindError{fmt.Sprintf("volume %q is on node %q, not %q: its disk is there; create the container on that node, or use a volume of this one", v.Name, v.Node, node), ErrVolumeInUse}
		}
		if r := resolve(v, names); !r.Free() && r.AttachedTo != id {
			return nil, &kindError{fmt.Sprintf("volume %q is attached to container %q at %s: a volume is attached to one container at a time; remove %q first (`fatbox rm %s`), or use another volume",
				v.Name, r.AttachedName, r.Path, r.AttachedName, r.AttachedName), ErrVolumeInUse}
		}
		v.AttachedTo, v.AttachedName, v.Path = id, name, vm.Path
		op, err := volumePut(v, ver)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// ReleaseVolumeOps returns the ops that free every volume attached to the
// container with record id (none: no ops).
func (i *Inventory) ReleaseVolumeOps(ctx context.Context, id string) ([]store.Op, error) {
	if id == "" {
		return nil, nil
	}
	vs, vers, err := i.listVolumes(ctx)
	if err != nil {
		return nil, err
	}
	var ops []store.Op
	for k, v := range vs {
		if v.AttachedTo != id {
			continue
		}
		v.AttachedTo, v.AttachedName, v.Path = "", "", ""
		op, err := volumePut(v, vers[k])
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// MoveVolumeOps returns the ops that move the claims of vms from the
// container with record id fromID to the one with toID (named toName, at
// each vm's Path). A volume already toID's is claimed again (its path may
// change); a free or stale one is claimed; one attached to a third container
// is refused (ErrVolumeInUse).
func (i *Inventory) MoveVolumeOps(ctx context.Context, vms []VolumeMount, fromID, toID, toName string) ([]store.Op, error) {
	if err := CheckVolumeMounts(vms); err != nil {
		return nil, err
	}
	if len(vms) == 0 {
		return nil, nil
	}
	names, err := i.containerNames(ctx)
	if err != nil {
		return nil, err
	}
	var ops []store.Op
	for _, vm := range vms {
		v, ver, err := i.getVolume(ctx, vm.Name)
		if err != nil {
			return nil, err
		}
		if r := resolve(v, names); !r.Free() && r.AttachedTo != fromID && r.AttachedTo != toID {
			return nil, &kindError{fmt.Sprintf("volume %q is attached to container %q, not to the one it is to move from: remove %q first (`fatbox rm %s`), or leave the volume out",
				v.Name, r.AttachedName, r.AttachedName, r.AttachedName), ErrVolumeInUse}
		}
		v.AttachedTo, v.AttachedName, v.Path = toID, toName, vm.Path
		op, err := volumePut(v, ver)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// ClaimVolumes runs ClaimVolumeOps in a transaction of its own (again on a
// conflict).
func (i *Inventory) ClaimVolumes(ctx context.Context, node, id, name string, vms []VolumeMount) error {
	return i.retry(ctx, func() error {
		ops, err := i.ClaimVolumeOps(ctx, node, id, name, vms)
		if err != nil || len(ops) == 0 {
			return err
		}
		_, err = i.Store.Txn(ctx, ops)
		return err
	})
}

// ReleaseVolumes runs ReleaseVolumeOps in a transaction of its own (again
// on a conflict). Idempotent.
func (i *Inventory) ReleaseVolumes(ctx context.Context, id string) error {
	return i.retry(ctx, func() error {
		ops, err := i.ReleaseVolumeOps(ctx, id)
		if err != nil || len(ops) == 0 {
			return err
		}
		for len(ops) > 0 { // more than one transaction's worth only if claims were made around the limit
			n := min(len(ops), store.MaxTxnOps)
			if _, err := i.Store.Txn(ctx, ops[:n]); err != nil {
				return err
			}
			ops = ops[n:]
		}
		return nil
	})
}
