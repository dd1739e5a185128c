// Command mkfixture fills a database through the store of commit b1fbd52
// with rows in every table; sqlite.sql and postgres.sql beside it are dumps
// of what it made, the starting point of the migration test. It only builds
// in a tree at b1fbd52:
//
//	git archive b1fbd52 | tar -x -C /tmp/old
//	mkdir /tmp/old/cmd/mkfixture && cp cloud/store/testdata/b1fbd52/mkfixture.go /tmp/old/cmd/mkfixture/main.go
//	cd /tmp/old && go run ./cmd/mkfixture -dir /tmp/fx
//	sqlite3 /tmp/fx/clawfleet.db .dump >sqlite.sql
//	psql "$DSN" -c 'CREATE SCHEMA clawfleet_b1fbd52'
//	go run ./cmd/mkfixture -url "$DSN&search_path=clawfleet_b1fbd52"
//	pg_dump --schema=clawfleet_b1fbd52 --no-owner --no-privileges --column-inserts "$DSN" >postgres.sql
package main

import (
	"context"
	"flag"
	"log"
	"net/netip"
	"time"

	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

func main() {
	dir := flag.String("dir", "", "SQLite data directory")
	url := flag.String("url", "", "PostgreSQL DSN")
	flag.Parse()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{DataDir: *dir, DatabaseURL: *url})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

	// Enrollment tokens: one used by an enrollment, one revoked.
	must(s.CreateEnrollmentToken(ctx, &store.EnrollmentToken{
		ID: "tok_aaaaaaaaaaaa", Hash: "1111111111111111111111111111111111111111111111111111111111111111",
		Labels: map[string]string{"zone": "a"}, UsesTotal: 3, UsesLeft: 3, ExpiresAt: t0.Add(24 * time.Hour), CreatedBy: "admin",
	}))
	must(s.CreateEnrollmentToken(ctx, &store.EnrollmentToken{
		ID: "tok_bbbbbbbbbbbb", Hash: "2222222222222222222222222222222222222222222222222222222222222222",
		UsesTotal: 1, UsesLeft: 1, ExpiresAt: t0.Add(time.Hour), CreatedBy: "admin",
	}))
	_, err = s.RevokeEnrollmentToken(ctx, "tok_bbbbbbbbbbbb", t0.Add(time.Minute))
	must(err)

	// Hosts: one enrolled with a token, registered and heartbeating; one
	// factory-provisioned that never connected.
	_, err = s.Enroll(ctx, "1111111111111111111111111111111111111111111111111111111111111111", t0, &store.Host{
		ID: "dev_host00000001", Name: "worker-1", SecretHash: "3333333333333333333333333333333333333333333333333333333333333333",
	})
	must(err)
	must(s.RegisterHost(ctx, "dev_host00000001", t0.Add(time.Second), &store.Host{
		Hostname: "worker-1.example", AgentVersion: "0.1.0", OS: "linux", Arch: "amd64", CPUs: 4, MemTotalBytes: 8 << 30,
		WGPublicKey: "pubkey-1", Labels: map[string]string{"zone": "a", "disk": "ssd"},
		Capabilities: proto.Capabilities{Docker: true, WireGuardModes: []string{"kernel"}, Runtimes: []string{"docker", "process"}},
	}))
	must(s.ApplyHeartbeats(ctx, []store.HeartbeatUpdate{{HostID: "dev_host00000001", At: t0.Add(time.Minute), Metrics: proto.Metrics{CPUPercent: 12.5, MemUsedBytes: 1 << 30}}}))
	must(s.CreateHost(ctx, &store.Host{
		ID: "dev_host00000002", Name: "box-2", SecretHash: "4444444444444444444444444444444444444444444444444444444444444444", Status: store.HostPending,
	}))

	// Tenants: two placed on host 1, one unplaced.
	for i, tn := range []struct{ id, owner, slug, host string }{
		{"ten_aaaaaaaaaaaa", "user-a", "alpha", "dev_host00000001"},
		{"ten_bbbbbbbbbbbb", "user-b", "bravo", "dev_host00000001"},
		{"ten_cccccccccccc", "user-c", "charlie", ""},
	} {
		port := 0
		if tn.host != "" {
			port = 20000 + i
		}
		must(s.CreateTenant(ctx, &store.Tenant{
			ID: tn.id, Slug: tn.slug, OwnerID: tn.owner, OwnerEmail: tn.owner + "@example.com", Name: tn.slug,
			Plan: "small", Status: store.TenantPending, DesiredState: "running", HostID: tn.host, Port: port,
			GatewayTokenEnc: "sealed-" + tn.id, CPUMillis: 500, MemoryBytes: 512 << 20, DiskBytes: 1 << 30, PidsLimit: 256,
			Image: "openclaw:test", PublishedRev: 1,
		}))
	}
	must(s.UpdateTenant(ctx, "ten_aaaaaaaaaaaa", map[string]any{"status": store.TenantRunning, "running_at": t0.Add(2 * time.Minute), "restart_gen": 2}))
	must(s.UpdateTenant(ctx, "ten_cccccccccccc", map[string]any{"status": store.TenantFailed, "last_error": "host deleted; no host has room"}))

	// Desired state of host 1: two revisions, one acknowledged, one purge.
	_, err = s.BumpDesired(ctx, "dev_host00000001", nil, nil)
	must(err)
	_, err = s.BumpDesired(ctx, "dev_host00000001", []string{"ten_dddddddddddd"}, nil)
	must(err)
	must(s.AckDesired(ctx, "dev_host00000001", 1))

	// Tunnel addresses: host 1 holds one; host 2 had one and released it.
	prefix, hub := netip.MustParsePrefix("100.96.0.0/24"), netip.MustParseAddr("100.96.0.1")
	_, err = s.AllocateTunnelAddress(ctx, "dev_host00000001", prefix, hub)
	must(err)
	_, err = s.AllocateTunnelAddress(ctx, "dev_host00000002", prefix, hub)
	must(err)
	must(s.ReleaseTunnelAddress(ctx, "dev_host00000002"))

	// Access links: one redeemed into a router session, one still open.
	must(s.CreateAccessGrant(ctx, &store.AccessGrant{Hash: "5555555555555555555555555555555555555555555555555555555555555555", TenantID: "ten_aaaaaaaaaaaa", UserID: "user-a", ExpiresAt: t0.Add(10 * time.Minute)}))
	must(s.CreateAccessGrant(ctx, &store.AccessGrant{Hash: "6666666666666666666666666666666666666666666666666666666666666666", TenantID: "ten_bbbbbbbbbbbb", UserID: "user-b", ExpiresAt: t0.Add(10 * time.Minute)}))
	must(s.RedeemAccessGrant(ctx, "5555555555555555555555555555555555555555555555555555555555555555", "ten_aaaaaaaaaaaa", t0.Add(time.Minute), &store.RouterSession{
		Hash: "7777777777777777777777777777777777777777777777777777777777777777", ExpiresAt: t0.Add(12 * time.Hour), RemoteAddr: "192.0.2.10",
	}))

	// Audit and settings.
	for i, a := range []string{"token.create", "host.enroll", "tenant.create"} {
		must(s.AddAudit(ctx, &store.AuditEvent{At: t0.Add(time.Duration(i) * time.Second), Actor: "admin", Action: a, Target: "t", Detail: "fixture"}))
	}
	must(s.PutSetting(ctx, "heartbeat_interval", "30s"))
	must(s.PutSetting(ctx, "offline_after", "90s"))
}
