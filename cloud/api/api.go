// Package api is the cloud's HTTP interface: the Gin route tree, its guards
// (admin bearer token, body limits, rate limits), JSON errors and the
// dashboard. Handlers call services (fleet), never the store directly.
package api

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/cloud/accounts"
	"github.com/clawfleet/clawfleet/cloud/authz"
	"github.com/clawfleet/clawfleet/cloud/claim"
	"github.com/clawfleet/clawfleet/cloud/downloads"
	"github.com/clawfleet/clawfleet/cloud/factory"
	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/login"
	"github.com/clawfleet/clawfleet/cloud/ratelimit"
	"github.com/clawfleet/clawfleet/cloud/sso"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/cloud/teams"
	"github.com/clawfleet/clawfleet/cloud/tenant"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"
)

// MaxBody bounds every request body.
const MaxBody = 64 << 10

//go:embed web
var webFS embed.FS

// Health reports the state of a dependency for /api/health.
type Health interface {
	Healthy(ctx context.Context) error
}

// HealthFunc adapts a function to Health.
type HealthFunc func(ctx context.Context) error

// Healthy calls f.
func (f HealthFunc) Healthy(ctx context.Context) error { return f(ctx) }

// Options configure the HTTP API.
type Options struct {
	Fleet *fleet.Fleet
	// AdminTokenHash is creds.Hash of the admin token.
	AdminTokenHash string
	// MQTTURL returns the broker URL written into new credentials, given the
	// Host header the caller used to reach the API.
	MQTTURL func(requestHost string) string
	// CloudURL returns the API's own base URL, likewise.
	CloudURL func(r *http.Request) string
	Store    Health
	Broker   Health
	Logger   *slog.Logger
	// Registerer gets the HTTP metrics; Gatherer serves /metrics.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	Version    string
	// EnrollRate bounds enrollment attempts per client IP (default 1/s,
	// burst 10); AuthFailRate bounds failed admin authentications per IP
	// (default 1/s, burst 10).
	EnrollRate, AuthFailRate rate.Limit

	// TunnelDial reaches a host port through the host's WireGuard tunnel;
	// nil when tunnels are disabled.
	TunnelDial func(ctx context.Context, hostID string, port int) (net.Conn, error)
	// Tenants is the tenant service; nil leaves out the tenant routes
	// (tenants.go).
	Tenants *tenant.Service
	// HostLoads fills in the hosts' capacity fields (the tenant service);
	// nil leaves them out.
	HostLoads HostLoads
	// HostKeys rotates hosts' WireGuard keys (tunnel.Keys); nil leaves out
	// POST /api/hosts/:id/rotate-key.
	HostKeys HostKeys
	// Factory keeps the factory's batches of boxes; nil leaves out
	// /api/admin/batches (batches.go).
	Factory *factory.Service
	// Claims binds boxes to their owners; nil leaves out /api/claims, the
	// claim page and /api/admin/boxes (claims.go). It needs Tenants.
	Claims *claim.Service
	// SharedSecret authenticates the SSO web app's calls to /api/tenants
	// (X-Shared-Secret); empty disables them.
	SharedSecret string
	// SharedSecretHash is creds.Hash of the shared secret, when only the
	// hash is known (a generated secret); used when SharedSecret is empty.
	SharedSecretHash string
	// Clients finds a request's client address for rate limits and logs
	// (the TCP peer unless front proxies are trusted).
	Clients ratelimit.Clients
	// Tokens, when set, also accepts "Authorization: Bearer <SSO JWT>" on
	// /api/tenants (the user is the token's subject).
	Tokens Tokens
	// Teams, when set with Tenants, serves teams, invitations, API keys
	// and team tenants (teams.go), and resolves actors' teams.
	Teams *teams.Service
	// Access issues one-time links into tenants' gateways (the router);
	// nil leaves out POST /api/tenants/me/access.
	Access AccessIssuer
	// Accounts, when set, serves sign-in (/auth/…), the console's /api/me
	// and admin user routes (auth.go), and maps the web app's users to
	// accounts' users.
	Accounts *accounts.Service
	// SignIn runs the providers' sign-ins; nil: no provider configured.
	SignIn *login.SignIn
	// PublicURL is the cloud's external base URL (cookies, origin checks);
	// empty: taken from each request.
	PublicURL string
	// SecretKey (32 bytes or more) keys the CSRF and link tokens.
	SecretKey []byte
	// Audit records account events.
	Audit func(ctx context.Context, e *store.AuditEvent) error
	// LogsPollInterval is how often a followed log polls the host (1 s);
	// LogsFollowMax bounds a followed log's duration (10 min).
	LogsPollInterval, LogsFollowMax time.Duration
	// Downloads serves the agent binaries and packages beside /install.sh
	// (downloads.go); nil leaves out /install.sh and /downloads/.
	Downloads *downloads.Dir
	// MaxStreamsPerUser and MaxStreamsPerAddr bound the followed logs one
	// user, and one client address, may hold open (0: no limit); the
	// web app's shared-secret calls count per user only, since it relays
	// every user from one address.
	MaxStreamsPerUser, MaxStreamsPerAddr int
}

