package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"gorm.io/gorm"
)

// Team roles.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// ValidRole reports whether r is a team role.
func ValidRole(r string) bool { return r == RoleOwner || r == RoleAdmin || r == RoleMember }

// Team is a group of users that owns instances. Every user has one
// personal team, made with the user, of which they are the owner.
type Team struct {
	ID        string `gorm:"primaryKey;size:40"`
	Name      string `gorm:"size:255;not null"`
	Personal  bool   `gorm:"not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TeamMember is a user's role in a team.
type TeamMember struct {
	TeamID    string `gorm:"primaryKey;size:40"`
	UserID    string `gorm:"primaryKey;size:40"`
	Role      string `gorm:"size:16;not null"`
	CreatedAt time.Time
}

// Membership is a team and the user's role in it.
type Membership struct {
	Team
	Role string
}

// TeamInvite is a link into a team; only the hash of its token is kept.
type TeamInvite struct {
	ID        string    `gorm:"primaryKey;size:40"`
	TeamID    string    `gorm:"size:40;not null"`
	Hash      string    `gorm:"size:64;not null"`
	Role      string    `gorm:"size:16;not null"`
	UsesTotal int       `gorm:"not null"`
	UsesLeft  int       `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null"`
	CreatedBy string    `gorm:"size:40;not null"`
	CreatedAt time.Time
	RevokedAt *time.Time
}

// APIKey is a key for automation, of a user or of a team (one of UserID,
// TeamID); only its hash is kept.
type APIKey struct {
	ID         string   `gorm:"primaryKey;size:40"`
	Hash       string   `gorm:"size:64;not null"`
	Name       string   `gorm:"size:255;not null"`
	UserID     *string  `gorm:"size:40"`
	TeamID     *string  `gorm:"size:40"`
	Scopes     []string `gorm:"serializer:json;not null"`
	CreatedBy  string   `gorm:"size:40;not null"`
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
	CreatedAt  time.Time
}

// CreateTeam creates t (an id is made when it has none) with ownerID as
// its owner.
func (s *Store) CreateTeam(ctx context.Context, t *Team, ownerID string) error {
	if err := s.Write(ctx, func(tx *gorm.DB) error { return createTeam(tx, t, ownerID) }); err != nil {
		return fmt.Errorf("store: create team: %w", mapErr(err))
	}
	return nil
}

func createTeam(tx *gorm.DB, t *Team, ownerID string) error {
	if t.ID == "" {
		t.ID = newID(TeamIDPrefix)
	}
	if err := tx.Create(t).Error; err != nil {
		return err
	}
	return tx.Create(&TeamMember{TeamID: t.ID, UserID: ownerID, Role: RoleOwner}).Error
}

// GetTeam returns the team or ErrNotFound.
func (s *Store) GetTeam(ctx context.Context, id string) (*Team, error) {
	var t Team
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("store: team %s: %w", id, mapErr(err))
	}
	return &t, nil
}

// UserTeams returns the teams a user is a member of with their role: the
// personal team first, then by name.
func (s *Store) UserTeams(ctx context.Context, userID string) ([]Membership, error) {
	var ms []Membership
	err := s.db.WithContext(ctx).Table("teams").
		Select("teams.*, team_members.role AS role").
		Joins("JOIN team_members ON team_members.team_id = teams.id").
		Where("team_members.user_id = ?", userID).
		Order("teams.personal DESC, teams.name, teams.id").Scan(&ms).Error
	if err != nil {
		return nil, fmt.Errorf("store: teams of %s: %w", userID, err)
	}
	return ms, nil
}

// PersonalTeam returns the user's personal team.
func (s *Store) PersonalTeam(ctx context.Context, userID string) (*Team, error) {
	var t Team
	err := s.db.WithContext(ctx).Joins("JOIN team_members ON team_members.team_id = teams.id").
		Where("team_members.user_id = ? AND team_members.role = ? AND teams.personal", userID, RoleOwner).Take(&t).Error
	if err != nil {
		return nil, fmt.Errorf("store: personal team of %s: %w", userID, mapErr(err))
	}
	return &t, nil
}

// TeamMembers returns a team's members, oldest first.
func (s *Store) TeamMembers(ctx context.Context, teamID string) ([]TeamMember, error) {
	var ms []TeamMember
	if err := s.db.WithContext(ctx).Where("team_id = ?", teamID).Order("created_at, user_id").Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("store: members of %s: %w", teamID, err)
	}
	return ms, nil
}

