// Package tunnel is the agent's end of the WireGuard tunnel, in one of
// three modes:
//
//   - kernel: the kernel's WireGuard on an interface (wgctrl; root and the
//     wireguard module);
//   - tun: wireguard-go in this process on a TUN interface, configured with
//     wgctrl through its UAPI socket (root and /dev/net/tun);
//   - netstack: wireguard-go on a gVisor netstack: no root, no TUN device,
//     no host routing touched.
//
// ModeAuto picks the first of those that works here. The only peer is the
// hub, with AllowedIPs = the hub address, so the tunnel carries nothing but
// hub traffic. For each port in the config the tunnel listens on its own
// tunnel address (the netstack's, or the interface's) and forwards each
// connection from the hub address to the port's upstream:
// Options.Upstream(port) (a tenant gateway's address in its network
// namespace, or 127.0.0.1:port); every other port is refused. On an
// interface, its nftables table (pkg/wgif) also refuses every other port of
// the host to the tunnel; where it cannot be installed the kernel and tun
// modes fail (auto then ends up in netstack) unless AllowWeakIsolation.
package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/clawfleet/clawfleet/agent/capability"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/wgif"
	"github.com/clawfleet/clawfleet/pkg/wgkey"
)

// Modes, as Options.Mode and in TunnelStatus.Mode (which never says auto).
const (
	ModeAuto     = "auto"
	ModeKernel   = capability.WGKernel
	ModeTun      = capability.WGTun
	ModeNetstack = capability.WGNetstack
)

// Defaults.
const (
	DefaultMTU = 1420
	// DefaultInterface names the interface in kernel and tun modes when
	// Options.Interface is empty; agents name theirs with InterfaceName.
	DefaultInterface = "wg-cf"
	// DefaultLocalDialTimeout bounds the forwarder's dial to the local port.
	DefaultLocalDialTimeout = 5 * time.Second
	// resolveTimeout bounds resolving a hub endpoint given by name.
	resolveTimeout = 5 * time.Second
)

// InterfaceName is the interface of the agent with this tag
// (runtime.AgentTag): "wg-cf" and 4 hex digits, 9 bytes (IFNAMSIZ allows
// 15), so that a second agent on the machine does not find its TUN device
// busy. Firewall rules match them all as "wg-cf*".
func InterfaceName(agentTag string) string { return DefaultInterface + agentTag }

// ErrClosed is returned after Close.
var ErrClosed = errors.New("tunnel: closed")

// Options configure New.
type Options struct {
	// KeyFile keeps the host's private key (0600), so a restarted agent
	// keeps its public key. Required.
	KeyFile string
	// Mode is ModeAuto, ModeKernel, ModeTun or ModeNetstack; empty is
	// ModeNetstack. Auto tries kernel (when the module is loaded), then tun
	// (root and /dev/net/tun), then netstack, each time the device is
	// built, and takes the first that comes up: a second agent on a host
	// whose hub route is already held by another tunnel ends up in
	// netstack.
	Mode string
	// Interface names the interface in kernel and tun modes;
	// DefaultInterface when empty.
	Interface string
	// MTU of the tunnel; DefaultMTU when zero.
	MTU int
	// LocalHost is where forwarded connections go; "127.0.0.1" when empty.
	// Used only without Upstream.
	LocalHost string
	// Upstream, when set, names the address (host:port) a connection to a
	// tunnel port is forwarded to; ok false refuses the connection (it is
	// closed at once). The gateway sees the connection come from the host
	// side of its network, its trusted proxy: Upstream must name only
	// tenants' gateways.
	Upstream func(port int) (addr string, ok bool)
	// AllowWeakIsolation runs the kernel and tun modes even where their
	// firewall cannot be installed (CLAWFLEET_ALLOW_WEAK_ISOLATION).
	AllowWeakIsolation bool
	// Logger receives the tunnel's logs; nil is slog.Default().
	Logger *slog.Logger
}

// applied is the device-level part of a config, compared to make Apply
// idempotent.
type applied struct {
	addr, hub netip.Addr
	hubKey    wgkey.Key
	endpoint  netip.AddrPort
	keepalive int
	session   string // TunnelConfig.Session
}

