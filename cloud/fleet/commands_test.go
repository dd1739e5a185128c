package fleet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCommand(t *testing.T) {
	e := newEnv(t, t.TempDir())
	rec := &recorder{}
	e.f.Subscribe(rec.handle)
	id, _ := e.enroll(t)
	ctx := context.Background()
	logs := func() *proto.Command { return &proto.Command{Op: proto.OpLogs, TenantID: "ten_abcdefgh", Tail: 2} }
	count := func(result string) float64 {
		return testutil.ToFloat64(e.f.m.commands.WithLabelValues(proto.OpLogs, result))
	}

	// Offline: refused without asking.
	if _, err := e.f.Command(ctx, id, logs(), time.Second); !errors.Is(err, ErrHostOffline) || err.Error() != "host "+id+" is offline" {
		t.Fatalf("offline host: %v", err)
	}
	if e.bus.Get(proto.DownTopic(id, proto.KindCmd)) != nil || count("offline") != 1 {
		t.Fatal("a command was sent to an offline host, or not counted")
	}
	e.bus.Send(proto.UpTopic(id, proto.KindRegister), register(id))
	tstest.Await(t, "online", 3*time.Second, func() bool { return e.f.HostOnline(id) })

	// The agent answers every command it is sent with answer(cmd).
	agent := func(answer func(*proto.Command) *proto.Reply) {
		t.Helper()
		var c *proto.Command
		tstest.AwaitErr(t, "a command", 3*time.Second, func() (err error) {
			c, err = proto.DecodeCommand(e.bus.Get(proto.DownTopic(id, proto.KindCmd)))
			return err
		})
		e.bus.Forget(proto.DownTopic(id, proto.KindCmd))
		if r := answer(c); r != nil {
			e.bus.Send(proto.UpTopic(id, proto.KindReply), proto.MustEncode(r))
		}
	}
	for _, tc := range []struct {
		name    string
		answer  func(*proto.Command) *proto.Reply
		want    error // nil: the reply
		msg     string
		counted string
	}{
		{"ok", func(c *proto.Command) *proto.Reply {
			return &proto.Reply{ID: c.ID, OK: true, Lines: []string{"a", "b"}}
		}, nil, "", "ok"},
		{"host error", func(c *proto.Command) *proto.Reply { return &proto.Reply{ID: c.ID, Error: "no such tenant"} }, ErrHostError, "host " + id + ": no such tenant", "error"},
		{"timeout", func(*proto.Command) *proto.Reply { return nil }, ErrHostTimeout, "host did not answer within 200ms", "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := count(tc.counted)
			done := make(chan struct{})
			var r *proto.Reply
			var err error
			go func() { r, err = e.f.Command(ctx, id, logs(), 200*time.Millisecond); close(done) }()
			agent(tc.answer)
			<-done
			if tc.want == nil {
				if err != nil || len(r.Lines) != 2 {
					t.Fatalf("reply = %+v, %v", r, err)
				}
			} else if !errors.Is(err, tc.want) || err.Error() != tc.msg {
				t.Fatalf("err = %v, want %v %q", err, tc.want, tc.msg)
			}
			if _, _, msg := apperr.Public(err); err != nil && msg != tc.msg {
				t.Fatalf("client message %q", msg)
			}
			if count(tc.counted) != n+1 {
				t.Fatalf("%s not counted", tc.counted)
			}
		})
	}
	// Replies to commands are the fleet's; subscribers see none of them.
	time.Sleep(50 * time.Millisecond)
	for _, ev := range rec.all() {
		if r, ok := ev.(Reply); ok {
			t.Fatalf("a command's reply reached subscribers: %+v", r.Reply)
		}
	}
	// A reply nobody waits for (any more) does, for them to refuse.
	e.bus.Send(proto.UpTopic(id, proto.KindReply), proto.MustEncode(&proto.Reply{ID: "cmd_gone", OK: true}))
	tstest.Await(t, "the stray reply handed on", 3*time.Second, func() bool {
		evs := rec.all()
		r, ok := evs[len(evs)-1].(Reply)
		return ok && r.Reply.ID == "cmd_gone"
	})

	// The caller giving up ends the wait.
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := e.f.Command(cctx, id, logs(), time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
