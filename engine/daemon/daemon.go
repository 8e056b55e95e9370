// Package daemon is the fatbox host agent: it owns the state store and serves
// the REST/JSON API on a unix socket. The CLI in tools/fatbox only wires it up.
//
// Hazards:
//   - One daemon per state dir: New takes an exclusive flock on
//     <state dir>/daemon.lock, held until Close, so a second daemon fails fast
//     instead of two daemons reconciling the same host.
//   - A socket file left by a daemon killed with -9 is removed only when
//     nothing answers on it.
//   - The daemon is not in the data path; killing it at any instant must leave
//     the store consistent (every write is a CAS transaction).
//
// Test hook: FATBOX_FAILPOINT=<op>:<step> (op create or start, a step of
// engine.SetFaultHook, e.g. create:attach) makes the daemon stop dead at
// that step: it writes the file FATBOX_FAILPOINT_MARK (default
// "<state dir>.failpoint") holding "<op>:<step> <pid>" and blocks that call
// until the process dies, so a crash test (test/e2e/crash_test.go) can
// SIGKILL it there and check that the next daemon's Reconcile cleans up. A
// malformed value refuses to start; the daemon logs a warning when it is set.
package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/baseimages/dockerbuild"
	"github.com/fatbox/fatbox/cmdbsync"
	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/firstboot"
	"github.com/fatbox/fatbox/engine/lxcfs"
	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/inventory/store/backends"
	"github.com/fatbox/fatbox/ipam"
	"github.com/fatbox/fatbox/ipam/arp"
	"github.com/fatbox/fatbox/sshgw"
)

// Daemon is a running host agent. Create it with New, run it with Serve.
type Daemon struct {
	cfg     Config
	version string
	log     *slog.Logger
	store   store.Store
	lock    *os.File
	started time.Time
	starts  int
	ipam    *ipam.Allocator
	inv     *inventory.Inventory
	images  *baseimages.Store
	builder *baseimages.Builder
	dockerb *dockerbuild.Builder
	// buildRunner runs the Dockerfile builds' RUN steps.
	buildRunner *engine.BuildRunner
	engine      *engine.Engine
	access      access
	cmdb        []cmdbSyncer
	catalog     *cmdbsync.Catalog
	hooks       []*cmdbsync.Hook
	billing     *billing
	gwrec       gatewayRecords
	gw          *sshgw.Server
}

// hostRecord is kept at hosts/<node> in the store.
type hostRecord struct {
	Node      string    `json:"node"`
	Version   string    `json:"version"`
	Starts    int       `json:"starts"`
	StartedAt time.Time `json:"started_at"`
}

