package teams

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/authz"
	"github.com/clawfleet/clawfleet/cloud/store"
)

// clock is a settable time for the service.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newService(t *testing.T) (*Service, *store.Store, *clock) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := New(st, nil)
	c := &clock{t: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	s.now = c.now
	return s, st, c
}

func user(t *testing.T, s *Service, st *store.Store, subject string) authz.Actor {
	t.Helper()
	if _, err := st.CreateUser(context.Background(), &store.User{Email: subject + "@example.com"}, &store.Identity{Provider: store.ProviderWebApp, Subject: subject}, ""); err != nil {
		t.Fatal(err)
	}
	a, err := s.Resolve(context.Background(), authz.Actor{UserID: subject})
	if err != nil || a.AccountID == "" || len(a.Teams) != 1 {
		t.Fatalf("resolve %s = %+v, %v", subject, a, err)
	}
	return a
}

func code(err error) string { _, c, _ := apperr.Public(err); return c }

// TestExpiry: an invitation and a key stop working when they expire.
func TestExpiry(t *testing.T) {
	s, st, clk := newService(t)
	ctx := context.Background()
	alice, bob := user(t, s, st, "alice"), user(t, s, st, "bob")
	team, err := s.Create(ctx, alice, "Ops")
	if err != nil {
		t.Fatal(err)
	}
	alice, _ = s.Resolve(ctx, authz.Actor{UserID: "alice"})
	tok, inv, err := s.Invite(ctx, alice, team, InviteRequest{Role: store.RoleMember, Uses: 5, TTL: time.Hour})
	if err != nil || inv.ExpiresAt != clk.t.Add(time.Hour) {
		t.Fatalf("invite = %+v, %v", inv, err)
	}
	clk.t = clk.t.Add(time.Hour)
	if _, err := s.Accept(ctx, bob, tok); !errors.Is(err, store.ErrInviteGone) {
		t.Fatalf("an expired invite: %v", err)
	}
	clk.t = clk.t.Add(-time.Second)
	if m, err := s.Accept(ctx, bob, tok); err != nil || m.Role != store.RoleMember {
		t.Fatalf("before it expires: %+v, %v", m, err)
	}

	key, _, err := s.CreateKey(ctx, alice, alice.AccountID, "", KeyRequest{Scopes: []string{authz.ScopeTenantsRead}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Authenticate(ctx, key)
	if err != nil || a.AccountID != alice.AccountID || a.Teams[team.ID] != store.RoleOwner || a.PlatformAdmin {
		t.Fatalf("key actor = %+v, %v", a, err)
	}
	clk.t = clk.t.Add(time.Minute)
	if _, err := s.Authenticate(ctx, key); code(err) != "invalid_key" {
		t.Fatalf("an expired key: %v", err)
	}
	if _, err := s.Authenticate(ctx, "eyJhbGciOiJSUzI1NiJ9.e30.x"); code(err) != "invalid_key" {
		t.Fatalf("a JWT as a key: %v", err)
	}
}

// TestOwnersAndLeaving: only owners touch owners; anyone may leave; the
// last owner stays.
func TestOwnersAndLeaving(t *testing.T) {
	s, st, _ := newService(t)
	ctx := context.Background()
	alice, bob, carol := user(t, s, st, "alice"), user(t, s, st, "bob"), user(t, s, st, "carol")
	team, err := s.Create(ctx, alice, "Ops")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		id, role string
	}{{bob.AccountID, store.RoleAdmin}, {carol.AccountID, store.RoleMember}} {
		if err := st.AddTeamMember(ctx, &store.TeamMember{TeamID: team.ID, UserID: m.id, Role: m.role}); err != nil {
			t.Fatal(err)
		}
	}
	re := func(a authz.Actor) authz.Actor {
		a, err := s.Resolve(ctx, authz.Actor{UserID: a.UserID})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	alice, bob, carol = re(alice), re(bob), re(carol)
	if _, err := s.SetRole(ctx, bob, team, carol.AccountID, store.RoleOwner); code(err) != "forbidden" {
		t.Fatalf("an admin makes an owner: %v", err)
	}
	if _, err := s.SetRole(ctx, bob, team, carol.AccountID, store.RoleAdmin); err != nil {
		t.Fatalf("an admin makes an admin: %v", err)
	}
	if err := s.Remove(ctx, bob, team, alice.AccountID); code(err) != "forbidden" {
		t.Fatalf("an admin removes an owner: %v", err)
	}
	if err := s.Remove(ctx, alice, team, alice.AccountID); !errors.Is(err, store.ErrLastOwner) {
		t.Fatalf("the last owner leaves: %v", err)
	}
	if err := s.Remove(ctx, carol, team, carol.AccountID); err != nil {
		t.Fatalf("carol leaves: %v", err)
	}
	if _, err := s.SetRole(ctx, alice, team, bob.AccountID, store.RoleOwner); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, alice, team, alice.AccountID); err != nil {
		t.Fatalf("an owner leaves when another is left: %v", err)
	}
	if err := s.Remove(ctx, bob, team, "usr_nobody"); code(err) != "no_member" {
		t.Fatalf("removing a non-member: %v", err)
	}
}
