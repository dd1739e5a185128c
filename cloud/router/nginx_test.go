package router

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/router/nginxrun"
	"github.com/clawfleet/clawfleet/cloud/sso"
	"github.com/clawfleet/clawfleet/cloud/sso/ssotest"
	"github.com/clawfleet/clawfleet/cloud/store"
)

// startNginx runs the real nginx with docs/nginx/clawfleet.conf, pointed at
// the fixture's endpoint and internal upstream, and returns its address.
func startNginx(t *testing.T, f *internalFixture) string {
	t.Helper()
	if _, err := nginxrun.Find(""); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	n, err := nginxrun.Start(nginxrun.Options{Conf: "../../docs/nginx/clawfleet.conf", Dir: t.TempDir(), Domain: "example.test",
		Listen: addr, CloudAddr: f.endpoint.Listener.Addr().String(), UpstreamAddr: f.upstream.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Stop()
		if t.Failed() {
			t.Log(n.Logs())
		}
	})
	return n.Addr
}

func TestThroughNginx(t *testing.T) {
	f := newInternalFixture(t, InternalOptions{})
	addr := startNginx(t, f)
	get := func(slug, path string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Host = slug + ".example.test"
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	body := func(resp *http.Response) string {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	html := map[string]string{"Accept": "text/html"}

	// The one-time link: nginx hands it to the router, which sets the cookie.
	link, _, err := f.rt.IssueAccess(t.Context(), "ten_a", "u-alice", "http://alice.example.test/", "/chat")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(link)
	resp := get("alice", u.RequestURI(), html)
	body(resp)
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			ck = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/chat" || ck == nil || !ck.HttpOnly || ck.Secure {
		t.Fatalf("access link through nginx: %d to %q, cookie %+v", resp.StatusCode, resp.Header.Get("Location"), ck)
	}
	alice := CookieName + "=" + ck.Value
	if resp := get("alice", u.RequestURI(), html); resp.StatusCode != 401 || !strings.Contains(body(resp), "no longer valid") {
		t.Fatalf("replayed link through nginx: %d", resp.StatusCode)
	}

	// With the cookie: the gateway, told the owner whatever the client says.
	resp = get("alice", "/api/x?q=1", map[string]string{"Cookie": alice + "; theirs=1", "X-Forwarded-User": "u-bob",
		"X-Forwarded-For": "1.2.3.4", "X-Real-IP": "1.2.3.4", "X-Clawfleet-Route": "p.1.forged", "X-User-ID": "u-bob"})
	if resp.StatusCode != 200 {
		t.Fatalf("owner through nginx: %d %s", resp.StatusCode, body(resp))
	}
	got := decodeJSON(t, resp)
	for k, v := range map[string]any{"X-Forwarded-User": "u-alice", "X-Forwarded-For": "192.0.2.1", "X-Forwarded-Proto": "http",
		"host": "alice.example.test", "path": "/api/x?q=1", "Cookie": "theirs=1"} {
		if got[k] != v {
			t.Errorf("gateway saw %s = %v, want %v", k, got[k], v)
		}
	}
	for _, k := range []string{"X-Clawfleet-Route", "X-Real-Ip", "X-User-Id"} {
		if v, ok := got[k]; ok {
			t.Errorf("gateway saw %s = %v", k, v)
		}
	}

	// Refusals: the cloud's branded pages, through nginx.
	bob := CookieName + "=" + f.login("ten_b", "bob", "u-bob")
	for _, c := range []struct {
		name, slug, cookie string
		status             int
		text               string
	}{
		{"other user", "alice", bob, 403, "Not your gateway"},
		{"no cookie", "alice", "", 401, "Sign in first"},
		{"forged route token, no cookie", "alice", "", 401, "Sign in first"},
		{"unknown slug", "carol", alice, 404, "No such gateway"},
	} {
		hdr := map[string]string{"Accept": "text/html", "X-Clawfleet-Route": "c.9999999999.forged"}
		if c.cookie != "" {
			hdr["Cookie"] = c.cookie
		}
		resp := get(c.slug, "/", hdr)
		if b := body(resp); resp.StatusCode != c.status || !strings.Contains(b, c.text) || !strings.Contains(b, "clawfleet") {
			t.Errorf("%s: %d %q", c.name, resp.StatusCode, b)
		}
	}
	f.routes.set(Route{TenantID: "ten_a", Slug: "alice", Owner: "u-alice", HostID: "dev_one", Port: 20000, Status: store.TenantRunning, Desired: store.TenantRunning, HostOnline: false})
	resp = get("alice", "/", map[string]string{"Cookie": alice})
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("host offline through nginx: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	} else if m := decodeJSON(t, resp); m["code"] != "host_offline" {
		t.Errorf("host offline through nginx: %v", m)
	}
	f.routes.set(Route{TenantID: "ten_a", Slug: "alice", Owner: "u-alice", HostID: "dev_one", Port: 20000, Status: store.TenantRunning, Desired: store.TenantRunning, HostOnline: true})

	// A WebSocket-style upgrade passes, bytes echo both ways.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: alice.example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Forwarded-User: u-bob\r\nCookie: %s\r\n\r\n", alice)
	br := bufio.NewReader(conn)
	wresp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if wresp.StatusCode != http.StatusSwitchingProtocols || wresp.Header.Get("X-Seen-User") != "u-alice" {
		t.Fatalf("upgrade through nginx: %d %v", wresp.StatusCode, wresp.Header)
	}
	for _, msg := range []string{"hello", "你好, gateway"} {
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q: %q %v", msg, buf, err)
		}
	}

	// Straight to the internal upstream, as a local process would: refused
	// without a token nginx got, with a forged one, and with an expired one.
	tok := f.ask("alice.example.test", "/", map[string]string{"Cookie": alice}).Header.Get(RouteHeader)
	if resp := f.via("alice.example.test", "/", tok, nil); resp.StatusCode != 200 {
		t.Fatalf("fresh token straight to the upstream: %d", resp.StatusCode)
	}
	for name, tk := range map[string]string{"none": "", "forged": tok[:len(tok)-3] + "abc", "cloud kind": "c" + tok[1:]} {
		if resp := f.via("alice.example.test", "/", tk, map[string]string{"X-Forwarded-User": "u-alice"}); resp.StatusCode != 403 {
			t.Errorf("upstream with %s token: %d", name, resp.StatusCode)
		}
	}
	f.in.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	defer func() { f.in.now = time.Now }()
	if resp := f.via("alice.example.test", "/", tok, nil); resp.StatusCode != 403 {
		t.Errorf("upstream with an expired token: %d", resp.StatusCode)
	}
}

