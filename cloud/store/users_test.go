package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/login"
	"github.com/clawfleet/clawfleet/cloud/login/logintest"
	"github.com/clawfleet/clawfleet/cloud/store"
)

func newUser(t *testing.T, s *store.Store, provider, subject, email string, verified bool) (*store.User, *store.Team) {
	t.Helper()
	u := &store.User{Email: email, EmailVerified: verified}
	team, err := s.CreateUser(context.Background(), u, &store.Identity{Provider: provider, Subject: subject, Email: email, EmailVerified: verified}, "")
	if err != nil {
		t.Fatal(err)
	}
	return u, team
}

func TestUsersAndIdentities(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		alice, team := newUser(t, s, "oidc", "sub-a", "Alice@Example.com", true)
		if len(alice.ID) != 20 || alice.ID[:4] != store.UserIDPrefix || !team.Personal {
			t.Fatalf("user %+v, team %+v", alice, team)
		}
		// The personal team, owned by its user.
		ms, err := s.UserTeams(ctx, alice.ID)
		if err != nil || len(ms) != 1 || ms[0].ID != team.ID || ms[0].Role != store.RoleOwner || !ms[0].Personal {
			t.Fatalf("teams = %+v, %v", ms, err)
		}
		if pt, err := s.PersonalTeam(ctx, alice.ID); err != nil || pt.ID != team.ID {
			t.Fatalf("personal team = %+v, %v", pt, err)
		}

		// (provider, subject) is one person: a second user with it is refused
		// and nothing of them is left.
		_, err = s.CreateUser(ctx, &store.User{Email: "x@example.com"}, &store.Identity{Provider: "oidc", Subject: "sub-a"}, "")
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a second user with the same identity: %v, want ErrConflict", err)
		}
		if us, _ := s.ListUsers(ctx, 0); len(us) != 1 {
			t.Fatalf("users after a refused creation = %d, want 1", len(us))
		}
		// The same subject at another provider is another identity.
		bob, _ := newUser(t, s, "github", "sub-a", "bob@example.com", false)

		u, id, err := s.UserByIdentity(ctx, "oidc", "sub-a")
		if err != nil || u.ID != alice.ID || id.Email != "Alice@Example.com" {
			t.Fatalf("by identity = %+v %+v %v", u, id, err)
		}
		if _, _, err := s.UserByIdentity(ctx, "oidc", "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown identity: %v", err)
		}

		// Verified emails only, without case.
		if ids, err := s.UsersWithVerifiedEmail(ctx, "alice@example.COM"); err != nil || len(ids) != 1 || ids[0] != alice.ID {
			t.Fatalf("verified alice = %v, %v", ids, err)
		}
		if ids, err := s.UsersWithVerifiedEmail(ctx, "bob@example.com"); err != nil || len(ids) != 0 {
			t.Fatalf("unverified bob = %v, %v", ids, err)
		}

		// An issuer's subject, whatever the provider.
		if err := s.AddIdentity(ctx, &store.Identity{UserID: alice.ID, Provider: store.ProviderWebApp, Subject: "sub-a", Issuer: "https://sso.example.com"}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.IdentitiesOfIssuer(ctx, "https://sso.example.com", "sub-a"); err != nil || len(got) != 1 || got[0].UserID != alice.ID {
			t.Fatalf("of issuer = %+v, %v", got, err)
		}
		if got, _ := s.IdentitiesOfIssuer(ctx, "", "sub-a"); len(got) != 0 {
			t.Fatalf("an empty issuer matched %+v", got)
		}
		// Linking an identity that is someone's already.
		if err := s.AddIdentity(ctx, &store.Identity{UserID: bob.ID, Provider: "oidc", Subject: "sub-a"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("linking alice's identity to bob: %v", err)
		}

		// Touch records what the provider says now.
		id.Email, id.EmailVerified, id.Name = "new@example.com", false, "Alice"
		now := time.Now().UTC().Truncate(time.Second)
		if err := s.TouchIdentity(ctx, id, now); err != nil {
			t.Fatal(err)
		}
		if _, id2, _ := s.UserByIdentity(ctx, "oidc", "sub-a"); id2.Email != "new@example.com" || id2.EmailVerified || id2.Name != "Alice" || id2.LastUsedAt == nil {
			t.Fatalf("touched identity = %+v", id2)
		}

		// Unlinking: never the last identity.
		ids, err := s.ListIdentities(ctx, alice.ID)
		if err != nil || len(ids) != 2 {
			t.Fatalf("identities = %+v, %v", ids, err)
		}
		if err := s.DeleteIdentity(ctx, bob.ID, ids[0].ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("bob unlinking alice's identity: %v", err)
		}
		if err := s.DeleteIdentity(ctx, alice.ID, ids[0].ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteIdentity(ctx, alice.ID, ids[1].ID); !errors.Is(err, store.ErrLastIdentity) {
			t.Fatalf("unlinking the last identity: %v", err)
		}

		// Updates.
		name, admin, off := "Alice A.", true, true
		u, err = s.UpdateUser(ctx, alice.ID, store.UserUpdate{Name: &name, PlatformAdmin: &admin, Disabled: &off}, now)
		if err != nil || u.Name != name || !u.PlatformAdmin || u.DisabledAt == nil || u.Email != "Alice@Example.com" {
			t.Fatalf("updated = %+v, %v", u, err)
		}
		off = false
		if u, _ = s.UpdateUser(ctx, alice.ID, store.UserUpdate{Disabled: &off}, now); u.DisabledAt != nil {
			t.Fatal("re-enabled user still disabled")
		}
		if _, err := s.UpdateUser(ctx, "usr_nobody", store.UserUpdate{Name: &name}, now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update of an unknown user: %v", err)
		}
	})
}

