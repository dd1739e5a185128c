package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/cloud/sso/ssotest"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

func TestTenantLifecycle(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	const uid = "user-1"

	// No host yet: 503 saying what is needed.
	r := c.User(http.MethodPost, "/api/tenants", uid, map[string]any{"plan": "basic", "name": "My Claw"})
	if r.Code != http.StatusServiceUnavailable || r.JSON(t)["code"] != "no_capacity" || !strings.Contains(string(r.Body), "1.5GiB") {
		t.Fatalf("create without hosts: %d %s", r.Code, r.Body)
	}
	if r := c.User(http.MethodGet, "/api/tenants/me", uid, nil); r.Code != http.StatusNotFound || r.JSON(t)["code"] != "no_tenant" {
		t.Fatalf("get without tenant: %d %s", r.Code, r.Body)
	}

	hostID, secret := c.Provision("box-1")
	ag := c.NewAgent(hostID, secret)

	r = c.User(http.MethodPost, "/api/tenants", uid, map[string]any{"plan": "basic", "name": "My Claw"})
	if r.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Code, r.Body)
	}
	tn := r.JSON(t)
	id := tn["id"].(string)
	_, port, _ := strings.Cut(c.App.HTTPAddr().String(), ":")
	if tn["status"] != "pending" || tn["slug"] != "my-claw" || tn["hostId"] != hostID || tn["plan"] != "basic" ||
		tn["url"] != "http://my-claw.localhost:"+port+"/" || !strings.HasPrefix(id, "ten_") {
		t.Fatalf("created tenant = %v", tn)
	}
	if strings.Contains(string(r.Body), "oken") {
		t.Fatalf("the gateway token leaks into the API: %s", r.Body)
	}
	// Idempotent: the same tenant, 200.
	r = c.User(http.MethodPost, "/api/tenants", uid, map[string]any{"plan": "pro", "name": "Other"})
	if r.Code != http.StatusOK || r.JSON(t)["id"] != id {
		t.Fatalf("second create: %d %s", r.Code, r.Body)
	}

	d := ag.WaitDesired("desired state with the tenant", servertest.HasTenant(id))
	spec := d.Tenants[0]
	if len(d.Tenants) != 1 || spec.Slug != "my-claw" || spec.Owner != uid || spec.State != proto.TenantRunning || spec.Port != 20000 ||
		spec.CPUMillis != 1000 || spec.MemoryBytes != 3<<29 || spec.DiskBytes != 5<<30 || spec.PidsLimit != 512 ||
		spec.Image != "ghcr.io/openclaw/openclaw:2026.9.6" || len(spec.GatewayToken) < 32 ||
		!slices.Equal(spec.AllowedOrigins, []string{"http://my-claw.localhost:" + port}) {
		t.Fatalf("desired = %+v", d)
	}
	if r := c.User(http.MethodGet, "/api/tenants/me", uid, nil); r.JSON(t)["status"] != "pending" {
		t.Fatalf("before ack: %s", r.Body)
	}

	ag.Ack(d.Revision)
	c.WaitTenant(uid, "starting after ack", func(m map[string]any) bool { return m["status"] == "starting" })
	ag.Report([]proto.TenantStatus{{ID: id, State: proto.TenantRunning, StartedAt: time.Now().UnixMilli()}})
	c.WaitTenant(uid, "running after report", func(m map[string]any) bool { return m["status"] == "running" && m["lastError"] == "" })
	if m := c.User(http.MethodGet, "/api/tenants/me", uid, nil).JSON(t); m["disk"] != nil {
		t.Fatalf("disk shown before any measurement: %v", m["disk"])
	}
	// A host that enforces disk limits reports the tenant's disk.
	ag.Report([]proto.TenantStatus{{ID: id, State: proto.TenantRunning, StartedAt: time.Now().UnixMilli(), DiskUsedBytes: 12 << 20, DiskTotalBytes: 1 << 30}})
	disk := c.WaitTenant(uid, "disk usage", func(m map[string]any) bool { return m["disk"] != nil })["disk"].(map[string]any)
	if disk["usedBytes"] != float64(12<<20) || disk["totalBytes"] != float64(1<<30) || disk["measuredAt"] == "" {
		t.Fatalf("disk = %v", disk)
	}
	// An impossible measurement is refused and changes nothing.
	ag.Report([]proto.TenantStatus{{ID: id, State: proto.TenantRunning, DiskUsedBytes: 2 << 30, DiskTotalBytes: 1 << 30}})
	if n := c.Metric(`clawfleet_tenants{status="running"}`); n != 1 {
		t.Errorf("clawfleet_tenants{running} = %v", n)
	}
	if n := c.Metric("clawfleet_tenant_start_seconds_count"); n != 1 {
		t.Errorf("start histogram count = %v", n)
	}

	// Another host may not report for this tenant; bad messages change nothing.
	otherID, otherSecret := c.Provision("box-2")
	other := c.NewAgent(otherID, otherSecret)
	other.Report([]proto.TenantStatus{{ID: id, State: proto.TenantFailed, Error: "forged"}})
	other.Publish(proto.KindReply, &proto.Reply{ID: "cmd_nobodyasked", OK: true})
	ag.PublishRaw(proto.KindEvent, []byte(`{"v":1,"type":"tenants","tenants":[{"id":"bad id","state":"running"}]}`))
	ag.PublishRaw(proto.KindReply, []byte(`not json`))
	tstest.Await(t, "refused messages counted", 5*time.Second, func() bool {
		return c.Metric(`clawfleet_tenant_messages_refused_total{reason="wrong_host"}`) == 1 &&
			c.Metric(`clawfleet_tenant_messages_refused_total{reason="unknown_reply"}`) == 1 &&
			c.Metric(`clawfleet_tenant_messages_refused_total{reason="invalid"}`) == 2 && // and the impossible disk above
			c.Metric(`clawfleet_tenant_messages_refused_total{reason="malformed"}`) == 1
	})
	if m := c.User(http.MethodGet, "/api/tenants/me", uid, nil).JSON(t); m["disk"].(map[string]any)["usedBytes"] != float64(12<<20) {
		t.Fatalf("disk after a refused report: %v", m["disk"])
	}
	if m := c.User(http.MethodGet, "/api/tenants/me", uid, nil).JSON(t); m["status"] != "running" || m["lastError"] != "" {
		t.Fatalf("a refused message changed the tenant: %v", m)
	}
	// The second host leaves: offline hosts are never chosen.
	other.GoOffline()
	tstest.Await(t, "box-2 offline", 5*time.Second, func() bool {
		return c.Admin(http.MethodGet, "/api/hosts/"+otherID, nil).JSON(t)["status"] == "offline"
	})

	// Logs round trip.
	ag.SetLogs("line 1", "line 2", "line 3")
	r = c.User(http.MethodGet, "/api/tenants/me/logs?tail=2", uid, nil)
	var logs struct{ Lines []string }
	if json.Unmarshal(r.Body, &logs); r.Code != http.StatusOK || !slices.Equal(logs.Lines, []string{"line 2", "line 3"}) {
		t.Fatalf("logs: %d %s", r.Code, r.Body)
	}
	last := ag.LastCommand()
	if last.Op != proto.OpLogs || last.TenantID != id || last.Tail != 2 {
		t.Fatalf("logs command = %+v", last)
	}
	if r := c.User(http.MethodGet, "/api/tenants/me/logs?tail=0", uid, nil); r.Code != http.StatusBadRequest {
		t.Fatalf("tail=0: %d", r.Code)
	}
	followLogs(t, c, uid, ag)

	// Capacity and tenant counts per host.
	var hosts []struct {
		ID       string
		Capacity struct{ CPUMillis, MemoryBytes int64 }
		Reserved struct{ CPUMillis, MemoryBytes int64 }
		Tenants  int
	}
	if err := json.Unmarshal(c.Admin(http.MethodGet, "/api/hosts", nil).Body, &hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		want := 0
		if h.ID == hostID {
			want = 1
		}
		if h.Capacity.CPUMillis != 16000 || h.Capacity.MemoryBytes != 8<<30-512<<20 || h.Tenants != want ||
			h.Reserved.MemoryBytes != int64(want)*3<<29 || h.Reserved.CPUMillis != int64(want)*1000 {
			t.Errorf("host %s load = %+v", h.ID, h)
		}
	}
	var list []map[string]any
	if err := json.Unmarshal(c.Admin(http.MethodGet, "/api/admin/tenants", nil).Body, &list); err != nil || len(list) != 1 ||
		list[0]["ownerId"] != uid || list[0]["ownerEmail"] != uid+"@example.com" || list[0]["port"] != 20000.0 {
		t.Fatalf("admin list = %v, %v", list, err)
	}
	if r := c.Do(http.MethodGet, "/api/admin/tenants", nil, nil); r.Code != http.StatusUnauthorized {
		t.Fatalf("admin list without token: %d", r.Code)
	}

	// Restart bumps restartGen and republishes.
	r = c.User(http.MethodPost, "/api/tenants/me/restart", uid, nil)
	if r.Code != http.StatusAccepted || r.JSON(t)["restartGen"] != 1.0 || r.JSON(t)["status"] != "starting" {
		t.Fatalf("restart: %d %s", r.Code, r.Body)
	}
	d2 := ag.WaitDesired("desired with restartGen 1", func(d *proto.Desired) bool {
		return len(d.Tenants) == 1 && d.Tenants[0].RestartGen == 1
	})
	if d2.Revision <= d.Revision || d2.Tenants[0].GatewayToken != spec.GatewayToken {
		t.Fatalf("restart desired = %+v (was revision %d)", d2, d.Revision)
	}
	// A report of the old generation does not count as restarted.
	ag.Report([]proto.TenantStatus{{ID: id, State: proto.TenantRunning, RestartGen: 0}})
	time.Sleep(200 * time.Millisecond)
	if m := c.User(http.MethodGet, "/api/tenants/me", uid, nil).JSON(t); m["status"] != "starting" {
		t.Fatalf("old generation report: %v", m)
	}
	ag.Report([]proto.TenantStatus{{ID: id, State: proto.TenantRunning, RestartGen: 1}})
	c.WaitTenant(uid, "running after restart", func(m map[string]any) bool { return m["status"] == "running" })
	// POST /api/tenants/me restarts too.
	if r := c.User(http.MethodPost, "/api/tenants/me", uid, nil); r.Code != http.StatusAccepted || r.JSON(t)["restartGen"] != 2.0 {
		t.Fatalf("POST /me: %d %s", r.Code, r.Body)
	}

	// Delete: gone from the desired state, listed under purge.
	r = c.User(http.MethodDelete, "/api/tenants/me", uid, nil)
	if r.Code != http.StatusAccepted || r.JSON(t)["status"] != "deleting" {
		t.Fatalf("delete: %d %s", r.Code, r.Body)
	}
	d3 := ag.WaitDesired("desired with the tenant purged", func(d *proto.Desired) bool { return slices.Contains(d.Purge, id) })
	if len(d3.Tenants) != 0 {
		t.Fatalf("deleted tenant still desired: %+v", d3)
	}
	if r := c.User(http.MethodGet, "/api/tenants/me", uid, nil); r.Code != http.StatusNotFound {
		t.Fatalf("get after delete: %d %s", r.Code, r.Body)
	}
	if r := c.User(http.MethodPost, "/api/tenants/me/restart", uid, nil); r.Code != http.StatusNotFound {
		t.Fatalf("restart after delete: %d %s", r.Code, r.Body)
	}
	ag.Report(nil, id)
	ag.WaitDesired("purge entry dropped once purged", func(d *proto.Desired) bool { return d.Revision > d3.Revision && len(d.Purge) == 0 })

	// The audit log has every change with its actor.
	var audit []struct{ Actor, Action, Target string }
	json.Unmarshal(c.Admin(http.MethodGet, "/api/admin/audit?limit=100", nil).Body, &audit)
	want := map[string]string{"tenant.create": "user:" + uid, "tenant.restart": "user:" + uid, "tenant.delete": "user:" + uid, "tenant.status": "system", "tenant.purged": "system"}
	for action, actor := range want {
		if !slices.ContainsFunc(audit, func(e struct{ Actor, Action, Target string }) bool {
			return e.Action == action && e.Actor == actor && e.Target == id
		}) {
			t.Errorf("no audit event %s by %s for %s", action, actor, id)
		}
	}

	// Slug and port are free again; keepData leaves purge alone.
	r = c.User(http.MethodPost, "/api/tenants", uid, map[string]any{"plan": "free", "name": "My Claw"})
	if r.Code != http.StatusCreated || r.JSON(t)["slug"] != "my-claw" || r.JSON(t)["id"] == id {
		t.Fatalf("create again: %d %s", r.Code, r.Body)
	}
	id2 := r.JSON(t)["id"].(string)
	d4 := ag.WaitDesired("second tenant desired", servertest.HasTenant(id2))
	if d4.Tenants[0].Port != 20000 {
		t.Fatalf("port not reused: %+v", d4.Tenants[0])
	}
	// A second user lands on the next spaced port, with a suffixed slug.
	r = c.User(http.MethodPost, "/api/tenants", "user-2", map[string]any{"plan": "free", "name": "My Claw"})
	m2 := r.JSON(t)
	if r.Code != http.StatusCreated || m2["hostId"] != hostID || !strings.HasPrefix(m2["slug"].(string), "my-claw-") {
		t.Fatalf("second user's tenant: %d %s", r.Code, r.Body)
	}
	id3 := m2["id"].(string)
	d5 := ag.WaitDesired("both tenants desired", func(d *proto.Desired) bool { return servertest.HasTenant(id2)(d) && servertest.HasTenant(id3)(d) })
	if ports := []int{d5.Tenants[0].Port, d5.Tenants[1].Port}; !slices.Equal(ports, []int{20000, 20120}) {
		t.Fatalf("ports = %v, want 20000 and 20120", ports)
	}
	if r := c.User(http.MethodDelete, "/api/tenants/me?keepData=1", uid, nil); r.Code != http.StatusAccepted {
		t.Fatalf("delete keepData: %d %s", r.Code, r.Body)
	}
	d6 := ag.WaitDesired("first user's tenant removed", func(d *proto.Desired) bool { return d.Revision > d5.Revision && !servertest.HasTenant(id2)(d) })
	if slices.Contains(d6.Purge, id2) || !servertest.HasTenant(id3)(d6) {
		t.Fatalf("keepData purged the data: %+v", d6)
	}

	// Host offline: the status stays, lastError says so, logs are refused.
	ag.GoOffline()
	c.WaitTenant("user-2", "host offline shown", func(m map[string]any) bool { return m["lastError"] == "host offline" && m["status"] == "pending" })
	if r := c.User(http.MethodGet, "/api/tenants/me/logs", "user-2", nil); r.Code != http.StatusServiceUnavailable || r.JSON(t)["code"] != "host_offline" {
		t.Fatalf("logs of an offline host: %d %s", r.Code, r.Body)
	}
	// No online host left: 503 for a new tenant.
	if r := c.User(http.MethodPost, "/api/tenants", "user-4", map[string]any{"plan": "free"}); r.Code != http.StatusServiceUnavailable {
		t.Fatalf("create with every host offline: %d %s", r.Code, r.Body)
	}
}

