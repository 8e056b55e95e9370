package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newStopCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "stop NAME", Short: "stop a container (programs stop in order, then kill); disk, keys and IP stay", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().Stop(ctxOf(cmd), args[0]); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "container %s stopped\n", args[0])
			return err
		},
	}
}

func newStartCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "start NAME", Short: "start a stopped container on its own IP, MAC, disk and host keys", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rec, err := g.client().Start(ctxOf(cmd), args[0])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "container %s running on %s\n", rec.Name, rec.IP)
			return err
		},
	}
}

func newRestartCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "restart NAME", Short: "stop a container (programs in order) and start it again on the same IP, MAC, disk and host keys", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rec, err := g.client().Restart(ctxOf(cmd), args[0])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "container %s running on %s\n", rec.Name, rec.IP)
			return err
		},
	}
}

func newRenameCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "rename NAME NEW-NAME", Short: "rename a stopped container; its IP, MAC, disk and host keys go with it (hostname follows at start)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rec, err := g.client().Rename(ctxOf(cmd), args[0], args[1])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "container %s renamed to %s (keeps %s)\n", args[0], rec.Name, rec.IP)
			return err
		},
	}
}
