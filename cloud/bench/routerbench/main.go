// Command routerbench compares five ways to one tenant gateway, side by
// side in one run, with wrk on loopback: (a) straight to the gateway in its
// network namespace, (b) through nginx with docs/nginx/clawfleet.conf
// (auth_request to /api/internal/route, then the cloud's internal upstream,
// then the tunnel), (c) through the cloud's built-in router over the
// WireGuard tunnel, and the floors a userspace router is held to: (d) a
// plain Go httputil.ReverseProxy over the same tunnel (dialing through the
// same hub as the router) and (e) the same plain proxy straight to the
// gateway. It also times a large download on each path. Everything is real:
// the cloud (cloud/app, run in this process so that (d) shares its hub),
// bin/clawfleet-agent on the process runtime with the stand-in gateway,
// Debian's nginx, wrk.
// Only loopback and the agent's tenant namespaces are contacted; with
// -agent-netns the agent runs in a network namespace of its own behind a
// veth (the production layout: cloud and host apart), and the straight path
// is measured from inside it.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // served on -pprof-dir's loopback listener only
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/clawfleet/clawfleet/cloud/bench/benchutil"
	"github.com/clawfleet/clawfleet/cloud/router"
	"github.com/clawfleet/clawfleet/cloud/router/nginxrun"
	"github.com/clawfleet/clawfleet/pkg/creds"
)

type options struct {
	agentBin, standin, wrk, nginx, nginxConf, paths string
	conns, threads, rounds                          int
	duration, warmup                                time.Duration
	path                                            string
	download                                        int64
	downloadRuns                                    int
	cpuMillis                                       int
	netnsPool, nginxWorkers                         string
	pprofDir                                        string
	keep, single                                    bool
	agentNetns                                      bool
	hubMode, agentWGMode                            string
}

// hubIface is the cloud's WireGuard interface in kernel and tun modes
// (tunnel.DefaultInterface; the cloud has no setting for it).
const hubIface = "wg-cfhub"

const (
	secret = "routerbench-shared-secret-0123456789"
	user   = "bench-user"
)

func main() {
	var o options
	flag.StringVar(&o.agentBin, "agent", "bin/clawfleet-agent", "agent binary")
	flag.StringVar(&o.standin, "standin", "bin/standin", "stand-in gateway binary (agent/runtime/runtimetest/standin)")
	flag.StringVar(&o.wrk, "wrk", "wrk", "wrk binary")
	flag.StringVar(&o.nginx, "nginx", "", "nginx binary (empty: PATH, else /usr/sbin/nginx)")
	flag.StringVar(&o.nginxConf, "nginx-conf", "docs/nginx/clawfleet.conf", "the shipped nginx config")
	flag.StringVar(&o.nginxWorkers, "nginx-workers", "auto", "nginx worker_processes")
	flag.IntVar(&o.conns, "c", 32, "wrk connections")
	flag.IntVar(&o.threads, "t", 2, "wrk threads")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "wrk duration per path and round")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured wrk run per path before the first round")
	flag.IntVar(&o.rounds, "rounds", 1, "rounds of the paths, interleaved (a, b, c, d, e, a, b, ...)")
	flag.StringVar(&o.paths, "paths", "abcde", "the paths to measure (letters; a and c are always measured)")
	flag.StringVar(&o.path, "path", "/", "request path for wrk (the stand-in's / is a 200-byte page)")
	flag.Int64Var(&o.download, "download-mib", 256, "MiB of the large download (0 skips it)")
	flag.IntVar(&o.downloadRuns, "download-runs", 3, "downloads per path (the median is reported)")
	flag.IntVar(&o.cpuMillis, "cpu", 2000, "plan CPU of the tenant, millicores (a cgroup v2 host enforces it)")
	flag.StringVar(&o.netnsPool, "netns-pool", "10.238.0.0/16", "the agent's pool for tenant network namespaces")
	flag.StringVar(&o.pprofDir, "pprof-dir", "", "write the cloud process' CPU profile during each proxied run, and its allocations before and after, here")
	flag.BoolVar(&o.single, "single", true, "also measure each path with one connection and one thread (latency without queueing)")
	flag.BoolVar(&o.keep, "keep-data", false, "keep the temp dir (logs)")
	flag.BoolVar(&o.agentNetns, "agent-netns", false, "run the agent in its own network namespace with a veth to the cloud (root, ip, nsenter); the straight path is then measured from inside it")
	flag.StringVar(&o.hubMode, "hub-mode", "userspace", "the cloud's WireGuard hub (CLAWFLEET_WG_MODE): userspace, tun or kernel (tun and kernel need -agent-netns)")
	flag.StringVar(&o.agentWGMode, "agent-wg-mode", "auto", "the agent's --wg-mode: auto, kernel, tun or netstack")
	flag.Parse()
	o.download <<= 20
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "routerbench:", err)
		os.Exit(1)
	}
}

