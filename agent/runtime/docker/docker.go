// Package docker is the docker runtime: each tenant gateway a container of
// the Docker Engine (agent/runtime/docker/engine), its state in a volume
// bound to a host directory of the agent.
package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/agent/runtime/diskquota"
	"github.com/clawfleet/clawfleet/agent/runtime/docker/engine"
	"github.com/clawfleet/clawfleet/agent/runtime/gateway"
	"github.com/clawfleet/clawfleet/agent/runtime/hostfs"
	"github.com/clawfleet/clawfleet/agent/runtime/logtail"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// DefaultImage is the gateway image used when a spec names none.
const DefaultImage = "ghcr.io/openclaw/openclaw:2026.9.6"

// Container labels.
const (
	LabelManaged    = "clawfleet.managed" // "true"
	LabelTenant     = "clawfleet.tenant"
	LabelRestartGen = "clawfleet.restart-gen"
	LabelSpecHash   = "clawfleet.spec-hash"
	LabelPort       = "clawfleet.port"
	// LabelAgent names the agent (by its data dir) that runs a container:
	// two agents on one Docker engine (tests, or a host that moved) must not
	// take each other's containers for their own leftovers and remove them.
	LabelAgent = "clawfleet.agent"
)

// Paths inside a gateway container.
const (
	containerHome     = "/home/node"
	containerStateDir = "/home/node/.openclaw" // the tenant volume
	containerConfig   = containerStateDir + "/openclaw.json"
	containerLogFile  = containerStateDir + "/gateway.log"
	dockerConfigFile  = "openclaw.json" // in <DataDir>/<id>/state on the host
	dockerLogFile     = "gateway.log"
)

// Options configures the docker runtime.
type Options struct {
	// Socket is the Docker Engine's unix socket: default the unix path of
	// DOCKER_HOST, else /var/run/docker.sock.
	Socket string
	// DefaultImage is used for specs without an image (DefaultImage).
	DefaultImage string
	// DataDir holds <DataDir>/<tenantID>/state, the host directory behind the
	// tenant's volume "clawfleet-<tenantID>" (a local volume bound to that
	// directory), mounted at /home/node/.openclaw. Required.
	DataDir string
	// Cmd is the container command. Default
	// ["openclaw", "gateway", "--port", "18789"]: the image must have an
	// `openclaw` executable on its PATH (the official image does; so does
	// the stand-in test image) and the gateway listens on ContainerPort.
	Cmd []string
	// ContainerPort is the gateway's port inside the container (18789).
	ContainerPort int
	// StateUID and StateGID own the tenant state directory: the image's user
	// (the official image runs as node, 1000:1000). 0 means 1000.
	StateUID, StateGID int
	// ReadonlyRootfs runs containers with a read-only root filesystem and a
	// tmpfs on /tmp (the gateway then only writes its volume).
	ReadonlyRootfs bool
	// Env is extra KEY=VALUE environment for every gateway; the runtime's
	// own variables win.
	Env []string
	// DiskQuota enforces a plan's diskBytes on the tenant's state: the host
	// directory behind its volume is a loop-mounted ext4 image of that size
	// (<DataDir>/<id>/state.img). diskquota.Auto (""): when the agent is root
	// and can mount images, else none with a warning; diskquota.Loop:
	// required; diskquota.Off.
	DiskQuota string
	// StopTimeout is the grace period of a stop before SIGKILL (10 s).
	StopTimeout time.Duration
	// Logger receives the runtime's logs; nil is slog.Default().
	Logger *slog.Logger
}

// Runtime runs each tenant gateway as a container through the Docker Engine
// API on its unix socket.
type Runtime struct {
	opts Options
	log  *slog.Logger
	c    *engine.Client

	mu    sync.Mutex
	locks map[string]*sync.Mutex
	quota *diskquota.Quota // nil: diskBytes not enforced
	agent string           // LabelAgent: from the data dir
	// remounted are the state dirs New mounted (by path).
	remounted map[string]bool
}

