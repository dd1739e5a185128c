package api

// Tenant routes. Calls from the SSO-backed web app (server to server) carry
//
//	X-Shared-Secret  the cloud's CLAWFLEET_SHARED_SECRET (compared in constant time)
//	X-User-ID        the signed-in user: 1-128 characters, no control characters
//	X-User-Email     optional: at most 254 characters, with an '@'
//
// or, when the cloud trusts an SSO (CLAWFLEET_SSO_*), instead of all three
//
//	Authorization    Bearer <JWT from the SSO>: the user is its "sub" (or the configured claim)
//
// and act on that user's tenant (one per user):
//
//	POST   /api/tenants              {"plan":"basic","name":"My claw"} → 201 tenant (200 with the existing one)
//	GET    /api/tenants/me           → 200 tenant
//	POST   /api/tenants/me           → 202 tenant (restart; same as /me/restart)
//	POST   /api/tenants/me/restart   → 202 tenant, restartGen bumped
//	DELETE /api/tenants/me[?keepData=1] → 202 tenant with status "deleting" (already gone from the store)
//	GET    /api/tenants/me/logs[?tail=200] → 200 {"lines":[...]}
//	GET    /api/tenants/me/logs?follow=1   → text/event-stream, one "data: <line>" event per new line
//
// A tenant is {"id","slug","name","plan","status","url","hostId","restartGen",
// "resources":{"cpuMillis","memoryBytes","diskBytes","pidsLimit"},"createdAt",
// "updatedAt","lastError"}. Admin routes (Authorization: Bearer <admin
// token>; audit actor "admin") list, create and act on any tenant:
//
//	GET    /api/admin/tenants              → 200 [tenant, ...]
//	POST   /api/admin/tenants              {"ownerId":"u1","ownerEmail":"a@b.c","plan":"basic","name":"My claw"} → 201 tenant
//	GET    /api/admin/tenants/:id          → 200 tenant
//	POST   /api/admin/tenants/:id/restart  → 202 tenant, restartGen bumped
//	DELETE /api/admin/tenants/:id[?keepData=1] → 202 tenant with status "deleting"
//	GET    /api/admin/tenants/:id/logs[?tail=200] → 200 {"lines":[...]} (no follow)
//	POST   /api/hosts/:id/adopt            {"container":"openclaw-alice","ownerId":"u1","slug":"alice","plan":"basic"} → 201 tenant
//	GET    /api/hosts/:id/containers       → 200 {"containers":[{"id","name","image","running","port","adoptable","code","reason","tenant"}],"leftOut":0}
//
// Containers lists the OpenClaw containers of the host's Docker engine that
// clawfleet did not make, to adopt: adoptable, or why not (the codes
// below), or adopted already (tenant); never a token. no_host 404,
// host_offline 503, no_docker 409.
//
// Adopt makes an OpenClaw container already running on the host's Docker
// engine (made before clawfleet, e.g. by Portainer) the owner's tenant,
// managed in place by the host's agent (docs/workers.md, "Migrating from
// Portainer"): unknown_owner 404, owner_has_tenant 409, invalid_slug 400,
// slug_taken 409, no_host 404, host_offline 503, no_container 404,
// not_openclaw 400, not_adoptable 400, already_adopted 409, port_taken 409,
// no_docker 409.
//
// Their tenants add ownerId, ownerEmail, port, image and desiredState. An
// admin create validates like the user API (ownerId as X-User-ID, ownerEmail
// as X-User-Email: invalid_user, invalid_email; invalid_plan, invalid_name,
// no_capacity 503) but is not idempotent: when the owner already has a
// tenant it answers 409 {"code":"conflict","tenantId":"ten_…"} and changes
// nothing, because an operator asking for a given plan and name must not
// silently get a tenant with another. Logs answer like the user's:
// host_offline 503, host_timeout 504, host_error 502; an unknown id is 404
// no_tenant everywhere.
//
// The owner's and the admin's routes on one tenant run the same handlers:
// actor.go resolves who acts and which tenant, and asks authz.Can.

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/authz"
	"github.com/clawfleet/clawfleet/cloud/ratelimit"
	"github.com/clawfleet/clawfleet/cloud/router"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/cloud/teams"
	"github.com/clawfleet/clawfleet/cloud/tenant"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/gin-gonic/gin"
)

