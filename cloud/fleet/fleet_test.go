package fleet

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/fleet/fleettest"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	f     *Fleet
	bus   *fleettest.Bus
	st    *store.Store
	clk   *clock
	reg   *prometheus.Registry
	stop  func()
	dir   string
	id    string
	token string
}

func newEnv(t *testing.T, dir string) *env { return newEnvWith(t, dir, nil) }

// newEnvWith is newEnv with opt changing the fleet's options.
func newEnvWith(t *testing.T, dir string, opt func(*Options)) *env {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{bus: fleettest.NewBus(), st: st, clk: &clock{t: time.Now().UTC()}, reg: prometheus.NewRegistry(), dir: dir}
	o := Options{HeartbeatInterval: 2 * time.Second, FlushInterval: 20 * time.Millisecond, Registerer: e.reg, Now: e.clk.now}
	if opt != nil {
		opt(&o)
	}
	e.f, err = New(st, e.bus, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.f.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.f.Run(ctx); close(done) }()
	for !e.bus.Subscribed() {
		time.Sleep(time.Millisecond)
	}
	e.stop = func() { cancel(); <-done; st.Close() }
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			e.stop()
		}
	})
	return e
}

func (e *env) enroll(t *testing.T) (string, string) {
	t.Helper()
	plain, _, err := e.f.CreateEnrollmentToken(context.Background(), TokenRequest{TTL: time.Hour, Uses: 1, Labels: map[string]string{"zone": "a"}}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	id, secret, err := e.f.Enroll(context.Background(), EnrollRequest{Token: plain, Hostname: "vm-1"})
	if err != nil {
		t.Fatal(err)
	}
	return id, secret
}

func (e *env) host(t *testing.T, id string) *store.Host {
	h, err := e.st.GetHost(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func register(id string) []byte {
	return proto.MustEncode(&proto.Register{Hostname: "vm-1", OS: "linux", Arch: "amd64", CPUs: 2, AgentVersion: "t"})
}

func TestPresenceLifecycle(t *testing.T) {
	e := newEnv(t, t.TempDir())
	id, secret := e.enroll(t)
	if !e.f.Authenticate(context.Background(), id, secret) || e.f.Authenticate(context.Background(), id, secret+"x") {
		t.Fatal("authentication wrong")
	}
	if e.host(t, id).Status != store.HostPending {
		t.Fatal("new host not pending")
	}
	e.bus.Send(proto.UpTopic(id, proto.KindRegister), register(id))
	tstest.Await(t, "online in store", 3*time.Second, func() bool { return e.host(t, id).Status == store.HostOnline })
	// The config goes out after the registration batch commits, so it may
	// trail the store by a moment.
	tstest.Await(t, "config pushed", 3*time.Second, func() bool {
		_, ok := e.bus.Published(proto.DownTopic(id, proto.KindConfig))
		return ok
	})
	cfg := e.bus.Get(proto.DownTopic(id, proto.KindConfig))
	if c, err := proto.DecodeConfig(cfg); err != nil || c.HeartbeatIntervalSeconds != 2 {
		t.Fatalf("config pushed = %s, %v", cfg, err)
	}
	m := proto.Metrics{CPUPercent: 42, MemUsedBytes: 1, MemTotalBytes: 2}
	e.bus.Send(proto.UpTopic(id, proto.KindHeartbeat), proto.MustEncode(&proto.Heartbeat{Seq: 1, SentAt: time.Now().UnixMilli(), Metrics: m}))
	tstest.Await(t, "metrics in store", 3*time.Second, func() bool { return e.host(t, id).Metrics.CPUPercent == 42 })
	if testutil.ToFloat64(e.f.m.heartbeats) != 1 {
		t.Fatal("heartbeat not counted")
	}

	// Last Will → offline.
	e.bus.Send(proto.UpTopic(id, proto.KindStatus), proto.MustEncode(&proto.Status{State: proto.StateOffline}))
	tstest.Await(t, "offline by last will", 3*time.Second, func() bool { return e.host(t, id).Status == store.HostOffline })

	// Heartbeat → online again; then silence past 3 intervals → offline.
	e.bus.Send(proto.UpTopic(id, proto.KindHeartbeat), proto.MustEncode(&proto.Heartbeat{Seq: 2, Metrics: m}))
	tstest.Await(t, "online again", 3*time.Second, func() bool { return e.host(t, id).Status == store.HostOnline })
	e.clk.add(5 * time.Second)
	time.Sleep(1200 * time.Millisecond) // one sweep
	if e.host(t, id).Status != store.HostOnline {
		t.Fatal("offline before 3 missed heartbeats")
	}
	e.clk.add(2 * time.Second)
	tstest.Await(t, "offline by missed heartbeats", 3*time.Second, func() bool { return e.host(t, id).Status == store.HostOffline })
}

// TestHeartbeatsPersistedAtMostEvery: with PersistEvery an online host's
// heartbeats reach the store at most that often (the API's live view has
// each at once), while going offline or online is written at the next
// flush; nothing is lost at the end of the window.
func TestHeartbeatsPersistedAtMostEvery(t *testing.T) {
	e := newEnvWith(t, t.TempDir(), func(o *Options) { o.PersistEvery = 10 * time.Second })
	id, _ := e.enroll(t)
	e.bus.Send(proto.UpTopic(id, proto.KindRegister), register(id))
	tstest.Await(t, "online in store", 3*time.Second, func() bool { return e.host(t, id).Status == store.HostOnline })
	time.Sleep(100 * time.Millisecond) // the registration's own presence flushed
	beat := func(cpu float64) {
		e.bus.Send(proto.UpTopic(id, proto.KindHeartbeat), proto.MustEncode(&proto.Heartbeat{Seq: 1, Metrics: proto.Metrics{CPUPercent: cpu, MemUsedBytes: 1, MemTotalBytes: 2}}))
	}
	beat(10)
	tstest.Await(t, "the first heartbeat live", 3*time.Second, func() bool {
		h, err := e.f.GetHost(context.Background(), id)
		return err == nil && h.Metrics.CPUPercent == 10
	})
	time.Sleep(200 * time.Millisecond) // ten flushes
	if got := e.host(t, id).Metrics.CPUPercent; got != 0 {
		t.Fatalf("a heartbeat right after the registration was written (cpu %v in the store)", got)
	}
	e.clk.add(11 * time.Second)
	beat(20)
	tstest.Await(t, "the heartbeat written once due", 3*time.Second, func() bool { return e.host(t, id).Metrics.CPUPercent == 20 })
	beat(30)
	tstest.Await(t, "the next heartbeat live", 3*time.Second, func() bool {
		h, err := e.f.GetHost(context.Background(), id)
		return err == nil && h.Metrics.CPUPercent == 30
	})
	time.Sleep(200 * time.Millisecond)
	if got := e.host(t, id).Metrics.CPUPercent; got != 20 {
		t.Fatalf("cpu %v in the store within the window, want 20", got)
	}
	// A change of status is not held back.
	e.bus.Send(proto.UpTopic(id, proto.KindStatus), proto.MustEncode(&proto.Status{State: proto.StateOffline}))
	tstest.Await(t, "offline in the store", 3*time.Second, func() bool { return e.host(t, id).Status == store.HostOffline })
	beat(40)
	tstest.Await(t, "online again in the store", 3*time.Second, func() bool {
		h := e.host(t, id)
		return h.Status == store.HostOnline && h.Metrics.CPUPercent == 40
	})
}

func TestBadMessagesChangeNothing(t *testing.T) {
	e := newEnv(t, t.TempDir())
	id, _ := e.enroll(t)
	e.bus.Send(proto.UpTopic(id, proto.KindRegister), register(id))
	tstest.Await(t, "online", 3*time.Second, func() bool { return e.host(t, id).Status == store.HostOnline })
	before := e.host(t, id)
	for _, tc := range []struct {
		name, topic, payload, reason string
	}{
		{"malformed", proto.UpTopic(id, proto.KindHeartbeat), "{not json", "malformed"},
		{"version", proto.UpTopic(id, proto.KindHeartbeat), `{"v":9}`, "version"},
		{"invalid", proto.UpTopic(id, proto.KindHeartbeat), `{"v":1,"metrics":{"cpuPercent":500}}`, "invalid"},
		{"too large", proto.UpTopic(id, proto.KindRegister), `{"v":1,"hostname":"` + strings.Repeat("x", proto.MaxPayload) + `"}`, "too_large"},
		{"unknown device", proto.UpTopic("dev_unknown000", proto.KindHeartbeat), `{"v":1}`, "unknown_device"},
		{"bad topic", "clawfleet/v1/dev/x/up/heartbeat", `{"v":1}`, "topic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.f.m.bad.WithLabelValues(tc.reason)
			n := testutil.ToFloat64(c)
			e.bus.Send(tc.topic, []byte(tc.payload))
			tstest.Await(t, "refusal counted", 3*time.Second, func() bool { return testutil.ToFloat64(c) == n+1 })
		})
	}
	time.Sleep(50 * time.Millisecond)
	after := e.host(t, id)
	if after.Metrics != before.Metrics || after.Hostname != before.Hostname || after.Status != before.Status {
		t.Fatalf("bad messages changed the host: %+v → %+v", before, after)
	}
}

func TestDeleteRevokes(t *testing.T) {
	e := newEnv(t, t.TempDir())
	id, secret := e.enroll(t)
	if err := e.f.DeleteHost(context.Background(), id, "admin"); err != nil {
		t.Fatal(err)
	}
	if e.f.Authenticate(context.Background(), id, secret) {
		t.Fatal("deleted host still authenticates")
	}
	if k := e.bus.Disconnected(); len(k) != 1 || k[0] != id {
		t.Fatalf("kicked = %v", k)
	}
	for _, kind := range []string{proto.KindConfig, proto.KindDesired} {
		if p, ok := e.bus.Published(proto.DownTopic(id, kind)); !ok || len(p) != 0 {
			t.Fatalf("retained %s not cleared: %q (published: %v)", kind, p, ok)
		}
	}
	if err := e.f.DeleteHost(context.Background(), id, "admin"); err != ErrHostNotFound {
		t.Fatalf("second delete: %v", err)
	}
	es, _ := e.f.Audit(context.Background(), 10)
	if len(es) == 0 || es[0].Action != "host.delete" || es[0].Target != id {
		t.Fatalf("audit = %+v", es)
	}
}

func TestRestartKeepsStateAndGrace(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir)
	id, secret := e.enroll(t)
	e.bus.Send(proto.UpTopic(id, proto.KindRegister), register(id))
	tstest.Await(t, "online", 3*time.Second, func() bool { return e.host(t, id).Status == store.HostOnline })
	if err := e.f.SetHeartbeatInterval(context.Background(), 3*time.Second, "admin"); err != nil {
		t.Fatal(err)
	}
	e.stop()

	e2 := newEnv(t, dir)
	if !e2.f.Authenticate(context.Background(), id, secret) {
		t.Fatal("credentials lost across restart")
	}
	if e2.f.HeartbeatInterval() != 3*time.Second {
		t.Fatalf("interval after restart = %s", e2.f.HeartbeatInterval())
	}
	hs, _ := e2.f.ListHosts(context.Background())
	if len(hs) != 1 || hs[0].Status != store.HostOnline {
		t.Fatalf("hosts after restart = %+v", hs)
	}
	// No agent comes back: offline after the window.
	e2.clk.add(10 * time.Second)
	tstest.Await(t, "offline after grace", 3*time.Second, func() bool { return e2.host(t, id).Status == store.HostOffline })
}

func TestValidation(t *testing.T) {
	e := newEnv(t, t.TempDir())
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		req  TokenRequest
	}{
		{"ttl too short", TokenRequest{TTL: time.Second, Uses: 1}},
		{"zero uses", TokenRequest{TTL: time.Hour, Uses: 0}},
		{"bad label", TokenRequest{TTL: time.Hour, Uses: 1, Labels: map[string]string{"Bad Key": "x"}}},
	} {
		if _, _, err := e.f.CreateEnrollmentToken(ctx, tc.req, "admin"); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
	if err := e.f.SetHeartbeatInterval(ctx, 1500*time.Millisecond, "admin"); err == nil {
		t.Error("fractional interval accepted")
	}
	if _, _, err := e.f.Enroll(ctx, EnrollRequest{Token: "cfe_wrong"}); err == nil {
		t.Error("wrong token enrolled")
	}
	hs, _ := e.f.ListHosts(ctx)
	if len(hs) != 0 {
		t.Fatalf("validation failures created hosts: %d", len(hs))
	}
}

// A registration the broker delivers between Listen and Run (the cloud's
// start: the broker accepts devices before Run's goroutine is scheduled) is
// queued and handled, not lost.
func TestMessagesBeforeRunAreKept(t *testing.T) {
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bus := fleettest.NewBus()
	f, err := New(st, bus, Options{HeartbeatInterval: 2 * time.Second, FlushInterval: 20 * time.Millisecond, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := &env{f: f, st: st}
	id, _ := e.enroll(t)
	if err := f.Listen(); err != nil {
		t.Fatal(err)
	}
	if !bus.Subscribed() {
		t.Fatal("Listen did not subscribe")
	}
	bus.Send(proto.UpTopic(id, proto.KindRegister), register(id))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	tstest.Await(t, "registration sent before Run stored", 3*time.Second, func() bool {
		h := e.host(t, id)
		return h.Status == store.HostOnline && h.AgentVersion == "t"
	})
}

// TestRegistrationsBatched: registrations queued together (a fleet
// reconnecting after a cloud restart) are stored in one transaction, each
// device's messages still in their order, and one bad or vanished host
// costs the others nothing.
func TestRegistrationsBatched(t *testing.T) {
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bus := fleettest.NewBus()
	reg := prometheus.NewRegistry()
	f, err := New(st, bus, Options{HeartbeatInterval: 2 * time.Second, FlushInterval: 20 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := &env{f: f, st: st}
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ids[i], _ = e.enroll(t)
	}
	if err := f.Listen(); err != nil {
		t.Fatal(err)
	}
	offline := proto.MustEncode(&proto.Status{State: proto.StateOffline})
	// ids[1] goes offline after registering, ids[2] before; ids[3] sends
	// garbage; ids[4] is deleted from the store meanwhile.
	bus.Send(proto.UpTopic(ids[2], proto.KindStatus), offline)
	for i, id := range ids {
		if i == 3 {
			bus.Send(proto.UpTopic(id, proto.KindRegister), []byte("{not json"))
			continue
		}
		bus.Send(proto.UpTopic(id, proto.KindRegister), register(id))
		if i == 1 {
			bus.Send(proto.UpTopic(id, proto.KindStatus), offline)
		}
	}
	if err := st.DeleteHost(context.Background(), ids[4]); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	tstest.Await(t, "the registrations handled", 5*time.Second, func() bool {
		return testutil.ToFloat64(f.m.registers) == n-2
	})
	for i, id := range ids {
		want := store.HostOnline
		switch i {
		case 1:
			want = store.HostOffline
		case 3:
			want = store.HostPending
		case 4:
			continue
		}
		tstest.Await(t, "host "+id+" "+want, 3*time.Second, func() bool {
			h := e.host(t, id)
			return h.Status == want && (i == 3 || h.AgentVersion == "t")
		})
	}
	if got := testutil.ToFloat64(f.m.bad.WithLabelValues("malformed")); got != 1 {
		t.Errorf("malformed registrations counted %v, want 1", got)
	}
	// Fewer transactions than registrations: the batch size histogram
	// saw at most a few batches holding all n-2.
	var m dto.Metric
	if err := f.m.regBatch.Write(&m); err != nil {
		t.Fatal(err)
	}
	if h := m.GetHistogram(); h.GetSampleSum() < n-3 || h.GetSampleCount() > 5 {
		t.Fatalf("registrations stored in %d transactions holding %v in all; want them batched", h.GetSampleCount(), h.GetSampleSum())
	}
}
