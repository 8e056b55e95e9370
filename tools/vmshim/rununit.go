package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/baseimages/units"
)

// runner is `vmshim run-unit x.service`: the unit's supervisor, one
// process per unit, run by supervisord as program unit-x.
type runner struct {
	s        *shim
	u        *units.Unit
	svc      units.Service
	name     string
	st       unitState
	x        *execCtx
	reap     *reaper
	stopReq  chan struct{}
	stopOnce sync.Once
	notify   *notifySock
	starts   []time.Time
	born     time.Time
	self     int
	control  map[int]bool // control commands running now (not the main process)
	out      *os.File     // where the unit's processes and run-unit's own lines write
	restarts bool         // the current stop is part of an automatic restart

	pidFileRefused bool // logged once: PIDFile= named a process outside the unit
}

// linger is how long run-unit lives at least. supervisord v0.7.3 (with
// the startsecs=1 of unit programs) takes a program that exits within 1 s
// as failed to start and runs it again; and it keeps a program that ran
// under 2 s in its start loop for 5 s more, ignoring starts meanwhile, so
// a quick exit would swallow the next systemctl start.
const linger = 2200 * time.Millisecond

func (s *shim) runUnit(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(s.errw, "usage: vmshim run-unit UNIT (supervisord runs this; use systemctl start UNIT)")
		return 2
	}
	r := &runner{s: s, name: unitName(args[0]), reap: newReaper(), stopReq: make(chan struct{}), born: time.Now(), self: os.Getpid(), control: map[int]bool{}}
	defer r.lingerOn()
	r.st = unitState{Unit: r.name, RunnerPID: r.self, InvocationID: newInvocationID(), Result: "success"}
	if old, ok, _ := s.readState(r.name); ok {
		r.st.ActiveEnter, r.st.ActiveExit, r.st.InactiveEnter = old.ActiveEnter, old.ActiveExit, old.InactiveEnter
		r.reapOrphanedMain(old)
	}
	u, err := s.loader.Load(r.name)
	if err != nil {
		r.st.Message = err.Error()
		r.logf("%v", err)
		r.set(stFailed, "failed", "resources")
		return 0
	}
	r.u, r.svc = u, u.Service
	r.capStopTimeout()
	// The unit's processes write to a pipe run-unit copies to its stdout
	// (supervisord's pipe to the log), not to that pipe itself: a process
	// left running after the unit stopped (KillMode=process, an init
	// script's stray) would otherwise keep supervisord's pipe open, and
	// supervisord would never see run-unit exit, nor start it again.
	pr, pw, err := os.Pipe()
	if err != nil {
		r.logf("%v", err)
		r.set(stFailed, "failed", "resources")
		return 0
	}
	r.out = pw
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(os.Stdout, pr); close(copied) }()
	defer func() {
		// Flush what the unit wrote; leftovers holding the pipe do not block the exit.
		pw.Close()
		select {
		case <-copied:
		case <-time.After(200 * time.Millisecond):
		}
	}()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		r.logf("warning: PR_SET_CHILD_SUBREAPER: %v: a forking daemon's main PID may not be found", err)
	}
	if r.svc.UMask != nil {
		syscall.Umask(int(*r.svc.UMask))
	} else {
		syscall.Umask(0o022)
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGCHLD {
				r.reap.reapAll()
				continue
			}
			r.stopOnce.Do(func() { close(r.stopReq) })
		}
	}()
	go func() { // a SIGCHLD coalesced with another must not be lost for long
		for range time.Tick(time.Second) {
			r.reap.reapAll()
		}
	}()
	r.loop()
	if r.notify != nil {
		r.notify.close()
	}
	return 0
}

func (r *runner) lingerOn() {
	select {
	case <-r.stopReq:
		return // asked to stop (supervisord's stop, the container's end): no one waits for Running
	default:
	}
	if d := linger - time.Since(r.born); d > 0 {
		select {
		case <-time.After(d):
		case <-r.stopReq:
		}
	}
}

func (r *runner) logf(format string, args ...any) {
	out := r.out
	if out == nil {
		out = os.Stdout
	}
	fmt.Fprintf(out, "vmshim: %s\n", fmt.Sprintf(format, args...))
}

func (r *runner) stopping() bool {
	select {
	case <-r.stopReq:
		return true
	default:
		return false
	}
}

// set records a transition and writes the state file.
func (r *runner) set(active, sub, result string) {
	now := stamp(time.Now())
	prev := r.st.ActiveState
	if prev != active {
		switch {
		case active == stActive:
			r.st.ActiveEnter = now
		case prev == stActive || prev == stReloading:
			r.st.ActiveExit = now
		}
		switch {
		case active == stInactive || active == stFailed:
			r.st.InactiveEnter = now
		case prev == "" || prev == stInactive || prev == stFailed:
			r.st.InactiveExit = now
		}
	}
	r.st.ActiveState, r.st.SubState = active, sub
	if result != "" {
		r.st.Result = result
	}
	if err := r.s.writeState(r.st); err != nil {
		r.logf("warning: %v", err)
	}
}

