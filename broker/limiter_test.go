package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

func TestKeyedLimiter(t *testing.T) {
	now := time.Now()
	l := newKeyedLimiter(1, 2, 100, time.Minute)

	if !l.allow("a", now) || !l.allow("a", now) {
		t.Fatal("burst of 2 not allowed")
	}
	if l.allow("a", now) {
		t.Fatal("third attempt within the burst allowed")
	}
	if !l.allow("b", now) {
		t.Fatal("another key is limited")
	}
	if !l.allow("a", now.Add(1100*time.Millisecond)) {
		t.Fatal("token not refilled after 1 s at 1/s")
	}

	// A flood of random keys never holds more than maxKeys buckets.
	for i := 0; i < 10000; i++ {
		l.allow(fmt.Sprintf("k%d", i), now)
		if n := l.size(); n > 100 {
			t.Fatalf("limiter holds %d buckets, cap 100", n)
		}
	}
	// Once refilled, buckets are swept away.
	later := now.Add(time.Hour)
	l.allow("z", later)
	if n := l.size(); n != 1 {
		t.Fatalf("after the sweep the limiter holds %d buckets, want 1", n)
	}
	// A bucket that is still empty survives the sweep.
	l2 := newKeyedLimiter(0.001, 1, 100, time.Minute)
	l2.allow("slow", now)
	l2.allow("other", now.Add(2*time.Minute))
	if l2.allow("slow", now.Add(2*time.Minute)) {
		t.Fatal("sweep dropped a bucket that had not refilled")
	}
}

func TestACLRules(t *testing.T) {
	a, b := devID(1), devID(2)
	pub := []struct {
		topic string
		ok    bool
	}{
		{proto.UpTopic(a, proto.KindHeartbeat), true},
		{proto.UpTopic(a, proto.KindStatus), true},
		{proto.UpTopic(a, proto.KindRegister), true},
		{proto.UpTopic(b, proto.KindHeartbeat), false},
		{proto.DownTopic(a, proto.KindCmd), false},
		{proto.UpTopic(a, "nosuchkind"), false},
		{proto.UpTopic(a, proto.KindEvent) + "/x", false},
		{proto.TopicRoot + a + "/up/#", false},
		{"$SYS/x", false},
		{"", false},
	}
	for _, c := range pub {
		if got := mayPublish(a, c.topic); got != c.ok {
			t.Errorf("mayPublish(%q) = %v, want %v", c.topic, got, c.ok)
		}
	}
	sub := []struct {
		filter string
		ok     bool
	}{
		{proto.DeviceFilter(a), true},
		{proto.TopicRoot + a + "/down/+", true},
		{proto.DownTopic(a, proto.KindTunnel), true},
		{proto.DeviceFilter(b), false},
		{proto.TopicRoot + "+/down/#", false},
		{"#", false},
		{"+/#", false},
		{"$SYS/#", false},
		{proto.TopicRoot + a + "/#", false},
		{proto.TopicRoot + a + "/up/#", false},
		{proto.UpTopic(a, proto.KindStatus), false},
		{proto.DownTopic(a, "nosuchkind"), false},
	}
	for _, c := range sub {
		if got := maySubscribe(a, c.filter); got != c.ok {
			t.Errorf("maySubscribe(%q) = %v, want %v", c.filter, got, c.ok)
		}
	}
	// A client ID that is not a device ID gets nothing, even its "own" filter.
	if maySubscribe("#", proto.DeviceFilter("#")) || maySubscribe("+", proto.DeviceFilter("+")) {
		t.Error("maySubscribe allowed a wildcard pseudo device")
	}
}
