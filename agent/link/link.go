// Package link is the agent's MQTT session with the cloud: it connects with
// the device's credentials, registers, reports status and heartbeats, applies
// the cloud's config and routes the other down/ messages to handlers that
// later features register. It runs its own reconnect loop (full-jitter
// exponential backoff) instead of paho's, so that every wait honours the
// context and an auth refusal is reported clearly.
package link

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/clawfleet/clawfleet/agent/version"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Defaults for the zero values of Options.
const (
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultKeepAlive         = 30 * time.Second
	DefaultConnectTimeout    = 10 * time.Second
	DefaultAckTimeout        = 10 * time.Second
	DefaultBackoffBase       = 1 * time.Second
	DefaultBackoffCap        = 60 * time.Second
	DefaultStableAfter       = 30 * time.Second
)

// subackFailure is the SUBACK return code of a refused subscription.
const subackFailure = 0x80

// Down messages come in two classes, so bulk requests can never hold up the
// host's state. State kinds (desired, tunnel, claim) are retained snapshots
// where only the newest matters: each has a one-slot mailbox that a newer
// message overwrites and that is never dropped, served by its own goroutine.
// Commands (cmd: logs, key rotation) are requests with an id: a bounded queue
// served by a few workers; one that finds the queue full is answered "busy"
// at once instead of being left to time out on the cloud.
const (
	commandQueue   = 64
	commandWorkers = 4
	// busyReplies bounds the "busy" answers waiting to be sent; past it an
	// overflowing command is only dropped (the cloud times it out).
	busyReplies = 64
)

// ErrBusy is the reply error of a command refused because the agent already
// has commandQueue commands waiting.
var ErrBusy = errors.New("agent busy: too many commands waiting; retry shortly")

var (
	// ErrCredentialsRefused is returned (wrapped) by a connection attempt the
	// broker refused with "bad user name or password" or "not authorized".
	ErrCredentialsRefused = errors.New("credentials refused: the host may have been deleted; re-enroll")
	// ErrNotConnected is returned by Publish while no session is registered.
	ErrNotConnected = errors.New("link: not connected")
	errTimeout      = errors.New("timed out waiting for the broker")
)

// Handler processes the payload of one down/ message, with the context given
// to Run. A handler must decode and validate the payload itself. Handlers of
// state kinds run one message at a time on one goroutine, and a state message
// that arrives while an older one of its kind waits replaces it; command
// handlers run on up to commandWorkers goroutines at once.
type Handler func(ctx context.Context, payload []byte)

// MetricsSource supplies the metrics of each heartbeat. Sample may return
// partial metrics together with an error; the link logs the error and sends
// what it got.
type MetricsSource interface {
	Sample(ctx context.Context) (proto.Metrics, error)
}

// Options configure a Link. Zero durations take the defaults above.
type Options struct {
	// Creds identify the device (required). Creds.MQTTURL is the broker and
	// Creds.CACertPEM, when set, is the only CA trusted for TLS brokers.
	Creds *creds.Credentials
	// BrokerURL overrides Creds.MQTTURL (tests, debugging).
	BrokerURL string

	// HeartbeatInterval is the cadence until the cloud's config sets another.
	HeartbeatInterval time.Duration
	// KeepAlive is the MQTT keepalive, in whole seconds (at least 1 s).
	KeepAlive time.Duration
	// ConnectTimeout bounds dialing plus the CONNECT/CONNACK handshake.
	ConnectTimeout time.Duration
	// AckTimeout bounds the wait for SUBACK and for PUBACKs of QoS 1 publishes.
	AckTimeout time.Duration

	// BackoffBase and BackoffCap shape the reconnect delays (see Backoff).
	BackoffBase, BackoffCap time.Duration
	// StableAfter is how long a registered connection must last before a loss
	// restarts the backoff from BackoffBase.
	StableAfter time.Duration
	// Rand is the backoff's random source (see Backoff.Rand); nil is math/rand.
	Rand func(n int64) int64

	// Metrics feeds heartbeats; nil sends zero metrics.
	Metrics MetricsSource
	// Register builds the register payload on every (re)connect; nil sends
	// hostname, OS, architecture, CPU count and agent version only.
	Register func(ctx context.Context) proto.Register

	// Logger receives the link's structured logs; nil is slog.Default().
	Logger *slog.Logger
	// Tunnel, when set, reports the WireGuard tunnel's state in each
	// heartbeat (nil: the host has no tunnel yet).
	Tunnel func() *proto.TunnelStatus
	// Claim, when set, reports a box's claim state in each heartbeat
	// (proto.ClaimStateClaimed or ClaimStateUnclaimed; "" for none).
	Claim func() string
	// Dialer, when set, dials the broker (e.g. from a chosen local address);
	// nil is a plain dialer with ConnectTimeout.
	Dialer *net.Dialer
}

