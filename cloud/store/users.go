package store

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/login"
	"gorm.io/gorm"
)

// Prefixes of the ids the store makes.
const (
	UserIDPrefix     = "usr_"
	TeamIDPrefix     = "team_"
	IdentityIDPrefix = "idn_"
	SessionIDPrefix  = "ses_"
	InviteIDPrefix   = "inv_"
	APIKeyIDPrefix   = "key_"
)

// Providers the store itself knows of (the sign-in providers are named by
// cloud/login's configuration).
const (
	// ProviderWebApp is the trusted web app's (or its SSO's) user id: the
	// subject is what the web app sends as X-User-ID, or the SSO token's
	// user claim, which is also the owner id of that user's tenant.
	ProviderWebApp = "webapp"
	// ProviderLocal is an email and password account; the subject is the
	// lower-cased address.
	ProviderLocal = "local"
)

// Errors of accounts.
var (
	ErrLastIdentity  = apperr.New(apperr.Conflict, "last_identity", "this is the account's only way to sign in: link another one before removing it")
	ErrLastOwner     = apperr.New(apperr.Conflict, "last_owner", "a team keeps at least one owner: make another member owner first")
	ErrInviteGone    = apperr.New(apperr.Gone, "invite_invalid", "this invitation is not valid, was used up, revoked or has expired; ask for a new one")
	ErrAlreadyMember = apperr.New(apperr.Conflict, "already_member", "already a member of this team")
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID is prefix and 80 random bits.
func newID(prefix string) string {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + idEncoding.EncodeToString(b)
}

// User is a person. An email alone never identifies one: identities do.
type User struct {
	ID            string `gorm:"primaryKey;size:40"`
	Email         string `gorm:"size:254;not null"`
	EmailVerified bool   `gorm:"not null"`
	Name          string `gorm:"size:255;not null"`
	AvatarURL     string `gorm:"size:1024;not null"`
	Lang          string `gorm:"size:16;not null"`
	PlatformAdmin bool   `gorm:"not null"`
	// DisabledAt set: the user cannot sign in and their sessions do not
	// authenticate.
	DisabledAt   *time.Time
	LastSignInAt *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Identity is one way a user signs in: (Provider, Subject) is unique.
// Issuer is the OIDC issuer or the provider's API (an SSO's identities and
// the same issuer's OIDC identities are one person's).
type Identity struct {
	ID            string `gorm:"primaryKey;size:40"`
	UserID        string `gorm:"size:40;not null"`
	Provider      string `gorm:"size:32;not null"`
	Subject       string `gorm:"size:255;not null"`
	Issuer        string `gorm:"size:512;not null"`
	Email         string `gorm:"size:254;not null"`
	EmailVerified bool   `gorm:"not null"`
	Name          string `gorm:"size:255;not null"`
	CreatedAt     time.Time
	LastUsedAt    *time.Time
}

// Session is a signed-in browser; only the hash of its cookie is kept.
type Session struct {
	ID         string    `gorm:"primaryKey;size:40"`
	Hash       string    `gorm:"size:64;not null"`
	UserID     string    `gorm:"size:40;not null"`
	CreatedAt  time.Time `gorm:"not null"`
	LastSeenAt time.Time `gorm:"not null"`
	ExpiresAt  time.Time `gorm:"not null"`
	UserAgent  string    `gorm:"size:255;not null"`
	Address    string    `gorm:"size:64;not null"`
}

// PasswordCredential is a local account's argon2id hash (a PHC string).
type PasswordCredential struct {
	UserID    string `gorm:"primaryKey;size:40"`
	Hash      string `gorm:"size:255;not null"`
	UpdatedAt time.Time
}

// OneTimeToken is a login.StoredToken as kept.
type OneTimeToken struct {
	Hash      string    `gorm:"primaryKey;size:64"`
	Purpose   string    `gorm:"size:32;not null"`
	UserID    string    `gorm:"size:40;not null"`
	Email     string    `gorm:"size:254;not null"`
	ExpiresAt time.Time `gorm:"not null"`
	CreatedAt time.Time
}

// CreateUser creates u (an id is made when it has none) with its first
// identity, its personal team (u is its owner) and, when passwordHash is
// not empty, its local password, in one transaction. ErrConflict when the
// identity is someone's already.
func (s *Store) CreateUser(ctx context.Context, u *User, ident *Identity, passwordHash string) (*Team, error) {
	var team *Team
	err := s.Write(ctx, func(tx *gorm.DB) error {
		var err error
		team, err = CreateUser(tx, u, ident, passwordHash)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: create user: %w", mapErr(err))
	}
	return team, nil
}

// CreateUser is Store.CreateUser inside a transaction.
func CreateUser(tx *gorm.DB, u *User, ident *Identity, passwordHash string) (*Team, error) {
	if u.ID == "" {
		u.ID = newID(UserIDPrefix)
	}
	if err := tx.Create(u).Error; err != nil {
		return nil, err
	}
	if ident != nil {
		ident.UserID = u.ID
		if err := createIdentity(tx, ident); err != nil {
			return nil, err
		}
	}
	if passwordHash != "" {
		if err := tx.Create(&PasswordCredential{UserID: u.ID, Hash: passwordHash}).Error; err != nil {
			return nil, err
		}
	}
	team := &Team{Name: "", Personal: true}
	if err := createTeam(tx, team, u.ID); err != nil {
		return nil, err
	}
	return team, nil
}

func createIdentity(tx *gorm.DB, ident *Identity) error {
	if ident.ID == "" {
		ident.ID = newID(IdentityIDPrefix)
	}
	if ident.Provider == "" || ident.Subject == "" {
		return errors.New("an identity needs a provider and a subject")
	}
	return tx.Create(ident).Error
}

// GetUser returns the user or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (*User, error) {
	var u User
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("store: user %s: %w", id, mapErr(err))
	}
	return &u, nil
}

// ListUsers returns users, newest first, at most limit (0: all).
func (s *Store) ListUsers(ctx context.Context, limit int) ([]User, error) {
	q := s.db.WithContext(ctx).Order("created_at DESC, id")
	if limit > 0 {
		q = q.Limit(limit)
	}
	var us []User
	if err := q.Find(&us).Error; err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	return us, nil
}

// UserByIdentity returns the user whose identity (provider, subject) is,
// with the identity, or ErrNotFound.
func (s *Store) UserByIdentity(ctx context.Context, provider, subject string) (*User, *Identity, error) {
	var id Identity
	if err := s.db.WithContext(ctx).Where("provider = ? AND subject = ?", provider, subject).Take(&id).Error; err != nil {
		return nil, nil, fmt.Errorf("store: identity: %w", mapErr(err))
	}
	u, err := s.GetUser(ctx, id.UserID)
	if err != nil {
		return nil, nil, err
	}
	return u, &id, nil
}

// IdentitiesOfIssuer returns the identities with issuer (not empty) and
// subject, of any provider: one issuer's subject is one person.
func (s *Store) IdentitiesOfIssuer(ctx context.Context, issuer, subject string) ([]Identity, error) {
	if issuer == "" {
		return nil, nil
	}
	var ids []Identity
	if err := s.db.WithContext(ctx).Where("issuer = ? AND subject = ?", issuer, subject).Order("created_at, id").Find(&ids).Error; err != nil {
		return nil, fmt.Errorf("store: identities of issuer: %w", err)
	}
	return ids, nil
}

// UsersWithVerifiedEmail returns the ids of the users who have email
// (compared without case) as a verified address, on the user or on one of
// their identities.
func (s *Store) UsersWithVerifiedEmail(ctx context.Context, email string) ([]string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return nil, nil
	}
	var a, b []string
	db := s.db.WithContext(ctx)
	if err := db.Model(&User{}).Where("email_verified AND LOWER(email) = ?", email).Order("id").Pluck("id", &a).Error; err != nil {
		return nil, fmt.Errorf("store: users by email: %w", err)
	}
	if err := db.Model(&Identity{}).Where("email_verified AND LOWER(email) = ?", email).Order("user_id").Distinct().Pluck("user_id", &b).Error; err != nil {
		return nil, fmt.Errorf("store: users by email: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for _, id := range append(a, b...) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// AddIdentity links ident to ident.UserID; ErrConflict when (provider,
// subject) is someone's already.
func (s *Store) AddIdentity(ctx context.Context, ident *Identity) error {
	if err := createIdentity(s.db.WithContext(ctx), ident); err != nil {
		return fmt.Errorf("store: add identity: %w", mapErr(err))
	}
	return nil
}

// TouchIdentity records a sign-in with ident: what the provider now says
// (issuer, email, verified, name) and when.
func (s *Store) TouchIdentity(ctx context.Context, ident *Identity, now time.Time) error {
	err := s.db.WithContext(ctx).Model(&Identity{}).Where("id = ?", ident.ID).Updates(map[string]any{
		"issuer": ident.Issuer, "email": ident.Email, "email_verified": ident.EmailVerified, "name": ident.Name, "last_used_at": now,
	}).Error
	if err != nil {
		return fmt.Errorf("store: touch identity: %w", err)
	}
	ident.LastUsedAt = &now
	return nil
}

// ListIdentities returns a user's identities, oldest first.
func (s *Store) ListIdentities(ctx context.Context, userID string) ([]Identity, error) {
	var ids []Identity
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&ids).Error; err != nil {
		return nil, fmt.Errorf("store: list identities: %w", err)
	}
	return ids, nil
}

// DeleteIdentity unlinks a user's identity; never the last one
// (ErrLastIdentity). Unlinking the local identity removes the password.
func (s *Store) DeleteIdentity(ctx context.Context, userID, identityID string) error {
	err := s.Write(ctx, func(tx *gorm.DB) error {
		var ids []Identity
		if err := tx.Where("user_id = ?", userID).Find(&ids).Error; err != nil {
			return err
		}
		var found *Identity
		for i := range ids {
			if ids[i].ID == identityID {
				found = &ids[i]
			}
		}
		if found == nil {
			return ErrNotFound
		}
		if len(ids) == 1 {
			return ErrLastIdentity
		}
		if err := tx.Where("id = ? AND user_id = ?", identityID, userID).Delete(&Identity{}).Error; err != nil {
			return err
		}
		if found.Provider == ProviderLocal {
			return tx.Where("user_id = ?", userID).Delete(&PasswordCredential{}).Error
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: unlink identity: %w", mapErr(err))
	}
	return nil
}

// UserUpdate names the fields of a user to change (nil: unchanged).
type UserUpdate struct {
	Email         *string
	EmailVerified *bool
	Name          *string
	AvatarURL     *string
	Lang          *string
	PlatformAdmin *bool
	Disabled      *bool
	LastSignInAt  *time.Time
}

// UpdateUser changes the fields up names and returns the user.
func (s *Store) UpdateUser(ctx context.Context, id string, up UserUpdate, now time.Time) (*User, error) {
	m := map[string]any{"updated_at": now}
	set := func(col string, v any, ok bool) {
		if ok {
			m[col] = v
		}
	}
	set("email", deref(up.Email), up.Email != nil)
	set("email_verified", deref(up.EmailVerified), up.EmailVerified != nil)
	set("name", deref(up.Name), up.Name != nil)
	set("avatar_url", deref(up.AvatarURL), up.AvatarURL != nil)
	set("lang", deref(up.Lang), up.Lang != nil)
	set("platform_admin", deref(up.PlatformAdmin), up.PlatformAdmin != nil)
	set("last_sign_in_at", up.LastSignInAt, up.LastSignInAt != nil)
	if up.Disabled != nil {
		if *up.Disabled {
			m["disabled_at"] = now
		} else {
			m["disabled_at"] = nil
		}
	}
	res := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", id).Updates(m)
	if res.Error != nil {
		return nil, fmt.Errorf("store: update user: %w", mapErr(res.Error))
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("store: update user %s: %w", id, ErrNotFound)
	}
	return s.GetUser(ctx, id)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// CreateSession stores a new session (an id is made when it has none).
func (s *Store) CreateSession(ctx context.Context, sess *Session) error {
	if sess.ID == "" {
		sess.ID = newID(SessionIDPrefix)
	}
	if err := s.db.WithContext(ctx).Create(sess).Error; err != nil {
		return fmt.Errorf("store: create session: %w", mapErr(err))
	}
	return nil
}

// SessionByHash returns the live session whose cookie hashes to hash, or
// ErrNotFound.
func (s *Store) SessionByHash(ctx context.Context, hash string, now time.Time) (*Session, error) {
	var sess Session
	if err := s.db.WithContext(ctx).Where("hash = ? AND expires_at > ?", hash, now).Take(&sess).Error; err != nil {
		return nil, fmt.Errorf("store: session: %w", mapErr(err))
	}
	return &sess, nil
}

// TouchSession slides a session: seen at lastSeen, now good until expires.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, expires time.Time) error {
	err := s.db.WithContext(ctx).Model(&Session{}).Where("id = ?", id).
		Updates(map[string]any{"last_seen_at": lastSeen, "expires_at": expires}).Error
	if err != nil {
		return fmt.Errorf("store: touch session: %w", err)
	}
	return nil
}

// ListSessions returns a user's live sessions, most recently seen first.
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error) {
	var ss []Session
	if err := s.db.WithContext(ctx).Where("user_id = ? AND expires_at > ?", userID, now).Order("last_seen_at DESC, id").Find(&ss).Error; err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	return ss, nil
}

// DeleteSession ends one of a user's sessions; ErrNotFound when the user has
// no session with that id.
func (s *Store) DeleteSession(ctx context.Context, userID, id string) error {
	res := s.db.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&Session{})
	if res.Error != nil {
		return fmt.Errorf("store: delete session: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: session %s: %w", id, ErrNotFound)
	}
	return nil
}

// DeleteUserSessions ends every session of a user but except (an id, or
// "") and returns how many ended.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, except string) (int64, error) {
	res := s.db.WithContext(ctx).Where("user_id = ? AND id <> ?", userID, except).Delete(&Session{})
	if res.Error != nil {
		return 0, fmt.Errorf("store: delete sessions: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// DeleteExpiredSessions removes expired sessions and one-time tokens.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.Write(ctx, func(tx *gorm.DB) error {
		res := tx.Where("expires_at <= ?", now).Delete(&Session{})
		if res.Error != nil {
			return res.Error
		}
		n += res.RowsAffected
		res = tx.Where("expires_at <= ?", now).Delete(&OneTimeToken{})
		n += res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return n, nil
}

// PasswordHash returns a user's password hash, or ErrNotFound when the user
// has no local password.
func (s *Store) PasswordHash(ctx context.Context, userID string) (string, error) {
	var pc PasswordCredential
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).Take(&pc).Error; err != nil {
		return "", fmt.Errorf("store: password: %w", mapErr(err))
	}
	return pc.Hash, nil
}

// SetPassword sets (or replaces) a user's password hash.
func (s *Store) SetPassword(ctx context.Context, userID, hash string, now time.Time) error {
	err := s.Write(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&PasswordCredential{}).Where("user_id = ?", userID).Updates(map[string]any{"hash": hash, "updated_at": now})
		if res.Error != nil || res.RowsAffected > 0 {
			return res.Error
		}
		return tx.Create(&PasswordCredential{UserID: userID, Hash: hash, UpdatedAt: now}).Error
	})
	if err != nil {
		return fmt.Errorf("store: set password: %w", mapErr(err))
	}
	return nil
}

