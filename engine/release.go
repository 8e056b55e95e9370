package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fatbox/fatbox/engine/firstboot"
	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/engine/rootfs"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/ipam"
)

// A release hands a running container's name to another container without
// the name's clients noticing more than a short gap (seed 003's flow, "release
// the app, never restart the VM"):
//
//  1. prepare: the candidate is created from the new image as <name>-next
//     with the name's limits, labels, owner, authorized keys and identity
//     (hostname, SSH host keys), on a temporary address of the same pool (or
//     an existing container, --from, or <name>-last for a rollback, is booted
//     with that identity on its own lease);
//  2. check: its health check (TCP port, HTTP path or a command) passes on
//     the temporary address, or the candidate goes and the name's container
//     was never touched;
//  3. switch (recorded first, so a daemon that dies from here on finishes it
//     at its next start): the old container leaves the network (and, when it
//     has volumes, stops first so its app lets go of them), the volumes are
//     mounted into the candidate, the candidate's eth0 takes the name's
//     address and MAC in place (the processes keep running) and a
//     gratuitous-ARP burst announces it; one store transaction renames the
//     old record <name>-last (stopped, no address), the candidate's <name>
//     (running on the name's address, with the volumes), drops a previous
//     <name>-last and moves the volume claims;
//  4. cleanup: the old container is stopped (its programs get SIGTERM from
//     supervisord), the temporary lease is released, the previous
//     <name>-last's disk is deleted.
//
// The identity belongs to the name: its lease (so IP and MAC) never moves,
// the host keys and hostname are copied to the candidate before it boots, so
// clients' known_hosts and ARP caches stay valid. Each step is a "release"
// event of the container it concerns.

// HealthCheck is what a candidate must pass before it takes the name: one
// of TCP (a port accepting connections), HTTP (a GET of Path on Port
// answering 2xx or 3xx), or Command (run inside, exit 0). Zero: TCP 22.
type HealthCheck struct {
	TCP      int      `json:"tcp,omitempty"`
	HTTPPort int      `json:"http_port,omitempty"`
	HTTPPath string   `json:"http_path,omitempty"`
	Command  []string `json:"command,omitempty"`
	// Timeout bounds the whole check (retried every 250 ms); 0: 60 s.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// ReleaseRequest asks for a release of Name to a new container from Image,
// or to the existing container From.
type ReleaseRequest struct {
	Name  string
	Image string
	From  string
	Check HealthCheck
	// rollback: From is <name>-last (Rollback).
	rollback bool
}

// ReleaseResult says what a release did.
type ReleaseResult struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Candidate is the container that took the name (its name before).
	Candidate   string `json:"candidate"`
	CandidateIP string `json:"candidate_ip"`
	// Last is the name the old container has now (stopped, no address).
	Last string `json:"last"`
	// Discarded is the previous <name>-last, removed by the switch ("" none).
	Discarded string `json:"discarded,omitempty"`
	// Check is the check that passed, and how long it took to pass.
	Check         string        `json:"check"`
	CheckDuration time.Duration `json:"check_duration"`
	// Switch is how long the switch took, from the old container leaving
	// the network to the candidate holding the address: the longest time
	// the name's address did not answer. SwitchSteps say on what.
	Switch      time.Duration `json:"switch"`
	SwitchSteps []string      `json:"switch_steps,omitempty"`
	IP          string        `json:"ip"`
	// Record is the name's record after the release.
	Record inventory.Record `json:"record"`
}

