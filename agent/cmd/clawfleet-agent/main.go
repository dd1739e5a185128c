// Command clawfleet-agent is the ClawFleet device agent: `enroll` registers
// the host with the cloud, `run` keeps it connected and reporting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/clawfleet/clawfleet/agent/capability"
	"github.com/clawfleet/clawfleet/agent/enroll"
	"github.com/clawfleet/clawfleet/agent/i18n"
	"github.com/clawfleet/clawfleet/agent/link"
	"github.com/clawfleet/clawfleet/agent/metrics"
	"github.com/clawfleet/clawfleet/agent/pairing"
	"github.com/clawfleet/clawfleet/agent/reconcile"
	tenantrt "github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/agent/runtime/diskquota"
	"github.com/clawfleet/clawfleet/agent/runtime/docker"
	"github.com/clawfleet/clawfleet/agent/runtime/netns"
	"github.com/clawfleet/clawfleet/agent/runtime/process"
	"github.com/clawfleet/clawfleet/agent/tunnel"
	"github.com/clawfleet/clawfleet/agent/version"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// DefaultStateDir holds the credentials unless --state-dir or
// CLAWFLEET_STATE_DIR say otherwise.
const DefaultStateDir = "/var/lib/clawfleet-agent"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// exitError ends the program with code after its message was shown.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

var (
	errUsage  = exitError{2} // bad command line; usage was printed
	errFailed = exitError{1} // failure; the reason was printed
)

// cli is one invocation's environment.
type cli struct {
	lang           i18n.Lang
	stdout, stderr io.Writer
	getenv         func(string) string
}

// fail prints a localized error and returns errFailed.
func (c *cli) fail(key string, args ...any) error {
	fmt.Fprintln(c.stderr, c.lang.T("err.prefix", c.lang.T(key, args...)))
	return errFailed
}

// usageError prints a localized error and the command's usage.
func (c *cli) usageError(usageKey, key string, args ...any) error {
	fmt.Fprintln(c.stderr, c.lang.T("err.prefix", c.lang.T(key, args...)))
	fmt.Fprintln(c.stderr)
	fmt.Fprint(c.stderr, c.usageText(usageKey))
	return errUsage
}

// usageText returns a command's usage (the main one names the version).
func (c *cli) usageText(key string) string {
	if key == "usage.main" {
		return c.lang.T(key, version.Version)
	}
	return c.lang.T(key)
}

// env returns the variable's value, or def when unset or empty.
func (c *cli) env(key, def string) string {
	if v := c.getenv(key); v != "" {
		return v
	}
	return def
}

// run executes the command line args. It returns nil on success and when
// ctx ends a running agent; errors are printed before they are returned.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	c := &cli{lang: i18n.Detect(getenv), stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		fmt.Fprint(stderr, c.usageText("usage.main"))
		return errUsage
	}
	switch args[0] {
	case "enroll":
		return c.enroll(ctx, args[1:])
	case "run":
		return c.runAgent(ctx, args[1:])
	case "factory-reset":
		return c.factoryReset(args[1:])
	case "adopt":
		return c.adoptCmd(ctx, args[1:])
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, c.lang.T("version", version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH))
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, c.usageText("usage.main"))
		return nil
	default:
		return c.usageError("usage.main", "err.unknownCommand", args[0])
	}
}

// parse parses a subcommand's flags. done is true when the caller should
// return err (help shown, or a usage error).
func (c *cli) parse(fs *flag.FlagSet, usageKey string, args []string) (done bool, err error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(c.stdout, c.usageText(usageKey))
			return true, nil
		}
		return true, c.usageError(usageKey, "err.args", err)
	}
	if fs.NArg() > 0 {
		return true, c.usageError(usageKey, "err.extraArgs", fs.Args())
	}
	return false, nil
}

// labels is a repeatable --label key=value flag. Malformed values are kept
// aside (not refused by Set) so the error can be reported in the user's language.
type labels struct {
	m   map[string]string
	bad []string
}

func (l *labels) String() string {
	if l == nil {
		return ""
	}
	kv := make([]string, 0, len(l.m))
	for k, v := range l.m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func (l *labels) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if k = strings.TrimSpace(k); !ok || k == "" {
		l.bad = append(l.bad, s)
		return nil
	}
	if l.m == nil {
		l.m = map[string]string{}
	}
	l.m[k] = strings.TrimSpace(v)
	return nil
}

