package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/store"
)

// TestUsageSamples: a batch is stored, one sample per tenant per minute
// (the first stays), read back from a time on, kept across a reopen, and
// pruned by age.
func TestUsageSamples(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg store.Config, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
		var batch []store.UsageSample
		for i := range 3 {
			at := t0.Add(time.Duration(i) * time.Minute)
			batch = append(batch,
				store.UsageSample{TenantID: "ten_a", At: at.Add(7 * time.Second), CPUMillicores: int64(100 + i), MemoryBytes: 1 << 20, DiskBytes: 5},
				store.UsageSample{TenantID: "ten_b", At: at, CPUMillicores: 1, MemoryBytes: 2, DiskBytes: 3})
		}
		if err := s.AppendUsage(ctx, batch); err != nil {
			t.Fatal(err)
		}
		// A second sample in a minute already stored is dropped.
		if err := s.AppendUsage(ctx, []store.UsageSample{{TenantID: "ten_a", At: t0.Add(30 * time.Second), CPUMillicores: 999}}); err != nil {
			t.Fatal(err)
		}
		got, err := s.UsageSince(ctx, "ten_a", t0)
		if err != nil || len(got) != 3 {
			t.Fatalf("ten_a: %v %+v", err, got)
		}
		for i, u := range got {
			if !u.At.Equal(t0.Add(time.Duration(i)*time.Minute)) || u.CPUMillicores != int64(100+i) || u.MemoryBytes != 1<<20 || u.DiskBytes != 5 {
				t.Errorf("sample %d: %+v", i, u)
			}
		}
		if got, _ := s.UsageSince(ctx, "ten_a", t0.Add(90*time.Second)); len(got) != 1 {
			t.Errorf("since 10:01:30: %+v", got)
		}

		s.Close()
		s2, err := store.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		if got, err := s2.UsageSince(ctx, "ten_b", t0); err != nil || len(got) != 3 {
			t.Fatalf("after a reopen: %v %+v", err, got)
		}
		n, err := s2.PruneUsage(ctx, t0.Add(2*time.Minute))
		if err != nil || n != 4 {
			t.Fatalf("prune: %d %v", n, err)
		}
		if got, _ := s2.UsageSince(ctx, "ten_a", t0); len(got) != 1 || !got[0].At.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("after prune: %+v", got)
		}
	})
}