type tenantAPI struct {
	*server
	svc        *tenant.Service
	secretHash string         // creds.Hash of the shared secret; "" = disabled
	tokens     Tokens         // nil = bearer tokens disabled
	teams      *teams.Service // nil = no teams (and no API keys)
	rl         *limiter
	poll       time.Duration
	followMax  time.Duration
	// Followed logs held open, by user and by client address.
	userStreams, addrStreams *ratelimit.Slots
	// Status streams (GET /api/tenants/events) held open, likewise.
	userWatches, addrWatches *ratelimit.Slots
}

// tenantRoutes registers the tenant routes.
func (s *server) tenantRoutes(r *gin.Engine, admin *gin.RouterGroup) {
	ta := &tenantAPI{server: s, svc: s.opts.Tenants, rl: newLimiter(s.opts.AuthFailRate, 10),
		poll: s.opts.LogsPollInterval, followMax: s.opts.LogsFollowMax, tokens: s.opts.Tokens, teams: s.opts.Teams,
		userStreams: ratelimit.NewSlots(s.opts.MaxStreamsPerUser), addrStreams: ratelimit.NewSlots(s.opts.MaxStreamsPerAddr),
		userWatches: ratelimit.NewSlots(s.opts.MaxStreamsPerUser), addrWatches: ratelimit.NewSlots(s.opts.MaxStreamsPerAddr)}
	if s.opts.SharedSecret != "" {
		ta.secretHash = creds.Hash(s.opts.SharedSecret)
	} else {
		ta.secretHash = s.opts.SharedSecretHash
	}
	if ta.poll <= 0 {
		ta.poll = time.Second
	}
	if ta.followMax <= 0 {
		ta.followMax = 10 * time.Minute
	}
	user := r.Group("/api/tenants", ta.requireUser)
	if ta.teams != nil {
		user.Use(ta.resolveTeams)
	}
	user.POST("", ta.create)
	user.GET("/events", ta.events)
	r.GET("/api/plans", ta.requireUser, ta.plans)
	mine := user.Group("/me", ta.loadTenant(ownTenant))
	ta.tenantOps(mine, true)
	mine.POST("", ta.allow(authz.Restart), ta.restart) // the seed API's restart

	admin.GET("/admin/tenants", ta.allow(authz.List), ta.list(ta.allTenants))
	admin.POST("/admin/tenants", ta.createFor)
	admin.POST("/hosts/:id/adopt", ta.adopt)
	admin.GET("/hosts/:id/containers", ta.allow(authz.Inspect), ta.containers)
	if s.opts.TunnelDial == nil {
		// Said before looking the tenant up: no tenant can be probed.
		admin.GET("/admin/tenants/:id/probe", func(c *gin.Context) { ta.failErr(c, errTunnelsOff) })
	}
	if s.opts.Claims != nil {
		ta.claimRoutes(r, admin)
	}
	byID := admin.Group("/admin/tenants/:id", ta.loadTenant(tenantByID))
	ta.tenantOps(byID, false)
	if s.opts.TunnelDial != nil {
		byID.GET("/probe", ta.allow(authz.Probe), ta.probe)
	}
	if ta.teams != nil {
		ta.teamRoutes(r, admin)
	}
}

// tenantOps registers the operations on one tenant under g, whose
// middleware has resolved the tenant; each route names the action the
// actor must be allowed. follow offers followed logs (the owner's route).
func (ta *tenantAPI) tenantOps(g *gin.RouterGroup, follow bool) {
	ta.coreOps(g, follow)
	if ta.opts.Access != nil {
		g.POST("/access", ta.allow(authz.Open), ta.access)
		g.DELETE("/sessions", ta.allow(authz.SignOut), ta.signOut)
	}
}

