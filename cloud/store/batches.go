package store

import (
	"context"
	"fmt"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"gorm.io/gorm"
)

// Batch is a factory batch: boxes made together, registered under one ID
// so that the factory can register them again without duplicating any.
type Batch struct {
	ID        string `gorm:"primaryKey;size:63"`
	Model     string `gorm:"size:64;not null"`
	CreatedBy string `gorm:"size:255"`
	CreatedAt time.Time
	// RevokedAt is when the batch was revoked: its hosts are deleted and
	// it takes no more devices.
	RevokedAt *time.Time
}

// Box is a device of a factory batch. Its host (same ID) is the device's
// identity; the box adds its place in the batch and its claim.
type Box struct {
	DeviceID   string `gorm:"primaryKey;size:80"`
	BatchID    string `gorm:"size:63;not null"`
	BatchIndex int    `gorm:"not null"`
	// ClaimCodeHash is the keyed hash of the claim code (never the code);
	// ClaimCodeAt is when that code was issued (a reprint issues another).
	ClaimCodeHash string    `gorm:"size:64;not null"`
	ClaimCodeAt   time.Time `gorm:"not null"`
	// PendingClaimCode is a code the cloud reissued, sealed (cloud/seal,
	// bound to the device ID), kept until the box is claimed so the box
	// can be told it again whenever it registers; empty for the factory's
	// code, which the box has from its credentials.
	PendingClaimCode string `gorm:"size:200;not null;default:''"`
	// The owner a claim binds the box to, who claimed it and when; empty
	// while unclaimed.
	OwnerTeamID string `gorm:"size:40;not null"`
	ClaimedBy   string `gorm:"size:128;not null"`
	ClaimedAt   *time.Time
	CreatedAt   time.Time
}

// Why registering a batch is refused.
var (
	ErrBatchNotFound = apperr.New(apperr.NotFound, "not_found", "batch not found")
	ErrBatchRevoked  = apperr.New(apperr.Conflict, "batch_revoked", "the batch has been revoked: its devices cannot be registered again")
	ErrBatchConflict = apperr.New(apperr.Conflict, "batch_conflict", "the batch exists with other contents")
)

// PutBatch creates a batch, or returns the existing one of that ID when it
// is for the same model (created reports which). A revoked batch or one of
// another model is refused.
func (s *Store) PutBatch(ctx context.Context, b *Batch) (got *Batch, created bool, err error) {
	err = s.Write(ctx, func(tx *gorm.DB) error {
		var old Batch
		switch err := tx.Where("id = ?", b.ID).Take(&old).Error; mapErr(err) {
		case nil:
			if old.RevokedAt != nil {
				return ErrBatchRevoked.Withf("batch %s was revoked at %s: its devices cannot be registered again; start a new batch", b.ID, old.RevokedAt.UTC().Format(time.RFC3339))
			}
			if old.Model != b.Model {
				return ErrBatchConflict.Withf("batch %s is for model %q, not %q", b.ID, old.Model, b.Model)
			}
			got = &old
			return nil
		case ErrNotFound:
		default:
			return err
		}
		if err := tx.Create(b).Error; err != nil {
			return mapErr(err)
		}
		got, created = b, true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: put batch %s: %w", b.ID, err)
	}
	return got, created, nil
}

// GetBatch returns one batch or ErrBatchNotFound.
func (s *Store) GetBatch(ctx context.Context, id string) (*Batch, error) {
	var b Batch
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&b).Error; err != nil {
		if mapErr(err) == ErrNotFound {
			return nil, ErrBatchNotFound.Withf("no batch %q", id)
		}
		return nil, fmt.Errorf("store: get batch %s: %w", id, err)
	}
	return &b, nil
}

// ListBatches returns every batch, newest first.
func (s *Store) ListBatches(ctx context.Context) ([]Batch, error) {
	var bs []Batch
	if err := s.db.WithContext(ctx).Order("created_at DESC, id").Find(&bs).Error; err != nil {
		return nil, fmt.Errorf("store: list batches: %w", err)
	}
	return bs, nil
}

// BatchBoxes returns a batch's boxes in batch order.
func (s *Store) BatchBoxes(ctx context.Context, batchID string) ([]Box, error) {
	var bs []Box
	if err := s.db.WithContext(ctx).Where("batch_id = ?", batchID).Order("batch_index").Find(&bs).Error; err != nil {
		return nil, fmt.Errorf("store: boxes of batch %s: %w", batchID, err)
	}
	return bs, nil
}

// BoxHost is a box of a batch with the host it becomes.
type BoxHost struct {
	Box  Box
	Host Host
}

