package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/store"
)

func TestTunnelAddressAllocation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		prefix := netip.MustParsePrefix("100.96.0.0/16")
		hub := netip.MustParseAddr("100.96.0.1")

		a1, err := s.AllocateTunnelAddress(ctx, "host-a", prefix, hub)
		if err != nil {
			t.Fatal(err)
		}
		if a1 != netip.MustParseAddr("100.96.0.2") {
			t.Fatalf("first address = %v, want 100.96.0.2 (skip network and hub)", a1)
		}
		// Idempotent per host.
		again, err := s.AllocateTunnelAddress(ctx, "host-a", prefix, hub)
		if err != nil || again != a1 {
			t.Fatalf("second allocation = %v, %v; want %v", again, err, a1)
		}
		// Distinct across hosts, lowest first.
		b, err := s.AllocateTunnelAddress(ctx, "host-b", prefix, hub)
		if err != nil || b != netip.MustParseAddr("100.96.0.3") {
			t.Fatalf("host-b = %v, %v; want 100.96.0.3", b, err)
		}
		list, err := s.TunnelAddresses(ctx)
		if err != nil || len(list) != 2 || list[0].HostID != "host-a" || list[0].Addr() != a1 || list[1].Addr() != b {
			t.Fatalf("TunnelAddresses = %+v, %v", list, err)
		}

		// Release: the address leaves the active list and is never reused.
		if err := s.ReleaseTunnelAddress(ctx, "host-a"); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseTunnelAddress(ctx, "host-a"); err != nil {
			t.Fatalf("second release: %v", err)
		}
		if err := s.ReleaseTunnelAddress(ctx, "never-allocated"); err != nil {
			t.Fatalf("release of unknown host: %v", err)
		}
		list, _ = s.TunnelAddresses(ctx)
		if len(list) != 1 || list[0].HostID != "host-b" {
			t.Fatalf("after release TunnelAddresses = %+v", list)
		}
		c, err := s.AllocateTunnelAddress(ctx, "host-c", prefix, hub)
		if err != nil || c != netip.MustParseAddr("100.96.0.4") {
			t.Fatalf("host-c = %v, %v; want 100.96.0.4 (host-a's released .2 must not be reused)", c, err)
		}
		// The same host coming back gets its own address again.
		back, err := s.AllocateTunnelAddress(ctx, "host-a", prefix, hub)
		if err != nil || back != a1 {
			t.Fatalf("host-a back = %v, %v; want %v", back, err, a1)
		}
		if list, _ := s.TunnelAddresses(ctx); len(list) != 3 {
			t.Fatalf("after reactivation %d active, want 3", len(list))
		}
		// A host whose address is outside a changed prefix is an error.
		if _, err := s.AllocateTunnelAddress(ctx, "host-a", netip.MustParsePrefix("10.0.0.0/24"), netip.MustParseAddr("10.0.0.1")); err == nil {
			t.Fatal("address outside the prefix returned")
		}
		if _, err := s.AllocateTunnelAddress(ctx, "", prefix, hub); err == nil {
			t.Fatal("empty host id accepted")
		}
	})
}

func TestTunnelAddressExhaustion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		// 10.9.0.0/29: .0 network, .1 hub, .7 broadcast: .2-.6 usable.
		prefix := netip.MustParsePrefix("10.9.0.0/29")
		hub := netip.MustParseAddr("10.9.0.1")
		for i := 2; i <= 6; i++ {
			a, err := s.AllocateTunnelAddress(ctx, fmt.Sprintf("h%d", i), prefix, hub)
			if err != nil || a != netip.AddrFrom4([4]byte{10, 9, 0, byte(i)}) {
				t.Fatalf("h%d = %v, %v", i, a, err)
			}
		}
		if _, err := s.AllocateTunnelAddress(ctx, "h7", prefix, hub); !errors.Is(err, store.ErrPoolExhausted) {
			t.Fatalf("full pool: err = %v, want ErrPoolExhausted", err)
		}
		// Releasing does not refill the pool.
		if err := s.ReleaseTunnelAddress(ctx, "h2"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AllocateTunnelAddress(ctx, "h8", prefix, hub); !errors.Is(err, store.ErrPoolExhausted) {
			t.Fatalf("after release: err = %v, want ErrPoolExhausted", err)
		}
		// Existing hosts still get theirs.
		if a, err := s.AllocateTunnelAddress(ctx, "h6", prefix, hub); err != nil || a != netip.MustParseAddr("10.9.0.6") {
			t.Fatalf("h6 = %v, %v", a, err)
		}
	})
}

func TestTunnelAddressConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg store.Config, s *store.Store) {
		ctx := context.Background()
		prefix := netip.MustParsePrefix("100.96.0.0/16")
		hub := netip.MustParseAddr("100.96.0.1")
		// A second store on the same database acts as another replica.
		s2, err := store.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		const hosts, perHost = 12, 3
		type res struct {
			host string
			addr netip.Addr
			err  error
		}
		out := make(chan res, hosts*perHost)
		var wg sync.WaitGroup
		for h := range hosts {
			for i := range perHost {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st := s
					if (h+i)%2 == 1 {
						st = s2
					}
					host := fmt.Sprintf("host-%02d", h)
					a, err := st.AllocateTunnelAddress(ctx, host, prefix, hub)
					out <- res{host, a, err}
				}()
			}
		}
		wg.Wait()
		close(out)
		byHost := map[string]netip.Addr{}
		byAddr := map[netip.Addr]string{}
		for r := range out {
			if r.err != nil {
				t.Fatalf("%s: %v", r.host, r.err)
			}
			if prev, ok := byHost[r.host]; ok && prev != r.addr {
				t.Fatalf("%s got %v and %v", r.host, prev, r.addr)
			}
			byHost[r.host] = r.addr
			if other, ok := byAddr[r.addr]; ok && other != r.host {
				t.Fatalf("%v handed to %s and %s", r.addr, other, r.host)
			}
			byAddr[r.addr] = r.host
		}
		if len(byHost) != hosts {
			t.Fatalf("%d hosts allocated, want %d", len(byHost), hosts)
		}
		list, err := s.TunnelAddresses(ctx)
		if err != nil || len(list) != hosts {
			t.Fatalf("TunnelAddresses = %d rows, %v", len(list), err)
		}
	})
}
