// API notes for vmshim (tools/vmshim), relative to the contract's sketch of
// this package. Every change is an addition; nothing was renamed or removed.
//
//   - LimitsFor: a side of an Rlimit that no limits.conf line sets (a "soft"
//     line alone, or a "hard" line alone) is the constant Unchanged. Apply a
//     result with want.Over(current): it fills Unchanged sides from the
//     current limit and lowers soft to hard, as pam_limits does. Do not pass
//     Unchanged to setrlimit.
//   - LimitsForUser(rules, LimitUser{Name, UID, GID, Groups, GIDs}) also
//     matches @gid ranges, and returns nil when a "<domain> -" line says
//     "no limits" for the user; LimitsFor(rules, user, uid, groups) wraps
//     it. Loader.LimitsForUser reads the rules and maps nofile "unlimited"
//     to /proc/sys/fs/nr_open as pam_limits does (setrlimit refuses
//     RLIM_INFINITY for nofile): prefer it.
//   - Service.StandardError is resolved: when unset or "inherit" it holds
//     StandardOutput's value, so it is never "inherit".
//   - Load of a masked unit returns a *Unit with Masked set and an error
//     wrapping ErrMasked.
//   - Enabled: a SysV script with no unit is "enabled" or "disabled" (from
//     /etc/rc[2-5].d S links, as Debian's systemctl prints through
//     systemd-sysv-install), never "generated"; "enabled-runtime" is
//     returned for links in /run/systemd/system.
//   - EnableChanges/DisableChanges of a SysV-only name return SysVLinks.
//     EnableChanges follows a vendor alias (/lib/.../mysql.service) but
//     refuses an alias link in /etc/systemd/system (sshd.service) and a
//     template with WantedBy= and no DefaultInstance=, as systemctl does.
//   - Behaviour matching systemd that callers may not expect:
//     Type=oneshot has no start timeout unless TimeoutStartSec= is set;
//     Unit.Aliases also lists alias symlinks found in the search path;
//     Unit.Description is "" when the unit has none (systemctl shows the
//     name); BusName= without Type= is Type=dbus (refused).
//   - Added: Loader.MachineID/BootID/KernelRelease and Loader.Parse;
//     Service.NotifyAccess, ExecSearchPath, FinalKillSignal, SendSIGHUP,
//     RestartForceExitStatus, RestartPreventSignals, RestartForceSignals,
//     IgnoreSIGPIPE, StandardInput, the *DirectoryMode fields;
//     Unit.RefuseManualStart/Stop; Timer.FixedRandomDelay; LSB.ShouldStart,
//     ShouldStop, SysInit; Condition.String, EvalConditions; Change.String.

package units

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Unit is a parsed unit with its drop-ins applied.
type Unit struct {
	Name    string   // "nginx.service", "getty@tty1.service", "logrotate.timer"
	Path    string   // file it was loaded from ("" if synthesized)
	DropIns []string // drop-in files applied, in order

	Description     string
	Documentation   []string
	Aliases         []string // the asked name if it is an alias, [Install] Alias=, alias symlinks in the search path
	WantedBy        []string // [Install] WantedBy=
	RequiredBy      []string // [Install] RequiredBy=
	Also            []string // [Install] Also=
	DefaultInstance string   // [Install] DefaultInstance=

	// Ordering and dependencies: recorded, not enforced.
	After, Before, Wants, Requires []string

	Conditions []Condition // Condition*= and Assert*= in order of assignment

	Service Service
	Timer   *Timer // for .timer units

	// Notes has one line per directive accepted but not enforced.
	Notes []string
	// RefuseManualStart/Stop: systemctl start/stop must refuse the unit.
	RefuseManualStart, RefuseManualStop bool
	SysV                                bool // synthesized from /etc/init.d/<name>
	// Masked: the unit file is a symlink to /dev/null (or empty). Load
	// returns ErrMasked with a *Unit carrying only Name, Path and Masked.
	Masked bool
}

// Condition is one Condition*= or Assert*= setting.
type Condition struct {
	Kind    string // "PathExists", "FileIsExecutable", ... (the directive minus its Condition/Assert prefix)
	Arg     string
	Negate  bool // "!" prefix
	Trigger bool // "|" prefix
	Assert  bool // Assert*= rather than Condition*=
}

