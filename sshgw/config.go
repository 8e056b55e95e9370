package sshgw

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	gossh "golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"
)

// AccessFile is the name of the users, groups and rules file in the
// gateway's config dir.
const AccessFile = "access.yaml"

// Channel kinds a rule grants.
const (
	ChannelShell   = "shell"   // an interactive shell (pty)
	ChannelExec    = "exec"    // a command (ssh host cmd, rsync, ansible)
	ChannelSFTP    = "sftp"    // file transfer: the sftp subsystem and scp (both protocols)
	ChannelForward = "forward" // direct-tcpip to a port of the container other than 22
)

var channels = []string{ChannelShell, ChannelExec, ChannelSFTP, ChannelForward}

// Paths from the gateway to a container.
const (
	PathSSHD = "sshd" // the gateway's own key to the container's sshd
	PathExec = "exec" // a process run through the daemon's exec API (no sshd)
)

// Access is the parsed access file: who may log in with which keys, and
// the rules of what they may reach.
type Access struct {
	Users  map[string]*User
	Groups map[string][]string
	Rules  []Rule
	// byKey finds the user of a public key (its wire bytes).
	byKey map[string]string
}

// User is a gateway user.
type User struct {
	Name string
	Keys []gossh.PublicKey
	// Groups are the groups the access file puts the user in.
	Groups []string
}

// Rule allows users and groups to reach containers as logins over channels.
type Rule struct {
	Name   string
	Line   int // of the rule in the access file
	Users  []string
	Groups []string
	Match  Match
	Logins []string
	// Channels granted; Ports are the ports "forward" may reach.
	Channels []string
	Ports    []int
	// Agent allows agent forwarding (off by default).
	Agent bool
	// Path is how the gateway reaches the container: PathSSHD or PathExec.
	Path string
}

// Match selects containers by the inventory record: every non-empty field
// must match (globs as path.Match; labels each by key).
type Match struct {
	Name   string            `yaml:"name"`
	Owner  string            `yaml:"owner"`
	App    string            `yaml:"app"`
	Env    string            `yaml:"env"`
	Labels map[string]string `yaml:"labels"`
}

// fileAccess is the access file as written.
type fileAccess struct {
	Users map[string]struct {
		Keys []string `yaml:"keys"`
	} `yaml:"users"`
	Groups map[string][]string `yaml:"groups"`
	Rules  []struct {
		Name     string   `yaml:"name"`
		Users    []string `yaml:"users"`
		Groups   []string `yaml:"groups"`
		Match    Match    `yaml:"containers"`
		Logins   []string `yaml:"logins"`
		Channels []string `yaml:"channels"`
		Ports    []int    `yaml:"ports"`
		Agent    bool     `yaml:"agent"`
		Path     string   `yaml:"path"`
	} `yaml:"rules"`
}

var (
	nameRe  = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)
	loginRe = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
)

// ErrAccessFile marks a problem in the access file; the message names
// file:line and the fix.
var ErrAccessFile = errors.New("access file")

// LoadAccess reads and validates an access file.
func LoadAccess(file string) (*Access, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w: create it (see docs/architecture.md, SSH gateway)", ErrAccessFile, file, err)
	}
	return ParseAccess(file, b)
}

