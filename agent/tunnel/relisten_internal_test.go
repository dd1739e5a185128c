package tunnel

import (
	"net/netip"
	"testing"

	"golang.zx2c4.com/wireguard/tun/netstack"
)

// A port is listened on again at once after its listener closed, whoever
// closed the connections accepted on it (gVisor kept it taken for a minute:
// TestHubAndAgents' "ports follow the config" failed 1 run in 4).
func TestNetstackRelistenAtOnce(t *testing.T) {
	addr := netip.MustParseAddr("100.96.0.2")
	_, tnet, err := netstack.CreateNetTUN([]netip.Addr{addr}, nil, 1420)
	if err != nil {
		t.Fatal(err)
	}
	d := &netstackDevice{tnet: tnet}
	if netstackStack(tnet) == nil {
		t.Fatal("the gVisor stack of netstack.Net was not found (wireguard-go changed its fields?)")
	}
	ap := netip.AddrPortFrom(addr, 40657)
	for _, closer := range []string{"server", "client", "both"} {
		l, err := d.listen(ap)
		if err != nil {
			t.Fatalf("%s closes: listen: %v", closer, err)
		}
		c, err := tnet.DialTCPAddrPort(ap)
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		switch closer {
		case "server":
			s.Close()
		case "client":
			c.Close()
		default:
			s.Close()
			c.Close()
		}
		l.Close()
		l2, err := d.listen(ap)
		if err != nil {
			t.Fatalf("%s closes: listening again: %v", closer, err)
		}
		l2.Close()
		s.Close()
		c.Close()
	}
}
