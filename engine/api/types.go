package api

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"
)

// The wire types below are the API's own: the daemon converts the engine's,
// the inventory's, ipam's and baseimages' types into them, so a client (the
// CLI, the gateway, the sync loops, the web console) imports this package
// and nothing of the engine (a test checks its imports).

// Container is a container record, shaped like a VM record.
type Container struct {
	// ID is the stable identity: a UUID given at create, kept across
	// renames, never reused.
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	Hostname string  `json:"hostname"`
	Pool     string  `json:"pool,omitempty"`
	IP       string  `json:"ip,omitempty"`
	MAC      string  `json:"mac,omitempty"`
	Node     string  `json:"node,omitempty"`
	Image    string  `json:"image"`
	ImageID  string  `json:"image_id"`
	VCPUs    int     `json:"vcpus,omitempty"`  // CPUs rounded up, as a VM record shows it
	CPUs     float64 `json:"cpus,omitempty"`   // the CFS quota in CPUs
	Cpuset   string  `json:"cpuset,omitempty"` // host CPUs it is pinned to, e.g. "0-1"
	// Sizes are exact: MiB, never rounded to GiB.
	MemoryMiB     int64             `json:"memory_mib,omitempty"`
	DiskMiB       int64             `json:"disk_mib,omitempty"`
	SwapMiB       int64             `json:"swap_mib,omitempty"`
	NetRateBits   uint64            `json:"net_rate_bits,omitempty"`
	DiskReadBps   uint64            `json:"disk_read_bps,omitempty"`
	DiskWriteBps  uint64            `json:"disk_write_bps,omitempty"`
	DiskReadIOPS  uint64            `json:"disk_read_iops,omitempty"`
	DiskWriteIOPS uint64            `json:"disk_write_iops,omitempty"`
	Owner         string            `json:"owner,omitempty"`
	App           string            `json:"app,omitempty"`
	Env           string            `json:"env,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	ExporterPort  int               `json:"exporter_port,omitempty"` // a Prometheus exporter's port inside; 0: none
	// PendingDiskMiB is a disk size that takes effect at the next start.
	PendingDiskMiB int64 `json:"pending_disk_mib,omitempty"`
	// Ulimits are the resource limits by name (nofile, nproc, memlock,
	// core, stack); PendingUlimits says they changed while it ran and take
	// effect at the next start.
	Ulimits        map[string]Ulimit `json:"ulimits,omitempty"`
	PendingUlimits bool              `json:"pending_ulimits,omitempty"`
	// Status is the record's: creating, running, stopping, stopped, removing.
	Status string `json:"status"`
	// StopReason says why a container that stopped on its own is stopped:
	// "poweroff from inside", "crashed", "crash loop"; "" otherwise.
	StopReason string `json:"stop_reason,omitempty"`
	Autostart  bool   `json:"autostart"`
	// RenamedFrom is the name before the last rename, while its state dir
	// is still being moved.
	RenamedFrom string `json:"renamed_from,omitempty"`
	// Instance keys its runtime objects on its node (state dir, runc id,
	// netns, host veth); it stays when a release renames the container.
	Instance string `json:"instance,omitempty"`
	// Volumes are the data volumes attached to it, each at its path.
	Volumes []VolumeMount `json:"volumes,omitempty"`
	// Services are declared for discovery (Consul's catalog).
	Services []Service `json:"services,omitempty"`
	// Syslog is its own syslog collector ("" none: its pool's applies).
	Syslog    string    `json:"syslog,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ContainerInfo is a record plus what the host says of the container now.
type ContainerInfo struct {
	Container
	// State is runc's: "running", "stopped", "created", or "" if runc does not know it.
	State string `json:"state"`
	// PID is the container's init on the host (0 unless running).
	PID int `json:"pid,omitempty"`
	// DiskUsedBytes and DiskSizeBytes are the writable disk's (0 unless mounted).
	DiskUsedBytes int64 `json:"disk_used_bytes,omitempty"`
	DiskSizeBytes int64 `json:"disk_size_bytes,omitempty"`
}

// CreateRequest is POST /v1/containers. Sizes are bytes; 0 means the
// default (DiskBytes 10 GiB, MemoryBytes 1 GiB, CPUs 1).
type CreateRequest struct {
	Name        string   `json:"name"`
	Image       string   `json:"image"`
	Pool        string   `json:"pool"`
	CPUs        float64  `json:"cpus"`
	MemoryBytes int64    `json:"memory_bytes"`
	DiskBytes   int64    `json:"disk_bytes"`
	SSHKeys     []string `json:"ssh_keys"`
	SwapBytes   int64    `json:"swap_bytes,omitempty"` // swap beyond memory; 0: none
	NetRateBits uint64   `json:"net_rate_bits,omitempty"`
	// Disk IO limits on the writable disk (reads and direct IO); 0: unlimited.
	DiskReadBps   uint64 `json:"disk_read_bps,omitempty"`
	DiskWriteBps  uint64 `json:"disk_write_bps,omitempty"`
	DiskReadIOPS  uint64 `json:"disk_read_iops,omitempty"`
	DiskWriteIOPS uint64 `json:"disk_write_iops,omitempty"`
	// Autostart: boot it again when the daemon finds it dead; nil means true.
	Autostart *bool             `json:"autostart,omitempty"`
	Owner     string            `json:"owner,omitempty"`
	App       string            `json:"app,omitempty"`
	Env       string            `json:"env,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	// ExporterPort: a Prometheus exporter listens on this TCP port inside
	// (the daemon's file_sd targets file lists it); 0: none.
	ExporterPort int `json:"exporter_port,omitempty"`
	// Ulimits asked for; the others get the defaults as the host allows them.
	Ulimits map[string]Ulimit `json:"ulimits,omitempty"`
	// Volumes to attach, each made by POST /v1/volumes and free.
	Volumes []VolumeMount `json:"volumes,omitempty"`
	// Services declared for discovery (Consul's catalog).
	Services []Service `json:"services,omitempty"`
	// Syslog is its syslog collector, tcp://HOST:PORT or udp://HOST:PORT
	// ("" none: its pool's applies).
	Syslog string `json:"syslog,omitempty"`
}

// Service is a service a container declares: NAME.service.consul on Port.
type Service struct {
	Name string `json:"name"`
	Port int    `json:"port"`
}

// Ulimit is one resource limit: soft and hard, 18446744073709551615
// (RLIM_INFINITY) for unlimited. memlock, core and stack are bytes.
type Ulimit struct {
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// UpdateRequest is PATCH /v1/containers/{name}: nil fields stay as they are.
type UpdateRequest struct {
	CPUs        *float64 `json:"cpus,omitempty"`
	MemoryBytes *int64   `json:"memory_bytes,omitempty"`
	SwapBytes   *int64   `json:"swap_bytes,omitempty"`
	DiskBytes   *int64   `json:"disk_bytes,omitempty"`
	Owner       *string  `json:"owner,omitempty"`
	App         *string  `json:"app,omitempty"`
	Env         *string  `json:"env,omitempty"`
	// SetLabels are added or replaced, RemoveLabels dropped.
	SetLabels    map[string]string `json:"set_labels,omitempty"`
	RemoveLabels []string          `json:"remove_labels,omitempty"`
	// Ulimits are set or replaced by name; they take effect at the next start.
	Ulimits map[string]Ulimit `json:"ulimits,omitempty"`
	// SetServices are declared (replacing one of the same name),
	// RemoveServices dropped by name.
	SetServices    []Service `json:"set_services,omitempty"`
	RemoveServices []string  `json:"remove_services,omitempty"`
	// Syslog sets its own syslog collector; "none" clears it (its pool's
	// applies again). A running container's rsyslog is restarted to use it.
	Syslog *string `json:"syslog,omitempty"`
}

// Updated is the answer to an update: the record now, and notes on what
// takes effect later (e.g. a disk that grows at the next start).
type Updated struct {
	Container Container `json:"container"`
	Notes     []string  `json:"notes,omitempty"`
}

// Event is one entry of the inventory's event log (GET /v1/events).
type Event struct {
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`
	Kind        string    `json:"kind"` // created, started, stopped, resized, labels, renamed, removed, release
	ContainerID string    `json:"container_id"`
	Name        string    `json:"name"`
	From        string    `json:"from,omitempty"` // a rename's old name
	// Step, for a "release" event, is the step of a release or rollback and
	// what it did ("prepared: ...", "checked: ...", "switched: ...").
	Step string `json:"step,omitempty"`
	// Cause: "api" (UID set), "autostart", "reconcile" or "inside".
	Cause    string  `json:"cause"`
	CauseUID *uint32 `json:"cause_uid,omitempty"`
	// CauseDetail says more: "reboot" or "poweroff" (inside), "found dead"
	// or "init exited" (reconcile), the request id (api).
	CauseDetail string `json:"cause_detail,omitempty"`
	// Container is the record after the change (for "removed", as it was).
	Container Container `json:"container"`
}

// Events is the answer of GET /v1/events: the events after the asked
// position, and the position to ask from next.
type Events struct {
	Events []Event `json:"events"`
	Last   uint64  `json:"last"`
}

// ListFilter selects containers (GET /v1/containers query); zero fields
// match everything.
type ListFilter struct {
	App, Owner, Env, Status string
	Labels                  map[string]string
}

// RenameRequest is POST /v1/containers/{name}/rename.
type RenameRequest struct {
	Name string `json:"name"`
}

// Range is an inclusive range of usable addresses.
type Range struct {
	Start netip.Addr `json:"start"`
	End   netip.Addr `json:"end"`
}

func (r Range) String() string { return r.Start.String() + "-" + r.End.String() }

// Pool is a set of IPv4 addresses on one layer-2 bridge.
type Pool struct {
	Name         string       `json:"name"`
	CIDR         netip.Prefix `json:"cidr"`
	Gateway      netip.Addr   `json:"gateway"`
	Ranges       []Range      `json:"ranges,omitempty"`
	Reserved     []netip.Addr `json:"reserved,omitempty"`
	Bridge       string       `json:"bridge"`
	CreateBridge bool         `json:"create_bridge,omitempty"`
	VLAN         int          `json:"vlan,omitempty"`
	Uplink       string       `json:"uplink,omitempty"`
	MTU          int          `json:"mtu,omitempty"`
	// Quarantine is how long a released address is held for its old
	// owner; nil means the default (24 h), 0 means none.
	Quarantine *Duration `json:"quarantine,omitempty"`
	Deleting   bool      `json:"deleting,omitempty"`
	// Syslog is the collector its containers' syslog goes to
	// (tcp://HOST:PORT or udp://HOST:PORT; "" none).
	Syslog string `json:"syslog,omitempty"`
	// Capacity is how many addresses the pool can hand out (answers only).
	Capacity int `json:"capacity,omitempty"`
}

// QuarantineDuration is Quarantine with its default.
func (p Pool) QuarantineDuration() time.Duration {
	if p.Quarantine == nil {
		return 24 * time.Hour
	}
	return time.Duration(*p.Quarantine)
}

// Duration is a time.Duration that reads and writes as "24h0m0s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string like \"24h\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q: write it like \"24h\" or \"30m\"", s)
	}
	*d = Duration(v)
	return nil
}