// New checks the state dir, takes the per-host lock, opens the store and
// records this start. Errors are one line that says what to do.
func New(ctx context.Context, cfg Config, version string, log *slog.Logger) (*Daemon, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Overcommit.Validate(); err != nil {
		return nil, fmt.Errorf("config: overcommit: %w", err)
	}
	if _, err := cfg.eventRetention(); err != nil {
		return nil, err
	}
	if err := validateMetricsListen(cfg.MetricsListen); err != nil {
		return nil, err
	}
	if cfg.FileSD != "" && !filepath.IsAbs(cfg.FileSD) {
		return nil, fmt.Errorf("config: file_sd %q is relative: give an absolute path (where Prometheus's file_sd_configs reads it)", cfg.FileSD)
	}
	if !filepath.IsAbs(cfg.StateDir) {
		return nil, fmt.Errorf("state dir %q is relative: pass an absolute --state-dir", cfg.StateDir)
	}
	hook, err := failpoint(cfg.StateDir, log) // the test hook; nil unless FATBOX_FAILPOINT is set
	if err != nil {
		return nil, err
	}
	if cfg.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("cannot read the hostname (%v): set node in the config file", err)
		}
		cfg.Node = h
	}
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("state dir %q cannot be created (%v): run fatbox as root or pass --state-dir with a writable directory", cfg.StateDir, rootErr(err))
	}
	lock, err := os.OpenFile(filepath.Join(cfg.StateDir, "daemon.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state dir %q is not writable (%v): run fatbox as root or pass --state-dir with a writable directory", cfg.StateDir, rootErr(err))
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("another fatbox daemon holds %q: stop it first (`fatbox status` shows its socket)", lock.Name())
	}
	d := &Daemon{cfg: cfg, version: version, log: log, lock: lock, started: time.Now().UTC(),
		access: access{gid: -1, selfID: uint32(os.Geteuid())}}
	if g, err := user.LookupGroup(cfg.SocketGroup); err == nil {
		d.access.gid, _ = strconv.Atoi(g.Gid)
	} else {
		log.Warn("the socket's group does not exist: only root may use the API; create it with tools/setup-host.sh or `groupadd "+cfg.SocketGroup+"`", "group", cfg.SocketGroup)
	}
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()
	st, err := backends.Open(ctx, cfg.Store, cfg.StateDir)
	if err != nil {
		return nil, err
	}
	d.store = st
	d.inv = &inventory.Inventory{Store: st}
	d.ipam = &ipam.Allocator{Store: st, Host: cfg.Node, BridgeExists: bridgeExists, Prober: arp.Prober{},
		LinkKind: network.LinkKind, Containers: d.inv.Pools}
	d.images = &baseimages.Store{Root: filepath.Join(cfg.StateDir, "images"), InUse: d.inv.UsersOfImage}
	recipes, err := baseimages.BuiltinRecipes()
	if err != nil {
		return nil, err
	}
	d.builder = &baseimages.Builder{Store: d.images, Recipes: recipes, CacheDir: cfg.ImageCache}
	sup := cfg.Supervisord
	if sup == "" {
		if exe, err := os.Executable(); err == nil {
			sup = filepath.Join(filepath.Dir(exe), "supervisord")
		}
	}
	// runc resolves a relative bind source against the bundle dir.
	if abs, err := filepath.Abs(sup); err == nil {
		sup = abs
	}
	if st, err := os.Stat(sup); err != nil || st.IsDir() {
		log.Warn("no supervisord binary: creates will fail until there is one; build it with `make supervisord` or pass --supervisord", "path", sup)
	}
	shim := cfg.VMShim
	if shim == "" {
		shim = filepath.Join(filepath.Dir(sup), "vmshim")
	}
	if abs, err := filepath.Abs(shim); err == nil {
		shim = abs
	}
	if st, err := os.Stat(shim); err != nil || st.IsDir() {
		log.Warn("no vmshim binary: containers get no systemctl, service or reboot until there is one; build it with `make vmshim` or pass --vmshim", "path", shim)
		shim = ""
	}
	d.engine = &engine.Engine{IPAM: d.ipam, Inventory: d.inv, Images: d.images, Runtime: &runtime.Runtime{Root: RuncRoot(cfg.StateDir)},
		StateDir: cfg.StateDir, Supervisor: sup, VMShim: shim, Node: cfg.Node, OpsKeys: cfg.OpsKeys, Overcommit: cfg.Overcommit}
	d.engine.SetFaultHook(hook)
	d.gwrec = newGatewayRecords(cfg.StateDir)
	// Build steps have a runc root of their own: Reconcile's orphan pass
	// and lxcfs's re-mounts never see them; Serve sweeps what a killed
	// daemon left there.
	d.buildRunner = &engine.BuildRunner{Runtime: &runtime.Runtime{Root: filepath.Join(cfg.StateDir, "build", "runc")}, Dir: filepath.Join(cfg.StateDir, "build", "steps")}
	d.dockerb = &dockerbuild.Builder{Store: d.images, Runner: d.buildRunner}
	if cfg.ImageCache != "" {
		d.dockerb.AptCache = filepath.Join(filepath.Dir(cfg.ImageCache), "apt")
	}
	d.engine.KeyPool = &firstboot.KeyPool{Dir: filepath.Join(cfg.StateDir, "keypool"), Size: 32}
	if _, err := exec.LookPath("lxcfs"); err == nil {
		d.engine.LXCFS = &lxcfs.Manager{Dir: filepath.Join(cfg.StateDir, "lxcfs")}
	} else {
		log.Warn("lxcfs is not installed: containers will see the host's memory, CPUs and uptime in /proc; install it with tools/setup-host.sh")
	}
	if err := d.recordStart(ctx); err != nil {
		return nil, err
	}
	if err := d.newCMDB(); err != nil {
		return nil, err
	}
	if err := d.newBilling(); err != nil {
		return nil, err
	}
	if err := d.newCatalog(); err != nil {
		return nil, err
	}
	if err := d.newHooks(); err != nil {
		return nil, err
	}
	if err := d.newGateway(); err != nil {
		return nil, err
	}
	ok = true
	return d, nil
}

