package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime/docker/engine"
	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

const sharedSecret = "it-shared-secret-0123456789abcdef"

// tenantJSON is a tenant as the user API returns it.
type tenantJSON struct {
	ID         string `json:"id"`
	Slug       string `json:"slug"`
	Status     string `json:"status"`
	Plan       string `json:"plan"`
	URL        string `json:"url"`
	HostID     string `json:"hostId"`
	RestartGen int64  `json:"restartGen"`
	LastError  string `json:"lastError"`
}

// user calls the tenant API as an SSO-backed app would for one user.
func (c *cloud) user(userID, method, path string, body any) (int, []byte) {
	c.t.Helper()
	h := http.Header{}
	h.Set("X-User-ID", userID)
	h.Set("X-User-Email", userID+"@example.com")
	h.Set("X-Shared-Secret", sharedSecret)
	return c.send(method, path, h, body)
}

func (c *cloud) myTenant(userID string) (tenantJSON, int) {
	c.t.Helper()
	code, out := c.user(userID, "GET", "/api/tenants/me", nil)
	var tj tenantJSON
	if code == 200 {
		if err := json.Unmarshal(out, &tj); err != nil {
			c.t.Fatalf("decode tenant %s: %v", out, err)
		}
	}
	return tj, code
}

// tenantPort asks the admin API on which host port a tenant's gateway listens.
func (c *cloud) tenantPort(id string) int {
	c.t.Helper()
	var v struct {
		Port int `json:"port"`
	}
	c.admin("GET", "/api/admin/tenants/"+id, nil, 200, &v)
	if v.Port == 0 {
		c.t.Fatalf("tenant %s has no port", id)
	}
	return v.Port
}

