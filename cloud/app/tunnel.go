package app

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"

	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/cloud/tunnel"
)

// newTunnels builds the WireGuard hub from the cloud's settings and the
// tunnel service that ties it to the fleet (cloud/tunnel).
func (a *App) newTunnels(ctx context.Context, st *store.Store, f *fleet.Fleet, bus fleet.Bus) (*tunnel.Service, error) {
	cfg := a.cfg
	prefix, err := netip.ParsePrefix(cfg.WGPrefix)
	if err != nil {
		return nil, fmt.Errorf("tunnel prefix %q (CLAWFLEET_WG_PREFIX): %w", cfg.WGPrefix, err)
	}
	hub, err := tunnel.NewHub(tunnel.HubOptions{ListenAddr: cfg.WGAddr, Prefix: prefix, Mode: cfg.WGMode,
		KeyFile: filepath.Join(cfg.DataDir, "wg-hub.key"), Logger: a.log.With("component", "tunnel")})
	if err != nil {
		return nil, fmt.Errorf("WireGuard hub (%s mode, CLAWFLEET_WG_MODE) on %s (CLAWFLEET_WG_ADDR): %w", cfg.WGMode, cfg.WGAddr, err)
	}
	return tunnel.NewService(ctx, hub, st, f, bus, tunnel.ServiceOptions{Endpoint: cfg.WGEndpoint,
		EndpointHost: endpointHost(cfg.PublicURL, cfg.MQTTURL), Logger: a.log})
}

// endpointHost is the host name agents use for the hub: the public URL's,
// else the MQTT public URL's, else loopback (the local, zero-config case).
func endpointHost(publicURL, mqttURL string) string {
	for _, s := range []string{publicURL, mqttURL} {
		if u, err := url.Parse(s); err == nil && u.Hostname() != "" {
			return u.Hostname()
		}
	}
	return "127.0.0.1"
}
