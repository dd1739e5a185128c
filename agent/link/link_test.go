package link_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/clawfleet/clawfleet/agent/link"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

const (
	devID  = "dev_testdevice01"
	secret = "s3cret-s3cret-s3cret-s3cret-s3cret-s3cret"
)

func testCreds(brokerURL string) *creds.Credentials {
	return &creds.Credentials{DeviceID: devID, Secret: secret, MQTTURL: brokerURL}
}

// ---- a minimal in-process broker ----

// upMsg is a message the broker saw on an up/ topic.
type upMsg struct {
	kind    string
	payload []byte
	at      time.Time
}

// recorder collects up/ messages across broker restarts.
type recorder struct{ ch chan upMsg }

func newRecorder() *recorder { return &recorder{ch: make(chan upMsg, 4096)} }

// next returns the next message of one of the kinds, skipping others.
func (r *recorder) next(t *testing.T, timeout time.Duration, kinds ...string) upMsg {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-r.ch:
			for _, k := range kinds {
				if m.kind == k {
					return m
				}
			}
		case <-deadline:
			t.Fatalf("no %v message within %v", kinds, timeout)
		}
	}
}

// drain drops everything received so far.
func (r *recorder) drain() {
	for {
		select {
		case <-r.ch:
		default:
			return
		}
	}
}

// authHook accepts (or refuses) every client and records the CONNECT packets.
type authHook struct {
	mqtt.HookBase
	refuse   bool
	mu       sync.Mutex
	connects []packets.ConnectParams
}

func (h *authHook) ID() string { return "test-auth" }
func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	h.mu.Lock()
	h.connects = append(h.connects, pk.Connect)
	h.mu.Unlock()
	return !h.refuse
}
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool { return true }
func (h *authHook) attempts() []packets.ConnectParams {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]packets.ConnectParams(nil), h.connects...)
}

