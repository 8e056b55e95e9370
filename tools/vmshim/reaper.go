package main

import (
	"errors"
	"sync"
	"syscall"
	"time"
)

// reaper collects every child of run-unit (a subreaper, so also the
// daemon's orphans) with wait4(-1); the supervisor looks up the pids it
// cares about. No os/exec here: its Wait would race with wait4(-1).
type reaper struct {
	mu     sync.Mutex
	exited map[int]reaped
	ch     chan struct{}
}

type reaped struct {
	ws syscall.WaitStatus
	at time.Time
}

func newReaper() *reaper {
	return &reaper{exited: map[int]reaped{}, ch: make(chan struct{})}
}

// reapAll collects every exited child and wakes the waiters.
func (r *reaper) reapAll() {
	got := false
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if pid <= 0 || err != nil {
			break
		}
		r.mu.Lock()
		r.exited[pid] = reaped{ws: ws, at: time.Now()}
		r.mu.Unlock()
		got = true
	}
	if !got {
		return
	}
	r.mu.Lock()
	for pid, e := range r.exited {
		if time.Since(e.at) > 10*time.Minute {
			delete(r.exited, pid) // an orphan nobody asked about
		}
	}
	close(r.ch)
	r.ch = make(chan struct{})
	r.mu.Unlock()
}

// changed is closed at the next reap.
func (r *reaper) changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ch
}

// take returns and forgets pid's exit status if it was reaped.
func (r *reaper) take(pid int) (syscall.WaitStatus, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.exited[pid]
	if ok {
		delete(r.exited, pid)
	}
	return e.ws, ok
}

// peek is take without forgetting.
func (r *reaper) peek(pid int) (syscall.WaitStatus, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.exited[pid]
	return e.ws, ok
}
