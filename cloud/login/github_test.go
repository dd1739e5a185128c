package login_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/login"
	"github.com/clawfleet/clawfleet/cloud/login/logintest"
	"golang.org/x/oauth2"
)

func newGitHubCloud(t *testing.T) (*logintest.GitHub, *cloud) {
	gh := logintest.NewGitHub(t)
	c := newCloud(t, func(pub string) []login.Provider {
		return providersOf(t, login.Config{PublicURL: pub, GitHub: gh.Config()})
	})
	gh.SetCallback(c.srv.URL + "/auth/github/callback")
	return gh, c
}

func TestGitHubSignIn(t *testing.T) {
	gh, c := newGitHubCloud(t)
	public := "public"
	for _, tc := range []struct {
		name     string
		user     logintest.GitHubUser
		emails   int // /user/emails status, 0 = 200
		want     login.Identity
		wantName string
	}{
		{name: "primary verified", user: logintest.GitHubUser{ID: 1, Login: "mona", Name: "Mona Lisa", AvatarURL: "https://avatars.githubusercontent.com/u/1",
			Emails: []logintest.GitHubEmail{{Email: "old@example.com", Verified: true}, {Email: "mona@example.com", Primary: true, Verified: true, Visibility: &public}}},
			want: login.Identity{Subject: "1", Email: "mona@example.com", EmailVerified: true, Name: "Mona Lisa", AvatarURL: "https://avatars.githubusercontent.com/u/1"}},
		// A verified address that is not primary is not taken either: the
		// primary is the one the user chose to be reached at.
		{name: "primary unverified", user: logintest.GitHubUser{ID: 2, Login: "hubot",
			Emails: []logintest.GitHubEmail{{Email: "hubot@example.com", Primary: true}, {Email: "other@example.com", Verified: true}}},
			want: login.Identity{Subject: "2", Name: "hubot"}},
		{name: "no emails", user: logintest.GitHubUser{ID: 3, Login: "ghost"}, want: login.Identity{Subject: "3", Name: "ghost"}},
		{name: "token may not read emails", user: logintest.GitHubUser{ID: 4, Login: "app-user", Emails: []logintest.GitHubEmail{{Email: "x@example.com", Primary: true, Verified: true}}},
			emails: 404, want: login.Identity{Subject: "4", Name: "app-user"}},
		{name: "renamed login, same id", user: logintest.GitHubUser{ID: 1, Login: "mona-renamed", Name: "Mona Lisa"},
			want: login.Identity{Subject: "1", Name: "Mona Lisa"}},
		{name: "http avatar dropped", user: logintest.GitHubUser{ID: 5, Login: "old", AvatarURL: "http://avatars.example/5"},
			want: login.Identity{Subject: "5", Name: "old"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gh.SignInAs(tc.user)
			gh.EmailsStatus(tc.emails)
			defer gh.EmailsStatus(0)
			r := c.signInOK(t, "github", "/console")
			want := tc.want
			want.Provider, want.Issuer = "github", gh.URL+"/api/v3"
			if r.Identity != want || r.ReturnTo != "/console" {
				t.Fatalf("signed in as %+v on %q, want %+v on /console", r.Identity, r.ReturnTo, want)
			}
		})
	}
}

func TestGitHubAuthURL(t *testing.T) {
	_, c := newGitHubCloud(t)
	authURL, _, err := c.signIn.Start(context.Background(), "github", "/")
	if err != nil {
		t.Fatal(err)
	}
	q := mustURL(authURL).Query()
	for k, want := range map[string]string{"scope": "read:user user:email", "code_challenge_method": "S256", "redirect_uri": c.srv.URL + "/auth/github/callback", "response_type": "code"} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
}

func TestGitHubErrors(t *testing.T) {
	gh, c := newGitHubCloud(t)
	ctx := context.Background()

	t.Run("wrong client secret", func(t *testing.T) {
		cfg := gh.Config()
		cfg.ClientSecret = "not-the-secret"
		p := login.NewGitHub(cfg, c.srv.URL+"/auth/github/callback", nil)
		f, _ := login.NewFlow("github", "/", time.Now(), login.FlowTTL)
		_, err := p.Finish(ctx, f, "whatever")
		var re *oauth2.RetrieveError
		if !errors.Is(err, login.ErrProvider) || !errors.As(err, &re) || re.ErrorCode != "incorrect_client_credentials" {
			t.Fatalf("wrong secret: %v, want ErrProvider wrapping incorrect_client_credentials", err)
		}
	})
	t.Run("API says Bad credentials", func(t *testing.T) {
		// The token is revoked between the exchange and the API calls.
		authURL, _, err := c.signIn.Start(ctx, "github", "/")
		if err != nil {
			t.Fatal(err)
		}
		f := c.flows.saved[len(c.flows.saved)-1]
		cb := logintest.Follow(t, authURL)
		p := login.NewGitHub(gh.Config(), c.srv.URL+"/auth/github/callback", &http.Client{Transport: revokeAfterToken{gh}})
		_, err = p.Finish(ctx, f, cb.Query().Get("code"))
		if !errors.Is(err, login.ErrTokenInvalid) || !strings.Contains(err.Error(), "Bad credentials") {
			t.Fatalf("revoked token: %v, want ErrTokenInvalid saying Bad credentials", err)
		}
	})
}

// revokeAfterToken revokes GitHub's tokens as soon as one is issued, so the
// API calls that follow meet 401 Bad credentials.
type revokeAfterToken struct{ gh *logintest.GitHub }

func (r revokeAfterToken) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && strings.HasSuffix(req.URL.Path, "/access_token") {
		r.gh.RevokeTokens()
	}
	return resp, err
}
