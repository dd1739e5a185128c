package tenant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// DiskUsage is a tenant's disk as its host last reported it (hosts that
// enforce disk limits report every 30 s). It is a measurement, kept in
// memory only: after a cloud restart it is back with the next report.
type DiskUsage struct {
	UsedBytes, TotalBytes int64
	At                    time.Time
}

// Disk returns the last reported disk usage of a tenant.
func (s *Service) Disk(tenantID string) (DiskUsage, bool) {
	s.umu.Lock()
	defer s.umu.Unlock()
	d, ok := s.disks[tenantID]
	return d, ok
}

func (s *Service) setDisk(tenantID string, st proto.TenantStatus) {
	s.umu.Lock()
	defer s.umu.Unlock()
	if st.DiskTotalBytes <= 0 {
		delete(s.disks, tenantID)
		return
	}
	s.disks[tenantID] = DiskUsage{UsedBytes: st.DiskUsedBytes, TotalBytes: st.DiskTotalBytes, At: s.opts.Now()}
}

// devMsg is one item of the service's queue: a fleet event it acts on in
// its own goroutine, or its own acknowledgement check.
type devMsg struct {
	host   string
	kind   string // register, event, reply, or "ackcheck" (internal)
	report *proto.TenantReport
	reply  *proto.Reply
	rev    int64
}

const kindAckCheck = "ackcheck"

// onEvent is the fleet's hook; it runs in the fleet's ingest goroutine, so
// it only queues what it acts on.
func (s *Service) onEvent(e fleet.Event) {
	switch e := e.(type) {
	case fleet.Deleted:
		// Not through the bounded queue: a flood of reports must not make
		// the cloud drop a deletion and strand the host's tenants.
		if !s.background(func() { s.hostDeleted(context.Background(), e.HostID) }) {
			s.log.Warn("host deleted while the cloud stops: its tenants are placed again at the next start", "device", e.HostID)
		}
	case fleet.Registered:
		s.enqueue(devMsg{host: e.HostID, kind: proto.KindRegister})
	case fleet.TenantReport:
		s.enqueue(devMsg{host: e.HostID, kind: proto.KindEvent, report: e.Report})
	case fleet.Reply:
		// Replies to the fleet's commands never get here: what is no
		// acknowledgement answers nothing this host was asked.
		rev, ok := parseDesiredReplyID(e.Reply.ID)
		if !ok {
			s.fleet.Refuse(e.HostID, proto.KindReply, "unknown_reply", fmt.Errorf("reply %q answers no pending command of this host", e.Reply.ID))
			return
		}
		s.enqueue(devMsg{host: e.HostID, kind: proto.KindReply, reply: e.Reply, rev: rev})
	}
}

func (s *Service) enqueue(msg devMsg) {
	select {
	case s.queue <- msg:
	default:
		s.fleet.Refuse(msg.host, msg.kind, "queue_full", errors.New("the tenant service's queue is full: message dropped"))
	}
}

func parseDesiredReplyID(id string) (int64, bool) {
	var rev int64
	if _, err := fmt.Sscanf(id, "desired-%d", &rev); err != nil || proto.DesiredReplyID(rev) != id || rev < 1 {
		return 0, false
	}
	return rev, true
}

func (s *Service) handle(ctx context.Context, msg devMsg) {
	switch msg.kind {
	case proto.KindRegister:
		// The retained desired state may be gone (cloud restart): publish
		// it again so a reconnecting agent converges.
		s.mu.Lock()
		err := s.publish(ctx, msg.host)
		s.mu.Unlock()
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("republishing desired state failed", "device", msg.host, "err", err)
		}
	case proto.KindReply:
		s.applyAck(ctx, msg.host, msg.rev, msg.reply)
	case proto.KindEvent:
		s.applyReport(ctx, msg.host, msg.report)
	case kindAckCheck:
		s.checkAck(ctx, msg.host, msg.rev)
	}
}

func (s *Service) applyReport(ctx context.Context, hostID string, rep *proto.TenantReport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range rep.Tenants {
		t, err := s.store.GetTenant(ctx, st.ID)
		if errors.Is(err, store.ErrNotFound) {
			// Deleted meanwhile, or a leftover the agent is removing.
			s.log.Debug("report for an unknown tenant ignored", "device", hostID, "tenant", st.ID)
			continue
		}
		if err != nil {
			s.log.Error("report: reading tenant failed", "tenant", st.ID, "err", err)
			continue
		}
		if t.HostID != hostID {
			s.fleet.Refuse(hostID, proto.KindEvent, "wrong_host", fmt.Errorf("report for tenant %s, which is placed on %s", st.ID, t.HostID))
			continue
		}
		s.setDisk(t.ID, st)
		s.recordUsage(t.ID, st)
		status := st.State
		if status == proto.TenantRunning && st.RestartGen < t.RestartGen {
			status = store.TenantStarting // the requested restart has not happened yet
		}
		lastErr := st.Error
		if status == store.TenantFailed && lastErr == "" {
			lastErr = "the gateway failed (no detail from the host)"
		}
		s.setStatus(ctx, t, status, lastErr, "reported by host "+hostID)
	}
	if len(rep.Purged) == 0 {
		return
	}
	d, err := s.store.GetHostDesired(ctx, hostID)
	if err != nil {
		s.fleet.Refuse(hostID, proto.KindEvent, "invalid", fmt.Errorf("purged tenants reported by a host without desired state"))
		return
	}
	var done []string
	for _, id := range rep.Purged {
		if slices.Contains(d.Purge, id) {
			done = append(done, id)
		}
	}
	if len(done) == 0 {
		return
	}
	if _, err := s.store.BumpDesired(ctx, hostID, nil, done); err != nil {
		s.log.Error("recording purged tenants failed", "device", hostID, "err", err)
		return
	}
	for _, id := range done {
		_ = s.store.AddAudit(ctx, &store.AuditEvent{Actor: ActorSystem, Action: "tenant.purged", Target: id, Detail: "data purged by host " + hostID})
	}
	s.log.Info("tenant data purged", "device", hostID, "tenants", done)
	if err := s.publish(ctx, hostID); err != nil {
		s.log.Error("publishing desired state failed", "device", hostID, "err", err)
	}
}