// followLogs reads the SSE stream: the current lines, then a new one.
func followLogs(t *testing.T, c *servertest.Cloud, uid string, ag *servertest.Agent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/api/tenants/me/logs?follow=1&tail=10", nil)
	for k, v := range servertest.UserHeaders(uid) {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("follow: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				lines <- l
			}
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l := <-lines:
			return l
		case <-time.After(5 * time.Second):
			t.Fatal("no SSE line within 5s")
		}
		return ""
	}
	for _, want := range []string{"line 1", "line 2", "line 3"} {
		if got := next(); got != want {
			t.Fatalf("SSE line %q, want %q", got, want)
		}
	}
	ag.AppendLogs("line 4")
	if got := next(); got != "line 4" {
		t.Fatalf("SSE new line %q, want line 4", got)
	}
}

func TestTenantAckTimeoutAndRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := servertest.New(t, servertest.WithDataDir(dir), servertest.WithSharedSecret(), servertest.WithFlags("--command-timeout", "1s"))
	hostID, secret := c.Provision("box-1")
	ag := c.NewAgent(hostID, secret)
	r := c.User(http.MethodPost, "/api/tenants", "u1", map[string]any{"plan": "free", "name": "Ünïcødé Café!"})
	if r.Code != http.StatusCreated || r.JSON(t)["slug"] != "unicode-cafe" {
		t.Fatalf("create: %d %s", r.Code, r.Body)
	}
	id := r.JSON(t)["id"].(string)
	d := ag.WaitDesired("desired", servertest.HasTenant(id))
	// No acknowledgement: lastError after the command timeout, still pending.
	want := "host " + hostID + " did not acknowledge within 1s"
	c.WaitTenant("u1", "ack timeout error", func(m map[string]any) bool { return m["lastError"] == want && m["status"] == "pending" })

	// The cloud restarts: the tenant survives; the agent reconnects and
	// registers and gets the same desired state again.
	ag.Close()
	c.Stop()
	c = servertest.New(t, servertest.WithDataDir(dir), servertest.WithSharedSecret(), servertest.WithFlags("--command-timeout", "1s"))
	if m := c.User(http.MethodGet, "/api/tenants/me", "u1", nil).JSON(t); m["id"] != id {
		t.Fatalf("after restart: %v", m)
	}
	ag = c.NewAgent(hostID, secret)
	d2 := ag.WaitDesired("desired republished on register", servertest.HasTenant(id))
	if d2.Revision != d.Revision || d2.Tenants[0].GatewayToken != d.Tenants[0].GatewayToken {
		t.Fatalf("republished desired = %+v, first = %+v", d2, d)
	}
	ag.Ack(d2.Revision)
	c.WaitTenant("u1", "starting after late ack", func(m map[string]any) bool { return m["status"] == "starting" && m["lastError"] == "" })
	// An ack for a revision never published is refused.
	ag.Ack(d2.Revision + 5)
	tstest.Await(t, "bogus ack refused", 5*time.Second, func() bool {
		return c.Metric(`clawfleet_tenant_messages_refused_total{reason="unknown_reply"}`) == 1
	})
	// A failed report sets lastError.
	ag.Report([]proto.TenantStatus{{ID: id, State: proto.TenantFailed, Error: "image pull failed"}})
	c.WaitTenant("u1", "failed", func(m map[string]any) bool { return m["status"] == "failed" && m["lastError"] == "image pull failed" })
}

