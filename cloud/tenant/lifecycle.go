package tenant

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/authz"
	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"gorm.io/gorm"
)

// The operations on one tenant take the tenant the caller resolved (Find)
// and the actor the caller authorized (authz.Can); the audit log names the
// actor. Each reads the tenant again under s.mu, so it acts on the stored
// state and a tenant deleted meanwhile is ErrNoTenant.

// Create places a new tenant for owner, or returns owner's existing tenant
// with created false (creating is idempotent; the existing tenant is
// returned whatever plan or name the repeated call asks for). The audit
// event names actor: the owner, or an operator creating it for them.
func (s *Service) Create(ctx context.Context, actor authz.Actor, u User, planName, name string) (t *store.Tenant, created bool, err error) {
	planName, plan, name, err := s.checkCreate(planName, name)
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, err := s.store.GetTenantByOwner(ctx, u.ID); err == nil {
		s.overlay(ctx, t)
		return t, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, false, err
	}
	// The owner's personal team owns it (none when the owner is no user
	// yet: a cloud without accounts).
	teamID, err := store.PersonalTeamOf(s.store.DB().WithContext(ctx), u.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, false, err
	}
	t = &store.Tenant{OwnerID: u.ID, OwnerEmail: u.Email, TeamID: teamID}
	err = s.createLocked(ctx, actor, t, planName, plan, name)
	if errors.Is(err, store.ErrConflict) {
		// Another cloud node created the user's tenant meanwhile.
		if other, gerr := s.store.GetTenantByOwner(ctx, u.ID); gerr == nil {
			s.overlay(ctx, other)
			return other, false, nil
		}
		return nil, false, ErrConflict.Withf("%v", err)
	}
	if err != nil {
		return nil, false, err
	}
	return s.created(ctx, actor, t)
}

// ErrPlanLimit refuses a tenant over its plan's limit per team.
var ErrPlanLimit = apperr.New(apperr.Conflict, "plan_limit", "the team has as many instances of this plan as the plan allows")

// CreateInTeam places a new tenant owned by the team teamID (shared: it is
// no member's /api/tenants/me); the gateway's user is the team
// ("team:<id>"), whoever opens it. Unlike Create it is not idempotent:
// each call is one more tenant, within the plan's MaxPerTeam.
func (s *Service) CreateInTeam(ctx context.Context, actor authz.Actor, teamID, planName, name string) (*store.Tenant, error) {
	planName, plan, name, err := s.checkCreate(planName, name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &store.Tenant{OwnerID: "team:" + teamID, TeamID: teamID, Shared: true}
	if err := s.createLocked(ctx, actor, t, planName, plan, name); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, ErrConflict.Withf("%v", err)
		}
		return nil, err
	}
	got, _, err := s.created(ctx, actor, t)
	return got, err
}

// CreateOnBox gives a box its owner's instance, on that box: the user's own
// tenant when they have none yet, else (a second box) a tenant shared in
// teamID — the team the box was claimed for, the user's personal team when
// "" — so each box a user claims runs one instance of theirs. It is
// idempotent per box: a box that has a tenant already returns it with
// created false. A box's instance does not count against its plan's limit
// per team: the box is the owner's own hardware.
func (s *Service) CreateOnBox(ctx context.Context, actor authz.Actor, u User, boxID, teamID, planName string) (*store.Tenant, bool, error) {
	planName, plan, _, err := s.checkCreate(planName, "")
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if on, err := s.store.ListHostTenants(ctx, boxID); err != nil {
		return nil, false, err
	} else if len(on) > 0 {
		t := &on[0]
		s.overlay(ctx, t)
		return t, false, nil
	}
	t := &store.Tenant{OwnerID: u.ID, OwnerEmail: u.Email}
	if _, err := s.store.GetTenantByOwner(ctx, u.ID); err == nil {
		if teamID == "" {
			if teamID, err = store.PersonalTeamOf(s.store.DB().WithContext(ctx), u.ID); err != nil {
				return nil, false, ErrNoTeamForBox.Withf("your instance runs elsewhere, and a second one needs a team: %v", err)
			}
		}
		t = &store.Tenant{OwnerID: "team:" + teamID, TeamID: teamID, Shared: true}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, false, err
	} else if t.TeamID, err = store.PersonalTeamOf(s.store.DB().WithContext(ctx), u.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, false, err
	}
	if t.Port, err = s.freePort(ctx, boxID); err != nil {
		return nil, false, fmt.Errorf("your box %s: %w", boxID, err)
	}
	t.HostID = boxID
	if err := s.createLocked(ctx, actor, t, planName, plan, ""); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, false, ErrConflict.Withf("%v", err)
		}
		return nil, false, err
	}
	return s.created(ctx, actor, t)
}

