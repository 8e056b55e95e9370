package engine

import (
	"context"
	"fmt"
	"regexp"

	"github.com/fatbox/fatbox/engine/firstboot"
	"github.com/fatbox/fatbox/engine/runtime"
)

// Exec runs a process in a running container and returns its exit code.
// Call CheckRunning first: it gives the clear error for a container that
// is missing, elsewhere or stopped (runc's own is terse), before a caller
// commits to streaming.
func (e *Engine) Exec(ctx context.Context, name string, c runtime.ExecConfig, s runtime.Streams) (int, error) {
	return e.Runtime.Exec(ctx, name, c, s)
}

// CheckRunning fails unless the container exists on this node and runc runs it.
func (e *Engine) CheckRunning(ctx context.Context, name string) error {
	if _, err := e.local(ctx, name); err != nil {
		return err
	}
	st, _, err := e.Runtime.State(ctx, name)
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
	if err := validProgram(program); err != nil {
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
		if err := validProgram(program); err != nil {
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

// validProgram checks a supervisord program name (it becomes a log file's
// name inside the container, so no path characters).
func validProgram(name string) error {
	if !programRE.MatchString(name) {
		return invalidf("program name %q is not valid: use lowercase letters, digits, '.', '_' and '-' (see `fatbox prog ls NAME`)", name)
	}
	return nil
}

var programRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