// ParseAccess validates the access file's text; file names it in errors.
func ParseAccess(file string, b []byte) (*Access, error) {
	bad := func(line int, format string, args ...any) error {
		return fmt.Errorf("%w %s:%d: %s", ErrAccessFile, file, line, fmt.Sprintf(format, args...))
	}
	var fa fileAccess
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&fa); err != nil && !errors.Is(err, io.EOF) {
		msg := err.Error()
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msg = strings.Join(te.Errors, "; ")
		}
		msg = strings.TrimPrefix(msg, "yaml: ")
		return nil, fmt.Errorf("%w %s: %s: fix the file (keys: users.NAME.keys, groups.NAME, rules[].{name,users,groups,containers,logins,channels,ports,agent,path})", ErrAccessFile, file, msg)
	}
	// A second pass for the line of each user, group, rule and field.
	var doc yaml.Node
	_ = yaml.Unmarshal(b, &doc)
	lines := nodeLines(&doc)

	a := &Access{Users: map[string]*User{}, Groups: map[string][]string{}, byKey: map[string]string{}}
	for _, name := range slices.Sorted(maps.Keys(fa.Users)) {
		line := lines.of("users", name)
		if !nameRe.MatchString(name) {
			return nil, bad(line, "user %q: a user name is lower case letters, digits, '_', '.', '-' (no '+', which separates user, login and container)", name)
		}
		u := &User{Name: name}
		if len(fa.Users[name].Keys) == 0 {
			return nil, bad(line, "user %q has no keys: add its public keys under keys: (passwords are not accepted)", name)
		}
		for i, k := range fa.Users[name].Keys {
			pk, _, _, _, err := gossh.ParseAuthorizedKey([]byte(k))
			if err != nil {
				return nil, bad(lines.of("users", name, "keys", fmt.Sprint(i)), "user %q key %d is not an OpenSSH public key (%v): paste the line of its .pub file", name, i+1, err)
			}
			if other, dup := a.byKey[string(pk.Marshal())]; dup {
				return nil, bad(lines.of("users", name, "keys", fmt.Sprint(i)), "user %q key %d is also user %q's: a key names one user; give each person their own key", name, i+1, other)
			}
			a.byKey[string(pk.Marshal())] = name
			u.Keys = append(u.Keys, pk)
		}
		a.Users[name] = u
	}
	for _, g := range slices.Sorted(maps.Keys(fa.Groups)) {
		line := lines.of("groups", g)
		if !nameRe.MatchString(g) {
			return nil, bad(line, "group %q: a group name is lower case letters, digits, '_', '.', '-'", g)
		}
		for _, m := range fa.Groups[g] {
			u, ok := a.Users[m]
			if !ok {
				return nil, bad(line, "group %q: member %q is not a user: add it under users: or remove it from the group", g, m)
			}
			u.Groups = append(u.Groups, g)
		}
		a.Groups[g] = fa.Groups[g]
	}
	names := map[string]int{}
	for i, fr := range fa.Rules {
		line := lines.of("rules", fmt.Sprint(i))
		r := Rule{Name: fr.Name, Line: line, Users: fr.Users, Groups: fr.Groups, Match: fr.Match, Logins: fr.Logins,
			Channels: fr.Channels, Ports: fr.Ports, Agent: fr.Agent, Path: fr.Path}
		if r.Name == "" {
			r.Name = fmt.Sprintf("rule-%d", i+1)
		}
		if prev, dup := names[r.Name]; dup {
			return nil, bad(line, "rule %q is named twice (also line %d): give each rule its own name", r.Name, prev)
		}
		names[r.Name] = line
		if len(r.Users) == 0 && len(r.Groups) == 0 {
			return nil, bad(line, "rule %q names no users or groups: add users: or groups: (rules only allow; what no rule allows is denied)", r.Name)
		}
		for _, u := range r.Users {
			if _, ok := a.Users[u]; !ok {
				return nil, bad(line, "rule %q: user %q is not defined: add it under users: or fix the name", r.Name, u)
			}
		}
		for _, g := range r.Groups {
			if _, ok := a.Groups[g]; !ok {
				return nil, bad(line, "rule %q: group %q is not defined: add it under groups: or fix the name", r.Name, g)
			}
		}
		for _, p := range []struct{ what, v string }{{"name", r.Match.Name}, {"owner", r.Match.Owner}, {"app", r.Match.App}, {"env", r.Match.Env}} {
			if _, err := path.Match(p.v, ""); err != nil {
				return nil, bad(line, "rule %q: containers.%s %q is not a valid glob: use *, ? and [a-z] only", r.Name, p.what, p.v)
			}
		}
		for k, v := range r.Match.Labels {
			if _, err := path.Match(v, ""); err != nil {
				return nil, bad(line, "rule %q: containers.labels.%s %q is not a valid glob: use *, ? and [a-z] only", r.Name, k, v)
			}
		}
		if len(r.Logins) == 0 {
			return nil, bad(line, "rule %q has no logins: add logins: [root] or the named users it may log in as", r.Name)
		}
		for _, l := range r.Logins {
			if !loginRe.MatchString(l) {
				return nil, bad(line, "rule %q: login %q is not a user name: give root or a lower case unix user name", r.Name, l)
			}
		}
		if len(r.Channels) == 0 {
			return nil, bad(line, "rule %q has no channels: add channels: with some of %s", r.Name, strings.Join(channels, ", "))
		}
		for _, c := range r.Channels {
			if c == "scp" {
				return nil, bad(line, "rule %q: channel %q: scp is part of channel sftp: write sftp", r.Name, c)
			}
			if !slices.Contains(channels, c) {
				return nil, bad(line, "rule %q: channel %q is not one of %s", r.Name, c, strings.Join(channels, ", "))
			}
		}
		for _, p := range r.Ports {
			if p < 1 || p > 65535 {
				return nil, bad(line, "rule %q: port %d is not a TCP port: give 1-65535", r.Name, p)
			}
		}
		if len(r.Ports) > 0 && !slices.Contains(r.Channels, ChannelForward) {
			return nil, bad(line, "rule %q lists ports but not channel forward: add forward to channels or drop ports", r.Name)
		}
		if slices.Contains(r.Channels, ChannelForward) && len(r.Ports) == 0 {
			return nil, bad(line, "rule %q allows forward to no port: list the ports it may reach under ports:", r.Name)
		}
		switch r.Path {
		case "":
			r.Path = PathSSHD
		case PathSSHD, PathExec:
		default:
			return nil, bad(line, "rule %q: path %q: give sshd (through the container's sshd) or exec (through the daemon, no sshd needed)", r.Name, r.Path)
		}
		a.Rules = append(a.Rules, r)
	}
	return a, nil
}

// UserOfKey returns the user a public key belongs to.
func (a *Access) UserOfKey(k gossh.PublicKey) (string, bool) {
	u, ok := a.byKey[string(k.Marshal())]
	return u, ok
}

// lineIndex maps a path of keys ("rules", "0", ...) to its line.
type lineIndex map[string]int

func (l lineIndex) of(keys ...string) int {
	for n := len(keys); n > 0; n-- {
		if line, ok := l[strings.Join(keys[:n], "\x00")]; ok {
			return line
		}
	}
	return 1
}

func nodeLines(doc *yaml.Node) lineIndex {
	idx := lineIndex{}
	var walk func(n *yaml.Node, prefix []string)
	walk = func(n *yaml.Node, prefix []string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, prefix)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := append(slices.Clone(prefix), n.Content[i].Value)
				idx[strings.Join(p, "\x00")] = n.Content[i].Line
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := append(slices.Clone(prefix), fmt.Sprint(i))
				idx[strings.Join(p, "\x00")] = c.Line
				walk(c, p)
			}
		}
	}
	walk(doc, nil)
	return idx
}
