// Package fleet keeps track of devices: enrollment, authentication, presence
// (online/offline from registrations, heartbeats, Last Will and missed
// heartbeats), batched heartbeat writes and revocation. It decodes every
// device message once and tells other services what happened to hosts as
// typed events (events.go). It talks to devices only through the Bus
// interface, so the embedded broker can be replaced by an external MQTT
// cluster without touching this package.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/prometheus/client_golang/prometheus"
)

// Bus is how the cloud exchanges messages with devices. The embedded broker
// implements it with mochi's inline client; an adapter for an external broker
// would implement it with a shared subscription.
type Bus interface {
	// Publish sends a message to devices (QoS 1).
	Publish(topic string, payload []byte, retain bool) error
	// Subscribe delivers matching device messages to handler. The handler
	// must not block: it may run in the publishing client's goroutine.
	Subscribe(filter string, handler func(topic string, payload []byte)) error
	// Disconnect drops a device's connection at once, if it has one.
	Disconnect(deviceID string) error
}

// Options configure a Fleet. Zero values take the documented defaults.
type Options struct {
	// HeartbeatInterval is the default interval pushed to agents (5 s). An
	// admin may change it at run time; the change is stored.
	HeartbeatInterval time.Duration
	// MissedHeartbeats after which a silent host is marked offline (3).
	MissedHeartbeats int
	// FlushInterval is how often buffered heartbeats are written (1 s).
	FlushInterval time.Duration
	// PersistEvery is how often an online host's heartbeat (last seen,
	// metrics) is written at most; a change of status is written at the
	// next flush whatever it says. 0 writes every heartbeat. The API
	// shows live presence from memory, so this only bounds how stale the
	// store is.
	PersistEvery time.Duration
	// QueueSize bounds buffered incoming messages (65536); beyond it
	// messages are dropped and counted.
	QueueSize int
	Logger    *slog.Logger
	// Registerer receives the fleet's Prometheus metrics (nil = none).
	Registerer prometheus.Registerer
	// Now is the clock (tests).
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = 5 * time.Second
	}
	if o.MissedHeartbeats == 0 {
		o.MissedHeartbeats = 3
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = time.Second
	}
	if o.QueueSize == 0 {
		o.QueueSize = 1 << 16
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = func() time.Time { return time.Now().UTC() }
	}
}

// Validate reports a setting that cannot work, saying what to change.
func (o Options) Validate() error {
	if o.HeartbeatInterval != 0 && (o.HeartbeatInterval < proto.MinHeartbeatInterval || o.HeartbeatInterval > proto.MaxHeartbeatInterval) {
		return fmt.Errorf("heartbeat interval %s: set it between %s and %s", o.HeartbeatInterval, proto.MinHeartbeatInterval, proto.MaxHeartbeatInterval)
	}
	if o.MissedHeartbeats < 0 {
		return errors.New("missed heartbeats must be positive")
	}
	return nil
}

// The fleet's failures, as API clients see them (apperr.Public).
var (
	ErrHostNotFound = apperr.New(apperr.NotFound, "not_found", "host not found")
	// ErrBadRequest is a request the fleet refuses; its copies say why.
	ErrBadRequest = apperr.New(apperr.Invalid, "invalid_request", "bad request")
)

const settingHeartbeat = "heartbeat_interval"

type message struct {
	deviceID string
	kind     string
	payload  []byte
	at       time.Time
}

// presence is the live state of one host, kept in memory and written to the
// store in batches.
type presence struct {
	status   string
	lastSeen time.Time
	metrics  proto.Metrics
	tunnel   *proto.TunnelStatus
	claim    string // the box's claim state, from its heartbeats
	sentAt   int64  // newest heartbeat's SentAt, unix ms; 0 when none is pending
	// persistedAt and persisted are when the host was last written and
	// with which status (PersistEvery).
	persistedAt time.Time
	persisted   string
	// wgKey is the WireGuard key of the latest registration, oldKeys the
	// ones it replaced (oldest first); sharedAt the latest sign of a second
	// device with these credentials (shared.go), sharedAudited its latest
	// audit event.
	wgKey                   string
	oldKeys                 []string
	sharedAt, sharedAudited time.Time
}

