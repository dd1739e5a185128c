//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/agent/runtime/cgroup"
	"github.com/clawfleet/clawfleet/agent/runtime/diskquota"
	"github.com/clawfleet/clawfleet/agent/runtime/hostfs"
	"github.com/clawfleet/clawfleet/agent/runtime/logtail"
	"github.com/clawfleet/clawfleet/agent/runtime/netns"
	"github.com/clawfleet/clawfleet/agent/runtime/uids"
	"github.com/clawfleet/clawfleet/agent/runtime/usage"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Files in a process tenant's directory <DataDir>/<tenantID>/.
const (
	procConfigFile = "config.json"   // OPENCLAW_CONFIG_PATH
	procStateDir   = "state"         // OPENCLAW_STATE_DIR
	procHomeDir    = "home"          // HOME
	procCacheDir   = "cache"         // XDG_CACHE_HOME
	procTmpDir     = "tmp"           // TMPDIR
	procLogFile    = "gateway.log"   // logging.file
	procStdoutFile = "stdout.log"    // captured stdout+stderr
	procPidFile    = "gateway.pid"   // pid (= process group) of the running gateway
	procMetaFile   = "instance.json" // present while the instance exists (Remove deletes it)
)

// Runtime runs each tenant gateway as a supervised native process.
//
// Choices worth knowing:
//   - Gateways get a clean environment (no agent variables), their own
//     HOME, XDG_CACHE_HOME, TMPDIR, OPENCLAW_STATE_DIR and
//     OPENCLAW_CONFIG_PATH, and run in their own process group (Setpgid),
//     with Pdeathsig SIGTERM so they follow the agent when it dies.
//   - Leftovers of a previous agent (a gateway.pid whose process still has
//     CLAWFLEET_TENANT=<id> in its environment) are killed, not adopted, by
//     New: a process that is not our child cannot be waited for or
//     have its output captured. The reconciler's next Ensure starts it again.
//   - Limits: with cgroup v2 (a writable cgroup.subtree_control), each
//     tenant gets <CgroupParent>/<id> with memory.max (+ memory.swap.max 0),
//     cpu.max from cpuMillis and pids.max, and is started inside it
//     (clone into cgroup). Without cgroup v2 the fallback is RLIMIT_CORE=0,
//     RLIMIT_NOFILE=65536, and NODE_OPTIONS=--max-old-space-size of 75% of
//     memoryBytes (a heap cap, not an RSS cap). RLIMIT_AS is not used (V8
//     reserves far more address space than it uses). RLIMIT_NPROC =
//     pidsLimit is set when each tenant has its own uid (it counts the
//     uid's tasks). The fallback does not limit CPU.
//   - Disk (DiskQuota, as root with e2fsprogs and loop devices): the tenant
//     directory is an ext4 filesystem in a sparse <id>.img of diskBytes,
//     loop-mounted nosuid,nodev (see diskquota.Quota); 2% stay reserved for the
//     agent's own files in it.
//   - Files: as root, each tenant runs as its own uid/gid (tenantIDs) and
//     owns its 0700 directory; the data dir is 0711, so a gateway reaches
//     its own directory and cannot list or enter the others. A directory
//     left by an older agent under another owner is chowned (without
//     following symlinks) before the gateway starts.
//   - Network (runtime.IsolationNetns, when root): each gateway runs in its
//     own network namespace cf-<tag>-<tenant id suffix>, joined to the host
//     by a veth pair on a /30 of NetnsPool chosen by the port (see
//     netns.Manager.Plan). The gateway listens on the namespace side (.2) only
//     and trusts only the host side (.1) as its proxy: the agent's tunnel
//     forwarder and readiness probe connect from there, while another
//     tenant's gateway, in its own namespace, can only connect from its own
//     .2 (tenant-to-tenant forwarding is also dropped, by the agent's
//     nftables table; without a firewall New fails unless
//     AllowWeakIsolation). Egress is routed and masqueraded through the
//     host. Without
//     root or iproute2 (runtime.IsolationLoopback) gateways listen on
//     127.0.0.1 and trust it with trustedProxy.allowLoopback, so every local
//     process is trusted; New warns.
type Runtime struct {
	opts    Options
	log     *slog.Logger
	uid     int // -1: do not switch; perTenant: tenantIDs
	gid     int
	uidBase int              // first per-tenant uid
	uids    *uids.Alloc      // perTenant: each tenant's uid
	cg      *cgroup.Cgroups  // nil: rlimit fallback
	nets    *netns.Manager   // nil: runtime.IsolationLoopback
	quota   *diskquota.Quota // nil: diskBytes not enforced
	// procs is the reading of /proc the tenants' usage is added up from
	// without cgroup v2: shared by every tenant's look for up to a second.
	procs   *usage.TableCache
	mu      sync.Mutex
	tenants map[string]*procTenant
	closed  bool
}

