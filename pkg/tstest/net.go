package tstest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// DialFrom connects to addr over TCP from the local address src, such as
// 127.0.0.2: on Linux every 127/8 address is loopback, so a test can be
// several clients as far as a server's per-address limits tell. The
// connection is closed when the test ends.
func DialFrom(t testing.TB, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Ports a test hands to a child process are picked below the kernel's
// ephemeral range, so no other process asking for port 0 in the moment
// between the pick and the child's bind can be given the same one (the
// ephemeral range is where Linux picks from; in CI a parallel package's
// test once took a port the integration test's cloud was about to bind).
// FreePort takes from [FreePortLow, TenantPortLow); tenant port bases, whose
// blocks the agents bind later, come from [TenantPortLow, 32768) so the two
// never meet.
const (
	FreePortLow   = 10000
	TenantPortLow = 20000
	tenantPortTop = 30000
	tenantBlock   = 100
)

var (
	portMu   sync.Mutex
	portUsed = map[int]bool{}
)

// FreePort returns a port free on every address for TCP and UDP at the
// moment of the call, never returned before in this process, and outside
// the kernel's ephemeral range.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := PickPort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// PickPort is FreePort for code without a testing.TB (benchmarks' mains).
func PickPort() (int, error) {
	return pick(FreePortLow, TenantPortLow, 1)
}

// TenantPortBase returns the first port of a block of 100 ports, all free
// for TCP at the moment of the call, for CLAWFLEET_TENANT_PORT_BASE.
func TenantPortBase(t testing.TB) int {
	t.Helper()
	p, err := pick(TenantPortLow, tenantPortTop, tenantBlock)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func pick(low, high, block int) (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 200 {
		p := low + rand.IntN((high-low)/block)*block
		if portUsed[p] || !free(p, block) {
			continue
		}
		portUsed[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("tstest: no free port block of %d in [%d, %d) after 200 tries", block, low, high)
}

func free(p, block int) bool {
	for q := p; q < p+block; q++ {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", q))
		if err != nil {
			return false
		}
		ln.Close()
		if block == 1 {
			pc, err := net.ListenPacket("udp", fmt.Sprintf(":%d", q))
			if err != nil {
				return false
			}
			pc.Close()
		}
	}
	return true
}