// TestBearerThroughNginx: nginx's auth_request hands the client's
// Authorization to /api/internal/route, and the token never reaches the
// gateway.
func TestBearerThroughNginx(t *testing.T) {
	p := ssotest.Start(t)
	v, err := sso.New(sso.Config{Issuer: ssotest.Issuer, Audience: ssotest.Audience, JWKSURL: p.JWKSURL()})
	if err != nil {
		t.Fatal(err)
	}
	f := newInternalFixtureWith(t, Options{Tokens: v}, InternalOptions{})
	addr := startNginx(t, f)
	get := func(slug, tok string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/x", nil)
		req.Host = slug + ".example.test"
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	alice := p.Token(t, "u-alice", "", time.Minute)
	resp := get("alice", alice)
	if resp.StatusCode != 200 {
		t.Fatalf("owner's token through nginx: %d", resp.StatusCode)
	}
	if got := decodeJSON(t, resp); got["X-Forwarded-User"] != "u-alice" || got["Authorization"] != nil {
		t.Fatalf("gateway saw user %v, authorization %v", got["X-Forwarded-User"], got["Authorization"])
	}
	for name, c := range map[string]struct {
		slug, tok string
		status    int
		code      string
	}{
		"other tenant": {"bob", alice, 403, "forbidden"},
		"forged":       {"alice", p.Forged(t, "u-alice"), 401, "invalid_token"},
	} {
		resp := get(c.slug, c.tok)
		if m := decodeJSON(t, resp); resp.StatusCode != c.status || m["code"] != c.code {
			t.Errorf("%s: %d %v", name, resp.StatusCode, m)
		}
	}
}

// TestHeadersThroughNginx: nginx passes the client's headers on, and the
// internal upstream applies the router's allow-list, so the gateway sees
// the same through nginx as through the built-in router.
func TestHeadersThroughNginx(t *testing.T) {
	f := newInternalFixture(t, InternalOptions{})
	addr := startNginx(t, f)
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/x", nil)
	req.Host = "alice.example.test"
	for _, c := range clientHeaders {
		req.Header[c.name] = []string{c.value} // as spelt: nginx sees the client's own spelling
	}
	req.Header.Set("Cookie", CookieName+"="+f.login("ten_a", "alice", "u-alice")+"; theirs=1")
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("through nginx: %d", resp.StatusCode)
	}
	got := decodeJSON(t, resp)
	checkClientHeaders(t, "nginx", got)
	if got["X-Forwarded-User"] != "u-alice" || got["Cookie"] != "theirs=1" {
		t.Errorf("gateway saw user %v, cookie %v", got["X-Forwarded-User"], got["Cookie"])
	}
}
