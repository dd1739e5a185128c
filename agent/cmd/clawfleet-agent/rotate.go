package main

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

// keyTunnel is what key rotation needs from the tunnel.
type keyTunnel interface {
	RotateKey() (string, error)
}

// keyLink is what key rotation needs from the MQTT link.
type keyLink interface {
	Reregister(ctx context.Context) error
	Publish(ctx context.Context, kind string, qos byte, payload []byte) error
	Connected() bool
}

// keyRotator replaces the host's WireGuard key: when the cloud asks
// (rotate-key command, admin-forced) and when the key is older than maxAge
// (agent-initiated). After a new key the agent registers again, which makes
// the cloud replace its hub peer; other hosts' peers are not touched.
type keyRotator struct {
	tun     keyTunnel
	link    keyLink
	keyFile string
	maxAge  time.Duration // 0 = never rotate by age
	log     *slog.Logger
	mu      sync.Mutex // one rotation at a time
}

// rotate makes a new key and registers it; it returns the new public key.
func (k *keyRotator) rotate(ctx context.Context, why string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	pub, err := k.tun.RotateKey()
	if err != nil {
		return "", err
	}
	k.log.Info("WireGuard key rotated", "why", why, "publicKey", pub)
	if err := k.link.Reregister(ctx); err != nil {
		// The next (re)connect registers the new key anyway.
		k.log.Warn("registering the new WireGuard key failed; it is sent on the next connect", "err", err)
	}
	return pub, nil
}

// handleCommand answers rotate-key commands and passes every other command
// to next.
func (k *keyRotator) handleCommand(next func(context.Context, []byte)) func(context.Context, []byte) {
	return func(ctx context.Context, payload []byte) {
		c, err := proto.DecodeCommand(payload)
		if err != nil || c.Op != proto.OpRotateKey {
			next(ctx, payload)
			return
		}
		r := proto.Reply{ID: c.ID, OK: true}
		if r.PublicKey, err = k.rotate(ctx, "asked by the cloud"); err != nil {
			r.OK, r.Error = false, "rotate WireGuard key: "+err.Error()
		}
		if err := k.link.Publish(ctx, proto.KindReply, 1, proto.MustEncode(&r)); err != nil {
			k.log.Warn("rotate-key reply not sent", "err", err)
		}
	}
}

// run rotates the key whenever it is older than maxAge (checked at start
// and hourly), while the link is up so the cloud learns the new key at once.
func (k *keyRotator) run(ctx context.Context, every time.Duration) {
	if k.maxAge <= 0 {
		return
	}
	for {
		wait := every
		if st, err := os.Stat(k.keyFile); err == nil && time.Since(st.ModTime()) > k.maxAge {
			if !k.link.Connected() {
				wait = min(every, 2*time.Second) // due: rotate as soon as the cloud can hear of it
			} else if _, err := k.rotate(ctx, "older than "+k.maxAge.String()); err != nil {
				k.log.Warn("WireGuard key rotation failed; retrying later", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
