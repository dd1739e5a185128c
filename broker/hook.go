package broker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

// hook is the broker's single mochi hook: authentication, ACL, session
// bookkeeping, Last Will policing and metrics. It is the only hook providing
// OnConnectAuthenticate and OnACLCheck, so mochi denies whatever it denies.
type hook struct {
	mqtt.HookBase
	b *Broker
}

func (h *hook) ID() string { return "clawfleet" }

func (h *hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck,
		mqtt.OnSessionEstablish, mqtt.OnSessionEstablished, mqtt.OnDisconnect,
		mqtt.OnWill, mqtt.OnPublishDropped, mqtt.OnPublish:
		return true
	}
	return false
}

// OnPublish clears the retain flag of device publishes: only the cloud
// retains messages (desired state, config); a device could otherwise park
// payloads in the broker's memory for good.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if !cl.Net.Inline && pk.FixedHeader.Retain {
		pk.FixedHeader.Retain = false
		h.b.m.retainStripped.Inc()
	}
	return pk, nil
}

// OnConnect runs before authentication. A client that asks for no keepalive
// gets one imposed (announced to MQTT 5 clients), so that a dead connection
// without a FIN is eventually noticed and its Last Will published.
func (h *hook) OnConnect(cl *mqtt.Client, _ packets.Packet) error {
	if cl.State.Keepalive == 0 {
		cl.State.Keepalive = idleKeepalive
		cl.State.ServerKeepalive = true
	}
	return nil
}

// OnConnectAuthenticate admits a device: well-formed credentials, client ID
// equal to the username, an allowed Last Will topic, accepted by the
// Authenticator, then within the per-client rate limit. A refusal makes mochi
// answer CONNACK "not authorized" (MQTT 3.1.1 return code 5; MQTT 5 reason
// 0x86) and close the connection.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	b := h.b
	if b.closed.Load() {
		return false
	}
	user := string(pk.Connect.Username)
	remoteIP := hostOf(cl.Net.Remote)
	refuse := func(reason, detail string) bool {
		b.m.authFailures.WithLabelValues(reason).Inc()
		b.logSometimes(slog.LevelWarn, "mqtt connection refused", "reason", reason, "detail", detail,
			"device", truncate(user, 80), "client_id", truncate(cl.ID, 80), "remote_ip", remoteIP)
		return false
	}

	if !pk.Connect.UsernameFlag || proto.ValidateDeviceID(user) != nil {
		return refuse(reasonMalformed, "username is not a device ID")
	}
	if !pk.Connect.PasswordFlag || len(pk.Connect.Password) == 0 {
		return refuse(reasonMalformed, "empty password")
	}
	if len(pk.Connect.Password) > maxSecretLen {
		return refuse(reasonMalformed, "password too long")
	}
	if cl.ID != user {
		return refuse(reasonClientIDMismatch, "client ID differs from username")
	}
	// Mochi never checks the Will topic against the ACL: without this check a
	// device could publish, as its Will, on another device's topics.
	if pk.Connect.WillFlag && !mayPublish(user, pk.Connect.WillTopic) {
		b.m.aclDenials.WithLabelValues(actionPublish).Inc()
		return refuse(reasonMalformed, "will topic is not one of the device's up/ topics")
	}
	if !h.authenticate(user, string(pk.Connect.Password)) {
		return refuse(reasonBadCredentials, "")
	}
	// The per-client limit is charged only after the secret checked out:
	// device IDs are not secret, and charging failures would let anyone who
	// knows one lock that device out. Guessing is bounded by the per-IP limit
	// at accept time (and secrets are 256 random bits). What this limit stops
	// is a device that reconnects in a loop, e.g. two boxes flashed with the
	// same credentials taking the session from each other.
	if !b.clientLimiter.allow(user, time.Now()) {
		b.m.rateLimited.WithLabelValues(scopeClient).Inc()
		return refuse(reasonRateLimited, "too many connections for this client ID")
	}
	return true
}

func (h *hook) authenticate(deviceID, secret string) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			h.b.log.Error("mqtt authenticator panicked", "device", deviceID, "panic", r)
			ok = false
		}
	}()
	ctx, cancel := context.WithTimeout(h.b.ctx, authTimeout)
	defer cancel()
	return h.b.auth.Authenticate(ctx, deviceID, secret)
}

