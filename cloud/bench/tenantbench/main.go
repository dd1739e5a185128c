// Command tenantbench measures how long a tenant takes from
// POST /api/tenants to "running": N tenants created in parallel against a
// real clawfleet-cloud and clawfleet-agent (process or docker runtime), with
// the stand-in gateway or the real OpenClaw gateway. It also times the
// gateway alone (started directly, no clawfleet involved), so the platform's
// own overhead is the difference. Only loopback is contacted.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime/docker/engine"
	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
	"github.com/clawfleet/clawfleet/cloud/bench/benchutil"
	"github.com/clawfleet/clawfleet/pkg/creds"
)

type options struct {
	tenants                              int
	runtime, openclawBin                 string
	image                                string
	cloudBin, agentBin                   string
	cpuMillis                            int
	memory                               string
	timeout                              time.Duration
	baseline                             int
	warm, keep                           bool
	agentLog, agentProfile, cloudProfile string
	cloudLog                             string
}

const secret = "tenantbench-shared-secret-0123456789"

func main() {
	var o options
	flag.IntVar(&o.tenants, "tenants", 20, "tenants created in parallel (one user each)")
	flag.StringVar(&o.runtime, "runtime", "process", "agent runtime: process or docker")
	flag.StringVar(&o.openclawBin, "openclaw-bin", "bin/standin", "gateway executable for the process runtime (bin/standin, or the real openclaw wrapper)")
	flag.StringVar(&o.image, "image", "clawfleet/standin:test", "gateway image for the docker runtime")
	flag.StringVar(&o.cloudBin, "cloud", "bin/clawfleet-cloud", "cloud binary")
	flag.StringVar(&o.agentBin, "agent", "bin/clawfleet-agent", "agent binary")
	flag.IntVar(&o.cpuMillis, "cpu", 250, "plan CPU per tenant, millicores")
	flag.StringVar(&o.memory, "memory", "1GiB", "plan memory per tenant")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up waiting for running after this")
	flag.IntVar(&o.baseline, "baseline", 3, "times to start the gateway alone (process runtime) for the overhead figure; 0 = skip")
	flag.BoolVar(&o.warm, "warm", true, "process runtime: create and delete one tenant first and wait for the agent's spare disk images, as on a worker that has run tenants of the plan before (false: a fresh agent)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (the cloud's and the agent's logs, their state) and print where it is")
	flag.StringVar(&o.cloudLog, "cloud-log", "warn", "the cloud's log level (its log is cloud.log in the temporary directory: see -keep)")
	flag.StringVar(&o.agentLog, "agent-log", "warn", "the agent's log level (its log is kept in a temporary directory, printed at the end when not warn)")
	flag.StringVar(&o.agentProfile, "agent-profile", "", "write a CPU profile of the agent during the burst to this file (pprof on 127.0.0.1:6061)")
	flag.StringVar(&o.cloudProfile, "cloud-profile", "", "write a CPU profile of the cloud during the burst to this file (pprof on 127.0.0.1:6062)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "tenantbench:", err)
		os.Exit(1)
	}
}

var call = benchutil.Call