// Service is the [Service] section (defaults filled in for every unit type).
type Service struct {
	Type string // simple (default), exec, forking, oneshot, notify, idle (treated as simple)

	ExecStartPre, ExecStart, ExecStartPost []Command
	ExecReload, ExecStop, ExecStopPost     []Command
	ExecCondition                          []Command

	// ExecSearchPath: where a bare program name is looked up (ExecSearchPath=); nil means
	// /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin as systemd does.
	ExecSearchPath  []string
	PIDFile         string
	NotifyAccess    string // "" (none given: main for notify), "none", "main", "exec", "all"
	RemainAfterExit bool
	GuessMainPID    bool // default true

	User, Group         string
	SupplementaryGroups []string

	Environment      []string // "K=V" in order of assignment
	EnvironmentFiles []EnvFile
	PassEnvironment  []string
	UnsetEnvironment []string

	WorkingDirectory         string // "~" means the user's home
	WorkingDirectoryOptional bool   // "-" prefix
	RootDirectory            string // always "": RootDirectory= is refused with an UnsupportedError

	Restart           string        // no (default), on-success, on-failure, on-abnormal, on-watchdog, on-abort, always
	RestartSec        time.Duration // default 100ms
	TimeoutStartSec   time.Duration // default 90s, none for Type=oneshot; 0 means none ("infinity")
	TimeoutStopSec    time.Duration // default 90s; 0 means none ("infinity")
	KillMode          string        // control-group (default), mixed, process, none
	KillSignal        syscall.Signal
	RestartKillSignal syscall.Signal
	FinalKillSignal   syscall.Signal // default SIGKILL
	SendSIGKILL       bool           // default true
	SendSIGHUP        bool

	SuccessExitStatus        []int
	SuccessSignals           []syscall.Signal
	RestartPreventExitStatus []int
	RestartForceExitStatus   []int
	RestartPreventSignals    []syscall.Signal // signal names in RestartPreventExitStatus=
	RestartForceSignals      []syscall.Signal // signal names in RestartForceExitStatus=
	IgnoreSIGPIPE            bool             // default true: start the process with SIGPIPE ignored

	// Limits keys are limits.conf item names: "nofile", "nproc", "memlock",
	// "core", "stack", "as", "cpu", "fsize", "data", "rss", "msgqueue",
	// "nice", "rtprio", "sigpending", "locks". Sizes are bytes, cpu seconds.
	Limits map[string]Rlimit
	UMask  *uint32
	Nice   *int

	StandardInput    string // "null" (default); only null is supported
	StandardOutput   string // "journal" default; "inherit", "null", "file:/p", "append:/p", "truncate:/p", "syslog", "journal" (kmsg and console map to journal)
	StandardError    string // "inherit" default (same as StandardOutput)
	SyslogIdentifier string

	// Directories created (under /run, /var/lib, /var/log, /var/cache, /etc)
	// and owned by User before start. Entries are relative paths.
	RuntimeDirectory, StateDirectory, LogsDirectory, CacheDirectory, ConfigurationDirectory                     []string
	RuntimeDirectoryMode, StateDirectoryMode, LogsDirectoryMode, CacheDirectoryMode, ConfigurationDirectoryMode uint32 // default 0755
	RuntimeDirectoryPreserve                                                                                    string // "no" (default), "yes", "restart"
}

// EnvFile is one EnvironmentFile= entry.
type EnvFile struct {
	Path     string
	Optional bool // "-" prefix
}

// Command is one Exec*= command line.
type Command struct {
	// Argv after unquoting; Argv[0] is the path run (absolute, or a bare
	// name to look up in PATH as systemd ≥239 does).
	Argv          []string
	Argv0         string // set when '@' was used: the argv[0] the process sees
	IgnoreFailure bool   // '-'
	Privileged    bool   // '+', '!' or '!!': runs as root, ignoring User=/Group=
	NoEnvExpand   bool   // ':'
	Raw           string // the line as written, for messages and systemctl cat/show
}

// Rlimit is a soft and a hard resource limit; Infinity means unlimited.
type Rlimit struct{ Soft, Hard uint64 }

// Infinity is an unlimited Rlimit value (RLIM_INFINITY).
const Infinity = ^uint64(0)

// Timer is the [Timer] section of a .timer unit.
type Timer struct {
	Unit               string // the unit it activates (default: same name .service)
	OnCalendar         []Calendar
	OnActiveSec        time.Duration
	OnBootSec          time.Duration
	OnStartupSec       time.Duration
	OnUnitActiveSec    time.Duration
	OnUnitInactiveSec  time.Duration
	Persistent         bool
	AccuracySec        time.Duration // default 1min
	RandomizedDelaySec time.Duration
	FixedRandomDelay   bool
	WakeSystem         bool
	RemainAfterElapse  bool // default true
}

// UnsupportedError says which directive a unit uses that the shim cannot
// honour; Load and Parse return it rather than a silently partial unit.
type UnsupportedError struct {
	Unit      string
	File      string
	Line      int
	Directive string
	Value     string
	Why       string
}

func (e *UnsupportedError) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	d := e.Directive
	if e.Value != "" {
		d += "=" + e.Value
	}
	if where != "" {
		return fmt.Sprintf("%s: %s (%s) is not supported: %s", e.Unit, d, where, e.Why)
	}
	return fmt.Sprintf("%s: %s is not supported: %s", e.Unit, d, e.Why)
}

// Sentinel errors (the accepted exception to "no package globals").
var (
	// ErrNotFound is wrapped by Load when no unit file or init script exists.
	ErrNotFound = errors.New("unit not found")
	// ErrMasked is wrapped by Load when the unit is masked.
	ErrMasked = errors.New("unit is masked")
)