func userHdr() map[string]string {
	return map[string]string{"X-User-ID": user, "X-Shared-Secret": secret, "Content-Type": "application/json"}
}

// target is one way to the gateway.
type target struct {
	name, label string
	url         string // where wrk connects, with o.path
	host        string // Host header ("" = the URL's)
	headers     []string
	// outcome labels the cloud's clawfleet_router_requests_total for this
	// path ("" = not through the cloud)
	outcome string
	// ns, when set, is the host's namespace the path is measured from
	ns *hostNS
	// plain marks the plain reverse proxies in this process
	plain bool
}

// client is the Go client for the path: benchClient, or one dialing from
// inside the host's namespace.
func (t target) client() *http.Client {
	if t.ns == nil {
		return benchClient
	}
	return &http.Client{Timeout: benchClient.Timeout, Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4, DialContext: t.ns.DialContext}}
}

func run(ctx context.Context, o options) error {
	for _, b := range []string{o.agentBin, o.standin} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("%w (make build, and go build -o bin/standin ./agent/runtime/runtimetest/standin)", err)
		}
	}
	wrkBin, err := exec.LookPath(o.wrk)
	if err != nil {
		return fmt.Errorf("wrk: %w (apt-get install wrk)", err)
	}
	if strings.Contains(o.paths, "b") {
		if _, err := nginxrun.Find(o.nginx); err != nil {
			return err
		}
	}
	if o.hubMode != "userspace" && !o.agentNetns {
		return fmt.Errorf("-hub-mode %s needs -agent-netns: with the agent in the same namespace both tunnel addresses are local and the traffic bypasses WireGuard", o.hubMode)
	}
	dir, err := os.MkdirTemp("", "clawfleet-routerbench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Println("routerbench: temp dir", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	os.Chmod(dir, 0o711) // the gateway runs unprivileged and passes through it
	logf, err := os.Create(filepath.Join(dir, "cloud.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	plans := filepath.Join(dir, "plans.yaml")
	os.WriteFile(plans, []byte(fmt.Sprintf("plans:\n  free:\n    cpuMillis: %d\n    memoryBytes: 1GiB\n    image: unused\n", o.cpuMillis)), 0o600)
	internal := fmt.Sprintf("127.0.0.1:%d", benchutil.FreePort())
	env := []string{"CLAWFLEET_SHARED_SECRET=" + secret, "CLAWFLEET_PLANS_FILE=" + plans, "CLAWFLEET_HEARTBEAT_INTERVAL=2s",
		"CLAWFLEET_DOMAIN=localhost", "CLAWFLEET_INTERNAL_UPSTREAM_ADDR=" + internal, "CLAWFLEET_WG_MODE=" + o.hubMode}
	var hn *hostNS
	agentLog := filepath.Join(dir, "agent.log")
	if o.agentNetns {
		if o.hubMode != "userspace" {
			if _, err := net.InterfaceByName(hubIface); err == nil {
				return fmt.Errorf("interface %s exists (another cloud's hub?): a %s hub cannot start here", hubIface, o.hubMode)
			}
		}
		if hn, err = newHostNS(); err != nil {
			return err
		}
		defer func() {
			b, _ := os.ReadFile(agentLog)
			hn.Close(b)
		}()
		// The broker and the hub on the root side of the veth, and that
		// address in the credentials and the tunnel endpoint; a tunnel prefix
		// of the run's own, so that no other tun agent on this machine routes it.
		mqtt := net.JoinHostPort(hn.rootAddr, strconv.Itoa(benchutil.FreePort()))
		env = append(env, "CLAWFLEET_MQTT_ADDR="+mqtt, "CLAWFLEET_MQTT_PUBLIC_URL=tcp://"+mqtt, "CLAWFLEET_WG_ADDR="+hn.rootAddr+":0",
			fmt.Sprintf("CLAWFLEET_WG_PREFIX=100.97.%d.0/24", hn.tag))
	}
	pprofAddr := ""
	if o.pprofDir != "" {
		// The cloud runs in this process: serve its /debug/pprof here.
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", benchutil.FreePort()))
		if err != nil {
			return err
		}
		defer ln.Close()
		go http.Serve(ln, http.DefaultServeMux)
		pprofAddr = ln.Addr().String()
		if err := os.MkdirAll(o.pprofDir, 0o755); err != nil {
			return err
		}
	}
	c := &benchutil.Cloud{DataDir: filepath.Join(dir, "cloud"), AdminToken: creds.NewToken("cfa_"), Log: logf, Env: env}
	if hn != nil {
		c.AgentPrefix = hn.Prefix()
	}
	if o.hubMode != "userspace" {
		defer hubLeftovers(hubIface) // after the cloud has stopped (defers run last first)
	}
	cl, stopCloud, err := startCloud(ctx, c)
	if err != nil {
		return err
	}
	defer stopCloud()
	cloudPid := os.Getpid()

	standin, err := filepath.Abs(o.standin)
	if err != nil {
		return err
	}
	agent, err := c.StartAgent(ctx, o.agentBin, filepath.Join(dir, "agent"), agentLog, "info",
		"--runtime", "process", "--openclaw-bin", standin, "--heartbeat", "2s", "--tenant-netns-pool", o.netnsPool, "--wg-mode", o.agentWGMode)
	if err != nil {
		return err
	}
	defer benchutil.Stop(agent, 60*time.Second)
	h, err := c.WaitHost(ctx, "online with a tunnel", func(h benchutil.Host) bool {
		return h.Status == "online" && h.Tunnel != nil && h.Tunnel.Address != "" && h.Tunnel.HandshakeAgeSeconds >= 0
	})
	if err != nil {
		return err
	}

	// One tenant, through the user API, until running.
	code, out, err := benchutil.Call(ctx, "POST", c.URL("/api/tenants"), userHdr(), map[string]string{"plan": "free", "name": "bench"})
	if err != nil || code != 201 {
		return fmt.Errorf("create tenant: %d %s %v", code, out, err)
	}
	var ten struct{ ID, Slug, URL, Status, LastError string }
	for deadline := time.Now().Add(60 * time.Second); ten.Status != "running"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) || ten.Status == "failed" || ctx.Err() != nil {
			return fmt.Errorf("tenant not running: %s %s", ten.Status, ten.LastError)
		}
		_, out, _ := benchutil.Call(ctx, "GET", c.URL("/api/tenants/me"), userHdr(), nil)
		json.Unmarshal(out, &ten)
	}
	defer deleteTenant(c)
	var adm struct{ Port int }
	if _, out, err := benchutil.Call(ctx, "GET", c.URL("/api/admin/tenants/"+ten.ID), c.Admin(), nil); err != nil || json.Unmarshal(out, &adm) != nil || adm.Port == 0 {
		return fmt.Errorf("tenant port: %s %v", out, err)
	}
	gwHost, err := gatewayAddr(agentLog)
	if err != nil {
		return err
	}
	direct := net.JoinHostPort(gwHost, strconv.Itoa(adm.Port))
	tu, err := url.Parse(ten.URL)
	if err != nil {
		return err
	}
	cookie, err := signIn(ctx, c)
	if err != nil {
		return err
	}

	ngAddr := "-"
	ck := "Cookie: " + router.CookieName + "=" + cookie
	xff := []string{"X-Forwarded-For: 192.0.2.1"} // a non-loopback client, as OpenClaw needs behind a proxy
	targets := []target{{name: "a", label: "(a) straight to the gateway", url: "http://" + direct, headers: xff, ns: hn}}
	if strings.Contains(o.paths, "b") {
		ng, err := nginxrun.Start(nginxrun.Options{Bin: o.nginx, Conf: o.nginxConf, Dir: mkdir(dir, "nginx"), Domain: "localhost",
			Listen: fmt.Sprintf("127.0.0.1:%d", benchutil.FreePort()), CloudAddr: fmt.Sprintf("127.0.0.1:%d", c.HTTPPort), UpstreamAddr: internal,
			Workers: o.nginxWorkers, WorkerConnections: 8192, NoAccessLog: true})
		if err != nil {
			return err
		}
		defer ng.Stop()
		ngAddr = ng.Addr
		targets = append(targets, target{name: "b", label: "(b) nginx → internal upstream → tunnel", url: "http://" + ng.Addr, host: tu.Hostname(), headers: []string{ck}, outcome: "proxied_nginx"})
	}
	targets = append(targets, target{name: "c", label: "(c) built-in router → tunnel", url: c.URL(""), host: tu.Host, headers: []string{ck}, outcome: "proxied"})
	if strings.Contains(o.paths, "d") {
		addr, stop, err := plainProxy(direct, tunnelDial(cl, h.ID, adm.Port))
		if err != nil {
			return err
		}
		defer stop()
		targets = append(targets, target{name: "d", label: "(d) plain ReverseProxy → same tunnel", url: "http://" + addr, headers: xff, plain: true})
	}
	if strings.Contains(o.paths, "e") {
		var dial func(context.Context, string, string) (net.Conn, error)
		if hn != nil {
			dial = hn.DialContext
		}
		addr, stop, err := plainProxy(direct, dial)
		if err != nil {
			return err
		}
		defer stop()
		targets = append(targets, target{name: "e", label: "(e) plain ReverseProxy → gateway, no tunnel", url: "http://" + addr, headers: xff, plain: true})
	}
	layout := "agent in the cloud's network namespace"
	if hn != nil {
		layout = fmt.Sprintf("agent in network namespace %s (veth %s ↔ %s; straight path measured from there)", hn.name, hn.rootAddr, hn.nsAddr)
	}
	fmt.Printf("routerbench: tenant %s (%s) on host %s, hub %s, agent tunnel %s %s; %s; gateway %s; nginx %s (workers %s); cloud %s\n",
		ten.Slug, ten.URL, h.ID, o.hubMode, h.Tunnel.Mode, h.Tunnel.Address, layout, direct, ngAddr, o.nginxWorkers, c.URL(""))
	fmt.Printf("machine: %d CPUs, load average %s at the start\n", runtime.NumCPU(), loadavg())
	for _, t := range targets {
		if err := check(ctx, t, o.path); err != nil {
			return err
		}
	}

	fmt.Printf("wrk -c %d -t %d -d %s --latency, path %s, %d round(s); warm-up %s per path\n", o.conns, o.threads, o.duration, o.path, o.rounds, o.warmup)
	if o.warmup > 0 {
		for _, t := range targets {
			if _, err := runWrk(ctx, wrkBin, t, o, o.warmup); err != nil {
				return err
			}
		}
	}
	type load struct{ conns, threads int }
	loads := []load{{o.conns, o.threads}}
	if o.single && o.conns != 1 {
		loads = append(loads, load{1, 1})
	}
	results := map[string][]wrkResult{} // by path name and connections
	var rows []string
	for r := range o.rounds {
		for _, l := range loads {
			for _, t := range targets {
				before, _ := benchutil.Scrape(c.URL("/metrics"))
				cpuC0, _ := benchutil.Usage(cloudPid)
				cpuA0, _ := benchutil.Usage(agent.Process.Pid)
				busy0, total0 := machineCPU()
				var prof sync.WaitGroup
				if pprofAddr != "" && (t.outcome != "" || t.plain) {
					base := filepath.Join(o.pprofDir, fmt.Sprintf("cloud-%s-c%d-round%d", t.name, l.conns, r+1))
					benchutil.SaveProfile("http://"+pprofAddr+"/debug/pprof/allocs", base+"-allocs-before.pprof")
					prof.Add(1)
					go func() {
						defer prof.Done()
						profile(pprofAddr, o.duration, base+".pprof")
						benchutil.SaveProfile("http://"+pprofAddr+"/debug/pprof/allocs", base+"-allocs.pprof")
					}()
				}
				lo := o
				lo.conns, lo.threads = l.conns, l.threads
				res, err := runWrk(ctx, wrkBin, t, lo, o.duration)
				if err != nil {
					return err
				}
				prof.Wait()
				cpuC1, _ := benchutil.Usage(cloudPid)
				cpuA1, _ := benchutil.Usage(agent.Process.Pid)
				busy1, total1 := machineCPU()
				after, _ := benchutil.Scrape(c.URL("/metrics"))
				res.cloudCPU = (cpuC1 - cpuC0) / res.duration.Seconds()
				res.agentCPU = (cpuA1 - cpuA0) / res.duration.Seconds()
				res.busy = 100 * (busy1 - busy0) / max(1, total1-total0)
				via := "—"
				if t.outcome != "" {
					k := `clawfleet_router_requests_total{outcome="` + t.outcome + `"}`
					via = strconv.FormatFloat(after[k]-before[k], 'f', 0, 64)
				}
				key := fmt.Sprintf("%s-%d", t.name, l.conns)
				results[key] = append(results[key], res)
				rows = append(rows, fmt.Sprintf("| %d | %d | %s | %.0f | %s | %s | %d | %d | %s | %.2f | %.2f | %.0f%% | %s |", r+1, l.conns, t.label, res.rps, ms(res.p50), ms(res.p99),
					res.requests, res.bad, via, res.cloudCPU, res.agentCPU, res.busy, loadavg()))
			}
		}
	}
	fmt.Printf("\n| round | connections | path | requests/s | p50 | p99 | requests | non-2xx/errors | counted by the cloud | cloud process CPU (cores) | agent CPU (cores) | machine busy | load average after |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Println(r)
	}

	if o.download > 0 {
		fmt.Printf("\nDownload of %d MiB (/__standin/blob), Go net/http client reading into a 256 KiB buffer, %d runs per path, median (min–max):\n\n| path | MB/s |\n|---|---|\n", o.download>>20, o.downloadRuns)
		for _, t := range targets {
			var rates []float64
			for range o.downloadRuns {
				mbs, err := download(ctx, t, o.download)
				if err != nil {
					return fmt.Errorf("%s: download: %w", t.label, err)
				}
				rates = append(rates, mbs)
			}
			slices.Sort(rates)
			fmt.Printf("| %s | %.0f (%.0f–%.0f) |\n", t.label, rates[len(rates)/2], rates[0], rates[len(rates)-1])
		}
	}

	for _, l := range loads {
		m := func(name string) wrkResult { return median(results[fmt.Sprintf("%s-%d", name, l.conns)]) }
		a, b, cc, d, e := m("a"), m("b"), m("c"), m("d"), m("e")
		fmt.Printf("\nAt %d connection(s), medians over %d round(s) (requests/s; p50 / p99):\n", l.conns, o.rounds)
		for _, t := range targets {
			r := m(t.name)
			fmt.Printf("  %-46s %8.0f; %s / %s\n", t.label, r.rps, ms(r.p50), ms(r.p99))
		}
		if b.rps > 0 {
			fmt.Printf("  router vs nginx: requests/s %.2f×, p99 %.2f×\n", cc.rps/b.rps, float64(cc.p99)/float64(b.p99))
		}
		if d.rps > 0 {
			fmt.Printf("  router / (d) plain proxy over the same tunnel: requests/s %.2f× (target ≥ 0.9×: %s), p99 %.2f×\n",
				cc.rps/d.rps, verdict(cc.rps >= 0.9*d.rps), float64(cc.p99)/float64(d.p99))
		}
		if e.rps > 0 {
			fmt.Printf("  router / (e) plain proxy without the tunnel: requests/s %.2f× (target ≥ 0.5×: %s), p99 %.2f×\n",
				cc.rps/e.rps, verdict(cc.rps >= 0.5*e.rps), float64(cc.p99)/float64(e.p99))
		}
		if l.conns == 1 {
			fmt.Printf("  router p99 vs straight (a): %s vs %s = %.2f× (target within 2×: %s)", ms(cc.p99), ms(a.p99), float64(cc.p99)/float64(a.p99), verdict(float64(cc.p99) <= 2*float64(a.p99)))
			if e.rps > 0 {
				fmt.Printf("; vs (e): %s = %.2f× (%s)", ms(e.p99), float64(cc.p99)/float64(e.p99), verdict(float64(cc.p99) <= 2*float64(e.p99)))
			}
			fmt.Println()
		}
	}
	fmt.Printf("load average at the end: %s\n", loadavg())
	for key, rs := range results {
		for _, r := range rs {
			if r.bad > 0 {
				return fmt.Errorf("path %s: %d non-2xx answers or socket errors: the figures are not valid", key, r.bad)
			}
		}
	}
	return nil
}

