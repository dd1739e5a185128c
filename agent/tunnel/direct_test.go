package tunnel_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/tunnel"
	"github.com/clawfleet/clawfleet/pkg/wgif"
)

// TestTunPortHeldOnAllAddresses: on an interface (tun mode), a wanted port
// that a host service holds on all addresses (an adopted Portainer
// container's published port: Docker binds 0.0.0.0) is no error: the hub
// reaches that service through a redirect to a forwarder on another port;
// a port named by Hold is never bound by the tunnel, and reached the same
// way; the other ports still get their forwarders on their own port.
func TestTunPortHeldOnAllAddresses(t *testing.T) {
	if err := wgif.TunAvailable(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI runs as root with /dev/net/tun: %v", err)
		}
		t.Skipf("no TUN device here: %v", err)
	}
	serve := func(addr, text string) net.Listener {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Write([]byte(text))
				c.Close()
			}
		}()
		return l
	}
	held := serve("0.0.0.0:0", "held on all addresses\n")
	heldPort := held.Addr().(*net.TCPAddr).Port
	local := serve("127.0.0.1:0", "forwarded\n")
	localPort := local.Addr().(*net.TCPAddr).Port
	adopted := serve("127.0.0.1:0", "adopted\n")
	adoptedPort := adopted.Addr().(*net.TCPAddr).Port

	tu, err := tunnel.New(tunnel.Options{KeyFile: filepath.Join(t.TempDir(), "wg.key"), Mode: tunnel.ModeTun, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer tu.Close()
	// Addresses of this test's own, away from the agents' 100.96.0.0/x.
	n := rand.IntN(200) + 20
	hubAddr, agentAddr := netip.MustParseAddr(fmt.Sprintf("100.123.%d.1", n)), netip.MustParseAddr(fmt.Sprintf("100.123.%d.2", n))
	hnet, cfg := testHub(t, tu, hubAddr, agentAddr)
	cfg.Ports = []int{heldPort, localPort, adoptedPort}
	tu.Hold([]int{adoptedPort})
	if err := tu.Apply(cfg); err != nil {
		t.Fatalf("apply with a port held on all addresses: %v", err)
	}
	// Again (a new desired state): still no error, nothing taken.
	if err := tu.Apply(cfg); err != nil {
		t.Fatalf("second apply: %v", err)
	}
	read := func(port int) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, err := hnet.DialContextTCPAddrPort(ctx, netip.AddrPortFrom(agentAddr, uint16(port)))
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		b, err := io.ReadAll(c)
		return string(b), err
	}
	for port, want := range map[int]string{heldPort: "held on all addresses\n", localPort: "forwarded\n", adoptedPort: "adopted\n"} {
		var got string
		for i := 0; i < 50; i++ { // until the handshake is done
			if got, err = read(port); err == nil && got != "" {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got != want {
			t.Errorf("port %d through the tunnel: %q %v, want %q", port, got, err, want)
		}
	}
	// The held port stays the service's: a listen on it still fails.
	if l, err := net.Listen("tcp", net.JoinHostPort(agentAddr.String(), strconv.Itoa(heldPort))); err == nil {
		l.Close()
		t.Fatal("the tunnel address's port was free: the service does not hold it on all addresses")
	}
	// The port Hold named is not the tunnel's: Docker could publish it.
	l, err := net.Listen("tcp", net.JoinHostPort(agentAddr.String(), strconv.Itoa(adoptedPort)))
	if err != nil {
		t.Fatalf("the tunnel bound the port Hold named: %v", err)
	}
	l.Close()
	// And its own port is the forwarder's.
	if l, err := net.Listen("tcp", net.JoinHostPort(agentAddr.String(), strconv.Itoa(localPort))); err == nil {
		l.Close()
		t.Fatal("no forwarder on the tunnel address's own port")
	}
}
