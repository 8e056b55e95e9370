package engine

// Doctor: the VM-parity checklist of one container (`fatbox doctor`). The
// host checks what only the host sees (runc's state, lxcfs, the veth, the
// lease); `vmshim doctor` checks the rest from inside, given what the
// container should look like (doctor_expect.go), and the two lists make
// one report. Doctor changes nothing: every failed check names the
// command that mends it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/ipam"
)

// DoctorCheck is one line of a doctor report.
type DoctorCheck struct {
	Check string `json:"check"`
	OK    bool   `json:"ok"`
	// Detail says what was found.
	Detail string `json:"detail"`
	// Fix is the command that mends a failed check ("" when it passed).
	Fix string `json:"fix,omitempty"`
	// Where the check ran: "host" or "container".
	Where string `json:"where"`
}

// Where a check ran.
const (
	DoctorHost      = "host"
	DoctorContainer = "container"
)

// DoctorReport is a container's checklist.
type DoctorReport struct {
	Name      string
	CheckedAt time.Time
	Checks    []DoctorCheck
}

// OK reports whether every check passed.
func (r DoctorReport) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

func (r *DoctorReport) host(check string, ok bool, fix, format string, args ...any) {
	c := DoctorCheck{Check: check, OK: ok, Detail: fmt.Sprintf(format, args...), Where: DoctorHost}
	if !ok {
		c.Fix = fix
	}
	r.Checks = append(r.Checks, c)
}

// doctorTimeout bounds the in-container half (its checks give up after 5 s).
const doctorTimeout = 30 * time.Second

// Doctor runs the checklist on a container of this node. A container
// that is not running gets one failed check (start it); one started
// before the shim existed gets one too (restart it). Errors are for a
// container that does not exist or is another node's, and for a store
// that cannot be read.
func (e *Engine) Doctor(ctx context.Context, name string) (DoctorReport, error) {
	rep := DoctorReport{Name: name, CheckedAt: time.Now().UTC()}
	rec, err := e.local(ctx, name)
	if err != nil {
		return rep, err
	}
	st, pid, err := e.Runtime.State(ctx, rec.InstanceKey())
	if err != nil {
		return rep, fmt.Errorf("doctor of %q: ask runc its state: %w", name, err)
	}
	if st != "running" {
		if st == "" {
			st = "not known to runc"
		}
		rep.host("running", false, fmt.Sprintf("`fatbox start %s`", name), "the container is %s (recorded %s)", st, rec.Status)
		return rep, nil
	}
	rep.host("running", true, "", "runc runs it, init pid %d", pid)
	e.doctorHost(ctx, &rep, rec)

	shim := filepath.Join(fmt.Sprintf("/proc/%d/root", pid), runtime.VMShim)
	if _, err := os.Stat(shim); err != nil {
		rep.host("vmshim", false, fmt.Sprintf("`fatbox restart %s` (it was started before fatbox injected the shim)", name),
			"%s is missing inside: the in-container checks cannot run", runtime.VMShim)
		return rep, nil
	}
	inForce, ferr := e.ulimitsInForce(rec)
	forExpect := rec
	forExpect.Ulimits = inForce
	exp, err := e.doctorExpect(ctx, forExpect)
	if err != nil {
		return rep, err
	}
	arg, err := exp.json()
	if err != nil {
		return rep, err
	}
	var out, errb bytes.Buffer
	cctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	code, err := e.Runtime.Exec(cctx, rec.InstanceKey(), runtime.ExecConfig{Args: []string{runtime.VMShim, "doctor", "--expect", arg}},
		runtime.Streams{Stdout: &limitedBuffer{b: &out, n: 1 << 20}, Stderr: &limitedBuffer{b: &errb, n: 64 << 10}})
	if err != nil {
		if ctx.Err() != nil {
			return rep, fmt.Errorf("doctor of %q: %w", name, ctx.Err())
		}
		rep.host("vmshim", false, fmt.Sprintf("run `fatbox doctor %s` again; if it persists, `fatbox restart %s`", name, name),
			"`vmshim doctor` could not run: %v", err)
		return rep, nil
	}
	inside, perr := parseDoctorOutput(out.Bytes())
	if perr != nil {
		rep.host("vmshim", false, fmt.Sprintf("`fatbox restart %s` (the shim inside may be older than the daemon)", name),
			"`vmshim doctor` exited %d without a report (%v): %s", code, perr, strings.TrimSpace(errb.String()))
		return rep, nil
	}
	rep.host("vmshim", true, "", "%s answers", runtime.VMShim)
	rep.Checks = append(rep.Checks, notePendingUlimits(inside, rec, inForce, ferr)...)
	return rep, nil
}

// doctorHost adds the host's checks of a running container: lxcfs, the
// host's veth on the pool's bridge, the name's lease.
func (e *Engine) doctorHost(ctx context.Context, rep *DoctorReport, rec inventory.Record) {
	name := rec.Name
	restart := fmt.Sprintf("`fatbox restart %s`", name)
	if m := e.LXCFS; m != nil {
		if err := m.Healthy(); err != nil {
			rep.host("lxcfs-daemon", false, fmt.Sprintf("the daemon's lxcfs watch restarts it within seconds and re-binds its views; if it does not, read %s.log, then %s",
				m.Dir, restart), "lxcfs on %s: %v", m.Dir, err)
		} else {
			rep.host("lxcfs-daemon", true, "", "lxcfs answers on %s", m.Dir)
		}
	}

	pool, _, perr := e.IPAM.GetPool(ctx, rec.Pool)
	veth := network.HostVethName(rec.InstanceKey())
	state, master, err := linkState(veth)
	switch {
	case err != nil:
		rep.host("veth", false, restart+" (attaches it again)", "the host's veth %s: %v", veth, err)
	case state != "up":
		rep.host("veth", false, restart+" (attaches it again)", "the host's veth %s is %s", veth, state)
	case perr == nil && master != pool.Bridge:
		rep.host("veth", false, restart+" (attaches it again)", "the host's veth %s is on %q, not the pool's bridge %q", veth, master, pool.Bridge)
	default:
		rep.host("veth", true, "", "%s up on %s", veth, master)
	}

	lease, err := e.IPAM.Get(ctx, rec.Pool, name)
	switch {
	case errors.Is(err, ipam.ErrLeaseNotFound), errors.Is(err, ipam.ErrPoolNotFound):
		rep.host("lease", false, restart+" (takes the name's lease again)", "pool %q holds no lease for %s: %v", rec.Pool, name, err)
	case err != nil:
		rep.host("lease", false, fmt.Sprintf("`fatbox ip show %s --pool %s`", name, rec.Pool), "read the lease: %v", err)
	case lease.State != ipam.Active:
		rep.host("lease", false, restart+" (takes the name's lease again)", "the lease of %s in %q is %s", name, rec.Pool, lease.State)
	case lease.IP.String() != rec.IP:
		rep.host("lease", false, restart+" (boots it on the lease's address)", "the lease says %s, the record %s", lease.IP, rec.IP)
	default:
		rep.host("lease", true, "", "%s in %q, active", lease.IP, rec.Pool)
	}
}

// linkState reads a host link's operstate and the link it is enslaved
// to ("" for none) from sysfs.
func linkState(link string) (state, master string, err error) {
	dir := filepath.Join("/sys/class/net", link)
	b, err := os.ReadFile(filepath.Join(dir, "operstate"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", "", errors.New("missing")
		}
		return "", "", err
	}
	if t, err := os.Readlink(filepath.Join(dir, "master")); err == nil {
		master = filepath.Base(t)
	}
	return strings.TrimSpace(string(b)), master, nil
}
