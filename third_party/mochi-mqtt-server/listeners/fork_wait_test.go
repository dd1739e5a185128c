package listeners

import (
	"net"
	"testing"
	"time"
)

// awaitListening waits until addr accepts connections (5 s at most): the
// fork's tests start Serve in a goroutine and used to sleep 1 ms, which a
// loaded machine outlasts ("connection refused").
func awaitListening(t *testing.T, addr string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), time.Second); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on %s after 5 s", addr)
}
