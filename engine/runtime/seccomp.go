package runtime

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Why a deny list on a default-allow filter, and not Docker's allow list:
//
// A fat container is used like a VM: people install whatever Debian packages
// they need (databases, JVMs, debuggers, build tools). An allow list breaks
// any of them the day it uses a syscall the list does not know yet (the
// allow list has to follow every kernel and glibc release), and the
// breakage shows as odd EPERMs far from their cause. What keeps a fat
// container in its box is the capability set (Docker's 14, never
// CAP_SYS_ADMIN), the namespaces and the masked /proc paths. The filter adds
// what capabilities cannot: it shuts off kernel interfaces that an
// unprivileged process may still reach (user namespaces and through them
// mount/unshare/setns, bpf, perf_event_open, userfaultfd, keyrings,
// io_uring) and it is a second wall for the ones a capability guards
// (modules, kexec, reboot, swap, clock, quotas, raw IO, open_by_handle_at),
// so that granting a capability by mistake does not open them too.
//
// The list is the set of calls Docker's default profile refuses to a
// container without CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_BOOT,
// CAP_SYS_TIME, CAP_SYS_PACCT, CAP_SYS_RAWIO, CAP_DAC_READ_SEARCH,
// CAP_SYSLOG and CAP_BPF/CAP_PERFMON, plus the calls it always refuses.
// Denied calls fail with EPERM, what the caller would see without the
// capability. Left allowed on purpose: chroot, setuid/setgid/setgroups,
// prctl and seccomp (sshd's privilege separation and its own sandbox),
// socket(AF_PACKET/raw) (ping, with CAP_NET_RAW), ptrace and
// process_vm_readv (strace, gdb, py-spy inside one's own container),
// name_to_handle_at (mount-point checks), clock_adjtime/adjtimex (reads; a
// write still needs CAP_SYS_TIME).
//
// clone is denied only when it asks for a new namespace (one rule per
// CLONE_NEW* flag, SCMP_CMP_MASKED_EQ: (flags & F) == F), so fork and
// threads work. clone3 passes its flags in a struct that seccomp cannot
// read, so clone3 fails with ENOSYS, as in Docker: glibc (2.34+) and
// others then fall back to clone, which is filtered.
//
// runc installs the filter just before it execs the init (and every
// `runc exec` process), after its own mounts, so runc is not affected.

// seccompArches are the ABIs a process on an x86_64 host can use.
var seccompArches = []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}

// deniedSyscalls fail with EPERM. Names unknown to the host's libseccomp are
// skipped by runc.
var deniedSyscalls = []string{
	// kernel code and boot: CAP_SYS_MODULE, CAP_SYS_BOOT
	"init_module", "finit_module", "delete_module", "create_module", "get_kernel_syms", "query_module",
	"kexec_load", "kexec_file_load", "reboot",
	// mounts and namespaces: CAP_SYS_ADMIN (clone is filtered by flag below)
	"mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig",
	"fsmount", "fspick", "mount_setattr", "setns", "unshare",
	// swap, quotas, accounting, NFS server, obsolete sysfs/sysctl: CAP_SYS_ADMIN, CAP_SYS_PACCT
	"swapon", "swapoff", "quotactl", "quotactl_fd", "acct", "nfsservctl", "lookup_dcookie",
	"sysfs", "_sysctl", "uselib", "ustat", "fanotify_init",
	// reachable without capabilities; big kernel attack surface
	"bpf", "perf_event_open", "userfaultfd", "add_key", "request_key", "keyctl",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	// files by handle (the "shocker" escape): CAP_DAC_READ_SEARCH
	"open_by_handle_at",
	// clock: CAP_SYS_TIME
	"settimeofday", "stime", "clock_settime", "clock_settime64",
	// raw IO, vm86, kernel log: CAP_SYS_RAWIO, CAP_SYSLOG
	"iopl", "ioperm", "vm86", "vm86old", "syslog",
}

// cloneNamespaceFlags are the clone flags that create a namespace.
var cloneNamespaceFlags = []uint64{
	unix.CLONE_NEWNS, unix.CLONE_NEWCGROUP, unix.CLONE_NEWUTS, unix.CLONE_NEWIPC,
	unix.CLONE_NEWUSER, unix.CLONE_NEWPID, unix.CLONE_NEWNET,
}

// Seccomp returns fatbox's default seccomp profile (a new value each call).
func Seccomp() *specs.LinuxSeccomp {
	eperm, enosys := uint(unix.EPERM), uint(unix.ENOSYS)
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: append([]specs.Arch(nil), seccompArches...),
		Syscalls: []specs.LinuxSyscall{
			{Names: append([]string(nil), deniedSyscalls...), Action: specs.ActErrno, ErrnoRet: &eperm},
			{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys},
		},
	}
	// x86 clone(flags, ...): flags is argument 0 (only s390 swaps it).
	for _, f := range cloneNamespaceFlags {
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
			Names: []string{"clone"}, Action: specs.ActErrno, ErrnoRet: &eperm,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: f, ValueTwo: f, Op: specs.OpMaskedEqual}},
		})
	}
	return s
}
