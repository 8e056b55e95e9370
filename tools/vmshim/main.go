package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	os.Exit(run(os.Args))
}

// run dispatches on the name the binary was called by; as "vmshim" the verb
// is the first argument.
func run(args []string) int {
	s := newShim()
	verb := filepath.Base(args[0])
	rest := args[1:]
	if verb == "init" {
		// Called as /sbin/init by a script (invoke-rc.d checks it exists;
		// sysvinit's init run by a user acts as telinit): never the boot
		// loop, which is only `vmshim init`.
		return s.power("telinit", rest)
	}
	if verb == "vmshim" || strings.HasPrefix(verb, "vmshim.") {
		if len(rest) == 0 {
			fmt.Fprintln(s.errw, usage)
			return 2
		}
		verb, rest = rest[0], rest[1:]
	}
	return s.dispatch(verb, rest)
}

const usage = `usage: vmshim VERB [ARGS]
verbs: systemctl service chkconfig update-rc.d journalctl reboot shutdown halt poweroff
       telinit runlevel init run-unit doctor
(each verb also answers when the binary is called by that name, through a symlink)`

func (s *shim) dispatch(verb string, args []string) int {
	switch verb {
	case "systemctl":
		return s.systemctl(args)
	case "service":
		return s.service(args)
	case "chkconfig":
		return s.chkconfig(args)
	case "update-rc.d":
		return s.updateRCD(args)
	case "journalctl":
		return s.journalctl(args)
	case "reboot", "shutdown", "halt", "poweroff", "telinit", "runlevel":
		return s.power(verb, args)
	case "init":
		return s.initMain(args)
	case "run-unit":
		return s.runUnit(args)
	case "doctor":
		return runDoctor(args)
	case "help", "-h", "--help":
		fmt.Fprintln(s.out, usage)
		return 0
	}
	fmt.Fprintf(s.errw, "vmshim: unknown verb %q\n%s\n", verb, usage)
	return 2
}
