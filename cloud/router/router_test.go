package router

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/ratelimit"
	"github.com/clawfleet/clawfleet/cloud/sso"
	"github.com/clawfleet/clawfleet/cloud/sso/ssotest"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// routeTable is a Routes backed by a map the test edits.
type routeTable struct {
	mu sync.Mutex
	m  map[string]Route
}

func (t *routeTable) Route(_ context.Context, slug string) (Route, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.m[slug]
	if !ok {
		return Route{}, ErrUnknownTenant
	}
	return r, nil
}

func (t *routeTable) set(r Route) {
	t.mu.Lock()
	t.m[r.Slug] = r
	t.mu.Unlock()
}

// echo is the gateway side: it reports what it received, streams, and
// accepts a WebSocket-style upgrade whose bytes it echoes.
func echo(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/stream":
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // hold the response open until the client leaves
		return
	case "/hang":
		<-r.Context().Done() // a gateway behind a dead tunnel never answers
		return
	case "/ws":
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nX-Seen-User: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(sum[:]), r.Header.Get(proto.UserHeader))
		brw.Flush()
		io.Copy(conn, brw)
		return
	}
	h := map[string]any{"host": r.Host, "path": r.URL.RequestURI()}
	for k, v := range r.Header {
		h[k] = strings.Join(v, ",")
	}
	io.Copy(io.Discard, r.Body) // trailers arrive after the body
	for k, v := range r.Trailer {
		h["Trailer:"+k] = strings.Join(v, ",")
	}
	json.NewEncoder(w).Encode(h)
}

type fixture struct {
	t      *testing.T
	rt     *Router
	routes *routeTable
	st     *store.Store
	srv    *httptest.Server // the router
	up     *httptest.Server // the gateway
	dials  chan string
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, st: st, routes: &routeTable{m: map[string]Route{}}, dials: make(chan string, 100)}
	f.up = httptest.NewServer(http.HandlerFunc(echo))
	t.Cleanup(f.up.Close)
	o.Domain, o.Routes, o.Store = "example.test", f.routes, st
	if o.Dial == nil {
		o.Dial = func(ctx context.Context, hostID string, port int) (net.Conn, error) {
			select {
			case f.dials <- fmt.Sprintf("%s:%d", hostID, port):
			default:
			}
			if hostID == "dev_dead" {
				return nil, errors.New("no handshake with this host")
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", f.up.Listener.Addr().String())
		}
	}
	o.RouteCacheTTL = time.Nanosecond // tests change routes under the router
	f.rt, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.rt)
	t.Cleanup(f.srv.Close)
	f.routes.set(Route{TenantID: "ten_a", Slug: "alice", Owner: "u-alice", HostID: "dev_one", Port: 20000, Status: store.TenantRunning, Desired: store.TenantRunning, HostOnline: true})
	f.routes.set(Route{TenantID: "ten_b", Slug: "bob", Owner: "u-bob", HostID: "dev_two", Port: 20120, Status: store.TenantRunning, Desired: store.TenantRunning, HostOnline: true})
	return f
}

// do sends a request for host (a slug under the domain) to the router.
func (f *fixture) do(method, slug, path string, hdr map[string]string) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Host = slug + ".example.test"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

// login redeems a fresh link for user into tenant and returns the cookie.
func (f *fixture) login(tenantID, slug, user string) string {
	f.t.Helper()
	link, _, err := f.rt.IssueAccess(context.Background(), tenantID, user, "http://"+slug+".example.test/", "")
	if err != nil {
		f.t.Fatal(err)
	}
	u, _ := url.Parse(link)
	resp := f.do("GET", slug, u.RequestURI(), nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("redeem: %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == CookieName || c.Name == SecureCookieName {
			return c.Value
		}
	}
	f.t.Fatal("no session cookie set")
	return ""
}

func decodeJSON(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	m := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	return m
}

func TestMatch(t *testing.T) {
	f := newFixture(t, Options{Reserved: []string{"Console.Example.Test"}})
	for _, c := range []struct {
		host, slug string
		ok         bool
	}{
		{"alice.example.test", "alice", true},
		{"alice.example.test:8080", "alice", true},
		{"ALICE.Example.Test.", "alice", true},
		{"example.test", "", false},
		{"a.b.example.test", "", false},
		{"alice.example.test.evil.com", "", false},
		{"-bad.example.test", "", false},
		{"alice.otherexample.test", "", false},
		{"console.example.test", "", false}, // the cloud's own host
		{"console.example.test:443", "", false},
		{"CONSOLE.example.test.", "", false},
	} {
		slug, ok := f.rt.Match(c.host)
		if slug != c.slug || ok != c.ok {
			t.Errorf("Match(%q) = %q, %v; want %q, %v", c.host, slug, ok, c.slug, c.ok)
		}
	}
}

