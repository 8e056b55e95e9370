// Command fatbox runs fat containers: Linux containers that ops treat like
// the VMs they replace. `fatbox daemon` is the host agent; every other
// subcommand is a client of it. This package only wires packages together.
package main

import (
	"errors"
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	cmd := newRootCmd()
	cmd.SetArgs(ansibleInventoryArgs(os.Args[0], os.Args[1:])) // the binary is also the Ansible inventory script
	if err := cmd.Execute(); err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec)) // the exit code of a process run in a container; it spoke for itself
		}
		fmt.Fprintln(os.Stderr, "fatbox:", err)
		os.Exit(1)
	}
}

// exitCode is a non-zero exit code of a process that exec, logs or prog ran
// in a container; fatbox exits with it and prints nothing more.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// codeErr turns a process's exit code into the command's result.
func codeErr(code int, err error) error {
	if err != nil {
		return err
	}
	if code != 0 {
		return exitCode(code)
	}
	return nil
}
