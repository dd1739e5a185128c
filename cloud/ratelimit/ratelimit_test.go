package ratelimit

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestKeyedBurstThenExhausted(t *testing.T) {
	l := New(0.001, 3) // practically no refill during the test
	for i := range 3 {
		if l.Exhausted("a") {
			t.Fatalf("exhausted after %d events, burst is 3", i)
		}
		if !l.Allow("a") {
			t.Fatalf("event %d refused", i)
		}
	}
	if !l.Exhausted("a") || l.Allow("a") {
		t.Fatal("a fourth event within the burst window was allowed")
	}
	if l.Exhausted("b") || !l.Allow("b") {
		t.Fatal("another key shares a's bucket")
	}
}

// TestKeyedSlowRefill: a key that is not refilled yet is remembered
// however long it is idle, so a limit of some an hour holds.
func TestKeyedSlowRefill(t *testing.T) {
	now := time.Now()
	l := New(rate.Limit(1.0/3600), 2)
	l.now = func() time.Time { return now }
	l.Allow("a")
	l.Allow("a")
	if !l.Exhausted("a") {
		t.Fatal("not exhausted after its burst")
	}
	now = now.Add(10 * time.Minute)
	l.Allow("b") // sweeps
	if !l.Exhausted("a") {
		t.Fatal("an idle key was forgotten before its bucket refilled")
	}
	now = now.Add(3 * time.Hour)
	l.Allow("b")
	if l.Exhausted("a") || len(l.m) != 1 {
		t.Fatalf("a refilled key is still kept (%d keys)", len(l.m))
	}
}

// TestKeyedUsed: a key counts as used from its first token until its
// bucket is full again; one never seen is not.
func TestKeyedUsed(t *testing.T) {
	now := time.Now()
	l := New(rate.Limit(1.0/3600), 5)
	l.now = func() time.Time { return now }
	if l.Used("a") {
		t.Fatal("a key never seen is used")
	}
	l.Allow("a")
	if !l.Used("a") || l.Exhausted("a") || l.Used("b") {
		t.Fatalf("after one token: used %v, exhausted %v, other used %v", l.Used("a"), l.Exhausted("a"), l.Used("b"))
	}
	now = now.Add(30 * time.Minute)
	if !l.Used("a") {
		t.Fatal("used forgotten before its token came back")
	}
	now = now.Add(31 * time.Minute)
	if l.Used("a") {
		t.Fatal("still used once its bucket is full again")
	}
}

func TestClientIP(t *testing.T) {
	for _, c := range []struct{ remote, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"[2001:db8::1]:80", "2001:db8::1"},
		{"garbage", "garbage"},
	} {
		r := &http.Request{RemoteAddr: c.remote, Header: http.Header{"X-Forwarded-For": {"10.9.9.9"}}}
		if got := ClientIP(r); got != c.want {
			t.Errorf("ClientIP(%q) = %q, want %q", c.remote, got, c.want)
		}
	}
}

func TestClientsBehindTrustedProxies(t *testing.T) {
	lb := Clients{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	for _, c := range []struct {
		name   string
		c      Clients
		remote string
		xff    []string
		want   string
	}{
		{"no trusted proxies: the peer, whatever the header says", Clients{}, "10.1.1.1:5", []string{"203.0.113.9"}, "10.1.1.1"},
		{"untrusted peer: header ignored", lb, "198.51.100.7:5", []string{"203.0.113.9"}, "198.51.100.7"},
		{"trusted peer: the client it names", lb, "10.1.1.1:5", []string{"203.0.113.9"}, "203.0.113.9"},
		{"a forged left part is not believed", lb, "10.1.1.1:5", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"two trusted hops", lb, "10.1.1.1:5", []string{"203.0.113.9, 10.2.2.2"}, "203.0.113.9"},
		{"several header lines", lb, "[::1]:5", []string{"1.2.3.4", "203.0.113.9"}, "203.0.113.9"},
		{"garbage stops the walk", lb, "10.1.1.1:5", []string{"203.0.113.9, nonsense"}, "10.1.1.1"},
		{"only proxies: the farthest", lb, "10.1.1.1:5", []string{"10.3.3.3"}, "10.3.3.3"},
		{"no header", lb, "10.1.1.1:5", nil, "10.1.1.1"},
		{"mapped IPv4", lb, "10.1.1.1:5", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
	} {
		r := &http.Request{RemoteAddr: c.remote, Header: http.Header{}}
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := c.c.IP(r); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestSlots(t *testing.T) {
	s := NewSlots(2)
	r1, ok1 := s.Acquire("a")
	_, ok2 := s.Acquire("a")
	if !ok1 || !ok2 {
		t.Fatal("the first two slots of a were refused")
	}
	if _, ok := s.Acquire("a"); ok {
		t.Fatal("a third slot of a was given; max is 2")
	}
	if _, ok := s.Acquire("b"); !ok {
		t.Fatal("b was refused for a's slots")
	}
	r1()
	r1() // twice gives back one slot, not two
	if got := s.Held("a"); got != 1 {
		t.Fatalf("a holds %d after one release, want 1", got)
	}
	if _, ok := s.Acquire("a"); !ok {
		t.Fatal("a released slot was not given again")
	}
	if _, ok := s.Acquire("a"); ok {
		t.Fatal("a got a third slot after a double release")
	}
	for range 10 {
		if _, ok := NewSlots(0).Acquire("x"); !ok {
			t.Fatal("max 0 must not limit")
		}
	}
}