// Release hands req.Name to a new container (see the comment above).
func (e *Engine) Release(ctx context.Context, req ReleaseRequest) (ReleaseResult, error) {
	name := req.Name
	res := ReleaseResult{Name: name, Kind: "release", Last: name + "-last"}
	if req.rollback {
		res.Kind = "rollback"
	}
	if err := inventory.ValidName(name); err != nil {
		return res, err
	}
	next := name + "-next"
	for _, n := range []string{next, res.Last} {
		if err := inventory.ValidName(n); err != nil {
			return res, invalidf("release %q: it needs the names %q and %q, and %v: use a name of at most 58 characters", name, next, res.Last, err)
		}
	}
	if (req.Image == "") == (req.From == "") {
		return res, invalidf("release %q: give the new image (--image IMAGE) or a prepared container (--from NAME), one of them", name)
	}
	if req.From == name {
		return res, invalidf("release %q: --from names the container that holds the name already: give another container", name)
	}
	check, err := checkHealthCheck(req.Check)
	if err != nil {
		return res, err
	}
	res.Check = check.String()
	// From here on a client that goes away (Ctrl-C) changes nothing: the
	// release ends as it would have, its check bounded by its timeout.
	ctx = context.WithoutCancel(ctx)
	old, err := e.local(ctx, name)
	if err != nil {
		return res, err
	}
	if old.Status != inventory.StatusRunning {
		return res, conflictf("%s %q: it is %s; a release hands a running container's name over without a gap: start it (`fatbox start %s`) or create the new one under the name", res.Kind, name, old.Status, name)
	}
	rel := inventory.Release{Name: name, Kind: res.Kind, OldID: old.ID, Last: res.Last, Image: req.Image, Phase: inventory.ReleasePreparing, StartedAt: time.Now().UTC()}
	var cand inventory.Record
	if req.From != "" {
		if cand, err = e.local(ctx, req.From); err != nil {
			if req.rollback && errors.Is(err, inventory.ErrNotFound) {
				return res, newKindError(inventory.ErrNotFound, "rollback %q: there is no %q to go back to (a release keeps the container it replaced under that name)", name, req.From)
			}
			return res, err
		}
		if err := e.checkCandidate(ctx, old, cand); err != nil {
			return res, fmt.Errorf("%s %q: %w", res.Kind, name, err)
		}
		rel.Candidate, rel.CandidateID = cand.Name, cand.ID
		// What an undo restores, known before the release is recorded.
		_, lerr := e.IPAM.Get(ctx, cand.Pool, cand.Name)
		rel.HadLease, rel.WasRunning, rel.Hostname = lerr == nil, cand.Status == inventory.StatusRunning, cand.Hostname
	} else {
		rel.Candidate, rel.Made = next, true
		if _, err := e.Inventory.Get(ctx, next); err == nil {
			return res, conflictf("release %q: a container %q exists (a release's candidate left behind?): remove it (`fatbox rm %s`) and release again", name, next, next)
		}
	}
	res.Candidate = rel.Candidate
	if others, err := e.Inventory.Releases(ctx); err != nil {
		return res, err
	} else {
		for _, o := range others {
			if o.Candidate == rel.Candidate || o.Name == rel.Candidate || o.Candidate == name {
				return res, conflictf("%s %q: %q is part of the %s of %q under way: wait for it to end", res.Kind, name, rel.Candidate, o.Kind, o.Name)
			}
		}
	}
	if err := e.Inventory.CreateRelease(ctx, rel); err != nil {
		if errors.Is(err, inventory.ErrReleaseBusy) {
			return res, conflictf("%s %q: %w", res.Kind, name, err)
		}
		return res, err
	}
	if err := e.step("release", "record"); err != nil {
		return res, e.stepFailed(rel, err)
	}

	// 1. prepare
	cand, err = e.prepareCandidate(ctx, &rel, old, req)
	if err != nil {
		return res, errors.Join(fmt.Errorf("%s %q: prepare %q: %w", res.Kind, name, rel.Candidate, err), e.undoRelease(context.Background(), rel))
	}
	res.CandidateIP = cand.IP
	if err := e.step("release", "prepared"); err != nil {
		return res, e.stepFailed(rel, err)
	}

	// 2. check
	start := time.Now()
	if err := e.runCheck(ctx, cand, check); err != nil {
		_ = e.Inventory.Note(ctx, cand.Name, "check failed: "+err.Error())
		return res, errors.Join(conflictf("%s %q: %q did not pass its health check (%s) on %s, so %q was left as it is, serving: %w", res.Kind, name, rel.Candidate, check, cand.IP, name, err),
			e.undoRelease(context.Background(), rel))
	}
	res.CheckDuration = time.Since(start)
	_ = e.Inventory.Note(ctx, cand.Name, fmt.Sprintf("checked: %s passed on %s", check, cand.IP))
	if err := e.step("release", "checked"); err != nil {
		return res, e.stepFailed(rel, err)
	}

	// 3. switch
	sw, err := e.beginSwitch(ctx, &rel)
	res.Discarded, res.Switch, res.SwitchSteps, res.IP = sw.discarded, sw.gap, sw.steps, sw.ip
	if err != nil {
		err = fmt.Errorf("%s %q: %w", res.Kind, name, err)
		if cur, gerr := e.Inventory.GetRelease(ctx, name); gerr == nil && (cur.Phase == inventory.ReleasePreparing || cur.Phase == inventory.ReleaseChecking) {
			// Refused before the switch began: nothing was touched.
			err = errors.Join(err, e.undoRelease(context.Background(), rel))
		}
		return res, err
	}
	if res.Record, err = e.Inventory.Get(ctx, name); err != nil {
		return res, err
	}
	return res, nil
}

// Rollback gives name back to <name>-last, the container a release
// replaced, the same way (booted with the name's identity on a temporary
// address, checked, switched); the current one becomes <name>-last.
func (e *Engine) Rollback(ctx context.Context, name string, check HealthCheck) (ReleaseResult, error) {
	return e.Release(ctx, ReleaseRequest{Name: name, From: name + "-last", Check: check, rollback: true})
}

