package docker

// Adopted containers: OpenClaw gateways made before clawfleet (one container
// per user, e.g. by Portainer) that the cloud turned into tenants
// (proto.TenantSpec.Container). Their labels cannot be changed, so the
// runtime keeps what it knows of each in <DataDir>/<id>/adopted.json and
// manages the container in place: it starts, stops and restarts it, applies
// the plan's limits with the Engine's update call and reads its logs, and
// never creates or recreates it, so the gateway keeps its token, its
// configuration and its state on its own volume or bind mount.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	pathpkg "path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/agent/runtime/docker/engine"
	"github.com/clawfleet/clawfleet/agent/runtime/hostfs"
	"github.com/clawfleet/clawfleet/agent/runtime/logtail"
	"github.com/clawfleet/clawfleet/pkg/atomicfile"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// adoptedFile is the adoption record in <DataDir>/<id>.
const adoptedFile = "adopted.json"

// adoptRecord is what the runtime keeps of an adopted container.
type adoptRecord struct {
	Container string `json:"container"` // full ID
	Name      string `json:"name"`
	// RestartGen is the spec's RestartGen the container last (re)started
	// for: a newer one restarts it.
	RestartGen int64 `json:"restartGen"`
	// Limits is the hash of the limits last applied (update call).
	Limits string `json:"limits,omitempty"`
	Port   int    `json:"port"`
	// Upstream is where the gateway answers from this host.
	Upstream string `json:"upstream"`
	// LogFile is the gateway's log file inside the container (its config's
	// logging.file), "" when it has none.
	LogFile string                 `json:"logFile,omitempty"`
	Mounts  []proto.ContainerMount `json:"mounts,omitempty"`
}

// AdoptError is a refused inspection: Code is one of the proto.Adopt* codes.
type AdoptError struct {
	Code string
	Msg  string
}

func (e *AdoptError) Error() string { return e.Msg }

// AdoptCode is the proto.Adopt* code (the reconciler's reply carries it).
func (e *AdoptError) AdoptCode() string { return e.Code }

func refuse(code, format string, a ...any) error {
	return &AdoptError{Code: code, Msg: fmt.Sprintf(format, a...)}
}

// adoptInspect is the Engine's container JSON, the parts adoption reads.
type adoptInspect struct {
	ID     string
	Name   string
	Config struct {
		Image      string
		Env        []string
		Cmd        []string
		Entrypoint []string
		Labels     map[string]string
	}
	HostConfig struct {
		NetworkMode  string
		PortBindings map[string][]struct{ HostIp, HostPort string }
		NanoCpus     int64
		Memory       int64
		PidsLimit    *int64
	}
	State  struct{ Running bool }
	Mounts []struct {
		Type, Name, Source, Destination string
	}
}

// gatewayFacts is what adoption learns from a container's command,
// environment and OpenClaw config.
type gatewayFacts struct {
	port     int // the gateway's port inside the container
	token    string
	logFile  string
	hostPort int
	upstream string
}

// Inspect looks at an existing container (name or ID) for adoption and
// returns what the cloud records, or an *AdoptError saying why it cannot be
// adopted: it does not exist, is not an OpenClaw gateway, is clawfleet's
// already, or has no gateway token or published gateway port.
func (d *Runtime) Inspect(ctx context.Context, ref string) (*proto.ContainerInfo, error) {
	if err := proto.ValidateContainerRef(ref); err != nil {
		return nil, refuse(proto.AdoptNoContainer, "%v", err)
	}
	ci, err := d.inspectAdoptable(ctx, strings.TrimPrefix(ref, "/"))
	if err != nil {
		return nil, err
	}
	if owner := d.adoptedAs(ci.ID); owner != "" {
		return nil, refuse(proto.AdoptManaged, "container %s is already adopted, as tenant %s", ci.Name, owner)
	}
	return d.adoptable(ctx, ci)
}

