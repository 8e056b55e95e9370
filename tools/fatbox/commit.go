package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

func newCommitCmd(g *globals) *cobra.Command {
	var image, output string
	cmd := &cobra.Command{
		Use:   "commit NAME --image NEWNAME",
		Short: "make an image from a container, without its identity",
		Long: `commit turns the container's root (its image plus everything it changed) into the
new image NEWNAME that ` + "`fatbox create --image NEWNAME`" + ` makes containers from.

Its identity is left out: SSH host keys, every authorized_keys, /etc/machine-id
(emptied), /var/lib/dbus/machine-id, and what fatbox writes at each boot (hostname,
hosts, resolv.conf, supervisord's config, /.fatbox, the programs' logs) goes back to
the parent image's version; containers made from it get their own at first boot.
Data volumes are not part of the image. The image keeps the parent's programs and
records the parent (` + "`fatbox image inspect`" + ` shows it).

A running container is frozen (processes and disk) only while its changes are
copied; the freeze is measured and printed. The copy costs the image's size plus
the container's changes in IO and space (no reflink here).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCommit(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], image, output)
		},
	}
	cmd.Flags().StringVar(&image, "image", "", "the new image's name (required; an existing name is refused)")
	addOutputFlag(cmd, &output)
	return cmd
}

func runCommit(ctx context.Context, w io.Writer, c *api.Client, name, image, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	if image == "" {
		return fmt.Errorf("no image name given: `fatbox commit %s --image NEWNAME`", name)
	}
	res, err := c.Commit(ctx, name, image)
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(w, res)
	}
	if res.Running {
		fmt.Fprintf(w, "froze %s for %.0f ms while copying its changes (%s)\n", name, res.FreezeMS, approxBytes(res.UpperBytes))
	} else {
		fmt.Fprintf(w, "%s was stopped (no freeze); its changes: %s\n", name, approxBytes(res.UpperBytes))
	}
	fmt.Fprintf(w, "stripped %d identity path(s)\n", len(res.Stripped))
	_, err = fmt.Fprintf(w, "image %s (sha256:%.12s, %s) from %s, parent %s, in %.1f s: `fatbox create NAME --image %s`\n",
		res.Image.Name, res.Image.ID, approxBytes(res.Image.Size), name, res.Image.Parent, res.TookMS/1000, res.Image.Name)
	return err
}
