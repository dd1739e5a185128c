package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// PostgresEnv names the DSN of a PostgreSQL server the suite may use; CI sets it.
const PostgresEnv = "CLAWFLEET_TEST_POSTGRES_DSN"

type backend struct {
	name string
	open func(t *testing.T) (store.Config, func())
}

func backends(t *testing.T) []backend {
	bs := []backend{{"sqlite", func(t *testing.T) (store.Config, func()) {
		return store.Config{DataDir: t.TempDir()}, func() {}
	}}}
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must run the store suite against PostgreSQL too", PostgresEnv)
		}
		t.Logf("%s not set: running the store suite on SQLite only", PostgresEnv)
		return bs
	}
	bs = append(bs, backend{"postgres", func(t *testing.T) (store.Config, func()) {
		// A schema per test keeps tests independent on one server.
		schema := fmt.Sprintf("t_%d_%d", time.Now().UnixNano(), rand.IntN(1e6))
		admin, err := gorm.Open(postgres.Open(dsn), &gorm.Config{})
		if err != nil {
			t.Fatalf("connect to PostgreSQL (%s): %v", PostgresEnv, err)
		}
		if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
			t.Fatalf("create schema: %v", err)
		}
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return store.Config{DatabaseURL: dsn + sep + "search_path=" + schema}, func() {
			admin.Exec("DROP SCHEMA " + schema + " CASCADE")
			if db, err := admin.DB(); err == nil {
				db.Close()
			}
		}
	}})
	return bs
}

// forEachBackend runs the same test against every store backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, cfg store.Config, s *store.Store)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			cfg, cleanup := b.open(t)
			t.Cleanup(cleanup)
			s, err := store.Open(context.Background(), cfg)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			fn(t, cfg, s)
		})
	}
}

func newToken(t *testing.T, s *store.Store, uses int, ttl time.Duration) (string, *store.EnrollmentToken) {
	t.Helper()
	plain := creds.NewToken("cfe_")
	tok := &store.EnrollmentToken{
		ID: "tok_" + creds.NewDeviceID()[4:], Hash: creds.Hash(plain), UsesTotal: uses, UsesLeft: uses,
		ExpiresAt: time.Now().UTC().Add(ttl), Labels: map[string]string{"zone": "a"},
	}
	if err := s.CreateEnrollmentToken(context.Background(), tok); err != nil {
		t.Fatalf("create token: %v", err)
	}
	return plain, tok
}

func newHost() *store.Host {
	return &store.Host{ID: creds.NewDeviceID(), Name: "h", SecretHash: creds.Hash(creds.NewSecret())}
}

func TestEnroll(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		plain, tok := newToken(t, s, 2, time.Hour)
		_, revoked := newToken(t, s, 5, time.Hour)
		expiredPlain, _ := newToken(t, s, 5, -time.Minute)
		if _, err := s.RevokeEnrollmentToken(ctx, revoked.ID, now); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name    string
			token   string
			wantErr error
		}{
			{"first use", plain, nil},
			{"second use", plain, nil},
			{"used up", plain, store.ErrTokenUsedUp},
			{"unknown", "cfe_nope", store.ErrTokenInvalid},
			{"expired", expiredPlain, store.ErrTokenExpired},
		}
		for _, tc := range tests {
			h := newHost()
			got, err := s.Enroll(ctx, creds.Hash(tc.token), now, h)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("%s: err = %v, want %v", tc.name, err, tc.wantErr)
			}
			_, getErr := s.GetHost(ctx, h.ID)
			if tc.wantErr != nil {
				if !errors.Is(getErr, store.ErrNotFound) {
					t.Fatalf("%s: failed enrollment created host (err %v)", tc.name, getErr)
				}
				continue
			}
			if getErr != nil {
				t.Fatalf("%s: host not created: %v", tc.name, getErr)
			}
			if got.ID != tok.ID {
				t.Fatalf("%s: redeemed %s, want %s", tc.name, got.ID, tok.ID)
			}
			hh, _ := s.GetHost(ctx, h.ID)
			if hh.EnrolledWith != tok.ID || hh.Labels["zone"] != "a" || hh.Status != store.HostPending {
				t.Fatalf("%s: host = %+v", tc.name, hh)
			}
		}
		// Revoked token: found by hash, refused.
		ts, err := s.ListEnrollmentTokens(ctx)
		if err != nil || len(ts) != 3 {
			t.Fatalf("list tokens = %d, %v", len(ts), err)
		}
		for _, x := range ts {
			if x.ID == revoked.ID && x.RevokedAt == nil {
				t.Fatal("revoked token listed as not revoked")
			}
			if x.ID == tok.ID && x.UsesLeft != 0 {
				t.Fatalf("uses left = %d, want 0", x.UsesLeft)
			}
		}
		if _, err := s.RevokeEnrollmentToken(ctx, "tok_missing", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoke missing: %v", err)
		}
	})
}

func TestEnrollRevokedRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		plain, tok := newToken(t, s, 3, time.Hour)
		if _, err := s.RevokeEnrollmentToken(ctx, tok.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Enroll(ctx, creds.Hash(plain), time.Now(), newHost()); !errors.Is(err, store.ErrTokenRevoked) {
			t.Fatalf("err = %v, want revoked", err)
		}
	})
}

func TestEnrollConcurrentSingleUse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		plain, _ := newToken(t, s, 1, time.Hour)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Enroll(context.Background(), creds.Hash(plain), time.Now(), newHost()); err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("%d enrollments succeeded with a single-use token, want 1", ok)
		}
		hs, _ := s.ListHosts(context.Background())
		if len(hs) != 1 {
			t.Fatalf("%d hosts, want 1", len(hs))
		}
	})
}

func TestHostLifecycleSurvivesReopen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg store.Config, s *store.Store) {
		ctx := context.Background()
		h := newHost()
		if err := s.CreateHost(ctx, h); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateHost(ctx, &store.Host{ID: h.ID, SecretHash: "x"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate create: %v, want conflict", err)
		}
		at := time.Now().UTC().Truncate(time.Millisecond)
		reg := &store.Host{Hostname: "vm-1", AgentVersion: "1.2.3", OS: "linux", Arch: "arm64", CPUs: 4, MemTotalBytes: 8 << 30,
			Capabilities: proto.Capabilities{Docker: true, WireGuardModes: []string{"netstack"}}}
		if err := s.RegisterHost(ctx, h.ID, at, reg); err != nil {
			t.Fatal(err)
		}
		if err := s.RegisterHost(ctx, "dev_missing00", at, reg); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("register missing: %v", err)
		}
		m := proto.Metrics{CPUPercent: 12.5, MemUsedBytes: 1 << 30, MemTotalBytes: 8 << 30, DiskUsedBytes: 5, DiskTotalBytes: 10, Load1: 0.5}
		later := at.Add(5 * time.Second)
		if err := s.ApplyHeartbeats(ctx, []store.HeartbeatUpdate{{HostID: h.ID, At: later, Metrics: m}, {HostID: "dev_gone0000", At: later}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetHostsStatus(ctx, []string{h.ID}, store.HostOffline, later); err != nil {
			t.Fatal(err)
		}
		s.Close()

		s2, err := store.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		got, err := s2.GetHost(ctx, h.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.HostOffline || got.Hostname != "vm-1" || got.CPUs != 4 || got.Arch != "arm64" ||
			!got.Capabilities.Docker || got.Metrics != m || got.LastHeartbeat == nil || !got.LastHeartbeat.Equal(later) {
			t.Fatalf("after reopen: %+v (last heartbeat %v)", got, got.LastHeartbeat)
		}
		secrets, err := s2.HostSecrets(ctx)
		if err != nil || len(secrets) != 1 || secrets[0].SecretHash != h.SecretHash {
			t.Fatalf("secrets = %+v, %v", secrets, err)
		}
		if err := s2.DeleteHost(ctx, h.ID); err != nil {
			t.Fatal(err)
		}
		if err := s2.DeleteHost(ctx, h.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if err := s2.SetHostStatus(ctx, h.ID, store.HostOnline, later); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("status of deleted host: %v", err)
		}
	})
}

func TestApplyHeartbeatsBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		var batch []store.HeartbeatUpdate
		for i := range 1100 { // more than two statements' worth (heartbeatChunk)
			h := newHost()
			if err := s.CreateHost(ctx, h); err != nil {
				t.Fatal(err)
			}
			batch = append(batch, store.HeartbeatUpdate{HostID: h.ID, At: time.Now().UTC(), Metrics: proto.Metrics{CPUPercent: float64(i % 100)}})
		}
		if err := s.ApplyHeartbeats(ctx, batch); err != nil {
			t.Fatal(err)
		}
		hs, _ := s.ListHosts(ctx)
		want := map[string]float64{}
		for _, u := range batch {
			want[u.HostID] = u.Metrics.CPUPercent
		}
		for _, h := range hs {
			if h.Status != store.HostOnline || h.LastHeartbeat == nil || h.Metrics.CPUPercent != want[h.ID] {
				t.Fatalf("host %s not updated: %+v", h.ID, h)
			}
		}
	})
}

