package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// power handles reboot, shutdown, halt, poweroff, telinit and runlevel.
// --help (and -h where it is not shutdown's "halt") prints usage and an
// unknown option is refused: never power off a container on a typo.
func (s *shim) power(verb string, args []string) int {
	pc, err := parsePower(verb, args, s.now())
	if err != nil {
		fmt.Fprintf(s.errw, "%s: %v\n%s", verb, err, powerUsage(verb))
		return 1
	}
	switch {
	case pc.help:
		fmt.Fprint(s.out, powerUsage(verb))
		return 0
	case verb == "runlevel":
		// multi-user.target (systemctl get-default) is runlevel 3, as
		// systemd's runlevel reports it.
		fmt.Fprintln(s.out, "N 3")
		return 0
	case (pc.cancel || pc.req != "" && !pc.dryRun && !pc.show) && os.Geteuid() != 0:
		// supervisord (PID 1) runs as root: a user's kill(1) fails, after
		// the request file would have been written for the next stop.
		fmt.Fprintf(s.errw, "%s: Access denied: only root can reboot or power off this container (use sudo)\n", verb)
		return 1
	case pc.cancel:
		return s.cancelShutdown(verb)
	case pc.show:
		return s.showShutdown()
	case pc.reload:
		s.signalInit() // telinit q is systemctl daemon-reload
		return 0
	case pc.req == "":
		return 0 // telinit of a runlevel that changes nothing here, reboot -w
	case pc.dryRun:
		fmt.Fprintf(s.errw, "%s: -k: only the wall message; the container keeps running\n", verb)
		return 0
	}
	if _, err := os.Stat(s.path(powerDir)); err != nil {
		fmt.Fprintf(s.errw, "%s: %s is missing: this container was started by a fatbox without power support; run `fatbox restart NAME` (or `fatbox stop NAME`) on the host\n", verb, powerDir)
		return 1
	}
	if os.Getenv("VMSHIM_DELAY_UNTIL") != "" {
		delayUntil()
		if p, _, _, err := s.readShutdownPID(); err == nil && p == os.Getpid() {
			os.Remove(s.path(shutdownPID))
		}
	}
	if !pc.when.IsZero() && pc.when.After(s.now()) {
		return s.scheduleShutdown(verb, pc.req, pc.when)
	}
	if err := s.requestPower(pc.req); err != nil {
		fmt.Fprintf(s.errw, "%s: %v\n", verb, err)
		return 1
	}
	return 0
}

// powerCmd is a parsed power command line.
type powerCmd struct {
	req    string    // "reboot", "poweroff" or "" (nothing to do)
	when   time.Time // zero: now
	cancel bool      // shutdown -c
	show   bool      // shutdown --show
	dryRun bool      // shutdown -k
	help   bool      // --help
	reload bool      // telinit q: re-read the configuration (daemon-reload)
}

