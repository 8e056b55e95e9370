// Package limits is the one validation layer for a container's sizes and
// limits. The CLI (tools/fatbox) parses flags with it and the daemon checks
// API requests with it, so an API client cannot do what the CLI refuses.
// It is pure: no root, no I/O but ReadHost and ReadHostUlimits.
//
// Every refusal is an *Error that names the field (as the caller passes it:
// "--memory" from the CLI, "memory_bytes" from the daemon), the value, the
// rule and the fix:
//
//	--memory "2X": unknown unit "X": write a size like 512M, 2G or 2GiB (K, M, G, T; ...)
//
// It wraps ErrInvalid (Parse*, Check*, Overcommit.Validate: the value is
// wrong) or ErrOvercommit (Admit: the value is fine, the host is full), for
// errors.Is; the daemon maps them to "invalid" and "conflict".
//
// Parse* read what a person writes; Check* apply a field's rules to the
// number. The CLI runs both; the daemon, given numbers, runs the Check*
// and then Admit.
//
// # Sizes
//
// ParseSize reads "2G", "2g", "2GB", "2GiB", "2048M", "1.5G", "512 MiB"
// and plain bytes. The units are github.com/docker/go-units' RAMInBytes
// table: K, M, G, T, any case, with or without B or iB, all binary like
// docker, so 2GB is 2 GiB (2147483648 bytes), never 2×10⁹ and never 2
// bytes. go-units' rules fit for the units, so it decides those; they do
// not fit for the arithmetic, which this package does exactly (math/big):
// go-units multiplies in float64 and truncates, so "1.3G" loses 0.2 byte
// without a word, plain byte counts past 2^53 are rounded, and a size past
// int64 comes back as garbage with no error. On top of go-units this
// package refuses: empty, zero (leave the value out for "none"), negative,
// NaN/Inf and anything but digits with one decimal point (no exponents,
// hex or signs), junk after the unit ("2G junk"), P (a petabyte is no
// container's size), a size past int64, and a size that is not a whole
// number of bytes ("1.3G"; the error suggests "1331M").
//
// FormatSize writes a size exactly: "256 MiB", "2 GiB", "1.5 GiB", falling
// back to a smaller unit or bytes, so nothing is rounded away.
//
// # Rates
//
// ParseRate reads network rates like tc(8): "100mbit", "1gbit", "500kbit",
// "1000bit" or plain bits/s, decimal units (1mbit = 10⁶ bit/s), any case.
// go-units has no bit rates, so this table is written here, after tc's.
// tc's byte rates ("mbps" is megabytes/s in tc) are refused with a fix,
// as are IEC rates, zero, fractions of a bit and the rest ParseSize
// refuses. FormatRate writes them back ("1.5gbit").
//
// # Rules of each limit
//
//   - CPUs: at least MinCPUs = 0.01 (engine/runtime gives runc a CFS quota of
//     CPUs × 100000 µs per 100 ms period; the kernel's smallest quota is
//     1 ms), at most the host's CPU count (MaxCPUs = 8192 if unknown);
//     NaN, ±Inf, zero and negatives refused. No accepted value overflows
//     the quota.
//   - Memory: required, MinMemory = 64 MiB (a fat container's init, sshd and
//     cron), MaxMemory = 64 TiB, a whole number of MiB (the record keeps
//     MiB, as for disk).
//   - Disk: required, MinDisk = 64 MiB (engine/rootfs.MinSize: ext4 with a
//     journal works there), MaxDisk = 16 TiB (ext4's largest file with
//     4 KiB blocks: the disk is a sparse file on the state filesystem), a
//     whole number of MiB: the record keeps MiB exactly, so a size that is
//     not is refused with the two nearest sizes as the fix, never rounded.
//   - Swap (beyond memory): 0 for none, else a whole number of MiB up to
//     MaxSwap = 64 TiB. Memory and swap maxima keep memory+swap (runc's
//     memory.swap figure) inside int64.
//   - Network rate (bits/s): 0 for unlimited, else 64kbit..1tbit. Below
//     about 4 kbit/s the time tc's 128 KiB bucket takes to fill overflows
//     the kernel's 32-bit tick count (engine/network); 64 kbit keeps a 16x
//     margin.
//   - Disk bandwidth (bytes/s): 0 for unlimited, else 64 KiB/s..1 TiB/s
//     (less is a unit left out: "50" meaning 50M). Disk IOPS: 0 for
//     unlimited, else up to 100 million.
//
// # Ulimits
//
// ParseUlimit reads docker's --ulimit: NAME=SOFT:HARD or NAME=VALUE (both),
// NAME one of nofile, nproc, memlock, core, stack; a value is a number,
// "unlimited" (or -1), and memlock, core and stack are bytes (plain or with
// a binary unit, 64M), as docker takes them; `ulimit -l`/`-s` and
// limits.conf count those in KiB. CheckUlimit: soft at most hard, nofile
// 64..2^30 and never unlimited (the kernel caps it at fs.nr_open), nproc at
// least 16, stack at least 128 KiB. DefaultUlimits (nofile 65536, nproc and
// memlock unlimited, core 0:unlimited, stack 8M:unlimited) let the usual
// Java and database limits.conf entries work.
//
// What a host allows is HostUlimits (ReadHostUlimits, the second I/O
// function): runc sets a container's limits with the daemon's privileges,
// so without CAP_SYS_RESOURCE no hard limit can pass the daemon's own, and
// nofile never passes fs.nr_open. HostUlimits.Check refuses a limit above
// it naming the limit, the value, the host's figure and the fix (the
// daemon's LimitNOFILE= or `ulimit -Hn`); HostUlimits.Cap lowers the
// defaults to it without a word.
//
// Hazard: with no user namespace, RLIMIT_NPROC counts a uid's processes
// on the whole host (every container's uid 1000 together; root is exempt),
// so a finite nproc for a service user can be reached by other containers'
// processes of the same uid. The default is unlimited; the pids cgroup
// (4096 per container) is what caps a container.
//
// # Overcommit
//
// A node promises more than it has, as VMs' hypervisors do: the sum of its
// containers' limits may reach ratio × the host's amount (the ceiling),
// never pass it. The defaults (DefaultOvercommit; the daemon's config key
// overcommit: {cpu: 4, memory: 1.5, disk: 4}):
//
//   - cpu 4 × the host's CPUs: a CPU limit is a quota, most fat containers
//     idle, and a busy host only slows them down, it breaks nothing.
//   - memory 1.5 × the host's MemTotal: memory is not given back when
//     short, the OOM killer takes it; limits are ceilings seldom all
//     reached, so a little overcommit is safe, and the ratio is capped at
//     MaxMemoryOvercommit = 4.
//   - disk 4 × the size of the filesystem holding the state dir: disks are
//     sparse files that take only what is written, so the sum of their
//     sizes really can exceed the filesystem. A single disk larger than
//     the filesystem is refused whatever the ratio: it could never be
//     filled.
//
// Admit refuses a create that would pass a ceiling, with the figures and
// the fix (a smaller size, remove containers, or raise the ratio in
// /etc/fatbox/fatbox.yaml). Figures gives each resource's use against its
// ceiling for `fatbox status`. CPUs are summed in units of 10⁻⁵ CPU (the
// quota's 1 µs), so a sum of fractional CPUs is exact at the ceiling.
package limits
