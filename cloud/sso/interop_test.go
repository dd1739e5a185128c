package sso_test

// Interoperability: the verifier against tokens made by the libraries that
// operators' SSOs and web apps run, installed from npm (versions pinned in
// testdata/npm/package-lock.json) and run with node. Without node or npm
// these tests skip, except in CI (CI set), where that is a failure.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/sso"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// nodeDir returns a directory holding the node scripts of testdata/npm and
// the pinned packages (installed once, see testdata/npm/install.sh).
func nodeDir(t *testing.T) string {
	t.Helper()
	npmDir := tstest.NPM(t, "testdata/npm/install.sh", "the SSO interoperability tests")
	// The scripts import the packages from a node_modules beside them.
	dir := t.TempDir()
	scripts, _ := filepath.Glob("testdata/npm/*.mjs")
	for _, s := range scripts {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(s)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(npmDir, "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runNode runs a script of testdata/npm and decodes the JSON line it prints
// first into out. A script that serves keeps running until the test ends.
func runNode(t *testing.T, script string, env []string, out any, args ...string) {
	t.Helper()
	dir := nodeDir(t)
	cmd := exec.Command("node", append([]string{filepath.Join(dir, script)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer // read only once the process is done
	cmd.Stderr = &stderr
	first := &firstLine{c: make(chan []byte, 1)}
	cmd.Stdout = first
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		stdin.Close() // the servers exit when their input ends
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	t.Cleanup(stop)
	var line []byte
	select {
	case line = <-first.c:
	case <-done: // Wait returns after the output is copied: a line is there by now, if any
		select {
		case line = <-first.c:
		default:
		}
	case <-time.After(60 * time.Second):
	}
	if err := json.Unmarshal(line, out); err != nil {
		stop()
		t.Fatalf("node %s: %v; output %q; stderr:\n%s", script, err, line, stderr.String())
	}
}

// firstLine hands on the first line written to it and drops the rest.
type firstLine struct {
	buf  []byte
	sent bool
	c    chan []byte
}

func (f *firstLine) Write(p []byte) (int, error) {
	if !f.sent {
		f.buf = append(f.buf, p...)
		if i := bytes.IndexByte(f.buf, '\n'); i >= 0 {
			f.c <- f.buf[:i]
			f.sent = true
		}
	}
	return len(p), nil
}

// issued is what the SSO scripts print: where their keys are, what their
// tokens name, and the tokens by case.
type issued struct {
	JWKS, Issuer, Audience string
	User                   sso.User
	Tokens                 map[string]string
}

func accept(t *testing.T, v *sso.Verifier, name, tok string, want sso.User) {
	t.Helper()
	u, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("%s refused: %v", name, err)
	}
	if u != want {
		t.Fatalf("%s: user %+v, want %+v", name, u, want)
	}
}

func refuse(t *testing.T, v *sso.Verifier, name, tok string) {
	t.Helper()
	u, err := v.Verify(context.Background(), tok)
	if err == nil || !errors.Is(err, sso.ErrInvalid) {
		t.Fatalf("%s accepted (user %+v), err %v", name, u, err)
	}
	t.Logf("%s refused: %v", name, err)
}

// header decodes a compact token's protected header.
func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	var h map[string]any
	if err != nil || json.Unmarshal(b, &h) != nil {
		t.Fatalf("header of %q: %v", tok, err)
	}
	return h
}

// withSubject keeps a signed token's header and signature but names another
// user in its payload.
func withSubject(t *testing.T, tok, sub string) string {
	t.Helper()
	p := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(p[1])
	var c map[string]any
	if err != nil || json.Unmarshal(b, &c) != nil {
		t.Fatalf("payload of %q: %v", tok, err)
	}
	c["sub"] = sub
	b, _ = json.Marshal(c)
	return p[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + p[2]
}

func newVerifier(t *testing.T, c sso.Config) *sso.Verifier {
	t.Helper()
	v, err := sso.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestBetterAuthJWT: a real Better-Auth server's jwt plugin (defaults:
// EdDSA/Ed25519, iss and aud its base URL), its key set fetched from
// /api/auth/jwks over HTTP.
func TestBetterAuthJWT(t *testing.T) {
	var ba issued
	runNode(t, "better-auth.mjs", nil, &ba)
	good := ba.Tokens["good"]
	if h := header(t, good); h["alg"] != "EdDSA" || h["kid"] == "" {
		t.Fatalf("Better-Auth's default token header %v, want EdDSA with a kid", h)
	}
	v := newVerifier(t, sso.Config{Issuer: ba.Issuer, Audience: ba.Audience, JWKSURL: ba.JWKS})
	if err := v.Prefetch(context.Background()); err != nil {
		t.Fatalf("Better-Auth's JWKS: %v", err)
	}
	accept(t, v, "a signed-in user's token from /api/auth/token", good, ba.User)
	refuse(t, v, "payload changed", withSubject(t, good, "someone-else"))
	for _, c := range []string{"otherKey", "expired", "otherAudience", "otherIssuer"} {
		refuse(t, v, c, ba.Tokens[c])
	}
	refuse(t, newVerifier(t, sso.Config{Issuer: "https://another-issuer.test", Audience: ba.Audience, JWKSURL: ba.JWKS}),
		"good token, cloud trusting another issuer", good)
	refuse(t, newVerifier(t, sso.Config{Issuer: ba.Issuer, Audience: "clawfleet", JWKSURL: ba.JWKS}),
		"good token, cloud expecting another audience", good)
}

// TestCasdoorRS256: tokens of Casdoor's shape signed RS256 by jose with a
// certificate made as Casdoor makes its own, trusted through the key set
// Casdoor serves (x5c included) or through the certificate file.
func TestCasdoorRS256(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	casdoorCert(t, certFile, keyFile)
	var cd issued
	runNode(t, "casdoor.mjs", nil, &cd, certFile, keyFile)
	good := cd.Tokens["good"]
	if h := header(t, good); h["alg"] != "RS256" || h["kid"] != "cert-built-in" {
		t.Fatalf("token header %v", h)
	}
	for name, c := range map[string]sso.Config{
		"JWKS":             {Issuer: cd.Issuer, Audience: cd.Audience, JWKSURL: cd.JWKS},
		"certificate file": {Issuer: cd.Issuer, Audience: cd.Audience, KeyFile: certFile},
	} {
		t.Run(name, func(t *testing.T) {
			v := newVerifier(t, c)
			accept(t, v, "access token", good, cd.User)
			refuse(t, v, "payload changed", withSubject(t, good, "someone-else"))
			for _, c := range []string{"refresh", "otherKey", "expired", "otherAudience", "otherIssuer"} {
				refuse(t, v, c, cd.Tokens[c])
			}
		})
	}
}

// casdoorCert writes a signing certificate and key made the way Casdoor
// makes its certs: RSA 4096, self-signed x509 valid 20 years, the key as
// PKCS#1 PEM.
func casdoorCert(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := x509.Certificate{SerialNumber: big.NewInt(123456), NotBefore: time.Now(), NotAfter: time.Now().AddDate(20, 0, 0),
		Subject:               pkix.Name{CommonName: "Casdoor Cert", Organization: []string{"Casdoor Organization"}},
		BasicConstraintsValid: true, SignatureAlgorithm: x509.SHA256WithRSA}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	for file, blk := range map[string]*pem.Block{
		certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile:  {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAuthJSSessionToken: the session cookie values that @auth/core's
// (Auth.js v5) and next-auth v4's encode write, decrypted with the app's
// secret.
func TestAuthJSSessionToken(t *testing.T) {
	secret, other := randomSecret(t), randomSecret(t)
	var out struct {
		User   sso.User
		V5, V4 map[string]string
	}
	runNode(t, "authjs.mjs", []string{"AUTH_SECRET=" + secret, "OTHER_SECRET=" + other}, &out)
	if h := header(t, out.V5["good"]); h["alg"] != "dir" || h["enc"] != "A256CBC-HS512" {
		t.Fatalf("Auth.js v5 session token header %v", h)
	}
	if h := header(t, out.V4["good"]); h["alg"] != "dir" || h["enc"] != "A256GCM" {
		t.Fatalf("next-auth v4 session token header %v", h)
	}

	v := newVerifier(t, sso.Config{AuthJSSecret: secret})
	accept(t, v, "v5, cookie authjs.session-token", out.V5["good"], out.User)
	accept(t, v, "v5, cookie __Secure-authjs.session-token", out.V5["secureCookie"], out.User)
	accept(t, v, "v4", out.V4["good"], out.User)
	refuse(t, v, "v5, another cookie name than configured", out.V5["customCookie"])
	for _, c := range []string{"expired", "otherSecret", "noSub"} {
		refuse(t, v, "v5 "+c, out.V5[c])
	}
	for _, c := range []string{"expired", "otherSecret"} {
		refuse(t, v, "v4 "+c, out.V4[c])
	}
	for _, tok := range []string{out.V5["good"], out.V4["good"]} {
		refuse(t, v, "ciphertext changed", flipCiphertext(t, tok))
	}

	custom := newVerifier(t, sso.Config{AuthJSSecret: secret, AuthJSCookie: "clawfleet-app.session"})
	accept(t, custom, "v5, custom cookie name", out.V5["customCookie"], out.User)
	refuse(t, custom, "v5, default cookie name while a custom one is configured", out.V5["good"])

	rotating := newVerifier(t, sso.Config{AuthJSSecret: other + ", " + secret})
	accept(t, rotating, "v5 under the old secret while rotating", out.V5["good"], out.User)
	accept(t, rotating, "v4 under the old secret while rotating", out.V4["good"], out.User)
	accept(t, rotating, "v5 under the new secret", out.V5["otherSecret"], out.User)

	// Without the Auth.js secret a session token is refused; with it,
	// signed tokens still need their own keys.
	jwksOnly := newVerifier(t, sso.Config{Issuer: "https://sso.example.test", Audience: "clawfleet", HMACSecret: strings.Repeat("h", 32)})
	refuse(t, jwksOnly, "session token without the Auth.js secret", out.V5["good"])
}

func randomSecret(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// flipCiphertext changes one bit of a compact JWE's ciphertext.
func flipCiphertext(t *testing.T, tok string) string {
	t.Helper()
	p := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(p[3])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	p[3] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(p, ".")
}
