package api_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestTenantAccessLink drives POST /api/tenants/me/access and the link it
// returns through the real cloud: the router answers on <slug>.localhost.
func TestTenantAccessLink(t *testing.T) {
	t.Parallel()
	c := startTenantCloud(t, t.TempDir(), "--shared-secret", tenantSecret)
	if r := c.user(http.MethodPost, "/api/tenants/me/access", "u1", nil); r.code != http.StatusNotFound || r.json(t)["code"] != "no_tenant" {
		t.Fatalf("access without tenant: %d %s", r.code, r.body)
	}
	hostID, secret := c.provision("box-1")
	ag := newFakeAgent(t, c, hostID, secret)
	defer ag.close()
	for _, uid := range []string{"u1", "u2"} {
		if r := c.user(http.MethodPost, "/api/tenants", uid, map[string]any{"plan": "free", "name": "claw " + uid}); r.code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", uid, r.code, r.body)
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
		{"foreign landing path", userHdr("u1"), map[string]any{"path": "//evil.example/"}, 400, "invalid_path"},
		{"unknown field", userHdr("u1"), map[string]any{"url": "/"}, 400, "invalid_json"},
	} {
		if r := c.do(http.MethodPost, "/api/tenants/me/access", tc.hdr, tc.body); r.code != tc.code || r.json(t)["code"] != tc.err {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.code, r.body, tc.code, tc.err)
		}
	}

	link := func(uid string, body any) *url.URL {
		t.Helper()
		r := c.user(http.MethodPost, "/api/tenants/me/access", uid, body)
		if r.code != http.StatusCreated || r.hdr.Get("Cache-Control") != "no-store" {
			t.Fatalf("access: %d %s", r.code, r.body)
		}
		m := r.json(t)
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
		req, _ := http.NewRequest(http.MethodGet, c.base+u.RequestURI(), nil)
		req.Host = u.Host
		if cookie != "" {
			req.Header.Set("Cookie", "clawfleet_session="+cookie)
		}
		cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	u1 := link("u1", map[string]any{"path": "/chat"})
	_, port, _ := strings.Cut(c.a.HTTPAddr().String(), ":")
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
	mine := c.user(http.MethodGet, "/api/tenants/me", "u1", nil).json(t)
	if r := c.admin(http.MethodPost, "/api/admin/tenants/ten_nope/access", nil); r.code != http.StatusNotFound {
		t.Fatalf("admin access to an unknown tenant: %d %s", r.code, r.body)
	}
	if r := c.do(http.MethodPost, "/api/admin/tenants/"+mine["id"].(string)+"/access", userHdr("u1"), nil); r.code != http.StatusUnauthorized {
		t.Fatalf("admin access with user headers: %d", r.code)
	}
	r := c.admin(http.MethodPost, "/api/admin/tenants/"+mine["id"].(string)+"/access", nil)
	if r.code != http.StatusCreated {
		t.Fatalf("admin access: %d %s", r.code, r.body)
	}
	al, _ := url.Parse(r.json(t)["url"].(string))
	if resp := get(al, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin's link: %d", resp.StatusCode)
	}
	audit := c.admin(http.MethodGet, "/api/admin/audit?limit=50", nil)
	if !strings.Contains(string(audit.body), `"tenant.access"`) {
		t.Fatalf("no tenant.access audit event: %s", audit.body)
	}
	// The operator's link takes the owner's optional landing path (one
	// handler serves both routes); only links for others are audited.
	r = c.admin(http.MethodPost, "/api/admin/tenants/"+mine["id"].(string)+"/access", map[string]any{"path": "/chat"})
	if r.code != http.StatusCreated {
		t.Fatalf("admin access with a path: %d %s", r.code, r.body)
	}
	al, _ = url.Parse(r.json(t)["url"].(string))
	if resp := get(al, ""); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/chat" {
		t.Fatalf("admin's link with a path: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	audit = c.admin(http.MethodGet, "/api/admin/audit?limit=50", nil)
	if n := strings.Count(string(audit.body), `"tenant.access"`); n != 2 {
		t.Fatalf("%d tenant.access audit events, want the admin's 2: %s", n, audit.body)
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
	if r := c.do(http.MethodDelete, "/api/tenants/me/sessions", map[string]string{"X-Shared-Secret": "nope-nope-nope", "X-User-ID": "u1"}, nil); r.code != 401 {
		t.Fatalf("sign-out with a wrong secret: %d", r.code)
	}
	if r := get(home, cookie); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a refused sign-out ended the session: %d", r.StatusCode)
	}
	if r := c.user(http.MethodDelete, "/api/tenants/me/sessions", "u1", nil); r.code != 200 || r.json(t)["tenantId"] != mine["id"] {
		t.Fatalf("sign-out: %d %s", r.code, r.body)
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
	if r := c.admin(http.MethodDelete, "/api/admin/tenants/ten_nope/sessions", nil); r.code != 404 {
		t.Fatalf("admin sign-out of an unknown tenant: %d", r.code)
	}
	u2id := c.user(http.MethodGet, "/api/tenants/me", "u2", nil).json(t)["id"].(string)
	if r := c.admin(http.MethodDelete, "/api/admin/tenants/"+u2id+"/sessions", nil); r.code != 200 {
		t.Fatalf("admin sign-out: %d %s", r.code, r.body)
	}
	if r := get(other, cookie2); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("u2's session after the admin signed them out: %d", r.StatusCode)
	}
	audit = c.admin(http.MethodGet, "/api/admin/audit?limit=50", nil)
	if n := strings.Count(string(audit.body), `"tenant.signout"`); n != 2 {
		t.Fatalf("%d tenant.signout audit events, want 2: %s", n, audit.body)
	}
	cookie = ""
	for _, ck := range get(link("u1", nil), "").Cookies() {
		cookie = ck.Value
	}

	// Deleting the tenant ends the session.
	if r := c.user(http.MethodDelete, "/api/tenants/me", "u1", nil); r.code != http.StatusAccepted && r.code != http.StatusOK {
		t.Fatalf("delete: %d %s", r.code, r.body)
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
	c := startTenantCloud(t, t.TempDir(), "--shared-secret", tenantSecret, "--public-url", "http://console.localhost")
	hostID, secret := c.provision("box-1")
	ag := newFakeAgent(t, c, hostID, secret)
	defer ag.close()
	r := c.user(http.MethodPost, "/api/tenants", "u1", map[string]any{"plan": "free", "name": "Console"})
	if r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	if slug := r.json(t)["slug"]; slug == "console" || !strings.HasPrefix(slug.(string), "console-") {
		t.Fatalf("a tenant named Console got slug %q", slug)
	}
	req, _ := http.NewRequest(http.MethodGet, c.base+"/api/health", nil)
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
	c := startTenantCloud(t, t.TempDir(), "--shared-secret", tenantSecret, "--access-link-ttl", "2m", "--session-ttl", "30m")
	hostID, secret := c.provision("box-1")
	newFakeAgent(t, c, hostID, secret)
	if r := c.user(http.MethodPost, "/api/tenants", "u1", map[string]any{"plan": "free"}); r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	r := c.user(http.MethodPost, "/api/tenants/me/access", "u1", nil)
	exp, err := time.Parse(time.RFC3339, fmt.Sprint(r.json(t)["expiresAt"]))
	if left := time.Until(exp); err != nil || left < 100*time.Second || left > 121*time.Second {
		t.Fatalf("link valid for %s, want 2m (%v)", left, err)
	}
	u, _ := url.Parse(r.json(t)["url"].(string))
	req, _ := http.NewRequest(http.MethodGet, c.base+u.RequestURI(), nil)
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
