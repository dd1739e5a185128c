package router

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/store"
)

// internalFixture adds the nginx path to a router fixture: the endpoint and
// the internal upstream, each on its own test server.
type internalFixture struct {
	*fixture
	in       *Internal
	endpoint *httptest.Server
	upstream *httptest.Server
}

func newInternalFixture(t *testing.T, o InternalOptions) *internalFixture {
	return newInternalFixtureWith(t, Options{}, o)
}

func newInternalFixtureWith(t *testing.T, ro Options, o InternalOptions) *internalFixture {
	f := newFixture(t, ro)
	up := httptest.NewServer(nil)
	t.Cleanup(up.Close)
	o.UpstreamAddr = up.Listener.Addr().String()
	in, err := NewInternal(f.rt, o)
	if err != nil {
		t.Fatal(err)
	}
	up.Config.Handler = http.HandlerFunc(in.ServeUpstream)
	ep := httptest.NewServer(http.HandlerFunc(in.ServeRoute))
	t.Cleanup(ep.Close)
	return &internalFixture{fixture: f, in: in, endpoint: ep, upstream: up}
}

// ask calls the endpoint as nginx's auth_request does.
func (f *internalFixture) ask(host, uri string, hdr map[string]string) *http.Response {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.endpoint.URL+RoutePath+"?host="+host+"&uri="+uri, nil)
	resp := f.send(req, hdr)
	resp.Body.Close()
	return resp
}

// via sends a request to the internal upstream as nginx proxies it.
func (f *internalFixture) via(host, path, token string, hdr map[string]string) *http.Response {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.upstream.URL+path, nil)
	req.Host = host
	if token != "" {
		req.Header.Set(RouteHeader, token)
	}
	return f.send(req, hdr)
}

