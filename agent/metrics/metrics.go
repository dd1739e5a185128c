// Package metrics gathers the host figures the agent reports: resource
// metrics for heartbeats and static facts for registration.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Sampler takes metric samples. CPU percent is measured between consecutive
// samples; the first sample reports the average since boot (a reading taken
// milliseconds before it would say nothing). A Sampler is safe for concurrent
// use.
type Sampler struct {
	dir string

	mu   sync.Mutex
	prev cpuTimes
	ok   bool // prev holds a reading
}

// NewSampler returns a Sampler whose disk figures are those of the
// filesystem holding dir (the agent's state directory).
func NewSampler(dir string) *Sampler {
	return &Sampler{dir: dir}
}

// Sample returns the current metrics. When a figure cannot be read it is left
// zero and the error is returned along with the other figures. Every returned
// sample satisfies proto.DecodeHeartbeat's checks: used ≤ total, CPU percent
// within [0, 100], no NaN.
func (s *Sampler) Sample(ctx context.Context) (proto.Metrics, error) {
	var m proto.Metrics
	var errs []error

	if p, err := s.cpuPercent(ctx); err != nil {
		errs = append(errs, err)
	} else {
		m.CPUPercent = p
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err != nil {
		errs = append(errs, err)
	} else {
		m.MemTotalBytes, m.MemUsedBytes = vm.Total, min(vm.Used, vm.Total)
	}
	if du, err := disk.UsageWithContext(ctx, existingDir(s.dir)); err != nil {
		errs = append(errs, err)
	} else {
		m.DiskTotalBytes, m.DiskUsedBytes = du.Total, min(du.Used, du.Total)
	}
	if la, err := load.AvgWithContext(ctx); err != nil {
		errs = append(errs, err)
	} else {
		m.Load1, m.Load5, m.Load15 = nonNeg(la.Load1), nonNeg(la.Load5), nonNeg(la.Load15)
	}
	if up, err := host.UptimeWithContext(ctx); err != nil {
		errs = append(errs, err)
	} else {
		m.UptimeSeconds = up
	}
	return m, errors.Join(errs...)
}

func (s *Sampler) cpuPercent(ctx context.Context) (float64, error) {
	t, err := readCPUTimes(ctx)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.prev
	if !s.ok {
		prev = cpuTimes{} // since boot
	}
	s.prev, s.ok = t, true
	return percent(prev, t), nil
}

// cpuTimes are cumulative CPU seconds of all CPUs.
type cpuTimes struct {
	busy, total float64
}

// readCPUTimes reads the aggregate CPU times with gopsutil. Guest time is
// already counted in user/nice, so it is not added again.
func readCPUTimes(ctx context.Context) (cpuTimes, error) {
	ts, err := cpu.TimesWithContext(ctx, false)
	if err != nil {
		return cpuTimes{}, fmt.Errorf("cpu times: %w", err)
	}
	if len(ts) == 0 {
		return cpuTimes{}, errors.New("cpu times: none reported")
	}
	t := ts[0]
	idle := t.Idle + t.Iowait
	total := t.User + t.Nice + t.System + t.Idle + t.Iowait + t.Irq + t.Softirq + t.Steal
	return cpuTimes{busy: total - idle, total: total}, nil
}

// percent is the busy share of the time between two readings, in [0, 100].
func percent(a, b cpuTimes) float64 {
	if b.total <= a.total || b.busy < a.busy {
		return 0 // no time passed, or the counters went backwards
	}
	p := float64(b.busy-a.busy) / float64(b.total-a.total) * 100
	return math.Min(100, nonNeg(p))
}

func nonNeg(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0
	}
	return f
}

// existingDir returns dir or its nearest existing ancestor, so disk figures
// are available even before the state directory is created.
func existingDir(dir string) string {
	if dir == "" {
		return "/"
	}
	d, err := filepath.Abs(dir)
	if err != nil {
		return "/"
	}
	for {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return d
		}
		d = parent
	}
}

// Facts are the host's static properties sent at registration.
type Facts struct {
	Hostname      string
	OS            string // runtime.GOOS
	Arch          string // runtime.GOARCH
	CPUs          int
	MemTotalBytes uint64
}

// HostFacts returns the host's facts. Missing figures are left empty; the
// hostname falls back to "unknown" because the cloud requires one.
func HostFacts(ctx context.Context) Facts {
	f := Facts{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()}
	if h, err := os.Hostname(); err == nil && h != "" {
		f.Hostname = h
	} else {
		f.Hostname = "unknown"
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		f.MemTotalBytes = vm.Total
	}
	return f
}
