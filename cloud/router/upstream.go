package router

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/cloud/ratelimit"
	"golang.org/x/net/http/httpguts"
)

// The nginx path (docs/nginx/clawfleet.conf). nginx asks RoutePath with
// auth_request whether a request for <slug>.<domain> may pass; the answer
// carries a short-lived route token that nginx hands, with the request, to
// the cloud's internal upstream listener, which proxies it like the router
// does. The token is what proves that nginx asked: without it the internal
// upstream refuses, so a local process cannot use it to reach a gateway as
// its owner.
const (
	// RoutePath is the auth_request endpoint on the cloud's HTTP listener.
	RoutePath = "/api/internal/route"
	// UpstreamHeader names the internal upstream in the endpoint's answer.
	UpstreamHeader = "X-Clawfleet-Upstream"
	// RouteHeader carries the route token: in the endpoint's answer, and
	// from nginx to the internal upstream.
	RouteHeader = "X-Clawfleet-Route"
	// ReasonHeader says why the endpoint refused (a page code such as
	// login_required); nginx ignores it, people debugging do not.
	ReasonHeader = "X-Clawfleet-Reason"
)

// Route token kinds: pass means "authorized for this tenant's owner, proxy
// it"; cloud means "not authorized here: let the router decide (redeem a
// link, render its page), with this client address and scheme".
const (
	tokenPass  = 'p'
	tokenCloud = 'c'
)

var errNoRouteToken = &pageError{status: http.StatusForbidden, code: "route_token_required",
	en: message{"Forbidden", "This address takes requests from the cloud's front proxy only."},
	zh: message{"禁止访问", "此地址只接受云端前置代理转发的请求。"}}

// InternalOptions configure the nginx path.
type InternalOptions struct {
	// UpstreamAddr is the internal upstream listener's address as nginx
	// dials it (host:port); an unspecified host becomes 127.0.0.1.
	UpstreamAddr string
	// Allow lists the peer addresses that may call the endpoint and the
	// internal upstream (nginx's). Empty = loopback only.
	Allow []netip.Prefix
	// TokenTTL is how long a route token is valid (60 s). It is checked
	// when a request starts; a WebSocket may then last longer.
	TokenTTL time.Duration
}

// Internal serves the nginx path for a Router: the auth_request endpoint
// (ServeRoute) and the internal upstream (ServeUpstream).
type Internal struct {
	r     *Router
	o     InternalOptions
	key   []byte
	now   func() time.Time
	allow []netip.Prefix
}

// NewInternal returns the nginx path of r. Its HMAC key is random per
// process: tokens do not survive a restart, and need not (they live 60 s).
func NewInternal(r *Router, o InternalOptions) (*Internal, error) {
	host, port, err := net.SplitHostPort(o.UpstreamAddr)
	if err != nil {
		return nil, fmt.Errorf("router: internal upstream address %q: %w", o.UpstreamAddr, err)
	}
	if a, err := netip.ParseAddr(host); host == "" || (err == nil && a.IsUnspecified()) {
		host = "127.0.0.1"
	}
	o.UpstreamAddr = net.JoinHostPort(host, port)
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Minute
	}
	allow := o.Allow
	if len(allow) == 0 {
		allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &Internal{r: r, o: o, key: key, now: time.Now, allow: allow}, nil
}

// allowed reports whether the TCP peer of req may use the nginx path.
func (in *Internal) allowed(req *http.Request) bool {
	return ratelimit.InPrefixes(ratelimit.ClientIP(req), in.allow)
}

// sign makes a route token: kind, expiry (Unix seconds) and an HMAC-SHA256
// over them and what the token is for, base64url.
func (in *Internal) sign(kind byte, exp int64, slug, tenantID, userID, client string) string {
	m := hmac.New(sha256.New, in.key)
	fmt.Fprintf(m, "%c\x00%d\x00%s\x00%s\x00%s\x00%s", kind, exp, slug, tenantID, userID, client)
	return fmt.Sprintf("%c.%d.%s", kind, exp, base64.RawURLEncoding.EncodeToString(m.Sum(nil)))
}