func TestAudit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		for _, a := range []string{"host.delete", "token.create"} {
			if err := s.AddAudit(ctx, &store.AuditEvent{Actor: "admin", Action: a, Target: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		es, err := s.ListAudit(ctx, 10)
		if err != nil || len(es) != 2 || es[0].Action != "token.create" {
			t.Fatalf("audit = %+v, %v", es, err)
		}
	})
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	_, err := store.Open(context.Background(), store.Config{DatabaseURL: "mysql://u:pw@h/db"})
	if err == nil || !strings.Contains(err.Error(), "postgres://") || strings.Contains(err.Error(), "pw") {
		t.Fatalf("err = %v", err)
	}
}

func TestSettings(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		if _, err := s.GetSetting(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing setting: %v", err)
		}
		for _, v := range []string{"1", "2"} {
			if err := s.PutSetting(ctx, "k", v); err != nil {
				t.Fatal(err)
			}
			if got, err := s.GetSetting(ctx, "k"); err != nil || got != v {
				t.Fatalf("setting = %q, %v; want %q", got, err, v)
			}
		}
	})
}

// A query outside a transaction while a transaction holds the pool's
// connections must wait for one, never deadlock: with gorm's PrepareStmt the
// outside query held gorm's statement-cache lock while it waited for a
// connection, and the transaction's next new statement waited for that lock
// (go-gorm/gorm#7350, #7465), freezing the whole cloud (seen in make check).
func TestNoDeadlockBetweenTransactionAndQuery(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg store.Config, s *store.Store) {
		ctx := context.Background()
		if s.Driver() == "postgres" {
			sqlDB, _ := s.DB().DB()
			sqlDB.SetMaxOpenConns(1) // the same situation with a pool of one
			defer sqlDB.SetMaxOpenConns(16)
		}
		inTx := make(chan struct{})
		done := make(chan error, 3)
		go func() {
			done <- s.Write(ctx, func(tx *gorm.DB) error {
				close(inTx)
				time.Sleep(500 * time.Millisecond) // the other two queries now wait
				var n int64
				return tx.Raw("SELECT count(*) FROM hosts WHERE status = ? AND cpus >= ?", "online", 0).Scan(&n).Error
			})
		}()
		<-inTx
		// Two callers of one new statement: the first prepares it and waits
		// for the connection, the second waits for that preparation.
		for i := range 2 {
			go func() {
				var n int64
				done <- s.DB().WithContext(ctx).Raw("SELECT count(*) FROM tenants WHERE plan = ? AND port >= ?", "free", 0).Scan(&n).Error
			}()
			if i == 0 {
				time.Sleep(100 * time.Millisecond)
			}
		}
		for range 3 {
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("deadlock: a query and a transaction wait for each other")
			}
		}
	})
}
