package api

// Team routes (docs/teams.md). Who acts is resolved as on the tenant routes
// (requireUser: the console's session, the web app's shared secret and
// X-User-ID, an SSO bearer token, or an API key "Authorization: Bearer
// cfk_…"), then resolveTeams fills in the actor's teams once; loadTeam
// finds the route's :team (404 no_team for one the actor is not in, so
// teams are not probed) and allowTeam asks authz.CanTeam for the route's
// action. A team's tenants run the same handlers as /api/tenants/me and
// the admin's routes, loaded by teamTenant (team and id).
//
//	GET    /api/teams                          → 200 [team]  (the actor's, with its role)
//	POST   /api/teams {"name"}                 → 201 team
//	GET    /api/teams/:team                    → 200 team
//	PATCH  /api/teams/:team {"name"}           → 200 team
//	DELETE /api/teams/:team                    → 204 (409 team_has_tenants, personal_team)
//	GET    /api/teams/:team/members            → 200 [member]
//	PATCH  /api/teams/:team/members/:user {"role"} → 200 member (409 last_owner)
//	DELETE /api/teams/:team/members/:user      → 204 (yourself: leave; 409 last_owner)
//	POST   /api/teams/:team/invites {"role","uses","expiresIn"} → 201 invite with its token (shown once)
//	GET    /api/teams/:team/invites            → 200 [invite]
//	DELETE /api/teams/:team/invites/:id        → 204
//	POST   /api/invites/accept {"token"}       → 200 team with the role given
//	GET    /api/teams/:team/tenants            → 200 [tenant]
//	POST   /api/teams/:team/tenants {"plan","name"} → 201 tenant
//	GET|DELETE /api/teams/:team/tenants/:id, POST …/:id/restart, GET …/:id/logs, POST …/:id/open,
//	DELETE …/:id/sessions (sign everybody out of its gateway)
//	GET|POST /api/me/keys, DELETE /api/me/keys/:id; GET|POST /api/teams/:team/keys, DELETE …/keys/:id
//	GET    /api/admin/teams, PATCH /api/admin/users/:id {"platformAdmin","disabled"} (admin)

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/cloud/accounts"
	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/authz"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/cloud/teams"
	"github.com/clawfleet/clawfleet/cloud/tenant"
	"github.com/gin-gonic/gin"
)

const teamKey = "clawfleet.team"

func init() {
	// The team errors a person reads in the console, in Chinese too.
	for code, zh := range map[string]string{
		teams.ErrNoTeam.Code:           "没有这个团队，或你不是它的成员。",
		teams.ErrNoMember.Code:         "该用户不是这个团队的成员。",
		teams.ErrNoInvite.Code:         "这个团队没有该邀请。",
		teams.ErrNoKey.Code:            "没有这个 API 密钥。",
		teams.ErrNotAUser.Code:         "此操作需要已登录的用户（不能用 API 密钥或管理员令牌）。",
		teams.ErrInvalidRole.Code:      "角色必须是 owner（所有者）、admin（管理员）或 member（成员）。",
		teams.ErrBadKey.Code:           "API 密钥无效：未知、已撤销或已过期。",
		store.ErrTeamHasTenants.Code:   "团队还有实例：请先删除它们。",
		store.ErrPersonalTeam.Code:     "个人团队只属于它的用户：要共享实例，请创建一个团队。",
		teams.ErrCannotChangeSelf.Code: "不能停用自己或取消自己的平台管理员身份：请让另一位管理员操作。",
		tenant.ErrPlanLimit.Code:       "该团队的这个套餐实例数已达上限：请删除一个或选择其他套餐。",
	} {
		accounts.RegisterZh(code, zh)
	}
}

// teamOf is the request's team (set by loadTeam).
func teamOf(c *gin.Context) *store.Team { return c.MustGet(teamKey).(*store.Team) }

// teamTenant is the tenant :id among the route's team's.
func teamTenant(c *gin.Context) tenant.Ref {
	return tenant.Ref{TeamID: teamOf(c).ID, ID: c.Param("id")}
}

// resolveTeams fills in the actor's account and teams, once per request.
func (ta *tenantAPI) resolveTeams(c *gin.Context) {
	a, err := ta.teams.Resolve(c.Request.Context(), actorOf(c))
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.Set(actorKey, a)
	c.Next()
}

