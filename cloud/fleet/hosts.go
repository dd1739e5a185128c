package fleet

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// ListHosts returns every host with its live status and metrics.
func (f *Fleet) ListHosts(ctx context.Context) ([]store.Host, error) {
	hs, err := f.store.ListHosts(ctx)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range hs {
		f.overlay(&hs[i])
	}
	return hs, nil
}

// GetHost returns one host with its live status, or ErrHostNotFound.
func (f *Fleet) GetHost(ctx context.Context, id string) (*store.Host, error) {
	h, err := f.store.GetHost(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrHostNotFound
	}
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.overlay(h)
	f.mu.Unlock()
	return h, nil
}

func (f *Fleet) overlay(h *store.Host) {
	p := f.presence[h.ID]
	if p == nil {
		return
	}
	h.Status = p.status
	if !p.lastSeen.IsZero() {
		t := p.lastSeen
		h.LastHeartbeat = &t
	}
	h.Metrics = p.metrics
	h.Tunnel = p.tunnel
	if !p.sharedAt.IsZero() && f.opts.Now().Sub(p.sharedAt) < SharedWarningFor {
		t := p.sharedAt
		h.CredentialsSharedAt = &t
	}
	h.ClaimState = p.claim
}

// HostOnline reports whether a host is connected now (from presence, not the
// store, so it is cheap enough for every routed request).
func (f *Fleet) HostOnline(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.presence[id]
	return p != nil && p.status == store.HostOnline
}

// Counts returns the number of hosts by status.
func (f *Fleet) Counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := map[string]int{store.HostOnline: 0, store.HostOffline: 0, store.HostPending: 0}
	for _, p := range f.presence {
		c[p.status]++
	}
	return c
}

// DeleteHost revokes a host: its credentials stop working at once, its
// connection is dropped and its retained messages are cleared.
func (f *Fleet) DeleteHost(ctx context.Context, id, actor string) error {
	if err := f.store.DeleteHost(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrHostNotFound
		}
		return err
	}
	f.mu.Lock()
	delete(f.secrets, id)
	delete(f.presence, id)
	delete(f.dirty, id)
	f.mu.Unlock()
	if err := f.bus.Disconnect(id); err != nil {
		f.log.Warn("disconnecting revoked host failed", "device", id, "err", err)
	}
	// An empty retained payload deletes the retained message: nothing meant
	// for the revoked device (its desired state holds gateway tokens) stays
	// in the broker.
	for _, kind := range []string{proto.KindConfig, proto.KindDesired, proto.KindTunnel, proto.KindClaim} {
		_ = f.bus.Publish(proto.DownTopic(id, kind), nil, true)
	}
	_ = f.store.AddAudit(ctx, &store.AuditEvent{Actor: actor, Action: "host.delete", Target: id})
	f.emit(Deleted{HostID: id})
	f.log.Info("host deleted", "device", id, "by", actor)
	return nil
}

// TokenRequest asks for an enrollment token.
type TokenRequest struct {
	TTL    time.Duration
	Uses   int
	Labels map[string]string
	// Placement is what every host the token enrolls is given: its pool
	// ("" = store.DefaultPool) and the caps on what it is credited with.
	Placement store.HostPlacement
}

var poolName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Caps bound what an operator may credit a host with: far above any host,
// low enough that sums of them never overflow.
const (
	MaxCapCPUMillis   = 1 << 30
	MaxCapMemoryBytes = 1 << 50
)

// ValidatePlacement checks a worker's pool and caps, filling in the default
// pool.
func ValidatePlacement(p *store.HostPlacement) error {
	if p.Pool == "" {
		p.Pool = store.DefaultPool
	}
	if !poolName.MatchString(p.Pool) {
		return ErrBadRequest.Withf("pool %q: use 1-63 lowercase letters, digits or '-'", p.Pool)
	}
	if p.MaxCPUMillis < 0 || p.MaxCPUMillis > MaxCapCPUMillis {
		return ErrBadRequest.Withf("maxCpuMillis must be between 0 (no cap) and %d", MaxCapCPUMillis)
	}
	if p.MaxMemoryBytes < 0 || p.MaxMemoryBytes > MaxCapMemoryBytes {
		return ErrBadRequest.Withf("maxMemoryBytes must be between 0 (no cap) and %d", int64(MaxCapMemoryBytes))
	}
	return nil
}

