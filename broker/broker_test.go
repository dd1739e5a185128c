package broker

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	pahopackets "github.com/eclipse/paho.mqtt.golang/packets"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

func TestConnectAuthentication(t *testing.T) {
	e := startEnv(t, nil)
	a, b := devID(1), devID(2)

	cases := []struct {
		name       string
		clientID   string
		user, pass string
		mod        func(*paho.ClientOptions)
		wantOK     bool
		wantReason string // auth failure reason counted on refusal
		wantAuth   bool   // the Authenticator is consulted
	}{
		{name: "good credentials", clientID: a, user: a, pass: secretOf(a), wantOK: true, wantAuth: true},
		{name: "wrong password", clientID: a, user: a, pass: secretOf(b), wantReason: reasonBadCredentials, wantAuth: true},
		{name: "unknown device", clientID: devID(99), user: devID(99), pass: secretOf(devID(99)), wantReason: reasonBadCredentials, wantAuth: true},
		{name: "client ID differs from username", clientID: b, user: a, pass: secretOf(a), wantReason: reasonClientIDMismatch},
		{name: "empty client ID", clientID: "", user: a, pass: secretOf(a), wantReason: reasonClientIDMismatch},
		{name: "username not a device ID", clientID: "admin", user: "admin", pass: "x", wantReason: reasonMalformed},
		{name: "no username", clientID: a, user: "", pass: secretOf(a), wantReason: reasonMalformed},
		{name: "empty password", clientID: a, user: a, pass: "", wantReason: reasonMalformed},
		{name: "huge password", clientID: a, user: a, pass: strings.Repeat("x", 5000), wantReason: reasonMalformed},
		{name: "will on another device's topic", clientID: a, user: a, pass: secretOf(a), wantReason: reasonMalformed,
			mod: func(o *paho.ClientOptions) { o.SetWill(proto.UpTopic(b, proto.KindStatus), "offline", 1, false) }},
		{name: "will on own down topic", clientID: a, user: a, pass: secretOf(a), wantReason: reasonMalformed,
			mod: func(o *paho.ClientOptions) { o.SetWill(proto.DownTopic(a, proto.KindCmd), "x", 0, false) }},
		{name: "will on own status topic", clientID: a, user: a, pass: secretOf(a), wantOK: true, wantAuth: true,
			mod: func(o *paho.ClientOptions) { o.SetWill(proto.UpTopic(a, proto.KindStatus), "offline", 1, false) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			failures := func() float64 {
				return metricValue(t, e.reg, "clawfleet_mqtt_auth_failures_total", map[string]string{"reason": tc.wantReason})
			}
			before, calls := failures(), e.auth.calls.Load()
			o := e.clientOpts(tc.clientID, tc.user, tc.pass)
			if tc.mod != nil {
				tc.mod(o)
			}
			c, err := connect(t, o)
			if tc.wantOK {
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				tstest.Await(t, "Connected() == 1", 5*time.Second, func() bool { return e.b.Connected() == 1 })
				if g := metricValue(t, e.reg, "clawfleet_mqtt_connected_clients", nil); g != 1 {
					t.Errorf("connected gauge = %v, want 1", g)
				}
				c.Disconnect(100)
				tstest.Await(t, "Connected() == 0", 5*time.Second, func() bool { return e.b.Connected() == 0 })
			} else {
				if !errors.Is(err, pahopackets.ErrorRefusedNotAuthorised) {
					t.Fatalf("connect error = %v, want %v", err, pahopackets.ErrorRefusedNotAuthorised)
				}
				if got := failures() - before; got != 1 {
					t.Errorf("auth failures{reason=%q} went up by %v, want 1", tc.wantReason, got)
				}
				if e.b.Connected() != 0 {
					t.Errorf("Connected() = %d after a refusal", e.b.Connected())
				}
			}
			if called := e.auth.calls.Load() > calls; called != tc.wantAuth {
				t.Errorf("Authenticator called = %v, want %v", called, tc.wantAuth)
			}
		})
	}
	if got := metricValue(t, e.reg, "clawfleet_mqtt_acl_denials_total", map[string]string{"action": "publish"}); got != 2 {
		t.Errorf("publish ACL denials (bad wills) = %v, want 2", got)
	}
	connects, disconnects := e.callbacks()
	if len(connects) != 2 || connects[0] != a || len(disconnects) != 2 || disconnects[1] != a {
		t.Errorf("callbacks: connects %v, disconnects %v; want two of each for %s", connects, disconnects, a)
	}
}

