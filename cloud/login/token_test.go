package login

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryTokenStore()
	tk := NewTokens(store)
	now := time.Unix(1_800_000_000, 0)
	tk.now = func() time.Time { return now }
	store.now = tk.now

	verify, err := tk.Issue(ctx, VerifyEmail, "u1", "alice@example.com", VerifyEmailTTL)
	if err != nil {
		t.Fatal(err)
	}
	if len(verify) != 43 {
		t.Fatalf("token %q is not 256 bits in base64url", verify)
	}
	for h, st := range store.m {
		if strings.Contains(h, verify) || h != HashToken(verify) || st.UserID != "u1" {
			t.Fatalf("the store keeps %q → %+v, want only the hash of the token", h, st)
		}
	}
	reset, _ := tk.Issue(ctx, ResetPassword, "u1", "alice@example.com", ResetPasswordTTL)

	for _, c := range []struct {
		name    string
		purpose Purpose
		token   string
		advance time.Duration
		ok      bool
	}{
		{"reset token to verify an email", VerifyEmail, reset, 0, false},
		{"verification", VerifyEmail, verify, 0, true},
		{"verification again", VerifyEmail, verify, 0, false},
		{"malformed", ResetPassword, "not-a-token", 0, false},
		{"well-formed, never issued", ResetPassword, randomToken(), 0, false},
		{"reset after its hour", ResetPassword, reset, ResetPasswordTTL, false},
		{"and it is gone once refused", ResetPassword, reset, -ResetPasswordTTL, false},
	} {
		now = now.Add(c.advance)
		st, err := tk.Redeem(ctx, c.purpose, c.token)
		switch {
		case c.ok && (err != nil || st.UserID != "u1" || st.Email != "alice@example.com" || st.Purpose != c.purpose):
			t.Errorf("%s: %+v, %v; want it redeemed for u1", c.name, st, err)
		case !c.ok && !errors.Is(err, ErrTokenUnknown):
			t.Errorf("%s: %+v, %v; want ErrTokenUnknown", c.name, st, err)
		}
	}

	// Only the newest reset link of a user works.
	first, _ := tk.Issue(ctx, ResetPassword, "u2", "bob@example.com", ResetPasswordTTL)
	second, _ := tk.Issue(ctx, ResetPassword, "u2", "bob@example.com", ResetPasswordTTL)
	if _, err := tk.Redeem(ctx, ResetPassword, first); !errors.Is(err, ErrTokenUnknown) {
		t.Errorf("an older reset link still works: %v", err)
	}
	if _, err := tk.Redeem(ctx, ResetPassword, second); err != nil {
		t.Errorf("the newest reset link: %v", err)
	}
	if _, err := tk.Issue(ctx, ResetPassword, "", "", time.Hour); err == nil {
		t.Error("a token for no user was issued")
	}
}

func TestMemoryTokenStoreDropsExpired(t *testing.T) {
	s := NewMemoryTokenStore()
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	_ = s.PutToken(ctx, StoredToken{Hash: "a", Purpose: VerifyEmail, UserID: "u1", Expires: now.Add(time.Minute)})
	now = now.Add(time.Hour)
	_ = s.PutToken(ctx, StoredToken{Hash: "b", Purpose: VerifyEmail, UserID: "u2", Expires: now.Add(time.Minute)})
	if _, ok := s.m["a"]; ok || len(s.m) != 1 {
		t.Fatalf("expired tokens are kept: %v", s.m)
	}
}
