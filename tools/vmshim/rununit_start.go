package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fatbox/fatbox/baseimages/units"
)

func (r *runner) startAbort(out waitOutcome) (phase, exitInfo) {
	if out == outStop {
		return phStopped, exitInfo{}
	}
	r.logf("%s: start operation timed out (TimeoutStartSec=%s). Terminating.", r.name, systemdDuration(r.svc.TimeoutStartSec))
	return phFailed, exitInfo{Result: "timeout"}
}

func (r *runner) controlFailed(c units.Command, ws syscall.WaitStatus) exitInfo {
	ex := classifyExit(ws, units.Service{Type: "oneshot"})
	r.st.Message = fmt.Sprintf("%s %s", c.Raw, describeWait(ws))
	r.logf("%s: control process %s", r.name, r.st.Message)
	if ex.Result == "success" {
		ex.Result = "exit-code"
	}
	return ex
}

// mainStarted records the main process.
func (r *runner) mainStarted(pid int) {
	r.st.MainPID = pid
	r.st.ExecMainPID = pid
	r.st.ExecMainStart = stamp(time.Now())
	r.st.ExecMainExit = ""
	r.st.ExecMainCode = ""
	r.st.ExecMainStatus = 0
}

func (r *runner) mainExited(ex exitInfo) {
	r.st.ExecMainExit = stamp(time.Now())
	r.st.ExecMainCode = ex.Code
	r.st.ExecMainStatus = ex.Status
	r.st.MainPID = 0
}

func (r *runner) spawnFailed(c units.Command, err error) (phase, exitInfo) {
	r.st.Message = err.Error()
	r.logf("%s: failed to execute %s: %v", r.name, c.Raw, err)
	// systemd's 203/EXEC
	r.st.ExecMainCode, r.st.ExecMainStatus = "exited", 203
	return phFailed, exitInfo{Result: "exit-code", Code: "exited", Status: 203}
}

func (r *runner) startSimple(extra map[string]string) (phase, exitInfo) {
	if len(r.svc.ExecStart) == 0 {
		r.st.Message = "no ExecStart="
		return phFailed, exitInfo{Result: "resources"}
	}
	c := r.svc.ExecStart[0]
	pid, err := r.s.spawn(r.x, c, extra)
	if err != nil {
		return r.spawnFailed(c, err)
	}
	r.mainStarted(pid)
	return phRunning, exitInfo{}
}

func (r *runner) startOneshot(extra map[string]string, deadline time.Time) (phase, exitInfo) {
	for _, c := range r.svc.ExecStart {
		pid, err := r.s.spawn(r.x, c, extra)
		if err != nil {
			if c.IgnoreFailure {
				continue
			}
			return r.spawnFailed(c, err)
		}
		r.mainStarted(pid)
		r.st.MainPID = 0 // oneshot has no main PID while running in systemd's show
		r.set(stActivating, "start", "")
		ws, out := r.waitPid(pid, deadline, true)
		if out != outExited {
			r.killAll(syscall.SIGTERM, pid)
			r.waitPid(pid, time.Now().Add(5*time.Second), false)
			return r.startAbort(out)
		}
		ex := classifyExit(ws, r.svc)
		r.mainExited(ex)
		if !ex.Clean && !c.IgnoreFailure {
			r.st.Message = fmt.Sprintf("%s %s", c.Raw, describeWait(ws))
			r.logf("%s: %s", r.name, r.st.Message)
			return phFailed, ex
		}
	}
	if r.svc.RemainAfterExit {
		return phExited, exitInfo{}
	}
	return phDone, exitInfo{Result: "success", Clean: true}
}

