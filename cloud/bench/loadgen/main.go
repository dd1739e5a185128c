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
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/clawfleet/clawfleet/agent/link"
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
	flag.Parse()
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

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type cloudProc struct {
	bin, dataDir, token, dbURL string
	httpPort, mqttPort         int
	interval                   time.Duration
	cmd                        *exec.Cmd
	log                        *os.File
}

func (c *cloudProc) url(p string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", c.httpPort, p) }

func (c *cloudProc) start(ctx context.Context) error {
	c.cmd = exec.Command(c.bin)
	c.cmd.Env = append(os.Environ(),
		"CLAWFLEET_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(c.httpPort),
		"CLAWFLEET_MQTT_ADDR=127.0.0.1:"+strconv.Itoa(c.mqttPort),
		"CLAWFLEET_DATA_DIR="+c.dataDir,
		"CLAWFLEET_DATABASE_URL="+c.dbURL,
		"CLAWFLEET_ADMIN_TOKEN="+c.token,
		"CLAWFLEET_HEARTBEAT_INTERVAL="+c.interval.String(),
		"CLAWFLEET_LOG_LEVEL=warn",
	)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.bin, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(c.url("/api/health")); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("cloud not healthy after 60 s; see its log")
}

func (c *cloudProc) stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// usage reads the process's CPU seconds and RSS from /proc.
func usage(pid int) (cpuSeconds float64, rssBytes uint64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		cpuSeconds = (ut + st) / 100 // USER_HZ
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseUint(strings.Fields(v)[0], 10, 64)
				rssBytes = kb * 1024
			}
		}
	}
	return
}

// scrape returns every sample of /metrics by its full name with labels.
func scrape(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// quantile estimates a quantile from the difference of two scrapes of a
// Prometheus histogram, interpolating linearly inside the bucket.
func quantile(q float64, before, after map[string]float64, name string) float64 {
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k, v := range after {
		rest, ok := strings.CutPrefix(k, name+`_bucket{le="`)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
		if err != nil {
			le = math.Inf(1)
		}
		bs = append(bs, bucket{le, v - before[k]})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	if len(bs) == 0 || bs[len(bs)-1].n == 0 {
		return math.NaN()
	}
	total := bs[len(bs)-1].n
	rank := q * total
	prevLe, prevN := 0.0, 0.0
	for _, b := range bs {
		if b.n >= rank {
			if math.IsInf(b.le, 1) {
				return prevLe
			}
			if b.n == prevN {
				return b.le
			}
			return prevLe + (b.le-prevLe)*(rank-prevN)/(b.n-prevN)
		}
		prevLe, prevN = b.le, b.n
	}
	return bs[len(bs)-1].le
}

type fixedMetrics struct{ m proto.Metrics }

func (f fixedMetrics) Sample(context.Context) (proto.Metrics, error) { return f.m, nil }

func provision(ctx context.Context, c *cloudProc, n, workers int) ([]*creds.Credentials, error) {
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
				req, _ := http.NewRequestWithContext(ctx, "POST", c.url("/api/admin/devices"), bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+c.token)
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
	c := &cloudProc{bin: o.cloudBin, dataDir: dir, token: creds.NewToken("cfa_"), dbURL: o.databaseURL,
		httpPort: freePort(), mqttPort: freePort(), interval: o.interval, log: logf}
	if err := c.start(ctx); err != nil {
		return err
	}
	defer c.stop()
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
			Creds: cr, BrokerURL: fmt.Sprintf("tcp://127.0.0.1:%d", c.mqttPort), HeartbeatInterval: o.interval,
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
		// Spread the start over ~10 s like a fleet that boots at once, but
		// without making the loadgen itself the bottleneck.
		if i%100 == 99 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	connected := func(want float64) (time.Duration, error) {
		start := time.Now()
		for {
			m, err := scrape(c.url("/metrics"))
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
	pid := c.cmd.Process.Pid
	before, err := scrape(c.url("/metrics"))
	if err != nil {
		return err
	}
	cpu0, _ := usage(pid)
	tm0 := time.Now()
	var maxRSS uint64
	for time.Since(tm0) < o.measure {
		if _, rss := usage(pid); rss > maxRSS {
			maxRSS = rss
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	after, err := scrape(c.url("/metrics"))
	if err != nil {
		return err
	}
	cpu1, rss := usage(pid)
	dt := time.Since(tm0).Seconds()
	hb := after["clawfleet_heartbeats_received_total"] - before["clawfleet_heartbeats_received_total"]
	dropped := after["clawfleet_device_messages_dropped_total"] - before["clawfleet_device_messages_dropped_total"]
	p50 := quantile(0.50, before, after, "clawfleet_heartbeat_store_latency_seconds")
	p99 := quantile(0.99, before, after, "clawfleet_heartbeat_store_latency_seconds")
	flushP50 := quantile(0.50, before, after, "clawfleet_heartbeat_flush_seconds")
	flushP99 := quantile(0.99, before, after, "clawfleet_heartbeat_flush_seconds")
	fmt.Printf("\n| figure | value |\n|---|---|\n")
	fmt.Printf("| agents connected | %.0f |\n", after["clawfleet_agents_connected"])
	fmt.Printf("| connect rate | %.0f connections/s (all in %s) |\n", float64(o.agents)/connectTime.Seconds(), connectTime.Round(time.Millisecond))
	fmt.Printf("| heartbeats ingested | %.0f/s (expected %.0f/s) |\n", hb/dt, float64(o.agents)/o.interval.Seconds())
	fmt.Printf("| heartbeats dropped | %.0f |\n", dropped)
	fmt.Printf("| publish → store latency | p50 %.0f ms, p99 %.0f ms |\n", p50*1000, p99*1000)
	fmt.Printf("| batch write (one flush) | p50 %.1f ms, p99 %.1f ms |\n", flushP50*1000, flushP99*1000)
	fmt.Printf("| cloud CPU | %.2f cores (average over %.0f s) |\n", (cpu1-cpu0)/dt, dt)
	fmt.Printf("| cloud RSS | %.0f MiB now, %.0f MiB max |\n", float64(rss)/(1<<20), float64(max(rss, maxRSS))/(1<<20))

	if o.restart {
		fmt.Printf("\nrestarting the cloud...\n")
		c.stop()
		tr := time.Now()
		if err := c.start(ctx); err != nil {
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
			m, _ := scrape(c.url("/metrics"))
			if m[`clawfleet_hosts{status="online"}`] >= float64(o.agents) && m["clawfleet_registrations_total"] >= float64(o.agents) {
				fmt.Printf("| cloud restart: all registered again | %s after stop |\n", time.Since(tr).Round(time.Millisecond))
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}