func TestAccessLinkAndSession(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()

	link, exp, err := f.rt.IssueAccess(ctx, "ten_a", "u-alice", "http://alice.example.test/", "/chat?x=1")
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(exp) > time.Minute+time.Second || time.Until(exp) < 50*time.Second {
		t.Errorf("link valid until %v, want about a minute", exp)
	}
	u, _ := url.Parse(link)
	if u.Host != "alice.example.test" || u.Path != "/chat" || u.Query().Get("x") != "1" || len(u.Query().Get(AccessParam)) < 40 {
		t.Fatalf("link %q", link)
	}

	// A link of another tenant is refused and not used up.
	blink, _, _ := f.rt.IssueAccess(ctx, "ten_b", "u-bob", "http://bob.example.test/", "")
	bu, _ := url.Parse(blink)
	resp := f.do("GET", "alice", bu.RequestURI(), map[string]string{"Accept": "text/html"})
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("foreign link: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	resp.Body.Close()

	resp = f.do("GET", "alice", u.RequestURI(), nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/chat?x=1" {
		t.Fatalf("redeem: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Domain != "" || ck.Path != "/" || ck.Secure {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Lax, host-only, not Secure over http", ck)
	}

	// Replay: refused, nothing set.
	resp = f.do("GET", "alice", u.RequestURI(), nil)
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("replayed link: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	if m := decodeJSON(t, resp); m["code"] != "invalid_link" {
		t.Fatalf("replayed link: %v", m)
	}

	// The foreign link still works where it belongs.
	resp = f.do("GET", "bob", bu.RequestURI(), nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob's own link: %d", resp.StatusCode)
	}

	// The cookie opens alice's gateway, not bob's.
	resp = f.do("GET", "alice", "/", map[string]string{"Cookie": CookieName + "=" + ck.Value})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("with cookie: %d", resp.StatusCode)
	}
	resp.Body.Close()
	resp = f.do("GET", "bob", "/", map[string]string{"Cookie": CookieName + "=" + ck.Value})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("alice's cookie on bob's gateway: %d, want 403", resp.StatusCode)
	}
	resp.Body.Close()

	// An expired link.
	short := newFixture(t, Options{AccessTTL: time.Millisecond})
	l2, _, _ := short.rt.IssueAccess(ctx, "ten_a", "u-alice", "http://alice.example.test/", "")
	time.Sleep(5 * time.Millisecond)
	u2, _ := url.Parse(l2)
	resp = short.do("GET", "alice", u2.RequestURI(), nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired link: %d", resp.StatusCode)
	}

	for _, bad := range []string{"//evil.com/", "https://evil.com/", "chat", "/a\r\nb", "/x#frag"} {
		if _, _, err := f.rt.IssueAccess(ctx, "ten_a", "u-alice", "http://alice.example.test/", bad); !errors.Is(err, ErrBadNext) {
			t.Errorf("landing path %q accepted: %v", bad, err)
		}
	}
}