func (r *runner) startForking(extra map[string]string, deadline time.Time) (phase, exitInfo) {
	if len(r.svc.ExecStart) == 0 {
		r.st.Message = "no ExecStart="
		return phFailed, exitInfo{Result: "resources"}
	}
	c := r.svc.ExecStart[0]
	pid, err := r.s.spawn(r.x, c, extra)
	if err != nil {
		return r.spawnFailed(c, err)
	}
	r.control[pid] = true
	ws, out := r.waitPid(pid, deadline, true)
	delete(r.control, pid)
	if out != outExited {
		return r.startAbort(out)
	}
	if !(ws.Exited() && ws.ExitStatus() == 0) && !c.IgnoreFailure {
		ex := classifyExit(ws, units.Service{Type: "oneshot"})
		r.st.ExecMainCode, r.st.ExecMainStatus = ex.Code, ex.Status
		r.st.Message = fmt.Sprintf("%s %s", c.Raw, describeWait(ws))
		r.logf("%s: control process %s", r.name, r.st.Message)
		if ex.Result == "success" {
			ex.Result = "exit-code"
		}
		return phFailed, ex
	}
	main, why := r.findForkedMain(deadline)
	if main > 0 {
		r.mainStarted(main)
		r.logf("%s: main PID %d (%s)%s", r.name, main, procComm(main), why)
		return phRunning, exitInfo{}
	}
	if r.svc.PIDFile != "" && why == "timeout" {
		r.logf("%s: PID file %s not readable (yet?) after start; the daemon did not write it within TimeoutStartSec", r.name, r.svc.PIDFile)
		return phFailed, exitInfo{Result: "timeout"}
	}
	if r.stopping() {
		return phStopped, exitInfo{}
	}
	// No main process to follow: active (exited) while any process
	// remains or RemainAfterExit=; else there is nothing left running.
	table, _ := readProcTable()
	if r.svc.RemainAfterExit || len(descendants(table, r.self)) > 0 {
		return phExited, exitInfo{}
	}
	return phDone, exitInfo{Result: "success", Clean: true}
}

