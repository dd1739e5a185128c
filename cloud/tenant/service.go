// Package tenant is the tenant service: it places customers' gateways on
// hosts (scheduler.go), keeps them in the store, tells each host what to run
// through its retained desired state (proto.Desired on down/desired), and
// follows what the agents acknowledge (up/reply) and report (up/event).
//
// Lifecycle of a tenant:
//
//   - create: the tenant is stored as pending with a host and port, the
//     host's desired revision is bumped in the same transaction, then the
//     host's whole desired state is published (retained, QoS 1).
//   - the agent acknowledges the revision (Reply{ID: DesiredReplyID(rev)}):
//     pending tenants of that revision become starting. Without an
//     acknowledgement within the command timeout, they stay pending with
//     lastError "host <id> did not acknowledge within 30s"; the desired
//     state is published again whenever the host registers (the retained
//     message does not survive a cloud restart).
//   - reports (TenantReport on up/event) set each tenant's status and
//     lastError, for tenants placed on the reporting host only.
//   - restart bumps RestartGen; delete removes the tenant from the desired
//     state, lists it under Purge (unless its data is kept) and removes its
//     row at once; the purge entry stays until the host reports it purged.
//
// While a tenant's host is offline, its status is the last one reported and
// its lastError reads "host offline" (computed when read, not stored).
package tenant

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"
)

// Options configure the service. Zero values take the documented defaults.
type Options struct {
	// Plans offered (DefaultPlans).
	Plans Plans
	// Strategy is LeastLoaded (default), BinPack or Spread.
	Strategy string
	// CPUOvercommit multiplies a host's CPUs into its CPU capacity (4).
	CPUOvercommit float64
	// PortBase and PortMax bound tenants' base ports (20000, 32640: below the
	// kernel's ephemeral port range, so outgoing connections never hold one).
	PortBase, PortMax int
	// CommandTimeout is how long a host has to acknowledge a desired
	// revision (30 s).
	CommandTimeout time.Duration
	// LogsTimeout is how long a host has to answer a logs command (10 s).
	LogsTimeout time.Duration
	// SecretKey seals gateway tokens (32 bytes, required).
	SecretKey []byte
	// TenantURL returns a tenant's public URL from its slug (required).
	TenantURL func(slug string) string
	Logger    *slog.Logger
	// Registerer receives the service's metrics (nil = none).
	Registerer prometheus.Registerer
	// Now is the clock (tests).
	Now func() time.Time
	// ReservedSlugs are labels no tenant may take besides the built-in list:
	// the first label of the cloud's own hosts under the domain (its
	// public URL, its MQTT host), which the router must never route.
	ReservedSlugs []string
	// OnDeleted, when set, is called after a tenant was deleted (the router
	// drops its cached route and sessions at once).
	OnDeleted func(tenantID, slug string)
}

func (o *Options) defaults() {
	if o.Plans == nil {
		o.Plans = DefaultPlans()
	}
	if o.Strategy == "" {
		o.Strategy = LeastLoaded
	}
	if o.CPUOvercommit == 0 {
		o.CPUOvercommit = 4
	}
	if o.PortBase == 0 {
		o.PortBase = 20000
	}
	if o.PortMax == 0 {
		o.PortMax = 32640
	}
	if o.CommandTimeout == 0 {
		o.CommandTimeout = 30 * time.Second
	}
	if o.LogsTimeout == 0 {
		o.LogsTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = func() time.Time { return time.Now().UTC() }
	}
}

// Validate reports a setting that cannot work, saying what to change.
func (o *Options) Validate() error {
	var errs []error
	if !slices.Contains(Strategies, o.Strategy) {
		errs = append(errs, fmt.Errorf("scheduler %q: use one of %s", o.Strategy, strings.Join(Strategies, ", ")))
	}
	if o.CPUOvercommit < 1 || o.CPUOvercommit > 64 {
		errs = append(errs, fmt.Errorf("cpu overcommit %g: use between 1 and 64", o.CPUOvercommit))
	}
	if o.PortBase < 1024 || o.PortMax > 65535-proto.PortSpacing || o.PortBase > o.PortMax {
		errs = append(errs, fmt.Errorf("tenant ports %d-%d: use 1024 ≤ base ≤ max ≤ %d", o.PortBase, o.PortMax, 65535-proto.PortSpacing))
	}
	if o.CommandTimeout < 100*time.Millisecond || o.CommandTimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("command timeout %s: use between 100ms and 10m", o.CommandTimeout))
	}
	if o.LogsTimeout < 100*time.Millisecond || o.LogsTimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("logs timeout %s: use between 100ms and 10m", o.LogsTimeout))
	}
	if len(o.SecretKey) != 32 {
		errs = append(errs, errors.New("secret key must be 32 bytes"))
	}
	if o.TenantURL == nil {
		errs = append(errs, errors.New("TenantURL is required"))
	}
	if err := o.Plans.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Errors for the API to map.
var (
	ErrInvalidPlan = errors.New("invalid plan")
	ErrInvalidName = errors.New("invalid name")
	ErrNoTenant    = errors.New("no tenant")
	ErrConflict    = errors.New("conflicting state")
	ErrHostOffline = errors.New("host offline")
	ErrHostTimeout = errors.New("host timeout")
	ErrHostError   = errors.New("host error")
)

