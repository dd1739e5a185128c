package sso

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	iss = "https://sso.example.test"
	aud = "clawfleet"
)

func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type claims struct {
	jwt.Claims
	Email     string `json:"email,omitempty"`
	UID       string `json:"uid,omitempty"`
	TokenType string `json:"tokenType,omitempty"`
}

func good(now time.Time) claims {
	return claims{Claims: jwt.Claims{Issuer: iss, Audience: jwt.Audience{"other", aud}, Subject: "u-alice",
		Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)), IssuedAt: jwt.NewNumericDate(now)}, Email: "alice@example.test"}
}

// jwksServer serves a key set that the test can replace, counting fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	set     jose.JSONWebKeySet
	fetches atomic.Int32
	status  int
}

func newJWKS(t *testing.T, keys ...jose.JSONWebKey) *jwksServer {
	j := &jwksServer{set: jose.JSONWebKeySet{Keys: keys}, status: 200}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.fetches.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.status != 200 {
			w.WriteHeader(j.status)
			return
		}
		_ = json.NewEncoder(w).Encode(j.set)
	}))
	t.Cleanup(j.Close)
	return j
}

func (j *jwksServer) replace(keys ...jose.JSONWebKey) {
	j.mu.Lock()
	j.set.Keys = keys
	j.mu.Unlock()
}

func pub(key any, kid string, alg jose.SignatureAlgorithm) jose.JSONWebKey {
	var p any
	switch k := key.(type) {
	case *rsa.PrivateKey:
		p = &k.PublicKey
	case *ecdsa.PrivateKey:
		p = &k.PublicKey
	case ed25519.PrivateKey:
		p = k.Public()
	}
	return jose.JSONWebKey{Key: p, KeyID: kid, Algorithm: string(alg), Use: "sig"}
}