type procTenant struct {
	id string
	op sync.Mutex // serialises Ensure/Remove/Purge of this tenant

	mu        sync.Mutex // guards the fields below
	spec      proto.TenantSpec
	run       *procRun // nil: not running
	restarts  int
	lastErr   string
	crashes   []time.Time
	looping   bool      // in a crash loop (crashed): reported failed until a run lasts
	nextTry   time.Time // when the supervisor starts the gateway again; zero while one runs
	startErr  string    // the last Ensure could not start it
	configKey string    // port+limits the running process was started with
	meta      []byte    // instance.json as the last successful Ensure wrote it
}

type procMeta struct {
	TenantID   string `json:"tenantId"`
	Port       int    `json:"port"`
	RestartGen int64  `json:"restartGen"`
	State      string `json:"state"` // desired
}

// New returns a process runtime. It kills gateways left running by a
// previous agent (see Process).
func New(opts Options) (*Runtime, error) {
	if opts.OpenClawBin == "" || opts.DataDir == "" {
		return nil, errors.New("process runtime: OpenClawBin and DataDir are required")
	}
	bin, err := filepath.Abs(opts.OpenClawBin)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(bin)
	if err != nil {
		return nil, fmt.Errorf("process runtime: openclaw binary: %w", err)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("process runtime: %s is not executable", bin)
	}
	opts.OpenClawBin = bin
	if opts.DataDir, err = filepath.Abs(opts.DataDir); err != nil {
		return nil, err
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 10 * time.Second
	}
	p := &Runtime{opts: opts, log: opts.Logger, uid: -1, gid: -1, tenants: map[string]*procTenant{}, procs: usage.NewTableCache(time.Second)}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.log = p.log.With("runtime", "process")
	if err := os.MkdirAll(opts.DataDir, 0o711); err != nil {
		return nil, fmt.Errorf("process runtime: data dir: %w", err)
	}
	// The path as the kernel reports mounts in it (mountOf compares paths).
	if real, err := filepath.EvalSymlinks(opts.DataDir); err == nil {
		opts.DataDir, p.opts.DataDir = real, real
	}
	if os.Geteuid() == 0 {
		p.uid, p.gid = runAsIDs(opts.RunAsUID, opts.RunAsGID)
		p.uidBase = opts.TenantUIDBase
		if p.uidBase <= 0 {
			p.uidBase = uids.DefaultBase
		}
		if p.uid == perTenant {
			id := runtime.AgentID(opts.DataDir)
			var err error
			if p.uids, err = uids.New(opts.DataDir, p.uidBase, uint32(id[0])<<8|uint32(id[1])); err != nil {
				return nil, fmt.Errorf("process runtime: %w", err)
			}
		}
		// Tenants must be able to reach their own directory.
		if err := os.Chmod(opts.DataDir, 0o711); err != nil {
			return nil, err
		}
		if p.uid != -1 {
			if err := p.gatewaysReach(); err != nil {
				return nil, fmt.Errorf("process runtime: %w", err)
			}
		}
	}
	if opts.CgroupParent != "off" {
		parent := opts.CgroupParent
		if parent == "" {
			parent = "/sys/fs/cgroup/clawfleet"
		}
		if cg, err := cgroup.New(parent); err != nil {
			p.log.Warn("cgroup v2 not usable; limiting gateways with rlimits and a Node heap cap only (no CPU limit; pids only with per-tenant uids)", "err", err)
		} else {
			p.cg = cg
			p.log.Info("limiting gateways with cgroup v2", "parent", parent)
		}
	} else {
		p.log.Warn("cgroups disabled; limiting gateways with rlimits and a Node heap cap only (no CPU limit; pids only with per-tenant uids)")
	}
	switch opts.Network {
	case "", runtime.NetworkAuto, runtime.IsolationNetns:
		nets, err := netns.New(opts.NetnsPool, opts.DataDir, opts.AllowWeakIsolation, p.log)
		if err != nil {
			// Namespaces without their firewall are weaker than asked for
			// and than auto promises: never fall back silently.
			if opts.Network == runtime.IsolationNetns || errors.Is(err, netns.ErrNoFirewall) {
				return nil, fmt.Errorf("process runtime: network namespaces: %w", err)
			}
			p.log.Warn("no network namespaces for gateways ("+err.Error()+"): they listen on 127.0.0.1 and trust it as their proxy (trustedProxy.allowLoopback), so EVERY LOCAL PROCESS can reach any gateway as its owner; run the agent as root with iproute2 to isolate them", "isolation", runtime.IsolationLoopback)
		} else {
			p.nets = nets
			p.log.Info("gateways run in their own network namespaces", "isolation", runtime.IsolationNetns, "pool", nets.Pool(), "firewall", nets.Filters())
		}
	case runtime.IsolationLoopback:
		p.log.Warn("network namespaces disabled: gateways listen on 127.0.0.1 and trust it as their proxy (trustedProxy.allowLoopback), so EVERY LOCAL PROCESS can reach any gateway as its owner", "isolation", runtime.IsolationLoopback)
	default:
		return nil, fmt.Errorf("process runtime: network %q: use %s, %s or %s", opts.Network, runtime.NetworkAuto, runtime.IsolationNetns, runtime.IsolationLoopback)
	}
	q, err := diskquota.Start(opts.DiskQuota, opts.DataDir, "", p.log)
	if err != nil {
		if p.nets != nil {
			p.nets.Close() // its route and firewall table
		}
		return nil, fmt.Errorf("process runtime: %w", err)
	}
	if q != nil {
		p.quota = q
		q.MountAll(opts.DataDir)
		q.KeepSpares(opts.DataDir, opts.DiskSpares)
	}
	p.killLeftovers()
	if p.nets != nil {
		p.nets.Cleanup(func(id string) bool {
			_, err := os.Lstat(filepath.Join(opts.DataDir, id, procMetaFile))
			return err == nil
		})
	}
	return p, nil
}

