package tunnel

import (
	"context"
	"log/slog"
	"time"

	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// RotateTimeout is how long a host has to answer a key rotation.
const RotateTimeout = 10 * time.Second

// Keys rotates hosts' WireGuard keys when an admin asks (e.g. after a
// suspected leak). It needs no hub, so it works with tunnels disabled too:
// the host then has its new key when a hub comes.
type Keys struct {
	fleet *fleet.Fleet
	st    *store.Store
	log   *slog.Logger
}

// NewKeys returns the key rotation of the fleet's hosts; log nil is
// slog.Default().
func NewKeys(f *fleet.Fleet, st *store.Store, log *slog.Logger) *Keys {
	if log == nil {
		log = slog.Default()
	}
	return &Keys{fleet: f, st: st, log: log.With("component", "tunnel")}
}

// Rotate asks a host for a new WireGuard key and returns its new public
// key. The host registers again with it, and that registration replaces its
// hub peer (Service); other peers are untouched. An unknown host is
// fleet.ErrHostNotFound; the others are the fleet's command errors.
func (k *Keys) Rotate(ctx context.Context, hostID, actor string) (string, error) {
	if _, err := k.fleet.GetHost(ctx, hostID); err != nil {
		return "", err
	}
	r, err := k.fleet.Command(ctx, hostID, &proto.Command{Op: proto.OpRotateKey}, RotateTimeout)
	if err != nil {
		return "", err
	}
	if r.PublicKey == "" {
		return "", fleet.ErrHostError.Withf("host %s: no new key in its answer", hostID)
	}
	if err := k.st.AddAudit(ctx, &store.AuditEvent{Actor: actor, Action: "host.rotate-key", Target: hostID,
		Detail: "new WireGuard public key " + r.PublicKey}); err != nil {
		k.log.Error("audit of a key rotation failed", "device", hostID, "err", err)
	}
	k.log.Info("host WireGuard key rotated", "device", hostID, "by", actor)
	return r.PublicKey, nil
}
