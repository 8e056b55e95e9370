package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

// globals are the flags every client subcommand shares.
type globals struct {
	socket string
}

// client talks to the daemon on --socket, else $FATBOX_SOCKET (the only way
// to point the inventory script, which takes no flags, at a daemon), else
// api.DefaultSocket.
func (g *globals) client() *api.Client {
	sock := g.socket
	if sock == "" {
		sock = os.Getenv("FATBOX_SOCKET")
	}
	return &api.Client{Socket: sock} // "" is api.DefaultSocket
}

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
	root.PersistentFlags().StringVar(&g.socket, "socket", "", "the fatbox daemon's unix socket (default $FATBOX_SOCKET, else "+api.DefaultSocket+"; the daemon itself listens on its config's unless given)")
	root.AddCommand(newVersionCmd(), newDaemonCmd(), newStatusCmd(g), newPoolCmd(g), newIPCmd(g), newImageCmd(g), newCreateCmd(g), newRmCmd(g), newLsCmd(g), newStopCmd(g), newStartCmd(g), newRestartCmd(g), newInspectCmd(g), newRenameCmd(g), newExecCmd(g), newConsoleCmd(g), newLogsCmd(g), newProgCmd(g), newUpdateCmd(g), newEventsCmd(g), newInventoryCmd(g), newCMDBCmd(g), newStatsCmd(g), newUsageCmd(g), newDoctorCmd(g), newVolumeCmd(g), newSnapshotCmd(g), newCommitCmd(g), newReleaseCmd(g), newRollbackCmd(g), newAuditCmd(g), newDockerfileCmd(g), newGwCmd(g))
	requireSubcommands(root)
	return root
}

// requireSubcommands makes every command that only groups others (pool,
// ip, image, prog) refuse an unknown or missing subcommand with an error
// and a non-zero exit; cobra's own default prints the help and exits 0.
func requireSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		requireSubcommands(c)
	}
	if !cmd.HasSubCommands() || cmd.Run != nil || cmd.RunE != nil || !cmd.HasParent() {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		if len(args) == 0 {
			return fmt.Errorf("`%s` needs a subcommand: %s (see `%s --help`)", c.CommandPath(), strings.Join(names, ", "), c.CommandPath())
		}
		return fmt.Errorf("`%s` has no subcommand %q: use %s (see `%s --help`)", c.CommandPath(), args[0], strings.Join(names, ", "), c.CommandPath())
	}
}