// ErrNoTeamForBox refuses a second box's instance of a user with no team.
var ErrNoTeamForBox = apperr.New(apperr.Conflict, "no_team", "a second instance needs a team")

// checkCreate validates a creation's plan ("" is free) and name.
func (s *Service) checkCreate(planName, name string) (string, Plan, string, error) {
	if planName == "" {
		planName = "free"
	}
	plan, ok := s.opts.Plans[planName]
	if !ok {
		return "", Plan{}, "", ErrInvalidPlan.Withf("plan %q does not exist: choose one of %s", planName, strings.Join(s.opts.Plans.Names(), ", "))
	}
	name = strings.TrimSpace(name)
	if err := validateName(name); err != nil {
		return "", Plan{}, "", err
	}
	return planName, plan, name, nil
}

// createLocked places t (its owner and team set) with plan and stores it,
// within the plan's limit per team (platform admins may exceed it); s.mu
// is held.
func (s *Service) createLocked(ctx context.Context, actor authz.Actor, t *store.Tenant, planName string, plan Plan, name string) error {
	// A tenant given its host (a box's instance) is the box owner's own
	// hardware: no plan limit per team, no placement.
	pinned := t.HostID != ""
	limited := t.TeamID != "" && plan.MaxPerTeam != 0 && !actor.PlatformAdmin && !pinned
	if limited && plan.MaxPerTeam < 0 {
		return ErrPlanLimit.Withf("plan %s is not offered to teams: choose another plan (%s)", planName, strings.Join(s.opts.Plans.Names(), ", "))
	}
	if limited {
		n, err := store.CountTeamTenants(s.store.DB().WithContext(ctx), t.TeamID, planName)
		if err != nil {
			return err
		}
		if n >= plan.MaxPerTeam {
			return ErrPlanLimit.Withf("the team has %d instance(s) of plan %s, which allows %d per team: delete one or choose another plan", n, planName, plan.MaxPerTeam)
		}
	}
	// A user's own tenant goes to their box when they have one online.
	hostID, port := t.HostID, t.Port
	if !t.Shared && !pinned {
		var err error
		if hostID, port, err = s.ownerBox(ctx, t.OwnerID); err != nil {
			return err
		}
	}
	if hostID == "" {
		need := Resources{CPUMillis: int64(plan.CPUMillis), MemoryBytes: int64(plan.MemoryBytes)}
		var err error
		if hostID, port, err = s.place(ctx, need, plan.Where()); err != nil {
			return apperr.Prefixf(err, "plan %s", planName)
		}
	}
	slug, err := s.newSlug(ctx, name)
	if err != nil {
		return err
	}
	t.ID, t.Slug, t.Name, t.Plan = "ten_"+randomID(10), slug, name, planName
	t.Status, t.DesiredState, t.HostID, t.Port = store.TenantPending, proto.TenantRunning, hostID, port
	t.CPUMillis, t.MemoryBytes, t.DiskBytes, t.PidsLimit, t.Image = plan.CPUMillis, int64(plan.MemoryBytes), int64(plan.DiskBytes), plan.PidsLimit, plan.Image
	t.GatewayTokenEnc = s.seal.Seal(randomToken(), t.ID)
	detail := fmt.Sprintf("plan=%s slug=%s host=%s port=%d status=pending", planName, slug, hostID, port)
	if t.Shared {
		detail += " team=" + t.TeamID
	}
	return s.insertTenant(ctx, actor, t, "tenant.create", detail)
}