func TestProxyHeaders(t *testing.T) {
	f := newFixture(t, Options{})
	ck := f.login("ten_a", "alice", "u-alice")
	resp := f.do("GET", "alice", "/api/x?q=1", map[string]string{
		"Cookie":            "theirs=1; " + CookieName + "=" + ck + "; other=2",
		"X-Forwarded-User":  "u-bob", // forged
		"X-Forwarded-For":   "203.0.113.9",
		"X-Forwarded-Host":  "evil.example",
		"Forwarded":         "for=1.2.3.4;host=evil",
		"X-Real-IP":         "1.2.3.4",
		"X-User-ID":         "u-bob",
		"X-Forwarded-Email": "bob@example.com",
		"Connection":        "keep-alive, X-Hop",
		"X-Hop":             "should not pass",
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := decodeJSON(t, resp)
	want := map[string]any{
		"X-Forwarded-User":  "u-alice",
		"X-Forwarded-For":   "192.0.2.1", // the client is on loopback
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "alice.example.test",
		"host":              "alice.example.test",
		"path":              "/api/x?q=1",
		"Cookie":            "theirs=1; other=2",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("gateway saw %s = %v, want %v", k, got[k], v)
		}
	}
	for _, k := range []string{"Forwarded", "X-Real-Ip", "X-User-Id", "X-Forwarded-Email", "X-Hop"} {
		if v, ok := got[k]; ok {
			t.Errorf("gateway saw %s = %v; it must be dropped", k, v)
		}
	}
	if d := <-f.dials; d != "dev_one:20000" {
		t.Errorf("dialled %q, want the tenant's host and port", d)
	}
}

// TestProxyHeadersTokenAuth: a gateway with its own token auth (an adopted
// container) gets none of the router's forwarded or user headers (OpenClaw
// refuses them from a proxy it does not trust), and still none of the
// client's, nor the router's cookie.
func TestProxyHeadersTokenAuth(t *testing.T) {
	f := newFixture(t, Options{})
	f.routes.set(Route{TenantID: "ten_a", Slug: "alice", Owner: "u-alice", HostID: "dev_one", Port: 20000, Status: store.TenantRunning, Desired: store.TenantRunning, HostOnline: true, TokenAuth: true})
	ck := f.login("ten_a", "alice", "u-alice")
	resp := f.do("GET", "alice", "/api/x", map[string]string{
		"Cookie":           "theirs=1; " + CookieName + "=" + ck,
		"X-Forwarded-User": "u-bob",
		"X-Forwarded-For":  "203.0.113.9",
		"Authorization":    "Bearer the-gateway-token",
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := decodeJSON(t, resp)
	for _, k := range []string{"X-Forwarded-User", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"} {
		if v, ok := got[k]; ok {
			t.Errorf("a token-auth gateway saw %s = %v", k, v)
		}
	}
	if got["Cookie"] != "theirs=1" || got["Authorization"] != "Bearer the-gateway-token" || got["host"] != "alice.example.test" {
		t.Errorf("a token-auth gateway saw cookie %v, authorization %v, host %v", got["Cookie"], got["Authorization"], got["host"])
	}
	// Nobody else gets in for it.
	if resp := f.do("GET", "alice", "/api/x", nil); resp.StatusCode == http.StatusOK {
		t.Fatalf("no session: %d", resp.StatusCode)
	}
}

func TestProxyRefusals(t *testing.T) {
	f := newFixture(t, Options{})
	alice := f.login("ten_a", "alice", "u-alice")
	cookie := map[string]string{"Cookie": CookieName + "=" + alice}
	base := Route{TenantID: "ten_a", Slug: "alice", Owner: "u-alice", HostID: "dev_one", Port: 20000, Status: store.TenantRunning, Desired: store.TenantRunning, HostOnline: true}
	cases := []struct {
		name   string
		slug   string
		route  func(r Route) Route
		hdr    map[string]string
		status int
		code   string
		retry  bool
	}{
		{"no cookie", "alice", nil, nil, 401, "login_required", false},
		{"wrong cookie", "alice", nil, map[string]string{"Cookie": CookieName + "=nope"}, 401, "login_required", false},
		{"unknown tenant", "carol", nil, cookie, 404, "unknown_gateway", false},
		{"stopped", "alice", func(r Route) Route { r.Desired, r.Status = store.TenantStopped, store.TenantStopped; return r }, cookie, 503, "gateway_stopped", true},
		{"starting", "alice", func(r Route) Route { r.Status = store.TenantStarting; return r }, cookie, 503, "gateway_starting", true},
		{"failed", "alice", func(r Route) Route { r.Status = store.TenantFailed; return r }, cookie, 503, "gateway_failed", true},
		{"host offline", "alice", func(r Route) Route { r.HostOnline = false; return r }, cookie, 503, "host_offline", true},
		{"tunnel broken", "alice", func(r Route) Route { r.HostID = "dev_dead"; return r }, cookie, 502, "gateway_unreachable", true},
		{"owner changed", "alice", func(r Route) Route { r.Owner = "u-new"; return r }, cookie, 403, "forbidden", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := base
			if c.route != nil {
				r = c.route(r)
			}
			f.routes.set(r)
			defer f.routes.set(base)
			resp := f.do("GET", c.slug, "/", c.hdr)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			if (resp.Header.Get("Retry-After") != "") != c.retry {
				t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
			if m := decodeJSON(t, resp); m["code"] != c.code {
				t.Errorf("code %v, want %s", m["code"], c.code)
			}
		})
	}

	// A failed gateway's owner is told why, in JSON and on the page
	// (escaped); anyone else learns nothing of it.
	why := "crash loop: gateway exited with code 3 (12 restarts); <b>restart</b> the tenant"
	f.routes.set(Route{TenantID: "ten_a", Slug: "alice", Owner: "u-alice", HostID: "dev_one", Port: 20000, Status: store.TenantFailed, Desired: store.TenantRunning, HostOnline: true, LastError: why})
	if m := decodeJSON(t, f.do("GET", "alice", "/", cookie)); m["code"] != "gateway_failed" || m["reason"] != why {
		t.Fatalf("failed gateway, owner, JSON: %v", m)
	}
	for lang, label := range map[string]string{"en": "Reason: ", "zh-CN": "原因："} {
		resp := f.do("GET", "alice", "/", map[string]string{"Cookie": CookieName + "=" + alice, "Accept": "text/html", "Accept-Language": lang})
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := label + "crash loop: gateway exited with code 3 (12 restarts); &lt;b&gt;restart&lt;/b&gt; the tenant"; !strings.Contains(string(body), want) {
			t.Fatalf("failed gateway page (%s) lacks %q: %s", lang, want, body)
		}
	}
	if m := decodeJSON(t, f.do("GET", "alice", "/", nil)); m["code"] != "login_required" || m["reason"] != nil {
		t.Fatalf("failed gateway, no session: %v", m)
	}

	// Browsers get the branded page, in Chinese when they prefer it.
	f.routes.set(Route{TenantID: "ten_a", Slug: "alice", Owner: "u-alice", HostID: "dev_one", Port: 20000, Status: store.TenantRunning, Desired: store.TenantRunning})
	resp := f.do("GET", "alice", "/", map[string]string{"Cookie": CookieName + "=" + alice, "Accept": "text/html", "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), "网关主机离线") || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(body), `http-equiv="refresh"`) {
		t.Fatalf("branded page: %d %s", resp.StatusCode, body)
	}
}

func TestFailedGuessesAreRateLimited(t *testing.T) {
	f := newFixture(t, Options{AuthFailRate: 0.001})
	alice := f.login("ten_a", "alice", "u-alice")
	bob := f.login("ten_b", "bob", "u-bob")
	// Alice has used her session before the guessing starts.
	resp := f.do("GET", "alice", "/", map[string]string{"Cookie": CookieName + "=" + alice})
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("alice before the guesses: %d", resp.StatusCode)
	}
	for i := range 10 {
		resp := f.do("GET", "alice", "/", map[string]string{"Cookie": CookieName + "=guess" + fmt.Sprint(i)})
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	for _, c := range []struct {
		name, cookie string
		want         int
	}{
		{"another guess", "guess-more", http.StatusTooManyRequests},
		// A session never seen from here is a guess like any other.
		{"bob's never-seen session", bob, http.StatusTooManyRequests},
		// The owner's known session still works: guessing from the same
		// address (a NAT, a front proxy) cannot lock her out.
		{"alice's known session", alice, http.StatusOK},
	} {
		resp := f.do("GET", "bob", "/", map[string]string{"Cookie": CookieName + "=" + c.cookie})
		if c.name == "alice's known session" {
			resp.Body.Close()
			resp = f.do("GET", "alice", "/", map[string]string{"Cookie": CookieName + "=" + c.cookie})
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s after 10 failed guesses: %d, want %d", c.name, resp.StatusCode, c.want)
		}
		if c.want == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: 429 without Retry-After", c.name)
		}
	}
}

func TestRedeemStaysOnHost(t *testing.T) {
	f := newFixture(t, Options{})
	for _, c := range []struct{ path, want string }{
		{"//evil.example/", "/evil.example/"},
		{"/%2F%2Fevil.example/x", "/%2F%2Fevil.example/x"},
		{"/a%2Fb/c", "/a%2Fb/c"},
		{"/chat", "/chat"},
	} {
		link, _, err := f.rt.IssueAccess(context.Background(), "ten_a", "u-alice", "http://alice.example.test/", "")
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(link)
		resp := f.do("GET", "alice", c.path+"?"+u.RawQuery, nil)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || loc != c.want {
			t.Errorf("redeem on %q: %d to %q, want %q", c.path, resp.StatusCode, loc, c.want)
		}
		if lu, err := url.Parse(loc); err != nil || lu.Host != "" {
			t.Errorf("redeem on %q leaves the host: %q", c.path, loc)
		}
	}
	for _, bad := range []string{"/%2Fevil.example/x", "/\\evil.example", "/\\/evil.example"} {
		if _, _, err := f.rt.IssueAccess(context.Background(), "ten_a", "u-alice", "http://alice.example.test/", bad); !errors.Is(err, ErrBadNext) {
			t.Errorf("landing path %q accepted: %v", bad, err)
		}
	}
}

func TestGatewayOwnTParameterPasses(t *testing.T) {
	f := newFixture(t, Options{})
	ck := f.login("ten_a", "alice", "u-alice")
	resp := f.do("GET", "alice", "/x?t=1732600000", map[string]string{"Cookie": CookieName + "=" + ck})
	got := decodeJSON(t, resp)
	if resp.StatusCode != http.StatusOK || got["path"] != "/x?t=1732600000" {
		t.Fatalf("a cache-buster t: %d %v", resp.StatusCode, got)
	}
}

func TestCrossSiteWritesRefused(t *testing.T) {
	f := newFixture(t, Options{})
	ck := CookieName + "=" + f.login("ten_a", "alice", "u-alice")
	for _, c := range []struct {
		name, method string
		hdr          map[string]string
		want         int
	}{
		{"same-origin POST", "POST", map[string]string{"Origin": "http://alice.example.test", "Sec-Fetch-Site": "same-origin"}, 200},
		{"POST without browser headers (API client)", "POST", nil, 200},
		{"POST from bob's subdomain", "POST", map[string]string{"Origin": "http://bob.example.test", "Sec-Fetch-Site": "same-site"}, 403},
		{"DELETE from another site", "DELETE", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"POST with a foreign Origin only", "POST", map[string]string{"Origin": "http://evil.example"}, 403},
		{"GET from bob's subdomain (navigation)", "GET", map[string]string{"Sec-Fetch-Site": "same-site"}, 200},
	} {
		hdr := map[string]string{"Cookie": ck}
		for k, v := range c.hdr {
			hdr[k] = v
		}
		resp := f.do(c.method, "alice", "/", hdr)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}
}

func TestGatewayCookiesStayHostOnly(t *testing.T) {
	resp := &http.Response{Header: http.Header{"Set-Cookie": {
		"a=1; Domain=example.test; Path=/; HttpOnly",
		"b=2; domain=.example.test",
		"c=3; Path=/; Secure",
	}}}
	if err := hostOnlyCookies(resp); err != nil {
		t.Fatal(err)
	}
	want := []string{"a=1; Path=/; HttpOnly", "b=2", "c=3; Path=/; Secure"}
	got := resp.Header.Values("Set-Cookie")
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("Set-Cookie = %q, want %q", got, want)
	}
}

func TestSecureOnlyHostCookie(t *testing.T) {
	f := newFixture(t, Options{Secure: true})
	ck := f.login("ten_a", "alice", "u-alice")
	for _, c := range []struct {
		cookie string
		want   int
	}{
		{SecureCookieName + "=" + ck, 200},
		// Under HTTPS the plain name could have been planted: it does not count.
		{CookieName + "=" + ck, 401},
	} {
		resp := f.do("GET", "alice", "/", map[string]string{"Cookie": c.cookie})
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("Cookie %.30s…: %d, want %d", c.cookie, resp.StatusCode, c.want)
		}
	}
}

func TestWebSocketAndStreaming(t *testing.T) {
	f := newFixture(t, Options{})
	ck := f.login("ten_a", "alice", "u-alice")

	conn, br, resp := wsUpgrade(t, f.srv.Listener.Addr().String(), ck, "X-Forwarded-User: u-bob")
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-Websocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade: %d %v", resp.StatusCode, resp.Header)
	}
	if u := resp.Header.Get("X-Seen-User"); u != "u-alice" {
		t.Fatalf("the gateway saw user %q on the upgrade, want u-alice", u)
	}
	for _, msg := range []string{"hello", "你好, gateway"} {
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q: %q %v", msg, buf, err)
		}
	}

	// A response the gateway holds open arrives as it is written.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/stream", nil)
	req.Host = "alice.example.test"
	req.Header.Set("Cookie", CookieName+"="+ck)
	sresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	line, err := bufio.NewReader(sresp.Body).ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event %q, %v", line, err)
	}
}

