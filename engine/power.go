package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/engine/rootfs"
	"github.com/fatbox/fatbox/inventory"
)

// Power requests: vmshim's reboot, shutdown, poweroff and halt inside a
// container write one of these to /.fatbox/power/request, then SIGTERM
// supervisord, so the container's init exits. The directory is bound from
// the container's own disk (<dir>/disk/power): what the container writes
// there counts against its disk, never the host's state file system.
const (
	powerReboot   = "reboot"
	powerPoweroff = "poweroff"
)

// crashLoopWindow: a container whose init exits on its own (no power
// request) this soon after its boot is left stopped, not booted again.
const crashLoopWindow = time.Minute

func powerDir(l rootfs.Layout) string { return filepath.Join(l.DiskDir(), "power") }

// preparePowerDir makes the power dir on the mounted disk and drops a
// request left by the last run (acted on before this boot).
func preparePowerDir(l rootfs.Layout) (string, error) {
	dir := powerDir(l)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("power dir of %q: %w", l.Dir, err)
	}
	if err := os.Remove(filepath.Join(dir, "request")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("clear the last power request of %q: %w", l.Dir, err)
	}
	return dir, nil
}

// powerRequest is what the container asked before its init exited:
// powerReboot, powerPoweroff, or "" (nothing, its disk is not mounted, or
// the file is not a small regular file: the container wrote it, so it is
// read without following links and at most 64 bytes).
func powerRequest(l rootfs.Layout) string {
	fd, err := unix.Open(filepath.Join(powerDir(l), "request"), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return ""
	}
	buf := make([]byte, 64)
	n, _ := unix.Read(fd, buf)
	if n <= 0 {
		return ""
	}
	switch r := strings.TrimSpace(string(buf[:n])); r {
	case powerReboot, powerPoweroff:
		return r
	}
	return ""
}

// initWatch follows the init processes of this node's running containers
// through pidfds in one epoll set, so the daemon notices a container that
// ends on its own (a reboot or poweroff inside, a crash) without polling runc.
type initWatch struct {
	mu     sync.Mutex
	epfd   int // 0 until Watch
	ctx    context.Context
	byFD   map[int32]watched
	byName map[string]int32
	booted map[string]time.Time // last boot by this process
}

type watched struct {
	name string
	pid  int
}

// Watch follows the init of every running container of this node, and of
// every container booted from now on, until ctx ends: when one exits on its
// own, a reboot asked from inside boots it again (same IP, MAC, host keys,
// disk), a poweroff records it stopped (StopPoweroff, cause "inside"; it
// stays down across daemon and host restarts until started), and anything
// else is a crash (StopCrashed: booted again if autostart, unless it
// crashed within a minute of its boot). The daemon calls it once, after
// Reconcile.
func (e *Engine) Watch(ctx context.Context) error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("watch containers: epoll: %w", err)
	}
	w := &e.inits
	w.mu.Lock()
	if w.epfd != 0 {
		w.mu.Unlock()
		unix.Close(epfd)
		return errors.New("watch containers: already watching")
	}
	w.epfd, w.ctx = epfd, ctx
	w.mu.Unlock()
	recs, err := e.Inventory.List(ctx)
	if err != nil {
		return fmt.Errorf("watch containers: %w", err)
	}
	for _, r := range recs {
		if r.Node != e.Node || r.Status != inventory.StatusRunning {
			continue
		}
		if st, pid, err := e.Runtime.State(ctx, r.Name); err == nil && st == "running" {
			e.watch(r.Name, pid, false)
		} else if err == nil {
			go e.initExited(ctx, r.Name, 0) // ended since Reconcile
		}
	}
	go e.watchLoop(ctx, epfd)
	return nil
}

// watch adds a container's init to the watch (replacing an older one of
// the same name); a no-op before Watch. fromBoot records the boot time for
// the crash-loop rule.
func (e *Engine) watch(name string, pid int, fromBoot bool) {
	w := &e.inits
	w.mu.Lock()
	defer w.mu.Unlock()
	if fromBoot {
		if w.booted == nil {
			w.booted = map[string]time.Time{}
		}
		w.booted[name] = time.Now()
	}
	if w.epfd == 0 || pid <= 0 {
		return
	}
	if w.byFD == nil {
		w.byFD, w.byName = map[int32]watched{}, map[string]int32{}
	}
	if old, ok := w.byName[name]; ok {
		w.dropLocked(old)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		// Gone already (ESRCH): handle it as an exit seen now.
		if errors.Is(err, unix.ESRCH) && w.ctx != nil {
			go e.initExited(w.ctx, name, pid)
		}
		return
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		return
	}
	w.byFD[int32(fd)] = watched{name: name, pid: pid}
	w.byName[name] = int32(fd)
}

