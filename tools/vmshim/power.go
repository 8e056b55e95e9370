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
func (s *shim) power(verb string, args []string) int {
	if verb == "runlevel" {
		fmt.Fprintln(s.out, "N 5")
		return 0
	}
	req, when, cancel, err := parsePower(verb, args, s.now())
	if err != nil {
		fmt.Fprintf(s.errw, "%s: %v\n", verb, err)
		return 1
	}
	if cancel {
		return s.cancelShutdown(verb)
	}
	if req == "" {
		return 0 // telinit of a runlevel that changes nothing here
	}
	if _, err := os.Stat(s.path(powerDir)); err != nil {
		fmt.Fprintf(s.errw, "%s: %s is missing: this container was started by a fatbox without power support; run `fatbox restart NAME` (or `fatbox stop NAME`) on the host\n", verb, powerDir)
		return 1
	}
	if os.Getenv("VMSHIM_DELAY_UNTIL") != "" {
		delayUntil()
		os.Remove(s.path(shutdownPID))
	}
	if !when.IsZero() && when.After(s.now()) {
		return s.scheduleShutdown(verb, req, when)
	}
	if err := s.requestPower(req); err != nil {
		fmt.Fprintf(s.errw, "%s: %v\n", verb, err)
		return 1
	}
	return 0
}

// parsePower returns the request ("reboot" or "poweroff"), when it is due
// (zero: now) and whether this is `shutdown -c`.
func parsePower(verb string, args []string, now time.Time) (req string, when time.Time, cancel bool, err error) {
	switch verb {
	case "reboot":
		req = "reboot"
	case "halt", "poweroff":
		req = "poweroff"
	case "telinit":
		for _, a := range args {
			switch a {
			case "0":
				return "poweroff", time.Time{}, false, nil
			case "6":
				return "reboot", time.Time{}, false, nil
			case "1", "2", "3", "4", "5", "q", "Q", "u", "U", "s", "S":
				return "", time.Time{}, false, nil
			}
		}
		return "", time.Time{}, false, errors.New("usage: telinit 0|6 (only power off and reboot are meaningful in a fat container)")
	case "shutdown":
		req = "poweroff"
		var rest []string
		for _, a := range args {
			switch {
			case a == "-r" || a == "--reboot":
				req = "reboot"
			case a == "-h" || a == "-P" || a == "-H" || a == "--halt" || a == "--poweroff":
				req = "poweroff"
			case a == "-c":
				cancel = true
			case strings.HasPrefix(a, "-"):
				// -f, -n, -k, --no-wall ... accepted and ignored
			default:
				rest = append(rest, a)
			}
		}
		if cancel {
			return req, time.Time{}, true, nil
		}
		if len(rest) > 0 {
			when, err = parseShutdownTime(rest[0], now)
			if err != nil {
				return "", time.Time{}, false, err
			}
		}
		return req, when, false, nil
	}
	// reboot/halt/poweroff flags: -f --force -w --wtmp-only -n --no-wall -p
	for _, a := range args {
		if a == "-w" || a == "--wtmp-only" {
			return "", time.Time{}, false, nil
		}
	}
	return req, time.Time{}, false, nil
}

// parseShutdownTime reads "now", "+N" (minutes) and "HH:MM".
func parseShutdownTime(a string, now time.Time) (time.Time, error) {
	switch {
	case a == "now":
		return time.Time{}, nil
	case strings.HasPrefix(a, "+"):
		n, err := strconv.Atoi(a[1:])
		if err != nil || n < 0 {
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
	// anything else is the wall message
	return time.Time{}, nil
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
// when; `shutdown -c` kills it through the pid file.
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
	flag := "-h"
	if req == "reboot" {
		flag = "-r"
	}
	cmd := exec.Command(self, "shutdown", flag, "now")
	cmd.Env = append(os.Environ(), "VMSHIM_DELAY_UNTIL="+when.Format(time.RFC3339))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(s.errw, "%s: %v\n", verb, err)
		return 1
	}
	if err := writeFileAtomic(s.path(shutdownPID), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		fmt.Fprintf(s.errw, "%s: %v\n", verb, err)
	}
	_ = cmd.Process.Release()
	fmt.Fprintf(s.out, "%s scheduled for %s, use 'shutdown -c' to cancel.\n", map[string]string{"reboot": "Reboot", "poweroff": "Shutdown"}[req], when.Local().Format("Mon 2006-01-02 15:04:05 MST"))
	return 0
}

func (s *shim) cancelShutdown(verb string) int {
	b, err := os.ReadFile(s.path(shutdownPID))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(s.errw, "%s: %v\n", verb, err)
		return 1
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid > 1 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	os.Remove(s.path(shutdownPID))
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
