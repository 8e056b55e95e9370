package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

// globals are the flags every client subcommand shares.
type globals struct {
	socket string
}

func (g *globals) client() *api.Client { return &api.Client{Socket: g.socket} }

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "fatbox",
		Short:         "fat containers that live like VMs",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		if strings.Contains(err.Error(), "unknown shorthand flag") || strings.Contains(err.Error(), "unknown flag") {
			return fmt.Errorf("%w (see `%s --help`; a word starting with '-' is read as a flag: an argument goes after `--`, though names cannot start with '-')", err, cmd.CommandPath())
		}
		return fmt.Errorf("%w (see `%s --help`)", err, cmd.CommandPath())
	})
	root.PersistentFlags().StringVar(&g.socket, "socket", api.DefaultSocket, "the fatbox daemon's unix socket")
	root.AddCommand(newVersionCmd(), newDaemonCmd(), newStatusCmd(g), newPoolCmd(g), newIPCmd(g), newImageCmd(g), newCreateCmd(g), newRmCmd(g), newLsCmd(g), newStopCmd(g), newStartCmd(g), newRestartCmd(g), newInspectCmd(g), newRenameCmd(g), newExecCmd(g), newConsoleCmd(g), newLogsCmd(g), newProgCmd(g))
	return root
}
