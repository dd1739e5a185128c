package tenant

import (
	"context"

	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// RotateHostKey asks a host for a new WireGuard key (admin-forced
// rotation) and returns the new public key. The host registers again with
// it, which replaces its hub peer; other peers are untouched.
func (s *Service) RotateHostKey(ctx context.Context, hostID, actor string) (string, error) {
	r, err := s.fleet.Command(ctx, hostID, &proto.Command{Op: proto.OpRotateKey}, s.opts.LogsTimeout)
	if err != nil {
		return "", err
	}
	if r.PublicKey == "" {
		return "", fleet.ErrHostError.Withf("host %s: no new key in its answer", hostID)
	}
	if err := s.store.AddAudit(ctx, &store.AuditEvent{Actor: actor, Action: "host.rotate-key", Target: hostID,
		Detail: "new WireGuard public key " + r.PublicKey}); err != nil {
		s.log.Error("audit of a key rotation failed", "device", hostID, "err", err)
	}
	s.log.Info("host WireGuard key rotated", "device", hostID, "by", actor)
	return r.PublicKey, nil
}