// Fleet is the device service.
type Fleet struct {
	opts  Options
	store *store.Store
	bus   Bus
	log   *slog.Logger
	m     *metrics

	queue  chan message
	listen sync.Once
	lerr   error

	mu       sync.Mutex
	secrets  map[string]string // device ID → secret hash (auth cache)
	presence map[string]*presence
	dirty    map[string]bool // hosts whose presence changed since the last flush
	interval time.Duration

	hooks atomic.Pointer[[]Handler] // copy-on-write list

	wmu     sync.Mutex
	waiters map[string]*waiter // by command ID
}

// New builds the fleet service; call Run to start it.
func New(st *store.Store, bus Bus, opts Options) (*Fleet, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.defaults()
	f := &Fleet{
		opts: opts, store: st, bus: bus, log: opts.Logger.With("component", "fleet"),
		queue:    make(chan message, opts.QueueSize),
		secrets:  map[string]string{},
		presence: map[string]*presence{},
		dirty:    map[string]bool{},
		waiters:  map[string]*waiter{},
		interval: opts.HeartbeatInterval,
	}
	f.m = newMetrics(opts.Registerer, f)
	return f, nil
}

// Load warms the caches from the store. Hosts that were online when the cloud
// stopped stay online for one offline window, so their agents have time to
// reconnect before they are declared offline.
func (f *Fleet) Load(ctx context.Context) error {
	if v, err := f.store.GetSetting(ctx, settingHeartbeat); err == nil {
		if d, perr := time.ParseDuration(v); perr == nil && d >= proto.MinHeartbeatInterval && d <= proto.MaxHeartbeatInterval {
			f.interval = d
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("fleet: load settings: %w", err)
	}
	hosts, err := f.store.ListHosts(ctx)
	if err != nil {
		return fmt.Errorf("fleet: load hosts: %w", err)
	}
	now := f.opts.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range hosts {
		f.secrets[h.ID] = h.SecretHash
		p := &presence{status: h.Status, metrics: h.Metrics, wgKey: h.WGPublicKey, persisted: h.Status, persistedAt: now}
		if h.Status == store.HostOnline {
			p.lastSeen = now
		} else if h.LastHeartbeat != nil {
			p.lastSeen = *h.LastHeartbeat
		}
		f.presence[h.ID] = p
	}
	f.log.Info("fleet loaded", "hosts", len(hosts), "heartbeatInterval", f.interval)
	return nil
}

// Listen subscribes to device messages; they queue until Run handles them.
// Call it before the broker accepts devices: a registration published before
// the subscription would be lost, leaving the host without its runtimes until
// its agent reconnects. Run calls it too; only the first call subscribes.
func (f *Fleet) Listen() error {
	f.listen.Do(func() {
		if err := f.bus.Subscribe(proto.CloudFilter, f.enqueue); err != nil {
			f.lerr = fmt.Errorf("fleet: subscribe %s: %w", proto.CloudFilter, err)
		}
	})
	return f.lerr
}

// Run subscribes to device messages (Listen) and processes them until ctx
// ends, then flushes what is buffered.
func (f *Fleet) Run(ctx context.Context) error {
	if err := f.Listen(); err != nil {
		return err
	}
	flush := time.NewTicker(f.opts.FlushInterval)
	defer flush.Stop()
	sweep := time.NewTicker(time.Second)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			// Drain what is queued, then write it with a fresh context.
			for {
				select {
				case msg := <-f.queue:
					f.handle(context.Background(), msg)
					continue
				default:
				}
				break
			}
			f.flush(context.Background())
			return nil
		case msg := <-f.queue:
			if msg.kind == proto.KindRegister {
				f.handleQueued(ctx, msg)
			} else {
				f.handle(ctx, msg)
			}
		case <-flush.C:
			f.flush(ctx)
		case <-sweep.C:
			f.sweep()
		}
	}
}

// enqueue is the bus handler: parse the topic and queue, never block.
func (f *Fleet) enqueue(topic string, payload []byte) {
	id, dir, kind, err := proto.ParseTopic(topic)
	if err != nil || dir != proto.Up {
		f.m.bad.WithLabelValues("topic").Inc()
		return
	}
	select {
	case f.queue <- message{deviceID: id, kind: kind, payload: payload, at: f.opts.Now()}:
	default:
		f.m.dropped.Inc()
	}
}