// coreOps registers what every route to one tenant offers: get, restart,
// delete, logs.
func (ta *tenantAPI) coreOps(g *gin.RouterGroup, follow bool) {
	op := func(method, path string, act authz.Action, h gin.HandlerFunc) {
		g.Handle(method, path, ta.allow(act), h)
	}
	op(http.MethodGet, "", authz.View, ta.get)
	op(http.MethodPost, "/restart", authz.Restart, ta.restart)
	op(http.MethodDelete, "", authz.Delete, ta.delete)
	op(http.MethodGet, "/logs", authz.Logs, ta.logs(follow))
	op(http.MethodGet, "/usage", authz.View, ta.usage)
}

type tenantResources struct {
	CPUMillis   int   `json:"cpuMillis"`
	MemoryBytes int64 `json:"memoryBytes"`
	DiskBytes   int64 `json:"diskBytes"`
	PidsLimit   int   `json:"pidsLimit"`
}

func resourcesOf(t *store.Tenant) tenantResources {
	return tenantResources{CPUMillis: t.CPUMillis, MemoryBytes: t.MemoryBytes, DiskBytes: t.DiskBytes, PidsLimit: t.PidsLimit}
}

// tenantView is a tenant as its owner sees it (never its gateway token).
type tenantView struct {
	ID     string `json:"id"`
	Slug   string `json:"slug"`
	Name   string `json:"name"`
	Plan   string `json:"plan"`
	Status string `json:"status"`
	URL    string `json:"url"`
	HostID string `json:"hostId"`
	// HostKind is what runs it: "worker" (the operator's shared pool) or
	// "box" (the owner's own box); "" while it has no host.
	HostKind   string          `json:"hostKind"`
	RestartGen int64           `json:"restartGen"`
	Resources  tenantResources `json:"resources"`
	// Disk is the tenant's disk as its host last measured it; absent when
	// the host does not enforce disk limits (or has not reported yet).
	Disk      *diskView `json:"disk,omitempty"`
	CreatedAt string    `json:"createdAt"`
	UpdatedAt string    `json:"updatedAt"`
	LastError string    `json:"lastError"`
}

type diskView struct {
	UsedBytes  int64  `json:"usedBytes"`
	TotalBytes int64  `json:"totalBytes"`
	MeasuredAt string `json:"measuredAt"`
}

// adminTenantView adds what only operators see.
type adminTenantView struct {
	tenantView
	OwnerID      string `json:"ownerId"`
	OwnerEmail   string `json:"ownerEmail"`
	Port         int    `json:"port"`
	Image        string `json:"image"`
	DesiredState string `json:"desiredState"`
	// Container is an adopted gateway's Docker container ID.
	Container string `json:"container,omitempty"`
}

func (ta *tenantAPI) view(t *store.Tenant) tenantView {
	var disk *diskView
	if d, ok := ta.svc.Disk(t.ID); ok {
		disk = &diskView{UsedBytes: d.UsedBytes, TotalBytes: d.TotalBytes, MeasuredAt: d.At.UTC().Format(time.RFC3339)}
	}
	return tenantView{
		Disk: disk, HostKind: ta.hostKind(t.HostID),
		ID: t.ID, Slug: t.Slug, Name: t.Name, Plan: t.Plan, Status: t.Status, URL: ta.svc.URL(t.Slug), HostID: t.HostID,
		RestartGen: t.RestartGen,
		Resources:  resourcesOf(t),
		CreatedAt:  t.CreatedAt.UTC().Format(time.RFC3339), UpdatedAt: t.UpdatedAt.UTC().Format(time.RFC3339), LastError: t.LastError,
	}
}

func (ta *tenantAPI) adminView(t *store.Tenant) adminTenantView {
	return adminTenantView{tenantView: ta.view(t), OwnerID: t.OwnerID, OwnerEmail: t.OwnerEmail, Port: t.Port, Image: t.Image, DesiredState: t.DesiredState, Container: t.Container}
}

// viewFor is t as the request's actor may see it: with the operator fields
// when authz lets it inspect t.
func (ta *tenantAPI) viewFor(c *gin.Context, t *store.Tenant) any {
	if authz.Can(actorOf(c), authz.Inspect, t) == nil {
		return ta.adminView(t)
	}
	return ta.view(t)
}

