// Package authz decides whether an actor may do an action to a tenant. It
// is one function, Can, over one table of what each role grants; the API
// asks it once per request, after resolving who is acting and which tenant
// the request is about (cloud/api), and the services trust that answer.
//
// An actor is a tenant's owner (a user of the SSO web app or its bearer
// token; the seed API's one tenant per user), an owner, admin or member of
// the team that owns a tenant (docs/teams.md), or a platform administrator
// (the admin token, or a user the operator made one). Adding a role is a
// constant, a line in grants and a case in rolesOf; nothing else changes.
// An API key's actor is further limited to its scopes (scopeActions).
package authz

import (
	"slices"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/store"
)

// Actor is who is acting in a request.
type Actor struct {
	// UserID is the acting user; empty for the admin token.
	UserID string
	// Email is the user's address as the caller gave it (optional).
	Email string
	// PlatformAdmin may do anything to any tenant (the admin token, or a
	// user the operator made a platform admin).
	PlatformAdmin bool
	// AccountID is the acting user of the store (usr_…): UserID itself for
	// the console's sessions and API keys, the user of the "webapp"
	// identity UserID for the web app's calls; empty for the admin token
	// and on a cloud without accounts.
	AccountID string
	// Teams are the actor's teams and its role in each (store.RoleOwner,
	// RoleAdmin, RoleMember), resolved once per request.
	Teams map[string]string
	// KeyID is set when the actor is an API key: then only what its Scopes
	// allow is granted (a team's key has UserID "").
	KeyID  string
	Scopes []string
}

// Admin is the actor of a request made with the admin token.
var Admin = Actor{PlatformAdmin: true}

// Audit is how the audit log names a: "user:<id>", or "admin" for the admin
// token.
func (a Actor) Audit() string {
	switch {
	case a.KeyID != "" && a.UserID == "":
		return "key:" + a.KeyID
	case a.KeyID != "":
		return "user:" + a.UserID + " key:" + a.KeyID
	case a.UserID == "" && a.PlatformAdmin:
		return "admin"
	}
	return "user:" + a.UserID
}

// Action is something an actor does to a tenant.
type Action string

// The actions on tenants.
const (
	View    Action = "view"     // read the tenant
	Create  Action = "create"   // create it (for its owner)
	Restart Action = "restart"  // restart its gateway
	Delete  Action = "delete"   // delete it
	Logs    Action = "logs"     // read its gateway's log
	Open    Action = "open"     // a one-time link into its gateway, as its owner
	SignOut Action = "sign-out" // end every session into its gateway
	Probe   Action = "probe"    // check its gateway through the host's tunnel
	Inspect Action = "inspect"  // see operator fields: owner, port, image, desired state
	List    Action = "list"     // list every tenant (no tenant in particular)
)

// The actions on teams (CanTeam); Create on a team is creating a tenant in it.
const (
	TeamView    Action = "team-view"    // see the team, its members and its tenants
	TeamUpdate  Action = "team-update"  // rename it
	TeamDelete  Action = "team-delete"  // delete it (when it has no tenants)
	TeamMembers Action = "team-members" // invite, change members' roles (not owners), remove members
	TeamOwners  Action = "team-owners"  // make or unmake owners, invite as owner
	TeamKeys    Action = "team-keys"    // create, list and revoke the team's API keys
	Users       Action = "users"        // list and change users, list teams (the platform)
)

// Role is what an actor is to a tenant.
type Role string

// The roles.
const (
	Owner         Role = "owner"          // the user the tenant belongs to (not a team's shared tenant)
	TeamOwner     Role = "team-owner"     // an owner of the tenant's team
	TeamAdmin     Role = "team-admin"     // an admin of the tenant's team
	TeamMember    Role = "team-member"    // a member of the tenant's team
	PlatformAdmin Role = "platform-admin" // the operator
)

// grants is what each role may do: the one place that says so. Members
// see, open and read the logs of their team's tenants (the Control UI they
// may open shows as much); admins and owners also create, restart and
// delete them and manage members; only owners touch owners and delete the
// team.
var grants = map[Role][]Action{
	Owner:      {View, Create, Restart, Delete, Logs, Open, SignOut},
	TeamOwner:  {View, Create, Restart, Delete, Logs, Open, SignOut, TeamView, TeamUpdate, TeamDelete, TeamMembers, TeamOwners, TeamKeys},
	TeamAdmin:  {View, Create, Restart, Delete, Logs, Open, SignOut, TeamView, TeamUpdate, TeamMembers, TeamKeys},
	TeamMember: {View, Logs, Open, TeamView},
	PlatformAdmin: {View, Create, Restart, Delete, Logs, Open, SignOut, Probe, Inspect, List,
		TeamView, TeamUpdate, TeamDelete, TeamMembers, TeamOwners, TeamKeys, Users},
}

