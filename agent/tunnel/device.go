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
	"golang.zx2c4.com/wireguard/conn"
	wgdevice "golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// device is the WireGuard device of one mode, with the hub as only peer.
type device interface {
	mode() string
	// setHub updates the hub peer in place (oldKey is the current one);
	// fresh, or a new key, replaces it by a new peer, whose first
	// keepalive starts a new handshake at once.
	setHub(a applied, oldKey wgkey.Key, fresh bool) error
	setPrivateKey(k wgkey.Key) error
	// allowPorts limits what the hub may reach on the host to these TCP
	// ports, a port p of redirects arriving at port redirects[p] instead
	// (netstack: nothing else is reachable anyway, and nothing redirected).
	allowPorts(ports []int, redirects map[int]int) error
	listen(addr netip.AddrPort) (net.Listener, error)
	// kernelDelivers says whether the tunnel address is the host's own, so
	// that a host service on all addresses holds its ports there too (an
	// interface, not the netstack).
	kernelDelivers() bool
	dial(ctx context.Context, a applied, addr netip.AddrPort) (net.Conn, error)
	lastHandshake(hub wgkey.Key) time.Time
	close()
}

// netstackDevice: wireguard-go on a gVisor netstack, configured through
// its in-process IPC.
type netstackDevice struct {
	dev  *wgdevice.Device
	tnet *netstack.Net
}

func newNetstackDevice(a applied, priv wgkey.Key, mtu int, log *slog.Logger) (*netstackDevice, error) {
	tdev, tnet, err := netstack.CreateNetTUN([]netip.Addr{a.addr}, nil, mtu)
	if err != nil {
		return nil, fmt.Errorf("tunnel: create netstack: %w", err)
	}
	dev := wgdevice.NewDevice(tdev, conn.NewDefaultBind(), wgif.DeviceLogger(log))
	var b strings.Builder
	fmt.Fprintf(&b, "private_key=%s\nlisten_port=0\nreplace_peers=true\n", priv.Hex())
	writePeer(&b, a)
	if err := dev.IpcSet(b.String()); err != nil {
		dev.Close()
		return nil, fmt.Errorf("tunnel: configure device: %w", err)
	}
	if err := dev.Up(); err != nil {
		dev.Close()
		return nil, fmt.Errorf("tunnel: device up: %w", err)
	}
	return &netstackDevice{dev: dev, tnet: tnet}, nil
}

func writePeer(b *strings.Builder, a applied) {
	fmt.Fprintf(b, "public_key=%s\nendpoint=%s\npersistent_keepalive_interval=%d\nreplace_allowed_ips=true\nallowed_ip=%s\n",
		a.hubKey.Hex(), a.endpoint, a.keepalive, netip.PrefixFrom(a.hub, a.hub.BitLen()))
}

func (d *netstackDevice) mode() string { return ModeNetstack }

func (d *netstackDevice) setHub(a applied, oldKey wgkey.Key, fresh bool) error {
	var b strings.Builder
	if fresh || oldKey != a.hubKey {
		b.WriteString("replace_peers=true\n")
	}
	writePeer(&b, a)
	return d.dev.IpcSet(b.String())
}

func (d *netstackDevice) setPrivateKey(k wgkey.Key) error {
	return d.dev.IpcSet("private_key=" + k.Hex() + "\n")
}

func (d *netstackDevice) allowPorts([]int, map[int]int) error { return nil }

func (d *netstackDevice) kernelDelivers() bool { return false }

func (d *netstackDevice) listen(addr netip.AddrPort) (net.Listener, error) {
	if s := netstackStack(d.tnet); s != nil {
		return listenReusable(s, addr)
	}
	return d.tnet.ListenTCPAddrPort(addr)
}

func (d *netstackDevice) dial(ctx context.Context, _ applied, addr netip.AddrPort) (net.Conn, error) {
	return d.tnet.DialContextTCPAddrPort(ctx, addr)
}

func (d *netstackDevice) lastHandshake(wgkey.Key) time.Time {
	s, err := d.dev.IpcGet()
	if err != nil {
		return time.Time{}
	}
	var sec, nsec int64
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "last_handshake_time_sec":
			sec, _ = strconv.ParseInt(v, 10, 64)
		case "last_handshake_time_nsec":
			nsec, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if sec == 0 && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, nsec)
}

func (d *netstackDevice) close() { d.dev.Close() }

// ifaceDevice: a kernel or tun interface (pkg/wgif) holding the tunnel
// address /32, with a route to the hub address only; configured with
// wgctrl.
type ifaceDevice struct {
	ifc *wgif.Interface
}

func newIfaceDevice(mode, name string, a applied, priv wgkey.Key, mtu int, weak bool, log *slog.Logger) (*ifaceDevice, error) {
	ifc, err := wgif.Open(wgif.Options{Name: name, Mode: mode, MTU: mtu, PrivateKey: priv, AllowUnfiltered: weak,
		Address: netip.PrefixFrom(a.addr, a.addr.BitLen()), Routes: []netip.Prefix{netip.PrefixFrom(a.hub, a.hub.BitLen())},
		Logger: log})
	if err != nil {
		return nil, fmt.Errorf("tunnel: %w", err)
	}
	d := &ifaceDevice{ifc: ifc}
	if err := d.setHub(a, a.hubKey, false); err != nil {
		ifc.Close()
		return nil, err
	}
	return d, nil
}

func (d *ifaceDevice) mode() string { return d.ifc.Mode() }

func (d *ifaceDevice) setHub(a applied, oldKey wgkey.Key, fresh bool) error {
	peer := wgif.PeerConfig(a.hubKey, a.endpoint, time.Duration(a.keepalive)*time.Second, netip.PrefixFrom(a.hub, a.hub.BitLen()))
	return d.ifc.Configure(wgtypes.Config{ReplacePeers: fresh || oldKey != a.hubKey, Peers: []wgtypes.PeerConfig{peer}})
}

func (d *ifaceDevice) setPrivateKey(k wgkey.Key) error {
	key := wgtypes.Key(k)
	return d.ifc.Configure(wgtypes.Config{PrivateKey: &key})
}

func (d *ifaceDevice) allowPorts(ports []int, redirects map[int]int) error {
	return d.ifc.SetPorts(ports, redirects)
}

func (d *ifaceDevice) kernelDelivers() bool { return true }

func (d *ifaceDevice) listen(addr netip.AddrPort) (net.Listener, error) {
	return net.ListenTCP("tcp", net.TCPAddrFromAddrPort(addr))
}

func (d *ifaceDevice) dial(ctx context.Context, a applied, addr netip.AddrPort) (net.Conn, error) {
	if addr.Addr().Unmap() != a.hub {
		return nil, fmt.Errorf("tunnel: %v is not routed into the tunnel (only the hub %v is)", addr.Addr(), a.hub)
	}
	dl := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(a.addr, 0))}
	return dl.DialContext(ctx, "tcp", addr.String())
}

func (d *ifaceDevice) lastHandshake(hub wgkey.Key) time.Time {
	dev, err := d.ifc.Device()
	if err != nil {
		return time.Time{}
	}
	for _, p := range dev.Peers {
		if p.PublicKey == wgtypes.Key(hub) {
			return p.LastHandshakeTime
		}
	}
	return time.Time{}
}

func (d *ifaceDevice) close() { d.ifc.Close() }
