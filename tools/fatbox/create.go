package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/inventory"
)

func newCreateCmd(g *globals) *cobra.Command {
	var req engine.CreateRequest
	var memory, disk, swap, netRate, readBps, writeBps string
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
			if req.SwapBytes, err = parseSize(swap, "--swap"); err != nil {
				return err
			}
			if req.NetRateBits, err = parseRate(netRate); err != nil {
				return err
			}
			var n int64
			if n, err = parseSize(readBps, "--disk-read-bps"); err != nil {
				return err
			}
			req.DiskReadBps = uint64(n)
			if n, err = parseSize(writeBps, "--disk-write-bps"); err != nil {
				return err
			}
			req.DiskWriteBps = uint64(n)
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
	cmd.Flags().StringVar(&swap, "swap", "", "swap the container may use beyond --memory, e.g. 512M (default none)")
	cmd.Flags().StringVar(&netRate, "net-rate", "", "network rate limit each way, e.g. 100mbit or 1gbit (default unlimited)")
	cmd.Flags().StringVar(&readBps, "disk-read-bps", "", "disk read limit in bytes/s, e.g. 50M (default unlimited)")
	cmd.Flags().StringVar(&writeBps, "disk-write-bps", "", "disk write limit in bytes/s for direct IO, e.g. 50M (default unlimited)")
	cmd.Flags().Uint64Var(&req.DiskReadIOPS, "disk-read-iops", 0, "disk read operations per second (default unlimited)")
	cmd.Flags().Uint64Var(&req.DiskWriteIOPS, "disk-write-iops", 0, "disk write operations per second for direct IO (default unlimited)")
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

// parseRate reads a network rate like tc writes it: 100mbit, 1gbit,
// 500kbit, or bits per second.
func parseRate(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	l := strings.ToLower(s)
	mult := 1.0
	for _, u := range []struct {
		suffix string
		m      float64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}} {
		if strings.HasSuffix(l, u.suffix) {
			l, mult = strings.TrimSuffix(l, u.suffix), u.m
			break
		}
	}
	n, err := strconv.ParseFloat(l, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad --net-rate %q: write a rate like 100mbit or 1gbit", s)
	}
	return uint64(n * mult), nil
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