// tokenKind returns the kind of an unexpired, well-formed token (0 if it is
// neither); its MAC is checked by verify.
func (in *Internal) tokenKind(tok string) (byte, int64) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[0]) != 1 {
		return 0, 0
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	now := in.now().Unix()
	if err != nil || exp < now || exp > now+int64(in.o.TokenTTL/time.Second)+5 {
		return 0, 0
	}
	return parts[0][0], exp
}

// verify checks tok in constant time against what it must be for.
func (in *Internal) verify(tok string, kind byte, exp int64, slug, tenantID, userID, client string) bool {
	return hmac.Equal([]byte(tok), []byte(in.sign(kind, exp, slug, tenantID, userID, client)))
}

// ServeRoute is the auth_request endpoint: GET RoutePath?host=<Host>&uri=<URI>,
// with the original request's headers (its cookie). nginx understands only
// 2xx, 401 and 403 from it (anything else is a 500), so it answers:
//   - 200 with UpstreamHeader and a pass token in RouteHeader: proxy there;
//   - 403 for a session of another user;
//   - 401 for everything else the router itself must answer (no or bad
//     cookie, a one-time link to redeem, unknown slug, stopped gateway,
//     offline host, rate limit), with a cloud token in RouteHeader so that
//     nginx's error_page can hand the request to the internal upstream,
//     where the router redeems the link or renders its page with the real
//     client address.
//
// The client address is X-Real-IP (set by nginx; only allowed peers get
// here), else the TCP peer.
func (in *Internal) ServeRoute(w http.ResponseWriter, req *http.Request) {
	r := in.r
	w.Header().Set("Cache-Control", "no-store")
	if !in.allowed(req) {
		writeJSON(w, http.StatusForbidden, map[string]any{"error": "internal endpoint", "code": "forbidden"})
		return
	}
	client := ratelimit.ClientIP(req)
	if a, err := netip.ParseAddr(strings.TrimSpace(req.Header.Get("X-Real-IP"))); err == nil {
		client = a.Unmap().String()
	}
	host := req.URL.Query().Get("host")
	slug, ok := r.Match(host)
	exp := in.now().Add(in.o.TokenTTL).Unix()
	deny := func(status int, pe *pageError) {
		w.Header().Set(UpstreamHeader, in.o.UpstreamAddr)
		w.Header().Set(RouteHeader, in.sign(tokenCloud, exp, slug, "", "", client))
		w.Header().Set(ReasonHeader, pe.code)
		writeJSON(w, status, map[string]any{"error": pe.en.text, "code": pe.code})
	}
	if !ok {
		deny(http.StatusUnauthorized, errNotRouted)
		return
	}
	rt, err := r.route(req.Context(), slug)
	if err != nil {
		pe := errUnknown
		if !errors.Is(err, ErrUnknownTenant) {
			r.log.Error("route lookup failed", "slug", slug, "err", err)
			pe = errInternal
		}
		deny(http.StatusUnauthorized, pe)
		return
	}
	if hasAccessParam(rawURI(req.URL.RawQuery)) {
		deny(http.StatusUnauthorized, errBadLink) // the router redeems it
		return
	}
	if pe := r.authorize(req, rt, client); pe != nil {
		status := http.StatusUnauthorized
		if pe == errForbidden {
			status = http.StatusForbidden
		}
		deny(status, pe)
		return
	}
	if pe := available(rt); pe != nil {
		deny(http.StatusUnauthorized, pe)
		return
	}
	w.Header().Set(UpstreamHeader, in.o.UpstreamAddr)
	w.Header().Set(RouteHeader, in.sign(tokenPass, exp, slug, rt.TenantID, rt.Owner, client))
	writeJSON(w, http.StatusOK, map[string]any{"upstream": in.o.UpstreamAddr, "tenantId": rt.TenantID, "user": rt.Owner})
}

// rawURI returns the uri parameter of a raw query taken verbatim to the end:
// nginx cannot escape $request_uri, so its own '&' and '?' stay in it, and
// the config puts uri last.
func rawURI(rawQuery string) string {
	if v, ok := strings.CutPrefix(rawQuery, "uri="); ok {
		return v
	}
	if _, v, ok := strings.Cut(rawQuery, "&uri="); ok {
		return v
	}
	return ""
}