func writePlans(t *testing.T, image string, cpuMillis int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plans.yaml")
	body := fmt.Sprintf("plans:\n  free:\n    cpuMillis: %d\n    memoryBytes: 1GiB\n    diskBytes: 2GiB\n    pidsLimit: 512\n    image: %q\n  basic:\n    cpuMillis: %d\n    memoryBytes: 1.5GiB\n    diskBytes: 5GiB\n    pidsLimit: 512\n    image: %q\n",
		cpuMillis, image, cpuMillis, image)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tenantEnv is a cloud with one agent running the given runtime.
type tenantEnv struct {
	c     *cloud
	a     *agent
	args  []string      // the agent's runtime flags
	ready time.Duration // how long a gateway may take to become ready
	page  string        // text the gateway's / must contain
	// browse, when set, is run once both tenants run (the real gateway's
	// Control UI in Chromium).
	browse func(t *testing.T, e *tenantEnv, owner string)
}

func newTenantEnv(t *testing.T, image string, ready time.Duration, page string, agentArgs ...string) *tenantEnv {
	t.Helper()
	cpu := 250 // the stand-in needs little
	if ready > time.Minute {
		cpu = 1000 // the real gateway boots slowly when throttled
	}
	c := newCloud(t, "CLAWFLEET_SHARED_SECRET="+sharedSecret, "CLAWFLEET_PLANS_FILE="+writePlans(t, image, cpu),
		"CLAWFLEET_TENANT_PORT_BASE="+fmt.Sprint(tstest.TenantPortBase(t)))
	token, _ := c.enrollToken(1, "1h")
	a := c.enrollAgent(token, "tenant-host")
	a.start(agentArgs...)
	tstest.Await(t, "tenant host online", 30*time.Second, func() bool { return c.hosts()[a.deviceID].Status == "online" })
	return &tenantEnv{c: c, a: a, args: agentArgs, ready: ready, page: page}
}

func (e *tenantEnv) awaitStatus(userID, status string, timeout time.Duration) tenantJSON {
	e.c.t.Helper()
	var tj tenantJSON
	tstest.Await(e.c.t, "tenant of "+userID+" "+status, timeout, func() bool {
		tj, _ = e.c.myTenant(userID)
		return tj.Status == status
	})
	return tj
}

// gone reports whether the tenant's gateway no longer runs on the host.
func (e *tenantEnv) gone(id string) bool {
	if slices.Contains(e.args, "docker") {
		return containerGone(id)
	}
	return processGone(id)
}

// lifecycle is the user's whole journey: create, run, page, logs, restart,
// delete; with a second user beside the first on the same host.
func (e *tenantEnv) lifecycle(t *testing.T, purged func(tenantID string) bool) {
	c := e.c
	code, out := c.user("alice", "POST", "/api/tenants", map[string]string{"plan": "free", "name": "Alice's Claw"})
	if code != 201 {
		t.Fatalf("create = %d %s", code, out)
	}
	var created tenantJSON
	json.Unmarshal(out, &created)
	code, out = c.user("alice", "POST", "/api/tenants", map[string]string{"plan": "free", "name": "again"})
	var again tenantJSON
	json.Unmarshal(out, &again)
	if code != 200 || again.ID != created.ID {
		t.Fatalf("second create = %d %s, want 200 with %s", code, out, created.ID)
	}
	if created.HostID != e.a.deviceID || !strings.HasPrefix(created.URL, "http://"+created.Slug+".localhost") {
		t.Fatalf("tenant = %+v", created)
	}
	start := time.Now()
	running := e.awaitStatus("alice", "running", e.ready)
	t.Logf("alice's tenant running %s after create", time.Since(start).Round(time.Millisecond))

	// A second user on the same host: own port, own state.
	if code, out := c.user("bob", "POST", "/api/tenants", map[string]string{"plan": "basic", "name": "bob"}); code != 201 {
		t.Fatalf("bob create = %d %s", code, out)
	}
	bob := e.awaitStatus("bob", "running", e.ready)
	pa, pb := c.tenantPort(running.ID), c.tenantPort(bob.ID)
	if pa == pb || pb-pa < 120 && pa-pb < 120 {
		t.Fatalf("ports %d and %d are less than 120 apart", pa, pb)
	}
	// Each owner reaches their gateway through the router and the tunnel.
	va, vb := c.signIn(t, "alice"), c.signIn(t, "bob")
	for _, v := range []*visitor{va, vb} {
		if code, body, _ := v.get("/"); code != 200 || !strings.Contains(body, e.page) {
			t.Fatalf("gateway page at %s = %d %.300s", v.base, code, body)
		}
	}

	if e.browse != nil {
		e.browse(t, e, "alice")
	}

	// Logs through the API, bounded by tail.
	var logs struct{ Lines []string }
	code, out = c.user("alice", "GET", "/api/tenants/me/logs?tail=20", nil)
	if code != 200 || json.Unmarshal(out, &logs) != nil || len(logs.Lines) == 0 || len(logs.Lines) > 20 {
		t.Fatalf("logs = %d %.500s", code, out)
	}
	if code, out := c.user("alice", "GET", "/api/tenants/me/logs?tail=99999", nil); code != 400 {
		t.Fatalf("tail=99999 = %d %s", code, out)
	}
	e.followLogs(t)

	// The cloud reaches both gateways through the host's WireGuard tunnel.
	tunnelAddr := e.probeThroughTunnel(t, running.ID, bob.ID)

	// Restart the agent: the host converges back to both tenants running
	// (native gateways die with their agent and are started again;
	// containers keep running), with no action from the cloud.
	if err := e.a.p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("agent exit on SIGTERM: %v", err)
	}
	e.a.start(e.args...)
	tstest.Await(t, "both tenants running after an agent restart", e.ready, func() bool {
		a, _ := c.myTenant("alice")
		b, _ := c.myTenant("bob")
		ca, _, _ := va.get("/")
		cb, _, _ := vb.get("/")
		return a.Status == "running" && b.Status == "running" && ca == 200 && cb == 200
	})
	// It kept its WireGuard key and address: the tunnel works again as is.
	if again := e.probeThroughTunnel(t, running.ID, bob.ID); again != tunnelAddr {
		t.Fatalf("tunnel address changed across an agent restart: %s → %s", tunnelAddr, again)
	}

	// Restart: a new generation, running again.
	code, out = c.user("alice", "POST", "/api/tenants/me/restart", nil)
	if code != 202 {
		t.Fatalf("restart = %d %s", code, out)
	}
	tstest.Await(t, "restarted tenant running", e.ready, func() bool {
		tj, _ := c.myTenant("alice")
		return tj.RestartGen == running.RestartGen+1 && tj.Status == "running"
	})

	// Delete: gone from the API, gateway stopped, data purged; bob untouched.
	code, out = c.user("alice", "DELETE", "/api/tenants/me", nil)
	if code != 202 {
		t.Fatalf("delete = %d %s", code, out)
	}
	if _, code := c.myTenant("alice"); code != 404 {
		t.Fatalf("deleted tenant: GET = %d", code)
	}
	tstest.Await(t, "deleted gateway stopped", 30*time.Second, func() bool { return e.gone(running.ID) })
	// Routes are cached for a second.
	tstest.Await(t, "the deleted tenant's route to answer 404", 5*time.Second, func() bool { code, _, _ := va.get("/"); return code == 404 })
	tstest.Await(t, "deleted tenant's data purged", 30*time.Second, func() bool { return purged(running.ID) })
	if tj, _ := c.myTenant("bob"); tj.Status != "running" {
		t.Fatalf("bob after alice's delete: %+v", tj)
	}
	if code, _, _ := vb.get("/"); code != 200 {
		t.Fatalf("bob's gateway after alice's delete: %d", code)
	}
	// Bob deletes with keepData: his data stays.
	if code, out := c.user("bob", "DELETE", "/api/tenants/me?keepData=1", nil); code != 202 {
		t.Fatalf("delete keepData = %d %s", code, out)
	}
	tstest.Await(t, "bob's gateway stopped", 30*time.Second, func() bool { return e.gone(bob.ID) })
	time.Sleep(2 * time.Second)
	if purged(bob.ID) {
		t.Fatal("keepData=1 purged the data")
	}
	var audit []struct{ Action, Actor, Target string }
	c.admin("GET", "/api/admin/audit?limit=200", nil, 200, &audit)
	seen := map[string]bool{}
	for _, a := range audit {
		seen[a.Action+" "+a.Actor] = true
	}
	for _, want := range []string{"tenant.create user:alice", "tenant.restart user:alice", "tenant.delete user:alice", "tenant.delete user:bob"} {
		if !seen[want] {
			t.Errorf("audit lacks %q", want)
		}
	}
}

