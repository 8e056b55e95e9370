package main

import (
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/fatbox/fatbox/baseimages/units"
)

// exitInfo is how a main process ended, in systemd's words.
type exitInfo struct {
	Result string // success, exit-code, signal, core-dump, timeout, ...
	Code   string // exited, killed, dumped
	Status int    // exit status or signal number
	Clean  bool   // counts as a clean exit for Restart=
}

// classifyExit maps a wait status onto Result/ExecMainCode/ExecMainStatus.
// Exit 0 and SuccessExitStatus= are clean; so are SIGHUP, SIGINT, SIGTERM,
// SIGPIPE and SuccessSignals= (systemd's rule for non-oneshot services).
func classifyExit(ws syscall.WaitStatus, svc units.Service) exitInfo {
	switch {
	case ws.Exited():
		st := ws.ExitStatus()
		if st == 0 || slices.Contains(svc.SuccessExitStatus, st) {
			return exitInfo{Result: "success", Code: "exited", Status: st, Clean: true}
		}
		return exitInfo{Result: "exit-code", Code: "exited", Status: st}
	case ws.Signaled():
		sig := ws.Signal()
		code := "killed"
		if ws.CoreDump() {
			code = "dumped"
		}
		clean := slices.Contains(svc.SuccessSignals, sig)
		if svc.Type != "oneshot" {
			switch sig {
			case syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGPIPE:
				clean = true
			}
		}
		if clean {
			return exitInfo{Result: "success", Code: code, Status: int(sig), Clean: true}
		}
		if code == "dumped" {
			return exitInfo{Result: "core-dump", Code: code, Status: int(sig)}
		}
		return exitInfo{Result: "signal", Code: code, Status: int(sig)}
	}
	return exitInfo{Result: "success", Code: "exited", Clean: true}
}

// shouldRestart applies Restart= (systemd.service(5)'s table) with
// RestartPreventExitStatus= and RestartForceExitStatus=.
func shouldRestart(svc units.Service, e exitInfo) bool {
	if e.Code == "exited" && slices.Contains(svc.RestartPreventExitStatus, e.Status) {
		return false
	}
	if e.Code != "exited" && slices.Contains(svc.RestartPreventExitStatus, 128+e.Status) {
		return false
	}
	if e.Code == "exited" && slices.Contains(svc.RestartForceExitStatus, e.Status) {
		return true
	}
	switch svc.Restart {
	case "always":
		return true
	case "on-success":
		return e.Clean
	case "on-failure":
		return !e.Clean
	case "on-abnormal":
		return !e.Clean && e.Result != "exit-code"
	case "on-abort":
		return e.Result == "signal" || e.Result == "core-dump"
	case "on-watchdog":
		return e.Result == "watchdog"
	}
	return false
}

// Start limit as systemd's defaults: 5 starts within 10 s.
const (
	startLimitBurst    = 5
	startLimitInterval = 10 * time.Second
)

// startLimitHit reports whether one more start at now would exceed the
// limit given the earlier start times.
func startLimitHit(starts []time.Time, now time.Time) bool {
	n := 0
	for _, t := range starts {
		if now.Sub(t) < startLimitInterval {
			n++
		}
	}
	return n >= startLimitBurst
}

func strconvItoa(n int) string { return fmt.Sprint(n) }
