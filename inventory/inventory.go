// Package inventory is the source of truth: one record per container, shaped
// like a VM record, kept in the state store at inventory/containers/<name>.
//
// This first cut holds the record and the queries other packages need (which
// containers use an image); the engine fills records in as it creates
// containers, and cmdbsync will read them.
package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fatbox/fatbox/inventory/store"
	"github.com/google/uuid"
)

// Sentinels, checked with errors.Is.
var (
	// ErrNotFound: no such container record.
	ErrNotFound = errors.New("container not found")
	// ErrExists: a record holds the name already.
	ErrExists = errors.New("container exists")
	// ErrInvalid: a name or field breaks a rule.
	ErrInvalid = errors.New("invalid container field")
)

// Statuses a record goes through.
const (
	StatusCreating = "creating" // a create is under way (or its daemon died: Reconcile undoes it)
	StatusRunning  = "running"
	StatusStopped  = "stopped"
	StatusStopping = "stopping" // a stop is under way (or its daemon died: Reconcile finishes it)
	StatusRemoving = "removing" // a remove is under way (or its daemon died: Reconcile finishes it)
)

// Stop reasons of a container that stopped on its own (Record.StopReason).
const (
	StopPoweroff     = "poweroff from inside" // shutdown -h, poweroff, halt inside: stays down until started
	StopCrashed      = "crashed"              // its init exited with no shutdown asked; autostart boots it again
	StopCrashLoop    = "crash loop"           // crashed again and again right after its boot: left stopped
	StopRebootLoop   = "reboot loop"          // rebooted again and again right after its boot: left stopped
	StopRebootFailed = "reboot failed"        // asked a reboot from inside; the boot failed (the daemon's log says why)
	// StopRebooting marks the record (status stopping) of a reboot under
	// way, so a daemon that dies mid-way boots it at its next start.
	StopRebooting = "rebooting"
)

// kindError is an error whose text is msg and which matches kind.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// ExistsError is the error for a name that a record holds already.
func ExistsError(name string) error {
	return &kindError{fmt.Sprintf("a container named %q already exists: pick another name or remove it first", name), ErrExists}
}

// ValidName checks the one rule for container names: a DNS label (RFC
// 1123), because the name is the container's hostname: 1 to 63 lowercase
// letters, digits and '-', starting and ending with a letter or digit.
func ValidName(name string) error {
	bad := func(rule string) error {
		return &kindError{fmt.Sprintf("container name %q %s: a name is the container's hostname, so use 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit (e.g. web-01)", name, rule), ErrInvalid}
	}
	switch {
	case name == "":
		return &kindError{"no container name given: name it, e.g. web-01", ErrInvalid}
	case len(name) > 63:
		return bad(fmt.Sprintf("is %d characters long", len(name)))
	case name[0] == '-':
		return bad("starts with '-' (on the command line, a name after `--` is still a name, and this one is not valid)")
	case name[len(name)-1] == '-':
		return bad("ends with '-'")
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case c >= 'A' && c <= 'Z':
			return bad("has upper case letters")
		default:
			return bad(fmt.Sprintf("has %q", c))
		}
	}
	return nil
}

