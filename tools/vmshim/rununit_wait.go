package main

import (
	"errors"
	"os"
	"syscall"
	"time"

	"github.com/fatbox/fatbox/baseimages/units"
)

type waitOutcome int

const (
	outExited waitOutcome = iota
	outTimeout
	outStop
)

// waitPid waits for a child of run-unit to exit, until deadline (zero:
// none) or, if stoppable, a stop request.
func (r *runner) waitPid(pid int, deadline time.Time, stoppable bool) (syscall.WaitStatus, waitOutcome) {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	stop := r.stopReq
	if !stoppable {
		stop = nil
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for first := true; ; first = false {
		ch := r.reap.changed()
		if ws, ok := r.reap.take(pid); ok {
			return ws, outExited
		}
		// A child that is gone already (its exit consumed before this wait
		// began: everything in the container got SIGTERM at once, as a
		// release's quiesce does) ends the wait now, not at the next tick.
		if first && !alive(pid) {
			r.reap.reapAll()
			if ws, ok := r.reap.take(pid); ok {
				return ws, outExited
			}
			if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
				return 0, outExited
			}
		}
		select {
		case <-ch:
		case <-tick.C:
			r.reap.reapAll()
			if !alive(pid) {
				if ws, ok := r.reap.take(pid); ok {
					return ws, outExited
				}
				if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
					return 0, outExited // not our child, gone: status unknown
				}
			}
		case <-timeout:
			return 0, outTimeout
		case <-stop:
			return 0, outStop
		}
	}
}

// runControl runs one control command (ExecStartPre=, ExecStop=, ...) and
// waits for it. A timeout or a stop kills it.
func (r *runner) runControl(c units.Command, extra map[string]string, deadline time.Time) (syscall.WaitStatus, waitOutcome) {
	pid, err := r.s.spawn(r.x, c, extra)
	if err != nil {
		r.logf("%s: failed to execute %s: %v", r.name, c.Raw, err)
		return syscall.WaitStatus(203 << 8), outExited
	}
	r.control[pid] = true
	defer delete(r.control, pid)
	ws, out := r.waitPid(pid, deadline, true)
	if out != outExited {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if _, o := r.waitPid(pid, time.Now().Add(5*time.Second), false); o != outExited {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			r.waitPid(pid, time.Now().Add(5*time.Second), false)
		}
	}
	return ws, out
}

// supervise watches the main process until it exits (then runs the stop
// steps and returns how it ended) or a stop comes (stopped is true).
func (r *runner) supervise() (ex exitInfo, stopped bool) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var msgs <-chan notifyMsg
	if r.notify != nil {
		msgs = r.notify.msgs
	}
	for {
		ch := r.reap.changed()
		main := r.st.MainPID
		if ws, ok := r.reap.take(main); ok {
			ex = classifyExit(ws, r.svc)
			if r.followNewPIDFile(main) {
				continue
			}
			break
		}
		gone := false
		select {
		case <-r.stopReq:
			return exitInfo{Result: r.stopSequence(true)}, true
		case m, ok := <-msgs:
			if !ok {
				msgs = nil
				continue
			}
			r.handleNotify(m)
			continue
		case <-ch:
			continue
		case <-tick.C:
			if alive(main) {
				continue
			}
			r.reap.reapAll()
			if ws, ok := r.reap.take(main); ok {
				ex = classifyExit(ws, r.svc)
			} else {
				ex = exitInfo{Result: "success", Code: "exited", Clean: true} // not our child: no status
			}
			gone = true
		}
		if gone && r.followNewPIDFile(main) {
			continue
		}
		break
	}
	r.mainExited(ex)
	if ex.Clean {
		r.logf("%s: main process exited, code=%s, status=%d", r.name, ex.Code, ex.Status)
	} else {
		r.logf("%s: main process exited, code=%s, status=%d/%s", r.name, ex.Code, ex.Status, statusName(ex))
	}
	if r.svc.RemainAfterExit && ex.Clean {
		r.set(stActive, "exited", "success")
		<-r.stopReq
		return exitInfo{Result: r.stopSequence(true)}, true
	}
	r.stopSequenceAfterExit(ex)
	return ex, false
}

