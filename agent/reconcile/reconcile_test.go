package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// memRuntime is an in-memory Runtime that records what it was asked to do.
type memRuntime struct {
	mu     sync.Mutex
	insts  map[string]runtime.Instance
	purged []string
	failOn string
}

func (m *memRuntime) Name() string { return "mem" }
func (m *memRuntime) Ensure(_ context.Context, s proto.TenantSpec) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.ID == m.failOn {
		return errTest
	}
	st := proto.TenantStarting
	if s.State == proto.TenantStopped {
		st = proto.TenantStopped
	}
	in := m.insts[s.ID]
	if in.RestartGen != s.RestartGen && in.TenantID != "" {
		in.Restarts++
	}
	m.insts[s.ID] = runtime.Instance{TenantID: s.ID, State: st, Port: s.Port, RestartGen: s.RestartGen, Restarts: in.Restarts}
	return nil
}
func (m *memRuntime) Remove(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.insts, id)
	return nil
}
func (m *memRuntime) Purge(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.purged = append(m.purged, id)
	return nil
}
func (m *memRuntime) List(context.Context) ([]runtime.Instance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []runtime.Instance
	for _, in := range m.insts {
		out = append(out, in)
	}
	return out, nil
}
func (m *memRuntime) Logs(_ context.Context, id string, tail int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.insts[id]; !ok {
		return nil, runtime.ErrNotFound
	}
	return []string{"line 1 of " + id, "line 2"}, nil
}
func (m *memRuntime) Close() error { return nil }

type errString string

func (e errString) Error() string { return string(e) }

const errTest = errString("boom: port 20000 busy")

type pub struct {
	mu   sync.Mutex
	msgs []struct {
		kind    string
		payload []byte
	}
}

func (p *pub) Publish(_ context.Context, kind string, _ byte, payload []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, struct {
		kind    string
		payload []byte
	}{kind, payload})
	return nil
}

func (p *pub) replies() []proto.Reply {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []proto.Reply
	for _, m := range p.msgs {
		if m.kind == proto.KindReply {
			r, _ := proto.DecodeReply(m.payload)
			out = append(out, *r)
		}
	}
	return out
}

