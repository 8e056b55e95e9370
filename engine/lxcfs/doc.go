// Package lxcfs runs lxcfs for fat containers and keeps its mounts alive, so
// free, uptime, top and nproc inside a container show the container's own
// limits instead of the host's.
//
// lxcfs is a FUSE file system. Manager.Ensure starts it on Manager.Dir, Mounts
// lists the bind mounts a container's OCI spec needs (Dir/proc/meminfo over
// /proc/meminfo and so on), Manager.Remount replaces those binds inside a
// running container and Manager.Watch does both whenever lxcfs has died.
//
// Hazards:
//   - Stale FUSE mounts. When lxcfs dies (crash, OOM kill, kill -9) every bind
//     of its files in every container stays mounted but each read fails with
//     ENOTCONN ("Transport endpoint is not connected"): free and top break.
//     Restarting lxcfs on the host does not help the binds that already exist;
//     they point at the dead FUSE connection. Each running container needs
//     fresh binds made inside its own mount namespace (Remount), and the stale
//     mount on Dir itself must be detached (MNT_DETACH) before lxcfs can
//     mount there again.
//   - Detached process. lxcfs runs in the foreground (-f, so the pid we start
//     is lxcfs and not a short-lived parent) in its own session, with stdin
//     /dev/null and stdout/stderr on Manager.Log — never a pipe, which would
//     make lxcfs die of SIGPIPE or block once the daemon is gone. It is not
//     tied to the daemon (no Pdeathsig, no context): it must survive the
//     daemon being killed -9, since running containers read it. A later
//     daemon finds it again as a healthy mount on Dir (and its pid in
//     Dir+".pid", which lxcfs keeps locked). A second lxcfs with the same pid
//     file refuses to start, so an unhealthy lxcfs left on Dir is killed
//     before a new one is started; only a process whose command line is lxcfs
//     on Dir is ever killed.
//   - Hung lxcfs. A stat on a FUSE mount whose daemon is stopped blocks until
//     the daemon answers. Healthy gives up after a few seconds and reports the
//     mount as unhealthy; the blocked thread stays until lxcfs answers or is
//     killed (Ensure then kills it).
//   - Thread tainted by setns. Entering a container's mount namespace is done
//     on a goroutine locked to its OS thread after unshare(CLONE_FS) (setns
//     into a mount namespace refuses a thread that shares its fs struct with
//     others). The thread is never unlocked, so the Go runtime ends it when
//     the goroutine returns and no other goroutine ever runs in the
//     container's mount namespace. It must not be the main thread: Go never
//     ends that one but parks it, so /proc/self (the thread group leader)
//     would show the container's mounts from then on and the dead
//     container's mount namespace, with its rootfs, would stay pinned. (The
//     tests caught this: lxcfs then looked unmounted.) The package reads
//     /proc/thread-self, never /proc/self. The new mounts are cloned on the host
//     (open_tree OPEN_TREE_CLONE, because Dir is not visible inside the
//     container) and attached with move_mount.
//   - Mount namespaces. lxcfs mounts Dir in the mount namespace the daemon
//     runs in; the daemon must run in the host's (no systemd PrivateMounts),
//     or runc, which binds from the host's, would not see it.
//   - cgroup v1. This host mounts cgroup v1 hierarchies (cpu, cpuacct, cpuset,
//     memory, ... each on its own) plus a cgroup2 at /sys/fs/cgroup/unified
//     holding only hugetlb, so lxcfs 5.0 reads memory.limit_in_bytes,
//     memory.memsw.limit_in_bytes and cpu.cfs_quota_us/cpu.cfs_period_us
//     from the v1 hierarchies. lxcfs answers for the cgroup of the init of the
//     reader's pid namespace (for a reader in the host pid namespace, the
//     reader itself). Without --enable-cfs, /proc/cpuinfo, /proc/stat and
//     /sys/devices/system/cpu/online follow only the cpuset, so a container
//     limited by CFS quota (fatbox's vCPUs) would still see every host CPU;
//     with it, lxcfs divides the quota by the period. lxcfs 5.0 looks the
//     quota up in the cpu hierarchy at the reader's cpuset cgroup path, so
//     it is only seen when the cgroup has the same path in cpu and cpuset —
//     as runc makes it (cgroupsPath /fatbox/<name> in every hierarchy).
//     --enable-loadavg makes lxcfs compute a per-cgroup /proc/loadavg.
package lxcfs