func statusName(ex exitInfo) string {
	if ex.Code == "exited" {
		if ex.Status == 203 {
			return "EXEC"
		}
		return "FAILURE"
	}
	return signalName(syscall.Signal(ex.Status))
}

// followNewPIDFile: a daemon that re-executes itself (nginx's binary
// upgrade) leaves a new live PID in its PIDFile; follow it instead of
// declaring the service dead.
func (r *runner) followNewPIDFile(old int) bool {
	if r.svc.PIDFile == "" {
		return false
	}
	if pid := r.readPIDFile(); pid > 0 && pid != old && alive(pid) {
		r.logf("%s: main PID %d exited; following %d from %s", r.name, old, pid, r.svc.PIDFile)
		r.st.MainPID, r.st.ExecMainPID = pid, pid
		_ = r.s.writeState(r.st)
		return true
	}
	return false
}

// capStopTimeout lowers TimeoutStopSec= to what the program's conf lets
// supervisord wait (see stopTimeoutWithin), with a log line naming the
// fix.
func (r *runner) capStopTimeout() {
	b, err := os.ReadFile(r.s.confPath(programOf(r.name)))
	if err != nil {
		return
	}
	if capped, ok := stopTimeoutWithin(string(b), r.svc); ok {
		r.logf("warning: %s: TimeoutStopSec=%s is longer than supervisord waits for this program since its first start in this boot; stops use %s. Restart the container to apply it", r.name, systemdDuration(r.svc.TimeoutStopSec), systemdDuration(capped))
		r.svc.TimeoutStopSec = capped
	}
}

// stopDeadline is when a stop gives up waiting (TimeoutStopSec=).
func (r *runner) stopDeadline() time.Time {
	if r.svc.TimeoutStopSec <= 0 {
		return time.Now().Add(24 * time.Hour)
	}
	return time.Now().Add(r.svc.TimeoutStopSec)
}

// stopSequence is a stop of a started unit: ExecStop= with $MAINPID, then
// KillSignal= per KillMode=, SIGKILL for survivors at TimeoutStopSec=, then
// ExecStopPost=. It returns the unit's result: "timeout" when processes
// were still there at TimeoutStopSec= (systemd then leaves the unit
// failed), else "success".
func (r *runner) stopSequence(started bool) string {
	r.set(stDeactivating, "stop", "")
	r.logf("Stopping %s...", r.describe())
	deadline := r.stopDeadline()
	if started && len(r.svc.ExecStop) > 0 {
		extra := mainPIDEnv(r.st.MainPID)
		for _, c := range r.svc.ExecStop {
			ws, out := r.runControlNoStop(c, extra, deadline)
			if out == outTimeout {
				r.logf("%s: ExecStop=%s timed out", r.name, c.Raw)
				break
			}
			if !(ws.Exited() && ws.ExitStatus() == 0) && !c.IgnoreFailure {
				r.logf("%s: ExecStop=%s %s", r.name, c.Raw, describeWait(ws))
			}
		}
	}
	result := "success"
	if r.terminate(deadline) {
		result = "timeout"
		r.st.Result = result // ExecStopPost= sees SERVICE_RESULT=timeout
	}
	r.runStopPost()
	r.s.removeRuntimeDirs(r.u, false)
	r.st.MainPID = 0
	return result
}

// stopSequenceAfterExit is the stop after the main process ended on its own.
func (r *runner) stopSequenceAfterExit(ex exitInfo) {
	r.set(stDeactivating, "stop", "")
	deadline := r.stopDeadline()
	for _, c := range r.svc.ExecStop {
		ws, out := r.runControlNoStop(c, mainPIDEnv(0), deadline)
		if out == outTimeout {
			break
		}
		_ = ws
	}
	r.terminate(deadline)
	r.runStopPost()
	r.s.removeRuntimeDirs(r.u, shouldRestart(r.svc, ex))
}