// New connects to the Docker Engine (GET /version) and negotiates the
// API version.
func New(opts Options) (*Runtime, error) {
	if opts.DataDir == "" {
		return nil, errors.New("docker runtime: DataDir is required")
	}
	var err error
	if opts.DataDir, err = filepath.Abs(opts.DataDir); err != nil {
		return nil, err
	}
	if opts.Socket == "" {
		opts.Socket = engine.DefaultSocket()
	}
	if opts.DefaultImage == "" {
		opts.DefaultImage = DefaultImage
	}
	if opts.ContainerPort == 0 {
		opts.ContainerPort = 18789
	}
	if len(opts.Cmd) == 0 {
		opts.Cmd = []string{"openclaw", "gateway", "--port", strconv.Itoa(opts.ContainerPort)}
	}
	if opts.StateUID == 0 {
		opts.StateUID = 1000
	}
	if opts.StateGID == 0 {
		opts.StateGID = 1000
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 10 * time.Second
	}
	d := &Runtime{opts: opts, log: opts.Logger, locks: map[string]*sync.Mutex{}}
	if d.log == nil {
		d.log = slog.Default()
	}
	d.log = d.log.With("runtime", "docker")
	if d.c, err = engine.New(opts.Socket); err != nil {
		return nil, fmt.Errorf("docker runtime: %w", err)
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("docker runtime: data dir: %w", err)
	}
	// The path as the kernel reports mounts in it (MountOf compares paths).
	if real, err := filepath.EvalSymlinks(opts.DataDir); err == nil {
		opts.DataDir, d.opts.DataDir = real, real
	}
	id := runtime.AgentID(opts.DataDir)
	d.agent = hex.EncodeToString(id[:6])
	q, err := diskquota.Start(opts.DiskQuota, opts.DataDir, "dockerd", d.log)
	if err != nil {
		return nil, fmt.Errorf("docker runtime: %w", err)
	}
	if q != nil {
		d.quota = q
		imgs, _ := filepath.Glob(filepath.Join(opts.DataDir, "ten_*", stateImage))
		pairs := map[string]string{}
		for _, img := range imgs {
			pairs[img] = filepath.Join(filepath.Dir(img), "state")
		}
		// A container of these tenants that runs now was started (by
		// Docker, at boot) on the bare directory: its first Ensure recreates
		// it on the disk.
		d.remounted = q.MountImages(pairs)
	}
	return d, nil
}

// stateImage is the disk image behind a tenant's state (DiskQuota), in the
// agent's own <DataDir>/<id> (0700): no container can reach it.
const stateImage = "state.img"

// ensureDisk mounts the tenant's disk image on its state directory, growing
// it to the plan. The container binds that directory when it starts, so a
// container that started without the mount (first quota, a reboot that let
// Docker start it before the agent) or one whose disk must grow offline is
// removed, and Ensure creates it again. It returns the container info to go
// on with (nil when removed).
func (d *Runtime) ensureDisk(ctx context.Context, spec proto.TenantSpec, ci *containerInspect) (*containerInspect, error) {
	dir := filepath.Join(d.opts.DataDir, spec.ID)
	if err := hostfs.MkdirNoFollow(dir, 0o700, -1, -1); err != nil {
		return ci, err
	}
	state, img := filepath.Join(dir, "state"), filepath.Join(dir, stateImage)
	uid, gid := d.opts.StateUID, d.opts.StateGID
	drop := func() error {
		if ci == nil {
			return nil
		}
		d.log.Info("recreating container on its disk", "tenant", spec.ID)
		if err := d.removeContainer(ctx, ContainerName(spec.ID)); err != nil {
			return err
		}
		ci = nil
		return nil
	}
	d.mu.Lock()
	fresh := d.remounted[state]
	delete(d.remounted, state)
	d.mu.Unlock()
	if ok, _ := diskquota.MountOf(state); !ok || fresh {
		if err := drop(); err != nil {
			return ci, err
		}
	}
	err := d.quota.Ensure(state, img, spec.DiskBytes, uid, gid)
	if errors.Is(err, diskquota.ErrGrowOffline) {
		if err = drop(); err == nil {
			err = d.quota.GrowOffline(state, img)
		}
	}
	return ci, err
}