// User is the person a request acts for (X-User-ID, X-User-Email).
type User struct {
	ID    string
	Email string
}

// Actor is how audit events name the user.
func (u User) Actor() string { return "user:" + u.ID }

// Actors of audit events besides users.
const (
	ActorSystem = "system"
	ActorAdmin  = "admin"
)

// Service is the tenant service.
type Service struct {
	opts  Options
	store *store.Store
	fleet *fleet.Fleet
	bus   fleet.Bus
	log   *slog.Logger
	m     *metrics
	seal  *sealer

	// mu serialises every change of tenant or desired state, so that a
	// published desired state always matches its stored revision.
	mu sync.Mutex

	queue chan devMsg

	wmu     sync.Mutex
	waiters map[string]*waiter

	umu   sync.Mutex
	disks map[string]DiskUsage // by tenant ID, from the hosts' reports
}

// DiskUsage is a tenant's disk as its host last reported it (hosts that
// enforce disk limits report every 30 s). It is a measurement, kept in
// memory only: after a cloud restart it is back with the next report.
type DiskUsage struct {
	UsedBytes, TotalBytes int64
	At                    time.Time
}

// Disk returns the last reported disk usage of a tenant.
func (s *Service) Disk(tenantID string) (DiskUsage, bool) {
	s.umu.Lock()
	defer s.umu.Unlock()
	d, ok := s.disks[tenantID]
	return d, ok
}

func (s *Service) setDisk(tenantID string, st proto.TenantStatus) {
	s.umu.Lock()
	defer s.umu.Unlock()
	if st.DiskTotalBytes <= 0 {
		delete(s.disks, tenantID)
		return
	}
	s.disks[tenantID] = DiskUsage{UsedBytes: st.DiskUsedBytes, TotalBytes: st.DiskTotalBytes, At: s.opts.Now()}
}

type devMsg struct {
	host    string
	kind    string // register, event, reply, or "ackcheck" (internal)
	payload []byte
	reply   *proto.Reply
	rev     int64
}

const kindAckCheck = "ackcheck"

type waiter struct {
	host string
	ch   chan *proto.Reply
}

// New builds the service and hooks it into the fleet's device messages;
// call Run to process them.
func New(st *store.Store, fl *fleet.Fleet, bus fleet.Bus, opts Options) (*Service, error) {
	opts.defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	seal, err := newSealer(opts.SecretKey)
	if err != nil {
		return nil, err
	}
	s := &Service{
		opts: opts, store: st, fleet: fl, bus: bus, seal: seal,
		log:     opts.Logger.With("component", "tenant"),
		queue:   make(chan devMsg, 4096),
		waiters: map[string]*waiter{},
		disks:   map[string]DiskUsage{},
	}
	s.m = newMetrics(opts.Registerer, s)
	fl.AddDeviceHandler(s.onDeviceMessage)
	return s, nil
}

// Plans returns the plans offered.
func (s *Service) Plans() Plans { return s.opts.Plans }

// URL returns a tenant's public URL.
func (s *Service) URL(slug string) string { return s.opts.TenantURL(slug) }

// Run processes agents' acknowledgements and reports until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.placeOrphans(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg := <-s.queue:
			s.handle(ctx, msg)
		}
	}
}

// onDeviceMessage is the fleet's hook; it runs in the fleet's ingest
// goroutine, so it only dispatches command replies and queues the rest.
func (s *Service) onDeviceMessage(host, kind string, payload []byte) {
	if kind == fleet.KindDeleted {
		// Not through the bounded queue: a flood of reports must not make
		// the cloud drop a deletion and strand the host's tenants.
		go s.hostDeleted(context.Background(), host)
		return
	}
	msg := devMsg{host: host, kind: kind, payload: payload}
	if kind == proto.KindReply {
		r, err := proto.DecodeReply(payload)
		if err != nil {
			s.refuse(host, kind, reasonOf(err), err)
			return
		}
		if rev, ok := parseDesiredReplyID(r.ID); ok {
			msg.reply, msg.rev = r, rev
		} else {
			s.wmu.Lock()
			w := s.waiters[r.ID]
			s.wmu.Unlock()
			if w == nil || w.host != host {
				s.refuse(host, kind, "unknown_reply", fmt.Errorf("reply %q answers no pending command of this host", r.ID))
				return
			}
			select {
			case w.ch <- r:
			default: // a duplicate (QoS 1 redelivery)
			}
			return
		}
	}
	s.enqueue(msg)
}

func (s *Service) enqueue(msg devMsg) {
	select {
	case s.queue <- msg:
	default:
		s.m.refused.WithLabelValues("queue_full").Inc()
		s.log.Warn("tenant message queue full: message dropped", "device", msg.host, "kind", msg.kind)
	}
}

func parseDesiredReplyID(id string) (int64, bool) {
	var rev int64
	if _, err := fmt.Sscanf(id, "desired-%d", &rev); err != nil || proto.DesiredReplyID(rev) != id || rev < 1 {
		return 0, false
	}
	return rev, true
}

