package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/fatbox/fatbox/baseimages/units"
)

// exitErr is a systemctl failure: the message systemd prints and its exit code.
type exitErr struct {
	code int
	msg  string
}

func (e *exitErr) Error() string { return e.msg }

func fail(code int, format string, args ...any) *exitErr {
	return &exitErr{code: code, msg: fmt.Sprintf(format, args...)}
}

func jobFailed(unit, result string) *exitErr {
	why := "the control process exited with error code"
	switch result {
	case "timeout":
		why = "a timeout was exceeded"
	case "signal", "core-dump":
		why = "a fatal signal was delivered to the control process"
	case "start-limit-hit":
		why = "start of the service was attempted too often"
	case "resources":
		why = "of unavailable resources or another system error"
	case "protocol":
		why = "the service did not take the steps required by its unit configuration"
	}
	return fail(1, "Job for %s failed because %s.\nSee \"systemctl status %s\" and \"journalctl -xeu %s\" for details.", unit, why, unit, unit)
}

// loadFailure is the message for a unit that cannot be acted on; nil if it can.
func loadFailure(t target, action string) *exitErr {
	switch {
	case t.masked() && action != "stop":
		return fail(1, "Failed to %s %s: Unit %s is masked.", action, t.name, t.name)
	case t.driven():
		return nil
	case t.masked():
		return nil
	case t.notFound():
		if action == "stop" {
			return fail(5, "Failed to stop %s: Unit %s not loaded.", t.name, t.name)
		}
		return fail(5, "Failed to %s %s: Unit %s not found.", action, t.name, t.name)
	case t.unsupported() != nil:
		return fail(1, "%s", t.unsupported().Error())
	case t.loadErr != nil:
		return fail(1, "Failed to %s %s: %v", action, t.name, t.loadErr)
	}
	return nil
}

func (s *shim) start(t target, o sysOpts) *exitErr {
	if e := loadFailure(t, "start"); e != nil {
		return e
	}
	c := s.ctl()
	switch {
	case t.driven():
		unlock, err := s.lockRun()
		if err != nil {
			return fail(1, "Failed to start %s: %v", t.name, err)
		}
		s.markStopped(t.program, false)
		err = c.start(t.program, false)
		unlock()
		if err == nil && !o.noBlock {
			err = s.waitProgramStarted(t.program, 30*time.Second)
		}
		if err != nil {
			return fail(1, "Failed to start %s: %v", t.name, err)
		}
		if o.noBlock {
			return nil
		}
		p, _, err := c.info(t.program)
		if err != nil {
			return fail(1, "Failed to start %s: %v", t.name, err)
		}
		if v := programView(t.name, p, successCodes(t)); v.ActiveState == stFailed {
			return jobFailed(t.name, v.Result)
		}
		return nil
	case unitType(t.name) == "target":
		return nil
	case unitType(t.name) == "timer":
		return s.setTimerActive(t, true)
	case unitType(t.name) != "service":
		return fail(1, "Failed to start %s: vmshim runs .service and .timer units only; start the service it would activate instead", t.name)
	}
	return s.startUnitProgram(t, o)
}

