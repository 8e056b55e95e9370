package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/inventory"
)

func newVolumeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "manage data volumes: sized disks of their own that outlive containers (create, ls, inspect, rm)",
		Long: "A data volume is a sized ext4 disk of its own on this host, like a VM's second disk. Attach it at create " +
			"(`fatbox create NAME --volume data1:/var/lib/app ...`), to one container at a time; it outlives the container, " +
			"and `fatbox volume rm` is refused while it is attached."}
	var size string
	var createOut, lsOut, inspectOut, rmOut string // one each: a flag sets its default into its variable
	create := &cobra.Command{
		Use: "create NAME --size SIZE", Short: "create a data volume (a sparse ext4 disk of SIZE)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVolumeCreate(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], size, createOut)
		},
	}
	create.Flags().StringVar(&size, "size", "", "disk size, e.g. 10G (required; a container disk's bounds)")
	addOutputFlag(create, &createOut)
	ls := &cobra.Command{
		Use: "ls", Short: "list data volumes and what they are attached to", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVolumeLs(ctxOf(cmd), cmd.OutOrStdout(), g.client(), lsOut)
		},
	}
	addOutputFlag(ls, &lsOut)
	inspect := &cobra.Command{
		Use: "inspect NAME", Short: "show a data volume", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVolumeInspect(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], inspectOut)
		},
	}
	inspect.Flags().StringVarP(&inspectOut, "output", "o", "json", "output format: json or table")
	rm := &cobra.Command{
		Use: "rm NAME", Short: "remove a data volume and its disk (refused while attached to a container)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVolumeRm(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], rmOut)
		},
	}
	addOutputFlag(rm, &rmOut)
	cmd.AddCommand(create, ls, inspect, rm)
	return cmd
}

// volumeCreateRequest checks the name and size as the daemon would.
func volumeCreateRequest(name, size string) (api.CreateVolumeRequest, error) {
	req := api.CreateVolumeRequest{Name: name}
	if err := inventory.ValidVolumeName(name); err != nil {
		return req, err
	}
	if size == "" {
		return req, fmt.Errorf("volume %q needs --size, e.g. --size 10G", name)
	}
	n, err := limits.ParseSize("--size", size)
	if err != nil {
		return req, err
	}
	if err := limits.CheckDisk("--size", n); err != nil {
		return req, err
	}
	req.SizeBytes = n
	return req, nil
}

func runVolumeCreate(ctx context.Context, w io.Writer, c *api.Client, name, size, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	req, err := volumeCreateRequest(name, size)
	if err != nil {
		return err
	}
	v, err := c.CreateVolume(ctx, req)
	if err != nil {
		return err
	}
	return printVolumes(w, []api.Volume{v}, output)
}

func runVolumeLs(ctx context.Context, w io.Writer, c *api.Client, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	vs, err := c.ListVolumes(ctx)
	if err != nil {
		return err
	}
	return printVolumes(w, vs, output)
}

func runVolumeInspect(ctx context.Context, w io.Writer, c *api.Client, name, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	v, err := c.GetVolume(ctx, name)
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(w, v)
	}
	tw := table(w)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	row("name", v.Name)
	row("id", v.ID)
	row("size", limits.FormatSize(v.SizeMiB<<20))
	row("node", v.Node)
	row("attached to", attachedTo(v))
	if v.Mounted {
		row("mounted", fmt.Sprintf("yes (%s of %s used)", limits.FormatSize(v.UsedBytes), limits.FormatSize(v.SizeBytes)))
	} else {
		row("mounted", "no")
	}
	row("created", v.CreatedAt.Format("2006-01-02 15:04:05 MST"))
	return tw.Flush()
}

func runVolumeRm(ctx context.Context, w io.Writer, c *api.Client, name, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	if err := c.RemoveVolume(ctx, name); err != nil {
		return err
	}
	return printDone(w, output, done{Name: name, Action: "removed"}, "volume %s removed\n", name)
}

// attachedTo says where a volume is attached: "web-01:/var/lib/app", or "-" when free.
func attachedTo(v api.Volume) string {
	if v.AttachedTo == "" {
		return "-"
	}
	return v.AttachedName + ":" + v.Path
}

func printVolumes(w io.Writer, vs []api.Volume, output string) error {
	if output == "json" {
		return writeJSON(w, vs)
	}
	tw := table(w)
	fmt.Fprintln(tw, "NAME\tSIZE\tNODE\tATTACHED TO\tMOUNTED")
	for _, v := range vs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", v.Name, limits.FormatSize(v.SizeMiB<<20), v.Node, attachedTo(v), v.Mounted)
	}
	return tw.Flush()
}