// wsUpgrade opens a WebSocket to alice's /ws through the router at addr
// with session cookie ck (and extra header lines): the connection (for 10
// s), its reader and the handshake's answer.
func wsUpgrade(t *testing.T, addr, ck string, headers ...string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	extra := ""
	for _, h := range headers {
		extra += h + "\r\n"
	}
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: alice.example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%sCookie: %s=%s\r\n\r\n", extra, CookieName, ck)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, br, resp
}

func TestPrefersChinese(t *testing.T) {
	for _, c := range []struct {
		al   string
		want bool
	}{
		{"", false},
		{"zh-CN", true},
		{"zh-CN,zh;q=0.9,en;q=0.8", true},
		{"en-US,en;q=0.9,zh-CN;q=0.8", false},
		{"en;q=0.5,zh;q=0.6", true},
		{"fr", false},
	} {
		if got := PrefersChinese(c.al); got != c.want {
			t.Errorf("PrefersChinese(%q) = %v", c.al, got)
		}
	}
}

func TestDropHostFailsRequestsInFlight(t *testing.T) {
	f := newFixture(t, Options{})
	ck := f.login("ten_a", "alice", "u-alice")
	for len(f.dials) > 0 {
		<-f.dials
	}
	done := make(chan *http.Response, 1)
	go func() { done <- f.do("GET", "alice", "/hang", map[string]string{"Cookie": CookieName + "=" + ck}) }()
	select {
	case <-f.dials:
	case <-time.After(5 * time.Second):
		t.Fatal("the router never dialled the gateway")
	}
	time.Sleep(50 * time.Millisecond) // the request is written and waits for headers
	if n := f.rt.DropHost("dev_two"); n != 0 {
		t.Fatalf("DropHost of another host closed %d connections", n)
	}
	select {
	case <-done:
		t.Fatal("the request ended before its host was dropped")
	case <-time.After(100 * time.Millisecond):
	}
	if n := f.rt.DropHost("dev_one"); n != 1 {
		t.Fatalf("DropHost closed %d connections, want 1", n)
	}
	select {
	case resp := <-done:
		if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("request on a dropped host: %d", resp.StatusCode)
		}
		resp.Body.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the request still waits after its host was dropped")
	}
}