// probeThroughTunnel asks the cloud to GET each tenant's /healthz through the
// host's tunnel and returns the host's tunnel address.
func (e *tenantEnv) probeThroughTunnel(t *testing.T, ids ...string) string {
	t.Helper()
	c := e.c
	var addr string
	tstest.Await(t, "host tunnel up", 30*time.Second, func() bool {
		h := c.hosts()[e.a.deviceID]
		if h.Tunnel == nil || h.Tunnel.HandshakeAgeSeconds < 0 {
			return false
		}
		addr = h.Tunnel.Address
		// The agent's --wg-mode auto: tun as root with /dev/net/tun (or
		// netstack when another agent here holds the hub route), else netstack.
		return (h.Tunnel.Mode == "netstack" || h.Tunnel.Mode == "tun") && addr != ""
	})
	for _, id := range ids {
		var res struct {
			OK     bool   `json:"ok"`
			Status int    `json:"status"`
			Via    string `json:"via"`
			Error  string `json:"error"`
		}
		tstest.Await(t, "probe of "+id+" through the tunnel", 30*time.Second, func() bool {
			code, out := c.do("GET", "/api/admin/tenants/"+id+"/probe", c.adminToken, nil)
			return code == 200 && json.Unmarshal(out, &res) == nil && res.OK && res.Status == 200 && res.Via == "tunnel"
		})
	}
	return addr
}

// followLogs reads the SSE stream for a moment and expects data lines.
func (e *tenantEnv) followLogs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.c.url("/api/tenants/me/logs?follow=1&tail=5"), nil)
	req.Header.Set("X-User-ID", "alice")
	req.Header.Set("X-Shared-Secret", sharedSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("follow logs: %v", err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("follow logs = %d %s", resp.StatusCode, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			return
		}
	}
	t.Fatal("no data line in the log stream")
}

func processPurged(a *agent) func(string) bool {
	return func(id string) bool {
		_, err := os.Stat(filepath.Join(a.stateDir, "tenants", id))
		return os.IsNotExist(err)
	}
}

func dockerPurged(t *testing.T) func(string) bool {
	return func(id string) bool {
		out, _ := exec.Command("docker", "volume", "ls", "-q", "--filter", "name=clawfleet-"+id).Output()
		return strings.TrimSpace(string(out)) == ""
	}
}

// requireDocker connects to the Docker engine, failing in CI (which must
// start it) and skipping elsewhere.
func requireDocker(t *testing.T) *engine.Client {
	t.Helper()
	d, err := engine.New("")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Docker engine not available in CI: %v", err)
		}
		t.Skipf("no Docker engine (%v); start one with agent/runtime/testdata/start-dockerd.sh", err)
	}
	return d
}

