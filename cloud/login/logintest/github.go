package logintest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/login"
)

// GitHubUser is an account on the GitHub server.
type GitHubUser struct {
	ID        int64
	Login     string
	Name      string
	AvatarURL string
	Emails    []GitHubEmail
}

// GitHubEmail is one row of GET /user/emails.
type GitHubEmail struct {
	Email      string  `json:"email"`
	Primary    bool    `json:"primary"`
	Verified   bool    `json:"verified"`
	Visibility *string `json:"visibility"`
}

// GitHub answers like GitHub's OAuth web flow (/login/oauth/authorize,
// /login/oauth/access_token) and REST API (/user, /user/emails, under
// /api/v3 as on GitHub Enterprise Server), in GitHub's documented shapes:
// token errors with status 200 and {"error","error_description",
// "error_uri"} (or the form-encoded equivalent when JSON was not asked
// for), API errors as {"message","documentation_url","status"}. The
// authorize page approves at once as the user set by SignInAs.
type GitHub struct {
	URL                    string
	ClientID, ClientSecret string

	mu       sync.Mutex
	callback string
	user     GitHubUser
	deny     bool
	emails   int
	codes    map[string]*githubGrant
	tokens   map[string]GitHubUser
	// Exchanges counts token requests.
	exchanges int
}

type githubGrant struct {
	user                   GitHubUser
	redirectURI, challenge string
	issued                 time.Time
	used                   bool
}