// checkCandidate refuses an existing container as a candidate for old's name.
func (e *Engine) checkCandidate(ctx context.Context, old, cand inventory.Record) error {
	if cand.Pool != old.Pool {
		return conflictf("%q is in pool %q and %q in pool %q: the name's address is in %q, so the container taking it must be too", cand.Name, cand.Pool, old.Name, old.Pool, old.Pool)
	}
	if len(cand.Volumes) > 0 {
		return conflictf("%q has volumes of its own (%s): the name's volumes move to it at the switch, so it must have none: remove it (`fatbox rm %s`) and release with --image", cand.Name, volumeNames(cand.Volumes), cand.Name)
	}
	switch cand.Status {
	case inventory.StatusRunning, inventory.StatusStopped:
	default:
		return conflictf("%q is %s: wait until it is running or stopped", cand.Name, cand.Status)
	}
	return nil
}

func volumeNames(vs []inventory.VolumeMount) string {
	var s []string
	for _, v := range vs {
		s = append(s, v.Name+":"+v.Path)
	}
	return strings.Join(s, ", ")
}

// prepareCandidate makes or boots the candidate with the name's identity on
// a temporary address and records the release's "checking" phase.
func (e *Engine) prepareCandidate(ctx context.Context, rel *inventory.Release, old inventory.Record, req ReleaseRequest) (inventory.Record, error) {
	oldDir := e.dir(old.InstanceKey())
	var cand inventory.Record
	var err error
	if rel.Made {
		cr := CreateRequest{Name: rel.Candidate, Image: req.Image, Pool: old.Pool, CPUs: old.CPUs, MemoryBytes: old.MemoryMiB << 20,
			DiskBytes: old.DiskMiB << 20, SwapBytes: old.SwapMiB << 20, NetRateBits: old.NetRateBits,
			DiskReadBps: old.DiskReadBps, DiskWriteBps: old.DiskWriteBps, DiskReadIOPS: old.DiskReadIOPS, DiskWriteIOPS: old.DiskWriteIOPS,
			Owner: old.Owner, App: old.App, Env: old.Env, Labels: old.Labels, Ulimits: old.Ulimits, ExporterPort: old.ExporterPort, Services: old.Services,
			Syslog: old.Syslog}
		autostart := old.Autostart
		cr.Autostart = &autostart
		gw, gerr := e.gatewayLoginsOf(old.InstanceKey())
		if gerr != nil {
			return cand, gerr
		}
		if gw == nil {
			gw = []string{} // the name granted none: so does its candidate
		}
		if cand, err = e.create(ctx, cr, createOpts{Hostname: firstNonEmpty(old.Hostname, old.Name), HostKeysFrom: oldDir, AuthorizedKeys: e.keysOf(old.InstanceKey()), GatewayLogins: gw}); err != nil {
			return cand, err
		}
		if cand, err = e.Inventory.Get(ctx, rel.Candidate); err != nil { // with its ID
			return cand, err
		}
		rel.CandidateID = cand.ID
	} else {
		unlock := e.lock(rel.Candidate)
		cand, err = e.local(ctx, rel.Candidate)
		if err == nil && cand.ID != rel.CandidateID {
			err = conflictf("%q changed since the release began: release again", rel.Candidate)
		}
		if err == nil && cand.Status == inventory.StatusRunning {
			// Booted again below with the name's identity (host keys are
			// read at boot): before the check, so not part of the gap.
			err = e.stop(ctx, cand.Name)
		}
		if err == nil {
			// Its own keys are kept aside, for an undo to put back.
			err = keepHostKeys(e.dir(cand.InstanceKey()))
		}
		if err == nil {
			err = copyHostKeys(oldDir, e.dir(cand.InstanceKey()))
		}
		if err == nil {
			cand, err = e.local(ctx, cand.Name)
		}
		if err == nil && cand.Hostname != firstNonEmpty(old.Hostname, old.Name) {
			cand.Hostname = firstNonEmpty(old.Hostname, old.Name)
			err = e.Inventory.Put(ctx, cand)
		}
		if err == nil {
			cand, err = e.start(ctx, cand.Name)
		}
		unlock()
		if err != nil {
			return cand, err
		}
	}
	rel.Phase, rel.Step = inventory.ReleaseChecking, "prepared"
	if err := e.Inventory.PutRelease(ctx, *rel); err != nil {
		return cand, err
	}
	_ = e.Inventory.Note(ctx, cand.Name, fmt.Sprintf("prepared: %s of %q on %s (temporary address)", rel.Kind, rel.Name, cand.IP))
	return cand, nil
}