// Name implements runtime.Runtime.
func (p *Runtime) Name() string { return "process" }

func (p *Runtime) tenant(id string, create bool) *procTenant {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.tenants[id]
	if t == nil && create {
		t = &procTenant{id: id}
		p.tenants[id] = t
	}
	return t
}

// Ensure implements runtime.Runtime.
func (p *Runtime) Ensure(ctx context.Context, spec proto.TenantSpec) error {
	if err := proto.ValidateTenantID(spec.ID); err != nil {
		return err
	}
	if spec.Port < 1024 || spec.Port > 65535-proto.PortSpacing {
		return fmt.Errorf("tenant %s: port %d out of range", spec.ID, spec.Port)
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return errors.New("process runtime closed")
	}
	t := p.tenant(spec.ID, true)
	t0 := time.Now()
	t.op.Lock()
	defer t.op.Unlock()
	locked := time.Now()

	tn, gwOpts, _, err := p.network(spec)
	if err != nil {
		return p.ensureFailed(t, spec, fmt.Errorf("tenant %s: %w", spec.ID, err))
	}
	planned := time.Now()
	err = p.prepareDir(spec, gwOpts)
	if errors.Is(err, diskquota.ErrGrowOffline) {
		err = p.growDiskOffline(t, spec, gwOpts)
	}
	if err != nil {
		return p.ensureFailed(t, spec, fmt.Errorf("tenant %s: preparing its directory: %w", spec.ID, err))
	}
	if err := p.netCollision(spec, tn); err != nil {
		return p.ensureFailed(t, spec, fmt.Errorf("tenant %s: %w", spec.ID, err))
	}
	key := p.configKey(spec)
	t.mu.Lock()
	run, gen, oldKey := t.run, t.spec.RestartGen, t.configKey
	t.mu.Unlock()

	if spec.State != proto.TenantRunning {
		if run != nil {
			p.log.Info("stopping gateway", "tenant", spec.ID)
			p.stopRun(run)
		}
		t.mu.Lock()
		t.run, t.spec, t.startErr = nil, spec, ""
		t.mu.Unlock()
		return p.saveMeta(t, spec)
	}
	if run != nil {
		select {
		case <-run.done: // supervisor gone (should not happen)
			run = nil
		default:
		}
	}
	if run != nil && gen == spec.RestartGen && oldKey == key {
		t.mu.Lock()
		t.spec = spec
		t.mu.Unlock()
		if p.cg != nil {
			_ = p.cg.SetLimits(spec.ID, spec)
		}
		return p.saveMeta(t, spec)
	}
	if run != nil {
		p.log.Info("restarting gateway", "tenant", spec.ID, "restartGen", spec.RestartGen, "previousGen", gen, "configChanged", oldKey != key)
		p.stopRun(run)
		t.mu.Lock()
		t.run = nil
		t.mu.Unlock()
	}
	prepared := time.Now()
	if tn != nil {
		// The gateway's ports are its namespace's own; only its network matters.
		if err := p.nets.Ensure(*tn); err != nil {
			return p.ensureFailed(t, spec, fmt.Errorf("tenant %s: %w", spec.ID, err))
		}
	} else if err := runtime.CheckPorts(spec.Port); err != nil {
		return p.ensureFailed(t, spec, fmt.Errorf("tenant %s: %w", spec.ID, err))
	}
	netReady := time.Now()
	run = &procRun{stopCh: make(chan struct{}), done: make(chan struct{}), exits: make(chan exitEvent, 1)}
	if err := p.spawn(t, spec, run); err != nil {
		return p.ensureFailed(t, spec, fmt.Errorf("tenant %s: starting gateway: %w", spec.ID, err))
	}
	t.mu.Lock()
	t.run, t.spec, t.configKey, t.startErr = run, spec, key, ""
	t.crashes, t.looping, t.nextTry = nil, false, time.Time{} // a new run is a fresh try
	t.mu.Unlock()
	pid := run.pid // read before supervise may change it
	go p.supervise(t, spec, run)
	p.log.Info("gateway started", "tenant", spec.ID, "port", spec.Port, "pid", pid, "restartGen", spec.RestartGen, "isolation", p.Isolation(), "listen", gwOpts.CustomBindHost, "trustedProxies", gwOpts.TrustedProxies)
	// Where a start's time goes (tenants started together wait for each
	// other's share of the machine).
	p.log.Debug("gateway start timed", "tenant", spec.ID, "lockWait", locked.Sub(t0), "plan", planned.Sub(locked),
		"dir", prepared.Sub(planned), "network", netReady.Sub(prepared), "spawn", time.Since(netReady))
	return p.saveMeta(t, spec)
}