// Tunnel is the host's tunnel. It is safe for concurrent use.
type Tunnel struct {
	opts  Options
	log   *slog.Logger
	modes []string // modes to try, in order

	mu        sync.Mutex
	priv      wgkey.Key
	pub       wgkey.Key
	closed    bool
	dev       device // nil until the first successful Apply
	cur       applied
	ports     []int
	listeners map[int]*forwarder
	// held are the ports local services hold on all addresses (Hold), and
	// redirects the ports reached through a redirect to another port of
	// the tunnel address, as last given to the device.
	held      []int
	redirects map[int]int
	lastErr   string
	// initiated is when the device last started a handshake of its own
	// (a new device or a fresh hub peer): the hub ignores an initiation
	// too close to the previous one it took.
	initiated time.Time
}

// handshakeSpacing separates the handshakes the tunnel starts: the hub
// (WireGuard) ignores an initiation within 20 ms of the previous one
// (flood) or whose timestamp, rounded to about 17 ms, is not newer
// (replay), and the device would retry only after 5 s.
const handshakeSpacing = 50 * time.Millisecond

// New loads (or creates) the host's key and checks that the mode can work
// here: kernel without the wireguard module, or tun without root or
// /dev/net/tun, is an error. The device starts at the first Apply.
func New(opts Options) (*Tunnel, error) {
	if opts.KeyFile == "" {
		return nil, errors.New("tunnel: key file is required")
	}
	if opts.MTU == 0 {
		opts.MTU = DefaultMTU
	}
	if opts.MTU < 1280 || opts.MTU > 9000 {
		return nil, fmt.Errorf("tunnel: MTU %d out of range 1280-9000", opts.MTU)
	}
	if opts.LocalHost == "" {
		opts.LocalHost = "127.0.0.1"
	}
	if opts.Interface == "" {
		opts.Interface = DefaultInterface
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var modes []string
	switch opts.Mode {
	case "", ModeNetstack:
		modes = []string{ModeNetstack}
	case ModeAuto:
		modes = capability.Detector{}.WireGuardModes()
	case ModeKernel:
		if err := wgif.KernelAvailable(); err != nil {
			return nil, fmt.Errorf("tunnel: WireGuard mode kernel: %w", err)
		}
		modes = []string{ModeKernel}
	case ModeTun:
		if err := wgif.TunAvailable(); err != nil {
			return nil, fmt.Errorf("tunnel: WireGuard mode tun: %w", err)
		}
		modes = []string{ModeTun}
	default:
		return nil, fmt.Errorf("tunnel: unknown WireGuard mode %q (auto, kernel, tun or netstack)", opts.Mode)
	}
	priv, pub, err := wgkey.LoadOrCreatePair(opts.KeyFile)
	if err != nil {
		return nil, err
	}
	return &Tunnel{opts: opts, log: opts.Logger.With("component", "tunnel"), modes: modes, priv: priv, pub: pub, listeners: map[int]*forwarder{}}, nil
}

// PublicKey is the host's public key (base64), sent in Register.WGPublicKey.
func (t *Tunnel) PublicKey() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pub.String()
}

// Mode is the mode of the running device, or before the first Apply the
// mode it will try first.
func (t *Tunnel) Mode() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.modeLocked()
}

func (t *Tunnel) modeLocked() string {
	if t.dev != nil {
		return t.dev.mode()
	}
	return t.modes[0]
}

// Apply (re)configures the tunnel; it is idempotent. A new address rebuilds
// the device (dropping open connections); a new hub key, endpoint or
// keepalive reconfigures the hub peer in place; the port list opens and
// closes forwarders (closing a port also closes its open connections).
// A failure is also reported by Status until the next successful Apply.
func (t *Tunnel) Apply(cfg proto.TunnelConfig) error {
	err := t.apply(cfg)
	t.mu.Lock()
	if err != nil {
		t.lastErr = err.Error()
	} else {
		t.lastErr = ""
	}
	t.mu.Unlock()
	if err != nil {
		t.log.Warn("tunnel config not applied", "err", err)
	}
	return err
}

