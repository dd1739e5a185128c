// Package broker is the cloud's embedded MQTT broker (mochi-mqtt). Devices
// connect to it over TCP and/or TLS; the cloud itself talks to it through
// mochi's inline client (Publish / Subscribe), with no network hop.
//
// Security model:
//   - a device authenticates with username = device ID, password = secret, and
//     its MQTT client ID must equal its device ID (so that no device can take
//     over another device's session);
//   - a device may publish only to clawfleet/v1/dev/{own ID}/up/{kind} and
//     subscribe only to clawfleet/v1/dev/{own ID}/down/# (or /down/+, or one
//     exact down topic); its Last Will must name an own up/ topic;
//   - connection attempts are rate-limited per source IP (at accept time) and
//     per client ID (at CONNECT), with bounded memory.
package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Authenticator checks device credentials; implemented by the cloud (it does
// a constant-time hash compare against its store). It must be fast and safe
// for concurrent use. It is called from the connecting client's goroutine with
// a context that is cancelled after a timeout or when the broker closes.
type Authenticator interface {
	Authenticate(ctx context.Context, deviceID, secret string) bool
}

// Options configure a Broker. The zero value of every field has a sensible
// meaning (see each field).
type Options struct {
	TCPAddr       string      // e.g. ":1883"; "" = no plain TCP listener
	TLSAddr       string      // e.g. ":8883"; used only (and then required) when TLSConfig != nil
	TLSConfig     *tls.Config // nil = no TLS listener
	MaxPacketSize int         // bytes; 0 = 256 KiB. Larger packets from a device close its connection.

	ClientConnectRate  float64 // connection attempts per second per client ID; 0 = 1/s
	ClientConnectBurst int     // 0 = 5
	IPConnectRate      float64 // connection attempts per second per source IP; 0 = 50/s
	IPConnectBurst     int     // 0 = 200

	Logger     *slog.Logger          // nil = slog.Default(); mochi's own logs go here at error level only
	Registerer prometheus.Registerer // nil = no metrics registered

	// OnConnect is called after a device session is established (after the
	// CONNACK). OnDisconnect is called when that device connection ends. For
	// one device the two are never called concurrently and always alternate
	// (OnConnect, OnDisconnect, OnConnect, ...), except that when a new
	// connection takes over a session, the cloud sees OnConnect for the new
	// one and no OnDisconnect for the old one. They run on connection
	// goroutines: keep them fast and non-blocking.
	OnConnect    func(deviceID string)
	OnDisconnect func(deviceID string)
}

// Defaults.
const (
	DefaultMaxPacketSize      = 256 << 10
	DefaultClientConnectRate  = 1.0
	DefaultClientConnectBurst = 5
	DefaultIPConnectRate      = 50.0
	DefaultIPConnectBurst     = 200
)

const (
	maxSecretLen       = 1024             // longer passwords are refused as malformed before hashing
	authTimeout        = 10 * time.Second // bound on one Authenticate call
	defaultConnectWait = 10 * time.Second // TLS handshake + CONNECT must arrive within this
	idleKeepalive      = 900              // seconds: keepalive imposed on clients that ask for none
	limiterMaxKeys     = 1 << 16          // buckets per limiter (client IDs, IPs)
	limiterSweepEvery  = time.Minute
	sessionExpirySecs  = 3600 // persistent (clean=false) sessions are kept this long after a disconnect
	// Per-connection memory (mochi allocates both up front for every
	// connection, so at 10,000 devices each KiB is 10 MB): the outbound queue
	// holds what the cloud sends one device and the writer has not written
	// yet, a handful of retained messages after a (re)connect and the odd
	// command; a full queue drops the message (counted, logged). 64 pointers
	// are 640 bytes against mochi's 2,304 for 256. Reads go through a 512-byte
	// buffer (mochi: 2 KiB): one read holds a heartbeat; a bigger packet
	// takes a second read (mochi reads a packet's body into its own slice).
	clientWritesPending = 64
	clientReadBuffer    = 512
	shardCount          = 64
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("broker: closed")

// Broker is the embedded MQTT broker.
type Broker struct {
	opts Options
	auth Authenticator
	log  *slog.Logger
	srv  *mqtt.Server
	m    *metrics

	ipLimiter     *keyedLimiter
	clientLimiter *keyedLimiter
	logLimiter    *rate.Limiter
	logSuppressed atomic.Int64

	ctx    context.Context // cancelled by Close; parent of Authenticate contexts
	cancel context.CancelFunc

	connectTimeout time.Duration

	mu        sync.Mutex // guards started, listeners
	started   bool
	tcp, tls  *netListener
	closed    atomic.Bool
	closeOnce sync.Once

	subID      atomic.Int64 // inline subscription identifiers (must be unique across filters)
	connectedN atomic.Int64
	shards     [shardCount]shard

	// testHookDisconnect, when set (tests only), is called at the end of
	// every device OnDisconnect with whether this connection was the latest
	// session of the device.
	testHookDisconnect func(deviceID string, latest bool)
}

// shard tracks device sessions for a subset of device IDs. Its lock also
// serialises the OnConnect/OnDisconnect callbacks of one device.
type shard struct {
	mu        sync.Mutex
	latest    map[string]*mqtt.Client // newest authenticated session (set before it takes over an older one)
	connected map[string]*mqtt.Client // session whose OnConnect was delivered
}

// New builds a broker; Start opens its listeners.
func New(opts Options, auth Authenticator) (*Broker, error) {
	if auth == nil {
		return nil, errors.New("broker: nil Authenticator")
	}
	if opts.MaxPacketSize < 0 || opts.ClientConnectRate < 0 || opts.ClientConnectBurst < 0 ||
		opts.IPConnectRate < 0 || opts.IPConnectBurst < 0 {
		return nil, errors.New("broker: negative size or rate in Options")
	}
	if opts.MaxPacketSize == 0 {
		opts.MaxPacketSize = DefaultMaxPacketSize
	}
	if opts.ClientConnectRate == 0 {
		opts.ClientConnectRate = DefaultClientConnectRate
	}
	if opts.ClientConnectBurst == 0 {
		opts.ClientConnectBurst = DefaultClientConnectBurst
	}
	if opts.IPConnectRate == 0 {
		opts.IPConnectRate = DefaultIPConnectRate
	}
	if opts.IPConnectBurst == 0 {
		opts.IPConnectBurst = DefaultIPConnectBurst
	}
	if opts.TLSConfig != nil {
		if opts.TLSAddr == "" {
			return nil, errors.New("broker: TLSConfig set but TLSAddr empty")
		}
		c := opts.TLSConfig
		if len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil {
			return nil, errors.New("broker: TLSConfig has no certificate")
		}
		c = c.Clone()
		if c.MinVersion == 0 {
			c.MinVersion = tls.VersionTLS12
		}
		opts.TLSConfig = c
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}

	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		opts:           opts,
		auth:           auth,
		log:            opts.Logger,
		m:              m,
		ipLimiter:      newKeyedLimiter(opts.IPConnectRate, opts.IPConnectBurst, limiterMaxKeys, limiterSweepEvery),
		clientLimiter:  newKeyedLimiter(opts.ClientConnectRate, opts.ClientConnectBurst, limiterMaxKeys, limiterSweepEvery),
		logLimiter:     rate.NewLimiter(5, 50),
		ctx:            ctx,
		cancel:         cancel,
		connectTimeout: defaultConnectWait,
	}
	for i := range b.shards {
		b.shards[i].latest = make(map[string]*mqtt.Client)
		b.shards[i].connected = make(map[string]*mqtt.Client)
	}

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = uint32(opts.MaxPacketSize)
	caps.MaximumSessionExpiryInterval = sessionExpirySecs
	// 0 = retained messages and queued messages are not force-expired after a
	// day (mochi's default): the cloud's retained config/claim/tunnel/desired
	// must stay until it replaces or clears them.
	caps.MaximumMessageExpiryInterval = 0
	caps.MaximumClientWritesPending = clientWritesPending
	caps.MaximumInflight = 1024
	caps.ReceiveMaximum = 64
	caps.TopicAliasMaximum = 0 // no inbound topic aliases: each one would be per-client memory
	caps.SharedSubAvailable = 0
	caps.SubIDAvailable = 0

	b.srv = mqtt.New(&mqtt.Options{
		Capabilities:            caps,
		ClientNetReadBufferSize: clientReadBuffer,
		InlineClient:            true,
		Logger:                  slog.New(minLevelHandler{h: opts.Logger.Handler(), min: slog.LevelError}).With("component", "mochi-mqtt"),
		// $SYS topics: mochi publishes them once at Serve and then every
		// SysTopicResendInterval seconds. Devices may not subscribe to them
		// (ACL), so make the ticker practically never fire.
		SysTopicResendInterval: 1 << 30,
	})
	if err := b.srv.AddHook(&hook{b: b}, nil); err != nil {
		cancel()
		m.unregister(opts.Registerer)
		return nil, fmt.Errorf("broker: add hook: %w", err)
	}
	return b, nil
}

// Start opens the listeners and starts serving. It does not block.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return ErrClosed
	}
	if b.started {
		return errors.New("broker: already started")
	}
	var opened []net.Listener
	fail := func(err error) error {
		for _, ln := range opened {
			_ = ln.Close()
		}
		return err
	}
	if b.opts.TCPAddr != "" {
		ln, err := net.Listen("tcp", b.opts.TCPAddr)
		if err != nil {
			return fail(fmt.Errorf("broker: listen %s: %w", b.opts.TCPAddr, err))
		}
		opened = append(opened, ln)
		b.tcp = &netListener{id: "tcp", proto: "tcp", ln: ln, b: b}
	}
	if b.opts.TLSConfig != nil {
		raw, err := net.Listen("tcp", b.opts.TLSAddr)
		if err != nil {
			return fail(fmt.Errorf("broker: listen %s: %w", b.opts.TLSAddr, err))
		}
		opened = append(opened, raw)
		b.tls = &netListener{id: "tls", proto: "tls", ln: tls.NewListener(raw, b.opts.TLSConfig), b: b}
	}
	for _, l := range []*netListener{b.tcp, b.tls} {
		if l == nil {
			continue
		}
		if err := b.srv.AddListener(l); err != nil {
			return fail(fmt.Errorf("broker: add listener %s: %w", l.id, err))
		}
	}
	if err := b.srv.Serve(); err != nil {
		return fail(fmt.Errorf("broker: serve: %w", err))
	}
	b.started = true
	args := []any{}
	if b.tcp != nil {
		args = append(args, "tcp", b.tcp.ln.Addr().String())
	}
	if b.tls != nil {
		args = append(args, "tls", b.tls.ln.Addr().String())
	}
	b.log.Info("mqtt broker started", args...)
	return nil
}

