// Package integration starts the real binaries (clawfleet-cloud,
// clawfleet-agent, clawfleet-provision) as processes on real TCP ports and
// checks them from the outside: HTTP API, /metrics and raw MQTT clients.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/pkg/tstest"
)

var binDir string

// raceEnabled: the test runs under -race (race_test.go).
var raceEnabled bool

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "clawfleet-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	// Gateways run as an unprivileged user, who must reach the binaries.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, pkg := range []string{"cloud/cmd/clawfleet-cloud", "agent/cmd/clawfleet-agent", "provisioning/cmd/clawfleet-provision", "agent/runtime/runtimetest/standin"} {
		args := []string{"build", "-o", dir}
		env := append(os.Environ(), "CGO_ENABLED=0")
		// Under go test -race the binaries race-check too (and a race fails
		// the test, see stopAndCheck); the stand-in stays static for the
		// image it is copied into.
		if raceEnabled && !strings.HasSuffix(pkg, "standin") {
			args, env = append(args, "-race"), append(os.Environ(), "CGO_ENABLED=1")
		}
		cmd := exec.Command("go", append(args, "github.com/clawfleet/clawfleet/"+pkg)...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func bin(name string) string { return filepath.Join(binDir, name) }

// freePort returns a port free a moment ago, outside the range other
// processes are given for port 0 (tstest.FreePort says why).
func freePort(t *testing.T) int { return tstest.FreePort(t) }

// proc is a started binary whose output is kept for failure messages.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
	// killed: the test SIGKILLed it, so its exit status says nothing.
	killed bool
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin(strings.Fields(name)[0]), args...)
	cmd.Env = append(os.Environ(), env...)
	return startCmd(t, name, cmd)
}

// startCmd starts cmd (its output kept) and stops it when the test ends.
func startCmd(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{t: t, name: name, done: make(chan struct{}), cmd: cmd}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	// Cleanups run last first: agents stop before the cloud they talk to.
	t.Cleanup(func() {
		p.stopAndCheck()
		if t.Failed() {
			t.Logf("---- output of %s ----\n%s", name, tail(p.output(), 60))
		}
	})
	return p
}

// stopAndCheck stops the process as an operator would (SIGTERM, so an agent
// unmounts its tenants' disks and removes their namespaces) and fails the
// test unless it exited 0 and never panicked or raced.
func (p *proc) stopAndCheck() {
	p.t.Helper()
	if err := p.stop(syscall.SIGTERM); err != nil && !p.killed {
		p.t.Errorf("%s exited with %v, want exit status 0 (it was stopped with SIGTERM or exited by itself)", p.name, err)
	}
	out := p.output()
	for _, bad := range []string{"panic:", "DATA RACE"} {
		if i := strings.Index(out, bad); i >= 0 {
			p.t.Errorf("%s printed %q:\n%s", p.name, bad, head(out[max(0, i-300):], 60))
		}
	}
}

func head(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stop signals the process and waits for it; it returns the exit error.
func (p *proc) stop(sig syscall.Signal) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	if sig == syscall.SIGKILL {
		p.killed = true
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Errorf("%s did not stop within 15 s of %s", p.name, sig)
	}
	return p.err
}

// cloud is a clawfleet-cloud process with fixed ports, so it can be restarted.
type cloud struct {
	t          *testing.T
	dataDir    string
	httpPort   int
	mqttPort   int
	wgPort     int // UDP, the WireGuard hub
	adminToken string
	extraEnv   []string
	p          *proc
}

func newCloud(t *testing.T, extraEnv ...string) *cloud {
	c := &cloud{t: t, dataDir: t.TempDir(), httpPort: freePort(t), mqttPort: freePort(t), wgPort: freePort(t), adminToken: "cfa_integration_admin_token_0123456789", extraEnv: extraEnv}
	c.start()
	return c
}

func (c *cloud) start() {
	c.t.Helper()
	env := append([]string{
		"CLAWFLEET_HTTP_ADDR=127.0.0.1:" + strconv.Itoa(c.httpPort),
		"CLAWFLEET_MQTT_ADDR=127.0.0.1:" + strconv.Itoa(c.mqttPort),
		"CLAWFLEET_WG_ADDR=127.0.0.1:" + strconv.Itoa(c.wgPort),
		"CLAWFLEET_DATA_DIR=" + c.dataDir,
		"CLAWFLEET_ADMIN_TOKEN=" + c.adminToken,
		"CLAWFLEET_HEARTBEAT_INTERVAL=1s",
		"CLAWFLEET_HEARTBEAT_FLUSH_INTERVAL=100ms",
		"CLAWFLEET_LOG_LEVEL=debug",
		"CLAWFLEET_INTERNAL_UPSTREAM_ADDR=127.0.0.1:0",
	}, c.extraEnv...)
	c.p = start(c.t, "clawfleet-cloud", env)
	c.awaitHealthy()
}

func (c *cloud) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", c.httpPort, path)
}

func (c *cloud) mqttURL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", c.mqttPort) }