func TestTenantLogsTimeout(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	hostID, secret := c.Provision("box-1")
	ag := c.NewAgent(hostID, secret)
	ag.SetAnswer(false)
	if r := c.User(http.MethodPost, "/api/tenants", "u1", map[string]any{"plan": "free"}); r.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Code, r.Body)
	}
	start := time.Now()
	r := c.User(http.MethodGet, "/api/tenants/me/logs", "u1", nil)
	if r.Code != http.StatusGatewayTimeout || r.JSON(t)["code"] != "host_timeout" || r.JSON(t)["error"] != "host did not answer within 10s" {
		t.Fatalf("logs without answer: %d %s", r.Code, r.Body)
	}
	if d := time.Since(start); d < 9*time.Second || d > 15*time.Second {
		t.Fatalf("timed out after %s", d)
	}
	cmds := len(ag.Commands())
	if cmds != 1 {
		t.Fatalf("%d commands received", cmds)
	}
}

func TestTenantAuth(t *testing.T) {
	t.Parallel()
	// With the shared secret off the user routes are disabled.
	off := servertest.New(t, servertest.WithFlags("--shared-secret", "off"))
	r := off.User(http.MethodGet, "/api/tenants/me", "u1", nil)
	if r.Code != http.StatusUnauthorized || !strings.Contains(r.JSON(t)["error"].(string), "disabled") {
		t.Fatalf("disabled mode: %d %s", r.Code, r.Body)
	}
	// Unset, one is generated at the first start (shown once, its hash
	// kept) and works at once, and after a restart, without a new one.
	gen := servertest.New(t)
	secret := gen.App.SharedSecret
	if !strings.HasPrefix(secret, "cfw_") {
		t.Fatalf("generated shared secret %q", secret)
	}
	asApp := func(c *servertest.Cloud, secret string) servertest.Response {
		return c.Do(http.MethodGet, "/api/tenants/me", map[string]string{"X-Shared-Secret": secret, "X-User-ID": "u1"}, nil)
	}
	if r := asApp(gen, secret); r.Code != http.StatusNotFound || r.JSON(t)["code"] != "no_tenant" {
		t.Fatalf("the generated secret: %d %s", r.Code, r.Body)
	}
	if r := asApp(gen, servertest.SharedSecret); r.Code != http.StatusUnauthorized {
		t.Fatalf("another secret on a generated one: %d %s", r.Code, r.Body)
	}
	if b, err := os.ReadFile(filepath.Join(gen.Dir, "shared-secret.sha256")); err != nil || strings.Contains(string(b), secret) {
		t.Fatalf("the kept file must hold the hash only: %q %v", b, err)
	}
	gen.Stop()
	again := servertest.New(t, servertest.WithDataDir(gen.Dir))
	if again.App.SharedSecret != "" {
		t.Fatal("a restart generated another shared secret")
	}
	if r := asApp(again, secret); r.Code != http.StatusNotFound {
		t.Fatalf("the generated secret after a restart: %d %s", r.Code, r.Body)
	}

	c := servertest.New(t, servertest.WithSharedSecret())
	long := strings.Repeat("x", 129)
	tests := []struct {
		name string
		hdr  map[string]string
		body any
		code int
		err  string
	}{
		{"missing secret", map[string]string{"X-User-ID": "u1"}, nil, 401, "unauthorized"},
		{"wrong secret", map[string]string{"X-Shared-Secret": servertest.SharedSecret + "x", "X-User-ID": "u1"}, nil, 401, "unauthorized"},
		{"missing user", map[string]string{"X-Shared-Secret": servertest.SharedSecret}, nil, 400, "invalid_user"},
		{"long user", map[string]string{"X-Shared-Secret": servertest.SharedSecret, "X-User-ID": long}, nil, 400, "invalid_user"},
		{"control user", map[string]string{"X-Shared-Secret": servertest.SharedSecret, "X-User-ID": "u\tid"}, nil, 400, "invalid_user"},
		{"bad email", map[string]string{"X-Shared-Secret": servertest.SharedSecret, "X-User-ID": "u1", "X-User-Email": "nope"}, nil, 400, "invalid_email"},
		{"bad plan", servertest.UserHeaders("u1"), map[string]any{"plan": "gold"}, 400, "invalid_plan"},
		{"bad name", servertest.UserHeaders("u1"), map[string]any{"plan": "free", "name": strings.Repeat("n", 65)}, 400, "invalid_name"},
		{"control name", servertest.UserHeaders("u1"), map[string]any{"plan": "free", "name": "a\nb"}, 400, "invalid_name"},
		{"unknown field", servertest.UserHeaders("u1"), map[string]any{"plan": "free", "size": 3}, 400, "invalid_json"},
	}
	for _, tc := range tests {
		method, path := http.MethodGet, "/api/tenants/me"
		if tc.body != nil {
			method, path = http.MethodPost, "/api/tenants"
		}
		r := c.Do(method, path, tc.hdr, tc.body)
		if r.Code != tc.code || r.JSON(t)["code"] != tc.err {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.Code, r.Body, tc.code, tc.err)
		}
	}
	// Failed secrets are rate limited per address (burst 10).
	limited := false
	for range 20 {
		if r := c.Do(http.MethodGet, "/api/tenants/me", map[string]string{"X-Shared-Secret": "guess-guess-guess", "X-User-ID": "u1"}, nil); r.Code == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("failed shared-secret attempts were not rate limited")
	}
}