// create creates the actor's own tenant; repeating it returns that tenant
// (200), whatever plan or name it asks for.
func (ta *tenantAPI) create(c *gin.Context) {
	var req struct {
		Plan string `json:"plan"`
		Name string `json:"name"`
	}
	if !ta.bindJSON(c, &req) {
		return
	}
	a := actorOf(c)
	t, created, err := ta.createTenant(c, tenant.User{ID: a.UserID, Email: a.Email}, req.Plan, req.Name)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	c.JSON(code, ta.viewFor(c, t))
}

// createFor creates a tenant for any owner (the operator); see the file
// comment for why an owner's existing tenant is a 409 here and not a 200
// as for users.
func (ta *tenantAPI) createFor(c *gin.Context) {
	var req struct {
		OwnerID    string `json:"ownerId"`
		OwnerEmail string `json:"ownerEmail"`
		Plan       string `json:"plan"`
		Name       string `json:"name"`
	}
	if !ta.bindJSON(c, &req) {
		return
	}
	u := tenant.User{ID: req.OwnerID, Email: req.OwnerEmail}
	if !ta.checkUser(c, u, "ownerId", "ownerEmail") {
		return
	}
	t, created, err := ta.createTenant(c, u, req.Plan, req.Name)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	if !created {
		c.AbortWithStatusJSON(http.StatusConflict, gin.H{
			"error":    fmt.Sprintf("owner %s already has tenant %s (%s); delete it first to create another", strconv.Quote(u.ID), t.ID, t.Slug),
			"code":     "conflict",
			"tenantId": t.ID,
		})
		return
	}
	c.JSON(http.StatusCreated, ta.viewFor(c, t))
}

// adopt makes a container on the host the owner's tenant (tenant.Adopt).
func (ta *tenantAPI) adopt(c *gin.Context) {
	var req struct {
		Container string `json:"container"`
		OwnerID   string `json:"ownerId"`
		Slug      string `json:"slug"`
		Plan      string `json:"plan"`
	}
	if !ta.bindJSON(c, &req) {
		return
	}
	a := actorOf(c)
	if err := authz.Can(a, authz.Create, &store.Tenant{OwnerID: req.OwnerID}); err != nil {
		ta.failErr(c, err)
		return
	}
	t, err := ta.svc.Adopt(c.Request.Context(), a, tenant.AdoptRequest{HostID: c.Param("id"), Container: req.Container, Owner: req.OwnerID, Slug: req.Slug, Plan: req.Plan})
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusCreated, ta.viewFor(c, t))
}

// containers lists what there is to adopt on the host (tenant.Containers).
func (ta *tenantAPI) containers(c *gin.Context) {
	cs, left, err := ta.svc.Containers(c.Request.Context(), c.Param("id"))
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"containers": cs, "leftOut": left})
}

// createTenant creates owner's tenant if the actor may.
func (ta *tenantAPI) createTenant(c *gin.Context, owner tenant.User, plan, name string) (*store.Tenant, bool, error) {
	a := actorOf(c)
	if err := authz.Can(a, authz.Create, &store.Tenant{OwnerID: owner.ID}); err != nil {
		return nil, false, err
	}
	return ta.svc.Create(c.Request.Context(), a, owner, plan, name)
}

func (ta *tenantAPI) get(c *gin.Context) { c.JSON(http.StatusOK, ta.viewFor(c, tenantOf(c))) }

// list answers the tenants of lists, as the actor may see them: every
// tenant (the admin's route) or a team's.
func (ta *tenantAPI) list(of func(c *gin.Context) ([]store.Tenant, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		ts, err := of(c)
		if err != nil {
			ta.failErr(c, err)
			return
		}
		c.JSON(http.StatusOK, views(ts, func(t *store.Tenant) any { return ta.viewFor(c, t) }))
	}
}

// allTenants is every tenant.
func (ta *tenantAPI) allTenants(c *gin.Context) ([]store.Tenant, error) {
	return ta.svc.List(c.Request.Context())
}

func (ta *tenantAPI) restart(c *gin.Context) {
	t, err := ta.svc.Restart(c.Request.Context(), actorOf(c), tenantOf(c))
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusAccepted, ta.viewFor(c, t))
}

