package tenant_test

// The service against a whole in-process cloud (cloud/servertest): its
// requests, placement, the desired state it publishes and what it makes of
// the agents' acknowledgements and reports, and its errors. The HTTP
// answers built on these are cloud/api's tests.

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/authz"
	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/cloud/tenant"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

func user(id string) (authz.Actor, tenant.User) {
	return authz.Actor{UserID: id}, tenant.User{ID: id, Email: id + "@example.com"}
}

// create creates uid's tenant and fails the test unless it is new.
func create(t *testing.T, svc *tenant.Service, uid, plan, name string) *store.Tenant {
	t.Helper()
	a, u := user(uid)
	tn, created, err := svc.Create(context.Background(), a, u, plan, name)
	if err != nil || !created {
		t.Fatalf("create %s: %v (created %v)", uid, err, created)
	}
	return tn
}

// waitTenant waits until the tenant with id satisfies cond.
func waitTenant(t *testing.T, svc *tenant.Service, id, what string, cond func(*store.Tenant) bool) *store.Tenant {
	t.Helper()
	var got *store.Tenant
	tstest.Await(t, what, 10*time.Second, func() bool {
		tn, err := svc.Find(context.Background(), tenant.Ref{ID: id})
		got = tn
		return err == nil && cond(tn)
	})
	return got
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	c := servertest.New(t)
	svc, ctx := c.App.Tenants(), context.Background()
	ag := c.AddHost("box-1")

	tn := create(t, svc, "u1", "basic", "My Claw")
	if tn.Status != store.TenantPending || tn.HostID != ag.ID || tn.Port != 20000 || tn.Slug != "my-claw" || tn.OwnerEmail != "u1@example.com" ||
		tn.CPUMillis != 1000 || tn.MemoryBytes != 3<<29 {
		t.Fatalf("created = %+v", tn)
	}
	// Idempotent for its owner, whatever the plan asked.
	a, u := user("u1")
	if again, created, err := svc.Create(ctx, a, u, "pro", "Other"); err != nil || created || again.ID != tn.ID || again.Plan != "basic" {
		t.Fatalf("second create: %+v %v %v", again, created, err)
	}
	// Found by its owner and by its id.
	for _, ref := range []tenant.Ref{{OwnerID: "u1"}, {ID: tn.ID}} {
		if got, err := svc.Find(ctx, ref); err != nil || got.ID != tn.ID {
			t.Fatalf("Find(%+v) = %+v, %v", ref, got, err)
		}
	}

	d := ag.WaitDesired("desired state with the tenant", servertest.HasTenant(tn.ID))
	ag.Ack(d.Revision)
	waitTenant(t, svc, tn.ID, "starting after the ack", func(x *store.Tenant) bool { return x.Status == store.TenantStarting })
	ag.Report([]proto.TenantStatus{{ID: tn.ID, State: proto.TenantRunning}})
	waitTenant(t, svc, tn.ID, "running after the report", func(x *store.Tenant) bool { return x.Status == store.TenantRunning && x.RunningAt != nil })

	// Restart: a new generation, the same gateway token, published.
	got, err := svc.Restart(ctx, authz.Admin, tn)
	if err != nil || got.RestartGen != 1 || got.Status != store.TenantStarting {
		t.Fatalf("restart: %+v %v", got, err)
	}
	d2 := ag.WaitDesired("restartGen 1", func(d *proto.Desired) bool { return len(d.Tenants) == 1 && d.Tenants[0].RestartGen == 1 })
	if d2.Revision <= d.Revision || d2.Tenants[0].GatewayToken != d.Tenants[0].GatewayToken {
		t.Fatalf("restart desired = %+v (was %+v)", d2, d)
	}
	// Restarting from a stale copy acts on the stored tenant.
	if got, err := svc.Restart(ctx, a, tn); err != nil || got.RestartGen != 2 {
		t.Fatalf("restart from a stale copy: %+v %v", got, err)
	}

	// Logs come from the host.
	ag.SetLogs("one", "two", "three")
	if lines, err := svc.Logs(ctx, tn, 2); err != nil || !slices.Equal(lines, []string{"two", "three"}) {
		t.Fatalf("logs = %q, %v", lines, err)
	}
	if cmd := ag.LastCommand(); cmd.Op != proto.OpLogs || cmd.TenantID != tn.ID || cmd.Tail != 2 {
		t.Fatalf("logs command = %+v", cmd)
	}

	// Delete: out of the desired state, its data purged, then gone.
	del, err := svc.Delete(ctx, a, tn, false)
	if err != nil || del.Status != store.TenantDeleting {
		t.Fatalf("delete: %+v %v", del, err)
	}
	d3 := ag.WaitDesired("tenant purged", func(d *proto.Desired) bool { return slices.Contains(d.Purge, tn.ID) })
	if len(d3.Tenants) != 0 {
		t.Fatalf("deleted tenant still desired: %+v", d3)
	}
	for _, op := range []func() error{
		func() error { _, err := svc.Find(ctx, tenant.Ref{OwnerID: "u1"}); return err },
		func() error { _, err := svc.Restart(ctx, a, tn); return err },
		func() error { _, err := svc.Delete(ctx, a, tn, false); return err },
		func() error { _, err := svc.Logs(ctx, tn, 10); return err },
	} {
		if err := op(); !errors.Is(err, tenant.ErrNoTenant) {
			t.Errorf("on a deleted tenant: %v, want ErrNoTenant", err)
		}
	}
	ag.Report(nil, tn.ID)
	ag.WaitDesired("purge entry dropped", func(d *proto.Desired) bool { return d.Revision > d3.Revision && len(d.Purge) == 0 })

	// The audit log names who did what.
	var audit []struct{ Actor, Action, Target string }
	for _, e := range c.Admin(http.MethodGet, "/api/admin/audit?limit=100", nil).JSONList(t) {
		audit = append(audit, struct{ Actor, Action, Target string }{e["actor"].(string), e["action"].(string), e["target"].(string)})
	}
	for _, want := range []struct{ Actor, Action, Target string }{
		{"user:u1", "tenant.create", tn.ID}, {"admin", "tenant.restart", tn.ID}, {"user:u1", "tenant.restart", tn.ID},
		{"user:u1", "tenant.delete", tn.ID}, {"system", "tenant.status", tn.ID}, {"system", "tenant.purged", tn.ID},
	} {
		if !slices.Contains(audit, want) {
			t.Errorf("no audit event %+v", want)
		}
	}
}

