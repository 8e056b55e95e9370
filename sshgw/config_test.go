package sshgw

import (
	"errors"
	"strings"
	"testing"
)

const keyA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJAPMvdKMV6tp5aEur/Dzsg+cI7YPXD5pvsXAyl7aQjD a"
const keyB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc7I8iUKi6iFOZP4OnVO+p2F8p3J5JABkCRn6aYAT98 b"

const goodAccess = `
users:
  alice:
    keys: ["` + keyA + `"]
  bob:
    keys: ["` + keyB + `"]
groups:
  ops: [alice]
rules:
  - name: ops-web
    groups: [ops]
    containers: {name: "web-*"}
    logins: [root, deploy]
    channels: [shell, exec, sftp]
  - name: orders
    users: [bob]
    containers: {app: orders, labels: {tier: "db*"}}
    logins: [deploy]
    channels: [shell, exec, sftp, forward]
    ports: [5432]
    path: exec
    agent: true
`

func TestParseAccess(t *testing.T) {
	a, err := ParseAccess("access.yaml", []byte(goodAccess))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Users) != 2 || len(a.Rules) != 2 || a.Rules[0].Path != PathSSHD || a.Rules[1].Path != PathExec || !a.Rules[1].Agent {
		t.Fatalf("parsed %+v", a)
	}
	if a.Rules[1].Line != 15 {
		t.Errorf("rule orders at line %d, want 15", a.Rules[1].Line)
	}
	if got := a.Users["alice"].Groups; len(got) != 1 || got[0] != "ops" {
		t.Errorf("alice's groups %v", got)
	}
	if u, ok := a.UserOfKey(a.Users["bob"].Keys[0]); !ok || u != "bob" {
		t.Errorf("UserOfKey(bob's key) = %q %v", u, ok)
	}
}

func TestParseAccessErrors(t *testing.T) {
	rule := func(body string) string {
		return "users:\n  alice:\n    keys: [\"" + keyA + "\"]\nrules:\n  - name: r\n" + body
	}
	for _, tc := range []struct{ name, text, want string }{
		{"unknown key", "users:\n  alice:\n    keys: [\"" + keyA + "\"]\n    password: x\n", "line 4: field password not found"},
		{"bad key", "users:\n  alice:\n    keys: [\"ssh-ed25519 nope\"]\n", "access.yaml:3: user \"alice\" key 1 is not an OpenSSH public key"},
		{"no keys", "users:\n  alice: {}\n", "access.yaml:2: user \"alice\" has no keys"},
		{"plus in name", "users:\n  al+ice:\n    keys: [\"" + keyA + "\"]\n", "no '+'"},
		{"dup key", "users:\n  alice:\n    keys: [\"" + keyA + "\"]\n  bob:\n    keys: [\"" + keyA + "\"]\n", "access.yaml:5: user \"bob\" key 1 is also user \"alice\"'s"},
		{"group member", "users:\n  alice:\n    keys: [\"" + keyA + "\"]\ngroups:\n  ops: [carol]\n", "access.yaml:5: group \"ops\": member \"carol\" is not a user"},
		{"no subject", rule("    logins: [root]\n    channels: [shell]\n"), "access.yaml:5: rule \"r\" names no users or groups"},
		{"unknown user", rule("    users: [carol]\n    logins: [root]\n    channels: [shell]\n"), "user \"carol\" is not defined"},
		{"no logins", rule("    users: [alice]\n    channels: [shell]\n"), "has no logins"},
		{"bad login", rule("    users: [alice]\n    logins: [Root!]\n    channels: [shell]\n"), "login \"Root!\" is not a user name"},
		{"scp channel", rule("    users: [alice]\n    logins: [root]\n    channels: [scp]\n"), "scp is part of channel sftp"},
		{"bad channel", rule("    users: [alice]\n    logins: [root]\n    channels: [x11]\n"), "channel \"x11\" is not one of shell, exec, sftp, forward"},
		{"forward no ports", rule("    users: [alice]\n    logins: [root]\n    channels: [forward]\n"), "allows forward to no port"},
		{"ports no forward", rule("    users: [alice]\n    logins: [root]\n    channels: [shell]\n    ports: [80]\n"), "lists ports but not channel forward"},
		{"bad port", rule("    users: [alice]\n    logins: [root]\n    channels: [forward]\n    ports: [70000]\n"), "port 70000 is not a TCP port"},
		{"bad path", rule("    users: [alice]\n    logins: [root]\n    channels: [shell]\n    path: telnet\n"), "path \"telnet\": give sshd"},
		{"bad glob", rule("    users: [alice]\n    logins: [root]\n    channels: [shell]\n    containers: {name: \"[\"}\n"), "containers.name \"[\" is not a valid glob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAccess("access.yaml", []byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrAccessFile) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is more than one line: %q", err)
			}
		})
	}
}
