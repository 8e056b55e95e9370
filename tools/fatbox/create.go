package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/inventory"
)

func newCreateCmd(g *globals) *cobra.Command {
	var req engine.CreateRequest
	var memory, disk string
	var keyFiles []string
	var output string
	var autostart bool
	cmd := &cobra.Command{
		Use:   "create NAME --image IMAGE --pool POOL [--cpus N --memory 2G --disk 10G --ssh-key FILE]",
		Short: "create and start a fat container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			req.Name = args[0]
			var err error
			if req.MemoryBytes, err = parseSize(memory, "--memory"); err != nil {
				return err
			}
			if req.DiskBytes, err = parseSize(disk, "--disk"); err != nil {
				return err
			}
			for _, f := range keyFiles {
				b, err := os.ReadFile(f)
				if err != nil {
					return fmt.Errorf("--ssh-key: %w", err)
				}
				for _, l := range strings.Split(string(b), "\n") {
					if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
						req.SSHKeys = append(req.SSHKeys, l)
					}
				}
			}
			req.Autostart = &autostart
			rec, err := g.client().Create(ctxOf(cmd), req)
			if err != nil {
				return err
			}
			return printContainers(cmd.OutOrStdout(), []inventory.Record{rec}, output)
		},
	}
	cmd.Flags().StringVar(&req.Image, "image", "", "image name (see `fatbox image ls`)")
	cmd.Flags().StringVar(&req.Pool, "pool", "", "IP pool (see `fatbox pool ls`)")
	cmd.Flags().Float64Var(&req.CPUs, "cpus", 1, "vCPUs")
	cmd.Flags().StringVar(&memory, "memory", "1G", "memory limit, e.g. 512M or 2G")
	cmd.Flags().StringVar(&disk, "disk", "10G", "disk size, e.g. 10G")
	cmd.Flags().StringSliceVar(&keyFiles, "ssh-key", nil, "public key file to authorize for root, repeatable")
	cmd.Flags().BoolVar(&autostart, "autostart", true, "start it again when the daemon starts and finds it dead (after a host restart)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func newRmCmd(g *globals) *cobra.Command {
	var release bool
	cmd := &cobra.Command{
		Use: "rm NAME [--release-ip]", Short: "stop and remove a container (the name keeps its IP unless --release-ip)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().Remove(ctxOf(cmd), args[0], release); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "container %s removed\n", args[0])
			return err
		},
	}
	cmd.Flags().BoolVar(&release, "release-ip", false, "give the name's address back (into quarantine)")
	return cmd
}

func newLsCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use: "ls", Short: "list containers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			rs, err := g.client().ListContainers(ctxOf(cmd))
			if err != nil {
				return err
			}
			return printContainers(cmd.OutOrStdout(), rs, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func parseSize(s, flag string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	case "T":
		mult = 1 << 40
	}
	num := s
	if mult != 1 {
		num = s[:len(s)-1]
	}
	var n float64
	if _, err := fmt.Sscanf(num, "%g", &n); err != nil || n <= 0 {
		return 0, fmt.Errorf("bad %s %q: write a size like 512M or 2G", flag, s)
	}
	return int64(n * float64(mult)), nil
}

func printContainers(w interface{ Write([]byte) (int, error) }, rs []inventory.Record, output string) error {
	if output == "json" {
		return writeJSON(w, rs)
	}
	tw := table(w)
	fmt.Fprintln(tw, "NAME\tSTATUS\tIP\tMAC\tIMAGE\tVCPUS\tMEMORY\tDISK\tNODE")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d MiB\t%d GiB\t%s\n", r.Name, r.Status, r.IP, r.MAC, r.Image, r.VCPUs, r.MemoryMiB, r.DiskGiB, r.Node)
	}
	return tw.Flush()
}
