package api

// Every request that acts on a tenant is resolved once, before its handler
// runs, in the manner of Gitea's context loading:
//
//  1. who is acting: requireAdmin (the admin token: authz.Admin) or
//     requireUser (a user of the SSO web app) sets the actor;
//  2. which tenant: loadTenant finds it by the route's reference, the
//     actor's own (/api/tenants/me) or an id (/api/admin/tenants/:id), and
//     answers 404 no_tenant itself;
//  3. whether the actor may: allow asks authz.Can for the route's action
//     (403 forbidden when not).
//
// Handlers then take actorOf(c) and tenantOf(c) and call one service
// method per operation; the same handler serves the owner's and the
// admin's route.

import (
	"strings"
	"unicode/utf8"

	"github.com/clawfleet/clawfleet/cloud/authz"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/cloud/tenant"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/gin-gonic/gin"
)

const (
	actorKey  = "clawfleet.actor"
	tenantKey = "clawfleet.tenant"
	// webAppKey is set on requests authenticated with the shared secret:
	// the web app, relaying its users from one address.
	webAppKey = "clawfleet.webapp"
)

// actorOf is who is acting in the request (set by requireAdmin or
// requireUser).
func actorOf(c *gin.Context) authz.Actor { return c.MustGet(actorKey).(authz.Actor) }

// tenantOf is the request's tenant (set by loadTenant); nil on routes about
// no tenant in particular.
func tenantOf(c *gin.Context) *store.Tenant {
	t, _ := c.Get(tenantKey)
	tn, _ := t.(*store.Tenant)
	return tn
}

// A tenantRef says which tenant a route is about.
type tenantRef func(c *gin.Context) tenant.Ref

// ownTenant is the actor's own tenant (the seed API's one tenant per user).
func ownTenant(c *gin.Context) tenant.Ref { return tenant.Ref{OwnerID: actorOf(c).UserID} }

// tenantByID is the tenant the route's :id names.
func tenantByID(c *gin.Context) tenant.Ref { return tenant.Ref{ID: c.Param("id")} }

// loadTenant finds the tenant ref names and puts it in the request.
func (ta *tenantAPI) loadTenant(ref tenantRef) gin.HandlerFunc {
	return func(c *gin.Context) {
		t, err := ta.svc.Find(c.Request.Context(), ref(c))
		if err != nil {
			ta.failErr(c, err)
			return
		}
		c.Set(tenantKey, t)
		c.Next()
	}
}

// allow lets the request on only when its actor may do act to its tenant.
func (s *server) allow(act authz.Action) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := authz.Can(actorOf(c), act, tenantOf(c)); err != nil {
			s.failErr(c, err)
			return
		}
		c.Next()
	}
}

// requireUser authenticates a user of the SSO web app (shared secret and
// X-User-*, or the SSO's bearer token) or of the console (the session
// cookie, auth.go): the request's actor is that user.
func (ta *tenantAPI) requireUser(c *gin.Context) {
	ip := ta.clientIP(c.Request)
	if tok, ok := isAPIKey(c.GetHeader("Authorization")); ok && ta.teams != nil {
		ta.keyUser(c, ip, tok)
		return
	}
	if h := c.GetHeader("Authorization"); ta.tokens != nil && len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		ta.bearerUser(c, ip, h[7:])
		return
	}
	// A console user: the session cookie, and no server-to-server header.
	if ta.auth != nil && c.GetHeader("Authorization") == "" && c.GetHeader("X-Shared-Secret") == "" && ta.auth.cookie(c, "session") != "" {
		ta.auth.requireSession(c)
		return
	}
	if err := ta.rl.exhausted(ip); err != nil {
		ta.failErr(c, err)
		return
	}
	if ta.secretHash == "" {
		err := errUnauthorized.Withf("shared-secret authentication is disabled on this cloud: set CLAWFLEET_SHARED_SECRET")
		if ta.tokens != nil {
			err = errUnauthorized.Withf("send Authorization: Bearer <token from the SSO> (shared-secret authentication is disabled on this cloud)")
		}
		ta.failErr(c, err)
		return
	}
	got := c.GetHeader("X-Shared-Secret")
	if got == "" || !creds.Equal(ta.secretHash, got) {
		ta.rl.allow(ip) // count the failure
		ta.log.Warn("shared-secret authentication failed", "ip", ip, "route", c.FullPath(), "present", got != "")
		ta.failErr(c, errUnauthorized)
		return
	}
	u := tenant.User{ID: c.GetHeader("X-User-ID"), Email: c.GetHeader("X-User-Email")}
	if !ta.checkUser(c, u, "X-User-ID", "X-User-Email") {
		return
	}
	ta.webAppUser(c, u, true)
}

// webAppUser makes the web app's user u the request's actor. u.ID stays
// the actor's id, the owner id of its tenant; with accounts, it is also
// the identity ("webapp", u.ID) of a user (made on first sight), so the
// same person is one user in the console. relayed: the web app relays the
// call with the shared secret (webAppKey).
func (ta *tenantAPI) webAppUser(c *gin.Context, u tenant.User, relayed bool) {
	if ta.auth != nil {
		if err := ta.auth.acc.WebAppUser(c.Request.Context(), u.ID, u.Email); err != nil {
			ta.failErr(c, err)
			return
		}
	}
	c.Set(actorKey, authz.Actor{UserID: u.ID, Email: u.Email})
	if relayed {
		c.Set(webAppKey, true)
	}
	c.Next()
}

// bearerUser authenticates the caller by an SSO token.
func (ta *tenantAPI) bearerUser(c *gin.Context, ip, tok string) {
	// A valid token passes whatever others at the same address did (the
	// SSO app forwards every user's token from one address); signed tokens
	// cannot be guessed, so only failures are limited.
	su, err := ta.tokens.Verify(c.Request.Context(), strings.TrimSpace(tok))
	if err != nil {
		if err := ta.rl.exhausted(ip); err != nil {
			ta.failErr(c, err)
			return
		}
		ta.rl.allow(ip) // count the failure
		ta.log.Warn("SSO token refused", "ip", ip, "route", c.FullPath(), "err", err)
		c.Header("WWW-Authenticate", `Bearer realm="clawfleet", error="invalid_token"`)
		ta.failErr(c, errInvalidToken.Withf("bearer token refused (%v): get a fresh token from the SSO", err))
		return
	}
	u := tenant.User{ID: su.ID, Email: su.Email}
	if !validEmail(u.Email) {
		u.Email = "" // optional: a provider's odd value must not lock the user out
	}
	if !ta.checkUser(c, u, "the token's user claim", "the token's email claim") {
		return
	}
	ta.webAppUser(c, u, false)
}

// checkUser validates a user's id and optional email (fields names them in
// the error) and answers 400 invalid_user or invalid_email when they are bad.
func (s *server) checkUser(c *gin.Context, u tenant.User, idField, emailField string) bool {
	if proto.ValidateOwner(u.ID) != nil {
		s.failErr(c, errInvalidUser.Withf("%s must be 1-128 characters without control characters", idField))
		return false
	}
	if !validEmail(u.Email) {
		s.failErr(c, errInvalidEmail.Withf("%s must be an address of at most 254 characters with an @", emailField))
		return false
	}
	return true
}

// validEmail accepts "" (no email) or an address of at most 254
// characters with an @ and no control characters.
func validEmail(e string) bool {
	return e == "" || (len(e) <= 254 && strings.Contains(e, "@") && utf8.ValidString(e) && !hasControl(e))
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}
