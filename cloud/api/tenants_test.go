package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/app"
	"github.com/clawfleet/clawfleet/cloud/config"
	"github.com/clawfleet/clawfleet/cloud/sso/ssotest"
	"github.com/clawfleet/clawfleet/pkg/proto"
	paho "github.com/eclipse/paho.mqtt.golang"
)

const tenantSecret = "shared-secret-for-tenant-tests-0123"

// tcloud is an in-process cloud for the tenant tests.
type tcloud struct {
	t      *testing.T
	a      *app.App
	base   string
	dir    string
	cancel context.CancelFunc
	done   chan error
}

func startTenantCloud(t *testing.T, dir string, extra ...string) *tcloud {
	t.Helper()
	args := append([]string{
		"--http-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0", "--wg-addr", "127.0.0.1:0", "--internal-upstream-addr", "127.0.0.1:0",
		"--data-dir", dir, "--admin-token", dashAdminToken,
	}, extra...)
	cfg, err := config.Load(args, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(ctx, cfg, log, io.Discard)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &tcloud{t: t, a: a, dir: dir, cancel: cancel, done: make(chan error, 1), base: "http://" + a.HTTPAddr().String()}
	ready := make(chan struct{})
	go func() { c.done <- a.Run(ctx, func() { close(ready) }) }()
	t.Cleanup(c.stop)
	select {
	case <-ready:
	case err := <-c.done:
		t.Fatalf("cloud failed to start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("cloud did not become ready")
	}
	return c
}

func (c *tcloud) stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	c.cancel = nil
	select {
	case err := <-c.done:
		if err != nil {
			c.t.Errorf("cloud stopped with: %v", err)
		}
	case <-time.After(15 * time.Second):
		c.t.Errorf("cloud did not stop")
	}
}

type resp struct {
	code int
	body []byte
	hdr  http.Header
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %s", r.code, r.body)
	}
	return m
}

func (r resp) jsonList(t *testing.T) []map[string]any {
	t.Helper()
	var l []map[string]any
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("response %d is not a JSON array: %s", r.code, r.body)
	}
	return l
}

func (c *tcloud) do(method, path string, hdr map[string]string, body any) resp {
	c.t.Helper()
	var rd io.Reader
	if raw, ok := body.(string); ok {
		rd = strings.NewReader(raw)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, raw, res.Header}
}

func userHdr(uid string) map[string]string {
	return map[string]string{"X-Shared-Secret": tenantSecret, "X-User-ID": uid, "X-User-Email": uid + "@example.com"}
}

func (c *tcloud) user(method, path, uid string, body any) resp {
	c.t.Helper()
	return c.do(method, path, userHdr(uid), body)
}

func (c *tcloud) admin(method, path string, body any) resp {
	c.t.Helper()
	return c.do(method, path, map[string]string{"Authorization": "Bearer " + dashAdminToken}, body)
}

func (c *tcloud) metric(name string) float64 {
	c.t.Helper()
	r := c.do(http.MethodGet, "/metrics", nil, nil)
	for _, line := range strings.Split(string(r.body), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return 0
}

func (c *tcloud) provision(name string) (id, secret string) {
	c.t.Helper()
	r := c.admin(http.MethodPost, "/api/admin/devices", map[string]any{"name": name})
	if r.code != http.StatusCreated {
		c.t.Fatalf("provision: %d %s", r.code, r.body)
	}
	m := r.json(c.t)
	return m["deviceId"].(string), m["secret"].(string)
}

func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeAgent is a device speaking the tenant protocol through paho.
type fakeAgent struct {
	t        *testing.T
	id       string
	cl       paho.Client
	stopHB   chan struct{}
	mu       sync.Mutex
	desired  []*proto.Desired
	cmds     []*proto.Command
	logLines []string
	answer   bool   // answer logs commands
	logsErr  string // answer them with this error instead of lines
}

func newFakeAgent(t *testing.T, c *tcloud, id, secret string) *fakeAgent {
	t.Helper()
	f := &fakeAgent{t: t, id: id, stopHB: make(chan struct{}), answer: true}
	o := paho.NewClientOptions().AddBroker("tcp://" + c.a.MQTTAddr().String()).SetClientID(id).SetUsername(id).SetPassword(secret).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetCleanSession(true)
	f.cl = paho.NewClient(o)
	if tok := f.cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("agent connect: %v", tok.Error())
	}
	tok := f.cl.Subscribe(proto.DeviceFilter(id), 1, func(_ paho.Client, m paho.Message) {
		_, _, kind, err := proto.ParseTopic(m.Topic())
		if err != nil {
			return
		}
		switch kind {
		case proto.KindDesired:
			if len(m.Payload()) == 0 {
				return
			}
			d, err := proto.DecodeDesired(m.Payload())
			if err != nil {
				t.Errorf("agent %s: invalid desired state: %v", id, err)
				return
			}
			f.mu.Lock()
			f.desired = append(f.desired, d)
			f.mu.Unlock()
		case proto.KindCmd:
			cmd, err := proto.DecodeCommand(m.Payload())
			if err != nil {
				t.Errorf("agent %s: invalid command: %v", id, err)
				return
			}
			f.mu.Lock()
			f.cmds = append(f.cmds, cmd)
			answer, lines, logsErr := f.answer, slices.Clone(f.logLines), f.logsErr
			f.mu.Unlock()
			if answer && logsErr != "" {
				go f.publish(proto.KindReply, &proto.Reply{ID: cmd.ID, OK: false, Error: logsErr})
			} else if answer {
				if len(lines) > cmd.Tail {
					lines = lines[len(lines)-cmd.Tail:]
				}
				go f.publish(proto.KindReply, &proto.Reply{ID: cmd.ID, OK: true, Lines: lines})
			}
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("agent subscribe: %v", tok.Error())
	}
	f.publish(proto.KindRegister, &proto.Register{Hostname: "vm-" + id, OS: "linux", Arch: "amd64", CPUs: 4, MemTotalBytes: 8 << 30,
		AgentVersion: "test", Capabilities: proto.Capabilities{Docker: true, Runtimes: []string{"docker"}}})
	f.publish(proto.KindStatus, &proto.Status{State: proto.StateOnline})
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-f.stopHB:
				return
			case <-tick.C:
				if f.cl.IsConnected() {
					f.cl.Publish(proto.UpTopic(id, proto.KindHeartbeat), 1, false, proto.MustEncode(&proto.Heartbeat{SentAt: time.Now().UnixMilli(),
						Metrics: proto.Metrics{MemUsedBytes: 1 << 30, MemTotalBytes: 8 << 30}}))
				}
			}
		}
	}()
	t.Cleanup(f.close)
	// Online and registered (its runtimes known), so it can take tenants:
	// the status and the registration are separate messages.
	eventually(t, "host "+id+" online and registered", 10*time.Second, func() bool {
		r := c.admin(http.MethodGet, "/api/hosts/"+id, nil)
		if r.code != http.StatusOK || r.json(t)["status"] != "online" {
			return false
		}
		caps, _ := r.json(t)["capabilities"].(map[string]any)
		rts, _ := caps["runtimes"].([]any)
		return len(rts) > 0
	})
	return f
}

