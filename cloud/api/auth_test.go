package api_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/login/logintest"
	"github.com/clawfleet/clawfleet/cloud/mail/mailtest"
	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/oauth2-proxy/mockoidc"
)

const password = "correct horse battery staple"

func wantStatus(t *testing.T, what string, r servertest.Response, status int, code string) {
	t.Helper()
	if r.Code != status {
		t.Fatalf("%s: %d %s, want %d %s", what, r.Code, r.Body, status, code)
	}
	if code != "" {
		if got := r.JSON(t)["code"]; got != code {
			t.Fatalf("%s: code %v (%s), want %s", what, got, r.Body, code)
		}
	}
}

// signUp makes a local account in a new browser, signed in.
func signUp(t *testing.T, c *servertest.Cloud, email string) (*servertest.Browser, map[string]any) {
	t.Helper()
	b := c.Browser()
	r := b.Do(http.MethodPost, "/auth/local/signup", map[string]any{"email": email, "password": password, "name": "Test " + email})
	wantStatus(t, "sign-up "+email, r, http.StatusCreated, "")
	return b, b.Me()
}

// adminLink is the link an admin hands out for a user, and its token.
func adminLink(t *testing.T, c *servertest.Cloud, userID, purpose string) string {
	t.Helper()
	r := c.Admin(http.MethodPost, "/api/admin/users/"+userID+"/links", map[string]any{"purpose": purpose})
	wantStatus(t, "issue link", r, http.StatusOK, "")
	u, err := url.Parse(r.JSON(t)["link"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

// TestLocalAccountHTTP: sign-up, /api/me, CSRF, sign-in, verification and
// reset by link, sessions, and the console user's tenant API.
func TestLocalAccountHTTP(t *testing.T) {
	t.Parallel()
	c := servertest.New(t)
	anon := c.Browser()
	wantStatus(t, "me without a session", anon.Do(http.MethodGet, "/api/me", nil), http.StatusUnauthorized, "not_signed_in")
	if r := anon.Do(http.MethodGet, "/auth/providers", nil); r.Code != http.StatusOK || r.JSON(t)["localAccounts"] != true {
		t.Fatalf("providers: %d %s", r.Code, r.Body)
	}

	// Sign-up signs in; the account has a personal team it owns.
	b, me := signUp(t, c, "Alice@Example.com")
	teams := me["teams"].([]any)
	if me["email"] != "alice@example.com" || me["emailVerified"] != false || len(teams) != 1 ||
		teams[0].(map[string]any)["role"] != "owner" || teams[0].(map[string]any)["id"] == "" || me["csrfToken"] == "" {
		t.Fatalf("me = %v", me)
	}
	if b.Cookie("clawfleet_session") == "" {
		t.Fatal("no session cookie on a plain-http localhost cloud")
	}
	wantStatus(t, "the same email again", c.Browser().Do(http.MethodPost, "/auth/local/signup", map[string]any{"email": "alice@example.com", "password": password}),
		http.StatusConflict, "email_taken")
	r := c.Browser().Do(http.MethodPost, "/auth/local/signup", map[string]any{"email": "short@example.com", "password": "short"})
	wantStatus(t, "a weak password", r, http.StatusBadRequest, "weak_password")
	if msg := r.JSON(t)["error"].(string); !strings.Contains(msg, "15") {
		t.Fatalf("the policy's message = %q, want what to change", msg)
	}

	// CSRF: a cookie-authenticated change without the proof is refused.
	csrf := b.CSRF
	b.CSRF = ""
	wantStatus(t, "sign-out without the CSRF token", b.Do(http.MethodPost, "/auth/signout", nil), http.StatusForbidden, "csrf_failed")
	b.CSRF = "forged"
	wantStatus(t, "sign-out with a wrong CSRF token", b.Do(http.MethodPost, "/auth/signout", nil), http.StatusForbidden, "csrf_failed")
	b.CSRF = csrf
	wantStatus(t, "from another origin", b.DoHeaders(http.MethodPost, "/api/me/sessions/revoke-all", map[string]string{"Origin": "http://evil.localhost"}, nil),
		http.StatusForbidden, "csrf_failed")
	wantStatus(t, "from a tenant's subdomain", b.DoHeaders(http.MethodPatch, "/api/me", map[string]string{"Sec-Fetch-Site": "same-site"}, map[string]any{"lang": "zh-CN"}),
		http.StatusForbidden, "csrf_failed")
	if r := b.Do(http.MethodPatch, "/api/me", map[string]any{"lang": "zh-CN"}); r.Code != http.StatusOK || r.JSON(t)["lang"] != "zh-CN" {
		t.Fatalf("set lang: %d %s", r.Code, r.Body)
	}
	// Errors in the user's language.
	r = b.DoHeaders(http.MethodPatch, "/api/me", map[string]string{"Accept-Language": "zh-CN,zh;q=0.9"}, map[string]any{"lang": "fr"})
	wantStatus(t, "a bad language", r, http.StatusBadRequest, "invalid_lang")
	if msg := r.JSON(t)["error"]; msg != "语言只能是 en 或 zh-CN。" {
		t.Fatalf("zh-CN error = %q", msg)
	}

	// The console user's own tenant, through the seed API with the cookie.
	ag := c.AddHost("box-1")
	defer ag.Close()
	b.CSRF = ""
	wantStatus(t, "create without CSRF", b.Do(http.MethodPost, "/api/tenants", map[string]any{"plan": "free", "name": "mine"}), http.StatusForbidden, "csrf_failed")
	b.CSRF = csrf
	if r := b.Do(http.MethodPost, "/api/tenants", map[string]any{"plan": "free", "name": "mine"}); r.Code != http.StatusCreated {
		t.Fatalf("a console user's create: %d %s", r.Code, r.Body)
	}
	if r := b.Do(http.MethodGet, "/api/tenants/me", nil); r.Code != http.StatusOK || r.JSON(t)["name"] != "mine" {
		t.Fatalf("the console user's tenant: %d %s", r.Code, r.Body)
	}
	// Its owner id is the user's id (the admin sees it).
	found := false
	for _, tn := range c.Admin(http.MethodGet, "/api/admin/tenants", nil).JSONList(t) {
		found = found || tn["ownerId"] == me["id"]
	}
	if !found {
		t.Fatalf("no tenant owned by %v", me["id"])
	}

	// Password sign-in: one error for a wrong password or account, in the
	// user's language; a new session each time.
	other := c.Browser()
	wantStatus(t, "a wrong password", other.Do(http.MethodPost, "/auth/local/signin", map[string]any{"email": "alice@example.com", "password": "not the password at all"}),
		http.StatusUnauthorized, "wrong_password")
	if n := c.Metric(`clawfleet_sign_ins_total{method="local",result="failed"}`); n != 1 {
		t.Fatalf("failed sign-ins counted: %v, want 1", n)
	}
	r = other.DoHeaders(http.MethodPost, "/auth/local/signin", map[string]string{"Accept-Language": "zh-CN"}, map[string]any{"email": "nobody@example.com", "password": password})
	wantStatus(t, "an unknown account", r, http.StatusUnauthorized, "wrong_password")
	if r.JSON(t)["error"] != "邮箱或密码不正确。" {
		t.Fatalf("zh-CN wrong password = %s", r.Body)
	}
	wantStatus(t, "a form post", other.DoHeaders(http.MethodPost, "/auth/local/signin", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "email=alice%40example.com&password=x"),
		http.StatusBadRequest, "invalid_content_type")
	wantStatus(t, "from another origin", other.DoHeaders(http.MethodPost, "/auth/local/signin", map[string]string{"Origin": "http://evil.example"}, map[string]any{"email": "alice@example.com", "password": password}),
		http.StatusForbidden, "csrf_failed")
	// Session fixation: a session value planted before the sign-in is not
	// the one after it.
	other.SetCookie("clawfleet_session", "cfs_planted-by-an-attacker")
	if r := other.Do(http.MethodPost, "/auth/local/signin", map[string]any{"email": "alice@example.com", "password": password}); r.Code != http.StatusOK {
		t.Fatalf("sign-in: %d %s", r.Code, r.Body)
	}
	first := other.Cookie("clawfleet_session")
	if first == "" || first == "cfs_planted-by-an-attacker" || other.Cookie("clawfleet_device") == "" {
		t.Fatalf("session cookie after sign-in = %q", first)
	}
	if r := other.Do(http.MethodPost, "/auth/local/signin", map[string]any{"email": "alice@example.com", "password": password}); r.Code != http.StatusOK {
		t.Fatalf("second sign-in: %d %s", r.Code, r.Body)
	}
	if second := other.Cookie("clawfleet_session"); second == first {
		t.Fatal("a second sign-in kept the session token")
	}
	stale := c.Browser()
	stale.SetCookie("clawfleet_session", first)
	wantStatus(t, "the session a sign-in replaced", stale.Do(http.MethodGet, "/api/me", nil), http.StatusUnauthorized, "not_signed_in")
	otherMe := other.Me()

	// Sessions: listed with the current one marked; sign out everywhere
	// ends the others.
	r = b.Do(http.MethodGet, "/api/me/sessions", nil)
	ss := r.JSON(t)["sessions"].([]any)
	if len(ss) != 2 {
		t.Fatalf("sessions = %s", r.Body)
	}
	current := 0
	for _, s := range ss {
		if s.(map[string]any)["current"] == true {
			current++
			if s.(map[string]any)["id"] != me["sessionId"] {
				t.Fatalf("the current session is %v, want %v", s, me["sessionId"])
			}
		}
	}
	if current != 1 {
		t.Fatalf("%d current sessions in %s", current, r.Body)
	}
	eve, _ := signUp(t, c, "eve@example.com")
	wantStatus(t, "ending another user's session", eve.Do(http.MethodDelete, "/api/me/sessions/"+otherMe["sessionId"].(string), nil), http.StatusNotFound, "no_session")
	if r := b.Do(http.MethodPost, "/api/me/sessions/revoke-all", nil); r.Code != http.StatusOK || r.JSON(t)["ended"] != float64(1) {
		t.Fatalf("revoke-all: %d %s", r.Code, r.Body)
	}
	wantStatus(t, "a session ended everywhere", other.Do(http.MethodGet, "/api/me", nil), http.StatusUnauthorized, "not_signed_in")
	b.Me()

	// Verification by the link an admin hands out (no SMTP here).
	tok := adminLink(t, c, me["id"].(string), "verify_email")
	if r := anon.Do(http.MethodPost, "/auth/local/verify", map[string]any{"token": tok}); r.Code != http.StatusOK || r.JSON(t)["emailVerified"] != true {
		t.Fatalf("verify: %d %s", r.Code, r.Body)
	}
	wantStatus(t, "a verification link twice", anon.Do(http.MethodPost, "/auth/local/verify", map[string]any{"token": tok}), http.StatusGone, "token_unknown")
	if b.Me()["emailVerified"] != true {
		t.Fatal("the email is not verified after the link")
	}

	// Reset: the same answer for any address; the link sets the password
	// and ends every session.
	for _, email := range []string{"alice@example.com", "nobody@example.com"} {
		wantStatus(t, "reset request "+email, anon.Do(http.MethodPost, "/auth/local/reset-request", map[string]any{"email": email}), http.StatusAccepted, "")
	}
	tok = adminLink(t, c, me["id"].(string), "reset_password")
	if r := anon.Do(http.MethodPost, "/auth/local/reset", map[string]any{"token": tok, "password": "another long passphrase"}); r.Code != http.StatusNoContent {
		t.Fatalf("reset: %d %s", r.Code, r.Body)
	}
	wantStatus(t, "a session after a reset", b.Do(http.MethodGet, "/api/me", nil), http.StatusUnauthorized, "not_signed_in")
	if r := b.Do(http.MethodPost, "/auth/local/signin", map[string]any{"email": "alice@example.com", "password": "another long passphrase"}); r.Code != http.StatusOK {
		t.Fatalf("sign-in with the new password: %d %s", r.Code, r.Body)
	}
	b.Me()

	// Sign out.
	if r := b.Do(http.MethodPost, "/auth/signout", nil); r.Code != http.StatusNoContent {
		t.Fatalf("sign-out: %d %s", r.Code, r.Body)
	}
	wantStatus(t, "me after signing out", b.Do(http.MethodGet, "/api/me", nil), http.StatusUnauthorized, "not_signed_in")

	// The admin lists the users.
	if us := c.Admin(http.MethodGet, "/api/admin/users", nil).JSON(t)["users"].([]any); len(us) != 2 {
		t.Fatalf("users = %v", us)
	}
}

// TestSignUpRateLimited: accounts from one address are bounded.
func TestSignUpRateLimited(t *testing.T) {
	t.Parallel()
	c := servertest.New(t)
	var last servertest.Response
	for i := range 6 {
		last = c.Browser().Do(http.MethodPost, "/auth/local/signup", map[string]any{"email": "u" + string(rune('a'+i)) + "@example.com", "password": "x"})
	}
	wantStatus(t, "the sixth sign-up at once", last, http.StatusTooManyRequests, "rate_limited")
	if last.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

// TestLocalAccountsOff: a cloud with a provider may switch them off; one
// without refuses to start so.
func TestLocalAccountsOff(t *testing.T) {
	t.Parallel()
	idp := logintest.NewOIDC(t)
	addr := servertest.FreeAddr(t)
	c := servertest.New(t, servertest.WithFlags("--http-addr", addr, "--public-url", "http://"+addr, "--local-accounts", "off"), servertest.WithEnv(oidcEnv(idp)))
	wantStatus(t, "sign-up", c.Browser().Do(http.MethodPost, "/auth/local/signup", map[string]any{"email": "a@example.com", "password": password}),
		http.StatusNotFound, "local_accounts_disabled")
	if r := c.Browser().Do(http.MethodGet, "/auth/providers", nil).JSON(t); r["localAccounts"] != false || len(r["providers"].([]any)) != 1 {
		t.Fatalf("providers = %v", r)
	}
}

func oidcEnv(idp *logintest.OIDC) map[string]string {
	cfg := idp.Config("oidc")
	return map[string]string{"CLAWFLEET_OIDC_ISSUER": cfg.Issuer, "CLAWFLEET_OIDC_CLIENT_ID": cfg.ClientID, "CLAWFLEET_OIDC_CLIENT_SECRET": cfg.ClientSecret}
}

// oidcCloud is a cloud whose public URL is known (the redirect URI) with
// the env's providers.
func providerCloud(t *testing.T, env map[string]string, opts ...servertest.Option) *servertest.Cloud {
	addr := servertest.FreeAddr(t)
	return servertest.New(t, append([]servertest.Option{servertest.WithFlags("--http-addr", addr, "--public-url", "http://"+addr), servertest.WithEnv(env)}, opts...)...)
}

// stopAtCallback makes b stop before the cloud's callback of provider.
func stopAtCallback(b *servertest.Browser, provider string) {
	b.Stop = func(u *url.URL) bool { return u.Path == "/auth/"+provider+"/callback" }
}

// startTo runs a sign-in in b up to the provider's redirect back and
// returns the callback URL.
func startTo(t *testing.T, b *servertest.Browser, provider, returnTo string) string {
	t.Helper()
	stopAtCallback(b, provider)
	defer func() { b.Stop = nil }()
	r := b.Do(http.MethodGet, "/auth/"+provider+"?return_to="+url.QueryEscape(returnTo), nil)
	loc := r.Header.Get("Location")
	if r.Code != http.StatusFound || !strings.Contains(loc, "/auth/"+provider+"/callback") {
		t.Fatalf("start %s: %d %s %s", provider, r.Code, loc, r.Body)
	}
	return loc
}

// TestOIDCSignInHTTP: a real authorization-code flow with mockoidc through
// the cloud's routes, and the attacks on it.
func TestOIDCSignInHTTP(t *testing.T) {
	t.Parallel()
	idp := logintest.NewOIDC(t)
	c := providerCloud(t, oidcEnv(idp))
	if ps := c.Browser().Do(http.MethodGet, "/auth/providers", nil).JSON(t)["providers"].([]any); len(ps) != 1 || ps[0].(map[string]any)["name"] != "oidc" {
		t.Fatalf("providers = %v", ps)
	}

	// The whole flow, landing on return_to.
	b := c.Browser()
	idp.QueueUser(&mockoidc.MockUser{Subject: "alice-7", Email: "alice@example.com", EmailVerified: true, PreferredUsername: "alice"})
	r := b.Do(http.MethodGet, "/auth/oidc?return_to="+url.QueryEscape("/?tab=mine"), nil)
	if r.Code != http.StatusOK || r.URL.Path != "/" || r.URL.RawQuery != "tab=mine" {
		t.Fatalf("sign-in landed on %v: %d", r.URL, r.Code)
	}
	me := b.Me()
	if me["email"] != "alice@example.com" || me["emailVerified"] != true || len(me["teams"].([]any)) != 1 {
		t.Fatalf("me = %v", me)
	}
	// Again: the same user, a new session.
	s1 := b.Cookie("clawfleet_session")
	idp.QueueUser(&mockoidc.MockUser{Subject: "alice-7", Email: "alice@example.com", EmailVerified: true})
	b.Do(http.MethodGet, "/auth/oidc", nil)
	if m := b.Me(); m["id"] != me["id"] || b.Cookie("clawfleet_session") == s1 {
		t.Fatalf("second sign-in: %v, session rotated %v", m["id"], b.Cookie("clawfleet_session") != s1)
	}
	stale := c.Browser()
	stale.SetCookie("clawfleet_session", s1)
	wantStatus(t, "the session before the sign-in", stale.Do(http.MethodGet, "/api/me", nil), http.StatusUnauthorized, "not_signed_in")
	if n := c.Metric(`clawfleet_sign_ins_total{method="oidc",result="ok"}`); n != 2 {
		t.Fatalf("sign-ins counted: %v, want 2", n)
	}

	t.Run("open redirect", func(t *testing.T) {
		for _, rt := range []string{"//evil.example", "https://evil.example/", "/\\evil.example", "/%2F%2Fevil.example"} {
			r := c.Browser().Do(http.MethodGet, "/auth/oidc?return_to="+url.QueryEscape(rt), nil)
			if r.Code != http.StatusBadRequest || !strings.Contains(r.Header.Get("Content-Type"), "text/html") || r.URL.Host != strings.TrimPrefix(c.URL, "http://") {
				t.Fatalf("return_to %q: %d at %v", rt, r.Code, r.URL)
			}
		}
	})
	t.Run("forged state, then the real callback", func(t *testing.T) {
		b := c.Browser()
		idp.QueueUser(&mockoidc.MockUser{Subject: "bob", Email: "bob@example.com"})
		cb := startTo(t, b, "oidc", "/")
		forged := strings.Replace(cb, "state=", "state=forged", 1)
		r := b.DoHeaders(http.MethodGet, forged, map[string]string{"Accept-Language": "zh-CN"}, nil)
		if r.Code != http.StatusBadRequest || !strings.Contains(string(r.Body), "这次登录不是在本浏览器中发起的") {
			t.Fatalf("forged state: %d %s", r.Code, r.Body)
		}
		stopAtCallback(b, "oidc")
		if r := b.Do(http.MethodGet, cb, nil); r.Code != http.StatusOK {
			t.Fatalf("the real callback after a forged one: %d %s", r.Code, r.Body)
		}
		b.Me()
	})
	t.Run("replayed callback", func(t *testing.T) {
		b := c.Browser()
		idp.QueueUser(&mockoidc.MockUser{Subject: "carol"})
		cb := startTo(t, b, "oidc", "/")
		flow := b.Cookie("clawfleet_flow")
		if r := b.Do(http.MethodGet, cb, nil); r.Code != http.StatusOK {
			t.Fatalf("callback: %d %s", r.Code, r.Body)
		}
		session := b.Cookie("clawfleet_session")
		// The same callback with the same flow cookie, in another browser.
		other := c.Browser()
		other.SetCookie("clawfleet_flow", flow)
		if r := other.Do(http.MethodGet, cb, nil); r.Code != http.StatusBadRequest || other.Cookie("clawfleet_session") != "" {
			t.Fatalf("replayed callback: %d %s", r.Code, r.Body)
		}
		if b.Cookie("clawfleet_session") != session {
			t.Fatal("the replay touched the first browser")
		}
	})
	t.Run("code reuse", func(t *testing.T) {
		b := c.Browser()
		idp.QueueUser(&mockoidc.MockUser{Subject: "dave"})
		cb := startTo(t, b, "oidc", "/")
		if r := b.Do(http.MethodGet, cb, nil); r.Code != http.StatusOK {
			t.Fatalf("callback: %d", r.Code)
		}
		// The used code with a fresh flow of the same browser.
		idp.QueueUser(&mockoidc.MockUser{Subject: "dave"})
		fresh, _ := url.Parse(startTo(t, b, "oidc", "/"))
		used, _ := url.Parse(cb)
		q := fresh.Query()
		q.Set("code", used.Query().Get("code"))
		fresh.RawQuery = q.Encode()
		stopAtCallback(b, "oidc")
		r := b.Do(http.MethodGet, fresh.String(), nil)
		if r.Code != http.StatusUnauthorized {
			t.Fatalf("a reused code: %d %s", r.Code, r.Body)
		}
	})
	t.Run("wrong nonce", func(t *testing.T) {
		b := c.Browser()
		idp.QueueUser(&mockoidc.MockUser{Subject: "erin"})
		idp.Tamper(func(claims map[string]any) { claims["nonce"] = "another-sign-in" }, nil)
		defer idp.Tamper(nil, nil)
		r := b.Do(http.MethodGet, "/auth/oidc", nil)
		if r.Code != http.StatusUnauthorized || b.Cookie("clawfleet_session") != "" {
			t.Fatalf("an ID token with another nonce: %d %s", r.Code, r.Body)
		}
	})
	t.Run("unverified email does not link, verified does", func(t *testing.T) {
		local, lme := signUp(t, c, "frank@example.com")
		_ = local
		verify := adminLink(t, c, lme["id"].(string), "verify_email")
		if r := c.Browser().Do(http.MethodPost, "/auth/local/verify", map[string]any{"token": verify}); r.Code != http.StatusOK {
			t.Fatalf("verify: %d %s", r.Code, r.Body)
		}
		b := c.Browser()
		idp.QueueUser(&mockoidc.MockUser{Subject: "frank-unverified", Email: "frank@example.com", EmailVerified: false})
		b.Do(http.MethodGet, "/auth/oidc", nil)
		if m := b.Me(); m["id"] == lme["id"] {
			t.Fatal("an unverified email linked to the local account")
		}
		b = c.Browser()
		idp.QueueUser(&mockoidc.MockUser{Subject: "frank-verified", Email: "frank@example.com", EmailVerified: true})
		b.Do(http.MethodGet, "/auth/oidc", nil)
		if m := b.Me(); m["id"] != lme["id"] {
			t.Fatalf("a verified email signed in as %v, want the local account %v", m["id"], lme["id"])
		}
	})
	t.Run("link and unlink", func(t *testing.T) {
		b, me := signUp(t, c, "grace@example.com")
		wantStatus(t, "link without CSRF", c.Browser().Do(http.MethodPost, "/api/me/identities", map[string]any{"provider": "oidc"}), http.StatusUnauthorized, "not_signed_in")
		r := b.Do(http.MethodPost, "/api/me/identities", map[string]any{"provider": "oidc", "returnTo": "/account"})
		if r.Code != http.StatusOK {
			t.Fatalf("link start: %d %s", r.Code, r.Body)
		}
		idp.QueueUser(&mockoidc.MockUser{Subject: "grace-sso", Email: "someone-else@example.com"})
		stopAtCallback(b, "oidc")
		cb := b.Do(http.MethodGet, r.JSON(t)["redirect"].(string), nil).Header.Get("Location")
		b.Stop = func(u *url.URL) bool { return u.Path == "/account" }
		if r := b.Do(http.MethodGet, cb, nil); r.Code != http.StatusFound || r.Header.Get("Location") != "/account" {
			t.Fatalf("link callback: %d %s", r.Code, r.Body)
		}
		b.Stop = nil
		if m := b.Me(); m["id"] != me["id"] {
			t.Fatal("linking changed the signed-in user")
		}
		ids := b.Do(http.MethodGet, "/api/me/identities", nil).JSON(t)["identities"].([]any)
		if len(ids) != 2 {
			t.Fatalf("identities = %v", ids)
		}
		// The linked identity signs in as this user.
		other := c.Browser()
		idp.QueueUser(&mockoidc.MockUser{Subject: "grace-sso"})
		other.Do(http.MethodGet, "/auth/oidc", nil)
		if m := other.Me(); m["id"] != me["id"] {
			t.Fatalf("the linked identity signs in as %v", m["id"])
		}
		// Another user cannot take it.
		hank, _ := signUp(t, c, "hank@example.com")
		r = hank.Do(http.MethodPost, "/api/me/identities", map[string]any{"provider": "oidc"})
		idp.QueueUser(&mockoidc.MockUser{Subject: "grace-sso"})
		if r := hank.Do(http.MethodGet, r.JSON(t)["redirect"].(string), nil); r.Code != http.StatusConflict {
			t.Fatalf("linking another user's identity: %d %s", r.Code, r.Body)
		}
		// Unlink, never the last.
		var local, sso string
		for _, i := range ids {
			m := i.(map[string]any)
			if m["provider"] == "local" {
				local = m["id"].(string)
			} else {
				sso = m["id"].(string)
			}
		}
		if r := b.Do(http.MethodDelete, "/api/me/identities/"+sso, nil); r.Code != http.StatusNoContent {
			t.Fatalf("unlink: %d %s", r.Code, r.Body)
		}
		wantStatus(t, "unlinking the last", b.Do(http.MethodDelete, "/api/me/identities/"+local, nil), http.StatusConflict, "last_identity")
	})
}

// TestGitHubAndWeChatSignInHTTP: the adaptors through the cloud's routes
// against servers answering like GitHub's and WeChat's.
func TestGitHubAndWeChatSignInHTTP(t *testing.T) {
	t.Parallel()
	gh, wx := logintest.NewGitHub(t), logintest.NewWeChat(t)
	c := providerCloud(t, map[string]string{
		"CLAWFLEET_GITHUB_CLIENT_ID": gh.ClientID, "CLAWFLEET_GITHUB_CLIENT_SECRET": gh.ClientSecret, "CLAWFLEET_GITHUB_URL": gh.URL,
		"CLAWFLEET_WECHAT_APP_ID": wx.AppID, "CLAWFLEET_WECHAT_APP_SECRET": wx.AppSecret,
		"CLAWFLEET_WECHAT_AUTH_URL": wx.URL + "/connect/qrconnect", "CLAWFLEET_WECHAT_API_URL": wx.URL,
	})
	gh.SetCallback(c.URL + "/auth/github/callback")

	b := c.Browser()
	if r := b.Do(http.MethodGet, "/auth/github", nil); r.Code != http.StatusOK {
		t.Fatalf("GitHub sign-in: %d %s", r.Code, r.Body)
	}
	if me := b.Me(); me["email"] != "octocat@github.com" || me["emailVerified"] != true || me["name"] != "The Octocat" {
		t.Fatalf("GitHub me = %v", me)
	}
	// A renamed login is the same user.
	gh.SignInAs(logintest.GitHubUser{ID: 583231, Login: "renamed", Emails: []logintest.GitHubEmail{{Email: "octocat@github.com", Primary: true, Verified: true}}})
	b2 := c.Browser()
	b2.Do(http.MethodGet, "/auth/github", nil)
	if b2.Me()["id"] != b.Me()["id"] {
		t.Fatal("a renamed GitHub login is another user")
	}

	w := c.Browser()
	if r := w.Do(http.MethodGet, "/auth/wechat", nil); r.Code != http.StatusOK {
		t.Fatalf("WeChat sign-in: %d %s", r.Code, r.Body)
	}
	if me := w.Me(); me["name"] != "微信用户" || me["email"] != "" {
		t.Fatalf("WeChat me = %v", me)
	}
	// WeChat's errcode, said in the user's language.
	w2 := c.Browser()
	cb := startTo(t, w2, "wechat", "/")
	wx.ExpireCodes()
	r := w2.DoHeaders(http.MethodGet, cb, map[string]string{"Accept-Language": "zh-CN"}, nil)
	if r.Code != http.StatusUnauthorized || !strings.Contains(string(r.Body), "授权码") || w2.Cookie("clawfleet_session") != "" {
		t.Fatalf("an expired WeChat code: %d %s", r.Code, r.Body)
	}
}

// TestWebAppUsersAreUsers: the web app's users (shared secret) become
// users with their owner id as identity; the seed API is unchanged.
func TestWebAppUsersAreUsers(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	ag := c.AddHost("box-1")
	defer ag.Close()
	for range 2 {
		if r := c.User(http.MethodGet, "/api/tenants/me", "webapp-user-1", nil); r.Code != http.StatusNotFound {
			t.Fatalf("no tenant yet: %d %s", r.Code, r.Body)
		}
	}
	if r := c.User(http.MethodPost, "/api/tenants", "webapp-user-1", map[string]any{"plan": "free", "name": "w"}); r.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Code, r.Body)
	}
	us := c.Admin(http.MethodGet, "/api/admin/users", nil).JSON(t)["users"].([]any)
	if len(us) != 1 || us[0].(map[string]any)["email"] != "webapp-user-1@example.com" || us[0].(map[string]any)["emailVerified"] != false {
		t.Fatalf("users = %v", us)
	}
	// A shared-secret call with a session cookie too is the web app's.
	b, _ := signUp(t, c, "ivy@example.com")
	_ = b
	hdr := servertest.UserHeaders("webapp-user-1")
	if r := c.Do(http.MethodGet, "/api/tenants/me", hdr, nil); r.Code != http.StatusOK || r.JSON(t)["name"] != "w" {
		t.Fatalf("the web app's tenant: %d %s", r.Code, r.Body)
	}
}

// TestLinkPages: the pages a mailed link opens do nothing on GET (a mail
// scanner's visit) and redeem the link by their form, from our origin.
func TestLinkPages(t *testing.T) {
	t.Parallel()
	c := servertest.New(t)
	b, me := signUp(t, c, "jo@example.com")
	tok := adminLink(t, c, me["id"].(string), "verify_email")
	page := c.Browser()
	for range 2 {
		r := page.DoHeaders(http.MethodGet, "/auth/local/verify?token="+url.QueryEscape(tok), map[string]string{"Accept-Language": "zh-CN"}, nil)
		if r.Code != http.StatusOK || !strings.Contains(string(r.Body), "确认邮箱地址") || !strings.Contains(string(r.Body), `value="`+tok+`"`) {
			t.Fatalf("verify page: %d %s", r.Code, r.Body)
		}
	}
	form := "token=" + url.QueryEscape(tok)
	formHdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if r := page.DoHeaders(http.MethodPost, "/auth/local/verify", formHdr, form); r.Code != http.StatusForbidden {
		t.Fatalf("a form without Origin: %d %s", r.Code, r.Body)
	}
	formHdr["Origin"] = c.URL
	if r := page.DoHeaders(http.MethodPost, "/auth/local/verify", formHdr, form); r.Code != http.StatusOK || !strings.Contains(string(r.Body), "confirmed") {
		t.Fatalf("the verify form: %d %s", r.Code, r.Body)
	}
	if b.Me()["emailVerified"] != true {
		t.Fatal("not verified by the page")
	}
	tok = adminLink(t, c, me["id"].(string), "reset_password")
	if r := page.Do(http.MethodGet, "/auth/local/reset?token="+url.QueryEscape(tok), nil); r.Code != http.StatusOK || !strings.Contains(string(r.Body), `name="password"`) {
		t.Fatalf("reset page: %d %s", r.Code, r.Body)
	}
	if r := page.DoHeaders(http.MethodPost, "/auth/local/reset", formHdr, "token="+url.QueryEscape(tok)+"&password=short"); r.Code != http.StatusBadRequest || !strings.Contains(string(r.Body), "15") {
		t.Fatalf("a weak password on the page: %d %s", r.Code, r.Body)
	}
	if r := page.DoHeaders(http.MethodPost, "/auth/local/reset", formHdr, "token="+url.QueryEscape(tok)+"&password="+url.QueryEscape("a long enough new passphrase")); r.Code != http.StatusOK || !strings.Contains(string(r.Body), "password is changed") {
		t.Fatalf("the reset form: %d %s", r.Code, r.Body)
	}
	if r := c.Browser().Do(http.MethodPost, "/auth/local/signin", map[string]any{"email": "jo@example.com", "password": "a long enough new passphrase"}); r.Code != http.StatusOK {
		t.Fatalf("sign-in with the reset password: %d %s", r.Code, r.Body)
	}
}

// TestSignUpMailsTheLink: with SMTP configured, sign-up mails the
// verification link (in the user's language) and the link verifies.
func TestSignUpMailsTheLink(t *testing.T) {
	t.Parallel()
	smtp := mailtest.NewServer(t, func(s *mailtest.Server) { s.StartTLS, s.User, s.Pass = false, "", "" })
	c := servertest.New(t, servertest.WithEnv(map[string]string{
		"CLAWFLEET_SMTP_HOST": "127.0.0.1", "CLAWFLEET_SMTP_PORT": strconv.Itoa(smtp.Port()), "CLAWFLEET_SMTP_TLS": "none",
		"CLAWFLEET_SMTP_FROM": "clawfleet <noreply@cloud.example.com>",
	}))
	b := c.Browser()
	r := b.DoHeaders(http.MethodPost, "/auth/local/signup", map[string]string{"Accept-Language": "zh-CN"}, map[string]any{"email": "kim@example.com", "password": password})
	wantStatus(t, "sign-up", r, http.StatusCreated, "")
	got := smtp.Wait(t)
	msg, body := mailtest.Decode(t, got.Data)
	if len(got.Rcpt) != 1 || got.Rcpt[0] != "kim@example.com" || !strings.Contains(msg.Header.Get("Subject"), "=?") {
		t.Fatalf("mail to %v, subject %q", got.Rcpt, msg.Header.Get("Subject"))
	}
	link := regexp.MustCompile(`http://\S+/auth/local/verify\?token=\S+`).FindString(body)
	u, err := url.Parse(link)
	if err != nil || link == "" {
		t.Fatalf("no verification link in the mail:\n%s", body)
	}
	if r := b.Do(http.MethodPost, "/auth/local/verify", map[string]any{"token": u.Query().Get("token")}); r.Code != http.StatusOK {
		t.Fatalf("verify with the mailed link: %d %s", r.Code, r.Body)
	}
	if b.Me()["emailVerified"] != true {
		t.Fatal("not verified by the mailed link")
	}
}

// TestSessionCookieAttributes: HttpOnly and SameSite=Lax always; Secure
// and the __Host- prefix unless the public URL is plain http to loopback.
func TestSessionCookieAttributes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, publicURL, cookie string
		secure                  bool
	}{
		{"plain http to localhost", "", "clawfleet_session", false},
		{"https public URL", "https://cloud.example.com", "__Host-clawfleet-session", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []servertest.Option
			if tc.publicURL != "" {
				opts = append(opts, servertest.WithFlags("--public-url", tc.publicURL))
			}
			c := servertest.New(t, opts...)
			r := c.Browser().Do(http.MethodPost, "/auth/local/signup", map[string]any{"email": "lee@example.com", "password": password})
			wantStatus(t, "sign-up", r, http.StatusCreated, "")
			var set string
			for _, h := range r.Header.Values("Set-Cookie") {
				if strings.HasPrefix(h, tc.cookie+"=") {
					set = h
				}
			}
			if set == "" {
				t.Fatalf("no %s cookie in %v", tc.cookie, r.Header.Values("Set-Cookie"))
			}
			for _, attr := range []string{"Path=/", "HttpOnly", "SameSite=Lax"} {
				if !strings.Contains(set, attr) {
					t.Errorf("%s lacks %s", set, attr)
				}
			}
			if strings.Contains(set, "Domain=") || strings.Contains(set, "; Secure") != tc.secure {
				t.Errorf("%s: Secure %v wanted, no Domain", set, tc.secure)
			}
		})
	}
}

