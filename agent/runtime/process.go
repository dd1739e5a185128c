//go:build linux

package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime/gateway"
	"github.com/clawfleet/clawfleet/pkg/atomicfile"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// ProcessOptions configures the process runtime.
type ProcessOptions struct {
	// OpenClawBin is an executable running the OpenClaw CLI (or the
	// stand-in): it is run as `<bin> gateway --port <port>`. Every directory
	// on its path must be traversable, and the file executable, by the
	// RunAs user. Required.
	OpenClawBin string
	// DataDir holds one directory per tenant (<DataDir>/<tenantID>/), which
	// is the runtime's persistent state. Created 0711 if missing. Required.
	DataDir string
	// RunAsUID and RunAsGID are the identity gateways run as when the agent
	// runs as root. 0 (the default) gives every tenant its own uid and gid
	// (see TenantUIDBase), so that one tenant's gateway — which runs its
	// agent's tools and shell commands — cannot read another's files. A
	// positive RunAsUID makes every tenant share that identity (gid 65534
	// unless RunAsGID is set). -1 runs them as the agent's own user (tests,
	// development). Ignored when the agent is not root.
	RunAsUID, RunAsGID int
	// TenantUIDBase is the first of the per-tenant uids (and gids): each
	// agent takes its tenants' uids from a window of 1024 above it chosen by
	// a number from its data dir (0-65535), hands each tenant one for as
	// long as its data exists (kept in <DataDir>/.tenant-uids.json), and
	// gives a freed uid out again last. 0 means DefaultTenantUIDBase. The
	// range must not hold real users: by default 1,500,000 to 68,608,863.
	TenantUIDBase int
	// CgroupParent is the cgroup v2 directory under which a cgroup per
	// tenant is created ("" means /sys/fs/cgroup/clawfleet; "off" disables
	// cgroups). When cgroup v2 is not usable the runtime falls back to
	// rlimits and logs so.
	CgroupParent string
	// Env is extra KEY=VALUE environment for every gateway (e.g. proxy
	// settings). The runtime's own variables win.
	Env []string
	// StopTimeout is how long a gateway gets between SIGTERM and SIGKILL
	// (default 10 s).
	StopTimeout time.Duration
	// Network is how gateways are isolated: NetworkAuto (""), IsolationNetns
	// (required: NewProcess fails without it) or IsolationLoopback.
	Network string
	// NetnsPool is the IPv4 pool of the tenants' /30 networks
	// (DefaultNetnsPool when empty).
	NetnsPool string
	// DiskQuota is how a plan's diskBytes is enforced: DiskQuotaAuto ("",
	// loop images when the agent is root and can mount them, else none with
	// a warning), DiskQuotaLoop (required) or DiskQuotaOff.
	DiskQuota string
	// Logger receives the runtime's logs; nil is slog.Default().
	Logger *slog.Logger
}

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

// Supervision parameters (variables for tests).
var (
	backoffMin      = time.Second
	backoffMax      = 60 * time.Second
	backoffResetAge = 60 * time.Second // an instance up this long restarts after backoffMin again
	failWindow      = 2 * time.Minute  // more than failCrashes crashes within failWindow: reported failed
	failCrashes     = 5
	maxStdoutBytes  = int64(1 << 20) // stdout.log is rotated to stdout.log.1 beyond this at a (re)start
)

