package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/agent/pairing"
	"github.com/clawfleet/clawfleet/pkg/atomicfile"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Files of a box's claim in the state dir.
const (
	// ResetFile asks for a factory reset: `clawfleet-agent factory-reset`
	// writes it (the hook for a reset button), the agent acts on it within
	// resetPoll and removes it.
	ResetFile = "factory-reset"
	// resetPendingFile says a reset was done here and the cloud has not yet
	// answered that the box is unclaimed.
	resetPendingFile = "factory-reset.pending"
	// claimCodeFile keeps a claim code the cloud issued after the
	// factory's (a reprinted label).
	claimCodeFile = "claim-code"
)

// resetPoll is how often the agent looks for ResetFile and, while a reset
// waits for the cloud, tells the cloud again.
const resetPoll = 2 * time.Second

// wiper removes every tenant and its data (reconcile.Reconciler).
type wiper interface {
	Wipe(ctx context.Context) error
	Hold(ctx context.Context, held bool)
}

// publisher sends on an up/ topic (link.Link).
type publisher interface {
	Publish(ctx context.Context, kind string, qos byte, payload []byte) error
	Connected() bool
}

// boxClaim is a box's side of its claim: what the cloud's down/claim says
// (shown on the local page, reported in heartbeats), the claim code the box
// shows, and factory resets, asked for by the cloud (a command) or on the
// box (ResetFile).
type boxClaim struct {
	stateDir string
	isBox    bool // the credentials carry a claim code: a factory box
	rec      wiper
	pub      publisher
	log      *slog.Logger

	mu      sync.Mutex
	claimed bool
	pending bool // a reset done here waits for the cloud
	pageP   *pairing.Pairing
	code    string // a reissued claim code, "" for the credentials'
}

func newBoxClaim(stateDir string, isBox bool, rec wiper, pub publisher, log *slog.Logger) *boxClaim {
	b := &boxClaim{stateDir: stateDir, isBox: isBox, rec: rec, pub: pub, log: log.With("component", "claim")}
	if _, err := os.Stat(b.path(resetPendingFile)); err == nil {
		b.pending = true
		rec.Hold(context.Background(), true)
	}
	if raw, err := os.ReadFile(b.path(claimCodeFile)); err == nil {
		if code := strings.TrimSpace(string(raw)); proto.ValidateClaimCode(code) == nil {
			b.code = code
		}
	}
	return b
}

func (b *boxClaim) path(name string) string { return filepath.Join(b.stateDir, name) }

// claimCode is the code the box shows: a reissued one, else the
// credentials'.
func (b *boxClaim) claimCode(fromCreds string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.code != "" {
		return b.code
	}
	return fromCreds
}

// setPairing hands over the local page once it runs.
func (b *boxClaim) setPairing(p *pairing.Pairing) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pageP = p
	p.SetClaimed(b.claimed && !b.pending)
}

