// Package router serves https://<slug>.<domain>/: it authenticates the user
// (a cookie set by a one-time access link), checks that the user owns the
// tenant, and proxies HTTP/1.1 and WebSocket traffic to the tenant's gateway
// through its host's WireGuard tunnel, telling the gateway who calls with
// OpenClaw's trusted-proxy headers. Everything else gets a branded error
// page (or JSON for API clients) with Retry-After where waiting helps.
package router

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/cloud/ratelimit"
	"github.com/clawfleet/clawfleet/cloud/sso"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// CookieName is the session cookie. It is host-only (no Domain attribute),
// so it is sent to the one subdomain that set it and nowhere else.
const CookieName = "clawfleet_session"

// SecureCookieName is the session cookie under HTTPS. Browsers refuse a
// __Host- cookie that names a Domain, so a page on another tenant's
// subdomain cannot plant one here (cookie tossing).
const SecureCookieName = "__Host-" + CookieName

// AccessParam is the query parameter that carries a one-time access token.
const AccessParam = "t"

// ErrUnknownTenant is returned by Routes for a slug no tenant has.
var ErrUnknownTenant = errors.New("no such tenant")

// Route is where one tenant's gateway runs, as the router needs it.
type Route struct {
	TenantID, Slug, Owner, HostID string
	// TeamID is the team that owns the tenant: its members are admitted
	// too (Options.Members). Shared marks a team's tenant, whose Owner is
	// only the gateway's user ("team:<id>"), no person.
	TeamID string
	Shared bool
	Port   int
	// Status is the tenant's status (store.Tenant*); Desired is running or
	// stopped.
	Status, Desired string
	HostOnline      bool
	// LastError is why the tenant failed, as its host reported it; the
	// failed page shows it to the owner.
	LastError string
	// TokenAuth marks a gateway that authenticates by its own token (an
	// adopted container, configured as before clawfleet): it gets no
	// X-Forwarded-* or user header, since OpenClaw refuses forwarded
	// headers from a proxy it was not told to trust
	// (proxy_attribution_required), and it trusts none. The router still
	// admits only the tenant's users.
	TokenAuth bool
}

// Routes finds a tenant by slug.
type Routes interface {
	Route(ctx context.Context, slug string) (Route, error)
}

// Store keeps access links and sessions (store.Store implements it).
type Store interface {
	CreateAccessGrant(ctx context.Context, g *store.AccessGrant) error
	RedeemAccessGrant(ctx context.Context, hash, tenantID string, now time.Time, sess *store.RouterSession) error
	GetRouterSession(ctx context.Context, hash string, now time.Time) (*store.RouterSession, error)
	RevokeTenantSessions(ctx context.Context, tenantID string, now time.Time) error
}

// Members tells whether a user is a member of a team (store.Store
// implements it). who is a user id or the web app's user id.
type Members interface {
	IsTeamMember(ctx context.Context, teamID, who string) (bool, error)
}

// Tokens verifies an SSO bearer token (sso.Verifier implements it).
type Tokens interface {
	Verify(ctx context.Context, token string) (sso.User, error)
}

// DialFunc reaches port on a host through its tunnel.
type DialFunc func(ctx context.Context, hostID string, port int) (net.Conn, error)

