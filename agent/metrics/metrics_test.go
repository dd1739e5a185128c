package metrics

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

func TestSampleReal(t *testing.T) {
	s := NewSampler(t.TempDir())
	for i := range 2 {
		if i == 1 {
			deadline := time.Now().Add(100 * time.Millisecond)
			for time.Now().Before(deadline) { // keep a CPU busy between the samples
			}
		}
		m, err := s.Sample(context.Background())
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if m.MemTotalBytes == 0 || m.DiskTotalBytes == 0 {
			t.Errorf("sample %d: zero totals: %+v", i, m)
		}
		if m.MemUsedBytes > m.MemTotalBytes || m.DiskUsedBytes > m.DiskTotalBytes {
			t.Errorf("sample %d: used above total: %+v", i, m)
		}
		if m.MemUsedBytes == 0 {
			t.Errorf("sample %d: no memory in use: %+v", i, m)
		}
		if i == 1 && m.CPUPercent == 0 {
			t.Errorf("sample %d: cpu 0%% after a busy loop", i)
		}
		if m.CPUPercent < 0 || m.CPUPercent > 100 {
			t.Errorf("sample %d: cpu %v out of [0,100]", i, m.CPUPercent)
		}
		if m.UptimeSeconds == 0 {
			t.Errorf("sample %d: zero uptime", i)
		}
		// What the cloud will check.
		hb := proto.Heartbeat{Seq: 1, Metrics: m}
		if _, err := proto.DecodeHeartbeat(proto.MustEncode(&hb)); err != nil {
			t.Errorf("sample %d: heartbeat would be refused: %v", i, err)
		}
	}
}

func TestSampleMissingStateDir(t *testing.T) {
	m, err := NewSampler(t.TempDir() + "/not/yet/created").Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m.DiskTotalBytes == 0 {
		t.Errorf("no disk figures for a state dir that does not exist yet: %+v", m)
	}
}

func TestCPUTimesFromGopsutil(t *testing.T) {
	a, err := readCPUTimes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a.total <= 0 || a.busy < 0 || a.busy > a.total {
		t.Fatalf("cpu times = %+v", a)
	}
}

func TestPercent(t *testing.T) {
	tests := []struct {
		a, b cpuTimes
		want float64
	}{
		{cpuTimes{0, 0}, cpuTimes{25, 100}, 25},
		{cpuTimes{25, 100}, cpuTimes{125, 200}, 100},
		{cpuTimes{25, 100}, cpuTimes{25, 200}, 0},
		{cpuTimes{25, 100}, cpuTimes{25, 100}, 0}, // no time passed
		{cpuTimes{50, 100}, cpuTimes{10, 200}, 0}, // counters went backwards
		{cpuTimes{0, 100}, cpuTimes{300, 200}, 100},
	}
	for _, tt := range tests {
		if got := percent(tt.a, tt.b); got != tt.want {
			t.Errorf("percent(%+v, %+v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestHostFacts(t *testing.T) {
	f := HostFacts(context.Background())
	if f.Hostname == "" || f.OS != runtime.GOOS || f.Arch != runtime.GOARCH || f.CPUs < 1 || f.MemTotalBytes == 0 {
		t.Errorf("facts = %+v", f)
	}
}
