package tunnel

import (
	"fmt"
	"net/netip"
	"reflect"
	"unsafe"

	"golang.zx2c4.com/wireguard/tun/netstack"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// A tenant's port that goes and comes back (a tenant deleted, another given
// its port) must be listened on again at once. netstack.Net.ListenTCP binds
// without SO_REUSEADDR, and gVisor then keeps the port taken while any
// connection accepted on it lingers (TIME_WAIT: a minute), so the port's
// forwarder could not come back ("port is in use") and the tenant answered
// 502 meanwhile. wireguard-go does not expose its gVisor stack, so it is
// read from the Net's unexported field; should that field change, listening
// falls back to netstack's own (reported by the error's text in tests).

// netstackStack is tnet's gVisor stack, or nil when it cannot be found.
func netstackStack(tnet *netstack.Net) *stack.Stack {
	v := reflect.ValueOf(tnet)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return nil
	}
	f := v.Elem().FieldByName("stack")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*stack.Stack]() {
		return nil
	}
	s, _ := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(*stack.Stack)
	return s
}

// listenReusable listens on addr in s with SO_REUSEADDR, as the kernel's
// sockets of Go's net.Listen do.
func listenReusable(s *stack.Stack, addr netip.AddrPort) (*gonet.TCPListener, error) {
	pn := ipv4.ProtocolNumber
	if addr.Addr().Is6() {
		pn = ipv6.ProtocolNumber
	}
	var wq waiter.Queue
	ep, terr := s.NewEndpoint(tcp.ProtocolNumber, pn, &wq)
	if terr != nil {
		return nil, fmt.Errorf("listen tcp %v: %s", addr, terr)
	}
	ep.SocketOptions().SetReuseAddress(true)
	if terr := ep.Bind(tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFromSlice(addr.Addr().AsSlice()), Port: addr.Port()}); terr != nil {
		ep.Close()
		return nil, fmt.Errorf("bind tcp %v: %s", addr, terr)
	}
	if terr := ep.Listen(128); terr != nil {
		ep.Close()
		return nil, fmt.Errorf("listen tcp %v: %s", addr, terr)
	}
	return gonet.NewTCPListener(s, &wq, ep), nil
}