// cleanupAfter is what follows a failed start: kill what is left, ExecStopPost=.
func (r *runner) cleanupAfter(ex exitInfo) {
	r.set(stDeactivating, "stop-sigterm", "")
	r.terminate(r.stopDeadline())
	r.runStopPost()
	r.s.removeRuntimeDirs(r.u, shouldRestart(r.svc, ex))
	r.st.MainPID = 0
}

func (r *runner) runStopPost() {
	if len(r.svc.ExecStopPost) == 0 || r.x == nil {
		return
	}
	r.set(r.st.ActiveState, "stop-post", "")
	deadline := r.stopDeadline()
	extra := map[string]string{
		"SERVICE_RESULT": orDefault(r.st.Result, "success"),
		"EXIT_CODE":      r.st.ExecMainCode,
		"EXIT_STATUS":    strconvItoa(r.st.ExecMainStatus),
	}
	for _, c := range r.svc.ExecStopPost {
		if _, out := r.runControlNoStop(c, extra, deadline); out == outTimeout {
			r.logf("%s: ExecStopPost=%s timed out", r.name, c.Raw)
			return
		}
	}
}

// runControlNoStop is runControl during a stop: a second stop request
// does not cut it short.
func (r *runner) runControlNoStop(c units.Command, extra map[string]string, deadline time.Time) (syscall.WaitStatus, waitOutcome) {
	if r.x == nil {
		return 0, outExited
	}
	pid, err := r.s.spawn(r.x, c, extra)
	if err != nil {
		r.logf("%s: failed to execute %s: %v", r.name, c.Raw, err)
		return syscall.WaitStatus(203 << 8), outExited
	}
	r.control[pid] = true
	defer delete(r.control, pid)
	ws, out := r.waitPid(pid, deadline, false)
	if out != outExited {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		r.waitPid(pid, time.Now().Add(5*time.Second), false)
	}
	return ws, out
}

// terminate signals what is left per KillMode= and waits for it to go;
// it says whether the deadline passed with processes left (then killed
// with FinalKillSignal= unless SendSIGKILL=no).
func (r *runner) terminate(deadline time.Time) (timedOut bool) {
	mode := orDefault(r.svc.KillMode, "control-group")
	if mode == "none" {
		return false
	}
	sig := r.svc.KillSignal
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	main := r.st.MainPID
	targets := func() []int {
		if mode == "process" {
			if alive(main) {
				return []int{main}
			}
			return nil
		}
		table, _ := readProcTable()
		return descendants(table, r.self)
	}
	left := targets()
	if len(left) == 0 {
		return false
	}
	r.set(stDeactivating, "stop-sigterm", "")
	for _, p := range left {
		if mode == "mixed" && p != main {
			continue
		}
		_ = syscall.Kill(p, sig)
		if r.svc.SendSIGHUP {
			_ = syscall.Kill(p, syscall.SIGHUP)
		}
		_ = syscall.Kill(p, syscall.SIGCONT)
	}
	if mode == "mixed" && !alive(main) {
		// main already gone: the rest get the signal too
		for _, p := range left {
			_ = syscall.Kill(p, sig)
		}
	}
	for time.Now().Before(deadline) {
		r.reap.reapAll()
		if len(targets()) == 0 {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !r.svc.SendSIGKILL {
		return true
	}
	final := r.svc.FinalKillSignal
	if final == 0 {
		final = syscall.SIGKILL
	}
	r.set(stDeactivating, "stop-sigkill", "")
	left = targets()
	r.logf("%s: State 'stop-sigterm' timed out. Killing %d processes.", r.name, len(left))
	for _, p := range left {
		_ = syscall.Kill(p, final)
	}
	end := time.Now().Add(5 * time.Second)
	for time.Now().Before(end) && len(targets()) > 0 {
		r.reap.reapAll()
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// killAll signals every process below run-unit (start timeouts).
func (r *runner) killAll(sig syscall.Signal, extra int) {
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	table, _ := readProcTable()
	for _, p := range descendants(table, r.self) {
		_ = syscall.Kill(p, sig)
	}
	if extra > 0 {
		_ = syscall.Kill(extra, sig)
	}
}