func (t *Tunnel) apply(cfg proto.TunnelConfig) error {
	want, ports, err := parseConfig(cfg)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if t.dev == nil || t.cur.addr != want.addr {
		t.teardownLocked()
		if err := t.startLocked(want); err != nil {
			return err
		}
		t.initiated = time.Now()
		t.log.Info("tunnel up", "mode", t.dev.mode(), "address", want.addr, "hub", want.endpoint, "publicKey", t.pub.String())
	} else if t.cur != want {
		// A new session: the hub has a new peer for this host and no
		// longer knows the device's session keys; what the device sends
		// with them (keepalives included) is dropped until a handshake,
		// which it would only start when its keys expire.
		fresh := want.session != t.cur.session || want.hubKey != t.cur.hubKey
		if fresh {
			// Spaced from the device's last initiation and from its last
			// completed handshake (the hub's consumption of an initiation,
			// whoever started it, is what the hub measures from).
			ref := t.initiated
			if hs := t.dev.lastHandshake(t.cur.hubKey); hs.After(ref) {
				ref = hs
			}
			time.Sleep(handshakeSpacing - time.Since(ref))
			t.initiated = time.Now()
		}
		if err := t.dev.setHub(want, t.cur.hubKey, fresh); err != nil {
			return fmt.Errorf("tunnel: reconfigure hub peer: %w", err)
		}
		t.log.Info("tunnel hub peer updated", "hub", want.endpoint, "newHandshake", fresh)
	}
	t.cur = want
	return t.syncPortsLocked(ports)
}

func parseConfig(cfg proto.TunnelConfig) (applied, []int, error) {
	var a applied
	var err error
	if a.addr, err = netip.ParseAddr(cfg.Address); err != nil {
		return a, nil, fmt.Errorf("tunnel: address %q: %w", cfg.Address, err)
	}
	if a.hub, err = netip.ParseAddr(cfg.HubAddress); err != nil {
		return a, nil, fmt.Errorf("tunnel: hub address %q: %w", cfg.HubAddress, err)
	}
	a.addr, a.hub = a.addr.Unmap(), a.hub.Unmap()
	if a.addr == a.hub {
		return a, nil, errors.New("tunnel: address equals the hub address")
	}
	if a.hubKey, err = wgkey.Parse(cfg.HubPublicKey); err != nil {
		return a, nil, fmt.Errorf("tunnel: hub public key: %w", err)
	}
	if a.endpoint, err = resolveEndpoint(cfg.HubEndpoint); err != nil {
		return a, nil, err
	}
	if cfg.KeepaliveSeconds < 0 || cfg.KeepaliveSeconds > 3600 {
		return a, nil, fmt.Errorf("tunnel: keepalive %d out of range", cfg.KeepaliveSeconds)
	}
	a.keepalive = cfg.KeepaliveSeconds
	a.session = cfg.Session
	ports := slices.Clone(cfg.Ports)
	for _, p := range ports {
		if p < 1 || p > 65535 {
			return a, nil, fmt.Errorf("tunnel: port %d out of range", p)
		}
	}
	slices.Sort(ports)
	return a, slices.Compact(ports), nil
}

// resolveEndpoint turns host:port into ip:port (the UAPI needs an IP),
// preferring IPv4.
func resolveEndpoint(ep string) (netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(ep)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("tunnel: hub endpoint %q: %w", ep, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("tunnel: hub endpoint %q: bad port", ep)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("tunnel: resolve hub endpoint %q: %v", host, err)
	}
	best := addrs[0].Unmap()
	for _, a := range addrs {
		if a.Unmap().Is4() {
			best = a.Unmap()
			break
		}
	}
	return netip.AddrPortFrom(best, uint16(port)), nil
}

// startLocked builds the device in the first mode that comes up.
func (t *Tunnel) startLocked(a applied) error {
	var errs []error
	for _, m := range t.modes {
		var dev device
		var err error
		if m == ModeNetstack {
			dev, err = newNetstackDevice(a, t.priv, t.opts.MTU, t.log)
		} else {
			dev, err = newIfaceDevice(m, t.opts.Interface, a, t.priv, t.opts.MTU, t.opts.AllowWeakIsolation, t.log)
		}
		if err == nil {
			t.dev = dev
			return nil
		}
		errs = append(errs, err)
		if len(t.modes) > 1 {
			t.log.Warn("tunnel mode unavailable, trying the next", "mode", m, "err", err)
		}
	}
	return errors.Join(errs...)
}

func (t *Tunnel) teardownLocked() {
	for p, f := range t.listeners {
		f.close()
		delete(t.listeners, p)
	}
	if t.dev != nil {
		t.dev.close()
		t.dev = nil
	}
	t.cur = applied{}
	t.ports = nil
	t.redirects = nil
}

