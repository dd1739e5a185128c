package tunnel

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/pkg/wgif"
	"github.com/clawfleet/clawfleet/pkg/wgkey"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// hubDevice is the hub's WireGuard device in one mode. Peer changes touch
// only the peers named.
type hubDevice interface {
	// setPeer adds or updates key with AllowedIPs addr/32, removing oldKey
	// first when it is set (rotation).
	setPeer(oldKey *wgkey.Key, key wgkey.Key, addr netip.Addr) error
	removePeer(key wgkey.Key) error
	stats() (devStats, error)
	dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error)
	close()
}

// netstackHub: wireguard-go on a gVisor netstack holding only the hub
// address, configured through its in-process IPC.
type netstackHub struct {
	dev  *device.Device
	tnet *netstack.Net
}

func newNetstackHub(addr, listen netip.Addr, priv wgkey.Key, port, mtu int, log *slog.Logger) (*netstackHub, error) {
	tdev, tnet, err := netstack.CreateNetTUN([]netip.Addr{addr}, nil, mtu)
	if err != nil {
		return nil, fmt.Errorf("tunnel: create netstack: %w", err)
	}
	dev := device.NewDevice(tdev, wgif.NewBind(listen), wgif.DeviceLogger(log))
	if err := dev.IpcSet(fmt.Sprintf("private_key=%s\nlisten_port=%d\n", priv.Hex(), port)); err != nil {
		dev.Close()
		return nil, fmt.Errorf("tunnel: configure hub device: %w", err)
	}
	if err := dev.Up(); err != nil {
		dev.Close()
		return nil, fmt.Errorf("tunnel: hub device up (UDP port %d): %w", port, err)
	}
	return &netstackHub{dev: dev, tnet: tnet}, nil
}

func (d *netstackHub) setPeer(oldKey *wgkey.Key, key wgkey.Key, addr netip.Addr) error {
	var b strings.Builder
	if oldKey != nil {
		fmt.Fprintf(&b, "public_key=%s\nremove=true\n", oldKey.Hex())
	}
	fmt.Fprintf(&b, "public_key=%s\nreplace_allowed_ips=true\nallowed_ip=%s\n", key.Hex(), netip.PrefixFrom(addr, addr.BitLen()))
	return d.dev.IpcSet(b.String())
}

func (d *netstackHub) removePeer(key wgkey.Key) error {
	return d.dev.IpcSet(fmt.Sprintf("public_key=%s\nremove=true\n", key.Hex()))
}

func (d *netstackHub) stats() (devStats, error) {
	s, err := d.dev.IpcGet()
	if err != nil {
		return devStats{}, fmt.Errorf("tunnel: query device: %w", err)
	}
	return parseIpc(s), nil
}

func (d *netstackHub) dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	return d.tnet.DialContextTCPAddrPort(ctx, addr)
}

func (d *netstackHub) close() { d.dev.Close() }

// ifaceHub: a kernel or tun interface (pkg/wgif) holding the hub address
// with the tunnel prefix routed into it; configured with wgctrl, dialing
// through the host's network stack from the hub address.
type ifaceHub struct {
	ifc  *wgif.Interface
	addr netip.Addr
}

func newIfaceHub(mode, name string, addr netip.Prefix, listen netip.Addr, priv wgkey.Key, port, mtu int, log *slog.Logger) (*ifaceHub, error) {
	ifc, err := wgif.Open(wgif.Options{Name: name, Mode: mode, MTU: mtu, PrivateKey: priv, ListenPort: port, ListenAddr: listen, Address: addr, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("tunnel: hub: %w", err)
	}
	return &ifaceHub{ifc: ifc, addr: addr.Addr()}, nil
}

func (d *ifaceHub) setPeer(oldKey *wgkey.Key, key wgkey.Key, addr netip.Addr) error {
	var peers []wgtypes.PeerConfig
	if oldKey != nil {
		peers = append(peers, wgif.RemovePeer(*oldKey))
	}
	peers = append(peers, wgif.PeerConfig(key, netip.AddrPort{}, -1, netip.PrefixFrom(addr, addr.BitLen())))
	return d.ifc.Configure(wgtypes.Config{Peers: peers})
}

func (d *ifaceHub) removePeer(key wgkey.Key) error {
	return d.ifc.Configure(wgtypes.Config{Peers: []wgtypes.PeerConfig{wgif.RemovePeer(key)}})
}

func (d *ifaceHub) stats() (devStats, error) {
	dev, err := d.ifc.Device()
	if err != nil {
		return devStats{}, err
	}
	st := devStats{listenPort: dev.ListenPort, peers: make(map[wgkey.Key]peerStats, len(dev.Peers))}
	for _, p := range dev.Peers {
		ps := peerStats{lastHandshake: p.LastHandshakeTime, rx: uint64(p.ReceiveBytes), tx: uint64(p.TransmitBytes)}
		if p.Endpoint != nil {
			ps.endpoint = p.Endpoint.String()
		}
		st.peers[wgkey.Key(p.PublicKey)] = ps
	}
	return st, nil
}

func (d *ifaceHub) dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	dl := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(d.addr, 0))}
	return dl.DialContext(ctx, "tcp", addr.String())
}

func (d *ifaceHub) close() { d.ifc.Close() }

type peerStats struct {
	endpoint      string
	lastHandshake time.Time
	rx, tx        uint64
}

type devStats struct {
	listenPort int
	peers      map[wgkey.Key]peerStats
}

// parseIpc reads wireguard-go's UAPI "get" output.
func parseIpc(s string) devStats {
	st := devStats{peers: map[wgkey.Key]peerStats{}}
	var (
		cur    wgkey.Key
		inPeer bool
		ps     peerStats
		sec    int64
		nsec   int64
	)
	flush := func() {
		if inPeer {
			if sec != 0 || nsec != 0 {
				ps.lastHandshake = time.Unix(sec, nsec)
			}
			st.peers[cur] = ps
		}
	}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "listen_port":
			st.listenPort, _ = strconv.Atoi(v)
		case "public_key":
			flush()
			cur, _ = wgkey.ParseHex(v)
			inPeer, ps, sec, nsec = true, peerStats{}, 0, 0
		case "endpoint":
			ps.endpoint = v
		case "last_handshake_time_sec":
			sec, _ = strconv.ParseInt(v, 10, 64)
		case "last_handshake_time_nsec":
			nsec, _ = strconv.ParseInt(v, 10, 64)
		case "rx_bytes":
			ps.rx, _ = strconv.ParseUint(v, 10, 64)
		case "tx_bytes":
			ps.tx, _ = strconv.ParseUint(v, 10, 64)
		}
	}
	flush()
	return st
}