// Options configure a Router.
type Options struct {
	// Domain is the base domain: <slug>.<Domain> is routed.
	Domain string
	// Reserved are host names (no port) that are never routed even when
	// they look like <slug>.<Domain>: the cloud's own public and MQTT hosts.
	Reserved []string
	Routes   Routes
	Store    Store
	// Members, when set, admits the members of a tenant's team besides its
	// owner (a session or link of theirs, a bearer token of theirs); asked
	// again at least every memberCacheTTL, so a removed member is out
	// within it.
	Members Members
	// SignIn, when set and not answering "", is where a browser's page
	// request (GET or HEAD accepting text/html) without a valid session is
	// sent (303) instead of the login_required answer: the console's
	// /open/<slug>?path=…, which turns the console's session into a
	// one-time link (cloud/app).
	SignIn func(req *http.Request, slug, path string) string
	Dial   DialFunc
	// Tokens, when set, lets clients authenticate with
	// "Authorization: Bearer <SSO JWT>" instead of a session cookie; the
	// header never reaches the gateway.
	Tokens Tokens
	// HostOnline, when set, is asked before dialling: a host known to be
	// offline fails at once instead of after DialTimeout.
	HostOnline func(hostID string) bool
	// Secure marks cookies Secure and sets X-Forwarded-Proto https even on
	// plain-HTTP connections (TLS terminated in front of the cloud).
	Secure bool
	// AccessTTL is how long an access link is valid (60 s); SessionTTL how
	// long the cookie it sets is (12 h).
	AccessTTL, SessionTTL time.Duration
	// LocalClientAddr is sent as X-Forwarded-For when the client is on
	// loopback: OpenClaw refuses a proxied request that resolves to a
	// loopback client (proxy_attribution_required). Default 192.0.2.1.
	LocalClientAddr string
	// DialTimeout bounds reaching the gateway through the tunnel (5 s);
	// ResponseHeaderTimeout bounds waiting for its answer (5 min: agent
	// calls may take long before the first byte).
	DialTimeout, ResponseHeaderTimeout time.Duration
	// RouteCacheTTL is how long a route lookup is reused (1 s).
	RouteCacheTTL time.Duration
	// MaxWebSockets bounds the WebSockets one tenant's gateway has open
	// through the router at once; one more is answered 429
	// too_many_connections. 0: no limit.
	MaxWebSockets int
	// Clients finds the client's address (the TCP peer unless front proxies
	// are trusted): rate limits key on it and the gateway is told it.
	Clients ratelimit.Clients
	// AuthFailRate bounds failed link/cookie checks per client address
	// (1/s, burst 10).
	AuthFailRate rate.Limit
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
}

// Router is the subdomain router; it is an http.Handler for requests whose
// Host Match accepts.
type Router struct {
	o      Options
	log    *slog.Logger
	proxy  *httputil.ReverseProxy
	authRL *ratelimit.Keyed
	local  string

	mu       sync.Mutex
	routes   map[string]cachedRoute
	sessions map[string]cachedSession
	members  map[string]time.Time // team + "\x00" + user → admitted until
	// signOuts count each tenant's sign-outs (and say when the last was);
	// signOutsAll counts all of them. A request remembers its tenant's count
	// from before it looked its session up, and a dial for it is refused if
	// the count moved: nothing authorized before a sign-out gets in after.
	signOuts    map[string]signOutState
	signOutsAll uint64
	conns       map[string]map[*trackedConn]struct{} // by host ID
	sockets     *ratelimit.Slots                     // open WebSockets, by tenant ID

	requests *prometheus.CounterVec
	upstream *prometheus.CounterVec
}

type signOutState struct {
	gen uint64
	at  time.Time
}

// signOutOf returns a tenant's sign-out state.
func (r *Router) signOutOf(tenantID string) signOutState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.signOuts[tenantID]
}

// errSignedOut refuses a dial for a request authorized before a sign-out.
var errSignedOut = errors.New("router: signed out while the request was on its way")

type cachedRoute struct {
	r   Route
	err error
	at  time.Time
}

type cachedSession struct {
	tenantID, userID string
	until            time.Time
}

// sessionCacheTTL bounds how long a revoked session may still be honoured.
const sessionCacheTTL = 30 * time.Second

// memberCacheTTL bounds how long a removed team member may still be
// admitted.
const memberCacheTTL = 5 * time.Second

// maxCache bounds the route, session and member caches.
const maxCache = 50000

