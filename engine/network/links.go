package network

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkNameRule is what ValidLinkName's errors tell the user to do.
const linkNameRule = `use 1 to 15 letters, digits, '-', '_' or '.' (no '/', ':' or spaces, not "." or "..")`

// ValidLinkName checks name against the kernel's rule for interface names
// (dev_valid_name: 1 to 15 bytes, no '/', ':' or whitespace, not "." or
// "..") and, stricter than the kernel, allows printable ASCII only, so the
// name survives shells, logs and config files. The error names the value,
// what is wrong with it and the rule; callers add what the name is for,
// e.g. fmt.Errorf("pool %q: bridge: %w", pool, err).
func ValidLinkName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("interface name %q is not valid: %s: %s", name, why, linkNameRule)
	}
	switch {
	case name == "":
		return bad("it is empty")
	case len(name) >= unix.IFNAMSIZ:
		return bad(fmt.Sprintf("it is %d bytes long", len(name)))
	case name == "." || name == "..":
		return bad("it is a directory name")
	}
	for _, r := range []byte(name) {
		switch {
		case r == '/' || r == ':':
			return bad(fmt.Sprintf("it contains %q", r))
		case r == ' ' || r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r':
			return bad("it contains whitespace")
		case r < 0x21 || r > 0x7e:
			return bad(fmt.Sprintf("it contains the byte 0x%02x, which is not printable ASCII", r))
		}
	}
	return nil
}

// LinkKind returns the kind of the link called name in the caller's network
// namespace, as netlink reports it: "bridge", "veth", "vlan", "ifb",
// "dummy", "device" (a plain device such as a NIC or lo), and so on. A
// missing link is exists == false and no error.
func LinkKind(name string) (kind string, exists bool, err error) {
	if err := ValidLinkName(name); err != nil {
		return "", false, err
	}
	l, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("look up link %q: %w", name, err)
	}
	return l.Type(), true, nil
}

// DeleteBridge deletes the bridge called name in the caller's network
// namespace when it has no ports. A missing link is no error (idempotent);
// a link that is not a bridge, or a bridge with ports, is an error naming
// them, and nothing is deleted.
func DeleteBridge(name string) error {
	if err := ValidLinkName(name); err != nil {
		return fmt.Errorf("delete bridge: %w", err)
	}
	br, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete bridge %q: look it up: %w", name, err)
	}
	if br.Type() != "bridge" {
		return fmt.Errorf("delete bridge %q: it is a %s link, not a bridge: left alone", name, br.Type())
	}
	ports, err := deleteUnusedBridge(br)
	if err != nil {
		return fmt.Errorf("delete bridge %q: %w", name, err)
	}
	if len(ports) > 0 {
		return fmt.Errorf("delete bridge %q: it still has ports %s: detach the containers using it (or take the ports off with `ip link set PORT nomaster`) first",
			name, strings.Join(ports, ", "))
	}
	return nil
}

// deleteUnusedBridge deletes br unless some link is its port; it returns
// the names of the ports that kept it. A bridge that is gone meanwhile is
// no error.
func deleteUnusedBridge(br netlink.Link) (ports []string, err error) {
	links, err := linkList()
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			ports = append(ports, l.Attrs().Name)
		}
	}
	if len(ports) > 0 {
		slices.Sort(ports)
		return ports, nil
	}
	if err := netlink.LinkDel(br); err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("delete %s: %w", br.Attrs().Name, err)
	}
	return nil, nil
}

// HasLinks reports whether the host still has a link of container's (its
// veth, or its netns): what Detach and DeleteNetns would take down.
func HasLinks(container string) bool {
	if _, exists, err := LinkKind(HostVethName(container)); err == nil && exists {
		return true
	}
	_, err := os.Stat(filepath.Join(NetnsDir, "fatbox-"+container))
	return err == nil
}
