package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/fatbox/fatbox/baseimages/units"
)

// timerInfo is one timer in /run/vmshim/timers.json (list-timers reads it).
type timerInfo struct {
	Timer     string `json:"timer"`
	Activates string `json:"activates"`
	Next      string `json:"next,omitempty"`
	Last      string `json:"last,omitempty"`
}

// timerSet is what the loop knows about the timers it runs.
type timerSet struct {
	mu      sync.Mutex
	started time.Time            // when the loop first saw each timer: OnActiveSec base
	seen    map[string]time.Time // timer → first sight
	last    map[string]time.Time // timer → last time it fired
	fired   map[string]bool      // one-shot (boot/active) triggers already done
	running map[string]bool
}

func (s *shim) stampPath(timer string) string {
	return filepath.Join(s.path(timerStampDir), "stamp-"+timer)
}

// activeTimers lists the timers to run: enabled ones (timers.target and
// the boot targets' wants) and any started by hand, minus stopped ones.
func (s *shim) activeTimers() []*units.Unit {
	names := map[string]bool{}
	for _, tg := range append([]string{"timers.target"}, bootTargets...) {
		ws, _ := s.loader.WantsOf(tg)
		for _, w := range ws {
			if unitType(w) == "timer" {
				names[w] = true
			}
		}
	}
	ents, _ := os.ReadDir(s.path(stateDir))
	for _, e := range ents {
		if n := strings.TrimSuffix(e.Name(), ".json"); unitType(n) == "timer" {
			names[n] = true
		}
	}
	var out []*units.Unit
	for _, n := range sortedKeys(names) {
		st, ok, _ := s.readState(n)
		if ok && st.ActiveState != stActive {
			continue // stopped by hand
		}
		u, err := s.loader.Load(n)
		if err != nil || u.Timer == nil {
			continue
		}
		out = append(out, u)
	}
	return out
}

// setTimerActive is systemctl start/stop of a timer: recorded in its state
// file; the init loop picks it up.
func (s *shim) setTimerActive(t target, on bool) *exitErr {
	verb := "start"
	if !on {
		verb = "stop"
	}
	if t.unit == nil || t.unit.Timer == nil {
		return fail(1, "Failed to %s %s: not a timer unit", verb, t.name)
	}
	st := unitState{Unit: t.name, ActiveState: stInactive, SubState: "dead", Result: "success"}
	if on {
		st.ActiveState, st.SubState, st.ActiveEnter = stActive, "waiting", stamp(s.now())
	} else {
		st.InactiveEnter = stamp(s.now())
	}
	if err := s.writeState(st); err != nil {
		return fail(1, "Failed to %s %s: %v", verb, t.name, err)
	}
	s.signalInit()
	return nil
}

// containerStart is when the container started: PID 1's start time.
func containerStart() time.Time {
	if t := procStartTime(1); !t.IsZero() {
		return t
	}
	return time.Now()
}

// nextElapse is when a timer fires next (zero: nothing scheduled), given
// the container start, its service's state and the loop's memory.
func nextElapse(tm *units.Timer, now, boot, firstSeen, last time.Time, svc unitState, fired bool) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, c := range tm.OnCalendar {
		// The first elapse after the later of the last run and the moment
		// the loop first saw the timer (a missed run from before that is
		// Persistent='s business, see persistentCatchUp).
		from := firstSeen
		if last.After(from) {
			from = last
		}
		consider(c.Next(from))
	}
	if !fired {
		if tm.OnBootSec > 0 {
			consider(boot.Add(tm.OnBootSec))
		}
		if tm.OnStartupSec > 0 {
			consider(boot.Add(tm.OnStartupSec))
		}
		if tm.OnActiveSec > 0 {
			consider(firstSeen.Add(tm.OnActiveSec))
		}
	}
	if tm.OnUnitActiveSec > 0 {
		base := parseStamp(svc.ActiveEnter)
		if ms := parseStamp(svc.ExecMainStart); ms.After(base) {
			base = ms
		}
		if last.After(base) {
			base = last
		}
		if !base.IsZero() {
			consider(base.Add(tm.OnUnitActiveSec))
		}
	}
	if tm.OnUnitInactiveSec > 0 {
		if b := parseStamp(svc.InactiveEnter); !b.IsZero() {
			consider(b.Add(tm.OnUnitInactiveSec))
		}
	}
	return next
}

// persistentCatchUp says whether a Persistent= timer missed an elapse
// while the container was down: its stamp is older than the last elapse
// before now. A missing stamp is created (first sight) without firing.
func (s *shim) persistentCatchUp(u *units.Unit, now time.Time) bool {
	if !u.Timer.Persistent || len(u.Timer.OnCalendar) == 0 {
		return false
	}
	p := s.stampPath(u.Name)
	fi, err := os.Stat(p)
	if err != nil {
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		_ = os.WriteFile(p, nil, 0o644)
		return false
	}
	st := fi.ModTime()
	for _, c := range u.Timer.OnCalendar {
		if n := c.Next(st); !n.IsZero() && !n.After(now) {
			return true
		}
	}
	return false
}

func (s *shim) touchStamp(timer string, at time.Time) {
	p := s.stampPath(timer)
	_ = os.MkdirAll(filepath.Dir(p), 0o755)
	if _, err := os.Stat(p); err != nil {
		_ = os.WriteFile(p, nil, 0o644)
	}
	_ = os.Chtimes(p, at, at)
}

