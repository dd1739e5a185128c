package broker

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyedLimiter holds one token bucket per key (a client ID or a source IP)
// with bounded memory:
//   - every sweepEvery, buckets that have refilled completely are dropped;
//     such a bucket behaves exactly like a new one, so dropping it loses
//     nothing;
//   - the map never holds more than maxKeys buckets: when it is full a new key
//     evicts an arbitrary existing bucket. Under a flood of random keys this
//     only makes the limit more lenient for the evicted key (it starts again
//     with a full bucket), never stricter, and memory stays flat.
type keyedLimiter struct {
	limit      rate.Limit
	burst      int
	maxKeys    int
	sweepEvery time.Duration

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
}

func newKeyedLimiter(r float64, burst, maxKeys int, sweepEvery time.Duration) *keyedLimiter {
	return &keyedLimiter{
		limit:      rate.Limit(r),
		burst:      burst,
		maxKeys:    maxKeys,
		sweepEvery: sweepEvery,
		buckets:    make(map[string]*rate.Limiter),
		lastSweep:  time.Now(),
	}
}

// allow takes one token from key's bucket and reports whether there was one.
func (k *keyedLimiter) allow(key string, now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now.Sub(k.lastSweep) >= k.sweepEvery {
		k.sweepLocked(now)
	}
	lim, ok := k.buckets[key]
	if !ok {
		if len(k.buckets) >= k.maxKeys {
			for victim := range k.buckets { // map order is unspecified: an arbitrary victim
				delete(k.buckets, victim)
				break
			}
		}
		lim = rate.NewLimiter(k.limit, k.burst)
		k.buckets[key] = lim
	}
	return lim.AllowN(now, 1)
}

func (k *keyedLimiter) sweepLocked(now time.Time) {
	full := float64(k.burst)
	for key, lim := range k.buckets {
		if lim.TokensAt(now) >= full {
			delete(k.buckets, key)
		}
	}
	k.lastSweep = now
}

// size is the number of buckets held (for tests).
func (k *keyedLimiter) size() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}
