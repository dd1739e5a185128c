package login

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
)

// Purpose is what a one-time token is for; a token works only for its own.
type Purpose string

const (
	VerifyEmail   Purpose = "verify_email"
	ResetPassword Purpose = "reset_password"
)

// How long a link stays good: a verification mail may sit in an inbox over
// a weekend; a reset link is a password, so it is short.
const (
	VerifyEmailTTL   = 48 * time.Hour
	ResetPasswordTTL = time.Hour
)

// ErrTokenUnknown is a link that is not (or no longer) good: never issued,
// used already, replaced by a newer one, or expired. Which of these it was
// is not told.
var ErrTokenUnknown = sentinel(apperr.Gone, "token_unknown", "this link is not valid, was used already or has expired; ask for a new one", "该链接无效、已被使用或已过期，请重新申请。")

// StoredToken is a one-time token as kept: only the SHA-256 of the token, so
// the database alone does not let anyone verify or reset anything.
type StoredToken struct {
	Hash    string // HashToken of the token (hex)
	Purpose Purpose
	UserID  string
	// Email is the address a verification link proves, or the account's
	// address when a reset link was sent; the caller checks it is still
	// the user's before acting.
	Email   string
	Expires time.Time
}

// TokenStore keeps one-time tokens; the cloud's store implements it
// (logintest.TestTokenStore checks an implementation), MemoryTokenStore is
// one in memory.
type TokenStore interface {
	// PutToken keeps t, replacing the live tokens of the same user and
	// purpose, so only the newest link works.
	PutToken(ctx context.Context, t StoredToken) error
	// TakeToken deletes the token of purpose with hash and returns it, or
	// fails with ErrTokenUnknown. Of concurrent takes of one token exactly
	// one gets it.
	TakeToken(ctx context.Context, purpose Purpose, hash string) (StoredToken, error)
}

// Tokens issues and redeems one-time tokens: 256 random bits, base64url.
type Tokens struct {
	store TokenStore
	now   func() time.Time
}

// NewTokens keeps tokens in store.
func NewTokens(store TokenStore) *Tokens { return &Tokens{store: store, now: time.Now} }

// HashToken is what is kept of token.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Issue makes a token for userID (and email) good for ttl and returns it,
// to be put in a link; only its hash is kept.
func (t *Tokens) Issue(ctx context.Context, purpose Purpose, userID, email string, ttl time.Duration) (string, error) {
	if userID == "" || purpose == "" || ttl <= 0 {
		return "", errors.New("login: a token needs a purpose, a user and a lifetime")
	}
	tok := randomToken()
	err := t.store.PutToken(ctx, StoredToken{Hash: HashToken(tok), Purpose: purpose, UserID: userID, Email: email, Expires: t.now().Add(ttl)})
	if err != nil {
		return "", err
	}
	return tok, nil
}

// Redeem uses token up and returns what it was issued for; ErrTokenUnknown
// if it is malformed, unknown, used, replaced or expired.
func (t *Tokens) Redeem(ctx context.Context, purpose Purpose, token string) (StoredToken, error) {
	if b, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(b) != 32 {
		return StoredToken{}, ErrTokenUnknown
	}
	st, err := t.store.TakeToken(ctx, purpose, HashToken(token))
	if err != nil {
		return StoredToken{}, err
	}
	if !t.now().Before(st.Expires) {
		return StoredToken{}, ErrTokenUnknown
	}
	return st, nil
}

// MemoryTokenStore is a TokenStore in memory, for a single process without
// a database and for tests. Expired tokens are dropped as new ones come.
type MemoryTokenStore struct {
	mu  sync.Mutex
	m   map[string]StoredToken
	now func() time.Time
}

// NewMemoryTokenStore returns an empty store.
func NewMemoryTokenStore() *MemoryTokenStore {
	return &MemoryTokenStore{m: map[string]StoredToken{}, now: time.Now}
}

func (s *MemoryTokenStore) PutToken(_ context.Context, t StoredToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for h, o := range s.m {
		if (o.UserID == t.UserID && o.Purpose == t.Purpose) || !now.Before(o.Expires) {
			delete(s.m, h)
		}
	}
	s.m[t.Hash] = t
	return nil
}

func (s *MemoryTokenStore) TakeToken(_ context.Context, purpose Purpose, hash string) (StoredToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[hash]
	if !ok || t.Purpose != purpose {
		return StoredToken{}, ErrTokenUnknown
	}
	delete(s.m, hash)
	return t, nil
}
