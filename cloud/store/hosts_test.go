package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/creds"
)

// TestHostPlacement: a host's kind, pool and caps come from its token or
// its pre-registration, and only a worker's can be changed.
func TestHostPlacement(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		plain := creds.NewToken("cfe_")
		tok := &store.EnrollmentToken{ID: "tok_gpu", Hash: creds.Hash(plain), UsesTotal: 1, UsesLeft: 1,
			ExpiresAt: time.Now().UTC().Add(time.Hour), Pool: "gpu", MaxCPUMillis: 8000, MaxMemoryBytes: 16 << 30}
		if err := s.CreateEnrollmentToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		// What the enrolling side asks for does not count.
		h := newHost()
		h.Kind, h.Pool, h.MaxCPUMillis = store.HostBox, "shared", 1
		if _, err := s.Enroll(ctx, creds.Hash(plain), time.Now().UTC(), h); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetHost(ctx, h.ID)
		if err != nil || got.Kind != store.HostWorker || got.Pool != "gpu" || got.MaxCPUMillis != 8000 || got.MaxMemoryBytes != 16<<30 {
			t.Fatalf("enrolled host = %+v, %v", got, err)
		}

		// A pre-registered host without a kind is a worker of the default pool.
		w := newHost()
		if err := s.CreateHost(ctx, w); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetHost(ctx, w.ID); got.Kind != store.HostWorker || got.Pool != store.DefaultPool {
			t.Fatalf("pre-registered host = %+v", got)
		}
		p := store.HostPlacement{Pool: "edge", MaxCPUMillis: 2000, MaxMemoryBytes: 4 << 30}
		if got, err := s.SetHostPlacement(ctx, w.ID, p); err != nil || got.Pool != "edge" || got.MaxCPUMillis != 2000 {
			t.Fatalf("set placement = %+v, %v", got, err)
		}
		if got, _ := s.GetHost(ctx, w.ID); got.Pool != "edge" || got.MaxCPUMillis != 2000 || got.MaxMemoryBytes != 4<<30 {
			t.Fatalf("after set placement = %+v", got)
		}

		// A box has no pool and no caps to change.
		b := newHost()
		b.Kind = store.HostBox
		if err := s.CreateHost(ctx, b); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetHost(ctx, b.ID); got.Kind != store.HostBox || got.Pool != "" {
			t.Fatalf("box = %+v", got)
		}
		if _, err := s.SetHostPlacement(ctx, b.ID, p); !errors.Is(err, store.ErrNotWorker) {
			t.Fatalf("placement of a box: %v", err)
		}
		if _, err := s.SetHostPlacement(ctx, "dev_missing0000", p); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("placement of a missing host: %v", err)
		}
	})
}
