package engine

// Snapshots (issue 16): copies of a container's root disk and its data
// volumes' disks, kept in its state dir:
//
//	<state>/containers/<instance>/snapshots/<snap>/disk.img          root disk
//	<state>/containers/<instance>/snapshots/<snap>/volumes/<vol>.img each volume
//	<state>/containers/<instance>/snapshots/<snap>/meta.json         SnapshotInfo
//
// What a snapshot costs: the disks are sparse ext4 images on a file system
// without reflink, so a snapshot copies every allocated block of each disk
// (rootfs.CopySparse: SEEK_DATA/SEEK_HOLE + copy_file_range, holes kept):
// IO and space proportional to what the container wrote, not to the disk's
// size. A running container is frozen for the copy: its processes (runc
// pause, the cgroup freezer) and then its file systems (FIFREEZE, which
// flushes them, so the images are clean ext4), thawed and resumed whatever
// happens; the freeze lasts as long as the copy, and is measured and
// reported. Snapshots are not counted in the disk overcommit figures and go
// with the container (`fatbox rm` deletes its state dir).
//
// Crash safety: a snapshot is built in a dot-dir and renamed into place
// once whole, so a failed or interrupted one leaves nothing `snapshot ls`
// shows (the next snapshot call sweeps the dot-dirs); a restore copies
// every disk to a temp file beside it, fsyncs, then renames each over its
// disk, so a crash leaves each disk whole, old or new.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/engine/rootfs"
	"github.com/fatbox/fatbox/inventory"
)

var (
	// ErrSnapshotNotFound: no snapshot of that name.
	ErrSnapshotNotFound = errors.New("snapshot not found")
	// ErrSnapshotExists: the snapshot name is taken.
	ErrSnapshotExists = errors.New("snapshot exists")
)

// SnapshotInfo is a snapshot's meta.json.
type SnapshotInfo struct {
	Name      string    `json:"name"`
	Container string    `json:"container"`
	Instance  string    `json:"instance"`
	Created   time.Time `json:"created"`
	Image     string    `json:"image"`
	ImageID   string    `json:"image_id"`
	// Running says whether the container ran (and was frozen) when taken.
	Running bool `json:"running"`
	// Freeze is how long the container's processes and file systems were
	// frozen (0 when it was stopped).
	Freeze time.Duration `json:"freeze_ns"`
	// Copy is how long the copy took.
	Copy time.Duration `json:"copy_ns"`
	// DiskSize and DiskCopied are the root disk's size and the bytes copied
	// (its allocated blocks).
	DiskSize   int64            `json:"disk_size"`
	DiskCopied int64            `json:"disk_copied"`
	Volumes    []SnapshotVolume `json:"volumes,omitempty"`
	// Copied is every disk's copied bytes: what the snapshot takes on disk.
	Copied int64 `json:"copied"`
}

// SnapshotVolume is one volume's disk in a snapshot.
type SnapshotVolume struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Copied int64  `json:"copied"`
}

// RestoreResult says what a restore did.
type RestoreResult struct {
	Snapshot SnapshotInfo  `json:"snapshot"`
	Copied   int64         `json:"copied"`
	Took     time.Duration `json:"took_ns"`
	// DiskResized: the root disk's size differed from the record's; the
	// record now says the snapshot's size.
	DiskResized bool `json:"disk_resized,omitempty"`
}

var snapNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidSnapshotName checks a snapshot name: a DNS label (1-63 lower-case
// letters, digits and '-', starting and ending with a letter or digit).
func ValidSnapshotName(snap string) error {
	if !snapNameRE.MatchString(snap) {
		return invalidf("snapshot name %q is not valid: use 1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit (e.g. before-upgrade)", snap)
	}
	return nil
}

// DefaultSnapshotName is the name a snapshot gets when none is given: the
// UTC time, e.g. 20261202-061503.
func DefaultSnapshotName(t time.Time) string { return t.UTC().Format("20060102-150405") }

func (e *Engine) snapshotsDir(rec inventory.Record) string {
	return filepath.Join(e.dir(rec.InstanceKey()), "snapshots")
}

func (e *Engine) volumeImage(vol string) string { return filepath.Join(e.volumeDir(vol), "disk.img") }

// sweepSnapshotTemps removes what an interrupted snapshot or remove left
// (dot-dirs); callers hold the container's lock.
func sweepSnapshotTemps(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, en := range ents {
		if strings.HasPrefix(en.Name(), ".") {
			_ = os.RemoveAll(filepath.Join(dir, en.Name()))
		}
	}
}

// diskToCopy is a disk image to copy and, when mounted, where.
type diskToCopy struct {
	src, dst string
	mounts   []string
	vol      *SnapshotVolume
}

// CreateSnapshot snapshots container name's root disk and its volumes'
// disks as snap ("" names it by the time). A running container is frozen
// for the copy (see the file's comment); a stopped one is copied as is.
func (e *Engine) CreateSnapshot(ctx context.Context, name, snap string) (info SnapshotInfo, err error) {
	if snap == "" {
		snap = DefaultSnapshotName(time.Now())
	}
	if err := ValidSnapshotName(snap); err != nil {
		return info, err
	}
	unlock := e.lock(name)
	defer unlock()
	rec, err := e.local(ctx, name)
	if err != nil {
		return info, err
	}
	if rec.Status != inventory.StatusRunning && rec.Status != inventory.StatusStopped {
		return info, conflictf("container %q is %s: wait until it is running or stopped, then snapshot it", name, rec.Status)
	}
	inst := rec.InstanceKey()
	l := rootfs.Layout{Dir: e.dir(inst)}
	dir := e.snapshotsDir(rec)
	final := filepath.Join(dir, snap)
	if _, err := os.Lstat(final); err == nil {
		return info, newKindError(ErrSnapshotExists, "container %q has a snapshot %q already: pick another name, or `fatbox snapshot rm %s %s` first", name, snap, name, snap)
	}
	state, _, err := e.Runtime.State(ctx, inst)
	if err != nil {
		return info, err
	}
	running := state == "running"
	if state == "paused" {
		return info, conflictf("container %q is paused (by hand, or by a snapshot the daemon died in): `fatbox restart %s`, or runc resume %s under the daemon's runc root, then snapshot it", name, name, inst)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return info, err
	}
	sweepSnapshotTemps(dir)
	tmp, err := os.MkdirTemp(dir, ".tmp-"+snap+"-")
	if err != nil {
		return info, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()

	info = SnapshotInfo{Name: snap, Container: name, Instance: inst, Created: time.Now().UTC(), Image: rec.Image, ImageID: rec.ImageID, Running: running}
	disks := []diskToCopy{{src: l.DiskImage(), dst: filepath.Join(tmp, "disk.img")}}
	if len(rec.Volumes) > 0 {
		if err := os.Mkdir(filepath.Join(tmp, "volumes"), 0o700); err != nil {
			return info, err
		}
	}
	for _, v := range rec.Volumes {
		sv := &SnapshotVolume{Name: v.Name, Path: v.Path}
		disks = append(disks, diskToCopy{src: e.volumeImage(v.Name), dst: filepath.Join(tmp, "volumes", v.Name+".img"), vol: sv})
	}
	var need int64
	for i := range disks {
		var st unix.Stat_t
		if err := unix.Stat(disks[i].src, &st); err != nil {
			return info, fmt.Errorf("snapshot %q of %q: disk %s: %w", snap, name, disks[i].src, err)
		}
		need += st.Blocks * 512
		if disks[i].mounts, err = rootfs.MountsOfImage(disks[i].src); err != nil {
			return info, err
		}
	}
	if err := checkSpace(dir, need); err != nil {
		return info, fmt.Errorf("snapshot %q of %q: %w", snap, name, err)
	}
	copyAll := func() error {
		for i := range disks {
			st, err := rootfs.CopySparse(disks[i].dst, disks[i].src)
			if err != nil {
				return err
			}
			if disks[i].vol == nil {
				info.DiskSize, info.DiskCopied = st.Size, st.Copied
			} else {
				disks[i].vol.Size, disks[i].vol.Copied = st.Size, st.Copied
			}
			info.Copied += st.Copied
		}
		return nil
	}
	// A stopped container's disks are unmounted; one still mounted (a
	// volume some other tool holds) is frozen for the copy all the same.
	var mounts []string
	for _, d := range disks {
		if len(d.mounts) > 0 {
			mounts = append(mounts, d.mounts[0]) // one freeze per file system
		}
	}
	start := time.Now()
	if running || len(mounts) > 0 {
		info.Freeze, err = e.frozen(ctx, inst, running, mounts, copyAll)
	} else {
		err = copyAll()
	}
	info.Copy = time.Since(start)
	if err != nil {
		return info, fmt.Errorf("snapshot %q of %q (nothing kept): %w", snap, name, err)
	}
	for _, d := range disks {
		if d.vol != nil {
			info.Volumes = append(info.Volumes, *d.vol)
		}
	}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := writeSynced(filepath.Join(tmp, "meta.json"), b); err != nil {
		return info, err
	}
	if err := rootfs.SyncDir(tmp); err != nil {
		return info, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return info, fmt.Errorf("snapshot %q of %q: %w", snap, name, err)
	}
	return info, rootfs.SyncDir(dir)
}

// frozen runs fn with the container's processes paused (when running) and
// the file systems at mounts frozen, then thaws and resumes them, also when
// fn or a freeze fails; it returns how long they were frozen.
func (e *Engine) frozen(ctx context.Context, inst string, running bool, mounts []string, fn func() error) (took time.Duration, err error) {
	bg := context.Background() // thaw and resume even if ctx is cancelled
	// The intent first: a daemon that dies while they are frozen thaws
	// them at its next start (ThawInterrupted, from Reconcile).
	marker := e.freezeMarker(inst)
	b, _ := json.Marshal(freezeIntent{Running: running, Mounts: mounts})
	if err := os.WriteFile(marker, b, 0o600); err != nil {
		return 0, fmt.Errorf("record the freeze of %q: %w", inst, err)
	}
	start := time.Now()
	if running {
		if err := e.Runtime.Pause(ctx, inst); err != nil {
			return 0, errors.Join(err, os.Remove(marker))
		}
	}
	var thaws []func() error
	defer func() {
		defer func() {
			if err == nil {
				err = os.Remove(marker)
			}
		}()
		var errs []error
		for i := len(thaws) - 1; i >= 0; i-- {
			errs = append(errs, thaws[i]())
		}
		if running {
			errs = append(errs, e.Runtime.Resume(bg, inst))
		}
		took = time.Since(start)
		if rerr := errors.Join(errs...); rerr != nil {
			err = errors.Join(err, fmt.Errorf("and thawing it failed: %w", rerr))
		}
	}()
	// Processes first, then file systems: a process blocked writing to a
	// frozen file system could not be frozen by the cgroup freezer.
	for _, m := range mounts {
		thaw, err := rootfs.Freeze(m)
		if err != nil {
			return 0, err
		}
		thaws = append(thaws, thaw)
	}
	return 0, fn()
}

// freezeIntent is what frozen froze, kept in the state dir while frozen.
type freezeIntent struct {
	Running bool     `json:"running"`
	Mounts  []string `json:"mounts"`
}

func (e *Engine) freezeMarker(inst string) string { return filepath.Join(e.dir(inst), "freezing") }

// ThawInterrupted thaws and resumes what a snapshot or commit froze when
// the daemon died before it could (the state dir's freezing file says
// what): Reconcile calls it for every record of this node before it looks
// at runc's state, since a container left paused is neither running nor
// dead. Idempotent; nothing to do without the file.
func (e *Engine) ThawInterrupted(ctx context.Context, rec inventory.Record) error {
	inst := rec.InstanceKey()
	marker := e.freezeMarker(inst)
	b, err := os.ReadFile(marker)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var fi freezeIntent
	_ = json.Unmarshal(b, &fi) // a torn file: thaw what can be found
	if len(fi.Mounts) == 0 {
		fi.Mounts = []string{rootfs.Layout{Dir: e.dir(inst)}.DiskDir()}
	}
	var errs []error
	for _, m := range fi.Mounts {
		errs = append(errs, rootfs.Thaw(m))
	}
	if st, _, err := e.Runtime.State(ctx, inst); err != nil {
		errs = append(errs, err)
	} else if st == "paused" {
		errs = append(errs, e.Runtime.Resume(ctx, inst))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("thaw %q after an interrupted snapshot or commit: %w", rec.Name, err)
	}
	return os.Remove(marker)
}

// checkSpace refuses a copy of need bytes that the file system of dir has
// no room for (with 1% of it to spare), before anything is frozen.
func checkSpace(dir string, need int64) error {
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		return fmt.Errorf("statfs %s: %w", dir, err)
	}
	free := int64(s.Bavail) * s.Bsize
	spare := int64(s.Blocks) * s.Bsize / 100
	if need+spare > free {
		return conflictf("the copy needs %d MiB but the state dir's file system has %d MiB free: free space there, or remove old snapshots (`fatbox snapshot rm`)", need>>20, free>>20)
	}
	return nil
}

func writeSynced(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readSnapshot reads snapshot snap's meta.json.
func (e *Engine) readSnapshot(rec inventory.Record, snap string) (SnapshotInfo, error) {
	var info SnapshotInfo
	b, err := os.ReadFile(filepath.Join(e.snapshotsDir(rec), snap, "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return info, newKindError(ErrSnapshotNotFound, "container %q has no snapshot %q: `fatbox snapshot ls %s` lists them", rec.Name, snap, rec.Name)
	}
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("snapshot %q of %q: meta.json is corrupt: %w", snap, rec.Name, err)
	}
	return info, nil
}

// ListSnapshots lists container name's snapshots, oldest first.
func (e *Engine) ListSnapshots(ctx context.Context, name string) ([]SnapshotInfo, error) {
	rec, err := e.local(ctx, name)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(e.snapshotsDir(rec))
	if errors.Is(err, fs.ErrNotExist) {
		return []SnapshotInfo{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []SnapshotInfo{}
	for _, en := range ents {
		if strings.HasPrefix(en.Name(), ".") || !en.IsDir() {
			continue
		}
		info, err := e.readSnapshot(rec, en.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// RemoveSnapshot deletes a snapshot. It is renamed away first, so a crash
// mid-way never leaves a half-deleted snapshot that `snapshot ls` shows.
func (e *Engine) RemoveSnapshot(ctx context.Context, name, snap string) error {
	if err := ValidSnapshotName(snap); err != nil {
		return err
	}
	unlock := e.lock(name)
	defer unlock()
	rec, err := e.local(ctx, name)
	if err != nil {
		return err
	}
	if _, err := e.readSnapshot(rec, snap); err != nil {
		return err
	}
	dir := e.snapshotsDir(rec)
	gone := filepath.Join(dir, ".rm-"+snap)
	_ = os.RemoveAll(gone)
	if err := os.Rename(filepath.Join(dir, snap), gone); err != nil {
		return fmt.Errorf("remove snapshot %q of %q: %w", snap, name, err)
	}
	if err := rootfs.SyncDir(dir); err != nil {
		return err
	}
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("remove snapshot %q of %q (it is gone from the list; its files at %s are not): %w", snap, name, gone, err)
	}
	return nil
}

// RestoreSnapshot puts a stopped container's disks back as they were in
// the snapshot: the root disk, and each volume the snapshot holds (which
// must still be attached to it and unmounted). Volumes attached since are
// left alone. Refused while the container runs.
func (e *Engine) RestoreSnapshot(ctx context.Context, name, snap string) (RestoreResult, error) {
	var res RestoreResult
	if err := ValidSnapshotName(snap); err != nil {
		return res, err
	}
	unlock := e.lock(name)
	defer unlock()
	rec, err := e.local(ctx, name)
	if err != nil {
		return res, err
	}
	info, err := e.readSnapshot(rec, snap)
	if err != nil {
		return res, err
	}
	res.Snapshot = info
	inst := rec.InstanceKey()
	state, _, err := e.Runtime.State(ctx, inst)
	if err != nil {
		return res, err
	}
	if rec.Status != inventory.StatusStopped || state == "running" || state == "paused" {
		return res, conflictf("container %q is %s: a restore replaces its disks, so stop it first: `fatbox stop %s`, then `fatbox snapshot restore %s %s`", name, rec.Status, name, name, snap)
	}
	l := rootfs.Layout{Dir: e.dir(inst)}
	if _, disk, err := rootfs.Mounted(l); err != nil {
		return res, err
	} else if disk {
		return res, conflictf("the disk of stopped container %q is still mounted at %s: `fatbox stop %s` again to take it down, then restore", name, l.DiskDir(), name)
	}
	sdir := filepath.Join(e.snapshotsDir(rec), snap)
	type pair struct{ dst, src, tmp string }
	pairs := []pair{{dst: l.DiskImage(), src: filepath.Join(sdir, "disk.img")}}
	attached := map[string]bool{}
	for _, v := range rec.Volumes {
		attached[v.Name] = true
	}
	for _, v := range info.Volumes {
		if !attached[v.Name] {
			return res, conflictf("snapshot %q of %q holds volume %q, which is no longer attached to it: attach it again (or restore that volume's disk by hand from %s)", snap, name, v.Name, filepath.Join(sdir, "volumes", v.Name+".img"))
		}
		img := e.volumeImage(v.Name)
		if ms, err := rootfs.MountsOfImage(img); err != nil {
			return res, err
		} else if len(ms) > 0 {
			return res, conflictf("volume %q of %q is mounted at %s: nothing may use it during a restore", v.Name, name, strings.Join(ms, ", "))
		}
		pairs = append(pairs, pair{dst: img, src: filepath.Join(sdir, "volumes", v.Name+".img")})
	}
	start := time.Now()
	// Stage every copy beside its disk, then rename them all: a failure
	// while copying changes no disk.
	cleanup := func() {
		for _, p := range pairs {
			if p.tmp != "" {
				os.Remove(p.tmp)
			}
		}
	}
	for i := range pairs {
		p := &pairs[i]
		_ = rootfs.RemoveRestoreTemps(p.dst)
		p.tmp = filepath.Join(filepath.Dir(p.dst), "."+filepath.Base(p.dst)+".restore-"+snap)
		st, err := rootfs.CopySparse(p.tmp, p.src)
		if err != nil {
			p.tmp = ""
			cleanup()
			return res, fmt.Errorf("restore %q of %q (no disk changed): %w", snap, name, err)
		}
		res.Copied += st.Copied
	}
	for i, p := range pairs {
		if err := os.Rename(p.tmp, p.dst); err != nil {
			cleanup()
			return res, fmt.Errorf("restore %q of %q: %d of %d disks replaced, then: %w (run the restore again)", snap, name, i, len(pairs), err)
		}
		pairs[i].tmp = ""
		if err := rootfs.SyncDir(filepath.Dir(p.dst)); err != nil {
			return res, err
		}
	}
	res.Took = time.Since(start)
	if info.DiskSize>>20 != rec.DiskMiB || rec.PendingDiskMiB != 0 {
		rec.DiskMiB, rec.PendingDiskMiB = info.DiskSize>>20, 0
		res.DiskResized = true
		if err := e.Inventory.Put(ctx, rec); err != nil {
			return res, fmt.Errorf("restored %q of %q, but recording its disk size (%d MiB) failed: %w", snap, name, rec.DiskMiB, err)
		}
	}
	return res, nil
}
