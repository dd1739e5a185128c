package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// hugeHost is what an agent may claim: 64 CPUs and 1 TiB.
func hugeHost(id string) proto.Register {
	return proto.Register{Hostname: "vm-" + id, OS: "linux", Arch: "amd64", CPUs: 64, MemTotalBytes: 1 << 40,
		AgentVersion: "test", Capabilities: proto.Capabilities{Docker: true, Runtimes: []string{"docker"}}}
}

// enrollWith creates an enrollment token with body's fields and enrolls one
// host with it, returning its credentials.
func enrollWith(t *testing.T, c *servertest.Cloud, body map[string]any) (id, secret string) {
	t.Helper()
	body["ttl"] = "1h"
	r := c.Admin(http.MethodPost, "/api/admin/enrollment-tokens", body)
	if r.Code != http.StatusCreated {
		t.Fatalf("create token: %d %s", r.Code, r.Body)
	}
	r = c.Do(http.MethodPost, "/api/enroll", nil, map[string]any{"token": r.JSON(t)["token"], "name": "worker"})
	if r.Code != http.StatusCreated {
		t.Fatalf("enroll: %d %s", r.Code, r.Body)
	}
	m := r.JSON(t)
	return m["deviceId"].(string), m["secret"].(string)
}

// TestWorkerCapsAndPools: what a worker is credited with and which pool it
// serves come from the operator's enrollment token, not from what it
// reports; the operator can change both later.
func TestWorkerCapsAndPools(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	const gib = 1 << 30

	// A token capping its hosts at 2000m and 2 GiB says so.
	r := c.Admin(http.MethodPost, "/api/admin/enrollment-tokens", map[string]any{"ttl": "1h", "maxCpuMillis": 2000, "maxMemoryBytes": 2 * gib})
	if m := r.JSON(t); r.Code != http.StatusCreated || m["pool"] != "shared" || m["maxCpuMillis"] != float64(2000) || m["maxMemoryBytes"] != float64(2*gib) {
		t.Fatalf("capped token: %d %s", r.Code, r.Body)
	}
	id, secret := enrollWith(t, c, map[string]any{"maxCpuMillis": 2000, "maxMemoryBytes": 2 * gib})
	c.NewAgentWith(id, secret, hugeHost(id))

	// It reports 64 CPUs and 1 TiB and is credited with its caps.
	r = c.Admin(http.MethodGet, "/api/hosts/"+id, nil)
	h := r.JSON(t)
	capacity, _ := h["capacity"].(map[string]any)
	if h["kind"] != "worker" || h["pool"] != "shared" || h["cpus"] != float64(64) ||
		capacity["cpuMillis"] != float64(2000) || capacity["memoryBytes"] != float64(2*gib) {
		t.Fatalf("capped host: %s", r.Body)
	}
	for _, uid := range []string{"u1", "u2"} {
		if r := c.User(http.MethodPost, "/api/tenants", uid, map[string]any{"plan": "free"}); r.Code != http.StatusCreated || r.JSON(t)["hostId"] != id {
			t.Fatalf("create %s: %d %s", uid, r.Code, r.Body)
		}
	}
	// Two 1 GiB tenants fill the 2 GiB it is credited with.
	if r := c.User(http.MethodPost, "/api/tenants", "u3", map[string]any{"plan": "free"}); r.Code != http.StatusServiceUnavailable || r.JSON(t)["code"] != "no_capacity" {
		t.Fatalf("create beyond the cap: %d %s", r.Code, r.Body)
	}

	// The operator raises the memory cap: the next tenant fits.
	r = c.Admin(http.MethodPatch, "/api/hosts/"+id, map[string]any{"maxMemoryBytes": 3 * gib})
	if m := r.JSON(t); r.Code != http.StatusOK || m["maxMemoryBytes"] != float64(3*gib) || m["maxCpuMillis"] != float64(2000) || m["pool"] != "shared" {
		t.Fatalf("raise the cap: %d %s", r.Code, r.Body)
	}
	if r := c.User(http.MethodPost, "/api/tenants", "u3", map[string]any{"plan": "free"}); r.Code != http.StatusCreated || r.JSON(t)["hostId"] != id {
		t.Fatalf("create after raising the cap: %d %s", r.Code, r.Body)
	}

	// A worker of another pool takes no tenant of the default plans, however
	// big it says it is.
	gpu, gpuSecret := enrollWith(t, c, map[string]any{"pool": "gpu"})
	c.NewAgentWith(gpu, gpuSecret, hugeHost(gpu))
	if r := c.Admin(http.MethodGet, "/api/hosts/"+gpu, nil); r.JSON(t)["pool"] != "gpu" {
		t.Fatalf("gpu host: %s", r.Body)
	}
	r = c.User(http.MethodPost, "/api/tenants", "u4", map[string]any{"plan": "free"})
	if r.Code != http.StatusServiceUnavailable || !strings.Contains(r.JSON(t)["error"].(string), "1 of them workers of pool shared") {
		t.Fatalf("create with only the capped host full and a gpu worker: %d %s", r.Code, r.Body)
	}
	// Moved into the shared pool by the operator, it takes it.
	if r := c.Admin(http.MethodPatch, "/api/hosts/"+gpu, map[string]any{"pool": "shared"}); r.Code != http.StatusOK {
		t.Fatalf("move to shared: %d %s", r.Code, r.Body)
	}
	if r := c.User(http.MethodPost, "/api/tenants", "u4", map[string]any{"plan": "free"}); r.Code != http.StatusCreated || r.JSON(t)["hostId"] != gpu {
		t.Fatalf("create after the move: %d %s", r.Code, r.Body)
	}

	// What the operator may give is checked.
	for _, tc := range []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"pool": "GPU!"}, `pool "GPU!": use 1-63 lowercase letters, digits or '-'`},
		{map[string]any{"maxCpuMillis": -1}, "maxCpuMillis must be between 0 (no cap) and 1073741824"},
		{map[string]any{"maxMemoryBytes": int64(1) << 51}, fmt.Sprintf("maxMemoryBytes must be between 0 (no cap) and %d", int64(1)<<50)},
	} {
		if r := c.Admin(http.MethodPatch, "/api/hosts/"+id, tc.body); r.Code != http.StatusBadRequest || r.JSON(t)["error"] != tc.want {
			t.Errorf("PATCH %v: %d %s", tc.body, r.Code, r.Body)
		}
		body := map[string]any{"ttl": "1h"}
		for k, v := range tc.body {
			body[k] = v
		}
		if r := c.Admin(http.MethodPost, "/api/admin/enrollment-tokens", body); r.Code != http.StatusBadRequest || r.JSON(t)["error"] != tc.want {
			t.Errorf("token %v: %d %s", tc.body, r.Code, r.Body)
		}
	}
	if r := c.Admin(http.MethodPatch, "/api/hosts/dev_nosuchhost0000", map[string]any{"pool": "x"}); r.Code != http.StatusNotFound {
		t.Errorf("PATCH unknown host: %d %s", r.Code, r.Body)
	}
}
