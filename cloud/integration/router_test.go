package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/sso/ssotest"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// visitor is one user's browser-like client for their gateway at
// http://<slug>.localhost:<cloud port>/: a cookie jar, and a dialer that
// sends every request to the cloud (as browsers resolve *.localhost).
type visitor struct {
	t    *testing.T
	hc   *http.Client
	base *url.URL // the tenant's URL
}

func (c *cloud) newVisitor(t *testing.T, base *url.URL) *visitor {
	jar, _ := cookiejar.New(nil)
	addr := fmt.Sprintf("127.0.0.1:%d", c.httpPort)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &visitor{t: t, base: base, hc: &http.Client{Jar: jar, Transport: tr, Timeout: 15 * time.Second}}
}

// accessLink asks the API for a one-time link into userID's gateway.
func (c *cloud) accessLink(t *testing.T, userID string) *url.URL {
	t.Helper()
	code, out := c.user(userID, "POST", "/api/tenants/me/access", nil)
	var res struct{ URL string }
	if code != 201 || json.Unmarshal(out, &res) != nil {
		t.Fatalf("access link for %s = %d %s", userID, code, out)
	}
	u, err := url.Parse(res.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// signIn opens a fresh access link, as the console would, and returns the
// signed-in visitor.
func (c *cloud) signIn(t *testing.T, userID string) *visitor {
	t.Helper()
	link := c.accessLink(t, userID)
	v := c.newVisitor(t, &url.URL{Scheme: link.Scheme, Host: link.Host, Path: "/"})
	v.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := v.hc.Get(link.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("opening %s's access link: %d", userID, resp.StatusCode)
	}
	v.hc.CheckRedirect = nil
	return v
}

// get fetches path from the visitor's gateway; hdr are name, value pairs.
func (v *visitor) get(path string, hdr ...string) (int, string, http.Header) {
	req, _ := http.NewRequest("GET", v.base.ResolveReference(&url.URL{Path: path}).String(), nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := v.hc.Do(req)
	if err != nil {
		return 0, err.Error(), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), resp.Header
}

// on returns a visitor with v's cookies aimed at another tenant's URL.
func (v *visitor) on(base *url.URL) *visitor {
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(base, v.hc.Jar.Cookies(v.base)) // as if the cookie were sent there
	return &visitor{t: v.t, base: base, hc: &http.Client{Jar: jar, Transport: v.hc.Transport, Timeout: v.hc.Timeout}}
}

type whoami struct {
	User, RemoteAddr, XFF, XFProto, XFHost, Host, Authorization string
}

// TestRouterMultiHost: two hosts (separate agent processes, each with its
// own WireGuard tunnel) each run a tenant; the router reaches each through
// its tunnel, lets only the owner in, sets the identity itself, passes
// WebSocket upgrades, and turns a killed host into an error page that heals
// once the agent is back.
func TestRouterMultiHost(t *testing.T) {
	idp := ssotest.Start(t)
	c := newCloud(t, "CLAWFLEET_SHARED_SECRET="+sharedSecret, "CLAWFLEET_SSO_ISSUER="+ssotest.Issuer,
		"CLAWFLEET_SSO_AUDIENCE="+ssotest.Audience, "CLAWFLEET_SSO_JWKS_URL="+idp.JWKSURL(), "CLAWFLEET_PLANS_FILE="+writePlans(t, "unused", 250),
		"CLAWFLEET_SCHEDULER=spread", "CLAWFLEET_TENANT_PORT_BASE="+fmt.Sprint(tstest.TenantPortBase(t)))
	args := []string{"--runtime", "process", "--openclaw-bin", bin("standin")}
	var agents []*agent
	agentArgs := map[*agent][]string{}
	for i, name := range []string{"host-a", "host-b"} {
		token, _ := c.enrollToken(1, "1h")
		a := c.enrollAgent(token, name)
		// Both "hosts" share this machine's root network namespace, so each
		// needs its own pool for its gateways' namespaces.
		agentArgs[a] = append(slices.Clone(args), "--tenant-netns-pool", fmt.Sprintf("10.%d.0.0/16", 231+i))
		a.start(agentArgs[a]...)
		agents = append(agents, a)
	}
	tstest.Await(t, "both hosts online with tunnels", 30*time.Second, func() bool {
		hs := c.hosts()
		for _, a := range agents {
			h := hs[a.deviceID]
			if h.Status != "online" || h.Tunnel == nil || h.Tunnel.Address == "" {
				return false
			}
		}
		return true
	})
	users := map[string]*agent{}
	for _, u := range []string{"alice", "bob"} {
		code, out := c.user(u, "POST", "/api/tenants", map[string]string{"plan": "free", "name": u})
		var tj tenantJSON
		if code != 201 || json.Unmarshal(out, &tj) != nil {
			t.Fatalf("create %s = %d %s", u, code, out)
		}
		for _, a := range agents {
			if a.deviceID == tj.HostID {
				users[u] = a
			}
		}
	}
	if users["alice"] == nil || users["bob"] == nil || users["alice"] == users["bob"] {
		t.Fatalf("spread put the tenants on %v", users)
	}
	for u := range users {
		tstest.Await(t, u+"'s tenant running", 60*time.Second, func() bool { tj, _ := c.myTenant(u); return tj.Status == "running" })
	}
	alice, bob := c.signIn(t, "alice"), c.signIn(t, "bob")

	// Each reaches their own gateway, on their own host, as themselves —
	// whatever identity headers they send.
	for name, v := range map[string]*visitor{"alice": alice, "bob": bob} {
		code, body, _ := v.get("/__standin/whoami", "X-Forwarded-User", "mallory", "X-Forwarded-For", "127.0.0.1", "Forwarded", "for=10.0.0.1")
		var w whoami
		if code != 200 || json.Unmarshal([]byte(body), &w) != nil {
			t.Fatalf("%s's whoami = %d %s", name, code, body)
		}
		if w.User != name || w.XFF == "" || strings.HasPrefix(w.XFF, "127.") || w.XFHost != v.base.Host || w.Host != v.base.Host || w.XFProto != "http" {
			t.Fatalf("%s's gateway saw %+v", name, w)
		}
		if code, body, _ := v.get("/"); code != 200 || !strings.Contains(body, "clawfleet stand-in gateway") {
			t.Fatalf("%s's page = %d %.200s", name, code, body)
		}
	}
	// An API client with the SSO's bearer token instead of a cookie: in as
	// itself, and the token stays with the router.
	for name, v := range map[string]*visitor{"alice": alice, "bob": bob} {
		api := c.newVisitor(t, v.base)
		code, body, _ := api.get("/__standin/whoami", "Authorization", "Bearer "+idp.Token(t, name, "", time.Minute), "X-Forwarded-User", "mallory")
		var w whoami
		if code != 200 || json.Unmarshal([]byte(body), &w) != nil || w.User != name || w.Authorization != "" {
			t.Fatalf("%s with a bearer token = %d %s", name, code, body)
		}
	}
	if code, body, _ := c.newVisitor(t, alice.base).get("/", "Authorization", "Bearer "+idp.Token(t, "bob", "", time.Minute)); code != 403 || strings.Contains(body, "stand-in") {
		t.Fatalf("bob's token on alice's gateway = %d %.200s", code, body)
	}
	if code, body, _ := c.newVisitor(t, alice.base).get("/", "Authorization", "Bearer "+idp.Forged(t, "alice")); code != 401 || !strings.Contains(body, "invalid_token") {
		t.Fatalf("forged token on alice's gateway = %d %.200s", code, body)
	}
	// Bob's cookie on Alice's gateway: 403, a branded page, not a byte of hers.
	code, body, hdr := bob.on(alice.base).get("/", "Accept", "text/html")
	if code != 403 || !strings.Contains(body, "clawfleet") || strings.Contains(body, "stand-in") || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("bob on alice's gateway = %d %.300s", code, body)
	}
	// No cookie at all: 401, and a forged identity header does not help.
	anon := c.newVisitor(t, alice.base)
	if code, body, _ := anon.get("/__standin/whoami", "X-Forwarded-User", "alice"); code != 401 || strings.Contains(body, "remoteAddr") {
		t.Fatalf("anonymous with a forged user header = %d %.200s", code, body)
	}
	// The used link cannot be replayed by someone who saw it.
	link := c.accessLink(t, "alice")
	if resp, err := c.newVisitor(t, alice.base).hc.Get(link.String()); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first use of a link: %v %v", resp, err)
	}
	replay := c.newVisitor(t, alice.base)
	if resp, err := replay.hc.Get(link.String()); err != nil || resp.StatusCode != 401 {
		t.Fatalf("replayed link: %v %v", resp, err)
	}

	// A WebSocket upgrade passes through the router and the tunnel.
	wsEcho(t, c, alice)

	// Kill Alice's host agent: her route becomes an error page within the
	// keepalive window (the gateway dies with its agent); Bob is untouched.
	ha := users["alice"]
	addr := c.hosts()[ha.deviceID].Tunnel.Address
	killed := time.Now()
	if err := ha.p.stop(syscall.SIGKILL); err == nil {
		t.Log("agent exited cleanly on SIGKILL?")
	}
	var last string
	tstest.Await(t, "alice's route to show the error page", 10*time.Second, func() bool {
		code, body, h := alice.get("/")
		last = fmt.Sprint(code, " ", body)
		return (code == 503 || code == 502) && h.Get("Retry-After") != ""
	})
	t.Logf("error page %s after SIGKILL: %.120s", time.Since(killed).Round(time.Millisecond), last)
	if code, _, _ := bob.get("/"); code != 200 {
		t.Fatalf("bob while alice's host is down: %d", code)
	}
	// Back by itself once the agent runs again, with the same key and address.
	ha.start(agentArgs[ha]...)
	back := time.Now()
	tstest.Await(t, "alice's gateway back through the router", 60*time.Second, func() bool { code, _, _ := alice.get("/"); return code == 200 })
	t.Logf("alice's gateway back %s after the agent restarted", time.Since(back).Round(time.Millisecond))
	var got string
	tstest.Await(t, "the restarted host's tunnel status", 10*time.Second, func() bool {
		if tn := c.hosts()[ha.deviceID].Tunnel; tn != nil {
			got = tn.Address
		}
		return got != ""
	})
	if got != addr {
		t.Fatalf("tunnel address changed across an agent restart: %s → %s", addr, got)
	}
}

// wsEcho upgrades a connection through the router and checks bytes echo.
func wsEcho(t *testing.T, c *cloud, v *visitor) {
	t.Helper()
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.httpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var cookie []string
	for _, ck := range v.hc.Jar.Cookies(v.base) {
		cookie = append(cookie, ck.Name+"="+ck.Value)
	}
	fmt.Fprintf(conn, "GET /__standin/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"+
		"Sec-WebSocket-Version: 13\r\nOrigin: http://%s\r\nCookie: %s\r\n\r\n", v.base.Host, v.base.Host, strings.Join(cookie, "; "))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade through the router = %d %v", resp.StatusCode, resp.Header)
	}
	for _, msg := range []string{"ping", strings.Repeat("x", 64<<10)} {
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo of %d bytes: %v", len(msg), err)
		}
	}
}

