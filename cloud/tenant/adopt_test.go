package tenant_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// TestAdopt: the cloud turns a container the host's agent found into a
// tenant of a known owner, pinned to that host with the container's token
// and port, and sends the agent a spec that names the container; every
// refusal says what is wrong.
func TestAdopt(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	ag := c.AddHost("portainer-vm")
	cid := strings.Repeat("c0ffee", 10) + "beef"
	info := proto.ContainerInfo{ID: cid, Name: "openclaw-alice", Image: "ghcr.io/openclaw/openclaw:2026.9.6", Port: 18789,
		GatewayToken: "alice-gateway-token-0123456789", Running: true,
		Mounts: []proto.ContainerMount{{Type: "volume", Source: "openclaw-alice-data", Destination: "/home/node/.openclaw"}}}
	ag.SetInspect(func(ref string) proto.Reply {
		switch ref {
		case info.Name, cid[:12]:
			i := info
			return proto.Reply{OK: true, Container: &i}
		case "nginx":
			return proto.Reply{Code: proto.AdoptNotOpenClaw, Error: "container nginx (image nginx:1) does not run an OpenClaw gateway"}
		}
		return proto.Reply{Code: proto.AdoptNoContainer, Error: "no container " + ref}
	})
	// alice and bob are users (they signed in through the web app once);
	// bob has a tenant already.
	for _, u := range []string{"alice", "bob"} {
		c.User(http.MethodGet, "/api/tenants/me", u, nil)
	}
	bob := create(t, c.App.Tenants(), "bob", "", "bob's")
	adopt := func(body map[string]any) servertest.Response {
		t.Helper()
		return c.Admin(http.MethodPost, "/api/hosts/"+ag.ID+"/adopt", body)
	}
	for _, tc := range []struct {
		body       map[string]any
		code       int
		errCode    string
		msgContain string
	}{
		{map[string]any{"container": "openclaw-alice", "ownerId": "carol"}, 404, "unknown_owner", `no user "carol"`},
		{map[string]any{"container": "openclaw-alice", "ownerId": "bob"}, 409, "owner_has_tenant", bob.ID},
		{map[string]any{"container": "openclaw-alice", "ownerId": "alice", "slug": bob.Slug}, 409, "slug_taken", bob.Slug},
		{map[string]any{"container": "openclaw-alice", "ownerId": "alice", "slug": "Not A Slug"}, 400, "invalid_slug", "slug"},
		{map[string]any{"container": "openclaw-alice", "ownerId": "alice", "slug": "admin"}, 400, "invalid_slug", "reserved"},
		{map[string]any{"container": "openclaw-alice", "ownerId": "alice", "plan": "gold"}, 400, "invalid_plan", "gold"},
		{map[string]any{"container": "openclaw-zed", "ownerId": "alice"}, 404, "no_container", "no container openclaw-zed"},
		{map[string]any{"container": "nginx", "ownerId": "alice"}, 400, "not_openclaw", "does not run an OpenClaw gateway"},
		{map[string]any{"container": "../x", "ownerId": "alice"}, 404, "no_container", "Docker container name"},
	} {
		r := adopt(tc.body)
		if r.Code != tc.code || r.JSON(t)["code"] != tc.errCode || !strings.Contains(r.JSON(t)["error"].(string), tc.msgContain) {
			t.Errorf("%v: %d %s, want %d %s with %q", tc.body, r.Code, r.Body, tc.code, tc.errCode, tc.msgContain)
		}
	}
	if r := c.Admin(http.MethodPost, "/api/hosts/dev_nosuchhost00/adopt", map[string]any{"container": "openclaw-alice", "ownerId": "alice"}); r.Code != 404 || r.JSON(t)["code"] != "no_host" {
		t.Errorf("unknown host: %d %s", r.Code, r.Body)
	}

	r := adopt(map[string]any{"container": "openclaw-alice", "ownerId": "alice", "plan": "basic"})
	if r.Code != http.StatusCreated {
		t.Fatalf("adopt: %d %s", r.Code, r.Body)
	}
	got := r.JSON(t)
	id := got["id"].(string)
	if got["status"] != store.TenantPending || got["hostId"] != ag.ID || got["port"] != float64(18789) || got["slug"] != "openclaw-alice" ||
		got["ownerId"] != "alice" || got["container"] != cid || got["image"] != info.Image || got["plan"] != "basic" {
		t.Fatalf("adopted tenant %v", got)
	}
	if _, ok := got["gatewayToken"]; ok {
		t.Fatal("the API shows the gateway token")
	}
	d := ag.WaitDesired("desired state with the adopted tenant", servertest.HasTenant(id))
	var spec proto.TenantSpec
	for _, s := range d.Tenants {
		if s.ID == id {
			spec = s
		}
	}
	if spec.Container != cid || spec.Auth != proto.GatewayAuthToken || spec.GatewayToken != info.GatewayToken || spec.Port != 18789 || spec.Owner != "alice" || spec.CPUMillis != 1000 {
		t.Fatalf("spec %+v", spec)
	}
	// Listed as adopted at once, by the cloud's record, though the host
	// (which has not acted on its desired state yet) says it is free.
	ag.SetListing(proto.Reply{OK: true, Containers: []proto.ContainerCandidate{{ID: cid, Name: info.Name, Image: info.Image, Running: true, Port: 18789, Adoptable: true}}})
	if r := c.Admin(http.MethodGet, "/api/hosts/"+ag.ID+"/containers", nil); r.Code != 200 ||
		!strings.Contains(string(r.Body), `"tenant":"`+id+`"`) || !strings.Contains(string(r.Body), `"adoptable":false`) || !strings.Contains(string(r.Body), `"code":"already_managed"`) {
		t.Fatalf("listing after the adoption: %d %s", r.Code, r.Body)
	}
	// alice's own tenant now, with status running once the agent says so.
	ag.Ack(d.Revision)
	ag.Report([]proto.TenantStatus{{ID: id, State: proto.TenantRunning}})
	waitTenant(t, c.App.Tenants(), id, "running", func(x *store.Tenant) bool { return x.Status == store.TenantRunning })
	if me := c.User(http.MethodGet, "/api/tenants/me", "alice", nil); me.Code != 200 || me.JSON(t)["id"] != id {
		t.Fatalf("alice's tenant: %d %s", me.Code, me.Body)
	}

	// Once is enough: the same container (by name or ID) is refused, and
	// another container on its port too.
	c.User(http.MethodGet, "/api/tenants/me", "dave", nil)
	if r := adopt(map[string]any{"container": cid[:12], "ownerId": "dave"}); r.Code != 409 || r.JSON(t)["code"] != "already_adopted" || !strings.Contains(r.JSON(t)["error"].(string), id) {
		t.Errorf("adopted twice: %d %s", r.Code, r.Body)
	}
	info.ID, info.Name = strings.Repeat("d", 64), "openclaw-dave"
	if r := adopt(map[string]any{"container": cid[:12], "ownerId": "dave"}); r.Code != 409 || r.JSON(t)["code"] != "port_taken" {
		t.Errorf("port of another tenant: %d %s", r.Code, r.Body)
	}

	var audit []string
	for _, e := range c.Admin(http.MethodGet, "/api/admin/audit?limit=100", nil).JSONList(t) {
		if e["action"] == "tenant.adopt" && e["target"] == id && e["actor"] == "admin" {
			audit = append(audit, e["detail"].(string))
		}
	}
	if len(audit) != 1 || !strings.Contains(audit[0], "container=openclaw-alice") || !strings.Contains(audit[0], "volume:openclaw-alice-data") || strings.Contains(audit[0], info.GatewayToken) {
		t.Fatalf("audit %q", audit)
	}

	// Its host deleted, the tenant starts afresh on another host as the
	// cloud's own gateway: the container stayed behind.
	other := c.AddHost("other-vm")
	if r := c.Admin(http.MethodDelete, "/api/hosts/"+ag.ID, nil); r.Code != http.StatusNoContent {
		t.Fatalf("delete host: %d %s", r.Code, r.Body)
	}
	d = other.WaitDesired("the moved tenant", servertest.HasTenant(id))
	for _, s := range d.Tenants {
		if s.ID == id && (s.Container != "" || s.GatewayToken != "alice-gateway-token-0123456789") {
			t.Fatalf("moved spec %+v", s)
		}
	}
}