func rootErr(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func (d *Daemon) recordStart(ctx context.Context) error {
	key := "hosts/" + d.cfg.Node
	_, err := store.Update(ctx, d.store, key, func(cur []byte, exists bool) ([]byte, error) {
		var r hostRecord
		if exists {
			if err := json.Unmarshal(cur, &r); err != nil {
				return nil, fmt.Errorf("host record %q is corrupt: %w", key, err)
			}
		}
		r.Node, r.Version, r.StartedAt = d.cfg.Node, d.version, d.started
		r.Starts++
		d.starts = r.Starts
		return json.Marshal(r)
	})
	if err != nil {
		return fmt.Errorf("record daemon start in the store: %w", err)
	}
	return nil
}

// Store is the daemon's state store.
func (d *Daemon) Store() store.Store { return d.store }

// Config is the effective configuration.
func (d *Daemon) Config() Config { return d.cfg }

// Close releases the store and the per-host lock.
func (d *Daemon) Close() error {
	d.closeCMDB()
	d.closeBilling()
	if d.store != nil {
		d.store.Close()
	}
	if d.lock != nil {
		d.lock.Close()
		d.lock = nil
	}
	return nil
}

// fillKeyPool keeps RSA host keys ready for creates until ctx ends.
func (d *Daemon) fillKeyPool(ctx context.Context) {
	// Key generation is CPU-bound and must not slow the creates it serves:
	// it runs on a thread of its own at nice 19 (the thread ends with the
	// goroutine, as it is never unlocked).
	goruntime.LockOSThread()
	if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 19); err != nil {
		d.log.Warn("host key pool: cannot lower its priority", "error", err)
	}
	for {
		if err := d.engine.KeyPool.Fill(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("host key pool", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// RuncRoot is runc's state dir for the containers of one state dir: the
// default state dir keeps runtime.DefaultRoot; any other gets its own, so
// daemons of two state dirs (tests) never see each other's containers.
func RuncRoot(stateDir string) string {
	if filepath.Clean(stateDir) == Defaults().StateDir {
		return runtime.DefaultRoot
	}
	h := sha256.Sum256([]byte(filepath.Clean(stateDir)))
	return runtime.DefaultRoot + "-" + hex.EncodeToString(h[:6])
}

// Serve reconciles this host's containers with the store, then listens on
// the unix socket and serves the API until ctx ends.
func (d *Daemon) Serve(ctx context.Context) error {
	if m := d.engine.LXCFS; m != nil {
		// lxcfs outlives the daemon (running containers read it); a boot
		// starts it or adopts a live one. If it dies while containers run,
		// Watch restarts it and re-mounts its files in each of them.
		go m.Watch(ctx, 2*time.Second, d.engine.RunningPIDs, func(err error) { d.log.Error("lxcfs", "error", err) })
	}
	go d.fillKeyPool(ctx)
	go d.pruneEvents(ctx)
	d.runCMDB(ctx)
	d.runHooks(ctx) // beside the lifecycle: they read the log, never wait on it
	rep, err := d.engine.Reconcile(ctx)
	// What a Dockerfile build killed with the daemon left: its step's
	// container first (it holds the overlay), then the overlay and temp dirs.
	if berr := errors.Join(d.buildRunner.Sweep(ctx), d.dockerb.Sweep()); berr != nil {
		d.log.Error("clean up after interrupted image builds", "error", berr)
	}
	d.runCatalog(ctx) // after Reconcile: its full pass sees what Reconcile repaired
	if err != nil {
		return err
	}
	d.log.Info("reconciled", "adopted", rep.Adopted, "started", rep.Started, "stopped", rep.Stopped,
		"removed", rep.Removed, "aborted", rep.Aborted, "orphans", rep.Orphans, "kept", rep.Kept, "released", rep.Released, "volumes", rep.Volumes)
	for _, e := range rep.Errors {
		d.log.Error("reconcile", "error", e)
	}
	// From now on a container that ends on its own (reboot, poweroff
	// inside, a crash) is noticed and handled (engine/power.go).
	if err := d.engine.Watch(ctx, func(name string, err error) {
		d.log.Error("container ended on its own", "container", name, "error", err)
	}); err != nil {
		d.log.Error("containers will not be watched: a reboot or shutdown from inside is handled at the daemon's next start", "error", err)
	}
	go d.sampleUsage(ctx) // usage.go: after Reconcile, so it samples what runs now
	go d.runFileSD(ctx)   // filesd.go: after Reconcile, so it lists what runs now
	d.runBilling(ctx)     // billing.go
	l, err := d.listen()
	if err != nil {
		return err
	}
	d.serveMetrics(ctx) // metrics.go: its own TCP listener, off the socket
	srv := d.httpServer()
	d.runGateway(ctx) // gateway.go: after the socket listens (it reads the fleet through the API)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	d.log.Info("fatbox daemon ready", "socket", d.cfg.Socket, "store", d.store.Backend(), "state_dir", d.cfg.StateDir, "node", d.cfg.Node)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	os.Remove(d.cfg.Socket)
	d.engine.WaitHandlers(sctx) // a reboot from inside under way finishes
	return err
}

func (d *Daemon) listen() (net.Listener, error) {
	sock := d.cfg.Socket
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the socket's directory %q (%v): run as root or pass --socket", filepath.Dir(sock), rootErr(err))
	}
	if _, err := os.Lstat(sock); err == nil {
		if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("something already answers on %q: another fatbox daemon is running; stop it or pass --socket", sock)
		}
		os.Remove(sock) // left by a daemon that was killed
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %q (%v): run as root or pass --socket", sock, rootErr(err))
	}
	// root:<socket group> 0660: the kernel keeps everyone else from
	// connecting; the daemon checks each caller's uid as well.
	mode := os.FileMode(0o600)
	if d.access.gid >= 0 {
		if err := os.Chown(sock, 0, d.access.gid); err != nil {
			l.Close()
			return nil, fmt.Errorf("chown %q to group %q: %w", sock, d.cfg.SocketGroup, err)
		}
		mode = 0o660
	}
	if err := os.Chmod(sock, mode); err != nil {
		l.Close()
		return nil, fmt.Errorf("chmod %q: %w", sock, err)
	}
	return l, nil
}

// Handler is the REST API.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", notFound)
	mux.HandleFunc("GET /v1/status", d.handleStatus)
	d.ipamRoutes(mux)
	d.imageRoutes(mux)
	d.containerRoutes(mux)
	d.lifecycleRoutes(mux)
	d.execRoutes(mux)
	d.inventoryRoutes(mux)
	d.cmdbRoutes(mux)
	d.usageRoutes(mux)
	d.billingRoutes(mux)
	d.doctorRoutes(mux)
	d.volumeRoutes(mux)
	d.snapshotRoutes(mux)
	d.releaseRoutes(mux)
	d.auditRoutes(mux)
	d.gatewayKeyRoutes(mux)
	d.gatewayRoutes(mux)
	return mux
}

func (d *Daemon) handleStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	st := api.Status{
		Version: d.version, Node: d.cfg.Node, PID: os.Getpid(), StartedAt: d.started, Starts: d.starts,
		StateDir: d.cfg.StateDir, Socket: d.cfg.Socket,
		Store: api.StoreStatus{Backend: d.store.Backend(), URL: redact(d.cfg.Store), Healthy: true},
	}
	if err := d.store.Health(ctx); err != nil {
		st.Store.Healthy = false
		st.Store.Error = err.Error()
	}
	// Status answers whatever else is down: a store that cannot be read
	// leaves the capacity figures out and says why.
	figs, err := d.engine.Capacity(ctx)
	if err != nil {
		st.CapacityError = err.Error()
	}
	st.CMDB = d.cmdbStatus()
	st.Billing = d.billingStatus()
	st.Catalog = d.catalogStatus()
	st.Hooks = d.hookStatus()
	st.Gateway = d.gatewayStatus()
	if rels, err := d.engine.Inventory.Releases(ctx); err == nil {
		for _, r := range rels {
			st.Releases = append(st.Releases, api.ReleaseStatus{Name: r.Name, Kind: r.Kind, Candidate: r.Candidate, Phase: r.Phase, Step: r.Step, StartedAt: r.StartedAt})
		}
	}
	for _, f := range figs {
		ratio := map[string]float64{"cpu": d.cfg.Overcommit.CPU, "memory": d.cfg.Overcommit.Memory, "disk": d.cfg.Overcommit.Disk}[f.Name]
		st.Capacity = append(st.Capacity, api.Figure{Name: f.Name, Used: f.Used, Ceiling: f.Ceiling, Unit: f.Unit, Ratio: ratio})
	}
	WriteJSON(w, http.StatusOK, st)
}

// redact drops secrets (a token parameter) from a store URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return raw
	}
	q := u.Query()
	if q.Has("token") {
		q.Set("token", "REDACTED")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// bridgeExists reports whether a network interface of that name exists on this host.
func bridgeExists(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name))
	return err == nil
}

// pruneEvents drops the events of containers removed longer ago than the
// retention, once an hour (the first time a minute after start).
func (d *Daemon) pruneEvents(ctx context.Context) {
	keep, _ := d.cfg.eventRetention()
	wait := time.Minute
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = time.Hour
		n, err := d.inv.PruneEvents(ctx, time.Now().Add(-keep))
		switch {
		case err != nil && ctx.Err() == nil:
			d.log.Error("prune events", "error", err)
		case n > 0:
			d.log.Info("pruned the events of removed containers", "events", n, "older_than", keep.String())
		}
	}
}
