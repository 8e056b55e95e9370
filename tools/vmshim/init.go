package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

// initMain is `vmshim init`, supervisord program fatbox-init: it makes the
// container look systemd-managed, starts the enabled units, then runs the
// timers forever.
func (s *shim) initMain(args []string) int {
	if len(args) > 0 {
		if args[0] == "--help" || args[0] == "-h" {
			fmt.Fprintln(s.out, initUsage)
			return 0
		}
		fmt.Fprintf(s.errw, "vmshim init: unexpected arguments %q\n%s\n", args, initUsage)
		return 2
	}
	release, err := s.lockInit()
	if err != nil {
		fmt.Fprintf(s.errw, "vmshim init: %v\n", err)
		return 1
	}
	defer release()
	for _, d := range []string{systemdRunDir, stateDir, confDir, notifyDir, timerStampDir, logDir} {
		if err := os.MkdirAll(s.path(d), 0o755); err != nil {
			fmt.Fprintf(s.errw, "vmshim init: creating %s: %v\n", d, err)
		}
	}
	s.ensureInitLink()
	if err := s.writeLSBHook(); err != nil {
		s.logInit("%v: /etc/init.d scripts called directly will not be tracked", err)
	}
	hup := make(chan os.Signal, 4)
	signal.Notify(hup, syscall.SIGHUP)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-term
		os.Exit(0)
	}()
	s.bootUnits()
	s.timerLoop(hup)
	return 0
}

const initUsage = `usage: vmshim init
the boot loop of supervisord program fatbox-init: starts the enabled units and runs the timers;
it runs once per container (to power off or reboot: telinit 0|6, poweroff, reboot)`

// lockInit holds /run/vmshim/init.lock for the life of the boot loop: a
// second `vmshim init` (typed by hand) would start the units again and
// fire every timer twice.
func (s *shim) lockInit() (func(), error) {
	if err := os.MkdirAll(s.path(runDir), 0o755); err != nil {
		return nil, fmt.Errorf("creating %q: %w", runDir, err)
	}
	p := s.path(initLockFile)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %q: %w", initLockFile, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("already running (supervisord program %q holds %q); "+
				"it starts the units and runs the timers once per container: use systemctl to start units, "+
				"`/.fatbox/supervisord ctl -s unix:///run/supervisord.sock restart %s` to rerun it", initProgram, initLockFile, initProgram)
		}
		return nil, fmt.Errorf("locking %q: %w", initLockFile, err)
	}
	return func() { f.Close() }, nil
}

func (s *shim) logInit(format string, args ...any) {
	fmt.Fprintf(s.out, "%s vmshim init: %s\n", time.Now().Format("2006-01-02 15:04:05"), fmt.Sprintf(format, args...))
}

// bootTargets are the targets whose wants are started at boot.
var bootTargets = []string{"multi-user.target", "default.target", "graphical.target"}

// bootSet lists the services to start at boot: the wants of the boot
// targets and the enabled init scripts that have no unit, minus the ones
// a supervisord program already stands for.
func (s *shim) bootSet(progs []procInfo) []target {
	seen := map[string]bool{}
	var out []target
	add := func(name string) {
		if unitType(name) != "service" || seen[name] {
			return
		}
		seen[name] = true
		t := s.resolve(name, progs)
		if strings.HasPrefix(t.name, "systemd-") && !t.driven() {
			s.logInit("not starting %s: part of systemd itself, which does not run in a fat container", t.name)
			return
		}
		if t.driven() || t.unit == nil || seen["u:"+t.name] {
			if t.unit == nil && !t.driven() && t.loadErr != nil {
				s.logInit("not starting %s: %v", name, t.loadErr)
			}
			return
		}
		seen["u:"+t.name] = true
		if why := systemdInternal(t); why != "" {
			s.logInit("not starting %s: %s", t.name, why)
			return
		}
		out = append(out, t)
	}
	for _, tg := range bootTargets {
		wants, err := s.loader.WantsOf(tg)
		if err != nil {
			s.logInit("reading %s wants: %v", tg, err)
		}
		for _, w := range wants {
			add(w)
		}
	}
	names, err := s.loader.List()
	if err != nil {
		s.logInit("listing units: %v", err)
	}
	for _, n := range names {
		if unitType(n) != "service" || seen[n] {
			continue
		}
		if _, err := os.Stat(s.path("/etc/init.d/" + bareName(n))); err != nil {
			continue
		}
		t := s.resolve(n, progs)
		if t.unit == nil || !t.unit.SysV {
			continue
		}
		if en, _ := s.loader.Enabled(n); en == "enabled" {
			add(n)
		}
	}
	return orderByAfter(out)
}