func reasonOf(err error) string {
	switch {
	case errors.Is(err, proto.ErrTooLarge):
		return "too_large"
	case errors.Is(err, proto.ErrUnsupportedVersion):
		return "version"
	case errors.Is(err, proto.ErrMalformed):
		return "malformed"
	}
	return "invalid"
}

func (s *Service) refuse(host, kind, reason string, err error) {
	s.m.refused.WithLabelValues(reason).Inc()
	s.log.Warn("device message refused", "device", host, "kind", kind, "reason", reason, "err", err)
}

func (s *Service) handle(ctx context.Context, msg devMsg) {
	switch msg.kind {
	case proto.KindRegister:
		// The retained desired state may be gone (cloud restart): publish
		// it again so a reconnecting agent converges.
		s.mu.Lock()
		err := s.publish(ctx, msg.host)
		s.mu.Unlock()
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("republishing desired state failed", "device", msg.host, "err", err)
		}
	case proto.KindReply:
		s.applyAck(ctx, msg.host, msg.rev, msg.reply)
	case proto.KindEvent:
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(msg.payload, &head); err == nil && head.Type != proto.EventTenants {
			return // another feature's event
		}
		rep, err := proto.DecodeTenantReport(msg.payload)
		if err != nil {
			s.refuse(msg.host, msg.kind, reasonOf(err), err)
			return
		}
		s.applyReport(ctx, msg.host, rep)
	case kindAckCheck:
		s.checkAck(ctx, msg.host, msg.rev)
	}
}

// --- requests --------------------------------------------------------------

// Create places a new tenant for u, or returns u's existing tenant with
// created false (creating is idempotent; the existing tenant is returned
// whatever plan or name the repeated call asks for).
func (s *Service) Create(ctx context.Context, u User, planName, name string) (t *store.Tenant, created bool, err error) {
	return s.CreateAs(ctx, u, planName, name, u.Actor())
}

// CreateAs is Create with the audit event naming actor (ActorAdmin when an
// operator creates a tenant for u).
func (s *Service) CreateAs(ctx context.Context, u User, planName, name, actor string) (t *store.Tenant, created bool, err error) {
	if planName == "" {
		planName = "free"
	}
	plan, ok := s.opts.Plans[planName]
	if !ok {
		return nil, false, fmt.Errorf("%w: plan %q does not exist: choose one of %s", ErrInvalidPlan, planName, strings.Join(s.opts.Plans.Names(), ", "))
	}
	name = strings.TrimSpace(name)
	if err := validateName(name); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, err := s.store.GetTenantByOwner(ctx, u.ID); err == nil {
		s.overlay(ctx, t)
		return t, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, false, err
	}
	need := Resources{CPUMillis: int64(plan.CPUMillis), MemoryBytes: int64(plan.MemoryBytes)}
	hostID, port, err := s.place(ctx, need, plan.HostLabels)
	if err != nil {
		return nil, false, fmt.Errorf("plan %s: %w", planName, err)
	}
	slug, err := s.newSlug(ctx, name)
	if err != nil {
		return nil, false, err
	}
	t = &store.Tenant{
		ID: "ten_" + randomID(10), Slug: slug, OwnerID: u.ID, OwnerEmail: u.Email, Name: name, Plan: planName,
		Status: store.TenantPending, DesiredState: proto.TenantRunning, HostID: hostID, Port: port,
		CPUMillis: plan.CPUMillis, MemoryBytes: int64(plan.MemoryBytes), DiskBytes: int64(plan.DiskBytes),
		PidsLimit: plan.PidsLimit, Image: plan.Image,
	}
	t.GatewayTokenEnc = s.seal.seal(randomToken(), t.ID)
	err = s.store.Write(ctx, func(tx *gorm.DB) error {
		d, err := store.BumpDesired(tx, hostID, nil, nil)
		if err != nil {
			return err
		}
		t.PublishedRev = d.Revision
		if err := store.CreateTenant(tx, t); err != nil {
			return err
		}
		return store.AddAudit(tx, &store.AuditEvent{Actor: actor, Action: "tenant.create", Target: t.ID,
			Detail: fmt.Sprintf("plan=%s slug=%s host=%s port=%d status=pending", planName, slug, hostID, port)})
	})
	if errors.Is(err, store.ErrConflict) {
		// Another cloud node created the user's tenant meanwhile.
		if other, gerr := s.store.GetTenantByOwner(ctx, u.ID); gerr == nil {
			s.overlay(ctx, other)
			return other, false, nil
		}
		return nil, false, fmt.Errorf("%w: %v", ErrConflict, err)
	}
	if err != nil {
		return nil, false, err
	}
	s.log.Info("tenant created", "tenant", t.ID, "by", actor, "owner", u.ID, "plan", planName, "slug", slug, "device", hostID, "port", port)
	if err := s.publish(ctx, hostID); err != nil {
		s.log.Error("publishing desired state failed; it is published again when the host registers", "device", hostID, "err", err)
		_ = s.store.UpdateTenant(ctx, t.ID, map[string]any{"last_error": "publishing the desired state failed; retried when the host reconnects"})
	}
	got, err := s.store.GetTenant(ctx, t.ID)
	if err != nil {
		return nil, false, err
	}
	s.overlay(ctx, got)
	return got, true, nil
}

