package sshgw

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Way is what the SSH user name of a connection to the gateway asks for:
// "alice" (the menu), "alice+web-01" (web-01, the rule's first login) or
// "alice+root+web-01" (web-01 as root).
type Way struct {
	User, Login, Container string
}

// ErrBadUserName is a gateway user name that is none of the three forms.
var ErrBadUserName = errors.New("bad gateway user name")

// ParseWay splits an SSH user name of the gateway.
func ParseWay(s string) (Way, error) {
	parts := strings.Split(s, "+")
	for _, p := range parts {
		if p == "" {
			return Way{}, fmt.Errorf("%w %q: use USER, USER+CONTAINER or USER+LOGIN+CONTAINER", ErrBadUserName, s)
		}
	}
	switch len(parts) {
	case 1:
		return Way{User: parts[0]}, nil
	case 2:
		return Way{User: parts[0], Container: parts[1]}, nil
	case 3:
		return Way{User: parts[0], Login: parts[1], Container: parts[2]}, nil
	}
	return Way{}, fmt.Errorf("%w %q: use USER, USER+CONTAINER or USER+LOGIN+CONTAINER", ErrBadUserName, s)
}

// MenuEntry is one line of the menu: a container and the login a shell
// there gets.
type MenuEntry struct {
	Container, Login string
}

// Pick reads the menu's answer: a number (from 1) or a container's name.
// "" and "q" are quit (-1, nil).
func Pick(answer string, entries []MenuEntry) (int, error) {
	a := strings.TrimSpace(answer)
	if a == "" || a == "q" || a == "quit" || a == "exit" {
		return -1, nil
	}
	if n, err := strconv.Atoi(a); err == nil {
		if n < 1 || n > len(entries) {
			return 0, fmt.Errorf("no entry %d: give a number from 1 to %d, a name, or q", n, len(entries))
		}
		return n - 1, nil
	}
	for i, e := range entries {
		if e.Container == a {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%q is not in the menu: give a number from 1 to %d, a name, or q", a, len(entries))
}

// Menu renders the menu's lines.
func Menu(user string, entries []MenuEntry) string {
	var b strings.Builder
	if len(entries) == 0 {
		fmt.Fprintf(&b, "No container is open to %s. Ask for a rule in the gateway's access file.\r\n", user)
		return b.String()
	}
	fmt.Fprintf(&b, "Containers open to %s:\r\n", user)
	for i, e := range entries {
		fmt.Fprintf(&b, "  %2d) %-32s as %s\r\n", i+1, e.Container, e.Login)
	}
	return b.String()
}