func TestPlacement(t *testing.T) {
	t.Parallel()
	c := servertest.New(t)
	svc, ctx := c.App.Tenants(), context.Background()
	a, b := c.AddHost("box-a"), c.AddHost("box-b")

	// Least-loaded: equal hosts take turns (the one with fewer tenants).
	t1 := create(t, svc, "u1", "free", "")
	t2 := create(t, svc, "u2", "free", "")
	if t1.HostID == t2.HostID || !slices.Contains([]string{a.ID, b.ID}, t1.HostID) || !slices.Contains([]string{a.ID, b.ID}, t2.HostID) {
		t.Fatalf("hosts %s and %s, want one each of %s, %s", t1.HostID, t2.HostID, a.ID, b.ID)
	}
	// More than any host has: no capacity, saying what is needed.
	_, u := user("u3")
	_, _, err := svc.Create(ctx, authz.Admin, u, "enterprise", "")
	if e, ok := apperr.As(err); !errors.Is(err, tenant.ErrNoCapacity) || !ok || e.RetryAfter != time.Minute ||
		e.Msg != "plan enterprise: no host with capacity: none has 4000m CPU and 8GiB memory free (2 online hosts, 2 with a tenant runtime)" {
		t.Fatalf("enterprise plan: %v", err)
	}

	// An offline host is never chosen; on one host, ports are spaced.
	b.GoOffline()
	tstest.Await(t, "box-b offline", 10*time.Second, func() bool { return !c.App.Fleet().HostOnline(b.ID) })
	var ports []int
	for _, uid := range []string{"u4", "u5"} {
		tn := create(t, svc, uid, "free", "")
		if tn.HostID != a.ID {
			t.Fatalf("%s placed on %s, want the online %s", uid, tn.HostID, a.ID)
		}
		ports = append(ports, tn.Port)
	}
	// box-a has one of t1 and t2, on the first port.
	if want := []int{20000 + proto.PortSpacing, 20000 + 2*proto.PortSpacing}; !slices.Equal(ports, want) {
		t.Fatalf("ports on %s = %v after one tenant, want %v", a.ID, ports, want)
	}
	loads, err := svc.HostLoads(ctx, []store.Host{{ID: a.ID, CPUs: 4, MemTotalBytes: 8 << 30}})
	if l := loads[a.ID]; err != nil || l.Tenants != 3 || l.Reserved.MemoryBytes != 3<<30 || l.Reserved.CPUMillis != 1500 {
		t.Fatalf("load of %s = %+v, %v", a.ID, l, err)
	}

	// No host online: no capacity.
	a.GoOffline()
	tstest.Await(t, "box-a offline", 10*time.Second, func() bool { return !c.App.Fleet().HostOnline(a.ID) })
	if _, _, err := svc.Create(ctx, authz.Admin, tenant.User{ID: "u6"}, "free", ""); !errors.Is(err, tenant.ErrNoCapacity) {
		t.Fatalf("create with every host offline: %v", err)
	}
	// Its tenants show that their host is offline.
	if tn, err := svc.Find(ctx, tenant.Ref{OwnerID: "u4"}); err != nil || tn.LastError != "host offline" {
		t.Fatalf("tenant of an offline host: %+v, %v", tn, err)
	}
}

