package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/config"
	"github.com/clawfleet/clawfleet/cloud/router"
	"github.com/clawfleet/clawfleet/cloud/store"
)

// writeCert writes a self-signed wildcard certificate for example.test and
// *.example.test, named cn, and returns it.
func writeCert(t *testing.T, certFile, keyFile, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		DNSNames:  []string{"example.test", "*.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func startApp(t *testing.T, args ...string) *App {
	t.Helper()
	args = append([]string{"--http-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0", "--mqtt-tls-addr", "127.0.0.1:0",
		"--https-addr", "127.0.0.1:0", "--internal-upstream-addr", "127.0.0.1:0", "--wg-addr", "",
		"--data-dir", t.TempDir(), "--admin-token", "cfa_app_test_admin_token_0123456789", "--domain", "example.test"}, args...)
	cfg, err := config.Load(args, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})), io.Discard)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- a.Run(ctx, func() { close(ready) }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("cloud did not start: %v", err)
	}
	return a
}

func TestHTTPSWithWildcardCertificate(t *testing.T) {
	certCheckInterval = 0 // look at the files on every handshake
	defer func() { certCheckInterval = 30 * time.Second }()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := writeCert(t, certFile, keyFile, "first")
	a := startApp(t, "--tls-cert", certFile, "--tls-key", keyFile)
	ctx := t.Context()
	if err := a.store.CreateTenant(ctx, &store.Tenant{ID: "ten_a", Slug: "alice", OwnerID: "u-alice", Plan: "free",
		Status: store.TenantRunning, DesiredState: store.TenantRunning, HostID: "dev_one", Port: 20000, GatewayTokenEnc: "x"}); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(a.HTTPSAddr().String())
	if got := a.tenantURL("alice"); got != "https://alice.example.test:"+port+"/" {
		t.Errorf("tenant URL with only HTTPS configured: %s", got)
	}

	// A client that resolves every name to the cloud's HTTPS port and
	// trusts the current certificate.
	client := func(trust *x509.Certificate) *http.Client {
		pool := x509.NewCertPool()
		pool.AddCert(trust)
		return &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}}, // the server must pick http/1.1
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, network, a.HTTPSAddr().String())
				},
			},
		}
	}
	c := client(first)
	base := "https://alice.example.test:" + port
	resp, err := c.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 401 || body["code"] != "login_required" || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "http/1.1" ||
		resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("router over HTTPS: %d %v, TLS %+v", resp.StatusCode, body, resp.TLS)
	}

	// Redeeming a link over HTTPS sets a Secure cookie.
	link, _, err := a.router.IssueAccess(ctx, "ten_a", "u-alice", a.tenantURL("alice"), "/chat")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(link)
	if u.Scheme != "https" {
		t.Errorf("link %s is not https", link)
	}
	resp, err = c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var ck *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == router.SecureCookieName {
			ck = k
		}
	}
	if resp.StatusCode != http.StatusSeeOther || ck == nil || !ck.Secure || !ck.HttpOnly {
		t.Fatalf("redeem over HTTPS: %d, cookie %+v", resp.StatusCode, ck)
	}

	// The API and dashboard answer on the HTTPS port too.
	resp, err = c.Get("https://example.test:" + port + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("health over HTTPS: %d", resp.StatusCode)
	}

	// TLS 1.1 is refused.
	conn, err := tls.Dial("tcp", a.HTTPSAddr().String(), &tls.Config{ServerName: "alice.example.test", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Fatal("TLS 1.1 handshake succeeded")
	}

	// A renewed certificate (new files, as certbot writes them) is served
	// without a restart.
	time.Sleep(10 * time.Millisecond) // a later modification time
	second := writeCert(t, certFile, keyFile, "second")
	c2 := client(second)
	var served string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		c2.Transport.(*http.Transport).CloseIdleConnections()
		resp, err := c2.Get(base + "/")
		if err != nil {
			continue
		}
		resp.Body.Close()
		served = resp.TLS.PeerCertificates[0].Subject.CommonName
		if served == "second" {
			break
		}
	}
	if served != "second" {
		t.Fatalf("after renewal the cloud serves %q", served)
	}
	// A broken file keeps the previous certificate.
	os.WriteFile(keyFile, []byte("garbage"), 0o600)
	time.Sleep(10 * time.Millisecond)
	if resp, err := c2.Get(base + "/"); err != nil {
		t.Fatalf("after a broken renewal: %v", err)
	} else {
		resp.Body.Close()
	}
}

func TestInternalListenerWiring(t *testing.T) {
	a := startApp(t)
	if a.HTTPSAddr() != nil {
		t.Error("HTTPS listens without a certificate")
	}
	// The endpoint answers on the HTTP port (loopback is allowed) ...
	resp, err := http.Get("http://" + a.HTTPAddr().String() + router.RoutePath + "?host=carol.example.test&uri=/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get(router.ReasonHeader) != "unknown_gateway" ||
		resp.Header.Get(router.UpstreamHeader) != a.InternalUpstreamAddr().String() {
		t.Fatalf("route endpoint: %d %v", resp.StatusCode, resp.Header)
	}
	// ... but not on a tenant subdomain, whose paths are the gateway's.
	req, _ := http.NewRequest("GET", "http://"+a.HTTPAddr().String()+router.RoutePath+"?host=carol.example.test", nil)
	req.Host = "carol.example.test"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get(router.UpstreamHeader) != "" {
		t.Fatalf("route endpoint on a tenant host: %d %v", resp.StatusCode, resp.Header)
	}
	// The internal upstream refuses requests without a route token.
	req, _ = http.NewRequest("GET", "http://"+a.InternalUpstreamAddr().String()+"/", nil)
	req.Host = "carol.example.test"
	req.Header.Set("X-Real-IP", "203.0.113.1")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "route_token_required") {
		t.Fatalf("internal upstream without a token: %d %s", resp.StatusCode, b)
	}
}
