package api

import (
	"context"
	"net/http"
	"time"
)

// DoctorCheck is one line of `fatbox doctor`: a VM-parity check of a
// container, from the host or from inside it.
type DoctorCheck struct {
	// Check names it: hostname, hosts, address, route, gateway, memory,
	// nproc, cpuinfo, disk, uptime, lxcfs, sshd, cron, syslog,
	// "program NAME", host-keys, clock, timezone, ulimits, dns, systemctl
	// (from inside); running, lxcfs-daemon, veth, lease, vmshim (the
	// host's).
	Check string `json:"check"`
	OK    bool   `json:"ok"`
	// Detail says what was found.
	Detail string `json:"detail"`
	// Fix is the command that mends a failed check.
	Fix string `json:"fix,omitempty"`
	// Where the check ran: "host" or "container".
	Where string `json:"where"`
}

// DoctorReport is GET /v1/containers/{name}/doctor: the answer is 200 with
// the checks whether they pass or not; OK is whether every one passed.
type DoctorReport struct {
	Name      string        `json:"name"`
	OK        bool          `json:"ok"`
	CheckedAt time.Time     `json:"checked_at"`
	Checks    []DoctorCheck `json:"checks"`
}

// doctorTimeout is the client's default for a doctor call: the checks
// inside take up to 5 s, the daemon gives them 30 s.
const doctorTimeout = time.Minute

// Doctor runs the VM-parity checklist on a container.
func (c *Client) Doctor(ctx context.Context, name string) (DoctorReport, error) {
	var out DoctorReport
	p, err := path("container", "/v1/containers/%s/doctor", name)
	if err != nil {
		return out, err
	}
	cl := *c
	if cl.Timeout == 0 {
		cl.Timeout = doctorTimeout
	}
	err = cl.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}