// Process runs each tenant gateway as a supervised native process.
//
// Choices worth knowing:
//   - Gateways get a clean environment (no agent variables), their own
//     HOME, XDG_CACHE_HOME, TMPDIR, OPENCLAW_STATE_DIR and
//     OPENCLAW_CONFIG_PATH, and run in their own process group (Setpgid),
//     with Pdeathsig SIGTERM so they follow the agent when it dies.
//   - Leftovers of a previous agent (a gateway.pid whose process still has
//     CLAWFLEET_TENANT=<id> in its environment) are killed, not adopted, by
//     NewProcess: a process that is not our child cannot be waited for or
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
//     loop-mounted nosuid,nodev (see diskQuota); 2% stay reserved for the
//     agent's own files in it.
//   - Files: as root, each tenant runs as its own uid/gid (tenantIDs) and
//     owns its 0700 directory; the data dir is 0711, so a gateway reaches
//     its own directory and cannot list or enter the others. A directory
//     left by an older agent under another owner is chowned (without
//     following symlinks) before the gateway starts.
//   - Network (IsolationNetns, when root): each gateway runs in its own
//     network namespace cf-<tag>-<tenant id suffix>, joined to the host by
//     a veth pair on a /30 of NetnsPool chosen by the port (see
//     netnsNet.plan). The gateway listens on the namespace side (.2) only
//     and trusts only the host side (.1) as its proxy: the agent's tunnel
//     forwarder and readiness probe connect from there, while another
//     tenant's gateway, in its own namespace, can only connect from its own
//     .2 (tenant-to-tenant forwarding is also dropped where iptables
//     exists). Egress is routed and masqueraded through the host. Without
//     root or iproute2 (IsolationLoopback) gateways listen on 127.0.0.1 and
//     trust it with trustedProxy.allowLoopback, so every local process is
//     trusted; NewProcess warns.
type Process struct {
	opts    ProcessOptions
	log     *slog.Logger
	uid     int // -1: do not switch; perTenant: tenantIDs
	gid     int
	uidBase int        // first per-tenant uid
	uids    *uidAlloc  // perTenant: each tenant's uid
	cg      *cgroups   // nil: rlimit fallback
	nets    *netnsNet  // nil: IsolationLoopback
	quota   *diskQuota // nil: diskBytes not enforced
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
	startErr  string // the last Ensure could not start it
	configKey string // port+limits the running process was started with
	meta      []byte // instance.json as the last successful Ensure wrote it
}

// procRun is one supervised run: successive processes until stopped.
type procRun struct {
	stopCh chan struct{}
	done   chan struct{}
	exits  chan exitEvent // one per process, from its waiter

	mu       sync.Mutex
	stopping bool
	pid      int
	started  time.Time
}

type procMeta struct {
	TenantID   string `json:"tenantId"`
	Port       int    `json:"port"`
	RestartGen int64  `json:"restartGen"`
	State      string `json:"state"` // desired
}

// NewProcess returns a process runtime. It kills gateways left running by a
// previous agent (see Process).
func NewProcess(opts ProcessOptions) (*Process, error) {
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
	p := &Process{opts: opts, log: opts.Logger, uid: -1, gid: -1, tenants: map[string]*procTenant{}}
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
			p.uidBase = DefaultTenantUIDBase
		}
		if p.uid == perTenant {
			id := agentID(opts.DataDir)
			var err error
			if p.uids, err = newUIDAlloc(opts.DataDir, p.uidBase, uint32(id[0])<<8|uint32(id[1])); err != nil {
				return nil, fmt.Errorf("process runtime: %w", err)
			}
		}
		// Tenants must be able to reach their own directory.
		if err := os.Chmod(opts.DataDir, 0o711); err != nil {
			return nil, err
		}
	}
	if opts.CgroupParent != "off" {
		parent := opts.CgroupParent
		if parent == "" {
			parent = "/sys/fs/cgroup/clawfleet"
		}
		if cg, err := newCgroups(parent); err != nil {
			p.log.Warn("cgroup v2 not usable; limiting gateways with rlimits and a Node heap cap only (no CPU limit; pids only with per-tenant uids)", "err", err)
		} else {
			p.cg = cg
			p.log.Info("limiting gateways with cgroup v2", "parent", parent)
		}
	} else {
		p.log.Warn("cgroups disabled; limiting gateways with rlimits and a Node heap cap only (no CPU limit; pids only with per-tenant uids)")
	}
	switch opts.Network {
	case "", NetworkAuto, IsolationNetns:
		nets, err := newNetnsNet(opts.NetnsPool, opts.DataDir, p.log)
		if err != nil {
			if opts.Network == IsolationNetns {
				return nil, fmt.Errorf("process runtime: network namespaces: %w", err)
			}
			p.log.Warn("no network namespaces for gateways ("+err.Error()+"): they listen on 127.0.0.1 and trust it as their proxy (trustedProxy.allowLoopback), so EVERY LOCAL PROCESS can reach any gateway as its owner; run the agent as root with iproute2 and util-linux (nsenter, setpriv) to isolate them", "isolation", IsolationLoopback)
		} else {
			p.nets = nets
			p.log.Info("gateways run in their own network namespaces", "isolation", IsolationNetns, "pool", nets.pool, "iptables", nets.iptables != "")
		}
	case IsolationLoopback:
		p.log.Warn("network namespaces disabled: gateways listen on 127.0.0.1 and trust it as their proxy (trustedProxy.allowLoopback), so EVERY LOCAL PROCESS can reach any gateway as its owner", "isolation", IsolationLoopback)
	default:
		return nil, fmt.Errorf("process runtime: network %q: use %s, %s or %s", opts.Network, NetworkAuto, IsolationNetns, IsolationLoopback)
	}
	q, err := startDiskQuota(opts.DiskQuota, opts.DataDir, "", p.log)
	if err != nil {
		return nil, fmt.Errorf("process runtime: %w", err)
	}
	if q != nil {
		p.quota = q
		q.mountAll(opts.DataDir)
	}
	p.killLeftovers()
	if p.nets != nil {
		p.nets.cleanup(func(id string) bool {
			_, err := os.Stat(filepath.Join(opts.DataDir, id, procMetaFile))
			return err == nil
		})
	}
	return p, nil
}