// parsePower reads the options of systemd 252's halt/reboot/poweroff,
// shutdown, telinit and runlevel. Unknown options are an error.
func parsePower(verb string, args []string, now time.Time) (powerCmd, error) {
	var pc powerCmd
	var rest []string
	noMoreOpts := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if noMoreOpts || a == "-" || !strings.HasPrefix(a, "-") {
			rest = append(rest, a)
			continue
		}
		if a == "--" {
			noMoreOpts = true
			continue
		}
		if a == "--help" {
			pc.help = true
			continue
		}
		for _, o := range splitPowerOpts(a) {
			switch verb {
			case "reboot", "halt", "poweroff":
				switch o {
				case "-h", "--help":
					// systemd takes -h as a no-op; here it is help, as
					// whoever types `reboot -h` means.
					pc.help = true
				case "--halt", "-p", "--poweroff":
					if verb != "reboot" || o == "--halt" {
						pc.req = "poweroff"
					}
				case "--reboot":
					pc.req = "reboot"
				case "-w", "--wtmp-only":
					pc.dryRun = true
				case "-f", "--force", "-d", "--no-wtmp", "-n", "--no-sync", "--no-wall", "-i":
				default:
					return powerCmd{}, fmt.Errorf("unknown option %q", o)
				}
			case "shutdown":
				switch o {
				case "-r", "--reboot":
					pc.req = "reboot"
				case "-h", "-P", "-H", "--halt", "--poweroff":
					pc.req = "poweroff"
				case "-c":
					pc.cancel = true
				case "-k", "--dry-run":
					pc.dryRun = true
				case "--show":
					pc.show = true
				case "-t":
					i++ // compatibility no-op with an argument
				case "--no-wall", "-a", "-f", "-F", "-K":
				default:
					return powerCmd{}, fmt.Errorf("unknown option %q", o)
				}
			case "telinit", "runlevel":
				if o == "-h" {
					pc.help = true
				} else if o != "--no-wall" || verb == "runlevel" {
					return powerCmd{}, fmt.Errorf("unknown option %q", o)
				}
			}
		}
	}
	if pc.help {
		return powerCmd{help: true}, nil
	}
	switch verb {
	case "runlevel":
		if len(rest) > 0 {
			return powerCmd{}, fmt.Errorf("too many arguments %q", rest)
		}
		return pc, nil
	case "telinit":
		if len(rest) != 1 {
			return powerCmd{}, errors.New("expects exactly one runlevel: 0 (power off) or 6 (reboot); the others change nothing in a fat container")
		}
		switch rest[0] {
		case "0":
			pc.req = "poweroff"
		case "6":
			pc.req = "reboot"
		case "q", "Q":
			pc.reload = true
		case "1", "2", "3", "4", "5", "u", "U", "s", "S":
		default:
			return powerCmd{}, fmt.Errorf("unknown runlevel %q: use 0 (power off) or 6 (reboot)", rest[0])
		}
		return pc, nil
	case "shutdown":
		if pc.req == "" {
			pc.req = "poweroff"
		}
		if pc.cancel || pc.show {
			return pc, nil
		}
		// "+1" is implied without a time, as systemd's shutdown does.
		spec := "+1"
		if len(rest) > 0 {
			spec = rest[0]
		}
		when, err := parseShutdownTime(spec, now)
		if err != nil {
			return powerCmd{}, err
		}
		pc.when = when
		return pc, nil
	}
	if len(rest) > 0 {
		return powerCmd{}, fmt.Errorf("too many arguments %q", rest)
	}
	if pc.dryRun { // -w: only the wtmp record, nothing to do here
		return powerCmd{}, nil
	}
	if pc.req == "" {
		pc.req = map[string]string{"reboot": "reboot", "halt": "poweroff", "poweroff": "poweroff"}[verb]
	}
	return pc, nil
}

// splitPowerOpts splits "-rf" into "-r" "-f"; long options stay whole.
func splitPowerOpts(a string) []string {
	if strings.HasPrefix(a, "--") {
		return []string{a}
	}
	var out []string
	for _, c := range a[1:] {
		out = append(out, "-"+string(c))
	}
	return out
}

// powerUsage is the usage text of a power verb.
func powerUsage(verb string) string {
	switch verb {
	case "shutdown":
		return "usage: shutdown [-r|-h|-P|-H] [-k] [--no-wall] [TIME] [WALL...]; shutdown -c; shutdown --show\n" +
			"  TIME: now, +MINUTES or HH:MM (default +1); -r reboots, -h/-P/-H power off the container\n"
	case "telinit":
		return "usage: telinit 0|6 (power off or reboot the container; other runlevels change nothing)\n"
	case "runlevel":
		return "usage: runlevel (prints N 3: multi-user.target)\n"
	}
	return fmt.Sprintf("usage: %s [--reboot|--halt|-p] [-f] [-w] [--no-wall]\n"+
		"  %s the container now (the daemon restarts it with the same identity, or leaves it stopped)\n",
		verb, map[string]string{"reboot": "reboots", "halt": "powers off", "poweroff": "powers off"}[verb])
}

// parseShutdownTime reads "now", "+N" or "N" (minutes) and "HH:MM".
func parseShutdownTime(a string, now time.Time) (time.Time, error) {
	switch {
	case a == "now":
		return time.Time{}, nil
	case !strings.Contains(a, ":"):
		// "+N" or a bare "N": minutes, as systemd's (strtoull) reads it.
		n, err := strconv.Atoi(strings.TrimPrefix(a, "+"))
		if err != nil || n < 0 || n > 525600 || strings.HasPrefix(a, "+-") {
			return time.Time{}, fmt.Errorf("invalid time %q: use now, +MINUTES or HH:MM", a)
		}
		if n == 0 {
			return time.Time{}, nil
		}
		return now.Add(time.Duration(n) * time.Minute), nil
	case strings.Contains(a, ":"):
		t, err := time.ParseInLocation("15:04", a, now.Location())
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid time %q: use now, +MINUTES or HH:MM", a)
		}
		at := time.Date(now.Year(), now.Month(), now.Day(), t.Hour(), t.Minute(), 0, 0, now.Location())
		if !at.After(now) {
			at = at.Add(24 * time.Hour)
		}
		return at, nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q: use now, +MINUTES or HH:MM (a wall message goes after the time)", a)
}

