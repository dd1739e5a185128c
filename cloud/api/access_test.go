package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/servertest"
)

// TestTenantAccessLink drives POST /api/tenants/me/access and the link it
// returns through the real cloud: the router answers on <slug>.localhost.
func TestTenantAccessLink(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	if r := c.User(http.MethodPost, "/api/tenants/me/access", "u1", nil); r.Code != http.StatusNotFound || r.JSON(t)["code"] != "no_tenant" {
		t.Fatalf("access without tenant: %d %s", r.Code, r.Body)
	}
	hostID, secret := c.Provision("box-1")
	ag := c.NewAgent(hostID, secret)
	defer ag.Close()
	for _, uid := range []string{"u1", "u2"} {
		if r := c.User(http.MethodPost, "/api/tenants", uid, map[string]any{"plan": "free", "name": "claw " + uid}); r.Code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", uid, r.Code, r.Body)
		}
	}

	for _, tc := range []struct {
		name string
		hdr  map[string]string
		body any
		code int
		err  string
	}{
		{"wrong secret", map[string]string{"X-Shared-Secret": "nope-nope-nope", "X-User-ID": "u1"}, nil, 401, "unauthorized"},
		{"foreign landing path", servertest.UserHeaders("u1"), map[string]any{"path": "//evil.example/"}, 400, "invalid_path"},
		{"unknown field", servertest.UserHeaders("u1"), map[string]any{"url": "/"}, 400, "invalid_json"},
	} {
		if r := c.Do(http.MethodPost, "/api/tenants/me/access", tc.hdr, tc.body); r.Code != tc.code || r.JSON(t)["code"] != tc.err {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.Code, r.Body, tc.code, tc.err)
		}
	}

	link := func(uid string, body any) *url.URL {
		t.Helper()
		r := c.User(http.MethodPost, "/api/tenants/me/access", uid, body)
		if r.Code != http.StatusCreated || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("access: %d %s", r.Code, r.Body)
		}
		m := r.JSON(t)
		u, err := url.Parse(m["url"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if exp, err := time.Parse(time.RFC3339, m["expiresAt"].(string)); err != nil || time.Until(exp) > 61*time.Second {
			t.Fatalf("expiresAt %v: want about a minute ahead", m["expiresAt"])
		}
		return u
	}
	// get sends a request to the cloud's listener with the link's Host.
	get := func(u *url.URL, cookie string) *http.Response {
		t.Helper()
		return routerGet(t, c, u, cookie)
	}

	u1 := link("u1", map[string]any{"path": "/chat"})
	_, port, _ := strings.Cut(c.App.HTTPAddr().String(), ":")
	if u1.Scheme != "http" || u1.Host != "claw-u1.localhost:"+port || u1.Path != "/chat" {
		t.Fatalf("link %v", u1)
	}
	resp := get(u1, "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/chat" {
		t.Fatalf("redeem: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie string
	for _, ck := range resp.Cookies() {
		if ck.Name == "clawfleet_session" && ck.HttpOnly {
			cookie = ck.Value
		}
	}
	if cookie == "" {
		t.Fatalf("no HttpOnly session cookie: %v", resp.Header["Set-Cookie"])
	}
	if r := get(u1, ""); r.StatusCode != http.StatusUnauthorized || len(r.Cookies()) != 0 {
		t.Fatalf("replayed link: %d", r.StatusCode)
	}
	// The tenant has not reported running (the fake agent never does): the
	// owner gets "starting", with Retry-After.
	home := &url.URL{Scheme: "http", Host: u1.Host, Path: "/"}
	if r := get(home, cookie); r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("owner on a pending tenant: %d", r.StatusCode)
	}
	// u1's cookie on u2's gateway, and u2's link on u1's gateway.
	other := &url.URL{Scheme: "http", Host: "claw-u2.localhost:" + port, Path: "/"}
	if r := get(other, cookie); r.StatusCode != http.StatusForbidden {
		t.Fatalf("u1's cookie on u2's gateway: %d, want 403", r.StatusCode)
	}
	u2 := link("u2", nil)
	u2.Host = u1.Host
	if r := get(u2, ""); r.StatusCode != http.StatusUnauthorized || len(r.Cookies()) != 0 {
		t.Fatalf("u2's link on u1's gateway: %d", r.StatusCode)
	}
	// An operator can open a tenant as its owner (support); it is audited.
	mine := c.User(http.MethodGet, "/api/tenants/me", "u1", nil).JSON(t)
	if r := c.Admin(http.MethodPost, "/api/admin/tenants/ten_nope/access", nil); r.Code != http.StatusNotFound {
		t.Fatalf("admin access to an unknown tenant: %d %s", r.Code, r.Body)
	}
	if r := c.Do(http.MethodPost, "/api/admin/tenants/"+mine["id"].(string)+"/access", servertest.UserHeaders("u1"), nil); r.Code != http.StatusUnauthorized {
		t.Fatalf("admin access with user headers: %d", r.Code)
	}
	r := c.Admin(http.MethodPost, "/api/admin/tenants/"+mine["id"].(string)+"/access", nil)
	if r.Code != http.StatusCreated {
		t.Fatalf("admin access: %d %s", r.Code, r.Body)
	}
	al, _ := url.Parse(r.JSON(t)["url"].(string))
	if resp := get(al, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin's link: %d", resp.StatusCode)
	}
	audit := c.Admin(http.MethodGet, "/api/admin/audit?limit=50", nil)
	if !strings.Contains(string(audit.Body), `"tenant.access"`) {
		t.Fatalf("no tenant.access audit event: %s", audit.Body)
	}
	// The operator's link takes the owner's optional landing path (one
	// handler serves both routes); only links for others are audited.
	r = c.Admin(http.MethodPost, "/api/admin/tenants/"+mine["id"].(string)+"/access", map[string]any{"path": "/chat"})
	if r.Code != http.StatusCreated {
		t.Fatalf("admin access with a path: %d %s", r.Code, r.Body)
	}
	al, _ = url.Parse(r.JSON(t)["url"].(string))
	if resp := get(al, ""); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/chat" {
		t.Fatalf("admin's link with a path: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	audit = c.Admin(http.MethodGet, "/api/admin/audit?limit=50", nil)
	if n := strings.Count(string(audit.Body), `"tenant.access"`); n != 2 {
		t.Fatalf("%d tenant.access audit events, want the admin's 2: %s", n, audit.Body)
	}

	// Sign out everywhere: the user's cookie (and an unused link) stop
	// working at once; u2's session is untouched; audited.
	pending := link("u1", nil)
	cookie2 := ""
	for _, ck := range get(link("u2", nil), "").Cookies() {
		cookie2 = ck.Value
	}
	if r := get(home, cookie); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("cookie before sign-out: %d", r.StatusCode)
	}
	if r := c.Do(http.MethodDelete, "/api/tenants/me/sessions", map[string]string{"X-Shared-Secret": "nope-nope-nope", "X-User-ID": "u1"}, nil); r.Code != 401 {
		t.Fatalf("sign-out with a wrong secret: %d", r.Code)
	}
	if r := get(home, cookie); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a refused sign-out ended the session: %d", r.StatusCode)
	}
	if r := c.User(http.MethodDelete, "/api/tenants/me/sessions", "u1", nil); r.Code != 200 || r.JSON(t)["tenantId"] != mine["id"] {
		t.Fatalf("sign-out: %d %s", r.Code, r.Body)
	}
	if r := get(home, cookie); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("cookie after sign-out: %d, want 401", r.StatusCode)
	}
	if r := get(pending, ""); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("link issued before sign-out: %d, want 401", r.StatusCode)
	}
	if r := get(other, cookie2); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("u2's session after u1 signed out: %d", r.StatusCode)
	}
	if r := c.Admin(http.MethodDelete, "/api/admin/tenants/ten_nope/sessions", nil); r.Code != 404 {
		t.Fatalf("admin sign-out of an unknown tenant: %d", r.Code)
	}
	u2id := c.User(http.MethodGet, "/api/tenants/me", "u2", nil).JSON(t)["id"].(string)
	if r := c.Admin(http.MethodDelete, "/api/admin/tenants/"+u2id+"/sessions", nil); r.Code != 200 {
		t.Fatalf("admin sign-out: %d %s", r.Code, r.Body)
	}
	if r := get(other, cookie2); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("u2's session after the admin signed them out: %d", r.StatusCode)
	}
	audit = c.Admin(http.MethodGet, "/api/admin/audit?limit=50", nil)
	if n := strings.Count(string(audit.Body), `"tenant.signout"`); n != 2 {
		t.Fatalf("%d tenant.signout audit events, want 2: %s", n, audit.Body)
	}
	cookie = ""
	for _, ck := range get(link("u1", nil), "").Cookies() {
		cookie = ck.Value
	}

	// Deleting the tenant ends the session.
	if r := c.User(http.MethodDelete, "/api/tenants/me", "u1", nil); r.Code != http.StatusAccepted && r.Code != http.StatusOK {
		t.Fatalf("delete: %d %s", r.Code, r.Body)
	}
	// At once: the router forgets the tenant's route and sessions.
	if r := get(home, cookie); r.StatusCode != http.StatusNotFound {
		t.Fatalf("the deleted tenant's route right after the delete: %d, want 404", r.StatusCode)
	}
}

