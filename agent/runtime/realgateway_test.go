//go:build linux

package runtime

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

// realOpenClaw returns the value of env naming the real OpenClaw gateway
// (a binary or an image); without it the test is skipped, or fails in CI.
func realOpenClaw(t *testing.T, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must test the real OpenClaw gateway", env)
		}
		t.Skipf("%s not set: skipping the real OpenClaw gateway test", env)
	}
	return v
}

// probeTimed waits for /readyz the way the agent probes and returns how
// long it took from start.
func probeTimed(t *testing.T, addr string, start time.Time) time.Duration {
	t.Helper()
	waitReady(t, addr, 90*time.Second)
	return time.Since(start)
}

// TestProcessRealOpenClawTrustedProxy: the real gateway in its namespace,
// in trusted-proxy mode, gets ready by the agent's probe, takes the proxy
// path's identity, and refuses the same identity forged from another
// tenant's namespace.
func TestProcessRealOpenClawTrustedProxy(t *testing.T) {
	bin := realOpenClaw(t, "CLAWFLEET_OPENCLAW_BIN")
	needRoot(t)
	p, _ := newNetnsProcess(t, bin)
	ctx := ctxT(t)
	a := testSpec("ten_realproc01", freeBase(t))
	start := time.Now()
	if err := p.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	up := upstream(t, p, a.ID)
	t.Logf("real gateway ready in trusted-proxy mode at %s after %s", up, probeTimed(t, up, start).Round(100*time.Millisecond))

	// The attacker: a stand-in tenant of another process runtime (same
	// pool), in its own namespace.
	px, _ := newNetnsProcess(t, standinBin(t))
	x := testSpec("ten_realattk01", freeBase(t, a.Port))
	x.Owner = "mallory"
	if err := px.Ensure(ctx, x); err != nil {
		t.Fatal(err)
	}
	waitReady(t, upstream(t, px, x.ID), 10*time.Second)

	checkRealGateway(t, up, func(path string, headers ...string) (int, string, error) {
		return fromNetns(t, px, x.ID, "http://"+up+path, headers...)
	}, func() { allowForward(t, px, x.ID, p, a.ID) })
}

// checkRealGateway asserts what a real gateway in trusted-proxy mode for
// owner u1 answers on the proxy path (up, from this host) and to forged
// identities from another tenant (attack; let lets it past the network).
func checkRealGateway(t *testing.T, up string, attack func(path string, headers ...string) (int, string, error), let func()) {
	t.Helper()
	type answer struct {
		what    string
		code    int
		want    int
		comment string
	}
	var got []answer
	add := func(what string, code, want int, comment string) {
		got = append(got, answer{what, code, want, comment})
	}
	code, _, _ := get(up, "/readyz")
	add("proxy path, /readyz, no X-Forwarded-For", code, 403, "proxy_attribution_required")
	code, _, _ = get(up, "/readyz", "X-Forwarded-For: 127.0.0.1")
	add("proxy path, /readyz, X-Forwarded-For 127.0.0.1", code, 403, "loopback client")
	code, _, _ = get(up, "/readyz", "X-Forwarded-For: "+ProbeForwardedFor)
	add("proxy path, /readyz, the agent's probe", code, 200, "")
	code, body, _ := get(up, "/", proxied...)
	if !strings.Contains(body, "<title>OpenClaw Control</title>") {
		code = -3 // not the Control UI
	}
	add("proxy path, /, owner u1", code, 200, "the Control UI")
	code, _, _ = get(up, "/v1/models", proxied...)
	add("proxy path, GET /v1/models, owner u1", code, -2, "for comparison")
	code = wsUpgrade(t, up, "/", false, proxied...)
	add("proxy path, WebSocket upgrade, owner u1", code, 101, "")
	if attack != nil {
		forged := []string{proto.UserHeader + ": u1", "X-Forwarded-For: 203.0.113.7"}
		if let != nil {
			_, _, err := attack("/", forged...)
			add("other tenant, forged u1 (network)", map[bool]int{true: 0, false: -1}[err != nil], 0, "dropped between namespaces")
			let()
		}
		// OpenClaw: proxy-shaped traffic from a source outside trustedProxies
		// is refused before any identity header is read.
		for _, path := range []string{"/", "/v1/models"} {
			code, body, _ = attack(path, forged...)
			if !strings.Contains(body, "proxy_attribution_required") {
				code = -3
			}
			add("other tenant, forged u1, GET "+path, code, 403, "proxy_attribution_required")
		}
	}
	for _, a := range got {
		t.Logf("%-55s → %d (%s)", a.what, a.code, a.comment)
		if a.want != -2 && a.code != a.want {
			t.Errorf("%s: %d, want %d", a.what, a.code, a.want)
		}
	}
}