// Close disconnects every client, closes the listeners and waits for the
// connection goroutines to end. It is safe to call more than once.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		b.cancel() // abort Authenticate calls in flight
		_ = b.srv.Close()
		b.m.unregister(b.opts.Registerer)
	})
	return nil
}

// Addr is the actual address of the plain TCP listener (useful with ":0"),
// nil if there is none or before Start.
func (b *Broker) Addr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tcp == nil {
		return nil
	}
	return b.tcp.ln.Addr()
}

// TLSAddr is the actual address of the TLS listener, nil if there is none or
// before Start.
func (b *Broker) TLSAddr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tls == nil {
		return nil
	}
	return b.tls.ln.Addr()
}

// Publish sends a message to the subscribers of topic (devices get it at QoS
// 1 if they subscribed at QoS 1 or more; inline subscribers are called
// synchronously, in this goroutine). With retain, the message is kept for
// future subscribers; a retained empty payload clears the retained message.
func (b *Broker) Publish(topic string, payload []byte, retain bool) error {
	if topic == "" || strings.ContainsAny(topic, "+#") || len(topic) > 65535 {
		return fmt.Errorf("broker: invalid topic name %q", topic)
	}
	if err := b.srv.Publish(topic, payload, retain, 1); err != nil {
		return fmt.Errorf("broker: publish %s: %w", topic, err)
	}
	return nil
}

