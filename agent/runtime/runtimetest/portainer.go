package runtimetest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime/docker/engine"
)

// PortainerGateway is an OpenClaw container made as the deployments before
// clawfleet made them with Portainer: one per user, from an OpenClaw image,
// its gateway token in the environment, token auth and a log file in its
// config, its state on a named volume, published on a host port.
type PortainerGateway struct {
	ID, Name, Volume, Token string
	Port                    int
}

// PortainerStateDir is the gateway's state directory in such a container
// (on the volume, which is mounted at /home/node).
const PortainerStateDir = "/home/node/.openclaw"

// NewPortainerGateway creates and starts name from image on the engine,
// with the volume name+"-data" at /home/node holding .openclaw/openclaw.json
// and files (name → content, in .openclaw), its gateway port 18789
// published on 0.0.0.0:port. Remove it with Remove.
func NewPortainerGateway(ctx context.Context, c *engine.Client, image, name, token string, port int, files map[string]string) (*PortainerGateway, error) {
	g := &PortainerGateway{Name: name, Volume: name + "-data", Token: token, Port: port}
	if _, err := c.Do(ctx, "POST", "/volumes/create", nil, map[string]any{"Name": g.Volume, "Labels": map[string]string{"io.portainer.test": "1"}}, nil); err != nil {
		return nil, err
	}
	body := map[string]any{
		"Image": image,
		"Cmd":   []string{"openclaw", "gateway", "--port", "18789"},
		"Env": []string{"OPENCLAW_GATEWAY_TOKEN=" + token, "OPENCLAW_STATE_DIR=" + PortainerStateDir,
			"OPENCLAW_CONFIG_PATH=" + PortainerStateDir + "/openclaw.json", "HOME=/home/node"},
		"ExposedPorts": map[string]any{"18789/tcp": map[string]any{}},
		"Labels":       map[string]string{"io.portainer.accesscontrol.users": name},
		"HostConfig": map[string]any{
			"RestartPolicy": map[string]any{"Name": "always"},
			"PortBindings":  map[string]any{"18789/tcp": []map[string]string{{"HostIp": "0.0.0.0", "HostPort": strconv.Itoa(port)}}},
			"Mounts":        []map[string]any{{"Type": "volume", "Source": g.Volume, "Target": "/home/node"}},
		},
	}
	var created struct{ Id string }
	if _, err := c.Do(ctx, "POST", "/containers/create", url.Values{"name": {name}}, body, &created); err != nil {
		return nil, err
	}
	g.ID = created.Id
	cfg, _ := json.Marshal(map[string]any{
		"gateway": map[string]any{"mode": "local", "bind": "lan", "auth": map[string]any{"mode": "token"}},
		"logging": map[string]any{"file": PortainerStateDir + "/gateway.log"},
	})
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	now := time.Now()
	tw.WriteHeader(&tar.Header{Name: ".openclaw/", Typeflag: tar.TypeDir, Mode: 0o700, Uid: 1000, Gid: 1000, ModTime: now})
	all := map[string]string{"openclaw.json": string(cfg)}
	for k, v := range files {
		all[k] = v
	}
	for k, v := range all {
		tw.WriteHeader(&tar.Header{Name: ".openclaw/" + k, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(v)), Uid: 1000, Gid: 1000, ModTime: now})
		tw.Write([]byte(v))
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := c.PutArchive(ctx, g.ID, "/home/node", &b); err != nil {
		return g, fmt.Errorf("filling the volume: %w", err)
	}
	if _, err := c.Do(ctx, "POST", "/containers/"+g.ID+"/start", nil, nil, nil); err != nil {
		return g, err
	}
	return g, nil
}

// Remove deletes the container and its volume.
func (g *PortainerGateway) Remove(ctx context.Context, c *engine.Client) {
	c.Do(ctx, "DELETE", "/containers/"+g.Name, url.Values{"force": {"1"}}, nil, nil)
	c.Do(ctx, "DELETE", "/volumes/"+g.Volume, nil, nil, nil)
}

// ReadFile returns a file of the gateway's state directory, read through
// the engine.
func (g *PortainerGateway) ReadFile(ctx context.Context, c *engine.Client, name string) (string, error) {
	b, _, err := c.ReadFile(ctx, g.ID, PortainerStateDir+"/"+name, 1<<20)
	return string(b), err
}