// Candidates implements runtime.Adopter: every OpenClaw gateway container
// on the engine that clawfleet did not make, by name, each adoptable or
// why not, or the tenant that adopted it; never its token. A container
// that cannot be inspected is listed with the reason; when ctx ends, those
// not looked at yet are counted in leftOut.
func (d *Runtime) Candidates(ctx context.Context) (out []proto.ContainerCandidate, leftOut int, err error) {
	var cs []containerSummary
	if _, err := d.c.Do(ctx, "GET", "/containers/json", url.Values{"all": {"1"}}, nil, &cs); err != nil {
		return nil, 0, err
	}
	adopted := map[string]string{} // container ID → tenant
	ports := map[string]int{}
	for id, r := range d.records() {
		adopted[r.Container], ports[r.Container] = id, r.Port
	}
	out = []proto.ContainerCandidate{}
	for i, c := range cs {
		if c.Labels[LabelManaged] == "true" {
			continue
		}
		if ctx.Err() != nil {
			leftOut = len(cs) - i
			break
		}
		cand, ok := d.candidate(ctx, c, adopted, ports)
		if !ok {
			continue
		}
		cand.Name, cand.Image, cand.Reason = clean(cand.Name, 255), clean(cand.Image, 255), clean(cand.Reason, proto.MaxReason)
		if cand.Validate() != nil {
			leftOut++ // nothing the protocol can carry
			continue
		}
		out = append(out, cand)
	}
	slices.SortFunc(out, func(a, b proto.ContainerCandidate) int { return strings.Compare(a.Name, b.Name) })
	return out, leftOut, nil
}

// candidate is what the listing says of c (ok false: not a gateway).
func (d *Runtime) candidate(ctx context.Context, c containerSummary, adopted map[string]string, ports map[string]int) (proto.ContainerCandidate, bool) {
	ci, err := d.inspectAdoptable(ctx, c.ID)
	var ae *AdoptError
	switch {
	case errors.As(err, &ae) && (ae.Code == proto.AdoptNotOpenClaw || ae.Code == proto.AdoptNoContainer):
		return proto.ContainerCandidate{}, false // not a gateway, or removed meanwhile
	case err != nil:
		name := c.ID
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		return proto.ContainerCandidate{ID: c.ID, Name: name, Image: "?", Code: proto.AdoptUnusable, Reason: "could not be inspected: " + err.Error()}, true
	}
	cand := proto.ContainerCandidate{ID: ci.ID, Name: ci.Name, Image: ci.Config.Image, Running: ci.State.Running}
	if t, ok := adopted[ci.ID]; ok {
		cand.Code, cand.Tenant, cand.Port = proto.AdoptManaged, t, ports[ci.ID]
		cand.Reason = "adopted already, as tenant " + t
		return cand, true
	}
	info, err := d.adoptable(ctx, ci)
	switch {
	case errors.As(err, &ae):
		cand.Code, cand.Reason = ae.Code, ae.Msg
	case err != nil:
		cand.Code, cand.Reason = proto.AdoptUnusable, "could not be inspected: "+err.Error()
	default:
		cand.Adoptable, cand.Port = true, info.Port
	}
	return cand, true
}

// clean makes s a single line of at most max bytes: control characters
// become spaces, and a longer s is cut on a rune boundary with "...".
func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= max {
		return s
	}
	s = s[:max-3]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// adoptable is what the cloud records of ci to adopt it, or an
// *AdoptError (no token, no published port...).
func (d *Runtime) adoptable(ctx context.Context, ci *adoptInspect) (*proto.ContainerInfo, error) {
	f, err := d.gatewayFacts(ctx, ci)
	if err != nil {
		return nil, err
	}
	info := &proto.ContainerInfo{
		ID: ci.ID, Name: ci.Name, Image: ci.Config.Image, Port: f.hostPort, GatewayToken: f.token,
		CPUMillis: int(ci.HostConfig.NanoCpus / 1_000_000), MemoryBytes: ci.HostConfig.Memory, Running: ci.State.Running,
		Mounts: mountsOf(ci),
	}
	if p := ci.HostConfig.PidsLimit; p != nil && *p > 0 {
		info.PidsLimit = int(*p)
	}
	if err := info.Validate(); err != nil {
		return nil, refuse(proto.AdoptUnusable, "container %s cannot be adopted: %v", ci.Name, err)
	}
	return info, nil
}

