package tenant

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Scheduling strategies.
const (
	// LeastLoaded picks the host with the most free memory after placing
	// the tenant, counting as used the larger of what tenants reserve and
	// what the host's last heartbeat reported; ties go to fewer tenants.
	LeastLoaded = "least-loaded"
	// BinPack picks the host with the least free memory that still fits,
	// filling hosts one after another.
	BinPack = "bin-pack"
	// Spread picks the host with the fewest tenants.
	Spread = "spread"
)

// Strategies lists the valid strategies.
var Strategies = []string{LeastLoaded, BinPack, Spread}

// HostMemoryReserve is the memory kept for the host itself: never given to
// tenants.
const HostMemoryReserve = 512 << 20

// Resources are a CPU and memory amount (capacity, reservation or need).
type Resources struct {
	CPUMillis   int64 `json:"cpuMillis"`
	MemoryBytes int64 `json:"memoryBytes"`
}

// HostCapacity is what tenants may reserve on a host: CPUs × 1000 ×
// overcommit millicores, and the memory minus HostMemoryReserve (memory is
// never overcommitted).
func HostCapacity(cpus int, memTotal uint64, overcommit float64) Resources {
	mem := int64(min(memTotal, 1<<62)) - HostMemoryReserve
	return Resources{CPUMillis: int64(float64(cpus) * 1000 * overcommit), MemoryBytes: max(mem, 0)}
}

// Capped is r with each amount no larger than the operator's cap of it (a
// cap of 0 is none): a host is credited with the lesser of what it reports
// and what its enrollment allows.
func (r Resources) Capped(maxCPUMillis, maxMemoryBytes int64) Resources {
	if maxCPUMillis > 0 {
		r.CPUMillis = min(r.CPUMillis, maxCPUMillis)
	}
	if maxMemoryBytes > 0 {
		r.MemoryBytes = min(r.MemoryBytes, maxMemoryBytes)
	}
	return r
}

// Candidate is a host as the scheduler sees it.
type Candidate struct {
	ID       string
	Online   bool
	Runtimes []string // from the host's capabilities; empty = cannot run tenants
	Labels   map[string]string
	// Box: the host runs only its owner's instances, never a pool's.
	Box bool
	// Pool is a worker's pool ("" = store.DefaultPool).
	Pool     string
	Capacity Resources
	Reserved Resources
	// MemUsedBytes is the memory in use in the host's last heartbeat.
	MemUsedBytes int64
	Tenants      int
}

// Fits reports whether need fits in c beside what is reserved.
func (c *Candidate) Fits(need Resources) bool {
	return c.Reserved.MemoryBytes+need.MemoryBytes <= c.Capacity.MemoryBytes &&
		c.Reserved.CPUMillis+need.CPUMillis <= c.Capacity.CPUMillis
}

// Where is what a host must be to run a tenant of a plan: a worker of the
// plan's pool ("" = store.DefaultPool) carrying every label of Labels.
type Where struct {
	Pool   string
	Labels map[string]string
}

// InPool reports whether c is a worker of pool: a box is in no pool,
// whatever it reports.
func (c *Candidate) InPool(pool string) bool {
	return !c.Box && cmp.Or(c.Pool, store.DefaultPool) == cmp.Or(pool, store.DefaultPool)
}

// Matches reports whether c carries every label of selector.
func (c *Candidate) Matches(selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := c.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// ErrNoCapacity is returned when no host can take a tenant; the client may
// retry in a minute (a host may come back or be added).
var ErrNoCapacity = apperr.New(apperr.Unavailable, "no_capacity", "no host with capacity").Retrying(time.Minute)

// Pick chooses a host for a tenant needing need, among the online workers
// of where's pool that have a runtime, carry every label of where.Labels and
// have room. It returns ErrNoCapacity (wrapped, saying why) when there is
// none.
func Pick(strategy string, hosts []Candidate, need Resources, where Where) (string, error) {
	var ok []*Candidate
	var online, runnable, pooled, matching int
	selector := where.Labels
	for i := range hosts {
		c := &hosts[i]
		if !c.Online {
			continue
		}
		online++
		if len(c.Runtimes) == 0 {
			continue
		}
		runnable++
		if !c.InPool(where.Pool) {
			continue
		}
		pooled++
		if !c.Matches(selector) {
			continue
		}
		matching++
		if c.Fits(need) {
			ok = append(ok, c)
		}
	}
	if len(ok) == 0 {
		why := fmt.Sprintf("%d online hosts, %d with a tenant runtime", online, runnable)
		if pooled != runnable {
			why += fmt.Sprintf(", %d of them workers of pool %s", pooled, cmp.Or(where.Pool, store.DefaultPool))
		}
		if len(selector) > 0 {
			why += fmt.Sprintf(", %d with labels %v", matching, selector)
		}
		return "", ErrNoCapacity.Withf("%s: none has %s CPU and %s memory free (%s)", ErrNoCapacity.Msg, FormatMillis(need.CPUMillis), FormatBytes(need.MemoryBytes), why)
	}
	freeMem := func(c *Candidate) int64 { return c.Capacity.MemoryBytes - c.Reserved.MemoryBytes - need.MemoryBytes }
	loadFree := func(c *Candidate) int64 {
		return c.Capacity.MemoryBytes - max(c.Reserved.MemoryBytes, c.MemUsedBytes) - need.MemoryBytes
	}
	var less func(a, b *Candidate) int
	switch strategy {
	case BinPack:
		less = func(a, b *Candidate) int {
			return cmp.Or(cmp.Compare(freeMem(a), freeMem(b)), cmp.Compare(b.Tenants, a.Tenants), cmp.Compare(a.ID, b.ID))
		}
	case Spread:
		less = func(a, b *Candidate) int {
			return cmp.Or(cmp.Compare(a.Tenants, b.Tenants), cmp.Compare(loadFree(b), loadFree(a)), cmp.Compare(a.ID, b.ID))
		}
	default: // LeastLoaded
		less = func(a, b *Candidate) int {
			return cmp.Or(cmp.Compare(loadFree(b), loadFree(a)), cmp.Compare(a.Tenants, b.Tenants), cmp.Compare(a.ID, b.ID))
		}
	}
	return slices.MinFunc(ok, less).ID, nil
}

// ErrNoPort is returned when a host has no free port left in the range.
var ErrNoPort = errors.New("no free tenant port")

// PickPort returns the lowest port p with base ≤ p ≤ maxPort that is at
// least proto.PortSpacing away from every port in used.
func PickPort(used []int, base, maxPort int) (int, error) {
	sorted := slices.Sorted(slices.Values(used))
	p := base
	for _, u := range sorted {
		if u+proto.PortSpacing <= p {
			continue // far below
		}
		if p+proto.PortSpacing <= u {
			break // far above: p fits before u, and every later port is higher
		}
		p = u + proto.PortSpacing
	}
	if p > maxPort || p > 65535-proto.PortSpacing {
		return 0, fmt.Errorf("%w between %d and %d (%d tenants, spaced %d apart)", ErrNoPort, base, maxPort, len(used), proto.PortSpacing)
	}
	return p, nil
}

// FormatBytes renders a byte count with a binary unit ("1.5GiB").
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%s%s", trimFloat(f), units[i])
}

// FormatMillis renders millicores ("1500m").
func FormatMillis(m int64) string { return fmt.Sprintf("%dm", m) }

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.2f", f)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}