type broker struct {
	srv   *mqtt.Server
	hook  *authHook
	addr  string
	close func()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startBroker runs a mochi broker on addr whose inline client feeds rec.
// retained, if not nil, is the device's retained config from the start.
func startBroker(t *testing.T, addr string, rec *recorder, refuse bool, tlsCfg *tls.Config, retained []byte) *broker {
	t.Helper()
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	hook := &authHook{refuse: refuse}
	if err := srv.AddHook(hook, nil); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after a restart
		var ln *waitingListener
		if ln, err = newWaitingListener("t", addr, tlsCfg); err == nil {
			if err = srv.AddListener(ln); err == nil {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if retained != nil {
		if err := srv.Publish(proto.DownTopic(devID, proto.KindConfig), retained, true, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	if rec != nil {
		err := srv.Subscribe(proto.CloudFilter, 1, func(cl *mqtt.Client, sub packets.Subscription, pk packets.Packet) {
			_, _, kind, err := proto.ParseTopic(pk.TopicName)
			if err != nil {
				kind = "bad-topic:" + pk.TopicName
			}
			select {
			case rec.ch <- upMsg{kind: kind, payload: append([]byte(nil), pk.Payload...), at: time.Now()}:
			default:
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	b := &broker{srv: srv, hook: hook, addr: addr, close: sync.OnceFunc(func() {
		done := make(chan struct{})
		go func() { srv.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("the test broker did not close within 5 s")
		}
	})}
	t.Cleanup(b.close)
	return b
}

// ---- agent side helpers ----

type fixedMetrics struct{ calls atomic.Int64 }

func (f *fixedMetrics) Sample(context.Context) (proto.Metrics, error) {
	f.calls.Add(1)
	return proto.Metrics{CPUPercent: 12.5, MemUsedBytes: 1, MemTotalBytes: 2, DiskUsedBytes: 3, DiskTotalBytes: 4, Load1: 0.5, UptimeSeconds: 99}, nil
}

func testOptions(brokerURL string, logs *tstest.Buffer) link.Options {
	return link.Options{
		Creds:             testCreds(brokerURL),
		HeartbeatInterval: 200 * time.Millisecond,
		KeepAlive:         2 * time.Second, // mochi allows 1.5 keepalives, rounded down to whole seconds
		ConnectTimeout:    2 * time.Second,
		AckTimeout:        2 * time.Second,
		BackoffBase:       50 * time.Millisecond,
		BackoffCap:        300 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// runLink starts l.Run and returns a stop function that cancels it and
// checks that Run returns promptly.
func runLink(t *testing.T, l *link.Link, logs *tstest.Buffer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("Run did not return within 5 s of cancel")
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("agent logs:\n%s", logs.String())
		}
	})
	return stop
}

func decodeStatus(t *testing.T, m upMsg) string {
	t.Helper()
	s, err := proto.DecodeStatus(m.payload)
	if err != nil {
		t.Fatalf("status payload %q: %v", m.payload, err)
	}
	return s.State
}

func heartbeats(t *testing.T, rec *recorder, n int, timeout time.Duration) []upMsg {
	t.Helper()
	var out []upMsg
	for range n {
		out = append(out, rec.next(t, timeout, proto.KindHeartbeat))
	}
	return out
}

// expectSession waits for register then online, and checks the register.
func expectSession(t *testing.T, rec *recorder, timeout time.Duration) {
	t.Helper()
	m := rec.next(t, timeout, proto.KindRegister, proto.KindStatus, proto.KindHeartbeat)
	if m.kind != proto.KindRegister {
		t.Fatalf("first message of a session is %s (%s), want register", m.kind, m.payload)
	}
	reg, err := proto.DecodeRegister(m.payload)
	if err != nil {
		t.Fatalf("register %s: %v", m.payload, err)
	}
	if reg.Hostname == "" || reg.OS != runtime.GOOS || reg.Arch != runtime.GOARCH || reg.CPUs != runtime.NumCPU() || reg.AgentVersion == "" {
		t.Errorf("register = %+v", reg)
	}
	m = rec.next(t, timeout, proto.KindRegister, proto.KindStatus, proto.KindHeartbeat)
	if m.kind != proto.KindStatus || decodeStatus(t, m) != proto.StateOnline {
		t.Fatalf("after register got %s %s, want status online", m.kind, m.payload)
	}
}

func TestLinkEndToEnd(t *testing.T) {
	addr := freeAddr(t)
	rec := newRecorder()
	b := startBroker(t, addr, rec, false, nil, nil)
	logs := &tstest.Buffer{}
	opts := testOptions("tcp://"+addr, logs)
	metrics := &fixedMetrics{}
	opts.Metrics = metrics
	l, err := link.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	cmds := make(chan []byte, 10)
	l.Handle(proto.KindCmd, func(ctx context.Context, payload []byte) { cmds <- payload })
	l.Handle(proto.KindClaim, func(ctx context.Context, payload []byte) { panic("handler bug") })
	stop := runLink(t, l, logs)
	top := t // brokers started in subtests must outlive them

	if !t.Run("connect and register", func(t *testing.T) {
		expectSession(t, rec, 5*time.Second)
		c := b.hook.attempts()
		if len(c) != 1 {
			t.Fatalf("%d connects, want 1", len(c))
		}
		if c[0].ClientIdentifier != devID || string(c[0].Username) != devID || string(c[0].Password) != secret || !c[0].Clean {
			t.Errorf("CONNECT client=%q user=%q password=%q clean=%v", c[0].ClientIdentifier, c[0].Username, c[0].Password, c[0].Clean)
		}
		if c[0].WillTopic != proto.UpTopic(devID, proto.KindStatus) || c[0].WillQos != 1 || c[0].WillRetain {
			t.Errorf("will topic=%q qos=%d retain=%v", c[0].WillTopic, c[0].WillQos, c[0].WillRetain)
		}
		if s, err := proto.DecodeStatus(c[0].WillPayload); err != nil || s.State != proto.StateOffline {
			t.Errorf("will payload %q: %v", c[0].WillPayload, err)
		}
		tstest.Await(t, "Connected()", time.Second, l.Connected)
	}) {
		return
	}

	t.Run("heartbeats", func(t *testing.T) {
		hbs := heartbeats(t, rec, 4, 2*time.Second)
		var last uint64
		for i, m := range hbs {
			hb, err := proto.DecodeHeartbeat(m.payload)
			if err != nil {
				t.Fatalf("heartbeat %s: %v", m.payload, err)
			}
			if i > 0 && hb.Seq <= last {
				t.Errorf("seq %d after %d", hb.Seq, last)
			}
			last = hb.Seq
			if hb.Metrics.CPUPercent != 12.5 || hb.Metrics.UptimeSeconds != 99 {
				t.Errorf("metrics = %+v", hb.Metrics)
			}
			if d := time.Since(time.UnixMilli(hb.SentAt)); d < 0 || d > 5*time.Second {
				t.Errorf("sentAt %v ago", d)
			}
			if i > 0 {
				if gap := m.at.Sub(hbs[i-1].at); gap > 700*time.Millisecond {
					t.Errorf("heartbeat gap %v with a 200 ms interval", gap)
				}
			}
		}
	})

	t.Run("config changes the cadence", func(t *testing.T) {
		cfg := proto.Config{HeartbeatIntervalSeconds: 1}
		if err := b.srv.Publish(proto.DownTopic(devID, proto.KindConfig), proto.MustEncode(&cfg), true, 1); err != nil {
			t.Fatal(err)
		}
		tstest.Await(t, "the 1 s interval", 2*time.Second, func() bool { return l.HeartbeatInterval() == time.Second })
		rec.drain()
		hbs := heartbeats(t, rec, 3, 3*time.Second)
		for i := 1; i < len(hbs); i++ {
			if gap := hbs[i].at.Sub(hbs[i-1].at); gap < 800*time.Millisecond || gap > 1600*time.Millisecond {
				t.Errorf("heartbeat gap %v, want about 1 s", gap)
			}
		}
	})

	t.Run("malformed and unknown messages are ignored", func(t *testing.T) {
		bad := [][]byte{
			[]byte("{garbage"),
			[]byte(`{"v":1,"heartbeatIntervalSeconds":0}`),
			[]byte(`{"v":1,"heartbeatIntervalSeconds":100000}`),
			[]byte(`{"v":2,"heartbeatIntervalSeconds":2}`),
			[]byte(`{"v":1,"heartbeatIntervalSeconds":"2"}`),
			bytes.Repeat([]byte("x"), proto.MaxPayload+1),
			{},
		}
		for _, p := range bad {
			if err := b.srv.Publish(proto.DownTopic(devID, proto.KindConfig), p, false, 1); err != nil {
				t.Fatal(err)
			}
		}
		b.srv.Publish(proto.TopicRoot+devID+"/down/bogus", []byte("{}"), false, 1)
		b.srv.Publish(proto.DownTopic(devID, proto.KindTunnel), []byte("{}"), false, 1) // no handler
		b.srv.Publish(proto.DownTopic(devID, proto.KindClaim), []byte("{}"), false, 1)  // handler panics
		b.srv.Publish(proto.DownTopic(devID, proto.KindCmd), []byte(`{"v":1,"op":"x"}`), false, 1)
		select {
		case p := <-cmds:
			if string(p) != `{"v":1,"op":"x"}` {
				t.Errorf("cmd handler got %q", p)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("cmd handler not called")
		}
		rec.drain()
		rec.next(t, 3*time.Second, proto.KindHeartbeat) // still alive
		if l.HeartbeatInterval() != time.Second {
			t.Errorf("interval %v after invalid configs, want 1 s", l.HeartbeatInterval())
		}
		if !strings.Contains(logs.String(), "ignoring invalid config") {
			t.Errorf("invalid config not logged")
		}
		if !strings.Contains(logs.String(), "handler panicked") {
			t.Errorf("handler panic not logged")
		}
		if len(b.hook.attempts()) != 1 {
			t.Errorf("the agent reconnected: %d connects", len(b.hook.attempts()))
		}
	})

	t.Run("abrupt close delivers the will and the agent reconnects", func(t *testing.T) {
		cl, ok := b.srv.Clients.Get(devID)
		if !ok {
			t.Fatal("agent not connected to the broker")
		}
		rec.drain()
		// Close the socket under the broker's feet: its read loop fails and it
		// sends the will. (Client.Stop would not: mochi treats a stopped
		// client's exit between two packets as a clean one.)
		cl.Net.Conn.Close()
		// The will and the new session race each other: the agent may be
		// back before the broker has finished with the old connection.
		var offline, registered, online bool
		deadline := time.After(5 * time.Second)
		for !offline || !online {
			select {
			case m := <-rec.ch:
				switch {
				case m.kind == proto.KindStatus && decodeStatus(t, m) == proto.StateOffline:
					offline = true
				case m.kind == proto.KindRegister:
					if _, err := proto.DecodeRegister(m.payload); err != nil {
						t.Fatal(err)
					}
					registered = true
				case m.kind == proto.KindStatus && registered:
					online = true
				}
			case <-deadline:
				t.Fatalf("within 5 s: offline will %v, register %v, online %v", offline, registered, online)
			}
		}
		if n := len(b.hook.attempts()); n != 2 {
			t.Errorf("%d connects, want 2", n)
		}
		if l.HeartbeatInterval() != time.Second { // the retained config came back
			t.Errorf("interval %v", l.HeartbeatInterval())
		}
	})

	t.Run("broker restart", func(t *testing.T) {
		b.close()
		tstest.Await(t, "the link to notice", 3*time.Second, func() bool { return !l.Connected() })
		time.Sleep(400 * time.Millisecond) // a few refused attempts
		rec.drain()
		b = startBroker(top, addr, rec, false, nil, proto.MustEncode(&proto.Config{HeartbeatIntervalSeconds: 2}))
		expectSession(t, rec, 5*time.Second)
		online := time.Now()
		hb := rec.next(t, 5*time.Second, proto.KindHeartbeat)
		if _, err := proto.DecodeHeartbeat(hb.payload); err != nil {
			t.Error(err)
		}
		// The new broker's retained config (2 s), delivered during the
		// handshake, applies without holding back the first heartbeat.
		if d := hb.at.Sub(online); d > 500*time.Millisecond {
			t.Errorf("first heartbeat %v after online", d)
		}
		// The retained config is handled on paho's goroutine, so it may land
		// just after the first heartbeat left.
		tstest.Await(t, "the new broker's 2 s interval", 2*time.Second, func() bool {
			return l.HeartbeatInterval() == 2*time.Second
		})
	})

	t.Run("shutdown reports offline", func(t *testing.T) {
		rec.drain()
		stop()
		m := rec.next(t, 3*time.Second, proto.KindStatus)
		if decodeStatus(t, m) != proto.StateOffline {
			t.Errorf("got %s", m.payload)
		}
		if l.Connected() {
			t.Error("still connected after Run returned")
		}
		if err := l.Publish(context.Background(), proto.KindEvent, 1, []byte("{}")); !errors.Is(err, link.ErrNotConnected) {
			t.Errorf("Publish after Run: %v", err)
		}
	})
}

func TestLinkPublish(t *testing.T) {
	addr := freeAddr(t)
	rec := newRecorder()
	startBroker(t, addr, rec, false, nil, nil)
	logs := &tstest.Buffer{}
	l, err := link.New(testOptions("tcp://"+addr, logs))
	if err != nil {
		t.Fatal(err)
	}
	runLink(t, l, logs)
	expectSession(t, rec, 5*time.Second)
	tstest.Await(t, "Connected()", time.Second, l.Connected)
	if err := l.Publish(context.Background(), proto.KindEvent, 1, []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	if m := rec.next(t, 2*time.Second, proto.KindEvent); string(m.payload) != `{"v":1}` {
		t.Errorf("event payload %q", m.payload)
	}
	if err := l.Publish(context.Background(), proto.KindCmd, 1, nil); err == nil {
		t.Error("publishing on a down kind succeeded")
	}
}

func TestLinkCredentialsRefused(t *testing.T) {
	addr := freeAddr(t)
	b := startBroker(t, addr, nil, true, nil, nil)
	logs := &tstest.Buffer{}
	opts := testOptions("tcp://"+addr, logs)
	opts.BackoffBase = 10 * time.Millisecond // would retry quickly if not refused
	opts.BackoffCap = 250 * time.Millisecond
	l, err := link.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	stop := runLink(t, l, logs)
	time.Sleep(900 * time.Millisecond)
	stop()
	n := len(b.hook.attempts())
	// Attempts at 0, 250, 500, 750 ms (plus handshake time): the cap interval, not the 10 ms base.
	if n < 2 || n > 5 {
		t.Errorf("%d connection attempts in 900 ms, want 2..5 at the 250 ms cap", n)
	}
	if !strings.Contains(logs.String(), "credentials refused: the host may have been deleted; re-enroll") {
		t.Errorf("refusal not logged clearly:\n%s", logs.String())
	}
}

func TestLinkTLS(t *testing.T) {
	caPEM, serverCfg := testTLS(t)
	addr := freeAddr(t)
	rec := newRecorder()
	b := startBroker(t, addr, rec, false, serverCfg, nil)

	t.Run("pinned CA", func(t *testing.T) {
		logs := &tstest.Buffer{}
		opts := testOptions("ssl://"+addr, logs)
		opts.Creds.CACertPEM = caPEM
		l, err := link.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		stop := runLink(t, l, logs)
		expectSession(t, rec, 5*time.Second)
		stop()
	})
	t.Run("unknown CA refused", func(t *testing.T) {
		logs := &tstest.Buffer{}
		opts := testOptions("mqtts://"+addr, logs) // system roots only
		l, err := link.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		before := len(b.hook.attempts())
		stop := runLink(t, l, logs)
		tstest.Await(t, "a certificate error logged", 10*time.Second, func() bool { return strings.Contains(logs.String(), "certificate") })
		stop()
		if n := len(b.hook.attempts()) - before; n != 0 {
			t.Errorf("%d MQTT CONNECTs from an agent that should not trust the broker", n)
		}
	})
}

func TestNewRejects(t *testing.T) {
	good := testCreds("tcp://127.0.0.1:1883")
	tests := []struct {
		name string
		opts link.Options
	}{
		{"no creds", link.Options{}},
		{"bad device id", link.Options{Creds: &creds.Credentials{DeviceID: "nope", Secret: secret, MQTTURL: "tcp://x:1"}}},
		{"bad scheme", link.Options{Creds: good, BrokerURL: "http://127.0.0.1:1883"}},
		{"not a url", link.Options{Creds: good, BrokerURL: "127.0.0.1:1883"}},
		{"bad CA", link.Options{Creds: &creds.Credentials{DeviceID: devID, Secret: secret, MQTTURL: "ssl://x:8883", CACertPEM: "not pem"}}},
	}
	for _, tt := range tests {
		if _, err := link.New(tt.opts); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
	if _, err := link.New(link.Options{Creds: good}); err != nil {
		t.Errorf("good options: %v", err)
	}
}

// testTLS returns a CA certificate (PEM) and a server TLS config for
// 127.0.0.1 signed by it.
func testTLS(t *testing.T) (string, *tls.Config) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return string(caPEM), &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}
