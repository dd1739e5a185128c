// Package docker is the docker runtime: each tenant gateway a container of
// the Docker Engine (agent/runtime/docker/engine), its state in a volume
// bound to a host directory of the agent.
package docker

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	stats     statsCache
	disk      diskCache // adopted containers' (adopted_disk.go)
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

// Ensure implements runtime.Runtime.
func (d *Runtime) Ensure(ctx context.Context, spec proto.TenantSpec) error {
	if err := proto.ValidateTenantID(spec.ID); err != nil {
		return err
	}
	if spec.Port < 1024 || spec.Port > 65535-proto.PortSpacing {
		return fmt.Errorf("tenant %s: port %d out of range", spec.ID, spec.Port)
	}
	defer d.lock(spec.ID)()
	if spec.Container != "" {
		return d.ensureAdopted(ctx, spec)
	}
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

// Remove implements runtime.Runtime: the container goes, the volume stays.
func (d *Runtime) Remove(ctx context.Context, tenantID string) error {
	if err := proto.ValidateTenantID(tenantID); err != nil {
		return err
	}
	defer d.lock(tenantID)()
	if ok, err := d.removeAdopted(ctx, tenantID); ok || err != nil {
		return err
	}
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
	if ok, err := d.purgeAdopted(ctx, tenantID); ok || err != nil {
		return err
	}
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
		if ci.State.Running {
			in.Usage = d.usage(ctx, ci.ID)
		}
		if d.quota != nil {
			dir := filepath.Join(d.opts.DataDir, id)
			if used, total, ok := d.quota.Usage(filepath.Join(dir, "state"), filepath.Join(dir, stateImage)); ok {
				in.DiskUsedBytes, in.DiskTotalBytes = used, total
			}
		}
		out = append(out, in)
	}
	adopted, err := d.listAdopted(ctx)
	if err != nil {
		return nil, err
	}
	return append(out, adopted...), nil
}

// Instance implements runtime.InstanceGetter: one tenant's container (its
// own or adopted) as List shows it, without disk figures (List has them).
func (d *Runtime) Instance(ctx context.Context, tenantID string) (runtime.Instance, bool) {
	if proto.ValidateTenantID(tenantID) != nil {
		return runtime.Instance{}, false
	}
	if r, err := d.record(tenantID); err != nil {
		return runtime.Instance{}, false
	} else if r != nil {
		ci, err := d.inspect(ctx, r.Container)
		if err != nil {
			return runtime.Instance{}, false
		}
		in := instanceOf(tenantID, ci)
		in.RestartGen, in.Port, in.Upstream = r.RestartGen, r.Port, r.Upstream
		return in, true
	}
	ci, err := d.inspect(ctx, ContainerName(tenantID))
	if err != nil || ci.Config.Labels[LabelManaged] != "true" || ci.Config.Labels[LabelTenant] != tenantID {
		return runtime.Instance{}, false
	}
	if a := ci.Config.Labels[LabelAgent]; a != "" && a != d.agent {
		return runtime.Instance{}, false
	}
	return instanceOf(tenantID, ci), true
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
	if r, err := d.record(tenantID); err != nil {
		return nil, err
	} else if r != nil {
		return d.logsAdopted(ctx, r, tail)
	}
	state := filepath.Join(d.opts.DataDir, tenantID, "state")
	_, dirErr := os.Lstat(state)
	file, err := logtail.Tail(filepath.Join(state, dockerLogFile), tail)
	if err != nil {
		return nil, err
	}
	cont, err := d.containerLogs(ctx, ContainerName(tenantID), tail)
	switch {
	case err == nil:
	case engine.IsNotFound(err):
		if dirErr != nil {
			return nil, runtime.ErrNotFound
		}
	default:
		return nil, err
	}
	return logtail.Merge(file, cont, "container| ", tail), nil
}

// containerLogs is the tail of a container's stdout and stderr.
func (d *Runtime) containerLogs(ctx context.Context, container string, tail int) ([]string, error) {
	q := url.Values{"stdout": {"1"}, "stderr": {"1"}, "tail": {strconv.Itoa(max(tail, 1))}}
	resp, err := d.c.Raw(ctx, "GET", "/containers/"+container+"/logs", q, nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := engine.DemuxLogs(resp.Body, 4*proto.MaxLogBytes)
	if err != nil {
		return nil, err
	}
	return logtail.Lines(b, tail), nil
}

// Close implements runtime.Runtime; containers keep running.
func (d *Runtime) Close() error {
	d.c.Close()
	return nil
}