func TestVerify(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	srv := newJWKS(t, pub(rsaKey, "r1", jose.RS256), pub(ecKey, "e1", jose.ES256), pub(edKey, "d1", jose.EdDSA))
	secret := strings.Repeat("s", 40)
	v, err := New(Config{Issuer: iss, Audience: aud, JWKSURL: srv.URL, HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	// The RSA public key as PEM: the classic confusion is HS256 keyed with it.
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pemPub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	now := time.Now()
	c := good(now)
	expired := good(now.Add(-time.Hour))
	future := good(now)
	future.NotBefore = jwt.NewNumericDate(now.Add(10 * time.Minute))
	wrongIss := good(now)
	wrongIss.Issuer = "https://evil.test"
	wrongAud := good(now)
	wrongAud.Audience = jwt.Audience{"someone-else"}
	noExp := good(now)
	noExp.Expiry = nil
	noSub := good(now)
	noSub.Subject = ""
	refresh := good(now)
	refresh.TokenType = "refresh-token"
	access := good(now)
	access.TokenType = "access-token"

	tampered := sign(t, jose.RS256, rsaKey, "r1", c)
	parts := strings.Split(tampered, ".")
	evil := good(now)
	evil.Subject = "u-mallory"
	evilTok := sign(t, jose.RS256, otherRSA, "r1", evil)
	tampered = parts[0] + "." + strings.Split(evilTok, ".")[1] + "." + parts[2]

	cases := []struct {
		name string
		tok  string
		want string // user id, "" = refused
	}{
		{"RS256 from JWKS", sign(t, jose.RS256, rsaKey, "r1", c), "u-alice"},
		{"ES256 from JWKS", sign(t, jose.ES256, ecKey, "e1", c), "u-alice"},
		{"EdDSA from JWKS", sign(t, jose.EdDSA, edKey, "d1", c), "u-alice"},
		{"RS256 without kid", sign(t, jose.RS256, rsaKey, "", c), "u-alice"},
		{"HS256 with the shared secret", sign(t, jose.HS256, []byte(secret), "", c), "u-alice"},
		{"expired", sign(t, jose.RS256, rsaKey, "r1", expired), ""},
		{"not yet valid", sign(t, jose.RS256, rsaKey, "r1", future), ""},
		{"wrong issuer", sign(t, jose.RS256, rsaKey, "r1", wrongIss), ""},
		{"wrong audience", sign(t, jose.RS256, rsaKey, "r1", wrongAud), ""},
		{"no expiry", sign(t, jose.RS256, rsaKey, "r1", noExp), ""},
		{"no subject", sign(t, jose.RS256, rsaKey, "r1", noSub), ""},
		{"Casdoor access token", sign(t, jose.RS256, rsaKey, "r1", access), "u-alice"},
		{"Casdoor refresh token", sign(t, jose.RS256, rsaKey, "", refresh), ""},
		{"signed by another key", sign(t, jose.RS256, otherRSA, "r1", c), ""},
		{"payload swapped", tampered, ""},
		{"HS256 keyed with the public key", sign(t, jose.HS256, pemPub, "r1", c), ""},
		{"HS256 with another secret", sign(t, jose.HS256, []byte(strings.Repeat("x", 40)), "", c), ""},
		{"ES256 kid of the RSA key", sign(t, jose.ES256, ecKey, "r1", c), ""},
		{"alg none", unsigned(t, c), ""},
		{"garbage", "not.a.jwt", ""},
		{"empty", "", ""},
		{"oversized", strings.Repeat("a", MaxTokenBytes+1), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := v.Verify(context.Background(), tc.tok)
			if tc.want == "" {
				if err == nil || !errors.Is(err, ErrInvalid) {
					t.Fatalf("accepted (user %q), err %v", u.ID, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.ID != tc.want || u.Email != "alice@example.test" {
				t.Fatalf("user %+v", u)
			}
		})
	}
}

// unsigned builds an alg "none" token by hand (go-jose refuses to make one).
func unsigned(t *testing.T, c claims) string {
	t.Helper()
	tok := sign(t, jose.HS256, []byte(strings.Repeat("k", 32)), "", c)
	parts := strings.Split(tok, ".")
	return "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
}

func TestKeyRotationRefetchesAtMostEvery30s(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := newJWKS(t, pub(k1, "k1", jose.ES256))
	v, err := New(Config{Issuer: iss, Audience: aud, JWKSURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := v.Prefetch(ctx); err != nil {
		t.Fatal(err)
	}
	c := good(time.Now())
	if _, err := v.Verify(ctx, sign(t, jose.ES256, k1, "k1", c)); err != nil {
		t.Fatal(err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for a known key, want 1", n)
	}
	// The provider rotates; within 30 s of the last fetch an unknown kid
	// does not fetch again (a flood of made-up kids cannot hammer it).
	srv.replace(pub(k1, "k1", jose.ES256), pub(k2, "k2", jose.ES256))
	for range 5 {
		if _, err := v.Verify(ctx, sign(t, jose.ES256, k2, "k2", c)); err == nil {
			t.Fatal("new key accepted before a refetch")
		}
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (refetch limited)", n)
	}
	v.mu.Lock()
	v.triedAt = time.Now().Add(-jwksMinRefetch)
	v.mu.Unlock()
	if _, err := v.Verify(ctx, sign(t, jose.ES256, k2, "k2", c)); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// The provider fails: the keys already known keep working.
	srv.mu.Lock()
	srv.status = 500
	srv.mu.Unlock()
	v.mu.Lock()
	v.triedAt, v.fetchedAt = time.Now().Add(-jwksRefresh), time.Now().Add(-2*jwksRefresh)
	v.mu.Unlock()
	if _, err := v.Verify(ctx, sign(t, jose.ES256, k1, "k1", c)); err != nil {
		t.Fatalf("known key refused while the provider is down: %v", err)
	}
	if n := srv.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3 (stale set refreshed)", n)
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pemFile := filepath.Join(dir, "sso.pem")
	os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	jwksFile := filepath.Join(dir, "jwks.json")
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub(edKey, "d1", jose.EdDSA)}})
	os.WriteFile(jwksFile, b, 0o600)
	c := good(time.Now())
	c.UID = "42"

	v, err := New(Config{Issuer: iss, Audience: aud, KeyFile: pemFile, UserClaim: "uid"})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := v.Verify(context.Background(), sign(t, jose.PS256, rsaKey, "", c)); err != nil || u.ID != "42" {
		t.Fatalf("PEM key: %+v %v", u, err)
	}
	// The key file names no key id: a token naming one is checked against it.
	if u, err := v.Verify(context.Background(), sign(t, jose.RS256, rsaKey, "cert-built-in", c)); err != nil || u.ID != "42" {
		t.Fatalf("PEM key, token with a kid: %+v %v", u, err)
	}
	if _, err := v.Verify(context.Background(), sign(t, jose.HS256, []byte(strings.Repeat("s", 40)), "", c)); err == nil {
		t.Fatal("HS256 accepted without an HMAC secret")
	}
	v, err = New(Config{Issuer: iss, Audience: aud, KeyFile: jwksFile})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := v.Verify(context.Background(), sign(t, jose.EdDSA, edKey, "d1", c)); err != nil || u.ID != "u-alice" {
		t.Fatalf("JWKS file: %+v %v", u, err)
	}

	// A certificate, as Casdoor hands out its signing key.
	tmpl := x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Casdoor Cert"},
		NotBefore: time.Now(), NotAfter: time.Now().AddDate(20, 0, 0)}
	certDER, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &rsaKey.PublicKey, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(dir, "cert.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}), 0o600)
	v, err = New(Config{Issuer: iss, Audience: aud, KeyFile: certFile})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := v.Verify(context.Background(), sign(t, jose.RS256, rsaKey, "cert-built-in", c)); err != nil || u.ID != "u-alice" {
		t.Fatalf("certificate file: %+v %v", u, err)
	}
	if _, err := v.Verify(context.Background(), sign(t, jose.EdDSA, edKey, "cert-built-in", c)); err == nil {
		t.Fatal("a token by another key accepted with a certificate file")
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	der, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	smallFile := filepath.Join(dir, "small.pem")
	os.WriteFile(smallFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	priv, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: []byte("symmetric-key-material-32-bytes!"), KeyID: "h"}}})
	privFile := filepath.Join(dir, "sym.json")
	os.WriteFile(privFile, priv, 0o600)
	cases := []struct {
		name string
		c    Config
		want string
	}{
		{"nothing", Config{}, "no key source"},
		{"no issuer", Config{Audience: aud, HMACSecret: strings.Repeat("s", 32)}, "issuer"},
		{"no audience", Config{Issuer: iss, HMACSecret: strings.Repeat("s", 32)}, "audience"},
		{"short secret", Config{Issuer: iss, Audience: aud, HMACSecret: "short"}, "shorter than 32"},
		{"plain http JWKS", Config{Issuer: iss, Audience: aud, JWKSURL: "http://sso.example.test/jwks"}, "https"},
		{"relative JWKS", Config{Issuer: iss, Audience: aud, JWKSURL: "/jwks"}, "absolute"},
		{"missing key file", Config{Issuer: iss, Audience: aud, KeyFile: filepath.Join(dir, "nope")}, "key file"},
		{"RSA 1024", Config{Issuer: iss, Audience: aud, KeyFile: smallFile}, "no usable public"},
		{"symmetric key in a key set", Config{Issuer: iss, Audience: aud, KeyFile: privFile}, "no usable public"},
		{"short Auth.js secret", Config{AuthJSSecret: "short"}, "CLAWFLEET_SSO_AUTHJS_SECRET"},
		{"short Auth.js secret beside a good one", Config{AuthJSSecret: strings.Repeat("a", 32) + ",short"}, "shorter than 32"},
		{"signed tokens still need an issuer", Config{AuthJSSecret: strings.Repeat("a", 32), HMACSecret: strings.Repeat("s", 32)}, "issuer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := New(Config{Issuer: iss, Audience: aud, JWKSURL: "http://127.0.0.1:1/jwks"}); err != nil {
		t.Fatalf("loopback http JWKS refused: %v", err)
	}
	// Auth.js session tokens name no issuer or audience.
	v, err := New(Config{AuthJSSecret: strings.Repeat("a", 32)})
	if err != nil {
		t.Fatalf("Auth.js secret alone: %v", err)
	}
	if _, err := v.Verify(context.Background(), sign(t, jose.HS256, []byte(strings.Repeat("a", 32)), "", good(time.Now()))); err == nil {
		t.Fatal("a signed token accepted with only an Auth.js secret")
	}
}

func TestRedirectOnlyToHTTPS(t *testing.T) {
	for _, tc := range []struct {
		to string
		ok bool
	}{
		{"https://keys.example.test/jwks", true},
		{"http://127.0.0.1:9/jwks", true},
		{"http://keys.example.test/jwks", false},
		{"ftp://keys.example.test/jwks", false},
	} {
		req, _ := http.NewRequest("GET", tc.to, nil)
		if err := secureRedirect(req, nil); (err == nil) != tc.ok {
			t.Errorf("redirect to %s: %v", tc.to, err)
		}
	}
}
