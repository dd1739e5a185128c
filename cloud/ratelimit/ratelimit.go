// Package ratelimit bounds how often a key (usually a client address) may do
// something: one token bucket per key, with bounded memory.
package ratelimit

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxKeys bounds memory: past it, idle keys are swept at once.
const maxKeys = 100000

// Keyed is a per-key token bucket.
type Keyed struct {
	mu    sync.Mutex
	r     rate.Limit
	burst int
	m     map[string]*entry
	swept time.Time
	now   func() time.Time // the clock (tests)
}

type entry struct {
	l    *rate.Limiter
	seen time.Time
}

// New returns a limiter allowing r events per second per key, with burst.
func New(r rate.Limit, burst int) *Keyed {
	return &Keyed{r: r, burst: burst, m: map[string]*entry{}, swept: time.Now(), now: time.Now}
}

// Exhausted reports whether key has no tokens left, without taking one.
// Guards call it before comparing a guess, so a limit on failures really
// bounds guessing.
func (l *Keyed) Exhausted(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	return e != nil && e.l.TokensAt(l.now()) < 1
}

// Used reports whether key has taken a token its bucket has not yet got
// back: whether it failed lately, for limits that spare who did not.
func (l *Keyed) Used(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	return e != nil && e.l.TokensAt(l.now()) < float64(l.burst)
}

// Allow takes a token for key and reports whether there was one.
func (l *Keyed) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.swept) > time.Minute || len(l.m) > maxKeys {
		l.sweep(now)
	}
	e := l.m[key]
	if e == nil {
		e = &entry{l: rate.NewLimiter(l.r, l.burst)}
		l.m[key] = e
	}
	e.seen = now
	return e.l.AllowN(now, 1)
}

// sweep forgets the keys idle for a minute whose bucket has refilled: a
// forgotten key starts full again, so forgetting one that is not full
// would hand out its burst again (a limit of 5 an hour would become 5 a
// minute). Past maxKeys even those go, so memory stays bounded.
func (l *Keyed) sweep(now time.Time) {
	for k, e := range l.m {
		if now.Sub(e.seen) > time.Minute && e.l.TokensAt(now) >= float64(l.burst) {
			delete(l.m, k)
		}
	}
	if len(l.m) > maxKeys {
		for k, e := range l.m {
			if now.Sub(e.seen) > time.Minute {
				delete(l.m, k)
			}
		}
	}
	l.swept = now
}

// ClientIP is the request's TCP peer address: forwarding headers are not
// trusted for rate limiting.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Clients finds a request's client address. Behind front proxies (a load
// balancer, a CDN) every TCP peer is a proxy, so keying rate limits on it
// would make all users share one bucket: a few bad guesses would lock
// everyone out. A peer in Trusted is a proxy whose X-Forwarded-For is
// believed, read from the right: the first address that is not a trusted
// proxy is the client. Without Trusted it is the TCP peer.
type Clients struct {
	Trusted []netip.Prefix
}

// IP returns the client address of r.
func (c Clients) IP(r *http.Request) string {
	peer := ClientIP(r)
	if len(c.Trusted) == 0 || !c.trusted(peer) {
		return peer
	}
	hops := r.Header.Values("X-Forwarded-For")
	var addrs []string
	for _, h := range hops {
		for part := range strings.SplitSeq(h, ",") {
			addrs = append(addrs, strings.TrimSpace(part))
		}
	}
	client := peer
	for i := len(addrs) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(addrs[i])
		if err != nil {
			break // garbage from the client side of the chain: stop believing
		}
		client = a.Unmap().String()
		if !c.trusted(client) {
			break
		}
	}
	return client
}

func (c Clients) trusted(ip string) bool { return InPrefixes(ip, c.Trusted) }

// InPrefixes reports whether ip (an address, IPv4-mapped or not) is in one
// of ps.
func InPrefixes(ip string, ps []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Slots bounds how many of something (open streams, connections) each key
// may hold at once, where Keyed bounds how often it may ask.
type Slots struct {
	mu  sync.Mutex
	max int
	n   map[string]int
}

// NewSlots returns Slots allowing max held at once per key; max <= 0 is no
// limit.
func NewSlots(max int) *Slots { return &Slots{max: max, n: map[string]int{}} }

// Max is the limit per key (0 or less: none).
func (s *Slots) Max() int { return s.max }

// Acquire takes a slot for key. When key holds Max slots already it takes
// none and returns false; otherwise release gives the slot back (calling it
// again does nothing).
func (s *Slots) Acquire(key string) (release func(), ok bool) {
	if s == nil || s.max <= 0 {
		return func() {}, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[key] >= s.max {
		return nil, false
	}
	s.n[key]++
	return sync.OnceFunc(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.n[key]--; s.n[key] <= 0 {
			delete(s.n, key) // memory stays bounded by what is held
		}
	}), true
}

// Held is how many slots key holds.
func (s *Slots) Held(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[key]
}