// undoRelease undoes a release that had not begun its switch (or whose
// switch was put back): see undoReleaseLocked, under the candidate's lock.
// Idempotent; Reconcile calls it for a release left before its switch.
func (e *Engine) undoRelease(ctx context.Context, rel inventory.Release) error {
	defer e.lock(rel.Candidate)()
	return e.undoReleaseLocked(ctx, rel)
}

// stepFailed is a test's fault hook failing a step before the switch: the
// release is undone as a failed check is (after a simulated crash it is
// left for Reconcile, as a killed daemon leaves it).
func (e *Engine) stepFailed(rel inventory.Release, err error) error {
	if e.crashed {
		return err
	}
	if cur, gerr := e.Inventory.GetRelease(context.Background(), rel.Name); gerr == nil {
		rel = cur
	}
	return errors.Join(err, e.undoRelease(context.Background(), rel))
}

// recordByID finds this node's record with id, looking under name first.
func (e *Engine) recordByID(ctx context.Context, id, name string) (inventory.Record, error) {
	if r, err := e.Inventory.Get(ctx, name); err == nil && (id == "" || r.ID == id) {
		return r, nil
	} else if err != nil && !errors.Is(err, inventory.ErrNotFound) {
		return r, err
	}
	if id == "" {
		return inventory.Record{}, fmt.Errorf("no container %q: %w", name, inventory.ErrNotFound)
	}
	recs, err := e.Inventory.List(ctx)
	if err != nil {
		return inventory.Record{}, err
	}
	for _, r := range recs {
		if r.ID == id {
			return r, nil
		}
	}
	return inventory.Record{}, fmt.Errorf("no container with id %s (was %q): %w", id, name, inventory.ErrNotFound)
}

// switchOutcome is what the switch did.
type switchOutcome struct {
	gap       time.Duration
	steps     []string // "quiesce 12ms", ... (what the gap was spent on)
	ip        string
	discarded string
}

// beginSwitch records the switch's phase (from here on a release is
// finished, never undone) under the three names' locks, then runs it.
func (e *Engine) beginSwitch(ctx context.Context, rel *inventory.Release) (switchOutcome, error) {
	names := []string{rel.Name, rel.Candidate, rel.Last}
	sort.Strings(names)
	for i, n := range names {
		if i > 0 && n == names[i-1] {
			continue
		}
		defer e.lock(n)()
	}
	old, err := e.local(ctx, rel.Name)
	if err != nil {
		return switchOutcome{}, err
	}
	if old.ID != rel.OldID || old.Status != inventory.StatusRunning {
		return switchOutcome{}, conflictf("%q changed while its %s was checked (now %s, id %s): nothing was switched; release again", rel.Name, rel.Kind, old.Status, old.ID)
	}
	cand, err := e.local(ctx, rel.Candidate)
	if err != nil || cand.ID != rel.CandidateID || cand.Status != inventory.StatusRunning {
		return switchOutcome{}, conflictf("the candidate %q changed while it was checked: nothing was switched; release again", rel.Candidate)
	}
	if st, _, err := e.Runtime.State(ctx, cand.InstanceKey()); err != nil || st != "running" {
		return switchOutcome{}, conflictf("the candidate %q stopped after its check (runc says %q, %v): nothing was switched; see `fatbox logs %s` and release again", rel.Candidate, st, err, rel.Candidate)
	}
	if prev, err := e.Inventory.Get(ctx, rel.Last); err == nil && prev.ID != cand.ID {
		if prev.Status != inventory.StatusStopped {
			return switchOutcome{}, conflictf("%q is %s: the switch makes the old %q that name and drops the previous one, which must be stopped: stop it (`fatbox stop %s`) or rename it", rel.Last, prev.Status, rel.Name, rel.Last)
		}
		rel.DiscardID, rel.DiscardInstance = prev.ID, prev.InstanceKey()
	}
	rel.Phase, rel.Step = inventory.ReleaseSwitching, "switching"
	if err := e.Inventory.PutRelease(ctx, *rel); err != nil {
		return switchOutcome{}, err
	}
	if err := e.step("release", "switching"); err != nil {
		return switchOutcome{}, err
	}
	return e.switchOver(ctx, *rel, false)
}

// nothingSwitched is a switch that failed before it changed anything: the
// release goes back to its check phase and is undone as a failed check is.
type nothingSwitched struct{ error }

func (n nothingSwitched) Unwrap() error { return n.error }