// New returns a Router.
func New(o Options) (*Router, error) {
	if o.Domain == "" || o.Routes == nil || o.Store == nil || o.Dial == nil {
		return nil, errors.New("router: domain, routes, store and dial are required")
	}
	o.Domain = strings.ToLower(strings.TrimSuffix(o.Domain, "."))
	reserved := make([]string, len(o.Reserved)) // the caller's slice stays as it was
	for i, h := range o.Reserved {
		reserved[i] = strings.ToLower(strings.TrimSuffix(h, "."))
	}
	o.Reserved = reserved
	if o.AccessTTL <= 0 {
		o.AccessTTL = time.Minute
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.ResponseHeaderTimeout <= 0 {
		o.ResponseHeaderTimeout = 5 * time.Minute
	}
	if o.RouteCacheTTL <= 0 {
		o.RouteCacheTTL = time.Second
	}
	if o.AuthFailRate == 0 {
		o.AuthFailRate = 1
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	local := o.LocalClientAddr
	if local == "" {
		local = "192.0.2.1"
	}
	if a, err := netip.ParseAddr(local); err != nil || a.IsLoopback() || a.IsUnspecified() {
		return nil, fmt.Errorf("router: local client address %q must be a non-loopback IP", local)
	}
	r := &Router{
		o: o, log: o.Logger.With("component", "router"), local: local,
		authRL:   ratelimit.New(o.AuthFailRate, 10),
		routes:   map[string]cachedRoute{},
		sessions: map[string]cachedSession{},
		members:  map[string]time.Time{},
		signOuts: map[string]signOutState{},
		conns:    map[string]map[*trackedConn]struct{}{},
		sockets:  ratelimit.NewSlots(o.MaxWebSockets),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawfleet_router_requests_total",
			Help: "Requests to tenant subdomains by outcome (proxied or an error code)."}, []string{"outcome"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawfleet_router_upstream_errors_total",
			Help: "Proxied requests that failed to reach the gateway, by reason."}, []string{"reason"}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(r.requests, r.upstream)
	}
	tr := &http.Transport{
		DialContext:           r.dialUpstream,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		// Gateways speak HTTP/1.1; compression is the gateway's business.
		DisableCompression: true,
	}
	r.proxy = &httputil.ReverseProxy{
		Rewrite:   r.rewrite,
		Transport: tr,
		// ReverseProxy flushes server-sent events and answers of unknown
		// length at every write by itself. An answer of known length is
		// flushed at most flushInterval after its bytes came, and written
		// whole when it is complete by then: -1 (flush at every write)
		// started a timer goroutine per request that flushed the header on
		// its own, costing about a tenth of the router's CPU on small
		// answers (docs/benchmarks.md).
		FlushInterval:  flushInterval,
		BufferPool:     bufferPool{},
		ErrorHandler:   r.upstreamError,
		ModifyResponse: hostOnlyCookies,
		ErrorLog:       slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
	}
	return r, nil
}

// flushInterval bounds how long bytes of an answer of known length wait in
// the router before they go to the client.
const flushInterval = 100 * time.Millisecond

// bufferPool reuses the proxy's 32 KiB copy buffers instead of allocating
// (and zeroing) one per request.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { return make([]byte, 32<<10) }}

func (bufferPool) Get() []byte  { return copyBuffers.Get().([]byte) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(b) }

// Match returns the tenant slug of host (a Host header, port allowed) when
// it is <slug>.<domain>.
func (r *Router) Match(host string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if slices.Contains(r.o.Reserved, host) {
		return "", false
	}
	slug, ok := strings.CutSuffix(host, "."+r.o.Domain)
	if !ok || proto.ValidateSlug(slug) != nil {
		return "", false
	}
	return slug, true
}

// ServeHTTP routes one request to a tenant subdomain.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	slug, ok := r.Match(req.Host)
	if !ok {
		r.fail(w, req, errNotRouted)
		return
	}
	client := r.o.Clients.IP(req)
	r.serve(w, req, slug, client, r.scheme(req))
}

func (r *Router) scheme(req *http.Request) string {
	if req.TLS != nil || r.o.Secure {
		return "https"
	}
	return "http"
}

// serve is ServeHTTP once the client's address and scheme are known (the
// nginx upstream path learns them from nginx).
func (r *Router) serve(w http.ResponseWriter, req *http.Request, slug, client, scheme string) {
	rt, err := r.route(req.Context(), slug)
	if err != nil {
		if errors.Is(err, ErrUnknownTenant) {
			r.fail(w, req, errUnknown)
			return
		}
		r.log.Error("route lookup failed", "slug", slug, "err", err)
		r.fail(w, req, errInternal)
		return
	}
	if IsAccessLink(req.URL) {
		r.redeem(w, req, rt, client, scheme)
		return
	}
	gen := r.signOutOf(rt.TenantID).gen // before the session is looked up
	if pe := r.authorize(req, rt, client); pe != nil {
		if to := r.signIn(req, rt, pe); to != "" {
			w.Header().Set("Cache-Control", "no-store")
			r.requests.WithLabelValues("sign_in_redirect").Inc()
			http.Redirect(w, req, to, http.StatusSeeOther)
			return
		}
		r.fail(w, req, pe)
		return
	}
	if pe := available(rt); pe != nil {
		r.fail(w, req, pe)
		return
	}
	r.proxyTo(w, req, rt, client, scheme, "proxied", gen)
}

