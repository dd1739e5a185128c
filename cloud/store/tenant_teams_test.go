package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/store"
)

// TestMigrationTenantTeams: every tenant of before belongs to its owner's
// personal team and is not shared; the owner may then have shared tenants
// besides, but one unshared tenant only.
func TestMigrationTenantTeams(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := loadB1fbd52(t, b)
			s, err := store.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ts, err := s.ListTenants(ctx)
			if err != nil || len(ts) == 0 {
				t.Fatalf("tenants = %v, %v", ts, err)
			}
			for _, tn := range ts {
				u, _, err := s.UserByIdentity(ctx, store.ProviderWebApp, tn.OwnerID)
				if err != nil {
					t.Fatal(err)
				}
				pt, err := s.PersonalTeam(ctx, u.ID)
				if err != nil || tn.TeamID != pt.ID || tn.Shared {
					t.Fatalf("tenant %s: team %q shared %v; want the personal team %+v (%v)", tn.ID, tn.TeamID, tn.Shared, pt, err)
				}
				if got, err := s.ListTeamTenants(ctx, pt.ID); err != nil || len(got) != 1 || got[0].ID != tn.ID {
					t.Fatalf("tenants of %s = %+v, %v", pt.ID, got, err)
				}
			}
			owner := ts[0].OwnerID
			shared := newTenant("ten_ssssssssssss", owner, "shared-one", "", 0)
			shared.TeamID, shared.Shared = ts[0].TeamID, true
			if err := s.CreateTenant(ctx, shared); err != nil {
				t.Fatalf("a shared tenant of an owner: %v", err)
			}
			if err := s.CreateTenant(ctx, newTenant("ten_tttttttttttt", owner, "second-own", "", 0)); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("a second unshared tenant of one owner: %v, want ErrConflict", err)
			}
			if own, err := s.GetTenantByOwner(ctx, owner); err != nil || own.ID != ts[0].ID {
				t.Fatalf("the owner's own tenant = %+v, %v; want %s (not the shared one)", own, err, ts[0].ID)
			}
			if n, err := store.CountTeamTenants(s.DB(), ts[0].TeamID, ""); err != nil || n != 2 {
				t.Fatalf("count = %d, %v", n, err)
			}
			if n, err := store.CountTeamTenants(s.DB(), ts[0].TeamID, "pro"); err != nil || n != 0 {
				t.Fatalf("count of pro = %d, %v", n, err)
			}
		})
	}
}

