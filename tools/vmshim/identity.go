package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// account is a user resolved from /etc/passwd and /etc/group, read
// directly: the binary is static, so there is no NSS.
type account struct {
	Name   string
	UID    int
	GID    int
	Home   string
	Shell  string
	Groups []int    // supplementary gids (initgroups), primary excluded
	GNames []string // names of every group the user is in, primary included
}

type passwdEntry struct {
	name, home, shell string
	uid, gid          int
}

type groupEntry struct {
	name    string
	gid     int
	members []string
}

func readColonFile(path string, fields int) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, ":")
		if len(parts) < fields {
			continue
		}
		out = append(out, parts)
	}
	return out, sc.Err()
}

func (s *shim) passwd() ([]passwdEntry, error) {
	rows, err := readColonFile(s.path("/etc/passwd"), 7)
	if err != nil {
		return nil, fmt.Errorf("reading /etc/passwd: %w", err)
	}
	var out []passwdEntry
	for _, r := range rows {
		uid, err1 := strconv.Atoi(r[2])
		gid, err2 := strconv.Atoi(r[3])
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, passwdEntry{name: r[0], uid: uid, gid: gid, home: r[5], shell: r[6]})
	}
	return out, nil
}

func (s *shim) groups() ([]groupEntry, error) {
	rows, err := readColonFile(s.path("/etc/group"), 4)
	if err != nil {
		return nil, fmt.Errorf("reading /etc/group: %w", err)
	}
	var out []groupEntry
	for _, r := range rows {
		gid, err := strconv.Atoi(r[2])
		if err != nil {
			continue
		}
		var m []string
		for _, x := range strings.Split(r[3], ",") {
			if x = strings.TrimSpace(x); x != "" {
				m = append(m, x)
			}
		}
		out = append(out, groupEntry{name: r[0], gid: gid, members: m})
	}
	return out, nil
}

// lookupAccount resolves User= (a name or a numeric uid), with Group= (""
// means the user's primary group) and SupplementaryGroups=.
func (s *shim) lookupAccount(user, group string, extra []string) (account, error) {
	pw, err := s.passwd()
	if err != nil {
		return account{}, err
	}
	grs, err := s.groups()
	if err != nil {
		return account{}, err
	}
	if user == "" {
		user = "root"
	}
	var a account
	found := false
	for _, p := range pw {
		if p.name == user || strconv.Itoa(p.uid) == user {
			a = account{Name: p.name, UID: p.uid, GID: p.gid, Home: p.home, Shell: p.shell}
			found = true
			break
		}
	}
	if !found {
		uid, err := strconv.Atoi(user)
		if err != nil {
			return account{}, fmt.Errorf("User=%s: no such user in /etc/passwd: create it (useradd --system %s) or fix the unit", user, user)
		}
		a = account{Name: user, UID: uid, GID: uid, Home: "/", Shell: "/bin/sh"}
	}
	gidOf := func(g string) (int, string, error) {
		for _, e := range grs {
			if e.name == g || strconv.Itoa(e.gid) == g {
				return e.gid, e.name, nil
			}
		}
		if n, err := strconv.Atoi(g); err == nil {
			return n, g, nil
		}
		return 0, "", fmt.Errorf("group %q: no such group in /etc/group: create it (groupadd --system %s) or fix the unit", g, g)
	}
	if group != "" {
		gid, _, err := gidOf(group)
		if err != nil {
			return account{}, fmt.Errorf("Group=%s: %w", group, err)
		}
		a.GID = gid
	}
	seen := map[int]bool{a.GID: true}
	for _, e := range grs {
		if e.gid == a.GID {
			a.GNames = append(a.GNames, e.name)
		}
	}
	for _, e := range grs {
		for _, m := range e.members {
			if m == a.Name && !seen[e.gid] {
				seen[e.gid] = true
				a.Groups = append(a.Groups, e.gid)
				a.GNames = append(a.GNames, e.name)
			}
		}
	}
	for _, g := range extra {
		gid, name, err := gidOf(g)
		if err != nil {
			return account{}, fmt.Errorf("SupplementaryGroups=%s: %w", g, err)
		}
		if !seen[gid] {
			seen[gid] = true
			a.Groups = append(a.Groups, gid)
			a.GNames = append(a.GNames, name)
		}
	}
	return a, nil
}
