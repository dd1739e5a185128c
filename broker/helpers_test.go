package broker

import (
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeAuth is an in-memory Authenticator.
type fakeAuth struct {
	mu      sync.Mutex
	secrets map[string]string
	calls   atomic.Int64
}

func (f *fakeAuth) Authenticate(_ context.Context, deviceID, secret string) bool {
	f.calls.Add(1)
	f.mu.Lock()
	want, ok := f.secrets[deviceID]
	f.mu.Unlock()
	return ok && subtle.ConstantTimeCompare([]byte(want), []byte(secret)) == 1
}

func (f *fakeAuth) add(id, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[id] = secret
}

func devID(n int) string { return fmt.Sprintf("dev_test%08d", n) }

func secretOf(id string) string { return "s3cret-" + id + "-0123456789abcdefghijklmnopqrstuvwxyz" }

// testEnv is a started broker on 127.0.0.1:0 with a fresh registry and a
// fake authenticator that knows devID(1..20).
type testEnv struct {
	b    *Broker
	reg  *prometheus.Registry
	auth *fakeAuth

	mu          sync.Mutex
	connects    []string
	disconnects []string
}

func newEnv(t *testing.T, mod func(*Options)) *testEnv {
	t.Helper()
	e := &testEnv{reg: prometheus.NewRegistry(), auth: &fakeAuth{secrets: map[string]string{}}}
	for i := 1; i <= 20; i++ {
		e.auth.add(devID(i), secretOf(devID(i)))
	}
	opts := Options{
		TCPAddr:    "127.0.0.1:0",
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer: e.reg,
		OnConnect: func(id string) {
			e.mu.Lock()
			e.connects = append(e.connects, id)
			e.mu.Unlock()
		},
		OnDisconnect: func(id string) {
			e.mu.Lock()
			e.disconnects = append(e.disconnects, id)
			e.mu.Unlock()
		},
	}
	if mod != nil {
		mod(&opts)
	}
	b, err := New(opts, e.auth)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.b = b
	return e
}

func startEnv(t *testing.T, mod func(*Options)) *testEnv {
	t.Helper()
	e := newEnv(t, mod)
	if err := e.b.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = e.b.Close() })
	return e
}

func (e *testEnv) callbacks() (connects, disconnects []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.connects...), append([]string(nil), e.disconnects...)
}

// clientOpts are paho options for a device of e's broker: MQTT 3.1.1, no
// automatic reconnection.
func (e *testEnv) clientOpts(clientID, user, pass string) *paho.ClientOptions {
	o := paho.NewClientOptions().
		AddBroker("tcp://" + e.b.Addr().String()).
		SetClientID(clientID).
		SetUsername(user).
		SetPassword(pass).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(3 * time.Second).
		SetWriteTimeout(3 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetCleanSession(true)
	return o
}

// connect connects with o and returns the client (disconnected at cleanup)
// or the CONNECT error.
func connect(t *testing.T, o *paho.ClientOptions) (paho.Client, error) {
	t.Helper()
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatalf("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

// mustConnect connects device id with its right credentials.
func (e *testEnv) mustConnect(t *testing.T, id string, mod func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	o := e.clientOpts(id, id, secretOf(id))
	if mod != nil {
		mod(o)
	}
	c, err := connect(t, o)
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return c
}

// captureConn makes paho dial through a function that hands the raw
// connection to the test (to close it abruptly).
func captureConn(o *paho.ClientOptions, got chan<- net.Conn) {
	o.SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
		c, err := net.DialTimeout("tcp", u.Host, 3*time.Second)
		if err == nil {
			got <- c
		}
		return c, err
	})
}

// metricValue returns the value of a counter or gauge with exactly these
// labels, 0 if it has not been created.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelsMatch(m, labels) {
				switch {
				case m.Counter != nil:
					return m.Counter.GetValue()
				case m.Gauge != nil:
					return m.Gauge.GetValue()
				}
			}
		}
	}
	return 0
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	if len(m.GetLabel()) != len(want) {
		return false
	}
	for _, lp := range m.GetLabel() {
		if want[lp.GetName()] != lp.GetValue() {
			return false
		}
	}
	return true
}

type msg struct {
	topic   string
	payload string
}

// recorder collects messages from an inline subscription or a paho handler.
type recorder struct{ ch chan msg }

func newRecorder() *recorder { return &recorder{ch: make(chan msg, 256)} }

func (r *recorder) inline(topic string, payload []byte) { r.ch <- msg{topic, string(payload)} }

func (r *recorder) paho(_ paho.Client, m paho.Message) { r.ch <- msg{m.Topic(), string(m.Payload())} }

func (r *recorder) next(t *testing.T, what string) msg {
	t.Helper()
	select {
	case m := <-r.ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		return msg{}
	}
}

// none fails if a message is pending.
func (r *recorder) none(t *testing.T, why string) {
	t.Helper()
	select {
	case m := <-r.ch:
		t.Fatalf("%s: unexpected message on %q: %q", why, m.topic, m.payload)
	default:
	}
}
