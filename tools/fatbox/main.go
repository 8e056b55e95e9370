// Command fatbox runs fat containers: Linux containers that ops treat like
// the VMs they replace. `fatbox daemon` is the host agent; every other
// subcommand is a client of it. This package only wires packages together.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	cmd := newRootCmd()
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "fatbox:", err)
		os.Exit(1)
	}
}
