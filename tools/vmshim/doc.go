// Command vmshim is the static binary injected into every fat container as
// /.fatbox/vmshim: systemctl, service, chkconfig, update-rc.d, journalctl,
// reboot, shutdown, halt, poweroff, telinit and runlevel, all driving the
// container's supervisord (PID 1). It dispatches on the name it was called
// by (symlinks that firstboot makes); as "vmshim" the verb is its first
// argument (vmshim init, vmshim run-unit x.service, vmshim doctor).
//
// How units run: a unit x.service whose name or Alias= (minus .service) is
// an existing supervisord program (ssh.service → sshd, cron, rsyslog, any
// program an image declares) is that program. Any other unit becomes the
// program unit-x, whose command is always `/.fatbox/vmshim run-unit
// x.service`; run-unit is the unit's supervisor and writes its state to
// /run/vmshim/units/x.service.json at every transition, which systemctl
// reads. The program conf lives in /run/vmshim/supervisor/, included by
// supervisord.conf; its log, /var/log/supervisor/unit-x.log, is what
// journalctl -u shows. `vmshim init` (program fatbox-init) creates
// /run/systemd/system, starts the enabled units at boot and runs the
// timers.
//
// Hazards:
//   - supervisord v0.7.3 reload (supervisor.reloadConfig) keeps running
//     programs but STARTS every autostart=true program that is stopped, and
//     never picks up a changed [program] of an existing name. So unit
//     programs are autostart=false with a command that never changes, and
//     every reload is followed by a stop of each program that had run and
//     was down before it (reloadKeepingStopped), under /run/vmshim/lock
//     with the start that needed the reload. A program that never ran
//     (start time 0) is left alone: at boot it may be about to be
//     autostarted, and a stop then would cancel that for good. A program
//     stopped during its startsecs stays in Backoff for good, so vmshim
//     marks what it stops on purpose (/run/vmshim/stopped/<program>) and
//     shows it inactive; a start of such a program is asked again each
//     second while v0.7.3 still ignores it (up to 5 s after a short run).
//     A program removed from the confs is stopped by a reload: confs are
//     never removed.
//     For the same reason a program's stopwaitsecs (2×TimeoutStopSec+15 s,
//     covering ExecStop, the kill and ExecStopPost) is the one of its first
//     start in the boot: a TimeoutStopSec= raised later is capped by
//     run-unit with a warning (restart the container to apply it).
//   - v0.7.3 with startsecs=0 never leaves its run loop after the program
//     exits (it waits for a monitor goroutine it did not start): the program
//     shows Running forever and cannot be started again. Unit programs use
//     startsecs=1, so run-unit lives at least `linger` (2.2 s): under 1 s
//     supervisord would retry it as a failed start, and under 2 s it ignores
//     the next start for 5 s.
//   - v0.7.3 reports a program stopped by signal as Exited with exit
//     status -1; that is inactive, not failed. A program stopped during its
//     startsecs stays in Backoff for good: Backoff counts as down.
//   - supervisord reads run-unit's stdout through a pipe and sees run-unit
//     exit only when every holder of that pipe has closed it. The unit's
//     processes therefore write to a pipe of run-unit's own, which it copies
//     to supervisord's: a process left after stop (KillMode=process, an init
//     script's stray) would otherwise keep supervisord from ever seeing
//     run-unit exit (the program stays Running and cannot be started
//     again). Such a leftover gets EPIPE if it writes to stdout after its
//     run-unit is gone. A run-unit killed -9 is therefore seen at once and
//     restarted by supervisord (autorestart=unexpected); the new one ends
//     the old, unsupervised main process before starting the unit, and
//     systemctl reports a unit whose runner_pid is no longer its run-unit
//     as failed.
//   - run-unit is a child subreaper (PR_SET_CHILD_SUBREAPER), so a forking
//     daemon's orphans are re-parented to it: that is how the main PID of a
//     forking daemon without PIDFile= is found (the one process left below
//     run-unit once the tree settles; several: the oldest, with a log
//     line). It reaps with wait4(-1) in one place (reaper.go) and so never
//     uses os/exec, whose Wait would race with it.
//   - The SysV redirect loop: Debian's /lib/lsb/init-functions.d/40-systemd
//     sends `/etc/init.d/x start` to `systemctl start x` once
//     /run/systemd/system exists; the script run back by run-unit would
//     redirect again. Every command of a unit gets _SYSTEMCTL_SKIP_REDIRECT=1.
//     Images without the systemd package lack that hook: vmshim init writes
//     its own, /lib/lsb/init-functions.d/40-vmshim (only when 40-systemd is
//     absent), so `/etc/init.d/x start` of a script sourcing init-functions
//     runs as the tracked unit. A script that does not source
//     init-functions is not tracked when called directly: `service x stop`
//     of such a script (tracked inactive) runs its own stop.
//   - /sbin/init: Debian's invoke-rc.d blocks every start from package
//     scripts when /sbin/init is missing and there is no policy-rc.d. vmshim
//     init links it to vmshim where no file exists; called as init, vmshim
//     acts as telinit (never the boot loop, which is only `vmshim init`).
//     The boot loop holds /run/vmshim/init.lock: a second `vmshim init`
//     typed by hand refuses rather than start the units and fire every
//     timer twice.
//   - Power verbs never act on --help, -h (reboot/halt/poweroff/telinit;
//     for shutdown -h is power off, as systemd) or an unknown option: they
//     print usage. shutdown without a time means +1 minute, as systemd's.
//   - cron.daily vs timers: with /run/systemd/system present Debian's
//     /etc/cron.daily/{logrotate,dpkg,apt-compat} exit early, expecting
//     their .timer units. vmshim init runs every enabled timer (OnCalendar=,
//     OnBootSec=/OnStartupSec= from the container's start, OnActiveSec=,
//     OnUnitActiveSec=/OnUnitInactiveSec=, Persistent= with stamps in
//     /var/lib/systemd/timers). A missing stamp is created at first sight
//     without running (as systemd); a stamp older than the last elapse runs
//     the service at once. AccuracySec= and RandomizedDelaySec= are
//     ignored: a timer fires at its elapse. fatbox-init must not exit;
//     supervisord restarts it if it does.
//   - Limits: a unit's processes get the /etc/security/limits.conf entries
//     of its User= (pam_limits precedence, units.LimitsFor), overridden item
//     by item by the unit's Limit*=. systemd itself ignores limits.conf for
//     services; vmshim applies it because admins of the VMs these containers
//     replace raise nofile there and expect services to get it. A value above
//     the container's hard limit is lowered to it with a warning in the
//     unit's log naming the fix (fatbox update NAME --ulimit ...), never a
//     failed start.
//
// What is not systemd: no dependencies are enforced (After=/Before= only
// order the boot starts; Requires=/Wants= are not pulled in), no cgroups
// per unit (control-group KillMode means every process below run-unit), no
// sockets/paths/mounts, no journal (per-unit logs instead), no user
// managers; a main process that exits non-zero on the stop's SIGTERM
// (Java's 143) ends inactive, where systemd says failed unless
// SuccessExitStatus= lists it; shutdown +N writes no /run/nologin and no
// wall message; StandardOutput=file: is opened as root following links,
// as systemd does; NotifyAccess=all in effect (but MAINPID= is taken only
// from root or when it names a process of the unit: the notify socket is
// open to every user, and stop signals the main PID as root).
// A supervisord program the image autostarts (sshd, cron, rsyslog) is
// started by supervisord's config, not by unit links: `systemctl disable`
// or `mask` of it is recorded in /etc/fatbox/disabled-programs (under a
// lock), which fatbox's firstboot reads at each boot to write the program
// autostart=false; enable/unmask removes it. Without root the
// supervisord socket is closed: systemctl as another user reads the state
// files of unit-x programs and finds supervisord.conf's programs by their
// daemon's command line in /proc.
// Directives the units package does
// not support make the unit unloadable with a one-line message naming the
// directive: never a partial start. Directives accepted but not enforced
// are listed as notes in `systemctl status`.
//
// Tests: VMSHIM_ROOT moves every path vmshim reads or writes for itself
// (units, state, confs, logs, passwd, power) under a directory;
// VMSHIM_SUPERVISORD_SOCK and VMSHIM_BIN point at a test supervisord and
// binary. The unit's own processes use real paths.
package main
