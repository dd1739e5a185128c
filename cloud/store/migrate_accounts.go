package store

import (
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// migrateAccounts is migration 202612051200-accounts: the tables of users,
// identities, sessions, passwords, one-time tokens, teams, members, invites
// and API keys, then the backfill of the existing tenants' owners.
func migrateAccounts(tx *gorm.DB) error {
	ts, boolean := "timestamptz", "boolean"
	if tx.Dialector.Name() == "sqlite" {
		ts, boolean = "datetime", "numeric"
	}
	ddl := strings.NewReplacer("{ts}", ts, "{bool}", boolean)
	stmts := make([]string, len(accountsSchema))
	for i, s := range accountsSchema {
		stmts[i] = ddl.Replace(s)
	}
	if err := execAll(tx, stmts...); err != nil {
		return err
	}
	// Every owner of a tenant is a user of the web app: a "webapp"
	// identity whose subject is the owner id, and a personal team.
	var owners []struct {
		OwnerID    string
		OwnerEmail string
		CreatedAt  time.Time
	}
	if err := tx.Table("tenants").Select("owner_id, owner_email, created_at").Order("created_at, owner_id").Scan(&owners).Error; err != nil {
		return fmt.Errorf("reading the tenants' owners: %w", err)
	}
	for _, o := range owners {
		userID, teamID := newID(UserIDPrefix), newID(TeamIDPrefix)
		email := o.OwnerEmail
		if len(email) > 254 {
			email = ""
		}
		at := o.CreatedAt
		rows := []struct {
			table string
			row   map[string]any
		}{
			{"users", map[string]any{"id": userID, "email": email, "email_verified": false, "name": "", "avatar_url": "", "lang": "",
				"platform_admin": false, "created_at": at, "updated_at": at}},
			{"identities", map[string]any{"id": newID(IdentityIDPrefix), "user_id": userID, "provider": ProviderWebApp, "subject": o.OwnerID,
				"issuer": "", "email": email, "email_verified": false, "name": "", "created_at": at}},
			{"teams", map[string]any{"id": teamID, "name": "", "personal": true, "created_at": at, "updated_at": at}},
			{"team_members", map[string]any{"team_id": teamID, "user_id": userID, "role": RoleOwner, "created_at": at}},
		}
		for _, r := range rows {
			if err := tx.Table(r.table).Create(r.row).Error; err != nil {
				return fmt.Errorf("backfilling the user of tenant owner %q (%s): %w", o.OwnerID, r.table, err)
			}
		}
	}
	return nil
}

// accountsSchema is the DDL of migration 202612051200-accounts, frozen
// ({ts} and {bool} are the dialect's time and boolean types).
var accountsSchema = []string{
	`CREATE TABLE users (
		id varchar(40) PRIMARY KEY,
		email varchar(254) NOT NULL DEFAULT '',
		email_verified {bool} NOT NULL DEFAULT false,
		name varchar(255) NOT NULL DEFAULT '',
		avatar_url varchar(1024) NOT NULL DEFAULT '',
		lang varchar(16) NOT NULL DEFAULT '',
		platform_admin {bool} NOT NULL DEFAULT false,
		disabled_at {ts},
		last_sign_in_at {ts},
		created_at {ts},
		updated_at {ts})`,
	`CREATE INDEX idx_users_email ON users (email)`,
	`CREATE TABLE identities (
		id varchar(40) PRIMARY KEY,
		user_id varchar(40) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		provider varchar(32) NOT NULL,
		subject varchar(255) NOT NULL,
		issuer varchar(512) NOT NULL DEFAULT '',
		email varchar(254) NOT NULL DEFAULT '',
		email_verified {bool} NOT NULL DEFAULT false,
		name varchar(255) NOT NULL DEFAULT '',
		created_at {ts},
		last_used_at {ts})`,
	`CREATE UNIQUE INDEX idx_identities_provider_subject ON identities (provider, subject)`,
	`CREATE INDEX idx_identities_issuer_subject ON identities (issuer, subject)`,
	`CREATE INDEX idx_identities_user_id ON identities (user_id)`,
	`CREATE TABLE sessions (
		id varchar(40) PRIMARY KEY,
		hash varchar(64) NOT NULL,
		user_id varchar(40) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		created_at {ts} NOT NULL,
		last_seen_at {ts} NOT NULL,
		expires_at {ts} NOT NULL,
		user_agent varchar(255) NOT NULL DEFAULT '',
		address varchar(64) NOT NULL DEFAULT '')`,
	`CREATE UNIQUE INDEX idx_sessions_hash ON sessions (hash)`,
	`CREATE INDEX idx_sessions_user_id ON sessions (user_id)`,
	`CREATE INDEX idx_sessions_expires_at ON sessions (expires_at)`,
	`CREATE TABLE password_credentials (
		user_id varchar(40) PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
		hash varchar(255) NOT NULL,
		updated_at {ts})`,
	`CREATE TABLE one_time_tokens (
		hash varchar(64) PRIMARY KEY,
		purpose varchar(32) NOT NULL,
		user_id varchar(40) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		email varchar(254) NOT NULL DEFAULT '',
		expires_at {ts} NOT NULL,
		created_at {ts})`,
	`CREATE INDEX idx_one_time_tokens_user_purpose ON one_time_tokens (user_id, purpose)`,
	`CREATE INDEX idx_one_time_tokens_expires_at ON one_time_tokens (expires_at)`,
	`CREATE TABLE teams (
		id varchar(40) PRIMARY KEY,
		name varchar(255) NOT NULL DEFAULT '',
		personal {bool} NOT NULL DEFAULT false,
		created_at {ts},
		updated_at {ts})`,
	`CREATE TABLE team_members (
		team_id varchar(40) NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
		user_id varchar(40) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		role varchar(16) NOT NULL,
		created_at {ts},
		PRIMARY KEY (team_id, user_id))`,
	`CREATE INDEX idx_team_members_user_id ON team_members (user_id)`,
	`CREATE TABLE team_invites (
		id varchar(40) PRIMARY KEY,
		team_id varchar(40) NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
		hash varchar(64) NOT NULL,
		role varchar(16) NOT NULL,
		uses_total integer NOT NULL,
		uses_left integer NOT NULL,
		expires_at {ts} NOT NULL,
		created_by varchar(40) NOT NULL DEFAULT '',
		created_at {ts},
		revoked_at {ts})`,
	`CREATE UNIQUE INDEX idx_team_invites_hash ON team_invites (hash)`,
	`CREATE INDEX idx_team_invites_team_id ON team_invites (team_id)`,
	`CREATE TABLE api_keys (
		id varchar(40) PRIMARY KEY,
		hash varchar(64) NOT NULL,
		name varchar(255) NOT NULL DEFAULT '',
		user_id varchar(40) REFERENCES users (id) ON DELETE CASCADE,
		team_id varchar(40) REFERENCES teams (id) ON DELETE CASCADE,
		scopes text NOT NULL DEFAULT '',
		created_by varchar(40) NOT NULL DEFAULT '',
		expires_at {ts},
		revoked_at {ts},
		last_used_at {ts},
		created_at {ts},
		CHECK ((user_id IS NULL) <> (team_id IS NULL)))`,
	`CREATE UNIQUE INDEX idx_api_keys_hash ON api_keys (hash)`,
	`CREATE INDEX idx_api_keys_user_id ON api_keys (user_id)`,
	`CREATE INDEX idx_api_keys_team_id ON api_keys (team_id)`,
}
