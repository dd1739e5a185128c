package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"gorm.io/gorm"
)

// ErrBoxClaimed is a claim of a box that another user owns.
var ErrBoxClaimed = apperr.New(apperr.Conflict, "box_claimed", "this box already has an owner: ask them to release it, or an operator to reset it")

// ClaimBox binds an unclaimed box to user (and, when teamID is not empty,
// that team of theirs), with audit in the same transaction. A box the same
// user already owns is returned unchanged with already true (a repeated
// claim); one someone else owns is ErrBoxClaimed, and nothing changes.
func (s *Store) ClaimBox(ctx context.Context, deviceID, user, teamID string, at time.Time, audit *AuditEvent) (box *Box, already bool, err error) {
	err = s.Write(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&Box{}).Where("device_id = ? AND claimed_by = ''", deviceID).
			Updates(map[string]any{"claimed_by": user, "owner_team_id": teamID, "claimed_at": at, "pending_claim_code": ""})
		if res.Error != nil {
			return mapErr(res.Error)
		}
		var b Box
		if err := tx.Where("device_id = ?", deviceID).Take(&b).Error; err != nil {
			return mapErr(err)
		}
		box = &b
		if res.RowsAffected == 0 {
			if b.ClaimedBy != user {
				return ErrBoxClaimed
			}
			already = true
			return nil
		}
		if audit != nil {
			return AddAudit(tx, audit)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrBoxClaimed) {
			return box, false, err
		}
		return nil, false, fmt.Errorf("store: claim box %s: %w", deviceID, err)
	}
	return box, already, nil
}

// ReleaseBox makes a box unclaimed, with audit in the same transaction.
// With codeHash set, the box also gets that claim code (a reprint): the
// old one stops working, and sealedCode is kept as its PendingClaimCode.
// It returns the box as it was before.
func (s *Store) ReleaseBox(ctx context.Context, deviceID, codeHash, sealedCode string, at time.Time, audit *AuditEvent) (*Box, error) {
	var old Box
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("device_id = ?", deviceID).Take(&old).Error; err != nil {
			return mapErr(err)
		}
		up := map[string]any{"claimed_by": "", "owner_team_id": "", "claimed_at": nil}
		if codeHash != "" {
			up["claim_code_hash"], up["claim_code_at"], up["pending_claim_code"] = codeHash, at, sealedCode
		}
		if err := tx.Model(&Box{}).Where("device_id = ?", deviceID).Updates(up).Error; err != nil {
			return mapErr(err)
		}
		if audit != nil {
			return AddAudit(tx, audit)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: release box %s: %w", deviceID, err)
	}
	return &old, nil
}

// SetClaimCode gives an unclaimed or claimed box a new claim code hash
// (a reprinted label) and sealedCode as its PendingClaimCode, with audit.
func (s *Store) SetClaimCode(ctx context.Context, deviceID, codeHash, sealedCode string, at time.Time, audit *AuditEvent) error {
	err := s.Write(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&Box{}).Where("device_id = ?", deviceID).
			Updates(map[string]any{"claim_code_hash": codeHash, "claim_code_at": at, "pending_claim_code": sealedCode})
		if res.Error != nil {
			return mapErr(res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		if audit != nil {
			return AddAudit(tx, audit)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: set claim code of box %s: %w", deviceID, err)
	}
	return nil
}

// OwnedBoxes returns the boxes user owns, first claimed first.
func (s *Store) OwnedBoxes(ctx context.Context, user string) ([]Box, error) {
	var bs []Box
	if err := s.db.WithContext(ctx).Where("claimed_by = ?", user).Order("claimed_at, device_id").Find(&bs).Error; err != nil {
		return nil, fmt.Errorf("store: boxes of %s: %w", user, err)
	}
	return bs, nil
}

// UserBoxes returns the boxes user claimed or that belong to one of teams,
// first claimed first.
func (s *Store) UserBoxes(ctx context.Context, user string, teams []string) ([]Box, error) {
	q := s.db.WithContext(ctx).Where("claimed_by = ?", user)
	if len(teams) > 0 {
		q = q.Or("owner_team_id IN ?", teams)
	}
	var bs []Box
	if err := q.Order("claimed_at, device_id").Find(&bs).Error; err != nil {
		return nil, fmt.Errorf("store: boxes of %s and its teams: %w", user, err)
	}
	return bs, nil
}
