package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// CreateHost inserts a host (factory pre-registration or enrollment).
func CreateHost(tx *gorm.DB, h *Host) error {
	if h.Status == "" {
		h.Status = HostPending
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

// RegisterHost stores an agent's self-description (the registration fields
// of h) and marks it online.
func (s *Store) RegisterHost(ctx context.Context, id string, at time.Time, h *Host) error {
	res := s.db.WithContext(ctx).Model(&Host{}).Where("id = ?", id).Updates(map[string]any{
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
func (s *Store) ApplyHeartbeats(ctx context.Context, batch []HeartbeatUpdate) error {
	if len(batch) == 0 {
		return nil
	}
	return s.Write(ctx, func(tx *gorm.DB) error {
		for _, u := range batch {
			err := tx.Exec("UPDATE hosts SET last_heartbeat = ?, metrics = ?, status = ?, updated_at = ? WHERE id = ?",
				u.At, jsonValue(u.Metrics), HostOnline, u.At, u.HostID).Error
			if err != nil {
				return fmt.Errorf("store: apply %d heartbeats: %w", len(batch), err)
			}
		}
		return nil
	})
}
