package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/store"
)

func TestAccessGrantRedeem(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		grant := func(hash, tenant string, ttl time.Duration) {
			t.Helper()
			if err := s.CreateAccessGrant(ctx, &store.AccessGrant{Hash: hash, TenantID: tenant, UserID: "u-" + tenant, ExpiresAt: now.Add(ttl)}); err != nil {
				t.Fatal(err)
			}
		}
		grant("h-ok", "ten_a", time.Minute)
		grant("h-old", "ten_a", -time.Second)
		grant("h-b", "ten_b", time.Minute)

		cases := []struct {
			name, hash, tenant string
			ok                 bool
		}{
			{"foreign link is refused", "h-b", "ten_a", false},
			{"expired link is refused", "h-old", "ten_a", false},
			{"unknown link is refused", "h-none", "ten_a", false},
			{"valid link", "h-ok", "ten_a", true},
			{"replayed link is refused", "h-ok", "ten_a", false},
			{"the foreign link still works for its own tenant", "h-b", "ten_b", true},
		}
		for _, c := range cases {
			sess := &store.RouterSession{Hash: "s-" + c.name, ExpiresAt: now.Add(time.Hour)}
			err := s.RedeemAccessGrant(ctx, c.hash, c.tenant, now, sess)
			if c.ok != (err == nil) {
				t.Fatalf("%s: err = %v", c.name, err)
			}
			if !c.ok && !errors.Is(err, store.ErrAccessInvalid) {
				t.Fatalf("%s: err = %v, want ErrAccessInvalid", c.name, err)
			}
			got, gerr := s.GetRouterSession(ctx, sess.Hash, now)
			if c.ok {
				if gerr != nil || got.TenantID != c.tenant || got.UserID != "u-"+c.tenant {
					t.Fatalf("%s: session = %+v, %v", c.name, got, gerr)
				}
			} else if !errors.Is(gerr, store.ErrNotFound) {
				t.Fatalf("%s: a refused link created a session: %+v %v", c.name, got, gerr)
			}
		}

		if err := s.RevokeTenantSessions(ctx, "ten_a", now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetRouterSession(ctx, "s-valid link", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoked session still live: %v", err)
		}
		if _, err := s.GetRouterSession(ctx, "s-the foreign link still works for its own tenant", now.Add(2*time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired session still live: %v", err)
		}
		n, err := s.DeleteExpiredAccess(ctx, now.Add(2*time.Hour))
		if err != nil || n != 3 { // one used link (the other two went with the revocation) and two sessions
			t.Fatalf("DeleteExpiredAccess = %d, %v; want 3 rows", n, err)
		}
	})
}

func TestAccessGrantConcurrentSingleUse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		if err := s.CreateAccessGrant(ctx, &store.AccessGrant{Hash: "h", TenantID: "ten_a", UserID: "u", ExpiresAt: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sess := &store.RouterSession{Hash: string(rune('a' + i)), ExpiresAt: now.Add(time.Hour)}
				if err := s.RedeemAccessGrant(ctx, "h", "ten_a", now, sess); err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				} else if !errors.Is(err, store.ErrAccessInvalid) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("%d redemptions of a one-time link succeeded, want 1", ok)
		}
	})
}
