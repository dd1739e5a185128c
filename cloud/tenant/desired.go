package tenant

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"gorm.io/gorm"
)

// publish sends a host's stored desired state (retained) and arms the
// acknowledgement check. Callers hold s.mu. It returns store.ErrNotFound
// when nothing was ever published to the host.
func (s *Service) publish(ctx context.Context, hostID string) error {
	d, err := s.store.GetHostDesired(ctx, hostID)
	if err != nil {
		return err
	}
	ts, err := s.store.ListHostTenants(ctx, hostID)
	if err != nil {
		return err
	}
	msg := proto.Desired{Revision: d.Revision, Tenants: make([]proto.TenantSpec, 0, len(ts)), Purge: d.Purge}
	var unsendable []store.Tenant
	var reasons []error
	for _, t := range ts {
		tok, err := s.seal.Open(t.GatewayTokenEnc, t.ID)
		if err != nil {
			// Leaving the tenant out would make the host remove it.
			s.fleet.CountCommand("desired", "error")
			return fmt.Errorf("tenant %s: gateway token: %w", t.ID, err)
		}
		spec := proto.TenantSpec{
			ID: t.ID, Slug: t.Slug, Owner: t.OwnerID, State: t.DesiredState, RestartGen: t.RestartGen, Port: t.Port,
			Image: t.Image, CPUMillis: t.CPUMillis, MemoryBytes: t.MemoryBytes, DiskBytes: t.DiskBytes, PidsLimit: t.PidsLimit,
			GatewayToken: tok, Auth: proto.GatewayAuthTrustedProxy, Container: t.Container,
		}
		if t.Auth != "" {
			spec.Auth = t.Auth // an adopted gateway keeps its token
		}
		if o := origin(s.opts.TenantURL(t.Slug)); o != "" {
			spec.AllowedOrigins = []string{o}
		}
		if err := spec.Validate(); err != nil {
			// One tenant the protocol cannot carry (e.g. a row written
			// before a limit existed) fails on its own: it must never stop
			// its host's other tenants from getting their desired state.
			unsendable, reasons = append(unsendable, t), append(reasons, err)
			continue
		}
		msg.Tenants = append(msg.Tenants, spec)
	}
	payload := proto.MustEncode(&msg)
	if _, err := proto.DecodeDesired(payload); err != nil {
		s.fleet.CountCommand("desired", "error")
		return fmt.Errorf("desired state of host %s is invalid: %w", hostID, err)
	}
	if err := s.bus.Publish(proto.DownTopic(hostID, proto.KindDesired), payload, true); err != nil {
		s.fleet.CountCommand("desired", "error")
		return err
	}
	s.fleet.CountCommand("desired", "published")
	s.log.Debug("desired state published", "device", hostID, "revision", d.Revision, "tenants", len(msg.Tenants), "purge", len(msg.Purge))
	for i, t := range unsendable {
		s.fleet.CountCommand("desired", "unsendable")
		s.log.Warn("tenant left out of its host's desired state", "tenant", t.ID, "device", hostID, "err", reasons[i])
		s.setStatus(ctx, &t, store.TenantFailed, "this instance cannot be sent to its host ("+reasons[i].Error()+"); delete it and create it again", "left out of the desired state")
	}
	rev := d.Revision
	wait := s.opts.CommandTimeout << min(s.resends[hostID], maxResendShift)
	time.AfterFunc(wait, func() { s.enqueue(devMsg{host: hostID, kind: kindAckCheck, rev: rev}) })
	return nil
}

// maxResendShift caps the doubling of the wait between resends of a desired
// state a host did not acknowledge (32 × CommandTimeout: 16 min by default).
const maxResendShift = 5

