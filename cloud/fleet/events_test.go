package fleet

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// recorder is a subscriber keeping every event it is handed.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) handle(e Event) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

func TestEventsAreTyped(t *testing.T) {
	e := newEnv(t, t.TempDir())
	rec := &recorder{}
	e.f.Subscribe(rec.handle)
	id, _ := e.enroll(t)
	report := &proto.TenantReport{Type: proto.EventTenants, Revision: 3, Tenants: []proto.TenantStatus{{ID: "ten_abcdefgh", State: proto.TenantRunning}}}
	reply := &proto.Reply{ID: proto.DesiredReplyID(3), OK: true}

	e.bus.Send(proto.UpTopic(id, proto.KindRegister), register(id))
	e.bus.Send(proto.UpTopic(id, proto.KindEvent), proto.MustEncode(report))
	e.bus.Send(proto.UpTopic(id, proto.KindEvent), []byte(`{"v":1,"type":"another-feature"}`)) // no consumer: ignored
	e.bus.Send(proto.UpTopic(id, proto.KindReply), proto.MustEncode(reply))
	e.bus.Send(proto.UpTopic(id, proto.KindHeartbeat), proto.MustEncode(&proto.Heartbeat{Seq: 1})) // the fleet's own
	e.bus.Send(proto.UpTopic(id, proto.KindStatus), proto.MustEncode(&proto.Status{State: proto.StateOffline}))
	tstest.Await(t, "four events", 3*time.Second, func() bool { return len(rec.all()) == 4 })
	if err := e.f.DeleteHost(context.Background(), id, "admin"); err != nil {
		t.Fatal(err)
	}

	report.V, reply.V = proto.Version, proto.Version // as decoded
	want := []Event{
		Registered{HostID: id},
		TenantReport{HostID: id, Report: report},
		Reply{HostID: id, Reply: reply},
		Offline{HostID: id},
		Deleted{HostID: id},
	}
	if got := rec.all(); !reflect.DeepEqual(got, want) {
		t.Fatalf("events = %#v\nwant %#v", got, want)
	}
	for _, ev := range want {
		if ev.Host() != id {
			t.Errorf("%T.Host() = %q", ev, ev.Host())
		}
	}
}

func TestRefusedTenantMessages(t *testing.T) {
	e := newEnv(t, t.TempDir())
	rec := &recorder{}
	e.f.Subscribe(rec.handle)
	id, _ := e.enroll(t)
	for _, tc := range []struct {
		name, kind, payload, reason string
	}{
		{"report malformed", proto.KindEvent, "{not json", "malformed"},
		{"report invalid", proto.KindEvent, `{"v":1,"type":"tenants","tenants":[{"id":"bad id","state":"running"}]}`, "invalid"},
		{"report version", proto.KindEvent, `{"v":2,"type":"tenants"}`, "version"},
		{"reply malformed", proto.KindReply, "not json", "malformed"},
		{"reply invalid", proto.KindReply, `{"v":1,"ok":true}`, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.f.m.tenantRefused.WithLabelValues(tc.reason)
			n := testutil.ToFloat64(c)
			e.bus.Send(proto.UpTopic(id, tc.kind), []byte(tc.payload))
			tstest.Await(t, "refusal counted", 3*time.Second, func() bool { return testutil.ToFloat64(c) == n+1 })
		})
	}
	if got := rec.all(); len(got) != 0 {
		t.Fatalf("refused messages reached subscribers: %#v", got)
	}
	// A subscriber's refusals go to the same metric.
	e.f.Refuse(id, proto.KindEvent, "wrong_host", nil)
	if n := testutil.ToFloat64(e.f.m.tenantRefused.WithLabelValues("wrong_host")); n != 1 {
		t.Fatalf("wrong_host = %v", n)
	}
}
