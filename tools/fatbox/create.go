package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/logfwd"
)

// createFlags are `fatbox create`'s flags as typed.
type createFlags struct {
	image, pool                 string
	cpus                        float64
	memory, disk, swap, netRate string
	readBps, writeBps           string
	readIOPS, writeIOPS         uint64
	keyFiles                    []string
	autostart                   bool
	owner, app, env             string
	exporterPort                int
	labels                      []string
	ulimits                     []string
	volumes                     []string
	services                    []string
	syslog                      string
	output                      string
}

func newCreateCmd(g *globals) *cobra.Command {
	var f createFlags
	cmd := &cobra.Command{
		Use:   "create NAME --image IMAGE --pool POOL [--cpus N --memory 2G --disk 10G --ssh-key FILE]",
		Short: "create and start a fat container",
		Long: "Create and start a fat container. Sizes are binary: K, M, G, T with or without B or iB " +
			"(2G = 2GB = 2GiB = 2048 MiB); memory at least 64M.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCreate(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.image, "image", "", "image name (see `fatbox image ls`)")
	fl.StringVar(&f.pool, "pool", "", "IP pool (see `fatbox pool ls`)")
	fl.Float64Var(&f.cpus, "cpus", 1, "vCPUs (up to this host's CPUs; fractions limit the CPU time)")
	fl.StringVar(&f.memory, "memory", "1G", "memory limit, e.g. 512M or 2G (at least 64M)")
	fl.StringVar(&f.disk, "disk", "10G", "disk size, e.g. 10G")
	fl.StringSliceVar(&f.keyFiles, "ssh-key", nil, "public key file to authorize for root, repeatable")
	fl.StringVar(&f.swap, "swap", "", "swap the container may use beyond --memory, e.g. 512M (default none)")
	fl.StringVar(&f.netRate, "net-rate", "", "network rate limit each way, e.g. 100mbit or 1gbit (default unlimited)")
	fl.StringVar(&f.readBps, "disk-read-bps", "", "disk read limit in bytes/s, e.g. 50M (default unlimited)")
	fl.StringVar(&f.writeBps, "disk-write-bps", "", "disk write limit in bytes/s for direct IO, e.g. 50M (default unlimited)")
	fl.Uint64Var(&f.readIOPS, "disk-read-iops", 0, "disk read operations per second (default unlimited)")
	fl.Uint64Var(&f.writeIOPS, "disk-write-iops", 0, "disk write operations per second for direct IO (default unlimited)")
	fl.StringVar(&f.owner, "owner", "", "owner, as the CMDB shows it")
	fl.StringVar(&f.app, "app", "", "application")
	fl.StringVar(&f.env, "env", "", "environment, e.g. prod")
	fl.IntVar(&f.exporterPort, "exporter-port", 0, "TCP port of a Prometheus exporter inside (node_exporter: 9100): the daemon's file_sd targets file lists ip:port (default none)")
	fl.StringArrayVarP(&f.labels, "label", "l", nil, "label KEY=VALUE; repeatable")
	fl.StringArrayVar(&f.ulimits, "ulimit", nil, "resource limit NAME=SOFT:HARD or NAME=VALUE, e.g. nofile=65536:65536; NAME nofile, nproc, memlock, core or stack; "+
		"\"unlimited\"; memlock, core and stack in bytes (64M); repeatable (default nofile=65536, nproc and memlock unlimited, as far as the host allows)")
	fl.StringArrayVar(&f.services, "service", nil, "a service it answers, `NAME:PORT` (registered in Consul's catalog as NAME.service.consul when the daemon syncs it); repeatable")
	fl.StringArrayVar(&f.volumes, "volume", nil, "data volume to attach at a path, `NAME:/path` (a free one, made by fatbox volume create); repeatable")
	fl.StringVar(&f.syslog, "syslog", "", "syslog collector to forward to, `tcp://HOST:PORT` or udp://HOST:PORT (RFC 5424; default: its pool's)")
	fl.BoolVar(&f.autostart, "autostart", true, "start it again when the daemon starts and finds it dead (after a host restart)")
	addOutputFlag(cmd, &f.output)
	return cmd
}

// createRequest turns the flags into the API's request, refusing what the
// daemon would refuse (the same checks, from engine/limits) before asking it.
func createRequest(name string, f createFlags) (api.CreateRequest, error) {
	req := api.CreateRequest{Name: name, Image: f.image, Pool: f.pool, CPUs: f.cpus,
		DiskReadIOPS: f.readIOPS, DiskWriteIOPS: f.writeIOPS, Autostart: &f.autostart, Owner: f.owner, App: f.app, Env: f.env,
		ExporterPort: f.exporterPort}
	for _, l := range f.labels {
		k, v, remove, err := inventory.ParseLabel(l)
		if err == nil && remove {
			err = fmt.Errorf("-l %q: a new container has no label to remove: write KEY=VALUE", l)
		}
		if err != nil {
			return req, err
		}
		if req.Labels == nil {
			req.Labels = map[string]string{}
		}
		req.Labels[k] = v
	}
	if err := inventory.CheckLabels(req.Labels); err != nil {
		return req, err
	}
	var err error
	size := func(field, s string, check func(string, int64) error) int64 {
		if err != nil || s == "" {
			return 0
		}
		var n int64
		if n, err = limits.ParseSize(field, s); err == nil && check != nil {
			err = check(field, n)
		}
		return n
	}
	req.MemoryBytes = size("--memory", f.memory, limits.CheckMemory)
	req.DiskBytes = size("--disk", f.disk, limits.CheckDisk)
	req.SwapBytes = size("--swap", f.swap, limits.CheckSwap)
	ioBytes := func(field string, n int64) error { return limits.CheckIOBytes(field, uint64(n)) }
	req.DiskReadBps = uint64(size("--disk-read-bps", f.readBps, ioBytes))
	req.DiskWriteBps = uint64(size("--disk-write-bps", f.writeBps, ioBytes))
	if err != nil {
		return req, err
	}
	// The host's CPU count is the daemon's to check.
	if err := limits.CheckCPUs("--cpus", f.cpus, 0); err != nil {
		return req, err
	}
	if f.netRate != "" {
		if req.NetRateBits, err = limits.ParseRate("--net-rate", f.netRate); err != nil {
			return req, err
		}
		if err := limits.CheckNetRate("--net-rate", req.NetRateBits); err != nil {
			return req, err
		}
	}
	for _, c := range []error{limits.CheckIOPS("--disk-read-iops", f.readIOPS), limits.CheckIOPS("--disk-write-iops", f.writeIOPS)} {
		if c != nil {
			return req, c
		}
	}
	if req.Ulimits, err = parseUlimits(f.ulimits); err != nil {
		return req, err
	}
	var vms []inventory.VolumeMount
	for _, s := range f.volumes {
		vm, err := inventory.ParseVolumeMount(s)
		if err != nil {
			return req, fmt.Errorf("--volume: %w", err)
		}
		vms = append(vms, vm)
		req.Volumes = append(req.Volumes, api.VolumeMount{Name: vm.Name, Path: vm.Path})
	}
	if err := inventory.CheckVolumeMounts(vms); err != nil {
		return req, fmt.Errorf("--volume: %w", err)
	}
	var svcs []inventory.Service
	for _, s := range f.services {
		sv, err := inventory.ParseService(s)
		if err != nil {
			return req, fmt.Errorf("--service: %w", err)
		}
		svcs = append(svcs, sv)
		req.Services = append(req.Services, api.Service{Name: sv.Name, Port: sv.Port})
	}
	if err := inventory.CheckServices(svcs); err != nil {
		return req, fmt.Errorf("--service: %w", err)
	}
	if f.syslog != "" {
		s, err := logfwd.Check(f.syslog)
		if err != nil {
			return req, fmt.Errorf("--syslog: %w", err)
		}
		req.Syslog = s
	}
	for _, file := range f.keyFiles {
		b, err := os.ReadFile(file)
		if err != nil {
			return req, fmt.Errorf("--ssh-key: %w", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				req.SSHKeys = append(req.SSHKeys, l)
			}
		}
	}
	return req, nil
}

func runCreate(ctx context.Context, w io.Writer, c *api.Client, name string, f createFlags) error {
	if err := checkOutput(f.output); err != nil {
		return err
	}
	req, err := createRequest(name, f)
	if err != nil {
		return err
	}
	ct, err := c.Create(ctx, req)
	if err != nil {
		return err
	}
	return printContainers(w, []api.Container{ct}, f.output)
}