func hasAccessParam(uri string) bool {
	_, q, ok := strings.Cut(uri, "?")
	if !ok {
		return false
	}
	v, err := url.ParseQuery(q)
	return err == nil && v.Has(AccessParam)
}

// ServeUpstream is the internal upstream: requests nginx proxies after
// ServeRoute. It needs a valid route token for the request's Host; then it
// trusts X-Real-IP and X-Forwarded-Proto (nginx set them: the token proves
// nginx asked), deletes them and the token, and proxies the request like the
// router (pass token) or lets the router handle it (cloud token), with the
// router's allow-list of headers. Without a valid token: 403.
func (in *Internal) ServeUpstream(w http.ResponseWriter, req *http.Request) {
	r := in.r
	tok := req.Header.Get(RouteHeader)
	realIP := strings.TrimSpace(req.Header.Get("X-Real-IP"))
	proto := req.Header.Get("X-Forwarded-Proto")
	// Consumed here; the router's allow-list keeps every other client
	// header that is not a browser app's from the gateway.
	for _, k := range []string{RouteHeader, "X-Real-Ip", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"} {
		req.Header.Del(k)
	}
	slug, ok := r.Match(req.Host)
	kind, exp := in.tokenKind(tok)
	ip, err := netip.ParseAddr(realIP)
	if !in.allowed(req) || !ok || kind == 0 || err != nil {
		r.fail(w, req, errNoRouteToken)
		return
	}
	client := ip.Unmap().String()
	scheme := r.scheme(req)
	if proto == "https" {
		scheme = "https"
	}
	switch kind {
	case tokenCloud:
		if !in.verify(tok, tokenCloud, exp, slug, "", "", client) {
			r.fail(w, req, errNoRouteToken)
			return
		}
		r.serve(w, req, slug, client, scheme)
	case tokenPass:
		rt, err := r.route(req.Context(), slug)
		if err != nil || !in.verify(tok, tokenPass, exp, slug, rt.TenantID, rt.Owner, client) {
			r.fail(w, req, errNoRouteToken)
			return
		}
		// A pass issued before (or in the second of) a sign-out of the
		// tenant no longer counts; the issue time is exp - TokenTTL.
		so := r.signOutOf(rt.TenantID)
		if !so.at.IsZero() && exp-int64(in.o.TokenTTL/time.Second) <= so.at.Unix() {
			r.fail(w, req, errLoginRequired)
			return
		}
		if pe := available(rt); pe != nil { // changed since nginx asked
			r.fail(w, req, pe)
			return
		}
		r.proxyTo(w, req, rt, client, scheme, "proxied_nginx", so.gen)
	default:
		r.fail(w, req, errNoRouteToken)
	}
}

// proxyTo proxies req to rt's gateway once the caller has decided that it
// may pass; outcome labels the request metric.
func (r *Router) proxyTo(w http.ResponseWriter, req *http.Request, rt Route, client, scheme, outcome string, gen uint64) {
	if crossSite(req) {
		r.log.Warn("cross-site state-changing request refused", "slug", rt.Slug, "client", client, "method", req.Method, "origin", req.Header.Get("Origin"))
		r.fail(w, req, errCrossSite)
		return
	}
	if isUpgrade(req) {
		// A WebSocket holds its slot for as long as it is open: the
		// proxy returns when it closes.
		release, ok := r.sockets.Acquire(rt.TenantID)
		if !ok {
			r.log.Warn("WebSocket refused: the tenant has the most open", "slug", rt.Slug, "client", client, "max", r.sockets.Max())
			r.fail(w, req, errTooManySockets)
			return
		}
		defer release()
	}
	r.requests.WithLabelValues(outcome).Inc()
	ctx := context.WithValue(req.Context(), proxyKey{}, &proxyInfo{route: rt, client: client, scheme: scheme, gen: gen})
	r.proxy.ServeHTTP(w, req.WithContext(ctx))
}

// isUpgrade reports whether req asks to switch protocols (a WebSocket).
func isUpgrade(req *http.Request) bool {
	return req.Header.Get("Upgrade") != "" && httpguts.HeaderValuesContainsToken(req.Header["Connection"], "upgrade")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