func TestTenantAdmin(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	body := func(owner, email, plan, name string) map[string]any {
		return map[string]any{"ownerId": owner, "ownerEmail": email, "plan": plan, "name": name}
	}

	// Without a host: 503, like the user API.
	r := c.Admin(http.MethodPost, "/api/admin/tenants", body("alice", "alice@example.com", "basic", "Alice"))
	if r.Code != http.StatusServiceUnavailable || r.JSON(t)["code"] != "no_capacity" || r.Header.Get("Retry-After") != "60" {
		t.Fatalf("admin create without hosts: %d %s", r.Code, r.Body)
	}
	// The admin guard, then the user API's validation.
	if r := c.Do(http.MethodPost, "/api/admin/tenants", map[string]string{"X-Shared-Secret": servertest.SharedSecret}, body("alice", "", "free", "")); r.Code != http.StatusUnauthorized {
		t.Fatalf("admin create without the admin token: %d %s", r.Code, r.Body)
	}
	for _, tc := range []struct {
		name string
		body any
		code int
		err  string
	}{
		{"no owner", body("", "", "free", ""), 400, "invalid_user"},
		{"long owner", body(strings.Repeat("x", 129), "", "free", ""), 400, "invalid_user"},
		{"control owner", body("a\x00b", "", "free", ""), 400, "invalid_user"},
		{"bad email", body("alice", "nope", "free", ""), 400, "invalid_email"},
		{"bad plan", body("alice", "", "gold", ""), 400, "invalid_plan"},
		{"bad name", body("alice", "", "free", strings.Repeat("n", 65)), 400, "invalid_name"},
		{"unknown field", map[string]any{"ownerId": "alice", "owner": "x"}, 400, "invalid_json"},
	} {
		r := c.Admin(http.MethodPost, "/api/admin/tenants", tc.body)
		if r.Code != tc.code || r.JSON(t)["code"] != tc.err {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.Code, r.Body, tc.code, tc.err)
		}
	}
	if r := c.Admin(http.MethodPost, "/api/admin/tenants", body("", "", "free", "")); !strings.Contains(r.JSON(t)["error"].(string), "ownerId") {
		t.Errorf("invalid_user does not name ownerId: %s", r.Body)
	}

	hostID, secret := c.Provision("box-1")
	ag := c.NewAgent(hostID, secret)
	r = c.Admin(http.MethodPost, "/api/admin/tenants", body("alice", "alice@example.com", "pro", "Alice's claw"))
	if r.Code != http.StatusCreated {
		t.Fatalf("admin create: %d %s", r.Code, r.Body)
	}
	tn := r.JSON(t)
	id, _ := tn["id"].(string)
	if tn["ownerId"] != "alice" || tn["ownerEmail"] != "alice@example.com" || tn["plan"] != "pro" || tn["name"] != "Alice's claw" ||
		tn["slug"] != "alice-s-claw" || tn["status"] != "pending" || tn["hostId"] != hostID || tn["port"] != 20000.0 ||
		tn["desiredState"] != "running" || tn["resources"].(map[string]any)["cpuMillis"] != 2000.0 || !strings.HasPrefix(id, "ten_") {
		t.Fatalf("admin-created tenant = %s", r.Body)
	}
	ag.WaitDesired("desired with the admin's tenant", servertest.HasTenant(id))
	// The owner sees it as theirs.
	if m := c.User(http.MethodGet, "/api/tenants/me", "alice", nil).JSON(t); m["id"] != id {
		t.Fatalf("the owner does not see the admin's tenant: %v", m)
	}
	// Not idempotent for admins: 409 naming the existing tenant, nothing changed.
	r = c.Admin(http.MethodPost, "/api/admin/tenants", body("alice", "", "free", "Other"))
	if m := r.JSON(t); r.Code != http.StatusConflict || m["code"] != "conflict" || m["tenantId"] != id || !strings.Contains(m["error"].(string), id) {
		t.Fatalf("second admin create: %d %s", r.Code, r.Body)
	}
	var list []map[string]any
	if err := json.Unmarshal(c.Admin(http.MethodGet, "/api/admin/tenants", nil).Body, &list); err != nil || len(list) != 1 || list[0]["plan"] != "pro" {
		t.Fatalf("after the conflict: %v %v", list, err)
	}

	// Logs of any tenant.
	ag.SetLogs("a", "<b>b</b>", "c")
	r = c.Admin(http.MethodGet, "/api/admin/tenants/"+id+"/logs?tail=2", nil)
	var logs struct {
		Lines []string `json:"lines"`
	}
	if err := json.Unmarshal(r.Body, &logs); err != nil || r.Code != http.StatusOK || !slices.Equal(logs.Lines, []string{"<b>b</b>", "c"}) {
		t.Fatalf("admin logs: %d %s", r.Code, r.Body)
	}
	last := ag.LastCommand()
	if last.Op != proto.OpLogs || last.TenantID != id || last.Tail != 2 {
		t.Fatalf("logs command = %+v", last)
	}
	for _, tc := range []struct {
		path, err string
		code      int
	}{
		{"/api/admin/tenants/" + id + "/logs?tail=0", "invalid_request", 400},
		{"/api/admin/tenants/" + id + "/logs?tail=2001", "invalid_request", 400},
		{"/api/admin/tenants/" + id + "/logs?follow=1", "invalid_request", 400},
		{"/api/admin/tenants/ten_nosuchtenant/logs", "no_tenant", 404},
		{"/api/admin/tenants/ten_nosuchtenant", "no_tenant", 404},
	} {
		if r := c.Admin(http.MethodGet, tc.path, nil); r.Code != tc.code || r.JSON(t)["code"] != tc.err {
			t.Errorf("GET %s: %d %s, want %d %s", tc.path, r.Code, r.Body, tc.code, tc.err)
		}
	}
	if r := c.Do(http.MethodGet, "/api/admin/tenants/"+id+"/logs", nil, nil); r.Code != http.StatusUnauthorized {
		t.Errorf("admin logs without the token: %d", r.Code)
	}
	ag.SetLogsError("no such container")
	if r := c.Admin(http.MethodGet, "/api/admin/tenants/"+id+"/logs", nil); r.Code != http.StatusBadGateway || r.JSON(t)["code"] != "host_error" ||
		!strings.Contains(r.JSON(t)["error"].(string), "no such container") {
		t.Errorf("admin logs, host error: %d %s", r.Code, r.Body)
	}

	// Restart and delete by id, audited as the admin.
	if r := c.Admin(http.MethodPost, "/api/admin/tenants/"+id+"/restart", nil); r.Code != http.StatusAccepted || r.JSON(t)["restartGen"] != 1.0 {
		t.Fatalf("admin restart: %d %s", r.Code, r.Body)
	}
	if r := c.Admin(http.MethodDelete, "/api/admin/tenants/"+id+"?keepData=1", nil); r.Code != http.StatusAccepted || r.JSON(t)["status"] != "deleting" {
		t.Fatalf("admin delete: %d %s", r.Code, r.Body)
	}
	d := ag.WaitDesired("tenant removed", func(d *proto.Desired) bool { return !servertest.HasTenant(id)(d) })
	if slices.Contains(d.Purge, id) {
		t.Errorf("keepData=1 purged the data: %+v", d)
	}
	var audit []struct{ Actor, Action, Target string }
	json.Unmarshal(c.Admin(http.MethodGet, "/api/admin/audit?limit=100", nil).Body, &audit)
	for _, action := range []string{"tenant.create", "tenant.restart", "tenant.delete"} {
		if !slices.ContainsFunc(audit, func(e struct{ Actor, Action, Target string }) bool {
			return e.Action == action && e.Actor == "admin" && e.Target == id
		}) {
			t.Errorf("no audit event %s by admin for %s: %+v", action, id, audit)
		}
	}
	// The owner may have a tenant again; an offline host refuses logs.
	r = c.Admin(http.MethodPost, "/api/admin/tenants", body("alice", "", "", ""))
	if r.Code != http.StatusCreated || r.JSON(t)["plan"] != "free" {
		t.Fatalf("admin create after delete: %d %s", r.Code, r.Body)
	}
	id2 := r.JSON(t)["id"].(string)
	ag.GoOffline()
	tstest.Await(t, "box-1 offline", 5*time.Second, func() bool {
		return c.Admin(http.MethodGet, "/api/hosts/"+hostID, nil).JSON(t)["status"] == "offline"
	})
	if r := c.Admin(http.MethodGet, "/api/admin/tenants/"+id2+"/logs", nil); r.Code != http.StatusServiceUnavailable || r.JSON(t)["code"] != "host_offline" {
		t.Errorf("admin logs, host offline: %d %s", r.Code, r.Body)
	}
}