func TestLocalPassword(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		u := &store.User{Email: "c@example.com"}
		if _, err := s.CreateUser(ctx, u, &store.Identity{Provider: store.ProviderLocal, Subject: "c@example.com"}, "$argon2id$one"); err != nil {
			t.Fatal(err)
		}
		if h, err := s.PasswordHash(ctx, u.ID); err != nil || h != "$argon2id$one" {
			t.Fatalf("hash = %q, %v", h, err)
		}
		if err := s.SetPassword(ctx, u.ID, "$argon2id$two", time.Now()); err != nil {
			t.Fatal(err)
		}
		if h, _ := s.PasswordHash(ctx, u.ID); h != "$argon2id$two" {
			t.Fatalf("hash after a change = %q", h)
		}
		// Unlinking the local identity removes the password.
		if err := s.AddIdentity(ctx, &store.Identity{UserID: u.ID, Provider: "github", Subject: "42"}); err != nil {
			t.Fatal(err)
		}
		ids, _ := s.ListIdentities(ctx, u.ID)
		if err := s.DeleteIdentity(ctx, u.ID, ids[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PasswordHash(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("password after unlinking local: %v", err)
		}
	})
}

func TestSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		alice, _ := newUser(t, s, "oidc", "a", "a@example.com", true)
		bob, _ := newUser(t, s, "oidc", "b", "b@example.com", true)
		now := time.Now().UTC().Truncate(time.Second)
		mk := func(u *store.User, hash string, seen time.Time) *store.Session {
			sess := &store.Session{Hash: hash, UserID: u.ID, CreatedAt: now, LastSeenAt: seen, ExpiresAt: now.Add(time.Hour), UserAgent: "test", Address: "192.0.2.1"}
			if err := s.CreateSession(ctx, sess); err != nil {
				t.Fatal(err)
			}
			return sess
		}
		a1, a2, a3 := mk(alice, "h1", now), mk(alice, "h2", now.Add(time.Second)), mk(alice, "h3", now)
		b1 := mk(bob, "h4", now)
		if err := s.CreateSession(ctx, &store.Session{Hash: "h1", UserID: bob.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a duplicate hash: %v", err)
		}

		if got, err := s.SessionByHash(ctx, "h1", now); err != nil || got.ID != a1.ID || got.UserID != alice.ID {
			t.Fatalf("by hash = %+v, %v", got, err)
		}
		if _, err := s.SessionByHash(ctx, "h1", now.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("an expired session: %v", err)
		}
		// Sliding.
		if err := s.TouchSession(ctx, a1.ID, now.Add(50*time.Minute), now.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionByHash(ctx, "h1", now.Add(90*time.Minute)); err != nil {
			t.Fatalf("a slid session: %v", err)
		}
		ss, err := s.ListSessions(ctx, alice.ID, now)
		if err != nil || len(ss) != 3 || ss[0].ID != a1.ID || ss[1].ID != a2.ID {
			t.Fatalf("sessions = %+v, %v", ss, err)
		}
		// One user cannot end another's session.
		if err := s.DeleteSession(ctx, alice.ID, b1.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("alice ending bob's session: %v", err)
		}
		if err := s.DeleteSession(ctx, alice.ID, a3.ID); err != nil {
			t.Fatal(err)
		}
		// Everywhere but here.
		if n, err := s.DeleteUserSessions(ctx, alice.ID, a1.ID); err != nil || n != 1 {
			t.Fatalf("sign out elsewhere = %d, %v", n, err)
		}
		if ss, _ := s.ListSessions(ctx, alice.ID, now); len(ss) != 1 || ss[0].ID != a1.ID {
			t.Fatalf("sessions left = %+v", ss)
		}
		if _, err := s.SessionByHash(ctx, "h4", now); err != nil {
			t.Fatalf("bob's session ended with alice's: %v", err)
		}
		if n, err := s.DeleteExpiredSessions(ctx, now.Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("expired = %d, %v (bob's)", n, err)
		}
	})
}