// inspectAdoptable inspects ref and refuses what is not an OpenClaw
// gateway or is clawfleet's own.
func (d *Runtime) inspectAdoptable(ctx context.Context, ref string) (*adoptInspect, error) {
	var ci adoptInspect
	if _, err := d.c.Do(ctx, "GET", "/containers/"+url.PathEscape(ref)+"/json", nil, nil, &ci); err != nil {
		if engine.IsNotFound(err) {
			return nil, refuse(proto.AdoptNoContainer, "no container %q on this host's Docker engine", ref)
		}
		return nil, err
	}
	ci.Name = strings.TrimPrefix(ci.Name, "/")
	if ci.Config.Labels[LabelManaged] == "true" {
		return nil, refuse(proto.AdoptManaged, "container %s is clawfleet's own (tenant %s)", ci.Name, ci.Config.Labels[LabelTenant])
	}
	if !isOpenClawGateway(append(append([]string(nil), ci.Config.Entrypoint...), ci.Config.Cmd...)) {
		return nil, refuse(proto.AdoptNotOpenClaw, "container %s (image %s) does not run an OpenClaw gateway: its command is %q, not `openclaw gateway …`",
			ci.Name, ci.Config.Image, strings.Join(append(append([]string(nil), ci.Config.Entrypoint...), ci.Config.Cmd...), " "))
	}
	return &ci, nil
}

// isOpenClawGateway: the command runs openclaw (the CLI, or its
// openclaw.mjs entry under node) with the gateway subcommand.
func isOpenClawGateway(cmd []string) bool {
	cli := -1
	for i, a := range cmd {
		if b := pathpkg.Base(a); b == "openclaw" || b == "openclaw.mjs" {
			cli = i
			break
		}
	}
	return cli >= 0 && cli+1 < len(cmd) && cmd[cli+1] == "gateway"
}