// Subscribe calls handler for every message published on a topic matching
// filter, including retained messages (those are delivered before Subscribe
// returns). The handler runs synchronously in the publisher's goroutine (for a
// device message, that device's connection goroutine): it must not block for
// long. It gets its own copy of the payload. A panicking handler is recovered
// and logged.
func (b *Broker) Subscribe(filter string, handler func(topic string, payload []byte)) error {
	if handler == nil {
		return errors.New("broker: nil handler")
	}
	id := int(b.subID.Add(1))
	err := b.srv.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		defer func() {
			if r := recover(); r != nil {
				b.log.Error("mqtt subscription handler panicked", "filter", filter, "topic", pk.TopicName, "panic", r)
			}
		}()
		handler(pk.TopicName, bytes.Clone(pk.Payload))
	})
	if err != nil {
		return fmt.Errorf("broker: subscribe %q: %w", filter, err)
	}
	return nil
}

// Disconnect closes a device's connection at once (its Last Will, if any, is
// published, and OnDisconnect is called). It returns nil when the device is
// not connected.
func (b *Broker) Disconnect(deviceID string) error {
	if proto.ValidateDeviceID(deviceID) != nil {
		return nil // such a client cannot have been admitted
	}
	cl, ok := b.srv.Clients.Get(deviceID)
	if !ok || cl.Net.Inline || cl.Closed() {
		return nil
	}
	if cl.Properties.ProtocolVersion == 5 {
		// MQTT 5 lets the server say why; DisconnectClient also closes.
		_ = b.srv.DisconnectClient(cl, packets.ErrAdministrativeAction)
	} else {
		// MQTT 3.1.1 has no server DISCONNECT: just close the connection.
		cl.Stop(packets.ErrAdministrativeAction)
	}
	b.log.Info("mqtt device disconnected by the cloud", "device", deviceID)
	return nil
}

