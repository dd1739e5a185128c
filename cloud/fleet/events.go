package fleet

import (
	"context"
	"encoding/json"
	"time"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Event is something that happened to a host, handed to every subscriber
// (Subscribe). The fleet decodes and validates each device message once, so
// subscribers get typed values and never parse a payload. The set is closed:
// Registered, CredentialsShared (shared.go), Offline, Deleted, TenantReport,
// Reply and FactoryReset.
type Event interface {
	// Host is the ID of the host the event is about.
	Host() string
	isEvent()
}

// Registered follows a stored registration: the host is online and its
// facts (WireGuard key included) are in the store.
type Registered struct{ HostID string }

// Offline follows a host going offline: its Last Will or clean shutdown, or
// missed heartbeats.
type Offline struct{ HostID string }

// Deleted follows an admin's deletion of a host; its credentials no longer
// work. It is delivered in the deleting request's goroutine.
type Deleted struct{ HostID string }

// TenantReport is a host's report of its tenants (up/event of type
// proto.EventTenants).
type TenantReport struct {
	HostID string
	Report *proto.TenantReport
}

// Reply is a host's answer on up/reply that answers no pending Command:
// the tenant service's desired-state acknowledgements, and replies nobody
// waits for (any more).
type Reply struct {
	HostID string
	Reply  *proto.Reply
}

// FactoryReset is a box's word that it was factory reset on the box itself
// (up/event of type proto.EventFactoryReset): it has wiped its tenants and
// asks the cloud to forget its owner.
type FactoryReset struct {
	HostID string
	Event  *proto.FactoryResetEvent
}

func (e FactoryReset) Host() string { return e.HostID }
func (FactoryReset) isEvent()       {}

func (e Registered) Host() string   { return e.HostID }
func (e Offline) Host() string      { return e.HostID }
func (e Deleted) Host() string      { return e.HostID }
func (e TenantReport) Host() string { return e.HostID }
func (e Reply) Host() string        { return e.HostID }

func (Registered) isEvent()   {}
func (Offline) isEvent()      {}
func (Deleted) isEvent()      {}
func (TenantReport) isEvent() {}
func (Reply) isEvent()        {}

// Handler receives the fleet's events. It runs in the fleet's ingest
// goroutine (Deleted: in the deleting request's) and must not block.
type Handler func(Event)

// InBackground runs f in its own goroutine with a context that ends after
// timeout: a Handler's work that may block (a Handler itself must not).
func InBackground(timeout time.Duration, f func(ctx context.Context)) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		f(ctx)
	}()
}

// Subscribe adds h; every handler sees every event, in the order they were
// added. Call it before Run.
func (f *Fleet) Subscribe(h Handler) {
	var next []Handler
	if cur := f.hooks.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, h)
	f.hooks.Store(&next)
}

func (f *Fleet) emit(e Event) {
	if hs := f.hooks.Load(); hs != nil {
		for _, h := range *hs {
			h(e)
		}
	}
}

// handleEvent decodes an up/event. Events of a type no service consumes
// are ignored, whatever else is wrong with them.
func (f *Fleet) handleEvent(msg message) {
	var head struct {
		Type string `json:"type"`
	}
	err := json.Unmarshal(msg.payload, &head)
	if err == nil && head.Type == proto.EventFactoryReset {
		ev, err := proto.DecodeFactoryReset(msg.payload)
		if err != nil {
			f.Refuse(msg.deviceID, msg.kind, refusalReason(err, "invalid"), err)
			return
		}
		f.emit(FactoryReset{HostID: msg.deviceID, Event: ev})
		return
	}
	if err == nil && head.Type != proto.EventTenants {
		return
	}
	rep, err := proto.DecodeTenantReport(msg.payload)
	if err != nil {
		f.Refuse(msg.deviceID, msg.kind, refusalReason(err, "invalid"), err)
		return
	}
	f.emit(TenantReport{HostID: msg.deviceID, Report: rep})
}

func (f *Fleet) handleReply(msg message) {
	r, err := proto.DecodeReply(msg.payload)
	if err != nil {
		f.Refuse(msg.deviceID, msg.kind, refusalReason(err, "invalid"), err)
		return
	}
	if f.answer(msg.deviceID, r) {
		return
	}
	f.emit(Reply{HostID: msg.deviceID, Reply: r})
}

// Refuse counts and logs a tenant report or reply that was refused, by
// reason: the fleet's own decoding reasons (proto.Reason), or a subscriber's
// (wrong_host, unknown_reply, queue_full, invalid). They share one metric,
// clawfleet_tenant_messages_refused_total (named when the tenant service
// decoded these messages itself; dashboards know it by that name).
func (f *Fleet) Refuse(hostID, kind, reason string, err error) {
	f.m.tenantRefused.WithLabelValues(reason).Inc()
	f.log.Warn("device message refused", "device", hostID, "kind", kind, "reason", reason, "err", err)
}

// refusalReason is proto.Reason, or otherwise when err is not a decoding
// error.
func refusalReason(err error, otherwise string) string {
	if r := proto.Reason(err); r != "" {
		return r
	}
	return otherwise
}
