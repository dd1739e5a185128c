package login

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

type limiterHarness struct {
	t   *testing.T
	l   *Limiter
	now time.Time
}

func newLimiterHarness(t *testing.T) *limiterHarness {
	h := &limiterHarness{t: t, now: time.Unix(1_800_000_000, 0)}
	h.l = NewLimiter(testSecret(7), DefaultLimits)
	h.l.now = func() time.Time { return h.now }
	return h
}

// try makes one attempt with a correct or wrong password and returns the
// limit that refused it ("" if admitted) and, on success, the device token.
func (h *limiterHarness) try(a Attempt, correct bool) (limit, device string) {
	h.t.Helper()
	tr, err := h.l.Begin(a)
	if err != nil {
		var le *LimitError
		if !errors.Is(err, ErrTooManyAttempts) || !errors.As(err, &le) || le.RetryAfter <= 0 || le.RetryAfter > DefaultLimits.Window {
			h.t.Fatalf("Begin(%+v) = %v; want ErrTooManyAttempts with a retry time within the window", a, err)
		}
		return le.Limit, ""
	}
	if correct {
		return "", tr.Succeeded()
	}
	tr.Failed()
	return "", ""
}

// fail makes n wrong attempts, all of which must be admitted.
func (h *limiterHarness) fail(a Attempt, n int) {
	h.t.Helper()
	for i := range n {
		if limit, _ := h.try(a, false); limit != "" {
			h.t.Fatalf("wrong attempt %d of %d (%+v) refused by the %s limit", i+1, n, a, limit)
		}
	}
}

func (h *limiterHarness) want(what string, a Attempt, correct bool, wantLimit string) string {
	h.t.Helper()
	limit, dev := h.try(a, correct)
	if limit != wantLimit {
		h.t.Fatalf("%s: refused by %q, want %q", what, limit, wantLimit)
	}
	return dev
}

func TestLimiterPair(t *testing.T) {
	h := newLimiterHarness(t)
	alice := Attempt{Account: "alice@example.com", Addr: "198.51.100.7"}
	h.fail(alice, DefaultLimits.PairFailures)
	h.want("a sixth guess from the same address", alice, true, "pair")
	h.want("the owner from another address", Attempt{Account: "alice@example.com", Addr: "203.0.113.9"}, true, "")
	h.want("another account from the guessing address", Attempt{Account: "bob@example.com", Addr: "198.51.100.7"}, true, "")
	h.want("the same account with other case and spaces", Attempt{Account: " Alice@Example.COM ", Addr: "198.51.100.7"}, false, "pair")
	h.now = h.now.Add(DefaultLimits.Window)
	h.want("after the window", alice, true, "")
}

func TestLimiterSuccessForgives(t *testing.T) {
	h := newLimiterHarness(t)
	a := Attempt{Account: "alice@example.com", Addr: "198.51.100.7"}
	h.fail(a, DefaultLimits.PairFailures-1)
	h.want("the correct password after typos", a, true, "")
	h.fail(a, DefaultLimits.PairFailures) // the count started again
	h.want("then the limit", a, false, "pair")
}

func TestLimiterAddress(t *testing.T) {
	h := newLimiterHarness(t)
	stuffer := "198.51.100.66"
	for i := range DefaultLimits.AddressFailures {
		h.fail(Attempt{Account: fmt.Sprintf("user%d@example.com", i), Addr: stuffer}, 1)
	}
	h.want("a new account from the stuffing address", Attempt{Account: "new@example.com", Addr: stuffer}, true, "address")
	h.want("a stuffed account's owner from elsewhere", Attempt{Account: "user3@example.com", Addr: "203.0.113.9"}, true, "")
}

func TestLimiterAccountLock(t *testing.T) {
	h := newLimiterHarness(t)
	const acct = "alice@example.com"
	// A botnet: each address guesses once, under every per-address limit.
	for i := range DefaultLimits.AccountFailures {
		h.fail(Attempt{Account: acct, Addr: fmt.Sprintf("192.0.2.%d", i+1)}, 1)
	}
	h.want("a bot that failed on the account", Attempt{Account: acct, Addr: "192.0.2.1"}, true, "account")
	h.want("the owner from home, never failed here", Attempt{Account: acct, Addr: "203.0.113.9"}, true, "")
	// A fresh bot gets exactly one more guess.
	h.want("a fresh bot's first guess", Attempt{Account: acct, Addr: "192.0.2.200"}, false, "")
	h.want("its second", Attempt{Account: acct, Addr: "192.0.2.200"}, false, "account")
	// Other accounts are not touched.
	h.want("bob from a bot address", Attempt{Account: "bob@example.com", Addr: "192.0.2.1"}, true, "")
}

