package tstest

import (
	"net"
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