func (c *cli) enroll(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("enroll", flag.ContinueOnError)
	cloud := fs.String("cloud", c.env("CLAWFLEET_CLOUD_URL", ""), "")
	token := fs.String("token", c.env("CLAWFLEET_ENROLL_TOKEN", ""), "")
	stateDir := fs.String("state-dir", c.env("CLAWFLEET_STATE_DIR", DefaultStateDir), "")
	name := fs.String("name", "", "")
	force := fs.Bool("force", false, "")
	var lbls labels
	fs.Var(&lbls, "label", "")
	if done, err := c.parse(fs, "usage.enroll", args); done {
		return err
	}
	if len(lbls.bad) > 0 {
		return c.usageError("usage.enroll", "err.label", lbls.bad[0])
	}
	if *cloud == "" {
		return c.usageError("usage.enroll", "err.missingCloud")
	}
	if creds.TrimToken(*token) == "" {
		return c.usageError("usage.enroll", "err.missingToken")
	}
	hostname, _ := os.Hostname()
	path, cr, err := enroll.Enroll(ctx, enroll.Params{
		CloudURL: *cloud, Token: *token, StateDir: *stateDir,
		Name: *name, Hostname: hostname, Labels: lbls.m, Force: *force,
	})
	var apiErr *enroll.APIError
	switch {
	case err == nil:
	case errors.Is(err, enroll.ErrExists):
		return c.fail("err.exists", path)
	case errors.As(err, &apiErr):
		return c.fail("err.enrollRefused", apiErr.Message)
	default:
		return c.fail("err.enrollFailed", err)
	}
	fmt.Fprintln(c.stdout, c.lang.T("ok.enrolled", cr.DeviceID, path, *stateDir))
	return nil
}

// factoryReset asks the running agent for a factory reset (ResetFile).
func (c *cli) factoryReset(args []string) error {
	fs := flag.NewFlagSet("factory-reset", flag.ContinueOnError)
	stateDir := fs.String("state-dir", c.env("CLAWFLEET_STATE_DIR", DefaultStateDir), "")
	if done, err := c.parse(fs, "usage.factoryReset", args); done {
		return err
	}
	p, err := requestReset(*stateDir)
	if err != nil {
		return c.fail("err.resetRequest", err)
	}
	fmt.Fprintln(c.stdout, c.lang.T("ok.resetRequested", p))
	return nil
}

