package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/api"
)

// ansibleFixture: two running containers of different apps, envs, owners,
// nodes and labels, one stopped with a kept lease, a release's -last
// without an address, and one creating.
func ansibleFixture() []api.Container {
	return []api.Container{
		{ID: "id-2", Name: "orders-02", Hostname: "orders-02", Pool: "prod", IP: "198.18.0.12", MAC: "02:00:c6:12:00:0c", Node: "n2",
			Image: "debian12-fat", VCPUs: 2, CPUs: 1.5, MemoryMiB: 2048, DiskMiB: 20480, Owner: "team-b", App: "orders", Env: "prod",
			Labels: map[string]string{"tier": "back.end", "3d": "yes"}, Status: "running",
			Volumes: []api.VolumeMount{{Name: "data1", Path: "/var/lib/app"}}, Services: []api.Service{{Name: "http", Port: 8080}}},
		{ID: "id-1", Name: "orders-01", Hostname: "orders-01", Pool: "prod", IP: "198.18.0.11", MAC: "02:00:c6:12:00:0b", Node: "n1.dc-1",
			Image: "debian12-fat", VCPUs: 1, CPUs: 1, MemoryMiB: 1024, DiskMiB: 10240, Owner: "team-b", App: "orders", Env: "prod",
			Labels: map[string]string{"tier": "back-end"}, Status: "running"},
		{ID: "id-3", Name: "web-01", Hostname: "web-01", Pool: "prod", IP: "198.18.0.13", Node: "n1.dc-1", Image: "debian12-fat",
			Owner: "Team A", App: "web shop", Env: "staging", Labels: map[string]string{"app": "orders", "team": "café"}, Status: "running"},
		{ID: "id-4", Name: "batch-01", Pool: "prod", IP: "198.18.0.14", Node: "n1", App: "batch", Env: "prod",
			Status: "stopped", StopReason: "poweroff from inside"},
		{ID: "id-5", Name: "web-01-last", Pool: "prod", Node: "n1", App: "web shop", Status: "stopped"},
		{ID: "id-6", Name: "new-01", Pool: "prod", IP: "198.18.0.15", Node: "n1", App: "batch", Status: "creating"},
	}
}

func TestAnsibleInventoryGroups(t *testing.T) {
	inv := ansibleInventory(ansibleFixture())
	want := map[string][]string{
		"running":       {"orders-01", "orders-02", "web-01"},
		"stopped":       {"batch-01", "web-01-last"},
		"creating":      {"new-01"},
		"app_orders":    {"orders-01", "orders-02", "web-01"}, // web-01's label app=orders merges in
		"app_web_shop":  {"web-01"},
		"env_prod":      {"orders-01", "orders-02"},
		"env_staging":   {"web-01"},
		"owner_team_b":  {"orders-01", "orders-02"},
		"owner_Team_A":  {"web-01"},
		"node_n1_dc_1":  {"orders-01", "web-01"},
		"node_n2":       {"orders-02"},
		"tier_back_end": {"orders-01", "orders-02"}, // back-end and back.end share a group
		"_3d_yes":       {"orders-02"},
		"team_caf_":     {"web-01"},
	}
	if !reflect.DeepEqual(inv.groups, want) {
		t.Errorf("groups:\n got %v\nwant %v", inv.groups, want)
	}
	list := inv.list()
	all, _ := list["all"].(ansibleGroup)
	if len(all.Hosts) != 0 || all.Vars["ansible_user"] != "root" || len(all.Children) != len(want) || all.Children[0] != "_3d_yes" || all.Children[len(want)-1] != "tier_back_end" {
		t.Errorf("all: %+v", all)
	}
	for g := range want {
		if _, ok := list[g].(ansibleGroup); !ok {
			t.Errorf("--list lacks group %s", g)
		}
	}
}

