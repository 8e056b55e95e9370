// Package units reads systemd unit files, SysV init scripts and pam_limits
// configuration for vmshim, the systemctl stand-in inside fat containers
// (tools/vmshim). It decides what a unit means; vmshim runs it.
//
// It is pure: no processes, no writes. Everything is read under a root
// directory (Loader.Root, "/" in a container, a t.TempDir() in tests) with
// symlinks resolved as if that root were "/": absolute link targets stay
// inside it and ".." stops at it. Enabling and disabling return the symlink
// changes as data (Change); the caller applies them.
//
// What it does:
//   - Load: the unit search path /etc/systemd/system, /run/systemd/system,
//     /usr/local/lib/systemd/system, /lib/systemd/system,
//     /usr/lib/systemd/system (first hit wins); a link to /dev/null or an
//     empty file masks; a link to a unit of another name is an alias (the
//     real unit is loaded by its own name, the asked name kept in Aliases);
//     "x@i.service" falls back to "x@.service"; drop-ins from <name>.d,
//     <alias>.d, <template>.d, dash prefixes ("a-.service.d") and
//     "service.d", applied in file-name order across directories, /etc over
//     /run over /lib for one name; specifiers (%n %N %p %P %i %I %j %J %f
//     %y %Y %t %S %C %L %E %T %V %h %u %U %g %G %s %H %l %q %m %b %v %a %o
//     %w %B %W %M %A %%), resolved per word after unquoting in command lines.
//   - Syntax (systemd.syntax(7)): "#"/";" comments, backslash continuation,
//     an empty assignment resets a list (ExecStart= in a drop-in), command
//     lines with quotes anywhere in a word, C escapes, the prefixes - @ : + !
//     !! in any order, a lone ";" between commands; booleans, time spans,
//     signals, Limit*= values ("soft:hard", infinity, K/M/G suffixes).
//   - A /etc/init.d script with no unit becomes a forking unit as
//     systemd-sysv-generator makes it (start/stop, reload when the script's
//     case lists it, RemainAfterExit, _SYSTEMCTL_SKIP_REDIRECT=1 so Debian's
//     init-functions hook does not call systemctl back); SysVLinks computes
//     update-rc.d's rc?.d links.
//   - Calendar: systemd.time(7) calendar events, checked against
//     systemd-analyze calendar (testdata/calendar.golden, both 2026 DST
//     changes in Europe/Berlin); a local time that occurs twice elapses once,
//     one skipped by DST is skipped.
//   - Conditions and asserts evaluated under the root; limits.conf rules as
//     Debian 12's pam_limits applies them (checked against the real module,
//     testdata/limits.golden): the user and uid ranges over @group and @gid
//     ranges over "*", later lines winning among equals; "*" and @group by
//     name never apply to root; "<domain> -" means no limits; KiB and
//     minutes converted.
//
// Every [Unit], [Service], [Install] and [Timer] directive of systemd 252 is
// one of (TestEveryDirectiveClassified checks the whole table):
//   - supported: the fields of Unit, Service and Timer;
//   - noted: accepted, not enforced, one line in Unit.Notes for systemctl to
//     show — sandboxing (Protect*, Private*, NoNewPrivileges, capability
//     sets, syscall and address-family filters, ReadWritePaths, ...: the
//     container is the sandbox), resource control (MemoryMax, CPUQuota,
//     TasksMax, OOMScoreAdjust, Slice, Delegate, IO*/CPU* weights: set them
//     on the fat container), scheduling (Nice= is supported; IOScheduling*,
//     CPUScheduling*, CPUAffinity are not), syslog levels and log rate
//     limits, WatchdogSec, RuntimeMaxSec, StartLimit*, dependencies that
//     name units other than targets (Requires, Wants, BindsTo, PartOf,
//     Conflicts, OnFailure, ...: neither started nor stopped with the
//     unit; After/Before and targets are recorded silently), unknown
//     directives in [Unit] and [Install] (systemd only warns about them);
//   - refused with an UnsupportedError that names the file, line and fix:
//     Type=dbus (also implied by BusName= without Type=), Type=notify-reload,
//     .socket units and Sockets=/OpenFile= (socket activation),
//     RootDirectory/RootImage and relatives, DynamicUser=yes, PAMName,
//     TTYPath, StandardInput other than null, tty/socket/fd output,
//     credentials handed to the service (LoadCredential=ID:PATH,
//     SetCredential; the optional LoadCredential=ID and ImportCredential are
//     noted), .path/.mount/.automount/.swap/... units, a second ExecStart=
//     outside Type=oneshot, Restart=always/on-success with oneshot,
//     fractional seconds and "~" ranges in calendars, and unknown [Service]
//     or [Timer] directives (a typo would otherwise change what
//     runs; an X- prefix marks a directive to ignore).
//
// Hazards:
//   - Stricter than systemd: systemd logs and ignores an invalid value or an
//     unknown [Service] directive and starts the unit anyway; here Load
//     fails with the place and the fix. A unit that runs on a VM can be
//     refused in a fat container until a drop-in fixes it.
//   - Enabled for a SysV script reads rc2-5.d S links and answers enabled or
//     disabled, as Debian's systemctl does, not systemd's "generated".
//   - LimitsFor returns Unchanged for a side no rule sets: apply results with
//     Rlimit.Over(current), never pass Unchanged to setrlimit. Debian's
//     pam_limits also resets every limit to PID 1's (/proc/1/limits) first;
//     a service the shim starts inherits PID 1's limits through supervisord
//     already, so the rules alone are returned. Raising a hard limit needs
//     CAP_SYS_RESOURCE, which a container may lack.
//   - Every expectation recorded from real systemd, systemctl, pam_limits
//     and systemd-sysv-generator has its generator in testdata/gen-*.py;
//     rerun them on a Debian 12 host after changing a case.
//   - ConditionVirtualization: a fat container is always a container
//     ("container-other" when nothing names the manager), where systemd
//     would say "none"; so units that skip containers skip here. In a
//     container ConditionKernelCommandLine= reads PID 1's command line, as
//     systemd does. TestConditionsAgainstSystemdAnalyze needs systemd-analyze
//     (package systemd) on the test machine.
//   - Calendar.Next uses the location of the time it is given unless the
//     expression names a zone: pass time.Now() (time.Local) in a container,
//     a fixed location in tests.
//   - Specifiers %u %U %g %G %h are root's, as for systemd's system manager
//     (not User=); %H and %m come from the Loader or the root's /proc and
//     /etc.
//   - Why not github.com/coreos/go-systemd/unit: it splits sections and
//     keys, but has none of the rest (drop-in reset semantics, command-line
//     quoting and prefixes, specifiers, templates, calendars), which is the
//     bulk of this package.
package units
