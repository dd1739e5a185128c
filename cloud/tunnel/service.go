package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Keepalive is the persistent keepalive hosts are told to use (seconds): it
// keeps NAT mappings open so the hub can reach hosts behind NAT.
const Keepalive = 25

// ServiceOptions configure NewService.
type ServiceOptions struct {
	// Endpoint is the host:port agents send WireGuard packets to. When
	// empty it is EndpointHost with the hub's UDP port.
	Endpoint     string
	EndpointHost string
	// Logger receives the service's logs; nil is slog.Default().
	Logger *slog.Logger
}

// Service ties the hub to the fleet: a host that registers with a WireGuard
// public key gets an address from the pool, becomes a hub peer and receives
// its tunnel config (retained on down/tunnel); a deleted host's peer is
// dropped at once and its address released (never handed out again).
type Service struct {
	hub      *Hub
	st       *store.Store
	bus      fleet.Bus
	endpoint string
	log      *slog.Logger
	mu       sync.Mutex // serialises configure/remove per cloud
}

// NewService restores the peers of hosts that had a tunnel before this start
// and subscribes to the fleet's events. It takes over hub: Close closes it,
// and so does a failing NewService.
func NewService(ctx context.Context, hub *Hub, st *store.Store, f *fleet.Fleet, bus fleet.Bus, opts ServiceOptions) (*Service, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Service{hub: hub, st: st, bus: bus, log: opts.Logger.With("component", "tunnel"), endpoint: opts.Endpoint}
	if s.endpoint == "" {
		s.endpoint = net.JoinHostPort(opts.EndpointHost, strconv.Itoa(hub.Port()))
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
			s.log.Warn("restoring tunnel peer failed", "device", h.ID, "err", err)
		}
	}
	f.Subscribe(s.onEvent)
	s.log.Info("WireGuard hub ready", "mode", hub.Mode(), "endpoint", s.endpoint, "hubAddress", hub.Addr(), "prefix", hub.Prefix(), "peers", len(addrs))
	return s, nil
}

func (s *Service) onEvent(e fleet.Event) {
	switch e := e.(type) {
	case fleet.Registered:
		fleet.InBackground(30*time.Second, func(ctx context.Context) {
			if err := s.configure(ctx, e.HostID); err != nil {
				s.log.Warn("tunnel not configured", "device", e.HostID, "err", err)
			}
		})
	case fleet.Deleted:
		s.remove(e.HostID)
	}
}

// configure gives a registered host its address and hub peer, and pushes
// its tunnel config. A host whose agent sent no key has no tunnel.
func (s *Service) configure(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, err := s.st.GetHost(ctx, id)
	if err != nil {
		return err
	}
	if h.WGPublicKey == "" {
		return nil
	}
	if h.Kind == store.HostBox {
		// A box's tunnel carries its owner's gateway: none before it has
		// one (Configure is called when it is claimed).
		b, err := s.st.GetBox(ctx, id)
		if err != nil {
			return err
		}
		if b.ClaimedBy == "" {
			return nil
		}
	}
	addr, err := s.st.AllocateTunnelAddress(ctx, id, s.hub.Prefix(), s.hub.Addr())
	if err != nil {
		return err
	}
	if err := s.hub.AddPeer(id, h.WGPublicKey, addr); err != nil {
		return err
	}
	cfg := proto.TunnelConfig{Address: addr.String(), HubAddress: s.hub.Addr().String(), HubPublicKey: s.hub.PublicKey(),
		HubEndpoint: s.endpoint, KeepaliveSeconds: Keepalive, Session: s.hub.Session(id)}
	if err := s.bus.Publish(proto.DownTopic(id, proto.KindTunnel), proto.MustEncode(&cfg), true); err != nil {
		return fmt.Errorf("publish tunnel config: %w", err)
	}
	s.log.Info("tunnel configured", "device", id, "address", addr)
	return nil
}

// Configure gives a registered host its tunnel now (a box that was just
// claimed); a host that has not registered a key yet gets it when it does.
func (s *Service) Configure(ctx context.Context, id string) error { return s.configure(ctx, id) }

// Unconfigure takes a host's tunnel away (a box that was released or
// reset): its hub peer and address go, and its retained tunnel config is
// cleared, so the agent brings the tunnel down.
func (s *Service) Unconfigure(id string) error {
	s.remove(id)
	if err := s.bus.Publish(proto.DownTopic(id, proto.KindTunnel), nil, true); err != nil {
		return fmt.Errorf("clear tunnel config: %w", err)
	}
	return nil
}

// remove drops a deleted host's peer and releases its address. (The fleet
// clears its retained tunnel config.)
func (s *Service) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.hub.RemovePeer(id); err != nil && !errors.Is(err, ErrUnknownHost) {
		s.log.Warn("removing tunnel peer failed", "device", id, "err", err)
	}
	if err := s.st.ReleaseTunnelAddress(context.Background(), id); err != nil {
		s.log.Warn("releasing tunnel address failed", "device", id, "err", err)
	}
}

// Dial opens a TCP connection to port on a host, through its tunnel.
func (s *Service) Dial(ctx context.Context, hostID string, port int) (net.Conn, error) {
	return s.hub.DialContext(ctx, hostID, port)
}

// HubAddr is the hub's tunnel address.
func (s *Service) HubAddr() netip.Addr { return s.hub.Addr() }

// Close closes the hub.
func (s *Service) Close() error { return s.hub.Close() }