// Isolation is IsolationNetns or IsolationLoopback.
func (p *Process) Isolation() string {
	if p.nets != nil {
		return IsolationNetns
	}
	return IsolationLoopback
}

// network returns the gateway's network: its namespace (netns isolation
// only), the gateway config's bind options and the address the proxy path
// dials.
func (p *Process) network(spec proto.TenantSpec) (*tenantNet, gateway.Options, string, error) {
	o := gateway.Options{Port: spec.Port, LogFile: filepath.Join(p.tenantDir(spec.ID), procLogFile)}
	port := strconv.Itoa(spec.Port)
	if p.nets == nil {
		o.Bind, o.TrustedProxies, o.AllowLoopback = gateway.BindLoopback, []string{"127.0.0.1"}, true
		return nil, o, net.JoinHostPort("127.0.0.1", port), nil
	}
	tn, err := p.nets.plan(spec.ID, spec.Port)
	if err != nil {
		return nil, o, "", err
	}
	o.Bind, o.CustomBindHost, o.TrustedProxies = gateway.BindCustom, tn.gw.String(), []string{tn.host.String()}
	return &tn, o, net.JoinHostPort(tn.gw.String(), port), nil
}

// netCollision fails when another tenant of this runtime (running or
// stopped, or known only from its directory) would get the same /30 as
// spec. A tenant whose own Ensure failed holds none.
func (p *Process) netCollision(spec proto.TenantSpec, tn *tenantNet) error {
	if tn == nil {
		return nil
	}
	clash := func(id string, port int) error {
		if id != spec.ID && port/proto.PortSpacing == spec.Port/proto.PortSpacing {
			return fmt.Errorf("%w: port %d gives tenant network %d, already taken by tenant %s (port %d)", ErrPortInUse, spec.Port, tn.index, id, port)
		}
		return nil
	}
	ts := p.snapshot()
	for _, t := range ts {
		if t.id == spec.ID {
			continue
		}
		t.mu.Lock()
		port, failed := t.spec.Port, t.startErr != ""
		t.mu.Unlock()
		if failed { // holds no network (e.g. refused for this very clash)
			continue
		}
		if err := clash(t.id, port); err != nil {
			return err
		}
	}
	entries, _ := os.ReadDir(p.opts.DataDir)
	for _, e := range entries {
		if e.Name() == spec.ID || p.tenant(e.Name(), false) != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(p.opts.DataDir, e.Name(), procMetaFile))
		if err != nil {
			continue
		}
		var m procMeta
		if json.Unmarshal(b, &m) == nil {
			if err := clash(e.Name(), m.Port); err != nil {
				return err
			}
		}
	}
	return nil
}

// DefaultTenantUIDBase is the first per-tenant uid: above the ranges
// distributions hand to users (< 60000) and to the first subordinate id
// ranges of user namespaces (100000 + 65536 per user).
const DefaultTenantUIDBase = 1_500_000

// perTenant marks Process.uid: each tenant gets its own identity.
const perTenant = -2

func runAsIDs(uid, gid int) (int, int) {
	switch {
	case uid == -1:
		return -1, -1
	case uid <= 0:
		return perTenant, perTenant
	}
	if gid <= 0 {
		gid = 65534
	}
	return uid, gid
}

// tenantIDs is the uid and gid a tenant's gateway runs as (-1: the agent's).
func (p *Process) tenantIDs(id string) (int, int, error) {
	if p.uid != perTenant {
		return p.uid, p.gid, nil
	}
	uid, err := p.uids.get(id)
	return uid, uid, err
}