// TestWebAppAndSSOSignInAreOneUser: the web app's user (X-User-ID, the
// SSO's subject) and the same person signing in to the console through
// that SSO's OIDC are one user.
func TestWebAppAndSSOSignInAreOneUser(t *testing.T) {
	t.Parallel()
	idp := logintest.NewOIDC(t)
	c := providerCloud(t, oidcEnv(idp), servertest.WithSharedSecret(),
		servertest.WithFlags("--sso-issuer", idp.Issuer(), "--sso-audience", idp.ClientID, "--sso-jwks-url", idp.JWKSEndpoint()))
	if r := c.User(http.MethodGet, "/api/tenants/me", "alice-7", nil); r.Code != http.StatusNotFound {
		t.Fatalf("the web app's call: %d %s", r.Code, r.Body)
	}
	us := c.Admin(http.MethodGet, "/api/admin/users", nil).JSON(t)["users"].([]any)
	if len(us) != 1 {
		t.Fatalf("users after the web app's call = %v", us)
	}
	b := c.Browser()
	idp.QueueUser(&mockoidc.MockUser{Subject: "alice-7", Email: "alice@example.com"})
	b.Do(http.MethodGet, "/auth/oidc", nil)
	if me := b.Me(); me["id"] != us[0].(map[string]any)["id"] {
		t.Fatalf("the SSO's sign-in is user %v, want the web app's %v", me["id"], us[0].(map[string]any)["id"])
	}
	if us := c.Admin(http.MethodGet, "/api/admin/users", nil).JSON(t)["users"].([]any); len(us) != 1 {
		t.Fatalf("users after the sign-in = %v", us)
	}
}
