package login_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/login"
)

// cloud is a minimal stand-in for the cloud's routes, the way the HTTP
// layer is meant to use the package: GET /auth/{provider} starts a sign-in
// (flow value in an HttpOnly cookie, 302 to the provider) and
// /auth/{provider}/callback finishes it (200 with the identity as JSON, or
// the error's status and code).
type cloud struct {
	srv    *httptest.Server
	signIn *login.SignIn
	flows  *shiftedFlows
}

const flowCookie = "clawfleet_flow" // __Host-… over https; Go's cookie jar keeps Secure cookies off http

type result struct {
	Identity login.Identity `json:"identity"`
	ReturnTo string         `json:"returnTo"`
	Code     string         `json:"code"`
	Error    string         `json:"error"`
}

// shiftedFlows seals flows whose expiry is moved by shift, so a test can
// make the real SealedFlows hold an expired flow.
type shiftedFlows struct {
	*login.SealedFlows
	shift time.Duration
	saved []login.Flow
}

func (s *shiftedFlows) Save(ctx context.Context, f login.Flow) (string, error) {
	f.Expires = f.Expires.Add(s.shift)
	s.saved = append(s.saved, f)
	return s.SealedFlows.Save(ctx, f)
}

// newCloud serves the providers made by mk, which gets the cloud's public
// URL (to build redirect URIs).
func newCloud(t *testing.T, mk func(publicURL string) []login.Provider) *cloud {
	t.Helper()
	c := &cloud{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /auth/{provider}", func(w http.ResponseWriter, r *http.Request) {
		authURL, value, err := c.signIn.Start(r.Context(), r.PathValue("provider"), r.URL.Query().Get("return_to"))
		if err != nil {
			writeErr(w, err)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: value, Path: "/auth/", MaxAge: int(login.FlowTTL.Seconds()), HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, authURL, http.StatusFound)
	})
	mux.HandleFunc("GET /auth/{provider}/callback", func(w http.ResponseWriter, r *http.Request) {
		var value string
		if ck, err := r.Cookie(flowCookie); err == nil {
			value = ck.Value
		}
		id, rt, err := c.signIn.Finish(r.Context(), r.PathValue("provider"), value, r.URL.Query())
		if err != nil {
			writeErr(w, err)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: flowCookie, Path: "/auth/", MaxAge: -1})
		_ = json.NewEncoder(w).Encode(result{Identity: id, ReturnTo: rt})
	})
	c.srv = httptest.NewServer(mux)
	t.Cleanup(c.srv.Close)
	sealed, err := login.NewSealedFlows([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	c.flows = &shiftedFlows{SealedFlows: sealed}
	if c.signIn, err = login.NewSignIn(c.flows, mk(c.srv.URL)...); err != nil {
		t.Fatal(err)
	}
	return c
}

func writeErr(w http.ResponseWriter, err error) {
	status, code, _ := apperr.Public(err)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(result{Code: code, Error: err.Error()})
}

// browser is a cookie-keeping client that follows redirects except to the
// cloud's callbacks, which it leaves to the test.
func (c *cloud) browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), c.srv.URL) && strings.HasSuffix(r.URL.Path, "/callback") {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

// start signs in with provider in b up to the provider's redirect back and
// returns that callback URL.
func (c *cloud) start(t *testing.T, b *http.Client, provider, returnTo string) *url.URL {
	t.Helper()
	resp, err := b.Get(c.srv.URL + "/auth/" + provider + "?return_to=" + url.QueryEscape(returnTo))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil {
		var r result
		_ = json.NewDecoder(resp.Body).Decode(&r)
		t.Fatalf("start %s: status %d (%+v), want a redirect to the callback", provider, resp.StatusCode, r)
	}
	return loc
}

// callback requests u in b and returns the status and answer.
func (c *cloud) callback(t *testing.T, b *http.Client, u *url.URL) (int, result) {
	t.Helper()
	resp, err := b.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r result
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("callback answer: %v", err)
	}
	return resp.StatusCode, r
}

// signIn runs a whole sign-in and fails t unless it succeeds.
func (c *cloud) signInOK(t *testing.T, provider, returnTo string) result {
	t.Helper()
	b := c.browser(t)
	status, r := c.callback(t, b, c.start(t, b, provider, returnTo))
	if status != http.StatusOK {
		t.Fatalf("sign-in with %s: %d %+v", provider, status, r)
	}
	return r
}

// withQuery is u with its query values changed by set.
func withQuery(u *url.URL, set func(url.Values)) *url.URL {
	c := *u
	q := c.Query()
	set(q)
	c.RawQuery = q.Encode()
	return &c
}

func wantCode(t *testing.T, what string, status int, r result, wantStatus int, code string) {
	t.Helper()
	if status != wantStatus || r.Code != code {
		t.Fatalf("%s: %d %q (%s), want %d %q", what, status, r.Code, r.Error, wantStatus, code)
	}
}

// reuseCode signs in once, then brings the same code back under a fresh
// state with everything else of the first flow (its PKCE verifier and nonce
// too), so only the provider's single use of codes stands in the way.
func (c *cloud) reuseCode(t *testing.T, provider string) (int, result) {
	t.Helper()
	b := c.browser(t)
	cb := c.start(t, b, provider, "/")
	again := c.flows.saved[len(c.flows.saved)-1]
	if status, r := c.callback(t, b, cb); status != http.StatusOK {
		t.Fatalf("first use of the code: %d %+v", status, r)
	}
	again.State = "fresh-state-for-a-reused-code"
	return c.callback(t, browserWithFlow(t, c, again), withQuery(cb, func(q url.Values) { q.Set("state", again.State) }))
}

// stealCode brings a victim's unused code to the attacker's own flow, whose
// PKCE verifier is not the victim's.
func (c *cloud) stealCode(t *testing.T, provider string) (int, result) {
	t.Helper()
	victim := c.start(t, c.browser(t), provider, "/")
	attacker := c.browser(t)
	own := c.start(t, attacker, provider, "/")
	return c.callback(t, attacker, withQuery(own, func(q url.Values) { q.Set("code", victim.Query().Get("code")) }))
}

// providersOf builds the providers of cfg, as the cloud does at start.
func providersOf(t *testing.T, cfg login.Config) []login.Provider {
	t.Helper()
	ps, err := cfg.Providers(nil)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}