func envOf(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// openclawConfig is the part of an OpenClaw config adoption reads.
type openclawConfig struct {
	Gateway struct {
		Port int `json:"port"`
		Auth struct {
			Mode  string `json:"mode"`
			Token string `json:"token"`
		} `json:"auth"`
	} `json:"gateway"`
	Logging struct {
		File string `json:"file"`
	} `json:"logging"`
}

// configPath is where the gateway reads its config, as OpenClaw resolves it.
func configPath(env map[string]string) string {
	if p := env["OPENCLAW_CONFIG_PATH"]; p != "" {
		return p
	}
	if s := env["OPENCLAW_STATE_DIR"]; s != "" {
		return pathpkg.Join(s, "openclaw.json")
	}
	home := env["HOME"]
	if home == "" {
		home = containerHome
	}
	return pathpkg.Join(home, ".openclaw", "openclaw.json")
}

// gatewayFacts finds the gateway's token, port, published port and log
// file from its command, environment and config file.
func (d *Runtime) gatewayFacts(ctx context.Context, ci *adoptInspect) (gatewayFacts, error) {
	env := envOf(ci.Config.Env)
	var cfg openclawConfig
	cfgPath := configPath(env)
	raw, truncated, err := d.c.ReadFile(ctx, ci.ID, cfgPath, 1<<20)
	cfgErr := err
	switch {
	case err != nil && engine.IsNotFound(err):
		cfgErr = nil // no config file: the environment must say it all
	case err != nil:
	case truncated:
		cfgErr = fmt.Errorf("%s is larger than 1 MiB", cfgPath)
	default:
		if jerr := json.Unmarshal(raw, &cfg); jerr != nil {
			cfgErr = fmt.Errorf("%s is not plain JSON (%v)", cfgPath, jerr)
		}
	}
	f := gatewayFacts{token: env["OPENCLAW_GATEWAY_TOKEN"], logFile: cfg.Logging.File}
	if f.token == "" {
		f.token = cfg.Gateway.Auth.Token
	}
	if f.token == "" {
		why := ""
		if cfgErr != nil {
			why = fmt.Sprintf(" (its config could not be read: %v)", cfgErr)
		} else if m := cfg.Gateway.Auth.Mode; m != "" && m != proto.GatewayAuthToken {
			why = fmt.Sprintf(" (its gateway uses auth mode %q; only token mode can be adopted)", m)
		}
		return f, refuse(proto.AdoptUnusable, "container %s has no gateway token: neither OPENCLAW_GATEWAY_TOKEN nor gateway.auth.token of %s is set%s", ci.Name, cfgPath, why)
	}
	f.port = commandPort(append(append([]string(nil), ci.Config.Entrypoint...), ci.Config.Cmd...))
	if f.port == 0 {
		f.port, _ = strconv.Atoi(env["OPENCLAW_GATEWAY_PORT"])
	}
	if f.port == 0 {
		f.port = cfg.Gateway.Port
	}
	if f.port == 0 {
		f.port = 18789 // OpenClaw's default
	}
	if ci.HostConfig.NetworkMode == "host" {
		f.hostPort, f.upstream = f.port, net.JoinHostPort("127.0.0.1", strconv.Itoa(f.port))
		return f, nil
	}
	for _, b := range ci.HostConfig.PortBindings[strconv.Itoa(f.port)+"/tcp"] {
		p, err := strconv.Atoi(b.HostPort)
		if err != nil || p == 0 {
			continue
		}
		ip := b.HostIp
		if a := net.ParseIP(ip); ip == "" || a == nil || a.IsUnspecified() {
			ip = "127.0.0.1"
		}
		f.hostPort, f.upstream = p, net.JoinHostPort(ip, strconv.Itoa(p))
		return f, nil
	}
	return f, refuse(proto.AdoptUnusable, "container %s does not publish its gateway port %d/tcp on a fixed host port; publish it (e.g. -p 127.0.0.1:18789:%d) so the agent can reach it", ci.Name, f.port, f.port)
}

// commandPort is the value of --port in a gateway command (0 without).
func commandPort(cmd []string) int {
	for i, a := range cmd {
		v, ok := strings.CutPrefix(a, "--port=")
		if !ok && a == "--port" && i+1 < len(cmd) {
			v, ok = cmd[i+1], true
		}
		if ok {
			if p, err := strconv.Atoi(v); err == nil {
				return p
			}
		}
	}
	return 0
}

func mountsOf(ci *adoptInspect) []proto.ContainerMount {
	out := make([]proto.ContainerMount, 0, len(ci.Mounts))
	for _, m := range ci.Mounts {
		src := m.Source
		if m.Type == "volume" && m.Name != "" {
			src = m.Name
		}
		out = append(out, proto.ContainerMount{Type: m.Type, Source: src, Destination: m.Destination})
	}
	return out
}

func (d *Runtime) recordPath(id string) string { return filepath.Join(d.opts.DataDir, id, adoptedFile) }

// record reads a tenant's adoption record (nil when it has none).
func (d *Runtime) record(id string) (*adoptRecord, error) {
	b, err := hostfs.ReadFile(d.recordPath(id), 1<<20)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r adoptRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", d.recordPath(id), err)
	}
	return &r, nil
}

func (d *Runtime) saveRecord(id string, r *adoptRecord) error {
	if err := hostfs.MkdirNoFollow(filepath.Join(d.opts.DataDir, id), 0o700, -1, -1); err != nil {
		return err
	}
	b, _ := json.Marshal(r)
	return atomicfile.WriteFile(d.recordPath(id), b, 0o600)
}

// records returns every adoption record, by tenant ID.
func (d *Runtime) records() map[string]*adoptRecord {
	paths, _ := filepath.Glob(filepath.Join(d.opts.DataDir, "ten_*", adoptedFile))
	out := map[string]*adoptRecord{}
	for _, p := range paths {
		id := filepath.Base(filepath.Dir(p))
		if proto.ValidateTenantID(id) != nil {
			continue
		}
		r, err := d.record(id)
		if err != nil {
			d.log.Warn("adoption record unreadable", "tenant", id, "err", err)
			continue
		}
		if r != nil {
			out[id] = r
		}
	}
	return out
}

// adoptedAs is the tenant that adopted the container with full ID cid
// ("" for none).
func (d *Runtime) adoptedAs(cid string) string {
	for id, r := range d.records() {
		if r.Container == cid {
			return id
		}
	}
	return ""
}