func userHdr(u string) map[string]string {
	return map[string]string{"X-User-ID": u, "X-Shared-Secret": secret, "Content-Type": "application/json"}
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "clawfleet-tenantbench-")
	if err != nil {
		return err
	}
	if o.keep {
		defer fmt.Printf("tenantbench: kept %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	os.Chmod(dir, 0o711) // process-runtime gateways run unprivileged and pass through it
	logf, err := os.Create(filepath.Join(dir, "cloud.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	image := o.image
	if o.runtime == "process" {
		image = "unused"
	}
	plans := filepath.Join(dir, "plans.yaml")
	os.WriteFile(plans, []byte(fmt.Sprintf("plans:\n  free:\n    cpuMillis: %d\n    memoryBytes: %s\n    image: %q\n", o.cpuMillis, o.memory, image)), 0o600)
	c := &benchutil.Cloud{Bin: o.cloudBin, DataDir: filepath.Join(dir, "cloud"), AdminToken: creds.NewToken("cfa_"), Log: logf,
		Env: []string{"CLAWFLEET_SHARED_SECRET=" + secret, "CLAWFLEET_PLANS_FILE=" + plans, "CLAWFLEET_HEARTBEAT_INTERVAL=2s", "CLAWFLEET_LOG_LEVEL=" + o.cloudLog}}
	if o.cloudProfile != "" {
		c.Env = append(c.Env, "CLAWFLEET_PPROF_ADDR=127.0.0.1:6062")
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	defer c.Stop()

	// One host: provision it and start its agent.
	args := []string{"--runtime", o.runtime, "--heartbeat", "2s"}
	if o.runtime == "process" {
		bin, err := filepath.Abs(o.openclawBin)
		if err != nil {
			return err
		}
		args = append(args, "--openclaw-bin", bin)
	}
	if o.agentProfile != "" {
		c.AgentEnv = append(c.AgentEnv, "CLAWFLEET_AGENT_PPROF_ADDR=127.0.0.1:6061")
	}
	agentLog := filepath.Join(dir, "agent.log")
	agent, err := c.StartAgent(ctx, o.agentBin, filepath.Join(dir, "agent"), agentLog, o.agentLog, args...)
	if err != nil {
		return err
	}
	defer benchutil.Stop(agent, 60*time.Second)
	if _, err := c.WaitHost(ctx, "online", func(h benchutil.Host) bool { return h.Status == "online" }); err != nil {
		return err
	}

	if o.warm && o.runtime == "process" {
		if _, err := createAndWait(ctx, c, "warmup", o.timeout, func() {}, nil); err != nil {
			return fmt.Errorf("warm-up tenant: %w", err)
		}
		call(ctx, "DELETE", c.URL("/api/tenants/me"), userHdr("warmup"), nil)
		n := waitSpares(ctx, filepath.Join(dir, "agent", "tenants"))
		fmt.Printf("tenantbench: warm agent (one tenant created and deleted first): %d spare disk images ready\n", n)
	}

	gw := o.openclawBin
	if o.runtime == "docker" {
		gw = o.image
		if o.image == runtimetest.StandinImage {
			d, err := engine.New("")
			if err != nil {
				return fmt.Errorf("docker runtime: %w", err)
			}
			if err := runtimetest.BuildStandinImage(ctx, d, o.openclawBin, o.image); err != nil {
				return fmt.Errorf("build %s from %s: %w", o.image, o.openclawBin, err)
			}
		}
	}
	// The gateway alone first (after one discarded warm-up start, so both
	// measurements find the files in the page cache): the part of the time
	// to running that is the gateway's own start-up.
	var baseP50 time.Duration
	var burst []time.Duration
	baseRuns := 0
	if o.runtime == "process" && o.baseline > 0 {
		if _, err := gatewayAlone(ctx, o.openclawBin, 1, filepath.Join(dir, "warmup")); err != nil {
			return fmt.Errorf("gateway alone: %w", err)
		}
		base, err := gatewayAlone(ctx, o.openclawBin, o.baseline, dir)
		if err != nil {
			return fmt.Errorf("gateway alone: %w", err)
		}
		baseP50 = benchutil.Percentile(base, 50)
		baseRuns = len(base)
		if burst, err = gatewaysAtOnce(ctx, o.openclawBin, o.tenants, filepath.Join(dir, "at-once")); err != nil {
			return fmt.Errorf("gateways alone at once: %w", err)
		}
	}
	fmt.Printf("tenantbench: %d tenants in parallel, %s runtime, gateway %s, plan %dm CPU / %s\n", o.tenants, o.runtime, gw, o.cpuMillis, o.memory)
	before, _ := benchutil.Scrape(c.URL("/metrics"))
	durations := make([]time.Duration, o.tenants)
	errs := make([]error, o.tenants)
	var wg sync.WaitGroup
	if o.agentProfile != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			benchutil.SaveProfile("http://127.0.0.1:6061/debug/pprof/profile?seconds=3", o.agentProfile)
		}()
	}
	if o.cloudProfile != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			benchutil.SaveProfile("http://127.0.0.1:6062/debug/pprof/profile?seconds=3", o.cloudProfile)
		}()
	}
	// Every user signed in with their status stream open first (a user's
	// first request makes their account and personal team), then all the
	// creations at once.
	var ready sync.WaitGroup
	ready.Add(o.tenants)
	gate := make(chan struct{})
	for i := range o.tenants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			durations[i], errs[i] = createAndWait(ctx, c, fmt.Sprintf("user%03d", i), o.timeout, ready.Done, gate)
		}()
	}
	ready.Wait()
	start := time.Now()
	close(gate)
	wg.Wait()
	wall := time.Since(start)
	after, _ := benchutil.Scrape(c.URL("/metrics"))
	var ok []time.Duration
	failures := 0
	for i, err := range errs {
		if err != nil {
			failures++
			fmt.Printf("  user%03d: %v\n", i, err)
			continue
		}
		ok = append(ok, durations[i])
	}
	fmt.Printf("\n| figure | value |\n|---|---|\n")
	fmt.Printf("| tenants running | %d of %d (errors: %d), all within %s |\n", len(ok), o.tenants, failures, wall.Round(time.Millisecond))
	fmt.Printf("| POST → running, seen by the user (its status stream) | p50 %s, p95 %s, max %s |\n",
		benchutil.Percentile(ok, 50).Round(time.Millisecond), benchutil.Percentile(ok, 95).Round(time.Millisecond), benchutil.Percentile(ok, 100).Round(time.Millisecond))
	fmt.Printf("| create → running, cloud's histogram (coarse buckets) | p50 %.0f ms, p95 %.0f ms |\n",
		1000*benchutil.HistogramQuantile(0.5, before, after, "clawfleet_tenant_start_seconds"), 1000*benchutil.HistogramQuantile(0.95, before, after, "clawfleet_tenant_start_seconds"))
	if baseRuns > 0 {
		fmt.Printf("| gateway alone: start → /readyz (%d runs, one at a time) | p50 %s |\n", baseRuns, baseP50.Round(time.Millisecond))
		fmt.Printf("| platform overhead (p50 POST → running − p50 gateway alone) | %s |\n", (benchutil.Percentile(ok, 50) - baseP50).Round(time.Millisecond))
		bp50 := benchutil.Percentile(burst, 50)
		fmt.Printf("| the same %d gateways alone, started at once: start → /readyz | p50 %s, max %s |\n", len(burst), bp50.Round(time.Millisecond), benchutil.Percentile(burst, 100).Round(time.Millisecond))
		fmt.Printf("| platform overhead against that (p50 POST → running − p50 of them) | %s |\n", (benchutil.Percentile(ok, 50) - bp50).Round(time.Millisecond))
	}

	// Clean up: delete every tenant and wait until the host has stopped
	// them (their ports closed), so the next run starts clean.
	var list []struct{ Port int }
	_, out, _ := call(ctx, "GET", c.URL("/api/admin/tenants"), c.Admin(), nil)
	json.Unmarshal(out, &list)
	for i := range o.tenants {
		call(ctx, "DELETE", c.URL("/api/tenants/me"), userHdr(fmt.Sprintf("user%03d", i)), nil)
	}
	for _, t := range list {
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", t.Port), 200*time.Millisecond)
			if err != nil {
				break
			}
			conn.Close()
		}
	}
	if o.agentLog != "warn" {
		if b, err := os.ReadFile(agentLog); err == nil {
			fmt.Printf("\n---- agent log ----\n%s", b)
		}
	}
	if failures > 0 {
		return fmt.Errorf("%d tenants did not reach running", failures)
	}
	return nil
}