func (f *Fleet) handle(ctx context.Context, msg message) {
	log := f.log.With("device", msg.deviceID, "kind", msg.kind)
	f.mu.Lock()
	_, known := f.secrets[msg.deviceID]
	f.mu.Unlock()
	if !known {
		// A revoked host's last messages, or a forged topic from the inline side.
		f.m.bad.WithLabelValues("unknown_device").Inc()
		log.Debug("message from unknown device dropped")
		return
	}
	var err error
	switch msg.kind {
	case proto.KindRegister:
		err = f.handleRegister(ctx, msg)
	case proto.KindHeartbeat:
		err = f.handleHeartbeat(msg)
	case proto.KindStatus:
		err = f.handleStatus(msg)
	case proto.KindEvent:
		f.handleEvent(msg)
		return
	case proto.KindReply:
		f.handleReply(msg)
		return
	default:
		return
	}
	if err != nil {
		// What is not a decoding error failed when storing or answering.
		f.m.bad.WithLabelValues(refusalReason(err, "store")).Inc()
		log.Warn("device message refused", "err", err)
	}
}

func (f *Fleet) handleRegister(ctx context.Context, msg message) error {
	reg, err := proto.DecodeRegister(msg.payload)
	if err != nil {
		return err
	}
	if err := f.store.RegisterHost(ctx, msg.deviceID, msg.at, hostOf(reg)); err != nil {
		return fmt.Errorf("store registration: %w", err)
	}
	f.m.regBatch.Observe(1)
	return f.registered(ctx, msg, reg)
}

func hostOf(reg *proto.Register) *store.Host {
	return &store.Host{
		Hostname: reg.Hostname, AgentVersion: reg.AgentVersion, OS: reg.OS, Arch: reg.Arch,
		CPUs: reg.CPUs, MemTotalBytes: reg.MemTotalBytes, WGPublicKey: reg.WGPublicKey, Capabilities: reg.Capabilities,
	}
}

// registered is what follows a stored registration.
func (f *Fleet) registered(ctx context.Context, msg message, reg *proto.Register) error {
	f.markSeen(msg.deviceID, msg.at, nil, 0)
	f.checkShared(ctx, msg.deviceID, reg.WGPublicKey, msg.at)
	f.m.registers.Inc()
	f.log.Info("host registered", "device", msg.deviceID, "hostname", reg.Hostname, "version", reg.AgentVersion, "os", reg.OS, "arch", reg.Arch)
	err := f.pushConfig(msg.deviceID)
	f.emit(Registered{HostID: msg.deviceID})
	return err
}

// maxRegisterBatch bounds how many queued messages a registration takes
// along into one store transaction.
const maxRegisterBatch = 500

// handleQueued handles the registration first and the messages queued
// behind it: their registrations in one store transaction (after a cloud
// restart the whole fleet registers at once, and a transaction each kept
// heartbeats waiting behind thousands of them), then the rest in order.
// A device's messages keep their order: a registration joins the batch
// only if nothing of its device is queued before it in this round.
func (f *Fleet) handleQueued(ctx context.Context, first message) {
	regs := []message{first}
	var rest []message
	inRegs, inRest := map[string]bool{first.deviceID: true}, map[string]bool{}
drain:
	for len(regs)+len(rest) < maxRegisterBatch {
		select {
		case m := <-f.queue:
			if m.kind == proto.KindRegister && !inRegs[m.deviceID] && !inRest[m.deviceID] {
				regs, inRegs[m.deviceID] = append(regs, m), true
			} else {
				rest, inRest[m.deviceID] = append(rest, m), true
			}
		default:
			break drain
		}
	}
	if len(regs) == 1 {
		f.handle(ctx, first)
	} else {
		f.handleRegisters(ctx, regs)
	}
	for _, m := range rest {
		f.handle(ctx, m)
	}
}