// TestPlantedCookieDoesNotHideTheOwnSession: a page on another subdomain can
// set a clawfleet_session cookie for the parent domain; the browser then
// sends both, and the user's own session must still count.
func TestPlantedCookieDoesNotHideTheOwnSession(t *testing.T) {
	f := newFixture(t, Options{})
	alice := f.login("ten_a", "alice", "u-alice")
	bob := f.login("ten_b", "bob", "u-bob")
	for _, cookie := range []string{
		CookieName + "=" + bob + "; " + CookieName + "=" + alice,
		CookieName + "=planted-garbage; " + SecureCookieName + "=" + alice,
	} {
		resp := f.do("GET", "alice", "/", map[string]string{"Cookie": cookie})
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("Cookie %q: %d, want the owner's session to count", cookie, resp.StatusCode)
		}
	}
	resp := f.do("GET", "alice", "/", map[string]string{"Cookie": CookieName + "=" + bob})
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("only bob's session on alice's gateway: %d", resp.StatusCode)
	}
}

func TestBearerTokens(t *testing.T) {
	p := ssotest.Start(t)
	v, err := sso.New(sso.Config{Issuer: ssotest.Issuer, Audience: ssotest.Audience, JWKSURL: p.JWKSURL()})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Options{Tokens: v, AuthFailRate: 0.001})
	alice := p.Token(t, "u-alice", "", time.Minute)
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	// The owner's token passes; the gateway hears who it is from the router
	// and never sees the token.
	resp := f.do("GET", "alice", "/api/x", map[string]string{"Authorization": "bearer " + alice, "X-Forwarded-User": "u-bob"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("owner's token: %d", resp.StatusCode)
	}
	seen := decodeJSON(t, resp)
	if seen[proto.UserHeader] != "u-alice" || seen["Authorization"] != nil {
		t.Fatalf("gateway saw user %v, authorization %v", seen[proto.UserHeader], seen["Authorization"])
	}
	// Another tenant's owner: 403 and nothing from the gateway.
	resp = f.do("GET", "bob", "/api/x", bearer(alice))
	if m := decodeJSON(t, resp); resp.StatusCode != http.StatusForbidden || m["code"] != "forbidden" {
		t.Fatalf("token on another tenant: %d %v", resp.StatusCode, m)
	}
	// A valid cookie does not rescue a bad token: the client chose the token.
	cookie := f.login("ten_a", "alice", "u-alice")
	if resp := f.do("GET", "alice", "/", map[string]string{"Cookie": CookieName + "=" + cookie}); resp.StatusCode != 200 {
		t.Fatalf("cookie: %d", resp.StatusCode)
	}
	resp = f.do("GET", "alice", "/", map[string]string{"Authorization": "Bearer " + p.Forged(t, "u-alice"), "Cookie": CookieName + "=" + cookie})
	if m := decodeJSON(t, resp); resp.StatusCode != http.StatusUnauthorized || m["code"] != "invalid_token" ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Fatalf("forged token with a good cookie: %d %v", resp.StatusCode, m)
	}
	for name, tok := range map[string]string{
		"expired":        p.Token(t, "u-alice", "", -5*time.Minute),
		"other audience": p.ForAudience(t, "u-alice", "someone-else"),
	} {
		resp := f.do("GET", "alice", "/", bearer(tok))
		if m := decodeJSON(t, resp); resp.StatusCode != http.StatusUnauthorized || m["code"] != "invalid_token" {
			t.Errorf("%s: %d %v", name, resp.StatusCode, m)
		}
	}
	// Refusals are rate limited per address (burst 10) ...
	limited := false
	for range 20 {
		resp := f.do("GET", "alice", "/", bearer("x.y.z"))
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("bad bearer tokens were not rate limited")
	}
	// A valid token from that address still passes (signed tokens cannot be
	// guessed; only failures are limited).
	if resp := f.do("GET", "alice", "/", bearer(alice)); resp.StatusCode != http.StatusOK {
		t.Fatalf("valid token after others' failures: %d", resp.StatusCode)
	}
	// A bearer line after another Authorization line counts too, and
	// neither reaches the gateway.
	req, _ := http.NewRequest("GET", f.srv.URL+"/", nil)
	req.Host = "alice.example.test"
	req.Header.Add("Authorization", "Basic Zm9vOmJhcg==")
	req.Header.Add("Authorization", "Bearer "+alice)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("second Authorization line: %v %v", resp, err)
	} else if m := decodeJSON(t, resp); m["Authorization"] != nil {
		t.Fatalf("gateway saw Authorization %v", m["Authorization"])
	}
	// ... and a known cookie still works from that address.
	resp = f.do("GET", "alice", "/", map[string]string{"Cookie": CookieName + "=" + cookie})
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cookie after guesses: %d", resp.StatusCode)
	}

	// Without SSO configured the header is the gateway's business.
	plain := newFixture(t, Options{})
	c2 := plain.login("ten_a", "alice", "u-alice")
	resp = plain.do("GET", "alice", "/", map[string]string{"Authorization": "Bearer gateway-own", "Cookie": CookieName + "=" + c2})
	if m := decodeJSON(t, resp); resp.StatusCode != 200 || m["Authorization"] != "Bearer gateway-own" {
		t.Fatalf("without SSO: %d %v", resp.StatusCode, m)
	}
}

