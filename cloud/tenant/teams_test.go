package tenant_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/authz"
	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/cloud/tenant"
)

// TestTeamTenants: a team owns several tenants within its plans' limits
// per team; they are found by team and id, and never through another team
// or as anybody's own tenant.
func TestTeamTenants(t *testing.T) {
	t.Parallel()
	plans := filepath.Join(t.TempDir(), "plans.yaml")
	if err := os.WriteFile(plans, []byte("plans:\n  free: {}\n  basic: {maxPerTeam: 2}\n  pro: {}\n  special: {cpuMillis: 500, memoryBytes: 1GiB, maxPerTeam: -1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := servertest.New(t, servertest.WithFlags("--plans-file", plans))
	svc, ctx := c.App.Tenants(), context.Background()
	c.AddHost("box-1")
	admin := authz.Actor{UserID: "u-admin", AccountID: "usr_admin", Teams: map[string]string{"team_x": "admin"}}

	first, err := svc.CreateInTeam(ctx, admin, "team_x", "free", "One")
	if err != nil || first.TeamID != "team_x" || !first.Shared || first.OwnerID != "team:team_x" || first.Plan != "free" {
		t.Fatalf("first = %+v, %v", first, err)
	}
	for _, tc := range []struct {
		plan string
		code string
	}{{"free", "plan_limit"}, {"special", "plan_limit"}, {"nope", "invalid_plan"}} {
		_, err := svc.CreateInTeam(ctx, admin, "team_x", tc.plan, "Again")
		if _, code, _ := apperr.Public(err); code != tc.code {
			t.Fatalf("plan %s: %v, want %s", tc.plan, err, tc.code)
		}
	}
	for i := 0; i < 2; i++ {
		if _, err := svc.CreateInTeam(ctx, admin, "team_x", "basic", "Basic"); err != nil {
			t.Fatalf("basic %d: %v", i, err)
		}
	}
	if _, err := svc.CreateInTeam(ctx, admin, "team_x", "basic", "Basic"); !errors.Is(err, tenant.ErrPlanLimit) {
		t.Fatalf("a third basic: %v", err)
	}
	// Another team has its own count; an operator may exceed the limits.
	if _, err := svc.CreateInTeam(ctx, admin, "team_y", "free", "Y"); err != nil {
		t.Fatalf("another team's free: %v", err)
	}
	op := authz.Actor{PlatformAdmin: true}
	if _, err := svc.CreateInTeam(ctx, op, "team_x", "special", "Ops"); err != nil {
		t.Fatalf("the operator's special: %v", err)
	}

	ts, err := svc.ListTeam(ctx, "team_x")
	if err != nil || len(ts) != 4 || ts[0].ID != first.ID {
		t.Fatalf("team_x's tenants = %d %v", len(ts), err)
	}
	if got, err := svc.Find(ctx, tenant.Ref{TeamID: "team_x", ID: first.ID}); err != nil || got.ID != first.ID {
		t.Fatalf("by team and id: %+v, %v", got, err)
	}
	if _, err := svc.Find(ctx, tenant.Ref{TeamID: "team_y", ID: first.ID}); !errors.Is(err, tenant.ErrNoTenant) {
		t.Fatalf("through another team: %v", err)
	}
	// A shared tenant is nobody's own: its gateway user has none.
	if _, err := svc.Find(ctx, tenant.Ref{OwnerID: "team:team_x"}); !errors.Is(err, tenant.ErrNoTenant) {
		t.Fatalf("a shared tenant as its owner's own: %v", err)
	}
}