// mayTake reports whether chownTree may hand a file of owner to a tenant:
// one of the tenant uids or the shared user of older agents, never another
// user's file that found its way in.
func (p *Process) mayTake(owner int) bool {
	return owner == 65534 || inTenantRange(owner, p.uidBase)
}

// Name implements Runtime.
func (p *Process) Name() string { return "process" }

func (p *Process) tenantDir(id string) string { return filepath.Join(p.opts.DataDir, id) }

// imagePath is the tenant's disk image (DiskQuota).
func (p *Process) imagePath(id string) string { return filepath.Join(p.opts.DataDir, id+".img") }

func (p *Process) tenant(id string, create bool) *procTenant {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.tenants[id]
	if t == nil && create {
		t = &procTenant{id: id}
		p.tenants[id] = t
	}
	return t
}

// Ensure implements Runtime.
func (p *Process) Ensure(ctx context.Context, spec proto.TenantSpec) error {
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
	t.op.Lock()
	defer t.op.Unlock()

	tn, gwOpts, _, err := p.network(spec)
	if err != nil {
		return p.ensureFailed(t, spec, fmt.Errorf("tenant %s: %w", spec.ID, err))
	}
	err = p.prepareDir(spec, gwOpts)
	if errors.Is(err, errGrowOffline) {
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
			_ = p.cg.setLimits(spec.ID, spec)
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
	if tn != nil {
		// The gateway's ports are its namespace's own; only its network matters.
		if err := p.nets.ensure(*tn); err != nil {
			return p.ensureFailed(t, spec, fmt.Errorf("tenant %s: %w", spec.ID, err))
		}
	} else if err := checkPorts(spec.Port); err != nil {
		return p.ensureFailed(t, spec, fmt.Errorf("tenant %s: %w", spec.ID, err))
	}
	run = &procRun{stopCh: make(chan struct{}), done: make(chan struct{}), exits: make(chan exitEvent, 1)}
	if err := p.spawn(t, spec, run); err != nil {
		return p.ensureFailed(t, spec, fmt.Errorf("tenant %s: starting gateway: %w", spec.ID, err))
	}
	t.mu.Lock()
	t.run, t.spec, t.configKey, t.startErr = run, spec, key, ""
	t.mu.Unlock()
	go p.supervise(t, spec, run)
	p.log.Info("gateway started", "tenant", spec.ID, "port", spec.Port, "pid", run.pid, "restartGen", spec.RestartGen, "isolation", p.Isolation(), "listen", gwOpts.CustomBindHost, "trustedProxies", gwOpts.TrustedProxies)
	return p.saveMeta(t, spec)
}

func (p *Process) ensureFailed(t *procTenant, spec proto.TenantSpec, err error) error {
	t.mu.Lock()
	t.spec, t.startErr, t.meta = spec, err.Error(), nil
	t.mu.Unlock()
	_ = p.writeMeta(spec)
	return err
}

// configKey captures what a running gateway cannot pick up without a
// restart. (Token and allowed origins are picked up by OpenClaw's config
// hot reload.)
func (p *Process) configKey(s proto.TenantSpec) string {
	k := fmt.Sprintf("port=%d", s.Port)
	if p.cg == nil { // rlimits and NODE_OPTIONS are fixed at exec
		k += fmt.Sprintf(" mem=%d", s.MemoryBytes)
	}
	return k
}

// checkPorts fails when base, or one of the ports a gateway derives from it
// (base+1 .. base+PortSpacing-1), cannot be bound on loopback.
func checkPorts(base int) error {
	for port := base; port < base+proto.PortSpacing; port++ {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			if port == base {
				return fmt.Errorf("%w: port %d is already in use on 127.0.0.1 by another process", ErrPortInUse, port)
			}
			return fmt.Errorf("%w: port %d (base port %d + %d, used by the gateway's browser/CDP services) is already in use on 127.0.0.1 by another process", ErrPortInUse, port, base, port-base)
		}
		l.Close()
	}
	return nil
}

