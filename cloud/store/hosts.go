package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// CreateHost inserts a host (factory pre-registration or enrollment). A
// host without a kind is a worker, a worker without a pool is in
// DefaultPool.
func CreateHost(tx *gorm.DB, h *Host) error {
	if h.Status == "" {
		h.Status = HostPending
	}
	if h.Kind == "" {
		h.Kind = HostWorker
	}
	if h.Kind == HostWorker && h.Pool == "" {
		h.Pool = DefaultPool
	}
	if err := tx.Create(h).Error; err != nil {
		return fmt.Errorf("store: create host %s: %w", h.ID, mapErr(err))
	}
	return nil
}

// CreateHost inserts a host.
func (s *Store) CreateHost(ctx context.Context, h *Host) error {
	return CreateHost(s.db.WithContext(ctx), h)
}

// GetHost returns one host or ErrNotFound.
func (s *Store) GetHost(ctx context.Context, id string) (*Host, error) {
	var h Host
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&h).Error; err != nil {
		return nil, fmt.Errorf("store: get host %s: %w", id, mapErr(err))
	}
	return &h, nil
}

// ListHosts returns every host ordered by creation.
func (s *Store) ListHosts(ctx context.Context) ([]Host, error) {
	var hs []Host
	if err := s.db.WithContext(ctx).Order("created_at, id").Find(&hs).Error; err != nil {
		return nil, fmt.Errorf("store: list hosts: %w", err)
	}
	return hs, nil
}

// HostSecret is the part of a host the broker's authentication needs.
type HostSecret struct {
	ID         string
	SecretHash string
}

// HostSecrets returns every host's secret hash, to warm the auth cache.
func (s *Store) HostSecrets(ctx context.Context) ([]HostSecret, error) {
	var out []HostSecret
	if err := s.db.WithContext(ctx).Model(&Host{}).Select("id, secret_hash").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: list host secrets: %w", err)
	}
	return out, nil
}

// DeleteHost removes a host and so invalidates its credentials.
func (s *Store) DeleteHost(ctx context.Context, id string) error {
	res := s.db.WithContext(ctx).Where("id = ?", id).Delete(&Host{})
	if res.Error != nil {
		return fmt.Errorf("store: delete host %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: delete host %s: %w", id, ErrNotFound)
	}
	return nil
}

// HostPlacement is the operator's say over what a worker is given: its pool
// and the caps on what it is credited with (0 = no cap).
type HostPlacement struct {
	Pool           string
	MaxCPUMillis   int64
	MaxMemoryBytes int64
}

// SetHostPlacement changes a worker's pool and caps; it returns ErrNotFound
// for an unknown host and ErrNotWorker for a box.
func (s *Store) SetHostPlacement(ctx context.Context, id string, p HostPlacement) (*Host, error) {
	var h Host
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("id = ?", id).Take(&h).Error; err != nil {
			return mapErr(err)
		}
		if h.Kind != HostWorker {
			return ErrNotWorker
		}
		h.Pool, h.MaxCPUMillis, h.MaxMemoryBytes = p.Pool, p.MaxCPUMillis, p.MaxMemoryBytes
		return tx.Model(&Host{}).Where("id = ?", id).Updates(map[string]any{
			"pool": p.Pool, "max_cpu_millis": p.MaxCPUMillis, "max_memory_bytes": p.MaxMemoryBytes, "updated_at": time.Now().UTC()}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("store: set placement of host %s: %w", id, err)
	}
	return &h, nil
}

// RegisterHost stores an agent's self-description (the registration fields
// of h) and marks it online.
func (s *Store) RegisterHost(ctx context.Context, id string, at time.Time, h *Host) error {
	return registerHost(s.db.WithContext(ctx), id, at, h)
}

// Registration is one host's registration, for RegisterHosts.
type Registration struct {
	ID   string
	At   time.Time
	Host *Host
}