// IsAccessLink reports whether u carries a one-time access token: a t
// parameter of exactly a token's shape, so that the gateway's own uses of
// "t" (a cache-buster, a timestamp) pass through untouched.
func IsAccessLink(u *url.URL) bool {
	v := u.Query()[AccessParam]
	if len(v) != 1 || len(v[0]) != tokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v[0])
	return err == nil
}

// tokenLen is the length of randomToken's output.
const tokenLen = 43

// crossSite reports whether a state-changing request comes from another
// site's page: other tenants' subdomains are "same-site" to the browser, so
// SameSite=Lax cookies alone do not stop them.
func crossSite(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	if s := req.Header.Get("Sec-Fetch-Site"); s == "cross-site" || s == "same-site" {
		return true
	}
	if o := req.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return err != nil || !strings.EqualFold(u.Host, req.Host)
	}
	return false
}

// authorize checks the session cookie against the route's owner. Failed
// lookups are rate limited per client address, but a cookie that was a real
// session is looked up whatever others from the same address (a NAT, a
// front proxy) guessed, so guessing cannot lock the owner out.
func (r *Router) authorize(req *http.Request, rt Route, client string) *pageError {
	if tok, ok := r.bearer(req); ok {
		return r.authorizeBearer(req.Context(), tok, rt, client)
	}
	// Every session cookie counts, not only the first: a cookie planted by
	// another subdomain for the parent domain must not hide the user's own.
	// Under HTTPS only the __Host- cookie counts, which cannot be planted.
	var values []string
	for _, ck := range req.Cookies() {
		if ck.Value == "" || len(values) >= 16 {
			continue
		}
		if ck.Name == SecureCookieName || (ck.Name == CookieName && !r.o.Secure && req.TLS == nil) {
			values = append(values, ck.Value)
		}
	}
	if len(values) == 0 {
		return errLoginRequired
	}
	limited := r.authRL.Exhausted(client)
	valid, skipped := false, false
	for _, v := range values {
		if limited && !r.knownSession(v) {
			skipped = true
			continue
		}
		s, ok := r.session(req.Context(), v)
		if !ok {
			continue
		}
		valid = true
		if s.tenantID == rt.TenantID && r.admits(req.Context(), s.userID, rt) {
			return nil
		}
	}
	if !valid {
		if skipped {
			return errRateLimited
		}
		r.authRL.Allow(client) // count the failure
		return errLoginRequired
	}
	r.log.Warn("session of another tenant or user refused", "slug", rt.Slug, "client", client)
	return errForbidden
}

// signIn is where a browser's page request refused with pe goes to sign
// in ("" for none: the refusal is answered).
func (r *Router) signIn(req *http.Request, rt Route, pe *pageError) string {
	if pe != errLoginRequired || r.o.SignIn == nil || (req.Method != http.MethodGet && req.Method != http.MethodHead) ||
		!strings.Contains(req.Header.Get("Accept"), "text/html") {
		return ""
	}
	return r.o.SignIn(req, rt.Slug, localPath(req.URL))
}

// bearer returns the SSO token of an "Authorization: Bearer" header when
// bearer tokens are enabled.
func (r *Router) bearer(req *http.Request) (string, bool) {
	if r.o.Tokens == nil {
		return "", false
	}
	for _, v := range req.Header.Values("Authorization") { // any line: all are removed before proxying
		if len(v) >= 7 && strings.EqualFold(v[:7], "Bearer ") {
			return strings.TrimSpace(v[7:]), true
		}
	}
	return "", false
}

// authorizeBearer checks an SSO token against the route's owner. A bearer
// header is a deliberate choice of credential: a bad one is refused even if
// a cookie would pass, so a client learns its token is wrong.
func (r *Router) authorizeBearer(ctx context.Context, tok string, rt Route, client string) *pageError {
	// Verified first: a valid token passes whatever others behind the same
	// address guessed (signed tokens cannot be guessed; failures are limited).
	u, err := r.o.Tokens.Verify(ctx, tok)
	if err != nil {
		if r.authRL.Exhausted(client) {
			return errRateLimited
		}
		r.authRL.Allow(client) // count the failure
		r.log.Info("bearer token refused", "slug", rt.Slug, "client", client, "err", err)
		return errBadToken
	}
	if (u.ID != rt.Owner || rt.Shared) && !r.member(ctx, u.ID, rt) {
		r.log.Warn("bearer token of another user refused", "slug", rt.Slug, "client", client)
		return errForbidden
	}
	return nil
}