// MemberRole returns a user's role in a team, or ErrNotFound when they are
// not a member.
func (s *Store) MemberRole(ctx context.Context, teamID, userID string) (string, error) {
	var m TeamMember
	if err := s.db.WithContext(ctx).Where("team_id = ? AND user_id = ?", teamID, userID).Take(&m).Error; err != nil {
		return "", fmt.Errorf("store: member: %w", mapErr(err))
	}
	return m.Role, nil
}

// AddTeamMember adds m; ErrAlreadyMember when the user is one.
func (s *Store) AddTeamMember(ctx context.Context, m *TeamMember) error {
	if err := s.db.WithContext(ctx).Create(m).Error; err != nil {
		if errors.Is(mapErr(err), ErrConflict) {
			return ErrAlreadyMember
		}
		return fmt.Errorf("store: add member: %w", mapErr(err))
	}
	return nil
}

// SetTeamMemberRole changes a member's role; a team keeps one owner at
// least (ErrLastOwner).
func (s *Store) SetTeamMemberRole(ctx context.Context, teamID, userID, role string) error {
	return s.changeMember(ctx, teamID, userID, func(tx *gorm.DB) error {
		return tx.Model(&TeamMember{}).Where("team_id = ? AND user_id = ?", teamID, userID).Update("role", role).Error
	}, role == RoleOwner)
}

// RemoveTeamMember removes a member; never the last owner (ErrLastOwner).
func (s *Store) RemoveTeamMember(ctx context.Context, teamID, userID string) error {
	return s.changeMember(ctx, teamID, userID, func(tx *gorm.DB) error {
		return tx.Where("team_id = ? AND user_id = ?", teamID, userID).Delete(&TeamMember{}).Error
	}, false)
}

func (s *Store) changeMember(ctx context.Context, teamID, userID string, change func(*gorm.DB) error, staysOwner bool) error {
	err := s.Write(ctx, func(tx *gorm.DB) error {
		var m TeamMember
		if err := tx.Where("team_id = ? AND user_id = ?", teamID, userID).Take(&m).Error; err != nil {
			return err
		}
		if m.Role == RoleOwner && !staysOwner {
			var owners int64
			if err := tx.Model(&TeamMember{}).Where("team_id = ? AND role = ?", teamID, RoleOwner).Count(&owners).Error; err != nil {
				return err
			}
			if owners <= 1 {
				return ErrLastOwner
			}
		}
		return change(tx)
	})
	if err != nil {
		return fmt.Errorf("store: change member: %w", mapErr(err))
	}
	return nil
}

// CreateTeamInvite stores inv (an id is made when it has none).
func (s *Store) CreateTeamInvite(ctx context.Context, inv *TeamInvite) error {
	if inv.ID == "" {
		inv.ID = newID(InviteIDPrefix)
	}
	if err := s.db.WithContext(ctx).Create(inv).Error; err != nil {
		return fmt.Errorf("store: create invite: %w", mapErr(err))
	}
	return nil
}

// ListTeamInvites returns a team's invites, newest first.
func (s *Store) ListTeamInvites(ctx context.Context, teamID string) ([]TeamInvite, error) {
	var is []TeamInvite
	if err := s.db.WithContext(ctx).Where("team_id = ?", teamID).Order("created_at DESC, id").Find(&is).Error; err != nil {
		return nil, fmt.Errorf("store: list invites: %w", err)
	}
	return is, nil
}

// RevokeTeamInvite revokes one of a team's invites.
func (s *Store) RevokeTeamInvite(ctx context.Context, teamID, id string, now time.Time) error {
	res := s.db.WithContext(ctx).Model(&TeamInvite{}).Where("id = ? AND team_id = ? AND revoked_at IS NULL", id, teamID).Update("revoked_at", now)
	if res.Error != nil {
		return fmt.Errorf("store: revoke invite: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: invite %s: %w", id, ErrNotFound)
	}
	return nil
}

