package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/inventory"
)

// DefaultConfigFile is read when no --config is given; it may be absent.
const DefaultConfigFile = "/etc/fatbox/fatbox.yaml"

// Config is the daemon's configuration (YAML). Every field has a default and
// a command-line flag that overrides it.
type Config struct {
	// Socket is the unix socket of the REST API; "" means /run/fatbox/fatbox.sock.
	Socket string `yaml:"socket"`
	// StateDir holds the embedded store and per-container state; "" means /var/lib/fatbox.
	StateDir string `yaml:"state_dir"`
	// Store is a store URL: "embedded" (default), bolt:///path, consul://host:port/prefix.
	Store string `yaml:"store"`
	// Node names this host in the store; "" means the hostname.
	Node string `yaml:"node"`
	// ImageCache keeps built image tarballs by recipe key; "" means /var/cache/fatbox/images.
	ImageCache string `yaml:"image_cache"`
	// Supervisord is the static supervisord binary injected into containers;
	// "" means "supervisord" next to the fatbox binary.
	Supervisord string `yaml:"supervisord"`
	// VMShim is the static vmshim binary (systemctl, service, reboot, ...
	// inside containers); "" means "vmshim" next to the supervisord binary.
	VMShim string `yaml:"vmshim"`
	// OpsKeys are SSH public keys authorized in every container.
	OpsKeys []string `yaml:"ops_keys"`
	// SocketGroup may drive the daemon besides root: the socket is
	// root:<group> mode 0660, and the daemon serves members of the group
	// (SO_PEERCRED) and refuses every other uid. "" means "fatbox"
	// (tools/setup-host.sh creates it); a group that does not exist leaves
	// the socket to root alone.
	SocketGroup string `yaml:"socket_group"`
	// Overcommit ceilings of this node: sums of containers' CPU quotas (--cpus), memory
	// limits and disk sizes against the host's CPUs, memory and the state
	// file system's size. Zero fields take the defaults (limits.DefaultOvercommit).
	Overcommit limits.Overcommit `yaml:"overcommit"`
	// EventRetention is how long the events of a removed container are
	// kept after its removal ("" means inventory.DefaultEventRetention, 13
	// months); the events of existing containers are always kept.
	EventRetention string `yaml:"event_retention"`
	// CMDB are the CMDB tables kept true to the inventory (see CMDBTarget).
	CMDB []CMDBTarget `yaml:"cmdb"`
	// Billing is the billing table written from the inventory (see
	// BillingConfig); nil: none (usage is still kept per hour).
	Billing *BillingConfig `yaml:"billing"`
	// ConsulCatalog registers every container in a Consul's catalog (see
	// CatalogConfig); nil: none.
	ConsulCatalog *CatalogConfig `yaml:"consul_catalog"`
	// MetricsListen is the host:port of the Prometheus endpoint (GET
	// /metrics, metrics.go), never the unix socket; "" or "off": none.
	// Defaults() has DefaultMetricsListen (loopback); a config file that
	// leaves the key out keeps it.
	MetricsListen string `yaml:"metrics_listen"`
	// FileSD is the path of a Prometheus file_sd targets file the daemon
	// keeps (filesd.go): ip:exporter_port of each running container of this
	// node created with --exporter-port; "": none.
	FileSD string `yaml:"file_sd"`
	// Hooks are the lifecycle hooks: webhooks or commands each event of
	// the log is delivered to (see HookConfig).
	Hooks []HookConfig `yaml:"hooks"`
	// Gateway runs the SSH gateway (see GatewayConfig); nil: none.
	Gateway *GatewayConfig `yaml:"gateway"`
}

// eventRetention is EventRetention parsed, with its default.
func (c Config) eventRetention() (time.Duration, error) {
	if c.EventRetention == "" {
		return inventory.DefaultEventRetention, nil
	}
	d, err := time.ParseDuration(c.EventRetention)
	if err != nil || d < time.Hour {
		return 0, fmt.Errorf("config: event_retention %q: give a duration of an hour or more, e.g. 9504h (396 days)", c.EventRetention)
	}
	return d, nil
}

// DefaultSocketGroup may use the socket unless the config names another.
const DefaultSocketGroup = "fatbox"

// withDefaults fills the zero fields that have a default.
func (c Config) withDefaults() Config {
	d := Defaults()
	if c.StateDir == "" {
		c.StateDir = d.StateDir
	}
	if c.Socket == "" {
		c.Socket = d.Socket
	}
	if c.SocketGroup == "" {
		c.SocketGroup = DefaultSocketGroup
	}
	def := limits.DefaultOvercommit()
	if c.Overcommit.CPU == 0 {
		c.Overcommit.CPU = def.CPU
	}
	if c.Overcommit.Memory == 0 {
		c.Overcommit.Memory = def.Memory
	}
	if c.Overcommit.Disk == 0 {
		c.Overcommit.Disk = def.Disk
	}
	return c
}

// Defaults returns the built-in configuration.
func Defaults() Config {
	return Config{Socket: api.DefaultSocket, StateDir: "/var/lib/fatbox", Store: "embedded", MetricsListen: DefaultMetricsListen}
}

// LoadFile reads a YAML config file over base. A missing file is an error
// only when mustExist; unknown keys are always an error.
func LoadFile(path string, mustExist bool, base Config) (Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !mustExist {
		return base, nil
	}
	if err != nil {
		return base, fmt.Errorf("config file %q: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	cfg := base
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		msg := err.Error()
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msg = strings.Join(te.Errors, "; ")
		}
		return base, fmt.Errorf("config file %q: %s: fix the file (known keys: socket, state_dir, store, node, image_cache, supervisord, vmshim, ops_keys, socket_group, overcommit, event_retention, cmdb, billing, consul_catalog, metrics_listen, file_sd, hooks, gateway)", path, strings.ReplaceAll(msg, "\n", " "))
	}
	return cfg, nil
}
