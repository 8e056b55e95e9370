// Package engine is the fat-container lifecycle: create, start, stop, remove,
// list. It composes ipam (the address), baseimages (the image), engine/rootfs
// (sized disk + overlay), engine/firstboot (identity files), engine/network
// (netns, veth, MAC, rate limits, anti-spoofing) and engine/runtime (runc),
// and records every container in the inventory.
//
// Hazards:
//   - Create is a sequence of steps, each with an undo; a failure runs the
//     undos in reverse, so no record, lease, mount, link or netns is left.
//   - Runtime objects (state dir <state>/containers/<instance>, runc id,
//     netns, host veth, cgroups) are keyed by the record's instance, never
//     by its name: a release renames a running container (instance.go).
//   - The identity belongs to the name: the lease (so IP and MAC) is the
//     name's; SSH host keys live in the state dir and a release copies them
//     to the container taking the name (release.go). Remove keeps the lease
//     unless asked to release it, so the same name comes back on the same
//     IP and MAC.
//   - A process that copies the host's mount namespace (`ip netns exec`,
//     `ip -n`, `unshare -m`) while containers run holds their disk mounts
//     until it ends; a halt then cannot detach the loop device and says so.
//   - Containers run detached under runc; the daemon is not in the data path.
//     Reconcile (at daemon start) is what makes runc, the kernel and the
//     store agree again after the daemon or the host died at any instant.
//   - Lifecycle calls on one name are serialised in-process (lock); one
//     daemon per state dir is guaranteed by the daemon's flock.
//   - lxcfs's /proc files are bind-mounted into containers: if lxcfs dies
//     they go stale until engine/lxcfs re-mounts them (the daemon's watch).
//   - exec runs `runc exec`: the process inherits the container's
//     capabilities, seccomp profile and cgroup, so it is as confined as sshd.
//
// Test hook: SetFaultHook is called after each step of a create or start
// ("create:attach"); tests fail or hold a call there to prove every step's
// undo, and the daemon's FATBOX_FAILPOINT uses it to be killed mid-create.
// A daemon run without FATBOX_FAILPOINT never sets it.
package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/engine/firstboot"
	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/engine/lxcfs"
	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/engine/revert"
	"github.com/fatbox/fatbox/engine/rootfs"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/logfwd"
	"github.com/fatbox/fatbox/ipam"
)

// Engine runs fat containers on this host. All fields are required unless
// their comment says what zero means.
type Engine struct {
	IPAM      *ipam.Allocator
	Inventory *inventory.Inventory
	Images    *baseimages.Store
	Runtime   *runtime.Runtime
	// StateDir holds containers/<name>/ (disk, keys, bundle).
	StateDir string
	// Supervisor is the static supervisord binary injected into containers.
	Supervisor string
	// VMShim is the static vmshim binary injected into containers
	// (systemctl, service, reboot, ...: tools/vmshim); "" injects none, and
	// such containers cannot reboot or shut down from inside.
	VMShim string
	// Node names this host in records.
	Node string
	// OpsKeys are authorized in every container, besides each create's own.
	OpsKeys []string
	// GatewayKey is the SSH gateway's client public key (an authorized_keys
	// line), "" when the daemon runs no gateway. New containers grant it
	// root (GrantGateway for others and for containers made before); each
	// boot writes it for the logins granted (gateway.go).
	GatewayKey string
	// LXCFS virtualises /proc/{meminfo,cpuinfo,uptime,...} in containers so
	// free, nproc, uptime and top show their limits; nil means containers
	// see the host's.
	LXCFS *lxcfs.Manager
	// KeyPool supplies pre-generated RSA host keys to creates; nil means
	// each create generates its own (adds 0.1–0.7 s).
	KeyPool *firstboot.KeyPool
	// StopTimeout before SIGKILL; 0 means 10 s.
	StopTimeout time.Duration
	// Overcommit is how far this node's containers' vCPUs, memory limits
	// and disk sizes may add up past what the host has; a zero ratio means
	// its default (limits.DefaultOvercommit). The daemon sets it from its config.
	Overcommit limits.Overcommit

	// fault, in tests, is called after each step of Create and of a
	// start's boot with "<op>:<step>" (see SetFaultHook); an error fails
	// the call at that step.
	fault   func(step string) error
	crashed bool // a fault hook returned errCrash: skip the undos

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per container name

	instMu sync.Mutex // a create's choice of instance until its record is stored

	inits initWatch // the power watcher (power.go)

	bootOnce sync.Once
	bootStr  string // this kernel boot's id (bootID)
}