// switchOver runs (or, in Reconcile, finishes) the switch of rel. Every step
// is idempotent and checks what is done already; the caller holds the
// names' locks (Reconcile runs before the daemon serves). A step that fails
// before anything changed undoes the release as a failed check would; one
// that fails after the old container was touched but before the records
// moved puts the name back on the old container (putBack); after, it
// returns the error and the daemon's next start finishes it.
func (e *Engine) switchOver(ctx context.Context, rel inventory.Release, reconciling bool) (switchOutcome, error) {
	var out switchOutcome
	cand, err := e.recordByID(ctx, rel.CandidateID, rel.Candidate)
	if err != nil {
		return out, fmt.Errorf("switch: the candidate: %w", err)
	}
	if rel.DiscardID != "" {
		if prev, err := e.recordByID(ctx, rel.DiscardID, rel.Last); err == nil && prev.ID != rel.OldID {
			out.discarded = prev.Name
		} else if errors.Is(err, inventory.ErrNotFound) {
			out.discarded = rel.Last // gone already: the switch's transaction removed it
		}
	}
	if cand.Name == rel.Name { // the records moved already: only the cleanup is left
		return out, e.finishSwitch(ctx, rel, reconciling)
	}
	old, err := e.recordByID(ctx, rel.OldID, rel.Name)
	if err != nil {
		return out, fmt.Errorf("switch: the old container: %w", err)
	}
	if out, err = e.switchLive(ctx, rel, old, cand, out, reconciling); err != nil {
		var ns nothingSwitched
		switch {
		case e.crashed: // a test's simulated crash: the next Reconcile finishes it
			return out, err
		case errors.As(err, &ns) && !reconciling:
			rel.Phase, rel.Step = inventory.ReleaseChecking, "switch refused"
			return out, errors.Join(err, e.Inventory.PutRelease(ctx, rel))
		case reconciling:
			return out, err
		}
		if perr := e.putBack(context.Background(), rel); perr != nil {
			return out, errors.Join(err, fmt.Errorf("putting %q back on its old container failed too (the daemon's next start tries again): %w", rel.Name, perr))
		}
		return out, fmt.Errorf("%w; %q was booted again on its old container and the candidate removed or stopped", err, rel.Name)
	}
	if err := e.step("release", "readdressed"); err != nil {
		return out, err
	}
	if err := e.switchRecords(ctx, rel, old, cand, out.ip); err != nil {
		return out, fmt.Errorf("switch: record it: %w (the daemon's next start finishes the switch)", err)
	}
	if err := e.step("release", "switched"); err != nil {
		return out, err
	}
	return out, e.finishSwitch(ctx, rel, reconciling)
}

// switchLive moves the name's address (and volumes) from old to cand while
// both are known by their old names.
func (e *Engine) switchLive(ctx context.Context, rel inventory.Release, old, cand inventory.Record, out switchOutcome, reconciling bool) (switchOutcome, error) {
	pool, _, err := e.IPAM.GetPool(ctx, old.Pool)
	if err != nil {
		return out, nothingSwitched{err}
	}
	lease, err := e.IPAM.Get(ctx, old.Pool, rel.Name)
	if err != nil {
		return out, nothingSwitched{fmt.Errorf("switch: the name's lease: %w", err)}
	}
	out.ip = lease.IP.String()
	oldInst, candInst := old.InstanceKey(), cand.InstanceKey()
	st, pid, err := e.Runtime.State(ctx, candInst)
	if err != nil {
		return out, nothingSwitched{err}
	}
	candRunning := st == "running"
	if !candRunning && !reconciling {
		return out, nothingSwitched{conflictf("the candidate %q is not running (%q): nothing was switched; see `fatbox logs %s`", cand.Name, st, cand.Name)}
	}
	start := time.Now()
	lap := start
	took := func(what string) {
		now := time.Now()
		out.steps = append(out.steps, fmt.Sprintf("%s %dms", what, now.Sub(lap).Milliseconds()))
		lap = now
	}
	if len(old.Volumes) > 0 {
		// The old programs get SIGTERM (all at once) to flush and exit;
		// once none holds a file on the volumes, what is left is frozen,
		// before the candidate mounts them: one writer at a time. The volumes' host mounts stay (the
		// candidate binds the same ones); halting the old one later leaves
		// them to the candidate.
		var paths []string
		for _, v := range old.Volumes {
			paths = append(paths, v.Path)
		}
		if err := e.Runtime.Quiesce(ctx, oldInst, e.stopTimeout(), paths...); err != nil {
			return out, fmt.Errorf("switch: stop the programs of %q to free its volumes: %w", old.Name, err)
		}
		took("stop old")
	}
	// Off the network: the name's address is free for the candidate.
	if err := network.Detach(ctx, oldInst); err != nil {
		return out, fmt.Errorf("switch: detach %q: %w", old.Name, err)
	}
	took("detach old")
	if err := e.step("release", "detached"); err != nil {
		return out, err
	}
	if !candRunning {
		// The host restarted mid-switch (Reconcile): the records move and
		// the candidate boots as the name with its volumes (finishSwitch).
		out.gap = time.Since(start)
		return out, nil
	}
	if len(old.Volumes) > 0 {
		c := cand
		c.Volumes = old.Volumes
		if err := e.attachVolumesLive(ctx, c, pid); err != nil {
			return out, fmt.Errorf("switch: mount the volumes into %q: %w", cand.Name, err)
		}
		took("volumes")
		if err := e.step("release", "volumes"); err != nil {
			return out, err
		}
	}
	nsPath := filepath.Join(network.NetnsDir, netnsName(candInst))
	if err := network.Readdress(ctx, candInst, nsPath, netip.PrefixFrom(lease.IP, pool.CIDR.Bits()), pool.Gateway); err != nil {
		return out, fmt.Errorf("switch: %w", err)
	}
	took("readdress")
	out.gap = time.Since(start)
	go func() { _ = network.Announce(context.Background(), nsPath, lease.IP) }()
	// The hostname resolves to the name's address inside, no longer to the
	// temporary one (which goes back to the pool).
	hn := firstNonEmpty(old.Hostname, old.Name)
	if err := firstboot.WriteHosts(rootfs.Layout{Dir: e.dir(candInst)}.RootfsDir(), firstboot.Config{Hostname: hn, IP: lease.IP}); err != nil {
		return out, fmt.Errorf("switch: /etc/hosts of %q: %w", cand.Name, err)
	}
	return out, nil
}