// loadTeam finds the route's :team; one the actor may not even view is
// answered as unknown.
func (ta *tenantAPI) loadTeam(c *gin.Context) {
	id := c.Param("team")
	if authz.CanTeam(actorOf(c), authz.TeamView, id) != nil {
		ta.failErr(c, teams.ErrNoTeam.Withf("no team %q, or you are not a member", id))
		return
	}
	t, err := ta.teams.Get(c.Request.Context(), id)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.Set(teamKey, t)
	c.Next()
}

// allowTeam lets the request on only when its actor may do act to its team.
func (ta *tenantAPI) allowTeam(act authz.Action) gin.HandlerFunc {
	return func(c *gin.Context) {
		team := ""
		if t, ok := c.Get(teamKey); ok {
			team = t.(*store.Team).ID
		}
		if err := authz.CanTeam(actorOf(c), act, team); err != nil {
			ta.failErr(c, err)
			return
		}
		c.Next()
	}
}

// keyUser authenticates an API key; failures count against the client
// address like the shared secret's.
func (ta *tenantAPI) keyUser(c *gin.Context, ip, tok string) {
	if err := ta.rl.exhausted(ip); err != nil {
		ta.failErr(c, err)
		return
	}
	a, err := ta.teams.Authenticate(c.Request.Context(), tok)
	if err != nil {
		ta.rl.allow(ip) // count the failure
		ta.log.Warn("API key refused", "ip", ip, "route", c.FullPath(), "err", err)
		c.Header("WWW-Authenticate", `Bearer realm="clawfleet", error="invalid_token"`)
		ta.failErr(c, err)
		return
	}
	c.Set(actorKey, a)
	c.Next()
}

// isAPIKey reports whether an Authorization header carries an API key (not
// an SSO JWT).
func isAPIKey(h string) (string, bool) {
	if len(h) <= 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return "", false
	}
	tok := strings.TrimSpace(h[7:])
	return tok, strings.HasPrefix(tok, teams.KeyPrefix)
}

// teamRoutes registers the team, invitation, key and team-tenant routes.
func (ta *tenantAPI) teamRoutes(r *gin.Engine, admin *gin.RouterGroup) {
	user := r.Group("/api", ta.requireUser, ta.resolveTeams)
	user.GET("/teams", ta.listTeams)
	user.POST("/teams", ta.createTeam)
	user.POST("/invites/accept", ta.acceptInvite)
	user.GET("/me/keys", ta.listKeys(false))
	user.POST("/me/keys", ta.createKey(false))
	user.DELETE("/me/keys/:id", ta.revokeKey(false))

	one := user.Group("/teams/:team", ta.loadTeam)
	one.GET("", ta.allowTeam(authz.TeamView), ta.getTeam)
	one.PATCH("", ta.allowTeam(authz.TeamUpdate), ta.renameTeam)
	one.DELETE("", ta.allowTeam(authz.TeamDelete), ta.deleteTeam)
	one.GET("/members", ta.allowTeam(authz.TeamView), ta.listMembers)
	one.PATCH("/members/:user", ta.allowTeam(authz.TeamMembers), ta.setMemberRole)
	one.DELETE("/members/:user", ta.allowTeam(authz.TeamView), ta.removeMember) // leaving is a member's own; the service checks the rest
	one.POST("/invites", ta.allowTeam(authz.TeamMembers), ta.createInvite)
	one.GET("/invites", ta.allowTeam(authz.TeamMembers), ta.listInvites)
	one.DELETE("/invites/:id", ta.allowTeam(authz.TeamMembers), ta.revokeInvite)
	one.GET("/keys", ta.allowTeam(authz.TeamKeys), ta.listKeys(true))
	one.POST("/keys", ta.allowTeam(authz.TeamKeys), ta.createKey(true))
	one.DELETE("/keys/:id", ta.allowTeam(authz.TeamKeys), ta.revokeKey(true))
	one.GET("/tenants", ta.allowTeam(authz.TeamView), ta.list(ta.teamTenants))
	one.POST("/tenants", ta.allowTeam(authz.Create), ta.createTeamTenant)
	tn := one.Group("/tenants/:id", ta.loadTenant(teamTenant))
	ta.coreOps(tn, true)
	if ta.opts.Access != nil {
		tn.POST("/open", ta.allow(authz.Open), ta.access)
		tn.DELETE("/sessions", ta.allow(authz.SignOut), ta.signOut)
	}

	if ta.opts.Access != nil && ta.auth != nil {
		r.GET("/open/:slug", ta.openBySlug)
	}

	admin.GET("/admin/teams", ta.allowTeam(authz.Users), ta.adminTeams)
	admin.PATCH("/admin/users/:id", ta.allowTeam(authz.Users), ta.adminUpdateUser)
}