func TestRateLimitPerClientID(t *testing.T) {
	e := startEnv(t, func(o *Options) { o.ClientConnectRate, o.ClientConnectBurst = 0.001, 2 })
	a := devID(1)
	for i := 0; i < 2; i++ {
		c := e.mustConnect(t, a, nil)
		c.Disconnect(0)
	}
	_, err := connect(t, e.clientOpts(a, a, secretOf(a)))
	if !errors.Is(err, pahopackets.ErrorRefusedNotAuthorised) {
		t.Fatalf("third connect: err = %v, want refused", err)
	}
	if got := metricValue(t, e.reg, "clawfleet_mqtt_connect_rate_limited_total", map[string]string{"scope": "client"}); got != 1 {
		t.Errorf("rate limited{scope=client} = %v, want 1", got)
	}
	if got := metricValue(t, e.reg, "clawfleet_mqtt_auth_failures_total", map[string]string{"reason": "rate_limited"}); got != 1 {
		t.Errorf("auth failures{reason=rate_limited} = %v, want 1", got)
	}
	// Another device is not affected.
	e.mustConnect(t, devID(2), nil)
}

// Wrong secrets sent with a device's ID must not use up that device's
// per-client budget: device IDs are not secret.
func TestFailedLoginsDoNotLockOutDevice(t *testing.T) {
	e := startEnv(t, func(o *Options) { o.ClientConnectRate, o.ClientConnectBurst = 0.001, 2 })
	a := devID(1)
	for i := 0; i < 5; i++ {
		if _, err := connect(t, e.clientOpts(a, a, "wrong-secret-wrong-secret-wrong-secret")); err == nil {
			t.Fatal("wrong secret accepted")
		}
	}
	e.mustConnect(t, a, nil)
	if got := metricValue(t, e.reg, "clawfleet_mqtt_auth_failures_total", map[string]string{"reason": "bad_credentials"}); got != 5 {
		t.Errorf("auth failures{reason=bad_credentials} = %v, want 5", got)
	}
}

