package link_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/link"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// A flood of slow commands (300 log streams' worth) must never hold up or
// drop the host's state messages; commands past the queue are answered busy
// with their id instead of timing out; and of state messages that arrive
// while an older one is handled, the newest is always delivered.
func TestDispatchClasses(t *testing.T) {
	addr := freeAddr(t)
	rec := newRecorder()
	b := startBroker(t, addr, rec, false, nil, nil)
	logs := &tstest.Buffer{}
	l, err := link.New(testOptions("tcp://"+addr, logs))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var startedCmds sync.WaitGroup
	startedCmds.Add(4) // commandWorkers
	var handled atomic.Int32
	l.Handle(proto.KindCmd, func(ctx context.Context, payload []byte) {
		if handled.Add(1) <= 4 {
			startedCmds.Done()
		}
		select { // a slow log read
		case <-release:
		case <-ctx.Done():
		}
	})
	desired := make(chan string, 100)
	var firstDesired sync.Once
	holdDesired := make(chan struct{})
	l.Handle(proto.KindDesired, func(ctx context.Context, payload []byte) {
		desired <- string(payload)
		firstDesired.Do(func() { <-holdDesired }) // the first is slow to apply
	})
	tunnel := make(chan string, 10)
	l.Handle(proto.KindTunnel, func(ctx context.Context, payload []byte) { tunnel <- string(payload) })
	runLink(t, l, logs)
	expectSession(t, rec, 5*time.Second)
	defer close(release)

	pub := func(kind, payload string) {
		t.Helper()
		if err := b.srv.Publish(proto.DownTopic(devID, kind), []byte(payload), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	const flood = 4 + 64 + 20 // workers busy, queue full, 20 over
	for i := range flood {
		pub(proto.KindCmd, fmt.Sprintf(`{"v":1,"id":"c%03d","op":"logs","tenantId":"ten_00000001"}`, i))
	}
	startedCmds.Wait()

	// State still flows while every command worker is stuck.
	pub(proto.KindTunnel, `tunnel-1`)
	select {
	case got := <-tunnel:
		if got != "tunnel-1" {
			t.Fatalf("tunnel handler got %q", got)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a tunnel config waited behind blocked commands")
	}
	pub(proto.KindDesired, `desired-1`)
	if got := <-desired; got != "desired-1" {
		t.Fatalf("desired handler got %q", got)
	}
	// While desired-1 is being applied, three more arrive: only the newest
	// needs applying, and it must not be lost.
	for i := 2; i <= 4; i++ {
		pub(proto.KindDesired, fmt.Sprintf(`desired-%d`, i))
	}
	time.Sleep(200 * time.Millisecond) // let them reach the mailbox
	close(holdDesired)
	select {
	case got := <-desired:
		if got != "desired-4" {
			t.Errorf("after a slow apply the handler got %q, want the newest, desired-4", got)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the newest desired state was never delivered")
	}
	select {
	case got := <-desired:
		t.Errorf("a superseded desired state was delivered too: %q", got)
	case <-time.After(200 * time.Millisecond):
	}

	// The commands over the queue were answered busy, by id.
	busy := map[string]bool{}
	deadline := time.After(5 * time.Second)
	for len(busy) < 20 {
		select {
		case m := <-rec.ch:
			if m.kind != proto.KindReply {
				continue
			}
			r, err := proto.DecodeReply(m.payload)
			if err != nil {
				t.Fatalf("reply %s: %v", m.payload, err)
			}
			if r.OK || r.Error != link.ErrBusy.Error() {
				t.Fatalf("reply %+v, want the busy error", r)
			}
			busy[r.ID] = true
		case <-deadline:
			t.Fatalf("%d busy replies, want 20 (%v)", len(busy), busy)
		}
	}
	for i := flood - 20; i < flood; i++ {
		if id := fmt.Sprintf("c%03d", i); !busy[id] {
			t.Errorf("command %s past the queue was not answered busy", id)
		}
	}
}
