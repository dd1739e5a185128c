// Package accounts turns who signed in into users of the cloud: identities
// from cloud/login's providers, local email and password accounts, the web
// app's users (shared secret or SSO token), and the sessions of the
// console. The store keeps the users (cloud/store); the HTTP routes are
// cloud/api's.
//
// Who is who:
//   - An identity (provider, subject) is one person; the first sign-in with
//     one makes a user with a personal team, later ones find that user.
//   - An identity of an issuer that another identity of a user already has
//     (same issuer, same subject: OIDC's "sub" is unique per issuer) is
//     that user's: the SSO web app's users and the same people signing in
//     with that SSO's OIDC are one user each.
//   - Otherwise a provider's verified email that exactly one user has
//     verified links the identity to that user; an unverified email never
//     does, and two existing users are never merged.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/login"
	cfmail "github.com/clawfleet/clawfleet/cloud/mail"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/creds"
)

// Session lifetimes: a session lasts IdleTTL after its last use (sliding,
// so a daily user stays signed in) and never longer than MaxTTL after the
// sign-in; its expiry is moved at most every renewEvery.
const (
	IdleTTL    = 30 * 24 * time.Hour
	MaxTTL     = 400 * 24 * time.Hour // what browsers allow a cookie at most
	renewEvery = 5 * time.Minute
)

// SessionTokenPrefix begins every session cookie's value.
const SessionTokenPrefix = "cfs_"

// Mailer sends one message (cloud/mail.Sender).
type Mailer interface {
	Send(ctx context.Context, m cfmail.Message) error
}

// Options configure the service.
type Options struct {
	// PublicURL is the cloud's base URL, for the links in mails.
	PublicURL string
	// LocalAccounts enables email and password accounts.
	LocalAccounts bool
	// WebAppIssuer is the issuer whose subjects the web app's user ids
	// are (CLAWFLEET_SSO_ISSUER when its user claim is "sub"), or "".
	WebAppIssuer string
	// Hasher, Limiter and Policy serve local accounts (defaults: argon2id
	// DefaultArgon2 two at a time, DefaultLimits under SecretKey,
	// DefaultPasswordPolicy).
	Hasher  *login.Hasher
	Limiter *login.Limiter
	Policy  login.PasswordPolicy
	// SecretKey (32 bytes or more) signs the limiter's device tokens.
	SecretKey []byte
	// Mailer sends verification and reset mails; nil: the links are
	// logged for an admin to hand out (and returned by IssueLink).
	Mailer Mailer
	Logger *slog.Logger
}

// Service is the accounts service.
type Service struct {
	st     *store.Store
	opt    Options
	tokens *login.Tokens
	log    *slog.Logger
	now    func() time.Time

	// seen remembers web-app owner ids known to have a user, so the web
	// app's calls do not each read the store.
	mu   sync.Mutex
	seen map[string]struct{}
}

const maxSeen = 100000

// New makes the service on st.
func New(st *store.Store, opt Options) (*Service, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Policy == (login.PasswordPolicy{}) {
		opt.Policy = login.DefaultPasswordPolicy
	}
	if opt.Hasher == nil {
		opt.Hasher = login.NewHasher(login.DefaultArgon2, 2)
	}
	if opt.Limiter == nil {
		if len(opt.SecretKey) < 32 {
			return nil, errors.New("accounts: a secret key of 32 bytes or more is needed to sign device tokens")
		}
		opt.Limiter = login.NewLimiter(opt.SecretKey, login.DefaultLimits)
	}
	opt.PublicURL = strings.TrimRight(opt.PublicURL, "/")
	return &Service{st: st, opt: opt, tokens: login.NewTokens(st), log: opt.Logger, now: time.Now, seen: map[string]struct{}{}}, nil
}

// LocalAccounts reports whether email and password accounts are enabled.
func (s *Service) LocalAccounts() bool { return s.opt.LocalAccounts }

// SignIn finds or makes the user id signed in as (see the package comment)
// and records the sign-in.
func (s *Service) SignIn(ctx context.Context, id login.Identity) (*store.User, error) {
	if id.Provider == "" || id.Subject == "" {
		return nil, ErrNoIdentity
	}
	for attempt := 0; ; attempt++ {
		u, err := s.signIn(ctx, id)
		// Two first sign-ins of one person at once: the second finds the
		// first's user.
		if errors.Is(err, store.ErrConflict) && attempt == 0 {
			continue
		}
		return u, err
	}
}

