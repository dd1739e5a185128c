package accounts

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/login"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// logBuffer is the service's log, where links go without SMTP.
type logBuffer struct{ tstest.Buffer }

// lastLink is the newest link with path the service logged, and its token.
func (l *logBuffer) lastLink(t *testing.T, path string) string {
	t.Helper()
	ms := regexp.MustCompile(`link="?([^"\s]+)`).FindAllStringSubmatch(l.String(), -1)
	for i := len(ms) - 1; i >= 0; i-- {
		u, err := url.Parse(ms[i][1])
		if err == nil && u.Path == path {
			return u.Query().Get("token")
		}
	}
	t.Fatalf("no %s link logged in:\n%s", path, l.String())
	return ""
}

// testHasher is argon2id with small parameters: the tests are about the
// flows, TestHashTime in cloud/login measures the real ones.
var testHasher = login.NewHasher(login.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 4)

func newService(t *testing.T) (*Service, *store.Store, *logBuffer) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &logBuffer{}
	s, err := New(st, Options{PublicURL: "http://localhost:8080/", LocalAccounts: true, WebAppIssuer: "https://sso.example.com",
		Hasher: testHasher, SecretKey: bytes.Repeat([]byte("k"), 32), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s, st, logs
}

func TestSignInMapsIdentitiesToUsers(t *testing.T) {
	ctx := context.Background()
	oidc := func(sub, email string, verified bool) login.Identity {
		return login.Identity{Provider: "oidc", Issuer: "https://sso.example.com", Subject: sub, Email: email, EmailVerified: verified, Name: "N " + sub}
	}
	github := func(sub, email string, verified bool) login.Identity {
		return login.Identity{Provider: "github", Issuer: "https://api.github.com", Subject: sub, Email: email, EmailVerified: verified}
	}
	tests := []struct {
		name string
		// before are signed in first, each making or finding its user.
		before []login.Identity
		id     login.Identity
		// same is the index in before whose user id must be, -1 for a new
		// user.
		same int
		err  error
	}{
		{"a first sign-in makes a user", nil, oidc("a", "a@example.com", true), -1, nil},
		{"the same identity again is the same user", []login.Identity{oidc("a", "a@example.com", true)}, oidc("a", "changed@example.com", false), 0, nil},
		{"a verified email one user has verified links", []login.Identity{oidc("a", "a@example.com", true)}, github("1", "A@example.com", true), 0, nil},
		{"an unverified email never links", []login.Identity{oidc("a", "a@example.com", true)}, github("1", "a@example.com", false), -1, nil},
		{"a verified email matching an unverified one does not link", []login.Identity{github("1", "a@example.com", false)}, oidc("a", "a@example.com", true), -1, nil},
		{"two users with the email: no merge", []login.Identity{oidc("a", "a@example.com", true), {Provider: "google", Issuer: "https://accounts.google.com", Subject: "g", Email: "a@example.com", EmailVerified: true}},
			github("1", "a@example.com", true), -1, ErrAmbiguous},
		{"the web app's user and the SSO's OIDC are one", []login.Identity{{Provider: store.ProviderWebApp, Issuer: "https://sso.example.com", Subject: "a"}}, oidc("a", "", false), 0, nil},
		{"another issuer's same subject is another person", []login.Identity{oidc("a", "", false)}, github("a", "", false), -1, nil},
		{"no subject", nil, login.Identity{Provider: "oidc"}, -1, ErrNoIdentity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, st, _ := newService(t)
			var before []*store.User
			for i, id := range tc.before {
				if i == 1 && tc.err == ErrAmbiguous {
					// A second user with the same verified email, made
					// directly (sign-in would link it).
					u := &store.User{Email: id.Email, EmailVerified: true}
					if _, err := st.CreateUser(ctx, u, identityOf(id, "", time.Now()), ""); err != nil {
						t.Fatal(err)
					}
					before = append(before, u)
					continue
				}
				u, err := s.SignIn(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				before = append(before, u)
			}
			u, err := s.SignIn(ctx, tc.id)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("sign-in = %v, want %v", err, tc.err)
				}
				if us, _ := st.ListUsers(ctx, 0); len(us) != len(tc.before) {
					t.Fatalf("a refused sign-in left %d users, want %d", len(us), len(tc.before))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.same >= 0 && u.ID != before[tc.same].ID {
				t.Fatalf("signed in as %s, want the existing %s", u.ID, before[tc.same].ID)
			}
			for _, b := range before {
				if tc.same < 0 && u.ID == b.ID {
					t.Fatalf("signed in as the existing %s, want a new user", u.ID)
				}
			}
			// Every user has a personal team it owns.
			ms, err := st.UserTeams(ctx, u.ID)
			if err != nil || len(ms) != 1 || !ms[0].Personal || ms[0].Role != store.RoleOwner {
				t.Fatalf("teams = %+v, %v", ms, err)
			}
			// The identity is the user's now.
			if got, _, err := st.UserByIdentity(ctx, tc.id.Provider, tc.id.Subject); err != nil || got.ID != u.ID {
				t.Fatalf("identity's user = %+v, %v", got, err)
			}
		})
	}
}

func TestSignInDisabledAndConcurrent(t *testing.T) {
	ctx := context.Background()
	s, st, _ := newService(t)
	id := login.Identity{Provider: "oidc", Issuer: "https://i", Subject: "x"}
	// Concurrent first sign-ins of one person make one user.
	var wg sync.WaitGroup
	ids := make([]string, 4)
	for i := range ids {
		wg.Go(func() {
			u, err := s.SignIn(ctx, id)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = u.ID
		})
	}
	wg.Wait()
	for _, x := range ids {
		if x != ids[0] {
			t.Fatalf("concurrent first sign-ins made users %v", ids)
		}
	}
	off := true
	if _, err := st.UpdateUser(ctx, ids[0], store.UserUpdate{Disabled: &off}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignIn(ctx, id); !errors.Is(err, ErrDisabled) {
		t.Fatalf("a disabled user's sign-in: %v", err)
	}
}

func TestLinkAndUnlink(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	alice, _ := s.SignIn(ctx, login.Identity{Provider: "oidc", Subject: "a"})
	bob, _ := s.SignIn(ctx, login.Identity{Provider: "oidc", Subject: "b"})
	gh := login.Identity{Provider: "github", Subject: "1", Email: "a@example.com"}
	if err := s.Link(ctx, alice.ID, gh); err != nil {
		t.Fatal(err)
	}
	if err := s.Link(ctx, alice.ID, gh); err != nil {
		t.Fatalf("linking an identity the user has: %v", err)
	}
	// Never taken from another user.
	if err := s.Link(ctx, bob.ID, gh); !errors.Is(err, ErrIdentityTaken) {
		t.Fatalf("bob linking alice's identity: %v", err)
	}
	if u, _ := s.SignIn(ctx, gh); u.ID != alice.ID {
		t.Fatalf("the linked identity signs in as %s", u.ID)
	}
	ids, _ := s.Identities(ctx, alice.ID)
	if len(ids) != 2 {
		t.Fatalf("identities = %+v", ids)
	}
	if err := s.Unlink(ctx, bob.ID, ids[1].ID); !errors.Is(err, ErrNoSuchIdentity) {
		t.Fatalf("bob unlinking alice's: %v", err)
	}
	if err := s.Unlink(ctx, alice.ID, ids[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlink(ctx, alice.ID, ids[0].ID); !errors.Is(err, store.ErrLastIdentity) {
		t.Fatalf("unlinking the last identity: %v", err)
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	now := time.Now().UTC()
	s.now = func() time.Time { return now }
	u, _ := s.SignIn(ctx, login.Identity{Provider: "oidc", Subject: "a"})
	t1, s1, err := s.NewSession(ctx, u.ID, "browser one", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	t2, s2, _ := s.NewSession(ctx, u.ID, "browser two", "192.0.2.2")
	if t1 == t2 || s1.ID == s2.ID || !strings.HasPrefix(t1, SessionTokenPrefix) {
		t.Fatal("two sign-ins got the same session")
	}
	if s1.Hash == t1 || strings.Contains(s1.Hash, t1) {
		t.Fatal("the token is kept as it is")
	}
	tests := []struct {
		name  string
		token string
		after time.Duration // since the case before
		ok    bool
	}{
		{"fresh", t1, 0, true},
		{"a forged token", SessionTokenPrefix + "forged", 0, false},
		{"without the prefix", strings.TrimPrefix(t1, SessionTokenPrefix), 0, false},
		{"used daily, a month and more later", t1, 29 * 24 * time.Hour, true},
		{"again 29 days on: slid", t1, 29 * 24 * time.Hour, true},
		{"idle for longer than IdleTTL", t2, 0, false},
	}
	for _, tc := range tests {
		now = now.Add(tc.after)
		_, _, err := s.Authenticate(ctx, tc.token)
		if (err == nil) != tc.ok {
			t.Fatalf("%s: authenticate = %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrNoSession) {
			t.Fatalf("%s: %v is not ErrNoSession", tc.name, err)
		}
	}
	// Sliding never passes MaxTTL after the sign-in.
	for now.Sub(s1.CreatedAt) < MaxTTL-IdleTTL/2 {
		now = now.Add(IdleTTL / 2)
		if _, _, err := s.Authenticate(ctx, t1); err != nil {
			t.Fatalf("a session used every %v ended at %v: %v", IdleTTL/2, now.Sub(s1.CreatedAt), err)
		}
	}
	now = s1.CreatedAt.Add(MaxTTL)
	if _, _, err := s.Authenticate(ctx, t1); !errors.Is(err, ErrNoSession) {
		t.Fatalf("a session past MaxTTL: %v", err)
	}

	// Sign out everywhere but here, list, revoke one, sign out.
	now = time.Now().UTC()
	a, sa, _ := s.NewSession(ctx, u.ID, "a", "")
	b, _, _ := s.NewSession(ctx, u.ID, "b", "")
	c, sc, _ := s.NewSession(ctx, u.ID, "c", "")
	if err := s.RevokeSession(ctx, u.ID, sc.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Authenticate(ctx, c); !errors.Is(err, ErrNoSession) {
		t.Fatalf("a revoked session: %v", err)
	}
	if n, err := s.SignOutEverywhere(ctx, u.ID, sa.ID); err != nil || n < 1 {
		t.Fatalf("sign out everywhere = %d, %v", n, err)
	}
	if _, _, err := s.Authenticate(ctx, b); !errors.Is(err, ErrNoSession) {
		t.Fatalf("another session after signing out everywhere: %v", err)
	}
	if ss, _ := s.Sessions(ctx, u.ID); len(ss) != 1 || ss[0].ID != sa.ID {
		t.Fatalf("sessions = %+v", ss)
	}
	if err := s.SignOut(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Authenticate(ctx, a); !errors.Is(err, ErrNoSession) {
		t.Fatalf("after signing out: %v", err)
	}
}

const goodPassword = "correct horse battery staple"

func TestLocalAccounts(t *testing.T) {
	ctx := context.Background()
	s, st, logs := newService(t)

	for _, tc := range []struct {
		name string
		in   SignUp
		err  error
	}{
		{"a bad email", SignUp{Email: "not an address", Password: goodPassword}, ErrBadEmail},
		{"a short password", SignUp{Email: "c@example.com", Password: "short"}, login.ErrWeakPassword},
		{"the email as password", SignUp{Email: "carol.long.name@example.com", Password: "carol.long.name@example.com"}, login.ErrWeakPassword},
	} {
		if _, err := s.SignUp(ctx, tc.in); !errors.Is(err, tc.err) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
	if us, _ := st.ListUsers(ctx, 0); len(us) != 0 {
		t.Fatal("a refused sign-up made a user")
	}

	u, err := s.SignUp(ctx, SignUp{Email: "Carol@Example.com", Password: goodPassword, Name: "Carol"})
	if err != nil || u.EmailVerified || u.Email != "carol@example.com" {
		t.Fatalf("sign-up = %+v, %v", u, err)
	}
	if _, err := s.SignUp(ctx, SignUp{Email: "carol@example.com", Password: goodPassword}); !errors.Is(err, ErrEmailTaken) {
		t.Fatalf("a second sign-up: %v", err)
	}
	// Signs in before verifying; a wrong password and an unknown email are
	// the same error.
	if got, dev, err := s.PasswordSignIn(ctx, "carol@example.com", goodPassword, "192.0.2.1", ""); err != nil || got.ID != u.ID || dev == "" {
		t.Fatalf("sign-in = %+v, %q, %v", got, dev, err)
	}
	for _, c := range [][2]string{{"carol@example.com", "wrong password of some length"}, {"nobody@example.com", goodPassword}, {"bad", goodPassword}} {
		if _, _, err := s.PasswordSignIn(ctx, c[0], c[1], "192.0.2.1", ""); !errors.Is(err, login.ErrWrongPassword) {
			t.Fatalf("sign-in %v: %v, want ErrWrongPassword", c, err)
		}
	}

	// Verification by the link (logged: no SMTP).
	tok := logs.lastLink(t, VerifyPath)
	if v, err := s.VerifyEmail(ctx, tok); err != nil || !v.EmailVerified {
		t.Fatalf("verify = %+v, %v", v, err)
	}
	if _, err := s.VerifyEmail(ctx, tok); !errors.Is(err, login.ErrTokenUnknown) {
		t.Fatalf("a verification link twice: %v", err)
	}
	// A verified local address links a provider's identity with the same
	// verified address.
	if g, err := s.SignIn(ctx, login.Identity{Provider: "github", Subject: "9", Email: "carol@example.com", EmailVerified: true}); err != nil || g.ID != u.ID {
		t.Fatalf("github sign-in after verifying = %+v, %v", g, err)
	}

	// Reset: unknown accounts answer the same; the link sets the password
	// and ends the sessions.
	if err := s.RequestReset(ctx, "nobody@example.com"); err != nil {
		t.Fatalf("reset of an unknown account: %v", err)
	}
	tokSess, _, _ := s.NewSession(ctx, u.ID, "", "")
	if err := s.RequestReset(ctx, "carol@example.com"); err != nil {
		t.Fatal(err)
	}
	reset := logs.lastLink(t, ResetPath)
	if _, err := s.VerifyEmail(ctx, reset); !errors.Is(err, login.ErrTokenUnknown) {
		t.Fatalf("a reset link as verification: %v", err)
	}
	if _, err := s.ResetPassword(ctx, reset, "short"); !errors.Is(err, login.ErrWeakPassword) {
		t.Fatalf("reset to a weak password: %v", err)
	}
	newPassword := "a brand new passphrase here"
	if _, err := s.ResetPassword(ctx, reset, newPassword); err != nil {
		t.Fatalf("reset after a refused weak password (the link must still work): %v", err)
	}
	if _, err := s.ResetPassword(ctx, reset, newPassword); !errors.Is(err, login.ErrTokenUnknown) {
		t.Fatalf("a reset link twice: %v", err)
	}
	if _, _, err := s.Authenticate(ctx, tokSess); !errors.Is(err, ErrNoSession) {
		t.Fatalf("a session after a reset: %v", err)
	}
	if _, _, err := s.PasswordSignIn(ctx, "carol@example.com", goodPassword, "192.0.2.1", ""); !errors.Is(err, login.ErrWrongPassword) {
		t.Fatalf("the old password: %v", err)
	}
	if _, _, err := s.PasswordSignIn(ctx, "carol@example.com", newPassword, "192.0.2.1", ""); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	// An admin's link, handed out.
	if link, err := s.IssueLink(ctx, login.ResetPassword, u.ID); err != nil || !strings.HasPrefix(link, "http://localhost:8080"+ResetPath+"?token=") {
		t.Fatalf("issued link = %q, %v", link, err)
	}
}

func TestPasswordSignInRateLimited(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	if _, err := s.SignUp(ctx, SignUp{Email: "d@example.com", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	for i := range login.DefaultLimits.PairFailures {
		if _, _, err := s.PasswordSignIn(ctx, "d@example.com", "guess number "+strings.Repeat("x", i+10), "198.51.100.7", ""); !errors.Is(err, login.ErrWrongPassword) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	// The guesser waits, even with the right password…
	if _, _, err := s.PasswordSignIn(ctx, "d@example.com", goodPassword, "198.51.100.7", ""); !errors.Is(err, login.ErrTooManyAttempts) {
		t.Fatalf("after %d failures: %v", login.DefaultLimits.PairFailures, err)
	}
	// …the owner elsewhere does not.
	if _, _, err := s.PasswordSignIn(ctx, "d@example.com", goodPassword, "203.0.113.9", ""); err != nil {
		t.Fatalf("the owner from another address: %v", err)
	}
}

func TestLocalAccountsOff(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	s.opt.LocalAccounts = false
	if _, err := s.SignUp(ctx, SignUp{Email: "e@example.com", Password: goodPassword}); !errors.Is(err, ErrLocalOff) {
		t.Fatalf("sign-up: %v", err)
	}
	if _, _, err := s.PasswordSignIn(ctx, "e@example.com", goodPassword, "", ""); !errors.Is(err, ErrLocalOff) {
		t.Fatalf("sign-in: %v", err)
	}
	if err := s.RequestReset(ctx, "e@example.com"); !errors.Is(err, ErrLocalOff) {
		t.Fatalf("reset: %v", err)
	}
}

func TestWebAppUser(t *testing.T) {
	ctx := context.Background()
	s, st, _ := newService(t)
	for range 2 {
		if err := s.WebAppUser(ctx, "user-42", "u42@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	u, id, err := st.UserByIdentity(ctx, store.ProviderWebApp, "user-42")
	if err != nil || id.Issuer != "https://sso.example.com" || u.EmailVerified {
		t.Fatalf("web-app user = %+v, %+v, %v", u, id, err)
	}
	// The same person through the SSO's OIDC is that user.
	o, err := s.SignIn(ctx, login.Identity{Provider: "oidc", Issuer: "https://sso.example.com", Subject: "user-42"})
	if err != nil || o.ID != u.ID {
		t.Fatalf("OIDC sign-in = %+v, %v; want %s", o, err, u.ID)
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		err  error
		lang string
		want string
	}{
		{ErrNoSession, "en", "not signed in, or the session has ended: sign in again"},
		{ErrNoSession, "zh-CN", "未登录或会话已结束，请重新登录。"},
		{store.ErrLastIdentity, "zh-CN", "这是该账号唯一的登录方式：请先关联另一种再移除。"},
		{login.ErrFlowExpired, "zh-CN", "登录用时过长，请重新登录。"},
	} {
		if got := Describe(tc.err, tc.lang); got != tc.want {
			t.Errorf("Describe(%v, %s) = %q, want %q", tc.err, tc.lang, got, tc.want)
		}
	}
}