func TestRateLimitPerIP(t *testing.T) {
	e := startEnv(t, func(o *Options) { o.IPConnectRate, o.IPConnectBurst = 0.001, 3 })
	for i := 1; i <= 3; i++ {
		e.mustConnect(t, devID(i), nil)
	}
	if _, err := connect(t, e.clientOpts(devID(4), devID(4), secretOf(devID(4)))); err == nil {
		t.Fatal("fourth connection from the same IP was accepted")
	}
	// A raw connection is closed at once, before anything is read.
	conn, err := net.Dial("tcp", e.b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("rate-limited raw connection: read err = %v, want EOF/reset", err)
	}
	if got := metricValue(t, e.reg, "clawfleet_mqtt_connect_rate_limited_total", map[string]string{"scope": "ip"}); got != 2 {
		t.Errorf("rate limited{scope=ip} = %v, want 2", got)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestPublishACL(t *testing.T) {
	e := startEnv(t, nil)
	a, b := devID(1), devID(2)
	cloud := newRecorder()
	if err := e.b.Subscribe(proto.CloudFilter, cloud.inline); err != nil {
		t.Fatal(err)
	}
	everything := newRecorder()
	if err := e.b.Subscribe("clawfleet/#", everything.inline); err != nil {
		t.Fatal(err)
	}
	c := e.mustConnect(t, a, nil)

	denied := []string{
		proto.UpTopic(b, proto.KindHeartbeat),   // another device's up
		proto.UpTopic(b, proto.KindStatus),      // another device's status
		proto.DownTopic(a, proto.KindCmd),       // own down (only the cloud publishes there)
		proto.DownTopic(b, proto.KindCmd),       // another device's down
		proto.TopicRoot + a + "/up/nosuchkind",  // unknown kind
		proto.TopicRoot + a + "/up/event/extra", // wrong shape
		"clawfleet/v1/dev",                      // root
		"other/topic",                           // outside the tree
	}
	for _, topic := range denied {
		tok := c.Publish(topic, 0, false, "forbidden")
		if !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	// A QoS 1 publish on the same connection is processed after all of the
	// above: once it has been delivered, none of them can still arrive.
	marker := proto.UpTopic(a, proto.KindHeartbeat)
	tok := c.Publish(marker, 1, false, "hb")
	if !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		t.Fatalf("publish own heartbeat: %v", tok.Error())
	}
	if m := cloud.next(t, "own heartbeat at the cloud"); m.topic != marker || m.payload != "hb" {
		t.Fatalf("cloud got %q %q, want %q hb", m.topic, m.payload, marker)
	}
	if m := everything.next(t, "own heartbeat"); m.topic != marker {
		t.Fatalf("first delivered message is on %q, want %q: a denied publish got through", m.topic, marker)
	}
	cloud.none(t, "after the marker")
	everything.none(t, "after the marker")
	if got := metricValue(t, e.reg, "clawfleet_mqtt_acl_denials_total", map[string]string{"action": "publish"}); got != float64(len(denied)) {
		t.Errorf("publish denials = %v, want %d", got, len(denied))
	}

	// A denied QoS 1 publish: MQTT 3.1.1 has no negative PUBACK, so mochi
	// closes the connection; nothing is delivered.
	lost := make(chan error, 1)
	c2 := e.mustConnect(t, b, func(o *paho.ClientOptions) {
		o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
	})
	c2.Publish(proto.UpTopic(a, proto.KindStatus), 1, false, "spoof")
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("device publishing QoS 1 to another device's topic was not disconnected")
	}
	everything.none(t, "after a denied QoS 1 publish")
}

func TestSubscribeACL(t *testing.T) {
	e := startEnv(t, nil)
	a, b := devID(1), devID(2)
	got := newRecorder()
	c := e.mustConnect(t, a, func(o *paho.ClientOptions) { o.SetDefaultPublishHandler(got.paho) })

	denied := []string{
		"#",
		"+/#",
		"+/v1/dev/+/down/#",
		"$SYS/#",
		"clawfleet/#",
		"clawfleet/v1/dev/+/down/#",
		"clawfleet/v1/dev/+/down/cmd",
		proto.DeviceFilter(b),
		proto.DownTopic(b, proto.KindCmd),
		proto.UpTopic(a, proto.KindStatus),
		proto.TopicRoot + a + "/up/#",
		proto.TopicRoot + a + "/#",
		proto.TopicRoot + a + "/down/nosuchkind",
		"$share/g/" + proto.DeviceFilter(a),
	}
	allowed := []string{
		proto.DeviceFilter(a),
		proto.TopicRoot + a + "/down/+",
		proto.DownTopic(a, proto.KindConfig),
	}
	subscribe := func(filter string) byte {
		t.Helper()
		tok := c.Subscribe(filter, 1, nil)
		if !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %q: %v", filter, tok.Error())
		}
		res := tok.(*paho.SubscribeToken).Result() // keyed by filter, less any "$share/{group}/"
		if len(res) != 1 {
			t.Fatalf("subscribe %q: results %v", filter, res)
		}
		for _, code := range res {
			return code
		}
		return 0
	}
	for _, f := range denied {
		if code := subscribe(f); code != 0x80 {
			t.Errorf("subscribe %q granted (code %#x), want refused (0x80)", f, code)
		}
	}
	for _, f := range allowed {
		if code := subscribe(f); code != 1 {
			t.Errorf("subscribe %q: code %#x, want granted QoS 1", f, code)
		}
	}
	if n := metricValue(t, e.reg, "clawfleet_mqtt_acl_denials_total", map[string]string{"action": "subscribe"}); n != float64(len(denied)) {
		t.Errorf("subscribe denials = %v, want %d", n, len(denied))
	}

	// Messages any of the denied filters would match, then one for the
	// device: messages to one client are queued in order, so when the last
	// arrives, any earlier one would have arrived before it.
	for _, topic := range []string{
		proto.DownTopic(b, proto.KindCmd),
		proto.UpTopic(b, proto.KindHeartbeat),
		proto.UpTopic(a, proto.KindStatus),
		"$SYS/broker/secret",
		"other/topic",
	} {
		if err := e.b.Publish(topic, []byte("not for a"), false); err != nil {
			t.Fatalf("Publish %s: %v", topic, err)
		}
	}
	mine := proto.DownTopic(a, proto.KindCmd)
	if err := e.b.Publish(mine, []byte("cmd"), false); err != nil {
		t.Fatal(err)
	}
	if m := got.next(t, "own down message"); m.topic != mine || m.payload != "cmd" {
		t.Fatalf("device got %q %q first, want %q cmd", m.topic, m.payload, mine)
	}
	got.none(t, "after own down message")
}

