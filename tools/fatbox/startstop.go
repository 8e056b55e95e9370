package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

// done is what a command that changes one thing prints with -o json.
type done struct {
	Name   string `json:"name"`
	Action string `json:"action"`
}

func newStopCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use: "stop NAME", Short: "stop a container (programs stop in order, then kill); disk, keys and IP stay", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStop(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], output)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func runStop(ctx context.Context, w io.Writer, c *api.Client, name, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	if err := c.Stop(ctx, name); err != nil {
		return err
	}
	return printDone(w, output, done{Name: name, Action: "stopped"}, "container %s stopped\n", name)
}

// printDone prints a command's outcome: v as JSON, or the sentence.
func printDone(w io.Writer, output string, v any, format string, args ...any) error {
	if output == "json" {
		return writeJSON(w, v)
	}
	_, err := fmt.Fprintf(w, format, args...)
	return err
}

func newStartCmd(g *globals) *cobra.Command {
	return newBootCmd(g, "start", "start a stopped container on its own IP, MAC, disk and host keys", (*api.Client).Start)
}

func newRestartCmd(g *globals) *cobra.Command {
	return newBootCmd(g, "restart", "stop a container (programs in order) and start it again on the same IP, MAC, disk and host keys", (*api.Client).Restart)
}

// newBootCmd is start or restart: both answer the record of the running container.
func newBootCmd(g *globals, verb, short string, call func(*api.Client, context.Context, string) (api.Container, error)) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use: verb + " NAME", Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBoot(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], output, call)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func runBoot(ctx context.Context, w io.Writer, c *api.Client, name, output string, call func(*api.Client, context.Context, string) (api.Container, error)) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	rec, err := call(c, ctx, name)
	if err != nil {
		return err
	}
	return printDone(w, output, rec, "container %s running on %s\n", rec.Name, rec.IP)
}

func newRenameCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use: "rename NAME NEW-NAME", Short: "rename a stopped container; its IP, MAC, disk and host keys go with it (hostname follows at start); to replace a running one under its name, see release", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRename(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], args[1], output)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func runRename(ctx context.Context, w io.Writer, c *api.Client, name, newName, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	rec, err := c.Rename(ctx, name, newName)
	if err != nil {
		return err
	}
	return printDone(w, output, rec, "container %s renamed to %s (keeps %s)\n", name, rec.Name, rec.IP)
}
