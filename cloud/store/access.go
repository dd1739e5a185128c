package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ErrAccessInvalid is returned for an access link that does not exist, was
// used, has expired or belongs to another tenant; callers cannot tell which.
var ErrAccessInvalid = errors.New("access link is not valid")

// AccessGrant is a one-time link into a tenant's gateway (only the hash of
// the link's token is kept).
type AccessGrant struct {
	Hash      string    `gorm:"primaryKey;size:64"`
	TenantID  string    `gorm:"size:80;not null;index"`
	UserID    string    `gorm:"size:128;not null"`
	ExpiresAt time.Time `gorm:"not null;index"`
	UsedAt    *time.Time
	CreatedAt time.Time
}

// RouterSession is what the cookie a redeemed access link sets stands for
// (only the hash of the cookie value is kept).
type RouterSession struct {
	Hash       string    `gorm:"primaryKey;size:64"`
	TenantID   string    `gorm:"size:80;not null;index"`
	UserID     string    `gorm:"size:128;not null"`
	ExpiresAt  time.Time `gorm:"not null;index"`
	CreatedAt  time.Time
	RevokedAt  *time.Time
	RemoteAddr string `gorm:"size:64"`
}

// CreateAccessGrant stores a new one-time link.
func (s *Store) CreateAccessGrant(ctx context.Context, g *AccessGrant) error {
	if err := s.db.WithContext(ctx).Create(g).Error; err != nil {
		return fmt.Errorf("store: create access grant: %w", mapErr(err))
	}
	return nil
}

// RedeemAccessGrant uses the link whose hash is hash for tenantID and, in the
// same transaction, creates sess for the link's user. A link is used at most
// once even under concurrent calls; a link of another tenant is neither used
// nor accepted.
func (s *Store) RedeemAccessGrant(ctx context.Context, hash, tenantID string, now time.Time, sess *RouterSession) error {
	err := s.Write(ctx, func(tx *gorm.DB) error {
		var g AccessGrant
		if err := tx.Where("hash = ? AND tenant_id = ?", hash, tenantID).Take(&g).Error; err != nil {
			if mapErr(err) == ErrNotFound {
				return ErrAccessInvalid
			}
			return err
		}
		if g.UsedAt != nil || !now.Before(g.ExpiresAt) {
			return ErrAccessInvalid
		}
		// The conditional update is what makes concurrent redemptions safe.
		res := tx.Model(&AccessGrant{}).Where("hash = ? AND used_at IS NULL", hash).Update("used_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrAccessInvalid
		}
		sess.TenantID, sess.UserID = g.TenantID, g.UserID
		return tx.Create(sess).Error
	})
	if err != nil && !errors.Is(err, ErrAccessInvalid) {
		return fmt.Errorf("store: redeem access link: %w", mapErr(err))
	}
	return err
}

// GetRouterSession returns the live session whose hash is hash.
func (s *Store) GetRouterSession(ctx context.Context, hash string, now time.Time) (*RouterSession, error) {
	var r RouterSession
	err := s.db.WithContext(ctx).Where("hash = ? AND revoked_at IS NULL AND expires_at > ?", hash, now).Take(&r).Error
	if err != nil {
		return nil, mapErr(err)
	}
	return &r, nil
}

// RevokeTenantSessions ends every session and unused link of a tenant (its
// owner changed or it was deleted).
func (s *Store) RevokeTenantSessions(ctx context.Context, tenantID string, now time.Time) error {
	return s.Write(ctx, func(tx *gorm.DB) error { return RevokeTenantAccess(tx, tenantID, now) })
}

// RevokeTenantAccess is RevokeTenantSessions inside a transaction.
func RevokeTenantAccess(tx *gorm.DB, tenantID string, now time.Time) error {
	if err := tx.Model(&RouterSession{}).Where("tenant_id = ? AND revoked_at IS NULL", tenantID).Update("revoked_at", now).Error; err != nil {
		return fmt.Errorf("store: revoke sessions of %s: %w", tenantID, err)
	}
	if err := tx.Where("tenant_id = ?", tenantID).Delete(&AccessGrant{}).Error; err != nil {
		return fmt.Errorf("store: delete access links of %s: %w", tenantID, err)
	}
	return nil
}

// DeleteExpiredAccess removes links and sessions that can no longer be used.
func (s *Store) DeleteExpiredAccess(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.Write(ctx, func(tx *gorm.DB) error {
		res := tx.Where("expires_at <= ? OR used_at IS NOT NULL", now).Delete(&AccessGrant{})
		if res.Error != nil {
			return res.Error
		}
		n += res.RowsAffected
		res = tx.Where("expires_at <= ? OR revoked_at IS NOT NULL", now).Delete(&RouterSession{})
		n += res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete expired access: %w", err)
	}
	return n, nil
}

// GetTenantBySlug returns the tenant at <slug>.<domain> or ErrNotFound.
func (s *Store) GetTenantBySlug(ctx context.Context, slug string) (*Tenant, error) {
	var t Tenant
	if err := s.db.WithContext(ctx).Where("slug = ?", slug).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("store: tenant by slug: %w", mapErr(err))
	}
	return &t, nil
}