// TestSignOut: ending a tenant's sessions closes the WebSockets open into
// its gateway at once and leaves other tenants alone.
func TestSignOut(t *testing.T) {
	f := newFixture(t, Options{})
	alice, bob := f.login("ten_a", "alice", "u-alice"), f.login("ten_b", "bob", "u-bob")
	upgrade := func(slug, cookie string) (net.Conn, *bufio.Reader) {
		t.Helper()
		conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s.example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: %s=%s\r\n\r\n", slug, CookieName, cookie)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade on %s: %v %v", slug, resp, err)
		}
		return conn, br
	}
	echoes := func(conn net.Conn, br *bufio.Reader) bool {
		if _, err := conn.Write([]byte("ping")); err != nil {
			return false
		}
		buf := make([]byte, 4)
		_, err := io.ReadFull(br, buf)
		return err == nil && string(buf) == "ping"
	}
	wsA, brA := upgrade("alice", alice)
	wsB, brB := upgrade("bob", bob)
	if !echoes(wsA, brA) || !echoes(wsB, brB) {
		t.Fatal("no echo before sign-out")
	}
	pending, _, err := f.rt.IssueAccess(t.Context(), "ten_a", "u-alice", "http://alice.example.test/", "")
	if err != nil {
		t.Fatal(err)
	}

	n, err := f.rt.SignOut(t.Context(), "ten_a", "alice")
	if err != nil || n < 1 {
		t.Fatalf("sign-out closed %d connections: %v", n, err)
	}
	if echoes(wsA, brA) {
		t.Fatal("alice's WebSocket still open after sign-out")
	}
	if !echoes(wsB, brB) {
		t.Fatal("bob's WebSocket closed by alice's sign-out")
	}
	for name, hdr := range map[string]map[string]string{"cookie": {"Cookie": CookieName + "=" + alice}} {
		if resp := f.do("GET", "alice", "/", hdr); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s after sign-out: %d", name, resp.StatusCode)
		}
	}
	u, _ := url.Parse(pending)
	if resp := f.do("GET", "alice", u.RequestURI(), nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("link issued before sign-out: %d", resp.StatusCode)
	}
	if resp := f.do("GET", "bob", "/", map[string]string{"Cookie": CookieName + "=" + bob}); resp.StatusCode != 200 {
		t.Fatalf("bob after alice's sign-out: %d", resp.StatusCode)
	}
	// A fresh sign-in works again.
	again := f.login("ten_a", "alice", "u-alice")
	if resp := f.do("GET", "alice", "/", map[string]string{"Cookie": CookieName + "=" + again}); resp.StatusCode != 200 {
		t.Fatalf("sign-in after sign-out: %d", resp.StatusCode)
	}
}