// place picks a host with room for need (and the plan's host labels) and
// a free port on it. Callers hold s.mu.
func (s *Service) place(ctx context.Context, need Resources, labels map[string]string) (string, int, error) {
	cands, err := s.candidates(ctx)
	if err != nil {
		return "", 0, err
	}
	for {
		hostID, err := Pick(s.opts.Strategy, cands, need, labels)
		if err != nil {
			return "", 0, err
		}
		port, err := s.freePort(ctx, hostID)
		if err == nil {
			return hostID, port, nil
		}
		if !errors.Is(err, ErrNoPort) {
			return "", 0, err
		}
		s.log.Warn("host has no free tenant port", "device", hostID, "err", err)
		cands = slices.DeleteFunc(cands, func(c Candidate) bool { return c.ID == hostID })
	}
}

// needOf is what t reserves, and the host labels its plan asks for.
func (s *Service) needOf(t *store.Tenant) (Resources, map[string]string) {
	var labels map[string]string
	if pl, ok := s.opts.Plans[t.Plan]; ok {
		labels = pl.HostLabels
	}
	return Resources{CPUMillis: int64(t.CPUMillis), MemoryBytes: t.MemoryBytes}, labels
}

// hostDeleted moves the tenants of a deleted host to other hosts, where
// they start afresh: their data stayed on the deleted host, and the tenant
// says so. A tenant for which no host has room is left unplaced and failed
// (a restart places it when there is room). (Deleted tenants are gone from
// the store already.)
func (s *Service) hostDeleted(ctx context.Context, hostID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts, err := s.store.ListHostTenants(ctx, hostID)
	if err != nil {
		s.log.Error("listing the tenants of a deleted host failed", "device", hostID, "err", err)
		return
	}
	for i := range ts {
		t := &ts[i]
		need, labels := s.needOf(t)
		newHost, port, perr := s.place(ctx, need, labels)
		if perr != nil {
			msg := fmt.Sprintf("its host %s was deleted and no other host has room for it (%v); restart it once there is", hostID, perr)
			err := s.store.Write(ctx, func(tx *gorm.DB) error {
				if err := store.UpdateTenant(tx, t.ID, map[string]any{"host_id": "", "port": 0, "status": store.TenantFailed, "last_error": msg}); err != nil {
					return err
				}
				return store.AddAudit(tx, &store.AuditEvent{Actor: ActorSystem, Action: "tenant.unplaced", Target: t.ID, Detail: msg})
			})
			if err != nil {
				s.log.Error("marking a tenant of a deleted host failed", "tenant", t.ID, "err", err)
			}
			s.setDisk(t.ID, proto.TenantStatus{})
			s.log.Warn("tenant of a deleted host not placed", "tenant", t.ID, "device", hostID, "err", perr)
			continue
		}
		if err := s.move(ctx, t, newHost, port, fmt.Sprintf("moved from deleted host %s; the data it had there was not moved", hostID)); err != nil {
			s.log.Error("moving a tenant of a deleted host failed", "tenant", t.ID, "err", err)
		}
	}
}

// move assigns t to hostID:port as a fresh start (status pending) and
// publishes the host's desired state. Callers hold s.mu.
func (s *Service) move(ctx context.Context, t *store.Tenant, hostID string, port int, why string) error {
	err := s.store.Write(ctx, func(tx *gorm.DB) error {
		d, err := store.BumpDesired(tx, hostID, nil, nil)
		if err != nil {
			return err
		}
		if err := store.UpdateTenant(tx, t.ID, map[string]any{"host_id": hostID, "port": port, "status": store.TenantPending,
			"desired_state": proto.TenantRunning, "published_rev": d.Revision, "last_error": why}); err != nil {
			return err
		}
		return store.AddAudit(tx, &store.AuditEvent{Actor: ActorSystem, Action: "tenant.move", Target: t.ID,
			Detail: fmt.Sprintf("%s → host %s port %d", why, hostID, port)})
	})
	if err != nil {
		return err
	}
	s.setDisk(t.ID, proto.TenantStatus{}) // measured on the old host
	s.log.Info("tenant moved", "tenant", t.ID, "from", t.HostID, "device", hostID, "port", port)
	if err := s.publish(ctx, hostID); err != nil {
		s.log.Error("publishing desired state failed; it is published again when the host registers", "device", hostID, "err", err)
	}
	return nil
}

// placeOrphans moves the tenants whose host no longer exists (its deletion
// was not handled: the cloud stopped in between).
func (s *Service) placeOrphans(ctx context.Context) {
	ts, err := s.store.ListTenants(ctx)
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for _, t := range ts {
		if t.HostID == "" || seen[t.HostID] {
			continue
		}
		seen[t.HostID] = true
		if _, err := s.fleet.GetHost(ctx, t.HostID); errors.Is(err, fleet.ErrHostNotFound) {
			s.log.Warn("tenants on a host that no longer exists; moving them", "device", t.HostID)
			s.hostDeleted(ctx, t.HostID)
		}
	}
}

