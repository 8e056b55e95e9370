package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/baseimages/units"
)

// rlimitResource maps limits.conf items to RLIMIT_* numbers.
var rlimitResource = map[string]int{
	"cpu": unix.RLIMIT_CPU, "fsize": unix.RLIMIT_FSIZE, "data": unix.RLIMIT_DATA,
	"stack": unix.RLIMIT_STACK, "core": unix.RLIMIT_CORE, "rss": unix.RLIMIT_RSS,
	"nproc": unix.RLIMIT_NPROC, "nofile": unix.RLIMIT_NOFILE, "memlock": unix.RLIMIT_MEMLOCK,
	"as": unix.RLIMIT_AS, "locks": unix.RLIMIT_LOCKS, "sigpending": unix.RLIMIT_SIGPENDING,
	"msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE, "rtprio": unix.RLIMIT_RTPRIO,
}

// unitLimits is what a unit's processes get: the limits.conf entries for
// its user (pam_limits precedence, through units.LimitsFor), overridden
// item by item by the unit's own Limit*=. systemd itself ignores
// limits.conf for services; vmshim applies it because on the VMs these
// containers replace, admins raise nofile there and expect services
// started with systemctl to get it.
func (s *shim) unitLimits(u *units.Unit, a account) (map[string]units.Rlimit, map[string]string, error) {
	out := map[string]units.Rlimit{}
	from := map[string]string{}
	gids := append([]int{a.GID}, a.Groups...)
	// Invalid lines come back in err next to the valid rules: use those.
	lims, err := s.loader.LimitsForUser(units.LimitUser{Name: a.Name, UID: a.UID, GID: a.GID, Groups: a.GNames, GIDs: gids})
	for k, v := range lims {
		out[k] = v
		from[k] = "/etc/security/limits.conf"
	}
	for k, v := range u.Service.Limits {
		out[k] = v
		from[k] = "Limit" + strings.ToUpper(k) + "= in " + u.Name
	}
	return out, from, err
}

// applyLimits sets the limits on run-unit itself before it starts the
// unit's processes, which inherit them. A value above the container's hard
// limit is lowered to it with a warning: never a failed start.
func (s *shim) applyLimits(unit string, lims map[string]units.Rlimit, from map[string]string, warn func(string)) {
	for _, item := range sortedKeys(lims) {
		want := lims[item]
		res, ok := rlimitResource[item]
		if !ok {
			warn(fmt.Sprintf("%s: limit %q from %s is unknown; ignored", unit, item, from[item]))
			continue
		}
		var cur syscall.Rlimit
		if err := syscall.Getrlimit(res, &cur); err != nil {
			continue
		}
		// A side limits.conf does not set stays as it is (units.Unchanged).
		want = want.Over(units.Rlimit{Soft: cur.Cur, Hard: cur.Max})
		soft, hard := want.Soft, want.Hard
		err := syscall.Setrlimit(res, &syscall.Rlimit{Cur: soft, Max: hard})
		if err == nil {
			continue
		}
		if !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.EINVAL) {
			warn(fmt.Sprintf("%s: setting %s to %s:%s: %v", unit, item, rlimitString(soft), rlimitString(hard), err))
			continue
		}
		capHard := cur.Max
		if hard < capHard {
			capHard = hard
		}
		capSoft := soft
		if capSoft > capHard {
			capSoft = capHard
		}
		host, _ := os.Hostname()
		if host == "" {
			host = "NAME"
		}
		warn(fmt.Sprintf("%s: %s sets %s to %s:%s but the container's hard limit is %s; using %s:%s. Fix: on the host run `fatbox update %s --ulimit %s=%s:%s`, then restart the unit",
			unit, from[item], item, rlimitString(want.Soft), rlimitString(want.Hard), rlimitString(cur.Max), rlimitString(capSoft), rlimitString(capHard), host, item, rlimitString(want.Soft), rlimitString(want.Hard)))
		_ = syscall.Setrlimit(res, &syscall.Rlimit{Cur: capSoft, Max: capHard})
	}
}