// Link is one device's MQTT session with the cloud. Create it with New, add
// handlers with Handle, then call Run once.
type Link struct {
	opts     Options
	id       string
	broker   string
	tls      *tls.Config
	log      *slog.Logger
	interval atomic.Int64 // current heartbeat interval, nanoseconds
	changed  chan struct{}
	seq      atomic.Uint64
	state    mailbox      // state kinds, newest per kind
	commands chan inbound // KindCmd
	busy     chan string  // ids of commands to answer busy
	running  atomic.Bool

	mu       sync.RWMutex
	handlers map[string]Handler
	client   mqtt.Client // the registered session's client, nil otherwise
}

type inbound struct {
	kind    string
	payload []byte
	handler Handler
}

// New checks the options and returns a Link ready to Run.
func New(opts Options) (*Link, error) {
	if opts.Creds == nil {
		return nil, errors.New("link: no credentials")
	}
	if err := proto.ValidateDeviceID(opts.Creds.DeviceID); err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	setDefault(&opts.HeartbeatInterval, DefaultHeartbeatInterval)
	setDefault(&opts.KeepAlive, DefaultKeepAlive)
	setDefault(&opts.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&opts.AckTimeout, DefaultAckTimeout)
	setDefault(&opts.BackoffBase, DefaultBackoffBase)
	setDefault(&opts.BackoffCap, DefaultBackoffCap)
	setDefault(&opts.StableAfter, DefaultStableAfter)
	if opts.KeepAlive < time.Second {
		opts.KeepAlive = time.Second
	}
	broker := opts.BrokerURL
	if broker == "" {
		broker = opts.Creds.MQTTURL
	}
	u, err := url.Parse(broker)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("link: broker URL %q is not a URL such as tcp://host:1883", broker)
	}
	l := &Link{
		opts:     opts,
		id:       opts.Creds.DeviceID,
		broker:   broker,
		log:      opts.Logger,
		changed:  make(chan struct{}, 1),
		state:    mailbox{pending: make(map[string]inbound), ready: make(chan struct{}, 1)},
		commands: make(chan inbound, commandQueue),
		busy:     make(chan string, busyReplies),
		handlers: make(map[string]Handler),
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	l.log = l.log.With("device", l.id)
	l.interval.Store(int64(opts.HeartbeatInterval))
	switch u.Scheme {
	case "tcp", "mqtt", "ws":
	case "ssl", "tls", "mqtts", "wss":
		l.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		if opts.Creds.CACertPEM != "" {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(opts.Creds.CACertPEM)) {
				return nil, errors.New("link: caCertPem holds no usable PEM certificate")
			}
			l.tls.RootCAs = pool
		}
	default:
		return nil, fmt.Errorf("link: broker URL scheme %q: use tcp:// or ssl://", u.Scheme)
	}
	return l, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Handle registers h for down/ messages of the given kind (proto.KindCmd,
// KindClaim, KindTunnel, KindDesired; a handler for KindConfig runs after the
// link has applied the config itself). A nil h removes the handler. Handle may
// be called at any time; messages of a kind without handler are dropped.
func (l *Link) Handle(kind string, h Handler) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h == nil {
		delete(l.handlers, kind)
		return
	}
	l.handlers[kind] = h
}

// HeartbeatInterval returns the current heartbeat interval.
func (l *Link) HeartbeatInterval() time.Duration { return time.Duration(l.interval.Load()) }

// Connected reports whether a session is up and registered.
func (l *Link) Connected() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.client != nil
}

// Publish sends payload on the device's up/{kind} topic (not retained) and,
// for QoS 1, waits for the broker's acknowledgement. It returns
// ErrNotConnected while no session is registered: the caller decides whether
// to retry.
func (l *Link) Publish(ctx context.Context, kind string, qos byte, payload []byte) error {
	topic := proto.UpTopic(l.id, kind)
	if _, dir, _, err := proto.ParseTopic(topic); err != nil || dir != proto.Up {
		return fmt.Errorf("link: %q is not an up kind", kind)
	}
	if len(payload) > proto.MaxPayload {
		return proto.ErrTooLarge
	}
	l.mu.RLock()
	c := l.client
	l.mu.RUnlock()
	if c == nil {
		return ErrNotConnected
	}
	return waitToken(ctx, c.Publish(topic, qos, false, payload), l.opts.AckTimeout)
}