// teamInfo is a team as its members see it (the team routes; /api/me lists its own teamView).
type teamInfo struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Personal  bool   `json:"personal"`
	Role      string `json:"role,omitempty"` // the actor's
	CreatedAt string `json:"createdAt"`
}

func viewTeam(t *store.Team, role string) teamInfo {
	return teamInfo{ID: t.ID, Name: t.Name, Personal: t.Personal, Role: role, CreatedAt: t.CreatedAt.UTC().Format(time.RFC3339)}
}

func (ta *tenantAPI) listTeams(c *gin.Context) {
	ms, err := ta.teams.Mine(c.Request.Context(), actorOf(c))
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, views(ms, func(m *store.Membership) teamInfo { return viewTeam(&m.Team, m.Role) }))
}

type nameRequest struct {
	Name string `json:"name"`
}

func (ta *tenantAPI) createTeam(c *gin.Context) {
	var req nameRequest
	if !ta.bindJSON(c, &req) {
		return
	}
	t, err := ta.teams.Create(c.Request.Context(), actorOf(c), req.Name)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusCreated, viewTeam(t, store.RoleOwner))
}

func (ta *tenantAPI) getTeam(c *gin.Context) {
	t := teamOf(c)
	c.JSON(http.StatusOK, viewTeam(t, actorOf(c).Teams[t.ID]))
}

func (ta *tenantAPI) renameTeam(c *gin.Context) {
	var req nameRequest
	if !ta.bindJSON(c, &req) {
		return
	}
	t, err := ta.teams.Rename(c.Request.Context(), actorOf(c), teamOf(c), req.Name)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, viewTeam(t, actorOf(c).Teams[t.ID]))
}

