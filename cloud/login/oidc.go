package login

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// DefaultOIDCScopes are asked for when a provider's configuration names
// none.
var DefaultOIDCScopes = []string{oidc.ScopeOpenID, "email", "profile"}

// rediscoverAfter is how long a failed discovery is remembered before the
// next sign-in tries again, so a provider that is down is not hammered.
const rediscoverAfter = 10 * time.Second

// OIDC signs in with any OpenID Connect provider, found by discovery
// (<issuer>/.well-known/openid-configuration): the authorization code flow
// with PKCE S256, state and nonce, the ID token verified against the
// issuer's published keys, audience (our client id), expiry and nonce, and
// "email_verified" taken as the provider says.
//
// Discovery happens at the first sign-in, not at construction, so the cloud
// starts while a provider is unreachable.
type OIDC struct {
	cfg         OIDCConfig
	redirectURL string
	client      *http.Client

	mu      sync.Mutex
	p       *oidc.Provider
	v       *oidc.IDTokenVerifier
	oc      *oauth2.Config // one for the provider's life: it remembers the detected client auth style
	failed  time.Time
	lastErr error
}

// NewOIDC makes the provider of cfg whose callback is redirectURL.
func NewOIDC(cfg OIDCConfig, redirectURL string, client *http.Client) *OIDC {
	if client == nil {
		client = DefaultHTTPClient()
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultOIDCScopes
	}
	if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	return &OIDC{cfg: cfg, redirectURL: redirectURL, client: client}
}

func (o *OIDC) Name() string { return o.cfg.Name }

func (o *OIDC) DisplayName() string { return o.cfg.displayName() }

// Issuer is the configured issuer, for the callback's RFC 9207 check.
func (o *OIDC) Issuer() string { return o.cfg.Issuer }

// discover returns the provider's metadata, verifier and OAuth 2 client,
// fetching the metadata once.
func (o *OIDC) discover() (*oidc.Provider, *oidc.IDTokenVerifier, *oauth2.Config, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.p != nil {
		return o.p, o.v, o.oc, nil
	}
	if o.lastErr != nil && time.Since(o.failed) < rediscoverAfter {
		return nil, nil, nil, o.lastErr
	}
	// The key set keeps this context for its later fetches: not the
	// request's (its values would live on), only our client, whose timeout
	// bounds discovery.
	p, err := oidc.NewProvider(oidc.ClientContext(context.Background(), o.client), o.cfg.Issuer)
	if err != nil {
		o.failed, o.lastErr = time.Now(), ErrProvider.Wrap(fmt.Errorf("discover OIDC issuer %s: %w", o.cfg.Issuer, err))
		return nil, nil, nil, o.lastErr
	}
	o.p = p
	o.v = p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID})
	o.oc = &oauth2.Config{
		ClientID:     o.cfg.ClientID,
		ClientSecret: o.cfg.ClientSecret,
		Endpoint:     p.Endpoint(), // AuthStyle unset: detected (header, else form) and remembered
		RedirectURL:  o.redirectURL,
		Scopes:       o.cfg.Scopes,
	}
	o.lastErr = nil
	return o.p, o.v, o.oc, nil
}

// AuthURL is the provider's authorization endpoint for f.
func (o *OIDC) AuthURL(_ context.Context, f Flow) (string, error) {
	_, _, oc, err := o.discover()
	if err != nil {
		return "", err
	}
	return oc.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), nil
}

// idClaims are the ID token's (or userinfo's) claims we use.
type idClaims struct {
	Subject           string    `json:"sub"`
	Email             string    `json:"email"`
	EmailVerified     looseBool `json:"email_verified"`
	Name              string    `json:"name"`
	PreferredUsername string    `json:"preferred_username"`
	Nickname          string    `json:"nickname"`
	Picture           string    `json:"picture"`
	AuthorizedParty   string    `json:"azp"`
}