func TestRetainedDownMessageReachesLaterSubscriber(t *testing.T) {
	e := startEnv(t, nil)
	a := devID(1)
	topic := proto.DownTopic(a, proto.KindConfig)
	if err := e.b.Publish(topic, []byte(`{"v":1,"heartbeatIntervalSeconds":30}`), true); err != nil {
		t.Fatal(err)
	}
	got := newRecorder()
	c := e.mustConnect(t, a, nil)
	if tok := c.Subscribe(proto.DeviceFilter(a), 1, got.paho); !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if m := got.next(t, "retained config"); m.topic != topic || !strings.Contains(m.payload, "heartbeatIntervalSeconds") {
		t.Fatalf("got %q %q", m.topic, m.payload)
	}
	// A retained empty payload clears it.
	if err := e.b.Publish(topic, nil, true); err != nil {
		t.Fatal(err)
	}
	inline := newRecorder()
	if err := e.b.Subscribe(proto.TopicRoot+"+/down/#", inline.inline); err != nil {
		t.Fatal(err)
	}
	inline.none(t, "retained message was cleared")
}

// A device's retained publish is delivered but not retained: only the cloud
// parks messages in the broker.
func TestDeviceCannotRetain(t *testing.T) {
	e := startEnv(t, nil)
	a := devID(1)
	live := newRecorder()
	if err := e.b.Subscribe(proto.CloudFilter, live.inline); err != nil {
		t.Fatal(err)
	}
	c := e.mustConnect(t, a, nil)
	topic := proto.UpTopic(a, proto.KindEvent)
	if tok := c.Publish(topic, 1, true, "parked?"); !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	if m := live.next(t, "live delivery"); m.topic != topic {
		t.Fatalf("got %q", m.topic)
	}
	later := newRecorder()
	if err := e.b.Subscribe(proto.TopicRoot+"+/up/#", later.inline); err != nil {
		t.Fatal(err)
	}
	later.none(t, "a device's publish was retained")
	if got := metricValue(t, e.reg, "clawfleet_mqtt_retain_stripped_total", nil); got != 1 {
		t.Errorf("retain stripped = %v, want 1", got)
	}
}

func TestDisconnectKicksDevice(t *testing.T) {
	e := startEnv(t, nil)
	a := devID(1)
	lost := make(chan error, 1)
	e.mustConnect(t, a, func(o *paho.ClientOptions) {
		o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
	})
	other := e.mustConnect(t, devID(2), nil)
	tstest.Await(t, "two devices connected", 5*time.Second, func() bool { return e.b.Connected() == 2 })

	if err := e.b.Disconnect(a); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("kicked client did not lose its connection")
	}
	tstest.Await(t, "Connected() == 1", 5*time.Second, func() bool { return e.b.Connected() == 1 })
	tstest.Await(t, "OnDisconnect", 5*time.Second, func() bool {
		_, d := e.callbacks()
		return len(d) == 1 && d[0] == a
	})
	if !other.IsConnectionOpen() {
		t.Error("the other device was disconnected too")
	}
	for _, id := range []string{a, devID(3), "not a device", "inline"} {
		if err := e.b.Disconnect(id); err != nil {
			t.Errorf("Disconnect(%q) of a device not connected = %v, want nil", id, err)
		}
	}
}