// prepareDir creates the tenant directory and writes its config file. The
// directory is owned by the tenant's uid (OpenClaw rewrites its config with
// a rename in that directory), so nothing here follows symlinks in it.
func (p *Process) prepareDir(spec proto.TenantSpec, o gateway.Options) error {
	dir := p.tenantDir(spec.ID)
	uid, gid, err := p.tenantIDs(spec.ID)
	if err != nil {
		return err
	}
	if size, ok, err := diskSize(p.quota != nil, p.imagePath(spec.ID), spec.DiskBytes); err != nil {
		return err
	} else if ok {
		if err := p.quota.ensure(dir, p.imagePath(spec.ID), size, max(uid, 0), max(gid, 0)); err != nil {
			return fmt.Errorf("disk quota: %w", err)
		}
	}
	if err := chownTree(dir, uid, gid, p.mayTake); err != nil {
		return fmt.Errorf("give the tenant directory to uid %d: %w", uid, err)
	}
	if err := mkdirNoFollow(dir, 0o700, uid, gid); err != nil {
		return err
	}
	for _, sub := range []string{procStateDir, procHomeDir, procCacheDir, procTmpDir} {
		if err := mkdirNoFollow(filepath.Join(dir, sub), 0o700, uid, gid); err != nil {
			return err
		}
	}
	_, err = gateway.Write(filepath.Join(dir, procConfigFile), spec, o, uid, gid)
	return err
}

// growDiskOffline stops t's gateway so that its disk can grow unmounted; the
// rest of Ensure starts it again. The caller holds t.op.
func (p *Process) growDiskOffline(t *procTenant, spec proto.TenantSpec, o gateway.Options) error {
	t.mu.Lock()
	run := t.run
	t.run = nil
	t.mu.Unlock()
	if run != nil {
		p.log.Info("stopping gateway to grow its disk", "tenant", spec.ID)
		p.stopRun(run)
	}
	if err := p.quota.growOffline(p.tenantDir(spec.ID), p.imagePath(spec.ID)); err != nil {
		return err
	}
	return p.prepareDir(spec, o)
}

func metaOf(spec proto.TenantSpec) []byte {
	b, _ := json.Marshal(procMeta{TenantID: spec.ID, Port: spec.Port, RestartGen: spec.RestartGen, State: spec.State})
	return b
}

func (p *Process) writeMeta(spec proto.TenantSpec) error {
	return atomicfile.WriteFile(filepath.Join(p.tenantDir(spec.ID), procMetaFile), metaOf(spec), 0o600)
}

// saveMeta writes t's instance file unless it holds spec already: Ensure
// runs every few seconds for every tenant, and each write is synced to disk.
func (p *Process) saveMeta(t *procTenant, spec proto.TenantSpec) error {
	b := metaOf(spec)
	t.mu.Lock()
	same := bytes.Equal(t.meta, b)
	t.mu.Unlock()
	if same {
		return nil
	}
	if err := p.writeMeta(spec); err != nil {
		return err
	}
	t.mu.Lock()
	t.meta = b
	t.mu.Unlock()
	return nil
}

func (p *Process) env(spec proto.TenantSpec) []string {
	dir := p.tenantDir(spec.ID)
	own := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=C.UTF-8",
		"HOME=" + filepath.Join(dir, procHomeDir),
		"XDG_CACHE_HOME=" + filepath.Join(dir, procCacheDir),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, procHomeDir, ".config"),
		"TMPDIR=" + filepath.Join(dir, procTmpDir),
		"OPENCLAW_STATE_DIR=" + filepath.Join(dir, procStateDir),
		"OPENCLAW_CONFIG_PATH=" + filepath.Join(dir, procConfigFile),
		markerEnv + "=" + spec.ID,
	}
	if p.cg == nil && spec.MemoryBytes > 0 {
		mib := spec.MemoryBytes * 3 / 4 >> 20
		if mib < 64 {
			mib = 64
		}
		own = append(own, fmt.Sprintf("NODE_OPTIONS=--max-old-space-size=%d", mib))
	}
	seen := map[string]bool{}
	for _, kv := range own {
		seen[kv[:strings.IndexByte(kv, '=')]] = true
	}
	env := append([]string(nil), own...)
	for _, kv := range p.opts.Env {
		if i := strings.IndexByte(kv, '='); i > 0 && !seen[kv[:i]] {
			env = append(env, kv)
		}
	}
	return env
}