// loadavg is /proc/loadavg's 1, 5 and 15 minute figures.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func mkdir(parent, name string) string {
	d := filepath.Join(parent, name)
	os.MkdirAll(d, 0o755)
	return d
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + " ms"
}

// gatewayAddr reads where the gateway listens from the agent's log: its
// network namespace's address (the agent runs as root), else loopback.
func gatewayAddr(agentLog string) (string, error) {
	b, err := os.ReadFile(agentLog)
	if err != nil {
		return "", err
	}
	re := regexp.MustCompile(`msg="tenant network namespace ready".* gateway=([0-9.]+)`)
	if m := re.FindStringSubmatch(string(b)); m != nil {
		return m[1], nil
	}
	if strings.Contains(string(b), "gateway started") {
		return "127.0.0.1", nil // loopback isolation (not root)
	}
	return "", errors.New("no gateway address in agent.log")
}

// signIn asks for a one-time link as the web app would, opens it as a
// browser would (sent to the cloud, Host <slug>.localhost:<port>) and
// returns the session cookie it sets.
func signIn(ctx context.Context, c *benchutil.Cloud) (string, error) {
	code, out, err := benchutil.Call(ctx, "POST", c.URL("/api/tenants/me/access"), userHdr(), nil)
	var res struct{ URL string }
	if err != nil || code != 201 || json.Unmarshal(out, &res) != nil {
		return "", fmt.Errorf("access link: %d %s %v", code, out, err)
	}
	link, err := url.Parse(res.URL)
	if err != nil {
		return "", err
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", c.URL(link.RequestURI()), nil)
	req.Host = link.Host
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == router.CookieName && resp.StatusCode == http.StatusSeeOther {
			return ck.Value, nil
		}
	}
	return "", fmt.Errorf("opening the access link: %d, no session cookie", resp.StatusCode)
}