func TestLastWillOnAbruptClose(t *testing.T) {
	e := startEnv(t, nil)
	a, b := devID(1), devID(2)
	cloud := newRecorder()
	if err := e.b.Subscribe(proto.CloudFilter, cloud.inline); err != nil {
		t.Fatal(err)
	}
	disconnected := make(chan string, 4)
	e.b.testHookDisconnect = func(id string, _ bool) { disconnected <- id }

	will := string(proto.MustEncode(&proto.Status{State: proto.StateOffline}))
	conns := make(chan net.Conn, 1)
	e.mustConnect(t, a, func(o *paho.ClientOptions) {
		o.SetWill(proto.UpTopic(a, proto.KindStatus), will, 1, false)
		captureConn(o, conns)
	})
	raw := <-conns
	_ = raw.Close() // no DISCONNECT packet: the broker must publish the Will
	m := cloud.next(t, "last will")
	if m.topic != proto.UpTopic(a, proto.KindStatus) || m.payload != will {
		t.Fatalf("cloud got %q %q, want the will", m.topic, m.payload)
	}
	if id := <-disconnected; id != a {
		t.Fatalf("disconnected %s, want %s", id, a)
	}

	// A clean DISCONNECT discards the Will.
	c := e.mustConnect(t, b, func(o *paho.ClientOptions) {
		o.SetWill(proto.UpTopic(b, proto.KindStatus), will, 1, false)
	})
	c.Disconnect(100)
	select {
	case id := <-disconnected:
		if id != b {
			t.Fatalf("disconnected %s, want %s", id, b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no disconnect")
	}
	cloud.none(t, "after a clean disconnect")
}

func TestSessionTakeover(t *testing.T) {
	e := startEnv(t, nil)
	a := devID(1)
	cloud := newRecorder()
	if err := e.b.Subscribe(proto.CloudFilter, cloud.inline); err != nil {
		t.Fatal(err)
	}
	type disc struct {
		id     string
		latest bool
	}
	disconnected := make(chan disc, 4)
	e.b.testHookDisconnect = func(id string, latest bool) { disconnected <- disc{id, latest} }
	withWill := func(conns chan net.Conn, lost chan error) func(*paho.ClientOptions) {
		return func(o *paho.ClientOptions) {
			o.SetWill(proto.UpTopic(a, proto.KindStatus), "offline", 1, false)
			if conns != nil {
				captureConn(o, conns)
			}
			if lost != nil {
				o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
			}
		}
	}
	lost1 := make(chan error, 1)
	c1 := e.mustConnect(t, a, withWill(nil, lost1))
	// Let the first session be fully established and reading (a connection
	// taken over before mochi starts reading from it ends without its Will
	// ever being considered, and without an OnConnect).
	tstest.Await(t, "first OnConnect", 5*time.Second, func() bool { c, _ := e.callbacks(); return len(c) == 1 })
	if tok := c1.Publish(proto.UpTopic(a, proto.KindHeartbeat), 1, false, "hb"); !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	if m := cloud.next(t, "heartbeat"); m.payload != "hb" {
		t.Fatalf("got %q", m.payload)
	}
	conns := make(chan net.Conn, 1)
	e.mustConnect(t, a, withWill(conns, nil)) // same device connects again
	select {
	case <-lost1:
	case <-time.After(5 * time.Second):
		t.Fatal("old connection was not closed by the takeover")
	}
	if d := <-disconnected; d.id != a || d.latest {
		t.Fatalf("disconnect of old session: %+v, want not latest", d)
	}
	// mochi publishes the old connection's Will unless it happened to
	// notice the close between two packets; the hook drops it (see also
	// TestWillOfSupersededSessionDropped, which does not depend on timing).
	cloud.none(t, "the old session's Will must not be published on takeover")
	if got := metricValue(t, e.reg, "clawfleet_mqtt_wills_suppressed_total", nil); got > 1 {
		t.Errorf("wills suppressed = %v, want at most 1", got)
	}
	tstest.Await(t, "second OnConnect", 5*time.Second, func() bool { c, _ := e.callbacks(); return len(c) == 2 })
	if n := e.b.Connected(); n != 1 {
		t.Errorf("Connected() = %d after takeover, want 1", n)
	}
	connects, disconnects := e.callbacks()
	if len(connects) != 2 || len(disconnects) != 0 {
		t.Errorf("callbacks after takeover: connects %v disconnects %v; want 2 and 0", connects, disconnects)
	}

	// The new session's Will still works.
	_ = (<-conns).Close()
	if m := cloud.next(t, "will of the new session"); m.payload != "offline" {
		t.Fatalf("got %q", m.payload)
	}
	if d := <-disconnected; !d.latest {
		t.Fatalf("disconnect of new session: %+v, want latest", d)
	}
	tstest.Await(t, "Connected() == 0", 5*time.Second, func() bool { return e.b.Connected() == 0 })
	if _, d := e.callbacks(); len(d) != 1 || d[0] != a {
		t.Errorf("OnDisconnect calls %v, want one for %s", d, a)
	}
}

func TestOversizePacketDisconnects(t *testing.T) {
	e := startEnv(t, func(o *Options) { o.MaxPacketSize = 1024 })
	a := devID(1)
	cloud := newRecorder()
	if err := e.b.Subscribe(proto.CloudFilter, cloud.inline); err != nil {
		t.Fatal(err)
	}
	lost := make(chan error, 1)
	c := e.mustConnect(t, a, func(o *paho.ClientOptions) {
		o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
	})
	topic := proto.UpTopic(a, proto.KindEvent)
	small := strings.Repeat("s", 512)
	if tok := c.Publish(topic, 1, false, small); !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		t.Fatalf("small publish: %v", tok.Error())
	}
	if m := cloud.next(t, "small message"); m.payload != small {
		t.Fatal("small message mangled")
	}
	c.Publish(topic, 0, false, strings.Repeat("L", 4096))
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("client sending an oversized packet was not disconnected")
	}
	tstest.Await(t, "oversize counted", 5*time.Second, func() bool {
		return metricValue(t, e.reg, "clawfleet_mqtt_oversize_packets_total", nil) == 1
	})
	cloud.none(t, "oversized message")
}

