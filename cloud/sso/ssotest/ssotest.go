// Package ssotest is a single sign-on provider for tests: it holds a real
// ECDSA key, serves its JWKS over HTTP on loopback and signs tokens, so that
// tests exercise the same verification path as production.
package ssotest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer and Audience are what the provider's tokens name.
const (
	Issuer   = "https://sso.clawfleet.test"
	Audience = "clawfleet-test"
)

// Provider is a running test SSO.
type Provider struct {
	key     *ecdsa.PrivateKey
	srv     *httptest.Server
	Fetches atomic.Int32 // JWKS requests served
}

// Start runs a provider until the test ends.
func Start(t testing.TB) *Provider {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{key: key}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "test-1", Algorithm: string(jose.ES256), Use: "sig"}}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p.Fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// JWKSURL is where the provider's key set is served.
func (p *Provider) JWKSURL() string { return p.srv.URL + "/jwks.json" }

// Flags are the cloud settings that trust this provider.
func (p *Provider) Flags() []string {
	return []string{"--sso-issuer", Issuer, "--sso-audience", Audience, "--sso-jwks-url", p.JWKSURL()}
}

// Token signs a token for user (and email, when not empty) valid for ttl
// (negative: already expired).
func (p *Provider) Token(t testing.TB, user, email string, ttl time.Duration) string {
	t.Helper()
	return p.sign(t, p.key, user, email, Audience, ttl)
}

// Forged signs a token like Token but with a key the provider never
// published.
func (p *Provider) Forged(t testing.TB, user string) string {
	t.Helper()
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return p.sign(t, other, user, "", Audience, time.Minute)
}

// ForAudience signs a valid token for another audience.
func (p *Provider) ForAudience(t testing.TB, user, aud string) string {
	t.Helper()
	return p.sign(t, p.key, user, "", aud, time.Minute)
}

func (p *Provider) sign(t testing.TB, key *ecdsa.PrivateKey, user, email, aud string, ttl time.Duration) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), "test-1"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := struct {
		jwt.Claims
		Email string `json:"email,omitempty"`
	}{jwt.Claims{Issuer: Issuer, Audience: jwt.Audience{aud}, Subject: user,
		IssuedAt: jwt.NewNumericDate(now.Add(-2 * time.Minute)), Expiry: jwt.NewNumericDate(now.Add(ttl))}, email}
	if ttl < 0 {
		c.IssuedAt = jwt.NewNumericDate(now.Add(ttl - time.Hour))
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