// RegisterHosts stores many registrations in one transaction (a fleet
// reconnecting after a cloud restart registers thousands at once; one
// transaction each would queue them in front of everything else). It
// returns the IDs of hosts that do not exist (deleted meanwhile); any other
// failure rolls the whole batch back.
func (s *Store) RegisterHosts(ctx context.Context, regs []Registration) (missing []string, err error) {
	err = s.Write(ctx, func(tx *gorm.DB) error {
		missing = missing[:0]
		for _, r := range regs {
			if err := registerHost(tx, r.ID, r.At, r.Host); errors.Is(err, ErrNotFound) {
				missing = append(missing, r.ID)
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return missing, nil
}

func registerHost(db *gorm.DB, id string, at time.Time, h *Host) error {
	res := db.Model(&Host{}).Where("id = ?", id).Updates(map[string]any{
		"hostname":        h.Hostname,
		"agent_version":   h.AgentVersion,
		"os":              h.OS,
		"arch":            h.Arch,
		"cpus":            h.CPUs,
		"mem_total_bytes": h.MemTotalBytes,
		"wg_public_key":   h.WGPublicKey,
		"capabilities":    jsonValue(h.Capabilities),
		"status":          HostOnline,
		"registered_at":   at,
		"last_heartbeat":  at,
		"updated_at":      at,
	})
	if res.Error != nil {
		return fmt.Errorf("store: register host %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: register host %s: %w", id, ErrNotFound)
	}
	return nil
}

// SetHostStatus changes a host's status. It returns ErrNotFound for an
// unknown host.
func (s *Store) SetHostStatus(ctx context.Context, id, status string, at time.Time) error {
	res := s.db.WithContext(ctx).Model(&Host{}).Where("id = ?", id).Updates(map[string]any{"status": status, "updated_at": at})
	if res.Error != nil {
		return fmt.Errorf("store: set host %s %s: %w", id, status, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: set host %s %s: %w", id, status, ErrNotFound)
	}
	return nil
}

// SetHostsStatus changes the status of many hosts in one transaction.
func (s *Store) SetHostsStatus(ctx context.Context, ids []string, status string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	return s.Write(ctx, func(tx *gorm.DB) error {
		for start := 0; start < len(ids); start += 500 {
			end := min(start+500, len(ids))
			if err := tx.Model(&Host{}).Where("id IN ?", ids[start:end]).Updates(map[string]any{"status": status, "updated_at": at}).Error; err != nil {
				return fmt.Errorf("store: set %d hosts %s: %w", len(ids), status, err)
			}
		}
		return nil
	})
}

// ApplyHeartbeats writes a batch of heartbeats in one transaction and marks
// those hosts online. Updates for hosts that no longer exist are ignored.
//
// Each chunk is one UPDATE ... FROM (VALUES ...) statement: one round trip
// for hundreds of hosts instead of one per host, which is what keeps 10,000
// agents at a 5 s heartbeat cheap on PostgreSQL as well as SQLite.
func (s *Store) ApplyHeartbeats(ctx context.Context, batch []HeartbeatUpdate) error {
	if len(batch) == 0 {
		return nil
	}
	if s.driver == "sqlite" {
		return s.applyHeartbeatsSQLite(ctx, batch)
	}
	// PostgreSQL: one UPDATE ... FROM (VALUES ...) per chunk; VALUES columns
	// are column1..3, and the timestamp needs its type.
	const row = "(?, CAST(? AS TIMESTAMPTZ), ?)"
	return s.Write(ctx, func(tx *gorm.DB) error {
		for start := 0; start < len(batch); start += heartbeatChunk {
			chunk := batch[start:min(start+heartbeatChunk, len(batch))]
			var sql strings.Builder
			sql.WriteString("UPDATE hosts SET last_heartbeat = v.column2, updated_at = v.column2, metrics = v.column3, status = ? FROM (VALUES ")
			args := make([]any, 0, 1+3*len(chunk))
			args = append(args, HostOnline)
			for i, u := range chunk {
				if i > 0 {
					sql.WriteString(", ")
				}
				sql.WriteString(row)
				args = append(args, u.HostID, u.At, jsonValue(u.Metrics))
			}
			sql.WriteString(") AS v WHERE hosts.id = v.column1")
			if err := tx.Exec(sql.String(), args...).Error; err != nil {
				return fmt.Errorf("store: apply %d heartbeats: %w", len(batch), err)
			}
		}
		return nil
	})
}

// applyHeartbeatsSQLite writes a batch with one prepared single-row UPDATE
// per host in one transaction. SQLite is in the process, so a statement
// per host costs no round trip, and unlike the many-row UPDATE ... FROM it
// needs no statement journal: SQLite journals every page a many-row
// statement changes, in case it fails halfway, which was a third of a
// batch's cost with 18,000 hosts.
func (s *Store) applyHeartbeatsSQLite(ctx context.Context, batch []HeartbeatUpdate) error {
	return s.Write(ctx, func(tx *gorm.DB) error {
		sqlTx, ok := tx.Statement.ConnPool.(*sql.Tx)
		if !ok {
			return fmt.Errorf("store: apply %d heartbeats: no transaction (%T)", len(batch), tx.Statement.ConnPool)
		}
		stmt, err := sqlTx.PrepareContext(ctx, "UPDATE hosts SET last_heartbeat = ?, updated_at = ?, metrics = ?, status = ? WHERE id = ?")
		if err != nil {
			return fmt.Errorf("store: apply %d heartbeats: %w", len(batch), err)
		}
		defer stmt.Close()
		for _, u := range batch {
			if _, err := stmt.ExecContext(ctx, u.At, u.At, jsonValue(u.Metrics), HostOnline, u.HostID); err != nil {
				return fmt.Errorf("store: apply %d heartbeats: %w", len(batch), err)
			}
		}
		return nil
	})
}

// heartbeatChunk bounds one statement's parameters (3 per host) well below
// SQLite's and PostgreSQL's limits.
const heartbeatChunk = 500