// admits reports whether the user of a session or link (issued by the
// cloud: the owner's, or a team member's) may use rt's gateway now.
func (r *Router) admits(ctx context.Context, user string, rt Route) bool {
	return user == rt.Owner || r.member(ctx, user, rt)
}

// member reports whether user is a member of rt's team, cached for
// memberCacheTTL (refusals are not cached).
func (r *Router) member(ctx context.Context, user string, rt Route) bool {
	if r.o.Members == nil || rt.TeamID == "" || user == "" {
		return false
	}
	key := rt.TeamID + "\x00" + user
	now := time.Now()
	r.mu.Lock()
	until, ok := r.members[key]
	r.mu.Unlock()
	if ok && now.Before(until) {
		return true
	}
	yes, err := r.o.Members.IsTeamMember(ctx, rt.TeamID, user)
	if err != nil {
		r.log.Error("team membership lookup failed", "team", rt.TeamID, "err", err)
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !yes {
		delete(r.members, key)
		return false
	}
	if len(r.members) >= maxCache {
		clear(r.members)
	}
	r.members[key] = now.Add(memberCacheTTL)
	return true
}

// knownSession reports whether a cookie value was a valid session when last
// looked up (its cache entry may have expired since).
func (r *Router) knownSession(value string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.sessions[creds.Hash(value)]
	return ok
}

// session returns the live session for a cookie value, cached briefly.
func (r *Router) session(ctx context.Context, value string) (cachedSession, bool) {
	h := creds.Hash(value)
	now := time.Now()
	r.mu.Lock()
	c, ok := r.sessions[h]
	r.mu.Unlock()
	if ok && now.Before(c.until) {
		return c, true
	}
	r.mu.Lock()
	signOuts := r.signOutsAll
	r.mu.Unlock()
	s, err := r.o.Store.GetRouterSession(ctx, h, now.UTC())
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			r.log.Error("session lookup failed", "err", err)
		} else if ok {
			r.mu.Lock()
			delete(r.sessions, h) // expired or revoked: no longer known
			r.mu.Unlock()
		}
		return cachedSession{}, false
	}
	until := now.Add(sessionCacheTTL)
	if s.ExpiresAt.Before(until) {
		until = s.ExpiresAt
	}
	c = cachedSession{tenantID: s.TenantID, userID: s.UserID, until: until}
	r.mu.Lock()
	if len(r.sessions) >= maxCache {
		clear(r.sessions)
	}
	if r.signOutsAll == signOuts { // else a sign-out may have revoked what was read
		r.sessions[h] = c
	}
	r.mu.Unlock()
	return c, true
}

// SignOut ends every session and unused link into a tenant's gateway and
// closes the connections open to it, WebSockets included, so that nobody
// stays in: not a stolen cookie, not a browser tab left open. It returns how
// many connections it closed.
func (r *Router) SignOut(ctx context.Context, tenantID, slug string) (int, error) {
	// Counted before the sessions are revoked: a request that looks its
	// session up meanwhile is refused when it dials, and not cached.
	r.mu.Lock()
	r.signOuts[tenantID] = signOutState{gen: r.signOuts[tenantID].gen + 1, at: time.Now()}
	r.signOutsAll++
	r.mu.Unlock()
	if err := r.o.Store.RevokeTenantSessions(ctx, tenantID, time.Now().UTC()); err != nil {
		return 0, fmt.Errorf("sign out of %s: %w", slug, err)
	}
	r.ForgetTenant(tenantID, slug)
	rt, err := r.route(ctx, slug)
	if err != nil || rt.TenantID != tenantID {
		return 0, nil // no gateway placed: nothing open
	}
	r.mu.Lock()
	var cs []*trackedConn
	for c := range r.conns[rt.HostID] {
		if c.port == rt.Port {
			cs = append(cs, c)
		}
	}
	r.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
	r.log.Info("signed out of a gateway", "slug", slug, "connections", len(cs))
	return len(cs), nil
}

// ForgetTenant drops cached routes and sessions of a tenant at once (it was
// deleted or moved).
func (r *Router) ForgetTenant(tenantID, slug string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.routes, slug)
	for h, s := range r.sessions {
		if s.tenantID == tenantID {
			delete(r.sessions, h)
		}
	}
}