// PutToken implements login.TokenStore: t replaces the tokens of the same
// user and purpose; expired tokens are dropped on the way.
func (s *Store) PutToken(ctx context.Context, t login.StoredToken) error {
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("(user_id = ? AND purpose = ?) OR expires_at <= ?", t.UserID, string(t.Purpose), time.Now().UTC()).Delete(&OneTimeToken{}).Error; err != nil {
			return err
		}
		return tx.Create(&OneTimeToken{Hash: t.Hash, Purpose: string(t.Purpose), UserID: t.UserID, Email: t.Email, ExpiresAt: t.Expires.UTC()}).Error
	})
	if err != nil {
		return fmt.Errorf("store: put one-time token: %w", mapErr(err))
	}
	return nil
}

// TakeToken implements login.TokenStore: the token is deleted as it is
// read, so of concurrent takes one gets it.
func (s *Store) TakeToken(ctx context.Context, purpose login.Purpose, hash string) (login.StoredToken, error) {
	var got login.StoredToken
	err := s.Write(ctx, func(tx *gorm.DB) error {
		var t OneTimeToken
		if err := tx.Where("hash = ? AND purpose = ?", hash, string(purpose)).Take(&t).Error; err != nil {
			return err
		}
		res := tx.Where("hash = ?", hash).Delete(&OneTimeToken{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		got = login.StoredToken{Hash: t.Hash, Purpose: login.Purpose(t.Purpose), UserID: t.UserID, Email: t.Email, Expires: t.ExpiresAt}
		return nil
	})
	if errors.Is(mapErr(err), ErrNotFound) {
		return login.StoredToken{}, login.ErrTokenUnknown
	}
	if err != nil {
		return login.StoredToken{}, fmt.Errorf("store: take one-time token: %w", err)
	}
	return got, nil
}
