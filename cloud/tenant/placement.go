package tenant

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"gorm.io/gorm"
)

// place picks a worker of the plan's pool with room for need (and the
// plan's host labels) and a free port on it. Callers hold s.mu.
func (s *Service) place(ctx context.Context, need Resources, where Where) (string, int, error) {
	cands, err := s.candidates(ctx)
	if err != nil {
		return "", 0, err
	}
	for {
		hostID, err := Pick(s.opts.Strategy, cands, need, where)
		if err != nil {
			return "", 0, err
		}
		port, err := s.freePort(ctx, hostID)
		if err == nil {
			return hostID, port, nil
		}
		if !errors.Is(err, ErrNoPort) {
			return "", 0, err
		}
		s.log.Warn("host has no free tenant port", "device", hostID, "err", err)
		cands = slices.DeleteFunc(cands, func(c Candidate) bool { return c.ID == hostID })
	}
}

// replace is where a tenant without a host goes first: its owner's box,
// when it is a user's own and they have one ("" otherwise). Callers hold
// s.mu.
func (s *Service) replace(ctx context.Context, t *store.Tenant) (string, int, error) {
	if t.Shared {
		return "", 0, nil
	}
	return s.ownerBox(ctx, t.OwnerID)
}

// ownerBox is where the owner's instance goes when they own a box: the
// first box they claimed that still exists, and a free port on it; "" when
// they own none. A box is the owner's own machine: the instance goes there
// whether or not it is online or reports room (the plan's limits still
// bound the gateway), and never anywhere else. Callers hold s.mu.
func (s *Service) ownerBox(ctx context.Context, owner string) (string, int, error) {
	boxes, err := s.store.OwnedBoxes(ctx, owner)
	if err != nil {
		return "", 0, err
	}
	for _, b := range boxes {
		if _, err := s.fleet.GetHost(ctx, b.DeviceID); errors.Is(err, fleet.ErrHostNotFound) {
			continue
		} else if err != nil {
			return "", 0, err
		}
		port, err := s.freePort(ctx, b.DeviceID)
		if err != nil {
			return "", 0, fmt.Errorf("your box %s: %w", b.DeviceID, err)
		}
		return b.DeviceID, port, nil
	}
	return "", 0, nil
}

// needOf is what t reserves, and the pool and host labels its plan asks
// for (a plan no longer configured: the default pool, any labels).
func (s *Service) needOf(t *store.Tenant) (Resources, Where) {
	var where Where
	if pl, ok := s.opts.Plans[t.Plan]; ok {
		where = pl.Where()
	}
	return Resources{CPUMillis: int64(t.CPUMillis), MemoryBytes: t.MemoryBytes}, where
}

// hostDeleted moves the tenants of a deleted host to other hosts, where
// they start afresh: their data stayed on the deleted host, and the tenant
// says so. A user's own tenant goes to another box of theirs first; one that
// ran on a box goes nowhere else by itself. A tenant for which no host has
// room is left unplaced and failed (a restart places it when there is
// room). (Deleted tenants are gone from the store already.)
func (s *Service) hostDeleted(ctx context.Context, hostID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts, err := s.store.ListHostTenants(ctx, hostID)
	if err != nil {
		s.log.Error("listing the tenants of a deleted host failed", "device", hostID, "err", err)
		return
	}
	_, boxErr := s.store.GetBox(ctx, hostID)
	wasBox := boxErr == nil
	for i := range ts {
		t := &ts[i]
		newHost, port, perr := s.replace(ctx, t)
		if perr == nil && newHost == "" && wasBox {
			// An owner's instance on their box goes to no other machine
			// by itself: its data and its owner's trust stayed on the box.
			perr = fmt.Errorf("it ran on box %s, which was taken out of service; restart it to run it elsewhere", hostID)
		}
		if perr == nil && newHost == "" {
			need, where := s.needOf(t)
			newHost, port, perr = s.place(ctx, need, where)
		}
		if perr != nil {
			msg := fmt.Sprintf("its host %s was deleted and no other host has room for it (%v); restart it once there is", hostID, perr)
			if wasBox {
				msg = fmt.Sprintf("its host %s was deleted: %v", hostID, perr)
			}
			err := s.store.Write(ctx, func(tx *gorm.DB) error {
				if err := store.UpdateTenant(tx, t.ID, map[string]any{"host_id": "", "port": 0, "status": store.TenantFailed, "last_error": msg}); err != nil {
					return err
				}
				return store.AddAudit(tx, &store.AuditEvent{Actor: ActorSystem, Action: "tenant.unplaced", Target: t.ID, Detail: msg})
			})
			if err != nil {
				s.log.Error("marking a tenant of a deleted host failed", "tenant", t.ID, "err", err)
			}
			s.setDisk(t.ID, proto.TenantStatus{})
			s.log.Warn("tenant of a deleted host not placed", "tenant", t.ID, "device", hostID, "err", perr)
			continue
		}
		if err := s.move(ctx, t, newHost, port, fmt.Sprintf("moved from deleted host %s; the data it had there was not moved", hostID)); err != nil {
			s.log.Error("moving a tenant of a deleted host failed", "tenant", t.ID, "err", err)
		}
	}
}