// Name implements runtime.Runtime.
func (d *Runtime) Name() string { return "docker" }

// ContainerName is the container (and volume) name of a tenant.
func ContainerName(tenantID string) string { return "clawfleet-" + tenantID }

func (d *Runtime) lock(id string) func() {
	d.mu.Lock()
	l := d.locks[id]
	if l == nil {
		l = &sync.Mutex{}
		d.locks[id] = l
	}
	d.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (d *Runtime) image(spec proto.TenantSpec) string {
	if spec.Image != "" {
		return spec.Image
	}
	return d.opts.DefaultImage
}

// specHash covers everything that needs a new container when it changes.
func (d *Runtime) specHash(spec proto.TenantSpec) string {
	b, _ := json.Marshal(struct {
		V        int
		Image    string
		Cmd      []string
		Env      []string
		Port     int
		CPU      int
		Mem      int64
		Pids     int
		ReadOnly bool
	}{1, d.image(spec), d.opts.Cmd, d.opts.Env, spec.Port, spec.CPUMillis, spec.MemoryBytes, spec.PidsLimit, d.opts.ReadonlyRootfs})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// Engine API shapes (the parts used).
type containerInspect struct {
	ID           string
	Name         string
	RestartCount int
	State        struct {
		Status     string
		Running    bool
		Restarting bool
		OOMKilled  bool
		Dead       bool
		ExitCode   int
		Error      string
		StartedAt  string
	}
	Config struct {
		Image  string
		Labels map[string]string
	}
	HostConfig json.RawMessage
}

type containerSummary struct {
	ID     string
	Names  []string
	State  string
	Labels map[string]string
}

// Ensure implements runtime.Runtime.
func (d *Runtime) Ensure(ctx context.Context, spec proto.TenantSpec) error {
	if err := proto.ValidateTenantID(spec.ID); err != nil {
		return err
	}
	if spec.Port < 1024 || spec.Port > 65535-proto.PortSpacing {
		return fmt.Errorf("tenant %s: port %d out of range", spec.ID, spec.Port)
	}
	defer d.lock(spec.ID)()
	name := ContainerName(spec.ID)
	hash, gen := d.specHash(spec), strconv.FormatInt(spec.RestartGen, 10)
	ci, err := d.inspect(ctx, name)
	if err != nil && !engine.IsNotFound(err) {
		return err
	}
	if ci != nil {
		l := ci.Config.Labels
		if l[LabelManaged] != "true" || l[LabelTenant] != spec.ID {
			return fmt.Errorf("tenant %s: a container named %s exists that clawfleet does not manage; not touching it", spec.ID, name)
		}
	}
	size, withDisk, err := diskquota.Size(d.quota != nil, filepath.Join(d.opts.DataDir, spec.ID, stateImage), spec.DiskBytes)
	if err != nil {
		return fmt.Errorf("tenant %s: %w", spec.ID, err)
	}
	if withDisk {
		spec.DiskBytes = size
		if ci, err = d.ensureDisk(ctx, spec, ci); err != nil {
			return fmt.Errorf("tenant %s: disk quota: %w", spec.ID, err)
		}
	}
	if err := d.prepareDir(ctx, spec); err != nil {
		return fmt.Errorf("tenant %s: preparing its directory: %w", spec.ID, err)
	}
	if err := d.ensureVolume(ctx, spec.ID); err != nil {
		return fmt.Errorf("tenant %s: volume: %w", spec.ID, err)
	}
	if ci != nil {
		l := ci.Config.Labels
		if l[LabelSpecHash] != hash || l[LabelRestartGen] != gen {
			d.log.Info("recreating container", "tenant", spec.ID, "specChanged", l[LabelSpecHash] != hash, "restartGen", gen, "previousGen", l[LabelRestartGen])
			if err := d.removeContainer(ctx, name); err != nil {
				return err
			}
			ci = nil
		}
	}
	if ci == nil {
		if err := d.create(ctx, spec, hash, gen); err != nil {
			return fmt.Errorf("tenant %s: creating container: %w", spec.ID, err)
		}
		if ci, err = d.inspect(ctx, name); err != nil {
			return err
		}
	}
	if spec.State == proto.TenantRunning {
		if ci.State.Running || ci.State.Restarting {
			return nil
		}
		if _, err := d.c.Do(ctx, "POST", "/containers/"+name+"/start", nil, nil, nil); err != nil {
			if strings.Contains(err.Error(), "address already in use") || strings.Contains(err.Error(), "port is already allocated") {
				return fmt.Errorf("tenant %s: %w: port %d is already in use on 127.0.0.1 (%v)", spec.ID, runtime.ErrPortInUse, spec.Port, err)
			}
			return fmt.Errorf("tenant %s: starting container: %w", spec.ID, err)
		}
		d.log.Info("container started", "tenant", spec.ID, "port", spec.Port, "restartGen", spec.RestartGen)
		return nil
	}
	if ci.State.Running || ci.State.Restarting {
		d.log.Info("stopping container", "tenant", spec.ID)
		return d.stop(ctx, name)
	}
	return nil
}

// prepareDir makes <DataDir>/<id>/state (owned by the image user) and the
// config file in it. <DataDir>/<id> itself stays the agent's.
func (d *Runtime) prepareDir(ctx context.Context, spec proto.TenantSpec) error {
	dir := filepath.Join(d.opts.DataDir, spec.ID)
	if err := hostfs.MkdirNoFollow(dir, 0o700, -1, -1); err != nil {
		return err
	}
	uid, gid := d.opts.StateUID, d.opts.StateGID
	if os.Geteuid() != 0 {
		uid, gid = -1, -1
	}
	state := filepath.Join(dir, "state")
	if err := hostfs.MkdirNoFollow(state, 0o700, uid, gid); err != nil {
		return err
	}
	o := gateway.Options{Port: d.opts.ContainerPort, Bind: gateway.BindLAN, LogFile: containerLogFile}
	if spec.AuthMode() == proto.GatewayAuthTrustedProxy {
		gw, err := d.bridgeGateway(ctx)
		if err != nil {
			return err
		}
		o.TrustedProxies = []string{gw}
	}
	_, err := gateway.Write(filepath.Join(state, dockerConfigFile), spec, o, uid, gid)
	return err
}

// bridgeGateway returns the default bridge network's gateway address: the
// source a gateway container sees for every connection from the host,
// whether to its published 127.0.0.1 port (docker-proxy, or the hairpin NAT
// without it) or to its own address. Other containers connect from their
// own addresses, so trusting this one address trusts the host only.
func (d *Runtime) bridgeGateway(ctx context.Context) (string, error) {
	var nw struct {
		IPAM struct {
			Config []struct{ Subnet, Gateway string }
		}
	}
	if _, err := d.c.Do(ctx, "GET", "/networks/bridge", nil, nil, &nw); err != nil {
		return "", fmt.Errorf("inspecting the bridge network: %w", err)
	}
	for _, c := range nw.IPAM.Config {
		if a, err := netip.ParseAddr(c.Gateway); err == nil && a.Is4() {
			return a.String(), nil
		}
		if p, err := netip.ParsePrefix(c.Subnet); err == nil && p.Addr().Is4() {
			return p.Masked().Addr().Next().String(), nil
		}
	}
	return "", errors.New("the bridge network has no IPv4 gateway")
}

func (d *Runtime) ensureVolume(ctx context.Context, id string) error {
	name := ContainerName(id)
	var v struct{ Labels map[string]string }
	if _, err := d.c.Do(ctx, "GET", "/volumes/"+name, nil, nil, &v); err == nil {
		if v.Labels[LabelManaged] != "true" {
			return fmt.Errorf("a volume named %s exists that clawfleet does not manage", name)
		}
		return nil
	} else if !engine.IsNotFound(err) {
		return err
	}
	body := map[string]any{
		"Name":   name,
		"Driver": "local",
		"DriverOpts": map[string]string{
			"type": "none", "o": "bind", "device": filepath.Join(d.opts.DataDir, id, "state"),
		},
		"Labels": map[string]string{LabelManaged: "true", LabelTenant: id},
	}
	_, err := d.c.Do(ctx, "POST", "/volumes/create", nil, body, nil)
	return err
}

func (d *Runtime) create(ctx context.Context, spec proto.TenantSpec, hash, gen string) error {
	cport := fmt.Sprintf("%d/tcp", d.opts.ContainerPort)
	env := []string{
		"HOME=" + containerHome,
		"OPENCLAW_STATE_DIR=" + containerStateDir,
		"OPENCLAW_CONFIG_PATH=" + containerConfig,
		"XDG_CACHE_HOME=" + containerStateDir + "/cache",
		runtime.MarkerEnv + "=" + spec.ID,
	}
	seen := map[string]bool{}
	for _, kv := range env {
		seen[kv[:strings.IndexByte(kv, '=')]] = true
	}
	for _, kv := range d.opts.Env {
		if i := strings.IndexByte(kv, '='); i > 0 && !seen[kv[:i]] {
			env = append(env, kv)
		}
	}
	hc := map[string]any{
		"Init":          true,
		"CapDrop":       []string{"ALL"},
		"SecurityOpt":   []string{"no-new-privileges"},
		"RestartPolicy": map[string]any{"Name": "unless-stopped"},
		"PortBindings": map[string]any{
			cport: []map[string]string{{"HostIp": "127.0.0.1", "HostPort": strconv.Itoa(spec.Port)}},
		},
		"Mounts": []map[string]any{{
			"Type": "volume", "Source": ContainerName(spec.ID), "Target": containerStateDir,
			"VolumeOptions": map[string]any{"NoCopy": true},
		}},
		"LogConfig": map[string]any{"Type": "json-file", "Config": map[string]string{"max-size": "10m", "max-file": "3"}},
	}
	if spec.PidsLimit > 0 {
		hc["PidsLimit"] = spec.PidsLimit
	}
	if spec.MemoryBytes > 0 {
		hc["Memory"] = spec.MemoryBytes
		hc["MemorySwap"] = spec.MemoryBytes // no swap
	}
	if spec.CPUMillis > 0 {
		hc["NanoCpus"] = int64(spec.CPUMillis) * 1_000_000
	}
	if d.opts.ReadonlyRootfs {
		hc["ReadonlyRootfs"] = true
		hc["Tmpfs"] = map[string]string{"/tmp": "rw,nosuid,nodev,size=256m"}
	}
	body := map[string]any{
		"Image":        d.image(spec),
		"Cmd":          d.opts.Cmd,
		"Env":          env,
		"ExposedPorts": map[string]any{cport: map[string]any{}},
		"Labels": map[string]string{
			LabelManaged: "true", LabelTenant: spec.ID, LabelRestartGen: gen,
			LabelSpecHash: hash, LabelPort: strconv.Itoa(spec.Port), LabelAgent: d.agent,
		},
		"HostConfig": hc,
	}
	q := url.Values{"name": {ContainerName(spec.ID)}}
	_, err := d.c.Do(ctx, "POST", "/containers/create", q, body, nil)
	if err != nil && engine.IsNotFound(err) && strings.Contains(strings.ToLower(err.Error()), "image") {
		d.log.Info("pulling image", "image", d.image(spec))
		if perr := d.c.Pull(ctx, d.image(spec)); perr != nil {
			return fmt.Errorf("image %s is not on this host and pulling it failed: %w", d.image(spec), perr)
		}
		_, err = d.c.Do(ctx, "POST", "/containers/create", q, body, nil)
	}
	return err
}

func (d *Runtime) inspect(ctx context.Context, name string) (*containerInspect, error) {
	var ci containerInspect
	if _, err := d.c.Do(ctx, "GET", "/containers/"+name+"/json", nil, nil, &ci); err != nil {
		return nil, err
	}
	return &ci, nil
}

func (d *Runtime) stop(ctx context.Context, name string) error {
	q := url.Values{"t": {strconv.Itoa(int(d.opts.StopTimeout / time.Second))}}
	ctx, cancel := context.WithTimeout(ctx, d.opts.StopTimeout+30*time.Second)
	defer cancel()
	_, err := d.c.Do(ctx, "POST", "/containers/"+name+"/stop", q, nil, nil)
	return err
}

func (d *Runtime) removeContainer(ctx context.Context, name string) error {
	if err := d.stop(ctx, name); err != nil && !engine.IsNotFound(err) {
		d.log.Warn("stop before remove failed", "container", name, "err", err)
	}
	_, err := d.c.Do(ctx, "DELETE", "/containers/"+name, url.Values{"force": {"1"}}, nil, nil)
	if err != nil && !engine.IsNotFound(err) {
		return err
	}
	return nil
}

// Remove implements runtime.Runtime: the container goes, the volume stays.
func (d *Runtime) Remove(ctx context.Context, tenantID string) error {
	if err := proto.ValidateTenantID(tenantID); err != nil {
		return err
	}
	defer d.lock(tenantID)()
	name := ContainerName(tenantID)
	ci, err := d.inspect(ctx, name)
	if err != nil && !engine.IsNotFound(err) {
		return err
	}
	if ci != nil {
		if ci.Config.Labels[LabelManaged] != "true" {
			return fmt.Errorf("container %s is not managed by clawfleet; not removing it", name)
		}
		if err := d.removeContainer(ctx, name); err != nil {
			return err
		}
	}
	if d.quota != nil {
		// The data stays in the image (kept data).
		return d.quota.Release(filepath.Join(d.opts.DataDir, tenantID, "state"))
	}
	return nil
}

// Purge implements runtime.Runtime: container, volume and host directory.
func (d *Runtime) Purge(ctx context.Context, tenantID string) error {
	if err := d.Remove(ctx, tenantID); err != nil {
		return err
	}
	defer d.lock(tenantID)()
	name := ContainerName(tenantID)
	var v struct{ Labels map[string]string }
	if _, err := d.c.Do(ctx, "GET", "/volumes/"+name, nil, nil, &v); err == nil {
		if v.Labels[LabelManaged] != "true" {
			return fmt.Errorf("volume %s is not managed by clawfleet; not removing it", name)
		}
		if _, err := d.c.Do(ctx, "DELETE", "/volumes/"+name, nil, nil, nil); err != nil && !engine.IsNotFound(err) {
			return err
		}
	} else if !engine.IsNotFound(err) {
		return err
	}
	if d.quota != nil {
		if err := d.quota.Release(filepath.Join(d.opts.DataDir, tenantID, "state")); err != nil {
			return err
		}
	}
	return os.RemoveAll(filepath.Join(d.opts.DataDir, tenantID))
}

// List implements runtime.Runtime: every container labelled clawfleet.managed=true.
func (d *Runtime) List(ctx context.Context) ([]runtime.Instance, error) {
	filters, _ := json.Marshal(map[string][]string{"label": {LabelManaged + "=true"}})
	var cs []containerSummary
	if _, err := d.c.Do(ctx, "GET", "/containers/json", url.Values{"all": {"1"}, "filters": {string(filters)}}, nil, &cs); err != nil {
		return nil, err
	}
	out := make([]runtime.Instance, 0, len(cs))
	for _, c := range cs {
		id := c.Labels[LabelTenant]
		if c.Labels[LabelManaged] != "true" || proto.ValidateTenantID(id) != nil {
			continue
		}
		if a := c.Labels[LabelAgent]; a != "" && a != d.agent {
			continue // another agent's (an unlabelled one is from before the label: ours)
		}
		ci, err := d.inspect(ctx, c.ID)
		if engine.IsNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		in := instanceOf(id, ci)
		if d.quota != nil {
			dir := filepath.Join(d.opts.DataDir, id)
			if used, total, ok := d.quota.Usage(filepath.Join(dir, "state"), filepath.Join(dir, stateImage)); ok {
				in.DiskUsedBytes, in.DiskTotalBytes = used, total
			}
		}
		out = append(out, in)
	}
	return out, nil
}

func instanceOf(id string, ci *containerInspect) runtime.Instance {
	in := runtime.Instance{TenantID: id, Restarts: ci.RestartCount, Isolation: runtime.IsolationContainer}
	in.RestartGen, _ = strconv.ParseInt(ci.Config.Labels[LabelRestartGen], 10, 64)
	in.Port, _ = strconv.Atoi(ci.Config.Labels[LabelPort])
	// The published port, not the container's address: stable across
	// container re-creation, and seen from the same source (the bridge
	// gateway) by the gateway.
	in.Upstream = net.JoinHostPort("127.0.0.1", strconv.Itoa(in.Port))
	s := ci.State
	switch {
	case s.Running && !s.Restarting:
		in.State = proto.TenantStarting
		if t, err := time.Parse(time.RFC3339Nano, s.StartedAt); err == nil {
			in.StartedAtMs = t.UnixMilli()
		}
	case s.Restarting:
		in.State = proto.TenantFailed
		in.Error = fmt.Sprintf("gateway exited with code %d; restarting (%d restarts)", s.ExitCode, ci.RestartCount)
		if s.OOMKilled {
			in.Error = fmt.Sprintf("gateway killed for exceeding its memory limit; restarting (%d restarts)", ci.RestartCount)
		}
	case s.Dead || s.Error != "":
		in.State = proto.TenantFailed
		in.Error = s.Error
		if in.Error == "" {
			in.Error = "container is dead"
		}
	default: // created, exited, paused
		in.State = proto.TenantStopped
	}
	return in
}

// Logs implements runtime.Runtime: the tail of the gateway's log file (in its
// volume), then of the container's stdout/stderr (lines prefixed
// "container| ").
func (d *Runtime) Logs(ctx context.Context, tenantID string, tail int) ([]string, error) {
	if err := proto.ValidateTenantID(tenantID); err != nil {
		return nil, err
	}
	if tail > proto.MaxLogLines {
		tail = proto.MaxLogLines
	}
	state := filepath.Join(d.opts.DataDir, tenantID, "state")
	_, dirErr := os.Lstat(state)
	file, err := logtail.Tail(filepath.Join(state, dockerLogFile), tail)
	if err != nil {
		return nil, err
	}
	var cont []string
	q := url.Values{"stdout": {"1"}, "stderr": {"1"}, "tail": {strconv.Itoa(max(tail, 1))}}
	resp, err := d.c.Raw(ctx, "GET", "/containers/"+ContainerName(tenantID)+"/logs", q, nil, "")
	switch {
	case err == nil:
		b, derr := engine.DemuxLogs(resp.Body, 4*proto.MaxLogBytes)
		resp.Body.Close()
		if derr != nil {
			return nil, derr
		}
		cont = logtail.Lines(b, tail)
	case engine.IsNotFound(err):
		if dirErr != nil {
			return nil, runtime.ErrNotFound
		}
	default:
		return nil, err
	}
	return logtail.Merge(file, cont, "container| ", tail), nil
}

// Close implements runtime.Runtime; containers keep running.
func (d *Runtime) Close() error {
	d.c.Close()
	return nil
}