func (c *cli) runAgent(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	stateDir := fs.String("state-dir", c.env("CLAWFLEET_STATE_DIR", DefaultStateDir), "")
	heartbeat := fs.Duration("heartbeat", link.DefaultHeartbeatInterval, "")
	keepalive := fs.Duration("keepalive", link.DefaultKeepAlive, "")
	logLevel := fs.String("log-level", c.env("CLAWFLEET_LOG_LEVEL", "info"), "")
	runtimeName := fs.String("runtime", c.env("CLAWFLEET_RUNTIME", ""), "")
	openclawBin := fs.String("openclaw-bin", c.env("CLAWFLEET_OPENCLAW_BIN", ""), "")
	dockerImage := fs.String("docker-image", c.env("CLAWFLEET_DOCKER_IMAGE", ""), "")
	tenantNetwork := fs.String("tenant-network", c.env("CLAWFLEET_TENANT_NETWORK", tenantrt.NetworkAuto), "")
	netnsPool := fs.String("tenant-netns-pool", c.env("CLAWFLEET_TENANT_NETNS_POOL", netns.DefaultPool), "")
	weakIsolation := fs.Bool("allow-weak-isolation", truthy(c.env("CLAWFLEET_ALLOW_WEAK_ISOLATION", "")), "")
	diskQuota := fs.String("tenant-disk-quota", c.env("CLAWFLEET_TENANT_DISK_QUOTA", diskquota.Auto), "")
	spares := defaultDiskSpares
	if v := c.getenv("CLAWFLEET_TENANT_DISK_SPARES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxDiskSpares {
			return c.usageError("usage.run", "err.diskSpares", v)
		}
		spares = n
	}
	diskSpares := fs.Int("tenant-disk-spares", spares, "")
	wgMode := fs.String("wg-mode", c.env("CLAWFLEET_WG_MODE", tunnel.ModeAuto), "")
	wgInterface := fs.String("wg-interface", c.env("CLAWFLEET_WG_INTERFACE", ""), "")
	keyAge := 90 * 24 * time.Hour
	if v := c.getenv("CLAWFLEET_WG_KEY_MAX_AGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return c.usageError("usage.run", "err.keyMaxAge", v)
		}
		keyAge = d
	}
	wgKeyMaxAge := fs.Duration("wg-key-max-age", keyAge, "")
	var pc pairingConfig
	fs.StringVar(&pc.mode, "pairing", c.env("CLAWFLEET_PAIRING", "off"), "")
	fs.StringVar(&pc.localPage, "local-page", c.env("CLAWFLEET_LOCAL_PAGE", pairing.DefaultLocalAddr), "")
	fs.StringVar(&pc.hotspotPassword, "hotspot-password", c.env("CLAWFLEET_HOTSPOT_PASSWORD", ""), "")
	fs.StringVar(&pc.wifiInterface, "wifi-interface", c.env("CLAWFLEET_WIFI_INTERFACE", ""), "")
	if done, err := c.parse(fs, "usage.run", args); done {
		return err
	}
	pageAddrs, err := pc.parse()
	if err != nil {
		return c.usageError("usage.run", "err.pairing", err)
	}
	if *heartbeat < proto.MinHeartbeatInterval || *heartbeat > proto.MaxHeartbeatInterval {
		return c.usageError("usage.run", "err.heartbeat", *heartbeat)
	}
	if *diskSpares < 0 || *diskSpares > maxDiskSpares {
		return c.usageError("usage.run", "err.diskSpares", strconv.Itoa(*diskSpares))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return c.usageError("usage.run", "err.logLevel", *logLevel)
	}
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
	if addr := c.getenv("CLAWFLEET_AGENT_PPROF_ADDR"); addr != "" {
		servePprof(ctx, addr, log)
	}

	path := filepath.Join(*stateDir, creds.FileName)
	cr, err := creds.Load(path)
	if err != nil {
		return c.fail("err.loadCreds", err, *stateDir)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("credentials file is readable by other users; chmod 600 it", "path", path, "mode", fi.Mode().Perm())
	}
	rt, err := newRuntime(ctx, runtimeConfig{name: *runtimeName, openclawBin: *openclawBin, image: *dockerImage,
		dataDir: filepath.Join(*stateDir, "tenants"), network: *tenantNetwork, netnsPool: *netnsPool, diskQuota: *diskQuota, diskSpares: *diskSpares, weakIsolation: *weakIsolation}, log)
	if err != nil {
		// The host still reports its presence and metrics; it just offers
		// no runtime, so the cloud schedules no tenant onto it.
		log.Warn("no tenant runtime: this host will run no gateways", "err", err)
		fmt.Fprintln(c.stderr, c.lang.T("err.runtime", err))
		rt = unavailable{err}
	}
	defer rt.Close()

	// The WireGuard tunnel (--wg-mode: kernel, tun or netstack, which
	// needs no root; auto takes the best that works, and the heartbeat
	// reports the mode in use). Its key is made here and kept in the state
	// dir; only the public key leaves.
	// Its forwarder dials each tenant port's upstream as the reconciler last
	// listed it (the gateway's address in its namespace, or 127.0.0.1:port),
	// and refuses ports of no desired tenant.
	if *wgInterface == "" {
		// One of its own per agent: a second agent on the machine would find
		// a fixed name's TUN device busy.
		*wgInterface = tunnel.InterfaceName(tenantrt.AgentTag(agentDataDir(*stateDir)))
	}
	var rec *reconcile.Reconciler
	var claims *boxClaim
	tun, err := tunnel.New(tunnel.Options{KeyFile: filepath.Join(*stateDir, "wg.key"), Mode: *wgMode, Interface: *wgInterface, AllowWeakIsolation: *weakIsolation, Logger: log,
		Upstream: func(port int) (string, bool) { return rec.Upstream(port) }})
	if err != nil {
		return c.fail("err.agent", err)
	}
	defer tun.Close()
	tl := &tunnelLink{tun: tun, log: log}

	sampler := metrics.NewSampler(*stateDir)
	l, err := link.New(link.Options{
		Creds:             cr,
		HeartbeatInterval: *heartbeat,
		KeepAlive:         *keepalive,
		Metrics:           sampler,
		Register:          registerFunc(log, rt.Name(), tun.PublicKey),
		Tunnel:            tl.status,
		Claim:             func() string { return claims.state() },
		Logger:            log,
	})
	if err != nil {
		return c.fail("err.agent", err)
	}
	rec = reconcile.New(reconcile.Options{Runtime: rt, Publisher: l, StateDir: *stateDir, Logger: log, OnDesired: tl.setDesired})
	claims = newBoxClaim(*stateDir, cr.ClaimCode != "", rec, l, log)
	l.Handle(proto.KindDesired, rec.HandleDesired)
	keys := &keyRotator{tun: tun, link: l, keyFile: filepath.Join(*stateDir, "wg.key"), maxAge: *wgKeyMaxAge, log: log}
	l.Handle(proto.KindCmd, keys.handleCommand(claims.handleCommand(rec.HandleCommand)))
	l.Handle(proto.KindTunnel, tl.handleConfig)
	l.Handle(proto.KindClaim, claims.handle)
	// The local page, and on boxes the Wi-Fi hotspot while offline.
	startPairing(ctx, pc, pageAddrs, cr, claims.claimCode(cr.ClaimCode), claims.setPairing, log)
	log.Info("clawfleet-agent starting", "version", version.Version, "device", cr.DeviceID, "broker", cr.MQTTURL, "stateDir", *stateDir, "runtime", rt.Name())
	recCtx, stopRec := context.WithCancel(ctx)
	recDone := make(chan struct{})
	go func() { rec.Run(recCtx); close(recDone) }()
	go keys.run(recCtx, min(max(*wgKeyMaxAge/4, time.Second), time.Hour))
	if claims.isBox {
		go claims.run(recCtx)
	}
	err = l.Run(ctx)
	stopRec()
	<-recDone
	if err != nil {
		return c.fail("err.agent", err)
	}
	log.Info("clawfleet-agent stopped")
	return nil
}