// handleRegisters stores registrations in one transaction and handles each
// as handleRegister does; if the batch fails, each is tried on its own.
func (f *Fleet) handleRegisters(ctx context.Context, msgs []message) {
	var ok []message
	var decoded []*proto.Register
	var batch []store.Registration
	for _, m := range msgs {
		f.mu.Lock()
		_, known := f.secrets[m.deviceID]
		f.mu.Unlock()
		if !known {
			f.handle(ctx, m) // counts and logs it as handle does
			continue
		}
		reg, err := proto.DecodeRegister(m.payload)
		if err != nil {
			f.m.bad.WithLabelValues(refusalReason(err, "store")).Inc()
			f.log.Warn("device message refused", "device", m.deviceID, "kind", m.kind, "err", err)
			continue
		}
		ok, decoded = append(ok, m), append(decoded, reg)
		batch = append(batch, store.Registration{ID: m.deviceID, At: m.at, Host: hostOf(reg)})
	}
	if len(batch) == 0 {
		return
	}
	missing, err := f.store.RegisterHosts(ctx, batch)
	if err == nil {
		f.m.regBatch.Observe(float64(len(batch)))
	}
	if err != nil {
		f.log.Warn("storing a batch of registrations failed; storing them one by one", "hosts", len(batch), "err", err)
		for _, m := range ok {
			f.handle(ctx, m)
		}
		return
	}
	gone := map[string]bool{}
	for _, id := range missing {
		gone[id] = true
	}
	for i, m := range ok {
		err := fmt.Errorf("store registration: %w", store.ErrNotFound)
		if !gone[m.deviceID] {
			err = f.registered(ctx, m, decoded[i])
		}
		if err != nil {
			f.m.bad.WithLabelValues(refusalReason(err, "store")).Inc()
			f.log.Warn("device message refused", "device", m.deviceID, "kind", m.kind, "err", err)
		}
	}
}

func (f *Fleet) pushConfig(deviceID string) error {
	f.mu.Lock()
	iv := f.interval
	f.mu.Unlock()
	payload := proto.MustEncode(&proto.Config{HeartbeatIntervalSeconds: int(iv / time.Second)})
	if err := f.bus.Publish(proto.DownTopic(deviceID, proto.KindConfig), payload, true); err != nil {
		return fmt.Errorf("publish config: %w", err)
	}
	return nil
}

func (f *Fleet) handleHeartbeat(msg message) error {
	hb, err := proto.DecodeHeartbeat(msg.payload)
	if err != nil {
		return err
	}
	f.m.heartbeats.Inc()
	f.markSeen(msg.deviceID, msg.at, &hb.Metrics, hb.SentAt)
	f.mu.Lock()
	if p := f.presence[msg.deviceID]; p != nil {
		p.tunnel = hb.Tunnel
		p.claim = hb.Claim
	}
	f.mu.Unlock()
	return nil
}

func (f *Fleet) handleStatus(msg message) error {
	st, err := proto.DecodeStatus(msg.payload)
	if err != nil {
		return err
	}
	if st.State == proto.StateOnline {
		f.markSeen(msg.deviceID, msg.at, nil, 0)
		return nil
	}
	f.mu.Lock()
	went := false
	if p := f.presence[msg.deviceID]; p != nil && p.status != store.HostOffline {
		p.status = store.HostOffline
		f.dirty[msg.deviceID] = true
		went = true
		f.log.Info("host offline", "device", msg.deviceID, "reason", "status offline (last will or clean shutdown)")
	}
	f.mu.Unlock()
	if went {
		f.emit(Offline{HostID: msg.deviceID})
	}
	return nil
}

func (f *Fleet) markSeen(id string, at time.Time, m *proto.Metrics, sentAt int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.presence[id]
	if p == nil {
		p = &presence{}
		f.presence[id] = p
	}
	if p.status != store.HostOnline {
		f.log.Info("host online", "device", id)
	}
	p.status = store.HostOnline
	p.lastSeen = at
	if m != nil {
		p.metrics = *m
		if sentAt > 0 {
			p.sentAt = sentAt
		}
	}
	f.dirty[id] = true
}

// sweep marks hosts offline that missed MissedHeartbeats heartbeats.
func (f *Fleet) sweep() {
	now := f.opts.Now()
	var gone []string
	f.mu.Lock()
	window := time.Duration(f.opts.MissedHeartbeats) * f.interval
	for id, p := range f.presence {
		if p.status == store.HostOnline && now.Sub(p.lastSeen) > window {
			p.status = store.HostOffline
			f.dirty[id] = true
			gone = append(gone, id)
			f.log.Info("host offline", "device", id, "reason", "missed heartbeats", "silentFor", now.Sub(p.lastSeen).Round(time.Millisecond))
		}
	}
	f.mu.Unlock()
	for _, id := range gone {
		f.emit(Offline{HostID: id})
	}
}