// spawn starts one gateway process of run.
func (p *Process) spawn(t *procTenant, spec proto.TenantSpec, run *procRun) error {
	dir := p.tenantDir(spec.ID)
	out, err := openStdout(filepath.Join(dir, procStdoutFile))
	if err != nil {
		return fmt.Errorf("stdout log: %w", err)
	}
	defer out.Close()
	argv := []string{p.opts.OpenClawBin, "gateway", "--port", strconv.Itoa(spec.Port)}
	tn, _, _, err := p.network(spec)
	if err != nil {
		return err
	}
	uid, gid, err := p.tenantIDs(spec.ID)
	if err != nil {
		return err
	}
	if tn != nil {
		// nsenter (as root) joins the namespace, setpriv drops to the
		// tenant's uid; both exec, so the pid stays the gateway's.
		argv = p.nets.command(*tn, uid, gid, argv)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = filepath.Join(dir, procHomeDir)
	cmd.Env = p.env(spec)
	cmd.Stdout, cmd.Stderr = out, out
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if uid >= 0 && tn == nil {
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}
	if p.cg != nil {
		cgDir, err := p.cg.setup(spec.ID, spec)
		if err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
		fd, err := os.Open(cgDir)
		if err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
		defer fd.Close()
		attr.UseCgroupFD, attr.CgroupFD = true, int(fd.Fd())
	}
	cmd.SysProcAttr = attr

	run.mu.Lock()
	defer run.mu.Unlock()
	if run.stopping {
		return errors.New("stopping")
	}
	where := "on 127.0.0.1"
	if tn != nil {
		where = "in network namespace " + tn.ns + " on " + tn.gw.String()
	}
	fmt.Fprintf(out, "--- clawfleet: starting %s gateway --port %d %s at %s\n", p.opts.OpenClawBin, spec.Port, where, time.Now().UTC().Format(time.RFC3339))
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(out, "--- clawfleet: start failed: %v\n", err)
		return err
	}
	if p.cg == nil {
		var nproc uint64
		if p.uid == perTenant && spec.PidsLimit > 0 {
			nproc = uint64(spec.PidsLimit)
		}
		setFallbackRlimits(cmd.Process.Pid, nproc)
	}
	run.pid, run.started = cmd.Process.Pid, time.Now()
	_ = atomicfile.WriteFile(filepath.Join(dir, procPidFile), []byte(strconv.Itoa(run.pid)+"\n"), 0o600)
	go func() {
		err := cmd.Wait()
		run.mu.Lock()
		exited := run.pid
		run.mu.Unlock()
		p.exited(t, spec, run, exited, err)
	}()
	return nil
}

// exitEvent carries one process exit to its supervisor.
type exitEvent struct {
	pid int
	err error
}

func (p *Process) exited(t *procTenant, spec proto.TenantSpec, run *procRun, pid int, err error) {
	// Kill whatever the gateway left in its process group (and cgroup).
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	if p.cg != nil {
		p.cg.kill(spec.ID)
	}
	run.exits <- exitEvent{pid: pid, err: err}
}

// supervise restarts run's gateway whenever it exits, with exponential
// backoff, until run is stopped.
func (p *Process) supervise(t *procTenant, spec proto.TenantSpec, run *procRun) {
	defer close(run.done)
	exits := run.exits
	delay := backoffMin
	for {
		var ev exitEvent
		select {
		case ev = <-exits:
		case <-run.stopCh:
			// stopRun signals the process; wait for it to go.
			ev = <-exits
			_ = os.Remove(filepath.Join(p.tenantDir(spec.ID), procPidFile))
			return
		}
		run.mu.Lock()
		stopping, started := run.stopping, run.started
		run.pid = 0
		run.mu.Unlock()
		if stopping {
			_ = os.Remove(filepath.Join(p.tenantDir(spec.ID), procPidFile))
			return
		}
		if time.Since(started) >= backoffResetAge {
			delay = backoffMin
		}
		msg := describeExit(ev.err)
		now := time.Now()
		t.mu.Lock()
		t.restarts++
		t.lastErr = msg
		t.crashes = append(pruneCrashes(t.crashes, now), now)
		t.mu.Unlock()
		p.log.Warn("gateway exited; restarting", "tenant", spec.ID, "pid", ev.pid, "err", msg, "in", delay)
		for {
			select {
			case <-run.stopCh:
				_ = os.Remove(filepath.Join(p.tenantDir(spec.ID), procPidFile))
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, backoffMax)
			err := p.spawn(t, spec, run)
			if err == nil {
				break
			}
			run.mu.Lock()
			stopping := run.stopping
			run.mu.Unlock()
			if stopping {
				return
			}
			now := time.Now()
			t.mu.Lock()
			t.restarts++
			t.lastErr = "start: " + err.Error()
			t.crashes = append(pruneCrashes(t.crashes, now), now)
			t.mu.Unlock()
			p.log.Warn("gateway restart failed", "tenant", spec.ID, "err", err, "in", delay)
		}
	}
}