var benchClient = &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}

func newRequest(ctx context.Context, t target, path string) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, "GET", t.url+path, nil)
	if t.host != "" {
		req.Host = t.host
	}
	for _, h := range t.headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	return req
}

// check makes sure a path reaches the stand-in gateway before measuring it.
func check(ctx context.Context, t target, path string) error {
	resp, err := t.client().Do(newRequest(ctx, t, path))
	if err != nil {
		return fmt.Errorf("%s: %w", t.label, err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != 200 || (path == "/" && !strings.Contains(string(b), "clawfleet stand-in gateway")) {
		return fmt.Errorf("%s: GET %s = %d %.300s", t.label, path, resp.StatusCode, b)
	}
	return nil
}

// download fetches n bytes from the stand-in and returns MB/s (10^6 B/s).
func download(ctx context.Context, t target, n int64) (float64, error) {
	start := time.Now()
	resp, err := t.client().Do(newRequest(ctx, t, "/__standin/blob?bytes="+strconv.FormatInt(n, 10)))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	// Hide io.Discard's ReadFrom so that the 256 KiB buffer is used.
	got, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, resp.Body, make([]byte, 256<<10))
	if err != nil {
		return 0, err
	}
	if got != n {
		return 0, fmt.Errorf("got %d of %d bytes", got, n)
	}
	return float64(n) / time.Since(start).Seconds() / 1e6, nil
}

// profile saves the cloud's CPU profile over d.
func profile(addr string, d time.Duration, path string) {
	benchutil.SaveProfile(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())), path)
}

