// Package tstest holds helpers that tests across the module share, so no
// package keeps a private copy of them.
package tstest

import (
	"testing"
	"time"
)

// Tick is how often Await and AwaitErr ask again.
const Tick = 10 * time.Millisecond

// Await polls cond every Tick until it holds, failing t after timeout. It
// returns how long that took, for tests that report it.
func Await(t testing.TB, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(Tick)
	}
	return time.Since(start)
}

// AwaitErr polls cond every Tick until it returns nil, failing t after
// timeout with the last error cond gave.
func AwaitErr(t testing.TB, what string, timeout time.Duration, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(Tick)
	}
}