// switchRecords moves the records in one transaction: old becomes
// rel.Last (stopped, no address, no volumes), cand becomes rel.Name on ip
// with the volumes, a previous rel.Last goes; the volume claims follow.
func (e *Engine) switchRecords(ctx context.Context, rel inventory.Release, old, cand inventory.Record, ip string) error {
	if ip == "" {
		lease, err := e.IPAM.Get(ctx, old.Pool, rel.Name)
		if err != nil {
			return err
		}
		ip = lease.IP.String()
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return err
	}
	return store.Retry(ctx, func() error {
		var moves []inventory.Move
		if rel.DiscardID != "" {
			if prev, err := e.Inventory.Get(ctx, rel.Last); err == nil && prev.ID == rel.DiscardID {
				moves = append(moves, inventory.Move{From: rel.Last, Delete: true})
			}
		}
		o, c := old, cand
		o.Name, o.Status, o.StopReason, o.IP, o.MAC, o.Volumes = rel.Last, inventory.StatusStopped, "", "", "", nil
		c.Name, c.IP, c.MAC, c.Volumes, c.Hostname = rel.Name, ip, network.MACFromIP(addr).String(), old.Volumes, firstNonEmpty(old.Hostname, old.Name)
		c.Services = old.Services // what the name answers is the name's, like its address
		c.Status = inventory.StatusRunning
		moves = append(moves, inventory.Move{From: old.Name, Rec: o}, inventory.Move{From: cand.Name, Rec: c})
		ops, err := e.Inventory.MoveOps(ctx, fmt.Sprintf("switched: %s of %q", rel.Kind, rel.Name), moves...)
		if err != nil {
			return err
		}
		vops, err := e.moveVolumeOps(ctx, old.Volumes, old.ID, cand.ID)
		if err != nil {
			return err
		}
		_, err = e.Inventory.Store.Txn(ctx, append(ops, vops...))
		return err
	})
}