func TestTenantBearer(t *testing.T) {
	t.Parallel()
	sso := ssotest.Start(t)
	c := servertest.New(t, servertest.WithSharedSecret(), servertest.WithFlags(sso.Flags()...))
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	hostID, secret := c.Provision("box-1")
	c.NewAgent(hostID, secret)

	// The SSO's token stands for the shared secret and X-User-*: the tenant
	// it creates is the one the app later sees for the same user id.
	tok := sso.Token(t, "u-alice", "alice@example.test", 5*time.Minute)
	r := c.Do(http.MethodPost, "/api/tenants", bearer(tok), map[string]any{"plan": "basic", "name": "Alice"})
	if r.Code != http.StatusCreated {
		t.Fatalf("create with a bearer token: %d %s", r.Code, r.Body)
	}
	id := r.JSON(t)["id"]
	if r := c.User(http.MethodGet, "/api/tenants/me", "u-alice", nil); r.Code != 200 || r.JSON(t)["id"] != id {
		t.Fatalf("the same user by shared secret: %d %s", r.Code, r.Body)
	}
	if r := c.Do(http.MethodGet, "/api/tenants/me", map[string]string{"Authorization": "bearer " + tok}, nil); r.Code != 200 || r.JSON(t)["id"] != id {
		t.Fatalf("lower-case scheme: %d %s", r.Code, r.Body)
	}
	if r := c.Do(http.MethodGet, "/api/tenants/me", bearer(sso.Token(t, "u-bob", "", time.Minute)), nil); r.Code != http.StatusNotFound {
		t.Fatalf("another user's token sees a tenant: %d %s", r.Code, r.Body)
	}
	// An admin sees the email taken from the token.
	if r := c.Admin(http.MethodGet, "/api/admin/tenants/"+id.(string), nil); r.JSON(t)["ownerEmail"] != "alice@example.test" {
		t.Fatalf("owner email: %s", r.Body)
	}

	refused := []struct{ name, tok string }{
		{"expired", sso.Token(t, "u-alice", "", -5*time.Minute)},
		{"forged", sso.Forged(t, "u-alice")},
		{"other audience", sso.ForAudience(t, "u-alice", "another-app")},
		{"garbage", "abc.def.ghi"},
	}
	for _, tc := range refused {
		r := c.Do(http.MethodDelete, "/api/tenants/me", bearer(tc.tok), nil)
		if r.Code != http.StatusUnauthorized || r.JSON(t)["code"] != "invalid_token" || !strings.Contains(r.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s: %d %s", tc.name, r.Code, r.Body)
		}
	}
	if r := c.User(http.MethodGet, "/api/tenants/me", "u-alice", nil); r.Code != 200 || r.JSON(t)["status"] == "deleting" {
		t.Fatalf("a refused token changed the tenant: %d %s", r.Code, r.Body)
	}
	// Bad tokens count toward the same per-address limit as bad secrets.
	limited := false
	for range 20 {
		if r := c.Do(http.MethodGet, "/api/tenants/me", bearer(sso.Forged(t, "u-alice")), nil); r.Code == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("refused bearer tokens were not rate limited")
	}
	// ... but valid tokens from that address still pass (one SSO app
	// forwards every user's token), and an odd optional email is dropped.
	if r := c.Do(http.MethodGet, "/api/tenants/me", bearer(sso.Token(t, "u-alice", "not-an-address", time.Minute)), nil); r.Code != 200 || r.JSON(t)["id"] != id {
		t.Fatalf("valid token after others' failures: %d %s", r.Code, r.Body)
	}

	// Without a shared secret, bearer tokens still work and the 401 says so.
	only := servertest.New(t, servertest.WithFlags(sso.Flags()...))
	if r := only.User(http.MethodGet, "/api/tenants/me", "u-alice", nil); r.Code != 401 || !strings.Contains(r.JSON(t)["error"].(string), "Bearer") {
		t.Fatalf("shared secret without one configured: %d %s", r.Code, r.Body)
	}
	if r := only.Do(http.MethodGet, "/api/tenants/me", bearer(tok), nil); r.Code != http.StatusNotFound {
		t.Fatalf("bearer token with SSO only: %d %s", r.Code, r.Body)
	}
}

