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

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/router"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/cloud/tenant"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/gin-gonic/gin"
)

type tenantAPI struct {
	*server
	svc        *tenant.Service
	secretHash string // creds.Hash of the shared secret; "" = disabled
	tokens     Tokens // nil = bearer tokens disabled
	rl         *limiter
	poll       time.Duration
	followMax  time.Duration
}

// tenantRoutes registers the tenant routes and returns the handlers that
// the host routes need.
func (s *server) tenantRoutes(r *gin.Engine, admin *gin.RouterGroup) *tenantAPI {
	ta := &tenantAPI{server: s, svc: s.opts.Tenants, rl: newLimiter(s.opts.AuthFailRate, 10),
		poll: s.opts.LogsPollInterval, followMax: s.opts.LogsFollowMax, tokens: s.opts.Tokens}
	if s.opts.SharedSecret != "" {
		ta.secretHash = creds.Hash(s.opts.SharedSecret)
	}
	if ta.poll <= 0 {
		ta.poll = time.Second
	}
	if ta.followMax <= 0 {
		ta.followMax = 10 * time.Minute
	}
	user := r.Group("/api/tenants", ta.requireUser)
	user.POST("", ta.create)
	user.GET("/me", ta.mine)
	user.POST("/me", ta.restart)
	user.DELETE("/me", ta.delete)
	user.POST("/me/restart", ta.restart)
	user.GET("/me/logs", ta.logs)
	if s.opts.Access != nil {
		user.POST("/me/access", ta.access)
		user.DELETE("/me/sessions", ta.signOut)
	}

	admin.GET("/admin/tenants", ta.adminList)
	admin.POST("/admin/tenants", ta.adminCreate)
	admin.GET("/admin/tenants/:id", ta.adminGet)
	admin.POST("/admin/tenants/:id/restart", ta.adminRestart)
	admin.DELETE("/admin/tenants/:id", ta.adminDelete)
	admin.GET("/admin/tenants/:id/logs", ta.adminLogs)
	if s.opts.Access != nil {
		admin.POST("/admin/tenants/:id/access", ta.adminAccess)
		admin.DELETE("/admin/tenants/:id/sessions", ta.adminSignOut)
	}
	return ta
}

const userKey = "clawfleet.user"

func (ta *tenantAPI) requireUser(c *gin.Context) {
	ip := ta.clientIP(c.Request)
	if h := c.GetHeader("Authorization"); ta.tokens != nil && len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		ta.bearerUser(c, ip, h[7:])
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
	c.Set(userKey, u)
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
	c.Set(userKey, u)
	c.Next()
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

func userOf(c *gin.Context) tenant.User { return c.MustGet(userKey).(tenant.User) }

type tenantResources struct {
	CPUMillis   int   `json:"cpuMillis"`
	MemoryBytes int64 `json:"memoryBytes"`
	DiskBytes   int64 `json:"diskBytes"`
	PidsLimit   int   `json:"pidsLimit"`
}

// tenantView is a tenant as its owner sees it (never its gateway token).
type tenantView struct {
	ID         string          `json:"id"`
	Slug       string          `json:"slug"`
	Name       string          `json:"name"`
	Plan       string          `json:"plan"`
	Status     string          `json:"status"`
	URL        string          `json:"url"`
	HostID     string          `json:"hostId"`
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
}

func (ta *tenantAPI) view(t *store.Tenant) tenantView {
	var disk *diskView
	if d, ok := ta.svc.Disk(t.ID); ok {
		disk = &diskView{UsedBytes: d.UsedBytes, TotalBytes: d.TotalBytes, MeasuredAt: d.At.UTC().Format(time.RFC3339)}
	}
	return tenantView{
		Disk: disk,
		ID:   t.ID, Slug: t.Slug, Name: t.Name, Plan: t.Plan, Status: t.Status, URL: ta.svc.URL(t.Slug), HostID: t.HostID,
		RestartGen: t.RestartGen,
		Resources:  tenantResources{CPUMillis: t.CPUMillis, MemoryBytes: t.MemoryBytes, DiskBytes: t.DiskBytes, PidsLimit: t.PidsLimit},
		CreatedAt:  t.CreatedAt.UTC().Format(time.RFC3339), UpdatedAt: t.UpdatedAt.UTC().Format(time.RFC3339), LastError: t.LastError,
	}
}

func (ta *tenantAPI) adminView(t *store.Tenant) adminTenantView {
	return adminTenantView{tenantView: ta.view(t), OwnerID: t.OwnerID, OwnerEmail: t.OwnerEmail, Port: t.Port, Image: t.Image, DesiredState: t.DesiredState}
}

func (ta *tenantAPI) create(c *gin.Context) {
	var req struct {
		Plan string `json:"plan"`
		Name string `json:"name"`
	}
	if !ta.bindJSON(c, &req) {
		return
	}
	t, created, err := ta.svc.Create(c.Request.Context(), userOf(c), req.Plan, req.Name)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	c.JSON(code, ta.view(t))
}

func (ta *tenantAPI) mine(c *gin.Context) {
	t, err := ta.svc.Mine(c.Request.Context(), userOf(c))
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, ta.view(t))
}

