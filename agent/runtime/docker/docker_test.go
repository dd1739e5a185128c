package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/agent/runtime/docker/engine"
	"github.com/clawfleet/clawfleet/agent/runtime/gateway"
	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

func TestMain(m *testing.M) { runtimetest.Main(m) }

// newTestDocker connects to the local Docker Engine, its gateways getting
// env; without one the test is skipped, or fails under CI (run
// testdata/start-dockerd.sh first).
func newTestDocker(t *testing.T, dataDir string, env ...string) *Runtime {
	t.Helper()
	d, err := New(Options{DataDir: dataDir, StopTimeout: 2 * time.Second, Env: env, Logger: runtimetest.Logger(t)})
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI must run agent/runtime/testdata/start-dockerd.sh)", err)
		}
		t.Skipf("no Docker Engine: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	if err := runtimetest.BuildStandinImage(runtimetest.Ctx(t), d.c, runtimetest.Standin(t), runtimetest.StandinImage); err != nil {
		t.Fatal(err)
	}
	return d
}

// inspectRaw returns the Engine's JSON for a tenant's container.
func inspectRaw(ctx context.Context, d *Runtime, tenantID string) (map[string]any, error) {
	var m map[string]any
	_, err := d.c.Do(ctx, "GET", "/containers/"+ContainerName(tenantID)+"/json", nil, nil, &m)
	return m, err
}