// The scopes of API keys and the actions each allows. A key never manages
// keys, owners or the platform, nor deletes a team, whatever its role.
const (
	ScopeTenantsRead  = "tenants:read"  // see tenants and teams, read logs
	ScopeTenantsWrite = "tenants:write" // create, restart, delete tenants; sign their gateway out
	ScopeTenantsOpen  = "tenants:open"  // one-time links into gateways
	ScopeTeamsWrite   = "teams:write"   // rename teams, invite and manage members
)

var scopeActions = map[string][]Action{
	ScopeTenantsRead:  {View, Logs, TeamView},
	ScopeTenantsWrite: {Create, Restart, Delete, SignOut},
	ScopeTenantsOpen:  {Open},
	ScopeTeamsWrite:   {TeamUpdate, TeamMembers},
}

// ValidScope reports whether s is an API key scope.
func ValidScope(s string) bool { _, ok := scopeActions[s]; return ok }

// Scopes lists the API key scopes, sorted.
func Scopes() []string {
	return []string{ScopeTeamsWrite, ScopeTenantsOpen, ScopeTenantsRead, ScopeTenantsWrite}
}

// rolesOf is what a is to a tenant of ownerID in teamID (shared: made on
// the team's routes, so its owner id grants nothing); both are empty for
// actions on no tenant or team in particular (List, Users).
func rolesOf(a Actor, ownerID, teamID string, shared bool) []Role {
	var rs []Role
	if a.PlatformAdmin {
		rs = append(rs, PlatformAdmin)
	}
	if !shared && ownerID != "" && a.UserID != "" && ownerID == a.UserID {
		rs = append(rs, Owner)
	}
	if teamID != "" {
		switch a.Teams[teamID] {
		case store.RoleOwner:
			rs = append(rs, TeamOwner)
		case store.RoleAdmin:
			rs = append(rs, TeamAdmin)
		case store.RoleMember:
			rs = append(rs, TeamMember)
		}
	}
	return rs
}

// granted reports whether one of rs grants act, within a key's scopes.
func granted(a Actor, act Action, rs []Role) bool {
	if a.KeyID != "" {
		inScope := false
		for _, sc := range a.Scopes {
			inScope = inScope || slices.Contains(scopeActions[sc], act)
		}
		if !inScope {
			return false
		}
	}
	for _, r := range rs {
		if slices.Contains(grants[r], act) {
			return true
		}
	}
	return false
}

// ErrForbidden is a known actor asking for what its roles do not grant.
var ErrForbidden = apperr.New(apperr.Forbidden, "forbidden", "not allowed")

// Can reports whether a may do act to t: nil, or ErrForbidden saying what
// was refused.
func Can(a Actor, act Action, t *store.Tenant) error {
	var rs []Role
	if t == nil {
		rs = rolesOf(a, "", "", false)
	} else {
		rs = rolesOf(a, t.OwnerID, t.TeamID, t.Shared)
	}
	if granted(a, act, rs) {
		return nil
	}
	if t == nil {
		return ErrForbidden.Withf("%s may not %s tenants", a.Audit(), act)
	}
	return ErrForbidden.Withf("%s may not %s tenant %s", a.Audit(), act, t.ID)
}

// CanTeam reports whether a may do act to the team teamID ("" for no team
// in particular: Users): nil, or ErrForbidden.
func CanTeam(a Actor, act Action, teamID string) error {
	if granted(a, act, rolesOf(a, "", teamID, true)) {
		return nil
	}
	if teamID == "" {
		return ErrForbidden.Withf("%s may not %s", a.Audit(), act)
	}
	return ErrForbidden.Withf("%s may not %s team %s", a.Audit(), act, teamID)
}

// CanBox reports whether a may do act (View: list it; Delete: release it)
// to a box claimed by claimedBy for teamID (""): the roles of a tenant of
// that owner in that team, so a team's members see its boxes and only its
// owners and admins, and the claimer, release them. A box is a user's
// thing: the operator's token resets boxes (admin routes) rather than
// acting here as their owner.
func CanBox(a Actor, act Action, claimedBy, teamID string) error {
	rs := slices.DeleteFunc(rolesOf(a, claimedBy, teamID, false), func(r Role) bool { return r == PlatformAdmin })
	if granted(a, act, rs) {
		return nil
	}
	return ErrForbidden.Withf("%s may not %s this box", a.Audit(), act)
}
