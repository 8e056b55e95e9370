package lxcfs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Manager runs one lxcfs on Dir.
type Manager struct {
	// Binary is the lxcfs executable; "" means "lxcfs" looked up in PATH.
	Binary string
	// Dir is lxcfs's mount point, e.g. <state dir>/lxcfs. Required: the zero
	// value is refused. Its pid file is Dir+".pid" and its lock Dir+".lock".
	Dir string
	// Log receives lxcfs's stdout and stderr (appended); "" means Dir+".log".
	Log string

	hungAfter time.Duration // how long Healthy waits for lxcfs; 0 means 5 s (tests shorten it)

	mu    sync.Mutex
	probe *probe // the health probe under way, if any
}

// ErrNotMounted is wrapped by Healthy when nothing (or something other than
// lxcfs) is mounted on Dir.
var ErrNotMounted = errors.New("lxcfs is not mounted")

const (
	startTimeout  = 10 * time.Second
	statTimeout   = 5 * time.Second
	fuseMagic     = 0x65735546 // FUSE_SUPER_MAGIC
	fuseLXCFSType = "fuse.lxcfs"
)

// procFiles are the /proc files lxcfs virtualises; cpuOnline is the one sysfs
// file.
var procFiles = []string{"cpuinfo", "diskstats", "loadavg", "meminfo", "stat", "swaps", "uptime"}

const cpuOnline = "sys/devices/system/cpu/online"

// Mounts returns the bind mounts of lxcfs's files under dir over the files
// they virtualise, for a container's OCI spec. Only files present in the
// live mount are listed, so a dead or missing lxcfs yields none; call it
// after Ensure (a stopped lxcfs makes it block until lxcfs answers or dies).
func Mounts(dir string) []specs.Mount {
	var ms []specs.Mount
	for _, b := range binds(dir) {
		ms = append(ms, specs.Mount{Destination: b.target, Type: "bind", Source: b.source,
			Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}})
	}
	return ms
}

type bind struct{ source, target string }

func binds(dir string) []bind {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs // runc needs absolute sources
	}
	// A stat of a file on a dead FUSE mount may still be answered from the
	// kernel's attribute cache; a statfs always asks lxcfs.
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return nil
	}
	var bs []bind
	rel := make([]string, 0, len(procFiles)+1)
	for _, f := range procFiles {
		rel = append(rel, "proc/"+f)
	}
	rel = append(rel, cpuOnline)
	for _, r := range rel {
		src := filepath.Join(dir, r)
		if _, err := os.Stat(src); err == nil {
			bs = append(bs, bind{source: src, target: "/" + r})
		}
	}
	return bs
}

func (m *Manager) dir() (string, error) {
	if m.Dir == "" {
		return "", errors.New("lxcfs manager needs Dir, the mount point (e.g. <state dir>/lxcfs)")
	}
	return filepath.Abs(m.Dir)
}

func (m *Manager) logPath(dir string) string {
	if m.Log != "" {
		return m.Log
	}
	return dir + ".log"
}

