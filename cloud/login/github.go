package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

// GitHub's endpoints.
const (
	GitHubAuthURL  = "https://github.com/login/oauth/authorize"
	GitHubTokenURL = "https://github.com/login/oauth/access_token"
	GitHubAPIURL   = "https://api.github.com"
)

// GitHub signs in with a GitHub OAuth app (OAuth 2, not OIDC): the
// authorization code flow with state and PKCE S256 (GitHub accepts it since
// July 2025), the user read from the REST API. The subject is the numeric
// user id, since logins can be renamed and then taken by someone else; the
// email is the one /user/emails marks primary and verified, or none.
type GitHub struct {
	oauth       *oauth2.Config
	api         string
	client      *http.Client
	tokenClient *http.Client // client, asking for JSON
}

// NewGitHub makes the provider of cfg whose callback is redirectURL.
func NewGitHub(cfg GitHubConfig, redirectURL string, client *http.Client) *GitHub {
	if client == nil {
		client = DefaultHTTPClient()
	}
	return &GitHub{
		oauth: &oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint: oauth2.Endpoint{
				AuthURL:   firstOf(cfg.AuthURL, GitHubAuthURL),
				TokenURL:  firstOf(cfg.TokenURL, GitHubTokenURL),
				AuthStyle: oauth2.AuthStyleInParams,
			},
			RedirectURL: redirectURL,
			// read:user for the profile, user:email for the private
			// addresses and their verification.
			Scopes: []string{"read:user", "user:email"},
		},
		api:         strings.TrimSuffix(firstOf(cfg.APIURL, GitHubAPIURL), "/"),
		client:      client,
		tokenClient: &http.Client{Transport: acceptJSON{client.Transport}, Timeout: client.Timeout, Jar: client.Jar, CheckRedirect: client.CheckRedirect},
	}
}

// acceptJSON asks for JSON, as GitHub's documentation advises for the
// token endpoint (it answers form-encoded otherwise).
type acceptJSON struct{ next http.RoundTripper }

func (a acceptJSON) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept", "application/json")
	if a.next == nil {
		return http.DefaultTransport.RoundTrip(r)
	}
	return a.next.RoundTrip(r)
}

func (g *GitHub) Name() string        { return "github" }
func (g *GitHub) DisplayName() string { return "GitHub" }

// AuthURL is GitHub's authorize page for f.
func (g *GitHub) AuthURL(_ context.Context, f Flow) (string, error) {
	return g.oauth.AuthCodeURL(f.State, oauth2.S256ChallengeOption(f.Verifier)), nil
}

type githubUser struct {
	ID        int64  `json:"id"`
	Login     string `json:"login"`
	Name      string `json:"name"`
	AvatarURL string `json:"avatar_url"`
}

type githubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

// Finish exchanges code and reads the user and their emails.
func (g *GitHub) Finish(ctx context.Context, f Flow, code string) (Identity, error) {
	// GitHub answers a bad code with 200 and {"error":"bad_verification_code"};
	// oauth2 reads that as the error it is.
	tok, err := g.oauth.Exchange(context.WithValue(ctx, oauth2.HTTPClient, g.tokenClient), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return Identity{}, exchangeError("github", err)
	}
	var u githubUser
	if err := g.get(ctx, tok.AccessToken, "/user", &u); err != nil {
		return Identity{}, err
	}
	if u.ID <= 0 {
		return Identity{}, ErrTokenInvalid.Wrap(errors.New("GitHub's /user has no numeric id"))
	}
	id := Identity{
		Provider:  "github",
		Issuer:    g.api,
		Subject:   strconv.FormatInt(u.ID, 10),
		Name:      firstOf(u.Name, u.Login),
		AvatarURL: httpsURL(u.AvatarURL),
	}
	var emails []githubEmail
	err = g.get(ctx, tok.AccessToken, "/user/emails", &emails)
	var he *githubAPIError
	switch {
	case errors.As(err, &he) && (he.status == http.StatusForbidden || he.status == http.StatusNotFound) && !he.rateLimited:
		// The token may not read emails (a GitHub App without the email
		// permission): signed in, with no email.
		return id, nil
	case err != nil:
		return Identity{}, err
	}
	for _, e := range emails {
		if e.Primary && e.Verified && e.Email != "" {
			id.Email, id.EmailVerified = e.Email, true
		}
	}
	return id, nil
}

// githubAPIError is a REST API answer other than 200.
type githubAPIError struct {
	path        string
	status      int
	message     string
	rateLimited bool
}

func (e *githubAPIError) Error() string {
	return fmt.Sprintf("GitHub API %s: %d %s", e.path, e.status, e.message)
}

// get reads GET <api><path> as JSON into v.
func (g *GitHub) get(ctx context.Context, token, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.api+path, nil)
	if err != nil {
		return ErrProvider.Wrap(err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("User-Agent", "clawfleet") // GitHub refuses requests without one
	resp, err := g.client.Do(req)
	if err != nil {
		return ErrProvider.Wrap(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return ErrProvider.Wrap(err)
	}
	if resp.StatusCode != http.StatusOK {
		var m struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &m)
		he := &githubAPIError{path: path, status: resp.StatusCode, message: firstOf(m.Message, http.StatusText(resp.StatusCode)),
			rateLimited: resp.StatusCode == http.StatusTooManyRequests || resp.Header.Get("X-RateLimit-Remaining") == "0"}
		switch {
		case resp.StatusCode == http.StatusUnauthorized:
			return ErrTokenInvalid.Withf("GitHub refused the access token it had just issued (%s)", he.message).Wrap(he)
		case he.rateLimited:
			return ErrProvider.Withf("GitHub's API rate limit is reached; try again later").Wrap(he)
		}
		return ErrProvider.Wrap(he)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return ErrProvider.Wrap(fmt.Errorf("GitHub API %s: %w", path, err))
	}
	return nil
}