func (ta *tenantAPI) deleteTeam(c *gin.Context) {
	if err := ta.teams.Delete(c.Request.Context(), actorOf(c), teamOf(c)); err != nil {
		ta.failErr(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type memberView struct {
	UserID   string `json:"userId"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	JoinedAt string `json:"joinedAt"`
}

func viewMember(m *teams.Member) memberView {
	return memberView{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: m.Role, JoinedAt: m.JoinedAt.UTC().Format(time.RFC3339)}
}

func (ta *tenantAPI) listMembers(c *gin.Context) {
	ms, err := ta.teams.Members(c.Request.Context(), teamOf(c).ID)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, views(ms, viewMember))
}

func (ta *tenantAPI) setMemberRole(c *gin.Context) {
	var req struct {
		Role string `json:"role"`
	}
	if !ta.bindJSON(c, &req) {
		return
	}
	m, err := ta.teams.SetRole(c.Request.Context(), actorOf(c), teamOf(c), c.Param("user"), req.Role)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, viewMember(m))
}

func (ta *tenantAPI) removeMember(c *gin.Context) {
	if err := ta.teams.Remove(c.Request.Context(), actorOf(c), teamOf(c), c.Param("user")); err != nil {
		ta.failErr(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// inviteView is an invitation; Token only in the answer that made it.
type inviteView struct {
	ID        string `json:"id"`
	TeamID    string `json:"teamId"`
	Role      string `json:"role"`
	UsesTotal int    `json:"usesTotal"`
	UsesLeft  int    `json:"usesLeft"`
	ExpiresAt string `json:"expiresAt"`
	CreatedAt string `json:"createdAt"`
	CreatedBy string `json:"createdBy"`
	Revoked   bool   `json:"revoked"`
	Token     string `json:"token,omitempty"`
}

func viewInvite(inv *store.TeamInvite) inviteView {
	return inviteView{ID: inv.ID, TeamID: inv.TeamID, Role: inv.Role, UsesTotal: inv.UsesTotal, UsesLeft: inv.UsesLeft,
		ExpiresAt: inv.ExpiresAt.UTC().Format(time.RFC3339), CreatedAt: inv.CreatedAt.UTC().Format(time.RFC3339),
		CreatedBy: inv.CreatedBy, Revoked: inv.RevokedAt != nil}
}

// seconds turns a request's expiresIn (seconds; 0: the default) into a
// duration.
func seconds(n int64) time.Duration {
	if n <= 0 || n > int64(10*365*24*time.Hour/time.Second) {
		if n == 0 {
			return 0
		}
		return -1 // refused by the service
	}
	return time.Duration(n) * time.Second
}

func (ta *tenantAPI) createInvite(c *gin.Context) {
	var req struct {
		Role      string `json:"role"`
		Uses      int    `json:"uses"`
		ExpiresIn int64  `json:"expiresIn"`
	}
	if !ta.bindJSON(c, &req) {
		return
	}
	tok, inv, err := ta.teams.Invite(c.Request.Context(), actorOf(c), teamOf(c), teams.InviteRequest{Role: req.Role, Uses: req.Uses, TTL: seconds(req.ExpiresIn)})
	if err != nil {
		ta.failErr(c, err)
		return
	}
	v := viewInvite(inv)
	v.Token = tok
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, v)
}

func (ta *tenantAPI) listInvites(c *gin.Context) {
	is, err := ta.teams.Invites(c.Request.Context(), teamOf(c).ID)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, views(is, viewInvite))
}

func (ta *tenantAPI) revokeInvite(c *gin.Context) {
	if err := ta.teams.RevokeInvite(c.Request.Context(), actorOf(c), teamOf(c), c.Param("id")); err != nil {
		ta.failErr(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// acceptInvite makes the signed-in user a member. Invitation tokens are
// 256 random bits, but failures still count against the client address,
// as for any credential.
func (ta *tenantAPI) acceptInvite(c *gin.Context) {
	var req struct {
		Token string `json:"token"`
	}
	if !ta.bindJSON(c, &req) {
		return
	}
	ip := ta.clientIP(c.Request)
	if err := ta.rl.exhausted(ip); err != nil {
		ta.failErr(c, err)
		return
	}
	m, err := ta.teams.Accept(c.Request.Context(), actorOf(c), req.Token)
	if err != nil {
		if errors.Is(err, store.ErrInviteGone) {
			ta.rl.allow(ip) // count the failure
		}
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, viewTeam(&m.Team, m.Role))
}

// keyView is an API key; Token only in the answer that made it.
type keyView struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	TeamID     string   `json:"teamId,omitempty"`
	UserID     string   `json:"userId,omitempty"`
	Scopes     []string `json:"scopes"`
	ExpiresAt  string   `json:"expiresAt,omitempty"`
	LastUsedAt string   `json:"lastUsedAt,omitempty"`
	CreatedAt  string   `json:"createdAt"`
	Revoked    bool     `json:"revoked"`
	Token      string   `json:"token,omitempty"`
}

func timeOrEmpty(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func viewKey(k *store.APIKey) keyView {
	v := keyView{ID: k.ID, Name: k.Name, Scopes: k.Scopes, ExpiresAt: timeOrEmpty(k.ExpiresAt), LastUsedAt: timeOrEmpty(k.LastUsedAt),
		CreatedAt: k.CreatedAt.UTC().Format(time.RFC3339), Revoked: k.RevokedAt != nil}
	if k.TeamID != nil {
		v.TeamID = *k.TeamID
	}
	if k.UserID != nil {
		v.UserID = *k.UserID
	}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	return v
}

// keyOwner is whose keys a route is about: the team's, or the acting
// user's (who must be one).
func keyOwner(c *gin.Context, team bool) (userID, teamID string, err error) {
	if team {
		return "", teamOf(c).ID, nil
	}
	a := actorOf(c)
	if a.AccountID == "" {
		return "", "", teams.ErrNotAUser.Withf("API keys belong to a user: sign in (a team's keys are under /api/teams/:team/keys)")
	}
	return a.AccountID, "", nil
}

func (ta *tenantAPI) listKeys(team bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		uid, tid, err := keyOwner(c, team)
		if err != nil {
			ta.failErr(c, err)
			return
		}
		ks, err := ta.teams.Keys(c.Request.Context(), uid, tid)
		if err != nil {
			ta.failErr(c, err)
			return
		}
		c.JSON(http.StatusOK, views(ks, viewKey))
	}
}

func (ta *tenantAPI) createKey(team bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req struct {
			Name      string   `json:"name"`
			Scopes    []string `json:"scopes"`
			ExpiresIn int64    `json:"expiresIn"`
		}
		if !ta.bindJSON(c, &req) {
			return
		}
		uid, tid, err := keyOwner(c, team)
		if err != nil {
			ta.failErr(c, err)
			return
		}
		tok, k, err := ta.teams.CreateKey(c.Request.Context(), actorOf(c), uid, tid, teams.KeyRequest{Name: req.Name, Scopes: req.Scopes, TTL: seconds(req.ExpiresIn)})
		if err != nil {
			ta.failErr(c, err)
			return
		}
		v := viewKey(k)
		v.Token = tok
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusCreated, v)
	}
}

func (ta *tenantAPI) revokeKey(team bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		uid, tid, err := keyOwner(c, team)
		if err != nil {
			ta.failErr(c, err)
			return
		}
		if err := ta.teams.RevokeKey(c.Request.Context(), actorOf(c), uid, tid, c.Param("id")); err != nil {
			ta.failErr(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// teamTenants is the route's team's tenants.
func (ta *tenantAPI) teamTenants(c *gin.Context) ([]store.Tenant, error) {
	return ta.svc.ListTeam(c.Request.Context(), teamOf(c).ID)
}

func (ta *tenantAPI) createTeamTenant(c *gin.Context) {
	var req struct {
		Plan string `json:"plan"`
		Name string `json:"name"`
	}
	if !ta.bindJSON(c, &req) {
		return
	}
	t, err := ta.svc.CreateInTeam(c.Request.Context(), actorOf(c), teamOf(c).ID, req.Plan, req.Name)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusCreated, ta.viewFor(c, t))
}

// adminTeamView is a team as the platform's admin sees it.
type adminTeamView struct {
	teamInfo
	Members int `json:"members"`
	Tenants int `json:"tenants"`
}

func (ta *tenantAPI) adminTeams(c *gin.Context) {
	ts, err := ta.teams.AllTeams(c.Request.Context())
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, views(ts, func(t *store.TeamSummary) adminTeamView {
		return adminTeamView{teamInfo: viewTeam(&t.Team, ""), Members: t.Members, Tenants: t.Tenants}
	}))
}

// adminUserView is a user as the platform's admin sees it.
type adminUserView struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	Name          string `json:"name"`
	PlatformAdmin bool   `json:"platformAdmin"`
	Disabled      bool   `json:"disabled"`
	CreatedAt     string `json:"createdAt"`
}

func (ta *tenantAPI) adminUpdateUser(c *gin.Context) {
	var req struct {
		PlatformAdmin *bool `json:"platformAdmin"`
		Disabled      *bool `json:"disabled"`
	}
	if !ta.bindJSON(c, &req) {
		return
	}
	u, err := ta.teams.UpdateUser(c.Request.Context(), actorOf(c), c.Param("id"), teams.UserChange{PlatformAdmin: req.PlatformAdmin, Disabled: req.Disabled})
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, adminUserView{ID: u.ID, Email: u.Email, Name: u.Name, PlatformAdmin: u.PlatformAdmin, Disabled: u.DisabledAt != nil,
		CreatedAt: u.CreatedAt.UTC().Format(time.RFC3339)})
}

// openBySlug is where the router sends a browser that has no session on a
// tenant's subdomain: with the console's session of a user who may open
// the tenant (its owner, a member of its team, a platform admin), a
// one-time link into it (303, like POST …/open); not signed in, the
// console's start page with return_to; anyone else a 403 page. Links made
// here are for the signed-in user only, so a navigation another site
// starts lands nobody but that user in their own gateway.
func (ta *tenantAPI) openBySlug(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	u, _, err := ta.auth.session(c)
	if err != nil {
		c.Redirect(http.StatusSeeOther, "/console?return_to="+url.QueryEscape(c.Request.URL.RequestURI()))
		return
	}
	ctx := c.Request.Context()
	a, err := ta.teams.Resolve(ctx, authz.Actor{UserID: u.ID, AccountID: u.ID, Email: u.Email, PlatformAdmin: u.PlatformAdmin})
	if err != nil {
		ta.openPage(c, err)
		return
	}
	t, err := ta.svc.Find(ctx, tenant.Ref{Slug: c.Param("slug")})
	if err == nil {
		err = authz.Can(a, authz.Open, t)
	}
	if err != nil {
		if errors.Is(err, tenant.ErrNoTenant) || errors.Is(err, authz.ErrForbidden) {
			// Whether a slug exists is no secret (the router tells), whose it is is.
			err = errNotYours
		}
		ta.openPage(c, err)
		return
	}
	link, _, err := ta.issueLink(c, a, t, c.Query("path"))
	if err != nil {
		ta.openPage(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, link)
}

// errNotYours refuses /open/<slug> to a user who may not open it.
var errNotYours = apperr.New(apperr.Forbidden, "forbidden", "this OpenClaw is not yours, nor your team's: ask its team's owner for an invitation")

// openPage answers /open/<slug>'s failure as a page in the user's language.
func (ta *tenantAPI) openPage(c *gin.Context, err error) {
	errorPage(c, ta.log, "open", err, "Cannot open this OpenClaw", "无法打开这个 OpenClaw", func(l, msg string) string {
		if l == "zh-CN" && errors.Is(err, errNotYours) {
			return "这个 OpenClaw 不属于你或你的团队：请向其团队的所有者申请邀请。"
		}
		return msg
	})
}