// HostLoads tells what tenants reserve on hosts (tenant.Service implements
// it).
type HostLoads interface {
	HostLoads(ctx context.Context, hs []store.Host) (map[string]tenant.HostLoad, error)
}

// HostKeys rotates a host's WireGuard key and returns its new public key
// (tunnel.Keys implements it).
type HostKeys interface {
	Rotate(ctx context.Context, hostID, actor string) (string, error)
}

// Tokens verifies SSO bearer tokens (sso.Verifier implements it).
type Tokens interface {
	Verify(ctx context.Context, token string) (sso.User, error)
}

// AccessIssuer creates one-time links into a tenant's gateway.
type AccessIssuer interface {
	IssueAccess(ctx context.Context, tenantID, userID, tenantURL, next string) (string, time.Time, error)
	// SignOut ends every session into a tenant's gateway and closes its
	// open connections; it returns how many it closed.
	SignOut(ctx context.Context, tenantID, slug string) (int, error)
}

type server struct {
	opts     Options
	log      *slog.Logger
	enrollRL *limiter
	authRL   *limiter
	requests *prometheus.CounterVec
	started  time.Time
	auth     *authAPI // nil without Options.Accounts
}

// New returns the HTTP handler.
func New(opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.EnrollRate == 0 {
		opts.EnrollRate = 1
	}
	if opts.AuthFailRate == 0 {
		opts.AuthFailRate = 1
	}
	gin.SetMode(gin.ReleaseMode)
	s := &server{
		opts: opts, log: opts.Logger.With("component", "api"), started: time.Now(),
		enrollRL: newLimiter(opts.EnrollRate, 10),
		authRL:   newLimiter(opts.AuthFailRate, 10),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawfleet_http_requests_total", Help: "HTTP requests by route and status code."}, []string{"method", "route", "code"}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(s.requests)
	}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(s.recoverJSON, s.observe, s.limitBody)
	r.NoRoute(func(c *gin.Context) { s.failErr(c, errNoEndpoint) })
	r.NoMethod(func(c *gin.Context) { s.failErr(c, errNoMethod) })

	r.GET("/api/health", s.health)
	r.GET("/api/openapi.json", openAPIJSON.serve)
	r.GET("/api/openapi.yaml", openAPIYAML.serve)
	r.POST("/api/enroll", s.enroll)
	if opts.Downloads != nil {
		s.downloadRoutes(r)
	}
	if opts.Gatherer != nil {
		r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{})))
	}

	admin := r.Group("/api", s.requireAdmin)
	admin.POST("/admin/enrollment-tokens", s.createToken)
	admin.GET("/admin/enrollment-tokens", s.listTokens)
	admin.DELETE("/admin/enrollment-tokens/:id", s.revokeToken)
	admin.POST("/admin/devices", s.provision)
	if opts.Factory != nil {
		s.batchRoutes(admin)
	}
	admin.GET("/admin/settings", s.getSettings)
	admin.PUT("/admin/settings", s.putSettings)
	admin.GET("/admin/audit", s.listAudit)
	if opts.Accounts != nil {
		s.auth = s.authRoutes(r, admin)
	}
	if opts.Tenants != nil {
		s.tenantRoutes(r, admin)
	}
	admin.GET("/hosts", s.listHosts)
	admin.GET("/hosts/:id", s.getHost)
	if opts.HostKeys != nil {
		admin.POST("/hosts/:id/rotate-key", s.rotateHostKey)
	}
	admin.PATCH("/hosts/:id", s.setPlacement)
	admin.DELETE("/hosts/:id", s.deleteHost)

	// "/" is the operator's dashboard (index.html); /console the users'
	// console (console.html): sign in, My OpenClaw, teams, account.
	r.GET("/", webAssets.page("index.html"))
	r.GET("/console", webAssets.page("console.html"))
	r.GET("/assets/*path", webAssets.file)
	return r
}