func (s *Service) signIn(ctx context.Context, id login.Identity) (*store.User, error) {
	now := s.now().UTC()
	u, ident, err := s.st.UserByIdentity(ctx, id.Provider, id.Subject)
	switch {
	case err == nil:
		if u.DisabledAt != nil {
			return nil, ErrDisabled
		}
		ident.Issuer, ident.Email, ident.EmailVerified, ident.Name = bounded(id.Issuer, 512), bounded(id.Email, 254), id.EmailVerified, bounded(id.Name, 255)
		if err := s.st.TouchIdentity(ctx, ident, now); err != nil {
			return nil, err
		}
		return s.signedIn(ctx, u, id, now)
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	owner, err := s.ownerOf(ctx, id)
	if err != nil {
		return nil, err
	}
	if owner != "" {
		u, err := s.st.GetUser(ctx, owner)
		if err != nil {
			return nil, err
		}
		if u.DisabledAt != nil {
			return nil, ErrDisabled
		}
		if err := s.st.AddIdentity(ctx, identityOf(id, u.ID, now)); err != nil {
			return nil, err
		}
		s.log.Info("identity linked to an existing user", "user", u.ID, "provider", id.Provider)
		return s.signedIn(ctx, u, id, now)
	}
	email, verified := id.VerifiedEmail()
	if !verified {
		email = bounded(id.Email, 254)
	}
	u = &store.User{Email: email, EmailVerified: verified, Name: bounded(id.Name, 255), AvatarURL: bounded(id.AvatarURL, 1024), LastSignInAt: &now}
	if _, err := s.st.CreateUser(ctx, u, identityOf(id, "", now), ""); err != nil {
		return nil, err
	}
	s.log.Info("user created", "user", u.ID, "provider", id.Provider)
	return u, nil
}

// ownerOf is the user an identity not yet known belongs to: by its
// issuer's subject, else by a verified email exactly one user has
// verified; "" for a new user.
func (s *Service) ownerOf(ctx context.Context, id login.Identity) (string, error) {
	same, err := s.st.IdentitiesOfIssuer(ctx, id.Issuer, id.Subject)
	if err != nil {
		return "", err
	}
	users := distinctUsers(same)
	switch {
	case len(users) == 1:
		return users[0], nil
	case len(users) > 1:
		return "", ErrAmbiguous
	}
	email, ok := id.VerifiedEmail()
	if !ok {
		return "", nil
	}
	users, err = s.st.UsersWithVerifiedEmail(ctx, email)
	if err != nil {
		return "", err
	}
	switch len(users) {
	case 0:
		return "", nil
	case 1:
		return users[0], nil
	}
	return "", ErrAmbiguous
}

func distinctUsers(ids []store.Identity) []string {
	var out []string
	for _, i := range ids {
		if len(out) == 0 || !contains(out, i.UserID) {
			out = append(out, i.UserID)
		}
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// signedIn records a sign-in: when, and what the user had not yet (a name,
// an avatar, a verified email).
func (s *Service) signedIn(ctx context.Context, u *store.User, id login.Identity, now time.Time) (*store.User, error) {
	up := store.UserUpdate{LastSignInAt: &now}
	if u.Name == "" && id.Name != "" {
		n := bounded(id.Name, 255)
		up.Name = &n
	}
	if u.AvatarURL == "" && id.AvatarURL != "" {
		a := bounded(id.AvatarURL, 1024)
		up.AvatarURL = &a
	}
	if email, ok := id.VerifiedEmail(); ok && !u.EmailVerified && len(email) <= 254 {
		t := true
		up.Email, up.EmailVerified = &email, &t
	}
	return s.st.UpdateUser(ctx, u.ID, up, now)
}

func identityOf(id login.Identity, userID string, now time.Time) *store.Identity {
	return &store.Identity{UserID: userID, Provider: id.Provider, Subject: bounded(id.Subject, 255), Issuer: bounded(id.Issuer, 512),
		Email: bounded(id.Email, 254), EmailVerified: id.EmailVerified && len(id.Email) <= 254, Name: bounded(id.Name, 255), CreatedAt: now, LastUsedAt: &now}
}

// bounded cuts s to n bytes at most (a provider's odd value must not fail a
// sign-in), on a character boundary.
func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// Link adds identity id to the signed-in user userID. An identity that is
// another user's is refused (ErrIdentityTaken): users are never merged.
func (s *Service) Link(ctx context.Context, userID string, id login.Identity) error {
	now := s.now().UTC()
	u, ident, err := s.st.UserByIdentity(ctx, id.Provider, id.Subject)
	switch {
	case err == nil && u.ID == userID:
		ident.Issuer, ident.Email, ident.EmailVerified, ident.Name = bounded(id.Issuer, 512), bounded(id.Email, 254), id.EmailVerified, bounded(id.Name, 255)
		return s.st.TouchIdentity(ctx, ident, now)
	case err == nil:
		return ErrIdentityTaken
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if err := s.st.AddIdentity(ctx, identityOf(id, userID, now)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return ErrIdentityTaken
		}
		return err
	}
	return nil
}

// Identities lists a user's identities.
func (s *Service) Identities(ctx context.Context, userID string) ([]store.Identity, error) {
	return s.st.ListIdentities(ctx, userID)
}

// Unlink removes one of a user's identities, never the last.
func (s *Service) Unlink(ctx context.Context, userID, identityID string) error {
	err := s.st.DeleteIdentity(ctx, userID, identityID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoSuchIdentity
	}
	return err
}

// User returns a user.
func (s *Service) User(ctx context.Context, id string) (*store.User, error) {
	return s.st.GetUser(ctx, id)
}

// Teams returns a user's teams with their role.
func (s *Service) Teams(ctx context.Context, userID string) ([]store.Membership, error) {
	return s.st.UserTeams(ctx, userID)
}

// SetLang records the user's language ("en", "zh-CN").
func (s *Service) SetLang(ctx context.Context, userID, lang string) (*store.User, error) {
	if lang != "en" && lang != "zh-CN" {
		return nil, ErrBadLang
	}
	return s.st.UpdateUser(ctx, userID, store.UserUpdate{Lang: &lang}, s.now().UTC())
}

// WebAppUser is the user the web app (shared secret and X-User-ID, or an
// SSO token) acts for: the identity (ProviderWebApp, ownerID), made on
// first sight with a personal team. ownerID stays the tenants' owner id
// for that caller; the user it maps to is the same person in the console.
func (s *Service) WebAppUser(ctx context.Context, ownerID, email string) error {
	s.mu.Lock()
	_, ok := s.seen[ownerID]
	s.mu.Unlock()
	if ok {
		return nil
	}
	if _, err := s.SignIn(ctx, login.Identity{Provider: store.ProviderWebApp, Issuer: s.opt.WebAppIssuer, Subject: ownerID, Email: email}); err != nil {
		return fmt.Errorf("accounts: the web app's user %q: %w", ownerID, err)
	}
	s.mu.Lock()
	if len(s.seen) >= maxSeen {
		clear(s.seen)
	}
	s.seen[ownerID] = struct{}{}
	s.mu.Unlock()
	return nil
}

// NewSession starts a session for a user who just signed in: always a new
// token (a session is never carried over a sign-in), kept as its hash.
// token is the cookie's value.
func (s *Service) NewSession(ctx context.Context, userID, userAgent, addr string) (token string, sess *store.Session, err error) {
	now := s.now().UTC()
	token = creds.NewToken(SessionTokenPrefix)
	sess = &store.Session{Hash: creds.Hash(token), UserID: userID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(IdleTTL),
		UserAgent: bounded(userAgent, 255), Address: bounded(addr, 64)}
	if err := s.st.CreateSession(ctx, sess); err != nil {
		return "", nil, err
	}
	return token, sess, nil
}

// Authenticate returns the user and live session of a session token,
// sliding its expiry; ErrNoSession when it is unknown, expired, or its user
// is disabled.
func (s *Service) Authenticate(ctx context.Context, token string) (*store.User, *store.Session, error) {
	if !strings.HasPrefix(token, SessionTokenPrefix) || len(token) > 128 {
		return nil, nil, ErrNoSession
	}
	now := s.now().UTC()
	sess, err := s.st.SessionByHash(ctx, creds.Hash(token), now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrNoSession
	}
	if err != nil {
		return nil, nil, err
	}
	u, err := s.st.GetUser(ctx, sess.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrNoSession
	}
	if err != nil {
		return nil, nil, err
	}
	if u.DisabledAt != nil {
		return nil, nil, ErrNoSession
	}
	if now.Sub(sess.LastSeenAt) >= renewEvery {
		exp := now.Add(IdleTTL)
		if end := sess.CreatedAt.Add(MaxTTL); exp.After(end) {
			exp = end
		}
		if err := s.st.TouchSession(ctx, sess.ID, now, exp); err != nil {
			return nil, nil, err
		}
		sess.LastSeenAt, sess.ExpiresAt = now, exp
	}
	return u, sess, nil
}

// SignOut ends the session of token (nothing when there is none).
func (s *Service) SignOut(ctx context.Context, token string) error {
	_, sess, err := s.Authenticate(ctx, token)
	if errors.Is(err, ErrNoSession) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.st.DeleteSession(ctx, sess.UserID, sess.ID)
}

// Sessions lists a user's live sessions, most recently used first.
func (s *Service) Sessions(ctx context.Context, userID string) ([]store.Session, error) {
	return s.st.ListSessions(ctx, userID, s.now().UTC())
}

// RevokeSession ends one of a user's sessions.
func (s *Service) RevokeSession(ctx context.Context, userID, sessionID string) error {
	if err := s.st.DeleteSession(ctx, userID, sessionID); errors.Is(err, store.ErrNotFound) {
		return ErrNoSuchSession
	} else if err != nil {
		return err
	}
	return nil
}

// SignOutEverywhere ends every session of a user but except ("" for all)
// and says how many ended.
func (s *Service) SignOutEverywhere(ctx context.Context, userID, except string) (int64, error) {
	return s.st.DeleteUserSessions(ctx, userID, except)
}

// normEmail checks an address typed for a local account and returns it
// lower-cased, the local identity's subject.
func normEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > 254 || !strings.Contains(email, "@") {
		return "", ErrBadEmail
	}
	return strings.ToLower(email), nil
}

// The errors of accounts, with their en and zh-CN texts (Describe).
var (
	ErrNoIdentity     = sentinel(apperr.Invalid, "identity_missing", "the provider did not say who signed in", "身份提供方没有返回登录的用户。")
	ErrDisabled       = sentinel(apperr.Forbidden, "account_disabled", "this account is disabled; ask the operator", "该账号已停用，请联系管理员。")
	ErrAmbiguous      = sentinel(apperr.Conflict, "account_ambiguous", "several accounts have this email address verified; sign in to the one you want and link this sign-in from its account page", "有多个账号验证过这个邮箱；请先登录要使用的账号，再在账号页面关联这种登录方式。")
	ErrIdentityTaken  = sentinel(apperr.Conflict, "identity_taken", "this sign-in belongs to another account; sign in with it and remove it there first", "该登录方式已属于另一个账号；请先用它登录并在那里移除。")
	ErrNoSuchIdentity = sentinel(apperr.NotFound, "no_identity", "no such sign-in method on this account", "该账号没有这种登录方式。")
	ErrNoSession      = sentinel(apperr.Unauthorized, "not_signed_in", "not signed in, or the session has ended: sign in again", "未登录或会话已结束，请重新登录。")
	ErrNoSuchSession  = sentinel(apperr.NotFound, "no_session", "no such session of this account", "该账号没有这个会话。")
	ErrLocalOff       = sentinel(apperr.NotFound, "local_accounts_disabled", "email and password accounts are disabled on this cloud; sign in with a provider", "本云未启用邮箱密码账号，请使用其他方式登录。")
	ErrBadEmail       = sentinel(apperr.Invalid, "invalid_email", "enter an email address such as name@example.com", "请输入有效的邮箱地址，例如 name@example.com。")
	ErrEmailTaken     = sentinel(apperr.Conflict, "email_taken", "an account with this email exists already: sign in, or reset its password", "该邮箱已注册：请登录或重置密码。")
	ErrBadLang        = sentinel(apperr.Invalid, "invalid_lang", "the language must be en or zh-CN", "语言只能是 en 或 zh-CN。")
)

var zhMessages = map[string]string{}

func sentinel(kind apperr.Kind, code, en, zh string) *apperr.Error {
	zhMessages[code] = zh
	return apperr.New(kind, code, en)
}

func init() {
	zhMessages[store.ErrLastIdentity.Code] = "这是该账号唯一的登录方式：请先关联另一种再移除。"
	zhMessages[store.ErrLastOwner.Code] = "团队至少要有一位所有者：请先让另一位成员成为所有者。"
	zhMessages[store.ErrInviteGone.Code] = "该邀请无效、已用完、已撤销或已过期，请重新申请。"
	zhMessages[store.ErrAlreadyMember.Code] = "已经是该团队的成员。"
}

// Describe is what to tell a person about err in lang ("zh-CN" or
// English): this package's and the store's account errors by their code,
// sign-in errors as cloud/login says them.
func Describe(err error, lang string) string {
	if m, ok := Localized(err, lang); ok {
		return m
	}
	return login.Describe(err, lang)
}

// Localized is Describe for the errors of accounts and sign-in only: false
// for any other error, so a caller keeps its own text.
func Localized(err error, lang string) (string, bool) {
	e, ok := apperr.As(err)
	if ok && e.Kind != apperr.Internal {
		if zh, ok := zhMessages[e.Code]; ok {
			if strings.HasPrefix(strings.ToLower(lang), "zh") {
				return zh, true
			}
			return e.Msg, true
		}
	}
	return login.Localized(err, lang)
}

// RegisterZh adds the zh-CN text of another package's error code that a
// person reads in the console (Describe, Localized).
func RegisterZh(code, zh string) { zhMessages[code] = zh }

// Users lists the users, newest first (the admin's list).
func (s *Service) Users(ctx context.Context) ([]store.User, error) { return s.st.ListUsers(ctx, 1000) }