func TestMalformedConnectionsDoNotAffectOthers(t *testing.T) {
	e := newEnv(t, nil)
	e.b.connectTimeout = 300 * time.Millisecond
	if err := e.b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.b.Close() })
	a := devID(1)
	got := newRecorder()
	c := e.mustConnect(t, a, nil)
	if tok := c.Subscribe(proto.DeviceFilter(a), 1, got.paho); !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	connectPacket := func(level byte, clientID string) []byte {
		body := []byte{0, 4, 'M', 'Q', 'T', 'T', level, 0x02, 0, 60, 0, byte(len(clientID))}
		body = append(body, clientID...)
		return append([]byte{0x10, byte(len(body))}, body...)
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"garbage", []byte("\xff\xfe\xfd\xfc garbage garbage")},
		{"http request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"unsupported protocol level", connectPacket(9, a)},
		{"publish before connect", []byte{0x30, 0x05, 0, 1, 'x', 'h', 'i'}},
		{"oversized remaining length", []byte{0x10, 0xff, 0xff, 0xff, 0x7f}},
		{"truncated connect", connectPacket(4, a)[:8]},
		{"nothing at all", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", e.b.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if len(tc.data) > 0 {
				if _, err := conn.Write(tc.data); err != nil {
					t.Fatal(err)
				}
			}
			_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			buf := make([]byte, 64)
			for { // the broker may answer (e.g. a CONNACK refusal) and must then close
				_, err := conn.Read(buf)
				if err == nil {
					continue
				}
				if isTimeout(err) {
					t.Fatal("connection was not closed by the broker")
				}
				break
			}
		})
	}
	if !c.IsConnectionOpen() {
		t.Fatal("well-behaved client was disconnected")
	}
	topic := proto.DownTopic(a, proto.KindCmd)
	if err := e.b.Publish(topic, []byte("still here"), false); err != nil {
		t.Fatal(err)
	}
	if m := got.next(t, "message after the garbage"); m.payload != "still here" {
		t.Fatalf("got %q", m.payload)
	}
	if n := e.b.Connected(); n != 1 {
		t.Errorf("Connected() = %d, want 1", n)
	}
}

