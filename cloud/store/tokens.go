package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

func jsonValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store: marshal %T: %v", v, err)) // only our own plain structs reach here
	}
	return string(b)
}

// CreateEnrollmentToken inserts a token (its hash, never the token).
func (s *Store) CreateEnrollmentToken(ctx context.Context, t *EnrollmentToken) error {
	if err := s.db.WithContext(ctx).Create(t).Error; err != nil {
		return fmt.Errorf("store: create enrollment token: %w", mapErr(err))
	}
	return nil
}

// ListEnrollmentTokens returns every token, newest first.
func (s *Store) ListEnrollmentTokens(ctx context.Context) ([]EnrollmentToken, error) {
	var ts []EnrollmentToken
	if err := s.db.WithContext(ctx).Order("created_at DESC, id").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("store: list enrollment tokens: %w", err)
	}
	return ts, nil
}

// RevokeEnrollmentToken marks a token revoked; revoking twice keeps the first time.
func (s *Store) RevokeEnrollmentToken(ctx context.Context, id string, at time.Time) (*EnrollmentToken, error) {
	var t EnrollmentToken
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("id = ?", id).Take(&t).Error; err != nil {
			return mapErr(err)
		}
		if t.RevokedAt != nil {
			return nil
		}
		t.RevokedAt = &at
		return tx.Model(&EnrollmentToken{}).Where("id = ?", id).Update("revoked_at", at).Error
	})
	if err != nil {
		return nil, fmt.Errorf("store: revoke enrollment token %s: %w", id, err)
	}
	return &t, nil
}

// Enroll redeems one use of the token whose hash is tokenHash and creates the
// host, atomically: a token with one use left enrolls exactly one host even
// under concurrent calls. h.EnrolledWith, h.Labels (labels given in h win),
// the kind (a worker), the pool and the caps are filled from the token.
func (s *Store) Enroll(ctx context.Context, tokenHash string, now time.Time, h *Host) (*EnrollmentToken, error) {
	var t EnrollmentToken
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("hash = ?", tokenHash).Take(&t).Error; err != nil {
			if mapErr(err) == ErrNotFound {
				return ErrTokenInvalid
			}
			return err
		}
		switch {
		case t.RevokedAt != nil:
			return ErrTokenRevoked
		case !now.Before(t.ExpiresAt):
			return ErrTokenExpired
		case t.UsesLeft <= 0:
			return ErrTokenUsedUp
		}
		// The conditional decrement is what makes concurrent redemptions safe
		// on both SQLite and PostgreSQL.
		res := tx.Model(&EnrollmentToken{}).Where("id = ? AND uses_left > 0", t.ID).
			Updates(map[string]any{"uses_left": gorm.Expr("uses_left - 1"), "last_used_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrTokenUsedUp
		}
		t.UsesLeft--
		t.LastUsedAt = &now
		labels := map[string]string{}
		for k, v := range t.Labels {
			labels[k] = v
		}
		for k, v := range h.Labels {
			labels[k] = v
		}
		h.Labels = labels
		h.EnrolledWith = t.ID
		// The token, the operator's word, decides what the host is given.
		h.Kind, h.Pool, h.MaxCPUMillis, h.MaxMemoryBytes = HostWorker, t.Pool, t.MaxCPUMillis, t.MaxMemoryBytes
		return CreateHost(tx, h)
	})
	if err != nil {
		return nil, fmt.Errorf("store: enroll: %w", err)
	}
	return &t, nil
}

// AddAudit records a state change.
func AddAudit(tx *gorm.DB, e *AuditEvent) error {
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	if err := tx.Create(e).Error; err != nil {
		return fmt.Errorf("store: audit %s: %w", e.Action, err)
	}
	return nil
}

// AddAudit records a state change.
func (s *Store) AddAudit(ctx context.Context, e *AuditEvent) error {
	return AddAudit(s.db.WithContext(ctx), e)
}

// ListAudit returns the newest audit events, at most limit.
func (s *Store) ListAudit(ctx context.Context, limit int) ([]AuditEvent, error) {
	return s.QueryAudit(ctx, AuditQuery{Limit: limit})
}

// AuditQuery selects audit events; empty fields select all.
type AuditQuery struct {
	Limit int
	// Actor and Target are exact ("user:usr_…", a team or tenant id);
	// Action is an action or, ending in ".", a family ("team.").
	Actor, Target, Action string
	// Before pages back: only events with a smaller id.
	Before uint
}

// QueryAudit returns the newest audit events q selects, at most q.Limit.
func (s *Store) QueryAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error) {
	db := s.db.WithContext(ctx).Order("id DESC").Limit(q.Limit)
	if q.Actor != "" {
		db = db.Where("actor = ?", q.Actor)
	}
	if q.Target != "" {
		db = db.Where("target = ?", q.Target)
	}
	if fam, ok := strings.CutSuffix(q.Action, "."); ok && fam != "" {
		db = db.Where("substr(action, 1, ?) = ?", len(fam)+1, fam+".")
	} else if q.Action != "" {
		db = db.Where("action = ?", q.Action)
	}
	if q.Before > 0 {
		db = db.Where("id < ?", q.Before)
	}
	var es []AuditEvent
	if err := db.Find(&es).Error; err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	return es, nil
}

// GetSetting returns a setting's value, or ErrNotFound.
func (s *Store) GetSetting(ctx context.Context, key string) (string, error) {
	var st Setting
	if err := s.db.WithContext(ctx).Where("key = ?", key).Take(&st).Error; err != nil {
		return "", fmt.Errorf("store: setting %s: %w", key, mapErr(err))
	}
	return st.Value, nil
}

// PutSetting creates or replaces a setting.
func (s *Store) PutSetting(ctx context.Context, key, value string) error {
	return s.Write(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&Setting{}).Where("key = ?", key).Updates(map[string]any{"value": value, "updated_at": time.Now().UTC()})
		if res.Error != nil {
			return fmt.Errorf("store: put setting %s: %w", key, res.Error)
		}
		if res.RowsAffected == 0 {
			if err := tx.Create(&Setting{Key: key, Value: value}).Error; err != nil {
				return fmt.Errorf("store: put setting %s: %w", key, mapErr(err))
			}
		}
		return nil
	})
}
