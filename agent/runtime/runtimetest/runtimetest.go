// Package runtimetest helps test the tenant runtimes and what drives them,
// as net/http/httptest does for HTTP: it builds the stand-in gateway
// (runtimetest/standin) and its image, and holds the fixtures, probes and
// assertions the docker and process runtime tests share. Only tests and
// benchmarks import it.
package runtimetest

import (
	"context"
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

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// StandinPackage is the stand-in gateway's import path, for go build.
const StandinPackage = "github.com/clawfleet/clawfleet/agent/runtime/runtimetest/standin"

var (
	standinOnce sync.Once
	standinPath string
	standinErr  error
	standinDir  string
)

// Main runs a package's tests and removes the stand-in binary Standin built;
// call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if standinDir != "" {
		os.RemoveAll(standinDir)
	}
	os.Exit(code)
}

// Standin builds the stand-in gateway (static) once per test binary, in a
// directory every user can read (gateways may run as nobody), and returns
// its path. A package that calls it removes it with Main.
func Standin(t testing.TB) string {
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
		cmd := exec.Command(goTool(), "build", "-trimpath", "-ldflags=-s -w", "-o", standinPath, StandinPackage)
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

// Dir returns a fresh directory that a gateway running as nobody can
// traverse, removed at the end of the test.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "clawfleet-rt-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// FreeBase returns a base port whose whole PortSpacing range is free, and
// not within PortSpacing of the ports in avoid.
func FreeBase(t testing.TB, avoid ...int) int {
	t.Helper()
	for i := 0; i < 200; i++ {
		base := 20000 + rand.IntN(375)*proto.PortSpacing
		ok := true
		for _, a := range avoid {
			if base > a-proto.PortSpacing && base < a+proto.PortSpacing {
				ok = false
			}
		}
		if ok && runtime.CheckPorts(base) == nil {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

// Spec is a running tenant of owner u1 on port, in trusted-proxy mode,
// with small limits.
func Spec(id string, port int) proto.TenantSpec {
	return proto.TenantSpec{
		ID: id, Slug: strings.TrimPrefix(id, "ten_"), Owner: "u1", State: proto.TenantRunning,
		Port: port, CPUMillis: 500, MemoryBytes: 512 << 20, PidsLimit: 256,
		GatewayToken:   "tok-" + id + "-0123456789",
		AllowedOrigins: []string{"https://" + strings.TrimPrefix(id, "ten_") + ".example.com"},
	}
}

// NetnsPool is the network namespace pool of the runtime tests, apart from
// the default one an agent on this host may use.
const NetnsPool = "10.232.0.0/16"

// Get fetches http://addr/path as the tunnel forwarder would (from the
// gateway's trusted proxy address) with the given headers ("Name: value").
func Get(addr, path string, headers ...string) (int, string, error) {
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

// Proxied are the headers the cloud's router sends for user u1.
var Proxied = []string{proto.UserHeader + ": u1", "X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https", "X-Forwarded-Host: t.example.com"}

// Upstream returns the instance's upstream as List reports it.
func Upstream(t testing.TB, rt runtime.Runtime, id string) string {
	t.Helper()
	list, err := rt.List(Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	in, ok := Find(list, id)
	if !ok || in.Upstream == "" {
		t.Fatalf("%s: no upstream in %+v", id, list)
	}
	return in.Upstream
}

// WaitReady probes like the agent: /readyz at the upstream, naming a
// non-loopback client.
func WaitReady(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	tstest.AwaitErr(t, fmt.Sprintf("/readyz at %s", addr), timeout, func() error {
		code, _, err := Get(addr, "/readyz", "X-Forwarded-For: "+runtime.ProbeForwardedFor)
		if err != nil {
			return err
		}
		if code != 200 {
			return fmt.Errorf("status %d", code)
		}
		return nil
	})
}

// WaitDown waits until nothing answers at addr.
func WaitDown(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	tstest.AwaitErr(t, fmt.Sprintf("%s to close", addr), timeout, func() error {
		// Once a tenant's namespace is gone its address is no longer on any
		// link here: asking it would send the request off this machine
		// (where a network may even answer), so that counts as closed.
		if !onLocalLink(addr) {
			return nil
		}
		if _, _, err := Get(addr, "/healthz"); err == nil {
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

// Logger logs to the test's log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// Find returns the instance of tenant id in list.
func Find(list []runtime.Instance, id string) (runtime.Instance, bool) {
	for _, in := range list {
		if in.TenantID == id {
			return in, true
		}
	}
	return runtime.Instance{}, false
}

// Ctx is a context for one step of a test: a minute at most.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// RequireRoot skips a test that needs root for what, or fails it under CI
// (which runs as root, so a skip there would hide a broken set-up).
func RequireRoot(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal(what + ": root needed in CI")
		}
		t.Skip(what + ": root needed")
	}
}

// RealOpenClaw returns the value of env naming the real OpenClaw gateway
// (a binary or an image); without it the test is skipped, or fails in CI.
func RealOpenClaw(t testing.TB, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must test the real OpenClaw gateway", env)
		}
		t.Skipf("%s not set: skipping the real OpenClaw gateway test", env)
	}
	return v
}

// ProbeTimed waits for /readyz the way the agent probes and returns how
// long it took from start.
func ProbeTimed(t testing.TB, addr string, start time.Time) time.Duration {
	t.Helper()
	WaitReady(t, addr, 90*time.Second)
	return time.Since(start)
}