// accessRequest is the optional body of POST /api/tenants/me/access.
type accessRequest struct {
	// Path is where the link lands in the gateway ("/" when empty).
	Path string `json:"path"`
}

// access returns a one-time link that signs the caller into their gateway.
func (ta *tenantAPI) access(c *gin.Context) {
	var req accessRequest
	if c.Request.ContentLength != 0 && !ta.bindJSON(c, &req) {
		return
	}
	u := userOf(c)
	t, err := ta.svc.Mine(c.Request.Context(), u)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	link, exp, err := ta.opts.Access.IssueAccess(c.Request.Context(), t.ID, u.ID, ta.svc.URL(t.Slug), req.Path)
	if err != nil {
		if errors.Is(err, router.ErrBadNext) {
			err = errInvalidPath.Withf("path: %v", err)
		}
		ta.failErr(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, gin.H{"url": link, "expiresAt": exp.UTC().Format(time.RFC3339)})
}

// signOut ends every session into the caller's gateway ("sign out
// everywhere"): cookies and unused links stop working and open connections,
// WebSockets included, are closed.
func (ta *tenantAPI) signOut(c *gin.Context) {
	u := userOf(c)
	t, err := ta.svc.Mine(c.Request.Context(), u)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	ta.finishSignOut(c, t, u.Actor())
}

func (ta *tenantAPI) adminSignOut(c *gin.Context) {
	t, err := ta.svc.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		ta.failErr(c, err)
		return
	}
	ta.finishSignOut(c, t, tenant.ActorAdmin)
}

func (ta *tenantAPI) finishSignOut(c *gin.Context, t *store.Tenant, actor string) {
	ctx := c.Request.Context()
	closed, err := ta.opts.Access.SignOut(ctx, t.ID, t.Slug)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	if err := ta.svc.RecordSignOut(ctx, t, actor, closed); err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"tenantId": t.ID, "closedConnections": closed})
}

func (ta *tenantAPI) restart(c *gin.Context) {
	t, err := ta.svc.Restart(c.Request.Context(), userOf(c))
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusAccepted, ta.view(t))
}

func keepData(c *gin.Context) bool {
	v := c.Query("keepData")
	return v == "1" || v == "true"
}

func (ta *tenantAPI) delete(c *gin.Context) {
	t, err := ta.svc.Delete(c.Request.Context(), userOf(c), keepData(c))
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusAccepted, ta.view(t))
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

func (ta *tenantAPI) logs(c *gin.Context) {
	tail, err := logsTail(c)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	u := userOf(c)
	ctx := c.Request.Context()
	lines, err := ta.svc.Logs(ctx, u, tail)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	if f := c.Query("follow"); f != "1" && f != "true" {
		c.JSON(http.StatusOK, gin.H{"lines": lines})
		return
	}

	// Server-sent events: the lines so far, then every new line, polling
	// the host every poll interval, until the client leaves, an error, or
	// followMax.
	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(ls []string) {
		for _, l := range ls {
			l = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(l)
			fmt.Fprintf(w, "data: %s\n\n", l)
		}
		w.Flush()
	}
	event := func(name string, v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
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
			event("end", gin.H{"reason": "the stream lasts at most " + ta.followMax.String() + "; reconnect to go on"})
			return
		case <-tick.C:
		}
		cur, err := ta.svc.Logs(ctx, u, tail)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			_, body := publicError(ta.log, c, err)
			event("error", body)
			return
		}
		if fresh := tenant.NewLines(prev, cur); len(fresh) > 0 {
			send(fresh)
			idle = 0
		} else if idle++; time.Duration(idle)*ta.poll >= 15*time.Second {
			fmt.Fprint(w, ": keepalive\n\n")
			w.Flush()
			idle = 0
		}
		prev = cur
	}
}

