// Package ratelimit bounds how often a key (usually a client address) may do
// something: one token bucket per key, with bounded memory.
package ratelimit

import (
	"net"
	"net/http"
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
}

type entry struct {
	l    *rate.Limiter
	seen time.Time
}

// New returns a limiter allowing r events per second per key, with burst.
func New(r rate.Limit, burst int) *Keyed {
	return &Keyed{r: r, burst: burst, m: map[string]*entry{}, swept: time.Now()}
}

// Exhausted reports whether key has no tokens left, without taking one.
// Guards call it before comparing a guess, so a limit on failures really
// bounds guessing.
func (l *Keyed) Exhausted(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	return e != nil && e.l.Tokens() < 1
}

// Allow takes a token for key and reports whether there was one.
func (l *Keyed) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.swept) > time.Minute || len(l.m) > maxKeys {
		for k, e := range l.m {
			if now.Sub(e.seen) > time.Minute {
				delete(l.m, k)
			}
		}
		l.swept = now
	}
	e := l.m[key]
	if e == nil {
		e = &entry{l: rate.NewLimiter(l.r, l.burst)}
		l.m[key] = e
	}
	e.seen = now
	return e.l.AllowN(now, 1)
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
