package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/clawfleet/clawfleet/agent/runtime/diskquota"
	"github.com/clawfleet/clawfleet/agent/runtime/docker/engine"
	"github.com/clawfleet/clawfleet/agent/runtime/gateway"
	"github.com/clawfleet/clawfleet/agent/runtime/hostfs"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

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