// SetFaultHook is a test hook: f is called after each step of a create
// and of a start with "<op>:<step>": "create:" record, lease, disk, then
// the boot's mount, firstboot, netns, attach, start, then running;
// "start:" the boot's five. An error f returns fails the call at that step
// and its undos run; a hook that never returns holds the call there, so a
// test can kill the process at that instant (the daemon's
// FATBOX_FAILPOINT does this). nil, the default, removes it. Set it before
// the engine serves calls.
func (e *Engine) SetFaultHook(f func(step string) error) { e.fault = f }

func (e *Engine) step(op, name string) error {
	if e.fault != nil {
		err := e.fault(op + ":" + name)
		if errors.Is(err, errCrash) {
			e.crashed = true
		}
		return err
	}
	return nil
}

// errCrash, returned by a test's fault hook, stands for the process dying
// at that step: Create returns without running its undos, as a killed
// daemon would, and Reconcile has to clean up (a start's undos run anyway).
var errCrash = errors.New("simulated crash")

// CreateRequest is what `fatbox create` asks for.
type CreateRequest struct {
	Name        string   `json:"name"`
	Image       string   `json:"image"`
	Pool        string   `json:"pool"`
	CPUs        float64  `json:"cpus"`
	MemoryBytes int64    `json:"memory_bytes"`
	DiskBytes   int64    `json:"disk_bytes"`
	SSHKeys     []string `json:"ssh_keys"`
	SwapBytes   int64    `json:"swap_bytes,omitempty"` // swap beyond memory; 0: none
	NetRateBits uint64   `json:"net_rate_bits,omitempty"`
	// Disk IO limits on the writable disk (cgroup v1 blkio throttles: reads
	// and direct IO; buffered writeback is not throttled); 0: unlimited.
	DiskReadBps   uint64 `json:"disk_read_bps,omitempty"`
	DiskWriteBps  uint64 `json:"disk_write_bps,omitempty"`
	DiskReadIOPS  uint64 `json:"disk_read_iops,omitempty"`
	DiskWriteIOPS uint64 `json:"disk_write_iops,omitempty"`
	// Autostart brings the container back when the daemon starts and finds
	// it dead (after a host restart); nil means true, as ops expect of a VM.
	Autostart *bool `json:"autostart,omitempty"`
	// Owner, App, Env and Labels go into the record as given (checked by
	// inventory.CheckField and CheckLabels).
	Owner, App, Env string
	Labels          map[string]string
	// ExporterPort is a Prometheus exporter's TCP port inside (1-65535;
	// 0: none), for the daemon's file_sd targets file.
	ExporterPort int
	// Ulimits are the resource limits asked for (engine/limits checks
	// them); the others get the defaults as this host allows them.
	Ulimits map[string]inventory.Ulimit
	// Volumes are data volumes to attach (each made by `fatbox volume create`).
	Volumes []inventory.VolumeMount
	// Services are declared for discovery (inventory.CheckServices).
	Services []inventory.Service
	// Syslog is its own syslog collector (logfwd.Parse's URL; "" none:
	// its pool's applies).
	Syslog string
}

func (e *Engine) dir(name string) string { return filepath.Join(e.StateDir, "containers", name) }