func TestLifecycle(t *testing.T) {
	auth := &fakeAuth{secrets: map[string]string{}}
	if _, err := New(Options{}, nil); err == nil {
		t.Error("New with nil Authenticator succeeded")
	}
	for name, o := range map[string]Options{
		"negative rate":        {IPConnectRate: -1},
		"negative packet size": {MaxPacketSize: -1},
		"tls without address":  {TLSConfig: selfSignedTLS(t)},
		"tls without cert":     {TLSAddr: "127.0.0.1:0", TLSConfig: &tls12Config},
	} {
		if _, err := New(o, auth); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}

	reg := prometheus.NewRegistry()
	b, err := New(Options{TCPAddr: "127.0.0.1:0", Registerer: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, auth)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Registerer: reg}, auth); err == nil {
		t.Error("second broker on the same registry: want an AlreadyRegistered error")
	}
	if b.Healthy() || b.Addr() != nil {
		t.Error("healthy or has an address before Start")
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err == nil {
		t.Error("second Start succeeded")
	}
	addr, ok := b.Addr().(*net.TCPAddr)
	if !ok || addr.Port == 0 {
		t.Fatalf("Addr() = %v, want the real port", b.Addr())
	}
	if b.TLSAddr() != nil {
		t.Error("TLSAddr without TLS")
	}
	if !b.Healthy() {
		t.Error("not healthy after Start")
	}
	if err := b.Publish("a/+/b", nil, false); err == nil {
		t.Error("Publish to a wildcard topic succeeded")
	}
	if err := b.Publish("", nil, false); err == nil {
		t.Error("Publish to an empty topic succeeded")
	}
	if err := b.Subscribe("a/#/b", func(string, []byte) {}); err == nil {
		t.Error("Subscribe to an invalid filter succeeded")
	}
	// A panicking handler does not break publishing or other handlers.
	if err := b.Subscribe("x/y", func(string, []byte) { panic("boom") }); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	if err := b.Subscribe("x/+", rec.inline); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("x/y", []byte("1"), false); err != nil {
		t.Fatal(err)
	}
	if m := rec.next(t, "message"); m.payload != "1" {
		t.Fatal("wrong payload")
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if b.Healthy() {
		t.Error("healthy after Close")
	}
	if err := b.Start(); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
	if _, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		t.Error("listener still accepting after Close")
	}
	// Close unregistered the metrics: a new broker can use the registry.
	b2, err := New(Options{Registerer: reg}, auth)
	if err != nil {
		t.Fatalf("New after Close on the same registry: %v", err)
	}
	_ = b2.Close()
}

func TestCloseWithPendingConnection(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.b.Start(); err != nil {
		t.Fatal(err)
	}
	e.mustConnect(t, devID(1), nil)
	conn, err := net.Dial("tcp", e.b.Addr().String()) // never sends CONNECT
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	time.Sleep(50 * time.Millisecond) // let the broker accept it
	start := time.Now()
	if err := e.b.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v with a connection waiting for CONNECT", d)
	}
}

func TestWillOfSupersededSessionDropped(t *testing.T) {
	e := newEnv(t, nil)
	t.Cleanup(func() { _ = e.b.Close() })
	h := &hook{b: e.b}
	a := devID(1)
	will := mqtt.Will{TopicName: proto.UpTopic(a, proto.KindStatus), Payload: []byte("offline"), Flag: 1}
	older, newer := &mqtt.Client{ID: a}, &mqtt.Client{ID: a}

	h.OnSessionEstablish(older, packets.Packet{})
	if got, _ := h.OnWill(older, will); got.TopicName != will.TopicName {
		t.Fatalf("will of the current session changed: %+v", got)
	}
	h.OnSessionEstablish(newer, packets.Packet{}) // takes over
	if got, _ := h.OnWill(older, will); got.TopicName != "" || got.Payload != nil {
		t.Fatalf("will of the superseded session kept: %+v", got)
	}
	if got, _ := h.OnWill(newer, will); got.TopicName != will.TopicName {
		t.Fatalf("will of the new session changed: %+v", got)
	}
	bad := mqtt.Will{TopicName: proto.UpTopic(devID(2), proto.KindStatus), Flag: 1}
	if got, _ := h.OnWill(newer, bad); got.TopicName != "" {
		t.Fatalf("will on another device's topic kept: %+v", got)
	}
	if got := metricValue(t, e.reg, "clawfleet_mqtt_wills_suppressed_total", nil); got != 1 {
		t.Errorf("wills suppressed = %v, want 1", got)
	}
}

func TestSubscribeHandlersGetOwnPayloadCopy(t *testing.T) {
	e := startEnv(t, nil)
	a := devID(1)
	got := newRecorder()
	c := e.mustConnect(t, a, nil)
	if tok := c.Subscribe(proto.DeviceFilter(a), 1, got.paho); !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	seen := make(chan string, 4)
	scribble := func(_ string, p []byte) {
		seen <- string(p)
		for i := range p {
			p[i] = 'X'
		}
	}
	for i := 0; i < 2; i++ {
		if err := e.b.Subscribe(proto.TopicRoot+"+/down/#", scribble); err != nil {
			t.Fatal(err)
		}
	}
	payload := []byte("original")
	if err := e.b.Publish(proto.DownTopic(a, proto.KindCmd), payload, false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if p := <-seen; p != "original" {
			t.Errorf("handler %d saw %q", i, p)
		}
	}
	if m := got.next(t, "device copy"); m.payload != "original" {
		t.Errorf("device got %q", m.payload)
	}
	if string(payload) != "original" {
		t.Errorf("caller's payload changed to %q", payload)
	}
}