func TestAnsibleInventoryHostVars(t *testing.T) {
	inv := ansibleInventory(ansibleFixture())
	got := inv.hostvars["orders-02"]
	want := map[string]any{
		"ansible_host": "198.18.0.12", "fatbox_id": "id-2", "fatbox_name": "orders-02", "fatbox_hostname": "orders-02",
		"fatbox_ip": "198.18.0.12", "fatbox_mac": "02:00:c6:12:00:0c", "fatbox_pool": "prod", "fatbox_node": "n2",
		"fatbox_image": "debian12-fat", "fatbox_vcpus": 2, "fatbox_cpus": 1.5, "fatbox_memory_mib": int64(2048),
		"fatbox_disk_mib": int64(20480), "fatbox_owner": "team-b", "fatbox_app": "orders", "fatbox_env": "prod",
		"fatbox_labels": map[string]string{"tier": "back.end", "3d": "yes"}, "fatbox_status": "running", "fatbox_stop_reason": "",
		"fatbox_volumes":  []map[string]string{{"name": "data1", "path": "/var/lib/app"}},
		"fatbox_services": []map[string]any{{"name": "http", "port": 8080}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("orders-02's vars:\n got %#v\nwant %#v", got, want)
	}
	for name, vars := range inv.hostvars {
		for k := range vars {
			if k != "ansible_host" && !strings.HasPrefix(k, "fatbox_") {
				t.Errorf("%s: variable %s has no fatbox_ prefix", name, k)
			}
		}
		if len(vars) < len(want)-1 {
			t.Errorf("%s has %d variables: every field is always there", name, len(vars))
		}
	}
	// A container without an address has no ansible_host; one stopped
	// with its lease keeps it.
	if _, ok := inv.hostvars["web-01-last"]["ansible_host"]; ok {
		t.Errorf("web-01-last has no IP but ansible_host %v", inv.hostvars["web-01-last"]["ansible_host"])
	}
	if inv.hostvars["batch-01"]["ansible_host"] != "198.18.0.14" || inv.hostvars["batch-01"]["fatbox_stop_reason"] != "poweroff from inside" {
		t.Errorf("batch-01: %v", inv.hostvars["batch-01"])
	}
	if v := inv.hostvars["web-01-last"]; v["fatbox_labels"] == nil || v["fatbox_volumes"] == nil {
		t.Errorf("web-01-last: empty labels and volumes are {} and [], never null: %v", v)
	}
}

// The same records in another order print the same bytes.
func TestAnsibleInventoryDeterministic(t *testing.T) {
	cs := ansibleFixture()
	var a, b bytes.Buffer
	if err := writeJSON(&a, ansibleInventory(cs).list()); err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(cs)-1; i < j; i, j = i+1, j-1 {
		cs[i], cs[j] = cs[j], cs[i]
	}
	for i := 0; i < 5; i++ {
		b.Reset()
		if err := writeJSON(&b, ansibleInventory(cs).list()); err != nil {
			t.Fatal(err)
		}
		if a.String() != b.String() {
			t.Fatalf("output differs:\n%s\n%s", a.String(), b.String())
		}
	}
	if !json.Valid(a.Bytes()) || strings.Contains(a.String(), "null") {
		t.Errorf("not valid JSON, or a null in it:\n%s", a.String())
	}
}

// No container: still an inventory Ansible reads (all and an empty
// _meta.hostvars, so it calls no --host).
func TestAnsibleInventoryEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSON(&b, ansibleInventory(nil).list()); err != nil {
		t.Fatal(err)
	}
	want := `{"_meta":{"hostvars":{}},"all":{"vars":{"ansible_user":"root"}}}`
	var got bytes.Buffer
	if err := json.Compact(&got, b.Bytes()); err != nil || got.String() != want {
		t.Errorf("empty inventory: %s (%v), want %s", b.String(), err, want)
	}
}

func TestAnsibleGroupName(t *testing.T) {
	for in, want := range map[string]string{
		"app_orders": "app_orders", "app_web-shop": "app_web_shop", "tier_front.end": "tier_front_end", "3d_yes": "_3d_yes",
		"owner_Team A": "owner_Team_A", "team_café": "team_caf_", "cost/center_x:y": "cost_center_x_y", "": "", "running": "running",
	} {
		if got := ansibleGroupName(in); got != want {
			t.Errorf("ansibleGroupName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAnsibleInventoryArgs(t *testing.T) {
	for _, c := range []struct {
		argv0 string
		args  []string
		want  []string
	}{
		{"/usr/bin/fatbox", []string{"ls"}, []string{"ls"}},
		{"/etc/ansible/fatbox-ansible-inventory", []string{"--list"}, []string{"inventory", "ansible", "--list"}},
		{"fatbox-ansible-inventory", []string{"--host", "web-01"}, []string{"inventory", "ansible", "--host", "web-01"}},
		{"/x/fatbox-ansible-inventory.bak", []string{"--list"}, []string{"--list"}},
	} {
		if got := ansibleInventoryArgs(c.argv0, c.args); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %v: %v, want %v", c.argv0, c.args, got, c.want)
		}
	}
}