// agentDataDir is the tenants' directory as the runtimes name it
// (absolute, symlinks resolved), the input of runtime.AgentID.
func agentDataDir(stateDir string) string {
	dir, err := filepath.Abs(filepath.Join(stateDir, "tenants"))
	if err != nil {
		return filepath.Join(stateDir, "tenants")
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		return real
	}
	return dir
}

// tunnelLink applies the cloud's tunnel config with the ports of the
// tenants this host runs: the hub may open only those, nothing else on the host.
type tunnelLink struct {
	tun   *tunnel.Tunnel
	log   *slog.Logger
	mu    sync.Mutex
	cfg   *proto.TunnelConfig // nil until the cloud sent one
	ports []int
	held  []int // the adopted containers' ports (tunnel.Hold)
}

func (t *tunnelLink) handleConfig(_ context.Context, payload []byte) {
	if len(payload) == 0 {
		// Cleared: the box was released or reset (or the host deleted).
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.cfg != nil {
			t.cfg = nil
			t.tun.Down()
			t.log.Info("tunnel down: the cloud cleared its config")
		}
		return
	}
	cfg, err := proto.DecodeTunnelConfig(payload)
	if err != nil {
		t.log.Warn("tunnel config refused", "err", err)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cfg = cfg
	t.applyLocked()
}

func (t *tunnelLink) setDesired(d *proto.Desired) {
	ports := make([]int, 0, len(d.Tenants))
	var held []int
	for _, s := range d.Tenants {
		ports = append(ports, s.Port)
		if s.Container != "" {
			// An adopted container's published port: Docker holds it.
			held = append(held, s.Port)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ports, t.held = ports, held
	if t.cfg != nil {
		t.applyLocked()
	}
}

func (t *tunnelLink) applyLocked() {
	cfg := *t.cfg
	cfg.Ports = append(append([]int(nil), cfg.Ports...), t.ports...)
	t.tun.Hold(t.held)
	if err := t.tun.Apply(cfg); err != nil {
		t.log.Warn("tunnel not applied", "err", err)
		return
	}
	t.log.Debug("tunnel applied", "address", cfg.Address, "hub", cfg.HubEndpoint, "ports", cfg.Ports)
}

func (t *tunnelLink) status() *proto.TunnelStatus {
	t.mu.Lock()
	configured := t.cfg != nil
	t.mu.Unlock()
	if !configured {
		return nil
	}
	st := t.tun.Status()
	return &st
}

// unavailable stands in when no runtime could be set up: every tenant fails
// with the reason, and the host offers no runtime to the scheduler.
type unavailable struct{ err error }

func (u unavailable) Name() string { return "" }
func (u unavailable) Ensure(context.Context, proto.TenantSpec) error {
	return fmt.Errorf("no tenant runtime on this host: %w", u.err)
}
func (u unavailable) Remove(context.Context, string) error { return nil }
func (u unavailable) Purge(context.Context, string) error  { return nil }
func (u unavailable) List(context.Context) ([]tenantrt.Instance, error) {
	return nil, nil
}
func (u unavailable) Logs(context.Context, string, int) ([]string, error) {
	return nil, tenantrt.ErrNotFound
}
func (u unavailable) Close() error { return nil }

// defaultDiskSpares fresh tenant disk images are kept made ahead: one
// burst's worth of creations on a worker, at about a megabyte of the
// host's disk each (sparse files); maxDiskSpares bounds the setting.
const defaultDiskSpares, maxDiskSpares = 16, 256

// runtimeConfig is what newRuntime needs from the command line.
type runtimeConfig struct {
	name, openclawBin, image, dataDir string
	network, netnsPool, diskQuota     string // process runtime isolation and disk limits
	diskSpares                        int    // process runtime: disk images made ahead
	// weakIsolation: run without the firewall where it cannot be
	// programmed (CLAWFLEET_ALLOW_WEAK_ISOLATION).
	weakIsolation bool
}

// truthy reads an environment switch: 1, true, yes or on.
func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// newRuntime picks the tenant runtime: docker when asked for or, by
// default, when a Docker engine answers; else the native process runtime.
func newRuntime(ctx context.Context, rc runtimeConfig, log *slog.Logger) (tenantrt.Runtime, error) {
	name, openclawBin, image, dataDir := rc.name, rc.openclawBin, rc.image, rc.dataDir
	if name == "" {
		name = "process"
		if capability.Detect(ctx).Docker {
			name = "docker"
		}
	}
	switch name {
	case "docker":
		return docker.New(docker.Options{DataDir: dataDir, DiskQuota: rc.diskQuota, DefaultImage: image, Logger: log})
	case "process":
		if openclawBin == "" {
			return nil, errors.New("the process runtime needs --openclaw-bin (or CLAWFLEET_OPENCLAW_BIN): an executable that runs the OpenClaw CLI, e.g. the one firmware/openclaw/install.sh writes")
		}
		bin, err := exec.LookPath(openclawBin)
		if err != nil {
			return nil, fmt.Errorf("--openclaw-bin %s: %w", openclawBin, err)
		}
		// Gateways run as an unprivileged user when the agent is root: they
		// must be able to traverse the state dir to reach their own
		// directory (0711 lets them pass without listing; credentials.json
		// stays 0600).
		if os.Geteuid() == 0 {
			stateDir := filepath.Dir(dataDir)
			if err := os.MkdirAll(dataDir, 0o711); err != nil {
				return nil, err
			}
			for _, d := range []string{stateDir, dataDir} {
				if err := os.Chmod(d, 0o711); err != nil {
					return nil, fmt.Errorf("make %s traversable for gateways: %w", d, err)
				}
			}
		}
		return process.New(process.Options{OpenClawBin: bin, DataDir: dataDir, Network: rc.network, NetnsPool: rc.netnsPool, AllowWeakIsolation: rc.weakIsolation, DiskQuota: rc.diskQuota, DiskSpares: rc.diskSpares, Logger: log})
	}
	return nil, fmt.Errorf("--runtime %q: use docker or process", name)
}

// registerFunc builds the register payload from the host's facts and
// capabilities, probed again on every (re)connect.
func registerFunc(log *slog.Logger, runtimeName string, wgPublicKey func() string) func(context.Context) proto.Register {
	return func(ctx context.Context) proto.Register {
		f := metrics.HostFacts(ctx)
		caps := capability.Detect(ctx)
		// The cloud schedules by the runtime this agent actually uses.
		caps.Runtimes = nil
		if runtimeName != "" {
			caps.Runtimes = []string{runtimeName}
		}
		log.Debug("host probed", "hostname", f.Hostname, "cpus", f.CPUs, "docker", caps.Docker, "wireguard", caps.WireGuardModes)
		return proto.Register{
			Hostname:      f.Hostname,
			OS:            f.OS,
			Arch:          f.Arch,
			CPUs:          f.CPUs,
			MemTotalBytes: f.MemTotalBytes,
			AgentVersion:  version.Version,
			Capabilities:  caps,
			WGPublicKey:   wgPublicKey(), // the current key: it may have been rotated
		}
	}
}
