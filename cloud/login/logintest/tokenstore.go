package logintest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/login"
)

// TestTokenStore checks that a login.TokenStore keeps its contract: a token
// is taken once, by its own purpose only, a newer token of the same user and
// purpose replaces the older, other users' and purposes' tokens stay, and of
// concurrent takes exactly one wins. newStore returns an empty store.
func TestTokenStore(t *testing.T, newStore func(t *testing.T) login.TokenStore) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	tok := func(hash, user string, p login.Purpose) login.StoredToken {
		return login.StoredToken{Hash: hash, Purpose: p, UserID: user, Email: user + "@example.com", Expires: exp}
	}
	put := func(t *testing.T, s login.TokenStore, ts ...login.StoredToken) {
		t.Helper()
		for _, st := range ts {
			if err := s.PutToken(ctx, st); err != nil {
				t.Fatal(err)
			}
		}
	}
	take := func(t *testing.T, s login.TokenStore, p login.Purpose, hash string) (login.StoredToken, bool) {
		t.Helper()
		st, err := s.TakeToken(ctx, p, hash)
		if err != nil && !errors.Is(err, login.ErrTokenUnknown) {
			t.Fatalf("TakeToken(%s, %s): %v, want nil or ErrTokenUnknown", p, hash, err)
		}
		return st, err == nil
	}

	t.Run("taken once", func(t *testing.T) {
		s := newStore(t)
		want := tok("h1", "u1", login.VerifyEmail)
		put(t, s, want)
		got, ok := take(t, s, login.VerifyEmail, "h1")
		if !ok || got.UserID != want.UserID || got.Email != want.Email || got.Purpose != want.Purpose || !got.Expires.Equal(want.Expires) {
			t.Fatalf("first take = %+v, %v; want %+v", got, ok, want)
		}
		if _, ok := take(t, s, login.VerifyEmail, "h1"); ok {
			t.Fatal("a token was taken twice")
		}
	})
	t.Run("only by its purpose", func(t *testing.T) {
		s := newStore(t)
		put(t, s, tok("h1", "u1", login.ResetPassword))
		if _, ok := take(t, s, login.VerifyEmail, "h1"); ok {
			t.Fatal("a reset token verified an email")
		}
		if _, ok := take(t, s, login.ResetPassword, "h1"); !ok {
			t.Fatal("a take with the wrong purpose used the token up")
		}
	})
	t.Run("newest replaces older of the same user and purpose", func(t *testing.T) {
		s := newStore(t)
		put(t, s, tok("old", "u1", login.ResetPassword), tok("other-user", "u2", login.ResetPassword),
			tok("other-purpose", "u1", login.VerifyEmail), tok("new", "u1", login.ResetPassword))
		if _, ok := take(t, s, login.ResetPassword, "old"); ok {
			t.Error("an older reset link still works after a newer one was sent")
		}
		for _, c := range []struct {
			p    login.Purpose
			hash string
		}{{login.ResetPassword, "new"}, {login.ResetPassword, "other-user"}, {login.VerifyEmail, "other-purpose"}} {
			if _, ok := take(t, s, c.p, c.hash); !ok {
				t.Errorf("token %s was lost", c.hash)
			}
		}
	})
	t.Run("one of concurrent takes wins", func(t *testing.T) {
		s := newStore(t)
		put(t, s, tok("h1", "u1", login.VerifyEmail))
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 8 {
			wg.Go(func() {
				if _, err := s.TakeToken(ctx, login.VerifyEmail, "h1"); err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d concurrent takes got the token, want 1", wins)
		}
	})
}