// processGone reports whether no process carries the tenant's marker.
func processGone(id string) bool {
	envs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, f := range envs {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), "CLAWFLEET_TENANT="+id+"\x00") {
			return false
		}
	}
	return true
}

// containerGone reports whether the tenant's container is gone.
func containerGone(id string) bool {
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=clawfleet.tenant="+id).Output()
	return err == nil && strings.TrimSpace(string(out)) == ""
}

// TestKeyRotation: an admin-forced rotation and an agent-initiated one
// (key older than --wg-key-max-age) each give the host a new WireGuard key
// the cloud learns at once; the tenant stays reachable through the router,
// the old key is gone from the host, and a restart keeps the new key.
func TestKeyRotation(t *testing.T) {
	e := newTenantEnv(t, "unused", 60*time.Second, "clawfleet stand-in gateway", "--runtime", "process", "--openclaw-bin", bin("standin"))
	c := e.c
	if code, out := c.user("alice", "POST", "/api/tenants", map[string]string{"plan": "free", "name": "alice"}); code != 201 {
		t.Fatalf("create = %d %s", code, out)
	}
	e.awaitStatus("alice", "running", 60*time.Second)
	alice := c.signIn(t, "alice")
	reachable := func(what string) {
		t.Helper()
		tstest.Await(t, what, 30*time.Second, func() bool { code, _, _ := alice.get("/__standin/whoami"); return code == 200 })
	}
	reachable("alice's gateway through the router")
	keyFile := filepath.Join(e.a.stateDir, "wg.key")
	readKey := func() string { b, _ := os.ReadFile(keyFile); return string(b) }
	host := func() hostJSON { return c.hosts()[e.a.deviceID] }
	before, priv := host().WGPublicKey, readKey()
	if before == "" || priv == "" {
		t.Fatalf("no key before rotation: public %q, file %d bytes", before, len(priv))
	}

	// Admin-forced.
	var res struct{ HostID, WGPublicKey string }
	c.admin("POST", "/api/hosts/"+e.a.deviceID+"/rotate-key", nil, 200, &res)
	if res.WGPublicKey == "" || res.WGPublicKey == before {
		t.Fatalf("rotate-key answered %+v (old key %s)", res, before)
	}
	tstest.Await(t, "the cloud to learn the new key", 10*time.Second, func() bool { return host().WGPublicKey == res.WGPublicKey })
	if readKey() == priv {
		t.Fatal("the private key file did not change")
	}
	reachable("alice's gateway after an admin-forced rotation")
	c.admin("POST", "/api/hosts/dev_nosuchhost0/rotate-key", nil, 404, nil)

	// Agent-initiated: the key is older than the maximum age.
	if err := e.a.p.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(keyFile, old, old)
	e.a.start(append(slices.Clone(e.args), "--wg-key-max-age", "1h")...)
	tstest.Await(t, "an agent-initiated rotation", 30*time.Second, func() bool {
		k := host().WGPublicKey
		return k != "" && k != res.WGPublicKey
	})
	reachable("alice's gateway after an agent-initiated rotation")
	rotated := host().WGPublicKey

	// A restart keeps the new key.
	if err := e.a.p.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	e.a.start(e.args...)
	reachable("alice's gateway after an agent restart")
	if k := host().WGPublicKey; k != rotated {
		t.Fatalf("the key changed across a restart: %s → %s", rotated, k)
	}
	var audit []struct{ Action, Target string }
	c.admin("GET", "/api/admin/audit?limit=50", nil, 200, &audit)
	found := false
	for _, a := range audit {
		found = found || (a.Action == "host.rotate-key" && a.Target == e.a.deviceID)
	}
	if !found {
		t.Error("no host.rotate-key audit event")
	}
}
