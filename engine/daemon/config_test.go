package daemon

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store/memstore"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fatbox.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every key of the file lands in its field.
func TestLoadFileEveryKey(t *testing.T) {
	p := writeConfig(t, `
socket: /run/fb/x.sock
state_dir: /srv/fatbox
store: consul://127.0.0.1:8500/fatbox
node: host-7
image_cache: /srv/cache
supervisord: /opt/supervisord
vmshim: /opt/vmshim
ops_keys: ["ssh-ed25519 AAAA ops@a", "ssh-ed25519 BBBB ops@b"]
socket_group: wheel
overcommit: {cpu: 8, memory: 1.2, disk: 2}
event_retention: 9504h
cmdb:
  - name: assets
    dsn: "fatbox:pw@tcp(127.0.0.1:3306)/cmdb"
    dsn_file: /etc/fatbox/cmdb.dsn
    mapping: /etc/fatbox/assets.yaml
    poll_interval: 2s
    reconcile_interval: 30m
billing:
  dsn: "fatbox:pw@tcp(127.0.0.1:3306)/billing"
  dsn_file: /etc/fatbox/billing.dsn
  target: dc1
  period: 1h
  grace: 2m
  late_gap: 5m
  sample_interval: 30s
  start: "2026-12-01T00:00:00Z"
  mapping: /etc/fatbox/billing.yaml
consul_catalog:
  address: 127.0.0.1:8500
  token: t0k
  token_file: /etc/fatbox/consul.token
  datacenter: dc1
  owner: fatbox-a
  poll_interval: 2s
  reconcile_interval: 5m
metrics_listen: "[::1]:9470"
file_sd: /etc/prometheus/fatbox/targets.json
hooks:
  - name: nginx
    url: https://lb.example.com/fatbox
    secret: s3cret
    secret_file: /etc/fatbox/nginx.secret
    command: ["/usr/local/bin/zk-register", "--zk", "zk1:2181"]
    events: [created, removed]
    timeout: 5s
    from: beginning
gateway:
  listen: 0.0.0.0:2222
  config_dir: /etc/fatbox/gw
  idle_timeout: 30m
  record_session_max: 64MiB
  record_total_max: 4GiB
  record_max_age: 2160h
`)
	cfg, err := LoadFile(p, true, Defaults())
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Socket: "/run/fb/x.sock", StateDir: "/srv/fatbox", Store: "consul://127.0.0.1:8500/fatbox", Node: "host-7",
		ImageCache: "/srv/cache", Supervisord: "/opt/supervisord", VMShim: "/opt/vmshim", OpsKeys: []string{"ssh-ed25519 AAAA ops@a", "ssh-ed25519 BBBB ops@b"},
		SocketGroup: "wheel", Overcommit: limits.Overcommit{CPU: 8, Memory: 1.2, Disk: 2}, EventRetention: "9504h",
		CMDB: []CMDBTarget{{Name: "assets", DSN: "fatbox:pw@tcp(127.0.0.1:3306)/cmdb", DSNFile: "/etc/fatbox/cmdb.dsn",
			Mapping: "/etc/fatbox/assets.yaml", PollInterval: "2s", ReconcileInterval: "30m"}},
		Billing: &BillingConfig{DSN: "fatbox:pw@tcp(127.0.0.1:3306)/billing", DSNFile: "/etc/fatbox/billing.dsn", Target: "dc1",
			Period: "1h", Grace: "2m", LateGap: "5m", SampleInterval: "30s", Start: "2026-12-01T00:00:00Z", Mapping: "/etc/fatbox/billing.yaml"},
		ConsulCatalog: &CatalogConfig{Address: "127.0.0.1:8500", Token: "t0k", TokenFile: "/etc/fatbox/consul.token", Datacenter: "dc1",
			Owner: "fatbox-a", PollInterval: "2s", ReconcileInterval: "5m"},
		MetricsListen: "[::1]:9470", FileSD: "/etc/prometheus/fatbox/targets.json",
		Hooks: []HookConfig{{Name: "nginx", URL: "https://lb.example.com/fatbox", Secret: "s3cret", SecretFile: "/etc/fatbox/nginx.secret",
			Command: []string{"/usr/local/bin/zk-register", "--zk", "zk1:2181"}, Events: []string{"created", "removed"}, Timeout: "5s", From: "beginning"}},
		Gateway: &GatewayConfig{Listen: "0.0.0.0:2222", ConfigDir: "/etc/fatbox/gw", IdleTimeout: "30m",
			RecordSessionMax: "64MiB", RecordTotalMax: "4GiB", RecordMaxAge: "2160h"}}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
	if z := zeroFields(reflect.ValueOf(cfg), "Config"); len(z) > 0 {
		t.Fatalf("fields no key of this test sets: %v (add the new key here)", z)
	}
	if cfg.withDefaults().SocketGroup != "wheel" || cfg.withDefaults().Overcommit != want.Overcommit {
		t.Fatal("withDefaults overrode values the file set")
	}
}

