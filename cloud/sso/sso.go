// Package sso verifies the JSON Web Tokens a single sign-on provider issues
// to users, so that the SSO-backed web app (on the user API) and users' own
// clients (on tenant subdomains) can authenticate with
// "Authorization: Bearer <JWT>" instead of the shared secret or a cookie.
//
// Keys come from the provider's JWKS URL (fetched when needed, refreshed
// hourly and at once, at most every 30 s, when a token names an unknown key
// id, so a provider's key rotation is picked up without a restart), from a
// file (a PEM public key or certificate, or a JWKS document), or are a shared
// HMAC secret. Only the algorithms that fit the configured keys are accepted:
// "none" and HMAC signed with a public key never verify.
//
// With the secret of an Auth.js (NextAuth) web app, the session token Auth.js
// keeps in its cookie (an encrypted JWT, see authjs.go) is accepted as well,
// so that a Next.js app can forward its user's session as it is.
package sso

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ErrInvalid wraps every reason a token is refused.
var ErrInvalid = errors.New("invalid token")

// MaxTokenBytes bounds a token; real ID/access tokens are a few KiB.
const MaxTokenBytes = 16 << 10

const (
	maxJWKSBytes   = 1 << 20
	jwksTimeout    = 10 * time.Second
	jwksRefresh    = time.Hour
	jwksMinRefetch = 30 * time.Second
	minHMACSecret  = 32
	minRSABits     = 2048
)

// Config says which tokens are accepted.
type Config struct {
	// Issuer must equal the token's "iss"; Audience must be one of its "aud".
	Issuer, Audience string
	// JWKSURL is the provider's key set (https, or http to a loopback
	// address).
	JWKSURL string
	// KeyFile holds a PEM public key (RSA, ECDSA or Ed25519) or a JWKS
	// document.
	KeyFile string
	// HMACSecret verifies HS256/384/512 tokens (at least 32 bytes).
	HMACSecret string
	// AuthJSSecret is an Auth.js app's AUTH_SECRET (NEXTAUTH_SECRET in
	// next-auth v4), at least 32 bytes; several, comma-separated, while the
	// app rotates it. It decrypts the app's session tokens.
	AuthJSSecret string
	// AuthJSCookie is the name of the app's session cookie, the salt of the
	// v5 key derivation; empty: Auth.js's defaults "authjs.session-token"
	// and "__Secure-authjs.session-token" (the one it uses over https).
	AuthJSCookie string
	// UserClaim names the user id claim ("sub"); EmailClaim the optional
	// email claim ("email").
	UserClaim, EmailClaim string
	// Leeway is the clock skew allowed on exp/nbf/iat (60 s).
	Leeway time.Duration
	// HTTPClient fetches the JWKS (a client with a 10 s timeout).
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Enabled reports whether any key source is configured.
func (c Config) Enabled() bool { return c.signed() || c.AuthJSSecret != "" }

// signed reports whether signed tokens (JWS) are accepted.
func (c Config) signed() bool { return c.JWKSURL != "" || c.KeyFile != "" || c.HMACSecret != "" }

// Check reports what is wrong with an enabled configuration.
func (c Config) Check() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	// Auth.js session tokens name no issuer or audience: the secret alone
	// says they are the app's.
	if c.signed() && c.Issuer == "" {
		errs = append(errs, errors.New("sso: set the issuer (CLAWFLEET_SSO_ISSUER) the tokens name in \"iss\""))
	}
	if c.signed() && c.Audience == "" {
		errs = append(errs, errors.New("sso: set the audience (CLAWFLEET_SSO_AUDIENCE) the tokens name in \"aud\""))
	}
	if c.HMACSecret != "" && len(c.HMACSecret) < minHMACSecret {
		errs = append(errs, fmt.Errorf("sso: the HMAC secret is shorter than %d bytes", minHMACSecret))
	}
	if c.AuthJSSecret != "" {
		for _, s := range splitList(c.AuthJSSecret) {
			if len(s) < minHMACSecret {
				errs = append(errs, fmt.Errorf("sso: an Auth.js secret (CLAWFLEET_SSO_AUTHJS_SECRET) is shorter than %d bytes: generate one with `npx auth secret` and give it to the app too", minHMACSecret))
				break
			}
		}
	}
	if c.JWKSURL != "" {
		u, err := url.Parse(c.JWKSURL)
		switch {
		case err != nil || u.Host == "":
			errs = append(errs, fmt.Errorf("sso: JWKS URL %q is not an absolute URL", c.JWKSURL))
		case u.Scheme == "https":
		case u.Scheme == "http" && isLoopback(u.Hostname()):
		default:
			errs = append(errs, fmt.Errorf("sso: JWKS URL %q must use https (plain http only to a loopback address)", c.JWKSURL))
		}
	}
	return errors.Join(errs...)
}

