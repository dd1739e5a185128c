package fleet

import (
	"context"
	"fmt"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Failures of a command to a host (Command), as API clients see them.
var (
	ErrHostOffline = apperr.New(apperr.Unavailable, "host_offline", "host offline")
	ErrHostTimeout = apperr.New(apperr.Timeout, "host_timeout", "host timeout")
	ErrHostError   = apperr.New(apperr.Upstream, "host_error", "host error")
)

// waiter is a command waiting for its reply.
type waiter struct {
	host string
	ch   chan *proto.Reply
}

// Command sends c to an online host on down/cmd and waits up to timeout for
// the reply carrying its ID (which Command sets). A reply with ok false is
// ErrHostError with the host's message, returned with the reply (its Code); an offline host is ErrHostOffline,
// without asking; no answer in time is ErrHostTimeout. Results are counted in
// clawfleet_tenant_commands_total by op.
func (f *Fleet) Command(ctx context.Context, hostID string, c *proto.Command, timeout time.Duration) (*proto.Reply, error) {
	if !f.HostOnline(hostID) { // presence is in memory: no store read per command
		f.CountCommand(c.Op, "offline")
		return nil, ErrHostOffline.Withf("host %s is offline", hostID)
	}
	c.ID = "cmd_" + creds.NewDeviceID()[len(proto.DeviceIDPrefix):]
	w := &waiter{host: hostID, ch: make(chan *proto.Reply, 1)}
	f.wmu.Lock()
	f.waiters[c.ID] = w
	f.wmu.Unlock()
	defer func() {
		f.wmu.Lock()
		delete(f.waiters, c.ID)
		f.wmu.Unlock()
	}()
	if err := f.bus.Publish(proto.DownTopic(hostID, proto.KindCmd), proto.MustEncode(c), false); err != nil {
		f.CountCommand(c.Op, "error")
		return nil, fmt.Errorf("publish %s command: %w", c.Op, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-w.ch:
		if !r.OK {
			f.CountCommand(c.Op, "error")
			return r, ErrHostError.Withf("host %s: %s", hostID, r.Error)
		}
		f.CountCommand(c.Op, "ok")
		return r, nil
	case <-timer.C:
		f.CountCommand(c.Op, "timeout")
		return nil, ErrHostTimeout.Withf("host did not answer within %s", timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// answer hands r to the command of host waiting for it and reports whether
// there was one. A duplicate (QoS 1 redelivery) is dropped.
func (f *Fleet) answer(host string, r *proto.Reply) bool {
	f.wmu.Lock()
	w := f.waiters[r.ID]
	f.wmu.Unlock()
	if w == nil || w.host != host {
		return false
	}
	select {
	case w.ch <- r:
	default:
	}
	return true
}

// CountCommand counts a message to hosts by op and result in
// clawfleet_tenant_commands_total, where Command counts its own; the tenant
// service counts its desired states here (op "desired": published, acked,
// refused, timeout, error).
func (f *Fleet) CountCommand(op, result string) {
	f.m.commands.WithLabelValues(op, result).Inc()
}