// Hold names the ports local services hold on all addresses (adopted
// containers' published ports): on an interface the tunnel never binds
// them (Docker could not publish the port again, and its destination NAT
// would take the hub's connections to the container, into the interface's
// forward drop); a redirect of the interface sends them to a forwarder on
// another port of the tunnel address. The netstack binds nothing of the
// host's, so there they are ports like others. Used from the next Apply.
func (t *Tunnel) Hold(ports []int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.held = slices.Clone(ports)
}

func (t *Tunnel) syncPortsLocked(ports []int) error {
	for p, f := range t.listeners {
		if !slices.Contains(ports, p) {
			f.close()
			delete(t.listeners, p)
		}
	}
	var errs []error
	kernel := t.dev.kernelDelivers()
	for _, p := range ports {
		if _, ok := t.listeners[p]; ok {
			continue
		}
		held := kernel && slices.Contains(t.held, p)
		var l net.Listener
		var err error
		if !held {
			l, err = t.dev.listen(netip.AddrPortFrom(t.cur.addr, uint16(p)))
			// Someone holds it on all addresses: as if Hold had said so.
			held = kernel && errors.Is(err, syscall.EADDRINUSE)
		}
		if held {
			l, err = t.dev.listen(netip.AddrPortFrom(t.cur.addr, 0))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("tunnel: listen on port %d: %w", p, err))
			continue
		}
		f := &forwarder{t: t, port: p, hub: t.cur.hub, ln: l, conns: map[net.Conn]struct{}{}}
		if held {
			f.to = l.Addr().(*net.TCPAddr).Port
			t.log.Info("tunnel port held by a local service on all addresses: reached through a redirect", "port", p, "to", f.to)
		}
		t.listeners[p] = f
		go f.serve()
	}
	redirects := map[int]int{}
	for p, f := range t.listeners {
		if f.to != 0 {
			redirects[p] = f.to
		}
	}
	if !slices.Equal(ports, t.ports) || !maps.Equal(redirects, t.redirects) {
		if err := t.dev.allowPorts(ports, redirects); err != nil {
			if len(redirects) > 0 {
				errs = append(errs, fmt.Errorf("tunnel: redirecting the ports held on all addresses %v: %w", slices.Sorted(maps.Keys(redirects)), err))
			} else {
				t.log.Warn("tunnel input filter not updated: other local services bound to all addresses are reachable from the hub", "err", err)
			}
		}
		t.ports, t.redirects = ports, redirects
	}
	return errors.Join(errs...)
}

// RotateKey makes a new private key, writes it atomically to the key file
// and gives it to the running device in place (the hub peer, address and
// forwarders stay). The hub refuses the new key until the cloud has
// AddPeer'd it; it then completes a new handshake on the next keepalive.
// It returns the new public key (base64).
func (t *Tunnel) RotateKey() (string, error) {
	priv, err := wgkey.GeneratePrivate()
	if err != nil {
		return "", err
	}
	pub, err := wgkey.Public(priv)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return "", ErrClosed
	}
	if err := wgkey.Save(t.opts.KeyFile, priv); err != nil {
		return "", fmt.Errorf("tunnel: rotate key: %w", err)
	}
	t.priv, t.pub = priv, pub
	if t.dev != nil {
		if err := t.dev.setPrivateKey(priv); err != nil {
			// The file holds the new key: the next start uses it. Rebuild
			// now so the device does too.
			a, ports := t.cur, t.ports
			t.teardownLocked()
			if err := t.startLocked(a); err != nil {
				return "", fmt.Errorf("tunnel: rotate key: %w", err)
			}
			t.cur = a
			if err := t.syncPortsLocked(ports); err != nil {
				return pub.String(), err
			}
		}
	}
	t.log.Info("tunnel key rotated", "publicKey", pub.String())
	return pub.String(), nil
}

// DialContext opens a TCP connection from the host's tunnel address to
// addr. Only the hub address is routed into the tunnel: in netstack mode
// any other destination gets no answer (bound the wait with ctx); on an
// interface it is refused at once.
func (t *Tunnel) DialContext(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	t.mu.Lock()
	dev, cur := t.dev, t.cur
	t.mu.Unlock()
	if dev == nil {
		return nil, errors.New("tunnel: not configured")
	}
	return dev.dial(ctx, cur, addr)
}

