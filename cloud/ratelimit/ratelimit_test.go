package ratelimit

import (
	"net/http"
	"testing"
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
