package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/cloud/tunnel"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// tunnels ties the WireGuard hub to the fleet: a host that registers with a
// WireGuard public key gets an address from the pool, becomes a hub peer and
// receives its tunnel config (retained on down/tunnel); a deleted host's peer
// is dropped at once and its address released (never handed out again).
type tunnels struct {
	hub      *tunnel.Hub
	st       *store.Store
	fleet    *fleet.Fleet
	bus      fleet.Bus
	endpoint string
	log      *slog.Logger
	mu       sync.Mutex // serialises configure/remove per cloud
}

const tunnelKeepalive = 25 // seconds; keeps NAT mappings open

func newTunnels(ctx context.Context, cfg tunnelConfig, st *store.Store, f *fleet.Fleet, bus fleet.Bus, log *slog.Logger) (*tunnels, error) {
	prefix, err := netip.ParsePrefix(cfg.Prefix)
	if err != nil {
		return nil, fmt.Errorf("tunnel prefix %q (CLAWFLEET_WG_PREFIX): %w", cfg.Prefix, err)
	}
	hub, err := tunnel.NewHub(tunnel.HubOptions{ListenAddr: cfg.ListenAddr, Prefix: prefix, Mode: cfg.Mode, KeyFile: filepath.Join(cfg.DataDir, "wg-hub.key"), Logger: log.With("component", "tunnel")})
	if err != nil {
		return nil, fmt.Errorf("WireGuard hub (%s mode, CLAWFLEET_WG_MODE) on %s (CLAWFLEET_WG_ADDR): %w", cfg.Mode, cfg.ListenAddr, err)
	}
	t := &tunnels{hub: hub, st: st, fleet: f, bus: bus, log: log.With("component", "tunnel"), endpoint: cfg.Endpoint}
	if t.endpoint == "" {
		t.endpoint = net.JoinHostPort(cfg.EndpointHost, strconv.Itoa(hub.Port()))
	}
	// Peers known before this start: hosts reconnect and re-register anyway,
	// but the hub should route to them from the first packet.
	addrs, err := st.TunnelAddresses(ctx)
	if err != nil {
		hub.Close()
		return nil, err
	}
	for _, ta := range addrs {
		h, err := st.GetHost(ctx, ta.HostID)
		if err != nil || h.WGPublicKey == "" {
			continue
		}
		if err := hub.AddPeer(h.ID, h.WGPublicKey, ta.Addr()); err != nil {
			t.log.Warn("restoring tunnel peer failed", "device", h.ID, "err", err)
		}
	}
	f.Subscribe(t.onEvent)
	t.log.Info("WireGuard hub ready", "mode", hub.Mode(), "endpoint", t.endpoint, "hubAddress", hub.Addr(), "prefix", prefix, "peers", len(addrs))
	return t, nil
}

// tunnelConfig is the part of the cloud config the hub needs.
type tunnelConfig struct {
	ListenAddr, Prefix, Endpoint, EndpointHost, DataDir string
	Mode                                                string // userspace (or empty), kernel or tun
}

func (t *tunnels) onEvent(e fleet.Event) {
	switch e := e.(type) {
	case fleet.Registered:
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := t.configure(ctx, e.HostID); err != nil {
				t.log.Warn("tunnel not configured", "device", e.HostID, "err", err)
			}
		}()
	case fleet.Deleted:
		id := e.HostID
		t.mu.Lock()
		defer t.mu.Unlock()
		if err := t.hub.RemovePeer(id); err != nil && !errors.Is(err, tunnel.ErrUnknownHost) {
			t.log.Warn("removing tunnel peer failed", "device", id, "err", err)
		}
		if err := t.st.ReleaseTunnelAddress(context.Background(), id); err != nil {
			t.log.Warn("releasing tunnel address failed", "device", id, "err", err)
		}
	}
}

// configure gives a registered host its address and hub peer, and pushes
// its tunnel config. A host whose agent sent no key has no tunnel.
func (t *tunnels) configure(ctx context.Context, id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, err := t.st.GetHost(ctx, id)
	if err != nil {
		return err
	}
	if h.WGPublicKey == "" {
		return nil
	}
	addr, err := t.st.AllocateTunnelAddress(ctx, id, t.hub.Prefix(), t.hub.Addr())
	if err != nil {
		return err
	}
	if err := t.hub.AddPeer(id, h.WGPublicKey, addr); err != nil {
		return err
	}
	cfg := proto.TunnelConfig{Address: addr.String(), HubAddress: t.hub.Addr().String(), HubPublicKey: t.hub.PublicKey(),
		HubEndpoint: t.endpoint, KeepaliveSeconds: tunnelKeepalive}
	if err := t.bus.Publish(proto.DownTopic(id, proto.KindTunnel), proto.MustEncode(&cfg), true); err != nil {
		return fmt.Errorf("publish tunnel config: %w", err)
	}
	t.log.Info("tunnel configured", "device", id, "address", addr)
	return nil
}

// Dial opens a TCP connection to port on a host, through its tunnel.
func (t *tunnels) Dial(ctx context.Context, hostID string, port int) (net.Conn, error) {
	return t.hub.DialContext(ctx, hostID, port)
}

func (t *tunnels) Close() error { return t.hub.Close() }

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
