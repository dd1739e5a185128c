// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2023 mochi-mqtt, mochi-co
// SPDX-FileContributor: clawfleet (fork, see README.md)

package mqtt

import (
	"errors"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Pointer fan-outs for the hooks called on a connection's read and write
// path (clawfleet fork). packets.Packet is about 800 bytes; the exported
// Hooks methods take and return it by value, so each of their frames holds
// two or three copies, and every frame above them that passes the packet on
// holds another. These variants take *packets.Packet, ask Provides first
// and only then call the by-value method from a separate non-inlined
// function: a connection whose hooks do not provide an event never has those
// copies on its stack. The Hook interface itself is unchanged; a hook still
// receives and returns its own copy, and the results are those of the
// exported methods.

// onPacketRead is Hooks.OnPacketRead on *pk: on a rejection *pk is the packet
// as read, as with the exported method.
func (h *Hooks) onPacketRead(cl *Client, pk *packets.Packet) error {
	if !h.Provides(OnPacketRead) {
		return nil
	}
	return h.onPacketReadSlow(cl, pk)
}

//go:noinline
func (h *Hooks) onPacketReadSlow(cl *Client, pk *packets.Packet) error {
	pkx, err := h.OnPacketRead(cl, *pk)
	*pk = pkx
	return err
}

// onPacketEncode returns pk, or a new packet if a hook changed it (the
// caller's packet is left as it was, as with the exported method).
func (h *Hooks) onPacketEncode(cl *Client, pk *packets.Packet) *packets.Packet {
	if !h.Provides(OnPacketEncode) {
		return pk
	}
	return h.onPacketEncodeSlow(cl, pk)
}

//go:noinline
func (h *Hooks) onPacketEncodeSlow(cl *Client, pk *packets.Packet) *packets.Packet {
	out := new(packets.Packet)
	*out = h.OnPacketEncode(cl, *pk)
	return out
}

func (h *Hooks) onPacketProcessed(cl *Client, pk *packets.Packet, err error) {
	if h.Provides(OnPacketProcessed) {
		h.onPacketProcessedSlow(cl, pk, err)
	}
}

//go:noinline
func (h *Hooks) onPacketProcessedSlow(cl *Client, pk *packets.Packet, err error) {
	h.OnPacketProcessed(cl, *pk, err)
}

func (h *Hooks) onPacketSent(cl *Client, pk *packets.Packet, b []byte) {
	if h.Provides(OnPacketSent) {
		h.onPacketSentSlow(cl, pk, b)
	}
}

//go:noinline
func (h *Hooks) onPacketSentSlow(cl *Client, pk *packets.Packet, b []byte) {
	h.OnPacketSent(cl, *pk, b)
}

// onPublish is Hooks.OnPublish on *pk: on success *pk is what the last hook
// returned, on an error it is the packet as it came in. It does not go
// through the exported method, whose frame alone is 4 KiB: each hook is
// called from callOnPublish, and the incoming packet is kept aside only when
// more than one hook provides OnPublish (with one, a failing hook has not
// changed *pk).
func (h *Hooks) onPublish(cl *Client, pk *packets.Packet) error {
	hooks := h.GetAll()
	var orig *packets.Packet
	first := true
	for i, hook := range hooks {
		if !hook.Provides(OnPublish) {
			continue
		}
		if first && anyProvides(hooks[i+1:], OnPublish) {
			orig = new(packets.Packet)
			*orig = *pk
		}
		first = false
		if err := callOnPublish(hook, cl, pk); err != nil {
			h.logPublishError(hook, err, pk)
			if orig != nil {
				*pk = *orig
			}
			return err
		}
	}
	return nil
}

func anyProvides(hooks []Hook, b byte) bool {
	for _, hook := range hooks {
		if hook.Provides(b) {
			return true
		}
	}
	return false
}

// callOnPublish holds the by-value copies of one hook call.
//
//go:noinline
func callOnPublish(hook Hook, cl *Client, pk *packets.Packet) error {
	npk, err := hook.OnPublish(cl, *pk)
	if err == nil {
		*pk = npk
	}
	return err
}

//go:noinline
func (h *Hooks) logPublishError(hook Hook, err error, pk *packets.Packet) {
	if errors.Is(err, packets.ErrRejectPacket) {
		h.Log.Debug("publish packet rejected",
			"error", err,
			"hook", hook.ID(),
			"packet", *pk)
		return
	} else if errors.Is(err, packets.CodeSuccessIgnore) {
		return
	}
	h.Log.Error("publish packet error",
		"error", err,
		"hook", hook.ID(),
		"packet", *pk)
}

func (h *Hooks) onPublished(cl *Client, pk *packets.Packet) {
	if h.Provides(OnPublished) {
		h.onPublishedSlow(cl, pk)
	}
}

//go:noinline
func (h *Hooks) onPublishedSlow(cl *Client, pk *packets.Packet) { h.OnPublished(cl, *pk) }

func (h *Hooks) onPublishDropped(cl *Client, pk *packets.Packet) {
	if h.Provides(OnPublishDropped) {
		h.onPublishDroppedSlow(cl, pk)
	}
}

//go:noinline
func (h *Hooks) onPublishDroppedSlow(cl *Client, pk *packets.Packet) { h.OnPublishDropped(cl, *pk) }

func (h *Hooks) onRetainMessage(cl *Client, pk *packets.Packet, r int64) {
	if h.Provides(OnRetainMessage) {
		h.onRetainMessageSlow(cl, pk, r)
	}
}

//go:noinline
func (h *Hooks) onRetainMessageSlow(cl *Client, pk *packets.Packet, r int64) {
	h.OnRetainMessage(cl, *pk, r)
}

func (h *Hooks) onQosPublish(cl *Client, pk *packets.Packet, sent int64, resends int) {
	if h.Provides(OnQosPublish) {
		h.onQosPublishSlow(cl, pk, sent, resends)
	}
}

//go:noinline
func (h *Hooks) onQosPublishSlow(cl *Client, pk *packets.Packet, sent int64, resends int) {
	h.OnQosPublish(cl, *pk, sent, resends)
}

func (h *Hooks) onQosComplete(cl *Client, pk *packets.Packet) {
	if h.Provides(OnQosComplete) {
		h.onQosCompleteSlow(cl, pk)
	}
}

//go:noinline
func (h *Hooks) onQosCompleteSlow(cl *Client, pk *packets.Packet) { h.OnQosComplete(cl, *pk) }

func (h *Hooks) onQosDropped(cl *Client, pk *packets.Packet) {
	if h.Provides(OnQosDropped) {
		h.onQosDroppedSlow(cl, pk)
	}
}

//go:noinline
func (h *Hooks) onQosDroppedSlow(cl *Client, pk *packets.Packet) { h.OnQosDropped(cl, *pk) }

func (h *Hooks) onPacketIDExhausted(cl *Client, pk *packets.Packet) {
	if h.Provides(OnPacketIDExhausted) {
		h.onPacketIDExhaustedSlow(cl, pk)
	}
}

//go:noinline
func (h *Hooks) onPacketIDExhaustedSlow(cl *Client, pk *packets.Packet) {
	h.OnPacketIDExhausted(cl, *pk)
}

func (h *Hooks) onSelectSubscribers(subs *Subscribers, pk *packets.Packet) *Subscribers {
	if !h.Provides(OnSelectSubscribers) {
		return subs
	}
	return h.onSelectSubscribersSlow(subs, pk)
}

//go:noinline
func (h *Hooks) onSelectSubscribersSlow(subs *Subscribers, pk *packets.Packet) *Subscribers {
	return h.OnSelectSubscribers(subs, *pk)
}