// PoolRemoved is the answer to DELETE /v1/pools/{pool}.
type PoolRemoved struct {
	Pool Pool `json:"pool"`
	// Dropped are the leases --force dropped (owners that are not
	// containers, and quarantined addresses).
	Dropped []Lease `json:"dropped,omitempty"`
	// BridgeRemoved: fatbox made the pool's bridge and removed it from this host.
	BridgeRemoved bool `json:"bridge_removed,omitempty"`
	// BridgeNote says why a bridge fatbox made is still there.
	BridgeNote string `json:"bridge_note,omitempty"`
}

// Lease states.
const (
	LeaseActive   = "active"
	LeaseReleased = "released" // in quarantine: only its old owner can have it back
)

// Lease is one name's address in one pool.
type Lease struct {
	Pool            string     `json:"pool"`
	Name            string     `json:"name"`
	IP              netip.Addr `json:"ip"`
	State           string     `json:"state"` // active, or released (in quarantine)
	Host            string     `json:"host,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	QuarantineUntil time.Time  `json:"quarantine_until,omitzero"`
}

// GCResult lists what `ip gc` found and, unless a dry run, released.
type GCResult struct {
	Orphans  []Lease `json:"orphans"`
	Released []Lease `json:"released"`
	DryRun   bool    `json:"dry_run"`
}

// Image is one image in the daemon's local store.
type Image struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Source    string    `json:"source"`
	Recipe    string    `json:"recipe,omitempty"`
	RecipeKey string    `json:"recipe_key,omitempty"`
	Parent    string    `json:"parent,omitempty"`
	Packages  []string  `json:"packages,omitempty"`
	Programs  []Program `json:"programs,omitempty"`
	Created   time.Time `json:"created"`
	Size      int64     `json:"size"`
	// ParentID is the content ID of the image Parent names (a commit's).
	ParentID string `json:"parent_id,omitempty"`
	// FromContainer is the container a commit was made from.
	FromContainer string `json:"from_container,omitempty"`
	// A Dockerfile build's LABELs (io.fatbox.app, io.fatbox.port,
	// io.fatbox.exporter-port), EXPOSEd ports ("8080/tcp"), ENV, WORKDIR, USER.
	Labels  map[string]string `json:"labels,omitempty"`
	Ports   []string          `json:"ports,omitempty"`
	Env     []string          `json:"env,omitempty"`
	WorkDir string            `json:"workdir,omitempty"`
	User    string            `json:"user,omitempty"`
	// BuildKey is the cache key of a Dockerfile build's last step.
	BuildKey string `json:"build_key,omitempty"`
}

// Program is a supervisord program an image runs.
type Program struct {
	Name         string            `json:"name"`
	Command      string            `json:"command"`
	User         string            `json:"user,omitempty"`
	Autostart    bool              `json:"autostart"`
	Priority     int               `json:"priority,omitempty"`
	Environment  map[string]string `json:"environment,omitempty"`
	StopWaitSecs int               `json:"stopwaitsecs,omitempty"`
	Directory    string            `json:"directory,omitempty"`
}

// ProgramStatus is one supervisord program of a running container:
// GET /v1/containers/{name}/programs.
type ProgramStatus struct {
	Name  string `json:"name"`
	State string `json:"state"` // RUNNING, STARTING, STOPPED, EXITED, FATAL, BACKOFF, ...
	PID   int    `json:"pid,omitempty"`
	// UptimeSeconds is how long it has run (0 unless running).
	UptimeSeconds int64  `json:"uptime_seconds,omitempty"`
	Description   string `json:"description,omitempty"`
}

// CMDBStatus is one CMDB target's sync, in `fatbox status`.
type CMDBStatus struct {
	Target   string `json:"target"`
	Table    string `json:"table"`
	Database string `json:"database"` // host:port/database
	Running  bool   `json:"running"`
	// Connected: the last talk with the database worked; Checked: the
	// mapping fits the table.
	Connected bool `json:"connected"`
	Checked   bool `json:"checked"`
	// Position is the last event applied to the rows; Lag how many of the
	// inventory's events are not yet.
	Position    uint64    `json:"position"`
	SourceSeq   uint64    `json:"source_seq"`
	Lag         uint64    `json:"lag"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Failures in a row (0: healthy); NextRetry after one.
	Failures             int       `json:"failures"`
	NextRetry            time.Time `json:"next_retry,omitzero"`
	LastReconcile        time.Time `json:"last_reconcile,omitzero"`
	LastReconcileWrites  int       `json:"last_reconcile_writes"`
	LastReconcileRepairs int       `json:"last_reconcile_repairs"`
}