// state is the heartbeat's claim state ("" on hosts that are not boxes).
func (b *boxClaim) state() string {
	if !b.isBox {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.claimed && !b.pending {
		return proto.ClaimStateClaimed
	}
	return proto.ClaimStateUnclaimed
}

// handle takes the cloud's down/claim.
func (b *boxClaim) handle(ctx context.Context, payload []byte) {
	if len(payload) == 0 {
		return // cleared: the host was deleted
	}
	m, err := proto.DecodeClaim(payload)
	if err != nil {
		b.log.Warn("claim message refused", "err", err)
		return
	}
	if m.ClaimCode != "" {
		if err := atomicfile.WriteFile(b.path(claimCodeFile), []byte(m.ClaimCode+"\n"), 0o600); err != nil {
			b.log.Error("the reissued claim code was not saved", "err", err)
		}
	}
	b.mu.Lock()
	if m.ClaimCode != "" {
		b.code = m.ClaimCode
		if b.pageP != nil {
			if err := b.pageP.SetClaimCode(m.ClaimCode); err != nil {
				b.log.Warn("local page keeps the old claim code", "err", err)
			}
		}
	}
	release := false
	if b.pending && !m.Claimed {
		// The cloud has the reset: the box is unclaimed on both sides.
		if err := os.Remove(b.path(resetPendingFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			b.log.Warn("reset marker not removed", "err", err)
		}
		b.pending, release = false, true
	}
	b.claimed = m.Claimed
	shown := b.claimed && !b.pending
	if b.pageP != nil {
		b.pageP.SetClaimed(shown)
	}
	b.mu.Unlock()
	if release {
		b.log.Info("the cloud confirmed the factory reset")
		b.rec.Hold(ctx, false)
	}
	if m.Claimed {
		b.log.Info("box claimed", "owner", m.Owner, "team", m.TeamID, "shown", shown)
	} else {
		b.log.Info("box unclaimed")
	}
}

// handleCommand answers OpFactoryReset and passes every other command on.
func (b *boxClaim) handleCommand(next func(context.Context, []byte)) func(context.Context, []byte) {
	return func(ctx context.Context, payload []byte) {
		var head struct {
			ID string `json:"id"`
			Op string `json:"op"`
		}
		if json.Unmarshal(payload, &head) != nil || head.Op != proto.OpFactoryReset {
			next(ctx, payload)
			return
		}
		c, err := proto.DecodeCommand(payload)
		if err != nil {
			next(ctx, payload) // the reconciler answers refused commands
			return
		}
		rep := proto.Reply{ID: c.ID, OK: true}
		if err := b.rec.Wipe(ctx); err != nil {
			rep = proto.Reply{ID: c.ID, Error: fmt.Sprintf("factory reset incomplete: %v", err)}
		}
		b.log.Warn("factory reset by the cloud", "ok", rep.OK, "err", rep.Error)
		if err := b.pub.Publish(ctx, proto.KindReply, 1, proto.MustEncode(&rep)); err != nil {
			b.log.Warn("reply not sent", "id", c.ID, "err", err)
		}
	}
}

// run acts on ResetFile and, while a reset waits for the cloud, tells the
// cloud again, until ctx ends.
func (b *boxClaim) run(ctx context.Context) {
	t := time.NewTicker(resetPoll)
	defer t.Stop()
	var told time.Time
	for {
		if fi, err := os.Stat(b.path(ResetFile)); err == nil {
			b.resetHere(ctx, fi.ModTime())
			told = time.Time{}
		}
		b.mu.Lock()
		pending := b.pending
		b.mu.Unlock()
		if pending && b.pub.Connected() && time.Since(told) >= 5*resetPoll {
			b.tell(ctx)
			told = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// resetHere is a factory reset asked for on the box: every tenant goes
// with its data, desired states wait, and the cloud is told.
func (b *boxClaim) resetHere(ctx context.Context, at time.Time) {
	b.log.Warn("factory reset asked for on the box", "file", b.path(ResetFile))
	b.mu.Lock()
	b.pending = true
	if b.pageP != nil {
		b.pageP.SetClaimed(false)
	}
	b.mu.Unlock()
	b.rec.Hold(ctx, true)
	marker, _ := json.Marshal(map[string]int64{"requestedAt": at.UnixMilli()})
	if err := atomicfile.WriteFile(b.path(resetPendingFile), marker, 0o600); err != nil {
		b.log.Error("reset marker not written; the reset is done again at the next start", "err", err)
		return // ResetFile stays: the reset is asked for again
	}
	if err := b.rec.Wipe(ctx); err != nil {
		b.log.Error("factory reset incomplete", "err", err)
	}
	if err := os.Remove(b.path(ResetFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		b.log.Error("reset request not removed", "err", err)
	}
}

// tell sends the cloud the reset done here.
func (b *boxClaim) tell(ctx context.Context) {
	var at int64
	if raw, err := os.ReadFile(b.path(resetPendingFile)); err == nil {
		var m struct {
			RequestedAt int64 `json:"requestedAt"`
		}
		if json.Unmarshal(raw, &m) == nil && m.RequestedAt > 0 {
			at = m.RequestedAt
		}
	}
	ev := proto.FactoryResetEvent{Type: proto.EventFactoryReset, RequestedAt: at}
	if err := b.pub.Publish(ctx, proto.KindEvent, 1, proto.MustEncode(&ev)); err != nil {
		b.log.Warn("factory reset not told to the cloud yet", "err", err)
	}
}

// requestReset writes ResetFile in stateDir (the factory-reset command).
func requestReset(stateDir string) (string, error) {
	p := filepath.Join(stateDir, ResetFile)
	if err := atomicfile.WriteFile(p, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
		return "", err
	}
	return p, nil
}
