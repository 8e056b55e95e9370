// Package logfwd is a container's syslog forwarding: the collector URL
// (`--syslog tcp://10.0.0.5:514`, on a pool or a container) and the rsyslog
// drop-in firstboot writes for it, so the rsyslogd every image runs
// forwards the way a VM's would be configured, without touching the image.
//
// It imports nothing of fatbox: ipam (a pool's setting), inventory (a
// container's), firstboot (the drop-in) and the CLI (flags) share its rules.
package logfwd

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// DropIn is the rsyslog drop-in firstboot writes inside the container
// (Debian's and RHEL's rsyslog.conf include /etc/rsyslog.d/*.conf).
const DropIn = "/etc/rsyslog.d/90-fatbox-forward.conf"

// QueueMaxDisk bounds the disk-assisted queue kept while the collector is
// down; older messages are dropped beyond it, never the container's disk.
const QueueMaxDisk = "64m"

// None, given to an update, clears a container's setting (its pool's
// applies again).
const None = "none"

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid syslog collector")

// Target is a syslog collector: RFC 5424 over TCP (octet-counted framing,
// RFC 6587) or UDP (RFC 5426).
type Target struct {
	Proto string // "tcp" or "udp"
	Host  string // an IP address or a host name
	Port  int
}

// String is the URL form Parse reads: tcp://10.0.0.5:514.
func (t Target) String() string {
	return t.Proto + "://" + net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
}

var hostRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)

// Parse reads a collector URL: tcp:// or udp://, an IP address (IPv6 in
// brackets) or a host name, and a port 1-65535, nothing else. "" is an
// error; callers treat "" as unset before calling it.
func Parse(s string) (Target, error) {
	bad := func(why string) (Target, error) {
		return Target{}, fmt.Errorf("syslog collector %q: %s: write tcp://HOST:PORT or udp://HOST:PORT, e.g. tcp://10.0.0.5:514: %w", s, why, ErrInvalid)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return bad("no scheme")
	}
	scheme = strings.ToLower(scheme)
	if scheme != "tcp" && scheme != "udp" {
		return bad(fmt.Sprintf("scheme %q is not tcp or udp", scheme))
	}
	if strings.ContainsAny(rest, "/?#@ \t\r\n\"'\\") {
		return bad("only a host and a port may follow the scheme (no path, user, query or quotes)")
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return bad("want HOST:PORT after the scheme (the port is required; IPv6 in brackets)")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return bad(fmt.Sprintf("port %q is not 1-65535", port))
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" || a.IsUnspecified() {
			return bad(fmt.Sprintf("address %q is not one a collector can have", host))
		}
		return Target{Proto: scheme, Host: a.String(), Port: p}, nil
	}
	if strings.Contains(host, ":") || len(host) > 253 || !hostRE.MatchString(host) {
		return bad(fmt.Sprintf("host %q is neither an IP address nor a host name", host))
	}
	return Target{Proto: scheme, Host: strings.ToLower(strings.TrimSuffix(host, ".")), Port: p}, nil
}

// Check validates a stored setting: "" (none) or a URL Parse reads. It
// returns the canonical form.
func Check(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	t, err := Parse(s)
	if err != nil {
		return "", err
	}
	return t.String(), nil
}

// Effective is a container's collector: its own setting wins over its
// pool's. "" means no forwarding.
func Effective(container, pool string) string {
	if container != "" {
		return container
	}
	return pool
}

// Render is the drop-in for t: everything (*.*) forwarded in RFC 5424
// (RSYSLOG_SyslogProtocol23Format) by an omfwd action with a
// disk-assisted queue, so a collector that is down never blocks the
// container's own logging (/var/log/syslog): messages wait in memory, then
// on disk up to QueueMaxDisk, and the action retries for ever.
// HOSTNAME is rsyslog's local host name, the container's UTS hostname
// (the record's hostname).
func Render(t Target) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by fatbox at every boot: this container's syslog goes to %s\n", t)
	b.WriteString("# (fatbox create/update --syslog, or its pool's --syslog). Edits here are overwritten;\n")
	b.WriteString("# `fatbox update NAME --syslog none` removes it.\n")
	b.WriteString("action(type=\"omfwd\"\n")
	fmt.Fprintf(&b, "       target=%q port=\"%d\" protocol=%q\n", t.Host, t.Port, t.Proto)
	if t.Proto == "tcp" {
		b.WriteString("       TCP_Framing=\"octet-counted\"\n")
	}
	b.WriteString("       template=\"RSYSLOG_SyslogProtocol23Format\"\n")
	b.WriteString("       queue.type=\"LinkedList\"\n")
	b.WriteString("       queue.filename=\"fatbox-forward\"\n")
	b.WriteString("       queue.size=\"10000\"\n")
	fmt.Fprintf(&b, "       queue.maxDiskSpace=%q\n", QueueMaxDisk)
	b.WriteString("       queue.saveOnShutdown=\"on\"\n")
	b.WriteString("       action.resumeRetryCount=\"-1\"\n")
	b.WriteString("       action.resumeInterval=\"1\")\n")
	return []byte(b.String())
}
