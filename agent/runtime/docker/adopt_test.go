package docker

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime/docker/engine"
	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

func adoptCode(err error) string {
	var ae *AdoptError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// TestAdoptPortainerContainer adopts an OpenClaw container made as Portainer
// made them and manages it in place: never re-created, its volume's files
// kept across restarts, its limits applied, its logs read, and a container
// it cannot adopt refused with the reason.
func TestAdoptPortainerContainer(t *testing.T) {
	d := newTestDocker(t, filepath.Join(runtimetest.Dir(t), "tenants"))
	ctx := runtimetest.Ctx(t)
	sfx := fmt.Sprintf("%06d", rand.IntN(1e6))
	port := runtimetest.FreeBase(t)
	g, err := runtimetest.NewPortainerGateway(ctx, d.c, runtimetest.StandinImage, "openclaw-alice-"+sfx, "portainer-token-"+sfx+"-0123456789", port,
		map[string]string{"marker": "written before adoption"})
	if g != nil {
		t.Cleanup(func() { g.Remove(runtimetest.Ctx(t), d.c) })
	}
	if err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitReady(t, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second)

	// Refusals.
	if _, err := d.Inspect(ctx, "no-such-container-"+sfx); adoptCode(err) != proto.AdoptNoContainer {
		t.Fatalf("unknown container: %v", err)
	}
	other := func(name string, body map[string]any) {
		t.Helper()
		if _, err := d.c.Do(ctx, "POST", "/containers/create", url.Values{"name": {name}}, body, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			d.c.Do(runtimetest.Ctx(t), "DELETE", "/containers/"+name, url.Values{"force": {"1"}}, nil, nil)
		})
	}
	other("not-openclaw-"+sfx, map[string]any{"Image": runtimetest.StandinImage, "Cmd": []string{"openclaw", "fetch", "http://x"}})
	if _, err := d.Inspect(ctx, "not-openclaw-"+sfx); adoptCode(err) != proto.AdoptNotOpenClaw || !strings.Contains(err.Error(), "does not run an OpenClaw gateway") {
		t.Fatalf("not an OpenClaw container: %v", err)
	}
	other("no-token-"+sfx, map[string]any{"Image": runtimetest.StandinImage, "Cmd": []string{"openclaw", "gateway"}})
	if _, err := d.Inspect(ctx, "no-token-"+sfx); adoptCode(err) != proto.AdoptUnusable || !strings.Contains(err.Error(), "no gateway token") {
		t.Fatalf("no token: %v", err)
	}
	other("no-port-"+sfx, map[string]any{"Image": runtimetest.StandinImage, "Cmd": []string{"openclaw", "gateway"}, "Env": []string{"OPENCLAW_GATEWAY_TOKEN=0123456789abcdef0123"}})
	if _, err := d.Inspect(ctx, "no-port-"+sfx); adoptCode(err) != proto.AdoptUnusable || !strings.Contains(err.Error(), "does not publish") {
		t.Fatalf("no published port: %v", err)
	}
	own := runtimetest.Spec("ten_adoptown"+sfx, runtimetest.FreeBase(t, port))
	own.Image = runtimetest.StandinImage
	t.Cleanup(func() { d.Purge(runtimetest.Ctx(t), own.ID) })
	if err := d.Ensure(ctx, own); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Inspect(ctx, ContainerName(own.ID)); adoptCode(err) != proto.AdoptManaged {
		t.Fatalf("clawfleet's own container: %v", err)
	}

	// The listing: OpenClaw gateways only (not clawfleet's own, not other
	// commands), each adoptable or why not, never a token.
	cands := func() map[string]proto.ContainerCandidate {
		t.Helper()
		cs, left, err := d.Candidates(ctx)
		if err != nil || left != 0 {
			t.Fatal(left, err)
		}
		m := map[string]proto.ContainerCandidate{}
		for _, c := range cs {
			if strings.HasSuffix(c.Name, sfx) || c.Name == ContainerName(own.ID) {
				if err := c.Validate(); err != nil {
					t.Errorf("candidate %s: %v", c.Name, err)
				}
				m[c.Name] = c
			}
		}
		return m
	}
	cs := cands()
	if c := cs[g.Name]; !c.Adoptable || c.ID != g.ID || c.Port != port || !c.Running || c.Code != "" || c.Tenant != "" {
		t.Errorf("the Portainer gateway listed as %+v", c)
	}
	if c := cs["no-token-"+sfx]; c.Adoptable || c.Code != proto.AdoptUnusable || !strings.Contains(c.Reason, "no gateway token") || c.Running {
		t.Errorf("the gateway without a token listed as %+v", c)
	}
	if c := cs["no-port-"+sfx]; c.Adoptable || c.Code != proto.AdoptUnusable || !strings.Contains(c.Reason, "does not publish") {
		t.Errorf("the gateway without a port listed as %+v", c)
	}
	if len(cs) != 3 {
		t.Errorf("listed %d containers of this test, want 3 (not the other command's, not clawfleet's own): %v", len(cs), cs)
	}
	if b, _ := json.Marshal(cs); strings.Contains(string(b), g.Token) {
		t.Error("the listing carries a gateway token")
	}

	info, err := d.Inspect(ctx, g.Name)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != g.ID || info.Name != g.Name || info.Port != port || info.GatewayToken != g.Token || info.Image != runtimetest.StandinImage || !info.Running {
		t.Fatalf("inspected %+v", info)
	}
	if len(info.Mounts) != 1 || info.Mounts[0] != (proto.ContainerMount{Type: "volume", Source: g.Volume, Destination: "/home/node"}) {
		t.Fatalf("mounts %+v", info.Mounts)
	}

	spec := runtimetest.Spec("ten_adopted"+sfx, port)
	spec.Container, spec.Auth, spec.GatewayToken, spec.Image = info.ID, proto.GatewayAuthToken, info.GatewayToken, info.Image
	t.Cleanup(func() { d.Purge(runtimetest.Ctx(t), spec.ID) })
	before, err := d.inspect(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	after, err := d.inspect(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.State.StartedAt != before.State.StartedAt {
		t.Fatal("adoption restarted the gateway")
	}
	var hc struct {
		HostConfig struct{ Memory, NanoCpus, PidsLimit int64 }
	}
	d.c.Do(ctx, "GET", "/containers/"+g.ID+"/json", nil, nil, &hc)
	if hc.HostConfig.Memory != spec.MemoryBytes || hc.HostConfig.NanoCpus != int64(spec.CPUMillis)*1e6 || hc.HostConfig.PidsLimit != int64(spec.PidsLimit) {
		t.Fatalf("limits not applied in place: %+v", hc.HostConfig)
	}
	if up := runtimetest.Upstream(t, d, spec.ID); up != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Fatalf("upstream %s", up)
	}
	if _, err := d.Inspect(ctx, g.Name); adoptCode(err) != proto.AdoptManaged || !strings.Contains(err.Error(), spec.ID) {
		t.Fatalf("adopting it twice: %v", err)
	}
	if err := d.Ensure(ctx, spec); err != nil { // idempotent
		t.Fatal(err)
	}
	if c := cands()[g.Name]; c.Adoptable || c.Tenant != spec.ID || c.Code != proto.AdoptManaged || c.Port != port {
		t.Errorf("the adopted gateway listed as %+v", c)
	}
	// Its use is measured like a tenant's: CPU and memory, and the disk its
	// volume and writable layer take on the filesystem that holds them.
	tstest.Await(t, "the adopted container's disk measured", 30*time.Second, func() bool {
		list, err := d.List(ctx)
		in, _ := runtimetest.Find(list, spec.ID)
		return err == nil && in.DiskUsedBytes > 0
	})
	list, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := runtimetest.Find(list, spec.ID); in.Usage == nil || in.Usage.MemoryBytes <= 0 || in.DiskTotalBytes < in.DiskUsedBytes || in.DiskUsedBytes < 4096 {
		t.Fatalf("adopted usage %+v, disk %d of %d", in.Usage, in.DiskUsedBytes, in.DiskTotalBytes)
	}

	// A restart is Docker's restart of the same container: the volume's
	// files stay.
	spec.RestartGen++
	if err := d.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	restarted, err := d.inspect(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if restarted.State.StartedAt == before.State.StartedAt {
		t.Fatal("restart generation did not restart the container")
	}
	runtimetest.WaitReady(t, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second)
	if got, err := g.ReadFile(ctx, d.c, "marker"); err != nil || got != "written before adoption" {
		t.Fatalf("marker after restart: %q %v", got, err)
	}
	list, err = d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in, ok := runtimetest.Find(list, spec.ID); !ok || in.RestartGen != spec.RestartGen || in.Port != port {
		t.Fatalf("listed %+v", in)
	}
	lines, err := d.Logs(ctx, spec.ID, 50)
	if err != nil || !strings.Contains(strings.Join(lines, "\n"), "listening on") {
		t.Fatalf("logs: %v %q", err, lines)
	}

	spec.State = proto.TenantStopped
	if err := d.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	list, _ = d.List(ctx)
	if in, _ := runtimetest.Find(list, spec.ID); in.State != proto.TenantStopped {
		t.Fatalf("stopped: %+v", in)
	}
	spec.State = proto.TenantRunning
	if err := d.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitReady(t, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second)

	// Removed (deleted with keepData, or no longer desired): the container
	// goes, the volume stays; purged: the volume goes too.
	if err := d.Remove(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.inspect(ctx, g.ID); !engine.IsNotFound(err) {
		t.Fatalf("container after Remove: %v", err)
	}
	if _, err := d.c.Do(ctx, "GET", "/volumes/"+g.Volume, nil, nil, nil); err != nil {
		t.Fatalf("volume after Remove: %v", err)
	}
	if err := d.Purge(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.Do(ctx, "GET", "/volumes/"+g.Volume, nil, nil, nil); !engine.IsNotFound(err) {
		t.Fatalf("volume after Purge: %v", err)
	}
}

// TestClean: what the listing reports of a container fits the protocol:
// one line, within its bound, cut on a rune boundary.
func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"openclaw-alice", 255, "openclaw-alice"},
		{"config /home/node/.openclaw/\nopenclaw.json\tunreadable", 240, "config /home/node/.openclaw/ openclaw.json unreadable"},
		{strings.Repeat("x", 300), 240, strings.Repeat("x", 237) + "..."},
		{strings.Repeat("网", 100), 20, strings.Repeat("网", 5) + "..."},
	} {
		got := clean(tc.in, tc.max)
		if got != tc.want || len(got) > tc.max {
			t.Errorf("clean(%.40q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
		c := proto.ContainerCandidate{ID: strings.Repeat("ab", 32), Name: "n", Image: "i", Code: proto.AdoptUnusable, Reason: clean(tc.in, proto.MaxReason)}
		if err := c.Validate(); err != nil {
			t.Errorf("a cleaned reason refused: %v", err)
		}
	}
}

func TestSystemPath(t *testing.T) {
	for p, want := range map[string]bool{"/": true, "/var/run/docker.sock": true, "/proc/1": true, "/etc": true,
		"/opt/openclaw/alice": false, "/home/alice/.openclaw": false, "/var/lib/docker/volumes/x/_data": true, "/srv/run": false} {
		if got := systemPath(p); got != want {
			t.Errorf("systemPath(%q) = %v, want %v", p, got, want)
		}
	}
}
