package tstest

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
)

// Ports handed to child processes must never be ones the kernel gives to
// someone else's port-0 bind, and never twice the same.
func TestFreePortOutsideEphemeralRange(t *testing.T) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(strings.Fields(string(b))[0], &low)
	}
	seen := map[int]bool{}
	for range 50 {
		p := FreePort(t)
		if p < FreePortLow || p >= TenantPortLow || p >= low {
			t.Fatalf("FreePort() = %d, want in [%d, %d) and below the ephemeral range from %d", p, FreePortLow, TenantPortLow, low)
		}
		if seen[p] {
			t.Fatalf("FreePort() returned %d twice", p)
		}
		seen[p] = true
	}
	base := TenantPortBase(t)
	if base < TenantPortLow || base+tenantBlock > low {
		t.Fatalf("TenantPortBase() = %d, want a block in [%d, %d)", base, TenantPortLow, low)
	}
}

// A port someone holds, over TCP or UDP, is never taken for free.
func TestFreeRefusesHeldPorts(t *testing.T) {
	tcp := FreePort(t)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", tcp))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	udp := FreePort(t)
	pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", udp))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if free(tcp, 1) {
		t.Errorf("free(%d) = true while a TCP listener holds it", tcp)
	}
	if free(udp, 1) {
		t.Errorf("free(%d) = true while a UDP socket holds it", udp)
	}
	if free(tcp-1, 2) && tcp > FreePortLow {
		t.Errorf("free(%d, 2) = true while %d is held", tcp-1, tcp)
	}
}
