package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
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
	if d := linger - time.Since(r.born); d > 0 {
		time.Sleep(d)
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
			r.stopSequence(false)
			r.set(stInactive, "dead", "success")
			r.logf("Stopped %s.", r.describe())
			return
		case phDone:
			r.runStopPost()
			ex = exitInfo{Result: "success", Code: "exited", Clean: true}
		case phExited:
			<-r.stopReq
			r.stopSequence(true)
			r.set(stInactive, "dead", "success")
			r.logf("Stopped %s.", r.describe())
			return
		case phFailed:
			ex = fail
			r.cleanupAfter(ex)
		case phRunning:
			var stopped bool
			ex, stopped = r.supervise()
			if stopped {
				r.set(stInactive, "dead", "success")
				r.logf("Stopped %s.", r.describe())
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

func (r *runner) readPIDFile() int {
	b, err := os.ReadFile(r.svc.PIDFile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
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
func (r *runner) handleNotify(m map[string]string) bool {
	if v, ok := m["MAINPID"]; ok {
		if pid, err := strconv.Atoi(v); err == nil && pid > 0 && pid != r.st.MainPID {
			r.logf("%s: main PID is now %d (MAINPID=)", r.name, pid)
			r.st.MainPID = pid
			r.st.ExecMainPID = pid
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