// Finish exchanges code (with the PKCE verifier), verifies the ID token and
// its nonce, and reads who signed in. When the ID token carries no email
// (Zitadel's default, for one) the userinfo endpoint is asked, and its
// answer used only if it names the same subject.
func (o *OIDC) Finish(ctx context.Context, f Flow, code string) (Identity, error) {
	p, v, oc, err := o.discover()
	if err != nil {
		return Identity{}, err
	}
	ctx = oidc.ClientContext(ctx, o.client)
	tok, err := oc.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return Identity{}, exchangeError(o.cfg.Name, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, ErrTokenInvalid.Wrap(errors.New("the token response has no id_token (is \"openid\" among the scopes?)"))
	}
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		return Identity{}, ErrTokenInvalid.Wrap(err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return Identity{}, ErrTokenInvalid.Wrap(errors.New("the ID token's nonce is not this sign-in's"))
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Identity{}, ErrTokenInvalid.Wrap(err)
		}
	}
	if idt.Subject == "" {
		return Identity{}, ErrTokenInvalid.Wrap(errors.New("the ID token names no subject"))
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		return Identity{}, ErrTokenInvalid.Wrap(err)
	}
	// OIDC Core 3.1.3.7: with several audiences the token must say it was
	// issued to us (azp); go-oidc checks only that we are among them.
	if (len(idt.Audience) > 1 || c.AuthorizedParty != "") && c.AuthorizedParty != o.cfg.ClientID {
		return Identity{}, ErrTokenInvalid.Wrap(fmt.Errorf("the ID token was issued to %q, not to us", c.AuthorizedParty))
	}
	if c.Email == "" && p.UserInfoEndpoint() != "" {
		if ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil && ui.Subject == idt.Subject {
			var u idClaims
			if ui.Claims(&u) == nil {
				c.Email, c.EmailVerified = u.Email, u.EmailVerified
				c.Name = firstOf(c.Name, u.Name)
				c.PreferredUsername = firstOf(c.PreferredUsername, u.PreferredUsername)
				c.Picture = firstOf(c.Picture, u.Picture)
			}
		}
	}
	return Identity{
		Provider:      o.cfg.Name,
		Issuer:        idt.Issuer,
		Subject:       idt.Subject,
		Email:         strings.TrimSpace(c.Email),
		EmailVerified: bool(c.EmailVerified) && strings.TrimSpace(c.Email) != "",
		Name:          firstOf(c.Name, c.PreferredUsername, c.Nickname),
		AvatarURL:     httpsURL(c.Picture),
	}, nil
}

// exchangeError says why a code exchange failed: the provider refused the
// code (reused, expired, another client's, wrong PKCE verifier), refused
// our client credentials, or could not be reached.
func exchangeError(name string, err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return ErrProvider.Wrap(err)
	}
	switch re.ErrorCode {
	case "invalid_grant", "bad_verification_code", "invalid_request":
		return ErrCodeRefused.Wrap(err)
	case "invalid_client", "unauthorized_client", "incorrect_client_credentials":
		return ErrProvider.Withf("the provider %q refused our client id or secret; check its configuration", name).Wrap(err)
	case "redirect_uri_mismatch":
		return ErrProvider.Withf("the provider %q does not accept our callback URL; register <public url>/auth/%s/callback there", name, name).Wrap(err)
	}
	if re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
		return ErrCodeRefused.Wrap(err)
	}
	return ErrProvider.Wrap(err)
}

// looseBool reads true, false, "true" and "false": some providers send
// email_verified as a string.
type looseBool bool

func (b *looseBool) UnmarshalJSON(data []byte) error {
	switch strings.Trim(string(data), `"`) {
	case "true":
		*b = true
	case "false", "null", "":
		*b = false
	default:
		return fmt.Errorf("not a boolean: %s", data)
	}
	return nil
}

var _ json.Unmarshaler = (*looseBool)(nil)

// firstOf is the first non-empty string.
func firstOf(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

// httpsURL keeps an avatar URL only if it is https (it is shown in the
// console; anything else could be mixed content or a script URL).
func httpsURL(s string) string {
	if strings.HasPrefix(s, "https://") && len(s) <= 2048 {
		return s
	}
	return ""
}