// An unknown key (a typo) is refused, naming it and the keys there are;
// the list in the message names every key Config has.
func TestLoadFileUnknownKey(t *testing.T) {
	base := Defaults()
	base.Node = "n0"
	cfg, err := LoadFile(writeConfig(t, "socket: /x.sock\nsocket_grup: wheel\n"), false, base)
	if err == nil || !strings.Contains(err.Error(), "socket_grup") || !strings.Contains(err.Error(), "known keys:") {
		t.Fatalf("got %v", err)
	}
	if !reflect.DeepEqual(cfg, base) {
		t.Fatalf("a refused file changed the config: %+v", cfg)
	}
	ty := reflect.TypeOf(Config{})
	for i := range ty.NumField() {
		key := strings.Split(ty.Field(i).Tag.Get("yaml"), ",")[0]
		if !strings.Contains(err.Error(), " "+key) {
			t.Errorf("the error's list of known keys lacks %q: %v", key, err)
		}
	}
	// Nested keys are checked too.
	if _, err := LoadFile(writeConfig(t, "overcommit: {cpus: 8}\n"), false, base); err == nil || !strings.Contains(err.Error(), "cpus") {
		t.Fatalf("overcommit typo: %v", err)
	}
}

func TestLoadFileErrors(t *testing.T) {
	base := Defaults()
	for _, c := range []struct {
		name, body, want string
	}{
		{"wrong type", "overcommit: {cpu: lots}\n", "cannot unmarshal"},
		{"not a list", "ops_keys: {a: b}\n", "cannot unmarshal"},
		{"bad YAML", "socket: [\n", "fix the file"},
	} {
		p := writeConfig(t, c.body)
		cfg, err := LoadFile(p, true, base)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v; want one line naming the file and %q", c.name, err, c.want)
		}
		if !reflect.DeepEqual(cfg, base) {
			t.Errorf("%s: a refused file changed the config", c.name)
		}
	}
}

func TestLoadFileMissingAndEmpty(t *testing.T) {
	base := Defaults()
	base.Node = "n0"
	missing := filepath.Join(t.TempDir(), "none.yaml")
	if cfg, err := LoadFile(missing, false, base); err != nil || !reflect.DeepEqual(cfg, base) {
		t.Fatalf("missing default file: %+v, %v", cfg, err)
	}
	if _, err := LoadFile(missing, true, base); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing --config file: %v", err)
	}
	if cfg, err := LoadFile(writeConfig(t, "# nothing set\n"), true, base); err != nil || !reflect.DeepEqual(cfg, base) {
		t.Fatalf("empty file: %+v, %v", cfg, err)
	}
	// A key the file leaves out keeps the base's value.
	cfg, err := LoadFile(writeConfig(t, "socket_group: ops\n"), true, base)
	if err != nil || cfg.Node != "n0" || cfg.Store != "embedded" || cfg.SocketGroup != "ops" {
		t.Fatalf("partial file: %+v, %v", cfg, err)
	}
}

