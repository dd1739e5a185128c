package docker

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime/docker/engine"
	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// fromContainer runs the stand-in's fetch client in a throw-away container
// on the default bridge (another tenant's container, as far as the gateway
// can tell) and returns the status code and body it got.
func fromContainer(t *testing.T, d *Runtime, url string, headers ...string) (int, string, error) {
	t.Helper()
	ctx := runtimetest.Ctx(t)
	var created struct{ Id string }
	body := map[string]any{"Image": runtimetest.StandinImage, "Cmd": append([]string{"openclaw", "fetch", url}, headers...), "User": "1000:1000"}
	if _, err := d.c.Do(ctx, "POST", "/containers/create", nil, body, &created); err != nil {
		t.Fatal(err)
	}
	defer d.c.Do(runtimetest.Ctx(t), "DELETE", "/containers/"+created.Id, map[string][]string{"force": {"1"}}, nil, nil)
	if _, err := d.c.Do(ctx, "POST", "/containers/"+created.Id+"/start", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	var waited struct{ StatusCode int }
	if _, err := d.c.Do(ctx, "POST", "/containers/"+created.Id+"/wait", nil, nil, &waited); err != nil {
		t.Fatal(err)
	}
	resp, err := d.c.Raw(ctx, "GET", "/containers/"+created.Id+"/logs", map[string][]string{"stdout": {"1"}, "stderr": {"1"}}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := engine.DemuxLogs(resp.Body, 1<<20)
	resp.Body.Close()
	if waited.StatusCode != 0 {
		return 0, string(out), fmt.Errorf("exit %d: %s", waited.StatusCode, out)
	}
	first, rest, _ := strings.Cut(string(out), "\n")
	code, _ := strconv.Atoi(first)
	return code, rest, nil
}

// containerAddr is the tenant container's own address on the bridge.
func containerAddr(t *testing.T, d *Runtime, id string) string {
	t.Helper()
	raw, err := inspectRaw(runtimetest.Ctx(t), d, id)
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
	dataDir := filepath.Join(runtimetest.Dir(t), "tenants")
	d := newTestDocker(t, dataDir)
	ctx := runtimetest.Ctx(t)
	a := runtimetest.Spec("ten_dockertp01", runtimetest.FreeBase(t))
	a.Image = runtimetest.StandinImage
	t.Cleanup(func() { d.Purge(runtimetest.Ctx(t), a.ID) })
	if err := d.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	up := runtimetest.Upstream(t, d, a.ID)
	runtimetest.WaitReady(t, up, 30*time.Second)
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
		code, body, err := runtimetest.Get(addr, "/__standin/whoami", runtimetest.Proxied...)
		if err != nil || code != 200 || !strings.Contains(body, `"remoteAddr":"`+gw+`:`) || !strings.Contains(body, `"user":"u1"`) {
			t.Fatalf("from the host to %s: %d %s %v (want source %s)", addr, code, body, err, gw)
		}
	}
	if c := runtimetest.WSUpgrade(t, up, "/__standin/ws", true, runtimetest.Proxied...); c != 101 {
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
	image := runtimetest.RealOpenClaw(t, "CLAWFLEET_OPENCLAW_IMAGE")
	d := newTestDocker(t, filepath.Join(runtimetest.Dir(t), "tenants"))
	ctx := runtimetest.Ctx(t)
	a := runtimetest.Spec("ten_realdock01", runtimetest.FreeBase(t))
	a.Image = image
	a.MemoryBytes, a.CPUMillis, a.PidsLimit = 2<<30, 2000, 1024 // the real gateway needs more than the stand-in's limits
	t.Cleanup(func() { d.Purge(runtimetest.Ctx(t), a.ID) })
	start := time.Now()
	if err := d.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	up := runtimetest.Upstream(t, d, a.ID)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := d.Logs(runtimetest.Ctx(t), a.ID, 40)
			t.Logf("gateway logs:\n%s", strings.Join(logs, "\n"))
		}
	})
	t.Logf("real gateway container ready in trusted-proxy mode at %s after %s", up, runtimetest.ProbeTimed(t, up, start).Round(100*time.Millisecond))
	direct := containerAddr(t, d, a.ID)
	runtimetest.CheckRealGateway(t, up, func(path string, headers ...string) (int, string, error) {
		return fromContainer(t, d, "http://"+direct+path, headers...)
	}, nil)
}
