package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/firmware"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// workerNet is a network namespace joined to this machine by a veth pair:
// the machine is hostIP, the namespace nsIP.
type workerNet struct {
	name, hostIP, nsIP string
}

// newWorkerNet creates the namespace (deleted when the test ends); n picks
// its /30 so that tests do not collide.
func newWorkerNet(t *testing.T, n int) workerNet {
	t.Helper()
	var b [3]byte
	rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	w := workerNet{name: "cfw-" + suffix, hostIP: fmt.Sprintf("10.219.%d.1", n), nsIP: fmt.Sprintf("10.219.%d.2", n)}
	hostIf, nsIf := "cfwh"+suffix, "cfwn"+suffix
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "netns", "add", w.name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", w.name).Run() })
	run("ip", "link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", hostIf).Run() })
	run("ip", "link", "set", nsIf, "netns", w.name)
	run("ip", "addr", "add", w.hostIP+"/30", "dev", hostIf)
	run("ip", "link", "set", hostIf, "up")
	run("ip", "-n", w.name, "addr", "add", w.nsIP+"/30", "dev", nsIf)
	run("ip", "-n", w.name, "link", "set", nsIf, "up")
	run("ip", "-n", w.name, "link", "set", "lo", "up")
	run("ip", "-n", w.name, "route", "add", "default", "via", w.hostIP)
	return w
}

// debianRoot unpacks a clean Debian root filesystem (minbase, built once by
// testdata/debian-rootfs.sh with mmdebstrap and cached in /var/cache/clawfleet).
func debianRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("sh", "testdata/debian-rootfs.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("testdata/debian-rootfs.sh (needs root, mmdebstrap and Debian's mirror): %v\n%s", err, out)
	}
	tarball := strings.TrimSpace(string(out[bytes.LastIndexByte(bytes.TrimSpace(out), '\n')+1:]))
	root, err := os.MkdirTemp("", "clawfleet-debian-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if out, err := exec.Command("tar", "-C", root, "--numeric-owner", "-xf", tarball).CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v\n%s", tarball, err, out)
	}
	return root
}