// Status reports the tunnel for heartbeats: the mode in use, the age of
// the last handshake with the hub, the address and the last error.
func (t *Tunnel) Status() proto.TunnelStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := proto.TunnelStatus{Mode: t.modeLocked(), HandshakeAgeSeconds: -1, Error: t.lastErr}
	if t.dev == nil {
		return st
	}
	st.Address = t.cur.addr.String()
	if hs := t.dev.lastHandshake(t.cur.hubKey); !hs.IsZero() {
		st.HandshakeAgeSeconds = max(0, int64(time.Since(hs)/time.Second))
	}
	return st
}

// LastHandshake is the time of the last handshake with the hub (zero if
// none).
func (t *Tunnel) LastHandshake() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dev == nil {
		return time.Time{}
	}
	return t.dev.lastHandshake(t.cur.hubKey)
}

// Down takes the tunnel down until the next Apply (the cloud cleared the
// host's tunnel config: a box was released); the key stays.
func (t *Tunnel) Down() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.teardownLocked()
	t.lastErr = ""
}

// Close stops the forwarders and the device (removing its interface).
func (t *Tunnel) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	t.teardownLocked()
	return nil
}

func (t *Tunnel) setErr(err error) {
	t.mu.Lock()
	t.lastErr = err.Error()
	t.mu.Unlock()
}

// forwarder accepts on one tunnel port and relays to the local port.
type forwarder struct {
	t    *Tunnel
	port int
	to   int // the port it listens on when port is redirected there, else 0
	hub  netip.Addr
	ln   net.Listener

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

func (f *forwarder) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			f.mu.Lock()
			closed := f.closed
			f.mu.Unlock()
			if !closed {
				f.t.log.Warn("tunnel forwarder stopped", "port", f.port, "err", err)
				f.t.setErr(fmt.Errorf("tunnel: forwarder on port %d: %w", f.port, err))
			}
			return
		}
		// AllowedIPs already admit only the hub's address; check anyway.
		if ra, ok := c.RemoteAddr().(*net.TCPAddr); !ok || ra.AddrPort().Addr().Unmap() != f.hub {
			f.t.log.Warn("tunnel connection from a non-hub source refused", "port", f.port, "from", c.RemoteAddr())
			c.Close()
			continue
		}
		if !f.track(c) {
			c.Close()
			return
		}
		go f.relay(c)
	}
}

func (f *forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *forwarder) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

func (f *forwarder) relay(in net.Conn) {
	defer f.untrack(in)
	defer in.Close()
	addr := net.JoinHostPort(f.t.opts.LocalHost, strconv.Itoa(f.port))
	if f.t.opts.Upstream != nil {
		up, ok := f.t.opts.Upstream(f.port)
		if !ok {
			f.t.log.Debug("tunnel forward: no upstream for port; refused", "port", f.port)
			return
		}
		addr = up
	}
	d := net.Dialer{Timeout: DefaultLocalDialTimeout}
	out, err := d.Dial("tcp", addr)
	if err != nil {
		f.t.log.Debug("tunnel forward: upstream does not answer", "port", f.port, "upstream", addr, "err", err)
		return
	}
	if !f.track(out) {
		out.Close()
		return
	}
	defer f.untrack(out)
	defer out.Close()
	done := make(chan struct{})
	go func() {
		pipe(out, in)
		close(done)
	}()
	pipe(in, out)
	<-done
}

// pipe copies src to dst, then half-closes dst (or closes it).
func pipe(dst, src net.Conn) {
	buf := make([]byte, 64<<10)
	_, err := io.CopyBuffer(onlyWriter{dst}, onlyReader{src}, buf)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
		cw.CloseWrite()
		return
	}
	dst.Close()
	src.Close()
}

// onlyWriter / onlyReader hide ReadFrom/WriteTo so CopyBuffer uses our
// buffer (gonet has no fast path; net.TCPConn's would fall back anyway).
type onlyWriter struct{ io.Writer }
type onlyReader struct{ io.Reader }

func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	conns := f.conns
	f.conns = map[net.Conn]struct{}{}
	f.mu.Unlock()
	f.ln.Close()
	for c := range conns {
		c.Close()
	}
}