func (r *Router) route(ctx context.Context, slug string) (Route, error) {
	now := time.Now()
	r.mu.Lock()
	c, ok := r.routes[slug]
	r.mu.Unlock()
	if ok && now.Sub(c.at) < r.o.RouteCacheTTL {
		return c.r, c.err
	}
	rt, err := r.o.Routes.Route(ctx, slug)
	if err != nil && !errors.Is(err, ErrUnknownTenant) {
		return rt, err // not cached: the store may be back next time
	}
	r.mu.Lock()
	if len(r.routes) >= maxCache {
		clear(r.routes)
	}
	r.routes[slug] = cachedRoute{r: rt, err: err, at: now}
	r.mu.Unlock()
	return rt, err
}

// available says why a route cannot take traffic now, or nil.
func available(rt Route) *pageError {
	switch {
	case rt.Desired == store.TenantStopped || rt.Status == store.TenantStopped:
		return errStopped
	case rt.Status == store.TenantDeleting:
		return errUnknown
	case rt.HostID == "":
		return errFailed // unplaced: its host was deleted and no other had room
	case !rt.HostOnline:
		return errHostOffline
	case rt.Status == store.TenantFailed:
		return errFailed.because(rt.LastError)
	case rt.Status != store.TenantRunning:
		return errStarting
	}
	return nil
}

// IssueAccess creates a one-time link for userID into tenantID's gateway at
// tenantURL (the tenant's base URL, ending in "/"); next, if non-empty, is
// the path to land on.
func (r *Router) IssueAccess(ctx context.Context, tenantID, userID, tenantURL, next string) (string, time.Time, error) {
	u, err := url.Parse(tenantURL)
	if err != nil || u.Host == "" {
		return "", time.Time{}, fmt.Errorf("router: tenant URL %q: %w", tenantURL, err)
	}
	if next != "" {
		p, err := cleanNext(next)
		if err != nil {
			return "", time.Time{}, err
		}
		pu, _ := url.Parse(p)
		u.Path, u.RawPath, u.RawQuery = pu.Path, pu.RawPath, pu.RawQuery
	}
	tok := randomToken()
	exp := time.Now().UTC().Add(r.o.AccessTTL)
	if err := r.o.Store.CreateAccessGrant(ctx, &store.AccessGrant{Hash: creds.Hash(tok), TenantID: tenantID, UserID: userID, ExpiresAt: exp}); err != nil {
		return "", time.Time{}, err
	}
	q := u.Query()
	q.Set(AccessParam, tok)
	u.RawQuery = q.Encode()
	return u.String(), exp, nil
}

// ErrBadNext is returned for a landing path that is not a local path.
var ErrBadNext = errors.New("path must be a local path starting with a single '/'")

// localPath is u's path as a redirect target that stays on this host: one
// leading slash (a browser reads "//evil.example/" or "/\\evil.example/" as
// another host), escaping kept.
func localPath(u *url.URL) string {
	p := u.EscapedPath()
	p = "/" + strings.TrimLeft(p, "/\\")
	return p
}

func cleanNext(next string) (string, error) {
	if len(next) > 1024 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return "", ErrBadNext
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Fragment != "" || localPath(u) != u.EscapedPath() ||
		strings.HasPrefix(u.Path, "//") || strings.Contains(u.Path, "\\") {
		return "", ErrBadNext
	}
	return next, nil
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// redeem turns a one-time link into a session cookie and redirects to the
// same URL without the token, so it stays out of history and logs.
func (r *Router) redeem(w http.ResponseWriter, req *http.Request, rt Route, client, scheme string) {
	if r.authRL.Exhausted(client) {
		r.fail(w, req, errRateLimited)
		return
	}
	q := req.URL.Query()
	tok := q.Get(AccessParam)
	val := randomToken()
	sess := &store.RouterSession{Hash: creds.Hash(val), ExpiresAt: time.Now().UTC().Add(r.o.SessionTTL), RemoteAddr: client}
	err := r.o.Store.RedeemAccessGrant(req.Context(), creds.Hash(tok), rt.TenantID, time.Now().UTC(), sess)
	if err != nil {
		if !errors.Is(err, store.ErrAccessInvalid) {
			r.log.Error("access link redemption failed", "slug", rt.Slug, "err", err)
			r.fail(w, req, errInternal)
			return
		}
		r.authRL.Allow(client)
		r.log.Warn("invalid access link", "slug", rt.Slug, "client", client)
		r.fail(w, req, errBadLink)
		return
	}
	if !r.admits(req.Context(), sess.UserID, rt) {
		// The owner changed, or the member left the team, since the link
		// was issued.
		r.fail(w, req, errForbidden)
		return
	}
	name := CookieName
	if scheme == "https" {
		name = SecureCookieName
	}
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: val, Path: "/", MaxAge: int(r.o.SessionTTL.Seconds()),
		HttpOnly: true, Secure: scheme == "https", SameSite: http.SameSiteLaxMode,
	})
	q.Del(AccessParam)
	dest := localPath(req.URL)
	if len(q) > 0 {
		dest += "?" + q.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	r.requests.WithLabelValues("access_redeemed").Inc()
	r.log.Info("access link redeemed", "slug", rt.Slug, "user", sess.UserID, "client", client)
	http.Redirect(w, req, dest, http.StatusSeeOther)
}

