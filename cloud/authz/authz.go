// Package authz decides whether an actor may do an action to a tenant. It
// is one function, Can, over one table of what each role grants; the API
// asks it once per request, after resolving who is acting and which tenant
// the request is about (cloud/api), and the services trust that answer.
//
// Today an actor is a tenant's owner (a user of the SSO web app or its
// bearer token) or the platform administrator (the admin token). Adding a
// role — a team's owner, admin or member — is a constant, a line in grants
// and a case in rolesOf; nothing else changes.
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
	// PlatformAdmin may do anything to any tenant (the admin token).
	PlatformAdmin bool
}

// Admin is the actor of a request made with the admin token.
var Admin = Actor{PlatformAdmin: true}

// Audit is how the audit log names a: "user:<id>", or "admin" for the admin
// token.
func (a Actor) Audit() string {
	if a.UserID == "" && a.PlatformAdmin {
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

// Role is what an actor is to a tenant.
type Role string

// The roles.
const (
	Owner         Role = "owner"          // the user the tenant belongs to
	PlatformAdmin Role = "platform-admin" // the operator
)

// grants is what each role may do: the one place that says so.
var grants = map[Role][]Action{
	Owner:         {View, Create, Restart, Delete, Logs, Open, SignOut},
	PlatformAdmin: {View, Create, Restart, Delete, Logs, Open, SignOut, Probe, Inspect, List},
}

// rolesOf is what a is to t; t is nil for actions on no tenant in
// particular (List).
func rolesOf(a Actor, t *store.Tenant) []Role {
	var rs []Role
	if a.PlatformAdmin {
		rs = append(rs, PlatformAdmin)
	}
	if t != nil && a.UserID != "" && t.OwnerID == a.UserID {
		rs = append(rs, Owner)
	}
	return rs
}

// ErrForbidden is a known actor asking for what its roles do not grant.
var ErrForbidden = apperr.New(apperr.Forbidden, "forbidden", "not allowed")

// Can reports whether a may do act to t: nil, or ErrForbidden saying what
// was refused.
func Can(a Actor, act Action, t *store.Tenant) error {
	for _, r := range rolesOf(a, t) {
		if slices.Contains(grants[r], act) {
			return nil
		}
	}
	if t == nil {
		return ErrForbidden.Withf("%s may not %s tenants", a.Audit(), act)
	}
	return ErrForbidden.Withf("%s may not %s tenant %s", a.Audit(), act, t.ID)
}
