package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// The schema is the result of an ordered, append-only list of migrations,
// each run once and recorded by its ID in migrationsTable. Rules:
//   - Never AutoMigrate, and never use the live models (Host, Tenant, …) in a
//     migration: a migration must do the same thing forever, and the models
//     change. Write the SQL, or a frozen copy of the model inside the
//     migration.
//   - Never edit or reorder a migration that is on main; append a new one.
//   - A migration runs the same on SQLite and PostgreSQL: use SQL both accept,
//     or branch on tx.Dialector.Name() where they differ.
//   - Never write a migration that needs foreign keys switched off (SQLite
//     cannot switch them inside the transaction the migrations run in).
//
// docs/store.md says how to add one.
const migrationsTable = "schema_migrations"

// migrations is the list; append to it.
func migrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{
		{
			// The schema of commit b1fbd52, the last one AutoMigrate made. An
			// empty database gets it whole; a database AutoMigrate made
			// already has every table (no commit ever added a column to an
			// existing table), so only what is missing is created.
			ID: "202611260000-initial-schema",
			Migrate: func(tx *gorm.DB) error {
				return createMissingTables(tx, &v1Host{}, &v1EnrollmentToken{}, &v1AuditEvent{}, &v1Setting{},
					&v1Tenant{}, &v1HostDesired{}, &v1TunnelAddress{}, &v1AccessGrant{}, &v1RouterSession{})
			},
		},
		{
			// Before commit e47cce8, (host_id, port) was unique over every
			// tenant, so only one tenant could be unplaced ("", 0); now it is
			// unique only among placed ones. A no-op on the databases of
			// e47cce8 and later.
			ID: "202611260001-tenant-port-unique-among-placed",
			Migrate: func(tx *gorm.DB) error {
				return execAll(tx,
					`CREATE UNIQUE INDEX IF NOT EXISTS idx_tenants_placed_port ON tenants (host_id, port) WHERE host_id <> ''`,
					`DROP INDEX IF EXISTS idx_tenants_host_port`)
			},
		},
		{
			// Which pool a host serves and what it is credited with are the
			// operator's word, stored on the host from its enrollment token
			// (or pre-registration), never taken from the agent. Every host
			// of before was placed like a worker of one pool, so it stays one.
			ID: "202612040900-host-kind-pool-caps",
			Migrate: func(tx *gorm.DB) error {
				return execAll(tx,
					`ALTER TABLE hosts ADD COLUMN kind varchar(16) NOT NULL DEFAULT 'worker'`,
					`ALTER TABLE hosts ADD COLUMN pool varchar(63) NOT NULL DEFAULT 'shared'`,
					`ALTER TABLE hosts ADD COLUMN max_cpu_millis bigint NOT NULL DEFAULT 0`,
					`ALTER TABLE hosts ADD COLUMN max_memory_bytes bigint NOT NULL DEFAULT 0`,
					`ALTER TABLE enrollment_tokens ADD COLUMN pool varchar(63) NOT NULL DEFAULT 'shared'`,
					`ALTER TABLE enrollment_tokens ADD COLUMN max_cpu_millis bigint NOT NULL DEFAULT 0`,
					`ALTER TABLE enrollment_tokens ADD COLUMN max_memory_bytes bigint NOT NULL DEFAULT 0`)
			},
		},
		{
			// Factory batches and their boxes: a box's place in its batch
			// (unique, what makes registering a batch again idempotent) and
			// the keyed hash of its claim code, with the owner a claim will
			// record.
			ID: "202612041000-factory-batches",
			Migrate: func(tx *gorm.DB) error {
				// Frozen: the tables as this migration creates them.
				type batch struct {
					ID        string `gorm:"primaryKey;size:63"`
					Model     string `gorm:"size:64;not null"`
					CreatedBy string `gorm:"size:255"`
					CreatedAt time.Time
					RevokedAt *time.Time
				}
				type box struct {
					DeviceID      string    `gorm:"primaryKey;size:80"`
					BatchID       string    `gorm:"size:63;not null;uniqueIndex:idx_boxes_batch_index,priority:1"`
					BatchIndex    int       `gorm:"not null;uniqueIndex:idx_boxes_batch_index,priority:2"`
					ClaimCodeHash string    `gorm:"size:64;not null"`
					ClaimCodeAt   time.Time `gorm:"not null"`
					OwnerTeamID   string    `gorm:"size:40;not null;default:'';index"`
					ClaimedBy     string    `gorm:"size:128;not null;default:''"`
					ClaimedAt     *time.Time
					CreatedAt     time.Time
				}
				if err := tx.Table("batches").Migrator().CreateTable(&batch{}); err != nil {
					return err
				}
				return tx.Table("boxes").Migrator().CreateTable(&box{})
			},
		},
		{
			// Accounts (issue 9): users, their identities (provider, subject)
			// and sessions, local passwords, one-time tokens, teams with
			// members and invites, and API keys. Every user has a personal
			// team. The owners of existing tenants (ids given by the web app
			// or its SSO) become users with a "webapp" identity whose
			// subject is the owner id, so the web app's users and the same
			// people in the console are one user each.
			ID: "202612051200-accounts",
			Migrate: func(tx *gorm.DB) error {
				return migrateAccounts(tx)
			},
		},
		{
			// A user's boxes are looked up on every tenant they create
			// (their instance goes to their box).
			ID: "202612051300-boxes-claimed-by",
			Migrate: func(tx *gorm.DB) error {
				return execAll(tx, `CREATE INDEX IF NOT EXISTS idx_boxes_claimed_by ON boxes (claimed_by)`)
			},
		},
		{
			// Team tenancy (issue 9): a team owns its tenants (team_id), the
			// owner's personal team for every tenant of before; a tenant
			// made on a team's routes is shared (not its creator's
			// /api/tenants/me), so one user is the owner of one unshared
			// tenant only, and of any number of shared ones.
			ID: "202612051310-tenant-teams",
			Migrate: func(tx *gorm.DB) error {
				boolean := "boolean"
				if tx.Dialector.Name() == "sqlite" {
					boolean = "numeric"
				}
				return execAll(tx,
					`ALTER TABLE tenants ADD COLUMN team_id varchar(40) NOT NULL DEFAULT ''`,
					`ALTER TABLE tenants ADD COLUMN shared `+boolean+` NOT NULL DEFAULT false`,
					`UPDATE tenants SET team_id = COALESCE((SELECT tm.team_id FROM team_members tm JOIN teams t ON t.id = tm.team_id
						WHERE t.personal AND tm.role = 'owner' AND (tm.user_id = tenants.owner_id OR tm.user_id IN
							(SELECT i.user_id FROM identities i WHERE i.provider = 'webapp' AND i.subject = tenants.owner_id))
						ORDER BY tm.team_id LIMIT 1), '')`,
					`DROP INDEX IF EXISTS idx_tenants_owner_id`,
					`CREATE UNIQUE INDEX idx_tenants_owner_personal ON tenants (owner_id) WHERE NOT shared`,
					`CREATE INDEX idx_tenants_team_id ON tenants (team_id)`)
			},
		},
		{
			// A reissued claim code (reprint, reset with a fresh code) is
			// kept sealed until the box is claimed, so a box that was
			// offline across a cloud restart still learns it when it
			// registers (retained messages do not survive a restart).
			ID: "202612061000-boxes-pending-claim-code",
			Migrate: func(tx *gorm.DB) error {
				return execAll(tx, `ALTER TABLE boxes ADD COLUMN pending_claim_code varchar(200) NOT NULL DEFAULT ''`)
			},
		},
		{
			// Adopted gateways (containers made before clawfleet, e.g. by
			// Portainer): the container a tenant took over, at most one
			// tenant per container of a host, and the auth mode it keeps.
			ID: "202612071000-tenant-adopted-containers",
			Migrate: func(tx *gorm.DB) error {
				return execAll(tx,
					`ALTER TABLE tenants ADD COLUMN container varchar(64) NOT NULL DEFAULT ''`,
					`ALTER TABLE tenants ADD COLUMN auth varchar(16) NOT NULL DEFAULT ''`,
					`CREATE UNIQUE INDEX idx_tenants_host_container ON tenants (host_id, container) WHERE container <> ''`)
			},
		},
		{
			// Usage charts (issue 9): a sample per tenant per minute (CPU
			// rate, memory, disk), kept 24 hours; pruned by time.
			ID: "202612081000-usage-samples",
			Migrate: func(tx *gorm.DB) error {
				// Frozen: the table as this migration creates it.
				type usageSample struct {
					TenantID      string    `gorm:"primaryKey;size:80"`
					At            time.Time `gorm:"primaryKey"`
					CPUMillicores int64     `gorm:"not null"`
					MemoryBytes   int64     `gorm:"not null"`
					DiskBytes     int64     `gorm:"not null"`
				}
				if err := tx.Table("usage_samples").Migrator().CreateTable(&usageSample{}); err != nil {
					return err
				}
				return execAll(tx, `CREATE INDEX idx_usage_samples_at ON usage_samples (at)`)
			},
		},
	}
}

