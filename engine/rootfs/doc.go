// Package rootfs gives a container a writable disk of a fixed size and the
// overlay root on top of its read-only image:
//
//	<Dir>/disk.img       sparse file, ext4 (CreateDisk)
//	<Dir>/disk           disk.img on a loop device (LO_FLAGS_AUTOCLEAR)
//	<Dir>/disk/upper     overlay upperdir  } on the sized disk, so the
//	<Dir>/disk/work      overlay workdir   } container's writes are bounded
//	<Dir>/rootfs         overlay: lowerdir=<image rootfs>, upper, work
//
// A bare disk (a data volume's: MountDisk, UnmountDisk, DiskMounted in
// disk.go) is the same disk.img mounted on <Dir>/disk with no overlay; an
// image is never bound to two loop devices at once (two ext4 superblocks
// over one file corrupt it): a device still bound to it is mounted again.
//
// The loop device is set up in Go (LOOP_CTL_GET_FREE, LOOP_SET_FD,
// LOOP_SET_STATUS64 with LO_FLAGS_AUTOCLEAR); nothing is shelled out except
// mkfs.ext4. Because of autoclear, the kernel frees the loop device when the
// disk is unmounted: there is no detach step to forget.
//
// Mount registers an undo for each step with a revert.Reverter, so a failed Mount
// leaves nothing mounted or attached. Mount and Unmount are idempotent;
// Unmount also clears loop devices a crash left bound to disk.img. Callers
// serialise calls per container (two concurrent Mounts of one Layout race).
//
// Hazards:
//
//   - Mount propagation: the mounts are made in the calling process's mount
//     namespace (the daemon's). If the state dir sits on a shared mount
//     (systemd makes / shared) they propagate to its peers, and any mount
//     namespace cloned while they exist (a container's, another tool's)
//     holds its own copy. Such a copy keeps the disk busy: Unmount then
//     waits in vain for the loop device and reports it, and Remove refuses.
//     Start the daemon in its own mount namespace, or make the state dir a
//     private/slave mount, and let runc use rslave/private propagation.
//   - The image dir must not change while a container using it is mounted:
//     overlayfs does not support changes to a lower layer under a mounted
//     overlay (the result is undefined). Content-addressed images in
//     baseimages never change in place; `image rm` is refused while in use.
//   - Disks under 512 MiB get one inode per 8 KiB (mkfs.ext4 -i 8192) instead
//     of mke2fs's "small" default of one per 4 KiB, so more of the disk is
//     usable space: a container with very many tiny files can run out of
//     inodes (ENOSPC with free blocks) before it runs out of blocks.
//   - A full disk stays inside the container: writes fail with ENOSPC in the
//     container, and the host filesystem holding disk.img only ever loses
//     at most the disk's size (the sparse file fills up to its length). The
//     disk is formatted with -m 0, so no blocks are reserved for root.
//   - A busy unmount falls back to MNT_DETACH (lazy): the mounts vanish from
//     the namespace at once, but the loop device (and the space of a removed
//     disk.img) is freed only when the last open file on it is closed.
//   - disk.img is trusted: the kernel's ext4 driver parses it. Never Mount a
//     disk image that came from outside (a container can only write through
//     the filesystem, not to the image bytes, while it is mounted).
//   - Paths with a comma, colon, backslash or whitespace are refused: the
//     overlay mount options cannot carry them.
package rootfs