// orderByAfter sorts units so that one comes after the units its After=
// names (a stable topological sort; cycles keep name order).
func orderByAfter(ts []target) []target {
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].name < ts[j].name })
	idx := map[string]int{}
	for i, t := range ts {
		idx[t.name] = i
		for _, a := range t.unit.Aliases {
			idx[a] = i
		}
	}
	deps := make([][]int, len(ts))
	for i, t := range ts {
		for _, a := range t.unit.After {
			if j, ok := idx[a]; ok && j != i {
				deps[i] = append(deps[i], j)
			}
		}
		for _, b := range t.unit.Before {
			if j, ok := idx[b]; ok && j != i {
				deps[j] = append(deps[j], i)
			}
		}
	}
	state := make([]int, len(ts))
	var out []target
	var visit func(i int)
	visit = func(i int) {
		if state[i] != 0 {
			return
		}
		state[i] = 1
		for _, j := range deps[i] {
			visit(j)
		}
		state[i] = 2
		out = append(out, ts[i])
	}
	for i := range ts {
		visit(i)
	}
	return out
}

// bootUnits writes every boot unit's program conf, reloads supervisord
// once, and starts the units in order, waiting for each up to 15 s.
func (s *shim) bootUnits() {
	c := s.ctl()
	var progs []procInfo
	for i := 0; ; i++ {
		var err error
		progs, err = c.all()
		if err == nil {
			break
		}
		if i == 50 {
			s.logInit("supervisord is not answering (%v); not starting units", err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	set := s.bootSet(progs)
	if len(set) == 0 {
		s.logInit("no enabled units to start")
		return
	}
	var names []string
	unlock, err := s.lockRun()
	if err != nil {
		s.logInit("%v", err)
		return
	}
	for _, t := range set {
		if err := s.writeProgramConf(t.name, t.unit); err != nil {
			s.logInit("%v", err)
		}
		names = append(names, t.name)
	}
	if err := s.reloadKeepingStopped(); err != nil {
		s.logInit("reloading supervisord: %v", err)
	}
	unlock()
	s.logInit("starting %s", strings.Join(names, " "))
	for _, t := range set {
		if t.unsupported() != nil {
			s.logInit("%v", t.unsupported())
			continue
		}
		if st, _, _ := s.currentState(t.name); st.ActiveState == stActive || st.ActiveState == stActivating {
			continue // fatbox-init restarted: already up
		}
		done := make(chan *exitErr, 1)
		go func(t target) { done <- s.start(t, sysOpts{}) }(t)
		select {
		case e := <-done:
			if e != nil {
				s.logInit("%s", strings.ReplaceAll(e.msg, "\n", " "))
			}
		case <-time.After(15 * time.Second):
			s.logInit("%s is still starting after 15 s; going on with the next unit", t.name)
		}
	}
}

// ensureInitLink makes /sbin/init a link to vmshim when the image has none
// (no systemd or sysvinit package): Debian's invoke-rc.d refuses to start
// anything from a maintainer script ("No init system and policy-rc.d
// missing! Defaulting to block") without it. A real file is never
// replaced. Called as init, vmshim acts as telinit.
func (s *shim) ensureInitLink() {
	p := s.path("/sbin/init")
	if _, err := os.Lstat(p); err == nil || !errors.Is(err, os.ErrNotExist) {
		return
	}
	if err := os.Symlink(s.self, p); err != nil {
		s.logInit("linking /sbin/init to %s: %v (invoke-rc.d will not start services from package scripts)", s.self, err)
	}
}

// systemdInternal says why a unit belongs to systemd itself (a package may
// pull the systemd package into an image: systemd-logind,
// systemd-update-utmp-runlevel, ...): with supervisord as PID 1 those
// fail or make no sense, so boot leaves them alone. "" for other units.
func systemdInternal(t target) string {
	if t.unit == nil || len(t.unit.Service.ExecStart) == 0 || len(t.unit.Service.ExecStart[0].Argv) == 0 {
		return ""
	}
	exe := t.unit.Service.ExecStart[0].Argv[0]
	for _, dir := range []string{"/lib/systemd/", "/usr/lib/systemd/"} {
		if strings.HasPrefix(exe, dir) {
			return "part of systemd itself (" + exe + "), which does not run in a fat container"
		}
	}
	return ""
}
