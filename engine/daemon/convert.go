package daemon

import (
	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/ipam"
)

// The API's wire types are its own (engine/api imports nothing of the
// engine); these turn the packages' types into them and back.

func toContainer(r inventory.Record) api.Container {
	return api.Container{ID: r.ID, Labels: r.Labels, PendingDiskMiB: r.PendingDiskMiB, Name: r.Name, Hostname: r.Hostname, Pool: r.Pool, IP: r.IP, MAC: r.MAC, Node: r.Node,
		Image: r.Image, ImageID: r.ImageID, VCPUs: r.VCPUs, CPUs: r.CPUs, Cpuset: r.Cpuset,
		MemoryMiB: r.MemoryMiB, DiskMiB: r.DiskMiB, SwapMiB: r.SwapMiB, NetRateBits: r.NetRateBits,
		DiskReadBps: r.DiskReadBps, DiskWriteBps: r.DiskWriteBps, DiskReadIOPS: r.DiskReadIOPS, DiskWriteIOPS: r.DiskWriteIOPS,
		Owner: r.Owner, App: r.App, Env: r.Env, ExporterPort: r.ExporterPort, Status: r.Status, StopReason: r.StopReason, Autostart: r.Autostart, RenamedFrom: r.RenamedFrom, Instance: r.InstanceKey(),
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Ulimits: toUlimits(r.Ulimits), PendingUlimits: r.PendingUlimits, Volumes: toVolumeMounts(r.Volumes), Services: toServices(r.Services), Syslog: r.Syslog}
}

func toContainers(rs []inventory.Record) []api.Container {
	out := make([]api.Container, 0, len(rs))
	for _, r := range rs {
		out = append(out, toContainer(r))
	}
	return out
}

func toContainerInfo(in engine.Info) api.ContainerInfo {
	return api.ContainerInfo{Container: toContainer(in.Record), State: in.State, PID: in.PID,
		DiskUsedBytes: in.DiskUsedBytes, DiskSizeBytes: in.DiskSizeBytes}
}

func fromCreateRequest(r api.CreateRequest) engine.CreateRequest {
	return engine.CreateRequest{Name: r.Name, Image: r.Image, Pool: r.Pool, CPUs: r.CPUs, MemoryBytes: r.MemoryBytes,
		DiskBytes: r.DiskBytes, SSHKeys: r.SSHKeys, SwapBytes: r.SwapBytes, NetRateBits: r.NetRateBits,
		DiskReadBps: r.DiskReadBps, DiskWriteBps: r.DiskWriteBps, DiskReadIOPS: r.DiskReadIOPS, DiskWriteIOPS: r.DiskWriteIOPS,
		Autostart: r.Autostart, Owner: r.Owner, App: r.App, Env: r.Env, Labels: r.Labels, Ulimits: fromUlimits(r.Ulimits), Volumes: fromVolumeMounts(r.Volumes), Services: fromServices(r.Services),
		ExporterPort: r.ExporterPort, Syslog: r.Syslog}
}

func toVolumeMounts(vms []inventory.VolumeMount) []api.VolumeMount {
	if vms == nil {
		return nil
	}
	out := make([]api.VolumeMount, 0, len(vms))
	for _, vm := range vms {
		out = append(out, api.VolumeMount{Name: vm.Name, Path: vm.Path})
	}
	return out
}

func fromVolumeMounts(vms []api.VolumeMount) []inventory.VolumeMount {
	if vms == nil {
		return nil
	}
	out := make([]inventory.VolumeMount, 0, len(vms))
	for _, vm := range vms {
		out = append(out, inventory.VolumeMount{Name: vm.Name, Path: vm.Path})
	}
	return out
}

func toVolume(v engine.VolumeInfo) api.Volume {
	return api.Volume{ID: v.ID, Name: v.Name, SizeMiB: v.SizeMiB, Node: v.Node, CreatedAt: v.CreatedAt,
		AttachedTo: v.AttachedTo, AttachedName: v.AttachedName, Path: v.Path,
		Mounted: v.Mounted, UsedBytes: v.UsedBytes, SizeBytes: v.SizeBytes}
}

func toVolumes(vs []engine.VolumeInfo) []api.Volume {
	out := make([]api.Volume, 0, len(vs))
	for _, v := range vs {
		out = append(out, toVolume(v))
	}
	return out
}

