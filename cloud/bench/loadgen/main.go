// Command loadgen drives N simulated agents against a real clawfleet-cloud
// process and prints what the cloud sustains: connect rate, heartbeats
// ingested per second, publish→store latency (p50/p99), cloud CPU and RSS,
// and how long all agents take to come back after a cloud restart.
//
// Every simulated agent is the real agent/link code (paho MQTT, register,
// heartbeats, full-jitter reconnect backoff) with a fixed metrics source; the
// agents are spread over many loopback source addresses (127.0.0.0/8), as
// real agents come from many addresses. Only loopback is ever contacted.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/clawfleet/clawfleet/agent/link"
	"github.com/clawfleet/clawfleet/cloud/bench/benchutil"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

type options struct {
	agents      int
	interval    time.Duration
	measure     time.Duration
	cloudBin    string
	sourceIPs   int
	restart     bool
	databaseURL string
	workers     int
	keepData    bool
	pprofDir    string
	cloudEnv    envList
}

// envList is a repeatable KEY=VALUE flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }
func (e *envList) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("%q: want KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

func main() {
	var o options
	flag.IntVar(&o.agents, "agents", 10000, "simulated agents")
	flag.DurationVar(&o.interval, "interval", 5*time.Second, "heartbeat interval")
	flag.DurationVar(&o.measure, "measure", 60*time.Second, "measurement window once all agents are connected")
	flag.StringVar(&o.cloudBin, "cloud", "bin/clawfleet-cloud", "clawfleet-cloud binary to start")
	flag.IntVar(&o.sourceIPs, "source-ips", 200, "loopback source addresses to spread agents over (127.0.1.1 ...)")
	flag.BoolVar(&o.restart, "restart", true, "restart the cloud and time the reconnection")
	flag.StringVar(&o.databaseURL, "database-url", "", "postgres:// DSN for the cloud (default: SQLite in a temp dir)")
	flag.IntVar(&o.workers, "provision-workers", 8, "parallel device provisioning requests")
	flag.BoolVar(&o.keepData, "keep-data", false, "keep the cloud's temp data dir")
	flag.Var(&o.cloudEnv, "cloud-env", "KEY=VALUE in the cloud's environment only (repeatable), e.g. GOMEMLIMIT=520MiB")
	flag.StringVar(&o.pprofDir, "pprof-dir", "", "write the cloud's CPU profile over the window and its heap and goroutine profiles at its end here")
	flag.Parse()
	// GOGC and GOMEMLIMIT in the environment are meant for the cloud (the
	// child inherits them); the loadgen's own 10,000s of simulated agents
	// run with the runtime's defaults.
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func raiseNoFile() uint64 {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) == nil {
		r.Cur = r.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
	return r.Cur
}

type fixedMetrics struct{ m proto.Metrics }

func (f fixedMetrics) Sample(context.Context) (proto.Metrics, error) { return f.m, nil }

func provision(ctx context.Context, c *benchutil.Cloud, n, workers int) ([]*creds.Credentials, error) {
	out := make([]*creds.Credentials, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("sim-%05d", i)})
				req, _ := http.NewRequestWithContext(ctx, "POST", c.URL("/api/admin/devices"), bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+c.AdminToken)
				resp, err := client.Do(req)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var cr creds.Credentials
				if resp.StatusCode != 201 || json.Unmarshal(b, &cr) != nil {
					once.Do(func() { firstErr = fmt.Errorf("provision: %d %s", resp.StatusCode, b) })
					return
				}
				out[i] = &cr
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

func run(ctx context.Context, o options) error {
	nofile := raiseNoFile()
	if uint64(o.agents)+200 > nofile {
		return fmt.Errorf("%d agents need more file descriptors than this process may open (%d)", o.agents, nofile)
	}
	dir, err := os.MkdirTemp("", "clawfleet-loadgen-")
	if err != nil {
		return err
	}
	if !o.keepData {
		defer os.RemoveAll(dir)
	}
	logf, err := os.Create(filepath.Join(dir, "cloud.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	env := append([]string{"CLAWFLEET_HEARTBEAT_INTERVAL=" + o.interval.String()}, o.cloudEnv...)
	pprofAddr := ""
	if o.pprofDir != "" {
		if err := os.MkdirAll(o.pprofDir, 0o755); err != nil {
			return err
		}
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", benchutil.FreePort())
		env = append(env, "CLAWFLEET_PPROF_ADDR="+pprofAddr)
	}
	c := &benchutil.Cloud{Bin: o.cloudBin, DataDir: dir, AdminToken: creds.NewToken("cfa_"), DatabaseURL: o.databaseURL,
		Env: env, Log: logf}
	if err := c.Start(ctx); err != nil {
		return err
	}
	defer c.Stop()
	store := "SQLite"
	if o.databaseURL != "" {
		store = "PostgreSQL"
	}
	fmt.Printf("clawfleet load test: %d agents, heartbeat %s, store %s, %d loopback source addresses, cloud log %s\n",
		o.agents, o.interval, store, o.sourceIPs, logf.Name())

	t0 := time.Now()
	cs, err := provision(ctx, c, o.agents, o.workers)
	if err != nil {
		return err
	}
	fmt.Printf("provisioned %d devices in %s (%.0f/s)\n", o.agents, time.Since(t0).Round(time.Millisecond), float64(o.agents)/time.Since(t0).Seconds())

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	metrics := fixedMetrics{proto.Metrics{CPUPercent: 12.5, MemUsedBytes: 1 << 30, MemTotalBytes: 4 << 30, DiskUsedBytes: 10 << 30, DiskTotalBytes: 100 << 30, Load1: 0.4}}
	agentsCtx, stopAgents := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopAgents(); wg.Wait() }()
	t0 = time.Now()
	for i, cr := range cs {
		src := &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i%o.sourceIPs/250), byte(1+i%o.sourceIPs%250))}
		l, err := link.New(link.Options{
			Creds: cr, BrokerURL: c.MQTTURL(), HeartbeatInterval: o.interval,
			Metrics: metrics, Logger: quiet, Dialer: &net.Dialer{LocalAddr: src, Timeout: 10 * time.Second},
			Register: func(context.Context) proto.Register {
				return proto.Register{Hostname: cr.DeviceID, OS: "linux", Arch: "amd64", CPUs: 2, MemTotalBytes: 4 << 30, AgentVersion: "loadgen"}
			},
		})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); l.Run(agentsCtx) }()
		// Pace the starts (100 agents per 10 ms, ~1 s for 10,000) so the
		// loadgen's own dialing is not the bottleneck.
		if i%100 == 99 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	connected := func(want float64) (time.Duration, error) {
		start := time.Now()
		for {
			m, err := benchutil.Scrape(c.URL("/metrics"))
			if err == nil && m["clawfleet_agents_connected"] >= want {
				return time.Since(start), nil
			}
			if time.Since(start) > 5*time.Minute {
				return 0, fmt.Errorf("only %.0f of %.0f agents connected after 5 minutes", m["clawfleet_agents_connected"], want)
			}
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	if _, err := connected(float64(o.agents)); err != nil {
		return err
	}
	connectTime := time.Since(t0)
	fmt.Printf("all %d agents connected in %s (%.0f connections/s)\n", o.agents, connectTime.Round(time.Millisecond), float64(o.agents)/connectTime.Seconds())

	// Let the first heartbeat round settle, then measure.
	time.Sleep(o.interval + 2*time.Second)
	pid := c.Cmd.Process.Pid
	before, err := benchutil.Scrape(c.URL("/metrics"))
	if err != nil {
		return err
	}
	cpu0, _ := benchutil.Usage(pid)
	tm0 := time.Now()
	var profWG sync.WaitGroup
	if pprofAddr != "" {
		profWG.Add(1)
		go func() {
			defer profWG.Done()
			benchutil.SaveProfile(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, int(o.measure.Seconds())), filepath.Join(o.pprofDir, "cloud-cpu.pprof"))
		}()
	}
	var maxRSS uint64
	for time.Since(tm0) < o.measure {
		if _, rss := benchutil.Usage(pid); rss > maxRSS {
			maxRSS = rss
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	after, err := benchutil.Scrape(c.URL("/metrics"))
	if err != nil {
		return err
	}
	cpu1, rss := benchutil.Usage(pid)
	dt := time.Since(tm0).Seconds()
	load, _ := os.ReadFile("/proc/loadavg")
	if pprofAddr != "" {
		for _, p := range []string{"heap", "goroutine"} {
			benchutil.SaveProfile(fmt.Sprintf("http://%s/debug/pprof/%s", pprofAddr, p), filepath.Join(o.pprofDir, "cloud-"+p+".pprof"))
		}
		profWG.Wait()
	}
	hb := after["clawfleet_heartbeats_received_total"] - before["clawfleet_heartbeats_received_total"]
	dropped := after["clawfleet_device_messages_dropped_total"] - before["clawfleet_device_messages_dropped_total"]
	p50 := benchutil.HistogramQuantile(0.50, before, after, "clawfleet_heartbeat_store_latency_seconds")
	p99 := benchutil.HistogramQuantile(0.99, before, after, "clawfleet_heartbeat_store_latency_seconds")
	flushP50 := benchutil.HistogramQuantile(0.50, before, after, "clawfleet_heartbeat_flush_seconds")
	flushP99 := benchutil.HistogramQuantile(0.99, before, after, "clawfleet_heartbeat_flush_seconds")
	fmt.Printf("\n| figure | value |\n|---|---|\n")
	fmt.Printf("| agents connected | %.0f |\n", after["clawfleet_agents_connected"])
	fmt.Printf("| connect rate | %.0f connections/s (all in %s) |\n", float64(o.agents)/connectTime.Seconds(), connectTime.Round(time.Millisecond))
	fmt.Printf("| heartbeats ingested | %.0f/s (expected %.0f/s) |\n", hb/dt, float64(o.agents)/o.interval.Seconds())
	fmt.Printf("| heartbeats dropped | %.0f |\n", dropped)
	fmt.Printf("| publish → store latency | p50 %.0f ms, p99 %.0f ms |\n", p50*1000, p99*1000)
	fmt.Printf("| batch write (one flush) | p50 %.1f ms, p99 %.1f ms |\n", flushP50*1000, flushP99*1000)
	fmt.Printf("| cloud CPU | %.2f cores (average over %.0f s) |\n", (cpu1-cpu0)/dt, dt)
	fmt.Printf("| cloud RSS | %.0f MiB now, %.0f MiB max |\n", float64(rss)/(1<<20), float64(max(rss, maxRSS))/(1<<20))
	mib := func(name string) float64 { return after[name] / (1 << 20) }
	fmt.Printf("| cloud Go runtime | %.0f goroutines; stacks %.0f MiB, heap in use %.0f MiB, allocated %.0f MiB, next GC at %.0f MiB; from the OS %.0f MiB |\n",
		after["go_goroutines"], mib("go_memstats_stack_inuse_bytes"), mib("go_memstats_heap_inuse_bytes"),
		mib("go_memstats_heap_alloc_bytes"), mib("go_memstats_next_gc_bytes"), mib("go_memstats_sys_bytes"))
	if f := strings.Fields(string(load)); len(f) >= 3 {
		fmt.Printf("| machine load average | %s %s %s (%d CPUs) |\n", f[0], f[1], f[2], runtime.NumCPU())
	}

	if o.restart {
		fmt.Printf("\nrestarting the cloud...\n")
		c.Stop()
		tr := time.Now()
		if err := c.Start(ctx); err != nil {
			return err
		}
		up := time.Since(tr)
		back, err := connected(float64(o.agents))
		if err != nil {
			return err
		}
		fmt.Printf("| cloud restart: process up again | %s |\n", up.Round(time.Millisecond))
		fmt.Printf("| cloud restart: all %d agents reconnected | %s after it was up (%s after stop) |\n", o.agents, back.Round(time.Millisecond), time.Since(tr).Round(time.Millisecond))
		// Every host should be online in the store: registration rewrites it.
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			m, _ := benchutil.Scrape(c.URL("/metrics"))
			if m[`clawfleet_hosts{status="online"}`] >= float64(o.agents) && m["clawfleet_registrations_total"] >= float64(o.agents) {
				fmt.Printf("| cloud restart: all registered again | %s after stop |\n", time.Since(tr).Round(time.Millisecond))
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}