// createAndWait opens user's status stream, calls opened, waits for gate
// (nil: none) and times POST /api/tenants → running as the stream tells it.
func createAndWait(ctx context.Context, c *benchutil.Cloud, user string, timeout time.Duration, opened func(), gate <-chan struct{}) (time.Duration, error) {
	var once sync.Once
	defer once.Do(opened) // also when the stream could not be opened
	// Seen as the console sees it: the user's status stream, opened first
	// (polling 20 users every 20 ms was 1,000 requests/s on the same cores).
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(sctx, "GET", c.URL("/api/tenants/events"), nil)
	if err != nil {
		return 0, err
	}
	for k, v := range userHdr(user) {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("status stream: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("status stream: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	next := func() (event, data string, err error) {
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "event: "):
				event = strings.TrimPrefix(l, "event: ")
			case strings.HasPrefix(l, "data: "):
				data = strings.TrimPrefix(l, "data: ")
			case l == "" && event != "":
				return event, data, nil
			}
		}
		if err := sc.Err(); err != nil {
			return "", "", err
		}
		return "", "", errors.New("status stream ended")
	}
	if ev, _, err := next(); err != nil || ev != "ready" {
		return 0, fmt.Errorf("status stream: %q %v", ev, err)
	}
	once.Do(opened)
	if gate != nil {
		<-gate
	}
	start := time.Now()
	code, out, err := call(ctx, "POST", c.URL("/api/tenants"), userHdr(user), map[string]string{"plan": "free", "name": user})
	if err != nil || code != 201 {
		return 0, fmt.Errorf("create: %d %s %v", code, out, err)
	}
	for {
		ev, data, err := next()
		if err != nil {
			return 0, fmt.Errorf("not running after %s: %w", time.Since(start).Round(time.Millisecond), err)
		}
		var t struct{ Status, LastError string }
		if ev != "tenant" || json.Unmarshal([]byte(data), &t) != nil {
			continue
		}
		if t.Status == "running" {
			return time.Since(start), nil
		}
		if t.Status == "failed" {
			return 0, fmt.Errorf("failed: %s", t.LastError)
		}
	}
}

