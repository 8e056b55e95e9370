package sshgw

import (
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/api"
)

func TestDecide(t *testing.T) {
	a, err := ParseAccess("access.yaml", []byte(goodAccess))
	if err != nil {
		t.Fatal(err)
	}
	web := api.Container{Name: "web-01", App: "shop"}
	db := api.Container{Name: "db-01", App: "orders", Labels: map[string]string{"tier": "db-main"}}
	dbNoLabel := api.Container{Name: "db-02", App: "orders"}
	for _, tc := range []struct {
		name      string
		q         Request
		allowed   bool
		rule      string
		login     string
		path      string
		reasonHas string
	}{
		{"group member shell", Request{User: "alice", Container: web, Channel: ChannelShell}, true, "ops-web", "root", PathSSHD, "rule \"ops-web\" (line 10)"},
		{"named login", Request{User: "alice", Container: web, Login: "deploy", Channel: ChannelExec}, true, "ops-web", "deploy", PathSSHD, ""},
		{"login not listed", Request{User: "alice", Container: web, Login: "postgres", Channel: ChannelShell}, false, "", "", "", "default deny"},
		{"glob misses", Request{User: "alice", Container: db, Channel: ChannelShell}, false, "", "", "", "no rule allows alice"},
		{"app and label", Request{User: "bob", Container: db, Channel: ChannelSFTP}, true, "orders", "deploy", PathExec, ""},
		{"label missing", Request{User: "bob", Container: dbNoLabel, Channel: ChannelShell}, false, "", "", "", ""},
		{"other app", Request{User: "bob", Container: web, Channel: ChannelShell}, false, "", "", "", ""},
		{"forward allowed port", Request{User: "bob", Container: db, Channel: ChannelForward, Port: 5432}, true, "orders", "deploy", PathExec, ""},
		{"forward other port", Request{User: "bob", Container: db, Channel: ChannelForward, Port: 22}, false, "", "", "", ""},
		{"channel not granted", Request{User: "alice", Container: web, Channel: ChannelForward, Port: 80}, false, "", "", "", ""},
		{"unknown user", Request{User: "mallory", Container: web, Channel: ChannelShell}, false, "", "", "", "not in the access file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := a.Decide(tc.q)
			if d.Allowed != tc.allowed || d.Rule != tc.rule || d.Login != tc.login || d.Path != tc.path {
				t.Fatalf("Decide = %+v", d)
			}
			if !strings.Contains(d.Reason, tc.reasonHas) {
				t.Errorf("reason %q lacks %q", d.Reason, tc.reasonHas)
			}
			if !d.Allowed && tc.q.User != "mallory" && len(d.Misses) != len(a.Rules) {
				t.Errorf("a denial explains %d rules, want %d: %+v", len(d.Misses), len(a.Rules), d.Misses)
			}
		})
	}
	// Why each rule missed, in words.
	d := a.Decide(Request{User: "bob", Container: dbNoLabel, Channel: ChannelShell})
	if got := d.Misses[0].Reason; !strings.Contains(got, "not for user bob") {
		t.Errorf("miss of ops-web: %q", got)
	}
	if got := d.Misses[1].Reason; !strings.Contains(got, `label tier="" does not match "db*"`) {
		t.Errorf("miss of orders: %q", got)
	}
	if d.Agent {
		t.Error("a denial grants agent forwarding")
	}
	if !a.Decide(Request{User: "bob", Container: db, Channel: ChannelShell}).Agent {
		t.Error("rule orders grants the agent")
	}
}

func TestReachable(t *testing.T) {
	a, err := ParseAccess("access.yaml", []byte(goodAccess))
	if err != nil {
		t.Fatal(err)
	}
	cs := []api.Container{{Name: "web-01"}, {Name: "db-01", App: "orders", Labels: map[string]string{"tier": "db"}}, {Name: "web-02"}}
	got := a.Reachable("alice", cs)
	if len(got) != 2 || got[0].Container != "web-01" || got[1].Container != "web-02" || got[0].Login != "root" {
		t.Fatalf("Reachable(alice) = %+v", got)
	}
	if got := a.Reachable("bob", cs); len(got) != 1 || got[0].Container != "db-01" || got[0].Login != "deploy" {
		t.Fatalf("Reachable(bob) = %+v", got)
	}
}
