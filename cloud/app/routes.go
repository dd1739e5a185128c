package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/cloud/api"
	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/ratelimit"
	"github.com/clawfleet/clawfleet/cloud/router"
	"github.com/clawfleet/clawfleet/cloud/sso"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// routes resolves a slug to where its gateway runs: the tenant from the
// store, the host's presence from the fleet.
type routes struct {
	st    *store.Store
	fleet *fleet.Fleet
}

func (r routes) Route(ctx context.Context, slug string) (router.Route, error) {
	t, err := r.st.GetTenantBySlug(ctx, slug)
	if errors.Is(err, store.ErrNotFound) {
		return router.Route{}, router.ErrUnknownTenant
	}
	if err != nil {
		return router.Route{}, err
	}
	return router.Route{
		TenantID: t.ID, Slug: t.Slug, Owner: t.OwnerID, TeamID: t.TeamID, Shared: t.Shared, HostID: t.HostID, Port: t.Port,
		Status: t.Status, Desired: t.DesiredState, HostOnline: r.fleet.HostOnline(t.HostID), LastError: t.LastError,
		TokenAuth: t.Auth == proto.GatewayAuthToken,
	}, nil
}

// newRouter builds the subdomain router; it reaches gateways through the
// tunnels (or answers "unreachable" when tunnels are disabled).
func (a *App) newRouter() (*router.Router, error) {
	dial := func(context.Context, string, int) (net.Conn, error) {
		return nil, errors.New("tunnels are disabled on this cloud (wg-addr is empty)")
	}
	local := ""
	if a.tun != nil {
		dial = a.tun.Dial
		// A loopback client is attributed to the hub: an honest non-loopback
		// address of the cloud, which OpenClaw needs to see.
		local = a.tun.HubAddr().String()
	}
	return router.New(router.Options{
		Domain: a.cfg.Domain, Reserved: a.ownHosts(), Routes: routes{st: a.store, fleet: a.fleet}, Store: a.store, Members: a.store, SignIn: a.consoleOpen, Dial: dial, HostOnline: a.fleet.HostOnline,
		Secure: a.secure(), LocalClientAddr: local, Logger: a.log, Registerer: a.reg, Tokens: a.routerTokens(),
		AccessTTL: a.cfg.AccessLinkTTL, SessionTTL: a.cfg.SessionTTL, Clients: a.clients(), MaxWebSockets: a.cfg.MaxWebSocketsPerTenant,
	})
}

// consoleOpen is the console's /open/<slug> for a browser that came to a
// tenant's subdomain without a session: on the public URL, or on the
// domain itself at the port the browser used; "" without accounts (no
// console sign-in).
func (a *App) consoleOpen(req *http.Request, slug, path string) string {
	if a.accounts == nil {
		return ""
	}
	base := strings.TrimRight(a.cfg.PublicURL, "/")
	if base == "" {
		scheme, host := "http", a.cfg.Domain
		if req.TLS != nil {
			scheme = "https"
		}
		if _, port, err := net.SplitHostPort(req.Host); err == nil {
			host = net.JoinHostPort(host, port)
		}
		base = scheme + "://" + host
	}
	return base + "/open/" + url.PathEscape(slug) + "?path=" + url.QueryEscape(path)
}

// newTokens sets up SSO bearer token verification when configured; the key
// set is fetched in the background so that a provider that is down delays
// nothing (tokens are refused until it answers).
func (a *App) newTokens(ctx context.Context) error {
	c := a.cfg.SSO()
	if !c.Enabled() {
		return nil
	}
	c.Logger = a.log
	v, err := sso.New(c)
	if err != nil {
		return err
	}
	a.tokens = v
	go func() {
		if err := v.Prefetch(ctx); err != nil {
			a.log.Warn("SSO key set not loaded yet; bearer tokens are refused until it is", "err", err)
		}
	}()
	a.log.Info("SSO bearer tokens accepted", "issuer", c.Issuer, "audience", c.Audience, "authjs", c.AuthJSSecret != "")
	return nil
}

// clients finds client addresses, believing the configured front proxies
// (checked by config.Validate).
func (a *App) clients() ratelimit.Clients {
	p, _ := a.cfg.TrustedProxyPrefixes()
	return ratelimit.Clients{Trusted: p}
}

// apiTokens and routerTokens hand the verifier on as each consumer's
// interface, staying nil (not a typed nil) when SSO is off.
func (a *App) apiTokens() api.Tokens {
	if a.tokens == nil {
		return nil
	}
	return a.tokens
}

func (a *App) routerTokens() router.Tokens {
	if a.tokens == nil {
		return nil
	}
	return a.tokens
}

// dropOffline closes the router's connections to hosts that go offline or
// are deleted.
func (a *App) dropOffline(e fleet.Event) {
	switch e.(type) {
	case fleet.Offline, fleet.Deleted:
		a.router.DropHost(e.Host())
	}
}

// ownHosts are the cloud's own host names (public URL, MQTT URL): never
// routed to a tenant, whatever slugs exist.
func (a *App) ownHosts() []string {
	var hs []string
	for _, raw := range []string{a.cfg.PublicURL, a.cfg.MQTTURL} {
		if u, err := url.Parse(raw); err == nil && u.Hostname() != "" {
			hs = append(hs, strings.ToLower(u.Hostname()))
		}
	}
	return hs
}

// reservedSlugs are the first labels of the cloud's own hosts that lie
// directly under the tenant domain: no tenant may take them.
func (a *App) reservedSlugs() []string {
	var out []string
	for _, h := range a.ownHosts() {
		if label, ok := strings.CutSuffix(h, "."+strings.ToLower(a.cfg.Domain)); ok && !strings.Contains(label, ".") {
			out = append(out, label)
		}
	}
	return out
}

// secure reports whether users reach the cloud over HTTPS.
func (a *App) secure() bool {
	return strings.HasPrefix(a.cfg.PublicURL, "https://")
}

// withRouter sends <slug>.<domain> requests to the router, the rest to the
// API and dashboard.
func withRouter(rt *router.Router, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := rt.Match(r.Host); ok {
			rt.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// sweepAccess deletes used and expired access links and sessions, console
// sessions and one-time links hourly.
func (a *App) sweepAccess(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := a.store.DeleteExpiredAccess(ctx, time.Now().UTC()); err != nil {
			if ctx.Err() == nil {
				a.log.Warn("sweeping expired access links failed", "err", err)
			}
		} else if n > 0 {
			a.log.Debug("swept expired access links and sessions", "rows", n)
		}
		if n, err := a.store.DeleteExpiredSessions(ctx, time.Now().UTC()); err != nil {
			if ctx.Err() == nil {
				a.log.Warn("sweeping expired console sessions failed", "err", err)
			}
		} else if n > 0 {
			a.log.Debug("swept expired console sessions and one-time links", "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
