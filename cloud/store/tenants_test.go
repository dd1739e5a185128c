package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/store"
	"gorm.io/gorm"
)

func newTenant(id, owner, slug, host string, port int) *store.Tenant {
	return &store.Tenant{
		ID: id, OwnerID: owner, OwnerEmail: owner + "@example.com", Slug: slug, Name: slug, Plan: "basic",
		Status: store.TenantPending, DesiredState: "running", HostID: host, Port: port, GatewayTokenEnc: "v1:sealed",
		CPUMillis: 1000, MemoryBytes: 3 << 29, DiskBytes: 5 << 30, PidsLimit: 512, Image: "img:1",
	}
}

func TestTenantCRUD(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg store.Config, s *store.Store) {
		ctx := context.Background()
		a := newTenant("ten_aaaaaaaaaaaa", "user-a", "alpha", "dev_host0001", 20000)
		b := newTenant("ten_bbbbbbbbbbbb", "user-b", "beta", "dev_host0001", 20120)
		c := newTenant("ten_cccccccccccc", "user-c", "gamma", "dev_host0002", 20000)
		for _, x := range []*store.Tenant{a, b, c} {
			if err := s.CreateTenant(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GetTenant(ctx, a.ID)
		if err != nil || got.Slug != "alpha" || got.OwnerID != "user-a" || got.MemoryBytes != 3<<29 || got.GatewayTokenEnc != "v1:sealed" {
			t.Fatalf("get = %+v, %v", got, err)
		}
		if got, err := s.GetTenantByOwner(ctx, "user-b"); err != nil || got.ID != b.ID {
			t.Fatalf("by owner = %+v, %v", got, err)
		}
		if _, err := s.GetTenantByOwner(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing owner: %v", err)
		}
		if taken, err := s.SlugTaken(ctx, "beta"); err != nil || !taken {
			t.Fatalf("slug taken = %v, %v", taken, err)
		}
		if taken, _ := s.SlugTaken(ctx, "delta"); taken {
			t.Fatal("free slug reported taken")
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		if err := s.UpdateTenant(ctx, a.ID, map[string]any{"status": store.TenantRunning, "running_at": now, "last_error": ""}); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateTenant(ctx, "ten_missing00000", map[string]any{"status": "x"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update missing: %v", err)
		}
		hs, err := s.ListHostTenants(ctx, "dev_host0001")
		if err != nil || len(hs) != 2 || hs[0].ID != a.ID || hs[1].ID != b.ID {
			t.Fatalf("host tenants = %+v, %v", hs, err)
		}
		all, err := s.ListTenants(ctx)
		if err != nil || len(all) != 3 {
			t.Fatalf("list = %d, %v", len(all), err)
		}
		counts, err := s.TenantCounts(ctx)
		if err != nil || counts[store.TenantRunning] != 1 || counts[store.TenantPending] != 2 {
			t.Fatalf("counts = %v, %v", counts, err)
		}
		use, err := s.HostUsages(ctx)
		if err != nil || use["dev_host0001"].Tenants != 2 || use["dev_host0001"].CPUMillis != 2000 || use["dev_host0001"].MemoryBytes != 3<<30 || use["dev_host0002"].Tenants != 1 {
			t.Fatalf("usage = %+v, %v", use, err)
		}
		s.Close()

		// Everything survives a reopen.
		s2, err := store.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		got, err = s2.GetTenant(ctx, a.ID)
		if err != nil || got.Status != store.TenantRunning || got.RunningAt == nil || !got.RunningAt.Equal(now) {
			t.Fatalf("after reopen: %+v, %v", got, err)
		}
		if err := s2.DeleteTenant(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if err := s2.DeleteTenant(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if _, err := s2.GetTenant(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted tenant still there: %v", err)
		}
	})
}

func TestTenantUniqueAndReuseAfterDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		a := newTenant("ten_aaaaaaaaaaaa", "user-a", "alpha", "dev_host0001", 20000)
		if err := s.CreateTenant(ctx, a); err != nil {
			t.Fatal(err)
		}
		for name, dup := range map[string]*store.Tenant{
			"owner": newTenant("ten_dddddddddddd", "user-a", "other", "dev_host0002", 20000),
			"slug":  newTenant("ten_eeeeeeeeeeee", "user-e", "alpha", "dev_host0002", 20000),
			"port":  newTenant("ten_ffffffffffff", "user-f", "fox", "dev_host0001", 20000),
			"id":    newTenant("ten_aaaaaaaaaaaa", "user-g", "golf", "dev_host0002", 20240),
		} {
			if err := s.CreateTenant(ctx, dup); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("duplicate %s: err = %v, want conflict", name, err)
			}
		}
		if err := s.DeleteTenant(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		// Owner, slug and port are free again.
		again := newTenant("ten_gggggggggggg", "user-a", "alpha", "dev_host0001", 20000)
		if err := s.CreateTenant(ctx, again); err != nil {
			t.Fatalf("reuse after delete: %v", err)
		}
		// Any number of unplaced tenants (no host, port 0).
		for i, id := range []string{"ten_hhhhhhhhhhhh", "ten_iiiiiiiiiiii"} {
			u := newTenant(id, "user-u"+id, "unplaced"+strings.TrimPrefix(id, "ten_")[:3], "", 0)
			if err := s.CreateTenant(ctx, u); err != nil {
				t.Fatalf("unplaced tenant %d: %v", i, err)
			}
		}
		if err := s.UpdateTenant(ctx, again.ID, map[string]any{"host_id": "", "port": 0}); err != nil {
			t.Fatalf("unplacing a third: %v", err)
		}
	})
}

// TestOldPortIndexDropped: a database from before unplaced tenants has the
// unique (host, port) index over every row; opening it replaces the index.
func TestOldPortIndexDropped(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			// Such a database also predates the migrations table (and
			// every table after b1fbd52's).
			cfg := loadB1fbd52(t, b)
			if err := rawOpen(t, cfg).Exec("CREATE UNIQUE INDEX idx_tenants_host_port ON tenants (host_id, port)").Error; err != nil {
				t.Fatal(err)
			}
			s2, err := store.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if s2.DB().Migrator().HasIndex(&store.Tenant{}, "idx_tenants_host_port") {
				t.Fatal("old index still there")
			}
			for _, id := range []string{"ten_jjjjjjjjjjjj", "ten_kkkkkkkkkkkk"} {
				if err := s2.CreateTenant(ctx, newTenant(id, "user-"+id, "s"+strings.TrimPrefix(id, "ten_")[:4], "", 0)); err != nil {
					t.Fatalf("unplaced tenant after migration: %v", err)
				}
			}
		})
	}
}

