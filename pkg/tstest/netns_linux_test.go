package tstest

import (
	"errors"
	"net"
	"os"
	"testing"
)

func TestInNetns(t *testing.T) {
	ran := false
	if err := InNetns("/nonexistent/netns", func() error { ran = true; return nil }); err == nil || ran {
		t.Fatalf("InNetns of a missing namespace: err %v, fn ran %v; want an error and fn not run", err, ran)
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("entering a network namespace needs root, which CI has")
		}
		t.Skip("entering a network namespace needs root")
	}
	// The test's own namespace: fn runs there, and its error comes back.
	want := errors.New("from fn")
	var ln net.Listener
	if err := InNetns("/proc/self/ns/net", func() (err error) {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
		return want
	}); !errors.Is(err, want) {
		t.Fatalf("InNetns returned %v, want fn's error", err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("the socket made in the namespace is not reachable from it: %v", err)
	}
	c.Close()
}
