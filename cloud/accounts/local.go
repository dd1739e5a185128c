package accounts

import (
	"context"
	"errors"
	"net/url"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/login"
	"github.com/clawfleet/clawfleet/cloud/store"
)

// Paths of the pages the links in mails open (cloud/api serves them).
const (
	VerifyPath = "/auth/local/verify"
	ResetPath  = "/auth/local/reset"
)

// SignUp is what a person gives to make a local account.
type SignUp struct {
	Email    string
	Password string
	Name     string
	Lang     string
}

// SignUp makes a local account (not verified yet: it signs in, but its
// email links nothing until verified) and sends the verification link.
func (s *Service) SignUp(ctx context.Context, in SignUp) (*store.User, error) {
	if !s.opt.LocalAccounts {
		return nil, ErrLocalOff
	}
	email, err := normEmail(in.Email)
	if err != nil {
		return nil, err
	}
	name := bounded(in.Name, 255)
	if err := s.opt.Policy.Check(in.Password, email, name); err != nil {
		return nil, err
	}
	if _, _, err := s.st.UserByIdentity(ctx, store.ProviderLocal, email); err == nil {
		return nil, ErrEmailTaken
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	hash, err := s.opt.Hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	lang := ""
	if in.Lang == "en" || in.Lang == "zh-CN" {
		lang = in.Lang
	}
	u := &store.User{Email: email, Name: name, Lang: lang, LastSignInAt: &now}
	ident := &store.Identity{Provider: store.ProviderLocal, Subject: email, Email: email, Name: name, CreatedAt: now, LastUsedAt: &now}
	if _, err := s.st.CreateUser(ctx, u, ident, hash); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, ErrEmailTaken
		}
		return nil, err
	}
	s.log.Info("local account created", "user", u.ID)
	if _, err := s.sendLink(ctx, login.VerifyEmail, u, email); err != nil {
		s.log.Warn("verification mail not sent", "user", u.ID, "err", err)
	}
	return u, nil
}

// IssueLink makes a verification or reset link for a user's local account
// and sends it when mail is configured; the link is returned either way,
// for an admin to hand out when there is no mail.
func (s *Service) IssueLink(ctx context.Context, purpose login.Purpose, userID string) (string, error) {
	u, err := s.st.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrNoSuchUser
	}
	if err != nil {
		return "", err
	}
	email, err := s.localEmail(ctx, userID)
	if err != nil {
		return "", err
	}
	return s.sendLink(ctx, purpose, u, email)
}

// localEmail is the address of a user's local account.
func (s *Service) localEmail(ctx context.Context, userID string) (string, error) {
	ids, err := s.st.ListIdentities(ctx, userID)
	if err != nil {
		return "", err
	}
	for _, id := range ids {
		if id.Provider == store.ProviderLocal {
			return id.Subject, nil
		}
	}
	return "", ErrNoLocalAccount
}

// sendLink issues a one-time token for purpose and mails its link to email
// or, without mail, logs it for an admin.
func (s *Service) sendLink(ctx context.Context, purpose login.Purpose, u *store.User, email string) (string, error) {
	ttl, path := login.VerifyEmailTTL, VerifyPath
	if purpose == login.ResetPassword {
		ttl, path = login.ResetPasswordTTL, ResetPath
	}
	tok, err := s.tokens.Issue(ctx, purpose, u.ID, email, ttl)
	if err != nil {
		return "", err
	}
	link := s.opt.PublicURL + path + "?" + url.Values{"token": {tok}}.Encode()
	if s.opt.Mailer == nil {
		// No SMTP: an admin hands the link out (it is as good as the
		// password for its hour, so only the log, which is the operator's).
		s.log.Warn("no SMTP configured (CLAWFLEET_SMTP_HOST): give this link to the user yourself", "purpose", string(purpose), "user", u.ID, "email", email, "link", link)
		return link, nil
	}
	m := login.VerificationMail(u.Lang, email, link)
	if purpose == login.ResetPassword {
		m = login.ResetMail(u.Lang, email, link)
	}
	if err := s.opt.Mailer.Send(ctx, m); err != nil {
		return link, err
	}
	return link, nil
}

// VerifyEmail redeems a verification link: the local account's address is
// verified (if it is still the one the link was sent to).
func (s *Service) VerifyEmail(ctx context.Context, token string) (*store.User, error) {
	st, err := s.tokens.Redeem(ctx, login.VerifyEmail, token)
	if err != nil {
		return nil, err
	}
	return s.markVerified(ctx, st)
}