func toUlimits(us map[string]inventory.Ulimit) map[string]api.Ulimit {
	if us == nil {
		return nil
	}
	out := make(map[string]api.Ulimit, len(us))
	for n, u := range us {
		out[n] = api.Ulimit{Soft: u.Soft, Hard: u.Hard}
	}
	return out
}

func fromUlimits(us map[string]api.Ulimit) map[string]inventory.Ulimit {
	if us == nil {
		return nil
	}
	out := make(map[string]inventory.Ulimit, len(us))
	for n, u := range us {
		out[n] = inventory.Ulimit{Soft: u.Soft, Hard: u.Hard}
	}
	return out
}

func toPool(p ipam.Pool) api.Pool {
	out := api.Pool{Name: p.Name, CIDR: p.CIDR, Gateway: p.Gateway, Reserved: p.Reserved, Bridge: p.Bridge,
		CreateBridge: p.CreateBridge, VLAN: p.VLAN, Uplink: p.Uplink, MTU: p.MTU, Deleting: p.Deleting, Capacity: p.Capacity(), Syslog: p.Syslog}
	for _, r := range p.Ranges {
		out.Ranges = append(out.Ranges, api.Range{Start: r.Start, End: r.End})
	}
	q := api.Duration(p.QuarantineDuration())
	out.Quarantine = &q
	return out
}

func toPools(ps []ipam.Pool) []api.Pool {
	out := make([]api.Pool, 0, len(ps))
	for _, p := range ps {
		out = append(out, toPool(p))
	}
	return out
}

func fromPool(p api.Pool) ipam.Pool {
	out := ipam.Pool{Name: p.Name, CIDR: p.CIDR, Gateway: p.Gateway, Reserved: p.Reserved, Bridge: p.Bridge,
		CreateBridge: p.CreateBridge, VLAN: p.VLAN, Uplink: p.Uplink, MTU: p.MTU, Syslog: p.Syslog}
	for _, r := range p.Ranges {
		out.Ranges = append(out.Ranges, ipam.Range{Start: r.Start, End: r.End})
	}
	if p.Quarantine != nil {
		q := ipam.Duration(*p.Quarantine)
		out.Quarantine = &q
	}
	return out
}

func toLease(l ipam.Lease) api.Lease {
	return api.Lease{Pool: l.Pool, Name: l.Name, IP: l.IP, State: l.State, Host: l.Host,
		CreatedAt: l.CreatedAt, QuarantineUntil: l.QuarantineUntil}
}

func toLeases(ls []ipam.Lease) []api.Lease {
	out := make([]api.Lease, 0, len(ls))
	for _, l := range ls {
		out = append(out, toLease(l))
	}
	return out
}

func toGCResult(r ipam.GCResult) api.GCResult {
	return api.GCResult{Orphans: toLeases(r.Orphans), Released: toLeases(r.Released), DryRun: r.DryRun}
}

func toImage(i baseimages.Image) api.Image {
	out := api.Image{ID: i.ID, Name: i.Name, Source: i.Source, Recipe: i.Recipe, RecipeKey: i.RecipeKey,
		Parent: i.Parent, Packages: i.Packages, Created: i.Created, Size: i.Size, ParentID: i.ParentID, FromContainer: i.FromContainer,
		Labels: i.Labels, Ports: i.Ports, Env: i.Env, WorkDir: i.WorkDir, User: i.User, BuildKey: i.BuildKey}
	for _, p := range i.Programs {
		out.Programs = append(out.Programs, api.Program{Name: p.Name, Command: p.Command, User: p.User,
			Autostart: p.Autostart, Priority: p.Priority, Environment: p.Environment, StopWaitSecs: p.StopWaitSecs, Directory: p.Directory})
	}
	return out
}

func toImages(is []baseimages.Image) []api.Image {
	out := make([]api.Image, 0, len(is))
	for _, i := range is {
		out = append(out, toImage(i))
	}
	return out
}

func toServices(ss []inventory.Service) []api.Service {
	var out []api.Service
	for _, s := range ss {
		out = append(out, api.Service{Name: s.Name, Port: s.Port})
	}
	return out
}

func fromServices(ss []api.Service) []inventory.Service {
	var out []inventory.Service
	for _, s := range ss {
		out = append(out, inventory.Service{Name: s.Name, Port: s.Port})
	}
	return out
}