func (p *pub) lastReport(t *testing.T) *proto.TenantReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.msgs) - 1; i >= 0; i-- {
		if p.msgs[i].kind == proto.KindEvent {
			r, err := proto.DecodeTenantReport(p.msgs[i].payload)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	return nil
}

func spec(id string, port int) proto.TenantSpec {
	return proto.TenantSpec{ID: id, Slug: strings.TrimPrefix(id, "ten_"), Owner: "u", State: proto.TenantRunning, Port: port, GatewayToken: "tok_0123456789abcdef"}
}

func TestConvergeReportAndCommands(t *testing.T) {
	ready := map[int]bool{20000: true}
	var readyMu sync.Mutex
	rt := &memRuntime{insts: map[string]runtime.Instance{"ten_orphan0001": {TenantID: "ten_orphan0001"}}, failOn: "ten_broken0001"}
	p := &pub{}
	dir := t.TempDir()
	r := New(Options{Runtime: rt, Publisher: p, StateDir: dir, Interval: 10 * time.Millisecond, Probe: func(_ context.Context, s proto.TenantSpec, _ runtime.Instance) bool {
		readyMu.Lock()
		defer readyMu.Unlock()
		return ready[s.Port]
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	d := proto.Desired{Revision: 3, Tenants: []proto.TenantSpec{spec("ten_alpha0001", 20000), spec("ten_beta00001", 20120), spec("ten_broken0001", 20240)}, Purge: []string{"ten_gone00001"}}
	r.HandleDesired(ctx, proto.MustEncode(&d))
	tstest.Await(t, "report", 3*time.Second, func() bool {
		rep := p.lastReport(t)
		return rep != nil && rep.Revision == 3 && len(rep.Tenants) == 3
	})
	rep := p.lastReport(t)
	got := map[string]proto.TenantStatus{}
	for _, s := range rep.Tenants {
		got[s.ID] = s
	}
	if got["ten_alpha0001"].State != proto.TenantRunning || got["ten_beta00001"].State != proto.TenantStarting ||
		got["ten_broken0001"].State != proto.TenantFailed || !strings.Contains(got["ten_broken0001"].Error, "busy") {
		t.Fatalf("statuses = %+v", got)
	}
	if len(rep.Purged) != 1 || rep.Purged[0] != "ten_gone00001" {
		t.Fatalf("purged = %v", rep.Purged)
	}
	rt.mu.Lock()
	_, orphan := rt.insts["ten_orphan0001"]
	rt.mu.Unlock()
	if orphan {
		t.Fatal("orphan instance not removed")
	}
	reps := p.replies()
	if len(reps) != 1 || reps[0].ID != proto.DesiredReplyID(3) || !reps[0].OK {
		t.Fatalf("ack = %+v", reps)
	}

	// Readiness turns beta running.
	readyMu.Lock()
	ready[20120] = true
	readyMu.Unlock()
	tstest.Await(t, "beta running", 3*time.Second, func() bool {
		for _, s := range p.lastReport(t).Tenants {
			if s.ID == "ten_beta00001" {
				return s.State == proto.TenantRunning
			}
		}
		return false
	})

	// The forwarder's upstreams: desired tenants' instances only.
	if up, ok := r.Upstream(20120); !ok || up != "127.0.0.1:20120" {
		t.Fatalf("Upstream(20120) = %q %v", up, ok)
	}
	if up, ok := r.Upstream(20360); ok {
		t.Fatalf("Upstream of a port no tenant has = %q", up)
	}

	// Logs command, and a bad command.
	r.HandleCommand(ctx, proto.MustEncode(&proto.Command{ID: "c1", Op: proto.OpLogs, TenantID: "ten_alpha0001", Tail: 10}))
	r.HandleCommand(ctx, []byte(`{"v":1,"id":"c2","op":"rm -rf"}`))
	r.HandleCommand(ctx, proto.MustEncode(&proto.Command{ID: "c3", Op: proto.OpLogs, TenantID: "ten_nosuch0001"}))
	reps = p.replies()
	if len(reps) != 4 || !reps[1].OK || len(reps[1].Lines) != 2 || reps[2].OK || reps[2].ID != "c2" || reps[3].OK {
		t.Fatalf("replies = %+v", reps)
	}

	// An older revision is ignored; a malformed one is refused with a nack.
	r.HandleDesired(ctx, proto.MustEncode(&proto.Desired{Revision: 2}))
	r.HandleDesired(ctx, []byte(`{"v":1,"revision":9,"tenants":[{"id":"bad"}]}`))
	reps = p.replies()
	if last := reps[len(reps)-1]; last.ID != proto.DesiredReplyID(9) || last.OK {
		t.Fatalf("malformed desired ack = %+v", last)
	}
	time.Sleep(50 * time.Millisecond)
	rt.mu.Lock()
	n := len(rt.insts) // alpha and beta; broken never gets created
	rt.mu.Unlock()
	if n != 2 {
		t.Fatalf("older/malformed desired changed instances: %d", n)
	}

	// A new reconciler (agent restart) picks up the saved desired state.
	cancel()
	rt2 := &memRuntime{insts: map[string]runtime.Instance{}}
	r2 := New(Options{Runtime: rt2, Publisher: &pub{}, StateDir: dir, Probe: func(context.Context, proto.TenantSpec, runtime.Instance) bool { return false }})
	r2.pass(context.Background())
	if len(rt2.insts) != 3 {
		t.Fatalf("after restart %d instances ensured, want 3", len(rt2.insts))
	}
}

func TestBoundLines(t *testing.T) {
	long := strings.Repeat("x", 1000)
	var lines []string
	for range 100 {
		lines = append(lines, long)
	}
	got := boundLines(lines)
	total := 0
	for _, l := range got {
		total += len(l)
	}
	if total > proto.MaxLogBytes || len(got) == 0 || len(got) == 100 {
		t.Fatalf("bounded to %d lines, %d bytes", len(got), total)
	}
}

func TestBoundContainers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		reason string
	}{
		{"few", 3, "no gateway token"},
		{"more than the count allows", 300, ""},
		{"more than a payload holds", 190, strings.Repeat("r", proto.MaxReason)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := proto.Reply{ID: "c1", OK: true}
			for i := range tc.n {
				c := proto.ContainerCandidate{ID: strings.Repeat(fmt.Sprintf("%02x", i%256), 32), Name: fmt.Sprintf("openclaw-%03d", i), Image: "openclaw:2026.9.6", Adoptable: tc.reason == ""}
				if tc.reason != "" {
					c.Code, c.Reason = proto.AdoptUnusable, tc.reason
				}
				rep.Containers = append(rep.Containers, c)
			}
			boundContainers(&rep)
			got, err := proto.DecodeReply(proto.MustEncode(&rep))
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Containers)+got.ContainersLeftOut != tc.n || len(got.Containers) == 0 || got.Containers[0].Name != "openclaw-000" {
				t.Fatalf("%d listed, %d left out, of %d", len(got.Containers), got.ContainersLeftOut, tc.n)
			}
			if tc.n <= 3 && got.ContainersLeftOut != 0 {
				t.Fatalf("%d left out of %d", got.ContainersLeftOut, tc.n)
			}
		})
	}
}