// gatewayAlone starts the gateway directly (token auth, loopback) n times, one
// at a time, and times start → /readyz.
func gatewayAlone(ctx context.Context, bin string, n int, dir string) ([]time.Duration, error) {
	var out []time.Duration
	for i := range n {
		d, err := startAlone(ctx, bin, filepath.Join(dir, fmt.Sprintf("alone-%d", i)))
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// gatewaysAtOnce starts n gateways directly at the same moment, as a burst
// would without the platform, and times each start → /readyz.
func gatewaysAtOnce(ctx context.Context, bin string, n int, dir string) ([]time.Duration, error) {
	out := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = startAlone(ctx, bin, filepath.Join(dir, fmt.Sprintf("once-%d", i)))
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// startAlone starts one gateway with its home in home, waits for /readyz
// and stops it.
func startAlone(ctx context.Context, bin, home string) (time.Duration, error) {
	port := benchutil.FreePort()
	os.MkdirAll(filepath.Join(home, "state"), 0o700)
	cfg := filepath.Join(home, "config.json")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`{"gateway":{"mode":"local","port":%d,"bind":"loopback","auth":{"mode":"token","token":"benchtoken0123456789"}},"logging":{"file":%q}}`, port, filepath.Join(home, "gateway.log"))), 0o600)
	cmd := exec.Command(bin, "gateway", "--port", strconv.Itoa(port))
	// OpenClaw re-executes itself as "openclaw-gateway": stop the whole
	// process group, not just the child we started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = []string{"HOME=" + home, "OPENCLAW_STATE_DIR=" + filepath.Join(home, "state"), "OPENCLAW_CONFIG_PATH=" + cfg, "XDG_CACHE_HOME=" + filepath.Join(home, "cache"), "PATH=/usr/local/bin:/usr/bin:/bin"}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	ready := false
	for time.Since(start) < 3*time.Minute && ctx.Err() == nil {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				ready = true
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	d := time.Since(start)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	benchutil.Stop(cmd, 15*time.Second)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if !ready {
		return 0, errors.New("gateway alone never became ready")
	}
	return d, nil
}

// waitSpares waits (up to a minute) until the agent's spare disk images in
// dir stop increasing for 3 s, and returns how many there are.
func waitSpares(ctx context.Context, dir string) int {
	count := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, ".spare-[0-9]*.img"))
		return len(m)
	}
	last, since := -1, time.Now()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(100 * time.Millisecond) {
		if n := count(); n != last {
			last, since = n, time.Now()
		} else if n > 0 && time.Since(since) > 3*time.Second {
			break
		}
	}
	return last
}
