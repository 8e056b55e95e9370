package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

type auditPlayFlags struct {
	speed float64
	idle  float64
	save  string
}

func newAuditPlayCmd(g *globals) *cobra.Command {
	var f auditPlayFlags
	cmd := &cobra.Command{
		Use:   "play SESSION [--speed 2] [--idle 1] [--save FILE]",
		Short: "replay a session's recording with asciinema (or save it as an asciicast file)",
		Long: "Replays what the session printed, at its pace, with `asciinema play` reading the recording from a pipe " +
			"(nothing is written to disk). What was typed is in the recording as a separate input stream, which asciinema " +
			"does not show: --save writes the whole asciicast v2 file.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAuditPlay(ctxOf(cmd), cmd.OutOrStdout(), cmd.ErrOrStderr(), g.client(), args[0], f)
		},
	}
	cmd.Flags().Float64Var(&f.speed, "speed", 1, "play this many times faster")
	cmd.Flags().Float64Var(&f.idle, "idle", 0, "cut pauses longer than this many seconds (0: keep them)")
	cmd.Flags().StringVar(&f.save, "save", "", "write the recording (asciicast v2) to this file instead of playing it (- for stdout)")
	return cmd
}

func runAuditPlay(ctx context.Context, w, ew io.Writer, c *api.Client, id string, f auditPlayFlags) error {
	if f.speed <= 0 {
		return fmt.Errorf("--speed %g: give a speed above 0, e.g. 2", f.speed)
	}
	if f.idle < 0 {
		return fmt.Errorf("--idle %g: give seconds, 0 or more", f.idle)
	}
	switch f.save {
	case "":
	case "-":
		return c.Recording(ctx, id, w)
	default:
		out, err := os.OpenFile(f.save, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("--save %q: %w (the file must not exist yet)", f.save, err)
		}
		err = c.Recording(ctx, id, out)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.save)
			return err
		}
		_, err = fmt.Fprintf(w, "saved session %s's recording to %s: play it with `asciinema play %s`\n", id, f.save, f.save)
		return err
	}
	bin, err := exec.LookPath("asciinema")
	if err != nil {
		return errors.New("asciinema is not installed: install it (apt install asciinema), or save the recording with --save FILE and play it elsewhere")
	}
	// Ask first, so a missing session is the daemon's one-line error, not
	// asciinema's complaint about an empty input.
	if _, err := c.AuditSession(ctx, id); err != nil {
		return err
	}
	args := []string{"play", "-s", strconv.FormatFloat(f.speed, 'g', -1, 64)}
	if f.idle > 0 {
		args = append(args, "-i", strconv.FormatFloat(f.idle, 'g', -1, 64))
	}
	// The recording comes on stdin; asciinema reads keys from /dev/tty.
	cmd := exec.CommandContext(ctx, bin, append(args, "-")...)
	cmd.Stdout, cmd.Stderr = w, ew
	// An OS pipe, not io.Pipe: if asciinema ends early, writing fails
	// instead of waiting for a reader that is gone.
	in, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("run asciinema: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run asciinema: %w", err)
	}
	ferr := c.Recording(ctx, id, in)
	in.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("asciinema play: %w", err)
	}
	if ferr != nil {
		return ferr
	}
	return nil
}