func (c *cloud) awaitHealthy() {
	c.t.Helper()
	tstest.Await(c.t, "cloud healthy", 30*time.Second, func() bool {
		select {
		case <-c.p.done:
			c.t.Fatalf("cloud exited: %v\n%s", c.p.err, tail(c.p.output(), 40))
		default:
		}
		resp, err := http.Get(c.url("/api/health"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// do sends an HTTP request with token as bearer token (none when empty);
// body may be nil, a string or a value to encode.
func (c *cloud) do(method, path, token string, body any) (int, []byte) {
	c.t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return c.send(method, path, h, body)
}

// send sends an HTTP request with the headers h and returns the status and
// body of the answer; body may be nil, a string or a value to encode.
func (c *cloud) send(method, path string, h http.Header, body any) (int, []byte) {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, c.url(path), r)
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (c *cloud) admin(method, path string, body any, want int, into any) {
	c.t.Helper()
	code, out := c.do(method, path, c.adminToken, body)
	if code != want {
		c.t.Fatalf("%s %s = %d %s, want %d", method, path, code, out, want)
	}
	if into != nil {
		if err := json.Unmarshal(out, into); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, out, err)
		}
	}
}

type hostJSON struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	Status        string  `json:"status"`
	LastHeartbeat *string `json:"lastHeartbeat"`
	AgentVersion  string  `json:"agentVersion"`
	WGPublicKey   string  `json:"wgPublicKey"`
	Tunnel        *struct {
		Mode                string `json:"mode"`
		HandshakeAgeSeconds int64  `json:"handshakeAgeSeconds"`
		Address             string `json:"address"`
	} `json:"tunnel"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	Metrics struct {
		CPUPercent     float64 `json:"cpuPercent"`
		MemUsedBytes   uint64  `json:"memUsedBytes"`
		MemTotalBytes  uint64  `json:"memTotalBytes"`
		DiskUsedBytes  uint64  `json:"diskUsedBytes"`
		DiskTotalBytes uint64  `json:"diskTotalBytes"`
		Load1          float64 `json:"load1"`
	} `json:"metrics"`
}

func (c *cloud) hosts() map[string]hostJSON {
	c.t.Helper()
	var hs []hostJSON
	c.admin("GET", "/api/hosts", nil, 200, &hs)
	m := map[string]hostJSON{}
	for _, h := range hs {
		m[h.ID] = h
	}
	return m
}

// metric returns the sum of every sample of a metric family whose labels
// contain all of the given label pairs (e.g. `action="publish"`).
func (c *cloud) metric(name string, labels ...string) float64 {
	c.t.Helper()
	resp, err := http.Get(c.url("/metrics"))
	if err != nil {
		c.t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		sum += v
	}
	return sum
}

// enrollToken creates an enrollment token.
func (c *cloud) enrollToken(uses int, ttl string) (token, id string) {
	var out struct{ Token, ID string }
	c.admin("POST", "/api/admin/enrollment-tokens", map[string]any{"ttl": ttl, "uses": uses, "labels": map[string]string{"pool": "it"}}, 201, &out)
	return out.Token, out.ID
}

// agent is an enrolled agent: its state dir and, while running, its process.
type agent struct {
	t        *testing.T
	name     string
	stateDir string
	deviceID string
	secret   string
	p        *proc
}

// agentStateDir is a state dir the agent's unprivileged gateways can
// traverse (t.TempDir's parent is private to root).
func agentStateDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "clawfleet-agent-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o711)
	t.Cleanup(func() {
		releaseAgentLeftovers(t, dir)
		os.RemoveAll(dir)
	})
	return dir
}

// releaseAgentLeftovers undoes what an agent that could not stop cleanly
// (SIGKILLed by a test) left on the machine: tenant disks mounted under its
// state dir and its gateways' network namespaces. Without this, every run
// would leak loop devices and namespaces on the CI machine.
func releaseAgentLeftovers(t *testing.T, stateDir string) {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var targets []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], stateDir+"/") {
			targets = append(targets, f[4])
		}
	}
	slices.Reverse(targets) // innermost first
	for _, m := range targets {
		if out, err := exec.Command("umount", "-l", m).CombinedOutput(); err != nil {
			t.Logf("unmount %s: %v %s", m, err, out)
		}
	}
	// Docker volumes of its tenants (bind volumes into its state dir): a
	// tenant a test did not purge would leave one behind on every run.
	if vols, err := exec.Command("docker", "volume", "ls", "-q", "--filter", "label=clawfleet.managed=true").Output(); err == nil {
		for _, v := range strings.Fields(string(vols)) {
			dev, err := exec.Command("docker", "volume", "inspect", "--format", "{{.Options.device}}", v).Output()
			if err == nil && strings.HasPrefix(strings.TrimSpace(string(dev)), stateDir+"/") {
				_ = exec.Command("docker", "volume", "rm", "-f", v).Run()
			}
		}
	}
	sum := sha256.Sum256([]byte(filepath.Join(stateDir, "tenants")))
	prefix := "cf-" + hex.EncodeToString(sum[:2]) + "-"
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			_ = exec.Command("ip", "netns", "delete", f[0]).Run()
		}
	}
}

func (c *cloud) enrollAgent(token, name string) *agent {
	c.t.Helper()
	a := &agent{t: c.t, name: name, stateDir: agentStateDir(c.t)}
	cmd := exec.Command(bin("clawfleet-agent"), "enroll", "--cloud", c.url(""), "--token", token, "--state-dir", a.stateDir, "--name", name)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("enroll %s: %v\n%s", name, err, out)
	}
	a.loadCreds()
	return a
}

func (a *agent) loadCreds() {
	b, err := os.ReadFile(filepath.Join(a.stateDir, "credentials.json"))
	if err != nil {
		a.t.Fatal(err)
	}
	var cr struct{ DeviceID, Secret string }
	if err := json.Unmarshal(b, &cr); err != nil {
		a.t.Fatal(err)
	}
	a.deviceID, a.secret = cr.DeviceID, cr.Secret
}

func (a *agent) start(extra ...string) {
	args := append([]string{"run", "--state-dir", a.stateDir, "--heartbeat", "1s", "--keepalive", "2s"}, extra...)
	a.p = start(a.t, "clawfleet-agent "+a.name, []string{"CLAWFLEET_LOG_LEVEL=debug"}, args...)
}

var _ = context.Background