func (s *Service) markVerified(ctx context.Context, st login.StoredToken) (*store.User, error) {
	u, ident, err := s.st.UserByIdentity(ctx, store.ProviderLocal, st.Email)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.ID != st.UserID) {
		return nil, login.ErrTokenUnknown
	}
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	ident.EmailVerified = true
	if err := s.st.TouchIdentity(ctx, ident, now); err != nil {
		return nil, err
	}
	if u.Email == st.Email || u.Email == "" || !u.EmailVerified {
		t := true
		return s.st.UpdateUser(ctx, u.ID, store.UserUpdate{Email: &st.Email, EmailVerified: &t}, now)
	}
	return u, nil
}

// PasswordSignIn checks a local account's password under the limiter;
// device is the browser's device token cookie. It returns the user and a
// new device token to keep. A wrong email and a wrong password are the
// same ErrWrongPassword, and take the same time.
func (s *Service) PasswordSignIn(ctx context.Context, email, password, addr, device string) (*store.User, string, error) {
	if !s.opt.LocalAccounts {
		return nil, "", ErrLocalOff
	}
	try, err := s.opt.Limiter.Begin(login.Attempt{Account: email, Addr: addr, Device: device})
	if err != nil {
		return nil, "", err
	}
	norm, err := normEmail(email)
	var u *store.User
	if err == nil {
		u, _, err = s.st.UserByIdentity(ctx, store.ProviderLocal, norm)
	}
	var hash string
	if err == nil {
		hash, err = s.st.PasswordHash(ctx, u.ID)
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrBadEmail) {
			_ = s.opt.Hasher.Decoy(ctx, password)
			try.Failed()
			return nil, "", login.ErrWrongPassword
		}
		try.Failed()
		return nil, "", err
	}
	ok, rehash, err := s.opt.Hasher.Verify(ctx, hash, password)
	if err != nil {
		try.Failed()
		return nil, "", err
	}
	if !ok {
		try.Failed()
		return nil, "", login.ErrWrongPassword
	}
	if u.DisabledAt != nil {
		try.Failed()
		return nil, "", ErrDisabled
	}
	dev := try.Succeeded()
	now := s.now().UTC()
	if rehash {
		if h, err := s.opt.Hasher.Hash(ctx, password); err == nil {
			_ = s.st.SetPassword(ctx, u.ID, h, now)
		}
	}
	u, err = s.st.UpdateUser(ctx, u.ID, store.UserUpdate{LastSignInAt: &now}, now)
	if err != nil {
		return nil, "", err
	}
	return u, dev, nil
}

// RequestReset sends a reset link to the local account of email, if there
// is one; whether there is is not told (the caller answers the same).
func (s *Service) RequestReset(ctx context.Context, email string) error {
	if !s.opt.LocalAccounts {
		return ErrLocalOff
	}
	norm, err := normEmail(email)
	if err != nil {
		return err
	}
	u, _, err := s.st.UserByIdentity(ctx, store.ProviderLocal, norm)
	if errors.Is(err, store.ErrNotFound) {
		s.log.Info("password reset asked for an unknown account")
		return nil
	}
	if err != nil {
		return err
	}
	if u.DisabledAt != nil {
		return nil
	}
	if _, err := s.sendLink(ctx, login.ResetPassword, u, norm); err != nil {
		s.log.Warn("reset mail not sent", "user", u.ID, "err", err)
	}
	return nil
}

// ResetPassword redeems a reset link with a new password: it is set, the
// address counts as verified (the link reached it), and every session of
// the user ends.
func (s *Service) ResetPassword(ctx context.Context, token, password string) (*store.User, error) {
	if !s.opt.LocalAccounts {
		return nil, ErrLocalOff
	}
	// The policy first, so a weak password does not use the link up.
	if err := s.opt.Policy.Check(password); err != nil {
		return nil, err
	}
	st, err := s.tokens.Redeem(ctx, login.ResetPassword, token)
	if err != nil {
		return nil, err
	}
	u, err := s.st.GetUser(ctx, st.UserID)
	if err != nil {
		return nil, login.ErrTokenUnknown
	}
	if err := s.opt.Policy.Check(password, st.Email, u.Name); err != nil {
		return nil, err
	}
	hash, err := s.opt.Hasher.Hash(ctx, password)
	if err != nil {
		return nil, err
	}
	u, err = s.markVerified(ctx, st)
	if err != nil {
		return nil, err
	}
	if err := s.st.SetPassword(ctx, u.ID, hash, s.now().UTC()); err != nil {
		return nil, err
	}
	if _, err := s.st.DeleteUserSessions(ctx, u.ID, ""); err != nil {
		return nil, err
	}
	return u, nil
}

// ErrNoLocalAccount: the user has no email and password account;
// ErrNoSuchUser: there is no such user.
var (
	ErrNoLocalAccount = sentinel(apperr.NotFound, "no_local_account", "this user has no email and password account", "该用户没有邮箱密码账号。")
	ErrNoSuchUser     = sentinel(apperr.NotFound, "no_user", "no such user", "没有这个用户。")
)
