package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
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

// get fetches http://127.0.0.1:port/path and returns status and body.
func get(port int, path string) (int, string, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
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

func waitReady(t *testing.T, port int, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("/readyz on port %d", port), func() error {
		code, _, err := get(port, "/readyz")
		if err != nil {
			return err
		}
		if code != 200 {
			return fmt.Errorf("status %d", code)
		}
		return nil
	})
}

func waitDown(t *testing.T, port int, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("port %d to close", port), func() error {
		if _, _, err := get(port, "/healthz"); err == nil {
			return fmt.Errorf("still answering")
		}
		return nil
	})
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
