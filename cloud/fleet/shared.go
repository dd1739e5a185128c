package fleet

import (
	"context"
	"slices"
	"time"

	"github.com/clawfleet/clawfleet/cloud/store"
)

// Two devices with one host's credentials (a copied credentials file, two
// boxes flashed alike) take the host's MQTT session from each other, and
// each registers its own WireGuard key. A key rotation or a reinstall
// replaces a host's key for good; a key the host had before coming back is
// the mark of a second device. The newest registration (the live session's,
// since the broker lets a new connection take over the old one) decides the
// hub's peer either way; this only makes the duplicate visible.
const (
	// keptKeys is how many replaced keys of a host are remembered.
	keptKeys = 4
	// SharedWarningFor is how long a host shows the warning after the last
	// sign of a second device.
	SharedWarningFor = 24 * time.Hour
	// sharedAuditEvery spaces the audit events of one host's duplicate
	// (two devices take the session from each other every few seconds).
	sharedAuditEvery = 10 * time.Minute
)

// CredentialsShared follows a registration with a WireGuard key the host
// had before its current one: two devices use the host's credentials.
type CredentialsShared struct {
	HostID string
	// Key is the key just registered (it wins the hub's peer); Replaced the
	// other device's.
	Key, Replaced string
}

func (e CredentialsShared) Host() string { return e.HostID }
func (CredentialsShared) isEvent()       {}

// noteKey records the key a host registered with and reports the key it
// replaced when that is the sign of a second device.
func (f *Fleet) noteKey(id, key string, at time.Time) (replaced string, shared, audit bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.presence[id]
	if p == nil || key == "" || key == p.wgKey {
		return "", false, false
	}
	if p.wgKey != "" {
		if i := slices.Index(p.oldKeys, key); i >= 0 {
			p.oldKeys = slices.Delete(p.oldKeys, i, i+1)
			shared = true
		}
		p.oldKeys = append(p.oldKeys, p.wgKey)
		if len(p.oldKeys) > keptKeys {
			p.oldKeys = p.oldKeys[len(p.oldKeys)-keptKeys:]
		}
	}
	replaced, p.wgKey = p.wgKey, key
	if shared {
		p.sharedAt = at
		if at.Sub(p.sharedAudited) >= sharedAuditEvery {
			p.sharedAudited, audit = at, true
		}
	}
	return replaced, shared, audit
}

// checkShared is handleRegister's part: the metric, the warning, the audit
// event and the fleet event of a second device.
func (f *Fleet) checkShared(ctx context.Context, id, key string, at time.Time) {
	replaced, shared, audit := f.noteKey(id, key, at)
	if !shared {
		return
	}
	f.m.shared.Inc()
	logf := f.log.Debug // two devices taking turns: once per audit window at Warn
	if audit {
		logf = f.log.Warn
	}
	logf("two devices use this host's credentials: their WireGuard keys alternate (a copied credentials file, or two boxes flashed alike); the latest registration holds the tunnel. Give the other device its own credentials, then delete and re-enroll or rotate this host's",
		"device", id, "key", key, "otherKey", replaced)
	if audit {
		_ = f.store.AddAudit(ctx, &store.AuditEvent{Actor: "system", Action: "host.credentials-shared", Target: id,
			Detail: "two devices use these credentials: WireGuard keys " + key + " and " + replaced + " alternate"})
	}
	f.emit(CredentialsShared{HostID: id, Key: key, Replaced: replaced})
}