// Healthy reports whether lxcfs is mounted on Dir and answers: Dir must be a
// fuse.lxcfs mount and Dir/proc/meminfo must stat. The error wraps the errno
// (syscall.ENOTCONN when lxcfs died and the mount is stale, rarely
// ECONNABORTED just as it dies, ETIMEDOUT when it does not answer within
// 5 s) or ErrNotMounted.
func (m *Manager) Healthy() error {
	dir, err := m.dir()
	if err != nil {
		return err
	}
	fstype, err := mountType(dir)
	if err != nil {
		return err
	}
	if fstype == "" {
		return fmt.Errorf("%q: %w", dir, ErrNotMounted)
	}
	if fstype != fuseLXCFSType {
		return fmt.Errorf("%q is a %s mount, not lxcfs: %w", dir, fstype, ErrNotMounted)
	}
	// statfs always reaches lxcfs (a stat of meminfo may be answered from the
	// kernel's attribute cache). Both block while lxcfs is stopped or hung.
	meminfo := filepath.Join(dir, "proc", "meminfo")
	// One probe at a time: against a hung lxcfs a probe never returns (its
	// goroutine holds a thread), so later calls wait on the same probe
	// instead of leaking one thread each.
	m.mu.Lock()
	pr := m.probe
	if pr == nil {
		pr = &probe{done: make(chan struct{})}
		m.probe = pr
		go func() {
			pr.err = statLXCFS(dir, meminfo)
			m.mu.Lock()
			m.probe = nil
			m.mu.Unlock()
			close(pr.done)
		}()
	}
	m.mu.Unlock()
	wait := m.hungAfter
	if wait <= 0 {
		wait = statTimeout
	}
	select {
	case <-pr.done:
		return pr.err
	case <-time.After(wait):
		return fmt.Errorf("lxcfs on %q does not answer a statfs or a stat of %q within %s (stopped or hung; Ensure replaces it): %w",
			dir, meminfo, wait, unix.ETIMEDOUT)
	}
}

// probe is one health probe of the lxcfs mount; err is set before done closes.
type probe struct {
	done chan struct{}
	err  error
}

// statLXCFS asks lxcfs itself: statfs always reaches it, and a stat of
// meminfo checks its files answer.
func statLXCFS(dir, meminfo string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("lxcfs mount %q: %w", dir, err)
	}
	if st.Type != fuseMagic {
		return fmt.Errorf("%q is not a FUSE file system (magic %#x): %w", dir, st.Type, ErrNotMounted)
	}
	if _, err := os.Stat(meminfo); err != nil {
		return fmt.Errorf("lxcfs mount %q: %w", dir, err)
	}
	return nil
}

// mountType returns the file system type of the topmost mount on dir in our
// mount namespace, or "" if dir is not a mount point.
func mountType(dir string) (string, error) {
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	fstype := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 || unescape(fields[4]) != dir {
			continue
		}
		for i := 6; i < len(fields)-1; i++ {
			if fields[i] == "-" {
				fstype = fields[i+1] // later lines are mounted on top of earlier ones
				break
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read mount table: %w", err)
	}
	return fstype, nil
}

// unescape undoes mountinfo's octal escapes (\040 for space and so on).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Ensure makes sure a healthy lxcfs is mounted on Dir. If one is (started by
// this or an earlier daemon) it returns nil at once. Otherwise it kills an
// unhealthy lxcfs left on Dir, detaches the stale mount, starts lxcfs detached
// from the daemon and waits up to 10 s for the mount to answer. Concurrent
// calls, also from other processes, are serialised by a lock on Dir+".lock".
func (m *Manager) Ensure(ctx context.Context) error {
	dir, err := m.dir()
	if err != nil {
		return err
	}
	if m.Healthy() == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create the parent of lxcfs's mount point %q: %w", dir, err)
	}
	unlock, err := lock(ctx, dir+".lock")
	if err != nil {
		return err
	}
	defer unlock()
	if m.Healthy() == nil { // another caller started it while we waited
		return nil
	}
	if err := killStale(dir); err != nil {
		return err
	}
	if err := detach(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create lxcfs's mount point %q: %w", dir, err)
	}
	return m.start(ctx, dir)
}