// migrate brings the database to the newest schema, in one transaction: a
// failing step leaves the database as it was.
func migrate(ctx context.Context, db *gorm.DB) error {
	ms := migrations()
	for _, m := range ms {
		step, id := m.Migrate, m.ID
		m.Migrate = func(tx *gorm.DB) error {
			if err := step(tx); err != nil {
				return fmt.Errorf("migrating to %s: %w", id, err)
			}
			return nil
		}
	}
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if tx.Dialector.Name() == "postgres" {
			// Two clouds starting at once on one database migrate one
			// after the other (SQLite's immediate transactions already do).
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrationLockKey).Error; err != nil {
				return fmt.Errorf("locking for migrations: %w", err)
			}
		}
		// Created here, not by gormigrate's AutoMigrate of its own model.
		if err := tx.Exec("CREATE TABLE IF NOT EXISTS " + migrationsTable + " (id varchar(255) PRIMARY KEY)").Error; err != nil {
			return fmt.Errorf("creating %s: %w", migrationsTable, err)
		}
		if err := refuseUnknownMigrations(tx, ms); err != nil {
			return err
		}
		return gormigrate.New(tx, &gormigrate.Options{TableName: migrationsTable, IDColumnName: "id", IDColumnSize: 255}, ms).Migrate()
	})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// migrationLockKey is an arbitrary constant naming the advisory lock.