func TestDesiredRevisionPersistence(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg store.Config, s *store.Store) {
		ctx := context.Background()
		const host = "dev_host0001"
		if _, err := s.GetHostDesired(ctx, host); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("desired before any publish: %v", err)
		}
		if err := s.AckDesired(ctx, host, 1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("ack without desired: %v", err)
		}
		d, err := s.BumpDesired(ctx, host, nil, nil)
		if err != nil || d.Revision != 1 || len(d.Purge) != 0 {
			t.Fatalf("first bump = %+v, %v", d, err)
		}
		// Bump and tenant change in one transaction.
		err = s.Write(ctx, func(tx *gorm.DB) error {
			if err := store.CreateTenant(tx, newTenant("ten_aaaaaaaaaaaa", "u", "alpha", host, 20000)); err != nil {
				return err
			}
			d, err = store.BumpDesired(tx, host, []string{"ten_purge0000001", "ten_purge0000002"}, nil)
			return err
		})
		if err != nil || d.Revision != 2 || !slices.Equal(d.Purge, []string{"ten_purge0000001", "ten_purge0000002"}) {
			t.Fatalf("second bump = %+v, %v", d, err)
		}
		// A failed transaction leaves the revision alone.
		boom := errors.New("boom")
		err = s.Write(ctx, func(tx *gorm.DB) error {
			if _, err := store.BumpDesired(tx, host, []string{"ten_purge0000003"}, nil); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("rolled back write: %v", err)
		}
		if err := s.AckDesired(ctx, host, 2); err != nil {
			t.Fatal(err)
		}
		if err := s.AckDesired(ctx, host, 1); err != nil { // older ack: kept at 2
			t.Fatal(err)
		}
		if err := s.AckDesired(ctx, host, 9); !errors.Is(err, store.ErrUnknownRevision) {
			t.Fatalf("ack of an unpublished revision: %v", err)
		}
		s.Close()

		s2, err := store.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		d, err = s2.GetHostDesired(ctx, host)
		if err != nil || d.Revision != 2 || d.AckedRevision != 2 || len(d.Purge) != 2 {
			t.Fatalf("after reopen = %+v, %v", d, err)
		}
		d, err = s2.BumpDesired(ctx, host, nil, []string{"ten_purge0000001"})
		if err != nil || d.Revision != 3 || !slices.Equal(d.Purge, []string{"ten_purge0000002"}) {
			t.Fatalf("remove purged = %+v, %v", d, err)
		}
		ds, err := s2.ListHostDesired(ctx)
		if err != nil || len(ds) != 1 || ds[0].Revision != 3 {
			t.Fatalf("list desired = %+v, %v", ds, err)
		}
	})
}