// fromContainer runs the stand-in's fetch client in a throw-away container
// on the default bridge (another tenant's container, as far as the gateway
// can tell) and returns the status code and body it got.
func fromContainer(t *testing.T, d *Docker, url string, headers ...string) (int, string, error) {
	t.Helper()
	ctx := ctxT(t)
	var created struct{ Id string }
	body := map[string]any{"Image": StandinImage, "Cmd": append([]string{"openclaw", "fetch", url}, headers...), "User": "1000:1000"}
	if _, err := d.c.do(ctx, "POST", "/containers/create", nil, body, &created); err != nil {
		t.Fatal(err)
	}
	defer d.c.do(ctxT(t), "DELETE", "/containers/"+created.Id, map[string][]string{"force": {"1"}}, nil, nil)
	if _, err := d.c.do(ctx, "POST", "/containers/"+created.Id+"/start", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	var waited struct{ StatusCode int }
	if _, err := d.c.do(ctx, "POST", "/containers/"+created.Id+"/wait", nil, nil, &waited); err != nil {
		t.Fatal(err)
	}
	resp, err := d.c.raw(ctx, "GET", "/containers/"+created.Id+"/logs", map[string][]string{"stdout": {"1"}, "stderr": {"1"}}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := demuxLogs(resp.Body, 1<<20)
	resp.Body.Close()
	if waited.StatusCode != 0 {
		return 0, string(out), fmt.Errorf("exit %d: %s", waited.StatusCode, out)
	}
	first, rest, _ := strings.Cut(string(out), "\n")
	code, _ := strconv.Atoi(first)
	return code, rest, nil
}

// containerAddr is the tenant container's own address on the bridge.
func containerAddr(t *testing.T, d *Docker, id string) string {
	t.Helper()
	raw, err := d.InspectRaw(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	ip, _ := raw["NetworkSettings"].(map[string]any)["IPAddress"].(string)
	if ip == "" {
		t.Fatalf("no container address: %v", raw["NetworkSettings"])
	}
	return net.JoinHostPort(ip, strconv.Itoa(d.opts.ContainerPort))
}

// TestDockerTrustedProxy: the container trusts the bridge gateway, the
// source it sees for the host's connections both to the published port
// (the upstream) and to its own address; another container forging the
// owner is refused.
func TestDockerTrustedProxy(t *testing.T) {
	dataDir := filepath.Join(worldDir(t), "tenants")
	d := newTestDocker(t, dataDir)
	ctx := ctxT(t)
	a := testSpec("ten_dockertp01", freeBase(t))
	a.Image = StandinImage
	t.Cleanup(func() { d.Purge(ctxT(t), a.ID) })
	if err := d.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	up := upstream(t, d, a.ID)
	waitReady(t, up, 30*time.Second)
	gw, err := d.bridgeGateway(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(filepath.Join(dataDir, a.ID, "state", dockerConfigFile))
	if !strings.Contains(string(cfg), `"trustedProxies": [
      "`+gw+`"
    ]`) {
		t.Fatalf("config does not trust %s: %s", gw, cfg)
	}
	direct := containerAddr(t, d, a.ID)
	for _, addr := range []string{up, direct} {
		code, body, err := get(addr, "/__standin/whoami", proxied...)
		if err != nil || code != 200 || !strings.Contains(body, `"remoteAddr":"`+gw+`:`) || !strings.Contains(body, `"user":"u1"`) {
			t.Fatalf("from the host to %s: %d %s %v (want source %s)", addr, code, body, err, gw)
		}
	}
	if c := wsUpgrade(t, up, "/__standin/ws", true, proxied...); c != 101 {
		t.Fatalf("WebSocket: %d", c)
	}
	code, body, err := fromContainer(t, d, "http://"+direct+"/__standin/whoami", proto.UserHeader+": u1", "X-Forwarded-For: 203.0.113.7")
	if err != nil || code != 401 || !strings.Contains(body, "untrusted_source") {
		t.Fatalf("forged user from another container: %d %q %v", code, body, err)
	}
}

// TestDockerRealOpenClawTrustedProxy: the real gateway image in
// trusted-proxy mode: ready by the agent's probe through the published
// port, the proxy path accepted, another container's forged identity refused.
func TestDockerRealOpenClawTrustedProxy(t *testing.T) {
	image := realOpenClaw(t, "CLAWFLEET_OPENCLAW_IMAGE")
	d := newTestDocker(t, filepath.Join(worldDir(t), "tenants"))
	ctx := ctxT(t)
	a := testSpec("ten_realdock01", freeBase(t))
	a.Image = image
	a.MemoryBytes, a.CPUMillis, a.PidsLimit = 2<<30, 2000, 1024 // the real gateway needs more than the stand-in's limits
	t.Cleanup(func() { d.Purge(ctxT(t), a.ID) })
	start := time.Now()
	if err := d.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	up := upstream(t, d, a.ID)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := d.Logs(ctxT(t), a.ID, 40)
			t.Logf("gateway logs:\n%s", strings.Join(logs, "\n"))
		}
	})
	t.Logf("real gateway container ready in trusted-proxy mode at %s after %s", up, probeTimed(t, up, start).Round(100*time.Millisecond))
	direct := containerAddr(t, d, a.ID)
	checkRealGateway(t, up, func(path string, headers ...string) (int, string, error) {
		return fromContainer(t, d, "http://"+direct+path, headers...)
	}, nil)
}