const migrationLockKey = 0x636c61776d6967 // "clawmig"

// refuseUnknownMigrations stops an older cloud from running on a schema a
// newer one made: it would not know what the newer migrations changed.
func refuseUnknownMigrations(tx *gorm.DB, ms []*gormigrate.Migration) error {
	var done []string
	if err := tx.Table(migrationsTable).Order("id").Pluck("id", &done).Error; err != nil {
		return fmt.Errorf("reading %s: %w", migrationsTable, err)
	}
	var unknown []string
	for _, id := range done {
		if !slices.ContainsFunc(ms, func(m *gormigrate.Migration) bool { return m.ID == id }) {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("the database was migrated by a newer clawfleet-cloud (migrations %s are unknown to this one): run that version or a newer one", strings.Join(unknown, ", "))
	}
	return nil
}

func createMissingTables(tx *gorm.DB, models ...any) error {
	m := tx.Migrator()
	for _, model := range models {
		if m.HasTable(model) {
			continue
		}
		if err := m.CreateTable(model); err != nil {
			return fmt.Errorf("creating table %s: %w", model.(interface{ TableName() string }).TableName(), err)
		}
	}
	return nil
}

func execAll(tx *gorm.DB, stmts ...string) error {
	for _, s := range stmts {
		if err := tx.Exec(s).Error; err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// Frozen copies of the models of commit b1fbd52, for the initial schema
// only: their tags decide the tables' DDL and must never change. JSON
// columns are plain text here.

type v1Host struct {
	ID            string `gorm:"primaryKey;size:80"`
	Name          string `gorm:"size:255"`
	SecretHash    string `gorm:"size:64;not null"`
	Status        string `gorm:"size:16;not null;index"`
	LastHeartbeat *time.Time
	RegisteredAt  *time.Time
	Hostname      string `gorm:"size:255"`
	AgentVersion  string `gorm:"size:64"`
	OS            string `gorm:"size:32"`
	Arch          string `gorm:"size:32"`
	CPUs          int    `gorm:"not null;default:0"`
	MemTotalBytes uint64 `gorm:"not null;default:0"`
	WGPublicKey   string `gorm:"size:64"`
	Labels        string
	Capabilities  string
	Metrics       string
	EnrolledWith  string `gorm:"size:40"`
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

type v1EnrollmentToken struct {
	ID         string `gorm:"primaryKey;size:40"`
	Hash       string `gorm:"size:64;not null;uniqueIndex"`
	Labels     string
	UsesTotal  int       `gorm:"not null"`
	UsesLeft   int       `gorm:"not null"`
	ExpiresAt  time.Time `gorm:"not null"`
	RevokedAt  *time.Time
	LastUsedAt *time.Time
	CreatedBy  string `gorm:"size:255"`
	CreatedAt  time.Time
}

type v1AuditEvent struct {
	ID     uint      `gorm:"primaryKey"`
	At     time.Time `gorm:"not null;index"`
	Actor  string    `gorm:"size:255;not null"`
	Action string    `gorm:"size:64;not null"`
	Target string    `gorm:"size:255"`
	Detail string    `gorm:"size:1024"`
}

type v1Setting struct {
	Key       string `gorm:"primaryKey;size:64"`
	Value     string `gorm:"size:1024;not null"`
	UpdatedAt time.Time
}

type v1Tenant struct {
	ID              string `gorm:"primaryKey;size:80"`
	Slug            string `gorm:"size:63;not null;uniqueIndex"`
	OwnerID         string `gorm:"size:128;not null;uniqueIndex"`
	OwnerEmail      string `gorm:"size:254"`
	Name            string `gorm:"size:255"`
	Plan            string `gorm:"size:32;not null"`
	Status          string `gorm:"size:16;not null;index"`
	DesiredState    string `gorm:"size:16;not null"`
	RestartGen      int64  `gorm:"not null;default:0"`
	HostID          string `gorm:"size:80;not null;uniqueIndex:idx_tenants_placed_port,priority:1,where:host_id <> ''"`
	Port            int    `gorm:"not null;uniqueIndex:idx_tenants_placed_port,priority:2,where:host_id <> ''"`
	GatewayTokenEnc string `gorm:"size:512;not null"`
	CPUMillis       int    `gorm:"not null"`
	MemoryBytes     int64  `gorm:"not null"`
	DiskBytes       int64  `gorm:"not null"`
	PidsLimit       int    `gorm:"not null"`
	Image           string `gorm:"size:255"`
	PublishedRev    int64  `gorm:"not null;default:0"`
	LastError       string `gorm:"size:2048"`
	RunningAt       *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

type v1HostDesired struct {
	HostID        string `gorm:"primaryKey;size:80"`
	Revision      int64  `gorm:"not null;default:0"`
	AckedRevision int64  `gorm:"not null;default:0"`
	Purge         string
	UpdatedAt     time.Time
}

type v1TunnelAddress struct {
	ID          uint       `gorm:"primaryKey"`
	HostID      string     `gorm:"size:80;not null;uniqueIndex"`
	Address     string     `gorm:"size:64;not null;uniqueIndex"`
	AllocatedAt time.Time  `gorm:"not null"`
	ReleasedAt  *time.Time `gorm:"index"`
}

type v1AccessGrant struct {
	Hash      string    `gorm:"primaryKey;size:64"`
	TenantID  string    `gorm:"size:80;not null;index"`
	UserID    string    `gorm:"size:128;not null"`
	ExpiresAt time.Time `gorm:"not null;index"`
	UsedAt    *time.Time
	CreatedAt time.Time
}

type v1RouterSession struct {
	Hash       string    `gorm:"primaryKey;size:64"`
	TenantID   string    `gorm:"size:80;not null;index"`
	UserID     string    `gorm:"size:128;not null"`
	ExpiresAt  time.Time `gorm:"not null;index"`
	CreatedAt  time.Time
	RevokedAt  *time.Time
	RemoteAddr string `gorm:"size:64"`
}

func (v1Host) TableName() string            { return "hosts" }
func (v1EnrollmentToken) TableName() string { return "enrollment_tokens" }
func (v1AuditEvent) TableName() string      { return "audit_events" }
func (v1Setting) TableName() string         { return "settings" }
func (v1Tenant) TableName() string          { return "tenants" }
func (v1HostDesired) TableName() string     { return "host_desireds" }
func (v1TunnelAddress) TableName() string   { return "tunnel_addresses" }
func (v1AccessGrant) TableName() string     { return "access_grants" }
func (v1RouterSession) TableName() string   { return "router_sessions" }
