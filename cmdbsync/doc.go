// Package cmdbsync presents the inventory to a company's MySQL/MariaDB CMDB:
// every fat container is a row of an existing VM table, kept true through
// create, resize, rename, stop, start and remove, across daemon crashes and
// database outages. It reads the inventory only (Source: records and the
// event log), never runc, cgroups or netlink, and never writes fatbox state.
//
// # Use
//
//	s, err := cmdbsync.New(cmdbsync.Config{
//		Source:  inv,                                  // *inventory.Inventory
//		DSN:     "fatbox:secret@tcp(cmdb:3306)/assets", // must name the database
//		Mapping: m,                                    // LoadMapping(path); nil: the default schema
//		Logger:  log,
//	})
//	go s.Run(ctx)   // the daemon's loop
//	s.Notify()      // after each inventory write: an incremental pass soon
//	s.Status()      // for `fatbox status`
//	s.DryRun(ctx)   // `fatbox cmdb sync --dry-run`: the exact rows, nothing written
//	s.Reconcile(ctx) / s.SyncOnce(ctx)  // `fatbox cmdb sync --once`
//
// # The mapping file
//
// YAML, read strictly: an unknown key anywhere is an error, and every
// problem of a file is reported at once with its line and fix. A full
// example, for a company's own asset table:
//
//	# the table, in the DSN's database
//	table: assets
//
//	# the column that identifies a container's row: the container's stable
//	# id (a UUID, kept across renames) through format (one %s; default "%s")
//	key:
//	  column: asset_no
//	  format: "FB-%s"
//
//	# column: where its value comes from. A bare word is a record field.
//	columns:
//	  hostname: hostname
//	  fqdn: {field: hostname, format: "%s.dc1.example.com"}
//	  ip_address: ip
//	  mac_address: mac
//	  esx_host: node
//	  os_image: image
//	  cores: vcpus
//	  cpu_quota: cpus                                        # e.g. 1.5
//	  ram_gb: {field: memory_mib, divide: 1024, round: 1}    # MiB -> GiB, one decimal
//	  disk_gb: {field: disk_mib, divide: 1024, round: 0}
//	  owner_login: owner
//	  application: app
//	  environment: {field: env, map: {prod: PRODUCTION, test: TEST}, default: OTHER}
//	  cost_center: label:cost-center                         # one label's value
//	  state: {field: status, map: {running: online, stopped: offline}}
//	  asset_class: {const: vm}                               # a constant (text, number, true/false, null)
//	  commissioned: {time: created}
//	  last_change: {time: changed}
//
//	# a removed container's row is never deleted: column takes value (in
//	# place of its mapping) and time_column the removal time (NULL while the
//	# container exists); at least one of the two is required
//	decommission:
//	  column: state
//	  value: retired
//	  time_column: retired_on
//
//	# a unique column whose value comes back on another container (ipam
//	# gives a name its IP back after remove + create): "error" (the default)
//	# stops the sync with an error naming both rows' keys, the column and
//	# the value; "release_decommissioned" clears the column (NULL) on the
//	# other row if it is a decommissioned fatbox row, and writes on
//	on_unique_conflict: release_decommissioned
//
// Fields: id, name, hostname, ip, mac, node, pool, image, image_id, cpuset,
// vcpus, cpus, memory_mib, disk_mib, swap_mib, owner, app, env, labels (all
// of them as a JSON object), label:<key>, status, created_at, updated_at.
// status is running or stopped (a change under way shows the state it
// leaves until its event), and "removed" for a removed container (the
// decommission value replaces it in decommission.column). Times: created
// (the record's creation), changed (the container's last event), removed
// (its removal; NULL before).
//
// Transforms run in this order: multiply, divide, round (decimals, half away
// from zero), map (value -> replacement; words it does not name pass through
// unchanged, or become default), format (one %s; %% for a percent sign).
//
// Values: times are written in UTC, cut (never rounded) to the column's
// fractional digits; a number goes into DECIMAL with the column's scale; an
// empty text is NULL where the column allows it (” elsewhere), so a UNIQUE
// ip column takes any number of containers without an address.
//
// # The check at start
//
// Before anything is written the mapping is checked against the live table
// (information_schema.TABLES, COLUMNS, STATISTICS), and every problem is
// reported at once in a *MappingError, each with its fix (the ALTER TABLE
// that would do): a missing column (with a near name, "did you mean"); a type
// that cannot hold the value (text into INT or DECIMAL, a number with
// decimals into INT, a too-short VARCHAR for a value of known length such as
// the 36-character id or a 15-character IPv4 address, an ENUM that lacks a
// word the mapping writes, a time into a non-time column, NULL into NOT
// NULL); a required column (NOT NULL, no default, not auto-increment, not
// generated) left unmapped; a key column without a unique index of its own;
// a table without transactions. A column shorter than a free-text field may
// be (owner 128, a label 255 characters) is only a warning (Warnings): it
// works until a longer value comes, which stops the sync with an error that
// names the container, the column and the value. Identifiers are quoted
// after they were found in information_schema; values are always sent as
// arguments (server-side prepared statements), never in the SQL text.
//
// # Exactly once, crash-safe
//
// A row is a function of its container's state: writing it again changes
// nothing, and a pass writes only the columns that differ. The position (the
// last event applied) lives in the target database, in PositionTable, one
// row per target, and is written in the same SQL transaction as the rows it
// covers; the transaction locks that row first, so two daemons syncing one
// target take turns. A process killed at any instant either committed rows
// and position together or neither: the next pass resumes at the stored
// position, skipping nothing and applying nothing twice.
//
// Incremental pass (SyncOnce, Run when notified or polling): the events
// after the position in batches (BatchSize a transaction), each container's
// newest state in the batch; a removed container's row is decommissioned.
//
// Full reconcile (Reconcile; Run at start and every ReconcileInterval):
// every record, and every removed container the event log still knows,
// against the rows with those keys: missing rows inserted, differing ones
// updated, rows of removed containers decommissioned. A difference the log
// does not explain (a row edited by hand, a record changed without an event)
// is a repair: the plan and the log name each repaired column, what it was
// and what it became. A record whose change is under way (creating,
// stopping, removing) keeps its row as its last event left it. Rows whose key
// fatbox never issued (real VMs in the same table) are never written; a key
// counts as fatbox's when it is the key format around a fatbox id (a UUID v7,
// or v5 for records older than ids). DryRun is a reconcile in a read-only
// transaction: its Plan lists the exact rows it would insert, update and
// decommission, with each column before and after (Plan.WriteText, or JSON).
//
// Run retries a failed pass (database down, a write refused, a table changed
// under a mapping) with a backoff doubling from MinBackoff to MaxBackoff;
// the mapping is checked again before the next try. Status shows it:
// connected, the last error and success, position, the source's newest
// event and the lag between them, the last full reconcile and its repairs.
//
// # The default schema
//
// A company without a CMDB uses the default mapping (Config.Mapping nil, or
// DefaultMapping) into DefaultTable, which the sync creates itself: the DDL
// ships embedded (schema/NNNN_*.sql) and Migrate applies the files not yet
// recorded in MigrationsTable, in order, under a named lock; applying twice
// is a no-op. The runner is this package's own, not golang-migrate or goose:
// for one table it is the core of what they do (a version table, a lock,
// files in order), without their drivers, DSN handling and dependency trees.
//
// Privileges: SELECT, INSERT, UPDATE on the table and PositionTable (never
// DELETE); CREATE for PositionTable (or a DBA runs PositionTableDDL once)
// and, for the default schema, for DefaultTable and MigrationsTable.
//
// # Billing
//
// Biller (billing*.go) writes one usage row per container per period into
// BillingTable (default DDL in billing_schema/, migrated like the default
// schema), exactly once: the watermark (BillingWatermarkTable) moves in the
// rows' transaction, and rows are plain INSERTs, so a duplicate is an
// error, never an overwrite. BillingConfig.Mapping (LoadBillingMapping;
// the daemon's `billing: mapping:`) writes them into an existing table
// instead, in the mapping format above with these differences:
//
//   - the fields are the billing row's (BillingFieldNames): container_id,
//     name, period_start, period_end, billed_at (times); vcpu_hours,
//     memory_gib_hours, disk_gib_hours, cpu_seconds (numbers with 6
//     decimals); net_bytes_in, net_bytes_out (integers); late (0 or 1).
//     The transforms are the same (multiply, divide, round, map with
//     default, format) and const; there is no time source.
//   - the key is two columns: key.column takes the container id through
//     key.format, key.period the period's start. The table must have a
//     UNIQUE index (or primary key) over exactly those two columns.
//   - no decommission and no on_unique_conflict: rows are only inserted.
//
// For example, a table keeping vCPU-hours in DECIMAL(10,2) and memory in
// MiB-hours:
//
//	table: usage_hourly
//	key: {column: vm_ref, format: "FB-%s", period: hour_start}
//	columns:
//	  hour_end: period_end
//	  vm_name: name
//	  cpu: {field: vcpu_hours, round: 2}
//	  mem_mib_hours: {field: memory_gib_hours, multiply: 1024}
//	  disk_gib_h: disk_gib_hours
//	  cpu_sec: cpu_seconds
//	  rx: net_bytes_in
//	  tx: net_bytes_out
//	  flag: {field: late, map: {"0": ok, "1": late}}
//	  origin: {const: fatbox}
//	  written: billed_at
//
// The mapping is checked against information_schema before anything is
// written, the billing tables included: one that does not fit is a
// *MappingError with every problem and its fix, and nothing is billed until
// it fits (the check sizes number columns for periods of up to a day; a
// larger value that does not fit its column stops the pass, nothing
// written). The watermark stays in BillingWatermarkTable, in the same
// database (the migration also creates an empty BillingTable there).
//
// # Crash-test hook
//
// Config.AfterCommit is called right after each commit of rows and
// position. For the end-to-end test that kills the daemon there, the daemon
// sets it from the environment:
//
//	hook, err := cmdbsync.AfterCommitFailpoint(os.Getenv(cmdbsync.FailpointEnv), os.Getenv(cmdbsync.FailpointMarkEnv), log)
//
// FATBOX_CMDB_FAILPOINT=after-commit (or after-commit:N, the first commit at
// position N or later) writes the marker file FATBOX_FAILPOINT_MARK
// ("after-commit <seq> <pid>") and blocks for good; the test waits for the
// marker, kills -9, restarts the daemon and checks the rows.
package cmdbsync