// ValidatePool checks a pool name ("" is the default pool).
func ValidatePool(pool string) error {
	p := store.HostPlacement{Pool: pool}
	return ValidatePlacement(&p)
}

var labelKey = regexp.MustCompile(`^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$`)

// ValidateLabels checks label keys and values.
func ValidateLabels(labels map[string]string) error {
	if len(labels) > 32 {
		return ErrBadRequest.Withf("at most 32 labels")
	}
	for k, v := range labels {
		if !labelKey.MatchString(k) {
			return ErrBadRequest.Withf("label key %q: use 1-63 lowercase letters, digits, '.', '_', '/', '-'", k)
		}
		if len(v) > 255 {
			return ErrBadRequest.Withf("label %q value longer than 255 bytes", k)
		}
	}
	return nil
}

// CreateEnrollmentToken issues a token and returns it in plain text, once.
func (f *Fleet) CreateEnrollmentToken(ctx context.Context, req TokenRequest, actor string) (string, *store.EnrollmentToken, error) {
	switch {
	case req.TTL < time.Minute || req.TTL > 365*24*time.Hour:
		return "", nil, ErrBadRequest.Withf("ttl must be between 1m and 8760h")
	case req.Uses < 1 || req.Uses > 100000:
		return "", nil, ErrBadRequest.Withf("uses must be between 1 and 100000")
	}
	if err := ValidateLabels(req.Labels); err != nil {
		return "", nil, err
	}
	pl := req.Placement
	if err := ValidatePlacement(&pl); err != nil {
		return "", nil, err
	}
	plain := creds.NewToken("cfe_")
	t := &store.EnrollmentToken{
		ID: "tok_" + creds.NewDeviceID()[len(proto.DeviceIDPrefix):], Hash: creds.Hash(plain),
		Labels: req.Labels, UsesTotal: req.Uses, UsesLeft: req.Uses,
		ExpiresAt: f.opts.Now().Add(req.TTL), CreatedBy: actor,
		Pool: pl.Pool, MaxCPUMillis: pl.MaxCPUMillis, MaxMemoryBytes: pl.MaxMemoryBytes,
	}
	if err := f.store.CreateEnrollmentToken(ctx, t); err != nil {
		return "", nil, err
	}
	_ = f.store.AddAudit(ctx, &store.AuditEvent{Actor: actor, Action: "token.create", Target: t.ID,
		Detail: fmt.Sprintf("uses=%d ttl=%s%s", req.Uses, req.TTL, placementDetail(pl))})
	return plain, t, nil
}

// ListEnrollmentTokens lists tokens (hashes only).
func (f *Fleet) ListEnrollmentTokens(ctx context.Context) ([]store.EnrollmentToken, error) {
	return f.store.ListEnrollmentTokens(ctx)
}

// ErrTokenNotFound is returned when revoking an unknown token.
var ErrTokenNotFound = apperr.New(apperr.NotFound, "not_found", "enrollment token not found")

// RevokeEnrollmentToken stops a token from enrolling more hosts.
func (f *Fleet) RevokeEnrollmentToken(ctx context.Context, id, actor string) (*store.EnrollmentToken, error) {
	t, err := f.store.RevokeEnrollmentToken(ctx, id, f.opts.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrTokenNotFound
	}
	if err != nil {
		return nil, err
	}
	_ = f.store.AddAudit(ctx, &store.AuditEvent{Actor: actor, Action: "token.revoke", Target: id})
	return t, nil
}

// EnrollRequest is a host asking to join with an enrollment token.
type EnrollRequest struct {
	Token    string
	Name     string
	Hostname string
	Labels   map[string]string
}

// ValidateName checks a host name given by a person or an agent.
func ValidateName(name string) error {
	if len(name) > 255 {
		return ErrBadRequest.Withf("name longer than 255 bytes")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return ErrBadRequest.Withf("name has control characters")
		}
	}
	return nil
}

