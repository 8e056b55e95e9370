package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

func newProgCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prog",
		Short: "list and control a container's supervisord programs (sshd, cron, rsyslog, the app)",
	}
	run := func(action string) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			return codeErr(g.client().Program(ctxOf(cmd), args[0], action, args[1], cmd.OutOrStdout(), cmd.ErrOrStderr()))
		}
	}
	var output string
	ls := &cobra.Command{Use: "ls NAME [PROGRAM]", Short: "programs and their states", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			prog := ""
			if len(args) == 2 {
				prog = args[1]
			}
			return runProgLs(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], prog, output)
		}}
	addOutputFlag(ls, &output)
	cmd.AddCommand(ls,
		&cobra.Command{Use: "start NAME PROGRAM", Short: "start a program", Args: cobra.ExactArgs(2), RunE: run("start")},
		&cobra.Command{Use: "stop NAME PROGRAM", Short: "stop a program", Args: cobra.ExactArgs(2), RunE: run("stop")},
		&cobra.Command{Use: "restart NAME PROGRAM", Short: "restart a program", Args: cobra.ExactArgs(2), RunE: run("restart")},
	)
	return cmd
}

func runProgLs(ctx context.Context, w io.Writer, c *api.Client, name, prog, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	ps, err := c.Programs(ctx, name)
	if err != nil {
		return err
	}
	if prog != "" {
		var one []api.ProgramStatus
		for _, p := range ps {
			if p.Name == prog {
				one = append(one, p)
			}
		}
		if len(one) == 0 {
			return fmt.Errorf("container %q has no program %q: `fatbox prog ls %s` lists them", name, prog, name)
		}
		ps = one
	}
	if output == "json" {
		return writeJSON(w, ps)
	}
	tw := table(w)
	fmt.Fprintln(tw, "PROGRAM\tSTATE\tPID\tUPTIME\tDESCRIPTION")
	for _, p := range ps {
		pid, up, desc := "-", "-", p.Description
		if p.PID > 0 {
			pid, up, desc = fmt.Sprint(p.PID), (time.Duration(p.UptimeSeconds) * time.Second).String(), ""
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.State, pid, up, desc)
	}
	return tw.Flush()
}