func (e *Engine) stopTimeout() time.Duration {
	if e.StopTimeout == 0 {
		return 10 * time.Second
	}
	return e.StopTimeout
}

// lock serialises lifecycle calls on one container name in this process
// (one daemon per state dir holds daemon.lock); it returns the unlock.
func (e *Engine) lock(name string) func() {
	e.mu.Lock()
	if e.locks == nil {
		e.locks = map[string]*sync.Mutex{}
	}
	m, ok := e.locks[name]
	if !ok {
		m = &sync.Mutex{}
		e.locks[name] = m
	}
	e.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// Create makes and starts a container. The request is checked first
// (name, sizes, limits, this host's overcommit ceilings); a failure at any
// later step undoes what the earlier ones made, and an undo that fails is
// reported with the cause.
func (e *Engine) Create(ctx context.Context, req CreateRequest) (rec inventory.Record, err error) {
	return e.create(ctx, req, createOpts{})
}

// createOpts are what a release asks of the create of its candidate.
type createOpts struct {
	// Hostname, when set, is the new container's instead of its name.
	Hostname string
	// HostKeysFrom, when set, is a state dir whose ssh/ host keys the new
	// container takes (the released name's), instead of new ones.
	HostKeysFrom string
	// AuthorizedKeys, when set, replaces the ops keys and the request's.
	AuthorizedKeys []string
	// GatewayLogins, when set, are the logins granted the gateway's key
	// (the released name's) instead of root alone.
	GatewayLogins []string
}

func (e *Engine) create(ctx context.Context, req CreateRequest, opt createOpts) (rec inventory.Record, err error) {
	if err := inventory.ValidName(req.Name); err != nil {
		return inventory.Record{}, err
	}
	if err := e.checkRequest(&req); err != nil {
		return inventory.Record{}, err
	}
	unlock := e.lock(req.Name)
	defer unlock()
	if _, err := e.Inventory.Get(ctx, req.Name); err == nil {
		return inventory.Record{}, inventory.ExistsError(req.Name)
	}
	// The instance is chosen and its record stored under one lock: two
	// creates never pick the same one (the later one's undo would delete
	// the other's state dir).
	unlockInst := e.lockInstances()
	instLocked := true
	defer func() {
		if instLocked {
			unlockInst()
		}
	}()
	inst, err := e.newInstance(ctx, req.Name)
	if err != nil {
		return inventory.Record{}, err
	}
	img, err := e.Images.Inspect(req.Image)
	if err != nil {
		return inventory.Record{}, err
	}
	if req.ExporterPort == 0 {
		// The image may say where its exporter listens (a label).
		if req.ExporterPort, err = img.ExporterPort(); err != nil {
			return inventory.Record{}, invalidf("%w", err)
		}
	}
	pool, _, err := e.IPAM.GetPool(ctx, req.Pool)
	if err != nil {
		return inventory.Record{}, err
	}
	if err := e.admit(ctx, req); err != nil {
		return inventory.Record{}, err
	}

	rev := &revert.Reverter{}
	defer func() {
		if !e.crashed {
			err = undo(rev, err) // a no-op once released
		}
	}()
	bg := context.Background() // undos run even if ctx is cancelled

	// What allocating will do, kept in the record so that a Reconcile after
	// a crash undoes exactly that (the record is the name's: nobody else
	// allocates for it meanwhile).
	expect := ipam.OriginNew
	if cur, err := e.IPAM.Get(ctx, req.Pool, req.Name); err == nil {
		expect = ipam.OriginExisting
		if cur.State != ipam.Active {
			expect = ipam.OriginRevived
		}
	} else if !errors.Is(err, ipam.ErrLeaseNotFound) {
		return inventory.Record{}, err
	}
	rec = inventory.Record{LeaseOrigin: string(expect), Name: req.Name, Hostname: firstNonEmpty(opt.Hostname, req.Name), Pool: req.Pool, Node: e.Node, Image: req.Image, ImageID: img.ID,
		CPUs: req.CPUs, VCPUs: int(math.Ceil(req.CPUs)), MemoryMiB: req.MemoryBytes >> 20, DiskMiB: req.DiskBytes >> 20, Status: inventory.StatusCreating,
		Autostart: req.Autostart == nil || *req.Autostart, SwapMiB: req.SwapBytes >> 20, NetRateBits: req.NetRateBits, CreatedAt: time.Now().UTC(),
		DiskReadBps: req.DiskReadBps, DiskWriteBps: req.DiskWriteBps, DiskReadIOPS: req.DiskReadIOPS, DiskWriteIOPS: req.DiskWriteIOPS,
		Owner: req.Owner, App: req.App, Env: req.Env, Labels: req.Labels, Ulimits: req.Ulimits, Volumes: req.Volumes, Instance: inst, Services: req.Services,
		ExporterPort: req.ExporterPort, Syslog: req.Syslog}
	if err := e.Inventory.Create(ctx, rec); err != nil {
		return rec, err
	}
	instLocked = false
	unlockInst()
	rev.Add(func() error { return e.Inventory.Delete(bg, req.Name) })
	if err := e.step("create", "record"); err != nil {
		return rec, err
	}
	if err := e.claimVolumes(ctx, rev, rec); err != nil {
		return rec, err
	}

	lease, origin, err := e.IPAM.AllocateOrigin(ctx, req.Pool, req.Name)
	if err != nil {
		return rec, err
	}
	// A failed create gives back exactly what it took: a new lease is
	// freed, a lease revived from quarantine goes back into it, the
	// name's active lease stays.
	rev.Add(func() error { return e.IPAM.UndoAllocation(bg, req.Pool, req.Name, origin) })
	if err := e.step("create", "lease"); err != nil {
		return rec, err
	}

	l := rootfs.Layout{Dir: e.dir(inst)}
	// The undo comes first: a disk that fails half-way (a full file
	// system) leaves no state dir behind either.
	rev.Add(func() error { return rootfs.Remove(bg, l) })
	if err := rootfs.CreateDisk(ctx, l, req.DiskBytes); err != nil {
		return rec, err
	}
	if err := e.step("create", "disk"); err != nil {
		return rec, err
	}
	keys := append(append([]string(nil), e.OpsKeys...), req.SSHKeys...)
	if opt.AuthorizedKeys != nil {
		keys = opt.AuthorizedKeys
	}
	if opt.HostKeysFrom != "" {
		if err := copyHostKeys(opt.HostKeysFrom, l.Dir); err != nil {
			return rec, err
		}
	}
	if err := os.WriteFile(e.keysFile(inst), []byte(strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
		return rec, err
	}
	gwLogins := opt.GatewayLogins
	if gwLogins == nil && e.GatewayKey != "" {
		gwLogins = []string{"root"}
	}
	if err := e.writeGatewayLogins(inst, gwLogins); err != nil {
		return rec, err
	}
	if err := e.boot(ctx, "create", rev, &rec, img, pool, lease.IP); err != nil {
		return rec, err
	}
	if err := e.step("create", "running"); err != nil {
		return rec, err
	}
	rev.Release()
	return rec, nil
}

// boot brings a container with a disk and a lease up: overlay mount,
// identity files (host keys are loaded from the state dir, not regenerated),
// netns, bridge attachment, runc; then records it running. Each step
// registers its undo on rev. Create and Start share it; op ("create" or
// "start") names the caller to the fault hook.
func (e *Engine) boot(ctx context.Context, op string, rev *revert.Reverter, rec *inventory.Record, img baseimages.Image, pool ipam.Pool, ip netip.Addr) error {
	bg := context.Background()
	name := rec.InstanceKey() // the runtime objects' key
	l := rootfs.Layout{Dir: e.dir(name)}
	lower, err := e.Images.Rootfs(rec.Image)
	if err != nil {
		return err
	}
	if err := rootfs.Mount(ctx, l, lower); err != nil {
		return err
	}
	rev.Add(func() error { return rootfs.Unmount(bg, l) })
	if err := e.step(op, "mount"); err != nil {
		return err
	}
	root := l.RootfsDir()
	fb := firstboot.Config{Hostname: firstNonEmpty(rec.Hostname, rec.Name), IP: ip, AuthorizedKeys: e.keysOf(name), Programs: img.Programs, KeyPool: e.KeyPool,
		Syslog: logfwd.Effective(rec.Syslog, pool.Syslog)}
	if fb.Gateway, err = e.gatewayOf(name); err != nil {
		return err
	}
	// A power request left by the last run was acted on before this boot,
	// except a poweroff when nothing but autostart boots it (the daemon was
	// down when it was asked, and the host restarted since): it stays down.
	left, dir, err := preparePowerDir(l)
	if err != nil {
		return err
	}
	if left == powerPoweroff && inventory.CauseOf(ctx).Kind == inventory.CauseAutostart {
		return errPoweredOff
	}
	var powerDir string
	if e.VMShim != "" {
		powerDir, fb.VMShim = dir, runtime.VMShim
	}
	if err := firstboot.Write(root, l.Dir, fb); err != nil {
		return err
	}
	if err := e.step(op, "firstboot"); err != nil {
		return err
	}
	nsPath, err := network.CreateNetns(netnsName(name))
	if err != nil {
		return err
	}
	rev.Add(func() error { return network.DeleteNetns(netnsName(name)) })
	if err := e.step(op, "netns"); err != nil {
		return err
	}
	att, err := network.Attach(ctx, network.Config{Container: name, Netns: nsPath, Bridge: pool.Bridge, CreateBridge: pool.CreateBridge,
		BridgeAddr: bridgeAddr(pool), VLAN: pool.VLAN, Uplink: pool.Uplink, MTU: pool.MTU,
		Addr: netip.PrefixFrom(ip, pool.CIDR.Bits()), Gateway: pool.Gateway, Announce: false, // announced below, once running
		EgressBits: rec.NetRateBits, IngressBits: rec.NetRateBits})
	if err != nil {
		return err
	}
	rev.Add(func() error { return network.Detach(bg, name) })
	if err := e.step(op, "attach"); err != nil {
		return err
	}
	if rec.Cpuset == "" || !hostHasCPUs(rec.Cpuset) { // none yet, or the host lost CPUs since
		if rec.Cpuset, err = e.cpusetFor(ctx, rec.Name, rec.CPUs); err != nil {
			return err
		}
	}
	lim := runtime.Limits{CPUs: rec.CPUs, Cpuset: rec.Cpuset, MemoryBytes: int64(rec.MemoryMiB) << 20, SwapBytes: int64(rec.SwapMiB) << 20,
		Pids: 4096, ReadBps: rec.DiskReadBps, WriteBps: rec.DiskWriteBps, ReadIOPS: rec.DiskReadIOPS, WriteIOPS: rec.DiskWriteIOPS}
	if lim.ReadBps+lim.WriteBps+lim.ReadIOPS+lim.WriteIOPS > 0 {
		maj, min, err := rootfs.DiskDevice(l)
		if err != nil {
			return err
		}
		lim.Disk = &runtime.BlockDevice{Major: int64(maj), Minor: int64(min)}
	}
	e.countDiskIO(name) // cgroup v1 counts the disk's IO only once blk-throttle is on for it (usage.go)
	var extra []specs.Mount
	if e.LXCFS != nil {
		if err := e.LXCFS.Ensure(ctx); err != nil {
			return err
		}
		extra = lxcfs.Mounts(e.LXCFS.Dir)
	}
	if extra, err = e.cpuViewMounts(*rec, extra); err != nil { // cpuinfo and cpu/online say the vCPUs (cpuview.go)
		return err
	}
	rlimits, err := specRlimits(rec) // the ulimits (ulimit.go)
	if err != nil {
		return err
	}
	vols, err := e.volumeMounts(ctx, *rec, rev) // data volumes (volume.go)
	if err != nil {
		return err
	}
	extra = append(extra, vols...)
	spec, err := runtime.Spec(runtime.SpecConfig{Name: name, Hostname: fb.Hostname, Rootfs: root, Netns: nsPath, Supervisor: e.Supervisor,
		VMShim: e.VMShim, PowerDir: powerDir, Limits: lim, ExtraMounts: extra, Rlimits: rlimits})
	if err != nil {
		return err
	}
	pid, err := e.Runtime.Start(ctx, name, filepath.Join(l.Dir, "bundle"), spec)
	if err != nil {
		return err
	}
	rev.Add(func() error { return e.Runtime.Stop(bg, name, time.Second) })
	if err := e.step(op, "start"); err != nil {
		return err
	}
	rec.IP, rec.MAC, rec.Status, rec.StopReason = ip.String(), att.MAC.String(), inventory.StatusRunning, ""
	if err := e.Inventory.Put(ctx, *rec); err != nil {
		return err
	}
	e.watch(name, pid, true)
	// The gratuitous-ARP burst (3 × 100 ms apart) tells neighbours that hold
	// the address's previous owner; it is not on the boot's path.
	go func() { _ = network.Announce(bg, nsPath, ip) }()
	return nil
}

func netnsName(container string) string { return "fatbox-" + container }

// halt stops the container of instance name and takes down what boot made;
// the disk, keys, record and lease stay. Idempotent; goes on past errors.
func (e *Engine) halt(ctx context.Context, name string) error {
	e.finalUsage(ctx, name) // the last reading, while its cgroups and veth are there (usage.go)
	return errors.Join(
		e.Runtime.Stop(ctx, name, e.stopTimeout()),
		e.unmountVolumes(ctx, name),
		network.Detach(ctx, name),
		network.DeleteNetns(netnsName(name)),
		rootfs.Unmount(ctx, rootfs.Layout{Dir: e.dir(name)}),
	)
}

// destroy takes down what boot made for instance name and deletes its state
// dir (disk, host keys); record and lease are the caller's business.
func (e *Engine) destroy(ctx context.Context, name string) error {
	return errors.Join(e.halt(ctx, name), rootfs.Remove(ctx, rootfs.Layout{Dir: e.dir(name)}))
}

// beginTakeDown records the intent of a stop or remove first (so a daemon
// that dies from here on does not bring the container back up: Reconcile
// finishes the job), then stops the programs in order.
func (e *Engine) beginTakeDown(ctx context.Context, rec *inventory.Record, intent string) error {
	rec.Status = intent
	if err := e.Inventory.Put(ctx, *rec); err != nil {
		return err
	}
	e.stopPrograms(ctx, *rec)
	return nil
}

// local reads the record of a container of this node; a container of
// another node is refused (its daemon owns it).
func (e *Engine) local(ctx context.Context, name string) (inventory.Record, error) {
	rec, err := e.Inventory.Get(ctx, name)
	if err != nil {
		return rec, err
	}
	if rec.Node != e.Node {
		return rec, conflictf("container %q runs on node %q, not here (%q): ask that node's daemon", name, rec.Node, e.Node)
	}
	return rec, nil
}

// stopPrograms stops a running container's supervisord programs one by one
// in stop order (the app before cron, sshd and syslog), within StopTimeout:
// supervisord itself stops them all at once on SIGTERM. Best effort: halt's
// SIGTERM and SIGKILL follow whatever happens here.
func (e *Engine) stopPrograms(ctx context.Context, rec inventory.Record) {
	if st, _, err := e.Runtime.State(ctx, rec.InstanceKey()); err != nil || st != "running" {
		return
	}
	progs := baseimages.DefaultPrograms()
	if img, err := e.Images.Inspect(rec.Image); err == nil {
		progs = baseimages.MergePrograms(progs, img.Programs)
	}
	cctx, cancel := context.WithTimeout(ctx, e.stopTimeout())
	defer cancel()
	order := baseimages.StopOrder(progs)
	// The last (syslog) stops with supervisord's own SIGTERM; each ctl stop
	// costs about a second (supervisord polls its programs once a second).
	order = order[:len(order)-1]
	if e.VMShim != "" {
		// Units vmshim runs (unit-*) are apps: they stop first, then the
		// image's programs (its init, the timers, goes with supervisord's
		// SIGTERM). Only running ones are asked, each stop costing its second.
		first := []string{}
		if ps, err := e.Programs(cctx, rec.Name); err == nil {
			for _, p := range ps {
				if strings.HasPrefix(p.Name, "unit-") && strings.EqualFold(p.State, "running") {
					first = append(first, p.Name)
				}
			}
		}
		order = append(first, order...)
	}
	if len(order) == 0 {
		return
	}
	_, _ = e.Runtime.Exec(cctx, rec.InstanceKey(), runtime.ExecConfig{Args: supervisorctl(append([]string{"stop"}, order...)...)}, runtime.Streams{})
}

// bridgeAddr puts the gateway on a bridge fatbox creates, so the host (and
// its ssh) reaches containers when the pool's gateway is this host.
func bridgeAddr(p ipam.Pool) netip.Prefix {
	if !p.CreateBridge {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(p.Gateway, p.CIDR.Bits())
}

// Remove stops and deletes a container. The lease stays with the name unless
// releaseIP. Idempotent; goes on past errors and returns them joined.
func (e *Engine) Remove(ctx context.Context, name string, releaseIP bool) error {
	unlock := e.lock(name)
	defer unlock()
	rec, err := e.local(ctx, name)
	if err != nil {
		return err
	}
	if err := e.beginTakeDown(ctx, &rec, inventory.StatusRemoving); err != nil {
		return err
	}
	errs := []error{e.destroy(ctx, rec.InstanceKey())}
	if releaseIP {
		// A pool already gone has no lease to give back: the remove finishes.
		if _, err := e.IPAM.Release(ctx, rec.Pool, name); err != nil && !errors.Is(err, ipam.ErrLeaseNotFound) && !errors.Is(err, ipam.ErrPoolNotFound) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove %q (run it again to finish): %w", name, err)
	}
	if err := e.releaseVolumeClaims(ctx, rec); err != nil {
		return fmt.Errorf("remove %q (run it again to finish): %w", name, err)
	}
	return e.Inventory.Delete(ctx, name)
}

// Stop stops a running container and takes down its network and mounts;
// its disk, keys, record and lease stay. Idempotent.
func (e *Engine) Stop(ctx context.Context, name string) error {
	unlock := e.lock(name)
	defer unlock()
	return e.stop(ctx, name)
}

func (e *Engine) stop(ctx context.Context, name string) error {
	rec, err := e.local(ctx, name)
	if err != nil {
		return err
	}
	rec.StopReason = "" // stopped through the API
	if err := e.beginTakeDown(ctx, &rec, inventory.StatusStopping); err != nil {
		return err
	}
	if err := e.halt(ctx, rec.InstanceKey()); err != nil {
		return fmt.Errorf("stop %q (run it again to finish): %w", name, err)
	}
	rec.Status = inventory.StatusStopped
	return e.Inventory.Put(ctx, rec)
}

// Restart stops a container (its programs in order, within StopTimeout)
// and boots it again: same IP, MAC, host keys and files.
func (e *Engine) Restart(ctx context.Context, name string) (inventory.Record, error) {
	unlock := e.lock(name)
	defer unlock()
	if err := e.stop(ctx, name); err != nil {
		return inventory.Record{}, err
	}
	return e.start(ctx, name)
}

// Start boots a stopped container again: same disk, host keys, lease, MAC.
// A failure undoes what this call did.
func (e *Engine) Start(ctx context.Context, name string) (inventory.Record, error) {
	unlock := e.lock(name)
	defer unlock()
	return e.start(ctx, name)
}

func (e *Engine) start(ctx context.Context, name string) (inventory.Record, error) {
	rec, err := e.local(ctx, name)
	if err != nil {
		return rec, err
	}
	if err := e.fixStateDir(ctx, &rec); err != nil {
		return rec, err
	}
	if inst := rec.InstanceKey(); e.Runtime.Known(inst) {
		st, _, err := e.Runtime.State(ctx, inst)
		if err == nil && st == "running" {
			return rec, nil
		}
		// runc still has a dead container (its init died): take down its
		// leftovers first, or the attach and runc run below would collide.
		if err := e.halt(ctx, inst); err != nil {
			return rec, err
		}
	}
	if err := e.applyPendingDisk(ctx, &rec); err != nil {
		return rec, err
	}
	img, err := e.Images.Inspect(rec.Image)
	if err != nil {
		return rec, err
	}
	pool, _, err := e.IPAM.GetPool(ctx, rec.Pool)
	if err != nil {
		return rec, err
	}
	lease, err := e.IPAM.Allocate(ctx, rec.Pool, name) // sticky: the name's own address
	if err != nil {
		return rec, err
	}
	rev := &revert.Reverter{}
	if err := e.boot(ctx, "start", rev, &rec, img, pool, lease.IP); err != nil {
		return rec, undo(rev, err)
	}
	rev.Release()
	return rec, nil
}

// undo runs rev's undos after a failed step (err != nil) and joins any
// undo that failed with the cause, so a cleanup that left something behind
// is in the error the caller sees and logs.
func undo(rev *revert.Reverter, err error) error {
	if err == nil {
		return nil
	}
	if uerr := rev.Revert(); uerr != nil {
		return errors.Join(err, fmt.Errorf("and undoing it failed, so something may be left behind (the daemon's next start reconciles it): %w", uerr))
	}
	return err
}

// keysFile keeps the keys a container was created with, in its state dir
// (never read back from inside the container, which it controls).
func (e *Engine) keysFile(name string) string { return filepath.Join(e.dir(name), "authorized_keys") }

func (e *Engine) keysOf(name string) []string {
	b, err := os.ReadFile(e.keysFile(name))
	if err != nil {
		return e.OpsKeys
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Info is a record plus what the host says of the container now.
type Info struct {
	inventory.Record
	// State is runc's: "running", "stopped", "created", or "" if runc does not know it.
	State string `json:"state"`
	// PID is the container's init on the host (0 unless running).
	PID int `json:"pid,omitempty"`
	// DiskUsedBytes and DiskSizeBytes are the writable disk's (0 unless mounted).
	DiskUsedBytes int64 `json:"disk_used_bytes,omitempty"`
	DiskSizeBytes int64 `json:"disk_size_bytes,omitempty"`
}

// Inspect returns a container's record and its live state.
func (e *Engine) Inspect(ctx context.Context, name string) (Info, error) {
	rec, err := e.Inventory.Get(ctx, name)
	if err != nil {
		return Info{}, err
	}
	in := Info{Record: rec}
	if rec.Node != e.Node {
		return in, nil
	}
	if in.State, in.PID, err = e.Runtime.State(ctx, rec.InstanceKey()); err != nil {
		return in, err
	}
	if used, size, err := rootfs.Usage(rootfs.Layout{Dir: e.dir(rec.InstanceKey())}); err == nil {
		in.DiskUsedBytes, in.DiskSizeBytes = used, size
	}
	return in, nil
}
