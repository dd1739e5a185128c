// Package tunnel is the cloud's end of the hosts' WireGuard tunnels: the Hub,
// and the Service that ties it to the fleet (tunnel addresses, one peer per
// registered host, its retained tunnel config, peers restored at start). The
// hub runs in one of three modes:
//
//   - userspace (the default): wireguard-go on a gVisor netstack (no root,
//     no kernel module, no TUN device);
//   - kernel: the kernel's WireGuard on an interface, configured with
//     wgctrl (root and the wireguard module);
//   - tun: wireguard-go in this process on a TUN interface, configured with
//     wgctrl through its UAPI socket (root and /dev/net/tun).
//
// Every host is one peer whose AllowedIPs is its own /32, so a host can
// only send from its own tunnel address. The hub does not forward between
// peers (the netstack never does; on an interface, forwarding of packets
// received on it is switched off) and accepts nothing: it only dials out to
// hosts (DialContext). On an interface its nftables table (pkg/wgif;
// required: without it the kernel and tun modes fail) resets every new
// connection from the tunnel, so the cloud's services bound to all
// addresses stay out of the hosts' reach.
package tunnel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/pkg/wgif"
	"github.com/clawfleet/clawfleet/pkg/wgkey"
)

// Hub modes (HubOptions.Mode).
const (
	ModeUserspace = "userspace"
	ModeKernel    = wgif.Kernel
	ModeTun       = wgif.Tun
)

// Defaults.
const (
	DefaultListenAddr = ":51820"
	// DefaultInterface names the hub's interface in kernel and tun modes.
	DefaultInterface = "wg-cfhub"
	DefaultMTU       = 1420
	// DefaultDialTimeout bounds DialContext when its context has no deadline.
	DefaultDialTimeout = 10 * time.Second
)

// DefaultPrefix is the tunnel network (CGNAT space, like Tailscale's).
var DefaultPrefix = netip.MustParsePrefix("100.96.0.0/16")

// Errors.
var (
	ErrUnknownHost = errors.New("tunnel: host has no peer on the hub")
	ErrClosed      = errors.New("tunnel: hub is closed")
)

// HubOptions configure NewHub.
type HubOptions struct {
	// ListenAddr is the UDP address, e.g. ":51820" (the default, every
	// local address, IPv4 and IPv6) or "127.0.0.1:0" (that address alone;
	// an IP address, not a name). Kernel mode cannot bind one address and
	// refuses it. Port 0 picks a free port; see Hub.Port.
	ListenAddr string
	// Prefix is the tunnel network; DefaultPrefix when zero.
	Prefix netip.Prefix
	// HubAddr is the hub's own tunnel address; the prefix's first host
	// address (100.96.0.1) when zero.
	HubAddr netip.Addr
	// KeyFile keeps the hub's private key (created 0600 on first start,
	// e.g. in the data dir), so hosts' configs survive a restart. Required.
	KeyFile string
	// MTU of the tunnel; DefaultMTU when zero.
	MTU int
	// Mode is ModeUserspace (also when empty), ModeKernel or ModeTun.
	Mode string
	// Interface names the interface in kernel and tun modes;
	// DefaultInterface when empty.
	Interface string
	// DialTimeout bounds DialContext without a context deadline;
	// DefaultDialTimeout when zero.
	DialTimeout time.Duration
	// Logger receives the hub's logs; nil is slog.Default().
	Logger *slog.Logger
}

type hostPeer struct {
	key  wgkey.Key
	addr netip.Addr
	// session is new each time the peer is (re)installed on the device
	// (TunnelConfig.Session).
	session string
}

// Hub is the cloud end of every host's tunnel. It is safe for concurrent use.
type Hub struct {
	opts HubOptions
	log  *slog.Logger
	priv wgkey.Key
	pub  wgkey.Key
	dev  hubDevice
	port int

	mu     sync.Mutex
	closed bool
	peers  map[string]hostPeer              // host ID -> peer
	byKey  map[wgkey.Key]string             // public key -> host ID
	byAddr map[netip.Addr]string            // tunnel address -> host ID
	conns  map[string]map[*hubConn]struct{} // host ID -> open dialed conns
}