func TestLimiterDevice(t *testing.T) {
	h := newLimiterHarness(t)
	const acct = "alice@example.com"
	home := "203.0.113.9"
	dev := h.want("the first sign-in", Attempt{Account: acct, Addr: home}, true, "")
	if dev == "" {
		t.Fatal("no device token after a sign-in")
	}
	// An attacker behind the same NAT stuffs and guesses alice.
	for i := range DefaultLimits.AddressFailures {
		h.fail(Attempt{Account: fmt.Sprintf("user%d@example.com", i), Addr: home}, 1)
	}
	for i := range DefaultLimits.AccountFailures {
		h.fail(Attempt{Account: acct, Addr: fmt.Sprintf("192.0.2.%d", i+1)}, 1)
	}
	h.want("alice at home without her device token", Attempt{Account: acct, Addr: home}, true, "address")
	dev2 := h.want("alice at home with it", Attempt{Account: acct, Addr: home, Device: dev}, true, "")
	h.want("and from a bot's address", Attempt{Account: acct, Addr: "192.0.2.1", Device: dev2}, true, "")

	// Tokens that prove nothing.
	bobDev := h.want("bob signs in", Attempt{Account: "bob@example.com", Addr: "203.0.113.50"}, true, "")
	h.want("bob's token for alice", Attempt{Account: acct, Addr: "192.0.2.2", Device: bobDev}, true, "account")
	h.want("a forged token", Attempt{Account: acct, Addr: "192.0.2.2", Device: dev2[:len(dev2)-2] + "AA"}, true, "account")
	other := NewLimiter(testSecret(8), DefaultLimits)
	h.want("another cloud's token", Attempt{Account: acct, Addr: "192.0.2.2", Device: other.newDevice(acct, h.now)}, true, "account")
	h.want("an expired token", Attempt{Account: acct, Addr: "192.0.2.2", Device: h.l.newDevice(acct, h.now.Add(-DefaultLimits.DeviceTTL-time.Hour))}, true, "account")

	// A stolen device token gets its own few guesses, then waits.
	stolen := Attempt{Account: acct, Addr: "198.51.100.1", Device: dev2}
	h.fail(stolen, DefaultLimits.DeviceFailures)
	h.want("the stolen token past its limit", stolen, true, "device")
}

func TestLimiterIPv6Prefix(t *testing.T) {
	h := newLimiterHarness(t)
	for i := range DefaultLimits.PairFailures {
		h.fail(Attempt{Account: "a@example.com", Addr: fmt.Sprintf("2001:db8::%x", i+1)}, 1)
	}
	h.want("another address of the same /64", Attempt{Account: "a@example.com", Addr: "2001:db8::ffff"}, true, "pair")
	h.want("another /64", Attempt{Account: "a@example.com", Addr: "2001:db8:0:1::1"}, true, "")
	h.want("IPv4-mapped is IPv4", Attempt{Account: "b@example.com", Addr: "::ffff:198.51.100.7"}, false, "")
	if addrKey("::ffff:198.51.100.7") != "198.51.100.7" {
		t.Fatal("an IPv4-mapped address is not keyed as IPv4")
	}
}

func TestLimiterConcurrentAttempts(t *testing.T) {
	h := newLimiterHarness(t)
	a := Attempt{Account: "alice@example.com", Addr: "198.51.100.7"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	tries := make(chan *Try, 50)
	for range 50 {
		wg.Go(func() {
			if tr, err := h.l.Begin(a); err == nil {
				mu.Lock()
				admitted++
				mu.Unlock()
				tries <- tr
			}
		})
	}
	wg.Wait()
	close(tries)
	if admitted != DefaultLimits.PairFailures {
		t.Fatalf("%d of 50 concurrent guesses were admitted, want %d", admitted, DefaultLimits.PairFailures)
	}
	for tr := range tries {
		tr.Failed()
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	h := newLimiterHarness(t)
	h.l.maxKeys = 30
	for i := range 40 {
		h.fail(Attempt{Account: fmt.Sprintf("u%d@example.com", i), Addr: fmt.Sprintf("192.0.2.%d", i)}, 1)
	}
	if n := len(h.l.m); n > 30 {
		t.Fatalf("limiter holds %d keys, bound 30", n)
	}
	// Past the window everything is swept and new keys are tracked again.
	h.now = h.now.Add(DefaultLimits.Window + time.Minute)
	a := Attempt{Account: "late@example.com", Addr: "198.51.100.9"}
	h.fail(a, DefaultLimits.PairFailures)
	h.want("a new key after the sweep", a, true, "pair")
}
