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

// An end on its own (a crash or a reboot) within earlyEnd of the boot is
// early; loopAfter early ends in a row make a loop, left stopped.
const (
	earlyEnd  = time.Minute
	loopAfter = 3
)

// errPoweredOff: an autostart found the container's last request was a
// poweroff (asked while the daemon was down): it stays down.
var errPoweredOff = errors.New("shut down from inside before the daemon saw it")

func powerDir(l rootfs.Layout) string { return filepath.Join(l.DiskDir(), "power") }

// preparePowerDir makes the power dir on the mounted disk and clears the
// request left by the last run, returning it (powerRequest's values).
// Whatever the container left there that is not a regular file is removed
// too (without following links), so nothing inside can make boots fail.
func preparePowerDir(l rootfs.Layout) (left, dir string, err error) {
	dir = powerDir(l)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", "", fmt.Errorf("power dir of %q: %w", l.Dir, err)
	}
	left = powerRequest(l)
	if err := os.RemoveAll(filepath.Join(dir, "request")); err != nil {
		return "", "", fmt.Errorf("clear the last power request of %q: %w", l.Dir, err)
	}
	return left, dir, nil
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
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size > 64 {
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
	mu       sync.Mutex
	watching bool
	epfd     int
	ctx      context.Context
	onErr    func(name string, err error)
	byFD     map[int32]watched
	byName   map[string]int32
	booted   map[string]time.Time // last boot by this process
	early    map[string]int       // early ends in a row
	handlers sync.WaitGroup
	// exited, in tests, replaces initExited.
	exited func(name string, pid int)
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
// else is a crash (StopCrashed: booted again if autostart). Three early
// ends in a row (within a minute of the boot) are a loop, left stopped.
// onErr hears what could not be done (the daemon logs it). The daemon calls
// Watch once, after Reconcile, and WaitHandlers before it exits.
func (e *Engine) Watch(ctx context.Context, onErr func(name string, err error)) error {
	// pidfd_open (Linux 5.3) on ourselves proves the kernel has it.
	if fd, err := unix.PidfdOpen(os.Getpid(), 0); err != nil {
		return fmt.Errorf("watch containers: pidfd_open: %w (Linux 5.3 or later is needed)", err)
	} else {
		unix.Close(fd)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("watch containers: epoll: %w", err)
	}
	recs, err := e.Inventory.List(ctx)
	if err != nil {
		unix.Close(epfd)
		return fmt.Errorf("watch containers: %w", err)
	}
	if onErr == nil {
		onErr = func(string, error) {}
	}
	w := &e.inits
	w.mu.Lock()
	if w.watching {
		w.mu.Unlock()
		unix.Close(epfd)
		return errors.New("watch containers: already watching")
	}
	w.watching, w.epfd, w.ctx, w.onErr = true, epfd, ctx, onErr
	w.mu.Unlock()
	for _, r := range recs {
		if r.Node != e.Node || r.Status != inventory.StatusRunning {
			continue
		}
		if st, pid, err := e.Runtime.State(ctx, r.InstanceKey()); err == nil && st == "running" {
			e.watch(r.InstanceKey(), pid, false)
		} else if err == nil {
			e.handle(r.InstanceKey(), 0) // ended since Reconcile
		}
	}
	go e.watchLoop(ctx, epfd)
	return nil
}

// WaitHandlers waits (until ctx ends) for the handling of exits under way,
// so a daemon that stops does not cut a reboot in the middle.
func (e *Engine) WaitHandlers(ctx context.Context) {
	done := make(chan struct{})
	go func() { e.inits.handlers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// watch adds a container's init to the watch (replacing an older one of
// the same name); a no-op before Watch. fromBoot records the boot time for
// the loop rule.
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
	if !w.watching || pid <= 0 {
		return
	}
	if w.byFD == nil {
		w.byFD, w.byName = map[int32]watched{}, map[string]int32{}
	}
	if old, ok := w.byName[name]; ok {
		w.dropLocked(old)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		e.handleLocked(name, pid) // gone already: an exit seen now
		return
	}
	if err == nil {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		w.onErr(name, fmt.Errorf("watch its init (pid %d): %w; a reboot or shutdown from inside is handled at the daemon's next start", pid, err))
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

// handle runs the exit's handling in its own goroutine, counted for
// WaitHandlers, on a context that a daemon stopping does not cancel.
func (e *Engine) handle(name string, pid int) {
	e.inits.mu.Lock()
	defer e.inits.mu.Unlock()
	e.handleLocked(name, pid)
}

func (e *Engine) handleLocked(name string, pid int) {
	w := &e.inits
	w.handlers.Add(1)
	f, ctx := w.exited, context.WithoutCancel(w.ctx)
	go func() {
		defer w.handlers.Done()
		if f != nil {
			f(name, pid)
			return
		}
		e.initExited(ctx, name, pid)
	}()
}

func (e *Engine) watchLoop(ctx context.Context, epfd int) {
	w := &e.inits
	defer func() {
		w.mu.Lock()
		for fd := range w.byFD {
			w.dropLocked(fd)
		}
		unix.Close(w.epfd)
		w.watching = false
		w.mu.Unlock()
	}()
	evs := make([]unix.EpollEvent, 32)
	for ctx.Err() == nil {
		n, err := unix.EpollWait(epfd, evs, 500)
		if err != nil && !errors.Is(err, unix.EINTR) {
			w.onErr("", fmt.Errorf("watch containers: epoll_wait: %w; reboots and shutdowns from inside are handled at the daemon's next start", err))
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
					e.handleLocked(x.name, x.pid)
				}
			}
			w.mu.Unlock()
		}
	}
}

// initExited acts on a watched init that exited: if the record still says
// running and runc agrees it is not (a stop, restart or remove through the
// API holds the name's lock and changes the record first), the container
// ended on its own. A store or runc error is retried, never taken for a
// death: acting on a guess could take down a container booted meanwhile.
func (e *Engine) initExited(ctx context.Context, name string, pid int) {
	var err error
	for try := 0; try < 5; try++ {
		if try > 0 {
			time.Sleep(time.Duration(try) * time.Second)
		}
		var retry bool
		if retry, err = e.initExitedOnce(ctx, name, pid); !retry {
			break
		}
	}
	if err != nil {
		e.inits.onErr(name, err)
	}
}

// The watch knows containers by instance (the name can change while one
// runs: a release's switch); the record is found by it, then read again
// under its name's lock.
func (e *Engine) initExitedOnce(ctx context.Context, inst string, pid int) (retry bool, err error) {
	found, err := e.recordOfInstance(ctx, inst)
	if errors.Is(err, inventory.ErrNotFound) {
		return false, nil // removed meanwhile
	}
	if err != nil {
		return true, fmt.Errorf("its init exited; reading its record: %w", err)
	}
	name := found.Name
	unlock := e.lock(name)
	defer unlock()
	rec, err := e.local(ctx, name)
	if errors.Is(err, inventory.ErrNotFound) || (err == nil && rec.InstanceKey() != inst) {
		return true, fmt.Errorf("its init exited while %q was renamed; looking again", name)
	}
	if err != nil {
		return true, fmt.Errorf("its init exited; reading its record: %w", err)
	}
	if rec.Status != inventory.StatusRunning {
		return false, nil
	}
	st, cur, err := e.Runtime.State(ctx, inst)
	if err != nil {
		return true, fmt.Errorf("its init exited; asking runc: %w", err)
	}
	if st == "running" {
		if cur != pid { // booted again meanwhile: follow the new init
			e.watch(inst, cur, false)
		}
		return false, nil
	}
	e.inits.mu.Lock()
	early := time.Since(e.inits.booted[inst]) < earlyEnd
	e.inits.mu.Unlock()
	return false, e.endedOnItsOwn(ctx, rec, powerRequest(rootfs.Layout{Dir: e.dir(inst)}), early)
}

// endedOnItsOwn takes down what is left of a container recorded running
// whose init is gone, and records why: req is its power request, early
// says it ended within a minute of its boot. The intent is recorded first
// (status stopping with the reason), so a daemon that dies mid-way finishes
// it in Reconcile. The caller holds the name's lock.
func (e *Engine) endedOnItsOwn(ctx context.Context, rec inventory.Record, req string, early bool) error {
	loop := e.countEarly(rec.InstanceKey(), early && req != powerPoweroff)
	switch {
	case req == powerReboot && loop:
		rec.StopReason = inventory.StopRebootLoop
	case req == powerReboot:
		rec.StopReason = inventory.StopRebooting
	case req == powerPoweroff:
		rec.StopReason = inventory.StopPoweroff
	case loop:
		rec.StopReason = inventory.StopCrashLoop
	default:
		rec.StopReason = inventory.StopCrashed
	}
	cause := inventory.Cause{Kind: inventory.CauseReconcile, Detail: "init exited"}
	if req != "" {
		cause = inventory.Cause{Kind: inventory.CauseInside, Detail: req}
	}
	ctx = inventory.WithCause(ctx, cause)
	rec.Status = inventory.StatusStopping
	if err := e.Inventory.Put(ctx, rec); err != nil {
		return fmt.Errorf("it ended on its own (%s); recording it: %w", rec.StopReason, err)
	}
	_, err := e.finishEnd(ctx, rec)
	return err
}

// finishEnd takes a container whose record says stopping because it ended
// on its own down, records it stopped, and boots it again when it asked a
// reboot or crashed with autostart. Reconcile calls it for such a record
// left by a daemon that died mid-way.
func (e *Engine) finishEnd(ctx context.Context, rec inventory.Record) (booted bool, err error) {
	name := rec.Name
	if err := e.halt(ctx, rec.InstanceKey()); err != nil {
		return false, fmt.Errorf("take down what is left of it (%s): %w", rec.StopReason, err)
	}
	boot := rec.StopReason == inventory.StopRebooting || (rec.StopReason == inventory.StopCrashed && rec.Autostart)
	if rec.StopReason == inventory.StopRebooting {
		rec.StopReason = ""
	}
	rec.Status = inventory.StatusStopped
	if err := e.Inventory.Put(ctx, rec); err != nil {
		return false, fmt.Errorf("record it stopped: %w", err)
	}
	if !boot {
		return false, nil
	}
	bctx := ctx
	if rec.StopReason == inventory.StopCrashed {
		bctx = inventory.WithCause(ctx, inventory.Cause{Kind: inventory.CauseAutostart})
	}
	if _, err := e.start(bctx, name); err != nil {
		if rec.StopReason == "" { // a reboot: say why it is down
			if cur, gerr := e.Inventory.Get(ctx, name); gerr == nil && cur.Status == inventory.StatusStopped {
				cur.StopReason = inventory.StopRebootFailed
				_ = e.Inventory.Put(ctx, cur)
			}
		}
		return false, fmt.Errorf("boot it again: %w", err)
	}
	return true, nil
}

// countEarly counts early ends in a row and says whether this one makes a
// loop; a late end starts the count again.
func (e *Engine) countEarly(name string, early bool) bool {
	w := &e.inits
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.early == nil {
		w.early = map[string]int{}
	}
	if !early {
		delete(w.early, name)
		return false
	}
	w.early[name]++
	if w.early[name] >= loopAfter {
		delete(w.early, name)
		return true
	}
	return false
}