// phase is how a start attempt ended.
type phase int

const (
	phRunning   phase = iota // active with a main process to watch
	phExited                 // active (exited): RemainAfterExit, or no main process
	phDone                   // finished successfully (oneshot, or forking with nothing left)
	phCondition              // a condition failed: inactive, not an error
	phFailed                 // failed with r.fail
	phStopped                // a stop came during the start
)

// loop starts the unit, supervises it and applies Restart= until it is
// stopped or ends for good.
func (r *runner) loop() {
	for {
		if startLimitHit(r.starts, time.Now()) {
			r.logf("Start request repeated too quickly for %s (%d starts within %s); refusing to start. Fix the unit, then systemctl reset-failed %s && systemctl start %s", r.name, startLimitBurst, startLimitInterval, r.name, r.name)
			r.set(stFailed, "failed", "start-limit-hit")
			return
		}
		r.starts = append(r.starts, time.Now())
		ph, fail := r.start()
		var ex exitInfo
		switch ph {
		case phCondition:
			r.set(stInactive, "dead", "success")
			return
		case phStopped:
			r.stopped(r.stopSequence(false))
			return
		case phDone:
			// As systemd: a finished oneshot (no RemainAfterExit=) is
			// stopped: ExecStop=, what it left running is killed per
			// KillMode=, then ExecStopPost=.
			ex = exitInfo{Result: "success", Code: "exited", Clean: true}
			r.stopSequenceAfterExit(ex)
		case phExited:
			<-r.stopReq
			r.stopped(r.stopSequence(true))
			return
		case phFailed:
			ex = fail
			r.cleanupAfter(ex)
		case phRunning:
			var stopped bool
			ex, stopped = r.supervise()
			if stopped {
				r.stopped(ex.Result)
				return
			}
		}
		if !r.stopping() && shouldRestart(r.svc, ex) {
			r.st.Result = ex.Result
			r.set(stActivating, "auto-restart", ex.Result)
			wait := r.svc.RestartSec
			r.logf("%s: scheduled restart in %s (Restart=%s, result %s).", r.name, systemdDuration(wait), r.svc.Restart, ex.Result)
			select {
			case <-r.stopReq:
				r.set(stInactive, "dead", "success")
				return
			case <-time.After(wait):
			}
			r.st.NRestarts++
			continue
		}
		if ex.Result == "success" {
			r.set(stInactive, "dead", "success")
			if ph == phDone {
				r.logf("Finished %s.", r.describe())
			}
		} else {
			r.set(stFailed, "failed", ex.Result)
			r.logf("%s: Failed with result '%s'.", r.name, ex.Result)
		}
		return
	}
}

// stopped records the end of a stop: inactive, or failed with result
// timeout when processes had to be killed at TimeoutStopSec=, as systemd.
func (r *runner) stopped(result string) {
	if result == "timeout" {
		r.set(stFailed, "failed", "timeout")
		r.logf("%s: Failed with result 'timeout'.", r.name)
		return
	}
	r.set(stInactive, "dead", "success")
	r.logf("Stopped %s.", r.describe())
}

func (r *runner) describe() string {
	if r.u != nil && r.u.Description != "" {
		return r.name + " - " + r.u.Description
	}
	return r.name
}

// deadline is when the current start times out (zero: never).
func (r *runner) startDeadline(from time.Time) time.Time {
	if r.svc.TimeoutStartSec <= 0 {
		return time.Time{}
	}
	return from.Add(r.svc.TimeoutStartSec)
}