// OnACLCheck is called for device publishes (write), subscriptions (read,
// with the filter) and each delivery to a device (read, with the topic name).
// The inline client never reaches the ACL for its own publishes and
// subscriptions; it is allowed here anyway for completeness.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	var ok bool
	action := actionSubscribe
	if write {
		action = actionPublish
		ok = mayPublish(cl.ID, topic)
	} else {
		ok = maySubscribe(cl.ID, topic)
	}
	if !ok {
		h.b.m.aclDenials.WithLabelValues(action).Inc()
		h.b.logSometimes(slog.LevelWarn, "mqtt acl denied", "action", action, "device", cl.ID,
			"topic", truncate(topic, 200), "remote_ip", hostOf(cl.Net.Remote))
	}
	return ok
}

// OnSessionEstablish runs after authentication and before mochi takes over an
// existing session with the same client ID: record the new connection as the
// device's latest, so that the old one's Will and disconnect are recognised
// as stale.
func (h *hook) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	if cl.Net.Inline {
		return
	}
	sh := h.b.shardFor(cl.ID)
	sh.mu.Lock()
	sh.latest[cl.ID] = cl
	sh.mu.Unlock()
}

// OnSessionEstablished runs after the CONNACK.
func (h *hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	if cl.Net.Inline {
		return
	}
	b := h.b
	if b.closed.Load() {
		cl.Stop(packets.ErrServerShuttingDown)
		return
	}
	sh := b.shardFor(cl.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.latest[cl.ID] != cl {
		return // already superseded by a newer connection
	}
	if _, had := sh.connected[cl.ID]; !had {
		b.m.connected.Set(float64(b.connectedN.Add(1)))
	}
	sh.connected[cl.ID] = cl
	b.log.Debug("mqtt device connected", "device", cl.ID, "remote_ip", hostOf(cl.Net.Remote), "protocol", cl.Properties.ProtocolVersion)
	if b.opts.OnConnect != nil {
		b.callback("OnConnect", b.opts.OnConnect, cl.ID)
	}
}

// OnDisconnect runs when a device connection that had been established ends.
func (h *hook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	if cl.Net.Inline {
		return
	}
	b := h.b
	if errors.Is(err, packets.ErrPacketTooLarge) {
		b.m.oversize.Inc()
		b.logSometimes(slog.LevelWarn, "mqtt device sent an oversized packet; disconnected", "device", cl.ID,
			"remote_ip", hostOf(cl.Net.Remote), "max_packet_size", b.opts.MaxPacketSize)
	}
	sh := b.shardFor(cl.ID)
	sh.mu.Lock()
	latest := sh.latest[cl.ID] == cl
	wasConnected := sh.connected[cl.ID] == cl
	if wasConnected {
		delete(sh.connected, cl.ID)
		b.m.connected.Set(float64(b.connectedN.Add(-1)))
	}
	if latest {
		delete(sh.latest, cl.ID)
		b.log.Debug("mqtt device disconnected", "device", cl.ID, "error", err)
		if wasConnected && b.opts.OnDisconnect != nil {
			b.callback("OnDisconnect", b.opts.OnDisconnect, cl.ID)
		}
	}
	sh.mu.Unlock()
	if b.testHookDisconnect != nil {
		b.testHookDisconnect(cl.ID, latest)
	}
}

// OnWill vets a Last Will about to be published. mochi publishes a Will
// without any ACL check (the topic was checked at CONNECT) and also for a
// connection closed by a session takeover: a stale "offline" from the old
// connection could then arrive after the new connection's "online". Such a
// Will is dropped (an empty topic matches no subscriber and is not retained).
func (h *hook) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	if cl.Net.Inline {
		return will, nil
	}
	sh := h.b.shardFor(cl.ID)
	sh.mu.Lock()
	l, ok := sh.latest[cl.ID]
	sh.mu.Unlock()
	if ok && l != cl {
		h.b.m.willsSuppressed.Inc()
		h.b.log.Debug("mqtt will of a taken-over session dropped", "device", cl.ID, "topic", will.TopicName)
		return mqtt.Will{}, nil
	}
	if !mayPublish(cl.ID, will.TopicName) { // defence in depth; refused at CONNECT already
		h.b.m.aclDenials.WithLabelValues(actionPublish).Inc()
		return mqtt.Will{}, nil
	}
	return will, nil
}

// OnPublishDropped: a device's outbound queue was full.
func (h *hook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	h.b.m.publishDropped.Inc()
	h.b.logSometimes(slog.LevelWarn, "mqtt message to device dropped: outbound queue full", "device", cl.ID, "topic", pk.TopicName)
}

// callback runs a user callback, recovering a panic.
func (b *Broker) callback(name string, f func(string), deviceID string) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("mqtt broker callback panicked", "callback", name, "device", deviceID, "panic", r)
		}
	}()
	f(deviceID)
}
