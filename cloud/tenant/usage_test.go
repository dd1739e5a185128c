package tenant_test

import (
	"context"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// TestUsageSamplesFromReports: reports with usage (through the real
// broker) become one sample per minute with the CPU rate between them,
// written in a batch, and the samples left at a cloud stop are written
// then and there after a restart.
func TestUsageSamplesFromReports(t *testing.T) {
	t.Parallel()
	c := servertest.New(t)
	svc := c.App.Tenants()
	hostID, secret := c.Provision("box-1")
	ag := c.NewAgent(hostID, secret)
	tn := create(t, svc, "u1", "free", "")
	ag.WaitDesired("desired", servertest.HasTenant(tn.ID))

	t0 := time.Now().Add(-5 * time.Minute).Truncate(time.Minute)
	report := func(at time.Time, cpu, mem int64) {
		ag.Report([]proto.TenantStatus{{ID: tn.ID, State: proto.TenantRunning, DiskUsedBytes: 40 << 20, DiskTotalBytes: 1 << 30,
			Usage: &proto.TenantUsage{CPUUsec: cpu, MemoryBytes: mem, AtMs: at.UnixMilli()}}})
	}
	samples := func(what string, n int) []store.UsageSample {
		t.Helper()
		var got []store.UsageSample
		tstest.Await(t, what, 10*time.Second, func() bool {
			_ = svc.FlushUsage(context.Background())
			got, _ = svc.Usage(context.Background(), tn.ID, 6*time.Hour)
			return len(got) >= n
		})
		return got
	}
	report(t0, 1_000_000, 100<<20)
	report(t0.Add(20*time.Second), 5_000_000, 100<<20)  // same minute: no sample
	report(t0.Add(60*time.Second), 31_000_000, 200<<20) // 30 s CPU in 60 s: 500m
	got := samples("the first sample", 1)
	if len(got) != 1 || got[0].CPUMillicores != 500 || got[0].MemoryBytes != 200<<20 || got[0].DiskBytes != 40<<20 || !got[0].At.Equal(t0.Add(time.Minute)) {
		t.Fatalf("samples %+v", got)
	}

	// One more, not flushed by the test: the stopping cloud writes it.
	report(t0.Add(120*time.Second), 37_000_000, 300<<20) // 6 s in 60 s: 100m
	// A later report in the same minute (no sample) with another disk
	// figure: once it is seen, the one before has been handled.
	ag.Report([]proto.TenantStatus{{ID: tn.ID, State: proto.TenantRunning, DiskUsedBytes: 41 << 20, DiskTotalBytes: 1 << 30,
		Usage: &proto.TenantUsage{CPUUsec: 38_000_000, MemoryBytes: 1, AtMs: t0.Add(130 * time.Second).UnixMilli()}}})
	tstest.Await(t, "the reports handled", 10*time.Second, func() bool {
		du, ok := svc.Disk(tn.ID)
		return ok && du.UsedBytes == 41<<20
	})
	ag.Close()
	c.Stop()
	c = servertest.New(t, servertest.WithDataDir(c.Dir))
	svc = c.App.Tenants()
	got = samples("samples after a restart", 2)
	if len(got) != 2 || got[1].CPUMillicores != 100 || got[1].MemoryBytes != 300<<20 {
		t.Fatalf("after a restart: %+v", got)
	}
}