// insertTenant stores a new tenant t on t.HostID with its host's next
// desired revision and the audit event action, in one transaction.
func (s *Service) insertTenant(ctx context.Context, actor authz.Actor, t *store.Tenant, action, detail string) error {
	return s.store.Write(ctx, func(tx *gorm.DB) error {
		d, err := store.BumpDesired(tx, t.HostID, nil, nil)
		if err != nil {
			return err
		}
		t.PublishedRev = d.Revision
		if err := store.CreateTenant(tx, t); err != nil {
			return err
		}
		return store.AddAudit(tx, &store.AuditEvent{Actor: actor.Audit(), Action: action, Target: t.ID, Detail: detail})
	})
}

// created publishes a created tenant's host and returns it as stored.
func (s *Service) created(ctx context.Context, actor authz.Actor, t *store.Tenant) (*store.Tenant, bool, error) {
	s.log.Info("tenant created", "tenant", t.ID, "by", actor.Audit(), "owner", t.OwnerID, "team", t.TeamID, "plan", t.Plan, "slug", t.Slug, "device", t.HostID, "port", t.Port)
	if err := s.publish(ctx, t.HostID); err != nil {
		s.log.Error("publishing desired state failed; it is published again when the host registers", "device", t.HostID, "err", err)
		_ = s.store.UpdateTenant(ctx, t.ID, map[string]any{"last_error": "publishing the desired state failed; retried when the host reconnects"})
	}
	got, err := s.store.GetTenant(ctx, t.ID)
	if err != nil {
		return nil, false, err
	}
	s.changed(got, false)
	s.overlay(ctx, got)
	return got, true, nil
}

func validateName(name string) error {
	if len([]rune(name)) > 64 || len(name) > 255 {
		return ErrInvalidName.Withf("name longer than 64 characters")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return ErrInvalidName.Withf("name has control characters")
		}
	}
	return nil
}

// Ref names the tenant a request is about: its owner's (the seed API's
// /api/tenants/me), the one with an id (the admin's routes), or the one
// with an id among a team's (TeamID and ID: the team's routes).
type Ref struct {
	OwnerID string
	ID      string
	TeamID  string
	// Slug names the tenant of a subdomain (the console's /open/<slug>).
	Slug string
}