// timerLoop runs the active timers forever; SIGHUP (systemctl
// daemon-reload, enable, start of a timer) makes it read them again.
// AccuracySec= and RandomizedDelaySec= are ignored: a timer fires at its
// elapse.
func (s *shim) timerLoop(hup chan os.Signal) {
	ts := &timerSet{seen: map[string]time.Time{}, last: map[string]time.Time{}, fired: map[string]bool{}, running: map[string]bool{}}
	boot := containerStart()
	reread := true
	var timers []*units.Unit
	for {
		now := time.Now()
		if reread {
			timers = s.activeTimers()
			reread = false
			for _, u := range timers {
				s.firstSight(ts, u, now, boot)
				if s.persistentCatchUp(u, now) {
					s.logInit("%s: missed its last elapse while the container was down (Persistent=yes): running now", u.Name)
					s.fireTimer(ts, u, now)
				}
			}
		}
		var infos []timerInfo
		wake := now.Add(time.Minute)
		for _, u := range timers {
			svcName := orDefault(u.Timer.Unit, bareName(u.Name)+".service")
			svc, _, _ := s.currentState(svcName)
			ts.mu.Lock()
			next := nextElapse(u.Timer, now, boot, ts.seen[u.Name], ts.last[u.Name], svc, ts.fired[u.Name])
			last := ts.last[u.Name]
			ts.mu.Unlock()
			if !next.IsZero() && !next.After(now) {
				s.fireTimer(ts, u, now)
				ts.mu.Lock()
				next = nextElapse(u.Timer, now.Add(time.Second), boot, ts.seen[u.Name], ts.last[u.Name], svc, ts.fired[u.Name])
				last = ts.last[u.Name]
				ts.mu.Unlock()
			}
			if !next.IsZero() && next.Before(wake) {
				wake = next
			}
			infos = append(infos, timerInfo{Timer: u.Name, Activates: svcName, Next: stamp(next), Last: stamp(last)})
		}
		s.writeTimers(infos)
		d := time.Until(wake)
		if d < 200*time.Millisecond {
			d = 200 * time.Millisecond
		}
		select {
		case <-hup:
			reread = true
		case <-time.After(d):
		}
	}
}

// firstSight records a timer the loop has not seen yet: its last elapse
// from the stamp, and, when that stamp is from this boot (a fatbox-init
// restarted by supervisord), its OnBootSec=/OnStartupSec= as done, so
// they do not fire a second time.
func (s *shim) firstSight(ts *timerSet, u *units.Unit, now, boot time.Time) {
	if _, ok := ts.seen[u.Name]; ok {
		return
	}
	ts.seen[u.Name] = now
	if fi, err := os.Stat(s.stampPath(u.Name)); err == nil {
		ts.last[u.Name] = fi.ModTime()
		if fi.ModTime().After(boot) {
			ts.fired[u.Name] = true
		}
	}
}

// fireTimer starts the timer's service (a oneshot runs to completion) in
// the background, unless its previous run is still going.
func (s *shim) fireTimer(ts *timerSet, u *units.Unit, now time.Time) {
	svcName := orDefault(u.Timer.Unit, bareName(u.Name)+".service")
	ts.mu.Lock()
	ts.last[u.Name] = now
	ts.fired[u.Name] = true
	if ts.running[u.Name] {
		ts.mu.Unlock()
		return
	}
	ts.running[u.Name] = true
	ts.mu.Unlock()
	s.touchStamp(u.Name, now)
	s.logInit("%s: starting %s", u.Name, svcName)
	go func() {
		defer func() {
			ts.mu.Lock()
			ts.running[u.Name] = false
			ts.mu.Unlock()
		}()
		progs, _ := s.programs()
		t := s.resolve(svcName, progs)
		if e := s.start(t, sysOpts{}); e != nil {
			s.logInit("%s: %s", u.Name, strings.ReplaceAll(e.msg, "\n", " "))
		}
	}()
}

func (s *shim) writeTimers(infos []timerInfo) {
	b, err := json.MarshalIndent(infos, "", "  ")
	if err != nil {
		return
	}
	_ = os.MkdirAll(s.path(runDir), 0o755)
	_ = writeFileAtomic(s.path(timersFile), append(b, '\n'), 0o644)
}

func (s *shim) listTimers(patterns []string, o sysOpts) int {
	var infos []timerInfo
	b, err := os.ReadFile(s.path(timersFile))
	if err == nil {
		_ = json.Unmarshal(b, &infos)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Next < infos[j].Next })
	tw := tabwriter.NewWriter(s.out, 0, 0, 1, ' ', 0)
	if !o.noLegend {
		fmt.Fprintln(tw, "NEXT\tLEFT\tLAST\tPASSED\tUNIT\tACTIVATES")
	}
	n := 0
	now := s.now()
	for _, in := range infos {
		if !matchAny(in.Timer, patterns) {
			continue
		}
		next, last := parseStamp(in.Next), parseStamp(in.Last)
		col := func(t time.Time, future bool) (string, string) {
			if t.IsZero() {
				return "-", "-"
			}
			d := t.Sub(now)
			rel := ago(d) + " left"
			if !future {
				rel = ago(-d) + " ago"
			}
			return t.Local().Format("Mon 2006-01-02 15:04:05 MST"), rel
		}
		nt, nl := col(next, true)
		lt, lp := col(last, false)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", nt, nl, lt, lp, in.Timer, in.Activates)
		n++
	}
	tw.Flush()
	if !o.noLegend {
		fmt.Fprintf(s.out, "\n%d timers listed.\n", n)
		if err != nil {
			fmt.Fprintf(s.out, "(vmshim init has not written %s yet: timers run from the supervisord program fatbox-init)\n", timersFile)
		}
	}
	return 0
}