// TestSessionBookkeepingInterleavings drives the hook with interleavings of
// two connections of one device that real sockets produce only by chance.
func TestSessionBookkeepingInterleavings(t *testing.T) {
	a := devID(1)
	pk := packets.Packet{}
	t.Run("older session established after the newer took over", func(t *testing.T) {
		e := newEnv(t, nil)
		t.Cleanup(func() { _ = e.b.Close() })
		h := &hook{b: e.b}
		older, newer := &mqtt.Client{ID: a}, &mqtt.Client{ID: a}
		h.OnSessionEstablish(older, pk)
		h.OnSessionEstablish(newer, pk)
		h.OnSessionEstablished(older, pk) // superseded: ignored
		if c, _ := e.callbacks(); len(c) != 0 || e.b.Connected() != 0 {
			t.Fatalf("superseded session reported: connects %v, Connected %d", c, e.b.Connected())
		}
		h.OnSessionEstablished(newer, pk)
		h.OnDisconnect(older, errors.New("taken over"), true)
		if c, d := e.callbacks(); len(c) != 1 || len(d) != 0 || e.b.Connected() != 1 {
			t.Fatalf("connects %v disconnects %v Connected %d; want 1, 0, 1", c, d, e.b.Connected())
		}
		h.OnDisconnect(newer, errors.New("EOF"), true)
		if _, d := e.callbacks(); len(d) != 1 || e.b.Connected() != 0 {
			t.Fatalf("disconnects %v Connected %d; want 1, 0", d, e.b.Connected())
		}
	})
	t.Run("older session ends before the newer is established", func(t *testing.T) {
		e := newEnv(t, nil)
		t.Cleanup(func() { _ = e.b.Close() })
		h := &hook{b: e.b}
		older, newer := &mqtt.Client{ID: a}, &mqtt.Client{ID: a}
		h.OnSessionEstablish(older, pk)
		h.OnSessionEstablished(older, pk)
		h.OnSessionEstablish(newer, pk)
		h.OnDisconnect(older, errors.New("taken over"), true)
		if c, d := e.callbacks(); len(c) != 1 || len(d) != 0 || e.b.Connected() != 0 {
			t.Fatalf("connects %v disconnects %v Connected %d; want 1, 0, 0", c, d, e.b.Connected())
		}
		h.OnSessionEstablished(newer, pk)
		if c, _ := e.callbacks(); len(c) != 2 || e.b.Connected() != 1 {
			t.Fatalf("connects %v Connected %d; want 2, 1", c, e.b.Connected())
		}
		if g := metricValue(t, e.reg, "clawfleet_mqtt_connected_clients", nil); g != 1 {
			t.Errorf("gauge %v, want 1", g)
		}
	})
}

// TestConnectedDeviceOneGoroutine: a connected device costs the broker one
// goroutine (its reader), not mochi's two for as long as it is connected;
// the writer runs only while packets are queued for it (our mochi fork).
func TestConnectedDeviceOneGoroutine(t *testing.T) {
	e := startEnv(t, nil)
	rec := newRecorder()
	if err := e.b.Subscribe(proto.CloudFilter, rec.inline); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	settle := func() int {
		// Goroutines that end (a writer after its packet, a test helper)
		// take a moment; the count at rest is the lowest seen for a while.
		low := runtime.NumGoroutine()
		for range 20 {
			time.Sleep(10 * time.Millisecond)
			low = min(low, runtime.NumGoroutine())
		}
		return low
	}
	before := settle()
	const n = 20
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := 1; i <= n; i++ {
		c, err := rawConnect(e.b.Addr().String(), devID(i))
		if err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
		conns = append(conns, c)
		// A publish, and the CONNACK and SUBACK before it, were written
		// to the device: writers ran and must be gone again.
		if err := rawPublish(c, devID(i), []byte(`{}`)); err != nil {
			t.Fatalf("device %d publish: %v", i, err)
		}
		rec.next(t, "status")
		rec.next(t, "heartbeat")
	}
	if got := settle() - before; got > n {
		t.Errorf("%d connected devices hold %d goroutines, want at most %d", n, got, n)
	}
}
