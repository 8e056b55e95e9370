package engine

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fatbox/fatbox/engine/firstboot"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/ipam"
)

// Exec runs a process in a running container and returns its exit code.
// Call CheckRunning first: it gives the clear error for a container that
// is missing, elsewhere or stopped (runc's own is terse), before a caller
// commits to streaming.
func (e *Engine) Exec(ctx context.Context, name string, c runtime.ExecConfig, s runtime.Streams) (int, error) {
	return e.Runtime.Exec(ctx, e.instance(ctx, name), c, s)
}

// CheckRunning fails unless the container exists on this node and runc runs it.
func (e *Engine) CheckRunning(ctx context.Context, name string) error {
	rec, err := e.local(ctx, name)
	if err != nil {
		return err
	}
	st, _, err := e.Runtime.State(ctx, rec.InstanceKey())
	if err != nil {
		return err
	}
	if st != "running" {
		return fmt.Errorf("container %q is not running: start it with `fatbox start %s`: %w", name, name, ErrNotRunning)
	}
	return nil
}

// supervisorctl runs supervisord's ctl client inside the container against
// its unix socket.
func supervisorctl(args ...string) []string {
	return append([]string{runtime.Init, "ctl", "-s", "unix:///run/supervisord.sock"}, args...)
}

// ProgramArgs is the command line inside a container for `fatbox prog`:
// action is status, start, stop or restart; program "" means all (status only).
func ProgramArgs(action, program string) ([]string, error) {
	switch action {
	case "status":
	case "start", "stop", "restart":
		if program == "" {
			return nil, invalidf("prog %s needs a program name: see `fatbox prog ls NAME`", action)
		}
	default:
		return nil, invalidf("unknown prog action %q: use ls, start, stop or restart", action)
	}
	if program == "" {
		return supervisorctl(action), nil
	}
	if err := ipam.ValidName("program", program); err != nil {
		return nil, err
	}
	return supervisorctl(action, program), nil
}

// LogArgs is the command line inside a container for `fatbox logs`: the
// last lines of a program's log (supervisord's own log when program is
// ""), following it if follow.
func LogArgs(program string, lines int, follow bool) ([]string, error) {
	file := firstboot.SupervisorLogDir + "/supervisord.log"
	if program != "" {
		if err := ipam.ValidName("program", program); err != nil {
			return nil, err
		}
		file = firstboot.SupervisorLogDir + "/" + program + ".log"
	}
	if lines <= 0 {
		lines = 100
	}
	args := []string{"tail", "-n", fmt.Sprint(lines)}
	if follow {
		args = append(args, "-F")
	}
	return append(args, file), nil
}

// Program is one supervisord program's state, as `supervisord ctl status`
// reports it.
type Program struct {
	Name  string
	State string // RUNNING, STARTING, STOPPED, EXITED, FATAL, BACKOFF, ...
	PID   int    // 0 unless running
	// Uptime is how long it has run (0 unless running).
	Uptime time.Duration
	// Description is supervisord's, minus the start times it invents for
	// programs that never started (the epoch).
	Description string
}

// Programs lists a running container's supervisord programs and their states.
func (e *Engine) Programs(ctx context.Context, name string) ([]Program, error) {
	if err := e.CheckRunning(ctx, name); err != nil {
		return nil, err
	}
	var out, errb bytes.Buffer
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	code, err := e.Runtime.Exec(cctx, e.instance(ctx, name), runtime.ExecConfig{Args: supervisorctl("status")}, runtime.Streams{Stdout: &limitedBuffer{b: &out, n: 1 << 20}, Stderr: &limitedBuffer{b: &errb, n: 64 << 10}})
	if err != nil {
		return nil, fmt.Errorf("programs of %q: %w", name, err)
	}
	ps := parsePrograms(out.String())
	if code != 0 && len(ps) == 0 {
		return nil, fmt.Errorf("programs of %q: supervisord's status exited %d: %s", name, code, strings.TrimSpace(errb.String()))
	}
	return ps, nil
}

// limitedBuffer keeps at most n bytes (the container writes it).
type limitedBuffer struct {
	b *bytes.Buffer
	n int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

var (
	ansiRE  = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)
	pidUpRE = regexp.MustCompile(`^pid (\d+), uptime (?:(\d+) days?, )?(\d+):(\d{2}):(\d{2})$`)
	epochRE = regexp.MustCompile(`\b1970\b`)
)

// parsePrograms reads `supervisord ctl status` lines: the colour codes it
// writes even to a pipe are dropped, and so is a description with the epoch
// as a start time (a program that never started).
func parsePrograms(s string) []Program {
	var out []Program
	for _, line := range strings.Split(ansiRE.ReplaceAllString(s, ""), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		p := Program{Name: f[0], State: f[1], Description: strings.Join(f[2:], " ")}
		if m := pidUpRE.FindStringSubmatch(p.Description); m != nil {
			p.PID, _ = strconv.Atoi(m[1])
			days, _ := strconv.Atoi(m[2])
			h, _ := strconv.Atoi(m[3])
			mi, _ := strconv.Atoi(m[4])
			sec, _ := strconv.Atoi(m[5])
			p.Uptime = time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(sec)*time.Second
		} else if epochRE.MatchString(p.Description) {
			p.Description = ""
		}
		out = append(out, p)
	}
	return out
}