// TestTenantHostDeleted: deleting a host moves its tenants to hosts with
// room (a fresh start, said in lastError), leaves them failed and unplaced
// when there is none, and a restart places them once a host has room.
func TestTenantHostDeleted(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	idA, secA := c.Provision("box-a")
	agA := c.NewAgent(idA, secA)
	r := c.User(http.MethodPost, "/api/tenants", "u1", map[string]any{"plan": "basic", "name": "Moving claw"})
	if r.Code != http.StatusCreated || r.JSON(t)["hostId"] != idA {
		t.Fatalf("create: %d %s", r.Code, r.Body)
	}
	tid := r.JSON(t)["id"].(string)
	agA.WaitDesired("tenant on A", servertest.HasTenant(tid))
	if r := c.User(http.MethodPost, "/api/tenants", "u2", map[string]any{"plan": "free", "name": "Second claw"}); r.Code != http.StatusCreated {
		t.Fatalf("create u2: %d %s", r.Code, r.Body)
	}
	idB, secB := c.Provision("box-b")
	agB := c.NewAgent(idB, secB)

	if r := c.Admin(http.MethodDelete, "/api/hosts/"+idA, nil); r.Code != http.StatusOK && r.Code != http.StatusNoContent {
		t.Fatalf("delete host A: %d %s", r.Code, r.Body)
	}
	mine := c.WaitTenant("u1", "moved to B", func(m map[string]any) bool { return m["hostId"] == idB })
	if mine["id"] != tid || mine["status"] != "pending" || !strings.Contains(fmt.Sprint(mine["lastError"]), "moved from deleted host "+idA) {
		t.Fatalf("moved tenant: %v", mine)
	}
	agB.WaitDesired("tenant on B", servertest.HasTenant(tid))

	// No host left: failed, unplaced; a restart says why it cannot place it.
	if r := c.Admin(http.MethodDelete, "/api/hosts/"+idB, nil); r.Code != http.StatusOK && r.Code != http.StatusNoContent {
		t.Fatalf("delete host B: %d %s", r.Code, r.Body)
	}
	for _, u := range []string{"u1", "u2"} { // any number of tenants can be unplaced
		mine = c.WaitTenant(u, "unplaced", func(m map[string]any) bool { return m["status"] == "failed" })
		if h, _ := mine["hostId"].(string); h != "" || !strings.Contains(fmt.Sprint(mine["lastError"]), "no other host has room") {
			t.Fatalf("unplaced tenant of %s: %v", u, mine)
		}
	}
	if r := c.User(http.MethodPost, "/api/tenants/me/restart", "u1", nil); r.Code != http.StatusServiceUnavailable || r.JSON(t)["code"] != "no_capacity" {
		t.Fatalf("restart without hosts: %d %s", r.Code, r.Body)
	}
	idC, secC := c.Provision("box-c")
	agC := c.NewAgent(idC, secC)
	if r := c.User(http.MethodPost, "/api/tenants/me/restart", "u1", nil); r.Code != http.StatusAccepted || r.JSON(t)["hostId"] != idC {
		t.Fatalf("restart with a host: %d %s", r.Code, r.Body)
	}
	agC.WaitDesired("tenant on C", servertest.HasTenant(tid))
	// Unplaced again, it can still be deleted.
	if r := c.Admin(http.MethodDelete, "/api/hosts/"+idC, nil); r.Code != http.StatusOK && r.Code != http.StatusNoContent {
		t.Fatalf("delete host C: %d %s", r.Code, r.Body)
	}
	c.WaitTenant("u1", "unplaced again", func(m map[string]any) bool { return m["status"] == "failed" })
	if r := c.User(http.MethodDelete, "/api/tenants/me", "u1", nil); r.Code != http.StatusAccepted {
		t.Fatalf("delete an unplaced tenant: %d %s", r.Code, r.Body)
	}
	if r := c.User(http.MethodGet, "/api/tenants/me", "u1", nil); r.Code != http.StatusNotFound {
		t.Fatalf("unplaced tenant after delete: %d %s", r.Code, r.Body)
	}
	audit := string(c.Admin(http.MethodGet, "/api/admin/audit?limit=100", nil).Body)
	for _, want := range []string{`"tenant.move"`, `"tenant.unplaced"`} {
		if !strings.Contains(audit, want) {
			t.Errorf("no %s audit event", want)
		}
	}
}

// TestTrustedFrontProxy: behind a trusted load balancer, rate limits key
// on the client it names, so one client's bad guesses lock out only that
// client; without the setting the balancer's address is the client.
func TestTrustedFrontProxy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		args       []string
		othersPass bool
	}{
		{"trusted", []string{"--trusted-proxies", "127.0.0.1"}, true},
		{"not trusted", nil, false},
	} {
		c := servertest.New(t, servertest.WithFlags(tc.args...))
		from := func(ip, token string) int {
			return c.Do(http.MethodGet, "/api/hosts", map[string]string{"X-Forwarded-For": ip, "Authorization": "Bearer " + token}, nil).Code
		}
		limited := false
		for range 30 {
			if from("203.0.113.1", "wrong-token-wrong-token") == http.StatusTooManyRequests {
				limited = true
				break
			}
		}
		if !limited {
			t.Fatalf("%s: guesses were not limited", tc.name)
		}
		if code := from("203.0.113.2", servertest.AdminToken); (code == http.StatusOK) != tc.othersPass {
			t.Errorf("%s: another client with the right token: %d", tc.name, code)
		}
	}
}