// Record is one container, shaped like a VM record.
type Record struct {
	// ID is the container's stable identity: a UUID given at create, kept
	// across renames, never reused. CMDB rows and bills key on it.
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Hostname  string  `json:"hostname"`
	Pool      string  `json:"pool,omitempty"`
	IP        string  `json:"ip,omitempty"`
	MAC       string  `json:"mac,omitempty"`
	Node      string  `json:"node,omitempty"` // host it runs on
	Image     string  `json:"image"`
	ImageID   string  `json:"image_id"`
	VCPUs     int     `json:"vcpus,omitempty"`  // CPUs rounded, as a VM record shows it
	CPUs      float64 `json:"cpus,omitempty"`   // the CFS quota in CPUs
	Cpuset    string  `json:"cpuset,omitempty"` // the host CPUs it is pinned to, e.g. "0-1"
	MemoryMiB int64   `json:"memory_mib,omitempty"`
	// DiskMiB is the disk's size, exactly (records before it had DiskGiB,
	// which Get and List turn into DiskMiB).
	DiskMiB int64 `json:"disk_mib,omitempty"`
	DiskGiB int   `json:"disk_gib,omitempty"`
	SwapMiB int64 `json:"swap_mib,omitempty"` // swap beyond memory; 0: none
	// ExporterPort is the TCP port a Prometheus exporter listens on inside
	// the container (the daemon's file_sd targets file lists ip:port); 0: none.
	ExporterPort int `json:"exporter_port,omitempty"`
	// NetRateBits limits traffic each way, in bits/s; 0: unlimited.
	NetRateBits uint64 `json:"net_rate_bits,omitempty"`
	// Disk IO limits on the writable disk; 0: unlimited.
	DiskReadBps   uint64 `json:"disk_read_bps,omitempty"`
	DiskWriteBps  uint64 `json:"disk_write_bps,omitempty"`
	DiskReadIOPS  uint64 `json:"disk_read_iops,omitempty"`
	DiskWriteIOPS uint64 `json:"disk_write_iops,omitempty"`
	Owner         string `json:"owner,omitempty"`
	App           string `json:"app,omitempty"`
	Env           string `json:"env,omitempty"`
	// Labels are free-form key=value pairs (CheckLabels says which).
	Labels map[string]string `json:"labels,omitempty"`
	// PendingDiskMiB is a disk size asked for while the container ran on a
	// host that cannot grow a mounted disk: it takes effect at the next
	// start (DiskMiB is always the size in force).
	PendingDiskMiB int64 `json:"pending_disk_mib,omitempty"`
	// Ulimits are the container's resource limits by name (nofile, nproc,
	// memlock, core, stack): those it starts with; nil in records made
	// before ulimits were recorded (they get the defaults). PendingUlimits
	// says an update changed them while it ran: they take effect at the
	// next start, and the ones in force are those of the spec it runs with
	// (<state>/containers/<name>/bundle/config.json).
	Ulimits        map[string]Ulimit `json:"ulimits,omitempty"`
	PendingUlimits bool              `json:"pending_ulimits,omitempty"`
	Status         string            `json:"status"`
	// StopReason says why a container that stopped on its own is stopped
	// (StopPoweroff, StopCrashed, StopCrashLoop); "" when it runs or was
	// stopped through the API.
	StopReason string `json:"stop_reason,omitempty"`
	// Autostart: the daemon boots the container again when it finds it
	// dead at start (after a host restart).
	Autostart bool `json:"autostart"`
	// LeaseOrigin, while Status is "creating", says what the create's
	// allocation does to the name's lease ("new", "revived", "existing"),
	// so an interrupted create is undone exactly.
	LeaseOrigin string `json:"lease_origin,omitempty"`
	// RenamedFrom is the name before the last rename (its state dir may
	// still be under that name if the daemon died mid-rename).
	RenamedFrom string `json:"renamed_from,omitempty"`
	// Instance keys the container's runtime objects on its node: its state
	// dir (containers/<instance>), runc id, netns (fatbox-<instance>) and
	// host veth. It is fixed for the container's life, so a running container
	// can take another name (a release's switch). "" in records made before
	// it: the name (InstanceKey).
	Instance string `json:"instance,omitempty"`
	// Volumes are the data volumes attached to it, each mounted at its path.
	Volumes []VolumeMount `json:"volumes,omitempty"`
	// Services are declared for discovery (Consul's catalog): a name and
	// the port it answers on.
	Services []Service `json:"services,omitempty"`
	// Syslog is the collector its syslog is forwarded to (logfwd.Parse's
	// URL; "" none: its pool's applies).
	Syslog    string    `json:"syslog,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Ulimit is one resource limit (setrlimit): Soft and Hard, with
// 18446744073709551615 (RLIM_INFINITY) for unlimited. engine/limits
// parses and checks them.
type Ulimit struct {
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

func key(name string) string { return "inventory/containers/" + name }

// Inventory reads and writes container records.
type Inventory struct {
	// Store holds the records. Required.
	Store store.Store
	// UsagePeriod, when set, makes RecordUsage also keep the totals per
	// period of this length (periods.go).
	UsagePeriod time.Duration
}

// NewID is a new container ID: a time-ordered UUID (v7).
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// Create stores a new record (an ID is given if it has none); a second
// record of one name is refused. A record being created records no event:
// its "created" event comes with its first boot (Put to running).
func (i *Inventory) Create(ctx context.Context, r Record) error {
	now := time.Now().UTC()
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	if r.ID == "" {
		r.ID = NewID()
	}
	r.UpdatedAt = now
	b, _ := json.Marshal(r)
	if _, err := i.Store.Create(ctx, key(r.Name), b); err != nil {
		if errors.Is(err, store.ErrExists) {
			return ExistsError(r.Name)
		}
		return err
	}
	return nil
}

// Get reads one record.
func (i *Inventory) Get(ctx context.Context, name string) (Record, error) {
	kv, err := i.Store.Get(ctx, key(name))
	if errors.Is(err, store.ErrNotFound) {
		return Record{}, fmt.Errorf("no container %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return Record{}, err
	}
	return decode(kv.Key, kv.Value)
}

// decode reads a stored record, bringing older shapes up to date.
func decode(key string, b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("container record %q is corrupt: %w", key, err)
	}
	return upgrade(r), nil
}

// upgrade brings a record stored by an older fatbox up to date: disk_gib
// becomes DiskMiB; a record without an ID gets one derived from its name
// and creation time (stable: every read derives the same), until its next
// write stores it.
func upgrade(r Record) Record {
	if r.DiskMiB == 0 && r.DiskGiB > 0 {
		r.DiskMiB = int64(r.DiskGiB) << 10
	}
	r.DiskGiB = 0
	if r.ID == "" && r.Name != "" {
		r.ID = uuid.NewSHA1(uuid.NameSpaceOID, []byte("fatbox:"+r.Name+":"+r.CreatedAt.UTC().Format(time.RFC3339Nano))).String()
	}
	return r
}

// List returns every record, by name.
func (i *Inventory) List(ctx context.Context) ([]Record, error) {
	kvs, err := i.Store.List(ctx, "inventory/containers/")
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(kvs))
	for _, kv := range kvs {
		r, err := decode(kv.Key, kv.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// UsersOfImage names the containers whose records use image ID id.
func (i *Inventory) UsersOfImage(ctx context.Context, id string) ([]string, error) {
	rs, err := i.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rs {
		if r.ImageID == id {
			out = append(out, r.Name)
		}
	}
	return out, nil
}

// Pools returns the pool of every container record (every node), by name.
func (i *Inventory) Pools(ctx context.Context) (map[string]string, error) {
	rs, err := i.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(rs))
	for _, r := range rs {
		out[r.Name] = r.Pool
	}
	return out, nil
}

// Put replaces a record (last writer wins; records have one writer, the
// daemon of the record's node). CreatedAt and ID are kept from the stored
// record. The events the change means (started, stopped, resized, labels;
// created on a first boot) are appended in the same store transaction,
// with the cause the context carries (WithCause).
func (i *Inventory) Put(ctx context.Context, r Record) error {
	return i.retry(ctx, func() error {
		kv, err := i.Store.Get(ctx, key(r.Name))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no container %q: %w", r.Name, ErrNotFound)
		}
		if err != nil {
			return err
		}
		old, err := decode(kv.Key, kv.Value)
		if err != nil {
			return err
		}
		r.CreatedAt, r.ID, r.DiskGiB = old.CreatedAt, old.ID, 0
		r.UpdatedAt = time.Now().UTC()
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		ops := []store.Op{{Kind: store.OpPut, Key: key(r.Name), Value: b, Version: kv.Version}}
		var evs []Event
		for _, kind := range changeEvents(old, r) {
			evs = append(evs, Event{Time: r.UpdatedAt, Kind: kind, ContainerID: r.ID, Name: r.Name, Cause: CauseOf(ctx), Record: r})
		}
		evOps, err := i.eventOps(ctx, evs...)
		if err != nil {
			return err
		}
		_, err = i.Store.Txn(ctx, append(ops, evOps...))
		return err
	})
}

// retry runs fn again while it fails on a version conflict (a concurrent
// writer of the record or of the event counter).
func (i *Inventory) retry(ctx context.Context, fn func() error) error { return store.Retry(ctx, fn) }

// Delete removes a record; a missing one is fine. A container that ever
// ran gets a "removed" event (its record as it was) in the same
// transaction; a create that never finished records nothing.
func (i *Inventory) Delete(ctx context.Context, name string) error {
	return i.retry(ctx, func() error {
		kv, err := i.Store.Get(ctx, key(name))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ops := []store.Op{{Kind: store.OpDelete, Key: key(name), Version: kv.Version}}
		if old, derr := decode(kv.Key, kv.Value); derr == nil && old.Status != StatusCreating {
			evOps, err := i.eventOps(ctx, Event{Time: time.Now().UTC(), Kind: EventRemoved, ContainerID: old.ID, Name: name, Cause: CauseOf(ctx), Record: old})
			if err != nil {
				return err
			}
			ops = append(ops, evOps...)
		}
		_, err = i.Store.Txn(ctx, ops)
		return err
	})
}

// RenameOps returns the transaction ops that move record name to newName
// (Name, and Hostname when it was the name, follow; RenamedFrom records the
// old name), conditional on both records as they are now.
func (i *Inventory) RenameOps(ctx context.Context, name, newName string) ([]store.Op, error) {
	kv, err := i.Store.Get(ctx, key(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no container %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if _, err := i.Store.Get(ctx, key(newName)); err == nil {
		return nil, ExistsError(newName)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	r, err := decode(kv.Key, kv.Value)
	if err != nil {
		return nil, err
	}
	if r.Hostname == r.Name {
		r.Hostname = newName
	}
	if r.Instance == "" { // a record from before instances: its runtime objects keep the old name
		r.Instance = name
	}
	r.Name, r.RenamedFrom, r.UpdatedAt = newName, name, time.Now().UTC()
	b, _ := json.Marshal(r)
	ops := []store.Op{
		{Kind: store.OpDelete, Key: key(name), Version: kv.Version},
		{Kind: store.OpPut, Key: key(newName), Value: b},
	}
	if r.Status == StatusCreating {
		return ops, nil
	}
	evOps, err := i.eventOps(ctx, Event{Time: r.UpdatedAt, Kind: EventRenamed, ContainerID: r.ID, Name: newName, From: name, Cause: CauseOf(ctx), Record: r})
	if err != nil {
		return nil, err
	}
	return append(ops, evOps...), nil
}

// VolumeMount is a data volume attached to a container at Path.
type VolumeMount struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// InstanceKey is what keys the record's runtime objects: Instance, or the
// name for records made before instances existed.
func (r Record) InstanceKey() string {
	if r.Instance != "" {
		return r.Instance
	}
	return r.Name
}

// Service is a service a container declares (`--service http:8080`).
type Service struct {
	Name string `json:"name"`
	Port int    `json:"port"`
}

// ParseService reads NAME:PORT: a name that is a DNS label (it becomes
// NAME.service.consul) and a port 1-65535.
func ParseService(s string) (Service, error) {
	name, port, ok := strings.Cut(s, ":")
	p, err := strconv.Atoi(port)
	if !ok || err != nil || p < 1 || p > 65535 {
		return Service{}, fmt.Errorf("service %q: want NAME:PORT with a port 1-65535, e.g. http:8080: %w", s, ErrInvalid)
	}
	if err := ValidName(name); err != nil {
		return Service{}, fmt.Errorf("service %q: its name becomes a DNS name (%s.service.consul): %w", s, name, err)
	}
	return Service{Name: name, Port: p}, nil
}

// CheckServices refuses a bad service or the same name twice.
func CheckServices(ss []Service) error {
	seen := map[string]bool{}
	for _, s := range ss {
		if _, err := ParseService(fmt.Sprintf("%s:%d", s.Name, s.Port)); err != nil {
			return err
		}
		if seen[s.Name] {
			return fmt.Errorf("service %q declared twice: give each name once: %w", s.Name, ErrInvalid)
		}
		seen[s.Name] = true
	}
	return nil
}
