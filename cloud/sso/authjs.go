package sso

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Auth.js (next-auth v5, @auth/core) keeps its session in a cookie as a JWE
// with "alg":"dir": the payload encrypted with A256CBC-HS512 under a 64-byte
// key that HKDF-SHA256 derives from AUTH_SECRET, with the cookie's name as
// salt and "Auth.js Generated Encryption Key (<salt>)" as info; the header's
// kid is the key's JWK thumbprint (RFC 7638, SHA-512). Its decoder also
// takes A256GCM under a 32-byte key derived the same way. next-auth v4
// encrypted with A256GCM under a 32-byte key derived with no salt and the
// info "NextAuth.js Generated Encryption Key", without a kid.
const (
	authJSInfo   = "Auth.js Generated Encryption Key (%s)"
	nextAuthInfo = "NextAuth.js Generated Encryption Key"
)

// Auth.js's default session cookie names: plain, and over https.
var authJSDefaultCookies = []string{"authjs.session-token", "__Secure-authjs.session-token"}

// authJSKey is one key a session token may be encrypted with.
type authJSKey struct {
	enc jose.ContentEncryption
	kid string // JWK thumbprint, as Auth.js writes it
	key []byte
}

func authJSCookies(name string) []string {
	if name == "" {
		return authJSDefaultCookies
	}
	return []string{name}
}

// authJSKeys derives every key the secrets (newest first) may have
// encrypted a session with, for each cookie name.
func authJSKeys(secrets, cookies []string) []authJSKey {
	var out []authJSKey
	add := func(enc jose.ContentEncryption, secret, salt, info string, n int) {
		k, err := hkdf.Key(sha256.New, []byte(secret), []byte(salt), info, n)
		if err != nil {
			panic(err) // only for n > 255*32
		}
		out = append(out, authJSKey{enc: enc, kid: octThumbprint(k), key: k})
	}
	for _, s := range secrets {
		for _, c := range cookies {
			add(jose.A256CBC_HS512, s, c, fmt.Sprintf(authJSInfo, c), 64)
			add(jose.A256GCM, s, c, fmt.Sprintf(authJSInfo, c), 32)
		}
		add(jose.A256GCM, s, "", nextAuthInfo, 32)
	}
	return out
}

// octThumbprint is the RFC 7638 thumbprint of a symmetric key, hashed with
// SHA-512 for a 64-byte key and SHA-256 otherwise, as Auth.js computes it.
func octThumbprint(k []byte) string {
	in := []byte(`{"k":"` + base64.RawURLEncoding.EncodeToString(k) + `","kty":"oct"}`)
	var sum []byte
	if len(k) == 64 {
		s := sha512.Sum512(in)
		sum = s[:]
	} else {
		s := sha256.Sum256(in)
		sum = s[:]
	}
	return base64.RawURLEncoding.EncodeToString(sum)
}

// verifyAuthJS decrypts an Auth.js session token and returns its user.
// Decryption authenticates it (the secret is the app's alone); Auth.js
// names no issuer or audience, so only the times are checked.
func (v *Verifier) verifyAuthJS(raw string) (User, error) {
	if len(v.authjs) == 0 {
		return User{}, fmt.Errorf("%w: an encrypted token (JWE), but no Auth.js secret is configured", ErrInvalid)
	}
	var h struct {
		Alg string `json:"alg"`
		Enc string `json:"enc"`
		Kid string `json:"kid"`
		Zip string `json:"zip"`
	}
	b, err := base64.RawURLEncoding.DecodeString(raw[:strings.IndexByte(raw, '.')])
	if err != nil || json.Unmarshal(b, &h) != nil {
		return User{}, fmt.Errorf("%w: unreadable JWE header", ErrInvalid)
	}
	enc := jose.ContentEncryption(h.Enc)
	if h.Alg != string(jose.DIRECT) || (enc != jose.A256CBC_HS512 && enc != jose.A256GCM) || h.Zip != "" {
		return User{}, fmt.Errorf("%w: not an Auth.js session token (alg %q, enc %q)", ErrInvalid, h.Alg, h.Enc)
	}
	tok, err := jwt.ParseEncrypted(raw, []jose.KeyAlgorithm{jose.DIRECT}, []jose.ContentEncryption{enc})
	if err != nil {
		return User{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var std jwt.Claims
	var all map[string]any
	decrypted := false
	for _, k := range v.authjs {
		if k.enc != enc || (h.Kid != "" && k.kid != h.Kid) {
			continue
		}
		if tok.Claims(k.key, &std, &all) == nil {
			decrypted = true
			break
		}
	}
	if !decrypted {
		return User{}, fmt.Errorf("%w: not encrypted with the configured Auth.js secret and cookie name", ErrInvalid)
	}
	if std.Expiry == nil {
		return User{}, fmt.Errorf("%w: no expiry (exp)", ErrInvalid)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{}, v.c.Leeway); err != nil {
		return User{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return v.user(all)
}