// CMDBSyncRequest is POST /v1/cmdb/sync: a full reconcile of a target now,
// or with DryRun the exact rows it would write. Mapping (a mapping file's
// YAML) or DSN try another mapping or database, dry run only.
type CMDBSyncRequest struct {
	Target  string `json:"target,omitempty"`
	DryRun  bool   `json:"dry_run,omitempty"`
	Mapping string `json:"mapping,omitempty"`
	DSN     string `json:"dsn,omitempty"`
}

// CMDBPlan is what a sync wrote (or would write): rows inserted, updated
// and decommissioned with each column before and after. Text is the same
// as the daemon prints it.
type CMDBPlan struct {
	Target        string        `json:"target"`
	Table         string        `json:"table"`
	KeyColumn     string        `json:"key_column"`
	Full          bool          `json:"full"`
	DryRun        bool          `json:"dry_run"`
	FromSeq       uint64        `json:"from_seq"`
	ToSeq         uint64        `json:"to_seq"`
	Events        int           `json:"events"`
	Inserts       []CMDBRow     `json:"inserts"`
	Updates       []CMDBRow     `json:"updates"`
	Decommissions []CMDBRow     `json:"decommissions"`
	Releases      []CMDBRelease `json:"releases"`
	Unchanged     int           `json:"unchanged"`
	Text          string        `json:"text"`
}

// CMDBRow is one row a sync writes.
type CMDBRow struct {
	Key            string       `json:"key"`
	ContainerID    string       `json:"container_id"`
	Name           string       `json:"name"`
	Decommissioned bool         `json:"decommissioned,omitempty"`
	Repair         bool         `json:"repair,omitempty"`
	Changes        []CMDBChange `json:"changes"`
}

// CMDBChange is one column's value before and after (nil: NULL or no row).
type CMDBChange struct {
	Column string  `json:"column"`
	Was    *string `json:"was"`
	Now    *string `json:"now"`
}

// CMDBRelease is a unique value cleared on a decommissioned row for another.
type CMDBRelease struct {
	Key    string `json:"key"`
	Column string `json:"column"`
	Value  string `json:"value"`
	For    string `json:"for"`
}