type proxyKey struct{}

type proxyInfo struct {
	route          Route
	client, scheme string
	gen            uint64 // the tenant's sign-out count when authorized
}

// forwardedHeaders are the client's request headers a gateway receives:
// what a browser app needs end to end (content negotiation, caching,
// conditional and range requests, CORS preflight, fetch metadata, the
// WebSocket handshake, cookies, the gateway's own Authorization), decided by
// this allow-list rather than a list of known identity headers, so a header
// nobody thought of (X-Authenticated-User, CF-Connecting-IP, OpenClaw's
// X-OpenClaw-Scopes, X-Original-URL...) never reaches a gateway that might
// trust it. Connection, Upgrade and Te are what ReverseProxy set after
// removing the client's hop-by-hop headers. The router adds
// X-Forwarded-User/-For/-Proto/-Host itself.
var forwardedHeaders = map[string]bool{}

func init() {
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language",
		"Authorization", "Cache-Control", "Pragma", "Cookie",
		"Content-Encoding", "Content-Language", "Content-Length", "Content-Type",
		"Expect", "If-Match", "If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since", "Range",
		"Origin", "Referer", "User-Agent", "Dnt", "Priority", "Upgrade-Insecure-Requests", "X-Requested-With",
		"Access-Control-Request-Method", "Access-Control-Request-Headers", "Access-Control-Request-Private-Network",
		"Connection", "Upgrade", "Te",
		"Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Sec-Purpose",
	} {
		forwardedHeaders[textproto.CanonicalMIMEHeaderKey(k)] = true
	}
}

// forwardedPrefixes extend forwardedHeaders: fetch metadata and client
// hints, which browsers set and pages cannot.
var forwardedPrefixes = []string{"Sec-Fetch-", "Sec-Ch-"}

// forwarded reports whether a client's header k (canonical) may reach the
// gateway.
func forwarded(k string) bool {
	if forwardedHeaders[k] {
		return true
	}
	for _, p := range forwardedPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func (r *Router) rewrite(pr *httputil.ProxyRequest) {
	pi := pr.In.Context().Value(proxyKey{}).(*proxyInfo)
	// The Transport dials by this address (see dialUpstream); the gateway
	// sees the browser's Host, which its allowed origin is written for.
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = net.JoinHostPort(pi.route.HostID, strconv.Itoa(pi.route.Port))
	pr.Out.Host = pr.In.Host
	h := pr.Out.Header
	for k := range h {
		if !forwarded(k) {
			delete(h, k)
		}
	}
	pr.Out.Trailer = nil // trailers are headers too
	stripCookie(h, CookieName, SecureCookieName)
	if _, ok := r.bearer(pr.In); ok {
		h.Del("Authorization") // the user's SSO token is not the gateway's business
	}
	if pi.route.TokenAuth {
		return
	}
	client := pi.client
	if a, err := netip.ParseAddr(client); err != nil || a.IsLoopback() || a.IsUnspecified() {
		client = r.local
	}
	h.Set("X-Forwarded-For", client)
	h.Set("X-Forwarded-Proto", pi.scheme)
	h.Set("X-Forwarded-Host", pr.In.Host)
	h.Set(proto.UserHeader, pi.route.Owner)
}

// stripCookie removes one cookie from the Cookie header(s), keeping the
// gateway's own cookies.
func stripCookie(h http.Header, names ...string) {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var keep []string
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			p := strings.TrimSpace(part)
			if p == "" {
				continue
			}
			if k, _, _ := strings.Cut(p, "="); slices.Contains(names, strings.TrimSpace(k)) {
				continue
			}
			keep = append(keep, p)
		}
	}
	h.Del("Cookie")
	if len(keep) > 0 {
		h.Set("Cookie", strings.Join(keep, "; "))
	}
}

