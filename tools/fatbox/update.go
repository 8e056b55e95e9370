package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/logfwd"
)

type updateFlags struct {
	cpus               float64
	memory, swap, disk string
	owner, app, env    string
	labels             []string
	ulimits            []string
	services           []string
	removeServices     []string
	syslog             string
	output             string
}

func newUpdateCmd(g *globals) *cobra.Command {
	var f updateFlags
	cmd := &cobra.Command{
		Use:   "update NAME [--cpus N] [--memory 4G] [--disk 20G] [--ulimit nofile=65536] [--owner O] [--app A] [--env E] [-l KEY=VALUE | -l KEY-]",
		Short: "change a container's sizes (live when running) and its owner, app, env and labels",
		Long: "Change a container in place. CPU and memory take effect at once in a running container; a disk grows at once " +
			"(or at the next start where the host cannot grow a mounted disk) and shrinks only when stopped, never below its files. " +
			"--ulimit takes effect at the next start (`fatbox restart NAME`). -l KEY=VALUE sets a label, -l KEY- removes it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUpdate(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], f, cmd.Flags().Changed)
		},
	}
	fl := cmd.Flags()
	fl.Float64Var(&f.cpus, "cpus", 0, "vCPUs")
	fl.StringVar(&f.memory, "memory", "", "memory limit, e.g. 4G")
	fl.StringVar(&f.swap, "swap", "", "swap beyond memory, e.g. 512M")
	fl.StringVar(&f.disk, "disk", "", "disk size, e.g. 20G")
	fl.StringVar(&f.owner, "owner", "", "owner (\"\" clears it)")
	fl.StringVar(&f.app, "app", "", "application (\"\" clears it)")
	fl.StringVar(&f.env, "env", "", "environment, e.g. prod (\"\" clears it)")
	fl.StringArrayVarP(&f.labels, "label", "l", nil, "KEY=VALUE sets a label, KEY- removes it; repeatable")
	fl.StringArrayVar(&f.services, "service", nil, "declare a service `NAME:PORT` (replaces one of that name); repeatable")
	fl.StringArrayVar(&f.removeServices, "remove-service", nil, "drop the declared service `NAME`; repeatable")
	fl.StringVar(&f.syslog, "syslog", "", "syslog collector to forward to, `tcp://HOST:PORT` or udp://HOST:PORT, or none (its pool's applies); a running container's rsyslog is restarted to use it")
	fl.StringArrayVar(&f.ulimits, "ulimit", nil, "resource limit NAME=SOFT:HARD, e.g. nofile=65536:65536; repeatable; takes effect at the next start")
	addOutputFlag(cmd, &f.output)
	return cmd
}

// updateRequest turns the flags that were given into the API's request.
func updateRequest(f updateFlags, changed func(string) bool) (api.UpdateRequest, error) {
	var req api.UpdateRequest
	if changed("cpus") {
		if err := limits.CheckCPUs("--cpus", f.cpus, 0); err != nil {
			return req, err
		}
		req.CPUs = &f.cpus
	}
	for _, s := range []struct {
		flag, v string
		dst     **int64
		check   func(string, int64) error
	}{{"memory", f.memory, &req.MemoryBytes, limits.CheckMemory}, {"swap", f.swap, &req.SwapBytes, limits.CheckSwap}, {"disk", f.disk, &req.DiskBytes, limits.CheckDisk}} {
		if !changed(s.flag) {
			continue
		}
		n, err := limits.ParseSize("--"+s.flag, s.v)
		if err == nil {
			err = s.check("--"+s.flag, n)
		}
		if err != nil {
			return req, err
		}
		*s.dst = &n
	}
	for _, s := range []struct {
		flag, v string
		dst     **string
	}{{"owner", f.owner, &req.Owner}, {"app", f.app, &req.App}, {"env", f.env, &req.Env}} {
		if changed(s.flag) {
			v := s.v
			*s.dst = &v
		}
	}
	for _, l := range f.labels {
		k, v, remove, err := inventory.ParseLabel(l)
		if err != nil {
			return req, err
		}
		if remove {
			req.RemoveLabels = append(req.RemoveLabels, k)
			continue
		}
		if req.SetLabels == nil {
			req.SetLabels = map[string]string{}
		}
		req.SetLabels[k] = v
	}
	var err error
	if req.Ulimits, err = parseUlimits(f.ulimits); err != nil {
		return req, err
	}
	for _, s := range f.services {
		sv, err := inventory.ParseService(s)
		if err != nil {
			return req, fmt.Errorf("--service: %w", err)
		}
		req.SetServices = append(req.SetServices, api.Service{Name: sv.Name, Port: sv.Port})
	}
	for _, n := range f.removeServices {
		if err := inventory.ValidName(n); err != nil {
			return req, fmt.Errorf("--remove-service: %w", err)
		}
		req.RemoveServices = append(req.RemoveServices, n)
	}
	if changed("syslog") {
		s := f.syslog
		switch {
		case s == "":
			return req, fmt.Errorf("--syslog \"\": give a collector URL, e.g. tcp://10.0.0.5:514, or none to stop forwarding")
		case s != logfwd.None:
			if s, err = logfwd.Check(s); err != nil {
				return req, fmt.Errorf("--syslog: %w (or none to stop forwarding)", err)
			}
		}
		req.Syslog = &s
	}
	if req.Syslog == nil && req.CPUs == nil && req.MemoryBytes == nil && req.SwapBytes == nil && req.DiskBytes == nil && req.Owner == nil &&
		req.App == nil && req.Env == nil && len(req.SetLabels) == 0 && len(req.RemoveLabels) == 0 && len(req.Ulimits) == 0 &&
		len(req.SetServices) == 0 && len(req.RemoveServices) == 0 {
		return req, fmt.Errorf("nothing to update: give --cpus, --memory, --swap, --disk, --owner, --app, --env, -l, --ulimit, --service, --remove-service or --syslog")
	}
	return req, nil
}

func runUpdate(ctx context.Context, w io.Writer, c *api.Client, name string, f updateFlags, changed func(string) bool) error {
	if err := checkOutput(f.output); err != nil {
		return err
	}
	req, err := updateRequest(f, changed)
	if err != nil {
		return err
	}
	res, err := c.Update(ctx, name, req)
	if err != nil {
		return err
	}
	if f.output == "json" {
		return writeJSON(w, res)
	}
	if err := printContainers(w, []api.Container{res.Container}, f.output); err != nil {
		return err
	}
	for _, n := range res.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	return nil
}