// TestAdoptableContainers: the admin lists what a host's agent found to
// adopt, as it found it; others may not, and the refusals say why.
func TestAdoptableContainers(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	ag := c.AddHost("portainer-vm")
	found := []proto.ContainerCandidate{
		{ID: strings.Repeat("a1", 32), Name: "openclaw-alice", Image: "openclaw:2026.9.6", Running: true, Port: 18789, Adoptable: true},
		{ID: strings.Repeat("b2", 32), Name: "openclaw-bob", Image: "openclaw:2026.9.6", Code: proto.AdoptUnusable, Reason: "container openclaw-bob has no gateway token"},
		{ID: strings.Repeat("c3", 32), Name: "openclaw-carol", Image: "openclaw:2026.9.6", Running: true, Port: 18790, Code: proto.AdoptManaged, Tenant: "ten_carol0000", Reason: "adopted already, as tenant ten_carol0000"},
	}
	ag.SetListing(proto.Reply{OK: true, Containers: found, ContainersLeftOut: 2})
	r := c.Admin(http.MethodGet, "/api/hosts/"+ag.ID+"/containers", nil)
	if r.Code != http.StatusOK {
		t.Fatalf("list: %d %s", r.Code, r.Body)
	}
	var got struct {
		Containers []proto.ContainerCandidate
		LeftOut    int
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Containers, found) || got.LeftOut != 2 {
		t.Fatalf("listed %+v (%d left out), want %+v", got.Containers, got.LeftOut, found)
	}
	if n := len(ag.Commands()); n != 1 || ag.Commands()[0].Op != proto.OpListContainers {
		t.Fatalf("commands to the host: %+v", ag.Commands())
	}

	if r := c.User(http.MethodGet, "/api/hosts/"+ag.ID+"/containers", "alice", nil); r.Code != http.StatusUnauthorized {
		t.Errorf("a user lists a host's containers: %d %s", r.Code, r.Body)
	}
	if r := c.Admin(http.MethodGet, "/api/hosts/dev_nosuchhost00/containers", nil); r.Code != 404 || r.JSON(t)["code"] != "no_host" {
		t.Errorf("unknown host: %d %s", r.Code, r.Body)
	}
	ag.SetListing(proto.Reply{Code: proto.AdoptNoDocker, Error: `this host runs gateways with the "process" runtime; only the docker runtime adopts containers`})
	if r := c.Admin(http.MethodGet, "/api/hosts/"+ag.ID+"/containers", nil); r.Code != 409 || r.JSON(t)["code"] != "no_docker" || !strings.Contains(r.JSON(t)["error"].(string), "process") {
		t.Errorf("a process host: %d %s", r.Code, r.Body)
	}
}