func (s *shim) startUnitProgram(t target, o sysOpts) *exitErr {
	c := s.ctl()
	prog := programOf(t.name)
	if st, _, err := s.currentState(t.name); err == nil && st.runnerDied {
		s.cleanupDeadRunner(t.name, st)
	}
	old, _, err := s.currentState(t.name)
	if err != nil {
		return fail(1, "Failed to start %s: %v", t.name, err)
	}
	p, _, err := c.info(prog)
	if err != nil && !errors.Is(err, errNoSupervisord) {
		return fail(1, "Failed to start %s: %v", t.name, err)
	}
	if p.running() {
		switch old.ActiveState {
		case stActive, stActivating, stReloading:
			return nil // already started: systemd does nothing
		}
		// A runner still finishing (deactivating or lingering after the
		// unit ended): let it go before starting a new one.
		if err := s.stopProgramAndWait(prog, t.name, 30*time.Second); err != nil {
			return fail(1, "Failed to start %s: %v", t.name, err)
		}
	}
	// The conf, the reload and the start under one lock: another start's
	// reload re-stops every program that was down before it, which must
	// not catch this one between its reload and its start.
	unlock, err := s.lockRun()
	if err != nil {
		return fail(1, "Failed to start %s: %v", t.name, err)
	}
	err = s.ensureProgram(t.name, t.unit)
	if err == nil {
		err = c.start(prog, false)
	}
	unlock()
	if err != nil {
		return fail(1, "Failed to start %s: %v", t.name, err)
	}
	if o.noBlock {
		return nil
	}
	var deadline time.Time
	if ts := t.unit.Service.TimeoutStartSec; ts > 0 {
		deadline = time.Now().Add(ts + 10*time.Second)
	}
	lastKick := time.Now()
	for {
		st, ok, err := s.currentState(t.name)
		if err == nil && ok && st.InvocationID != "" && st.InvocationID != old.InvocationID {
			switch st.ActiveState {
			case stActive, stReloading:
				return nil
			case stInactive:
				if st.Result == "" || st.Result == "success" {
					return nil
				}
				return jobFailed(t.name, st.Result)
			case stFailed:
				return jobFailed(t.name, st.Result)
			}
		} else if time.Since(lastKick) > time.Second {
			// supervisord v0.7.3 ignores a start while its previous run of
			// the program is still winding down: ask again.
			lastKick = time.Now()
			if p, _, err := c.info(prog); err == nil && !p.running() {
				if unlock, err := s.lockRun(); err == nil {
					_ = c.start(prog, false)
					unlock()
				}
			}
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return jobFailed(t.name, "timeout")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopProgramAndWait stops a unit's runner and waits until supervisord
// shows it down.
func (s *shim) stopProgramAndWait(prog, unit string, limit time.Duration) error {
	c := s.ctl()
	if err := c.stop(prog, false); err != nil {
		return err
	}
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		p, _, err := c.info(prog)
		if err != nil {
			return err
		}
		if !p.running() {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not stop within %s: see journalctl -u %s", unit, limit, unit)
}

func (s *shim) stop(t target, o sysOpts) *exitErr {
	if e := loadFailure(t, "stop"); e != nil {
		return e
	}
	c := s.ctl()
	switch {
	case t.driven():
		s.markStopped(t.program, true)
		if err := c.stop(t.program, false); err != nil {
			return fail(1, "Failed to stop %s: %v", t.name, err)
		}
		if o.noBlock {
			return nil
		}
		if err := s.waitProgramDown(t.program, 60*time.Second); err != nil {
			return fail(1, "Failed to stop %s: %v", t.name, err)
		}
		return nil
	case unitType(t.name) == "target":
		return nil
	case unitType(t.name) == "timer":
		return s.setTimerActive(t, false)
	}
	prog := programOf(t.name)
	if st, _, err := s.currentState(t.name); err == nil && st.runnerDied {
		s.cleanupDeadRunner(t.name, st)
		return nil
	}
	p, known, err := c.info(prog)
	if err != nil {
		return fail(1, "Failed to stop %s: %v", t.name, err)
	}
	if !known || !p.running() {
		return nil
	}
	if err := c.stop(prog, false); err != nil {
		return fail(1, "Failed to stop %s: %v", t.name, err)
	}
	if o.noBlock {
		return nil
	}
	limit := 24 * time.Hour
	if t.unit != nil {
		limit = stopBound(t.unit.Service) + 5*time.Second
	}
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		st, _, err := s.currentState(t.name)
		if err == nil && (st.ActiveState == stInactive || st.ActiveState == stFailed) {
			return nil
		}
		if p, _, err := c.info(prog); err == nil && !p.running() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fail(1, "Failed to stop %s: it is still stopping after %s; see journalctl -u %s", t.name, limit, t.name)
}

// waitProgramStarted waits until a driven program is Running (or Fatal,
// or Exited after it ran: its own business). v0.7.3 ignores a start while
// its previous run is still winding down (up to 5 s after a program that
// ran under 2 s), so a program still down is asked again every second.
func (s *shim) waitProgramStarted(prog string, limit time.Duration) error {
	c := s.ctl()
	end := time.Now().Add(limit)
	lastKick := time.Now()
	for time.Now().Before(end) {
		p, _, err := c.info(prog)
		if err != nil {
			return err
		}
		switch st := strings.ToLower(p.Statename); {
		case st == "running", st == "fatal":
			return nil
		case st == "starting":
		case downState(st) && time.Since(lastKick) > time.Second:
			lastKick = time.Now()
			_ = c.start(prog, false)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("program %q did not start within %s: see its log in %s", prog, limit, logDir)
}

func (s *shim) waitProgramDown(prog string, limit time.Duration) error {
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		p, _, err := s.ctl().info(prog)
		if err != nil {
			return err
		}
		if !p.running() {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("program %q is still running after %s", prog, limit)
}

func (s *shim) restart(t target, o sysOpts) *exitErr {
	if e := loadFailure(t, "restart"); e != nil {
		return e
	}
	if e := s.stop(t, sysOpts{}); e != nil {
		return e
	}
	return s.start(t, o)
}

func (s *shim) isActiveNow(t target, progs []procInfo) bool {
	switch s.viewOf(t, progs).ActiveState {
	case stActive, stActivating, stReloading:
		return true
	}
	return false
}

// reload runs ExecReload= here, in systemctl, with $MAINPID.
func (s *shim) reload(t target, progs []procInfo, o sysOpts) *exitErr {
	if e := loadFailure(t, "reload"); e != nil {
		return e
	}
	v := s.viewOf(t, progs)
	if t.unit == nil || len(t.unit.Service.ExecReload) == 0 {
		if t.driven() && t.unit == nil {
			if err := s.ctl().signal(t.program, "HUP"); err != nil {
				return fail(1, "Failed to reload %s: %v", t.name, err)
			}
			return nil
		}
		return fail(1, "Failed to reload %s: Job type reload is not applicable for unit %s.", t.name, t.name)
	}
	if v.ActiveState != stActive && v.ActiveState != stReloading {
		return fail(1, "%s is not active, cannot reload.", t.name)
	}
	if err := s.runSync(t.unit, t.unit.Service.ExecReload, mainPIDEnv(v.MainPID), t.unit.Service.TimeoutStartSec, s.logOf(t)); err != nil {
		fmt.Fprintf(s.errw, "%s: %v\n", t.name, err)
		return jobFailed(t.name, "exit-code")
	}
	return nil
}

// runSync runs commands of a unit one after another, as its user, from
// systemctl (ExecReload=), appending their output to the unit's log.
func (s *shim) runSync(u *units.Unit, cmds []units.Command, extra map[string]string, timeout time.Duration, logPath string) error {
	x, err := s.buildExec(u, newInvocationID())
	if err != nil {
		return err
	}
	defer x.close()
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		logf = os.Stdout
	} else {
		defer logf.Close()
	}
	if err := s.openOutput(x, logf); err != nil {
		return err
	}
	for _, c := range cmds {
		pid, err := s.spawn(x, c, extra)
		if err != nil {
			if c.IgnoreFailure {
				continue
			}
			return err
		}
		ws, err := waitPidTimeout(pid, timeout)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Raw, err)
		}
		if !(ws.Exited() && ws.ExitStatus() == 0) && !c.IgnoreFailure {
			return fmt.Errorf("%s: %s", c.Raw, describeWait(ws))
		}
	}
	return nil
}

// waitPidTimeout waits for a child of this process; at the timeout it is
// killed (SIGTERM, then SIGKILL after 5 s).
func waitPidTimeout(pid int, timeout time.Duration) (syscall.WaitStatus, error) {
	type res struct {
		ws  syscall.WaitStatus
		err error
	}
	ch := make(chan res, 1)
	go func() {
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(pid, &ws, 0, nil)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			ch <- res{ws, err}
			return
		}
	}()
	var tc <-chan time.Time
	if timeout > 0 {
		tc = time.After(timeout)
	}
	select {
	case r := <-ch:
		return r.ws, r.err
	case <-tc:
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case r := <-ch:
			return r.ws, fmt.Errorf("timed out after %s", timeout)
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(pid, syscall.SIGKILL)
			r := <-ch
			return r.ws, fmt.Errorf("timed out after %s", timeout)
		}
	}
}

func describeWait(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("killed by signal %s", ws.Signal())
	}
	return fmt.Sprintf("wait status %d", ws)
}

// cleanupDeadRunner handles a unit whose run-unit died (kill -9, OOM): its
// processes run on unsupervised and hold run-unit's stdout, a pipe to
// supervisord, which therefore never sees run-unit exit and shows the
// program Running. Stop the program (so supervisord does not restart it
// when the pipe closes), end what the unit left behind (the old main
// process and its children: TERM, KILL after 5 s), and wait for
// supervisord to notice.
func (s *shim) cleanupDeadRunner(unit string, st unitState) {
	c := s.ctl()
	prog := programOf(unit)
	_ = c.stop(prog, false)
	if st.orphanMain > 0 {
		table, _ := readProcTable()
		pids := append([]int{st.orphanMain}, descendants(table, st.orphanMain)...)
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGTERM)
		}
		end := time.Now().Add(5 * time.Second)
		for time.Now().Before(end) && anyAlive(pids) {
			time.Sleep(100 * time.Millisecond)
		}
		for _, p := range pids {
			if alive(p) {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
	}
	_ = s.waitProgramDown(prog, 15*time.Second)
	st.ActiveState, st.SubState = stFailed, "failed"
	st.InactiveEnter = stamp(s.now())
	_ = s.writeState(st)
}

func anyAlive(pids []int) bool {
	for _, p := range pids {
		if alive(p) {
			return true
		}
	}
	return false
}
