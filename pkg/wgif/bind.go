package wgif

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"golang.zx2c4.com/wireguard/conn"
)

// NewBind returns the UDP socket set wireguard-go sends and receives on:
// wireguard-go's own (every local address, IPv4 and IPv6) when addr is
// invalid or unspecified, otherwise one socket bound to addr alone, so a
// device told to listen on one address answers on no other.
func NewBind(addr netip.Addr) conn.Bind {
	if !addr.IsValid() || addr.IsUnspecified() {
		return conn.NewDefaultBind()
	}
	return &addrBind{addr: addr.Unmap()}
}

// ListenAddr splits a UDP listen address ("host:port", host an IP address
// or empty) into its address (invalid when empty) and port.
func ListenAddr(s string) (netip.Addr, uint16, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("listen address %q: %w", s, err)
	}
	ap, err := netip.ParseAddrPort(net.JoinHostPort("0.0.0.0", port))
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("listen address %q: bad port %q", s, port)
	}
	if host == "" {
		return netip.Addr{}, ap.Port(), nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, 0, fmt.Errorf("listen address %q: the host must be an IP address of this machine (or empty for all of them)", s)
	}
	return a.Unmap(), ap.Port(), nil
}

// addrBind is a conn.Bind on one UDP socket bound to one address; packets
// go one per system call (BatchSize 1).
type addrBind struct {
	addr netip.Addr
	mu   sync.Mutex
	c    *net.UDPConn
}

var _ conn.Bind = (*addrBind)(nil)

func (b *addrBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c != nil {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	network := "udp4"
	if b.addr.Is6() {
		network = "udp6"
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.addr, port)))
	if err != nil {
		return nil, 0, err
	}
	b.c = c
	recv := func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		n, from, err := c.ReadFromUDPAddrPort(packets[0])
		if err != nil {
			return 0, err
		}
		sizes[0] = n
		eps[0] = &conn.StdNetEndpoint{AddrPort: netip.AddrPortFrom(from.Addr().Unmap(), from.Port())}
		return 1, nil
	}
	return []conn.ReceiveFunc{recv}, uint16(c.LocalAddr().(*net.UDPAddr).Port), nil
}

func (b *addrBind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c == nil {
		return nil
	}
	err := b.c.Close()
	b.c = nil
	return err
}

// SetMark: no firewall mark is ever configured on these devices.
func (b *addrBind) SetMark(mark uint32) error {
	if mark != 0 {
		return errors.New("wgif: firewall marks are not supported on an address-bound socket")
	}
	return nil
}

func (b *addrBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	e, ok := ep.(*conn.StdNetEndpoint)
	if !ok {
		return conn.ErrWrongEndpointType
	}
	b.mu.Lock()
	c := b.c
	b.mu.Unlock()
	if c == nil {
		return net.ErrClosed
	}
	to := netip.AddrPortFrom(e.Addr().Unmap(), e.Port())
	if to.Addr().Is4() != b.addr.Is4() {
		return fmt.Errorf("wgif: endpoint %v is not reachable from %v", to, b.addr)
	}
	for _, buf := range bufs {
		if _, err := c.WriteToUDPAddrPort(buf, to); err != nil {
			return err
		}
	}
	return nil
}

func (b *addrBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, err
	}
	return &conn.StdNetEndpoint{AddrPort: ap}, nil
}

func (b *addrBind) BatchSize() int { return 1 }
