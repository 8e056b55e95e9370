package engine

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/fatbox/fatbox/engine/firstboot"
	"github.com/fatbox/fatbox/engine/rootfs"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/logfwd"
)

// Log forwarding: a container's syslog collector (its own, else its
// pool's) is written by firstboot at every boot as an rsyslog drop-in
// (logfwd.DropIn). An update of a running container applies it at once:
// the drop-in is rewritten the same way (inside the root, links not
// followed) and the image's rsyslog program restarted through supervisord,
// as `fatbox prog restart NAME rsyslog` would. A restart that fails (the
// program renamed or stopped by the admin) leaves the drop-in in place
// for the next start and says so in the update's notes.

// syslogProgram is the supervisord program running rsyslogd
// (baseimages.DefaultPrograms).
const syslogProgram = "rsyslog"

// checkSyslog applies an update's syslog setting to next: "none" clears
// it, anything else must be a collector URL.
func checkSyslog(next *inventory.Record, s *string) error {
	if s == nil {
		return nil
	}
	if *s == logfwd.None || *s == "" {
		next.Syslog = ""
		return nil
	}
	c, err := logfwd.Check(*s)
	if err != nil {
		return invalidf("syslog: %w (--syslog URL, or --syslog none to clear it)", err)
	}
	next.Syslog = c
	return nil
}

// applySyslog makes a running container forward to its collector now.
// It returns a note for the update's answer.
func (e *Engine) applySyslog(ctx context.Context, rec inventory.Record) string {
	pool, _, err := e.IPAM.GetPool(ctx, rec.Pool)
	if err != nil {
		return fmt.Sprintf("syslog forwarding takes effect at the next start (reading pool %q: %v): `fatbox restart %s`", rec.Pool, err, rec.Name)
	}
	target := logfwd.Effective(rec.Syslog, pool.Syslog)
	root := rootfs.Layout{Dir: e.dir(rec.InstanceKey())}.RootfsDir()
	if err := firstboot.WriteSyslog(root, target); err != nil {
		return fmt.Sprintf("syslog forwarding takes effect at the next start (%v): `fatbox restart %s`", err, rec.Name)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var out bytes.Buffer
	code, err := e.Runtime.Exec(cctx, rec.InstanceKey(), runtime.ExecConfig{Args: supervisorctl("restart", syslogProgram)},
		runtime.Streams{Stdout: &limitedBuffer{b: &out, n: 4 << 10}, Stderr: &limitedBuffer{b: &out, n: 4 << 10}})
	if err == nil && code != 0 {
		err = fmt.Errorf("exit status %d: %s", code, bytes.TrimSpace(out.Bytes()))
	}
	if err != nil {
		return fmt.Sprintf("syslog forwarding is written to %s but rsyslog was not restarted (%v): `fatbox prog restart %s %s`, or it applies at the next start",
			logfwd.DropIn, err, rec.Name, syslogProgram)
	}
	if target == "" {
		return "syslog forwarding removed; rsyslog restarted"
	}
	return fmt.Sprintf("syslog forwarded to %s; rsyslog restarted", target)
}