// finishSwitch is the cleanup after the records moved: the old container
// stops for good, the candidate's temporary lease goes back, the previous
// <name>-last's disk is deleted, the release ends. In Reconcile, a
// candidate that is not running (the host restarted mid-switch) is booted
// as the name: the release decided it serves the name, whatever its
// autostart says.
func (e *Engine) finishSwitch(ctx context.Context, rel inventory.Release, reconciling bool) error {
	var errs []error
	if old, err := e.recordByID(ctx, rel.OldID, rel.Last); err == nil {
		errs = append(errs, e.halt(ctx, old.InstanceKey()))
	} else if !errors.Is(err, inventory.ErrNotFound) {
		errs = append(errs, err)
	}
	if err := e.step("release", "stopped"); err != nil {
		return err
	}
	// The candidate's temporary lease was under its old name: rel.Candidate
	// (for a rollback that is rel.Last, which now names the old container,
	// holding no address).
	if cand, err := e.recordByID(ctx, rel.CandidateID, rel.Name); err == nil {
		if _, err := e.IPAM.Release(ctx, cand.Pool, rel.Candidate); err != nil && !errors.Is(err, ipam.ErrLeaseNotFound) && !errors.Is(err, ipam.ErrPoolNotFound) {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(filepath.Join(e.dir(cand.InstanceKey()), keptKeysDir)); err != nil {
			errs = append(errs, err)
		}
		if st, _, err := e.Runtime.State(ctx, cand.InstanceKey()); reconciling && err == nil && st != "running" {
			if _, err := e.start(inventory.WithCause(ctx, inventory.Cause{Kind: inventory.CauseReconcile, Detail: rel.Kind}), rel.Name); err != nil {
				errs = append(errs, fmt.Errorf("boot %q, which the %s gave the name: %w", rel.Name, rel.Kind, err))
			}
		}
	}
	if rel.DiscardInstance != "" {
		used, err := e.instancesInUse(ctx)
		if err == nil && !used[rel.DiscardInstance] {
			err = e.destroy(ctx, rel.DiscardInstance)
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("switch done; cleaning up after it: %w (the daemon's next start finishes it)", err)
	}
	return e.Inventory.DeleteRelease(ctx, rel.Name)
}

// putBack, after a switch failed once the old container was touched but
// before the records moved, gives the name back to the old container: the
// candidate stops (its mounts of the volumes go with it), the old one is
// booted again on the name's lease, and the release is undone. Its phase
// is recorded first, so a daemon that dies in it runs it again at its next
// start. The old one is booted only once the candidate is down: the name's
// address is never on both.
func (e *Engine) putBack(ctx context.Context, rel inventory.Release) error {
	rel.Phase, rel.Step = inventory.ReleasePuttingBack, "putting back"
	if err := e.Inventory.PutRelease(ctx, rel); err != nil {
		return err
	}
	cand, cerr := e.recordByID(ctx, rel.CandidateID, rel.Candidate)
	if cerr != nil && !errors.Is(cerr, inventory.ErrNotFound) {
		return cerr
	}
	if cerr == nil {
		if err := e.halt(ctx, cand.InstanceKey()); err != nil {
			return fmt.Errorf("stop the candidate %q (%q is not booted again while the candidate may hold its address): %w", cand.Name, rel.Name, err)
		}
		if cand.Status != inventory.StatusStopped {
			cand.Status = inventory.StatusStopped
			if err := e.Inventory.Put(ctx, cand); err != nil {
				return err
			}
		}
	}
	old, err := e.recordByID(ctx, rel.OldID, rel.Name)
	if err != nil {
		return err
	}
	if err := e.halt(ctx, old.InstanceKey()); err != nil {
		return fmt.Errorf("take down what is left of %q: %w", old.Name, err)
	}
	if _, err := e.start(ctx, old.Name); err != nil {
		return fmt.Errorf("boot %q again: %w", old.Name, err)
	}
	return e.undoReleaseLocked(ctx, rel)
}

// undoReleaseLocked undoes a release for a caller holding the candidate's
// lock (putBack holds the names' locks): the name's container was never
// touched (or was put back); the candidate is removed (made by the
// release) or given back its own keys, hostname and lease state, stopped,
// and started again if it ran.
func (e *Engine) undoReleaseLocked(ctx context.Context, rel inventory.Release) error {
	cand, err := e.recordByID(ctx, rel.CandidateID, rel.Candidate)
	switch {
	case errors.Is(err, inventory.ErrNotFound):
	case err != nil:
		return err
	case rel.Made && cand.Status == inventory.StatusCreating:
		// A create cut short: Reconcile's undo of a half-made create does it
		// (it gives the lease back as the create took it).
	case rel.Made:
		inst := cand.InstanceKey()
		errs := []error{e.destroy(ctx, inst), e.releaseVolumeClaims(ctx, cand)}
		if _, err := e.IPAM.Release(ctx, cand.Pool, cand.Name); err != nil && !errors.Is(err, ipam.ErrLeaseNotFound) {
			errs = append(errs, err)
		}
		errs = append(errs, e.Inventory.Delete(ctx, cand.Name))
		if err := errors.Join(errs...); err != nil {
			return err
		}
	default:
		if err := e.halt(ctx, cand.InstanceKey()); err != nil {
			return err
		}
		if err := restoreHostKeys(e.dir(cand.InstanceKey())); err != nil {
			return err
		}
		// Stopped, with its own hostname: as it was (started again below
		// when it ran).
		if cur, err := e.Inventory.Get(ctx, cand.Name); err == nil && (cur.Status != inventory.StatusStopped || (rel.Hostname != "" && cur.Hostname != rel.Hostname)) {
			cur.Status = inventory.StatusStopped
			if rel.Hostname != "" {
				cur.Hostname = rel.Hostname
			}
			if err := e.Inventory.Put(ctx, cur); err != nil {
				return err
			}
		}
		if !rel.HadLease {
			if _, err := e.IPAM.Release(ctx, cand.Pool, cand.Name); err != nil && !errors.Is(err, ipam.ErrLeaseNotFound) {
				return err
			}
		}
		if rel.WasRunning && rel.HadLease {
			if _, err := e.start(ctx, cand.Name); err != nil {
				return fmt.Errorf("start %q again as it was: %w", cand.Name, err)
			}
		}
	}
	_ = e.Inventory.Note(ctx, rel.Name, fmt.Sprintf("undone: the %s to %q did not happen; %q is on its old container", rel.Kind, rel.Candidate, rel.Name))
	return e.Inventory.DeleteRelease(ctx, rel.Name)
}

// reconcileReleases finishes the releases whose switch began and undoes
// the others, before Reconcile looks at the records (the switch leaves a
// record stopped whose container may still run until its cleanup).
//
// It returns the names of the records a release it could not finish or
// undo still involves: Reconcile leaves those alone (booting the old
// container again could put the name's address on two containers), and
// the daemon's next start tries again.
func (e *Engine) reconcileReleases(ctx context.Context, rep *ReconcileReport) (held map[string]bool) {
	held = map[string]bool{}
	rels, err := e.Inventory.Releases(ctx)
	if err != nil {
		rep.Errors = append(rep.Errors, fmt.Sprintf("releases: %v", err))
		return held
	}
	hold := func(rel inventory.Release) {
		for _, n := range []string{rel.Name, rel.Candidate, rel.Last} {
			held[n] = true
		}
	}
	for _, rel := range rels {
		old, err := e.recordByID(ctx, rel.OldID, rel.Name)
		if err != nil && !errors.Is(err, inventory.ErrNotFound) {
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s %s: %v", rel.Kind, rel.Name, err))
			continue
		}
		if err == nil && old.Node != e.Node {
			continue
		}
		ctx := inventory.WithCause(ctx, inventory.Cause{Kind: inventory.CauseReconcile, Detail: rel.Kind})
		switch rel.Phase {
		case inventory.ReleaseSwitching:
			if _, err := e.switchOver(ctx, rel, true); err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("finish the %s of %s (the daemon's next start tries again; its containers are left as they are): %v", rel.Kind, rel.Name, err))
				if cur, gerr := e.Inventory.Get(ctx, rel.Name); gerr == nil && cur.ID == rel.CandidateID {
					held[rel.Last] = true // moved: only the old container's cleanup is left
				} else {
					hold(rel)
				}
				continue
			}
			rep.Released = append(rep.Released, rel.Name)
			continue
		case inventory.ReleasePuttingBack:
			if err := e.putBack(ctx, rel); err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("put %s back on its old container (the daemon's next start tries again): %v", rel.Name, err))
				hold(rel)
				continue
			}
			rep.Released = append(rep.Released, rel.Name+" (put back)")
			continue
		}
		if err := e.undoRelease(ctx, rel); err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("undo the %s of %s: %v", rel.Kind, rel.Name, err))
			held[rel.Candidate] = true // the name's container was never touched
			continue
		}
		rep.Released = append(rep.Released, rel.Name+" (undone)")
	}
	return held
}