// NewGitHub starts the server on loopback, stopped when t ends.
func NewGitHub(t testing.TB) *GitHub {
	g := &GitHub{ClientID: "Iv1." + randHex(8), ClientSecret: randHex(20), codes: map[string]*githubGrant{}, tokens: map[string]GitHubUser{},
		user: GitHubUser{ID: 583231, Login: "octocat", Name: "The Octocat", AvatarURL: "https://avatars.githubusercontent.com/u/583231?v=4",
			Emails: []GitHubEmail{{Email: "octocat@github.com", Primary: true, Verified: true}}}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", g.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", g.token)
	mux.HandleFunc("GET /api/v3/user", g.api(func(u GitHubUser) (int, any) { return http.StatusOK, githubUserJSON(u) }))
	mux.HandleFunc("GET /api/v3/user/emails", g.api(func(u GitHubUser) (int, any) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.emails != 0 {
			return g.emails, githubMessage(http.StatusText(g.emails), "https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user", g.emails)
		}
		return http.StatusOK, append([]GitHubEmail{}, u.Emails...)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// Config points the cloud's GitHub provider at this server.
func (g *GitHub) Config() login.GitHubConfig {
	return login.GitHubConfig{ClientID: g.ClientID, ClientSecret: g.ClientSecret,
		AuthURL: g.URL + "/login/oauth/authorize", TokenURL: g.URL + "/login/oauth/access_token", APIURL: g.URL + "/api/v3"}
}

// SetCallback registers the app's authorization callback URL (a
// redirect_uri must lie under it, as on GitHub).
func (g *GitHub) SetCallback(u string) { g.mu.Lock(); g.callback = u; g.mu.Unlock() }

// SignInAs makes u the user who approves the next authorizations.
func (g *GitHub) SignInAs(u GitHubUser) { g.mu.Lock(); g.user = u; g.mu.Unlock() }

// Deny makes the user refuse the next authorizations (or approve again).
func (g *GitHub) Deny(deny bool) { g.mu.Lock(); g.deny = deny; g.mu.Unlock() }

// EmailsStatus makes GET /user/emails fail with status (404 is what a
// token without the user:email scope gets); 0 answers normally.
func (g *GitHub) EmailsStatus(status int) { g.mu.Lock(); g.emails = status; g.mu.Unlock() }

// RevokeTokens revokes every access token issued.
func (g *GitHub) RevokeTokens() { g.mu.Lock(); clear(g.tokens); g.mu.Unlock() }

// Exchanges is how many token requests came.
func (g *GitHub) Exchanges() int { g.mu.Lock(); defer g.mu.Unlock(); return g.exchanges }

const githubTroubleshootAuth = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/"

func (g *GitHub) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	g.mu.Lock()
	defer g.mu.Unlock()
	if q.Get("client_id") != g.ClientID {
		http.Error(w, "Not Found", http.StatusNotFound) // GitHub's 404 page
		return
	}
	redirect := q.Get("redirect_uri")
	back := func(v url.Values) {
		target := redirect
		if target == "" {
			target = g.callback
		}
		v.Set("state", q.Get("state"))
		http.Redirect(w, r, target+"?"+v.Encode(), http.StatusFound)
	}
	if redirect != "" && g.callback != "" && !strings.HasPrefix(redirect, g.callback) {
		redirect = g.callback
		back(url.Values{"error": {"redirect_uri_mismatch"}, "error_description": {"The redirect_uri MUST match the registered callback URL for this application."}, "error_uri": {githubTroubleshootAuth + "#redirect-uri-mismatch"}})
		return
	}
	if m := q.Get("code_challenge_method"); q.Get("code_challenge") != "" && m != "S256" {
		back(url.Values{"error": {"invalid_request"}, "error_description": {"Only the S256 code challenge method is accepted."}})
		return
	}
	if g.deny {
		back(url.Values{"error": {"access_denied"}, "error_description": {"The user has denied your application access."}, "error_uri": {githubTroubleshootAuth + "#access-denied"}})
		return
	}
	code := randHex(10)
	g.codes[code] = &githubGrant{user: g.user, redirectURI: redirect, challenge: q.Get("code_challenge"), issued: time.Now()}
	back(url.Values{"code": {code}})
}

const githubTroubleshootToken = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/"

func (g *GitHub) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f := r.PostForm
	g.mu.Lock()
	defer g.mu.Unlock()
	g.exchanges++
	answer := func(v map[string]string) {
		// GitHub answers 200 either way; JSON only when asked for.
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_ = json.NewEncoder(w).Encode(v)
			return
		}
		form := url.Values{}
		for k, s := range v {
			form.Set(k, s)
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		_, _ = w.Write([]byte(form.Encode()))
	}
	fail := func(code, desc, anchor string) {
		answer(map[string]string{"error": code, "error_description": desc, "error_uri": githubTroubleshootToken + anchor})
	}
	if f.Get("client_id") != g.ClientID || f.Get("client_secret") != g.ClientSecret {
		fail("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.", "#incorrect-client-credentials")
		return
	}
	gr := g.codes[f.Get("code")]
	if gr == nil || gr.used || time.Since(gr.issued) > 10*time.Minute {
		fail("bad_verification_code", "The code passed is incorrect or expired.", "#bad-verification-code")
		return
	}
	if ru := f.Get("redirect_uri"); ru != "" && ru != gr.redirectURI {
		fail("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.", "#redirect-uri-mismatch")
		return
	}
	// GitHub does not document its PKCE failure; the code is refused like
	// any code that does not fit.
	if gr.challenge != "" {
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != gr.challenge {
			fail("bad_verification_code", "The code passed is incorrect or expired.", "#bad-verification-code")
			return
		}
	}
	gr.used = true
	tok := "gho_" + randHex(18)
	g.tokens[tok] = gr.user
	answer(map[string]string{"access_token": tok, "token_type": "bearer", "scope": "read:user,user:email"})
}

// api serves an authenticated REST endpoint.
func (g *GitHub) api(h func(GitHubUser) (int, any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("X-GitHub-Media-Type", "github.v3; format=json")
		w.Header().Set("X-RateLimit-Limit", "5000")
		w.Header().Set("X-RateLimit-Remaining", "4999")
		auth := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			tok, ok = strings.CutPrefix(auth, "token ")
		}
		g.mu.Lock()
		u, known := g.tokens[tok]
		g.mu.Unlock()
		status, body := 0, any(nil)
		switch {
		case !ok:
			status, body = http.StatusUnauthorized, githubMessage("Requires authentication", "https://docs.github.com/rest", http.StatusUnauthorized)
		case !known:
			status, body = http.StatusUnauthorized, githubMessage("Bad credentials", "https://docs.github.com/rest", http.StatusUnauthorized)
		default:
			status, body = h(u)
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
}

func githubMessage(msg, doc string, status int) map[string]string {
	return map[string]string{"message": msg, "documentation_url": doc, "status": fmt.Sprint(status)}
}

func githubUserJSON(u GitHubUser) map[string]any {
	var name any
	if u.Name != "" {
		name = u.Name
	}
	return map[string]any{
		"login": u.Login, "id": u.ID, "node_id": "MDQ6VXNlcj" + fmt.Sprint(u.ID), "avatar_url": u.AvatarURL,
		"html_url": "https://github.com/" + u.Login, "type": "User", "site_admin": false,
		"name": name, "email": nil, "created_at": "2011-01-25T18:44:36Z",
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
