package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

var (
	standinOnce sync.Once
	standinPath string
	standinErr  error
	standinDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if standinDir != "" {
		os.RemoveAll(standinDir)
	}
	os.Exit(code)
}

// standinBin builds the stand-in gateway (static) once per test binary, in
// a directory every user can read (gateways may run as nobody).
func standinBin(t *testing.T) string {
	t.Helper()
	standinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "clawfleet-standin-")
		if err != nil {
			standinErr = err
			return
		}
		standinDir = dir
		os.Chmod(dir, 0o755)
		standinPath = filepath.Join(dir, "openclaw")
		cmd := exec.Command(goTool(), "build", "-trimpath", "-ldflags=-s -w", "-o", standinPath, "./standin")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			standinErr = fmt.Errorf("building the stand-in: %v\n%s", err, out)
		}
	})
	if standinErr != nil {
		t.Fatal(standinErr)
	}
	return standinPath
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// worldDir returns a fresh directory that a gateway running as nobody can
// traverse, removed at the end of the test.
func worldDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "clawfleet-rt-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// freeBase returns a base port whose whole PortSpacing range is free, and
// not within PortSpacing of the ports in avoid.
func freeBase(t *testing.T, avoid ...int) int {
	t.Helper()
	for i := 0; i < 200; i++ {
		base := 20000 + rand.IntN(375)*proto.PortSpacing
		ok := true
		for _, a := range avoid {
			if base > a-proto.PortSpacing && base < a+proto.PortSpacing {
				ok = false
			}
		}
		if ok && checkPorts(base) == nil {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

func testSpec(id string, port int) proto.TenantSpec {
	return proto.TenantSpec{
		ID: id, Slug: strings.TrimPrefix(id, "ten_"), Owner: "u1", State: proto.TenantRunning,
		Port: port, CPUMillis: 500, MemoryBytes: 512 << 20, PidsLimit: 256,
		GatewayToken:   "tok-" + id + "-0123456789",
		AllowedOrigins: []string{"https://" + strings.TrimPrefix(id, "ten_") + ".example.com"},
	}
}

// testPool is the network namespace pool of the runtime tests, apart from
// the default one an agent on this host may use.
const testPool = "10.232.0.0/16"

// get fetches http://addr/path as the tunnel forwarder would (from the
// gateway's trusted proxy address) with the given headers ("Name: value").
func get(addr, path string, headers ...string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, "", err
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// proxied are the headers the cloud's router sends for user u1.
var proxied = []string{proto.UserHeader + ": u1", "X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https", "X-Forwarded-Host: t.example.com"}

// upstream returns the instance's upstream as List reports it.
func upstream(t *testing.T, rt Runtime, id string) string {
	t.Helper()
	list, err := rt.List(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	in, ok := find(list, id)
	if !ok || in.Upstream == "" {
		t.Fatalf("%s: no upstream in %+v", id, list)
	}
	return in.Upstream
}

// waitFor polls cond every 100 ms until it returns nil or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
}

// waitReady probes like the agent: /readyz at the upstream, naming a
// non-loopback client.
func waitReady(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("/readyz at %s", addr), func() error {
		code, _, err := get(addr, "/readyz", "X-Forwarded-For: "+ProbeForwardedFor)
		if err != nil {
			return err
		}
		if code != 200 {
			return fmt.Errorf("status %d", code)
		}
		return nil
	})
}

func waitDown(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%s to close", addr), func() error {
		// Once a tenant's namespace is gone its address is no longer on any
		// link here: asking it would send the request off this machine
		// (where a network may even answer), so that counts as closed.
		if !onLocalLink(addr) {
			return nil
		}
		if _, _, err := get(addr, "/healthz"); err == nil {
			return fmt.Errorf("still answering")
		}
		return nil
	})
}

// onLocalLink reports whether addr's host is loopback or inside a prefix
// of one of this namespace's interfaces.
func onLocalLink(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.Contains(ip) {
			return true
		}
	}
	return false
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func find(list []Instance, id string) (Instance, bool) {
	for _, in := range list {
		if in.TenantID == id {
			return in, true
		}
	}
	return Instance{}, false
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// removeNetns deletes the network namespaces a process runtime with this
// data directory may have left (tests end without purging every tenant).
func removeNetns(t *testing.T, dataDir string) {
	t.Cleanup(func() {
		abs, _ := filepath.Abs(dataDir)
		sum := sha256.Sum256([]byte(abs))
		prefix := "cf-" + hex.EncodeToString(sum[:2]) + "-"
		entries, _ := os.ReadDir(netnsDir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) {
				exec.Command("ip", "netns", "del", e.Name()).Run()
			}
		}
	})
}

// requireRoot skips a test that needs root, or fails it under CI (which
// runs as root, so a skip there would hide a broken set-up).
func requireRoot(t *testing.T, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal(what + ": root needed in CI")
		}
		t.Skip(what + ": root needed")
	}
}