// TestTrustedFrontProxyClient: behind a trusted front proxy the gateway is
// told the client the proxy names; otherwise a client's X-Forwarded-For is
// replaced.
func TestTrustedFrontProxyClient(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"trusted", Options{Clients: ratelimit.Clients{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}, "203.0.113.5"},
		{"not trusted", Options{}, "192.0.2.1"}, // a loopback client is attributed to LocalClientAddr
	} {
		f := newFixture(t, tc.o)
		cookie := f.login("ten_a", "alice", "u-alice")
		resp := f.do("GET", "alice", "/", map[string]string{"Cookie": CookieName + "=" + cookie, "X-Forwarded-For": "1.2.3.4, 203.0.113.5"})
		if m := decodeJSON(t, resp); resp.StatusCode != 200 || m["X-Forwarded-For"] != tc.want {
			t.Errorf("%s: gateway saw X-Forwarded-For %v, want %s", tc.name, m["X-Forwarded-For"], tc.want)
		}
	}
}

// TestSignOutRace: a request authorized just before a sign-out does not
// get a connection to the gateway after it.
func TestSignOutRace(t *testing.T) {
	var f *fixture
	var once sync.Once
	f = newFixture(t, Options{Dial: func(ctx context.Context, hostID string, port int) (net.Conn, error) {
		// The sign-out lands while this request, already authorized, dials.
		once.Do(func() {
			if _, err := f.rt.SignOut(context.Background(), "ten_a", "alice"); err != nil {
				t.Error(err)
			}
		})
		var d net.Dialer
		return d.DialContext(ctx, "tcp", f.up.Listener.Addr().String())
	}})
	cookie := f.login("ten_a", "alice", "u-alice")
	resp := f.do("GET", "alice", "/", map[string]string{"Cookie": CookieName + "=" + cookie})
	if m := decodeJSON(t, resp); resp.StatusCode != http.StatusUnauthorized || m["code"] != "login_required" {
		t.Fatalf("request racing a sign-out: %d %v", resp.StatusCode, m)
	}
	f.rt.mu.Lock()
	open := len(f.rt.conns["dev_one"])
	f.rt.mu.Unlock()
	if open != 0 {
		t.Fatalf("%d connections to the gateway left open", open)
	}
	// A fresh sign-in works.
	again := f.login("ten_a", "alice", "u-alice")
	if resp := f.do("GET", "alice", "/", map[string]string{"Cookie": CookieName + "=" + again}); resp.StatusCode != 200 {
		t.Fatalf("after the race: %d", resp.StatusCode)
	}
}