// RedeemTeamInvite uses one use of the invite whose token hashes to hash
// and makes userID a member with its role, in one transaction; of
// concurrent redemptions no more succeed than it has uses. ErrInviteGone
// when it is unknown, revoked, expired or used up; ErrAlreadyMember (and no
// use spent) when the user is a member.
func (s *Store) RedeemTeamInvite(ctx context.Context, hash, userID string, now time.Time) (*TeamInvite, error) {
	var inv TeamInvite
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("hash = ?", hash).Take(&inv).Error; err != nil {
			if errors.Is(mapErr(err), ErrNotFound) {
				return ErrInviteGone
			}
			return err
		}
		if inv.RevokedAt != nil || inv.UsesLeft <= 0 || !now.Before(inv.ExpiresAt) {
			return ErrInviteGone
		}
		var n int64
		if err := tx.Model(&TeamMember{}).Where("team_id = ? AND user_id = ?", inv.TeamID, userID).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrAlreadyMember
		}
		res := tx.Model(&TeamInvite{}).Where("id = ? AND uses_left > 0", inv.ID).Update("uses_left", gorm.Expr("uses_left - 1"))
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrInviteGone
		}
		inv.UsesLeft--
		return tx.Create(&TeamMember{TeamID: inv.TeamID, UserID: userID, Role: inv.Role, CreatedAt: now}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("store: redeem invite: %w", mapErr(err))
	}
	return &inv, nil
}

// CreateAPIKey stores k (an id is made when it has none).
func (s *Store) CreateAPIKey(ctx context.Context, k *APIKey) error {
	if (k.UserID == nil) == (k.TeamID == nil) {
		return errors.New("store: an API key belongs to a user or to a team")
	}
	if k.ID == "" {
		k.ID = newID(APIKeyIDPrefix)
	}
	if k.Scopes == nil {
		k.Scopes = []string{}
	}
	if err := s.db.WithContext(ctx).Create(k).Error; err != nil {
		return fmt.Errorf("store: create API key: %w", mapErr(err))
	}
	return nil
}

// APIKeyByHash returns the live (not revoked, not expired) key whose token
// hashes to hash, and records its use; ErrNotFound otherwise.
func (s *Store) APIKeyByHash(ctx context.Context, hash string, now time.Time) (*APIKey, error) {
	var k APIKey
	err := s.db.WithContext(ctx).Where("hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", hash, now).Take(&k).Error
	if err != nil {
		return nil, fmt.Errorf("store: API key: %w", mapErr(err))
	}
	if err := s.db.WithContext(ctx).Model(&APIKey{}).Where("id = ?", k.ID).Update("last_used_at", now).Error; err != nil {
		return nil, fmt.Errorf("store: API key use: %w", err)
	}
	k.LastUsedAt = &now
	return &k, nil
}

// ListAPIKeys returns the keys of a user (teamID "") or of a team (userID
// ""), newest first.
func (s *Store) ListAPIKeys(ctx context.Context, userID, teamID string) ([]APIKey, error) {
	q := s.db.WithContext(ctx).Order("created_at DESC, id")
	if teamID != "" {
		q = q.Where("team_id = ?", teamID)
	} else {
		q = q.Where("user_id = ?", userID)
	}
	var ks []APIKey
	if err := q.Find(&ks).Error; err != nil {
		return nil, fmt.Errorf("store: list API keys: %w", err)
	}
	return ks, nil
}