func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// pendingUpTo returns the host's pending tenants first published at or
// before rev.
func (s *Service) pendingUpTo(ctx context.Context, hostID string, rev int64) ([]store.Tenant, error) {
	ts, err := s.store.ListHostTenants(ctx, hostID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(ts, func(t store.Tenant) bool { return t.Status != store.TenantPending || t.PublishedRev > rev }), nil
}

func (s *Service) applyAck(ctx context.Context, hostID string, rev int64, r *proto.Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.store.AckDesired(ctx, hostID, rev); err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUnknownRevision) {
			s.fleet.Refuse(hostID, proto.KindReply, "unknown_reply", err)
			return
		}
		s.log.Error("storing acknowledgement failed", "device", hostID, "revision", rev, "err", err)
		return
	}
	delete(s.resends, hostID)
	ts, err := s.pendingUpTo(ctx, hostID, rev)
	if err != nil {
		s.log.Error("acknowledgement: listing tenants failed", "device", hostID, "err", err)
		return
	}
	result := "acked"
	status, lastErr := store.TenantStarting, ""
	if !r.OK {
		result = "refused"
		status = store.TenantFailed
		lastErr = fmt.Sprintf("host %s refused the desired state: %s", hostID, r.Error)
		s.log.Warn("host refused desired state", "device", hostID, "revision", rev, "err", r.Error)
	}
	s.fleet.CountCommand("desired", result)
	for _, t := range ts {
		s.setStatus(ctx, &t, status, lastErr, fmt.Sprintf("revision %d acknowledged by host %s", rev, hostID))
	}
}

func (s *Service) checkAck(ctx context.Context, hostID string, rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.store.GetHostDesired(ctx, hostID)
	if err != nil || d.AckedRevision >= rev {
		return
	}
	ts, err := s.pendingUpTo(ctx, hostID, rev)
	if err != nil {
		return
	}
	msg := fmt.Sprintf("host %s did not acknowledge within %s", hostID, s.opts.CommandTimeout)
	s.fleet.CountCommand("desired", "timeout")
	for _, t := range ts {
		if t.LastError == msg {
			continue
		}
		if err := s.store.UpdateTenant(ctx, t.ID, map[string]any{"last_error": msg}); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("recording acknowledgement timeout failed", "tenant", t.ID, "err", err)
		}
	}
	if len(ts) > 0 {
		s.log.Warn("host did not acknowledge desired state", "device", hostID, "revision", rev, "pendingTenants", len(ts), "timeout", s.opts.CommandTimeout)
	}
	// The message may have been lost on the way (an agent that dropped it,
	// a session that ended in between): send it again while the host is
	// online, ever less often. A newer revision has its own check, and an
	// offline host gets the retained message when it connects.
	if d.Revision == rev && s.fleet.HostOnline(hostID) {
		s.resends[hostID]++
		s.fleet.CountCommand("desired", "resent")
		s.log.Info("resending unacknowledged desired state", "device", hostID, "revision", rev, "attempt", s.resends[hostID])
		if err := s.publish(ctx, hostID); err != nil {
			s.log.Error("resending desired state failed", "device", hostID, "err", err)
		}
	}
}

// setStatus stores a tenant's new status and last error, auditing status
// changes. Callers hold s.mu.
func (s *Service) setStatus(ctx context.Context, t *store.Tenant, status, lastErr, why string) {
	fields := map[string]any{}
	if status != t.Status {
		fields["status"] = status
	}
	if lastErr != t.LastError {
		fields["last_error"] = lastErr
	}
	now := s.opts.Now()
	if status == store.TenantRunning && t.RunningAt == nil {
		fields["running_at"] = now
	}
	if len(fields) == 0 {
		return
	}
	err := s.store.Write(ctx, func(tx *gorm.DB) error {
		if err := store.UpdateTenant(tx, t.ID, fields); err != nil {
			return err
		}
		if status == t.Status {
			return nil
		}
		return store.AddAudit(tx, &store.AuditEvent{Actor: ActorSystem, Action: "tenant.status", Target: t.ID,
			Detail: truncate(fmt.Sprintf("%s → %s (%s)", t.Status, status, why), 1024)})
	})
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Error("storing tenant status failed", "tenant", t.ID, "err", err)
		}
		return
	}
	if _, ok := fields["running_at"]; ok {
		s.m.startSeconds.Observe(max(now.Sub(t.CreatedAt).Seconds(), 0))
	}
	if status != t.Status {
		s.log.Info("tenant status", "tenant", t.ID, "from", t.Status, "to", status, "why", why)
	}
	after := *t
	after.Status, after.LastError = status, lastErr
	s.changed(&after, false)
}