// noFollow is a client that returns redirects instead of following them.
var noFollow = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// send sends req as nginx would, from client 203.0.113.7, with hdr.
func (f *internalFixture) send(req *http.Request, hdr map[string]string) *http.Response {
	f.t.Helper()
	req.Header.Set("X-Real-IP", "203.0.113.7")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

func TestRouteEndpoint(t *testing.T) {
	f := newInternalFixture(t, InternalOptions{})
	alice := map[string]string{"Cookie": CookieName + "=" + f.login("ten_a", "alice", "u-alice")}
	bob := map[string]string{"Cookie": CookieName + "=" + f.login("ten_b", "bob", "u-bob")}

	resp := f.ask("alice.example.test", "/chat?x=1", alice)
	if resp.StatusCode != 200 || resp.Header.Get(UpstreamHeader) != f.upstream.Listener.Addr().String() ||
		!strings.HasPrefix(resp.Header.Get(RouteHeader), "p.") {
		t.Fatalf("owner: %d %v", resp.StatusCode, resp.Header)
	}
	cases := []struct {
		name, host, uri string
		hdr             map[string]string
		status          int
		reason          string
	}{
		{"no cookie", "alice.example.test", "/", nil, 401, "login_required"},
		{"bad cookie", "alice.example.test", "/", map[string]string{"Cookie": CookieName + "=nope"}, 401, "login_required"},
		{"other user", "alice.example.test", "/", bob, 403, "forbidden"},
		{"link to redeem", "alice.example.test", "/x?a=1&t=abc", alice, 401, "invalid_link"},
		{"unknown slug", "carol.example.test", "/", alice, 401, "unknown_gateway"},
		{"not a tenant host", "example.test", "/", alice, 401, "not_routed"},
	}
	for _, c := range cases {
		resp := f.ask(c.host, c.uri, c.hdr)
		if resp.StatusCode != c.status || resp.Header.Get(ReasonHeader) != c.reason || !strings.HasPrefix(resp.Header.Get(RouteHeader), "c.") {
			t.Errorf("%s: %d %q token %q, want %d %s and a cloud token", c.name, resp.StatusCode, resp.Header.Get(ReasonHeader), resp.Header.Get(RouteHeader), c.status, c.reason)
		}
	}
	f.routes.set(Route{TenantID: "ten_a", Slug: "alice", Owner: "u-alice", HostID: "dev_one", Port: 20000, Status: store.TenantStopped, Desired: store.TenantStopped, HostOnline: true})
	if resp := f.ask("alice.example.test", "/", alice); resp.StatusCode != 401 || resp.Header.Get(ReasonHeader) != "gateway_stopped" {
		t.Errorf("stopped: %d %q", resp.StatusCode, resp.Header.Get(ReasonHeader))
	}

	// Only allowed peers may ask.
	other := newInternalFixture(t, InternalOptions{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if resp := other.ask("alice.example.test", "/", nil); resp.StatusCode != 403 || resp.Header.Get(RouteHeader) != "" {
		t.Errorf("peer not allowed: %d, token %q", resp.StatusCode, resp.Header.Get(RouteHeader))
	}
	if resp := other.via("alice.example.test", "/", "", nil); resp.StatusCode != 403 {
		t.Errorf("upstream, peer not allowed: %d", resp.StatusCode)
	}
}

func TestInternalUpstream(t *testing.T) {
	f := newInternalFixture(t, InternalOptions{})
	alice := map[string]string{"Cookie": CookieName + "=" + f.login("ten_a", "alice", "u-alice")}
	tok := f.ask("alice.example.test", "/", alice).Header.Get(RouteHeader)

	resp := f.via("alice.example.test", "/api/x", tok, map[string]string{
		"Cookie": alice["Cookie"] + "; theirs=1", "X-Forwarded-User": "u-bob", "X-Forwarded-For": "1.2.3.4",
		"X-Forwarded-Proto": "https", "X-User-ID": "u-bob",
	})
	if resp.StatusCode != 200 {
		t.Fatalf("with a pass token: %d", resp.StatusCode)
	}
	got := decodeJSON(t, resp)
	for k, v := range map[string]any{"X-Forwarded-User": "u-alice", "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
		"host": "alice.example.test", "Cookie": "theirs=1"} {
		if got[k] != v {
			t.Errorf("gateway saw %s = %v, want %v", k, got[k], v)
		}
	}
	for _, k := range []string{RouteHeader, "X-Real-Ip", "X-User-Id"} {
		if v, ok := got[k]; ok {
			t.Errorf("gateway saw %s = %v", k, v)
		}
	}

	refused := map[string]func() *http.Response{
		"no token":     func() *http.Response { return f.via("alice.example.test", "/", "", alice) },
		"forged token": func() *http.Response { return f.via("alice.example.test", "/", tok[:len(tok)-2]+"AA", alice) },
		"other slug":   func() *http.Response { return f.via("bob.example.test", "/", tok, alice) },
		"other client": func() *http.Response {
			return f.via("alice.example.test", "/", tok, map[string]string{"X-Real-IP": "203.0.113.8"})
		},
		"no client": func() *http.Response {
			return f.via("alice.example.test", "/", tok, map[string]string{"X-Real-IP": ""})
		},
		"kind changed":      func() *http.Response { return f.via("alice.example.test", "/", "c"+tok[1:], alice) },
		"later expiry":      func() *http.Response { return f.via("alice.example.test", "/", laterExpiry(tok), alice) },
		"garbage":           func() *http.Response { return f.via("alice.example.test", "/", "p.1.x.y", alice) },
		"not a tenant host": func() *http.Response { return f.via("example.test", "/", tok, alice) },
	}
	for name, do := range refused {
		resp := do()
		if resp.StatusCode != 403 {
			t.Errorf("%s: %d, want 403", name, resp.StatusCode)
		} else if m := decodeJSON(t, resp); m["code"] != "route_token_required" {
			t.Errorf("%s: %v", name, m)
		}
	}

	// Expired: the same token a minute and a bit later.
	f.in.now = func() time.Time { return time.Now().Add(61 * time.Second) }
	if resp := f.via("alice.example.test", "/", tok, alice); resp.StatusCode != 403 {
		t.Errorf("expired token: %d", resp.StatusCode)
	}
	f.in.now = time.Now

	// The owner changed after nginx asked: the token no longer fits.
	f.routes.set(Route{TenantID: "ten_a", Slug: "alice", Owner: "u-new", HostID: "dev_one", Port: 20000, Status: store.TenantRunning, Desired: store.TenantRunning, HostOnline: true})
	if resp := f.via("alice.example.test", "/", tok, alice); resp.StatusCode != 403 {
		t.Errorf("owner changed: %d", resp.StatusCode)
	}
}

// laterExpiry moves a token's expiry by a second, keeping its MAC.
func laterExpiry(tok string) string {
	p := strings.Split(tok, ".")
	b := []byte(p[1])
	b[len(b)-1] = '0' + (b[len(b)-1]-'0'+1)%10
	return p[0] + "." + string(b) + "." + p[2]
}

func TestInternalUpstreamLetsTheRouterRedeem(t *testing.T) {
	f := newInternalFixture(t, InternalOptions{})
	link, _, err := f.rt.IssueAccess(t.Context(), "ten_a", "u-alice", "http://alice.example.test/", "/chat")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(link)
	resp := f.ask("alice.example.test", u.RequestURI(), nil)
	if resp.StatusCode != 401 {
		t.Fatalf("link: %d", resp.StatusCode)
	}
	tok := resp.Header.Get(RouteHeader)
	resp = f.via("alice.example.test", u.RequestURI(), tok, map[string]string{"X-Forwarded-Proto": "https"})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/chat" {
		t.Fatalf("redeem through the upstream: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == SecureCookieName {
			ck = c
		}
	}
	if ck == nil || !ck.Secure || !ck.HttpOnly {
		t.Fatalf("cookie %+v: want Secure (nginx said https) and HttpOnly", ck)
	}
	// A cloud token never proxies without a session: the router decides.
	resp = f.via("alice.example.test", "/", tok, nil)
	if resp.StatusCode != 401 {
		t.Fatalf("cloud token without cookie: %d", resp.StatusCode)
	}
	if m := decodeJSON(t, resp); m["code"] != "login_required" {
		t.Fatalf("cloud token without cookie: %v", m)
	}
	// With the cookie and a cloud token the router proxies itself, with the
	// client nginx named.
	resp = f.via("alice.example.test", "/", tok, map[string]string{"Cookie": CookieName + "=" + ck.Value})
	if resp.StatusCode != 200 {
		t.Fatalf("cloud token with cookie: %d", resp.StatusCode)
	}
	if m := decodeJSON(t, resp); m["X-Forwarded-For"] != "203.0.113.7" || m["X-Forwarded-User"] != "u-alice" {
		t.Fatalf("cloud token with cookie: %v", m)
	}
}

func TestRawURI(t *testing.T) {
	for _, c := range []struct {
		raw, uri string
		link     bool
	}{
		{"host=a.example.test&uri=/x?a=1&t=abc", "/x?a=1&t=abc", true},
		{"uri=/?t=abc&host=a.example.test", "/?t=abc&host=a.example.test", true},
		{"host=a.example.test&uri=/t=1", "/t=1", false},
		{"host=a.example.test&uri=/x?at=1", "/x?at=1", false},
		{"host=a.example.test", "", false},
	} {
		if got := rawURI(c.raw); got != c.uri || hasAccessParam(got) != c.link {
			t.Errorf("rawURI(%q) = %q (link %v), want %q (%v)", c.raw, got, hasAccessParam(got), c.uri, c.link)
		}
	}
}

// TestRouteTokenBeforeSignOut: a pass nginx got before a sign-out does not
// let its request through afterwards.
func TestRouteTokenBeforeSignOut(t *testing.T) {
	f := newInternalFixture(t, InternalOptions{})
	alice := CookieName + "=" + f.login("ten_a", "alice", "u-alice")
	tok := f.ask("alice.example.test", "/", map[string]string{"Cookie": alice}).Header.Get(RouteHeader)
	if resp := f.via("alice.example.test", "/", tok, nil); resp.StatusCode != 200 {
		t.Fatalf("pass before sign-out: %d", resp.StatusCode)
	}
	if _, err := f.rt.SignOut(t.Context(), "ten_a", "alice"); err != nil {
		t.Fatal(err)
	}
	if resp := f.via("alice.example.test", "/", tok, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("pass issued before the sign-out, used after: %d", resp.StatusCode)
	}
	// Bob is not affected.
	bob := CookieName + "=" + f.login("ten_b", "bob", "u-bob")
	btok := f.ask("bob.example.test", "/", map[string]string{"Cookie": bob}).Header.Get(RouteHeader)
	if resp := f.via("bob.example.test", "/", btok, nil); resp.StatusCode != 200 {
		t.Fatalf("bob's pass: %d", resp.StatusCode)
	}
}
