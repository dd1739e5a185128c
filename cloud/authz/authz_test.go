package authz

import (
	"errors"
	"slices"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/store"
)

func TestCan(t *testing.T) {
	alices := &store.Tenant{ID: "ten_a", OwnerID: "alice"}
	alice := Actor{UserID: "alice", Email: "alice@example.com"}
	bob := Actor{UserID: "bob"}
	ownerActions := []Action{View, Create, Restart, Delete, Logs, Open, SignOut}
	adminOnly := []Action{Probe, Inspect, List}
	tests := []struct {
		name   string
		actor  Actor
		acts   []Action
		tenant *store.Tenant
		ok     bool
	}{
		{"the owner acts on their tenant", alice, ownerActions, alices, true},
		{"the owner does not operate it", alice, adminOnly, alices, false},
		{"another user", bob, append(ownerActions, adminOnly...), alices, false},
		{"a user lists nothing", alice, []Action{List}, nil, false},
		{"no user owns a tenant without owner", Actor{}, ownerActions, &store.Tenant{ID: "ten_x"}, false},
		{"the admin token does anything", Admin, append(ownerActions, adminOnly...), alices, true},
		{"the admin lists", Admin, []Action{List}, nil, true},
		{"an unknown action", Admin, []Action{"fly"}, alices, false},
	}
	for _, tc := range tests {
		for _, act := range tc.acts {
			err := Can(tc.actor, act, tc.tenant)
			if (err == nil) != tc.ok {
				t.Errorf("%s: Can(%s) = %v, want allowed %v", tc.name, act, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrForbidden) {
				t.Errorf("%s: %v is not ErrForbidden", tc.name, err)
			}
		}
	}
	status, code, msg := apperr.Public(Can(bob, Restart, alices))
	if status != 403 || code != "forbidden" || msg != "user:bob may not restart tenant ten_a" {
		t.Errorf("refusal = %d %s %q", status, code, msg)
	}
}

func TestAudit(t *testing.T) {
	for _, tc := range []struct {
		a    Actor
		want string
	}{
		{Admin, "admin"},
		{Actor{UserID: "u1"}, "user:u1"},
		{Actor{UserID: "u1", PlatformAdmin: true}, "user:u1"}, // a person, even when an admin
	} {
		if got := tc.a.Audit(); got != tc.want {
			t.Errorf("%+v.Audit() = %q, want %q", tc.a, got, tc.want)
		}
	}
}

func TestCanTeams(t *testing.T) {
	shared := &store.Tenant{ID: "ten_s", OwnerID: "creator", TeamID: "team_x", Shared: true}
	personal := &store.Tenant{ID: "ten_p", OwnerID: "alice", TeamID: "team_alice"}
	in := func(role string) Actor { return Actor{UserID: "u-" + role, Teams: map[string]string{"team_x": role}} }
	owner, admin, member := in(store.RoleOwner), in(store.RoleAdmin), in(store.RoleMember)
	outsider := Actor{UserID: "eve", Teams: map[string]string{"team_y": store.RoleOwner}}
	creator := Actor{UserID: "creator"} // made the shared tenant, then left the team
	view := []Action{View, Logs, Open}
	change := []Action{Create, Restart, Delete, SignOut}
	operator := []Action{Probe, Inspect, List}
	tests := []struct {
		name   string
		actor  Actor
		acts   []Action
		tenant *store.Tenant
		ok     bool
	}{
		{"a member views, opens and reads logs", member, view, shared, true},
		{"a member does not change", member, change, shared, false},
		{"an admin changes", admin, append(view, change...), shared, true},
		{"an owner changes", owner, append(view, change...), shared, true},
		{"team roles do not operate", owner, operator, shared, false},
		{"another team's owner", outsider, append(view, change...), shared, false},
		{"a shared tenant's creator is no owner", creator, append(view, change...), shared, false},
		{"the personal tenant's owner", Actor{UserID: "alice"}, append(view, change...), personal, true},
		{"the personal team's owner (a console user)", Actor{UserID: "usr_alice", Teams: map[string]string{"team_alice": store.RoleOwner}}, append(view, change...), personal, true},
		{"a read key of the owner", Actor{UserID: "u-owner", KeyID: "key_r", Scopes: []string{ScopeTenantsRead}, Teams: owner.Teams}, []Action{View, Logs}, shared, true},
		{"a read key does not change or open", Actor{UserID: "u-owner", KeyID: "key_r", Scopes: []string{ScopeTenantsRead}, Teams: owner.Teams}, append(change, Open), shared, false},
		{"a key's scope is no role", Actor{UserID: "eve", KeyID: "key_w", Scopes: Scopes()}, append(view, change...), shared, false},
		{"a platform admin user", Actor{UserID: "usr_op", PlatformAdmin: true}, append(append(view, change...), operator...), shared, true},
	}
	for _, tc := range tests {
		for _, act := range tc.acts {
			if err := Can(tc.actor, act, tc.tenant); (err == nil) != tc.ok {
				t.Errorf("%s: Can(%s) = %v, want allowed %v", tc.name, act, err, tc.ok)
			}
		}
	}

	teamActs := []Action{TeamView, TeamUpdate, TeamDelete, TeamMembers, TeamOwners, TeamKeys}
	for _, tc := range []struct {
		name  string
		actor Actor
		ok    []Action
	}{
		{"owner", owner, teamActs},
		{"admin", admin, []Action{TeamView, TeamUpdate, TeamMembers, TeamKeys}},
		{"member", member, []Action{TeamView}},
		{"outsider", outsider, nil},
		{"platform admin", Admin, append(slices.Clone(teamActs), Users)},
		{"owner's key with every scope", Actor{UserID: "u-owner", KeyID: "key_a", Scopes: Scopes(), Teams: owner.Teams}, []Action{TeamView, TeamUpdate, TeamMembers}},
		{"a team's key", Actor{KeyID: "key_t", Scopes: []string{ScopeTenantsRead}, Teams: map[string]string{"team_x": store.RoleAdmin}}, []Action{TeamView}},
	} {
		for _, act := range append(teamActs, Users) {
			want := slices.Contains(tc.ok, act)
			if err := CanTeam(tc.actor, act, "team_x"); (err == nil) != want {
				t.Errorf("%s: CanTeam(%s) = %v, want allowed %v", tc.name, act, err, want)
			}
		}
	}
	if err := CanTeam(Admin, Users, ""); err != nil {
		t.Errorf("the admin token manages users: %v", err)
	}
	if err := CanTeam(owner, Users, ""); err == nil {
		t.Error("a team owner manages users")
	}
	_, _, msg := apperr.Public(CanTeam(member, TeamDelete, "team_x"))
	if msg != "user:u-member may not team-delete team team_x" {
		t.Errorf("refusal = %q", msg)
	}
	if got := (Actor{KeyID: "key_t"}).Audit(); got != "key:key_t" {
		t.Errorf("a team key's audit name = %q", got)
	}
	if got := (Actor{UserID: "usr_a", KeyID: "key_u"}).Audit(); got != "user:usr_a key:key_u" {
		t.Errorf("a user key's audit name = %q", got)
	}
}
