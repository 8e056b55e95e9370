package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

const snapshotCost = `What it costs: the disks are sparse ext4 images on a file system without reflink,
so a snapshot copies every allocated block of the root disk and of each attached
volume's disk (holes are skipped, never written): IO and space proportional to
what the container wrote, not to the disks' sizes. A running container is frozen
for the copy (its processes with the cgroup freezer, its file systems with
FIFREEZE, so the copies are clean ext4), then thawed: the freeze lasts as long
as the copy and is measured and printed. Snapshots live in the container's
state dir, are not counted in the disk overcommit figures, and go with it
at ` + "`fatbox rm`" + `.`

func newSnapshotCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "snapshots of a container's disks (create, ls, restore, rm)",
		Long:  "A snapshot is a copy of a container's root disk and of its data volumes' disks.\n\n" + snapshotCost,
	}
	var output string
	create := &cobra.Command{
		Use:   "create NAME [SNAP]",
		Short: "snapshot a container's disks (a running one is frozen for the copy)",
		Long: `create copies the container's root disk and its volumes' disks into the snapshot
SNAP (default: the UTC time, e.g. 20261202-061503). A stopped container is copied
as it is; a running one is frozen for the copy and keeps running after it.

` + snapshotCost,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			snap := ""
			if len(args) == 2 {
				snap = args[1]
			}
			return runSnapshotCreate(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], snap, output)
		},
	}
	addOutputFlag(create, &output)
	ls := &cobra.Command{
		Use: "ls NAME", Short: "list a container's snapshots, oldest first", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSnapshotLs(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], output)
		},
	}
	addOutputFlag(ls, &output)
	restore := &cobra.Command{
		Use:   "restore NAME SNAP",
		Short: "put a stopped container's disks back as they were in a snapshot",
		Long: `restore replaces the container's root disk, and the disk of each volume the snapshot
holds, with the snapshot's copies. The container must be stopped (` + "`fatbox stop NAME`" + `);
every copy is written beside its disk and renamed over it only once whole, so a
crash never leaves a half-restored disk. It copies the snapshot's allocated blocks.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSnapshotRestore(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], args[1], output)
		},
	}
	addOutputFlag(restore, &output)
	rm := &cobra.Command{
		Use: "rm NAME SNAP", Short: "delete a snapshot", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSnapshotRm(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], args[1], output)
		},
	}
	addOutputFlag(rm, &output)
	cmd.AddCommand(create, ls, restore, rm)
	return cmd
}

func runSnapshotCreate(ctx context.Context, w io.Writer, c *api.Client, name, snap, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	s, err := c.CreateSnapshot(ctx, name, snap)
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(w, s)
	}
	_, err = fmt.Fprintf(w, "snapshot %s of %s: %s\n", s.Name, s.Container, snapshotSummary(s))
	return err
}

// snapshotSummary: "froze web-01 for 84 ms, copied 23.1 MiB of a 10.0 GiB disk".
func snapshotSummary(s api.Snapshot) string {
	var b strings.Builder
	if s.Running {
		fmt.Fprintf(&b, "froze %s for %.0f ms, copied", s.Container, s.FreezeMS)
	} else {
		fmt.Fprintf(&b, "%s was stopped (no freeze), copied", s.Container)
	}
	fmt.Fprintf(&b, " %s of a %s disk", approxBytes(s.DiskCopied), approxBytes(s.DiskSize))
	for _, v := range s.Volumes {
		fmt.Fprintf(&b, ", %s of volume %s (%s)", approxBytes(v.Copied), v.Name, approxBytes(v.Size))
	}
	fmt.Fprintf(&b, " in %.0f ms", s.CopyMS)
	return b.String()
}

// approxBytes is a byte count with one decimal in binary units.
func approxBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

func runSnapshotLs(ctx context.Context, w io.Writer, c *api.Client, name, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	ss, err := c.ListSnapshots(ctx, name)
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(w, ss)
	}
	tw := table(w)
	fmt.Fprintln(tw, "SNAPSHOT\tCREATED\tSTATE\tFREEZE\tDISK\tVOLUMES\tSIZE")
	for _, s := range ss {
		state, freeze := "stopped", "-"
		if s.Running {
			state, freeze = "running", fmt.Sprintf("%.0f ms", s.FreezeMS)
		}
		vols := []string{}
		for _, v := range s.Volumes {
			vols = append(vols, v.Name)
		}
		if len(vols) == 0 {
			vols = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Created.Local().Format(time.DateTime), state, freeze,
			approxBytes(s.DiskSize), strings.Join(vols, ","), approxBytes(s.Copied))
	}
	return tw.Flush()
}

func runSnapshotRestore(ctx context.Context, w io.Writer, c *api.Client, name, snap, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	res, err := c.RestoreSnapshot(ctx, name, snap)
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(w, res)
	}
	disks := "its disk"
	if n := len(res.Snapshot.Volumes); n > 0 {
		disks = fmt.Sprintf("its disk and %d volume(s)", n)
	}
	fmt.Fprintf(w, "restored %s of %s: %s as at %s (%s copied in %.0f ms)\n", snap, name, disks,
		res.Snapshot.Created.Local().Format(time.DateTime), approxBytes(res.Copied), res.TookMS)
	if res.DiskResized {
		fmt.Fprintf(w, "the disk is back to its size at the snapshot, %s\n", approxBytes(res.Snapshot.DiskSize))
	}
	_, err = fmt.Fprintf(w, "start it with `fatbox start %s`\n", name)
	return err
}

func runSnapshotRm(ctx context.Context, w io.Writer, c *api.Client, name, snap, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	if err := c.RemoveSnapshot(ctx, name, snap); err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(w, map[string]string{"container": name, "removed": snap})
	}
	_, err := fmt.Fprintf(w, "removed snapshot %s of %s\n", snap, name)
	return err
}
