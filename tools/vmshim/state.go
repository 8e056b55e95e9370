package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Active states as systemd names them.
const (
	stActive       = "active"
	stActivating   = "activating"
	stDeactivating = "deactivating"
	stInactive     = "inactive"
	stFailed       = "failed"
	stReloading    = "reloading"
)

// unitState is /run/vmshim/units/<unit>.json, written by run-unit at every
// transition and read by systemctl. The first fields are the contract's;
// the rest are vmshim's own.
type unitState struct {
	Unit           string `json:"unit"`
	ActiveState    string `json:"active_state"`
	SubState       string `json:"sub_state"`
	MainPID        int    `json:"main_pid"`
	Result         string `json:"result"`
	NRestarts      int    `json:"n_restarts"`
	ExecMainStatus int    `json:"exec_main_status"`
	ActiveEnter    string `json:"active_enter,omitempty"`
	InactiveEnter  string `json:"inactive_enter,omitempty"`

	ExecMainCode    string `json:"exec_main_code,omitempty"` // exited, killed, dumped
	ExecMainPID     int    `json:"exec_main_pid,omitempty"`
	ExecMainStart   string `json:"exec_main_start,omitempty"`
	ExecMainExit    string `json:"exec_main_exit,omitempty"`
	ActiveExit      string `json:"active_exit,omitempty"`
	InactiveExit    string `json:"inactive_exit,omitempty"`
	InvocationID    string `json:"invocation_id,omitempty"`
	RunnerPID       int    `json:"runner_pid,omitempty"`
	StatusText      string `json:"status_text,omitempty"`
	ConditionResult *bool  `json:"condition_result,omitempty"`
	ConditionFailed string `json:"condition_failed,omitempty"`
	Message         string `json:"message,omitempty"` // why it failed, for status

	// runnerDied is set by currentState: run-unit died (kill -9, OOM)
	// without writing its last transition.
	runnerDied bool
	orphanMain int // the main PID it left behind, if still alive
}

func (s *shim) statePath(unit string) string {
	return filepath.Join(s.path(stateDir), unit+".json")
}

// readState returns the unit's state; ok is false when it was never started.
func (s *shim) readState(unit string) (unitState, bool, error) {
	b, err := os.ReadFile(s.statePath(unit))
	if errors.Is(err, os.ErrNotExist) {
		return unitState{Unit: unit, ActiveState: stInactive, SubState: "dead"}, false, nil
	}
	if err != nil {
		return unitState{}, false, fmt.Errorf("reading the state of %q: %w", unit, err)
	}
	var st unitState
	if err := json.Unmarshal(b, &st); err != nil {
		return unitState{}, false, fmt.Errorf("state file %q: %w: remove it and start the unit again", s.statePath(unit), err)
	}
	return st, true, nil
}

// currentState is readState corrected for a runner that died without
// writing its last transition (kill -9 of run-unit): a unit it left
// active or activating is reported failed.
func (s *shim) currentState(unit string) (unitState, bool, error) {
	st, ok, err := s.readState(unit)
	if err != nil || !ok {
		return st, ok, err
	}
	switch st.ActiveState {
	case stActive, stActivating, stDeactivating, stReloading:
		if st.RunnerPID > 0 && !s.isRunner(st.RunnerPID, unit) {
			st.ActiveState, st.SubState = stFailed, "failed"
			if st.Result == "" || st.Result == "success" {
				st.Result = "signal"
			}
			st.Message = "vmshim run-unit (pid " + fmt.Sprint(st.RunnerPID) + ") died; the unit's processes are no longer supervised"
			st.runnerDied = true
			if alive(st.MainPID) {
				st.orphanMain = st.MainPID
			}
			st.MainPID = 0
		}
	}
	return st, true, nil
}

// isRunner reports whether pid is alive and the vmshim run-unit of unit
// (its command line ends in "run-unit <unit>": a reused pid is not).
func (s *shim) isRunner(pid int, unit string) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	n := len(args)
	return n >= 2 && args[n-2] == "run-unit" && unitName(args[n-1]) == unit
}

// writeState replaces the state file atomically.
func (s *shim) writeState(st unitState) error {
	dir := s.path(stateDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.statePath(st.Unit), append(b, '\n'), 0o644)
}

// writeFileAtomic writes a temp file in the same directory and renames it.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %q: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, mode)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %q: %w", path, err)
	}
	return nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseStamp(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// systemdTime formats a timestamp as systemctl show does
// ("Wed 2026-12-02 03:08:48 UTC"); empty for none.
func systemdTime(s string) string {
	t := parseStamp(s)
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("Mon 2006-01-02 15:04:05 MST")
}