type wrkResult struct {
	rps                float64
	p50, p99           time.Duration
	requests, bad      int64
	duration           time.Duration
	cloudCPU, agentCPU float64
	busy               float64 // percent of all CPUs
}

// machineCPU returns busy and total jiffies of all CPUs from /proc/stat.
func machineCPU() (busy, total float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

func median(rs []wrkResult) wrkResult {
	if len(rs) == 0 {
		return wrkResult{}
	}
	s := slices.Clone(rs)
	var m wrkResult
	slices.SortFunc(s, func(a, b wrkResult) int { return cmp.Compare(a.rps, b.rps) })
	m.rps = s[len(s)/2].rps
	slices.SortFunc(s, func(a, b wrkResult) int { return cmp.Compare(a.p99, b.p99) })
	m.p99 = s[len(s)/2].p99
	slices.SortFunc(s, func(a, b wrkResult) int { return cmp.Compare(a.p50, b.p50) })
	m.p50 = s[len(s)/2].p50
	return m
}

func runWrk(ctx context.Context, bin string, t target, o options, d time.Duration) (wrkResult, error) {
	args := []string{"--latency", "-c", strconv.Itoa(o.conns), "-t", strconv.Itoa(o.threads), "-d", fmt.Sprintf("%ds", max(1, int(d.Seconds())))}
	if t.host != "" {
		args = append(args, "-H", "Host: "+t.host)
	}
	for _, h := range t.headers {
		args = append(args, "-H", h)
	}
	args = append(args, t.url+o.path)
	ctx, cancel := context.WithTimeout(ctx, d+time.Minute)
	defer cancel()
	start := time.Now()
	argv := []string{bin}
	if t.ns != nil {
		argv = append(t.ns.Prefix(), argv...)
	}
	out, err := exec.CommandContext(ctx, argv[0], append(argv[1:], args...)...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	res, err := parseWrk(string(out))
	if err != nil {
		return res, fmt.Errorf("%s: %w\n%s", t.label, err, out)
	}
	res.duration = time.Since(start)
	return res, nil
}

var (
	wrkPct  = regexp.MustCompile(`(?m)^\s*(50|99)%\s+([0-9.]+)(us|ms|s|m)\s*$`)
	wrkRPS  = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkReqs = regexp.MustCompile(`(?m)^\s*([0-9]+) requests in `)
	wrkNon2 = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses:\s+([0-9]+)`)
	wrkSock = regexp.MustCompile(`(?m)^\s*Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)`)
)

// parseWrk reads requests/s, p50 and p99 latency and the failures from wrk
// --latency output.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := wrkRPS.FindStringSubmatch(out)
	n := wrkReqs.FindStringSubmatch(out)
	if m == nil || n == nil {
		return r, errors.New("no Requests/sec in wrk's output")
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	r.requests, _ = strconv.ParseInt(n[1], 10, 64)
	unit := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9}
	for _, p := range wrkPct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(p[2], 64)
		d := time.Duration(v * unit[p[3]])
		if p[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if r.p50 == 0 || r.p99 == 0 {
		return r, errors.New("no latency distribution in wrk's output (--latency)")
	}
	if m := wrkNon2.FindStringSubmatch(out); m != nil {
		k, _ := strconv.ParseInt(m[1], 10, 64)
		r.bad += k
	}
	if m := wrkSock.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			k, _ := strconv.ParseInt(s, 10, 64)
			r.bad += k
		}
	}
	return r, nil
}

// deleteTenant deletes the tenant and waits (30 s at most) until the cloud
// no longer lists it, so its gateway and namespace are gone.
func deleteTenant(c *benchutil.Cloud) {
	ctx := context.Background()
	benchutil.Call(ctx, "DELETE", c.URL("/api/tenants/me"), userHdr(), nil)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_, out, err := benchutil.Call(ctx, "GET", c.URL("/api/admin/tenants"), c.Admin(), nil)
		var list []json.RawMessage
		if err == nil && json.Unmarshal(out, &list) == nil && len(list) == 0 {
			return
		}
	}
}
