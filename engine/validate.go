package engine

import (
	"context"
	"fmt"
	"os"

	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/logfwd"
)

// Defaults of a create request's zero fields.
const (
	DefaultCPUs        = 1
	DefaultMemoryBytes = 1 << 30
	DefaultDiskBytes   = 10 << 30
)

// checkRequest fills a create request's defaults and checks every field
// with the one validation layer (engine/limits, inventory's name rule), so
// an API client cannot do what the CLI refuses. Field names are the API's.
func (e *Engine) checkRequest(req *CreateRequest) error {
	if req.Image == "" {
		return invalidf("create %q needs an image (--image; `fatbox image ls` lists them)", req.Name)
	}
	if req.Pool == "" {
		return invalidf("create %q needs an IP pool (--pool; `fatbox pool ls` lists them)", req.Name)
	}
	if req.CPUs == 0 {
		req.CPUs = DefaultCPUs
	}
	if req.MemoryBytes == 0 {
		req.MemoryBytes = DefaultMemoryBytes
	}
	if req.DiskBytes == 0 {
		req.DiskBytes = DefaultDiskBytes
	}
	host, err := e.host()
	if err != nil {
		return err
	}
	if err := limits.CheckCPUs("cpus", req.CPUs, host.CPUs); err != nil {
		return err
	}
	if err := limits.CheckMemory("memory_bytes", req.MemoryBytes); err != nil {
		return err
	}
	if err := limits.CheckDisk("disk_bytes", req.DiskBytes); err != nil {
		return err
	}
	for _, c := range []error{
		limits.CheckSwap("swap_bytes", req.SwapBytes),
		limits.CheckNetRate("net_rate_bits", req.NetRateBits),
		limits.CheckIOBytes("disk_read_bps", req.DiskReadBps),
		limits.CheckIOBytes("disk_write_bps", req.DiskWriteBps),
		limits.CheckIOPS("disk_read_iops", req.DiskReadIOPS),
		limits.CheckIOPS("disk_write_iops", req.DiskWriteIOPS),
	} {
		if c != nil {
			return c
		}
	}
	for _, f := range []struct{ name, v string }{{"owner", req.Owner}, {"app", req.App}, {"env", req.Env}} {
		if err := inventory.CheckField(f.name, f.v); err != nil {
			return err
		}
	}
	if err := inventory.CheckLabels(req.Labels); err != nil {
		return err
	}
	if req.ExporterPort < 0 || req.ExporterPort > 65535 {
		return invalidf("exporter_port %d: give the exporter's TCP port, 1-65535 (0: none)", req.ExporterPort)
	}
	if err := inventory.CheckVolumeMounts(req.Volumes); err != nil { // that they exist and are free: claimVolumes
		return err
	}
	if err := inventory.CheckServices(req.Services); err != nil {
		return err
	}
	s, err := logfwd.Check(req.Syslog)
	if err != nil {
		return invalidf("syslog: %w (--syslog)", err)
	}
	req.Syslog = s
	for _, k := range req.SSHKeys {
		if len(k) > 16<<10 {
			return invalidf("ssh_keys: a key of %d bytes is not a public key: give the .pub file", len(k))
		}
	}
	// The ulimits asked for over the defaults (as this host allows them).
	if req.Ulimits, err = createUlimits(req.Ulimits); err != nil {
		return err
	}
	return nil
}

// host is what this host has, for limits and overcommit ceilings.
func (e *Engine) host() (limits.Host, error) {
	if err := os.MkdirAll(e.StateDir, 0o750); err != nil {
		return limits.Host{}, fmt.Errorf("state dir %q: %w", e.StateDir, err)
	}
	h, err := limits.ReadHost(e.StateDir)
	if err != nil {
		return h, fmt.Errorf("read this host's CPUs, memory and disk: %w", err)
	}
	return h, nil
}

// usage sums the sizes of this node's containers (every record, whatever
// its status: a stopped container keeps its disk and may start again).
func (e *Engine) usage(ctx context.Context) (limits.Usage, error) {
	rs, err := e.Inventory.List(ctx)
	if err != nil {
		return limits.Usage{}, err
	}
	var u limits.Usage
	for _, r := range rs {
		if r.Node != e.Node {
			continue
		}
		u.Containers++
		u.CPUs += r.CPUs
		u.MemoryBytes += r.MemoryMiB << 20
		u.DiskBytes += max(r.DiskMiB, r.PendingDiskMiB) << 20 // a pending grow is as good as made
	}
	vs, err := e.Inventory.ListVolumes(ctx) // data volumes' disks count too (volume.go)
	if err != nil {
		return limits.Usage{}, err
	}
	for _, v := range vs {
		if v.Node == e.Node {
			u.DiskBytes += v.SizeMiB << 20
		}
	}
	return u, nil
}

// admit refuses a create that would take this node past an overcommit
// ceiling. Creates on one node are not serialised with each other, so two
// racing creates may together pass a ceiling by one container's size.
func (e *Engine) admit(ctx context.Context, req CreateRequest) error {
	h, err := e.host()
	if err != nil {
		return err
	}
	u, err := e.usage(ctx)
	if err != nil {
		return err
	}
	return e.overcommit().Admit(h, u, req.CPUs, req.MemoryBytes, req.DiskBytes)
}

// Capacity is this node's usage against its overcommit ceilings, for
// `fatbox status`.
func (e *Engine) Capacity(ctx context.Context) ([]limits.Figure, error) {
	h, err := e.host()
	if err != nil {
		return nil, err
	}
	u, err := e.usage(ctx)
	if err != nil {
		return nil, err
	}
	return e.overcommit().Figures(h, u), nil
}

// overcommit is Overcommit with each zero ratio at its default.
func (e *Engine) overcommit() limits.Overcommit {
	o, def := e.Overcommit, limits.DefaultOvercommit()
	if o.CPU == 0 {
		o.CPU = def.CPU
	}
	if o.Memory == 0 {
		o.Memory = def.Memory
	}
	if o.Disk == 0 {
		o.Disk = def.Disk
	}
	return o
}