func (p *Runtime) ensureFailed(t *procTenant, spec proto.TenantSpec, err error) error {
	t.mu.Lock()
	t.spec, t.startErr, t.meta = spec, err.Error(), nil
	t.mu.Unlock()
	_ = p.writeMeta(spec)
	return err
}

// configKey captures what a running gateway cannot pick up without a
// restart. (Token and allowed origins are picked up by OpenClaw's config
// hot reload.)
func (p *Runtime) configKey(s proto.TenantSpec) string {
	k := fmt.Sprintf("port=%d", s.Port)
	if p.cg == nil { // rlimits and NODE_OPTIONS are fixed at exec
		k += fmt.Sprintf(" mem=%d", s.MemoryBytes)
	}
	return k
}

// Remove implements runtime.Runtime: the gateway is stopped and the instance
// forgotten (List no longer shows it); its directory stays.
func (p *Runtime) Remove(ctx context.Context, tenantID string) error {
	if err := proto.ValidateTenantID(tenantID); err != nil {
		return err
	}
	if t := p.tenant(tenantID, false); t != nil {
		t.op.Lock()
		defer t.op.Unlock()
		t.mu.Lock()
		run := t.run
		t.run = nil
		t.mu.Unlock()
		if run != nil {
			p.stopRun(run)
		}
		p.mu.Lock()
		if p.tenants[tenantID] == t {
			delete(p.tenants, tenantID)
		}
		p.mu.Unlock()
	}
	if p.cg != nil {
		p.cg.Remove(tenantID)
	}
	if p.nets != nil {
		p.nets.Remove(tenantID)
	}
	err := os.Remove(filepath.Join(p.tenantDir(tenantID), procMetaFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if p.uids != nil {
		if uid, ok := p.uids.All()[tenantID]; ok {
			// Nothing of the tenant runs on (a daemon that left the
			// gateway's process group), nothing of it waits in /tmp, and its
			// kept data is root's until it comes back.
			if n := uids.Kill(uid); n > 0 {
				p.log.Warn("killed processes the tenant's gateway left behind", "tenant", tenantID, "uid", uid, "processes", n)
			}
			uids.RemoveFiles(uid)
			if err := hostfs.LockDir(p.tenantDir(tenantID)); err != nil {
				return err
			}
		}
	}
	if p.quota != nil {
		// The data stays in the image (kept data); nothing holds it mounted.
		return p.quota.Release(p.tenantDir(tenantID))
	}
	return nil
}

// Purge implements runtime.Runtime.
func (p *Runtime) Purge(ctx context.Context, tenantID string) error {
	if err := p.Remove(ctx, tenantID); err != nil {
		return err
	}
	if err := os.RemoveAll(p.tenantDir(tenantID)); err != nil {
		return err
	}
	if err := os.Remove(p.imagePath(tenantID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if p.uids != nil {
		return p.uids.Release(tenantID) // nothing of it is left: its uid may go to another
	}
	return nil
}

// snapshot returns the tenants known in memory.
func (p *Runtime) snapshot() []*procTenant {
	p.mu.Lock()
	defer p.mu.Unlock()
	ts := make([]*procTenant, 0, len(p.tenants))
	for _, t := range p.tenants {
		ts = append(ts, t)
	}
	return ts
}

// List implements runtime.Runtime: tenants known in memory plus tenant directories
// with an instance file (those of a previous agent: stopped).
func (p *Runtime) List(ctx context.Context) ([]runtime.Instance, error) {
	seen := map[string]bool{}
	var out []runtime.Instance
	ts := p.snapshot()
	for _, t := range ts {
		in, pid := t.instance()
		in.Usage = p.usage(t.id, pid)
		out = append(out, p.withNet(in))
		seen[t.id] = true
	}
	entries, err := os.ReadDir(p.opts.DataDir)
	if err != nil {
		return out, err
	}
	for _, e := range entries {
		id := e.Name()
		if seen[id] || !e.IsDir() || proto.ValidateTenantID(id) != nil {
			continue
		}
		// Anything in the file's place (junk, a FIFO) still makes it an
		// instance, which the reconciler removes unless it is desired.
		m, err := p.readMeta(id)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		out = append(out, p.withNet(runtime.Instance{TenantID: id, State: proto.TenantStopped, RestartGen: m.RestartGen, Port: m.Port}))
	}
	return out, nil
}

// Instance implements runtime.InstanceGetter: a tenant this runtime runs,
// as List shows it.
func (p *Runtime) Instance(_ context.Context, tenantID string) (runtime.Instance, bool) {
	t := p.tenant(tenantID, false)
	if t == nil {
		return runtime.Instance{}, false
	}
	in, pid := t.instance()
	in.Usage = p.usage(t.id, pid)
	return p.withNet(in), true
}

// withNet fills in the instance's isolation, upstream and disk usage.
func (p *Runtime) withNet(in runtime.Instance) runtime.Instance {
	in.Isolation = p.Isolation()
	if p.quota != nil {
		if used, total, ok := p.quota.Usage(p.tenantDir(in.TenantID), p.imagePath(in.TenantID)); ok {
			in.DiskUsedBytes, in.DiskTotalBytes = used, total
		}
	}
	if in.Port > 0 {
		if _, _, up, err := p.network(proto.TenantSpec{ID: in.TenantID, Port: in.Port}); err == nil {
			in.Upstream = up
		}
	}
	return in
}

// usage measures a running gateway (pid > 0): from its cgroup when the
// runtime gave it one, else from its process tree in /proc. Both are a few
// small file reads, cheap enough for every status report.
func (p *Runtime) usage(id string, pid int) *proto.TenantUsage {
	if pid <= 0 {
		return nil
	}
	var u proto.TenantUsage
	var err error
	if p.cg != nil {
		u, err = usage.FromCgroup(p.cg.Dir(id))
	} else {
		u, err = p.procs.Tree(pid) // AtMs: when /proc was read
	}
	if err != nil { // exited meanwhile, or the cgroup is gone: no figure this time
		p.log.Debug("tenant usage", "tenant", id, "err", err)
		return nil
	}
	return &u
}

// instance is the tenant's state, and its gateway's pid when it runs (0
// otherwise).
func (t *procTenant) instance() (runtime.Instance, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := runtime.Instance{TenantID: t.id, Restarts: t.restarts, RestartGen: t.spec.RestartGen, Port: t.spec.Port}
	pid := 0
	switch {
	case t.run == nil && t.startErr != "":
		in.State, in.Error = proto.TenantFailed, t.startErr
	case t.run == nil:
		in.State = proto.TenantStopped
	default:
		in.State = proto.TenantStarting
		t.run.mu.Lock()
		up := t.run.pid > 0
		if up {
			in.StartedAtMs = t.run.started.UnixMilli()
			pid = t.run.pid
		}
		lasted := up && time.Since(t.run.started) >= backoffResetAge
		t.run.mu.Unlock()
		if t.looping && !lasted {
			in.State, in.Error = proto.TenantFailed, t.loopError()
		}
	}
	return in, pid
}

// Logs implements runtime.Runtime: the tail of the gateway's log file, then of its
// captured stdout/stderr (lines prefixed "stdout| ").
func (p *Runtime) Logs(ctx context.Context, tenantID string, tail int) ([]string, error) {
	if err := proto.ValidateTenantID(tenantID); err != nil {
		return nil, err
	}
	dir := p.tenantDir(tenantID)
	if _, err := os.Lstat(dir); err != nil {
		return nil, runtime.ErrNotFound
	}
	if tail > proto.MaxLogLines {
		tail = proto.MaxLogLines
	}
	gw, err := logtail.Tail(filepath.Join(dir, procLogFile), tail)
	if err != nil {
		return nil, err
	}
	so, err := logtail.Tail(filepath.Join(dir, procStdoutFile), tail)
	if err != nil {
		return nil, err
	}
	return logtail.Merge(gw, so, "stdout| ", tail), nil
}

// Close implements runtime.Runtime: every gateway is stopped (they are children of
// the agent and would die with it anyway), and its network namespace
// removed (the next agent makes it again; one left by a crash is reused).
func (p *Runtime) Close() error {
	p.mu.Lock()
	p.closed = true
	ts := make([]*procTenant, 0, len(p.tenants))
	for _, t := range p.tenants {
		ts = append(ts, t)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range ts {
		t.mu.Lock()
		run := t.run
		t.run = nil
		t.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if run != nil {
				p.stopRun(run)
			}
			if p.nets != nil {
				p.nets.Remove(t.id)
			}
		}()
	}
	wg.Wait()
	if p.nets != nil {
		p.nets.Close()
	}
	if p.quota != nil {
		p.quota.Close()
		// Gateways are stopped: nothing should hold the tenants' disks
		// mounted past the agent (New mounts them again).
		p.quota.ReleaseAll(p.opts.DataDir)
	}
	return nil
}