// Enroll exchanges a token for new device credentials. The secret is returned
// once; only its hash is stored.
func (f *Fleet) Enroll(ctx context.Context, req EnrollRequest) (deviceID, secret string, err error) {
	if err := ValidateName(req.Name); err != nil {
		return "", "", err
	}
	if err := ValidateName(req.Hostname); err != nil {
		return "", "", err
	}
	if err := ValidateLabels(req.Labels); err != nil {
		return "", "", err
	}
	id, secret := creds.NewDeviceID(), creds.NewSecret()
	name := req.Name
	if name == "" {
		name = req.Hostname
	}
	h := &store.Host{ID: id, Name: name, Hostname: req.Hostname, SecretHash: creds.Hash(secret), Labels: req.Labels}
	tok, err := f.store.Enroll(ctx, creds.Hash(creds.TrimToken(req.Token)), f.opts.Now(), h)
	if err != nil {
		return "", "", err
	}
	f.AddHosts(h)
	_ = f.store.AddAudit(ctx, &store.AuditEvent{Actor: "token:" + tok.ID, Action: "host.enroll", Target: id, Detail: name})
	f.log.Info("host enrolled", "device", id, "name", name, "token", tok.ID, "usesLeft", tok.UsesLeft)
	return id, secret, nil
}

// Provision pre-registers a worker of the default pool and returns its
// credentials.
func (f *Fleet) Provision(ctx context.Context, name string, labels map[string]string, actor string) (deviceID, secret string, err error) {
	return f.ProvisionWorker(ctx, ProvisionRequest{Name: name, Labels: labels}, actor)
}

// ProvisionRequest pre-registers a worker.
type ProvisionRequest struct {
	Name      string
	Labels    map[string]string
	Placement store.HostPlacement
}

// ProvisionWorker pre-registers a worker (an operator's VM, the local agent)
// and returns its credentials. Boxes come from factory batches.
func (f *Fleet) ProvisionWorker(ctx context.Context, req ProvisionRequest, actor string) (deviceID, secret string, err error) {
	if err := ValidateName(req.Name); err != nil {
		return "", "", err
	}
	if err := ValidateLabels(req.Labels); err != nil {
		return "", "", err
	}
	pl := req.Placement
	if err := ValidatePlacement(&pl); err != nil {
		return "", "", err
	}
	id, secret := creds.NewDeviceID(), creds.NewSecret()
	h := &store.Host{ID: id, Name: req.Name, SecretHash: creds.Hash(secret), Labels: req.Labels,
		Kind: store.HostWorker, Pool: pl.Pool, MaxCPUMillis: pl.MaxCPUMillis, MaxMemoryBytes: pl.MaxMemoryBytes}
	if err := f.store.CreateHost(ctx, h); err != nil {
		return "", "", err
	}
	f.AddHosts(h)
	_ = f.store.AddAudit(ctx, &store.AuditEvent{Actor: actor, Action: "host.provision", Target: id, Detail: req.Name + placementDetail(pl)})
	return id, secret, nil
}

// SetPlacement changes a worker's pool and caps. Tenants already on it
// stay; the scheduler uses the new values for every later placement.
func (f *Fleet) SetPlacement(ctx context.Context, id string, p store.HostPlacement, actor string) (*store.Host, error) {
	if err := ValidatePlacement(&p); err != nil {
		return nil, err
	}
	h, err := f.store.SetHostPlacement(ctx, id, p)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrHostNotFound
	}
	if err != nil {
		return nil, err
	}
	_ = f.store.AddAudit(ctx, &store.AuditEvent{Actor: actor, Action: "host.placement", Target: id, Detail: strings.TrimPrefix(placementDetail(p), " ")})
	f.mu.Lock()
	f.overlay(h)
	f.mu.Unlock()
	return h, nil
}

// placementDetail is a placement as the audit log shows it.
func placementDetail(p store.HostPlacement) string {
	return fmt.Sprintf(" pool=%s maxCpuMillis=%d maxMemoryBytes=%d", p.Pool, p.MaxCPUMillis, p.MaxMemoryBytes)
}

// AddHosts puts hosts another service wrote to the store (a factory batch)
// into the authentication cache and presence, pending.
func (f *Fleet) AddHosts(hs ...*store.Host) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range hs {
		f.secrets[h.ID] = h.SecretHash
		if f.presence[h.ID] == nil {
			f.presence[h.ID] = &presence{status: store.HostPending}
		}
	}
}

// Audit returns the newest audit events.
func (f *Fleet) Audit(ctx context.Context, limit int) ([]store.AuditEvent, error) {
	return f.store.ListAudit(ctx, limit)
}

// QueryAudit returns the newest audit events q selects.
func (f *Fleet) QueryAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	return f.store.QueryAudit(ctx, q)
}
