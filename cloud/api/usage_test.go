package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// TestTenantUsage: the usage the host reports comes back from
// GET …/usage as one point a minute with the plan's limits, to those who
// may view the tenant; bad hours are refused.
func TestTenantUsage(t *testing.T) {
	t.Parallel()
	c, ag := teamsCloud(t, "alice", "bob")
	r := c.User(http.MethodPost, "/api/tenants", "alice", map[string]any{"plan": "basic", "name": "Claw"})
	wantCode(t, "create", r, http.StatusCreated, "")
	id := r.JSON(t)["id"].(string)
	ag.WaitDesired("the tenant", servertest.HasTenant(id))

	wantCode(t, "usage before any report", c.User(http.MethodGet, "/api/tenants/me/usage", "alice", nil), 200, "")
	if p := c.User(http.MethodGet, "/api/tenants/me/usage", "alice", nil).JSON(t)["points"]; p == nil || len(p.([]any)) != 0 {
		t.Fatalf("points before any report = %v, want []", p)
	}

	// Two measurements a minute apart: 30 s of CPU in 60 s is half a core.
	start := time.Now().Add(-3 * time.Minute).Truncate(time.Minute)
	for i, u := range []proto.TenantUsage{{CPUUsec: 1e6, MemoryBytes: 100 << 20}, {CPUUsec: 31e6, MemoryBytes: 200 << 20}} {
		u.AtMs = start.Add(time.Duration(i) * time.Minute).UnixMilli()
		ag.Report([]proto.TenantStatus{{ID: id, State: proto.TenantRunning, StartedAt: start.UnixMilli(), DiskUsedBytes: 5 << 20, DiskTotalBytes: 1 << 30, Usage: &u}})
	}
	var got map[string]any
	tstest.Await(t, "a usage point", 10*time.Second, func() bool {
		if err := c.App.Tenants().FlushUsage(context.Background()); err != nil {
			t.Fatal(err)
		}
		got = c.User(http.MethodGet, "/api/tenants/me/usage?hours=1", "alice", nil).JSON(t)
		p, _ := got["points"].([]any)
		return len(p) > 0
	})
	p := got["points"].([]any)[0].(map[string]any)
	res, _ := got["resources"].(map[string]any)
	if p["cpuMillicores"] != float64(500) || p["memoryBytes"] != float64(200<<20) || p["diskBytes"] != float64(5<<20) || p["at"] == "" ||
		got["hours"] != float64(1) || res == nil || res["memoryBytes"].(float64) <= 0 || res["cpuMillis"].(float64) <= 0 {
		t.Fatalf("usage = %v", got)
	}
	if r := c.Admin(http.MethodGet, "/api/admin/tenants/"+id+"/usage", nil); r.Code != 200 || len(r.JSON(t)["points"].([]any)) != 1 {
		t.Fatalf("the admin's usage: %d %s", r.Code, r.Body)
	}
	// bob has no tenant of his own and is not in alice's team.
	wantCode(t, "bob", c.User(http.MethodGet, "/api/tenants/me/usage", "bob", nil), 404, "no_tenant")
	for _, h := range []string{"0", "25", "abc", "-1"} {
		wantCode(t, "hours="+h, c.User(http.MethodGet, "/api/tenants/me/usage?hours="+h, "alice", nil), 400, "")
	}
}