func TestTokenStoreContract(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			logintest.TestTokenStore(t, func(t *testing.T) login.TokenStore {
				cfg, cleanup := b.open(t)
				t.Cleanup(cleanup)
				s, err := store.Open(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				// The contract's users.
				for _, id := range []string{"u1", "u2"} {
					if _, err := s.CreateUser(context.Background(), &store.User{ID: id}, &store.Identity{Provider: "oidc", Subject: id}, ""); err != nil {
						t.Fatal(err)
					}
				}
				return s
			})
		})
	}
}

func TestTeams(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		alice, _ := newUser(t, s, "oidc", "a", "a@example.com", true)
		bob, _ := newUser(t, s, "oidc", "b", "b@example.com", true)
		carol, _ := newUser(t, s, "oidc", "c", "c@example.com", true)
		team := &store.Team{Name: "Lab"}
		if err := s.CreateTeam(ctx, team, alice.ID); err != nil {
			t.Fatal(err)
		}
		if r, err := s.MemberRole(ctx, team.ID, alice.ID); err != nil || r != store.RoleOwner {
			t.Fatalf("creator's role = %q, %v", r, err)
		}
		if ms, _ := s.UserTeams(ctx, alice.ID); len(ms) != 2 || !ms[0].Personal || ms[1].Name != "Lab" {
			t.Fatalf("alice's teams = %+v", ms)
		}
		// The last owner stays.
		if err := s.RemoveTeamMember(ctx, team.ID, alice.ID); !errors.Is(err, store.ErrLastOwner) {
			t.Fatalf("removing the last owner: %v", err)
		}
		if err := s.SetTeamMemberRole(ctx, team.ID, alice.ID, store.RoleMember); !errors.Is(err, store.ErrLastOwner) {
			t.Fatalf("demoting the last owner: %v", err)
		}

		// An invite of two uses, given concurrently to three people.
		now := time.Now().UTC()
		inv := &store.TeamInvite{TeamID: team.ID, Hash: "inv-hash", Role: store.RoleMember, UsesTotal: 2, UsesLeft: 2, ExpiresAt: now.Add(time.Hour), CreatedBy: alice.ID}
		if err := s.CreateTeamInvite(ctx, inv); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RedeemTeamInvite(ctx, "inv-hash", alice.ID, now); !errors.Is(err, store.ErrAlreadyMember) {
			t.Fatalf("a member redeeming: %v", err)
		}
		dave, _ := newUser(t, s, "oidc", "d", "d@example.com", true)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var joined, gone int
		for _, u := range []*store.User{bob, carol, dave} {
			wg.Go(func() {
				_, err := s.RedeemTeamInvite(ctx, "inv-hash", u.ID, now)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					joined++
				case errors.Is(err, store.ErrInviteGone):
					gone++
				default:
					t.Errorf("redeem: %v", err)
				}
			})
		}
		wg.Wait()
		if joined != 2 || gone != 1 {
			t.Fatalf("joined %d, refused %d; want 2 and 1", joined, gone)
		}
		if ms, _ := s.TeamMembers(ctx, team.ID); len(ms) != 3 {
			t.Fatalf("members = %+v", ms)
		}
		inv2 := &store.TeamInvite{TeamID: team.ID, Hash: "inv-2", Role: store.RoleAdmin, UsesTotal: 1, UsesLeft: 1, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateTeamInvite(ctx, inv2); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RedeemTeamInvite(ctx, "inv-2", dave.ID, now.Add(2*time.Hour)); !errors.Is(err, store.ErrInviteGone) {
			t.Fatalf("an expired invite: %v", err)
		}
		if err := s.RevokeTeamInvite(ctx, team.ID, inv2.ID, now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RedeemTeamInvite(ctx, "inv-2", dave.ID, now); !errors.Is(err, store.ErrInviteGone) {
			t.Fatalf("a revoked invite: %v", err)
		}
		if _, err := s.RedeemTeamInvite(ctx, "nothing", dave.ID, now); !errors.Is(err, store.ErrInviteGone) {
			t.Fatalf("an unknown invite: %v", err)
		}
		if is, _ := s.ListTeamInvites(ctx, team.ID); len(is) != 2 {
			t.Fatalf("invites = %+v", is)
		}

		// With a second owner, the first may step down.
		ms, _ := s.TeamMembers(ctx, team.ID)
		other := ms[1].UserID
		if err := s.SetTeamMemberRole(ctx, team.ID, other, store.RoleOwner); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveTeamMember(ctx, team.ID, alice.ID); err != nil {
			t.Fatal(err)
		}

		// API keys: of a user or of a team, live only until revoked or expired.
		uid, tid := alice.ID, team.ID
		if err := s.CreateAPIKey(ctx, &store.APIKey{Hash: "k0"}); err == nil {
			t.Fatal("a key of nobody was stored")
		}
		ku := &store.APIKey{Hash: "k1", Name: "ci", UserID: &uid, Scopes: []string{"tenants:read"}, CreatedBy: alice.ID}
		exp := now.Add(time.Minute)
		kt := &store.APIKey{Hash: "k2", TeamID: &tid, ExpiresAt: &exp}
		for _, k := range []*store.APIKey{ku, kt} {
			if err := s.CreateAPIKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if k, err := s.APIKeyByHash(ctx, "k1", now); err != nil || k.ID != ku.ID || len(k.Scopes) != 1 || k.LastUsedAt == nil {
			t.Fatalf("key = %+v, %v", k, err)
		}
		if _, err := s.APIKeyByHash(ctx, "k2", now.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("an expired key: %v", err)
		}
		if err := s.RevokeAPIKey(ctx, ku.ID, now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.APIKeyByHash(ctx, "k1", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a revoked key: %v", err)
		}
		if ks, _ := s.ListAPIKeys(ctx, "", team.ID); len(ks) != 1 || ks[0].ID != kt.ID {
			t.Fatalf("team keys = %+v", ks)
		}
		if ks, _ := s.ListAPIKeys(ctx, alice.ID, ""); len(ks) != 1 || ks[0].ID != ku.ID {
			t.Fatalf("user keys = %+v", ks)
		}
	})
}

// TestMigrationBackfillsTenantOwners: each owner of a tenant in a database
// of the previous schema becomes a user with a "webapp" identity whose
// subject is the owner id, and a personal team it owns.
func TestMigrationBackfillsTenantOwners(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := loadB1fbd52(t, b)
			var owners []struct{ OwnerID, OwnerEmail string }
			if err := rawOpen(t, cfg).Raw("SELECT owner_id, owner_email FROM tenants ORDER BY owner_id").Scan(&owners).Error; err != nil || len(owners) == 0 {
				t.Fatalf("owners = %v, %v", owners, err)
			}
			s, err := store.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if us, err := s.ListUsers(ctx, 0); err != nil || len(us) != len(owners) {
				t.Fatalf("users = %d, %v; want one per owner (%d)", len(us), err, len(owners))
			}
			for _, o := range owners {
				u, id, err := s.UserByIdentity(ctx, store.ProviderWebApp, o.OwnerID)
				if err != nil || u.Email != o.OwnerEmail || u.EmailVerified || id.EmailVerified {
					t.Fatalf("user of %s = %+v, %+v, %v", o.OwnerID, u, id, err)
				}
				ms, err := s.UserTeams(ctx, u.ID)
				if err != nil || len(ms) != 1 || !ms[0].Personal || ms[0].Role != store.RoleOwner {
					t.Fatalf("teams of %s = %+v, %v", o.OwnerID, ms, err)
				}
			}
			// A web-app user seen for the first time after the migration is
			// not a backfilled one.
			if _, _, err := s.UserByIdentity(ctx, store.ProviderWebApp, "user-zzz"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("an unknown owner: %v", err)
			}
		})
	}
}