// Find returns the tenant ref names, with its host's state overlaid, or
// ErrNoTenant saying what was looked for.
func (s *Service) Find(ctx context.Context, ref Ref) (*store.Tenant, error) {
	var t *store.Tenant
	var err error
	notFound := ErrNoTenant
	if ref.Slug != "" {
		t, err = s.store.GetTenantBySlug(ctx, ref.Slug)
		notFound = ErrNoTenant.Withf("no tenant at %q", ref.Slug)
	} else if ref.ID != "" {
		t, err = s.store.GetTenant(ctx, ref.ID)
		notFound = ErrNoTenant.Withf("no tenant with id %q", ref.ID)
		if ref.TeamID != "" {
			notFound = ErrNoTenant.Withf("team %s has no tenant with id %q", ref.TeamID, ref.ID)
			if err == nil && t.TeamID != ref.TeamID {
				err = store.ErrNotFound // another team's: as if there were none
			}
		}
	} else {
		t, err = s.store.GetTenantByOwner(ctx, ref.OwnerID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	s.overlay(ctx, t)
	return t, nil
}

// List returns every tenant (admin).
func (s *Service) List(ctx context.Context) ([]store.Tenant, error) {
	ts, err := s.store.ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	return s.overlayAll(ctx, ts)
}

// ListTeam returns a team's tenants, oldest first.
func (s *Service) ListTeam(ctx context.Context, teamID string) ([]store.Tenant, error) {
	ts, err := s.store.ListTeamTenants(ctx, teamID)
	if err != nil {
		return nil, err
	}
	return s.overlayAll(ctx, ts)
}

// overlayAll is overlay for many tenants, with one read of the hosts.
func (s *Service) overlayAll(ctx context.Context, ts []store.Tenant) ([]store.Tenant, error) {
	hs, err := s.fleet.ListHosts(ctx)
	if err != nil {
		return nil, err
	}
	status := map[string]string{}
	for _, h := range hs {
		status[h.ID] = h.Status
	}
	for i := range ts {
		applyHostStatus(&ts[i], status[ts[i].HostID])
	}
	return ts, nil
}

// overlay shows a tenant whose host is offline with lastError "host offline".
func (s *Service) overlay(ctx context.Context, t *store.Tenant) {
	if t.HostID == "" {
		return // unplaced: its stored error says why
	}
	h, err := s.fleet.GetHost(ctx, t.HostID)
	switch {
	case errors.Is(err, fleet.ErrHostNotFound):
		applyHostStatus(t, "")
	case err == nil:
		applyHostStatus(t, h.Status)
	}
}

// applyHostStatus overlays the state of a tenant's host on its lastError;
// hostStatus "" means the host no longer exists.
func applyHostStatus(t *store.Tenant, hostStatus string) {
	switch hostStatus {
	case store.HostOnline:
	case "":
		t.LastError = "host " + t.HostID + " no longer exists"
	default:
		t.LastError = "host offline"
	}
}

// current reads t again: the stored state to act on.
func (s *Service) current(ctx context.Context, t *store.Tenant) (*store.Tenant, error) {
	cur, err := s.store.GetTenant(ctx, t.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoTenant
	}
	return cur, err
}

// Restart asks t's host to restart it (placing it first if it has no host).
func (s *Service) Restart(ctx context.Context, actor authz.Actor, t *store.Tenant) (*store.Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.current(ctx, t)
	if err != nil {
		return nil, err
	}
	return s.restart(ctx, t, actor.Audit())
}

func (s *Service) restart(ctx context.Context, t *store.Tenant, actor string) (*store.Tenant, error) {
	if t.Status == store.TenantDeleting {
		return nil, ErrConflict.Withf("tenant %s is being deleted", t.ID)
	}
	if t.HostID != "" {
		if _, err := s.fleet.GetHost(ctx, t.HostID); errors.Is(err, fleet.ErrHostNotFound) {
			t.HostID = "" // its host's deletion is not handled yet
		}
	}
	if t.HostID == "" {
		// Unplaced (its host was deleted when no other had room): place it.
		hostID, port, err := s.replace(ctx, t)
		if err == nil && hostID == "" {
			need, where := s.needOf(t)
			hostID, port, err = s.place(ctx, need, where)
		}
		if err != nil {
			return nil, apperr.Prefixf(err, "tenant %s has no host", t.ID)
		}
		if err := s.move(ctx, t, hostID, port, ""); err != nil {
			return nil, err
		}
		if t, err = s.store.GetTenant(ctx, t.ID); err != nil {
			return nil, err
		}
	}
	status := t.Status
	if status != store.TenantPending {
		status = store.TenantStarting
	}
	err := s.store.Write(ctx, func(tx *gorm.DB) error {
		if _, err := store.BumpDesired(tx, t.HostID, nil, nil); err != nil {
			return err
		}
		if err := store.UpdateTenant(tx, t.ID, map[string]any{"restart_gen": t.RestartGen + 1, "desired_state": proto.TenantRunning,
			"status": status, "last_error": ""}); err != nil {
			return err
		}
		return store.AddAudit(tx, &store.AuditEvent{Actor: actor, Action: "tenant.restart", Target: t.ID,
			Detail: fmt.Sprintf("restartGen=%d status %s → %s", t.RestartGen+1, t.Status, status)})
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("tenant restart requested", "tenant", t.ID, "by", actor, "restartGen", t.RestartGen+1)
	if err := s.publish(ctx, t.HostID); err != nil {
		s.log.Error("publishing desired state failed; it is published again when the host registers", "device", t.HostID, "err", err)
	}
	got, err := s.store.GetTenant(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	s.changed(got, false)
	s.overlay(ctx, got)
	return got, nil
}

// Delete stops and removes t; its data is purged on the host unless
// keepData. The returned tenant (status deleting) is no longer stored.
func (s *Service) Delete(ctx context.Context, actor authz.Actor, t *store.Tenant, keepData bool) (*store.Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.current(ctx, t)
	if err != nil {
		return nil, err
	}
	return s.delete(ctx, t, keepData, actor.Audit())
}

// DeleteHostTenants deletes every tenant placed on a host, with its data
// (a box released by its owner or reset), and returns how many it deleted;
// actor is the audit log's name for whoever asked.
func (s *Service) DeleteHostTenants(ctx context.Context, hostID, actor string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts, err := s.store.ListHostTenants(ctx, hostID)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range ts {
		if _, err := s.delete(ctx, &ts[i], false, actor); err != nil && !errors.Is(err, ErrNoTenant) {
			return n, err
		}
		n++
	}
	return n, nil
}

func (s *Service) delete(ctx context.Context, t *store.Tenant, keepData bool, actor string) (*store.Tenant, error) {
	var purge []string
	if !keepData {
		purge = []string{t.ID}
	}
	err := s.store.Write(ctx, func(tx *gorm.DB) error {
		if err := store.DeleteTenant(tx, t.ID); err != nil {
			return err
		}
		if t.HostID != "" { // an unplaced tenant has nothing on any host
			if _, err := store.BumpDesired(tx, t.HostID, purge, nil); err != nil {
				return err
			}
		}
		if err := store.RevokeTenantAccess(tx, t.ID, s.opts.Now()); err != nil {
			return err
		}
		return store.AddAudit(tx, &store.AuditEvent{Actor: actor, Action: "tenant.delete", Target: t.ID,
			Detail: fmt.Sprintf("slug=%s host=%s status %s → deleting keepData=%t", t.Slug, t.HostID, t.Status, keepData)})
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoTenant
	}
	if err != nil {
		return nil, err
	}
	s.setDisk(t.ID, proto.TenantStatus{})
	s.log.Info("tenant deleted", "tenant", t.ID, "by", actor, "device", t.HostID, "keepData", keepData)
	if s.opts.OnDeleted != nil {
		s.opts.OnDeleted(t.ID, t.Slug)
	}
	if t.HostID != "" {
		if err := s.publish(ctx, t.HostID); err != nil {
			s.log.Error("publishing desired state failed; it is published again when the host registers", "device", t.HostID, "err", err)
		}
	}
	t.Status = store.TenantDeleting
	s.changed(t, true)
	return t, nil
}

// RecordAccess writes to the audit log that actor was given a link into t's
// gateway as its owner.
func (s *Service) RecordAccess(ctx context.Context, actor authz.Actor, t *store.Tenant) error {
	return s.store.AddAudit(ctx, &store.AuditEvent{Actor: actor.Audit(), Action: "tenant.access", Target: t.ID,
		Detail: fmt.Sprintf("one-time link into %s as owner %s", t.Slug, t.OwnerID)})
}

// RecordSignOut audits that actor ended every session into t's gateway.
func (s *Service) RecordSignOut(ctx context.Context, actor authz.Actor, t *store.Tenant, closed int) error {
	return s.store.AddAudit(ctx, &store.AuditEvent{Actor: actor.Audit(), Action: "tenant.signout", Target: t.ID,
		Detail: fmt.Sprintf("sessions into %s ended, %d connections closed", t.Slug, closed)})
}

// Logs returns up to tail of t's most recent log lines, asked from its
// host (where it is now: a followed log asks again and again).
func (s *Service) Logs(ctx context.Context, t *store.Tenant, tail int) ([]string, error) {
	t, err := s.current(ctx, t)
	if err != nil {
		return nil, err
	}
	tail = min(max(tail, 1), proto.MaxLogLines)
	r, err := s.fleet.Command(ctx, t.HostID, &proto.Command{Op: proto.OpLogs, TenantID: t.ID, Tail: tail}, s.opts.LogsTimeout)
	if err != nil {
		return nil, err
	}
	if r.Lines == nil {
		return []string{}, nil
	}
	return r.Lines, nil
}
