package discovery

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/test/e2e/e2ekit"
	"github.com/fatbox/fatbox/test/harness"
)

// TestAnsibleInventory (issue 17's must-show): the fatbox binary, linked as
// fatbox-ansible-inventory, is an inventory script the real ansible-core
// reads: ansible-inventory --list and --graph show the groups by app, env,
// label and status, `ansible app_orders -m ping` over the real ssh reaches
// exactly that app's container, a stopped container is only in the
// stopped group, and the script's --host is its _meta hostvars.
func TestAnsibleInventory(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"ansible", "ansible-inventory"} {
		_, err := exec.LookPath(tool)
		harness.Require(t, err == nil, "%s (tools/setup-host.sh --test installs ansible-core)", tool)
	}
	start := time.Now()
	e := e2ekit.NewEnv(t, "198.19.170.0/24")
	ips := map[string]string{}
	for name, flags := range map[string][]string{
		"ans-01": {"--app", "orders", "--env", "prod", "--owner", "team-b", "-l", "tier=back.end"},
		"ans-02": {"--app", "web", "--env", "staging", "--owner", "team-a", "-l", "tier=front"},
		"ans-03": {"--app", "orders", "--env", "prod", "--owner", "team-b"},
	} {
		ips[name] = e.Create(name, append(flags, "--memory", "256M", "--disk", "1G")...).IP
	}
	e.RemoveAtEnd(t, "ans-01", "ans-02", "ans-03")
	e.OK("stop", "ans-03") // stopped, its lease kept
	t.Logf("containers up: %s", time.Since(start))

	dir := t.TempDir()
	script := filepath.Join(dir, "fatbox-ansible-inventory")
	if err := os.Symlink(e2ekit.Bin(), script); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ansible.cfg"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "FATBOX_SOCKET="+e.Sock, "ANSIBLE_CONFIG="+filepath.Join(dir, "ansible.cfg"),
		"ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_NOCOLOR=1", "ANSIBLE_PRIVATE_KEY_FILE="+e.Key,
		"ANSIBLE_PYTHON_INTERPRETER=auto_silent", "ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"),
		"ANSIBLE_SSH_CONTROL_PATH_DIR="+filepath.Join(dir, "cp"), "ANSIBLE_INVENTORY_UNPARSED_FAILED=True",
		// No ssh master outlives the test (it would hold the containers' stop).
		"ANSIBLE_SSH_ARGS=-o ControlMaster=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5")
	tool := func(name string, args ...string) (string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env, cmd.Dir = env, dir
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}

	// ansible-inventory --list: the groups and the host variables as Ansible read them.
	out, stderr, err := tool("ansible-inventory", "-i", script, "--list")
	if err != nil {
		t.Fatalf("ansible-inventory --list: %v\n%s%s", err, out, stderr)
	}
	var inv map[string]struct {
		Hosts    []string                  `json:"hosts"`
		Children []string                  `json:"children"`
		Hostvars map[string]map[string]any `json:"hostvars"`
	}
	if err := json.Unmarshal([]byte(out), &inv); err != nil {
		t.Fatalf("ansible-inventory --list printed %s: %v", out, err)
	}
	for group, want := range map[string][]string{
		"app_orders": {"ans-01"}, "app_web": {"ans-02"}, "env_prod": {"ans-01"}, "env_staging": {"ans-02"},
		"owner_team_b": {"ans-01"}, "owner_team_a": {"ans-02"}, "tier_back_end": {"ans-01"}, "tier_front": {"ans-02"},
		"running": {"ans-01", "ans-02"}, "stopped": {"ans-03"},
	} {
		got := append([]string(nil), inv[group].Hosts...)
		sort.Strings(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ansible-inventory --list: group %s holds %v, want %v", group, got, want)
		}
	}
	hv := inv["_meta"].Hostvars
	for name, ip := range ips {
		if v := hv[name]; v["ansible_host"] != ip || v["fatbox_name"] != name || v["ansible_user"] != "root" {
			t.Errorf("%s's variables as Ansible has them: %v; want ansible_host %s, ansible_user root", name, v, ip)
		}
	}
	if v := hv["ans-03"]; v["fatbox_status"] != "stopped" || v["fatbox_app"] != "orders" {
		t.Errorf("ans-03's variables: %v", v)
	}

	// --graph shows the tree.
	out, stderr, err = tool("ansible-inventory", "-i", script, "--graph")
	if err != nil || !regexp.MustCompile(`(?m)^  \|--@app_orders:\n  \|  \|--ans-01$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^  \|--@stopped:\n  \|  \|--ans-03$`).MatchString(out) {
		t.Errorf("ansible-inventory --graph: %v\n%s%s", err, out, stderr)
	}

	// The script's --host is the host's entry of _meta.hostvars.
	var list struct {
		Meta struct {
			Hostvars map[string]map[string]any `json:"hostvars"`
		} `json:"_meta"`
	}
	out, stderr, err = tool(script, "--list")
	if err != nil || json.Unmarshal([]byte(out), &list) != nil {
		t.Fatalf("the script --list: %v\n%s%s", err, out, stderr)
	}
	for name := range ips {
		var host map[string]any
		out, stderr, err = tool(script, "--host", name)
		if err != nil || json.Unmarshal([]byte(out), &host) != nil || !reflect.DeepEqual(host, list.Meta.Hostvars[name]) {
			t.Errorf("the script --host %s: %v, printed %s%s; want %v", name, err, out, stderr, list.Meta.Hostvars[name])
		}
	}

	// ansible app_orders -m ping over ssh reaches ans-01 and nothing else
	// (ans-03, of that app but stopped, is not in app_orders).
	e.SSH(ips["ans-01"], "true") // sshd is up
	t0 := time.Now()
	out, stderr, err = tool("ansible", "-i", script, "app_orders", "-m", "ping", "-o")
	t.Logf("ansible app_orders -m ping: %s", time.Since(t0))
	if err != nil || !regexp.MustCompile(`(?m)^ans-01 \| SUCCESS => .*"ping": "pong"`).MatchString(out) || strings.Count(out, " | ") != 1 {
		t.Errorf("ansible app_orders -m ping: %v, want ans-01 alone to answer pong:\n%s%s", err, out, stderr)
	}
	// The host pattern Ansible resolves: exactly the running container of the app.
	out, stderr, err = tool("ansible", "-i", script, "app_orders", "--list-hosts")
	if err != nil || !regexp.MustCompile(`hosts \(1\):\s+ans-01\s*$`).MatchString(out) {
		t.Errorf("ansible app_orders --list-hosts: %v\n%s%s", err, out, stderr)
	}
	t.Logf("total: %s", time.Since(start))
}