// copyHostKeys makes the SSH host keys under toDir/ssh those of fromDir/ssh
// (the released name's), each written whole (temp file, fsync, rename).
func copyHostKeys(fromDir, toDir string) error {
	src, dst := filepath.Join(fromDir, "ssh"), filepath.Join(toDir, "ssh")
	ents, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("the name's host keys: %w", err)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	n := 0
	for _, ent := range ents {
		if !ent.Type().IsRegular() || !strings.HasPrefix(ent.Name(), "ssh_host_") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, ent.Name()))
		if err != nil {
			return err
		}
		mode := os.FileMode(0o600)
		if strings.HasSuffix(ent.Name(), ".pub") {
			mode = 0o644
		}
		if err := writeFileSync(filepath.Join(dst, ent.Name()), b, mode); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("the name's host keys: none in %q", src)
	}
	return nil
}

// keptKeysDir is where a --from candidate's own host keys wait out its
// release (an undo puts them back; the switch drops them).
const keptKeysDir = "ssh.before-release"

// keepHostKeys moves dir's ssh/ aside to keptKeysDir, once (a release
// resumed after a crash does not overwrite what the first kept).
func keepHostKeys(dir string) error {
	kept := filepath.Join(dir, keptKeysDir)
	if _, err := os.Stat(kept); err == nil {
		return nil
	}
	if err := os.Rename(filepath.Join(dir, "ssh"), kept); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("keep the host keys of %q: %w", dir, err)
	}
	return nil
}

// restoreHostKeys puts what keepHostKeys kept back; nothing kept is fine.
func restoreHostKeys(dir string) error {
	kept := filepath.Join(dir, keptKeysDir)
	if _, err := os.Stat(kept); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := os.RemoveAll(filepath.Join(dir, "ssh")); err != nil {
		return err
	}
	return os.Rename(kept, filepath.Join(dir, "ssh"))
}

func writeFileSync(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
