package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// UsageSample is a tenant's use of its host in one minute: the CPU rate
// (from the counter between two reports), memory and disk in use.
type UsageSample struct {
	TenantID string `gorm:"primaryKey;size:80"`
	// At is the minute (UTC, truncated): one sample per tenant per minute.
	At            time.Time `gorm:"primaryKey"`
	CPUMillicores int64     `gorm:"not null"`
	MemoryBytes   int64     `gorm:"not null"`
	DiskBytes     int64     `gorm:"not null"`
}

// UsageRetention is how long usage samples are kept.
const UsageRetention = 24 * time.Hour

// usageChunk bounds the rows of one INSERT (SQLite allows 32766 variables).
const usageChunk = 1000

// AppendUsage stores a batch of samples in one transaction, each At
// truncated to its minute; a sample for a minute a tenant already has is
// dropped (the first of a minute stays).
func (s *Store) AppendUsage(ctx context.Context, batch []UsageSample) error {
	if len(batch) == 0 {
		return nil
	}
	rows := make([]UsageSample, len(batch))
	for i, u := range batch {
		u.At = u.At.UTC().Truncate(time.Minute)
		rows[i] = u
	}
	return s.Write(ctx, func(tx *gorm.DB) error {
		for start := 0; start < len(rows); start += usageChunk {
			chunk := rows[start:min(start+usageChunk, len(rows))]
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&chunk).Error; err != nil {
				return fmt.Errorf("store: append %d usage samples: %w", len(rows), err)
			}
		}
		return nil
	})
}

// UsageSince is a tenant's samples from since on, oldest first.
func (s *Store) UsageSince(ctx context.Context, tenantID string, since time.Time) ([]UsageSample, error) {
	var out []UsageSample
	err := s.db.WithContext(ctx).Where("tenant_id = ? AND at >= ?", tenantID, since.UTC()).Order("at").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: usage of %s: %w", tenantID, err)
	}
	return out, nil
}

// PruneUsage deletes the samples older than before, and returns how many.
func (s *Store) PruneUsage(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("at < ?", before.UTC()).Delete(&UsageSample{})
	if res.Error != nil {
		return 0, fmt.Errorf("store: prune usage: %w", res.Error)
	}
	return res.RowsAffected, nil
}