// HTTPProbe asks the instance's upstream, naming a non-loopback client in
// trusted-proxy mode only, and never sends a user header.
func TestHTTPProbe(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		if r.URL.Path != "/readyz" {
			w.WriteHeader(404)
			return
		}
		if r.Header.Get("X-Forwarded-For") == "" && r.Header.Get("X-Test-Mode") == "trusted" {
			w.WriteHeader(403)
		}
	}))
	defer srv.Close()
	in := runtime.Instance{Port: 1, Upstream: srv.Listener.Addr().String()}
	ctx := context.Background()
	tp := spec("ten_alpha0001", 1)
	if !HTTPProbe(ctx, tp, in) {
		t.Fatal("trusted-proxy probe failed")
	}
	tok := tp
	tok.Auth = proto.GatewayAuthToken
	if !HTTPProbe(ctx, tok, in) {
		t.Fatal("token probe failed")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0].Get("X-Forwarded-For") != runtime.ProbeForwardedFor || seen[1].Get("X-Forwarded-For") != "" {
		t.Fatalf("headers %v", seen)
	}
	for _, h := range seen {
		if h.Get(proto.UserHeader) != "" {
			t.Fatalf("probe sent a user header: %v", h)
		}
	}
	if HTTPProbe(ctx, tp, runtime.Instance{Port: 1, Upstream: "127.0.0.1:1"}) {
		t.Fatal("probe of a closed port succeeded")
	}
}

// TestProbesRunTogether: one slow readiness probe does not hold up the
// others: the probe below answers ready only once three are in flight at
// once, which never happens when they run one after the other.
func TestProbesRunTogether(t *testing.T) {
	var mu sync.Mutex
	inFlight, most := 0, 0
	probe := func(ctx context.Context, _ proto.TenantSpec, _ runtime.Instance) bool {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			all := most >= 3
			mu.Unlock()
			if all {
				return true
			}
			time.Sleep(5 * time.Millisecond)
		}
		return false
	}
	p := &pub{}
	r := New(Options{Runtime: &memRuntime{insts: map[string]runtime.Instance{}}, Publisher: p, StateDir: t.TempDir(), Interval: time.Hour, Probe: probe})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	d := proto.Desired{Revision: 1, Tenants: []proto.TenantSpec{spec("ten_one0000001", 20000), spec("ten_two0000001", 20120), spec("ten_three000001", 20240)}}
	r.HandleDesired(ctx, proto.MustEncode(&d))
	tstest.Await(t, "all three running", 3*time.Second, func() bool {
		rep := p.lastReport(t)
		if rep == nil || len(rep.Tenants) != 3 {
			return false
		}
		for _, s := range rep.Tenants {
			if s.State != proto.TenantRunning {
				return false
			}
		}
		return true
	})
}