// limitsHash covers the limits the update call applies.
func limitsHash(spec proto.TenantSpec) string {
	b, _ := json.Marshal([]int64{int64(spec.CPUMillis), spec.MemoryBytes, int64(spec.PidsLimit)})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// ensureAdopted is Ensure for an adopted container: it is started, stopped,
// restarted (a new RestartGen) and given the plan's limits in place.
func (d *Runtime) ensureAdopted(ctx context.Context, spec proto.TenantSpec) error {
	var ci adoptInspect
	if _, err := d.c.Do(ctx, "GET", "/containers/"+spec.Container+"/json", nil, nil, &ci); err != nil {
		if engine.IsNotFound(err) {
			return fmt.Errorf("tenant %s: its adopted container %s is gone from this host's Docker engine", spec.ID, spec.Container[:12])
		}
		return err
	}
	ci.Name = strings.TrimPrefix(ci.Name, "/")
	if ci.Config.Labels[LabelManaged] == "true" {
		return fmt.Errorf("tenant %s: container %s is another clawfleet tenant's", spec.ID, ci.Name)
	}
	rec, err := d.record(spec.ID)
	if err != nil {
		return fmt.Errorf("tenant %s: %w", spec.ID, err)
	}
	if rec != nil && rec.Container != spec.Container {
		return fmt.Errorf("tenant %s adopted container %s here, not %s", spec.ID, rec.Container[:12], spec.Container[:12])
	}
	if rec == nil {
		// First sight: the container runs as it did; nothing restarts it.
		if other := d.adoptedAs(ci.ID); other != "" {
			return fmt.Errorf("tenant %s: container %s is already adopted, as tenant %s", spec.ID, ci.Name, other)
		}
		f, err := d.gatewayFacts(ctx, &ci)
		if err != nil {
			return fmt.Errorf("tenant %s: %w", spec.ID, err)
		}
		if f.hostPort != spec.Port {
			return fmt.Errorf("tenant %s: container %s publishes its gateway on port %d, not %d", spec.ID, ci.Name, f.hostPort, spec.Port)
		}
		rec = &adoptRecord{Container: ci.ID, Name: ci.Name, RestartGen: spec.RestartGen, Port: f.hostPort, Upstream: f.upstream, LogFile: f.logFile, Mounts: mountsOf(&ci)}
		if err := d.saveRecord(spec.ID, rec); err != nil {
			return fmt.Errorf("tenant %s: adoption record: %w", spec.ID, err)
		}
		d.log.Info("container adopted", "tenant", spec.ID, "container", ci.Name, "port", rec.Port)
	}
	if h := limitsHash(spec); rec.Limits != h {
		// In place: Docker applies new cgroup limits to a running
		// container, and the restart policy, without re-creating it.
		up := map[string]any{"RestartPolicy": map[string]any{"Name": "unless-stopped"}}
		if spec.MemoryBytes > 0 {
			up["Memory"], up["MemorySwap"] = spec.MemoryBytes, spec.MemoryBytes
		}
		if spec.CPUMillis > 0 {
			up["NanoCpus"] = int64(spec.CPUMillis) * 1_000_000
		}
		if spec.PidsLimit > 0 {
			up["PidsLimit"] = spec.PidsLimit
		}
		if _, err := d.c.Do(ctx, "POST", "/containers/"+ci.ID+"/update", nil, up, nil); err != nil {
			return fmt.Errorf("tenant %s: applying the plan's limits to container %s: %w", spec.ID, ci.Name, err)
		}
		rec.Limits = h
		if err := d.saveRecord(spec.ID, rec); err != nil {
			return err
		}
	}
	running := ci.State.Running
	if spec.State != proto.TenantRunning {
		if running {
			d.log.Info("stopping adopted container", "tenant", spec.ID, "container", ci.Name)
			return d.stop(ctx, ci.ID)
		}
		return nil
	}
	if rec.RestartGen != spec.RestartGen {
		q := url.Values{"t": {strconv.Itoa(int(d.opts.StopTimeout.Seconds()))}}
		if _, err := d.c.Do(ctx, "POST", "/containers/"+ci.ID+"/restart", q, nil, nil); err != nil {
			return fmt.Errorf("tenant %s: restarting container %s: %w", spec.ID, ci.Name, err)
		}
		rec.RestartGen = spec.RestartGen
		d.log.Info("adopted container restarted", "tenant", spec.ID, "container", ci.Name, "restartGen", spec.RestartGen)
		return d.saveRecord(spec.ID, rec)
	}
	if !running {
		if _, err := d.c.Do(ctx, "POST", "/containers/"+ci.ID+"/start", nil, nil, nil); err != nil {
			return fmt.Errorf("tenant %s: starting container %s: %w", spec.ID, ci.Name, err)
		}
		d.log.Info("adopted container started", "tenant", spec.ID, "container", ci.Name)
	}
	return nil
}

// listAdopted returns the instances of the adopted containers that exist.
func (d *Runtime) listAdopted(ctx context.Context) ([]runtime.Instance, error) {
	var out []runtime.Instance
	for id, r := range d.records() {
		ci, err := d.inspect(ctx, r.Container)
		if engine.IsNotFound(err) {
			continue // removed (by Remove, or by hand): nothing runs
		}
		if err != nil {
			return nil, err
		}
		in := instanceOf(id, ci)
		in.RestartGen, in.Port, in.Upstream = r.RestartGen, r.Port, r.Upstream
		if ci.State.Running {
			in.Usage = d.usage(ctx, ci.ID)
		}
		if used, total, ok := d.adoptedDisk(id, r); ok {
			in.DiskUsedBytes, in.DiskTotalBytes = used, total
		}
		out = append(out, in)
	}
	return out, nil
}

// removeAdopted stops and removes an adopted container; its mounts (the
// user's state) stay. ok is false when id adopted nothing.
func (d *Runtime) removeAdopted(ctx context.Context, id string) (ok bool, err error) {
	r, err := d.record(id)
	if err != nil || r == nil {
		return false, err
	}
	d.forgetDisk(id)
	return true, d.removeContainer(ctx, r.Container)
}

// purgeAdopted deletes an adopted tenant's data: the named volumes its
// container had (bind-mounted host directories are the operator's and
// stay) and its record. ok is false when id adopted nothing.
func (d *Runtime) purgeAdopted(ctx context.Context, id string) (ok bool, err error) {
	r, err := d.record(id)
	if err != nil || r == nil {
		return false, err
	}
	if err := d.removeContainer(ctx, r.Container); err != nil {
		return true, err
	}
	for _, m := range r.Mounts {
		switch m.Type {
		case "volume":
			_, err := d.c.Do(ctx, "DELETE", "/volumes/"+url.PathEscape(m.Source), nil, nil, nil)
			var ae *engine.APIError
			switch {
			case err == nil || engine.IsNotFound(err):
			case errors.As(err, &ae) && ae.Status == 409:
				d.log.Warn("volume of a purged adopted tenant is used by another container; kept", "tenant", id, "volume", m.Source)
			default:
				return true, fmt.Errorf("deleting volume %s: %w", m.Source, err)
			}
		case "bind":
			d.log.Warn("bind-mounted directory of a purged adopted tenant kept (it is the host's, not the agent's)", "tenant", id, "path", m.Source)
		}
	}
	return true, os.RemoveAll(filepath.Join(d.opts.DataDir, id))
}

// logsAdopted is Logs of an adopted container: its gateway's log file
// (when its config names one), then its output.
func (d *Runtime) logsAdopted(ctx context.Context, r *adoptRecord, tail int) ([]string, error) {
	var file []string
	if r.LogFile != "" {
		b, _, err := d.c.ReadFile(ctx, r.Container, r.LogFile, 4*proto.MaxLogBytes)
		if err != nil && !engine.IsNotFound(err) {
			return nil, err
		}
		file = logtail.Lines(b, tail)
	}
	cont, err := d.containerLogs(ctx, r.Container, tail)
	if engine.IsNotFound(err) {
		return nil, runtime.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return logtail.Merge(file, cont, "container| ", tail), nil
}