// pageHeaders locks the dashboard down: it loads nothing from elsewhere, runs
// no inline script and cannot be framed.
func pageHeaders(c *gin.Context) {
	c.Header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Referrer-Policy", "no-referrer")
	c.Header("X-Frame-Options", "DENY")
}

func (s *server) recoverJSON(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			s.failErr(c, fmt.Errorf("panic in handler: %v", v))
		}
	}()
	c.Next()
}

func (s *server) observe(c *gin.Context) {
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	s.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(c.Writer.Status())).Inc()
}

func (s *server) limitBody(c *gin.Context) {
	if c.Request.ContentLength > MaxBody {
		s.failErr(c, errTooLarge)
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxBody)
	c.Next()
}

func (s *server) requireAdmin(c *gin.Context) {
	ip := s.clientIP(c.Request)
	// An address that failed too often is refused before its guess is even
	// compared, so the limit really bounds guessing.
	if err := s.authRL.exhausted(ip); err != nil {
		s.failErr(c, err)
		return
	}
	tok, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if ok && s.opts.AdminTokenHash != "" && creds.Equal(s.opts.AdminTokenHash, strings.TrimSpace(tok)) {
		c.Set(actorKey, authz.Admin)
		c.Next()
		return
	}
	// A platform admin signed in to the console (the session cookie and no
	// Authorization header) may do what the admin token may.
	if !ok && s.auth != nil && s.auth.cookie(c, "session") != "" {
		s.platformAdmin(c)
		return
	}
	s.authRL.allow(ip) // count the failure
	s.log.Warn("admin authentication failed", "ip", ip, "route", c.FullPath())
	c.Header("WWW-Authenticate", `Bearer realm="clawfleet"`)
	s.failErr(c, errAdminToken)
}

// platformAdmin lets on a console session of a platform admin (CSRF
// checked as on every console route); another user's session is 403.
func (s *server) platformAdmin(c *gin.Context) {
	u, sess, err := s.auth.session(c)
	if err != nil {
		s.failErr(c, err)
		return
	}
	if !u.PlatformAdmin {
		s.failErr(c, authz.ErrForbidden.Withf("user:%s is not a platform admin: ask one (or the operator, with the admin token) to make you one", u.ID))
		return
	}
	c.Set(userKey, u)
	c.Set(sessionKey, sess)
	c.Set(actorKey, authz.Actor{UserID: u.ID, AccountID: u.ID, Email: u.Email, PlatformAdmin: true})
	c.Next()
}

// clientIP is the client's address: the TCP peer, or what trusted front
// proxies say it is (Options.Clients).
func (s *server) clientIP(r *http.Request) string { return s.opts.Clients.IP(r) }

// limiter adds the JSON 429 answer to ratelimit.Keyed.
type limiter struct{ *ratelimit.Keyed }

func newLimiter(r rate.Limit, burst int) *limiter { return &limiter{ratelimit.New(r, burst)} }

func (l *limiter) allow(key string) bool { return l.Allow(key) }

// exhausted is a 429 when key (a client address) has failed authentication
// too often; it is asked before a guess is even compared, so the limit
// really bounds guessing.
func (l *limiter) exhausted(key string) error {
	if l.Exhausted(key) {
		return errAuthRate
	}
	return nil
}