func validateName(name string) error {
	if len([]rune(name)) > 64 || len(name) > 255 {
		return fmt.Errorf("%w: name longer than 64 characters", ErrInvalidName)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("%w: name has control characters", ErrInvalidName)
		}
	}
	return nil
}

// Mine returns u's tenant, or ErrNoTenant.
func (s *Service) Mine(ctx context.Context, u User) (*store.Tenant, error) {
	t, err := s.store.GetTenantByOwner(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoTenant
	}
	if err != nil {
		return nil, err
	}
	s.overlay(ctx, t)
	return t, nil
}

// Get returns a tenant by ID, or ErrNoTenant.
func (s *Service) Get(ctx context.Context, id string) (*store.Tenant, error) {
	t, err := s.store.GetTenant(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoTenant
	}
	if err != nil {
		return nil, err
	}
	s.overlay(ctx, t)
	return t, nil
}

// List returns every tenant (admin).
func (s *Service) List(ctx context.Context) ([]store.Tenant, error) {
	ts, err := s.store.ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	hs, err := s.fleet.ListHosts(ctx)
	if err != nil {
		return nil, err
	}
	status := map[string]string{}
	for _, h := range hs {
		status[h.ID] = h.Status
	}
	for i := range ts {
		applyHostStatus(&ts[i], status[ts[i].HostID])
	}
	return ts, nil
}

// overlay shows a tenant whose host is offline with lastError "host offline".
func (s *Service) overlay(ctx context.Context, t *store.Tenant) {
	if t.HostID == "" {
		return // unplaced: its stored error says why
	}
	h, err := s.fleet.GetHost(ctx, t.HostID)
	switch {
	case errors.Is(err, fleet.ErrHostNotFound):
		applyHostStatus(t, "")
	case err == nil:
		applyHostStatus(t, h.Status)
	}
}

// applyHostStatus overlays the state of a tenant's host on its lastError;
// hostStatus "" means the host no longer exists.
func applyHostStatus(t *store.Tenant, hostStatus string) {
	switch hostStatus {
	case store.HostOnline:
	case "":
		t.LastError = "host " + t.HostID + " no longer exists"
	default:
		t.LastError = "host offline"
	}
}

func (s *Service) ownTenant(ctx context.Context, u User) (*store.Tenant, error) {
	t, err := s.store.GetTenantByOwner(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoTenant
	}
	return t, err
}

func (s *Service) tenantByID(ctx context.Context, id string) (*store.Tenant, error) {
	t, err := s.store.GetTenant(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoTenant
	}
	return t, err
}

// Restart asks u's tenant's host to restart it.
func (s *Service) Restart(ctx context.Context, u User) (*store.Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.ownTenant(ctx, u)
	if err != nil {
		return nil, err
	}
	return s.restart(ctx, t, u.Actor())
}

// RestartByID restarts any tenant (admin).
func (s *Service) RestartByID(ctx context.Context, id, actor string) (*store.Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.tenantByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.restart(ctx, t, actor)
}