func TestDesiredStateAcks(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithFlags("--command-timeout", "1s"))
	svc := c.App.Tenants()
	hostID, secret := c.Provision("box-1")
	ag := c.NewAgent(hostID, secret)

	// Not acknowledged in time: still pending, saying so; resent meanwhile.
	tn := create(t, svc, "u1", "free", "")
	d := ag.WaitDesired("desired", servertest.HasTenant(tn.ID))
	want := "host " + ag.ID + " did not acknowledge within 1s"
	waitTenant(t, svc, tn.ID, "ack timeout", func(x *store.Tenant) bool { return x.Status == store.TenantPending && x.LastError == want })
	tstest.Await(t, "desired state sent again", 5*time.Second, func() bool { return ag.DesiredCount(d.Revision) >= 2 })
	ag.Ack(d.Revision)
	waitTenant(t, svc, tn.ID, "starting after a late ack", func(x *store.Tenant) bool { return x.Status == store.TenantStarting && x.LastError == "" })

	// A refused desired state fails the tenants it brought.
	t2 := create(t, svc, "u2", "free", "")
	d2 := ag.WaitDesired("desired with the second tenant", servertest.HasTenant(t2.ID))
	ag.Publish(proto.KindReply, &proto.Reply{ID: proto.DesiredReplyID(d2.Revision), OK: false, Error: "disk full"})
	waitTenant(t, svc, t2.ID, "failed after a refusal", func(x *store.Tenant) bool {
		return x.Status == store.TenantFailed && x.LastError == "host "+ag.ID+" refused the desired state: disk full"
	})
	if x, _ := svc.Find(context.Background(), tenant.Ref{ID: tn.ID}); x.Status != store.TenantStarting {
		t.Fatalf("the refusal changed an acknowledged tenant: %+v", x)
	}

	// Reports: an old generation is not a restart; a failure keeps its reason.
	if _, err := svc.Restart(context.Background(), authz.Admin, tn); err != nil {
		t.Fatal(err)
	}
	ag.Report([]proto.TenantStatus{{ID: tn.ID, State: proto.TenantRunning, RestartGen: 0}})
	ag.Report([]proto.TenantStatus{{ID: t2.ID, State: proto.TenantFailed}})
	waitTenant(t, svc, t2.ID, "failed without detail", func(x *store.Tenant) bool { return x.LastError == "the gateway failed (no detail from the host)" })
	if x, _ := svc.Find(context.Background(), tenant.Ref{ID: tn.ID}); x.Status != store.TenantStarting {
		t.Fatalf("an old generation's report counted as restarted: %+v", x)
	}
	ag.Report([]proto.TenantStatus{{ID: tn.ID, State: proto.TenantRunning, RestartGen: 1, DiskUsedBytes: 1 << 20, DiskTotalBytes: 1 << 30}})
	waitTenant(t, svc, tn.ID, "running after the restart", func(x *store.Tenant) bool { return x.Status == store.TenantRunning })
	if du, ok := svc.Disk(tn.ID); !ok || du.UsedBytes != 1<<20 || du.TotalBytes != 1<<30 {
		t.Fatalf("disk = %+v %v", du, ok)
	}

	// The cloud restarts (the retained desired state is gone with its
	// broker): the host gets it again when it registers.
	last := ag.WaitDesired("the restart's desired state, the last one", func(d *proto.Desired) bool {
		return slices.ContainsFunc(d.Tenants, func(s proto.TenantSpec) bool { return s.ID == tn.ID && s.RestartGen == 1 })
	})
	ag.Close()
	c.Stop()
	c = servertest.New(t, servertest.WithDataDir(c.Dir), servertest.WithFlags("--command-timeout", "1s"))
	ag = c.NewAgent(hostID, secret)
	again := ag.WaitDesired("desired state republished on register", func(d *proto.Desired) bool { return d.Revision == last.Revision })
	if !servertest.HasTenant(tn.ID)(again) || !servertest.HasTenant(t2.ID)(again) {
		t.Fatalf("republished desired = %+v", again)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	c := servertest.New(t)
	svc, ctx := c.App.Tenants(), context.Background()
	a, u := user("u1")
	for _, tc := range []struct {
		name, plan, tenantName string
		sentinel               error
		msg                    string
	}{
		{"unknown plan", "gold", "", tenant.ErrInvalidPlan, `plan "gold" does not exist: choose one of basic, enterprise, free, pro`},
		{"long name", "free", strings.Repeat("n", 65), tenant.ErrInvalidName, "name longer than 64 characters"},
		{"control character", "free", "a\u2028b", tenant.ErrInvalidName, "name has control characters"},
		{"no host", "free", "", tenant.ErrNoCapacity, "plan free: no host with capacity: none has 500m CPU and 1GiB memory free (0 online hosts, 0 with a tenant runtime)"},
	} {
		_, _, err := svc.Create(ctx, a, u, tc.plan, tc.tenantName)
		if _, _, msg := apperr.Public(err); !errors.Is(err, tc.sentinel) || msg != tc.msg {
			t.Errorf("%s: %v (client sees %q), want %q", tc.name, err, msg, tc.msg)
		}
	}
	for ref, msg := range map[tenant.Ref]string{
		{OwnerID: "u1"}:   "no tenant: create one with POST /api/tenants",
		{ID: "ten_nope"}:  `no tenant with id "ten_nope"`,
		{OwnerID: ""}:     "no tenant: create one with POST /api/tenants",
		{ID: "ten_other"}: `no tenant with id "ten_other"`,
	} {
		_, err := svc.Find(ctx, ref)
		if status, code, got := apperr.Public(err); !errors.Is(err, tenant.ErrNoTenant) || status != 404 || code != "no_tenant" || got != msg {
			t.Errorf("Find(%+v): %d %s %q, want 404 no_tenant %q", ref, status, code, got, msg)
		}
	}

	// The host's failures, as the fleet reports them.
	ag := c.AddHost("box-1")
	tn := create(t, svc, "u1", "free", "")
	ag.SetLogsError("no such container")
	if _, err := svc.Logs(ctx, tn, 10); !errors.Is(err, fleet.ErrHostError) || err.Error() != "host "+ag.ID+": no such container" {
		t.Errorf("logs, host error: %v", err)
	}
	ag.GoOffline()
	tstest.Await(t, "box-1 offline", 10*time.Second, func() bool { return !c.App.Fleet().HostOnline(ag.ID) })
	if _, err := svc.Logs(ctx, tn, 10); !errors.Is(err, fleet.ErrHostOffline) || err.Error() != "host "+ag.ID+" is offline" {
		t.Errorf("logs, host offline: %v", err)
	}
}
