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
//
// Files by job: service.go (options, wiring), lifecycle.go (the requests:
// create, read, restart, delete, logs), placement.go (choosing a host and
// port, moving tenants off deleted hosts), desired.go (publishing desired
// state, acknowledgements, status changes), reports.go (device messages
// and the agents' reports), commands.go (request/reply commands to hosts).
package tenant

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/seal"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/prometheus/client_golang/prometheus"
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

// The service's failures; their codes and messages are what API clients see
// (apperr.Public). The default messages are used where no detail is added.
var (
	ErrInvalidPlan = apperr.New(apperr.Invalid, "invalid_plan", "invalid plan")
	ErrInvalidName = apperr.New(apperr.Invalid, "invalid_name", "invalid name")
	ErrNoTenant    = apperr.New(apperr.NotFound, "no_tenant", "no tenant: create one with POST /api/tenants")
	ErrConflict    = apperr.New(apperr.Conflict, "conflict", "conflicting state")
)

// User is the person a tenant is for: its owner.
type User struct {
	ID    string
	Email string
}

// ActorSystem names the service itself in audit events (status changes,
// moves, purges); people are named by authz.Actor.Audit.
const ActorSystem = "system"

// Service is the tenant service.
type Service struct {
	opts  Options
	store *store.Store
	fleet *fleet.Fleet
	bus   fleet.Bus
	log   *slog.Logger
	m     *metrics
	seal  *seal.Sealer

	// mu serialises every change of tenant or desired state, so that a
	// published desired state always matches its stored revision.
	mu sync.Mutex
	// resends counts, by host, the resends of a desired state not yet
	// acknowledged (guarded by mu).
	resends map[string]int

	queue chan devMsg

	umu   sync.Mutex
	disks map[string]DiskUsage // by tenant ID, from the hosts' reports
	// usageBases and usagePending (usage.go): each tenant's last sampled
	// measurement, and the samples not yet written.
	usageBases   map[string]usageBase
	usagePending []store.UsageSample

	watch watchers // Watch

	// bg counts the work started outside the queue (a host's deletion);
	// Run waits for it before returning, so nothing writes the store or
	// logs after the cloud stopped. bgClosed refuses new work from then on.
	bgMu     sync.Mutex
	bg       sync.WaitGroup
	bgClosed bool
}

// New builds the service and hooks it into the fleet's device messages;
// call Run to process them.
func New(st *store.Store, fl *fleet.Fleet, bus fleet.Bus, opts Options) (*Service, error) {
	opts.defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	sealer, err := seal.New(opts.SecretKey)
	if err != nil {
		return nil, err
	}
	s := &Service{
		opts: opts, store: st, fleet: fl, bus: bus, seal: sealer,
		log:        opts.Logger.With("component", "tenant"),
		queue:      make(chan devMsg, 4096),
		disks:      map[string]DiskUsage{},
		usageBases: map[string]usageBase{},
		resends:    map[string]int{},
	}
	s.m = newMetrics(opts.Registerer, s)
	fl.Subscribe(s.onEvent)
	return s, nil
}

// Plans returns the plans offered.
func (s *Service) Plans() Plans { return s.opts.Plans }

// URL returns a tenant's public URL.
func (s *Service) URL(slug string) string { return s.opts.TenantURL(slug) }

// Run processes agents' acknowledgements and reports until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.placeOrphans(ctx)
	usageDone := make(chan struct{})
	go func() { s.runUsage(ctx); close(usageDone) }()
	defer func() { <-usageDone }()
	defer s.stopBackground()
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg := <-s.queue:
			s.handle(ctx, msg)
		}
	}
}

// background runs f in its own goroutine, counted for Run's return, unless
// Run has returned (then the next start's placeOrphans does its work).
func (s *Service) background(f func()) bool {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgClosed {
		return false
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f()
	}()
	return true
}

func (s *Service) stopBackground() {
	s.bgMu.Lock()
	s.bgClosed = true
	s.bgMu.Unlock()
	s.bg.Wait()
}

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
