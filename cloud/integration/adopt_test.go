package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime/docker/engine"
	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// TestAdoptPortainerEndToEnd migrates a host of the previous Portainer
// setup with the documented command, for real: a real OpenClaw gateway
// container made as Portainer made them (token in its environment, state on
// a named volume, port published) keeps running while a real agent joins
// with the docker runtime; the operator adopts it as alice's tenant with
// `clawfleet-agent adopt` on the host (the list, then a migration map,
// rerun to show it resumes); alice then reaches that very container at her
// subdomain through the cloud's router and the host's tunnel, restarts it
// through the API (never re-created: same container, files on its volume
// kept) and deletes it with keepData (the container goes, the volume stays).
func TestAdoptPortainerEndToEnd(t *testing.T) {
	image := runtimetest.RealOpenClaw(t, "CLAWFLEET_OPENCLAW_IMAGE")
	d := requireDocker(t)
	e := newTenantEnv(t, image, 3*time.Minute, "<title>OpenClaw Control</title>", "--runtime", "docker")
	c := e.c
	ctx := context.Background()
	sfx := fmt.Sprintf("%06d", rand.IntN(1e6))
	port := freePort(t)
	g, err := runtimetest.NewPortainerGateway(ctx, d, image, "openclaw-alice-"+sfx, "portainer-token-"+sfx+"-0123456789abcdef", port,
		map[string]string{"marker": "written under Portainer"})
	if g != nil {
		t.Cleanup(func() { g.Remove(context.Background(), d) })
	}
	if err != nil {
		t.Fatal(err)
	}
	// Token auth, as under Portainer: the plain probe the agent sends such a
	// gateway (runtimetest.WaitReady names a trusted proxy's client).
	tstest.Await(t, "the Portainer gateway's /readyz", 3*time.Minute, func() bool {
		code, _, _ := runtimetest.Get(fmt.Sprintf("127.0.0.1:%d", port), "/readyz")
		return code == 200
	})
	started := containerStarted(t, d, g.ID)

	// The owner is a user the cloud knows (the web app's user, seen once).
	if _, code := c.myTenant("alice"); code != 404 {
		t.Fatalf("alice before the adoption: %d", code)
	}
	// The operator, on the host: the list of what there is to adopt (the
	// cloud's URL from the agent's credentials), in English and Chinese...
	adoptCmd := func(lang string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(bin("clawfleet-agent"), append([]string{"adopt", "--state-dir", e.a.stateDir, "--admin-token", c.adminToken}, args...)...)
		cmd.Env = append(os.Environ(), "CLAWFLEET_LANG="+lang, "CLAWFLEET_CLOUD_URL=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(g.Name) + `\s+\S+\s+` + fmt.Sprint(port) + `\s+(\S+)\s+(.*)$`)
	listed, err := adoptCmd("en")
	if m := row.FindStringSubmatch(listed); err != nil || m == nil || m[1] != "running" || m[2] != "yes" {
		t.Fatalf("clawfleet-agent adopt (the list): %v\n%s", err, listed)
	}
	if out, err := adoptCmd("zh"); err != nil || !strings.Contains(out, "能否接管") || row.FindStringSubmatch(out) == nil || row.FindStringSubmatch(out)[2] != "可以" {
		t.Fatalf("clawfleet-agent adopt (the list in Chinese): %v\n%s", err, out)
	}
	// ...and the migration map, adopted line by line.
	mapFile := filepath.Join(t.TempDir(), "portainer.map")
	if err := os.WriteFile(mapFile, []byte("# Portainer's gateways: container owner slug plan\n"+g.Name+"  alice  alice-"+sfx+"  free\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mapped, err := adoptCmd("en", "--map", mapFile)
	m := regexp.MustCompile(regexp.QuoteMeta(g.Name) + ` adopted: tenant (ten_[a-z0-9]+) of alice, at (\S+)`).FindStringSubmatch(mapped)
	if err != nil || m == nil || !strings.Contains(mapped, "1 adopted, 0 adopted already, 0 failed.") {
		t.Fatalf("clawfleet-agent adopt --map: %v\n%s", err, mapped)
	}
	var adopted struct {
		ID, Slug, Container, HostID, URL string
		Port                             int
	}
	c.admin("GET", "/api/admin/tenants/"+m[1], nil, 200, &adopted)
	if adopted.URL != m[2] {
		t.Errorf("the command showed %s, the tenant's address is %s", m[2], adopted.URL)
	}
	// A rerun resumes: what is adopted is skipped, nothing twice.
	if out, err := adoptCmd("en", "--map", mapFile); err != nil || !strings.Contains(out, g.Name+" skipped: adopted already (tenant "+m[1]+")") || !strings.Contains(out, "0 adopted, 1 adopted already, 0 failed.") {
		t.Fatalf("clawfleet-agent adopt --map again: %v\n%s", err, out)
	}
	if out, err := adoptCmd("en"); err != nil || row.FindStringSubmatch(out) == nil || row.FindStringSubmatch(out)[2] != "adopted (tenant "+m[1]+")" {
		t.Fatalf("the list after the adoption: %v\n%s", err, out)
	}
	if adopted.Container != g.ID || adopted.Port != port || adopted.HostID != e.a.deviceID || adopted.Slug != "alice-"+sfx {
		t.Fatalf("adopted tenant = %+v, want container %s on port %d", adopted, g.ID, port)
	}
	// Once is enough: the same container again is refused.
	c.myTenant("bob") // bob, known to the cloud
	if code, out := c.do("POST", "/api/hosts/"+e.a.deviceID+"/adopt", c.adminToken,
		map[string]any{"container": g.Name, "ownerId": "bob"}); code != 409 || !strings.Contains(string(out), "already_adopted") {
		t.Fatalf("adopting it twice = %d %s", code, out)
	}
	running := e.awaitStatus("alice", "running", e.ready)
	if running.ID != adopted.ID {
		t.Fatalf("alice's tenant %s, adopted %s", running.ID, adopted.ID)
	}
	// The very container, never re-created, now under the plan's limits.
	var info struct {
		ID         string `json:"Id"`
		HostConfig struct {
			NanoCpus      int64
			Memory        int64
			RestartPolicy struct{ Name string }
		}
	}
	if _, err := d.Do(ctx, "GET", "/containers/"+g.Name+"/json", nil, nil, &info); err != nil {
		t.Fatal(err)
	}
	if info.ID != g.ID || info.HostConfig.Memory != 1<<30 || info.HostConfig.RestartPolicy.Name != "unless-stopped" {
		t.Fatalf("the adopted container %s: %+v", g.ID, info)
	}

	// alice reaches it at her subdomain, through the router and the tunnel.
	va := c.signIn(t, "alice")
	tstest.Await(t, "alice's adopted gateway through the router", time.Minute, func() bool {
		code, body, _ := va.get("/")
		return code == 200 && strings.Contains(body, e.page)
	})
	e.probeThroughTunnel(t, adopted.ID)

	// Restart through the API: Docker's restart of the same container.
	code, out := c.user("alice", "POST", "/api/tenants/me/restart", nil)
	if code != 202 {
		t.Fatalf("restart = %d %s", code, out)
	}
	tstest.Await(t, "the adopted container restarted and running", e.ready, func() bool {
		tj, _ := c.myTenant("alice")
		return tj.RestartGen == running.RestartGen+1 && tj.Status == "running" && containerStarted(t, d, g.ID) != started
	})
	if s, err := g.ReadFile(ctx, d, "marker"); err != nil || s != "written under Portainer" {
		t.Fatalf("the volume's file after the restart: %q %v", s, err)
	}
	tstest.Await(t, "the restarted gateway through the router", e.ready, func() bool {
		code, body, _ := va.get("/")
		return code == 200 && strings.Contains(body, e.page)
	})
	// Its disk is measured, though no quota is put on it: its volume and
	// writable layer against the filesystem that holds them.
	tstest.Await(t, "the adopted gateway's disk use in alice's tenant", time.Minute, func() bool {
		var v struct {
			Disk *struct{ UsedBytes, TotalBytes int64 }
		}
		code, out := c.user("alice", "GET", "/api/tenants/me", nil)
		return code == 200 && json.Unmarshal(out, &v) == nil && v.Disk != nil && v.Disk.UsedBytes > 0 && v.Disk.TotalBytes >= v.Disk.UsedBytes
	})
	var logs struct{ Lines []string }
	code, out = c.user("alice", "GET", "/api/tenants/me/logs?tail=50", nil)
	if code != 200 || json.Unmarshal(out, &logs) != nil || len(logs.Lines) == 0 {
		t.Fatalf("the adopted gateway's logs = %d %.300s", code, out)
	}

	// Delete, keeping the data: the container goes, the volume stays.
	if code, out := c.user("alice", "DELETE", "/api/tenants/me?keepData=1", nil); code != 202 {
		t.Fatalf("delete = %d %s", code, out)
	}
	tstest.Await(t, "the adopted container removed", 30*time.Second, func() bool {
		_, err := d.Do(ctx, "GET", "/containers/"+g.ID+"/json", nil, nil, nil)
		return engine.IsNotFound(err)
	})
	if _, err := d.Do(ctx, "GET", "/volumes/"+g.Volume, nil, nil, nil); err != nil {
		t.Fatalf("the volume after a delete with keepData: %v", err)
	}
}

// containerStarted is when Docker last started the container.
func containerStarted(t *testing.T, d *engine.Client, id string) string {
	t.Helper()
	var v struct{ State struct{ StartedAt string } }
	if _, err := d.Do(context.Background(), "GET", "/containers/"+id+"/json", nil, nil, &v); err != nil {
		t.Fatal(err)
	}
	return v.State.StartedAt
}
