package app

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/pkg/tstest"
)

func numGC() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumGC
}

func TestCollectEvery(t *testing.T) {
	// An idle process (this test allocates next to nothing) sees collections
	// only because collectEvery runs them.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := numGC()
	go func() { collectEvery(ctx, 10*time.Millisecond); close(done) }()
	tstest.Await(t, "three collections", 10*time.Second, func() bool { return numGC() >= start+3 })
	cancel()
	<-done

	// Off: returns at once instead of ticking until ctx ends.
	collectEvery(context.Background(), 0)
}
