package login_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/clawfleet/clawfleet/cloud/login"
	"github.com/clawfleet/clawfleet/cloud/login/logintest"
)

// newOIDCCloud is a cloud whose providers are the given mockoidc servers,
// configured as the operator would (login.Config), named by names.
func newOIDCCloud(t *testing.T, names []string, idps ...*logintest.OIDC) *cloud {
	return newCloud(t, func(pub string) []login.Provider {
		cfg := login.Config{PublicURL: pub}
		for i, idp := range idps {
			cfg.OIDC = append(cfg.OIDC, idp.Config(names[i]))
		}
		return providersOf(t, cfg)
	})
}

func TestOIDCSignIn(t *testing.T) {
	idp := logintest.NewOIDC(t)
	c := newOIDCCloud(t, []string{"oidc"}, idp)

	// What goes to the provider: code flow, PKCE S256, state, nonce, our callback.
	authURL, _, err := c.signIn.Start(context.Background(), "oidc", "/")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	q := u.Query()
	for k, want := range map[string]string{"response_type": "code", "code_challenge_method": "S256", "client_id": idp.ClientID,
		"redirect_uri": c.srv.URL + "/auth/oidc/callback", "scope": "openid email profile"} {
		if q.Get(k) != want {
			t.Errorf("authorization URL %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if len(q.Get("code_challenge")) != 43 || len(q.Get("state")) != 43 || len(q.Get("nonce")) != 43 {
		t.Errorf("authorization URL lacks a 256-bit state, nonce or S256 challenge: %s", authURL)
	}

	idp.QueueUser(&mockoidc.MockUser{Subject: "alice-7", Email: "alice@example.com", EmailVerified: true, PreferredUsername: "alice"})
	r := c.signInOK(t, "oidc", "/console/teams?tab=1")
	want := login.Identity{Provider: "oidc", Issuer: idp.Issuer(), Subject: "alice-7", Email: "alice@example.com", EmailVerified: true, Name: "alice"}
	if r.Identity != want || r.ReturnTo != "/console/teams?tab=1" {
		t.Fatalf("signed in as %+v, landing on %q; want %+v on /console/teams?tab=1", r.Identity, r.ReturnTo, want)
	}
}

func TestOIDCEmailVerified(t *testing.T) {
	idp := logintest.NewOIDC(t)
	c := newOIDCCloud(t, []string{"oidc"}, idp)
	for _, tc := range []struct {
		name     string
		user     mockoidc.MockUser
		tamper   func(map[string]any)
		email    string
		verified bool
	}{
		{name: "verified", user: mockoidc.MockUser{Subject: "s1", Email: "a@example.com", EmailVerified: true}, email: "a@example.com", verified: true},
		{name: "unverified", user: mockoidc.MockUser{Subject: "s2", Email: "b@example.com"}, email: "b@example.com"},
		{name: "verified as a string", user: mockoidc.MockUser{Subject: "s3", Email: "c@example.com"},
			tamper: func(m map[string]any) { m["email_verified"] = "true" }, email: "c@example.com", verified: true},
		{name: "unverified as a string", user: mockoidc.MockUser{Subject: "s4", Email: "d@example.com", EmailVerified: true},
			tamper: func(m map[string]any) { m["email_verified"] = "false" }, email: "d@example.com"},
		// No email in the ID token: userinfo has it, without email_verified.
		{name: "from userinfo, unverified", user: mockoidc.MockUser{Subject: "s5", Email: "e@example.com", EmailVerified: true},
			tamper: func(m map[string]any) { delete(m, "email"); delete(m, "email_verified") }, email: "e@example.com"},
		{name: "verified without an email", user: mockoidc.MockUser{Subject: "s6", EmailVerified: true},
			tamper: func(m map[string]any) { m["email_verified"] = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idp.QueueUser(&tc.user)
			idp.Tamper(tc.tamper, nil)
			defer idp.Tamper(nil, nil)
			id := c.signInOK(t, "oidc", "/").Identity
			if id.Subject != tc.user.Subject || id.Email != tc.email || id.EmailVerified != tc.verified {
				t.Fatalf("identity %+v; want subject %s, email %q verified %v", id, tc.user.Subject, tc.email, tc.verified)
			}
			if e, ok := id.VerifiedEmail(); ok != tc.verified || (ok && e != tc.email) {
				t.Fatalf("VerifiedEmail() = %q, %v", e, ok)
			}
		})
	}
}

func TestOIDCAttacks(t *testing.T) {
	idp := logintest.NewOIDC(t)
	c := newOIDCCloud(t, []string{"oidc"}, idp)
	ctx := context.Background()

	t.Run("wrong nonce", func(t *testing.T) {
		authURL, value, err := c.signIn.Start(ctx, "oidc", "/")
		if err != nil {
			t.Fatal(err)
		}
		u := withQuery(mustURL(authURL), func(q url.Values) { q.Set("nonce", "a-nonce-of-another-sign-in") })
		cb := logintest.Follow(t, u.String())
		_, _, err = c.signIn.Finish(ctx, "oidc", value, cb.Query())
		if !errors.Is(err, login.ErrTokenInvalid) {
			t.Fatalf("ID token with another nonce: %v, want ErrTokenInvalid", err)
		}
	})
	t.Run("mix-up: callback names another issuer", func(t *testing.T) {
		b := c.browser(t)
		cb := c.start(t, b, "oidc", "/")
		status, r := c.callback(t, b, withQuery(cb, func(q url.Values) { q.Set("iss", "https://evil.example") }))
		wantCode(t, "iss of another provider", status, r, 400, "sign_in_invalid")
	})
	t.Run("open redirect", func(t *testing.T) {
		resp, err := c.browser(t).Get(c.srv.URL + "/auth/oidc?return_to=" + url.QueryEscape("//evil.example/"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("return_to //evil.example: %d, want 400", resp.StatusCode)
		}
	})
	t.Run("unknown provider", func(t *testing.T) {
		resp, err := c.browser(t).Get(c.srv.URL + "/auth/nope")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("/auth/nope: %d, want 404", resp.StatusCode)
		}
	})

	// ID tokens that are not what the provider would sign for us.
	for _, tc := range []struct {
		name   string
		tamper func(map[string]any)
		key    bool // signed by a key the provider does not publish
	}{
		{name: "signed by another key", tamper: func(map[string]any) {}, key: true},
		{name: "wrong audience", tamper: func(m map[string]any) { m["aud"] = "another-client" }},
		{name: "several audiences, no azp", tamper: func(m map[string]any) { m["aud"] = []any{m["aud"].([]any)[0], "another-client"} }},
		{name: "issued to another party", tamper: func(m map[string]any) { m["azp"] = "another-client" }},
		{name: "wrong issuer", tamper: func(m map[string]any) { m["iss"] = "https://evil.example/oidc" }},
		{name: "expired", tamper: func(m map[string]any) { m["exp"] = time.Now().Add(-time.Hour).Unix() }},
		{name: "no nonce", tamper: func(m map[string]any) { delete(m, "nonce") }},
		{name: "no subject", tamper: func(m map[string]any) { m["sub"] = "" }},
	} {
		t.Run("token "+tc.name, func(t *testing.T) {
			if tc.key {
				idp.Tamper(tc.tamper, logintest.OtherKey(t))
			} else {
				idp.Tamper(tc.tamper, nil)
			}
			defer idp.Tamper(nil, nil)
			b := c.browser(t)
			status, r := c.callback(t, b, c.start(t, b, "oidc", "/"))
			wantCode(t, tc.name, status, r, 401, "sign_in_token_invalid")
		})
	}
	// Several audiences are fine when the token says it was issued to us.
	idp.Tamper(func(m map[string]any) {
		m["azp"] = idp.ClientID
		m["aud"] = []any{idp.ClientID, "another-client"}
	}, nil)
	c.signInOK(t, "oidc", "/")
	// And the same provider, untampered, still signs in.
	idp.Tamper(nil, nil)
	c.signInOK(t, "oidc", "/")
}

func TestOIDCSeveralProviders(t *testing.T) {
	a, b := logintest.NewOIDC(t), logintest.NewOIDC(t)
	c := newOIDCCloud(t, []string{"oidc", "corp"}, a, b)
	if got := c.signIn.Providers(); len(got) != 2 || got[0].Name != "oidc" || got[1].Name != "corp" || got[1].DisplayName != "Test corp" {
		t.Fatalf("providers %+v", got)
	}
	a.QueueUser(&mockoidc.MockUser{Subject: "same-sub"})
	b.QueueUser(&mockoidc.MockUser{Subject: "same-sub"})
	ia, ib := c.signInOK(t, "oidc", "/").Identity, c.signInOK(t, "corp", "/").Identity
	if ia.Provider != "oidc" || ib.Provider != "corp" || ia.Issuer == ib.Issuer {
		t.Fatalf("identities of two providers with one subject are not told apart: %+v %+v", ia, ib)
	}
	// A flow started with one provider cannot finish at another's callback.
	br := c.browser(t)
	cb := c.start(t, br, "corp", "/")
	other := *cb
	other.Path = "/auth/oidc/callback"
	status, r := c.callback(t, br, &other)
	wantCode(t, "corp's flow at oidc's callback", status, r, 400, "sign_in_invalid")
}

func TestOIDCProviderUnreachable(t *testing.T) {
	c := newCloud(t, func(pub string) []login.Provider {
		return []login.Provider{login.NewOIDC(login.OIDCConfig{Name: "oidc", Issuer: "http://127.0.0.1:1/oidc", ClientID: "x", ClientSecret: "y"}, pub+"/auth/oidc/callback", nil)}
	})
	resp, err := c.browser(t).Get(c.srv.URL + "/auth/oidc")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r result
	_ = json.NewDecoder(resp.Body).Decode(&r)
	wantCode(t, "provider down", resp.StatusCode, r, 502, "sign_in_provider_error")
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// lastFlowValue seals the last flow saved again, as the cookie an attacker
// kept would hold it (sealing is randomised; the flow is the same).
func lastFlowValue(t *testing.T, c *cloud) string {
	t.Helper()
	v, err := c.flows.SealedFlows.Save(context.Background(), c.flows.saved[len(c.flows.saved)-1])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// browserWithFlow is a browser whose flow cookie holds f.
func browserWithFlow(t *testing.T, c *cloud, f login.Flow) *http.Client {
	t.Helper()
	v, err := c.flows.SealedFlows.Save(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	b := c.browser(t)
	b.Jar.SetCookies(mustURL(c.srv.URL+"/auth/"), []*http.Cookie{{Name: flowCookie, Value: v, Path: "/auth/"}})
	return b
}