// overcommit keys left out of the file take their defaults, and what the
// file sets stays.
func TestOvercommitOverDefaults(t *testing.T) {
	def := limits.DefaultOvercommit()
	for _, c := range []struct {
		body string
		want limits.Overcommit
	}{
		{"overcommit: {cpu: 8}\n", limits.Overcommit{CPU: 8, Memory: def.Memory, Disk: def.Disk}},
		{"overcommit: {memory: 1.0}\n", limits.Overcommit{CPU: def.CPU, Memory: 1, Disk: def.Disk}},
		{"overcommit: {disk: 10, cpu: 2}\n", limits.Overcommit{CPU: 2, Memory: def.Memory, Disk: 10}},
		{"node: x\n", def},
	} {
		cfg, err := LoadFile(writeConfig(t, c.body), true, Defaults())
		if err != nil {
			t.Fatal(err)
		}
		got := cfg.withDefaults().Overcommit
		if got != c.want {
			t.Errorf("%q: %+v, want %+v", c.body, got, c.want)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%q: %v", c.body, err)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	got := Config{}.withDefaults()
	want := Config{Socket: api.DefaultSocket, StateDir: "/var/lib/fatbox", SocketGroup: DefaultSocketGroup, Overcommit: limits.DefaultOvercommit()}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	set := Config{Socket: "/s", StateDir: "/d", SocketGroup: "g", Overcommit: limits.Overcommit{CPU: 1, Memory: 2, Disk: 3}, Node: "n"}
	if got := set.withDefaults(); !reflect.DeepEqual(got, set) {
		t.Fatalf("set values changed: %+v", got)
	}
	if d := Defaults(); d.Store != "embedded" || d.Socket != api.DefaultSocket || d.StateDir != "/var/lib/fatbox" {
		t.Fatalf("Defaults() = %+v", d)
	}
}

// The default state dir keeps runc's default root; any other gets a root
// of its own, the same for the same dir however it is written.
func TestRuncRoot(t *testing.T) {
	if got := RuncRoot("/var/lib/fatbox"); got != runtime.DefaultRoot {
		t.Fatalf("default: %q", got)
	}
	if got := RuncRoot("/var/lib/fatbox/"); got != runtime.DefaultRoot {
		t.Fatalf("default with a slash: %q", got)
	}
	a, b := RuncRoot("/tmp/t1/state"), RuncRoot("/tmp/t2/state")
	if a == b || a == runtime.DefaultRoot || !strings.HasPrefix(a, runtime.DefaultRoot+"-") {
		t.Fatalf("roots %q %q", a, b)
	}
	if RuncRoot("/tmp/t1//state/") != a {
		t.Fatal("the same dir written another way got another root")
	}
}

func TestEventRetention(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", inventory.DefaultEventRetention, true},
		{"9504h", 9504 * time.Hour, true},
		{"1h", time.Hour, true},
		{"59m", 0, false},
		{"-24h", 0, false},
		{"13 months", 0, false},
	} {
		got, err := Config{EventRetention: c.in}.eventRetention()
		if c.ok && (err != nil || got != c.want) || !c.ok && (err == nil || !strings.Contains(err.Error(), "event_retention")) {
			t.Errorf("%q: %v, %v", c.in, got, err)
		}
	}
}

// The hooks: entries are checked at start, each error naming the entry,
// the key and the fix; good ones become the loop's configs.
func TestHookConfigs(t *testing.T) {
	inv := &inventory.Inventory{Store: memstore.New()}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := []HookConfig{
		{Name: "nginx", URL: "http://127.0.0.1:9/hook", SecretFile: secret, Events: []string{"created", "removed"}, Timeout: "3s"},
		{Name: "zk", Command: []string{"/bin/true"}, From: "beginning"},
	}
	got, err := hookConfigs(good, inv, inv)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0].Secret) != "s3cret" || got[0].Timeout != 3*time.Second || got[0].FromBeginning || !got[1].FromBeginning {
		t.Fatalf("got %+v", got)
	}
	for _, c := range []struct {
		hooks []HookConfig
		want  string
	}{
		{[]HookConfig{{URL: "http://x"}}, "hooks[0]: hook: no name"},
		{[]HookConfig{{Name: "a", URL: "http://x"}, {Name: "a", URL: "http://y"}}, `hooks[1] ("a"): name: another hook has this name`},
		{[]HookConfig{{Name: "a"}}, `hooks[0] ("a"): hook "a": give exactly one of url`},
		{[]HookConfig{{Name: "a", URL: "http://x", Timeout: "soon"}}, `hooks[0] ("a"): timeout "soon": give a duration`},
		{[]HookConfig{{Name: "a", URL: "http://x", From: "start"}}, `from "start": give end`},
		{[]HookConfig{{Name: "a", URL: "http://x", Events: []string{"deleted"}}}, `unknown kind "deleted": the kinds are created`},
		{[]HookConfig{{Name: "a", URL: "http://x", SecretFile: "/nonexistent/s"}}, "secret_file: open /nonexistent/s"},
		{[]HookConfig{{Name: "a", URL: "http://x", Secret: "x", SecretFile: secret}}, "both secret and secret_file"},
		{[]HookConfig{{Name: "a", Command: []string{"/bin/true"}, Secret: "x"}}, "remove secret"},
	} {
		if _, err := hookConfigs(c.hooks, inv, inv); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.hooks, err, c.want)
		}
	}
}
