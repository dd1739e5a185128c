package tenant

import (
	"context"
	"fmt"
	"time"

	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

type waiter struct {
	host string
	ch   chan *proto.Reply
}

// RotateHostKey asks a host for a new WireGuard key (admin-forced
// rotation) and returns the new public key. The host registers again with
// it, which replaces its hub peer; other peers are untouched.
func (s *Service) RotateHostKey(ctx context.Context, hostID, actor string) (string, error) {
	r, err := s.command(ctx, hostID, &proto.Command{Op: proto.OpRotateKey}, s.opts.LogsTimeout)
	if err != nil {
		return "", err
	}
	if r.PublicKey == "" {
		return "", fmt.Errorf("%w: host %s: no new key in its answer", ErrHostError, hostID)
	}
	if err := s.store.AddAudit(ctx, &store.AuditEvent{Actor: actor, Action: "host.rotate-key", Target: hostID,
		Detail: "new WireGuard public key " + r.PublicKey}); err != nil {
		s.log.Error("audit of a key rotation failed", "device", hostID, "err", err)
	}
	s.log.Info("host WireGuard key rotated", "device", hostID, "by", actor)
	return r.PublicKey, nil
}

// command sends c to an online host and waits for its reply.
func (s *Service) command(ctx context.Context, hostID string, c *proto.Command, timeout time.Duration) (*proto.Reply, error) {
	if !s.fleet.HostOnline(hostID) { // presence is in memory: no store read per command
		s.m.commands.WithLabelValues(c.Op, "offline").Inc()
		return nil, fmt.Errorf("%w: host %s is offline", ErrHostOffline, hostID)
	}
	c.ID = "cmd_" + randomID(10)
	w := &waiter{host: hostID, ch: make(chan *proto.Reply, 1)}
	s.wmu.Lock()
	s.waiters[c.ID] = w
	s.wmu.Unlock()
	defer func() {
		s.wmu.Lock()
		delete(s.waiters, c.ID)
		s.wmu.Unlock()
	}()
	if err := s.bus.Publish(proto.DownTopic(hostID, proto.KindCmd), proto.MustEncode(c), false); err != nil {
		s.m.commands.WithLabelValues(c.Op, "error").Inc()
		return nil, fmt.Errorf("publish %s command: %w", c.Op, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-w.ch:
		if !r.OK {
			s.m.commands.WithLabelValues(c.Op, "error").Inc()
			return nil, fmt.Errorf("%w: host %s: %s", ErrHostError, hostID, r.Error)
		}
		s.m.commands.WithLabelValues(c.Op, "ok").Inc()
		return r, nil
	case <-timer.C:
		s.m.commands.WithLabelValues(c.Op, "timeout").Inc()
		return nil, fmt.Errorf("%w: host did not answer within %s", ErrHostTimeout, timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
