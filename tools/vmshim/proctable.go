package main

import (
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is one line of /proc/<pid>/stat that the supervisor needs.
type proc struct {
	PID, PPID int
	State     byte   // R, S, D, Z, T, ...
	Start     uint64 // start time in clock ticks since boot
	Comm      string
}

// readProcTable scans /proc (the real one: run-unit watches its own children).
func readProcTable() (map[int]proc, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := map[int]proc{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if p, ok := parseStat(string(b)); ok {
			p.PID = pid
			out[pid] = p
		}
	}
	return out, nil
}

// parseStat reads pid, comm, state, ppid and starttime from a stat line.
// comm is in parentheses and may itself contain spaces and parentheses.
func parseStat(line string) (proc, bool) {
	open := strings.IndexByte(line, '(')
	end := strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return proc{}, false
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(line[:open]))
	f := strings.Fields(line[end+1:])
	// f[0]=state f[1]=ppid ... starttime is field 22 overall → f[19]
	if len(f) < 20 {
		return proc{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return proc{PID: pid, PPID: ppid, State: f[0][0], Start: start, Comm: line[open+1 : end]}, true
}

// descendants lists every live (non-zombie) process below root, sorted.
func descendants(table map[int]proc, root int) []int {
	kids := map[int][]int{}
	for _, p := range table {
		kids[p.PPID] = append(kids[p.PPID], p.PID)
	}
	var out []int
	queue := []int{root}
	seen := map[int]bool{root: true}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, k := range kids[cur] {
			if seen[k] {
				continue
			}
			seen[k] = true
			queue = append(queue, k)
			if table[k].State != 'Z' {
				out = append(out, k)
			}
		}
	}
	sort.Ints(out)
	return out
}

// guessMainPID picks a forking daemon's main process with no PIDFile: the
// live direct children of the supervisor (a subreaper, so the daemon's
// orphaned processes are re-parented to it), excluding the ones it is
// running as control commands. One child: that one. Several: the oldest,
// and ambiguous is true (systemd refuses to guess then; vmshim picks and
// says so in the log).
func guessMainPID(table map[int]proc, supervisor int, exclude map[int]bool) (pid int, ambiguous bool) {
	var cands []proc
	for _, p := range table {
		if p.PPID == supervisor && p.State != 'Z' && !exclude[p.PID] {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return 0, false
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].Start != cands[j].Start {
			return cands[i].Start < cands[j].Start
		}
		return cands[i].PID < cands[j].PID
	})
	return cands[0].PID, len(cands) > 1
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	p, ok := parseStat(string(b))
	return ok && p.State != 'Z' && p.State != 'X'
}

func procComm(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procStartTime is when pid started (zero time if unknown: never after anything).
func procStartTime(pid int) time.Time {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return time.Time{}
	}
	p, ok := parseStat(string(b))
	if !ok {
		return time.Time{}
	}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for _, line := range strings.Split(string(stat), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			bt, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			const clkTck = 100 // USER_HZ on every Linux ABI Go supports
			return time.Unix(bt, 0).Add(time.Duration(p.Start) * time.Second / clkTck)
		}
	}
	return time.Time{}
}
