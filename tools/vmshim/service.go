package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// service is Debian/RHEL's service(8): a unit or an init script, driven
// the same way as systemctl.
func (s *shim) service(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(s.errw, "Usage: service < option > | --status-all | [ service_name [ command | --full-restart ] ]")
		return 1
	}
	switch args[0] {
	case "--status-all":
		return s.serviceStatusAll()
	case "--version":
		fmt.Fprintln(s.out, "service ver. vmshim")
		return 0
	case "-h", "--help":
		fmt.Fprintln(s.out, "Usage: service < option > | --status-all | [ service_name [ command | --full-restart ] ]")
		return 0
	}
	name := args[0]
	action := ""
	if len(args) > 1 {
		action = args[1]
	}
	if action == "--full-restart" {
		action = "restart"
	}
	progs, _ := s.programs()
	t := s.resolve(name, progs)
	script := s.path(filepath.Join("/etc/init.d", bareName(t.name)))
	if t.notFound() {
		fmt.Fprintf(s.errw, "%s: unrecognized service\n", name)
		return 1
	}
	switch action {
	case "start", "stop", "restart", "reload", "force-reload", "try-restart", "condrestart", "status":
	case "":
		fmt.Fprintf(s.errw, "Usage: service %s {start|stop|restart|reload|force-reload|status|try-restart}\n", name)
		return 1
	default:
		// An action of the script's own (configtest, upgrade, ...): run it.
		if st, err := os.Stat(script); err == nil && st.Mode()&0o111 != 0 {
			return s.runScript(script, args[1:])
		}
		fmt.Fprintf(s.errw, "Failed: %s has no init script; %s is not a systemctl action\n", t.name, action)
		return 1
	}
	verb := action
	if verb == "condrestart" {
		verb = "try-restart"
	}
	if verb == "stop" && t.unit != nil && t.unit.SysV && !s.isActiveNow(t, progs) {
		// Started by calling the script directly (outside vmshim): its own
		// stop is what stops it.
		if st, err := os.Stat(script); err == nil && st.Mode()&0o111 != 0 {
			return s.runScript(script, []string{"stop"})
		}
	}
	return s.systemctl([]string{verb, t.name})
}

// runScript runs an init script directly, without the redirect back to systemctl.
func (s *shim) runScript(script string, args []string) int {
	env := append(os.Environ(), "_SYSTEMCTL_SKIP_REDIRECT=1", "SYSTEMCTL_SKIP_REDIRECT=1")
	argv := append([]string{script}, args...)
	pid, err := syscall.ForkExec(script, argv, &syscall.ProcAttr{
		Dir: "/", Env: env, Files: []uintptr{os.Stdin.Fd(), os.Stdout.Fd(), os.Stderr.Fd()},
	})
	if err != nil {
		fmt.Fprintf(s.errw, "%s: %v\n", script, err)
		return 1
	}
	ws, err := waitPidTimeout(pid, 0)
	if err != nil {
		return 1
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func (s *shim) serviceStatusAll() int {
	ents, err := os.ReadDir(s.path("/etc/init.d"))
	if err != nil {
		fmt.Fprintf(s.errw, "service: %v\n", err)
		return 1
	}
	progs, _ := s.programs()
	var names []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") || n == "README" || n == "skeleton" || strings.HasSuffix(n, ".sh") || strings.Contains(n, ".dpkg-") {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := s.resolve(n, progs)
		mark := "-"
		switch s.viewOf(t, progs).ActiveState {
		case stActive, stActivating, stReloading:
			mark = "+"
		}
		fmt.Fprintf(s.out, " [ %s ]  %s\n", mark, n)
	}
	return 0
}