func TestTenantsProcessRuntimeStandin(t *testing.T) {
	e := newTenantEnv(t, "unused", 60*time.Second, "clawfleet stand-in gateway", "--runtime", "process", "--openclaw-bin", bin("standin"))
	e.lifecycle(t, processPurged(e.a))
}

func TestTenantsDockerRuntimeStandin(t *testing.T) {
	d := requireDocker(t)
	if err := runtimetest.BuildStandinImage(context.Background(), d, bin("standin"), runtimetest.StandinImage); err != nil {
		t.Fatalf("build stand-in image: %v", err)
	}
	e := newTenantEnv(t, runtimetest.StandinImage, 60*time.Second, "clawfleet stand-in gateway", "--runtime", "docker")
	e.lifecycle(t, dockerPurged(t))
}

// The real OpenClaw gateway, as installed by firmware/openclaw/install.sh
// (CLAWFLEET_OPENCLAW_BIN) and as the image agent/runtime/testdata/
// build-openclaw-image.sh builds (CLAWFLEET_OPENCLAW_IMAGE). CI sets both
// (runtimetest.RealOpenClaw).

func TestTenantsProcessRuntimeRealOpenClaw(t *testing.T) {
	ocBin := runtimetest.RealOpenClaw(t, "CLAWFLEET_OPENCLAW_BIN")
	e := newTenantEnv(t, "unused", 3*time.Minute, "<title>OpenClaw Control</title>", "--runtime", "process", "--openclaw-bin", ocBin)
	e.browse = controlUIConnected
	e.lifecycle(t, processPurged(e.a))
}

func TestTenantsDockerRuntimeRealOpenClaw(t *testing.T) {
	image := runtimetest.RealOpenClaw(t, "CLAWFLEET_OPENCLAW_IMAGE")
	requireDocker(t)
	e := newTenantEnv(t, image, 3*time.Minute, "<title>OpenClaw Control</title>", "--runtime", "docker")
	e.lifecycle(t, dockerPurged(t))
}

// TestTenantAPIRefusals: bad headers and bad input change nothing.
func TestTenantAPIRefusals(t *testing.T) {
	e := newTenantEnv(t, "unused", 60*time.Second, "", "--runtime", "process", "--openclaw-bin", bin("standin"))
	c := e.c
	req := func(h map[string]string, body string) int {
		r, _ := http.NewRequest("POST", c.url("/api/tenants"), strings.NewReader(body))
		for k, v := range h {
			r.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ok := map[string]string{"X-User-ID": "carol", "X-Shared-Secret": sharedSecret}
	for _, tc := range []struct {
		name string
		h    map[string]string
		body string
		want int
	}{
		{"no secret", map[string]string{"X-User-ID": "carol"}, `{"plan":"free"}`, 401},
		{"wrong secret", map[string]string{"X-User-ID": "carol", "X-Shared-Secret": "nope-nope-nope-nope"}, `{"plan":"free"}`, 401},
		{"no user", map[string]string{"X-Shared-Secret": sharedSecret}, `{"plan":"free"}`, 400},
		{"bad plan", ok, `{"plan":"platinum"}`, 400},
		{"bad json", ok, `{"plan":`, 400},
		{"unknown field", ok, `{"plan":"free","cpu":64}`, 400},
	} {
		if got := req(tc.h, tc.body); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if _, code := c.myTenant("carol"); code != 404 {
		t.Fatalf("refused requests created a tenant (GET = %d)", code)
	}
	// A forged report from another device about this host's tenant changes nothing
	// is covered in cloud/api; here: a user cannot see another user's tenant.
	if code, _ := c.user("dave", "POST", "/api/tenants", map[string]string{"plan": "free"}); code != 201 {
		t.Fatalf("dave create = %d", code)
	}
	if _, code := c.myTenant("carol"); code != 404 {
		t.Fatal("carol sees a tenant that is dave's")
	}

	// Deleting the host drops its tunnel peer at once: the cloud can no
	// longer reach dave's gateway through it.
	dave := e.awaitStatus("dave", "running", e.ready)
	e.probeThroughTunnel(t, dave.ID)
	c.admin("DELETE", "/api/hosts/"+e.a.deviceID, nil, 204, nil)
	code, out := c.do("GET", "/api/admin/tenants/"+dave.ID+"/probe", c.adminToken, nil)
	if code == 200 && strings.Contains(string(out), `"ok":true`) {
		t.Fatalf("gateway of a deleted host still reachable: %s", out)
	}
}