func (w *initWatch) dropLocked(fd int32) {
	if x, ok := w.byFD[fd]; ok {
		delete(w.byName, x.name)
		delete(w.byFD, fd)
	}
	_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	unix.Close(int(fd))
}

func (e *Engine) watchLoop(ctx context.Context, epfd int) {
	w := &e.inits
	defer func() {
		w.mu.Lock()
		for fd := range w.byFD {
			w.dropLocked(fd)
		}
		unix.Close(w.epfd)
		w.epfd = 0
		w.mu.Unlock()
	}()
	evs := make([]unix.EpollEvent, 32)
	for ctx.Err() == nil {
		n, err := unix.EpollWait(epfd, evs, 1000)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		for _, ev := range evs[:max(n, 0)] {
			w.mu.Lock()
			x, ok := w.byFD[ev.Fd]
			// The fd may have been replaced since EpollWait returned: act
			// only on a pidfd that is readable now (its process exited).
			pfd := []unix.PollFd{{Fd: ev.Fd, Events: unix.POLLIN}}
			if ok {
				if k, _ := unix.Poll(pfd, 0); k > 0 && pfd[0].Revents&unix.POLLIN != 0 {
					w.dropLocked(ev.Fd)
				} else {
					ok = false
				}
			}
			w.mu.Unlock()
			if ok {
				go e.initExited(ctx, x.name, x.pid)
			}
		}
	}
}

// initExited acts on a watched init that exited: if the record still says
// running and runc agrees it is not (a stop, restart or remove through the
// API holds the name's lock and changes the record first), the container
// ended on its own.
func (e *Engine) initExited(ctx context.Context, name string, pid int) {
	unlock := e.lock(name)
	defer unlock()
	rec, err := e.local(ctx, name)
	if err != nil || rec.Status != inventory.StatusRunning {
		return
	}
	if st, cur, err := e.Runtime.State(ctx, name); err == nil && st == "running" {
		if cur != pid { // booted again meanwhile: follow the new init
			e.watch(name, cur, false)
		}
		return
	}
	e.inits.mu.Lock()
	recent := time.Since(e.inits.booted[name]) < crashLoopWindow
	e.inits.mu.Unlock()
	// Errors have no caller here; the record and the event log say what
	// happened, and a failed boot leaves it stopped for `fatbox start`.
	_, _ = e.endedOnItsOwn(ctx, rec, powerRequest(rootfs.Layout{Dir: e.dir(name)}), recent)
}

// endedOnItsOwn takes down what is left of a container recorded running
// whose init is gone, and records why: req is its power request. It
// returns whether it booted it again. The caller holds the name's lock.
func (e *Engine) endedOnItsOwn(ctx context.Context, rec inventory.Record, req string, recent bool) (bool, error) {
	name := rec.Name
	if err := e.halt(ctx, name); err != nil {
		return false, err
	}
	inside := func(what string) context.Context {
		return inventory.WithCause(ctx, inventory.Cause{Kind: inventory.CauseInside, Detail: what})
	}
	rec.Status = inventory.StatusStopped
	switch req {
	case powerReboot:
		if err := e.Inventory.Put(inside(powerReboot), rec); err != nil {
			return false, err
		}
		if _, err := e.start(inside(powerReboot), name); err != nil {
			return false, fmt.Errorf("reboot %q: %w", name, err)
		}
		return true, nil
	case powerPoweroff:
		rec.StopReason = inventory.StopPoweroff
		return false, e.Inventory.Put(inside(powerPoweroff), rec)
	}
	rec.StopReason = inventory.StopCrashed
	if recent {
		rec.StopReason = inventory.StopCrashLoop
	}
	if err := e.Inventory.Put(inventory.WithCause(ctx, inventory.Cause{Kind: inventory.CauseReconcile, Detail: "init exited"}), rec); err != nil {
		return false, err
	}
	if !rec.Autostart || recent {
		return false, nil
	}
	if _, err := e.start(inventory.WithCause(ctx, inventory.Cause{Kind: inventory.CauseAutostart}), name); err != nil {
		return false, fmt.Errorf("boot %q again after a crash: %w", name, err)
	}
	return true, nil
}