func keepData(c *gin.Context) bool {
	v := c.Query("keepData")
	return v == "1" || v == "true"
}

func (ta *tenantAPI) delete(c *gin.Context) {
	t, err := ta.svc.Delete(c.Request.Context(), actorOf(c), tenantOf(c), keepData(c))
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusAccepted, ta.viewFor(c, t))
}

// accessRequest is the optional body of POST …/access.
type accessRequest struct {
	// Path is where the link lands in the gateway ("/" when empty).
	Path string `json:"path"`
}

// access returns a one-time link that signs its user into the tenant's
// gateway as its owner. A link for anyone but the owner (an operator's, for
// support) is recorded in the audit log.
func (ta *tenantAPI) access(c *gin.Context) {
	var req accessRequest
	if c.Request.ContentLength != 0 && !ta.bindJSON(c, &req) {
		return
	}
	link, exp, err := ta.issueLink(c, actorOf(c), tenantOf(c), req.Path)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, gin.H{"url": link, "expiresAt": exp.UTC().Format(time.RFC3339)})
}

// issueLink makes a one-time link for a into t, landing on path; a link
// for anyone but the owner is audited.
func (ta *tenantAPI) issueLink(c *gin.Context, a authz.Actor, t *store.Tenant, path string) (string, time.Time, error) {
	ctx := c.Request.Context()
	link, exp, err := ta.opts.Access.IssueAccess(ctx, t.ID, linkUser(a, t), ta.svc.URL(t.Slug), path)
	if err != nil {
		if errors.Is(err, router.ErrBadNext) {
			err = errInvalidPath.Withf("path: %v", err)
		}
		return "", time.Time{}, err
	}
	if a.UserID != t.OwnerID {
		if err := ta.svc.RecordAccess(ctx, a, t); err != nil {
			return "", time.Time{}, err
		}
	}
	return link, exp, nil
}

// linkUser is whom a one-time link into t is for, which the router checks
// at every request: the tenant's owner for its owner, a platform admin (for
// support) and a team's key; otherwise the acting user, admitted while they
// are a member of t's team.
func linkUser(a authz.Actor, t *store.Tenant) string {
	if a.PlatformAdmin || a.AccountID == "" || (a.UserID == t.OwnerID && !t.Shared) {
		return t.OwnerID
	}
	return a.AccountID
}

// signOut ends every session into the tenant's gateway ("sign out
// everywhere"): cookies and unused links stop working and open connections,
// WebSockets included, are closed.
func (ta *tenantAPI) signOut(c *gin.Context) {
	ctx := c.Request.Context()
	t := tenantOf(c)
	closed, err := ta.opts.Access.SignOut(ctx, t.ID, t.Slug)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	if err := ta.svc.RecordSignOut(ctx, actorOf(c), t, closed); err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"tenantId": t.ID, "closedConnections": closed})
}

