package link

import (
	"math/rand/v2"
	"time"
)

// Backoff computes full-jitter exponential reconnect delays: the n-th
// consecutive failure (n counted from 0) waits a random duration in
// [0, min(Cap, Base·2^n)]. Full jitter spreads thousands of agents that lost
// the broker at the same instant over the whole window instead of having them
// return in synchronized waves.
//
// A Backoff is not safe for concurrent use.
type Backoff struct {
	Base time.Duration // first window; 1 s when zero
	Cap  time.Duration // largest window; 60 s when zero
	// Rand returns a uniform random integer in [0, n). nil uses math/rand/v2.
	// Tests inject a deterministic source.
	Rand func(n int64) int64

	attempt int
}

// Window returns the upper bound of the next delay, min(Cap, Base·2^attempt).
func (b *Backoff) Window() time.Duration {
	base, limit := b.base(), b.limit()
	if base >= limit {
		return limit
	}
	w := base
	for i := 0; i < b.attempt; i++ {
		if w >= limit/2 { // doubling again would reach or pass the cap (and never overflows)
			return limit
		}
		w *= 2
	}
	return w
}

// Next returns the delay before the next attempt and counts one more failure.
func (b *Backoff) Next() time.Duration {
	w := b.Window()
	b.attempt++
	rnd := b.Rand
	if rnd == nil {
		rnd = rand.Int64N
	}
	return time.Duration(rnd(int64(w) + 1)) // inclusive of w
}

// Reset starts over from Base, after a connection that proved healthy.
func (b *Backoff) Reset() { b.attempt = 0 }

// Attempt returns the number of consecutive failures counted since the last Reset.
func (b *Backoff) Attempt() int { return b.attempt }

func (b *Backoff) base() time.Duration {
	if b.Base <= 0 {
		return time.Second
	}
	return b.Base
}

func (b *Backoff) limit() time.Duration {
	if b.Cap <= 0 {
		return time.Minute
	}
	return b.Cap
}
