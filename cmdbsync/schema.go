package cmdbsync

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Tables the sync owns in the target database.
const (
	// DefaultTable is the default schema's VM table.
	DefaultTable = "fatbox_vm"
	// MigrationsTable records which default-schema migrations ran.
	MigrationsTable = "fatbox_schema_migrations"
	// PositionTable holds, per target, the last event applied; written in
	// the transaction of the rows.
	PositionTable = "fatbox_sync_position"
)

// PositionTableDDL creates PositionTable. The sync runs it at start; a DBA
// who grants no CREATE may run it once by hand instead.
const PositionTableDDL = `CREATE TABLE IF NOT EXISTS fatbox_sync_position (
  target     VARCHAR(64)     NOT NULL COMMENT 'the sync target (by default the mapped table)',
  seq        BIGINT UNSIGNED NOT NULL COMMENT 'the last inventory event applied to the rows',
  updated_at DATETIME(6)     NOT NULL,
  PRIMARY KEY (target)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`

//go:embed schema/*.sql
var schemaFS embed.FS

// Open opens the target database for the sync from a go-sql-driver/mysql
// DSN ("user:pass@tcp(host:3306)/cmdb"), with the session the sync relies
// on: UTC (time_zone +00:00), strict SQL mode (a value that does not fit is
// an error, never cut), times as text, and found-rows counts. The DSN must
// name the database.
func Open(dsn string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("cmdb DSN: %v (write user:password@tcp(host:3306)/database)", err)
	}
	if cfg.DBName == "" {
		return nil, fmt.Errorf("cmdb DSN names no database: add it after the address, e.g. user@tcp(%s)/cmdb", cfg.Addr)
	}
	cfg.ParseTime = false
	cfg.Loc = time.UTC
	cfg.ClientFoundRows = true
	cfg.MultiStatements = false
	cfg.InterpolateParams = false
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 60 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 60 * time.Second
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	cfg.Params["sql_mode"] = "CONCAT_WS(',', NULLIF(@@sql_mode, ''), 'STRICT_ALL_TABLES')"
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("cmdb DSN: %v", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(2)
	db.SetConnMaxIdleTime(time.Minute)
	return db, nil
}

// Migrate brings the default schema (DefaultTable) up to date in db's
// database and returns the migrations it applied. Each migration runs once:
// MigrationsTable records it, so applying twice does nothing; a named lock
// keeps two fatbox daemons from migrating at once.
func Migrate(ctx context.Context, db *sql.DB) ([]string, error) {
	return migrate(ctx, db, schemaFS, "schema")
}

type migration struct {
	version int
	name    string
	file    string
}

func migrate(ctx context.Context, db *sql.DB, fsys fs.FS, dir string) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name it NNNN_what.sql", e.Name())
		}
		ms = append(ms, migration{v, strings.TrimSuffix(e.Name(), ".sql"), path.Join(dir, e.Name())})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })

	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 60)", MigrationsTable).Scan(&got); err != nil {
		return nil, err
	}
	if got.Int64 != 1 {
		return nil, fmt.Errorf("another process holds the schema migration lock %q for over 60 s: retry later", MigrationsTable)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK(?)", MigrationsTable) //nolint:errcheck
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS fatbox_schema_migrations (
  version    INT UNSIGNED NOT NULL,
  name       VARCHAR(255) NOT NULL,
  applied_at DATETIME(6)  NOT NULL,
  PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`); err != nil {
		return nil, fmt.Errorf("create %s: %w", MigrationsTable, err)
	}
	done := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM fatbox_schema_migrations")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, err
		}
		done[v] = true
	}
	rows.Close()
	var applied []string
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		b, err := fs.ReadFile(fsys, m.file)
		if err != nil {
			return applied, err
		}
		for _, stmt := range splitSQL(string(b)) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return applied, fmt.Errorf("migration %s: %w (DDL is not transactional in MySQL: the migration's statements are written to be run again, so fix the cause and retry)", m.name, err)
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO fatbox_schema_migrations (version, name, applied_at) VALUES (?, ?, UTC_TIMESTAMP(6))", m.version, m.name); err != nil {
			return applied, fmt.Errorf("migration %s: record it: %w", m.name, err)
		}
		applied = append(applied, m.name)
	}
	return applied, nil
}

// splitSQL splits a migration into statements: each ends with ';' at the
// end of a line; lines starting with "--" are comments.
func splitSQL(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") || (t == "" && cur.Len() == 0) {
			continue
		}
		cur.WriteString(line + "\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}