func TestDockerRuntime(t *testing.T) {
	dataDir := filepath.Join(runtimetest.Dir(t), "tenants")
	d := newTestDocker(t, dataDir)
	ctx := runtimetest.Ctx(t)
	if d.Name() != "docker" {
		t.Fatal(d.Name())
	}
	a := runtimetest.Spec("ten_dockalpha1", runtimetest.FreeBase(t))
	a.Image = runtimetest.StandinImage
	t.Cleanup(func() { d.Purge(runtimetest.Ctx(t), a.ID) })

	// A container clawfleet does not manage, with the name a tenant would use.
	foreign := "ten_foreign0001"
	fq := url.Values{"name": {ContainerName(foreign)}}
	if _, err := d.c.Do(ctx, "POST", "/containers/create", fq, map[string]any{"Image": runtimetest.StandinImage, "Labels": map[string]string{"other": "x"}}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.c.Do(runtimetest.Ctx(t), "DELETE", "/containers/"+ContainerName(foreign), url.Values{"force": {"1"}}, nil, nil)
	})

	if err := d.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	upA := runtimetest.Upstream(t, d, a.ID)
	if upA != "127.0.0.1:"+strconv.Itoa(a.Port) {
		t.Fatalf("upstream %s", upA)
	}
	runtimetest.WaitReady(t, upA, 30*time.Second)
	code, body, err := runtimetest.Get(upA, "/", runtimetest.Proxied...)
	if err != nil || code != 200 || !strings.Contains(body, "clawfleet stand-in gateway") || !strings.Contains(body, a.ID) {
		t.Fatalf("/ = %d %q %v", code, body, err)
	}

	// Its usage, from the engine's stats, reused within statsEvery.
	first := dockerUsage(t, d, a.ID)
	if first == nil || first.MemoryBytes <= 0 || first.CPUUsec <= 0 || first.AtMs <= 0 {
		t.Fatalf("usage %+v", first)
	}
	if again := dockerUsage(t, d, a.ID); again == nil || *again != *first {
		t.Fatalf("a second list within %v asked the engine again: %+v then %+v", statsEvery, first, again)
	}

	// The container's configuration.
	raw, err := inspectRaw(ctx, d, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	hc := raw["HostConfig"].(map[string]any)
	cfg := raw["Config"].(map[string]any)
	labels := cfg["Labels"].(map[string]any)
	check := func(what string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s: HostConfig %v / labels %v", what, hc, labels)
		}
	}
	check("CapDrop ALL", fmt.Sprint(hc["CapDrop"]) == "[ALL]")
	check("no-new-privileges", fmt.Sprint(hc["SecurityOpt"]) == "[no-new-privileges]")
	check("Init", hc["Init"] == true)
	check("PidsLimit", hc["PidsLimit"] == float64(256))
	check("Memory", hc["Memory"] == float64(512<<20) && hc["MemorySwap"] == float64(512<<20))
	check("NanoCpus", hc["NanoCpus"] == float64(500_000_000))
	check("RestartPolicy", hc["RestartPolicy"].(map[string]any)["Name"] == "unless-stopped")
	pb := hc["PortBindings"].(map[string]any)
	check("one port binding", len(pb) == 1)
	b0 := pb["18789/tcp"].([]any)
	check("bound to 127.0.0.1 only", len(b0) == 1 && b0[0].(map[string]any)["HostIp"] == "127.0.0.1" && b0[0].(map[string]any)["HostPort"] == strconv.Itoa(a.Port))
	check("labels", labels[LabelManaged] == "true" && labels[LabelTenant] == a.ID && labels[LabelRestartGen] == "0" && labels[LabelSpecHash] != "" && labels[LabelPort] == strconv.Itoa(a.Port))
	ns := raw["NetworkSettings"].(map[string]any)["Ports"].(map[string]any)["18789/tcp"].([]any)
	for _, p := range ns {
		check("published on loopback only", p.(map[string]any)["HostIp"] == "127.0.0.1")
	}
	// Not reachable on a non-loopback host address.
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, ad := range addrs {
			ipn, ok := ad.(*net.IPNet)
			if !ok || ipn.IP.IsLoopback() || ipn.IP.To4() == nil {
				continue
			}
			c, err := net.DialTimeout("tcp", net.JoinHostPort(ipn.IP.String(), strconv.Itoa(a.Port)), time.Second)
			if err == nil {
				c.Close()
				t.Errorf("gateway reachable on %s:%d", ipn.IP, a.Port)
			}
		}
	}
	// Config and state in the tenant's volume (host dir), writable by uid 1000.
	gc, err := gateway.Read(filepath.Join(dataDir, a.ID, "state", dockerConfigFile))
	if err != nil || gc.Gateway.Bind != "lan" || gc.Gateway.Port != 18789 || gc.Gateway.Auth.Mode != proto.GatewayAuthTrustedProxy || len(gc.Gateway.TrustedProxies) != 1 || gc.Logging.File != containerLogFile {
		t.Fatalf("config: %+v %v", gc, err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, a.ID, "state", "standin-started")); err != nil {
		t.Fatalf("gateway could not write its state volume: %v", err)
	}

	// List: ours only.
	list, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in, ok := runtimetest.Find(list, a.ID); !ok || in.State != proto.TenantStarting || in.Port != a.Port || in.StartedAtMs == 0 || in.Isolation != runtime.IsolationContainer {
		t.Fatalf("List: %+v", list)
	}
	if _, ok := runtimetest.Find(list, foreign); ok {
		t.Fatal("List shows an unmanaged container")
	}
	// The foreign container's name is not taken over.
	f := runtimetest.Spec(foreign, runtimetest.FreeBase(t, a.Port))
	f.Image = runtimetest.StandinImage
	if err := d.Ensure(ctx, f); err == nil || !strings.Contains(err.Error(), "does not manage") {
		t.Fatalf("Ensure over a foreign container: %v", err)
	}
	t.Cleanup(func() { d.c.Do(runtimetest.Ctx(t), "DELETE", "/volumes/"+ContainerName(foreign), nil, nil, nil) })

	// Logs: the gateway's log file and the container output.
	logs, err := d.Logs(ctx, a.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(logs, "\n")
	if !strings.Contains(joined, "GET /readyz") || !strings.Contains(joined, "container| standin gateway listening") {
		t.Fatalf("logs: %q", logs)
	}
	if _, err := d.Logs(ctx, "ten_nosuchtenant", 5); err != runtime.ErrNotFound {
		t.Fatalf("logs of unknown tenant: %v", err)
	}

	// Idempotent Ensure keeps the container; a restartGen bump replaces it.
	id0 := raw["Id"].(string)
	if err := d.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	if raw, _ := inspectRaw(ctx, d, a.ID); raw["Id"] != id0 {
		t.Fatal("idempotent Ensure recreated the container")
	}
	a.RestartGen = 3
	if err := d.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	raw, _ = inspectRaw(ctx, d, a.ID)
	if raw["Id"] == id0 {
		t.Fatal("restartGen bump kept the container")
	}
	runtimetest.WaitReady(t, upA, 30*time.Second)
	list, _ = d.List(ctx)
	if in, _ := runtimetest.Find(list, a.ID); in.RestartGen != 3 {
		t.Fatalf("after restartGen bump: %+v", in)
	}
	// State survives the new container.
	if _, err := os.Stat(filepath.Join(dataDir, a.ID, "state", "standin-started")); err != nil {
		t.Fatal(err)
	}

	// Stop.
	a.State = proto.TenantStopped
	if err := d.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitDown(t, upA, 10*time.Second)
	list, _ = d.List(ctx)
	if in, _ := runtimetest.Find(list, a.ID); in.State != proto.TenantStopped {
		t.Fatalf("stopped: %+v", in)
	}
	// Busy port: starting fails with runtime.ErrPortInUse.
	a.State = proto.TenantRunning
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(a.Port))
	if err == nil {
		err := d.Ensure(ctx, a)
		l.Close()
		if err == nil || !strings.Contains(err.Error(), "in use") {
			t.Fatalf("busy port: %v", err)
		}
	}

	// Remove keeps the volume; Purge removes it and the directory.
	if err := d.Remove(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.inspect(ctx, ContainerName(a.ID)); !engine.IsNotFound(err) {
		t.Fatalf("container after Remove: %v", err)
	}
	if _, err := d.c.Do(ctx, "GET", "/volumes/"+ContainerName(a.ID), nil, nil, nil); err != nil {
		t.Fatalf("volume after Remove: %v", err)
	}
	list, _ = d.List(ctx)
	if _, ok := runtimetest.Find(list, a.ID); ok {
		t.Fatal("removed tenant still listed")
	}
	if err := d.Purge(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.Do(ctx, "GET", "/volumes/"+ContainerName(a.ID), nil, nil, nil); !engine.IsNotFound(err) {
		t.Fatalf("volume after Purge: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, a.ID)); !os.IsNotExist(err) {
		t.Fatalf("dir after Purge: %v", err)
	}
	if err := d.Purge(ctx, "ten_neverexisted"); err != nil {
		t.Fatal(err)
	}
	// The foreign container is untouched.
	ci, err := d.inspect(ctx, ContainerName(foreign))
	if err != nil || ci.Config.Labels["other"] != "x" {
		t.Fatalf("foreign container: %+v %v", ci, err)
	}
}

// TestDockerAgentsApart: two agents on one Docker engine each list only
// their own containers, so neither removes the other's as a leftover.
func TestDockerAgentsApart(t *testing.T) {
	d1 := newTestDocker(t, filepath.Join(runtimetest.Dir(t), "tenants"))
	d2 := newTestDocker(t, filepath.Join(runtimetest.Dir(t), "tenants"))
	ctx := runtimetest.Ctx(t)
	a := runtimetest.Spec("ten_agentapart1", runtimetest.FreeBase(t))
	a.Image = runtimetest.StandinImage
	t.Cleanup(func() { d1.Purge(runtimetest.Ctx(t), a.ID) })
	if err := d1.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	mine, err := d1.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := runtimetest.Find(mine, a.ID); !ok {
		t.Fatal("the agent does not list its own container")
	}
	theirs, err := d2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := runtimetest.Find(theirs, a.ID); ok {
		t.Fatal("another agent lists the container as its own")
	}
}

// dockerUsage is tenant id's usage in a List of d.
func dockerUsage(t *testing.T, d *Runtime, id string) *proto.TenantUsage {
	t.Helper()
	list, err := d.List(runtimetest.Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range list {
		if in.TenantID == id {
			return in.Usage
		}
	}
	t.Fatalf("%s not listed", id)
	return nil
}

// TestUsageOfStats: docker stats' figures on cgroup v2 and v1.
func TestUsageOfStats(t *testing.T) {
	for _, tc := range []struct {
		body string
		want proto.TenantUsage
	}{
		{`{"cpu_stats":{"cpu_usage":{"total_usage":2500000}},"memory_stats":{"usage":10000,"stats":{"inactive_file":4000}}}`, proto.TenantUsage{CPUUsec: 2500, MemoryBytes: 6000}},
		{`{"cpu_stats":{"cpu_usage":{"total_usage":1000}},"memory_stats":{"usage":10000,"stats":{"total_inactive_file":1000}}}`, proto.TenantUsage{CPUUsec: 1, MemoryBytes: 9000}},
		{`{"cpu_stats":{"cpu_usage":{"total_usage":0}},"memory_stats":{"usage":100,"stats":{"inactive_file":4000}}}`, proto.TenantUsage{MemoryBytes: 100}},
	} {
		var s containerStats
		if err := json.Unmarshal([]byte(tc.body), &s); err != nil {
			t.Fatal(err)
		}
		if got := usageOf(s); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.body, got, tc.want)
		}
	}
}