// RevokeAPIKey revokes a key.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, now time.Time) error {
	res := s.db.WithContext(ctx).Model(&APIKey{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", now)
	if res.Error != nil {
		return fmt.Errorf("store: revoke API key: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: API key %s: %w", id, ErrNotFound)
	}
	return nil
}

// ErrTeamHasTenants refuses to delete a team that still owns tenants.
var ErrTeamHasTenants = apperr.New(apperr.Conflict, "team_has_tenants", "the team still has instances: delete them first")

// ErrPersonalTeam refuses what a personal team cannot do (be deleted, take
// other members).
var ErrPersonalTeam = apperr.New(apperr.Conflict, "personal_team", "a personal team belongs to its user alone: create a team to share instances")

// RenameTeam sets a team's name.
func (s *Store) RenameTeam(ctx context.Context, id, name string, now time.Time) (*Team, error) {
	res := s.db.WithContext(ctx).Model(&Team{}).Where("id = ?", id).Updates(map[string]any{"name": name, "updated_at": now})
	if res.Error != nil {
		return nil, fmt.Errorf("store: rename team: %w", mapErr(res.Error))
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("store: team %s: %w", id, ErrNotFound)
	}
	return s.GetTeam(ctx, id)
}

// DeleteTeam deletes a team with its members, invites and keys; never a
// personal team (ErrPersonalTeam) nor one that owns tenants
// (ErrTeamHasTenants).
func (s *Store) DeleteTeam(ctx context.Context, id string) error {
	err := s.Write(ctx, func(tx *gorm.DB) error {
		var t Team
		if err := tx.Where("id = ?", id).Take(&t).Error; err != nil {
			return err
		}
		if t.Personal {
			return ErrPersonalTeam
		}
		n, err := CountTeamTenants(tx, id, "")
		if err != nil {
			return err
		}
		if n > 0 {
			return ErrTeamHasTenants
		}
		// Explicitly, whether or not the database enforces foreign keys.
		for _, m := range []any{&TeamMember{}, &TeamInvite{}, &APIKey{}} {
			if err := tx.Where("team_id = ?", id).Delete(m).Error; err != nil {
				return err
			}
		}
		return tx.Where("id = ?", id).Delete(&Team{}).Error
	})
	if err != nil {
		return fmt.Errorf("store: delete team: %w", mapErr(err))
	}
	return nil
}

// TeamSummary is a team with its number of members and tenants (the
// admin's list).
type TeamSummary struct {
	Team
	Members int
	Tenants int
}

// ListTeams returns every team, newest first, at most limit (0: all).
func (s *Store) ListTeams(ctx context.Context, limit int) ([]TeamSummary, error) {
	q := s.db.WithContext(ctx).Table("teams").
		Select(`teams.*, (SELECT count(*) FROM team_members m WHERE m.team_id = teams.id) AS members,
			(SELECT count(*) FROM tenants t WHERE t.team_id = teams.id) AS tenants`).
		Order("teams.created_at DESC, teams.id")
	if limit > 0 {
		q = q.Limit(limit)
	}
	var ts []TeamSummary
	if err := q.Scan(&ts).Error; err != nil {
		return nil, fmt.Errorf("store: list teams: %w", err)
	}
	return ts, nil
}

// IsTeamMember reports whether who — a user id, or the subject of a user's
// "webapp" identity (the web app's user id, which is what a tenant's
// owner and the router's sessions name) — is a member of the team and not
// disabled.
func (s *Store) IsTeamMember(ctx context.Context, teamID, who string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Table("team_members").
		Joins("JOIN users ON users.id = team_members.user_id").
		Where("team_members.team_id = ? AND users.disabled_at IS NULL", teamID).
		Where("team_members.user_id = ? OR team_members.user_id IN (SELECT i.user_id FROM identities i WHERE i.provider = ? AND i.subject = ?)", who, ProviderWebApp, who).
		Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("store: membership: %w", err)
	}
	return n > 0, nil
}

// GetTeamInvite returns one of a team's invites or ErrNotFound.
func (s *Store) GetTeamInvite(ctx context.Context, teamID, id string) (*TeamInvite, error) {
	var inv TeamInvite
	if err := s.db.WithContext(ctx).Where("id = ? AND team_id = ?", id, teamID).Take(&inv).Error; err != nil {
		return nil, fmt.Errorf("store: invite %s: %w", id, mapErr(err))
	}
	return &inv, nil
}

// PersonalTeamOf returns the personal team of who (a user id, or the
// subject of a user's "webapp" identity), or ErrNotFound when who is no
// user.
func PersonalTeamOf(tx *gorm.DB, who string) (string, error) {
	var ids []string
	err := tx.Table("team_members").Select("team_members.team_id").
		Joins("JOIN teams ON teams.id = team_members.team_id").
		Where("teams.personal AND team_members.role = ?", RoleOwner).
		Where("team_members.user_id = ? OR team_members.user_id IN (SELECT i.user_id FROM identities i WHERE i.provider = ? AND i.subject = ?)", who, ProviderWebApp, who).
		Order("team_members.team_id").Limit(1).Pluck("team_members.team_id", &ids).Error
	if err != nil {
		return "", fmt.Errorf("store: personal team of %s: %w", who, err)
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("store: personal team of %s: %w", who, ErrNotFound)
	}
	return ids[0], nil
}