// move assigns t to hostID:port as a fresh start (status pending) and
// publishes the host's desired state. Callers hold s.mu.
func (s *Service) move(ctx context.Context, t *store.Tenant, hostID string, port int, why string) error {
	err := s.store.Write(ctx, func(tx *gorm.DB) error {
		d, err := store.BumpDesired(tx, hostID, nil, nil)
		if err != nil {
			return err
		}
		// An adopted container stays where it was: elsewhere the tenant
		// is a gateway of the cloud's own (with the same token).
		if err := store.UpdateTenant(tx, t.ID, map[string]any{"host_id": hostID, "port": port, "status": store.TenantPending,
			"desired_state": proto.TenantRunning, "published_rev": d.Revision, "last_error": why, "container": ""}); err != nil {
			return err
		}
		return store.AddAudit(tx, &store.AuditEvent{Actor: ActorSystem, Action: "tenant.move", Target: t.ID,
			Detail: fmt.Sprintf("%s → host %s port %d", why, hostID, port)})
	})
	if err != nil {
		return err
	}
	s.setDisk(t.ID, proto.TenantStatus{}) // measured on the old host
	moved := *t
	moved.HostID, moved.Port, moved.Status, moved.LastError, moved.Container = hostID, port, store.TenantPending, why, ""
	s.changed(&moved, false)
	s.log.Info("tenant moved", "tenant", t.ID, "from", t.HostID, "device", hostID, "port", port)
	if err := s.publish(ctx, hostID); err != nil {
		s.log.Error("publishing desired state failed; it is published again when the host registers", "device", hostID, "err", err)
	}
	return nil
}

// placeOrphans moves the tenants whose host no longer exists (its deletion
// was not handled: the cloud stopped in between).
func (s *Service) placeOrphans(ctx context.Context) {
	ts, err := s.store.ListTenants(ctx)
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for _, t := range ts {
		if t.HostID == "" || seen[t.HostID] {
			continue
		}
		seen[t.HostID] = true
		if _, err := s.fleet.GetHost(ctx, t.HostID); errors.Is(err, fleet.ErrHostNotFound) {
			s.log.Warn("tenants on a host that no longer exists; moving them", "device", t.HostID)
			s.hostDeleted(ctx, t.HostID)
		}
	}
}

// HostLoad is a host's capacity, what its tenants reserve, and their number.
type HostLoad struct {
	Capacity Resources `json:"capacity"`
	Reserved Resources `json:"reserved"`
	Tenants  int       `json:"tenants"`
}

// Capacity is what tenants may reserve on h: what it reports, overcommitted,
// within the caps of its enrollment.
func (s *Service) Capacity(h *store.Host) Resources {
	return HostCapacity(h.CPUs, h.MemTotalBytes, s.opts.CPUOvercommit).Capped(h.MaxCPUMillis, h.MaxMemoryBytes)
}

// HostLoads returns the load of every host in hs.
func (s *Service) HostLoads(ctx context.Context, hs []store.Host) (map[string]HostLoad, error) {
	use, err := s.store.HostUsages(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]HostLoad, len(hs))
	for i := range hs {
		u := use[hs[i].ID]
		out[hs[i].ID] = HostLoad{Capacity: s.Capacity(&hs[i]), Reserved: Resources{CPUMillis: u.CPUMillis, MemoryBytes: u.MemoryBytes}, Tenants: u.Tenants}
	}
	return out, nil
}

func (s *Service) candidates(ctx context.Context) ([]Candidate, error) {
	hs, err := s.fleet.ListHosts(ctx)
	if err != nil {
		return nil, err
	}
	use, err := s.store.HostUsages(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Candidate, 0, len(hs))
	for i := range hs {
		h := &hs[i]
		u := use[h.ID]
		out = append(out, Candidate{
			ID: h.ID, Online: h.Status == store.HostOnline, Runtimes: h.Capabilities.Runtimes, Labels: h.Labels,
			Box: h.Kind == store.HostBox, Pool: h.Pool,
			Capacity: s.Capacity(h), Reserved: Resources{CPUMillis: u.CPUMillis, MemoryBytes: u.MemoryBytes},
			MemUsedBytes: int64(min(h.Metrics.MemUsedBytes, 1<<62)), Tenants: u.Tenants,
		})
	}
	return out, nil
}

func (s *Service) freePort(ctx context.Context, hostID string) (int, error) {
	ts, err := s.store.ListHostTenants(ctx, hostID)
	if err != nil {
		return 0, err
	}
	used := make([]int, 0, len(ts))
	for _, t := range ts {
		used = append(used, t.Port)
	}
	return PickPort(used, s.opts.PortBase, s.opts.PortMax)
}