// TestConsoleHostNeverRouted: the cloud's own public host under the tenant
// domain is never a tenant's, neither by slug nor by routing.
func TestConsoleHostNeverRouted(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret(), servertest.WithFlags("--public-url", "http://console.localhost"))
	hostID, secret := c.Provision("box-1")
	ag := c.NewAgent(hostID, secret)
	defer ag.Close()
	r := c.User(http.MethodPost, "/api/tenants", "u1", map[string]any{"plan": "free", "name": "Console"})
	if r.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Code, r.Body)
	}
	if slug := r.JSON(t)["slug"]; slug == "console" || !strings.HasPrefix(slug.(string), "console-") {
		t.Fatalf("a tenant named Console got slug %q", slug)
	}
	req, _ := http.NewRequest(http.MethodGet, c.URL+"/api/health", nil)
	req.Host = "console.localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the console host went to the router: %d", resp.StatusCode)
	}
}

// TestAccessLifetimes: the link and session lifetimes come from the
// cloud's settings.
func TestAccessLifetimes(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret(), servertest.WithFlags("--access-link-ttl", "2m", "--session-ttl", "30m"))
	hostID, secret := c.Provision("box-1")
	c.NewAgent(hostID, secret)
	if r := c.User(http.MethodPost, "/api/tenants", "u1", map[string]any{"plan": "free"}); r.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Code, r.Body)
	}
	r := c.User(http.MethodPost, "/api/tenants/me/access", "u1", nil)
	exp, err := time.Parse(time.RFC3339, fmt.Sprint(r.JSON(t)["expiresAt"]))
	if left := time.Until(exp); err != nil || left < 100*time.Second || left > 121*time.Second {
		t.Fatalf("link valid for %s, want 2m (%v)", left, err)
	}
	u, _ := url.Parse(r.JSON(t)["url"].(string))
	req, _ := http.NewRequest(http.MethodGet, c.URL+u.RequestURI(), nil)
	req.Host = u.Host
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var maxAge int
	for _, ck := range resp.Cookies() {
		maxAge = ck.MaxAge
	}
	if resp.StatusCode != http.StatusSeeOther || maxAge != 1800 {
		t.Fatalf("redeem: %d, cookie Max-Age %d, want 1800", resp.StatusCode, maxAge)
	}
}