// NewHub loads (or creates) the hub's key and starts its device.
func NewHub(opts HubOptions) (*Hub, error) {
	if opts.KeyFile == "" {
		return nil, errors.New("tunnel: hub key file is required")
	}
	if opts.ListenAddr == "" {
		opts.ListenAddr = DefaultListenAddr
	}
	if !opts.Prefix.IsValid() {
		opts.Prefix = DefaultPrefix
	}
	opts.Prefix = opts.Prefix.Masked()
	if !opts.HubAddr.IsValid() {
		opts.HubAddr = opts.Prefix.Addr().Next()
	}
	if !opts.Prefix.Contains(opts.HubAddr) || opts.HubAddr == opts.Prefix.Addr() {
		return nil, fmt.Errorf("tunnel: hub address %v is not a host address of %v", opts.HubAddr, opts.Prefix)
	}
	if opts.MTU == 0 {
		opts.MTU = DefaultMTU
	}
	if opts.MTU < 1280 || opts.MTU > 9000 {
		return nil, fmt.Errorf("tunnel: MTU %d out of range 1280-9000", opts.MTU)
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	switch opts.Mode {
	case "":
		opts.Mode = ModeUserspace
	case ModeUserspace, ModeKernel, ModeTun:
	default:
		return nil, fmt.Errorf("tunnel: unknown hub mode %q (userspace, kernel or tun)", opts.Mode)
	}
	if opts.Interface == "" {
		opts.Interface = DefaultInterface
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	listenIP, port, err := wgif.ListenAddr(opts.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("tunnel: %w", err)
	}
	if opts.Mode == ModeKernel && listenIP.IsValid() && !listenIP.IsUnspecified() {
		return nil, fmt.Errorf("tunnel: kernel mode listens on every address and cannot bind %v alone: name only a port (e.g. :%d) or use the userspace or tun mode", listenIP, port)
	}
	priv, pub, err := wgkey.LoadOrCreatePair(opts.KeyFile)
	if err != nil {
		return nil, err
	}
	h := &Hub{
		opts: opts, log: opts.Logger.With("component", "tunnel-hub"), priv: priv, pub: pub,
		peers: map[string]hostPeer{}, byKey: map[wgkey.Key]string{}, byAddr: map[netip.Addr]string{},
		conns: map[string]map[*hubConn]struct{}{},
	}
	if opts.Mode == ModeUserspace {
		h.dev, err = newNetstackHub(opts.HubAddr, listenIP, priv, int(port), opts.MTU, h.log)
	} else {
		h.dev, err = newIfaceHub(opts.Mode, opts.Interface, netip.PrefixFrom(opts.HubAddr, opts.Prefix.Bits()), listenIP, priv, int(port), opts.MTU, h.log)
	}
	if err != nil {
		return nil, err
	}
	st, err := h.dev.stats()
	if err != nil || st.listenPort == 0 {
		h.dev.close()
		return nil, fmt.Errorf("tunnel: hub device has no UDP port (%v)", err)
	}
	h.port = st.listenPort
	h.log.Info("tunnel hub up", "mode", opts.Mode, "port", h.port, "address", opts.HubAddr, "prefix", opts.Prefix, "publicKey", pub.String())
	return h, nil
}

// PublicKey is the hub's public key (base64), for hosts' TunnelConfig.
func (h *Hub) PublicKey() string { return h.pub.String() }

// Port is the hub's actual UDP port.
func (h *Hub) Port() int { return h.port }

// Prefix is the tunnel network.
func (h *Hub) Prefix() netip.Prefix { return h.opts.Prefix }

// Mode is the hub's mode: ModeUserspace, ModeKernel or ModeTun.
func (h *Hub) Mode() string { return h.opts.Mode }

// Addr is the hub's tunnel address.
func (h *Hub) Addr() netip.Addr { return h.opts.HubAddr }

// AddPeer lets hostID in with public key pubKeyB64 (base64) from tunnel
// address addr only (AllowedIPs addr/32). It is idempotent; for a host that
// already has a peer it replaces the key (rotation: the old key stops
// working at once) and/or the address, closing the host's open dialed
// connections. A key or address held by another host is an error.
func (h *Hub) AddPeer(hostID, pubKeyB64 string, addr netip.Addr) error {
	if hostID == "" {
		return errors.New("tunnel: empty host id")
	}
	key, err := wgkey.Parse(pubKeyB64)
	if err != nil {
		return fmt.Errorf("tunnel: host %s: %w", hostID, err)
	}
	if key == h.pub {
		return fmt.Errorf("tunnel: host %s presents the hub's own key", hostID)
	}
	addr = addr.Unmap()
	if !addr.IsValid() || !h.opts.Prefix.Contains(addr) || addr == h.opts.HubAddr || addr == h.opts.Prefix.Addr() {
		return fmt.Errorf("tunnel: host %s: address %v is not a host address of %v", hostID, addr, h.opts.Prefix)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	if other, ok := h.byKey[key]; ok && other != hostID {
		return fmt.Errorf("tunnel: host %s: public key already belongs to host %s", hostID, other)
	}
	if other, ok := h.byAddr[addr]; ok && other != hostID {
		return fmt.Errorf("tunnel: host %s: address %v already belongs to host %s", hostID, addr, other)
	}
	old, had := h.peers[hostID]
	if had && old.key == key && old.addr == addr {
		return nil
	}
	var oldKey *wgkey.Key
	if had && old.key != key {
		oldKey = &old.key
	}
	if err := h.dev.setPeer(oldKey, key, addr); err != nil {
		return fmt.Errorf("tunnel: add peer %s: %w", hostID, err)
	}
	if had {
		delete(h.byKey, old.key)
		delete(h.byAddr, old.addr)
		h.closeConnsLocked(hostID)
		h.log.Info("tunnel peer replaced", "host", hostID, "address", addr, "keyChanged", old.key != key)
	} else {
		h.log.Debug("tunnel peer added", "host", hostID, "address", addr)
	}
	h.peers[hostID] = hostPeer{key: key, addr: addr, session: newSession()}
	h.byKey[key] = hostID
	h.byAddr[addr] = hostID
	return nil
}

// RemovePeer revokes hostID at once: its peer (and session keys) is
// removed from the device and its open dialed connections are closed.
// Removing an unknown host is not an error.
func (h *Hub) RemovePeer(hostID string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	p, ok := h.peers[hostID]
	if !ok {
		return nil
	}
	delete(h.peers, hostID)
	delete(h.byKey, p.key)
	delete(h.byAddr, p.addr)
	h.closeConnsLocked(hostID)
	if err := h.dev.removePeer(p.key); err != nil {
		return fmt.Errorf("tunnel: remove peer %s: %w", hostID, err)
	}
	h.log.Info("tunnel peer removed", "host", hostID)
	return nil
}

// Session names hostID's current peer (TunnelConfig.Session): it changes
// whenever AddPeer installs a new one. Empty when the host has no peer.
func (h *Hub) Session(hostID string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.peers[hostID].session
}

func newSession() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// HostAddr returns a host's tunnel address, if it has a peer.
func (h *Hub) HostAddr(hostID string) (netip.Addr, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.peers[hostID]
	return p.addr, ok
}

// DialContext opens a TCP connection to port on hostID over its tunnel.
// Without a context deadline the dial is bounded by HubOptions.DialTimeout.
// It fails with ErrUnknownHost for a host without a peer; the host refuses
// ports it was not told to expose.
func (h *Hub) DialContext(ctx context.Context, hostID string, port int) (net.Conn, error) {
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("tunnel: port %d out of range", port)
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	p, ok := h.peers[hostID]
	h.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownHost, hostID)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.opts.DialTimeout)
		defer cancel()
	}
	c, err := h.dev.dial(ctx, netip.AddrPortFrom(p.addr, uint16(port)))
	if err != nil {
		return nil, fmt.Errorf("tunnel: dial %s port %d: %w", hostID, port, err)
	}
	hc := &hubConn{Conn: c, hub: h, host: hostID}
	h.mu.Lock()
	defer h.mu.Unlock()
	// The peer may have been removed or replaced while dialing.
	if cur, ok := h.peers[hostID]; h.closed || !ok || cur != p {
		c.Close()
		return nil, fmt.Errorf("%w: %s (revoked while dialing)", ErrUnknownHost, hostID)
	}
	set := h.conns[hostID]
	if set == nil {
		set = map[*hubConn]struct{}{}
		h.conns[hostID] = set
	}
	set[hc] = struct{}{}
	return hc, nil
}