func (f *fakeAgent) close() {
	select {
	case <-f.stopHB:
	default:
		close(f.stopHB)
	}
	if f.cl.IsConnected() {
		f.cl.Disconnect(100)
	}
}

func (f *fakeAgent) publish(kind string, msg any) {
	f.publishRaw(kind, proto.MustEncode(msg))
}

func (f *fakeAgent) publishRaw(kind string, payload []byte) {
	tok := f.cl.Publish(proto.UpTopic(f.id, kind), 1, false, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		f.t.Errorf("agent publish %s: %v", kind, tok.Error())
	}
}

// waitDesired waits for a desired state satisfying cond and returns it.
func (f *fakeAgent) waitDesired(what string, cond func(*proto.Desired) bool) *proto.Desired {
	f.t.Helper()
	var got *proto.Desired
	eventually(f.t, what, 10*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i := len(f.desired) - 1; i >= 0; i-- {
			if cond(f.desired[i]) {
				got = f.desired[i]
				return true
			}
		}
		return false
	})
	return got
}

func (f *fakeAgent) ack(rev int64) {
	f.publish(proto.KindReply, &proto.Reply{ID: proto.DesiredReplyID(rev), OK: true})
}

func (f *fakeAgent) report(ts []proto.TenantStatus, purged ...string) {
	f.publish(proto.KindEvent, &proto.TenantReport{Type: proto.EventTenants, Runtime: "docker", Tenants: ts, Purged: purged})
}

func hasTenant(id string) func(*proto.Desired) bool {
	return func(d *proto.Desired) bool {
		return slices.ContainsFunc(d.Tenants, func(s proto.TenantSpec) bool { return s.ID == id })
	}
}

func (c *tcloud) waitTenant(uid, what string, cond func(m map[string]any) bool) map[string]any {
	c.t.Helper()
	var m map[string]any
	eventually(c.t, what, 10*time.Second, func() bool {
		r := c.user(http.MethodGet, "/api/tenants/me", uid, nil)
		if r.code != http.StatusOK {
			return false
		}
		m = r.json(c.t)
		return cond(m)
	})
	return m
}

