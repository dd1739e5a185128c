//go:build linux

package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRealOpenClawProcess runs the real OpenClaw gateway through the
// process runtime. It is skipped unless CLAWFLEET_REAL_OPENCLAW_BIN names an
// executable running the OpenClaw CLI (e.g. a wrapper that execs node on
// openclaw.mjs) that the tenant user (nobody when root) can run. Set
// CLAWFLEET_REAL_OPENCLAW_TENANTS=2 to run two gateways side by side.
func TestRealOpenClawProcess(t *testing.T) {
	bin := os.Getenv("CLAWFLEET_REAL_OPENCLAW_BIN")
	if bin == "" {
		t.Skip("CLAWFLEET_REAL_OPENCLAW_BIN not set")
	}
	dataDir := filepath.Join(worldDir(t), "tenants")
	p, err := NewProcess(ProcessOptions{OpenClawBin: bin, DataDir: dataDir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := ctxT(t)
	ids := []string{"ten_realclaw01"}
	if os.Getenv("CLAWFLEET_REAL_OPENCLAW_TENANTS") == "2" {
		ids = append(ids, "ten_realclaw02")
	}
	var ports []int
	start := time.Now()
	for _, id := range ids {
		s := testSpec(id, freeBase(t, ports...))
		ports = append(ports, s.Port)
		if err := p.Ensure(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range ids {
		waitFor(t, 90*time.Second, id+" /readyz", func() error {
			code, _, err := get(ports[i], "/readyz")
			if err == nil && code != 200 {
				return os.ErrNotExist
			}
			return err
		})
		t.Logf("%s ready on %d after %s", id, ports[i], time.Since(start).Round(100*time.Millisecond))
		cfg, _ := os.ReadFile(filepath.Join(dataDir, id, procConfigFile))
		t.Logf("%s config:\n%s", id, cfg)
		code, body, err := get(ports[i], "/")
		t.Logf("%s GET / = %d (%d bytes) %v", id, code, len(body), err)
		logs, err := p.Logs(ctx, id, 15)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s logs:\n%s", id, strings.Join(logs, "\n"))
		if st, err := os.Stat(filepath.Join(dataDir, id, procLogFile)); err != nil || st.Size() == 0 {
			t.Errorf("%s: the gateway did not write its own log file: %v", id, err)
		}
		for _, other := range ids {
			if other != id && strings.Contains(strings.Join(logs, "\n"), other) {
				t.Errorf("%s's logs mention %s", id, other)
			}
		}
	}
	list, _ := p.List(ctx)
	t.Logf("List: %+v", list)
}

// TestRealOpenClawDocker runs the real OpenClaw gateway image (e.g. one
// built by testdata/build-openclaw-image.sh) through the docker runtime.
// Skipped unless CLAWFLEET_REAL_OPENCLAW_IMAGE names the image.
func TestRealOpenClawDocker(t *testing.T) {
	image := os.Getenv("CLAWFLEET_REAL_OPENCLAW_IMAGE")
	if image == "" {
		t.Skip("CLAWFLEET_REAL_OPENCLAW_IMAGE not set")
	}
	dataDir := filepath.Join(worldDir(t), "tenants")
	d := newTestDocker(t, dataDir)
	ctx := ctxT(t)
	s := testSpec("ten_realdock01", freeBase(t))
	s.Image, s.MemoryBytes, s.CPUMillis, s.PidsLimit = image, 2<<30, 2000, 512
	t.Cleanup(func() { d.Purge(context.Background(), s.ID) })
	start := time.Now()
	if err := d.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	t.Logf("container created and started in %s", time.Since(start).Round(10*time.Millisecond))
	waitFor(t, 90*time.Second, "/readyz", func() error {
		code, _, err := get(s.Port, "/readyz")
		if err == nil && code != 200 {
			return os.ErrNotExist
		}
		return err
	})
	t.Logf("ready on 127.0.0.1:%d after %s", s.Port, time.Since(start).Round(100*time.Millisecond))
	code, body, err := get(s.Port, "/")
	t.Logf("GET / = %d (%d bytes) %v", code, len(body), err)
	if code != 200 {
		t.Fatal("control UI not served")
	}
	cfg, _ := os.ReadFile(filepath.Join(dataDir, s.ID, "state", dockerConfigFile))
	t.Logf("config:\n%s", cfg)
	logs, err := d.Logs(ctx, s.ID, 12)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("logs:\n%s", strings.Join(logs, "\n"))
	if st, err := os.Stat(filepath.Join(dataDir, s.ID, "state", dockerLogFile)); err != nil || st.Size() == 0 {
		t.Errorf("gateway log file not written: %v", err)
	}
	list, _ := d.List(ctx)
	t.Logf("List: %+v", list)
}