// secureRedirect follows a JWKS redirect only to where the configured URL
// could have pointed: https, or http on loopback.
func secureRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("too many redirects")
	}
	if req.URL.Scheme != "https" && !(req.URL.Scheme == "http" && isLoopback(req.URL.Hostname())) {
		return fmt.Errorf("refusing to follow a redirect to %s: the key set must come over https", req.URL.Redacted())
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// User is who a valid token names.
type User struct{ ID, Email string }

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	c    Config
	log  *slog.Logger
	algs []jose.SignatureAlgorithm

	static []jose.JSONWebKey // from KeyFile
	authjs []authJSKey       // from AuthJSSecret

	mu        sync.Mutex // serialises fetches
	remote    []jose.JSONWebKey
	fetchedAt time.Time // last successful fetch
	triedAt   time.Time // last attempt
	keysMu    sync.RWMutex
}

var asymmetric = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

var symmetric = []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512}

// New checks the configuration and loads KeyFile; the JWKS is fetched on
// first use (and by Prefetch).
func New(c Config) (*Verifier, error) {
	if !c.Enabled() {
		return nil, errors.New("sso: no key source: set a JWKS URL, a key file, an HMAC secret or an Auth.js secret")
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	if c.UserClaim == "" {
		c.UserClaim = "sub"
	}
	if c.EmailClaim == "" {
		c.EmailClaim = "email"
	}
	if c.Leeway <= 0 {
		c.Leeway = time.Minute
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: jwksTimeout, CheckRedirect: secureRedirect}
	}
	v := &Verifier{c: c, log: c.Logger}
	if v.log == nil {
		v.log = slog.Default()
	}
	if c.KeyFile != "" {
		b, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("sso: key file: %w", err)
		}
		if v.static, err = parseKeys(b); err != nil {
			return nil, fmt.Errorf("sso: key file %s: %w", c.KeyFile, err)
		}
	}
	if c.JWKSURL != "" || c.KeyFile != "" {
		v.algs = append(v.algs, asymmetric...)
	}
	if c.HMACSecret != "" {
		v.algs = append(v.algs, symmetric...)
	}
	if c.AuthJSSecret != "" {
		v.authjs = authJSKeys(splitList(c.AuthJSSecret), authJSCookies(c.AuthJSCookie))
	}
	return v, nil
}

