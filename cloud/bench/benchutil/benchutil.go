// Package benchutil holds what the benchmark commands share: starting a real
// clawfleet-cloud process on loopback, reading its /metrics and /proc
// figures, and summarising samples.
package benchutil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// FreePort returns a port that was free a moment ago, outside the range
// other processes are given for port 0 (tstest.FreePort says why).
func FreePort() int {
	p, err := tstest.PickPort()
	if err != nil {
		panic(err)
	}
	return p
}

// Cloud is a clawfleet-cloud child process on loopback ports.
type Cloud struct {
	Bin, DataDir, AdminToken, DatabaseURL string
	HTTPPort, MQTTPort                    int
	// Env is added to the process environment (CLAWFLEET_* settings); a
	// key set here wins over Start's loopback defaults (exec keeps the last).
	Env []string
	// AgentPrefix is a command StartAgent runs the agent under, e.g.
	// nsenter --net=/run/netns/NAME (it must exec the agent, keeping its pid).
	AgentPrefix []string
	// AgentEnv is added to the environment of the agents StartAgent starts.
	AgentEnv []string
	Log      *os.File
	Cmd      *exec.Cmd
}

// URL returns the cloud's HTTP URL for path.
func (c *Cloud) URL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", c.HTTPPort, path)
}

// MQTTURL is the broker's URL.
func (c *Cloud) MQTTURL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", c.MQTTPort) }

// Environ is the cloud's environment: this process's, Start's loopback
// defaults, then Env (a later entry wins, as exec keeps the last). It picks
// the ports when they are not set yet.
func (c *Cloud) Environ() []string {
	if c.HTTPPort == 0 {
		c.HTTPPort, c.MQTTPort = FreePort(), FreePort()
	}
	return append(append(os.Environ(),
		"CLAWFLEET_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(c.HTTPPort),
		"CLAWFLEET_INTERNAL_UPSTREAM_ADDR=127.0.0.1:0",
		"CLAWFLEET_MQTT_ADDR=127.0.0.1:"+strconv.Itoa(c.MQTTPort),
		"CLAWFLEET_WG_ADDR=127.0.0.1:0",
		"CLAWFLEET_DATA_DIR="+c.DataDir,
		"CLAWFLEET_DATABASE_URL="+c.DatabaseURL,
		"CLAWFLEET_ADMIN_TOKEN="+c.AdminToken,
		"CLAWFLEET_LOG_LEVEL=warn",
	), c.Env...)
}

// Start runs the cloud and waits (60 s at most) for /api/health.
func (c *Cloud) Start(ctx context.Context) error {
	c.Cmd = exec.Command(c.Bin)
	c.Cmd.Env = c.Environ()
	c.Cmd.Stdout, c.Cmd.Stderr = c.Log, c.Log
	if err := c.Cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.Bin, err)
	}
	return c.WaitHealthy(ctx)
}

// WaitHealthy polls /api/health until it answers 200 (60 s at most).
func (c *Cloud) WaitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(c.URL("/api/health")); err == nil {
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

// Stop ends the cloud with SIGTERM (SIGKILL after 20 s).
func (c *Cloud) Stop() {
	Stop(c.Cmd, 20*time.Second)
}

// Stop signals a child with SIGTERM and kills it after grace.
func Stop(cmd *exec.Cmd, grace time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Usage reads a process's CPU seconds and RSS from /proc.
func Usage(pid int) (cpuSeconds float64, rssBytes uint64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		cpuSeconds = (ut + st) / 100 // USER_HZ is 100 on Linux
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

// Scrape returns every sample of a /metrics page by its name with labels.
func Scrape(url string) (map[string]float64, error) {
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

// HistogramQuantile estimates a quantile from the difference of two scrapes
// of a Prometheus histogram, interpolating linearly inside the bucket.
func HistogramQuantile(q float64, before, after map[string]float64, name string) float64 {
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
	rank := q * bs[len(bs)-1].n
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

// Percentile returns the p-th percentile (0-100, nearest rank) of ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// SaveProfile writes the body of a pprof URL (e.g.
// http://127.0.0.1:6060/debug/pprof/heap) to path; a failure is reported on
// stderr and leaves no profile, it does not stop the benchmark.
func SaveProfile(url, path string) {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "profile:", url, resp.Status)
		return
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
	}
}