// Connected is the number of device clients currently connected.
func (b *Broker) Connected() int { return int(b.connectedN.Load()) }

// Healthy reports whether the broker is started, not closed, and its
// listeners are accepting connections (no Accept error in the last seconds).
func (b *Broker) Healthy() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.started || b.closed.Load() {
		return false
	}
	now := time.Now()
	for _, l := range []*netListener{b.tcp, b.tls} {
		if l != nil && l.failing(now) {
			return false
		}
	}
	return true
}

// allowIP applies the per-source-IP connection rate limit.
func (b *Broker) allowIP(addr net.Addr) bool {
	ip := hostOf(addr.String())
	if b.ipLimiter.allow(ip, time.Now()) {
		return true
	}
	b.m.rateLimited.WithLabelValues(scopeIP).Inc()
	b.m.authFailures.WithLabelValues(reasonRateLimited).Inc()
	b.logSometimes(slog.LevelWarn, "mqtt connection refused", "reason", reasonRateLimited, "scope", scopeIP, "remote_ip", ip)
	return false
}

func (b *Broker) shardFor(id string) *shard {
	// FNV-1a
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return &b.shards[h%shardCount]
}

// logSometimes logs at most a few lines a second (connection floods must not
// flood the log); it reports how many lines were dropped since the last one.
func (b *Broker) logSometimes(level slog.Level, msg string, args ...any) {
	if !b.logLimiter.Allow() {
		b.logSuppressed.Add(1)
		return
	}
	if n := b.logSuppressed.Swap(0); n > 0 {
		args = append(args, "suppressed_lines", n)
	}
	b.log.Log(context.Background(), level, msg, args...)
}

// mayPublish: a device publishes only to its own up/ topics of a known kind.
func mayPublish(deviceID, topic string) bool {
	id, dir, _, err := proto.ParseTopic(topic)
	return err == nil && dir == proto.Up && id == deviceID
}

// maySubscribe: a device subscribes only to its own down/ topics: its
// down/#, down/+, or one exact down/{kind}. Mochi uses the same check (read
// access) for each message it delivers, with the topic name.
func maySubscribe(deviceID, filter string) bool {
	if filter == proto.DeviceFilter(deviceID) || filter == proto.TopicRoot+deviceID+"/down/+" {
		return proto.ValidateDeviceID(deviceID) == nil
	}
	id, dir, _, err := proto.ParseTopic(filter)
	return err == nil && dir == proto.Down && id == deviceID
}

func hostOf(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// truncate bounds attacker-controlled strings in logs.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// minLevelHandler drops records below min (keeps mochi quiet: it logs a
// warning for every connection that ends without a DISCONNECT packet).
type minLevelHandler struct {
	h   slog.Handler
	min slog.Level
}

func (m minLevelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}
func (m minLevelHandler) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }
func (m minLevelHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevelHandler{h: m.h.WithAttrs(a), min: m.min}
}
func (m minLevelHandler) WithGroup(g string) slog.Handler {
	return minLevelHandler{h: m.h.WithGroup(g), min: m.min}
}