func (r *Router) dialUpstream(ctx context.Context, _, addr string) (net.Conn, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return nil, err
	}
	if r.o.HostOnline != nil && !r.o.HostOnline(host) {
		return nil, errHostGone
	}
	ctx, cancel := context.WithTimeout(ctx, r.o.DialTimeout)
	defer cancel()
	c, err := r.o.Dial(ctx, host, port)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, r: r, host: host, port: port}
	r.mu.Lock()
	if r.conns[host] == nil {
		r.conns[host] = map[*trackedConn]struct{}{}
	}
	r.conns[host][tc] = struct{}{}
	// Registered first, then checked: a sign-out either sees this
	// connection and closes it, or has already moved the count.
	pi, _ := ctx.Value(proxyKey{}).(*proxyInfo)
	stale := pi != nil && r.signOuts[pi.route.TenantID].gen != pi.gen
	r.mu.Unlock()
	if stale {
		tc.Close()
		return nil, errSignedOut
	}
	return tc, nil
}

// errHostGone fails a dial to a host known to be offline.
var errHostGone = errors.New("router: the gateway's host is offline")

// trackedConn is a connection to a gateway, closed at once when its host
// goes away (DropHost), so no request waits on a dead tunnel.
type trackedConn struct {
	net.Conn
	r    *Router
	host string
	port int // the tenant's gateway port: one tenant per host and port
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.r.mu.Lock()
		delete(c.r.conns[c.host], c)
		if len(c.r.conns[c.host]) == 0 {
			delete(c.r.conns, c.host)
		}
		c.r.mu.Unlock()
	})
	return c.Conn.Close()
}

// DropHost closes every connection to gateways on hostID (it went offline
// or was deleted) and forgets cached routes, so requests in flight fail fast
// and the next ones get the error page instead of waiting on a dead tunnel.
func (r *Router) DropHost(hostID string) int {
	r.mu.Lock()
	var cs []*trackedConn
	for c := range r.conns[hostID] {
		cs = append(cs, c)
	}
	clear(r.routes)
	r.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
	if len(cs) > 0 {
		r.log.Info("closed connections to an unreachable host", "host", hostID, "connections", len(cs))
	}
	return len(cs)
}

func (r *Router) upstreamError(w http.ResponseWriter, req *http.Request, err error) {
	reason := "unreachable"
	switch {
	case errors.Is(err, context.Canceled):
		// The client went away; nothing to answer.
		r.upstream.WithLabelValues("client_gone").Inc()
		return
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		reason = "timeout"
	}
	page := errUnreachable
	switch {
	case errors.Is(err, errHostGone):
		reason, page = "host_offline", errHostOffline
	case errors.Is(err, errSignedOut):
		reason, page = "signed_out", errLoginRequired
	}
	r.upstream.WithLabelValues(reason).Inc()
	pi, _ := req.Context().Value(proxyKey{}).(*proxyInfo)
	if pi != nil {
		r.log.Warn("gateway not reachable through the tunnel", "slug", pi.route.Slug, "host", pi.route.HostID, "err", err)
		// The host may have gone: look again next time.
		r.mu.Lock()
		delete(r.routes, pi.route.Slug)
		r.mu.Unlock()
	}
	r.fail(w, req, page)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// hostOnlyCookies drops the Domain attribute from the gateway's cookies: a
// gateway (or a compromised host) must not set cookies for the parent
// domain, which other tenants' subdomains and the console share.
func hostOnlyCookies(resp *http.Response) error {
	vs := resp.Header.Values("Set-Cookie")
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		parts := strings.Split(v, ";")
		keep := parts[:1]
		for _, a := range parts[1:] {
			k, _, _ := strings.Cut(strings.TrimSpace(a), "=")
			if strings.EqualFold(k, "domain") {
				continue
			}
			keep = append(keep, a)
		}
		out = append(out, strings.Join(keep, ";"))
	}
	resp.Header["Set-Cookie"] = out
	return nil
}