// logsTail parses ?tail= (default 200).
func logsTail(c *gin.Context) (int, error) {
	v := c.Query("tail")
	if v == "" {
		return 200, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 2000 {
		return 0, apperr.Invalidf("tail must be a number between 1 and 2000")
	}
	return n, nil
}

// usageHours reads ?hours= of a usage request: 1 to 24, 6 when absent.
func usageHours(c *gin.Context) (int, error) {
	v := c.Query("hours")
	if v == "" {
		return 6, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 24 {
		return 0, apperr.Invalidf("hours must be a number between 1 and 24")
	}
	return n, nil
}

type usagePoint struct {
	At            string `json:"at"`
	CPUMillicores int64  `json:"cpuMillicores"`
	MemoryBytes   int64  `json:"memoryBytes"`
	DiskBytes     int64  `json:"diskBytes"`
}

type usageView struct {
	Hours     int             `json:"hours"`
	Resources tenantResources `json:"resources"`
	Points    []usagePoint    `json:"points"`
}

// usage answers the tenant's usage samples (one a minute at most) over the
// last ?hours=, oldest first, with the plan's limits to draw them against.
func (ta *tenantAPI) usage(c *gin.Context) {
	hours, err := usageHours(c)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	t := tenantOf(c)
	samples, err := ta.svc.Usage(c.Request.Context(), t.ID, time.Duration(hours)*time.Hour)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	v := usageView{Hours: hours, Points: make([]usagePoint, 0, len(samples)),
		Resources: resourcesOf(t)}
	for _, u := range samples {
		v.Points = append(v.Points, usagePoint{At: u.At.UTC().Format(time.RFC3339), CPUMillicores: u.CPUMillicores, MemoryBytes: u.MemoryBytes, DiskBytes: u.DiskBytes})
	}
	c.JSON(http.StatusOK, v)
}

// logs answers the tenant's recent log lines; with follow (offered on the
// owner's route) ?follow=1 streams them as server-sent events.
func (ta *tenantAPI) logs(follow bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		tail, err := logsTail(c)
		if err != nil {
			ta.failErr(c, err)
			return
		}
		f := c.Query("follow")
		if !follow && f != "" {
			ta.failErr(c, apperr.Invalidf("follow is not offered on the admin logs endpoint; poll it with ?tail="))
			return
		}
		streaming := f == "1" || f == "true"
		if streaming {
			release, err := ta.holdStream(c)
			if err != nil {
				ta.failErr(c, err)
				return
			}
			defer release()
		}
		t := tenantOf(c)
		lines, err := ta.svc.Logs(c.Request.Context(), t, tail)
		if err != nil {
			ta.failErr(c, err)
			return
		}
		if !streaming {
			c.JSON(http.StatusOK, gin.H{"lines": lines})
			return
		}
		ta.followLogs(c, t, tail, lines)
	}
}

// holdStream takes one of the user's log stream slots and, unless the web
// app relays the call with the shared secret, one of the client address's;
// it answers too_many_streams (429, Retry-After) when either is full.
func (ta *tenantAPI) holdStream(c *gin.Context) (release func(), err error) {
	return ta.holdSlots(c, ta.userStreams, ta.addrStreams, "log streams")
}

// holdSlots takes a slot of users for the actor and, unless the web app
// relays the call, one of addrs for the client address; what names the
// streams in the refusal.
func (ta *tenantAPI) holdSlots(c *gin.Context, users, addrs *ratelimit.Slots, what string) (release func(), err error) {
	user, ok := users.Acquire(actorOf(c).UserID)
	if !ok {
		return nil, errUserStreams.Withf("too many %s open for this user (at most %d); close one (another tab or window) and retry", what, users.Max())
	}
	if c.GetBool(webAppKey) {
		return user, nil
	}
	addr, ok := addrs.Acquire(ta.clientIP(c.Request))
	if !ok {
		user()
		return nil, errAddrStreams.Withf("too many %s open from this address (at most %d); close one and retry", what, addrs.Max())
	}
	return func() { addr(); user() }, nil
}

// followLogs streams server-sent events: the lines so far, then every new
// line, polling the host every poll interval, until the client leaves, an
// error, or followMax.
func (ta *tenantAPI) followLogs(c *gin.Context, t *store.Tenant, tail int, lines []string) {
	ctx := c.Request.Context()
	sse := startSSE(c)
	w := sse.w
	send := func(ls []string) {
		for _, l := range ls {
			l = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(l)
			fmt.Fprintf(w, "data: %s\n\n", l)
		}
		w.Flush()
	}
	send(lines)
	prev := lines
	deadline := time.NewTimer(ta.followMax)
	defer deadline.Stop()
	tick := time.NewTicker(ta.poll)
	defer tick.Stop()
	idle := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			sse.end(ta.followMax)
			return
		case <-tick.C:
		}
		cur, err := ta.svc.Logs(ctx, t, tail)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			_, body := publicError(ta.log, c, err)
			sse.event("error", body)
			return
		}
		if fresh := tenant.NewLines(prev, cur); len(fresh) > 0 {
			send(fresh)
			idle = 0
		} else if idle++; time.Duration(idle)*ta.poll >= 15*time.Second {
			sse.keepalive()
			idle = 0
		}
		prev = cur
	}
}