// adminAccess gives an operator a one-time link into a tenant's gateway as
// its owner (support), recorded in the audit log.
func (ta *tenantAPI) adminAccess(c *gin.Context) {
	ctx := c.Request.Context()
	t, err := ta.svc.Get(ctx, c.Param("id"))
	if err != nil {
		ta.failErr(c, err)
		return
	}
	link, exp, err := ta.opts.Access.IssueAccess(ctx, t.ID, t.OwnerID, ta.svc.URL(t.Slug), "")
	if err != nil {
		ta.failErr(c, err)
		return
	}
	if err := ta.svc.RecordAccess(ctx, t, tenant.ActorAdmin); err != nil {
		ta.failErr(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, gin.H{"url": link, "expiresAt": exp.UTC().Format(time.RFC3339)})
}

// rotateHostKey makes a host replace its WireGuard key (admin-forced
// rotation, e.g. after a suspected leak); answers with the new public key.
func (ta *tenantAPI) rotateHostKey(c *gin.Context) {
	ctx := c.Request.Context()
	if _, err := ta.opts.Fleet.GetHost(ctx, c.Param("id")); err != nil {
		ta.failErr(c, err)
		return
	}
	pub, err := ta.svc.RotateHostKey(ctx, c.Param("id"), tenant.ActorAdmin)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"hostId": c.Param("id"), "wgPublicKey": pub})
}

// adminCreate creates a tenant for any owner; see the file comment for why
// an owner's existing tenant is a 409 here and not a 200 as for users.
func (ta *tenantAPI) adminCreate(c *gin.Context) {
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
	t, created, err := ta.svc.CreateAs(c.Request.Context(), u, req.Plan, req.Name, tenant.ActorAdmin)
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
	c.JSON(http.StatusCreated, ta.adminView(t))
}

func (ta *tenantAPI) adminLogs(c *gin.Context) {
	tail, err := logsTail(c)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	if c.Query("follow") != "" {
		ta.failErr(c, apperr.Invalidf("follow is not offered on the admin logs endpoint; poll it with ?tail="))
		return
	}
	lines, err := ta.svc.LogsByID(c.Request.Context(), c.Param("id"), tail)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"lines": lines})
}

func (ta *tenantAPI) adminList(c *gin.Context) {
	ts, err := ta.svc.List(c.Request.Context())
	if err != nil {
		ta.failErr(c, err)
		return
	}
	out := make([]adminTenantView, 0, len(ts))
	for i := range ts {
		out = append(out, ta.adminView(&ts[i]))
	}
	c.JSON(http.StatusOK, out)
}

func (ta *tenantAPI) adminGet(c *gin.Context) {
	t, err := ta.svc.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, ta.adminView(t))
}

func (ta *tenantAPI) adminRestart(c *gin.Context) {
	t, err := ta.svc.RestartByID(c.Request.Context(), c.Param("id"), tenant.ActorAdmin)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusAccepted, ta.adminView(t))
}

func (ta *tenantAPI) adminDelete(c *gin.Context) {
	t, err := ta.svc.DeleteByID(c.Request.Context(), c.Param("id"), keepData(c), tenant.ActorAdmin)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusAccepted, ta.adminView(t))
}

// hostLoadView is a host with its tenant capacity, what its tenants reserve
// and their number.
type hostLoadView struct {
	hostView
	tenant.HostLoad
}

func (ta *tenantAPI) listHosts(c *gin.Context) {
	hs, err := ta.opts.Fleet.ListHosts(c.Request.Context())
	if err != nil {
		ta.failErr(c, err)
		return
	}
	loads, err := ta.svc.HostLoads(c.Request.Context(), hs)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	out := make([]hostLoadView, 0, len(hs))
	for i := range hs {
		out = append(out, hostLoadView{viewHost(&hs[i]), loads[hs[i].ID]})
	}
	c.JSON(http.StatusOK, out)
}

func (ta *tenantAPI) getHost(c *gin.Context) {
	h, err := ta.opts.Fleet.GetHost(c.Request.Context(), c.Param("id"))
	if err != nil {
		ta.failErr(c, err)
		return
	}
	loads, err := ta.svc.HostLoads(c.Request.Context(), []store.Host{*h})
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, hostLoadView{viewHost(h), loads[h.ID]})
}