// clientHeaders are headers a client sends with a request for its gateway,
// and whether the gateway may see them as sent: identity and forwarding
// headers of other proxies (which a gateway or a plugin might trust), the
// gateway's own scope header, names with underscores (which some servers
// read as hyphens) and any other X-* are dropped; the standard headers of a
// browser app pass.
var clientHeaders = []clientHeader{
	{"X-Authenticated-User", "u-bob", false},
	{"X-WEBAUTH-USER", "u-bob", false},
	{"True-Client-IP", "1.2.3.4", false},
	{"CF-Connecting-IP", "1.2.3.4", false},
	{"X-Client-IP", "1.2.3.4", false},
	{"X-Forwarded-Server", "evil.example", false},
	{"X-Forwarded-Uri", "/admin", false},
	{"X-Original-URL", "/admin", false},
	{"X-Rewrite-URL", "/admin", false},
	{"X-Real-IP", "1.2.3.4", false},
	{"X-Forwarded-Email", "bob@example.com", false},
	{"X-Forwarded-Groups", "admins", false},
	{"X-Forwarded-Port", "443", false},
	{"X-Remote-User", "u-bob", false},
	{"Remote-User", "u-bob", false},
	{"X-User-ID", "u-bob", false},
	{"X-Shared-Secret", "guess-guess-guess", false},
	{"X-OpenClaw-Scopes", "operator.admin", false},
	{"X-OpenClaw-Token", "guess", false},
	{"X-Clawfleet-Route", "p.1.forged", false},
	{"X-Forwarded_User", "u-bob", false},
	{"X-Anything", "1", false},
	{"Client-IP", "1.2.3.4", false},
	{"Via", "1.1 evil", false},
	{"Accept", "application/json", true},
	{"Accept-Language", "zh-CN,zh;q=0.9", true},
	{"User-Agent", "Mozilla/5.0 test", true},
	{"Referer", "http://alice.example.test/chat", true},
	{"Cache-Control", "no-cache", true},
	{"If-None-Match", `"abc"`, true},
	{"Sec-Fetch-Site", "same-origin", true},
	{"Sec-Ch-Ua-Platform", `"Linux"`, true},
	{"X-Requested-With", "XMLHttpRequest", true},
	{"Authorization", "Basic dTpw", true}, // the gateway's own credential (SSO tokens are off here)
}

type clientHeader struct {
	name, value string
	pass        bool
}

// checkClientHeaders reports what the gateway saw of clientHeaders.
func checkClientHeaders(t *testing.T, how string, got map[string]any) {
	t.Helper()
	for _, c := range clientHeaders {
		v, ok := got[textproto.CanonicalMIMEHeaderKey(c.name)]
		switch {
		case c.pass && v != c.value:
			t.Errorf("%s: gateway saw %s = %v, want %q", how, c.name, v, c.value)
		case !c.pass && ok:
			t.Errorf("%s: gateway saw %s = %v; it must be dropped", how, c.name, v)
		}
	}
	for k := range got {
		sent := slices.ContainsFunc(clientHeaders, func(c clientHeader) bool { return c.pass && textproto.CanonicalMIMEHeaderKey(c.name) == k })
		set := slices.Contains([]string{"host", "path", "Accept-Encoding", "Cookie", "X-Forwarded-User", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"}, k)
		if !sent && !set {
			t.Errorf("%s: gateway saw %s = %v, which nobody allowed", how, k, got[k])
		}
	}
}

// TestGatewayReceivesOnlyAllowedHeaders: what a gateway receives is decided
// by an allow-list, so headers nobody thought of cannot claim an identity.
func TestGatewayReceivesOnlyAllowedHeaders(t *testing.T) {
	f := newFixture(t, Options{})
	ck := f.login("ten_a", "alice", "u-alice")
	hdr := map[string]string{"Cookie": CookieName + "=" + ck + "; theirs=1"}
	for _, c := range clientHeaders {
		hdr[c.name] = c.value
	}
	resp := f.do("GET", "alice", "/api/x", hdr)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := decodeJSON(t, resp)
	checkClientHeaders(t, "router", got)
	if got["X-Forwarded-User"] != "u-alice" || got["Cookie"] != "theirs=1" {
		t.Errorf("gateway saw user %v, cookie %v", got["X-Forwarded-User"], got["Cookie"])
	}

	// Request trailers are headers too: none reach the gateway.
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "POST /api/x HTTP/1.1\r\nHost: alice.example.test\r\nCookie: %s=%s\r\nTransfer-Encoding: chunked\r\n"+
		"Trailer: X-Forwarded-User, X-OpenClaw-Scopes\r\n\r\n2\r\nhi\r\n0\r\nX-Forwarded-User: u-bob\r\nX-OpenClaw-Scopes: operator.admin\r\n\r\n", CookieName, ck)
	tresp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	got = decodeJSON(t, tresp)
	for k, v := range got {
		if strings.HasPrefix(k, "Trailer") {
			t.Errorf("gateway saw %s = %v", k, v)
		}
	}
	if got["X-Forwarded-User"] != "u-alice" {
		t.Errorf("gateway saw user %v", got["X-Forwarded-User"])
	}
}