// flush writes every changed host's current presence in one batch.
func (f *Fleet) flush(ctx context.Context) {
	f.mu.Lock()
	if len(f.dirty) == 0 {
		f.mu.Unlock()
		return
	}
	var online []store.HeartbeatUpdate
	var offline []string
	var sent []int64
	now := f.opts.Now()
	for id := range f.dirty {
		p := f.presence[id]
		if p == nil {
			delete(f.dirty, id)
			continue
		}
		if p.status == store.HostOnline {
			if p.persisted == store.HostOnline && f.opts.PersistEvery > 0 && now.Sub(p.persistedAt) < f.opts.PersistEvery {
				continue // written lately as online: stays dirty until due
			}
			online = append(online, store.HeartbeatUpdate{HostID: id, At: p.lastSeen, Metrics: p.metrics})
			if p.sentAt > 0 {
				sent = append(sent, p.sentAt)
				p.sentAt = 0
			}
		} else {
			offline = append(offline, id)
		}
		p.persistedAt, p.persisted = now, p.status
		delete(f.dirty, id)
	}
	f.mu.Unlock()
	if len(online) == 0 && len(offline) == 0 {
		return
	}

	start := time.Now()
	err := f.store.ApplyHeartbeats(ctx, online)
	if err == nil {
		err = f.store.SetHostsStatus(ctx, offline, store.HostOffline, f.opts.Now())
	}
	f.m.flushSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		// Put them back so the next flush tries again; nothing is lost.
		f.mu.Lock()
		for _, u := range online {
			f.dirty[u.HostID] = true
			if p := f.presence[u.HostID]; p != nil {
				p.persisted = "" // not written: due at once
			}
		}
		for _, id := range offline {
			f.dirty[id] = true
			if p := f.presence[id]; p != nil {
				p.persisted = ""
			}
		}
		f.mu.Unlock()
		f.m.flushErrors.Inc()
		f.log.Error("writing heartbeats failed; will retry", "hosts", len(online)+len(offline), "err", err)
		return
	}
	done := time.Now().UnixMilli()
	for _, s := range sent {
		f.m.storeLatency.Observe(float64(max(done-s, 0)) / 1000)
	}
}

// Authenticate checks a device's secret against the stored hash in constant
// time. It implements the broker's Authenticator.
func (f *Fleet) Authenticate(ctx context.Context, deviceID, secret string) bool {
	f.mu.Lock()
	hash, ok := f.secrets[deviceID]
	f.mu.Unlock()
	if !ok {
		// Another cloud node may have enrolled it: look in the store.
		h, err := f.store.GetHost(ctx, deviceID)
		if err != nil {
			creds.Equal(creds.Hash("x"), secret) // same work either way
			return false
		}
		hash = h.SecretHash
		f.mu.Lock()
		f.secrets[deviceID] = hash
		f.mu.Unlock()
	}
	return creds.Equal(hash, secret)
}

// HeartbeatInterval is the interval currently pushed to agents.
func (f *Fleet) HeartbeatInterval() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.interval
}

// SetHeartbeatInterval changes the interval, stores it and pushes it to every
// known host (retained, so offline hosts get it when they return).
func (f *Fleet) SetHeartbeatInterval(ctx context.Context, d time.Duration, actor string) error {
	if d < proto.MinHeartbeatInterval || d > proto.MaxHeartbeatInterval || d%time.Second != 0 {
		return ErrBadRequest.Withf("heartbeat interval must be whole seconds between %s and %s", proto.MinHeartbeatInterval, proto.MaxHeartbeatInterval)
	}
	if err := f.store.PutSetting(ctx, settingHeartbeat, d.String()); err != nil {
		return err
	}
	_ = f.store.AddAudit(ctx, &store.AuditEvent{Actor: actor, Action: "settings.heartbeat_interval", Detail: d.String()})
	now := f.opts.Now()
	f.mu.Lock()
	f.interval = d
	ids := make([]string, 0, len(f.presence))
	for id, p := range f.presence {
		ids = append(ids, id)
		if p.status == store.HostOnline {
			p.lastSeen = now // a fresh window at the new cadence
		}
	}
	f.mu.Unlock()
	for _, id := range ids {
		if err := f.pushConfig(id); err != nil {
			f.log.Warn("pushing heartbeat interval failed", "device", id, "err", err)
		}
	}
	return nil
}