// Reregister sends a fresh register message (e.g. after the WireGuard key
// changed) on the current session.
func (l *Link) Reregister(ctx context.Context) error {
	reg := l.register(ctx)
	return l.Publish(ctx, proto.KindRegister, 1, proto.MustEncode(&reg))
}

// Run keeps a session with the broker until ctx is done, reconnecting after
// every failure or loss with full-jitter exponential backoff (at the cap
// interval while the broker refuses the credentials). It returns nil when ctx
// ends, after telling the cloud the device goes offline, and an error only if
// it is called twice.
func (l *Link) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("link: Run called twice")
	}
	var wg sync.WaitGroup
	wg.Add(2 + commandWorkers)
	go func() {
		defer wg.Done()
		l.dispatchState(ctx)
	}()
	go func() {
		defer wg.Done()
		l.answerBusy(ctx)
	}()
	for range commandWorkers {
		go func() {
			defer wg.Done()
			l.serveCommands(ctx)
		}()
	}
	defer wg.Wait()

	bo := Backoff{Base: l.opts.BackoffBase, Cap: l.opts.BackoffCap, Rand: l.opts.Rand}
	for {
		up, err := l.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var delay time.Duration
		if errors.Is(err, ErrCredentialsRefused) {
			delay = l.opts.BackoffCap
			l.log.Error("credentials refused: the host may have been deleted; re-enroll", "broker", l.broker, "retryIn", delay)
		} else {
			if up >= l.opts.StableAfter {
				bo.Reset()
			}
			delay = bo.Next()
			l.log.Warn("mqtt session ended; reconnecting", "err", err, "upFor", up.Round(time.Millisecond), "attempt", bo.Attempt(), "retryIn", delay.Round(time.Millisecond))
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// session runs one connection from dial to loss. It returns how long the
// connection stayed registered (0 if it never got that far) and why it ended.
func (l *Link) session(ctx context.Context) (time.Duration, error) {
	lost := make(chan error, 1)
	client := mqtt.NewClient(l.clientOptions(lost))

	ctok := client.Connect()
	if err := waitToken(ctx, ctok, l.opts.ConnectTimeout+time.Second); err != nil {
		client.Disconnect(0)
		// The return code is paho's to write until the token is done (it
		// may still be connecting after a timeout or a cancel).
		if ct, ok := ctok.(*mqtt.ConnectToken); ok && tokenDone(ct) {
			switch ct.ReturnCode() {
			case packets.ErrRefusedBadUsernameOrPassword, packets.ErrRefusedNotAuthorised:
				return 0, fmt.Errorf("%w (%v)", ErrCredentialsRefused, err)
			}
		}
		return 0, fmt.Errorf("connect %s: %w", l.broker, err)
	}
	l.log.Debug("mqtt connected", "broker", l.broker)

	up, err := l.serve(ctx, client, lost)
	if ctx.Err() != nil {
		l.goodbye(client)
	} else {
		client.Disconnect(0) // already gone after a loss; closes it after an error
	}
	return up, err
}

// serve subscribes, registers, reports online, then sends heartbeats until
// the connection is lost or ctx ends.
func (l *Link) serve(ctx context.Context, client mqtt.Client, lost <-chan error) (time.Duration, error) {
	stok := client.Subscribe(proto.DeviceFilter(l.id), 1, l.onMessage)
	if err := waitToken(ctx, stok, l.opts.AckTimeout); err != nil {
		return 0, fmt.Errorf("subscribe: %w", err)
	}
	if st, ok := stok.(*mqtt.SubscribeToken); ok {
		for filter, q := range st.Result() {
			if q == subackFailure {
				return 0, fmt.Errorf("subscribe %s: refused by the broker", filter)
			}
		}
	}

	reg := l.register(ctx)
	if err := waitToken(ctx, client.Publish(proto.UpTopic(l.id, proto.KindRegister), 1, false, proto.MustEncode(&reg)), l.opts.AckTimeout); err != nil {
		return 0, fmt.Errorf("publish register: %w", err)
	}
	online := proto.Status{State: proto.StateOnline}
	if err := waitToken(ctx, client.Publish(proto.UpTopic(l.id, proto.KindStatus), 1, false, proto.MustEncode(&online)), l.opts.AckTimeout); err != nil {
		return 0, fmt.Errorf("publish status: %w", err)
	}
	since := time.Now()
	l.setClient(client)
	defer l.setClient(nil)
	l.log.Info("registered with the cloud", "broker", l.broker, "heartbeat", l.HeartbeatInterval())

	t := time.NewTimer(0) // the first heartbeat goes out right away
	defer t.Stop()
	var last time.Time // of this session's latest heartbeat
	for {
		select {
		case <-ctx.Done():
			return time.Since(since), nil
		case err := <-lost:
			return time.Since(since), fmt.Errorf("connection lost: %w", err)
		case <-l.changed:
			if !last.IsZero() { // else the first heartbeat is still due right away
				t.Reset(max(0, time.Until(last.Add(l.HeartbeatInterval()))))
			}
		case <-t.C:
			l.heartbeat(ctx, client)
			last = time.Now()
			t.Reset(l.HeartbeatInterval())
		}
	}
}

func (l *Link) setClient(c mqtt.Client) {
	l.mu.Lock()
	l.client = c
	l.mu.Unlock()
}

// goodbye reports offline on a clean shutdown (a clean DISCONNECT suppresses
// the Last Will) and disconnects.
func (l *Link) goodbye(client mqtt.Client) {
	if client.IsConnectionOpen() {
		offline := proto.Status{State: proto.StateOffline}
		tok := client.Publish(proto.UpTopic(l.id, proto.KindStatus), 1, false, proto.MustEncode(&offline))
		if !tok.WaitTimeout(2*time.Second) || tok.Error() != nil {
			l.log.Warn("could not report offline before disconnecting", "err", tok.Error())
		}
	}
	client.Disconnect(250)
	l.log.Info("disconnected")
}

func (l *Link) clientOptions(lost chan<- error) *mqtt.ClientOptions {
	will := proto.Status{State: proto.StateOffline}
	o := mqtt.NewClientOptions().
		AddBroker(l.broker).
		SetClientID(l.id).
		SetUsername(l.id).
		SetPassword(l.opts.Creds.Secret).
		SetCleanSession(true).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(l.opts.KeepAlive).
		SetPingTimeout(min(10*time.Second, l.opts.KeepAlive)).
		SetConnectTimeout(l.opts.ConnectTimeout).
		SetBinaryWill(proto.UpTopic(l.id, proto.KindStatus), proto.MustEncode(&will), 1, false).
		SetDefaultPublishHandler(l.onMessage).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	if l.tls != nil {
		o.SetTLSConfig(l.tls.Clone())
	}
	if l.opts.Dialer != nil {
		o.SetDialer(l.opts.Dialer)
	}
	return o
}

func (l *Link) register(ctx context.Context) proto.Register {
	if l.opts.Register != nil {
		return l.opts.Register(ctx)
	}
	host, _ := os.Hostname()
	return proto.Register{Hostname: host, OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), AgentVersion: version.Version}
}

func (l *Link) heartbeat(ctx context.Context, client mqtt.Client) {
	var m proto.Metrics
	if l.opts.Metrics != nil {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		m, err = l.opts.Metrics.Sample(sctx)
		cancel()
		if err != nil {
			l.log.Warn("metrics sample incomplete", "err", err)
		}
	}
	hb := proto.Heartbeat{Seq: l.seq.Add(1), SentAt: time.Now().UnixMilli(), Metrics: m}
	if l.opts.Tunnel != nil {
		hb.Tunnel = l.opts.Tunnel()
	}
	if l.opts.Claim != nil {
		hb.Claim = l.opts.Claim()
	}
	tok := client.Publish(proto.UpTopic(l.id, proto.KindHeartbeat), 0, false, proto.MustEncode(&hb))
	go func() { // QoS 0: never block the loop on it, but report failures
		if tok.WaitTimeout(l.opts.AckTimeout) && tok.Error() != nil {
			l.log.Debug("heartbeat not sent", "seq", hb.Seq, "err", tok.Error())
		}
	}()
}

// onMessage runs on paho's delivery goroutine: it must stay quick and must
// never panic, whatever arrives.
func (l *Link) onMessage(_ mqtt.Client, m mqtt.Message) {
	defer func() {
		if r := recover(); r != nil {
			l.log.Error("panic while handling a message; dropped", "topic", m.Topic(), "panic", r)
		}
	}()
	id, dir, kind, err := proto.ParseTopic(m.Topic())
	if err != nil || id != l.id || dir != proto.Down {
		l.log.Debug("dropping message on an unknown topic", "topic", m.Topic())
		return
	}
	payload := m.Payload()
	if len(payload) > proto.MaxPayload {
		l.log.Warn("dropping oversized message", "kind", kind, "bytes", len(payload))
		return
	}
	if kind == proto.KindConfig {
		l.applyConfig(payload)
	}
	l.mu.RLock()
	h := l.handlers[kind]
	l.mu.RUnlock()
	if h == nil {
		if kind != proto.KindConfig {
			l.log.Debug("no handler for message kind; dropped", "kind", kind)
		}
		return
	}
	in := inbound{kind: kind, payload: append([]byte(nil), payload...), handler: h}
	if kind != proto.KindCmd {
		l.state.put(in)
		return
	}
	select {
	case l.commands <- in:
	default:
		l.refuseBusy(in.payload)
	}
}

// refuseBusy queues a busy answer to a command that found the queue full
// (a publish must not wait on paho's delivery goroutine).
func (l *Link) refuseBusy(payload []byte) {
	c, err := proto.DecodeCommand(payload)
	if err != nil {
		l.log.Warn("command queue full; invalid command dropped", "err", err)
		return
	}
	select {
	case l.busy <- c.ID:
		l.log.Warn("command queue full; answering busy", "id", c.ID, "op", c.Op)
	default:
		l.log.Warn("command queue full; command dropped", "id", c.ID, "op", c.Op)
	}
}

func (l *Link) answerBusy(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-l.busy:
			rep := proto.Reply{ID: id, Error: ErrBusy.Error()}
			pctx, cancel := context.WithTimeout(ctx, l.opts.AckTimeout)
			if err := l.Publish(pctx, proto.KindReply, 1, proto.MustEncode(&rep)); err != nil {
				l.log.Debug("busy reply not sent", "id", id, "err", err)
			}
			cancel()
		}
	}
}