func (s *Service) restart(ctx context.Context, t *store.Tenant, actor string) (*store.Tenant, error) {
	if t.Status == store.TenantDeleting {
		return nil, fmt.Errorf("%w: tenant %s is being deleted", ErrConflict, t.ID)
	}
	if t.HostID != "" {
		if _, err := s.fleet.GetHost(ctx, t.HostID); errors.Is(err, fleet.ErrHostNotFound) {
			t.HostID = "" // its host's deletion is not handled yet
		}
	}
	if t.HostID == "" {
		// Unplaced (its host was deleted when no other had room): place it.
		need, labels := s.needOf(t)
		hostID, port, err := s.place(ctx, need, labels)
		if err != nil {
			return nil, fmt.Errorf("tenant %s has no host: %w", t.ID, err)
		}
		if err := s.move(ctx, t, hostID, port, ""); err != nil {
			return nil, err
		}
		if t, err = s.store.GetTenant(ctx, t.ID); err != nil {
			return nil, err
		}
	}
	status := t.Status
	if status != store.TenantPending {
		status = store.TenantStarting
	}
	err := s.store.Write(ctx, func(tx *gorm.DB) error {
		if _, err := store.BumpDesired(tx, t.HostID, nil, nil); err != nil {
			return err
		}
		if err := store.UpdateTenant(tx, t.ID, map[string]any{"restart_gen": t.RestartGen + 1, "desired_state": proto.TenantRunning,
			"status": status, "last_error": ""}); err != nil {
			return err
		}
		return store.AddAudit(tx, &store.AuditEvent{Actor: actor, Action: "tenant.restart", Target: t.ID,
			Detail: fmt.Sprintf("restartGen=%d status %s → %s", t.RestartGen+1, t.Status, status)})
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("tenant restart requested", "tenant", t.ID, "by", actor, "restartGen", t.RestartGen+1)
	if err := s.publish(ctx, t.HostID); err != nil {
		s.log.Error("publishing desired state failed; it is published again when the host registers", "device", t.HostID, "err", err)
	}
	got, err := s.store.GetTenant(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	s.overlay(ctx, got)
	return got, nil
}

// Delete stops and removes u's tenant; its data is purged on the host
// unless keepData. The returned tenant (status deleting) is no longer
// stored.
func (s *Service) Delete(ctx context.Context, u User, keepData bool) (*store.Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.ownTenant(ctx, u)
	if err != nil {
		return nil, err
	}
	return s.delete(ctx, t, keepData, u.Actor())
}

// DeleteByID deletes any tenant (admin).
func (s *Service) DeleteByID(ctx context.Context, id string, keepData bool, actor string) (*store.Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.tenantByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.delete(ctx, t, keepData, actor)
}

func (s *Service) delete(ctx context.Context, t *store.Tenant, keepData bool, actor string) (*store.Tenant, error) {
	var purge []string
	if !keepData {
		purge = []string{t.ID}
	}
	err := s.store.Write(ctx, func(tx *gorm.DB) error {
		if err := store.DeleteTenant(tx, t.ID); err != nil {
			return err
		}
		if t.HostID != "" { // an unplaced tenant has nothing on any host
			if _, err := store.BumpDesired(tx, t.HostID, purge, nil); err != nil {
				return err
			}
		}
		if err := store.RevokeTenantAccess(tx, t.ID, s.opts.Now()); err != nil {
			return err
		}
		return store.AddAudit(tx, &store.AuditEvent{Actor: actor, Action: "tenant.delete", Target: t.ID,
			Detail: fmt.Sprintf("slug=%s host=%s status %s → deleting keepData=%t", t.Slug, t.HostID, t.Status, keepData)})
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoTenant
	}
	if err != nil {
		return nil, err
	}
	s.setDisk(t.ID, proto.TenantStatus{})
	s.log.Info("tenant deleted", "tenant", t.ID, "by", actor, "device", t.HostID, "keepData", keepData)
	if s.opts.OnDeleted != nil {
		s.opts.OnDeleted(t.ID, t.Slug)
	}
	if t.HostID != "" {
		if err := s.publish(ctx, t.HostID); err != nil {
			s.log.Error("publishing desired state failed; it is published again when the host registers", "device", t.HostID, "err", err)
		}
	}
	t.Status = store.TenantDeleting
	return t, nil
}

// RecordAccess writes to the audit log that actor was given a link into t's
// gateway as its owner.
func (s *Service) RecordAccess(ctx context.Context, t *store.Tenant, actor string) error {
	return s.store.AddAudit(ctx, &store.AuditEvent{Actor: actor, Action: "tenant.access", Target: t.ID,
		Detail: fmt.Sprintf("one-time link into %s as owner %s", t.Slug, t.OwnerID)})
}

// RecordSignOut audits that every session into t's gateway was ended.
func (s *Service) RecordSignOut(ctx context.Context, t *store.Tenant, actor string, closed int) error {
	return s.store.AddAudit(ctx, &store.AuditEvent{Actor: actor, Action: "tenant.signout", Target: t.ID,
		Detail: fmt.Sprintf("sessions into %s ended, %d connections closed", t.Slug, closed)})
}

// Logs returns up to tail of u's tenant's most recent log lines, asked from
// its host.
func (s *Service) Logs(ctx context.Context, u User, tail int) ([]string, error) {
	t, err := s.ownTenant(ctx, u)
	if err != nil {
		return nil, err
	}
	return s.logs(ctx, t, tail)
}

// LogsByID is Logs for any tenant (admin).
func (s *Service) LogsByID(ctx context.Context, id string, tail int) ([]string, error) {
	t, err := s.tenantByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.logs(ctx, t, tail)
}

func (s *Service) logs(ctx context.Context, t *store.Tenant, tail int) ([]string, error) {
	tail = min(max(tail, 1), proto.MaxLogLines)
	r, err := s.command(ctx, t.HostID, &proto.Command{Op: proto.OpLogs, TenantID: t.ID, Tail: tail}, s.opts.LogsTimeout)
	if err != nil {
		return nil, err
	}
	if r.Lines == nil {
		return []string{}, nil
	}
	return r.Lines, nil
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

// --- host capacity ---------------------------------------------------------

// HostLoad is a host's capacity, what its tenants reserve, and their number.
type HostLoad struct {
	Capacity Resources `json:"capacity"`
	Reserved Resources `json:"reserved"`
	Tenants  int       `json:"tenants"`
}

// Capacity is what tenants may reserve on h.
func (s *Service) Capacity(h *store.Host) Resources {
	return HostCapacity(h.CPUs, h.MemTotalBytes, s.opts.CPUOvercommit)
}

// HostLoads returns the load of every host in hs.
func (s *Service) HostLoads(ctx context.Context, hs []store.Host) (map[string]HostLoad, error) {
	use, err := s.store.HostUsages(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]HostLoad, len(hs))
	for i := range hs {
		u := use[hs[i].ID]
		out[hs[i].ID] = HostLoad{Capacity: s.Capacity(&hs[i]), Reserved: Resources{CPUMillis: u.CPUMillis, MemoryBytes: u.MemoryBytes}, Tenants: u.Tenants}
	}
	return out, nil
}

func (s *Service) candidates(ctx context.Context) ([]Candidate, error) {
	hs, err := s.fleet.ListHosts(ctx)
	if err != nil {
		return nil, err
	}
	use, err := s.store.HostUsages(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Candidate, 0, len(hs))
	for i := range hs {
		h := &hs[i]
		u := use[h.ID]
		out = append(out, Candidate{
			ID: h.ID, Online: h.Status == store.HostOnline, Runtimes: h.Capabilities.Runtimes, Labels: h.Labels,
			Capacity: s.Capacity(h), Reserved: Resources{CPUMillis: u.CPUMillis, MemoryBytes: u.MemoryBytes},
			MemUsedBytes: int64(min(h.Metrics.MemUsedBytes, 1<<62)), Tenants: u.Tenants,
		})
	}
	return out, nil
}

func (s *Service) freePort(ctx context.Context, hostID string) (int, error) {
	ts, err := s.store.ListHostTenants(ctx, hostID)
	if err != nil {
		return 0, err
	}
	used := make([]int, 0, len(ts))
	for _, t := range ts {
		used = append(used, t.Port)
	}
	return PickPort(used, s.opts.PortBase, s.opts.PortMax)
}

// --- desired state ---------------------------------------------------------

// publish sends a host's stored desired state (retained) and arms the
// acknowledgement check. Callers hold s.mu. It returns store.ErrNotFound
// when nothing was ever published to the host.
func (s *Service) publish(ctx context.Context, hostID string) error {
	d, err := s.store.GetHostDesired(ctx, hostID)
	if err != nil {
		return err
	}
	ts, err := s.store.ListHostTenants(ctx, hostID)
	if err != nil {
		return err
	}
	msg := proto.Desired{Revision: d.Revision, Tenants: make([]proto.TenantSpec, 0, len(ts)), Purge: d.Purge}
	for _, t := range ts {
		tok, err := s.seal.open(t.GatewayTokenEnc, t.ID)
		if err != nil {
			// Leaving the tenant out would make the host remove it.
			s.m.commands.WithLabelValues("desired", "error").Inc()
			return fmt.Errorf("tenant %s: gateway token: %w", t.ID, err)
		}
		spec := proto.TenantSpec{
			ID: t.ID, Slug: t.Slug, Owner: t.OwnerID, State: t.DesiredState, RestartGen: t.RestartGen, Port: t.Port,
			Image: t.Image, CPUMillis: t.CPUMillis, MemoryBytes: t.MemoryBytes, DiskBytes: t.DiskBytes, PidsLimit: t.PidsLimit,
			GatewayToken: tok, Auth: proto.GatewayAuthTrustedProxy,
		}
		if o := origin(s.opts.TenantURL(t.Slug)); o != "" {
			spec.AllowedOrigins = []string{o}
		}
		msg.Tenants = append(msg.Tenants, spec)
	}
	payload := proto.MustEncode(&msg)
	if _, err := proto.DecodeDesired(payload); err != nil {
		s.m.commands.WithLabelValues("desired", "error").Inc()
		return fmt.Errorf("desired state of host %s is invalid: %w", hostID, err)
	}
	if err := s.bus.Publish(proto.DownTopic(hostID, proto.KindDesired), payload, true); err != nil {
		s.m.commands.WithLabelValues("desired", "error").Inc()
		return err
	}
	s.m.commands.WithLabelValues("desired", "published").Inc()
	s.log.Debug("desired state published", "device", hostID, "revision", d.Revision, "tenants", len(msg.Tenants), "purge", len(msg.Purge))
	rev := d.Revision
	time.AfterFunc(s.opts.CommandTimeout, func() { s.enqueue(devMsg{host: hostID, kind: kindAckCheck, rev: rev}) })
	return nil
}

func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// pendingUpTo returns the host's pending tenants first published at or
// before rev.
func (s *Service) pendingUpTo(ctx context.Context, hostID string, rev int64) ([]store.Tenant, error) {
	ts, err := s.store.ListHostTenants(ctx, hostID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(ts, func(t store.Tenant) bool { return t.Status != store.TenantPending || t.PublishedRev > rev }), nil
}

func (s *Service) applyAck(ctx context.Context, hostID string, rev int64, r *proto.Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.store.AckDesired(ctx, hostID, rev); err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUnknownRevision) {
			s.refuse(hostID, proto.KindReply, "unknown_reply", err)
			return
		}
		s.log.Error("storing acknowledgement failed", "device", hostID, "revision", rev, "err", err)
		return
	}
	ts, err := s.pendingUpTo(ctx, hostID, rev)
	if err != nil {
		s.log.Error("acknowledgement: listing tenants failed", "device", hostID, "err", err)
		return
	}
	result := "acked"
	status, lastErr := store.TenantStarting, ""
	if !r.OK {
		result = "refused"
		status = store.TenantFailed
		lastErr = fmt.Sprintf("host %s refused the desired state: %s", hostID, r.Error)
		s.log.Warn("host refused desired state", "device", hostID, "revision", rev, "err", r.Error)
	}
	s.m.commands.WithLabelValues("desired", result).Inc()
	for _, t := range ts {
		s.setStatus(ctx, &t, status, lastErr, fmt.Sprintf("revision %d acknowledged by host %s", rev, hostID))
	}
}

func (s *Service) checkAck(ctx context.Context, hostID string, rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.store.GetHostDesired(ctx, hostID)
	if err != nil || d.AckedRevision >= rev {
		return
	}
	ts, err := s.pendingUpTo(ctx, hostID, rev)
	if err != nil {
		return
	}
	msg := fmt.Sprintf("host %s did not acknowledge within %s", hostID, s.opts.CommandTimeout)
	s.m.commands.WithLabelValues("desired", "timeout").Inc()
	for _, t := range ts {
		if t.LastError == msg {
			continue
		}
		if err := s.store.UpdateTenant(ctx, t.ID, map[string]any{"last_error": msg}); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("recording acknowledgement timeout failed", "tenant", t.ID, "err", err)
		}
	}
	if len(ts) > 0 {
		s.log.Warn("host did not acknowledge desired state", "device", hostID, "revision", rev, "pendingTenants", len(ts), "timeout", s.opts.CommandTimeout)
	}
}

// setStatus stores a tenant's new status and last error, auditing status
// changes. Callers hold s.mu.
func (s *Service) setStatus(ctx context.Context, t *store.Tenant, status, lastErr, why string) {
	fields := map[string]any{}
	if status != t.Status {
		fields["status"] = status
	}
	if lastErr != t.LastError {
		fields["last_error"] = lastErr
	}
	now := s.opts.Now()
	if status == store.TenantRunning && t.RunningAt == nil {
		fields["running_at"] = now
	}
	if len(fields) == 0 {
		return
	}
	err := s.store.Write(ctx, func(tx *gorm.DB) error {
		if err := store.UpdateTenant(tx, t.ID, fields); err != nil {
			return err
		}
		if status == t.Status {
			return nil
		}
		return store.AddAudit(tx, &store.AuditEvent{Actor: ActorSystem, Action: "tenant.status", Target: t.ID,
			Detail: truncate(fmt.Sprintf("%s → %s (%s)", t.Status, status, why), 1024)})
	})
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Error("storing tenant status failed", "tenant", t.ID, "err", err)
		}
		return
	}
	if _, ok := fields["running_at"]; ok {
		s.m.startSeconds.Observe(max(now.Sub(t.CreatedAt).Seconds(), 0))
	}
	if status != t.Status {
		s.log.Info("tenant status", "tenant", t.ID, "from", t.Status, "to", status, "why", why)
	}
}