// findForkedMain finds a forking daemon's main process: from PIDFile=
// (waiting for it up to the start deadline), else, when GuessMainPID=, the
// one process left below run-unit once the process tree settles.
func (r *runner) findForkedMain(deadline time.Time) (int, string) {
	if r.svc.PIDFile != "" {
		for {
			if pid := r.readPIDFile(); pid > 0 && alive(pid) {
				return pid, " from " + r.svc.PIDFile
			}
			if !deadline.IsZero() && time.Now().After(deadline) {
				return 0, "timeout"
			}
			if deadline.IsZero() && time.Since(r.starts[len(r.starts)-1]) > 90*time.Second {
				return 0, "timeout"
			}
			select {
			case <-r.stopReq:
				return 0, "stop"
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	if !r.svc.GuessMainPID {
		return 0, ""
	}
	// Daemons that double-fork exit their intermediate process a moment
	// after the first parent: wait until two scans agree.
	var last []int
	for i := 0; i < 20; i++ {
		table, err := readProcTable()
		if err != nil {
			return 0, ""
		}
		var kids []int
		for _, p := range table {
			if p.PPID == r.self && p.State != 'Z' && !r.control[p.PID] {
				kids = append(kids, p.PID)
			}
		}
		if i > 0 && sameInts(kids, last) {
			pid, ambiguous := guessMainPID(table, r.self, r.control)
			if ambiguous {
				return pid, fmt.Sprintf(", guessed: the oldest of %d processes left after start (set PIDFile= to be sure)", len(kids))
			}
			return pid, ", guessed: the one process left after start"
		}
		last = kids
		time.Sleep(50 * time.Millisecond)
	}
	table, _ := readProcTable()
	pid, _ := guessMainPID(table, r.self, r.control)
	return pid, ", guessed"
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[int]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

// readPIDFile reads PIDFile=. As systemd, a PID file not owned by root
// may only name a process of the unit: a service running as User= could
// otherwise point its main PID at any process and have the stop signal it
// as root.
func (r *runner) readPIDFile() int {
	f, err := os.Open(r.svc.PIDFile)
	if err != nil {
		return 0
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	b, err := io.ReadAll(io.LimitReader(f, 64))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && !r.isUnitProcess(pid) {
		if !r.pidFileRefused {
			r.pidFileRefused = true
			r.logf("%s: ignoring PID %d in %s: the file is not owned by root and the process is not one of this unit", r.name, pid, r.svc.PIDFile)
		}
		return 0
	}
	return pid
}

func (r *runner) startNotify(extra map[string]string, deadline time.Time) (phase, exitInfo) {
	if len(r.svc.ExecStart) == 0 {
		r.st.Message = "no ExecStart="
		return phFailed, exitInfo{Result: "resources"}
	}
	c := r.svc.ExecStart[0]
	// Drain stale messages of an earlier run.
	for drained := false; !drained; {
		select {
		case <-r.notify.msgs:
		default:
			drained = true
		}
	}
	pid, err := r.s.spawn(r.x, c, extra)
	if err != nil {
		return r.spawnFailed(c, err)
	}
	r.mainStarted(pid)
	r.set(stActivating, "start", "")
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		timeout = time.After(time.Until(deadline))
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if ws, ok := r.reap.take(r.st.MainPID); ok {
			ex := classifyExit(ws, r.svc)
			r.mainExited(ex)
			if ex.Clean {
				ex = exitInfo{Result: "protocol", Code: ex.Code, Status: ex.Status}
			}
			r.st.Message = "main process " + describeWait(ws) + " before it sent READY=1"
			r.logf("%s: %s", r.name, r.st.Message)
			return phFailed, ex
		}
		select {
		case m, ok := <-r.notify.msgs:
			if !ok {
				return phFailed, exitInfo{Result: "resources"}
			}
			if r.handleNotify(m) {
				return phRunning, exitInfo{}
			}
		case <-r.reap.changed():
		case <-tick.C:
			if !alive(r.st.MainPID) {
				if _, ok := r.reap.peek(r.st.MainPID); !ok {
					r.st.Message = "main process gone before it sent READY=1"
					return phFailed, exitInfo{Result: "protocol"}
				}
			}
		case <-timeout:
			r.killAll(r.svc.KillSignal, 0)
			return r.startAbort(outTimeout)
		case <-r.stopReq:
			return phStopped, exitInfo{}
		}
	}
}

// handleNotify applies one sd_notify message; it reports READY=1.
func (r *runner) handleNotify(msg notifyMsg) bool {
	m := msg.fields
	if v, ok := m["MAINPID"]; ok {
		if pid, err := strconv.Atoi(v); err == nil && pid > 0 && pid != r.st.MainPID {
			if msg.uid == 0 || r.isUnitProcess(pid) {
				r.logf("%s: main PID is now %d (MAINPID=)", r.name, pid)
				r.st.MainPID = pid
				r.st.ExecMainPID = pid
			} else {
				r.logf("%s: ignoring MAINPID=%d from pid %d (uid %d): not a process of this unit; only root may name another", r.name, pid, msg.pid, msg.uid)
			}
		}
	}
	if v, ok := m["STATUS"]; ok {
		r.st.StatusText = v
	}
	ready := m["READY"] == "1"
	switch {
	case m["RELOADING"] == "1":
		r.set(stReloading, "reload", "")
	case m["STOPPING"] == "1":
		r.set(stDeactivating, "stop", "")
	case ready && r.st.ActiveState == stReloading:
		r.set(stActive, "running", "")
	default:
		if _, ok := m["STATUS"]; ok {
			_ = r.s.writeState(r.st)
		}
	}
	return ready
}

// isUnitProcess says whether pid runs below this run-unit.
func (r *runner) isUnitProcess(pid int) bool {
	table, err := readProcTable()
	if err != nil {
		return false
	}
	for _, p := range descendants(table, r.self) {
		if p == pid {
			return true
		}
	}
	return false
}

// checkConditions evaluates Condition*=/Assert*=: triggering ones ("|")
// are OR-ed, the others AND-ed.
func (r *runner) checkConditions() (bool, string) {
	anyTrigger, triggerOK := false, false
	firstTrigger := ""
	for _, c := range r.u.Conditions {
		ok, err := c.Check(r.s.root)
		if err != nil {
			r.logf("%s: Condition%s=%s: %v (taken as unmet)", r.name, c.Kind, c.Arg, err)
			ok = false
		}
		what := c.Kind + "="
		if c.Trigger {
			what += "|"
		}
		if c.Negate {
			what += "!"
		}
		what += c.Arg
		if c.Assert {
			what = "Assert" + what
		} else {
			what = "Condition" + what
		}
		if c.Trigger {
			anyTrigger = true
			triggerOK = triggerOK || ok
			if firstTrigger == "" {
				firstTrigger = what
			}
			continue
		}
		if !ok {
			return false, what
		}
	}
	if anyTrigger && !triggerOK {
		return false, firstTrigger
	}
	return true, ""
}
