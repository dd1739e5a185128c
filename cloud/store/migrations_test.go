package store_test

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// rawOpen opens the database cfg names without the store (no migrations).
func rawOpen(t *testing.T, cfg store.Config) *gorm.DB {
	t.Helper()
	dial := postgres.Open(cfg.DatabaseURL)
	if cfg.DatabaseURL == "" {
		dial = sqlite.Open("file:" + filepath.Join(cfg.DataDir, "clawfleet.db"))
	}
	db, err := gorm.Open(dial, &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	return db
}

// schemaName is the PostgreSQL schema a backend's cfg uses ("" for SQLite).
func schemaName(t *testing.T, cfg store.Config) string {
	if cfg.DatabaseURL == "" {
		return ""
	}
	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("search_path")
}

// loadB1fbd52 fills a fresh database with the dump of one that the code of
// commit b1fbd52 made and filled (testdata/b1fbd52).
func loadB1fbd52(t *testing.T, b backend) store.Config {
	t.Helper()
	cfg, cleanup := b.open(t)
	t.Cleanup(cleanup)
	dump, err := os.ReadFile(filepath.Join("testdata", "b1fbd52", b.name+".sql"))
	if err != nil {
		t.Fatal(err)
	}
	script := string(dump)
	if schema := schemaName(t, cfg); schema != "" {
		// The dump names its schema; the backend made a fresh one.
		var keep []string
		for _, line := range strings.Split(script, "\n") {
			if strings.HasPrefix(line, `\`) || strings.HasPrefix(line, "CREATE SCHEMA ") {
				continue // psql meta-commands; the schema exists
			}
			keep = append(keep, line)
		}
		script = strings.ReplaceAll(strings.Join(keep, "\n"), "clawfleet_b1fbd52.", schema+".")
	} else if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := rawOpen(t, cfg).Exec(script).Error; err != nil {
		t.Fatalf("loading the b1fbd52 dump: %v", err)
	}
	return cfg
}

// tables lists the database's tables, sorted.
func tables(t *testing.T, db *gorm.DB) []string {
	t.Helper()
	var names []string
	q := "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1"
	if db.Dialector.Name() == "sqlite" {
		q = "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence' ORDER BY 1"
	}
	if err := db.Raw(q).Scan(&names).Error; err != nil {
		t.Fatal(err)
	}
	return names
}

// allRows is every row of every table, by table, in primary key order.
func allRows(t *testing.T, db *gorm.DB) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for _, table := range tables(t, db) {
		var rows []map[string]any
		if err := db.Table(table).Order("1").Find(&rows).Error; err != nil {
			t.Fatalf("rows of %s: %v", table, err)
		}
		out[table] = rows
	}
	return out
}

// schemaOf describes the tables, columns, indexes and constraints, one
// sorted line each, with the PostgreSQL schema's name left out.
func schemaOf(t *testing.T, db *gorm.DB, schema string) []string {
	t.Helper()
	var lines []string
	add := func(q string) {
		rows, err := db.Raw(q).Rows()
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			parts := make([]string, len(vals))
			for i, v := range vals {
				parts[i] = fmt.Sprint(v)
			}
			line := strings.Join(parts, " | ")
			if schema != "" {
				line = strings.ReplaceAll(line, schema+".", "")
			}
			lines = append(lines, line)
		}
	}
	if db.Dialector.Name() == "sqlite" {
		for _, table := range tables(t, db) {
			add(fmt.Sprintf("SELECT '%s', * FROM pragma_table_info('%s')", table, table))
			add(fmt.Sprintf("SELECT '%s', name, \"unique\", origin, partial FROM pragma_index_list('%s')", table, table))
		}
		add("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name <> 'sqlite_sequence'")
	} else {
		add(`SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length, is_nullable, column_default
			FROM information_schema.columns WHERE table_schema = current_schema()`)
		add("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
		add(`SELECT table_name, constraint_name, constraint_type FROM information_schema.table_constraints
			WHERE table_schema = current_schema() AND constraint_type <> 'CHECK'`)
		add("SELECT sequence_name, data_type FROM information_schema.sequences WHERE sequence_schema = current_schema()")
	}
	slices.Sort(lines)
	return lines
}

// TestMigrateB1fbd52Database: a database the code of commit b1fbd52 made,
// with rows in every table, is adopted without losing or changing a row,
// its sequences go on where they were, the store reads it, and migrating
// it again changes nothing.
func TestMigrateB1fbd52Database(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := loadB1fbd52(t, b)
			raw := rawOpen(t, cfg)
			before := allRows(t, raw)
			if len(before) != 9 {
				t.Fatalf("the dump has tables %v, want b1fbd52's nine", tables(t, raw))
			}
			for table, rows := range before {
				if len(rows) == 0 {
					t.Fatalf("the dump has no row in %s", table)
				}
			}

			s, err := store.Open(ctx, cfg)
			if err != nil {
				t.Fatalf("opening b1fbd52's database: %v", err)
			}
			// A new connection: PostgreSQL's cached plans of the old
			// connection do not fit the migrated tables.
			raw = rawOpen(t, cfg)
			after := allRows(t, raw)
			if _, ok := after["schema_migrations"]; !ok {
				t.Fatal("no schema_migrations table after migrating")
			}
			delete(after, "schema_migrations")
			// Every old row is kept as it was; the columns added to old
			// tables since hold what old rows are given.
			for table, cols := range addedColumns {
				for _, row := range after[table] {
					for col, want := range cols {
						if got := fmt.Sprint(row[col]); got != want && want != anyValue {
							t.Fatalf("%s.%s of an old row = %q, want %q", table, col, got, want)
						}
						delete(row, col)
					}
				}
			}
			for table, rows := range before {
				if !reflect.DeepEqual(rows, after[table]) {
					t.Fatalf("rows of %s changed by migrating:\nbefore %v\nafter  %v", table, rows, after[table])
				}
			}

			// The store reads what the old code wrote.
			hosts, err := s.ListHosts(ctx)
			if err != nil || len(hosts) != 2 {
				t.Fatalf("hosts = %v, %v", hosts, err)
			}
			h, err := s.GetHost(ctx, "dev_host00000001")
			if err != nil || h.Labels["zone"] != "a" || !h.Capabilities.Docker || h.Metrics.CPUPercent != 12.5 || h.Status != store.HostOnline ||
				h.Kind != store.HostWorker || h.Pool != store.DefaultPool {
				t.Fatalf("host = %+v, %v", h, err)
			}
			tn, err := s.GetTenantBySlug(ctx, "alpha")
			if err != nil || tn.Port != 20000 || tn.RestartGen != 2 || tn.RunningAt == nil {
				t.Fatalf("tenant = %+v, %v", tn, err)
			}
			d, err := s.GetHostDesired(ctx, "dev_host00000001")
			if err != nil || d.Revision != 2 || d.AckedRevision != 1 || !slices.Equal(d.Purge, []string{"ten_dddddddddddd"}) {
				t.Fatalf("desired = %+v, %v", d, err)
			}
			fixtureTime := time.Date(2026, 11, 26, 12, 5, 0, 0, time.UTC)
			if sess, err := s.GetRouterSession(ctx, strings.Repeat("7", 64), fixtureTime); err != nil || sess.UserID != "user-a" {
				t.Fatalf("router session = %+v, %v", sess, err)
			}
			if v, err := s.GetSetting(ctx, "heartbeat_interval"); err != nil || v != "30s" {
				t.Fatalf("setting = %q, %v", v, err)
			}
			// Sequences go on after the old rows; a second unplaced tenant
			// fits (the partial port index is there).
			if err := s.AddAudit(ctx, &store.AuditEvent{Actor: "admin", Action: "after.migration"}); err != nil {
				t.Fatal(err)
			}
			if es, err := s.ListAudit(ctx, 1); err != nil || len(es) != 1 || es[0].ID != 4 {
				t.Fatalf("newest audit event = %+v, %v; want id 4", es, err)
			}
			if _, err := s.AllocateTunnelAddress(ctx, "dev_host00000003", netip.MustParsePrefix("100.96.0.0/24"), netip.MustParseAddr("100.96.0.1")); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateTenant(ctx, newTenant("ten_eeeeeeeeeeee", "user-e", "echo", "", 0)); err != nil {
				t.Fatalf("a second unplaced tenant: %v", err)
			}
			s.Close()

			// Migrating again is a no-op.
			schema := schemaName(t, cfg)
			wantSchema, wantRows := schemaOf(t, raw, schema), allRows(t, raw)
			s, err = store.Open(ctx, cfg)
			if err != nil {
				t.Fatalf("reopening: %v", err)
			}
			s.Close()
			if got := schemaOf(t, raw, schema); !slices.Equal(got, wantSchema) {
				t.Fatalf("second migration changed the schema:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantSchema, "\n"))
			}
			if got := allRows(t, raw); !reflect.DeepEqual(got, wantRows) {
				t.Fatalf("second migration changed rows:\n%v\nwant\n%v", got, wantRows)
			}
		})
	}
}

// addedColumns are the columns migrations added to b1fbd52's tables, with
// the value each old row gets: every host of before was placed like a
// worker of one pool, with no caps.
// Tenants' team (the owner's personal team, made by the migration) and
// shared flag (a boolean of the dialect) are checked by
// TestMigrationTenantTeams.
var addedColumns = map[string]map[string]string{
	"hosts":             {"kind": "worker", "pool": "shared", "max_cpu_millis": "0", "max_memory_bytes": "0"},
	"enrollment_tokens": {"pool": "shared", "max_cpu_millis": "0", "max_memory_bytes": "0"},
	"tenants":           {"team_id": anyValue, "shared": anyValue, "container": "", "auth": ""},
}

// anyValue in addedColumns: a value another test checks.
const anyValue = "*"

// TestFreshAndMigratedSchemasMatch: an empty database migrated from
// scratch ends with the same schema as b1fbd52's database migrated.
func TestFreshAndMigratedSchemasMatch(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			var got [2][]string
			fresh, cleanup := b.open(t)
			t.Cleanup(cleanup)
			for i, cfg := range []store.Config{fresh, loadB1fbd52(t, b)} {
				s, err := store.Open(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				got[i] = schemaOf(t, rawOpen(t, cfg), schemaName(t, cfg))
			}
			if !slices.Equal(got[0], got[1]) {
				t.Fatalf("fresh schema:\n%s\nb1fbd52's migrated:\n%s", strings.Join(got[0], "\n"), strings.Join(got[1], "\n"))
			}
		})
	}
}

// TestMigrationRefusesNewerSchema: a database a newer cloud migrated (a
// migration this one does not know) is not touched.
func TestMigrationRefusesNewerSchema(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg store.Config, s *store.Store) {
		s.Close()
		if err := rawOpen(t, cfg).Exec("INSERT INTO schema_migrations (id) VALUES ('209912310000-from-the-future')").Error; err != nil {
			t.Fatal(err)
		}
		_, err := store.Open(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "newer clawfleet-cloud") || !strings.Contains(err.Error(), "209912310000-from-the-future") {
			t.Fatalf("open = %v, want a refusal naming the unknown migration", err)
		}
	})
}

// TestMigrationFailureNamesStepAndRollsBack: a step that fails is named in
// the error, and the database is left as it was.
func TestMigrationFailureNamesStepAndRollsBack(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			cfg, cleanup := b.open(t)
			t.Cleanup(cleanup)
			if cfg.DataDir != "" {
				if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			raw := rawOpen(t, cfg)
			// A tenants table without the columns the port index needs.
			if err := raw.Exec("CREATE TABLE tenants (id varchar(80) PRIMARY KEY)").Error; err != nil {
				t.Fatal(err)
			}
			_, err := store.Open(context.Background(), cfg)
			if err == nil || !regexp.MustCompile(`migrating to 202611260001-tenant-port-unique-among-placed: .*host_id`).MatchString(err.Error()) {
				t.Fatalf("open = %v, want the failing step named", err)
			}
			if got := tables(t, raw); !slices.Equal(got, []string{"tenants"}) {
				t.Fatalf("tables after a failed migration = %v, want only tenants", got)
			}
		})
	}
}