func TestTenantLifecycle(t *testing.T) {
	t.Parallel()
	c := startTenantCloud(t, t.TempDir(), "--shared-secret", tenantSecret)
	const uid = "user-1"

	// No host yet: 503 saying what is needed.
	r := c.user(http.MethodPost, "/api/tenants", uid, map[string]any{"plan": "basic", "name": "My Claw"})
	if r.code != http.StatusServiceUnavailable || r.json(t)["code"] != "no_capacity" || !strings.Contains(string(r.body), "1.5GiB") {
		t.Fatalf("create without hosts: %d %s", r.code, r.body)
	}
	if r := c.user(http.MethodGet, "/api/tenants/me", uid, nil); r.code != http.StatusNotFound || r.json(t)["code"] != "no_tenant" {
		t.Fatalf("get without tenant: %d %s", r.code, r.body)
	}

	hostID, secret := c.provision("box-1")
	ag := newFakeAgent(t, c, hostID, secret)

	r = c.user(http.MethodPost, "/api/tenants", uid, map[string]any{"plan": "basic", "name": "My Claw"})
	if r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	tn := r.json(t)
	id := tn["id"].(string)
	_, port, _ := strings.Cut(c.a.HTTPAddr().String(), ":")
	if tn["status"] != "pending" || tn["slug"] != "my-claw" || tn["hostId"] != hostID || tn["plan"] != "basic" ||
		tn["url"] != "http://my-claw.localhost:"+port+"/" || !strings.HasPrefix(id, "ten_") {
		t.Fatalf("created tenant = %v", tn)
	}
	if strings.Contains(string(r.body), "oken") {
		t.Fatalf("the gateway token leaks into the API: %s", r.body)
	}
	// Idempotent: the same tenant, 200.
	r = c.user(http.MethodPost, "/api/tenants", uid, map[string]any{"plan": "pro", "name": "Other"})
	if r.code != http.StatusOK || r.json(t)["id"] != id {
		t.Fatalf("second create: %d %s", r.code, r.body)
	}

	d := ag.waitDesired("desired state with the tenant", hasTenant(id))
	spec := d.Tenants[0]
	if len(d.Tenants) != 1 || spec.Slug != "my-claw" || spec.Owner != uid || spec.State != proto.TenantRunning || spec.Port != 20000 ||
		spec.CPUMillis != 1000 || spec.MemoryBytes != 3<<29 || spec.DiskBytes != 5<<30 || spec.PidsLimit != 512 ||
		spec.Image != "ghcr.io/openclaw/openclaw:2026.9.6" || len(spec.GatewayToken) < 32 ||
		!slices.Equal(spec.AllowedOrigins, []string{"http://my-claw.localhost:" + port}) {
		t.Fatalf("desired = %+v", d)
	}
	if r := c.user(http.MethodGet, "/api/tenants/me", uid, nil); r.json(t)["status"] != "pending" {
		t.Fatalf("before ack: %s", r.body)
	}

	ag.ack(d.Revision)
	c.waitTenant(uid, "starting after ack", func(m map[string]any) bool { return m["status"] == "starting" })
	ag.report([]proto.TenantStatus{{ID: id, State: proto.TenantRunning, StartedAt: time.Now().UnixMilli()}})
	c.waitTenant(uid, "running after report", func(m map[string]any) bool { return m["status"] == "running" && m["lastError"] == "" })
	if m := c.user(http.MethodGet, "/api/tenants/me", uid, nil).json(t); m["disk"] != nil {
		t.Fatalf("disk shown before any measurement: %v", m["disk"])
	}
	// A host that enforces disk limits reports the tenant's disk.
	ag.report([]proto.TenantStatus{{ID: id, State: proto.TenantRunning, StartedAt: time.Now().UnixMilli(), DiskUsedBytes: 12 << 20, DiskTotalBytes: 1 << 30}})
	disk := c.waitTenant(uid, "disk usage", func(m map[string]any) bool { return m["disk"] != nil })["disk"].(map[string]any)
	if disk["usedBytes"] != float64(12<<20) || disk["totalBytes"] != float64(1<<30) || disk["measuredAt"] == "" {
		t.Fatalf("disk = %v", disk)
	}
	// An impossible measurement is refused and changes nothing.
	ag.report([]proto.TenantStatus{{ID: id, State: proto.TenantRunning, DiskUsedBytes: 2 << 30, DiskTotalBytes: 1 << 30}})
	if n := c.metric(`clawfleet_tenants{status="running"}`); n != 1 {
		t.Errorf("clawfleet_tenants{running} = %v", n)
	}
	if n := c.metric("clawfleet_tenant_start_seconds_count"); n != 1 {
		t.Errorf("start histogram count = %v", n)
	}

	// Another host may not report for this tenant; bad messages change nothing.
	otherID, otherSecret := c.provision("box-2")
	other := newFakeAgent(t, c, otherID, otherSecret)
	other.report([]proto.TenantStatus{{ID: id, State: proto.TenantFailed, Error: "forged"}})
	other.publish(proto.KindReply, &proto.Reply{ID: "cmd_nobodyasked", OK: true})
	ag.publishRaw(proto.KindEvent, []byte(`{"v":1,"type":"tenants","tenants":[{"id":"bad id","state":"running"}]}`))
	ag.publishRaw(proto.KindReply, []byte(`not json`))
	eventually(t, "refused messages counted", 5*time.Second, func() bool {
		return c.metric(`clawfleet_tenant_messages_refused_total{reason="wrong_host"}`) == 1 &&
			c.metric(`clawfleet_tenant_messages_refused_total{reason="unknown_reply"}`) == 1 &&
			c.metric(`clawfleet_tenant_messages_refused_total{reason="invalid"}`) == 2 && // and the impossible disk above
			c.metric(`clawfleet_tenant_messages_refused_total{reason="malformed"}`) == 1
	})
	if m := c.user(http.MethodGet, "/api/tenants/me", uid, nil).json(t); m["disk"].(map[string]any)["usedBytes"] != float64(12<<20) {
		t.Fatalf("disk after a refused report: %v", m["disk"])
	}
	if m := c.user(http.MethodGet, "/api/tenants/me", uid, nil).json(t); m["status"] != "running" || m["lastError"] != "" {
		t.Fatalf("a refused message changed the tenant: %v", m)
	}
	// The second host leaves: offline hosts are never chosen.
	other.publish(proto.KindStatus, &proto.Status{State: proto.StateOffline})
	other.close()
	eventually(t, "box-2 offline", 5*time.Second, func() bool {
		return c.admin(http.MethodGet, "/api/hosts/"+otherID, nil).json(t)["status"] == "offline"
	})

	// Logs round trip.
	ag.mu.Lock()
	ag.logLines = []string{"line 1", "line 2", "line 3"}
	ag.mu.Unlock()
	r = c.user(http.MethodGet, "/api/tenants/me/logs?tail=2", uid, nil)
	var logs struct{ Lines []string }
	if json.Unmarshal(r.body, &logs); r.code != http.StatusOK || !slices.Equal(logs.Lines, []string{"line 2", "line 3"}) {
		t.Fatalf("logs: %d %s", r.code, r.body)
	}
	ag.mu.Lock()
	last := ag.cmds[len(ag.cmds)-1]
	ag.mu.Unlock()
	if last.Op != proto.OpLogs || last.TenantID != id || last.Tail != 2 {
		t.Fatalf("logs command = %+v", last)
	}
	if r := c.user(http.MethodGet, "/api/tenants/me/logs?tail=0", uid, nil); r.code != http.StatusBadRequest {
		t.Fatalf("tail=0: %d", r.code)
	}
	followLogs(t, c, uid, ag)

	// Capacity and tenant counts per host.
	var hosts []struct {
		ID       string
		Capacity struct{ CPUMillis, MemoryBytes int64 }
		Reserved struct{ CPUMillis, MemoryBytes int64 }
		Tenants  int
	}
	if err := json.Unmarshal(c.admin(http.MethodGet, "/api/hosts", nil).body, &hosts); err != nil {
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
	if err := json.Unmarshal(c.admin(http.MethodGet, "/api/admin/tenants", nil).body, &list); err != nil || len(list) != 1 ||
		list[0]["ownerId"] != uid || list[0]["ownerEmail"] != uid+"@example.com" || list[0]["port"] != 20000.0 {
		t.Fatalf("admin list = %v, %v", list, err)
	}
	if r := c.do(http.MethodGet, "/api/admin/tenants", nil, nil); r.code != http.StatusUnauthorized {
		t.Fatalf("admin list without token: %d", r.code)
	}

	// Restart bumps restartGen and republishes.
	r = c.user(http.MethodPost, "/api/tenants/me/restart", uid, nil)
	if r.code != http.StatusAccepted || r.json(t)["restartGen"] != 1.0 || r.json(t)["status"] != "starting" {
		t.Fatalf("restart: %d %s", r.code, r.body)
	}
	d2 := ag.waitDesired("desired with restartGen 1", func(d *proto.Desired) bool {
		return len(d.Tenants) == 1 && d.Tenants[0].RestartGen == 1
	})
	if d2.Revision <= d.Revision || d2.Tenants[0].GatewayToken != spec.GatewayToken {
		t.Fatalf("restart desired = %+v (was revision %d)", d2, d.Revision)
	}
	// A report of the old generation does not count as restarted.
	ag.report([]proto.TenantStatus{{ID: id, State: proto.TenantRunning, RestartGen: 0}})
	time.Sleep(200 * time.Millisecond)
	if m := c.user(http.MethodGet, "/api/tenants/me", uid, nil).json(t); m["status"] != "starting" {
		t.Fatalf("old generation report: %v", m)
	}
	ag.report([]proto.TenantStatus{{ID: id, State: proto.TenantRunning, RestartGen: 1}})
	c.waitTenant(uid, "running after restart", func(m map[string]any) bool { return m["status"] == "running" })
	// POST /api/tenants/me restarts too.
	if r := c.user(http.MethodPost, "/api/tenants/me", uid, nil); r.code != http.StatusAccepted || r.json(t)["restartGen"] != 2.0 {
		t.Fatalf("POST /me: %d %s", r.code, r.body)
	}

	// Delete: gone from the desired state, listed under purge.
	r = c.user(http.MethodDelete, "/api/tenants/me", uid, nil)
	if r.code != http.StatusAccepted || r.json(t)["status"] != "deleting" {
		t.Fatalf("delete: %d %s", r.code, r.body)
	}
	d3 := ag.waitDesired("desired with the tenant purged", func(d *proto.Desired) bool { return slices.Contains(d.Purge, id) })
	if len(d3.Tenants) != 0 {
		t.Fatalf("deleted tenant still desired: %+v", d3)
	}
	if r := c.user(http.MethodGet, "/api/tenants/me", uid, nil); r.code != http.StatusNotFound {
		t.Fatalf("get after delete: %d %s", r.code, r.body)
	}
	if r := c.user(http.MethodPost, "/api/tenants/me/restart", uid, nil); r.code != http.StatusNotFound {
		t.Fatalf("restart after delete: %d %s", r.code, r.body)
	}
	ag.report(nil, id)
	ag.waitDesired("purge entry dropped once purged", func(d *proto.Desired) bool { return d.Revision > d3.Revision && len(d.Purge) == 0 })

	// The audit log has every change with its actor.
	var audit []struct{ Actor, Action, Target string }
	json.Unmarshal(c.admin(http.MethodGet, "/api/admin/audit?limit=100", nil).body, &audit)
	want := map[string]string{"tenant.create": "user:" + uid, "tenant.restart": "user:" + uid, "tenant.delete": "user:" + uid, "tenant.status": "system", "tenant.purged": "system"}
	for action, actor := range want {
		if !slices.ContainsFunc(audit, func(e struct{ Actor, Action, Target string }) bool {
			return e.Action == action && e.Actor == actor && e.Target == id
		}) {
			t.Errorf("no audit event %s by %s for %s", action, actor, id)
		}
	}

	// Slug and port are free again; keepData leaves purge alone.
	r = c.user(http.MethodPost, "/api/tenants", uid, map[string]any{"plan": "free", "name": "My Claw"})
	if r.code != http.StatusCreated || r.json(t)["slug"] != "my-claw" || r.json(t)["id"] == id {
		t.Fatalf("create again: %d %s", r.code, r.body)
	}
	id2 := r.json(t)["id"].(string)
	d4 := ag.waitDesired("second tenant desired", hasTenant(id2))
	if d4.Tenants[0].Port != 20000 {
		t.Fatalf("port not reused: %+v", d4.Tenants[0])
	}
	// A second user lands on the next spaced port, with a suffixed slug.
	r = c.user(http.MethodPost, "/api/tenants", "user-2", map[string]any{"plan": "free", "name": "My Claw"})
	m2 := r.json(t)
	if r.code != http.StatusCreated || m2["hostId"] != hostID || !strings.HasPrefix(m2["slug"].(string), "my-claw-") {
		t.Fatalf("second user's tenant: %d %s", r.code, r.body)
	}
	id3 := m2["id"].(string)
	d5 := ag.waitDesired("both tenants desired", func(d *proto.Desired) bool { return hasTenant(id2)(d) && hasTenant(id3)(d) })
	if ports := []int{d5.Tenants[0].Port, d5.Tenants[1].Port}; !slices.Equal(ports, []int{20000, 20120}) {
		t.Fatalf("ports = %v, want 20000 and 20120", ports)
	}
	if r := c.user(http.MethodDelete, "/api/tenants/me?keepData=1", uid, nil); r.code != http.StatusAccepted {
		t.Fatalf("delete keepData: %d %s", r.code, r.body)
	}
	d6 := ag.waitDesired("first user's tenant removed", func(d *proto.Desired) bool { return d.Revision > d5.Revision && !hasTenant(id2)(d) })
	if slices.Contains(d6.Purge, id2) || !hasTenant(id3)(d6) {
		t.Fatalf("keepData purged the data: %+v", d6)
	}

	// Host offline: the status stays, lastError says so, logs are refused.
	ag.publish(proto.KindStatus, &proto.Status{State: proto.StateOffline})
	ag.close()
	c.waitTenant("user-2", "host offline shown", func(m map[string]any) bool { return m["lastError"] == "host offline" && m["status"] == "pending" })
	if r := c.user(http.MethodGet, "/api/tenants/me/logs", "user-2", nil); r.code != http.StatusServiceUnavailable || r.json(t)["code"] != "host_offline" {
		t.Fatalf("logs of an offline host: %d %s", r.code, r.body)
	}
	// No online host left: 503 for a new tenant.
	if r := c.user(http.MethodPost, "/api/tenants", "user-4", map[string]any{"plan": "free"}); r.code != http.StatusServiceUnavailable {
		t.Fatalf("create with every host offline: %d %s", r.code, r.body)
	}
}

// followLogs reads the SSE stream: the current lines, then a new one.
func followLogs(t *testing.T, c *tcloud, uid string, ag *fakeAgent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/tenants/me/logs?follow=1&tail=10", nil)
	for k, v := range userHdr(uid) {
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
	ag.mu.Lock()
	ag.logLines = append(ag.logLines, "line 4")
	ag.mu.Unlock()
	if got := next(); got != "line 4" {
		t.Fatalf("SSE new line %q, want line 4", got)
	}
}

func TestTenantAckTimeoutAndRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startTenantCloud(t, dir, "--shared-secret", tenantSecret, "--command-timeout", "1s")
	hostID, secret := c.provision("box-1")
	ag := newFakeAgent(t, c, hostID, secret)
	r := c.user(http.MethodPost, "/api/tenants", "u1", map[string]any{"plan": "free", "name": "Ünïcødé Café!"})
	if r.code != http.StatusCreated || r.json(t)["slug"] != "unicode-cafe" {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	id := r.json(t)["id"].(string)
	d := ag.waitDesired("desired", hasTenant(id))
	// No acknowledgement: lastError after the command timeout, still pending.
	want := "host " + hostID + " did not acknowledge within 1s"
	c.waitTenant("u1", "ack timeout error", func(m map[string]any) bool { return m["lastError"] == want && m["status"] == "pending" })

	// The cloud restarts: the tenant survives; the agent reconnects and
	// registers and gets the same desired state again.
	ag.close()
	c.stop()
	c = startTenantCloud(t, dir, "--shared-secret", tenantSecret, "--command-timeout", "1s")
	if m := c.user(http.MethodGet, "/api/tenants/me", "u1", nil).json(t); m["id"] != id {
		t.Fatalf("after restart: %v", m)
	}
	ag = newFakeAgent(t, c, hostID, secret)
	d2 := ag.waitDesired("desired republished on register", hasTenant(id))
	if d2.Revision != d.Revision || d2.Tenants[0].GatewayToken != d.Tenants[0].GatewayToken {
		t.Fatalf("republished desired = %+v, first = %+v", d2, d)
	}
	ag.ack(d2.Revision)
	c.waitTenant("u1", "starting after late ack", func(m map[string]any) bool { return m["status"] == "starting" && m["lastError"] == "" })
	// An ack for a revision never published is refused.
	ag.ack(d2.Revision + 5)
	eventually(t, "bogus ack refused", 5*time.Second, func() bool {
		return c.metric(`clawfleet_tenant_messages_refused_total{reason="unknown_reply"}`) == 1
	})
	// A failed report sets lastError.
	ag.report([]proto.TenantStatus{{ID: id, State: proto.TenantFailed, Error: "image pull failed"}})
	c.waitTenant("u1", "failed", func(m map[string]any) bool { return m["status"] == "failed" && m["lastError"] == "image pull failed" })
}

func TestTenantLogsTimeout(t *testing.T) {
	t.Parallel()
	c := startTenantCloud(t, t.TempDir(), "--shared-secret", tenantSecret)
	hostID, secret := c.provision("box-1")
	ag := newFakeAgent(t, c, hostID, secret)
	ag.answer = false
	if r := c.user(http.MethodPost, "/api/tenants", "u1", map[string]any{"plan": "free"}); r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	start := time.Now()
	r := c.user(http.MethodGet, "/api/tenants/me/logs", "u1", nil)
	if r.code != http.StatusGatewayTimeout || r.json(t)["code"] != "host_timeout" || r.json(t)["error"] != "host did not answer within 10s" {
		t.Fatalf("logs without answer: %d %s", r.code, r.body)
	}
	if d := time.Since(start); d < 9*time.Second || d > 15*time.Second {
		t.Fatalf("timed out after %s", d)
	}
	ag.mu.Lock()
	cmds := len(ag.cmds)
	ag.mu.Unlock()
	if cmds != 1 {
		t.Fatalf("%d commands received", cmds)
	}
}

func TestTenantAuth(t *testing.T) {
	t.Parallel()
	// Without a shared secret the user routes are disabled.
	off := startTenantCloud(t, t.TempDir())
	r := off.user(http.MethodGet, "/api/tenants/me", "u1", nil)
	if r.code != http.StatusUnauthorized || !strings.Contains(r.json(t)["error"].(string), "disabled") {
		t.Fatalf("disabled mode: %d %s", r.code, r.body)
	}

	c := startTenantCloud(t, t.TempDir(), "--shared-secret", tenantSecret)
	long := strings.Repeat("x", 129)
	tests := []struct {
		name string
		hdr  map[string]string
		body any
		code int
		err  string
	}{
		{"missing secret", map[string]string{"X-User-ID": "u1"}, nil, 401, "unauthorized"},
		{"wrong secret", map[string]string{"X-Shared-Secret": tenantSecret + "x", "X-User-ID": "u1"}, nil, 401, "unauthorized"},
		{"missing user", map[string]string{"X-Shared-Secret": tenantSecret}, nil, 400, "invalid_user"},
		{"long user", map[string]string{"X-Shared-Secret": tenantSecret, "X-User-ID": long}, nil, 400, "invalid_user"},
		{"control user", map[string]string{"X-Shared-Secret": tenantSecret, "X-User-ID": "u\tid"}, nil, 400, "invalid_user"},
		{"bad email", map[string]string{"X-Shared-Secret": tenantSecret, "X-User-ID": "u1", "X-User-Email": "nope"}, nil, 400, "invalid_email"},
		{"bad plan", userHdr("u1"), map[string]any{"plan": "gold"}, 400, "invalid_plan"},
		{"bad name", userHdr("u1"), map[string]any{"plan": "free", "name": strings.Repeat("n", 65)}, 400, "invalid_name"},
		{"control name", userHdr("u1"), map[string]any{"plan": "free", "name": "a\nb"}, 400, "invalid_name"},
		{"unknown field", userHdr("u1"), map[string]any{"plan": "free", "size": 3}, 400, "invalid_json"},
	}
	for _, tc := range tests {
		method, path := http.MethodGet, "/api/tenants/me"
		if tc.body != nil {
			method, path = http.MethodPost, "/api/tenants"
		}
		r := c.do(method, path, tc.hdr, tc.body)
		if r.code != tc.code || r.json(t)["code"] != tc.err {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.code, r.body, tc.code, tc.err)
		}
	}
	// Failed secrets are rate limited per address (burst 10).
	limited := false
	for range 20 {
		if r := c.do(http.MethodGet, "/api/tenants/me", map[string]string{"X-Shared-Secret": "guess-guess-guess", "X-User-ID": "u1"}, nil); r.code == http.StatusTooManyRequests {
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
	c := startTenantCloud(t, t.TempDir(), "--shared-secret", tenantSecret)
	body := func(owner, email, plan, name string) map[string]any {
		return map[string]any{"ownerId": owner, "ownerEmail": email, "plan": plan, "name": name}
	}

	// Without a host: 503, like the user API.
	r := c.admin(http.MethodPost, "/api/admin/tenants", body("alice", "alice@example.com", "basic", "Alice"))
	if r.code != http.StatusServiceUnavailable || r.json(t)["code"] != "no_capacity" || r.hdr.Get("Retry-After") != "60" {
		t.Fatalf("admin create without hosts: %d %s", r.code, r.body)
	}
	// The admin guard, then the user API's validation.
	if r := c.do(http.MethodPost, "/api/admin/tenants", map[string]string{"X-Shared-Secret": tenantSecret}, body("alice", "", "free", "")); r.code != http.StatusUnauthorized {
		t.Fatalf("admin create without the admin token: %d %s", r.code, r.body)
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
		r := c.admin(http.MethodPost, "/api/admin/tenants", tc.body)
		if r.code != tc.code || r.json(t)["code"] != tc.err {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.code, r.body, tc.code, tc.err)
		}
	}
	if r := c.admin(http.MethodPost, "/api/admin/tenants", body("", "", "free", "")); !strings.Contains(r.json(t)["error"].(string), "ownerId") {
		t.Errorf("invalid_user does not name ownerId: %s", r.body)
	}

	hostID, secret := c.provision("box-1")
	ag := newFakeAgent(t, c, hostID, secret)
	r = c.admin(http.MethodPost, "/api/admin/tenants", body("alice", "alice@example.com", "pro", "Alice's claw"))
	if r.code != http.StatusCreated {
		t.Fatalf("admin create: %d %s", r.code, r.body)
	}
	tn := r.json(t)
	id, _ := tn["id"].(string)
	if tn["ownerId"] != "alice" || tn["ownerEmail"] != "alice@example.com" || tn["plan"] != "pro" || tn["name"] != "Alice's claw" ||
		tn["slug"] != "alice-s-claw" || tn["status"] != "pending" || tn["hostId"] != hostID || tn["port"] != 20000.0 ||
		tn["desiredState"] != "running" || tn["resources"].(map[string]any)["cpuMillis"] != 2000.0 || !strings.HasPrefix(id, "ten_") {
		t.Fatalf("admin-created tenant = %s", r.body)
	}
	ag.waitDesired("desired with the admin's tenant", hasTenant(id))
	// The owner sees it as theirs.
	if m := c.user(http.MethodGet, "/api/tenants/me", "alice", nil).json(t); m["id"] != id {
		t.Fatalf("the owner does not see the admin's tenant: %v", m)
	}
	// Not idempotent for admins: 409 naming the existing tenant, nothing changed.
	r = c.admin(http.MethodPost, "/api/admin/tenants", body("alice", "", "free", "Other"))
	if m := r.json(t); r.code != http.StatusConflict || m["code"] != "conflict" || m["tenantId"] != id || !strings.Contains(m["error"].(string), id) {
		t.Fatalf("second admin create: %d %s", r.code, r.body)
	}
	var list []map[string]any
	if err := json.Unmarshal(c.admin(http.MethodGet, "/api/admin/tenants", nil).body, &list); err != nil || len(list) != 1 || list[0]["plan"] != "pro" {
		t.Fatalf("after the conflict: %v %v", list, err)
	}

	// Logs of any tenant.
	ag.mu.Lock()
	ag.logLines = []string{"a", "<b>b</b>", "c"}
	ag.mu.Unlock()
	r = c.admin(http.MethodGet, "/api/admin/tenants/"+id+"/logs?tail=2", nil)
	var logs struct {
		Lines []string `json:"lines"`
	}
	if err := json.Unmarshal(r.body, &logs); err != nil || r.code != http.StatusOK || !slices.Equal(logs.Lines, []string{"<b>b</b>", "c"}) {
		t.Fatalf("admin logs: %d %s", r.code, r.body)
	}
	ag.mu.Lock()
	last := ag.cmds[len(ag.cmds)-1]
	ag.mu.Unlock()
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
		if r := c.admin(http.MethodGet, tc.path, nil); r.code != tc.code || r.json(t)["code"] != tc.err {
			t.Errorf("GET %s: %d %s, want %d %s", tc.path, r.code, r.body, tc.code, tc.err)
		}
	}
	if r := c.do(http.MethodGet, "/api/admin/tenants/"+id+"/logs", nil, nil); r.code != http.StatusUnauthorized {
		t.Errorf("admin logs without the token: %d", r.code)
	}
	ag.mu.Lock()
	ag.logsErr = "no such container"
	ag.mu.Unlock()
	if r := c.admin(http.MethodGet, "/api/admin/tenants/"+id+"/logs", nil); r.code != http.StatusBadGateway || r.json(t)["code"] != "host_error" ||
		!strings.Contains(r.json(t)["error"].(string), "no such container") {
		t.Errorf("admin logs, host error: %d %s", r.code, r.body)
	}

	// Restart and delete by id, audited as the admin.
	if r := c.admin(http.MethodPost, "/api/admin/tenants/"+id+"/restart", nil); r.code != http.StatusAccepted || r.json(t)["restartGen"] != 1.0 {
		t.Fatalf("admin restart: %d %s", r.code, r.body)
	}
	if r := c.admin(http.MethodDelete, "/api/admin/tenants/"+id+"?keepData=1", nil); r.code != http.StatusAccepted || r.json(t)["status"] != "deleting" {
		t.Fatalf("admin delete: %d %s", r.code, r.body)
	}
	d := ag.waitDesired("tenant removed", func(d *proto.Desired) bool { return !hasTenant(id)(d) })
	if slices.Contains(d.Purge, id) {
		t.Errorf("keepData=1 purged the data: %+v", d)
	}
	var audit []struct{ Actor, Action, Target string }
	json.Unmarshal(c.admin(http.MethodGet, "/api/admin/audit?limit=100", nil).body, &audit)
	for _, action := range []string{"tenant.create", "tenant.restart", "tenant.delete"} {
		if !slices.ContainsFunc(audit, func(e struct{ Actor, Action, Target string }) bool {
			return e.Action == action && e.Actor == "admin" && e.Target == id
		}) {
			t.Errorf("no audit event %s by admin for %s: %+v", action, id, audit)
		}
	}
	// The owner may have a tenant again; an offline host refuses logs.
	r = c.admin(http.MethodPost, "/api/admin/tenants", body("alice", "", "", ""))
	if r.code != http.StatusCreated || r.json(t)["plan"] != "free" {
		t.Fatalf("admin create after delete: %d %s", r.code, r.body)
	}
	id2 := r.json(t)["id"].(string)
	ag.publish(proto.KindStatus, &proto.Status{State: proto.StateOffline})
	ag.close()
	eventually(t, "box-1 offline", 5*time.Second, func() bool {
		return c.admin(http.MethodGet, "/api/hosts/"+hostID, nil).json(t)["status"] == "offline"
	})
	if r := c.admin(http.MethodGet, "/api/admin/tenants/"+id2+"/logs", nil); r.code != http.StatusServiceUnavailable || r.json(t)["code"] != "host_offline" {
		t.Errorf("admin logs, host offline: %d %s", r.code, r.body)
	}
}

func TestTenantBearer(t *testing.T) {
	t.Parallel()
	sso := ssotest.Start(t)
	c := startTenantCloud(t, t.TempDir(), append(sso.Flags(), "--shared-secret", tenantSecret)...)
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	hostID, secret := c.provision("box-1")
	newFakeAgent(t, c, hostID, secret)

	// The SSO's token stands for the shared secret and X-User-*: the tenant
	// it creates is the one the app later sees for the same user id.
	tok := sso.Token(t, "u-alice", "alice@example.test", 5*time.Minute)
	r := c.do(http.MethodPost, "/api/tenants", bearer(tok), map[string]any{"plan": "basic", "name": "Alice"})
	if r.code != http.StatusCreated {
		t.Fatalf("create with a bearer token: %d %s", r.code, r.body)
	}
	id := r.json(t)["id"]
	if r := c.user(http.MethodGet, "/api/tenants/me", "u-alice", nil); r.code != 200 || r.json(t)["id"] != id {
		t.Fatalf("the same user by shared secret: %d %s", r.code, r.body)
	}
	if r := c.do(http.MethodGet, "/api/tenants/me", map[string]string{"Authorization": "bearer " + tok}, nil); r.code != 200 || r.json(t)["id"] != id {
		t.Fatalf("lower-case scheme: %d %s", r.code, r.body)
	}
	if r := c.do(http.MethodGet, "/api/tenants/me", bearer(sso.Token(t, "u-bob", "", time.Minute)), nil); r.code != http.StatusNotFound {
		t.Fatalf("another user's token sees a tenant: %d %s", r.code, r.body)
	}
	// An admin sees the email taken from the token.
	if r := c.admin(http.MethodGet, "/api/admin/tenants/"+id.(string), nil); r.json(t)["ownerEmail"] != "alice@example.test" {
		t.Fatalf("owner email: %s", r.body)
	}

	refused := []struct{ name, tok string }{
		{"expired", sso.Token(t, "u-alice", "", -5*time.Minute)},
		{"forged", sso.Forged(t, "u-alice")},
		{"other audience", sso.ForAudience(t, "u-alice", "another-app")},
		{"garbage", "abc.def.ghi"},
	}
	for _, tc := range refused {
		r := c.do(http.MethodDelete, "/api/tenants/me", bearer(tc.tok), nil)
		if r.code != http.StatusUnauthorized || r.json(t)["code"] != "invalid_token" || !strings.Contains(r.hdr.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s: %d %s", tc.name, r.code, r.body)
		}
	}
	if r := c.user(http.MethodGet, "/api/tenants/me", "u-alice", nil); r.code != 200 || r.json(t)["status"] == "deleting" {
		t.Fatalf("a refused token changed the tenant: %d %s", r.code, r.body)
	}
	// Bad tokens count toward the same per-address limit as bad secrets.
	limited := false
	for range 20 {
		if r := c.do(http.MethodGet, "/api/tenants/me", bearer(sso.Forged(t, "u-alice")), nil); r.code == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("refused bearer tokens were not rate limited")
	}
	// ... but valid tokens from that address still pass (one SSO app
	// forwards every user's token), and an odd optional email is dropped.
	if r := c.do(http.MethodGet, "/api/tenants/me", bearer(sso.Token(t, "u-alice", "not-an-address", time.Minute)), nil); r.code != 200 || r.json(t)["id"] != id {
		t.Fatalf("valid token after others' failures: %d %s", r.code, r.body)
	}

	// Without a shared secret, bearer tokens still work and the 401 says so.
	only := startTenantCloud(t, t.TempDir(), sso.Flags()...)
	if r := only.user(http.MethodGet, "/api/tenants/me", "u-alice", nil); r.code != 401 || !strings.Contains(r.json(t)["error"].(string), "Bearer") {
		t.Fatalf("shared secret without one configured: %d %s", r.code, r.body)
	}
	if r := only.do(http.MethodGet, "/api/tenants/me", bearer(tok), nil); r.code != http.StatusNotFound {
		t.Fatalf("bearer token with SSO only: %d %s", r.code, r.body)
	}
}

// TestTenantHostDeleted: deleting a host moves its tenants to hosts with
// room (a fresh start, said in lastError), leaves them failed and unplaced
// when there is none, and a restart places them once a host has room.
func TestTenantHostDeleted(t *testing.T) {
	t.Parallel()
	c := startTenantCloud(t, t.TempDir(), "--shared-secret", tenantSecret)
	idA, secA := c.provision("box-a")
	agA := newFakeAgent(t, c, idA, secA)
	r := c.user(http.MethodPost, "/api/tenants", "u1", map[string]any{"plan": "basic", "name": "Moving claw"})
	if r.code != http.StatusCreated || r.json(t)["hostId"] != idA {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	tid := r.json(t)["id"].(string)
	agA.waitDesired("tenant on A", hasTenant(tid))
	if r := c.user(http.MethodPost, "/api/tenants", "u2", map[string]any{"plan": "free", "name": "Second claw"}); r.code != http.StatusCreated {
		t.Fatalf("create u2: %d %s", r.code, r.body)
	}
	idB, secB := c.provision("box-b")
	agB := newFakeAgent(t, c, idB, secB)

	if r := c.admin(http.MethodDelete, "/api/hosts/"+idA, nil); r.code != http.StatusOK && r.code != http.StatusNoContent {
		t.Fatalf("delete host A: %d %s", r.code, r.body)
	}
	mine := c.waitTenant("u1", "moved to B", func(m map[string]any) bool { return m["hostId"] == idB })
	if mine["id"] != tid || mine["status"] != "pending" || !strings.Contains(fmt.Sprint(mine["lastError"]), "moved from deleted host "+idA) {
		t.Fatalf("moved tenant: %v", mine)
	}
	agB.waitDesired("tenant on B", hasTenant(tid))

	// No host left: failed, unplaced; a restart says why it cannot place it.
	if r := c.admin(http.MethodDelete, "/api/hosts/"+idB, nil); r.code != http.StatusOK && r.code != http.StatusNoContent {
		t.Fatalf("delete host B: %d %s", r.code, r.body)
	}
	for _, u := range []string{"u1", "u2"} { // any number of tenants can be unplaced
		mine = c.waitTenant(u, "unplaced", func(m map[string]any) bool { return m["status"] == "failed" })
		if h, _ := mine["hostId"].(string); h != "" || !strings.Contains(fmt.Sprint(mine["lastError"]), "no other host has room") {
			t.Fatalf("unplaced tenant of %s: %v", u, mine)
		}
	}
	if r := c.user(http.MethodPost, "/api/tenants/me/restart", "u1", nil); r.code != http.StatusServiceUnavailable || r.json(t)["code"] != "no_capacity" {
		t.Fatalf("restart without hosts: %d %s", r.code, r.body)
	}
	idC, secC := c.provision("box-c")
	agC := newFakeAgent(t, c, idC, secC)
	if r := c.user(http.MethodPost, "/api/tenants/me/restart", "u1", nil); r.code != http.StatusAccepted || r.json(t)["hostId"] != idC {
		t.Fatalf("restart with a host: %d %s", r.code, r.body)
	}
	agC.waitDesired("tenant on C", hasTenant(tid))
	// Unplaced again, it can still be deleted.
	if r := c.admin(http.MethodDelete, "/api/hosts/"+idC, nil); r.code != http.StatusOK && r.code != http.StatusNoContent {
		t.Fatalf("delete host C: %d %s", r.code, r.body)
	}
	c.waitTenant("u1", "unplaced again", func(m map[string]any) bool { return m["status"] == "failed" })
	if r := c.user(http.MethodDelete, "/api/tenants/me", "u1", nil); r.code != http.StatusAccepted {
		t.Fatalf("delete an unplaced tenant: %d %s", r.code, r.body)
	}
	if r := c.user(http.MethodGet, "/api/tenants/me", "u1", nil); r.code != http.StatusNotFound {
		t.Fatalf("unplaced tenant after delete: %d %s", r.code, r.body)
	}
	audit := string(c.admin(http.MethodGet, "/api/admin/audit?limit=100", nil).body)
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
		c := startTenantCloud(t, t.TempDir(), tc.args...)
		from := func(ip, token string) int {
			return c.do(http.MethodGet, "/api/hosts", map[string]string{"X-Forwarded-For": ip, "Authorization": "Bearer " + token}, nil).code
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
		if code := from("203.0.113.2", dashAdminToken); (code == http.StatusOK) != tc.othersPass {
			t.Errorf("%s: another client with the right token: %d", tc.name, code)
		}
	}
}