func TestTeamsAndMembership(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		alice, alicePersonal := newUser(t, s, store.ProviderWebApp, "web-alice", "alice@example.com", false)
		bob, _ := newUser(t, s, "oidc", "sub-bob", "bob@example.com", true)

		for who, want := range map[string]string{alice.ID: alicePersonal.ID, "web-alice": alicePersonal.ID} {
			if got, err := store.PersonalTeamOf(s.DB(), who); err != nil || got != want {
				t.Fatalf("personal team of %s = %q, %v", who, got, err)
			}
		}
		if _, err := store.PersonalTeamOf(s.DB(), "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("personal team of nobody: %v", err)
		}

		team := &store.Team{Name: "Ops"}
		if err := s.CreateTeam(ctx, team, alice.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.AddTeamMember(ctx, &store.TeamMember{TeamID: team.ID, UserID: bob.ID, Role: store.RoleMember}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			who  string
			want bool
		}{{alice.ID, true}, {"web-alice", true}, {bob.ID, true}, {"sub-bob", false}, {"nobody", false}} {
			if got, err := s.IsTeamMember(ctx, team.ID, tc.who); err != nil || got != tc.want {
				t.Errorf("IsTeamMember(%s) = %v, %v; want %v", tc.who, got, err, tc.want)
			}
		}
		if ok, _ := s.IsTeamMember(ctx, alicePersonal.ID, bob.ID); ok {
			t.Error("bob is a member of alice's personal team")
		}
		// A disabled user is no member.
		yes := true
		if _, err := s.UpdateUser(ctx, bob.ID, store.UserUpdate{Disabled: &yes}, now); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.IsTeamMember(ctx, team.ID, bob.ID); err != nil || ok {
			t.Errorf("a disabled member: %v, %v", ok, err)
		}

		if got, err := s.RenameTeam(ctx, team.ID, "Operations", now); err != nil || got.Name != "Operations" {
			t.Fatalf("rename = %+v, %v", got, err)
		}
		if _, err := s.RenameTeam(ctx, "team_nope", "x", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("rename of no team: %v", err)
		}

		sums, err := s.ListTeams(ctx, 0)
		if err != nil || len(sums) != 3 {
			t.Fatalf("teams = %+v, %v", sums, err)
		}
		for _, sum := range sums {
			if sum.ID == team.ID && (sum.Members != 2 || sum.Tenants != 0 || sum.Name != "Operations") {
				t.Fatalf("summary = %+v", sum)
			}
		}

		// A team with tenants, or a personal team, stays.
		tn := newTenant("ten_teamteamteam", "team:"+team.ID, "team-one", "", 0)
		tn.TeamID, tn.Shared = team.ID, true
		if err := s.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteTeam(ctx, team.ID); !errors.Is(err, store.ErrTeamHasTenants) {
			t.Fatalf("deleting a team with tenants: %v", err)
		}
		if err := s.DeleteTeam(ctx, alicePersonal.ID); !errors.Is(err, store.ErrPersonalTeam) {
			t.Fatalf("deleting a personal team: %v", err)
		}
		if err := s.DeleteTenant(ctx, tn.ID); err != nil {
			t.Fatal(err)
		}
		inv := &store.TeamInvite{TeamID: team.ID, Hash: "h1", Role: store.RoleMember, UsesTotal: 1, UsesLeft: 1, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateTeamInvite(ctx, inv); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetTeamInvite(ctx, team.ID, inv.ID); err != nil || got.Hash != "h1" {
			t.Fatalf("invite = %+v, %v", got, err)
		}
		if _, err := s.GetTeamInvite(ctx, alicePersonal.ID, inv.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another team's invite: %v", err)
		}
		if err := s.DeleteTeam(ctx, team.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetTeam(ctx, team.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted team: %v", err)
		}
		if ms, _ := s.UserTeams(ctx, alice.ID); len(ms) != 1 {
			t.Fatalf("alice's teams after the deletion = %+v", ms)
		}
		if is, _ := s.ListTeamInvites(ctx, team.ID); len(is) != 0 {
			t.Fatalf("invites left = %+v", is)
		}
	})
}

func TestQueryAudit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		for _, e := range []store.AuditEvent{
			{Actor: "user:usr_a", Action: "team.create", Target: "team_1"},
			{Actor: "user:usr_b", Action: "team.join", Target: "team_1"},
			{Actor: "user:usr_a", Action: "tenant.create", Target: "ten_1"},
			{Actor: "admin", Action: "teamx.other", Target: "team_1"},
		} {
			if err := s.AddAudit(ctx, &e); err != nil {
				t.Fatal(err)
			}
		}
		actions := func(q store.AuditQuery) []string {
			q.Limit = 10
			es, err := s.QueryAudit(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range es {
				out = append(out, e.Action)
			}
			return out
		}
		for _, tc := range []struct {
			q    store.AuditQuery
			want []string
		}{
			{store.AuditQuery{Actor: "user:usr_a"}, []string{"tenant.create", "team.create"}},
			{store.AuditQuery{Action: "team."}, []string{"team.join", "team.create"}},
			{store.AuditQuery{Action: "team.join"}, []string{"team.join"}},
			{store.AuditQuery{Target: "team_1", Actor: "admin"}, []string{"teamx.other"}},
			{store.AuditQuery{Action: "team"}, nil},
		} {
			if got := actions(tc.q); !slices.Equal(got, tc.want) {
				t.Errorf("%+v: %v, want %v", tc.q, got, tc.want)
			}
		}
		all, _ := s.QueryAudit(ctx, store.AuditQuery{Limit: 10})
		if got := actions(store.AuditQuery{Before: all[1].ID}); !slices.Equal(got, []string{"team.join", "team.create"}) {
			t.Errorf("before %d: %v", all[1].ID, got)
		}
	})
}