// start runs conditions, ExecStartPre, ExecStart and ExecStartPost.
func (r *runner) start() (phase, exitInfo) {
	r.st.MainPID = 0
	r.st.StatusText = ""
	r.st.Message = ""
	r.st.ConditionFailed = ""
	r.set(stActivating, "condition", "")
	if ok, what := r.checkConditions(); !ok {
		f := false
		r.st.ConditionResult = &f
		r.st.ConditionFailed = what
		r.logf("%s was skipped because of an unmet condition check (%s).", r.describe(), what)
		return phCondition, exitInfo{}
	}
	t := true
	r.st.ConditionResult = &t
	r.logf("Starting %s...", r.describe())

	x, err := r.s.buildExec(r.u, r.st.InvocationID)
	if err == nil {
		err = r.s.openOutput(x, r.out)
	}
	if err == nil {
		err = r.s.makeUnitDirs(r.u, x)
	}
	if err != nil {
		r.st.Message = err.Error()
		r.logf("%v", err)
		return phFailed, exitInfo{Result: "resources", Code: "exited", Status: 1}
	}
	if r.x != nil {
		r.x.close()
	}
	r.x = x
	if lims, from, err := r.s.unitLimits(r.u, x.acct); err != nil {
		r.logf("warning: reading limits.conf: %v", err)
	} else {
		r.s.applyLimits(r.name, lims, from, func(m string) { r.logf("warning: %s", m) })
	}
	if r.svc.Type == "notify" && r.notify == nil {
		n, err := r.s.openNotify(r.name)
		if err != nil {
			r.st.Message = err.Error()
			r.logf("%v", err)
			return phFailed, exitInfo{Result: "resources"}
		}
		r.notify = n
	}
	extra := map[string]string{}
	if r.notify != nil {
		extra["NOTIFY_SOCKET"] = r.notify.path
	}
	begin := time.Now()
	deadline := r.startDeadline(begin)

	if len(r.svc.ExecCondition) > 0 {
		r.set(stActivating, "condition", "")
		for _, c := range r.svc.ExecCondition {
			ws, out := r.runControl(c, extra, deadline)
			if out != outExited {
				return r.startAbort(out)
			}
			if ws.Exited() && ws.ExitStatus() > 0 && ws.ExitStatus() < 255 && !c.IgnoreFailure {
				r.st.ConditionFailed = "ExecCondition=" + c.Raw
				r.logf("%s was skipped because of an unmet condition check (ExecCondition=%s exited %d).", r.name, c.Raw, ws.ExitStatus())
				return phCondition, exitInfo{}
			}
			if !(ws.Exited() && ws.ExitStatus() == 0) && !c.IgnoreFailure {
				return phFailed, r.controlFailed(c, ws)
			}
		}
	}
	if len(r.svc.ExecStartPre) > 0 {
		r.set(stActivating, "start-pre", "")
		for _, c := range r.svc.ExecStartPre {
			ws, out := r.runControl(c, extra, deadline)
			if out != outExited {
				return r.startAbort(out)
			}
			if !(ws.Exited() && ws.ExitStatus() == 0) && !c.IgnoreFailure {
				return phFailed, r.controlFailed(c, ws)
			}
		}
	}
	r.set(stActivating, "start", "")
	var ph phase
	var ex exitInfo
	switch r.svc.Type {
	case "oneshot":
		ph, ex = r.startOneshot(extra, deadline)
	case "forking":
		ph, ex = r.startForking(extra, deadline)
	case "notify", "notify-reload":
		ph, ex = r.startNotify(extra, deadline)
	default: // simple, exec, idle, dbus (no bus here: treated as simple)
		ph, ex = r.startSimple(extra)
	}
	if ph != phRunning && ph != phExited && ph != phDone {
		return ph, ex
	}
	if len(r.svc.ExecStartPost) > 0 {
		r.set(stActivating, "start-post", "")
		for _, c := range r.svc.ExecStartPost {
			ws, out := r.runControl(c, extra, deadline)
			if out != outExited {
				return r.startAbort(out)
			}
			if !(ws.Exited() && ws.ExitStatus() == 0) && !c.IgnoreFailure {
				return phFailed, r.controlFailed(c, ws)
			}
		}
	}
	switch ph {
	case phRunning:
		r.set(stActive, "running", "success")
		r.logf("Started %s.", r.describe())
	case phExited:
		r.set(stActive, "exited", "success")
		r.logf("Started %s.", r.describe())
	}
	return ph, ex
}

// reapOrphanedMain: when the previous run-unit of this unit died without
// stopping it (kill -9, OOM) and supervisord started run-unit again, the
// old main process still runs, no longer supervised. Stop it first so the
// unit does not run twice.
func (r *runner) reapOrphanedMain(old unitState) {
	if old.RunnerPID <= 0 || old.RunnerPID == r.self || r.s.isRunner(old.RunnerPID, r.name) || !alive(old.MainPID) {
		return
	}
	switch old.ActiveState {
	case stActive, stActivating, stReloading, stDeactivating:
	default:
		return
	}
	// The pid must still be that process: started no later than the unit's main.
	if ms := parseStamp(old.ExecMainStart); ms.IsZero() || procStartTime(old.MainPID).After(ms.Add(2*time.Second)) {
		return
	}
	r.logf("%s: the previous vmshim run-unit (pid %d) died; stopping its main process %d before starting again", r.name, old.RunnerPID, old.MainPID)
	_ = syscall.Kill(old.MainPID, syscall.SIGTERM)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && alive(old.MainPID); {
		time.Sleep(100 * time.Millisecond)
	}
	if alive(old.MainPID) {
		_ = syscall.Kill(old.MainPID, syscall.SIGKILL)
	}
}