func pruneCrashes(c []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(c) && now.Sub(c[i]) > failWindow {
		i++
	}
	return append(c[:0], c[i:]...)
}

func describeExit(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "gateway killed by signal " + ws.Signal().String()
		}
		return fmt.Sprintf("gateway exited with code %d", ee.ExitCode())
	}
	if err == nil {
		return "gateway exited with code 0"
	}
	return "gateway: " + err.Error()
}

// stopRun stops run's gateway: SIGTERM to its process group, SIGKILL after
// StopTimeout, and waits for its supervisor to finish.
func (p *Process) stopRun(run *procRun) {
	run.mu.Lock()
	if run.stopping {
		run.mu.Unlock()
		<-run.done
		return
	}
	run.stopping = true
	pid := run.pid
	run.mu.Unlock()
	close(run.stopCh)
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-run.done:
			return
		case <-time.After(p.opts.StopTimeout):
			p.log.Warn("gateway did not stop in time; killing it", "pid", pid)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	<-run.done
}

// Remove implements Runtime: the gateway is stopped and the instance
// forgotten (List no longer shows it); its directory stays.
func (p *Process) Remove(ctx context.Context, tenantID string) error {
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
		p.cg.remove(tenantID)
	}
	if p.nets != nil {
		p.nets.remove(tenantID)
	}
	err := os.Remove(filepath.Join(p.tenantDir(tenantID), procMetaFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if p.uids != nil {
		if uid, ok := p.uids.all()[tenantID]; ok {
			// Nothing of the tenant runs on (a daemon that left the
			// gateway's process group), nothing of it waits in /tmp, and its
			// kept data is root's until it comes back.
			if n := killUID(uid); n > 0 {
				p.log.Warn("killed processes the tenant's gateway left behind", "tenant", tenantID, "uid", uid, "processes", n)
			}
			removeFilesOfUID(uid)
			if err := lockDir(p.tenantDir(tenantID)); err != nil {
				return err
			}
		}
	}
	if p.quota != nil {
		// The data stays in the image (kept data); nothing holds it mounted.
		return p.quota.release(p.tenantDir(tenantID))
	}
	return nil
}

// Purge implements Runtime.
func (p *Process) Purge(ctx context.Context, tenantID string) error {
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
		return p.uids.release(tenantID) // nothing of it is left: its uid may go to another
	}
	return nil
}

// snapshot returns the tenants known in memory.
func (p *Process) snapshot() []*procTenant {
	p.mu.Lock()
	defer p.mu.Unlock()
	ts := make([]*procTenant, 0, len(p.tenants))
	for _, t := range p.tenants {
		ts = append(ts, t)
	}
	return ts
}

// List implements Runtime: tenants known in memory plus tenant directories
// with an instance file (those of a previous agent: stopped).
func (p *Process) List(ctx context.Context) ([]Instance, error) {
	seen := map[string]bool{}
	var out []Instance
	ts := p.snapshot()
	for _, t := range ts {
		out = append(out, p.withNet(t.instance()))
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
		b, err := os.ReadFile(filepath.Join(p.opts.DataDir, id, procMetaFile))
		if err != nil {
			continue
		}
		var m procMeta
		_ = json.Unmarshal(b, &m)
		out = append(out, p.withNet(Instance{TenantID: id, State: proto.TenantStopped, RestartGen: m.RestartGen, Port: m.Port}))
	}
	return out, nil
}