// requestPower writes the request for the daemon and asks supervisord
// (PID 1) to stop everything.
func (s *shim) requestPower(req string) error {
	dir := s.path(powerDir)
	if err := writeFileAtomic(filepath.Join(dir, "request"), []byte(req+"\n"), 0o644); err != nil {
		return fmt.Errorf("%w: the host cannot learn why the container stops; run `fatbox restart NAME` on the host instead", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	if os.Getenv("VMSHIM_NO_KILL_INIT") != "" { // tests
		return nil
	}
	if err := syscall.Kill(1, syscall.SIGTERM); err != nil {
		return fmt.Errorf("signalling PID 1 (supervisord): %w", err)
	}
	return nil
}

// scheduleShutdown starts a detached `vmshim shutdown` that sleeps until
// when; `shutdown -c` kills it through the pid file. A shutdown scheduled
// earlier is replaced, as systemd does.
func (s *shim) scheduleShutdown(verb, req string, when time.Time) int {
	if err := os.MkdirAll(s.path(runDir), 0o755); err != nil {
		fmt.Fprintf(s.errw, "%s: %v\n", verb, err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(s.errw, "%s: %v\n", verb, err)
		return 1
	}
	if code := s.cancelShutdown(verb); code != 0 {
		return code
	}
	flag := "-h"
	if req == "reboot" {
		flag = "-r"
	}
	cmd := exec.Command(self, "shutdown", flag, "now")
	cmd.Args[0] = "vmshim"
	cmd.Env = append(os.Environ(), "VMSHIM_DELAY_UNTIL="+when.Format(time.RFC3339))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(s.errw, "%s: %v\n", verb, err)
		return 1
	}
	line := fmt.Sprintf("%d %s %s\n", cmd.Process.Pid, req, when.Format(time.RFC3339))
	if err := writeFileAtomic(s.path(shutdownPID), []byte(line), 0o644); err != nil {
		fmt.Fprintf(s.errw, "%s: %v (shutdown -c cannot cancel it: kill %d)\n", verb, err, cmd.Process.Pid)
	}
	_ = cmd.Process.Release()
	fmt.Fprintf(s.out, "%s scheduled for %s, use 'shutdown -c' to cancel.\n", map[string]string{"reboot": "Reboot", "poweroff": "Shutdown"}[req], when.Local().Format("Mon 2006-01-02 15:04:05 MST"))
	return 0
}

// readShutdownPID reads /run/vmshim/shutdown.pid: "PID REQ WHEN".
func (s *shim) readShutdownPID() (pid int, req string, when time.Time, err error) {
	b, err := os.ReadFile(s.path(shutdownPID))
	if err != nil {
		return 0, "", time.Time{}, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, "", time.Time{}, fmt.Errorf("%q is empty", shutdownPID)
	}
	pid, err = strconv.Atoi(f[0])
	if err != nil {
		return 0, "", time.Time{}, fmt.Errorf("reading %q: %w", shutdownPID, err)
	}
	if len(f) >= 3 {
		req = f[1]
		when, _ = time.Parse(time.RFC3339, f[2])
	}
	return pid, req, when, nil
}

// isScheduledShutdown says whether pid is still a vmshim waiting to shut
// down (and not a process that got its pid since).
func isScheduledShutdown(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if strings.HasPrefix(kv, "VMSHIM_DELAY_UNTIL=") {
			return true
		}
	}
	return false
}

func (s *shim) cancelShutdown(verb string) int {
	pid, _, _, err := s.readShutdownPID()
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(s.errw, "%s: %v\n", verb, err)
		return 1
	}
	if pid > 1 && isScheduledShutdown(pid) {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	os.Remove(s.path(shutdownPID))
	return 0
}

// showShutdown is `shutdown --show`.
func (s *shim) showShutdown() int {
	pid, req, when, err := s.readShutdownPID()
	if err != nil || !isScheduledShutdown(pid) || when.IsZero() {
		fmt.Fprintln(s.errw, "No scheduled shutdown.")
		return 0
	}
	fmt.Fprintf(s.out, "%s scheduled for %s, use 'shutdown -c' to cancel.\n", map[string]string{"reboot": "Reboot", "poweroff": "Shutdown"}[req], when.Local().Format("Mon 2006-01-02 15:04:05 MST"))
	return 0
}

// delayUntil is the scheduled child's wait: it sleeps, then does the request.
func delayUntil() {
	v := os.Getenv("VMSHIM_DELAY_UNTIL")
	if v == "" {
		return
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		time.Sleep(time.Until(t))
	}
}
