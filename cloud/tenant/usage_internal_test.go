package tenant

import (
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

// TestNextSample: the CPU rate between two measurements, one sample per
// minute, a restart (counter drop) starting again.
func TestNextSample(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 10, 0, time.UTC)
	if _, ok, reset := nextSample(nil, proto.TenantUsage{CPUUsec: 5}, t0); ok || !reset {
		t.Fatal("the first measurement makes a sample")
	}
	base := &usageBase{cpuUsec: 1_000_000, at: t0}
	// Same minute: none, base kept.
	if _, ok, reset := nextSample(base, proto.TenantUsage{CPUUsec: 2_000_000}, t0.Add(30*time.Second)); ok || reset {
		t.Fatal("a second sample in one minute")
	}
	// 60 s later, 30 s of CPU more: half a core.
	if r, ok, reset := nextSample(base, proto.TenantUsage{CPUUsec: 31_000_000}, t0.Add(60*time.Second)); !ok || !reset || r != 500 {
		t.Fatalf("rate %d %v %v, want 500", r, ok, reset)
	}
	// The counter dropped (restart): none, start again from it.
	if _, ok, reset := nextSample(base, proto.TenantUsage{CPUUsec: 10}, t0.Add(2*time.Minute)); ok || !reset {
		t.Fatal("a restart made a sample")
	}
	// Not later than base: none.
	if _, ok, _ := nextSample(base, proto.TenantUsage{CPUUsec: 2_000_000}, t0.Add(-time.Minute)); ok {
		t.Fatal("an older measurement made a sample")
	}
}