func (m *Manager) start(ctx context.Context, dir string) error {
	bin := m.Binary
	if bin == "" {
		bin = "lxcfs"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return fmt.Errorf("find lxcfs %q: %w (install it: apt-get install -y lxcfs, or run tools/setup-host.sh)", bin, err)
	}
	logPath := m.logPath(dir)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return fmt.Errorf("create the directory of lxcfs's log %q: %w", logPath, err)
	}
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open lxcfs's log %q: %w", logPath, err)
	}
	defer logf.Close() // lxcfs holds its own copy
	fmt.Fprintf(logf, "--- fatbox starts lxcfs on %s at %s\n", dir, time.Now().Format(time.RFC3339))
	logStart, _ := logf.Seek(0, io.SeekEnd)

	// Not exec.CommandContext: lxcfs must outlive ctx and the daemon.
	cmd := exec.Command(path, "--foreground", "--enable-cfs", "--enable-loadavg", "--pidfile="+dir+".pid", dir)
	cmd.Dir = "/"
	cmd.Stdin = nil // /dev/null
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %q: %w", path, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // reap it if it dies while we run

	t := time.NewTimer(startTimeout)
	defer t.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var why string
	for {
		herr := m.Healthy()
		if herr == nil {
			return nil
		}
		select {
		case err := <-exited:
			why = fmt.Sprintf("lxcfs exited (%v)", err)
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			why = fmt.Sprintf("gave up waiting: %v", ctx.Err())
		case <-t.C:
			_ = cmd.Process.Kill()
			why = fmt.Sprintf("its mount did not answer within %s (last check: %v)", startTimeout, herr)
		case <-tick.C:
			continue
		}
		break
	}
	_ = detach(dir)
	return fmt.Errorf("start lxcfs on %q: %s; the last lines of its log %q:\n%s\n"+
		"fix what the log says (lxcfs needs /dev/fuse and the fuse module, root, and its cgroup hierarchies), "+
		"or run `%s --foreground --enable-cfs --enable-loadavg %s` by hand to see why",
		dir, why, logPath, tail(logPath, logStart, 10), path, dir)
}

// tail returns the last n lines of the file written after offset from.
func tail(path string, from int64, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("  (cannot read it: %v)", err)
	}
	if from >= 0 && from <= int64(len(b)) {
		b = b[from:]
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return "  (empty)"
	}
	return "  " + strings.Join(lines, "\n  ")
}

// lock takes an exclusive flock on path, polling so ctx can cancel the wait.
func lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lxcfs lock %q: %w", path, err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %q: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lxcfs lock %q (another fatbox is starting lxcfs): %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pidOf returns the pid of the lxcfs serving dir according to its pid file,
// or 0 if that process is gone or is not lxcfs on dir.
func pidOf(dir string) int {
	b, err := os.ReadFile(dir + ".pid")
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0
	}
	args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
	if len(args) < 2 || filepath.Base(string(args[0])) != "lxcfs" || string(args[len(args)-1]) != dir {
		return 0
	}
	return pid
}

// killStale kills an lxcfs still running on dir whose mount is unhealthy
// (stopped, hung or half dead); its locked pid file would stop a new one.
func killStale(dir string) error {
	pid := pidOf(dir)
	if pid == 0 {
		return nil
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill the unhealthy lxcfs (pid %d) on %q: %w", pid, dir, err)
	}
	for i := 0; i < 250; i++ { // its parent (maybe not us) reaps it
		if exited(pid) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("the unhealthy lxcfs (pid %d) on %q did not die after SIGKILL; it is stuck in the kernel, reboot or `umount -l %s`", pid, dir, dir)
}

// detach lazily unmounts everything stacked on dir.
func detach(dir string) error {
	for i := 0; i < 16; i++ {
		err := unix.Unmount(dir, unix.MNT_DETACH)
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil // not (or no longer) a mount point
		case errors.Is(err, unix.ENOTCONN):
			return nil // the new mount goes on top; Healthy checks the topmost
		default:
			return fmt.Errorf("detach the stale lxcfs mount %q: %w (try `umount -l %s`)", dir, err, dir)
		}
	}
	return fmt.Errorf("detach the stale lxcfs mount %q: still mounted after 16 unmounts", dir)
}

// exited reports whether every thread of pid has exited, so its files (the
// /dev/fuse connection, the pid file's lock) are closed. A killed
// multi-threaded process shows its leader as a zombie while other threads
// are still exiting and holding those files.
func exited(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return true // gone (reaped)
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			continue
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		st := string(b)
		if i := strings.LastIndexByte(st, ')'); i < 0 || !strings.HasPrefix(st[i:], ") Z") && !strings.HasPrefix(st[i:], ") X") {
			return false
		}
	}
	return true
}