func (s *Service) applyReport(ctx context.Context, hostID string, rep *proto.TenantReport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range rep.Tenants {
		t, err := s.store.GetTenant(ctx, st.ID)
		if errors.Is(err, store.ErrNotFound) {
			// Deleted meanwhile, or a leftover the agent is removing.
			s.log.Debug("report for an unknown tenant ignored", "device", hostID, "tenant", st.ID)
			continue
		}
		if err != nil {
			s.log.Error("report: reading tenant failed", "tenant", st.ID, "err", err)
			continue
		}
		if t.HostID != hostID {
			s.refuse(hostID, proto.KindEvent, "wrong_host", fmt.Errorf("report for tenant %s, which is placed on %s", st.ID, t.HostID))
			continue
		}
		s.setDisk(t.ID, st)
		status := st.State
		if status == proto.TenantRunning && st.RestartGen < t.RestartGen {
			status = store.TenantStarting // the requested restart has not happened yet
		}
		lastErr := st.Error
		if status == store.TenantFailed && lastErr == "" {
			lastErr = "the gateway failed (no detail from the host)"
		}
		s.setStatus(ctx, t, status, lastErr, "reported by host "+hostID)
	}
	if len(rep.Purged) == 0 {
		return
	}
	d, err := s.store.GetHostDesired(ctx, hostID)
	if err != nil {
		s.refuse(hostID, proto.KindEvent, "invalid", fmt.Errorf("purged tenants reported by a host without desired state"))
		return
	}
	var done []string
	for _, id := range rep.Purged {
		if slices.Contains(d.Purge, id) {
			done = append(done, id)
		}
	}
	if len(done) == 0 {
		return
	}
	if _, err := s.store.BumpDesired(ctx, hostID, nil, done); err != nil {
		s.log.Error("recording purged tenants failed", "device", hostID, "err", err)
		return
	}
	for _, id := range done {
		_ = s.store.AddAudit(ctx, &store.AuditEvent{Actor: ActorSystem, Action: "tenant.purged", Target: id, Detail: "data purged by host " + hostID})
	}
	s.log.Info("tenant data purged", "device", hostID, "tenants", done)
	if err := s.publish(ctx, hostID); err != nil {
		s.log.Error("publishing desired state failed", "device", hostID, "err", err)
	}
}

// --- names -----------------------------------------------------------------

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// randomID returns n random bytes as lowercase base32.
func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return idEncoding.EncodeToString(b)
}

// randomToken is a fresh gateway token: 256 bits as lowercase base32.
func randomToken() string { return randomID(32) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