// mailbox holds the newest undelivered message of each state kind, in the
// order the kinds first arrived.
type mailbox struct {
	mu      sync.Mutex
	pending map[string]inbound
	order   []string
	ready   chan struct{} // capacity 1: "something is pending"
}

func (m *mailbox) put(in inbound) {
	m.mu.Lock()
	if _, ok := m.pending[in.kind]; !ok {
		m.order = append(m.order, in.kind)
	}
	m.pending[in.kind] = in
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

func (m *mailbox) take() (inbound, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.order) == 0 {
		return inbound{}, false
	}
	k := m.order[0]
	m.order = m.order[1:]
	in := m.pending[k]
	delete(m.pending, k)
	return in, true
}

func (l *Link) applyConfig(payload []byte) {
	if len(payload) == 0 { // a cleared retained config
		l.log.Debug("config cleared; keeping the current heartbeat interval")
		return
	}
	cfg, err := proto.DecodeConfig(payload)
	if err != nil {
		l.log.Warn("ignoring invalid config", "err", err)
		return
	}
	d := cfg.HeartbeatInterval()
	if old := time.Duration(l.interval.Swap(int64(d))); old != d {
		l.log.Info("heartbeat interval changed", "from", old, "to", d)
		select {
		case l.changed <- struct{}{}:
		default:
		}
	}
}

func (l *Link) dispatchState(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.state.ready:
			for in, ok := l.state.take(); ok && ctx.Err() == nil; in, ok = l.state.take() {
				l.call(ctx, in)
			}
		}
	}
}

func (l *Link) serveCommands(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case in := <-l.commands:
			l.call(ctx, in)
		}
	}
}

func (l *Link) call(ctx context.Context, in inbound) {
	defer func() {
		if r := recover(); r != nil {
			l.log.Error("handler panicked; message dropped", "kind", in.kind, "panic", r)
		}
	}()
	in.handler(ctx, in.payload)
}

// tokenDone reports whether tok has completed.
func tokenDone(tok mqtt.Token) bool {
	select {
	case <-tok.Done():
		return true
	default:
		return false
	}
}

// waitToken waits for a paho token, the timeout or ctx, whichever comes first.
func waitToken(ctx context.Context, tok mqtt.Token, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-t.C:
		return errTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}