// RegisterBoxes adds devices to a batch, in one transaction: each becomes a
// host (a box) and a box row at its index. A device already registered at
// its index, with the same ID, secret hash and claim code hash, is left as
// it is (it counts in existing), so registering a batch again duplicates
// nothing; any other clash refuses the whole call with ErrBatchConflict and
// writes nothing. created are the hosts made now.
func (s *Store) RegisterBoxes(ctx context.Context, batchID string, devices []BoxHost, audit *AuditEvent) (created []Host, existing int, err error) {
	err = s.Write(ctx, func(tx *gorm.DB) error {
		var b Batch
		if err := tx.Where("id = ?", batchID).Take(&b).Error; err != nil {
			if mapErr(err) == ErrNotFound {
				return ErrBatchNotFound.Withf("no batch %q: create it first", batchID)
			}
			return err
		}
		if b.RevokedAt != nil {
			return ErrBatchRevoked.Withf("batch %s was revoked: its devices cannot be registered again", batchID)
		}
		created, existing = nil, 0
		for i := range devices {
			d := &devices[i]
			var at Box
			err := tx.Where("batch_id = ? AND batch_index = ?", batchID, d.Box.BatchIndex).Take(&at).Error
			switch mapErr(err) {
			case nil:
				if at.DeviceID != d.Box.DeviceID || at.ClaimCodeHash != d.Box.ClaimCodeHash {
					return ErrBatchConflict.Withf("batch %s has device %s at index %d, not %s (or with another claim code): "+
						"the manifest given is not the one the batch was registered from", batchID, at.DeviceID, at.BatchIndex, d.Box.DeviceID)
				}
				var h Host
				switch err := tx.Where("id = ?", at.DeviceID).Take(&h).Error; mapErr(err) {
				case nil:
					if h.SecretHash != d.Host.SecretHash {
						return ErrBatchConflict.Withf("device %s of batch %s is registered with another secret", at.DeviceID, batchID)
					}
				case ErrNotFound: // deleted by an operator: it stays deleted
				default:
					return err
				}
				existing++
				continue
			case ErrNotFound:
			default:
				return err
			}
			var hosts, boxes int64
			if err := tx.Model(&Host{}).Where("id = ?", d.Host.ID).Count(&hosts).Error; err != nil {
				return err
			}
			if err := tx.Model(&Box{}).Where("device_id = ?", d.Box.DeviceID).Count(&boxes).Error; err != nil {
				return err
			}
			if hosts+boxes > 0 {
				return ErrBatchConflict.Withf("device ID %s (index %d) is taken by another host", d.Host.ID, d.Box.BatchIndex)
			}
			d.Box.BatchID = batchID
			d.Host.Kind, d.Host.Pool = HostBox, ""
			if err := CreateHost(tx, &d.Host); err != nil {
				return err
			}
			if err := tx.Create(&d.Box).Error; err != nil {
				return mapErr(err)
			}
			created = append(created, d.Host)
		}
		if audit != nil && len(created) > 0 {
			return AddAudit(tx, audit)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: register boxes of batch %s: %w", batchID, err)
	}
	return created, existing, nil
}

// RevokeBatch marks a batch revoked (revoking twice keeps the first time)
// and returns it; the caller deletes its hosts.
func (s *Store) RevokeBatch(ctx context.Context, id string, at time.Time) (*Batch, error) {
	var b Batch
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("id = ?", id).Take(&b).Error; err != nil {
			if mapErr(err) == ErrNotFound {
				return ErrBatchNotFound.Withf("no batch %q", id)
			}
			return err
		}
		if b.RevokedAt != nil {
			return nil
		}
		b.RevokedAt = &at
		return tx.Model(&Batch{}).Where("id = ?", id).Update("revoked_at", at).Error
	})
	if err != nil {
		return nil, fmt.Errorf("store: revoke batch %s: %w", id, err)
	}
	return &b, nil
}

func (Batch) TableName() string { return "batches" }
func (Box) TableName() string   { return "boxes" }

// GetBox returns the box of a device, or ErrNotFound.
func (s *Store) GetBox(ctx context.Context, deviceID string) (*Box, error) {
	var b Box
	if err := s.db.WithContext(ctx).Where("device_id = ?", deviceID).Take(&b).Error; err != nil {
		return nil, fmt.Errorf("store: box %s: %w", deviceID, mapErr(err))
	}
	return &b, nil
}

// AllBoxes returns every box (for batch summaries).
func (s *Store) AllBoxes(ctx context.Context) ([]Box, error) {
	var bs []Box
	if err := s.db.WithContext(ctx).Order("batch_id, batch_index").Find(&bs).Error; err != nil {
		return nil, fmt.Errorf("store: list boxes: %w", err)
	}
	return bs, nil
}