// withNet fills in the instance's isolation, upstream and disk usage.
func (p *Process) withNet(in Instance) Instance {
	in.Isolation = p.Isolation()
	if p.quota != nil {
		if used, total, ok := p.quota.usage(p.tenantDir(in.TenantID), p.imagePath(in.TenantID)); ok {
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

func (t *procTenant) instance() Instance {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := Instance{TenantID: t.id, Restarts: t.restarts, RestartGen: t.spec.RestartGen, Port: t.spec.Port}
	switch {
	case t.run == nil && t.startErr != "":
		in.State, in.Error = proto.TenantFailed, t.startErr
	case t.run == nil:
		in.State = proto.TenantStopped
	default:
		now := time.Now()
		t.crashes = pruneCrashes(t.crashes, now)
		in.State = proto.TenantStarting
		if len(t.crashes) > failCrashes {
			in.State, in.Error = proto.TenantFailed, fmt.Sprintf("%s (%d restarts in %s)", t.lastErr, len(t.crashes), failWindow)
		}
		t.run.mu.Lock()
		if t.run.pid > 0 {
			in.StartedAtMs = t.run.started.UnixMilli()
		}
		t.run.mu.Unlock()
	}
	return in
}

// Logs implements Runtime: the tail of the gateway's log file, then of its
// captured stdout/stderr (lines prefixed "stdout| ").
func (p *Process) Logs(ctx context.Context, tenantID string, tail int) ([]string, error) {
	if err := proto.ValidateTenantID(tenantID); err != nil {
		return nil, err
	}
	dir := p.tenantDir(tenantID)
	if _, err := os.Lstat(dir); err != nil {
		return nil, ErrNotFound
	}
	if tail > proto.MaxLogLines {
		tail = proto.MaxLogLines
	}
	gw, err := tailFile(filepath.Join(dir, procLogFile), tail)
	if err != nil {
		return nil, err
	}
	so, err := tailFile(filepath.Join(dir, procStdoutFile), tail)
	if err != nil {
		return nil, err
	}
	return mergeLogs(gw, so, "stdout| ", tail), nil
}

// Close implements Runtime: every gateway is stopped (they are children of
// the agent and would die with it anyway), and its network namespace
// removed (the next agent makes it again; one left by a crash is reused).
func (p *Process) Close() error {
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
				p.nets.remove(t.id)
			}
		}()
	}
	wg.Wait()
	if p.quota != nil {
		// Gateways are stopped: nothing should hold the tenants' disks
		// mounted past the agent (NewProcess mounts them again).
		p.quota.releaseAll(p.opts.DataDir)
	}
	return nil
}

// killLeftovers kills gateways a previous agent left running: processes
// named by a tenant's gateway.pid that carry that tenant's marker variable.
func (p *Process) killLeftovers() {
	if p.uids != nil {
		// Whatever runs as a tenant uid is a leftover of the last agent
		// (gateways follow their agent; daemons they started may not).
		for id, uid := range p.uids.all() {
			if n := killUID(uid); n > 0 {
				p.log.Warn("killed processes a tenant left running under the previous agent", "tenant", id, "uid", uid, "processes", n)
			}
		}
	}
	entries, err := os.ReadDir(p.opts.DataDir)
	if err != nil {
		return
	}
	var pids []int
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() || proto.ValidateTenantID(id) != nil {
			continue
		}
		pidFile := filepath.Join(p.opts.DataDir, id, procPidFile)
		b, err := os.ReadFile(pidFile)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && pid > 1 && hasMarker(pid, id) {
			p.log.Warn("killing a gateway left running by a previous agent", "tenant", id, "pid", pid)
			_ = syscall.Kill(-pid, syscall.SIGTERM)
			_ = syscall.Kill(pid, syscall.SIGTERM)
			pids = append(pids, pid)
		}
		_ = os.Remove(pidFile)
	}
	deadline := time.Now().Add(p.opts.StopTimeout)
	for _, pid := range pids {
		for time.Now().Before(deadline) && processAlive(pid) {
			time.Sleep(100 * time.Millisecond)
		}
		if processAlive(pid) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// hasMarker reports whether process pid has CLAWFLEET_TENANT=id in its
// environment.
func hasMarker(pid int, id string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	want := markerEnv + "=" + id
	for _, kv := range strings.Split(string(b), "\x00") {
		if kv == want {
			return true
		}
	}
	return false
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}

// openStdout opens the captured-output file for appending, rotating it when
// large. It never follows a symlink (the directory is the tenant's).
func openStdout(path string) (*os.File, error) {
	if st, err := os.Lstat(path); err == nil && st.Mode().IsRegular() && st.Size() > maxStdoutBytes {
		_ = os.Rename(path, path+".1")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return f, nil
}
