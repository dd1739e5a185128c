package app

import (
	"context"
	"runtime"
	"time"
)

// collectEvery runs a garbage collection every d until ctx ends (d <= 0:
// never). Why a cloud needs it: mochi's read goroutine of every MQTT
// connection grows its stack to 32 KiB while it handles a packet (mochi
// passes its 800-byte packets.Packet by value through a deep call chain) and
// rests at 16 KiB; the runtime shrinks a stack only during a collection. The
// pacer counts stacks in its goal, so with 10,000 agents (300 MiB of stacks)
// a collection comes only every 20 s or so, every reader has grown again
// since its last heartbeat, and the grown stacks plus the heap headroom make
// most of the process' memory. A collection every 2 s, shorter than the
// heartbeat interval, shrinks most of them between two heartbeats; it costs
// one mark of the heap (tens of milliseconds of CPU at 10,000 agents, nearly
// nothing on a small cloud). Measured in docs/benchmarks.md.
func collectEvery(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			runtime.GC()
		}
	}
}