// TestWipeAndHold: a wipe removes and purges every tenant, forgets the
// desired state (on disk too) but its revision; desired states sent while
// held wait, and the newest is applied on release.
func TestWipeAndHold(t *testing.T) {
	rt := &memRuntime{insts: map[string]runtime.Instance{"ten_stray00001": {TenantID: "ten_stray00001"}}}
	p := &pub{}
	dir := t.TempDir()
	r := New(Options{Runtime: rt, Publisher: p, StateDir: dir, Interval: 10 * time.Millisecond, Probe: func(context.Context, proto.TenantSpec, runtime.Instance) bool { return true }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	r.HandleDesired(ctx, proto.MustEncode(&proto.Desired{Revision: 4, Tenants: []proto.TenantSpec{spec("ten_alpha0001", 20000)}, Purge: []string{"ten_gone00001"}}))
	tstest.Await(t, "alpha running", 3*time.Second, func() bool {
		rep := p.lastReport(t)
		return rep != nil && len(rep.Tenants) == 1 && rep.Tenants[0].State == proto.TenantRunning
	})

	r.Hold(ctx, true)
	if err := r.Wipe(ctx); err != nil {
		t.Fatal(err)
	}
	rt.mu.Lock()
	left, purged := len(rt.insts), slices.Clone(rt.purged)
	rt.mu.Unlock()
	if left != 0 || !slices.Contains(purged, "ten_alpha0001") {
		t.Fatalf("after the wipe: %d instances, purged %v", left, purged)
	}
	if _, err := os.Stat(filepath.Join(dir, "desired.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("desired.json kept: %v", err)
	}
	tstest.Await(t, "a report after the wipe: no tenant, the purged one still told", 3*time.Second, func() bool {
		rep := p.lastReport(t)
		return rep != nil && len(rep.Tenants) == 0 && slices.Contains(rep.Purged, "ten_gone00001")
	})
	// Held: the old owner's tenant, sent again, does not come back.
	r.HandleDesired(ctx, proto.MustEncode(&proto.Desired{Revision: 4, Tenants: []proto.TenantSpec{spec("ten_alpha0001", 20000)}}))
	r.HandleDesired(ctx, proto.MustEncode(&proto.Desired{Revision: 5, Purge: []string{"ten_alpha0001"}}))
	for _, rep := range p.replies() {
		if rep.ID == proto.DesiredReplyID(5) {
			t.Fatal("a desired state was taken while held")
		}
	}
	r.mu.Lock()
	rev := r.desired.Revision
	r.mu.Unlock()
	if rev != 4 {
		t.Fatalf("desired revision %d while held", rev)
	}
	r.Hold(ctx, false)
	tstest.Await(t, "revision 5 applied on release", 3*time.Second, func() bool {
		rep := p.lastReport(t)
		return rep != nil && rep.Revision == 5 && len(rep.Tenants) == 0 && slices.Contains(rep.Purged, "ten_alpha0001")
	})
}

// gatedRuntime is a memRuntime whose Ensure of one tenant waits for a
// gate, and which can look one instance up (runtime.InstanceGetter).
type gatedRuntime struct {
	*memRuntime
	slow string
	gate chan struct{}
}

func (g *gatedRuntime) Ensure(ctx context.Context, s proto.TenantSpec) error {
	if s.ID == g.slow {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.memRuntime.Ensure(ctx, s)
}

func (g *gatedRuntime) Instance(_ context.Context, id string) (runtime.Instance, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	in, ok := g.insts[id]
	in.Upstream = fmt.Sprintf("127.0.0.1:%d", in.Port)
	return in, ok
}

// TestStartedReportedWithoutWaitingForOthers: a gateway that answers is
// reported running, with its upstream for the tunnel, while another
// tenant of the same pass is still being started.
func TestStartedReportedWithoutWaitingForOthers(t *testing.T) {
	rt := &gatedRuntime{memRuntime: &memRuntime{insts: map[string]runtime.Instance{}}, slow: "ten_slow00001", gate: make(chan struct{})}
	p := &pub{}
	r := New(Options{Runtime: rt, Publisher: p, StateDir: t.TempDir(), Interval: time.Hour,
		Probe: func(_ context.Context, s proto.TenantSpec, _ runtime.Instance) bool { return true }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer close(rt.gate)
	go r.Run(ctx)
	d := proto.Desired{Revision: 1, Tenants: []proto.TenantSpec{spec("ten_fast00001", 20000), spec("ten_slow00001", 20120)}}
	r.HandleDesired(ctx, proto.MustEncode(&d))
	tstest.Await(t, "the fast tenant reported running", 3*time.Second, func() bool {
		rep := p.lastReport(t)
		return rep != nil && len(rep.Tenants) == 1 && rep.Tenants[0].ID == "ten_fast00001" && rep.Tenants[0].State == proto.TenantRunning
	})
	if up, ok := r.Upstream(20000); !ok || up != "127.0.0.1:20000" {
		t.Fatalf("the fast tenant's upstream: %q %v", up, ok)
	}
	// The pass, once the slow one is up, reports both; the fast one stays
	// running.
	rt.gate <- struct{}{}
	tstest.Await(t, "the pass's report of both", 3*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, m := range p.msgs {
			if rep, err := proto.DecodeTenantReport(m.payload); err == nil && m.kind == proto.KindEvent && len(rep.Tenants) == 2 {
				return rep.Tenants[0].State == proto.TenantRunning && rep.Tenants[1].State == proto.TenantRunning
			}
		}
		return false
	})
}