// Handshake returns the time of the last completed handshake with hostID;
// false if the host has no peer or has never completed one.
func (h *Hub) Handshake(hostID string) (time.Time, bool) {
	h.mu.Lock()
	p, ok := h.peers[hostID]
	h.mu.Unlock()
	if !ok {
		return time.Time{}, false
	}
	st, err := h.dev.stats()
	if err != nil {
		return time.Time{}, false
	}
	ps, ok := st.peers[p.key]
	if !ok || ps.lastHandshake.IsZero() {
		return time.Time{}, false
	}
	return ps.lastHandshake, true
}

// PeerInfo describes one host's peer.
type PeerInfo struct {
	HostID        string
	PublicKey     string // base64
	Address       netip.Addr
	Endpoint      string    // the host's current UDP endpoint; empty before its first handshake
	LastHandshake time.Time // zero if none
	RxBytes       uint64
	TxBytes       uint64
}

// Peers returns every peer's state (one device query for all hosts).
func (h *Hub) Peers() ([]PeerInfo, error) {
	st, err := h.dev.stats()
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]PeerInfo, 0, len(h.peers))
	for id, p := range h.peers {
		ps := st.peers[p.key]
		out = append(out, PeerInfo{HostID: id, PublicKey: p.key.String(), Address: p.addr,
			Endpoint: ps.endpoint, LastHandshake: ps.lastHandshake, RxBytes: ps.rx, TxBytes: ps.tx})
	}
	return out, nil
}

// Close closes every dialed connection and the device.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	for id := range h.conns {
		h.closeConnsLocked(id)
	}
	h.mu.Unlock()
	h.dev.close()
	return nil
}

func (h *Hub) closeConnsLocked(hostID string) {
	for c := range h.conns[hostID] {
		c.Conn.Close()
	}
	delete(h.conns, hostID)
}

// hubConn is a dialed connection the hub closes when its host is revoked.
type hubConn struct {
	net.Conn
	hub  *Hub
	host string
	once sync.Once
}

func (c *hubConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.hub.mu.Lock()
		if set := c.hub.conns[c.host]; set != nil {
			delete(set, c)
			if len(set) == 0 {
				delete(c.hub.conns, c.host)
			}
		}
		c.hub.mu.Unlock()
	})
	return err
}

// CloseWrite half-closes the connection (for proxies).
func (c *hubConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