// splitList splits a comma-separated setting, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Prefetch fetches the JWKS now so that a wrong URL shows at start-up; an
// error is worth a warning, not a failure (the provider may be down).
func (v *Verifier) Prefetch(ctx context.Context) error {
	if v.c.JWKSURL == "" {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.fetch(ctx)
}

// Verify checks a compact JWS token, or an Auth.js session token (compact
// JWE), and returns the user it names. Every refusal wraps ErrInvalid and
// says why.
func (v *Verifier) Verify(ctx context.Context, raw string) (User, error) {
	if len(raw) > MaxTokenBytes {
		return User{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxTokenBytes)
	}
	if strings.Count(raw, ".") == 4 {
		return v.verifyAuthJS(raw)
	}
	if len(v.algs) == 0 {
		return User{}, fmt.Errorf("%w: a signed token, but only Auth.js session tokens are configured", ErrInvalid)
	}
	tok, err := jwt.ParseSigned(raw, v.algs)
	if err != nil {
		return User{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(tok.Headers) != 1 {
		return User{}, fmt.Errorf("%w: expected one signature", ErrInvalid)
	}
	h := tok.Headers[0]
	var std jwt.Claims
	var all map[string]any
	if err := v.verifySignature(ctx, tok, h, &std, &all); err != nil {
		return User{}, err
	}
	if std.Expiry == nil {
		return User{}, fmt.Errorf("%w: no expiry (exp)", ErrInvalid)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: v.c.Issuer, AnyAudience: jwt.Audience{v.c.Audience}}, v.c.Leeway); err != nil {
		return User{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	// Casdoor signs its refresh tokens like its access tokens (same issuer,
	// audience and subject, a longer life) and tells them apart only here
	// ("TokenType" in its custom token format).
	for _, c := range []string{"tokenType", "TokenType"} {
		if t, _ := all[c].(string); t == "refresh-token" {
			return User{}, fmt.Errorf("%w: a refresh token (%s), not an access or ID token", ErrInvalid, c)
		}
	}
	return v.user(all)
}

// user reads who verified claims name.
func (v *Verifier) user(all map[string]any) (User, error) {
	id, _ := all[v.c.UserClaim].(string)
	if id == "" || !utf8.ValidString(id) {
		return User{}, fmt.Errorf("%w: no user id in claim %q", ErrInvalid, v.c.UserClaim)
	}
	email, _ := all[v.c.EmailClaim].(string)
	return User{ID: id, Email: email}, nil
}

func (v *Verifier) verifySignature(ctx context.Context, tok *jwt.JSONWebToken, h jose.Header, dest ...any) error {
	alg := jose.SignatureAlgorithm(h.Algorithm)
	if isSymmetric(alg) {
		if err := tok.Claims([]byte(v.c.HMACSecret), dest...); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return nil
	}
	keys := v.candidates(ctx, h.KeyID, alg)
	if len(keys) == 0 {
		return fmt.Errorf("%w: no key for kid %q and alg %s", ErrInvalid, h.KeyID, alg)
	}
	var err error
	for _, k := range keys {
		if err = tok.Claims(k.Key, dest...); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %v", ErrInvalid, err)
}

func isSymmetric(alg jose.SignatureAlgorithm) bool {
	return alg == jose.HS256 || alg == jose.HS384 || alg == jose.HS512
}

// candidates returns the public keys that may have signed a token with this
// kid and alg; an unknown kid refreshes the JWKS (at most every 30 s).
func (v *Verifier) candidates(ctx context.Context, kid string, alg jose.SignatureAlgorithm) []jose.JSONWebKey {
	if v.c.JWKSURL != "" {
		v.keysMu.RLock()
		stale := time.Since(v.fetchedAt) > jwksRefresh
		v.keysMu.RUnlock()
		out := v.match(kid, alg)
		if len(out) == 0 || stale {
			v.refresh(ctx)
			out = v.match(kid, alg)
		}
		return out
	}
	return v.match(kid, alg)
}

func (v *Verifier) match(kid string, alg jose.SignatureAlgorithm) []jose.JSONWebKey {
	v.keysMu.RLock()
	defer v.keysMu.RUnlock()
	var out []jose.JSONWebKey
	for _, set := range [][]jose.JSONWebKey{v.static, v.remote} {
		for _, k := range set {
			// A key without an id (a PEM key file) is tried whatever
			// id the token names: it is the key the operator gave.
			if (kid == "" || k.KeyID == "" || k.KeyID == kid) && fits(k, alg) {
				out = append(out, k)
			}
		}
	}
	return out
}

// fits reports whether a key may verify alg: its declared alg (if any)
// must be alg, and its type must be the one alg needs.
func fits(k jose.JSONWebKey, alg jose.SignatureAlgorithm) bool {
	if k.Algorithm != "" && k.Algorithm != string(alg) {
		return false
	}
	switch k.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(string(alg), "RS") || strings.HasPrefix(string(alg), "PS")
	case *ecdsa.PublicKey:
		return strings.HasPrefix(string(alg), "ES")
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}

func (v *Verifier) refresh(ctx context.Context) {
	v.keysMu.RLock()
	loaded := !v.fetchedAt.IsZero()
	v.keysMu.RUnlock()
	if loaded {
		// Keys are known: a fetch under way (up to 10 s against a slow
		// provider) must not hold up every verification meanwhile.
		if !v.mu.TryLock() {
			return
		}
	} else {
		v.mu.Lock()
	}
	defer v.mu.Unlock()
	if time.Since(v.triedAt) < jwksMinRefetch {
		return // someone just fetched (or failed to): don't hammer the provider
	}
	if err := v.fetch(ctx); err != nil {
		v.log.Warn("SSO key set fetch failed; keeping the keys already known", "url", v.c.JWKSURL, "err", err)
	}
}

// fetch reads the JWKS; the caller holds v.mu.
func (v *Verifier) fetch(ctx context.Context) error {
	v.triedAt = time.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.c.JWKSURL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.c.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch JWKS: %s answered %s", v.c.JWKSURL, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return fmt.Errorf("fetch JWKS: %w", err)
	}
	if len(b) > maxJWKSBytes {
		return fmt.Errorf("fetch JWKS: larger than %d bytes", maxJWKSBytes)
	}
	keys, err := parseKeys(b)
	if err != nil {
		return fmt.Errorf("JWKS from %s: %w", v.c.JWKSURL, err)
	}
	v.keysMu.Lock()
	v.remote, v.fetchedAt = keys, time.Now()
	v.keysMu.Unlock()
	v.log.Info("SSO key set loaded", "url", v.c.JWKSURL, "keys", len(keys))
	return nil
}

// parseKeys reads a JWKS document, one PEM public key or one PEM
// certificate (as Casdoor hands out its signing key; only its key is used,
// its validity and issuer do not matter here) and keeps the public
// signature keys (RSA of at least 2048 bits, ECDSA, Ed25519).
func parseKeys(b []byte) ([]jose.JSONWebKey, error) {
	var raw []jose.JSONWebKey
	if blk, _ := pem.Decode(b); blk != nil && blk.Type == "CERTIFICATE" {
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM certificate: %w", err)
		}
		raw = []jose.JSONWebKey{{Key: cert.PublicKey}}
	} else if blk != nil {
		pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM public key: %w", err)
		}
		raw = []jose.JSONWebKey{{Key: pub}}
	} else {
		// Decode key by key: one key of an unsupported type (a provider may
		// list encryption or symmetric keys) must not hide the others.
		var doc struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("neither a PEM public key nor a JWKS document: %w", err)
		}
		for _, m := range doc.Keys {
			var k jose.JSONWebKey
			if json.Unmarshal(m, &k) == nil {
				raw = append(raw, k)
			}
		}
	}
	var out []jose.JSONWebKey
	for _, k := range raw {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() < minRSABits {
				continue
			}
		case *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			continue // private or symmetric material has no place in a key set we trust
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, errors.New("no usable public signature key (RSA ≥ 2048 bits, ECDSA or Ed25519)")
	}
	return out, nil
}
