package main

import (
	"slices"
	"strings"
	"time"
)

// viewOf is the unit's runtime state whatever drives it: run-unit's state
// file, a supervisord program's state, a timer's state, or a target's.
func (s *shim) viewOf(t target, progs []procInfo) unitState {
	switch {
	case t.driven():
		for _, p := range progs {
			if p.Name == t.program {
				v := programView(t.name, p, successCodes(t))
				if downState(p.Statename) && s.stoppedOnPurpose(p.Name) {
					v.ActiveState, v.SubState, v.MainPID = stInactive, "dead", 0
				}
				return v
			}
		}
		return unitState{Unit: t.name, ActiveState: stInactive, SubState: "dead"}
	case unitType(t.name) == "target":
		return unitState{Unit: t.name, ActiveState: stActive, SubState: "active", Result: "success"}
	}
	st, ok, err := s.currentState(t.name)
	if err != nil {
		return unitState{Unit: t.name, ActiveState: stInactive, SubState: "dead", Message: err.Error()}
	}
	if unitType(t.name) == "timer" && !ok && t.unit != nil {
		// Enabled timers run from boot (vmshim init) even when nobody
		// started them by hand.
		if en, _ := s.loader.Enabled(t.name); en == "enabled" {
			st.ActiveState, st.SubState = stActive, "waiting"
		}
	}
	return st
}

// successCodes are the exit statuses a unit counts as clean besides 0
// (SuccessExitStatus=: 143 for most Java services).
func successCodes(t target) []int {
	if t.unit == nil {
		return nil
	}
	return t.unit.Service.SuccessExitStatus
}

// programView maps a supervisord program's state onto systemd's.
func programView(unit string, p procInfo, success []int) unitState {
	st := unitState{Unit: unit, MainPID: p.Pid, ExecMainPID: p.Pid, Result: "success"}
	if p.Start > 0 {
		st.ExecMainStart = stamp(time.Unix(p.Start, 0))
		st.ActiveEnter = st.ExecMainStart
		st.InactiveExit = st.ExecMainStart
	}
	if p.Stop > 0 && p.Stop >= p.Start {
		st.InactiveEnter = stamp(time.Unix(p.Stop, 0))
		st.ExecMainExit = st.InactiveEnter
	}
	switch strings.ToLower(p.Statename) {
	case "running":
		st.ActiveState, st.SubState = stActive, "running"
	case "starting", "backoff":
		st.ActiveState, st.SubState = stActivating, "start"
	case "stopping":
		st.ActiveState, st.SubState = stDeactivating, "stop-sigterm"
	case "fatal":
		st.ActiveState, st.SubState, st.Result = stFailed, "failed", "exit-code"
		st.MainPID = 0
	case "exited":
		st.MainPID = 0
		st.ExecMainStatus = p.Exitstatus
		// -1: killed by a signal, which is how a stopped program ends.
		if p.Exitstatus != 0 && p.Exitstatus != -1 && !slices.Contains(success, p.Exitstatus) {
			st.ActiveState, st.SubState, st.Result = stFailed, "failed", "exit-code"
		} else {
			st.ActiveState, st.SubState = stInactive, "dead"
		}
	default:
		st.MainPID = 0
		st.ActiveState, st.SubState = stInactive, "dead"
	}
	return st
}
