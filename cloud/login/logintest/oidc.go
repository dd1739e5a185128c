// Package logintest runs identity providers on loopback for tests: a real
// standards OIDC provider (oauth2-proxy/mockoidc) that can also be made to
// answer like a hostile one, and servers that answer like GitHub's and
// WeChat's documented endpoints, error shapes included. Tests in other
// packages (the HTTP routes, the browser tests) use them too.
package logintest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/clawfleet/clawfleet/cloud/login"
)

// OIDC is a running mockoidc provider.
type OIDC struct {
	*mockoidc.MockOIDC
	// Key signs its tokens; its JWKS publishes it.
	Key *rsa.PrivateKey

	mu     sync.Mutex // serialises requests: mockoidc's session maps have no lock
	tamper func(claims map[string]any)
	signer *rsa.PrivateKey
}

var (
	keyOnce  sync.Once
	keys     [2]*rsa.PrivateKey
	errNoKey error
)

// testKeys are two RSA keys made once per test binary (making them is the
// slow part of starting a provider).
func testKeys(t testing.TB) [2]*rsa.PrivateKey {
	keyOnce.Do(func() {
		for i := range keys {
			if keys[i], errNoKey = rsa.GenerateKey(rand.Reader, 2048); errNoKey != nil {
				return
			}
		}
	})
	if errNoKey != nil {
		t.Fatal(errNoKey)
	}
	return keys
}

// OtherKey is an RSA key the provider does not publish, for forged tokens.
func OtherKey(t testing.TB) *rsa.PrivateKey { return testKeys(t)[1] }

// NewOIDC starts a provider on 127.0.0.1, stopped when t ends.
func NewOIDC(t testing.TB) *OIDC {
	t.Helper()
	key := testKeys(t)[0]
	m, err := mockoidc.NewServer(key)
	if err != nil {
		t.Fatal(err)
	}
	o := &OIDC{MockOIDC: m, Key: key}
	if err := m.AddMiddleware(o.serialise); err != nil {
		t.Fatal(err)
	}
	if err := m.AddMiddleware(o.rewriteTokens); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return o
}

// Config is the provider's configuration for the cloud, under name.
func (o *OIDC) Config(name string) login.OIDCConfig {
	return login.OIDCConfig{Name: name, DisplayName: "Test " + name, Issuer: o.Issuer(), ClientID: o.ClientID, ClientSecret: o.ClientSecret}
}

// Tamper makes the ID tokens of the following token responses change:
// f edits their claims, and they are signed again with key (nil: the
// provider's own key, so only the edited claims are wrong). Tamper(nil, nil)
// stops it.
func (o *OIDC) Tamper(f func(claims map[string]any), key *rsa.PrivateKey) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tamper, o.signer = f, key
	if f != nil && key == nil {
		o.signer = o.Key
	}
}

func (o *OIDC) serialise(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		defer o.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// rewriteTokens applies Tamper to the token endpoint's answers. It runs
// inside serialise, so it reads the tamper settings under the lock.
func (o *OIDC) rewriteTokens(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != mockoidc.TokenEndpoint || o.tamper == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		var resp map[string]any
		if rec.Code == http.StatusOK && json.Unmarshal(body, &resp) == nil {
			if raw, ok := resp["id_token"].(string); ok {
				if forged, err := o.resign(raw); err == nil {
					resp["id_token"] = forged
					body, _ = json.Marshal(resp)
				}
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

func (o *OIDC) resign(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	claims := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return "", err
	}
	o.tamper(claims)
	kid, err := o.Keypair.KeyID()
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: o.signer},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(b)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// Follow plays the browser at a provider's authorization page: it requests
// authURL and returns where the provider redirects (the callback URL with
// its code and state), without requesting that.
func Follow(t testing.TB, authURL string) *url.URL {
	t.Helper()
	c := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	_ = resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("authorize %s: status %d, location %v; want a redirect", authURL, resp.StatusCode, err)
	}
	return loc
}