// inRoot is a command run as root inside the namespace, chrooted into root,
// with the machine's /dev and /sys (cgroups) and a /proc of its own (in a
// mount namespace of its own, so nothing stays mounted). The root is a mount
// point of its own, as on a machine (ip netns exec remounts it). The command is exec'd, not forked: a
// signal to the returned command reaches it.
func inRoot(w workerNet, root string, env []string, args ...string) *exec.Cmd {
	script := `mount --bind "$ROOT" "$ROOT" && mount --rbind /dev "$ROOT/dev" && mount --rbind /sys "$ROOT/sys" && mount -t proc proc "$ROOT/proc" && exec chroot "$ROOT" "$@"`
	cmd := exec.Command("ip", append([]string{"netns", "exec", w.name, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"}, args...)...)
	cmd.Env = append([]string{"ROOT=" + root, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C"}, env...)
	return cmd
}

// runInRoot runs a command in root (inRoot) and returns its output; it
// fails the test unless the command succeeds.
func runInRoot(t *testing.T, w workerNet, root string, args ...string) string {
	t.Helper()
	out, err := inRoot(w, root, nil, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// buildAgent builds the static amd64 agent with version v into dir as
// install.sh downloads it.
func buildAgent(t *testing.T, dir, v string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X github.com/clawfleet/clawfleet/agent/version.Version="+v,
		"-o", filepath.Join(dir, "clawfleet-agent-linux-amd64"), "github.com/clawfleet/clawfleet/agent/cmd/clawfleet-agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the agent %s: %v\n%s", v, err, out)
	}
}

// workerCloud is a cloud that the namespace reaches at its public URL
// http://<hostIP>:<port>, serving the agents of downloads; env is more of
// its environment.
func workerCloud(t *testing.T, w workerNet, downloads string, env ...string) (*cloud, string) {
	t.Helper()
	// Free on every address: the namespace reaches the cloud at hostIP.
	httpPort, mqttPort := freePort(t), freePort(t)
	public := fmt.Sprintf("http://%s:%d", w.hostIP, httpPort)
	c := &cloud{t: t, dataDir: t.TempDir(), httpPort: httpPort, mqttPort: mqttPort, wgPort: freePort(t), adminToken: "cfa_integration_admin_token_0123456789"}
	c.extraEnv = []string{
		// Every address: the test calls 127.0.0.1, the namespace hostIP
		// (the WireGuard hub too: the tunnel's endpoint is hostIP).
		"CLAWFLEET_HTTP_ADDR=:" + strconv.Itoa(httpPort),
		"CLAWFLEET_MQTT_ADDR=:" + strconv.Itoa(mqttPort),
		"CLAWFLEET_WG_ADDR=:" + strconv.Itoa(c.wgPort),
		"CLAWFLEET_PUBLIC_URL=" + public,
		fmt.Sprintf("CLAWFLEET_MQTT_PUBLIC_URL=tcp://%s:%d", w.hostIP, mqttPort),
		"CLAWFLEET_DOWNLOADS_DIR=" + downloads,
	}
	c.extraEnv = append(c.extraEnv, env...)
	c.start()
	return c, public
}

// The operator's one command on a fresh Debian machine (here a clean
// root filesystem in a network namespace, without systemd: the script's
// no-systemd path, then the unit's ExecStart run as systemd would): the
// agent is downloaded (checksum checked), installed with its unit, enrolled
// with the token, and the host comes online; a refused token installs
// nothing; running the command again upgrades in place and keeps the
// host's identity.
func TestWorkerInstallScript(t *testing.T) {
	w := newWorkerNet(t, 1)
	root := debianRoot(t)
	dist := t.TempDir()
	buildAgent(t, dist, "v-it-1")
	c, public := workerCloud(t, w, dist)

	// The console's commands name the public URL, not the address the
	// browser (here the test, on 127.0.0.1) used.
	var tok struct{ Token, InstallCommand, EnrollCommand string }
	c.admin("POST", "/api/admin/enrollment-tokens", map[string]any{"ttl": "1h", "uses": 1}, 201, &tok)
	if want := "curl -fsSL " + public + "/install.sh | sudo sh -s -- --token " + tok.Token; tok.InstallCommand != want {
		t.Fatalf("installCommand = %q, want %q", tok.InstallCommand, want)
	}
	if !strings.Contains(tok.EnrollCommand, "--cloud "+public+" ") {
		t.Errorf("enrollCommand = %q, want it to name %s", tok.EnrollCommand, public)
	}
	var settings struct{ CloudURL string }
	c.admin("GET", "/api/admin/settings", nil, 200, &settings)
	if settings.CloudURL != public {
		t.Errorf("settings cloudUrl = %q, want %q", settings.CloudURL, public)
	}

	install := func(args ...string) (string, error) {
		t.Helper()
		// What the console shows, as root (there is no sudo in minbase).
		cmd := inRoot(w, root, nil, "sh", "-c", `curl -fsSL "$0/install.sh" | sh -s -- "$@"`, public)
		cmd.Args = append(cmd.Args, args...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	at := func(p string) string { return filepath.Join(root, p) }

	// A refused token: a clear error, nothing installed.
	out, err := install("--token", "cfe_not_a_token_at_all_0000000000000000000000000")
	if err == nil || !strings.Contains(out, "enrollment failed") || !strings.Contains(out, "nothing was installed") {
		t.Fatalf("install with a wrong token: %v\n%s", err, out)
	}
	for _, p := range []string{"usr/local/bin/clawfleet-agent", "etc/systemd/system/clawfleet-agent.service", "var/lib/clawfleet-agent/credentials.json"} {
		if _, err := os.Stat(at(p)); err == nil {
			t.Errorf("a refused install left /%s", p)
		}
	}

	out, err = install("--token", tok.Token, "--name", "worker-1", "--label", "zone=it")
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	for _, want := range []string{"installed clawfleet-agent v-it-1", "systemd is not running here", "start the agent yourself: /usr/local/bin/clawfleet-agent run --state-dir /var/lib/clawfleet-agent"} {
		if !strings.Contains(out, want) {
			t.Errorf("install output lacks %q:\n%s", want, out)
		}
	}
	if unit, err := os.ReadFile(at("etc/systemd/system/clawfleet-agent.service")); err != nil || string(unit) != firmware.AgentUnit {
		t.Errorf("installed unit (%v) differs from firmware/'s:\n%s", err, unit)
	}
	if env, err := os.ReadFile(at("etc/clawfleet/agent.env")); err != nil || string(env) != firmware.AgentEnv {
		t.Errorf("installed agent.env (%v) differs from firmware/'s:\n%s", err, env)
	}
	if fi, err := os.Stat(at("usr/local/bin/clawfleet-agent")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("installed agent: %v %v, want mode 0755", fi, err)
	}
	credsPath := at("var/lib/clawfleet-agent/credentials.json")
	fi, err := os.Stat(credsPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials: %v %v, want mode 0600", fi, err)
	}
	creds1, _ := os.ReadFile(credsPath)

	// The unit's ExecStart, as systemd would run it.
	var execStart []string
	for _, l := range strings.Split(firmware.AgentUnit, "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			execStart = strings.Fields(v)
		}
	}
	runAgent := func() *proc {
		return startCmd(t, "clawfleet-agent (worker VM)", inRoot(w, root, []string{"CLAWFLEET_LOG_LEVEL=debug"}, append(execStart, "--heartbeat", "1s")...))
	}
	online := func(version string) hostJSON {
		t.Helper()
		var h hostJSON
		tstest.Await(t, "the worker online with agent "+version, 30*time.Second, func() bool {
			hs := c.hosts()
			if len(hs) != 1 {
				return false
			}
			for _, x := range hs {
				h = x
			}
			return h.Status == "online" && h.AgentVersion == version
		})
		return h
	}
	a := runAgent()
	h := online("v-it-1")
	if h.Name != "worker-1" || h.Arch != "amd64" || h.OS != "linux" {
		t.Errorf("host = %+v, want worker-1 linux/amd64", h)
	}

	// Again, with a newer agent served and no token: an upgrade in place.
	a.stopAndCheck()
	buildAgent(t, dist, "v-it-2")
	out, err = install()
	if err != nil {
		t.Fatalf("re-install: %v\n%s", err, out)
	}
	for _, want := range []string{"already enrolled", "installed clawfleet-agent v-it-2", "upgraded in place"} {
		if !strings.Contains(out, want) {
			t.Errorf("re-install output lacks %q:\n%s", want, out)
		}
	}
	if creds2, _ := os.ReadFile(credsPath); !bytes.Equal(creds1, creds2) {
		t.Errorf("the upgrade changed credentials.json")
	}
	runAgent()
	if h2 := online("v-it-2"); h2.ID != h.ID {
		t.Errorf("after the upgrade the host is %s, want the same %s", h2.ID, h.ID)
	}
}

// fileList is every path under root (relative), but /proc and /dev.
func fileList(t *testing.T, root string) map[string]bool {
	t.Helper()
	m := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "proc" || rel == "dev" {
			return filepath.SkipDir
		}
		m[rel] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The agent's Debian package (make deb: firmware/deb with nfpm) on a clean
// Debian root filesystem: dpkg -i installs the agent, its unit (enabled
// with deb-systemd-helper) and a system user; the packaged agent enrolls
// and its unit's ExecStart brings the host online; dpkg -r removes the
// program and keeps the conffile; dpkg -P leaves nothing of the package
// but what Debian policy allows (the system user, dpkg's own records).
func TestWorkerDeb(t *testing.T) {
	w := newWorkerNet(t, 2)
	root := debianRoot(t)
	dist := t.TempDir()
	buildAgent(t, dist, "v-it-deb")
	cmd := exec.Command("sh", "../../firmware/deb/build.sh", "v9.8.7-it", dist, "amd64")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("firmware/deb/build.sh: %v\n%s", err, err.(*exec.ExitError).Stderr)
	}
	deb := strings.TrimSpace(string(out))
	if filepath.Base(deb) != "clawfleet-agent_9.8.7+it_amd64.deb" {
		t.Fatalf("package %s, want clawfleet-agent_9.8.7+it_amd64.deb", deb)
	}
	c, public := workerCloud(t, w, dist)
	// The cloud serves the package beside the binaries, in SHA256SUMS too.
	if code, sums := c.do("GET", "/downloads/SHA256SUMS", "", nil); code != 200 || !strings.Contains(string(sums), "  clawfleet-agent_9.8.7+it_amd64.deb\n") {
		t.Errorf("SHA256SUMS = %d %s, want the package listed", code, sums)
	}

	before := fileList(t, root)
	b, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tmp", "agent.deb"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	chroot := func(args ...string) string { t.Helper(); return runInRoot(t, w, root, args...) }
	at := func(p string) string { return filepath.Join(root, p) }

	out2 := chroot("dpkg", "-i", "/tmp/agent.deb")
	if !strings.Contains(out2, "clawfleet-agent enroll --cloud") {
		t.Errorf("dpkg -i does not say how to enroll:\n%s", out2)
	}
	os.Remove(filepath.Join(root, "tmp", "agent.deb"))
	if v := chroot("clawfleet-agent", "version"); !strings.Contains(v, "v-it-deb") {
		t.Errorf("installed agent says %q", v)
	}
	unit, err := os.ReadFile(at("usr/lib/systemd/system/clawfleet-agent.service"))
	if want := strings.ReplaceAll(firmware.AgentUnit, "/usr/local/bin/", "/usr/bin/"); err != nil || string(unit) != want {
		t.Errorf("packaged unit (%v):\n%s\nwant firmware/'s with /usr/bin:\n%s", err, unit, want)
	}
	// deb-systemd-helper links the unit by its /lib path on bookworm (/lib is /usr/lib).
	if l, err := os.Readlink(at("etc/systemd/system/multi-user.target.wants/clawfleet-agent.service")); err != nil || (l != "/usr/lib/systemd/system/clawfleet-agent.service" && l != "/lib/systemd/system/clawfleet-agent.service") {
		t.Errorf("unit not enabled: %q %v", l, err)
	}
	pw := chroot("getent", "passwd", "clawfleet-agent")
	if f := strings.Split(strings.TrimSpace(pw), ":"); len(f) < 7 || f[5] != "/var/lib/clawfleet-agent" || f[6] != "/usr/sbin/nologin" {
		t.Errorf("system user: %q", pw)
	} else if uid, _ := strconv.Atoi(f[2]); uid == 0 || uid >= 1000 {
		t.Errorf("system user's uid %d, want a system uid (1-999)", uid)
	}

	// The packaged agent joins the fleet.
	var tok struct{ Token string }
	c.admin("POST", "/api/admin/enrollment-tokens", map[string]any{"ttl": "1h", "uses": 1}, 201, &tok)
	chroot("env", "CLAWFLEET_ENROLL_TOKEN="+tok.Token, "clawfleet-agent", "enroll", "--cloud", public, "--name", "deb-1")
	var execStart []string
	for _, l := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			execStart = strings.Fields(v)
		}
	}
	a := startCmd(t, "clawfleet-agent (deb)", inRoot(w, root, nil, append(execStart, "--heartbeat", "1s")...))
	tstest.Await(t, "the packaged agent online", 30*time.Second, func() bool {
		for _, h := range c.hosts() {
			if h.Name == "deb-1" && h.Status == "online" && h.AgentVersion == "v-it-deb" {
				return true
			}
		}
		return false
	})
	a.stopAndCheck()

	chroot("dpkg", "-r", "clawfleet-agent")
	// (The unit's enablement stays until a purge, as debhelper's scripts do.)
	for _, p := range []string{"usr/bin/clawfleet-agent", "usr/lib/systemd/system/clawfleet-agent.service"} {
		if _, err := os.Lstat(at(p)); err == nil {
			t.Errorf("dpkg -r left /%s", p)
		}
	}
	if _, err := os.Stat(at("etc/clawfleet/agent.env")); err != nil {
		t.Errorf("dpkg -r removed the conffile: %v", err)
	}

	chroot("dpkg", "-P", "clawfleet-agent")
	after := fileList(t, root)
	// What may stay: dpkg's and adduser's records (the system user stays, as
	// Debian policy has it), their logs, and adduser's lock in /run (a tmpfs
	// on a running system).
	allowed := []string{"run/adduser", "var/lib/dpkg/", "var/log/", "etc/passwd-", "etc/group-", "etc/shadow-", "etc/gshadow-", "etc/subuid", "etc/subgid", "var/cache/debconf/", "var/lib/systemd/deb-systemd-helper-"}
	for p := range after {
		if before[p] {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || strings.HasPrefix(p, a)
		}
		if !ok {
			t.Errorf("dpkg -P left /%s", p)
		}
	}
	for p := range before {
		if !after[p] {
			t.Errorf("installing and purging the package removed /%s", p)
		}
	}
}
