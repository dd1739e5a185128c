package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/agent/runtime/docker/engine"
	"github.com/clawfleet/clawfleet/pkg/proto"
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

// Crash loop detection (variables for tests): more than loopRestarts
// restarts, and no run lasting loopLasted since.
var (
	loopRestarts = 5
	loopLasted   = 60 * time.Second
)

func instanceOf(id string, ci *containerInspect) runtime.Instance {
	in := runtime.Instance{TenantID: id, Restarts: ci.RestartCount, Isolation: runtime.IsolationContainer}
	in.RestartGen, _ = strconv.ParseInt(ci.Config.Labels[LabelRestartGen], 10, 64)
	in.Port, _ = strconv.Atoi(ci.Config.Labels[LabelPort])
	// The published port, not the container's address: stable across
	// container re-creation, and seen from the same source (the bridge
	// gateway) by the gateway.
	in.Upstream = net.JoinHostPort("127.0.0.1", strconv.Itoa(in.Port))
	s := ci.State
	started, startErr := time.Parse(time.RFC3339Nano, s.StartedAt)
	// A crash loop: more than loopRestarts, and the current run (if any)
	// younger than loopLasted. It is reported failed until a run lasts,
	// not "starting" for the seconds between two of Docker's restarts.
	looping := ci.RestartCount > loopRestarts && (s.Restarting || s.Running && (startErr != nil || time.Since(started) < loopLasted))
	switch {
	case looping:
		in.State = proto.TenantFailed
		why := "the gateway keeps exiting"
		if s.Restarting {
			why = fmt.Sprintf("gateway exited with code %d", s.ExitCode)
			if s.OOMKilled {
				why = "gateway killed for exceeding its memory limit"
			}
		}
		in.Error = fmt.Sprintf("crash loop: %s (%d restarts); Docker retries it in the background, waiting longer each time (up to about a minute). "+
			"The gateway's logs show why it exits; restart the tenant to try again at once", why, ci.RestartCount)
	case s.Running && !s.Restarting:
		in.State = proto.TenantStarting
		if startErr == nil {
			in.StartedAtMs = started.UnixMilli()
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
